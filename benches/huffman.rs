//! Huffman block coder throughput, with memcpy of the same buffer as the in-run peer.
//!
//! `cargo bench --bench huffman -- --measurement-time 3 --warm-up-time 1`
//!
//! Per file: `memcpy`, `encode_block`, `decode_block` (the code is built outside the timed
//! loop), and on book1 `encode_bitvec`: the same code words appended one `BitVec` at a
//! time, to show why `coder::bitio` does not use `bitvec` in the hot loop. Before the
//! groups run, the achieved bits per byte and the order-0 entropy are printed, and the
//! best of 300 single timed runs of memcpy, encode and decode: on a machine shared with
//! other jobs criterion's median includes time the thread spent descheduled, while the
//! fastest single run approximates the uncontended speed.
//!
//! Then, per 128 KiB block (the peer bench's block size), the median of 101 passes over
//! the file's blocks of each step a block pays for on top of the coding loops:
//! `Counts::of`, `HuffmanCode::from_counts` (package-merge and the canonical code),
//! `HuffmanCode::write`, and on the decoding side `HuffmanCode::read` with
//! `decode_block` (which builds the decoder's tables) against `decode_block` with a code
//! whose tables are already built.

use std::hint::black_box;
use std::time::Instant;

use bitvec::order::Msb0;
use bitvec::vec::BitVec;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::huffman::{HuffmanCode, decode_block, encode_block};
use shannon::model::Counts;

/// MB/s of the fastest of 300 runs of `f` over `bytes` bytes.
fn best_of_runs(bytes: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..300 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    bytes as f64 / 1e6 / best
}

/// Median of 101 timed runs of `f`, in microseconds per block of `blocks`.
fn median_us(blocks: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..101)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[50] * 1e6 / blocks as f64
}

/// Per-block costs around the coding loops (module notes).
fn per_block(name: &str, data: &[u8]) {
    let blocks: Vec<&[u8]> = data.chunks(128 << 10).collect();
    let nb = blocks.len();
    let counts: Vec<Counts> = blocks.iter().map(|b| Counts::of(b)).collect();
    let codes: Vec<HuffmanCode> = counts
        .iter()
        .map(|c| HuffmanCode::from_counts(c).expect("non-empty block"))
        .collect();
    let tables: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| {
            let mut t = Vec::new();
            c.write(&mut t);
            t
        })
        .collect();
    let streams: Vec<Vec<u8>> = blocks
        .iter()
        .zip(&codes)
        .map(|(b, c)| encode_block(b, c).expect("every byte has a code"))
        .collect();
    let mut out = vec![0u8; 128 << 10];
    let count = median_us(nb, || {
        for b in &blocks {
            black_box(Counts::of(black_box(b)));
        }
    });
    let build = median_us(nb, || {
        for c in &counts {
            black_box(HuffmanCode::from_counts(black_box(c)).unwrap());
        }
    });
    let write = median_us(nb, || {
        for c in &codes {
            let mut t = Vec::new();
            c.write(&mut t);
            black_box(t);
        }
    });
    let encode = median_us(nb, || {
        for (b, c) in blocks.iter().zip(&codes) {
            black_box(encode_block(black_box(b), c).unwrap());
        }
    });
    let cold = median_us(nb, || {
        for ((t, s), b) in tables.iter().zip(&streams).zip(&blocks) {
            let (code, _) = HuffmanCode::read(black_box(t)).unwrap();
            decode_block(s, &code, &mut out[..b.len()]).unwrap();
            black_box(&out);
        }
    });
    let warm = median_us(nb, || {
        for ((c, s), b) in codes.iter().zip(&streams).zip(&blocks) {
            decode_block(black_box(s), c, &mut out[..b.len()]).unwrap();
            black_box(&out);
        }
    });
    eprintln!(
        "{name}: per 128 KiB block, us (median of 101): count {count:.1}, code {build:.1}, \
         write {write:.1}, encode_block {encode:.1}; read + decode_block {cold:.1}, \
         decode_block with the tables built {warm:.1}"
    );
}

const FILES: [(&str, &str); 2] = [
    ("book1", "corpora/calgary/book1"),
    ("kennedy.xls", "corpora/canterbury/kennedy.xls"),
];

fn bench(c: &mut Criterion) {
    for (name, path) in FILES {
        let data = std::fs::read(path).expect("corpus file");
        let counts = Counts::of(&data);
        let code = HuffmanCode::from_counts(&counts).expect("non-empty file");
        let stream = encode_block(&data, &code).expect("every byte has a code");
        let mut table = Vec::new();
        code.write(&mut table);
        eprintln!(
            "{name}: {} bytes -> {} stream + {} table bytes: {:.4} bits/byte \
             (payload {:.4}, H0 {:.4})",
            data.len(),
            stream.len(),
            table.len(),
            8.0 * (stream.len() + table.len()) as f64 / data.len() as f64,
            code.cost_bits(&counts) as f64 / data.len() as f64,
            counts.entropy_bits_per_symbol(),
        );

        per_block(name, &data);

        let mut dst = vec![0u8; data.len()];
        let copy = best_of_runs(data.len(), || {
            dst.copy_from_slice(black_box(&data));
            black_box(&dst);
        });
        let enc = best_of_runs(data.len(), || {
            black_box(encode_block(black_box(&data), &code).unwrap());
        });
        let dec = best_of_runs(data.len(), || {
            decode_block(black_box(&stream), &code, &mut dst).unwrap();
            black_box(&dst);
        });
        eprintln!(
            "{name}: best of 300 runs, MB/s: memcpy {copy:.0}, encode {enc:.0} ({:.4} of memcpy), \
             decode {dec:.0} ({:.4} of memcpy)",
            enc / copy,
            dec / copy
        );

        let mut group = c.benchmark_group(format!("huffman/{name}"));
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&data));
                black_box(&dst);
            })
        });
        group.bench_function("encode_block", |b| {
            b.iter(|| encode_block(black_box(&data), &code).unwrap())
        });
        group.bench_function("decode_block", |b| {
            b.iter(|| {
                decode_block(black_box(&stream), &code, &mut dst).unwrap();
                black_box(&dst);
            })
        });
        if name == "book1" {
            let words: Vec<BitVec<u8, Msb0>> = (0..=255u8)
                .map(|s| code.code_word(s).unwrap_or_default())
                .collect();
            group.bench_function("encode_bitvec", |b| {
                b.iter(|| {
                    let mut bits: BitVec<u8, Msb0> = BitVec::with_capacity(data.len() * 5);
                    for &s in black_box(&data) {
                        bits.extend_from_bitslice(&words[s as usize]);
                    }
                    bits
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
