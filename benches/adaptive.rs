//! Speed of the adaptive PPM model on calgary/book1: predict + interval + update per byte
//! (the encoder's work) and predict + symbol_at + update (the decoder's), next to a plain
//! static order-0 table lookup loop measured in the same run; and the loops the codec
//! runs, `Model::encode_each` and `Model::decode_into` (the latter fed prepared targets
//! instead of a coder), which for a direct order 2 are fused loops. The models get the
//! memory `shannon compress` gives a 1 MiB block (32 MiB).
//!
//! `cargo bench --bench adaptive -- --measurement-time 3 --warm-up-time 1`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::Decode;
use shannon::model::{AdaptiveModel, Distribution, Model, StaticOrder0};
use std::hint::black_box;

fn book1() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpora/calgary/book1"
    ))
    .expect("corpora/calgary/book1")
}

/// The memory `shannon compress` gives an adaptive model of a 1 MiB block (32 MiB).
fn memory() -> usize {
    shannon::Options::default().memory()
}

/// Encoder side: the sum of the interval widths keeps the work observable.
fn encode_pass(order: u32, data: &[u8]) -> u64 {
    let mut m = AdaptiveModel::new(order, memory()).unwrap();
    let mut acc = 0u64;
    for &s in data {
        acc += u64::from(m.predict().interval(s).unwrap().freq);
        m.update(s);
    }
    acc
}

/// The start of every byte's interval, to serve as the decoder's targets.
fn targets(order: u32, data: &[u8]) -> Vec<u32> {
    let mut m = AdaptiveModel::new(order, memory()).unwrap();
    data.iter()
        .map(|&s| {
            let t = m.predict().interval(s).unwrap().start;
            m.update(s);
            t
        })
        .collect()
}

/// Decoder side: finds each byte from its target and learns it.
fn decode_pass(order: u32, targets: &[u32]) -> u64 {
    let mut m = AdaptiveModel::new(order, memory()).unwrap();
    let mut acc = 0u64;
    for &t in targets {
        let (s, iv) = m.predict().symbol_at(t).unwrap();
        acc += u64::from(iv.freq);
        m.update(s);
    }
    acc
}

/// The codec's encoding loop: `encode_each`, the interval widths summed.
fn encode_each_pass(order: u32, data: &[u8]) -> u64 {
    let mut m = AdaptiveModel::new(order, memory()).unwrap();
    let mut acc = 0u64;
    m.encode_each(data, |_, iv| acc += u64::from(iv.freq))
        .unwrap();
    acc
}

/// A stand-in decoder that hands out prepared targets: the model's part of decoding
/// without a coder's arithmetic.
struct Targets<'a> {
    targets: &'a [u32],
    next: usize,
    acc: u64,
}

impl Decode for Targets<'_> {
    fn peek(&mut self, _scale_bits: u32) -> u32 {
        self.targets.get(self.next).copied().unwrap_or(0)
    }
    fn consume(&mut self, _start: u32, freq: u32, _scale_bits: u32) {
        self.acc += u64::from(freq);
        self.next += 1;
    }
    fn finish(self) -> shannon::Result<()> {
        Ok(())
    }
}

/// The codec's decoding loop: `decode_into` over the targets.
fn decode_into_pass(order: u32, targets: &[u32], out: &mut [u8]) -> u64 {
    let mut m = AdaptiveModel::new(order, memory()).unwrap();
    let mut t = Targets {
        targets,
        next: 0,
        acc: 0,
    };
    m.decode_into(out, &mut t).unwrap();
    t.acc
}

fn bench(c: &mut Criterion) {
    let data = book1();
    let mut g = c.benchmark_group("adaptive_book1");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);

    let mut peer = StaticOrder0::build(&data, 16).unwrap();
    g.bench_function("peer_static_order0_interval", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for &s in black_box(&data[..]) {
                acc += u64::from(peer.predict().interval(s).unwrap().freq);
                peer.update(s);
            }
            acc
        })
    });
    for order in 0u32..=6 {
        g.bench_function(format!("order{order}_predict_interval_update"), |b| {
            b.iter(|| encode_pass(order, black_box(&data)))
        });
        let t = targets(order, &data);
        assert_eq!(decode_pass(order, &t), encode_pass(order, &data));
        g.bench_function(format!("order{order}_predict_symbol_at_update"), |b| {
            b.iter(|| decode_pass(order, black_box(&t)))
        });
        assert_eq!(encode_each_pass(order, &data), encode_pass(order, &data));
        g.bench_function(format!("order{order}_encode_each"), |b| {
            b.iter(|| encode_each_pass(order, black_box(&data)))
        });
        let mut out = vec![0u8; data.len()];
        assert_eq!(
            decode_into_pass(order, &t, &mut out),
            encode_pass(order, &data)
        );
        assert!(out == data);
        g.bench_function(format!("order{order}_decode_into"), |b| {
            b.iter(|| decode_into_pass(order, black_box(&t), &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
