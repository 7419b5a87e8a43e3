//! Round trips through the public API: arbitrary bytes, named degenerate inputs, and
//! every file of the bundled corpora, for every available codec and several block sizes.

use proptest::prelude::*;
use shannon::{Options, available_codecs, round_trip};

fn corpus_files() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
    let mut files = Vec::new();
    for dir in ["canterbury", "calgary"] {
        for e in std::fs::read_dir(root.join(dir)).expect("corpora/ is bundled") {
            let p = e.unwrap().path();
            if p.is_file() {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 29, "expected the 29 corpus files");
    files
}

fn all_options(block_size: u64) -> Vec<Options> {
    available_codecs()
        .into_iter()
        .map(|o| o.with_block_size(block_size).unwrap())
        .map(|o| {
            // Small context memory: faster tests, and hash collisions get exercised.
            if o.model() == shannon::ModelKind::Adaptive {
                o.with_memory(1 << 20).unwrap()
            } else {
                o
            }
        })
        .collect()
}

#[test]
fn every_natural_pair_is_available() {
    let names: Vec<_> = available_codecs().iter().map(name).collect();
    for want in [
        "static order-0 arithmetic",
        "static order-0 rans",
        "static order-0 huffman",
        "static order-0 tans",
        "static order-2 huffman",
        "static order-2 tans",
        "adaptive order-2 arithmetic",
        "adaptive order-2 rans",
        "frequency order-0 arithmetic",
        "frequency order-1 rans",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
}

fn name(o: &Options) -> String {
    format!(
        "{} order-{} {}",
        o.model().name(),
        o.order(),
        o.coder().name()
    )
}

#[test]
fn named_degenerate_inputs() {
    let all: Vec<u8> = (0..=255).collect();
    let all_many: Vec<u8> = (0..256 * 64).map(|i| i as u8).collect();
    let two: Vec<u8> = (0..5000)
        .map(|i| if i % 7 == 0 { b'a' } else { b'b' })
        .collect();
    let cases: [(&str, Vec<u8>); 7] = [
        ("empty", vec![]),
        ("one byte", vec![42]),
        ("one distinct symbol", vec![b'x'; 100_000]),
        ("two symbols", two),
        ("256 symbols once", all),
        ("256 equiprobable symbols", all_many),
        ("incompressible", pseudo_random(200_000)),
    ];
    for o in all_options(64 << 10) {
        for (name, data) in &cases {
            let packed = round_trip(data, &o)
                .unwrap_or_else(|e| panic!("{name} with {}: {e}", self::name(&o)));
            if name == &"one distinct symbol" {
                assert!(packed.len() < 100, "{name}: run blocks should be tiny");
            }
            if name == &"incompressible" {
                // Stored blocks: a few bytes of framing per 64 KiB block.
                assert!(packed.len() <= data.len() + 20 + 17 + 4 * 13, "{name}");
            }
        }
    }
}

/// xorshift64*: a fixed pseudo-random byte source.
fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn every_corpus_file_round_trips_with_every_coder() {
    for path in corpus_files() {
        let data = std::fs::read(&path).unwrap();
        for o in all_options(1 << 20) {
            let packed = round_trip(&data, &o)
                .unwrap_or_else(|e| panic!("{} with {}: {e}", path.display(), name(&o)));
            assert!(
                packed.len() < data.len(),
                "{} did not shrink with {}",
                path.display(),
                name(&o)
            );
        }
    }
}

#[test]
fn small_blocks_round_trip_a_corpus_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(root.join("corpora/canterbury/alice29.txt")).unwrap();
    for bs in [256u64, 1000, 4096, 65536] {
        for o in all_options(bs) {
            round_trip(&data, &o).unwrap_or_else(|e| panic!("block {bs} {}: {e}", name(&o)));
        }
    }
}

fn skewed_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::collection::vec(0u8..4, 0..3000),
        proptest::collection::vec(prop_oneof![9 => Just(b'e'), 1 => any::<u8>()], 0..3000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_round_trip(
        data in skewed_bytes(),
        bs in prop_oneof![Just(256u64), Just(1000), Just(4096), Just(1 << 20)],
        scale in 8u32..=16,
    ) {
        for o in all_options(bs) {
            let o = o.with_scale_bits(scale).unwrap();
            if let Err(e) = round_trip(&data, &o) {
                return Err(TestCaseError::fail(format!("{}: {e}", name(&o))));
            }
        }
    }
}

/// A block coded with a model left over from another block (reset and reused, as the
/// stream functions do) comes out as with a fresh model, and decodes with a reused one.
#[test]
fn reused_adaptive_models_code_as_fresh_ones() {
    use shannon::codec::{decode_block, decode_block_reusing, encode_block, encode_block_reusing};
    use shannon::format::{CoderKind, ModelKind};
    let book1 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpora/calgary/book1"
    ))
    .unwrap();
    let (a, b) = (&book1[..65_536], &book1[400_000..465_536]);
    for order in [0, 2, 4] {
        for coder in [CoderKind::Arithmetic, CoderKind::Rans] {
            let o = Options::new(ModelKind::Adaptive, order, coder)
                .unwrap()
                .with_block_size(1 << 16)
                .unwrap()
                .with_memory(1 << 20)
                .unwrap();
            let mut spare = None;
            let (block_a, _) = encode_block_reusing(a, &o, &mut spare);
            assert!(spare.is_some(), "the model is kept");
            let (reused, _) = encode_block_reusing(b, &o, &mut spare);
            let (fresh, _) = encode_block(b, &o);
            assert_eq!(reused, fresh, "order {order} {coder:?}");
            let header = o.header();
            let mut out = Vec::new();
            let mut spare = None;
            decode_block_reusing(&header, &block_a, 0, &mut out, &mut spare).unwrap();
            decode_block_reusing(&header, &reused, 1, &mut out, &mut spare).unwrap();
            assert_eq!(out, b);
            decode_block(&header, &fresh, 1, &mut out).unwrap();
            assert_eq!(out, b);
        }
    }
}

