//! The order-0 table reader on arbitrary bytes: a table it accepts is valid and writes
//! back to the bytes it read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shannon::model::FreqTable;

fuzz_target!(|input: (u8, &[u8])| {
    let (scale, bytes) = input;
    let scale = 1 + u32::from(scale % 16);
    if let Ok((table, used)) = FreqTable::read(bytes, scale) {
        assert!(used <= bytes.len());
        let mut again = Vec::new();
        table.write(&mut again);
        assert_eq!(&again[..], &bytes[..used]);
    }
});
