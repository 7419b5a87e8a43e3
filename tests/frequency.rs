//! The frequency model (`--model frequency`): its distributions stay valid through many
//! updates and halvings, its streams are exactly those of a straightforward
//! implementation of the rules in `docs/FORMAT.md` (for the arithmetic coder, two range
//! coders taking turns, from format version 5), and hostile payloads never panic.
//! (Round trips of every corpus file and of arbitrary bytes, both orders and both
//! coders, are in `tests/roundtrip.rs`, which iterates `available_codecs`.)

use proptest::prelude::*;
use shannon::codec::{decode_block, encode_block};
use shannon::coder::Encode;
use shannon::coder::join_pair;
use shannon::coder::range::RangeEncoder;
use shannon::coder::rans::RansEncoder;
use shannon::format::{Block, BlockKind, CoderKind, ModelKind};
use shannon::model::frequency::{FIRST_PERIOD, FrequencyModel, INC, LIMIT, MAX_PERIOD};
use shannon::model::{Distribution, Model};
use shannon::{Error, Options};

mod common;
use common::corpus_bytes as corpus;

/// Checks that `d` tiles `[0, 2^16)` with every symbol at `freq >= 1`, and that
/// `symbol_at` inverts `interval` at both ends of every interval.
fn check_distribution<D: Distribution + ?Sized>(d: &D) {
    assert_eq!(d.scale_bits(), 16);
    let mut next = 0u32;
    for s in 0..=255u8 {
        let iv = d.interval(s).unwrap();
        assert_eq!(
            iv.start,
            next,
            "symbol {s} does not start where {} ends",
            s.wrapping_sub(1)
        );
        assert!(iv.freq >= 1, "symbol {s} has frequency 0");
        next += iv.freq;
        for t in [iv.start, iv.start + iv.freq - 1] {
            assert_eq!(d.symbol_at(t).unwrap(), (s, iv));
        }
    }
    assert_eq!(next, 1 << 16);
    assert!(d.symbol_at(1 << 16).is_err());
}

/// Symbols that make halvings happen often (a run of one byte), then drift: every
/// symbol at some point, and long stretches of a few.
fn drifting(n: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match (i / 20_000) % 4 {
                0 => b'a',
                1 => (x % 256) as u8,
                2 => b"abc"[(x % 3) as usize],
                _ => (x % 7) as u8 * 37,
            }
        })
        .collect()
}

#[test]
fn distributions_stay_valid_through_updates_and_halvings() {
    let data = drifting(200_000);
    for order in [0, 1] {
        let mut decoding = FrequencyModel::new(order).unwrap();
        let mut encoding = FrequencyModel::for_encoding(order).unwrap();
        for (i, &s) in data.iter().enumerate() {
            // Every distribution early on (while rebuilds are frequent), then a sample.
            if i < 3000 || i % 997 == 0 {
                check_distribution(decoding.predict());
                check_distribution(encoding.predict());
            }
            for t in [0, (i as u32).wrapping_mul(40_503) & 0xffff, 0xffff] {
                let a = decoding.predict().symbol_at(t).unwrap();
                assert_eq!(encoding.predict().symbol_at(t).unwrap(), a);
            }
            let iv = decoding.predict().interval(s).unwrap();
            assert_eq!(encoding.predict().interval(s).unwrap(), iv);
            decoding.update(s);
            encoding.update(s);
        }
        // A reset model is a new one.
        let mut fresh = FrequencyModel::new(order).unwrap();
        decoding.reset();
        for &s in &data[..5000] {
            assert_eq!(
                decoding.predict().interval(s).unwrap(),
                fresh.predict().interval(s).unwrap()
            );
            decoding.update(s);
            fresh.update(s);
        }
    }
}

/// The rules of `docs/FORMAT.md`, written out plainly: counts in `u64`, a context per
/// map entry, the rebuild computed from scratch. Returns `(start, freq)` per symbol.
fn reference_intervals(data: &[u8], order: u32) -> Vec<(u32, u32)> {
    struct Ctx {
        c: Vec<u64>,
        period: u64,
        left: u64,
        freq: Vec<u64>,
    }
    let fresh = || Ctx {
        c: vec![1; 256],
        period: u64::from(FIRST_PERIOD),
        left: u64::from(FIRST_PERIOD),
        freq: vec![256; 256],
    };
    let mut ctxs: std::collections::HashMap<u8, Ctx> = std::collections::HashMap::new();
    let mut prev = 0u8;
    let mut out = Vec::with_capacity(data.len());
    for &s in data {
        let key = if order == 1 { prev } else { 0 };
        let x = ctxs.entry(key).or_insert_with(fresh);
        let start: u64 = x.freq[..usize::from(s)].iter().sum();
        out.push((start as u32, x.freq[usize::from(s)] as u32));
        x.c[usize::from(s)] += u64::from(INC[order as usize]);
        x.left -= 1;
        if x.left == 0 {
            let mut total: u64 = x.c.iter().sum();
            if total > u64::from(LIMIT[order as usize]) {
                for c in x.c.iter_mut() {
                    *c -= *c / 2;
                }
                total = x.c.iter().sum();
            }
            assert!(total <= 1 << 16 && x.c.iter().all(|&c| c < 1 << 16));
            let m = (1u64 << 32) / total;
            x.freq = x.c.iter().map(|&c| c * m / (1 << 16)).collect();
            let sum: u64 = x.freq.iter().sum();
            x.freq[usize::from(s)] += (1 << 16) - sum;
            x.period = (2 * x.period).min(u64::from(MAX_PERIOD));
            x.left = x.period;
        }
        prev = s;
    }
    out
}

