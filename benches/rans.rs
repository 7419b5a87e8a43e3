//! rANS order-0 fast paths against a memcpy of the same buffer, measured in the same run.
//!
//! `cargo bench --bench rans -- --measurement-time 3 --warm-up-time 1`
//!
//! Tables and streams are built outside the timed loops; throughput counts input bytes
//! (symbols) in both directions.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::rans::{decode_order0, encode_order0};
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
        }
        group.finish();
    }
}

criterion_group!(benches, bench_rans);
criterion_main!(benches);