/// `decode_block_into` decodes every kind of block (entropy-coded, stored, run) of every
/// codec into a slice of the block's length, over stale bytes, and refuses a slice of
/// another length.
#[test]
fn blocks_decode_into_a_slice_of_their_length() {
    use shannon::codec::{decode_block_into, encode_block};
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpora/canterbury/alice29.txt"
    ))
    .unwrap();
    let inputs: [Vec<u8>; 3] = [text[..20_000].to_vec(), pseudo_random(3000), vec![7; 5000]];
    for o in all_options(1 << 16) {
        let header = o.header();
        for (i, input) in inputs.iter().enumerate() {
            let (block, _) = encode_block(input, &o);
            let mut out = vec![0xa5; input.len()];
            decode_block_into(&header, &block, 0, &mut out, &mut None).unwrap();
            assert!(out == *input, "{} input {i}", name(&o));
            let mut short = vec![0; input.len() - 1];
            assert!(decode_block_into(&header, &block, 0, &mut short, &mut None).is_err());
        }
    }
}

/// `encode_block_into` overwrites every field of a reused block: after a block of each
/// kind (entropy-coded, stored, run) of any length, the next one comes out as
/// `encode_block` writes it, for every codec.
#[test]
fn blocks_coded_into_a_reused_block_match_fresh_ones() {
    use shannon::codec::{encode_block, encode_block_into};
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpora/canterbury/alice29.txt"
    ))
    .unwrap();
    // Entropy-coded, stored (incompressible), run, then short text after a longer body.
    let inputs: [&[u8]; 5] = [
        &text[..40_000],
        &pseudo_random(3000),
        &[7; 5000],
        &text[50_000..50_700],
        &text[60_000..65_536],
    ];
    for o in all_options(1 << 16) {
        let (mut block, _) = encode_block(b"seed block", &o);
        let mut spare = None;
        for (i, input) in inputs.iter().enumerate() {
            let cost = encode_block_into(input, &o, &mut spare, &mut block);
            let (fresh, fresh_cost) = encode_block(input, &o);
            assert_eq!(block, fresh, "{} input {i}", name(&o));
            assert_eq!(cost, fresh_cost, "{} input {i}", name(&o));
        }
    }
}