#[test]
fn streams_match_a_plain_implementation_of_the_rules() {
    let book1 = corpus("calgary/book1");
    let kennedy = corpus("canterbury/kennedy.xls");
    let inputs: [(&str, &[u8]); 4] = [
        ("book1", &book1[..200_000]),
        ("kennedy", &kennedy[..300_000]),
        ("drifting", &drifting(100_000)),
        ("grammar", &corpus("canterbury/grammar.lsp")),
    ];
    for (name, data) in inputs {
        for order in [0, 1] {
            let ivs = reference_intervals(data, order);
            // Arithmetic (format 5): symbol i by range coder i mod 2, the two streams
            // after the zigzag difference of their lengths.
            let mut range = [RangeEncoder::new(), RangeEncoder::new()];
            for (i, &(start, freq)) in ivs.iter().enumerate() {
                range[i % 2].encode(start, freq, 16);
            }
            let [even, odd] = range.map(|e| e.finish());
            let mut rans = RansEncoder::new(data.len());
            for &(start, freq) in ivs.iter().rev() {
                rans.encode(start, freq, 16);
            }
            let bits: f64 = ivs.iter().map(|&(_, f)| 16.0 - f64::from(f).log2()).sum();
            for (coder, want) in [
                (CoderKind::Arithmetic, join_pair(&even, &odd)),
                (CoderKind::Rans, rans.finish()),
            ] {
                let o = Options::new(ModelKind::Frequency, order, coder)
                    .unwrap()
                    .with_block_size(data.len() as u64)
                    .unwrap();
                let (block, cost) = encode_block(data, &o);
                assert_eq!(
                    block.kind,
                    BlockKind::Entropy,
                    "{name} order {order} {coder:?}"
                );
                assert!(
                    block.body == want,
                    "{name} order {order} {coder:?}: stream differs"
                );
                assert!((cost.model_bits - bits).abs() < 1e-6 * bits);
                assert_eq!(cost.table_bytes, 0);
                let mut out = Vec::new();
                decode_block(&o.header(), &block, 0, &mut out).unwrap();
                assert!(out == data);
            }
        }
    }
}

#[test]
fn frequency_model_compresses_like_a_plain_adaptive_coder() {
    // Sizes of whole files in 128 KiB blocks (header and trailer included), against
    // htscodecs' arith_dynamic (docs/BENCHMARKS.md: 435,109; 349,085 bytes on book1)
    // with 1% of room.
    let book1 = corpus("calgary/book1");
    for (order, peer) in [(0, 435_109.0), (1, 349_085.0)] {
        let o = Options::new(ModelKind::Frequency, order, CoderKind::Arithmetic)
            .unwrap()
            .with_block_size(128 << 10)
            .unwrap();
        let n = shannon::compress(&book1, &o).len() as f64;
        assert!(n <= 1.01 * peer, "order {order}: {n} bytes");
    }
}

#[test]
fn orders_above_1_and_table_coders_are_refused() {
    for coder in [CoderKind::Huffman, CoderKind::Tans] {
        assert!(matches!(
            Options::new(ModelKind::Frequency, 0, coder),
            Err(Error::InvalidOptions(_))
        ));
    }
    assert!(Options::new(ModelKind::Frequency, 2, CoderKind::Arithmetic).is_err());
    assert!(FrequencyModel::new(2).is_err());
    // A header may declare any order up to 16; a frequency block of order 2 is damage.
    let o = Options::new(ModelKind::Frequency, 1, CoderKind::Arithmetic).unwrap();
    let data = corpus("canterbury/grammar.lsp");
    let (block, _) = encode_block(&data, &o);
    let mut header = o.header();
    header.order = 2;
    let mut out = Vec::new();
    assert!(decode_block(&header, &block, 0, &mut out).is_err());
    // So is a table coder in the header.
    for coder in [CoderKind::Huffman, CoderKind::Tans] {
        header.order = 1;
        header.coder = coder;
        assert!(decode_block(&header, &block, 0, &mut out).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary payloads never panic: Ok (with the right length) or Err.
    #[test]
    fn hostile_payloads_never_panic(
        body in proptest::collection::vec(any::<u8>(), 1..400),
        extra in 1u32..2000,
        order in 0u32..=1,
        rans in any::<bool>(),
    ) {
        let coder = if rans { CoderKind::Rans } else { CoderKind::Arithmetic };
        let o = Options::new(ModelKind::Frequency, order, coder).unwrap();
        let raw_len = body.len() as u32 + extra;
        let block = Block { kind: BlockKind::Entropy, raw_len, body, check: 0 };
        let mut out = Vec::new();
        match decode_block(&o.header(), &block, 0, &mut out) {
            Ok(()) => prop_assert_eq!(out.len(), raw_len as usize),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// A damaged stream of real data fails or decodes to other bytes, never panics.
    #[test]
    fn damaged_streams_fail(bit in any::<prop::sample::Index>(), order in 0u32..=1, rans in any::<bool>()) {
        let data = corpus("canterbury/xargs.1");
        let coder = if rans { CoderKind::Rans } else { CoderKind::Arithmetic };
        let o = Options::new(ModelKind::Frequency, order, coder).unwrap();
        let (mut block, _) = encode_block(&data, &o);
        let bit = bit.index(block.body.len() * 8);
        block.body[bit / 8] ^= 1 << (bit % 8);
        let mut out = Vec::new();
        prop_assert!(decode_block(&o.header(), &block, 0, &mut out).is_err());
    }
}
