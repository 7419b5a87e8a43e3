//! Range coder throughput: the order-0 fast paths on two corpus files at scales 12 and
//! 15, each beside a plain memcpy of the same buffer measured in the same run, and the
//! generic trait path (`Encode` / `Decode`, slot-table lookup) for comparison; and
//! whole static order-1 and order-2 blocks with this coder (`range_static_k`).
//!
//! `cargo bench --bench range -- --measurement-time 3 --warm-up-time 1`
//!
//! Before measuring, prints each stream's size and the coder overhead: how far
//! `8 * stream bytes` lies above the code length the table itself promises.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::range::{
    RangeDecoder, RangeEncoder, decode_order0, decode_order0_pair, encode_order0,
    encode_order0_pair,
};
use shannon::coder::{Decode, Encode};
use shannon::model::{Counts, Distribution, FreqTable};
use shannon::{CoderKind, ModelKind, Options};

const FILES: [&str; 2] = ["calgary/book1", "canterbury/kennedy.xls"];
const SCALES: [u32; 2] = [12, 15];

fn bench_range(c: &mut Criterion) {
    for file in FILES {
        let path = format!("{}/corpora/{file}", env!("CARGO_MANIFEST_DIR"));
        let data = std::fs::read(&path).expect("corpus file");
        let counts = Counts::of(&data);
        for scale in SCALES {
            let table = FreqTable::from_counts(&counts, scale).expect("table");
            let stream = encode_order0(&data, &table).expect("encode");
            let cost = table.cost_bits(&counts);
            let bits = 8.0 * stream.len() as f64;
            eprintln!(
                "{file} scale {scale}: {} -> {} bytes, table cost {:.0} bits, coder overhead {:.4}%",
                data.len(),
                stream.len(),
                cost,
                100.0 * (bits / cost - 1.0)
            );

            let mut group = c.benchmark_group(format!("range/{file}/s{scale}"));
            group.throughput(Throughput::Bytes(data.len() as u64));
            let mut copy = vec![0u8; data.len()];
            group.bench_function("memcpy", |b| {
                b.iter(|| {
                    copy.copy_from_slice(black_box(&data));
                    black_box(&copy);
                })
            });
            group.bench_function("encode_order0", |b| {
                b.iter(|| black_box(encode_order0(black_box(&data), &table).unwrap()))
            });
            let mut out = vec![0u8; data.len()];
            decode_order0(&stream, &table, &mut out).unwrap();
            assert_eq!(out, data);
            group.bench_function("decode_order0", |b| {
                b.iter(|| {
                    decode_order0(black_box(&stream), &table, &mut out).unwrap();
                    black_box(&out);
                })
            });
            // Two coders taking turns (format 6's large static blocks).
            group.bench_function("encode_order0_pair", |b| {
                b.iter(|| black_box(encode_order0_pair(black_box(&data), &table).unwrap()))
            });
            let pair = encode_order0_pair(&data, &table).unwrap();
            decode_order0_pair(&pair, &table, &mut out).unwrap();
            assert_eq!(out, data);
            group.bench_function("decode_order0_pair", |b| {
                b.iter(|| {
                    decode_order0_pair(black_box(&pair), &table, &mut out).unwrap();
                    black_box(&out);
                })
            });
            // The trait path the codec uses with other models, for comparison.
            group.bench_function("encode_generic", |b| {
                b.iter(|| {
                    let mut enc = RangeEncoder::new();
                    for &s in black_box(&data) {
                        let iv = table.interval(s).unwrap();
                        enc.encode(iv.start, iv.freq, scale);
                    }
                    black_box(enc.finish())
                })
            });
            let slots = table.slot_symbols();
            group.bench_function("decode_generic", |b| {
                b.iter(|| {
                    let mut dec = RangeDecoder::new(black_box(&stream)).unwrap();
                    for o in out.iter_mut() {
                        let s = slots[dec.peek(scale) as usize];
                        let iv = table.interval(s).unwrap();
                        dec.consume(iv.start, iv.freq, scale);
                        *o = s;
                    }
                    dec.finish().unwrap();
                    black_box(&out);
                })
            });
            group.finish();
        }
    }
}

/// Static order-1 and order-2 blocks with the range coder, whole: `shannon::compress`
/// (counting, the tables of every order, the order-0 candidate, the stream) and
/// `shannon::decompress` (the table read into slot tables, the stream); each file is one
/// block at the default block size.
fn bench_static_order_k(c: &mut Criterion) {
    for file in FILES {
        let path = format!("{}/corpora/{file}", env!("CARGO_MANIFEST_DIR"));
        let data = std::fs::read(&path).expect("corpus file");
        let mut group = c.benchmark_group(format!("range_static_k/{file}"));
        group.throughput(Throughput::Bytes(data.len() as u64));
        for order in [1, 2] {
            let options = Options::new(ModelKind::Static, order, CoderKind::Arithmetic)
                .expect("static order k");
            let packed = shannon::compress(&data, &options);
            assert!(shannon::decompress(&packed).expect("decode") == data);
            group.bench_function(format!("o{order}/compress"), |b| {
                b.iter(|| black_box(shannon::compress(black_box(&data), &options)))
            });
            group.bench_function(format!("o{order}/decompress"), |b| {
                b.iter(|| black_box(shannon::decompress(black_box(&packed)).expect("decode")))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_range, bench_static_order_k);
criterion_main!(benches);
