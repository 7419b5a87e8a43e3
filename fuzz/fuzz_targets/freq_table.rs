//! The order-0 table readers on arbitrary bytes. Version 2 (byte-aligned): a table it
//! accepts is valid and writes back to the bytes it read. Version 3 (bit-packed): a
//! table it accepts writes and reads back to the same table (the writer may pick a
//! shorter layout than the bytes used).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shannon::model::FreqTable;
use shannon::model::compact::{read_freq_table, write_freq_table};

fuzz_target!(|input: (u8, &[u8])| {
    let (scale, bytes) = input;
    let scale = 1 + u32::from(scale % 16);
    if let Ok((table, used)) = FreqTable::read(bytes, scale) {
        assert!(used <= bytes.len());
        let mut again = Vec::new();
        table.write(&mut again);
        assert_eq!(&again[..], &bytes[..used]);
    }
    if let Ok((table, used)) = read_freq_table(bytes, scale) {
        assert!(used <= bytes.len());
        let mut again = Vec::new();
        write_freq_table(&table, &mut again);
        assert!(again.len() <= used, "the writer's choice is the shortest");
        let (back, n) = read_freq_table(&again, scale).expect("own table reads back");
        assert_eq!((back, n), (table, again.len()));
    }
});
