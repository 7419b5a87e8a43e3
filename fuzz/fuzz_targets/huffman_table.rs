//! Huffman length limiting from arbitrary counts (the code is complete, within the
//! limit, and no worse than one bit a symbol above the entropy), and the length-table
//! readers on arbitrary bytes: whatever the version-2 reader accepts writes back
//! identically, whatever the version-3 (bit-packed) reader accepts writes and reads back
//! to the same code, and both decode arbitrary streams without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shannon::coder::huffman::{HuffmanCode, MAX_CODE_LEN, decode_block, decode_block_v2};
use shannon::model::Counts;

fuzz_target!(|input: (Vec<u16>, Vec<u8>, u8)| {
    let (raw, bytes, n) = input;
    let mut counts = Counts::default();
    for (i, &c) in raw.iter().take(256).enumerate() {
        counts.0[i] = u64::from(c);
    }
    if let Ok(code) = HuffmanCode::from_counts(&counts) {
        let lengths = code.lengths();
        let present = counts.0.iter().filter(|&&c| c > 0).count();
        let mut kraft = 0u64;
        for s in 0..256 {
            assert_eq!(lengths[s] > 0, counts.0[s] > 0);
            assert!(u32::from(lengths[s]) <= MAX_CODE_LEN);
            if lengths[s] > 0 {
                kraft += 1 << (MAX_CODE_LEN - u32::from(lengths[s]));
            }
        }
        if present >= 2 {
            assert_eq!(kraft, 1 << MAX_CODE_LEN, "code is not complete");
        }
    }
    if let Ok((code, used)) = HuffmanCode::read(&bytes) {
        let mut again = Vec::new();
        code.write(&mut again);
        assert_eq!(&again[..], &bytes[..used]);
        let mut out = vec![0u8; usize::from(n)];
        let _ = decode_block_v2(&bytes[used..], &code, &mut out);
    }
    if let Ok((code, used)) = HuffmanCode::read_compact(&bytes) {
        assert!(used <= bytes.len());
        let mut again = Vec::new();
        code.write_compact(&mut again);
        assert!(again.len() <= used, "the writer's choice is the shortest");
        let (back, m) = HuffmanCode::read_compact(&again).expect("own table reads back");
        assert_eq!((back.lengths(), m), (code.lengths(), again.len()));
        let mut out = vec![0u8; usize::from(n)];
        let _ = decode_block(&bytes[used..], &code, &mut out);
    }
});
