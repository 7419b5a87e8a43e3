//! tANS table construction from any valid frequency table (built from arbitrary counts
//! at every table log), then decoding arbitrary streams with it: Ok or Err, no panic.
//! The tANS hot loops have `unsafe` (BMI2 dispatch): run this one under ASan too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shannon::coder::tans::{MAX_TABLE_LOG, MIN_TABLE_LOG, TansTables, decode_block, encode_block};
use shannon::model::{Counts, FreqTable};

fuzz_target!(|input: (Vec<u8>, u8, Vec<u8>, u16)| {
    let (sample, log, stream, n) = input;
    if sample.is_empty() {
        return;
    }
    let log = MIN_TABLE_LOG + u32::from(log) % (MAX_TABLE_LOG - MIN_TABLE_LOG + 1);
    let Ok(table) = FreqTable::from_counts(&Counts::of(&sample), log) else {
        return;
    };
    let tables = TansTables::new(&table).expect("every valid table builds");
    let packed = encode_block(&sample, &tables).expect("every sample symbol has a frequency");
    let mut back = vec![0u8; sample.len()];
    decode_block(&packed, &tables, &mut back).expect("own stream decodes");
    assert_eq!(back, sample);
    let mut out = vec![0u8; usize::from(n % 4096)];
    let _ = decode_block(&stream, &tables, &mut out);
});
