//! Both forms of a static order-0 tANS block decode (docs/FORMAT.md): the first (table log
//! 9..=12, order-0 table, plain spread, interleaved lanes), which this version no longer
//! writes, and the second (`0x80 | log`, rare-on-top table, pairs of lanes).

use shannon::codec::{decode_block, encode_block};
use shannon::coder::tans;
use shannon::format::{Block, BlockKind, block_check};
use shannon::model::{Counts, FreqTable};
use shannon::{CoderKind, ModelKind, Options};

fn options() -> Options {
    Options::new(ModelKind::Static, 0, CoderKind::Tans).unwrap()
}

/// A block of the first form, built the way the first version wrote it, with the
/// order-0 table in the layout of format `version` (2: bytes, 3: bit-packed).
fn first_form(data: &[u8], version: u8) -> Block {
    let counts = Counts::of(data);
    let log = tans::choose_table_log(&counts);
    let table = FreqTable::from_counts(&counts, log).unwrap();
    let mut body = vec![log as u8];
    if version >= 3 {
        shannon::model::compact::write_freq_table(&table, &mut body);
    } else {
        table.write(&mut body);
    }
    let tables = tans::TansTables::new(&table).unwrap();
    body.extend_from_slice(&tans::encode_block(data, &tables).unwrap());
    Block {
        kind: BlockKind::Entropy,
        raw_len: data.len() as u32,
        body,
        check: block_check(data),
    }
}

fn samples() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
    let mut v = vec![
        b"ab".to_vec(),
        (0..=255u8).collect(),
        (0..5000u32)
            .map(|i| if i % 97 == 0 { (i % 251) as u8 } else { 0 })
            .collect(),
    ];
    for f in ["canterbury/kennedy.xls", "calgary/book1", "calgary/geo"] {
        let data = std::fs::read(root.join(f)).unwrap();
        v.push(data[..data.len().min(128 << 10)].to_vec());
    }
    v
}

#[test]
fn first_form_still_decodes() {
    for version in [2, 3] {
        let header = shannon::format::Header {
            version,
            ..options().header()
        };
        for data in samples() {
            let block = first_form(&data, version);
            assert!(block.body[0] >= 9 && block.body[0] <= 12);
            let mut out = Vec::new();
            decode_block(&header, &block, 0, &mut out).unwrap();
            assert!(out == data);
            // The other version's table layout does not pass for this one.
            let other = first_form(&data, 5 - version);
            if other.body != block.body {
                let r = decode_block(&header, &other, 0, &mut out);
                assert!(r.is_err() || out != data, "version {version}");
            }
        }
    }
}

#[test]
fn second_form_is_written_and_decodes() {
    let options = options();
    let header = options.header();
    for data in samples() {
        let (block, _) = encode_block(&data, &options);
        if block.kind != BlockKind::Entropy {
            continue;
        }
        assert_eq!(block.body[0] & tans::RARE_ON_TOP, tans::RARE_ON_TOP);
        let mut out = Vec::new();
        decode_block(&header, &block, 0, &mut out).unwrap();
        assert!(out == data);
        // Logs outside 9..=12 are refused in either form.
        for bad in [0x80u8, 0x88, 0x8d, 0xff, 8, 13] {
            let mut damaged = block.clone();
            damaged.body[0] = bad;
            assert!(
                decode_block(&header, &damaged, 0, &mut out).is_err(),
                "{bad:#x}"
            );
        }
    }
}
