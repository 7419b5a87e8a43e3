//! Arbitrary bytes into both decoders: Ok or Err, never a panic, a hang or a large
//! allocation. When both succeed they must agree.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = shannon::decompress(data);
    let mut out = Vec::new();
    let streamed = shannon::decompress_stream(data, &mut out);
    if let (Ok(a), Ok(_)) = (&whole, &streamed) {
        assert_eq!(a, &out);
    }
    assert_eq!(whole.is_ok(), streamed.is_ok());
});
