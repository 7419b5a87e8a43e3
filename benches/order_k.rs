//! Static order-k throughput: `shannon::compress` / `shannon::decompress` of book1 with
//! static orders 1 and 2 for each coder, next to static order 0 with the same coder and a
//! memcpy, all measured in the same run (the machine is shared: compare ratios).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::{CoderKind, ModelKind, Options};

fn bench(c: &mut Criterion) {
    let data = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/calgary/book1"))
        .expect("bundled corpus file");
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

criterion_group!(benches, bench);
criterion_main!(benches);
