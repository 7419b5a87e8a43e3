//! The frame header parser on arbitrary bytes: a header it accepts writes back
//! identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shannon::format::{HEADER_LEN, Header};

fuzz_target!(|bytes: [u8; HEADER_LEN]| {
    if let Ok(h) = Header::parse(&bytes) {
        assert_eq!(h.to_bytes(), bytes);
    }
});
