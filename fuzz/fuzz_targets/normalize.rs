//! Frequency normalisation from arbitrary counts: either an error or a table whose
//! frequencies sum to the total and cover exactly the counted symbols.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shannon::model::{Counts, normalize};

fuzz_target!(|input: (Vec<u32>, u8)| {
    let (raw, scale) = input;
    let mut counts = Counts::default();
    for (i, &c) in raw.iter().take(256).enumerate() {
        counts.0[i] = u64::from(c);
    }
    let scale = u32::from(scale % 17);
    if let Ok(freq) = normalize(&counts, scale) {
        assert_eq!(
            freq.iter().map(|&f| u64::from(f)).sum::<u64>(),
            1u64 << scale
        );
        for s in 0..256 {
            assert_eq!(freq[s] > 0, counts.0[s] > 0);
        }
    }
});
