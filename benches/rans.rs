//! rANS order-0 fast paths against a memcpy of the same buffer, measured in the same run:
//! one stream for the whole file, and two streams for its halves (the format-6 layout of
//! large static order-0 blocks, decoded in one loop).
//!
//! `cargo bench --bench rans -- --measurement-time 3 --warm-up-time 1`
//!
//! Tables and streams are built outside the timed loops; throughput counts input bytes
//! (symbols) in both directions.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::rans::{
    decode_order0, decode_order0_pair, encode_order0, encode_order0_pair_into,
};
use shannon::coder::split_pair;
use shannon::model::{Counts, FreqTable};

fn read_corpus(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpora")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench_rans(c: &mut Criterion) {
    for (name, rel) in [
        ("book1", "calgary/book1"),
        ("kennedy", "canterbury/kennedy.xls"),
    ] {
        let data = read_corpus(rel);
        let mut group = c.benchmark_group(format!("rans/{name}"));
        group.throughput(Throughput::Bytes(data.len() as u64));

        let mut copy = vec![0u8; data.len()];
        group.bench_function("memcpy", |b| {
            b.iter(|| copy.copy_from_slice(black_box(&data)));
        });

        for scale in [12u32, 14] {
            let table = FreqTable::from_counts(&Counts::of(&data), scale).expect("table");
            let stream = encode_order0(&data, &table).expect("encode");
            let mut out = vec![0u8; data.len()];
            decode_order0(&stream, &table, &mut out).expect("decode");
            assert!(out == data, "{name} at scale {scale} does not round-trip");

            group.bench_function(format!("encode/{scale}"), |b| {
                b.iter(|| encode_order0(black_box(&data), &table).expect("encode"));
            });
            group.bench_function(format!("decode/{scale}"), |b| {
                b.iter(|| decode_order0(black_box(&stream), &table, &mut out).expect("decode"));
            });

            let (first, second) = data.split_at(data.len() / 2);
            let mut pair = Vec::new();
            encode_order0_pair_into(first, second, &table, &mut pair).expect("encode");
            let (a, b) = split_pair(&pair).expect("two streams");
            let (out_a, out_b) = out.split_at_mut(first.len());
            decode_order0_pair(a, b, &table, out_a, out_b).expect("decode");
            assert!(
                out == data,
                "{name} halves at scale {scale} do not round-trip"
            );
            let mut scratch = Vec::with_capacity(pair.len());
            group.bench_function(format!("encode_halves/{scale}"), |bench| {
                bench.iter(|| {
                    scratch.clear();
                    encode_order0_pair_into(black_box(first), second, &table, &mut scratch)
                        .expect("encode")
                });
            });
            let (out_a, out_b) = out.split_at_mut(first.len());
            group.bench_function(format!("decode_halves/{scale}"), |bench| {
                bench.iter(|| {
                    decode_order0_pair(black_box(a), b, &table, out_a, out_b).expect("decode")
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_rans);
criterion_main!(benches);
