//! End-to-end throughput of `shannon::compress` / `shannon::decompress` for every natural
//! model/coder pair at orders 0, 1 and 2, with a memcpy of the same buffer as the in-run
//! peer (the machine is shared: compare ratios, not absolute numbers).
//!
//! Inputs: book1, alice29.txt, kennedy.xls, ptt5 (bundled), E.coli from the large
//! Canterbury corpus when `SHANNON_LARGE_CORPUS` names its directory, and a synthetic
//! skewed source (1 MiB of i.i.d. bytes with `p(k)` proportional to `0.7^k`, 32 symbols,
//! entropy about 1.9 bits).
//!
//! `cargo bench --bench codec` runs everything (a few minutes); a criterion filter picks
//! a part, e.g. `cargo bench --bench codec -- 'book1/adaptive2'`. The model's own cost
//! per symbol (predict + update, without a coder) is `benches/adaptive.rs`; the coders
//! alone on static order-0 tables are `benches/{range,rans,huffman,tans}.rs`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::Options;
use shannon::format::{CoderKind, ModelKind};
use shannon::sources::{Discrete, Rng};

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpora")
            .join(name),
    )
    .expect("bundled corpus file")
}

/// 1 MiB from a fixed seed: symbol `k < 32` with probability proportional to `0.7^k`.
fn skewed() -> Vec<u8> {
    let weights: Vec<(u8, f64)> = (0..32u8).map(|k| (k, 0.7f64.powi(k.into()))).collect();
    let source = Discrete::quantise(&weights).expect("valid weights");
    let mut rng = Rng::new(0x5EED);
    (0..1 << 20).map(|_| source.sample(&mut rng)).collect()
}

/// The inputs, named.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = [
        ("book1", "calgary/book1"),
        ("alice29", "canterbury/alice29.txt"),
        ("kennedy", "canterbury/kennedy.xls"),
        ("ptt5", "canterbury/ptt5"),
    ]
    .into_iter()
    .map(|(name, file)| (name.to_string(), corpus(file)))
    .collect();
    if let Some(dir) = std::env::var_os("SHANNON_LARGE_CORPUS") {
        let path = PathBuf::from(dir).join("E.coli");
        match std::fs::read(&path) {
            Ok(data) => v.push(("E.coli".to_string(), data)),
            Err(e) => eprintln!("skipping {}: {e}", path.display()),
        }
    }
    v.push(("skewed".to_string(), skewed()));
    v
}

/// Every pair DESIGN.md calls natural, at orders 0, 1, 2: static models with all four
/// coders, adaptive ones with the two that take any distribution; frequency models
/// (orders 0 and 1 only) likewise.
fn pairs() -> Vec<Options> {
    let mut v = Vec::new();
    for order in 0..=2 {
        for coder in [
            CoderKind::Arithmetic,
            CoderKind::Rans,
            CoderKind::Huffman,
            CoderKind::Tans,
        ] {
            v.push(Options::new(ModelKind::Static, order, coder).expect("natural pair"));
        }
        for coder in [CoderKind::Arithmetic, CoderKind::Rans] {
            v.push(Options::new(ModelKind::Adaptive, order, coder).expect("natural pair"));
            if order <= 1 {
                v.push(Options::new(ModelKind::Frequency, order, coder).expect("natural pair"));
            }
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    for (name, data) in inputs() {
        let mut g = c.benchmark_group(format!("codec/{name}"));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        g.bench_function("memcpy", |b| b.iter(|| black_box(data.clone())));
        for o in pairs() {
            let pair = format!("{}{}-{}", o.model().name(), o.order(), o.coder().name());
            let packed = shannon::compress(&data, &o);
            assert_eq!(shannon::decompress(&packed).expect("round trip"), data);
            g.bench_function(format!("{pair}/compress"), |b| {
                b.iter(|| shannon::compress(black_box(&data), &o))
            });
            g.bench_function(format!("{pair}/decompress"), |b| {
                b.iter(|| shannon::decompress(black_box(&packed)).expect("round trip"))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
