//! End-to-end throughput of `shannon::compress` / `shannon::decompress` for every
//! available codec, on book1 and kennedy.xls, with a memcpy of the same buffer as the
//! in-run peer (the machine is shared: compare ratios, not absolute numbers).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpora")
            .join(name),
    )
    .expect("bundled corpus file")
}

fn bench(c: &mut Criterion) {
    for (name, file) in [
        ("book1", "calgary/book1"),
        ("kennedy", "canterbury/kennedy.xls"),
    ] {
        let data = corpus(file);
        let mut g = c.benchmark_group(format!("codec/{name}"));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function("memcpy", |b| b.iter(|| black_box(data.clone())));
        for o in shannon::available_codecs() {
            let coder = format!("{}{}-{}", o.model().name(), o.order(), o.coder().name());
            let packed = shannon::compress(&data, &o);
            g.bench_function(format!("{coder}/compress"), |b| {
                b.iter(|| shannon::compress(black_box(&data), &o))
            });
            g.bench_function(format!("{coder}/decompress"), |b| {
                b.iter(|| shannon::decompress(black_box(&packed)).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
