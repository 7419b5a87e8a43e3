//! tANS block throughput against memcpy of the same buffer, measured in the same run.
//!
//! `cargo bench --bench tans -- --measurement-time 3 --warm-up-time 1`
//!
//! Tables are built outside the timed loops; each group also prints the achieved size
//! against the quantised model's cross entropy (`FreqTable::cost_bits`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::tans::{TansTables, choose_table_log, decode_block, encode_block};
use shannon::model::{Counts, FreqTable};

fn bench_file(c: &mut Criterion, name: &str, rel: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let data = std::fs::read(&path).expect("corpus file");
    let counts = Counts::of(&data);
    let r = choose_table_log(&counts);
    let table = FreqTable::from_counts(&counts, r).expect("table");
    let tables = TansTables::new(&table).expect("tans tables");
    let stream = encode_block(&data, &tables).expect("encode");
    let mut out = vec![0u8; data.len()];
    decode_block(&stream, &tables, &mut out).expect("decode");
    assert!(out == data);
    let model = table.cost_bits(&counts);
    let achieved = 8.0 * stream.len() as f64;
    eprintln!(
        "{name}: {} bytes, R = {r}, achieved {:.4} bits/byte, cross entropy {:.4} bits/byte \
         (+{:.4}%)",
        data.len(),
        achieved / data.len() as f64,
        model / data.len() as f64,
        100.0 * (achieved / model - 1.0)
    );

    let mut g = c.benchmark_group(format!("tans/{name}"));
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            out.copy_from_slice(black_box(&data));
            black_box(&out);
        })
    });
    g.bench_function("encode_block", |b| {
        b.iter(|| encode_block(black_box(&data), &tables).unwrap())
    });
    g.bench_function("decode_block", |b| {
        b.iter(|| {
            decode_block(black_box(&stream), &tables, &mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();
}

fn tans(c: &mut Criterion) {
    bench_file(c, "book1", "corpora/calgary/book1");
    bench_file(c, "kennedy.xls", "corpora/canterbury/kennedy.xls");
}

criterion_group!(benches, tans);
criterion_main!(benches);
