//! Static order-k throughput on book1.
//!
//! `cargo bench --bench order_k -- --measurement-time 3 --warm-up-time 1`
//!
//! Two groups, each with an in-run peer (the machine is shared: compare ratios):
//!
//! - `order_k_rans/book1`: the rANS streams alone (tables and streams built outside the
//!   timed loops): order-0 `encode_order0`/`decode_order0` next to the order-1 and
//!   order-2 lane fast paths, plus the table build (counting and choosing every
//!   context's precision) and the decoder's slot tables.
//! - `order_k/book1`: `shannon::compress` / `shannon::decompress` of book1 with static
//!   orders 1 and 2 for each coder, next to static order 0 with the same coder and a
//!   memcpy.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::rans::{
    ContextSlots, decode_order_k, decode_order0, encode_order_k, encode_order0,
};
use shannon::model::order_k::{CostKind, Lanes, OrderKTable};
use shannon::model::{Counts, FreqTable};
use shannon::{CoderKind, ModelKind, Options};

fn book1() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/calgary/book1"))
        .expect("bundled corpus file")
}

fn bench_rans_streams(c: &mut Criterion) {
    let data = book1();
    let mut g = c.benchmark_group("order_k_rans/book1");
    g.throughput(Throughput::Bytes(data.len() as u64));
    let t0 = FreqTable::from_counts(&Counts::of(&data), 12).expect("table");
    let s0 = encode_order0(&data, &t0).expect("encode");
    let mut out = vec![0u8; data.len()];
    g.bench_function("o0/encode", |b| {
        b.iter(|| encode_order0(black_box(&data), &t0).expect("encode"))
    });
    g.bench_function("o0/decode", |b| {
        b.iter(|| decode_order0(black_box(&s0), &t0, &mut out).expect("decode"))
    });
    for order in [1, 2] {
        let (table, _) =
            OrderKTable::build(&data, order, Lanes::Four, 12, CostKind::Ideal).expect("table");
        let slots = ContextSlots::new(&table).expect("fits");
        let stream = encode_order_k(&data, &table).expect("encode");
        decode_order_k(&stream, &slots, &mut out).expect("decode");
        assert!(out == data, "order {order} does not round-trip");
        g.bench_function(format!("o{order}/encode"), |b| {
            b.iter(|| encode_order_k(black_box(&data), &table).expect("encode"))
        });
        g.bench_function(format!("o{order}/decode"), |b| {
            b.iter(|| decode_order_k(black_box(&stream), &slots, &mut out).expect("decode"))
        });
        g.bench_function(format!("o{order}/build"), |b| {
            b.iter(|| {
                OrderKTable::build(black_box(&data), order, Lanes::Four, 12, CostKind::Ideal)
                    .expect("table")
            })
        });
        g.bench_function(format!("o{order}/slots"), |b| {
            b.iter(|| ContextSlots::new(black_box(&table)).expect("fits"))
        });
    }
    g.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let data = book1();
    let mut g = c.benchmark_group("order_k/book1");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("memcpy", |b| b.iter(|| black_box(data.clone())));
    for coder in [
        CoderKind::Rans,
        CoderKind::Arithmetic,
        CoderKind::Huffman,
        CoderKind::Tans,
    ] {
        for order in [0, 1, 2] {
            let o = Options::new(ModelKind::Static, order, coder).expect("static order");
            let packed = shannon::compress(&data, &o);
            let name = format!("{}/o{order}", coder.name());
            g.bench_function(format!("{name}/compress"), |b| {
                b.iter(|| shannon::compress(black_box(&data), &o))
            });
            g.bench_function(format!("{name}/decompress"), |b| {
                b.iter(|| shannon::decompress(black_box(&packed)).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_rans_streams, bench_pipeline);
criterion_main!(benches);
