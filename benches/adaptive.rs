//! Speed of the adaptive PPM model on calgary/book1: predict + interval + update per byte
//! (the encoder's work) and predict + symbol_at + update (the decoder's), next to a plain
//! static order-0 table lookup loop measured in the same run. The models get the memory
//! `shannon compress` gives a 1 MiB block (32 MiB).
//!
//! `cargo bench --bench adaptive -- --measurement-time 3 --warm-up-time 1`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
