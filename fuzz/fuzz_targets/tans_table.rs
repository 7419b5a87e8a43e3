//! Both forms of tANS table (docs/FORMAT.md), then decoding arbitrary streams with them:
//! Ok or Err, no panic, and a stream that decodes is exactly the encoding of what it
//! decoded to.
//!
//! - First form: the tables of any valid order-0 frequency table (built from arbitrary
//!   counts at every table log), interleaved lanes.
//! - Second form, from the sample: the rare-on-top normalisation at a given log or at
//!   the log `choose_rare_table_log` picks; its table writes and reads back; the
//!   `with_rare_on_top` tables round-trip the sample in pairs of lanes and decode the
//!   arbitrary stream.
//! - Second form, hostile: the arbitrary bytes read as a rare table (the payload of a
//!   second-form block after its log byte); one the reader accepts builds, writes back
//!   no longer and to the same table, and the bytes after it decode as a pairs stream.
//!
//! The tANS hot loops have `unsafe` (BMI2 dispatch): run this one under ASan too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shannon::coder::tans::{
    Lanes, MAX_TABLE_LOG, MIN_TABLE_LOG, TansTables, choose_rare_table_log, decode_block,
    decode_block_lanes, encode_block, encode_block_lanes, normalize_rare_on_top, read_rare_table,
    write_rare_table,
};
use shannon::model::{Counts, FreqTable};

/// Decodes `n` symbols of `stream` with `tables` in `lanes`; if that succeeds, the stream
/// must be the encoding of the output.
fn hostile_decode(stream: &[u8], tables: &TansTables, lanes: Lanes, n: usize) {
    let mut out = vec![0u8; n];
    if decode_block_lanes(stream, tables, &mut out, lanes).is_ok() {
        let again = encode_block_lanes(&out, tables, lanes).expect("decoded symbols code");
        assert_eq!(
            again, stream,
            "an accepted stream is the encoding of its output"
        );
    }
}

fuzz_target!(|input: (Vec<u8>, u8, Vec<u8>, u16)| {
    let (sample, log_byte, stream, n) = input;
    let n = usize::from(n % 4096);
    let log = MIN_TABLE_LOG + u32::from(log_byte) % (MAX_TABLE_LOG - MIN_TABLE_LOG + 1);

    // Second form, hostile: `stream` as a rare table at `log`, then a pairs stream.
    if let Ok((table, rare, used)) = read_rare_table(&stream, log) {
        assert!(used <= stream.len());
        assert_eq!(table.cums()[256], 1 << log);
        let mut again = Vec::new();
        write_rare_table(table.freqs(), &rare, &mut again);
        assert!(again.len() <= used, "the writer's choice is the shortest");
        let (back, back_rare, m) = read_rare_table(&again, log).expect("own table reads back");
        assert_eq!(
            (back.freqs(), back_rare, m),
            (table.freqs(), rare, again.len())
        );
        let tables = TansTables::with_rare_on_top(&table, &rare).expect("a read table builds");
        hostile_decode(&stream[used..], &tables, Lanes::Pairs, n);
    }

    if sample.is_empty() {
        return;
    }
    let counts = Counts::of(&sample);

    // First form.
    if let Ok(table) = FreqTable::from_counts(&counts, log) {
        let tables = TansTables::new(&table).expect("every valid table builds");
        let packed = encode_block(&sample, &tables).expect("every sample symbol has a frequency");
        let mut back = vec![0u8; sample.len()];
        decode_block(&packed, &tables, &mut back).expect("own stream decodes");
        assert_eq!(back, sample);
        hostile_decode(&stream, &tables, Lanes::Interleaved, n);
    }

    // Second form from the sample: the top bit of the log byte lets the codec's choice
    // of log decide.
    let log = if log_byte & 0x80 != 0 {
        choose_rare_table_log(&counts)
    } else {
        log
    };
    assert!((MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&log));
    let (freq, rare) = normalize_rare_on_top(&counts, log).expect("a non-empty histogram");
    for s in 0..256 {
        assert_eq!(freq[s] > 0, counts.0[s] > 0, "symbol {s}");
        assert!(!rare[s] || freq[s] == 1, "symbol {s}");
    }
    let mut bytes = Vec::new();
    write_rare_table(&freq, &rare, &mut bytes);
    let (table, read_rare, used) = read_rare_table(&bytes, log).expect("own table reads back");
    assert_eq!((table.freqs(), read_rare, used), (&freq, rare, bytes.len()));
    let tables = TansTables::with_rare_on_top(&table, &rare).expect("own table builds");
    let packed = encode_block_lanes(&sample, &tables, Lanes::Pairs).expect("sample codes");
    let mut back = vec![0u8; sample.len()];
    decode_block_lanes(&packed, &tables, &mut back, Lanes::Pairs).expect("own stream decodes");
    assert_eq!(back, sample);
    hostile_decode(&stream, &tables, Lanes::Pairs, n);
});
