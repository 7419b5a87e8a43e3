//! tANS throughput against memcpy of the same buffer, measured in the same run.
//!
//! `cargo bench --bench tans -- --measurement-time 3 --warm-up-time 1`
//!
//! The second form (docs/FORMAT.md), which the codec writes, in 128 KiB blocks (the peer
//! bench's block size), each step as `codec::encode_static_order0` and the decoder do it
//! (the setup checks that the payloads are the codec's, byte for byte):
//! - `second/encode`: histogram, table log (`choose_rare_table_log`), rare-on-top
//!   normalisation, the size estimate, table writing, table building, the pairs encoder;
//! - `second/table`: the same without the encoder (the fixed work of a block);
//! - `second/encode_stream`: the encoder alone, tables built;
//! - `second/decode`: table reading and building, the pairs decoder;
//! - `second/decode_stream`: the decoder alone, tables built.
//!
//! Then the first form's coding loops alone (whole file as one block, order-0 table at
//! `choose_table_log`, interleaved lanes): `first/encode_block`, `first/decode_block`.
//! Before the groups run, each file's sizes are printed against the quantised model's
//! cross entropy (`FreqTable::cost_bits`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shannon::coder::tans::{
    Lanes, TansTables, choose_rare_table_log, choose_table_log, decode_block, decode_block_lanes,
    encode_block, encode_block_lanes, estimated_cost_bits, normalize_rare_on_top, read_rare_table,
    write_rare_table,
};
use shannon::model::{Counts, FreqTable};
use shannon::{CoderKind, ModelKind, Options};

/// Block size of the second-form groups: the peer bench's.
const BLOCK: usize = 128 << 10;

/// The second form's table of `block`: payload (log byte and table) and tables, the
/// steps of the codec's tANS arm.
fn second_table(block: &[u8]) -> (Vec<u8>, TansTables) {
    let counts = Counts::of(block);
    let log = choose_rare_table_log(&counts);
    let (freq, rare) = normalize_rare_on_top(&counts, log).expect("non-empty block");
    black_box(estimated_cost_bits(&counts, &freq, &rare, log));
    let mut payload = vec![0x80 | log as u8];
    write_rare_table(&freq, &rare, &mut payload);
    let table = FreqTable::from_freqs(freq, log).expect("normalised");
    let tables = TansTables::with_rare_on_top(&table, &rare).expect("rare symbols at 1");
    (payload, tables)
}

/// The whole second-form payload of `block`.
fn second_encode(block: &[u8]) -> Vec<u8> {
    let (mut payload, tables) = second_table(block);
    payload.extend_from_slice(&encode_block_lanes(block, &tables, Lanes::Pairs).expect("codes"));
    payload
}

/// Decodes a second-form payload into `out`.
fn second_decode(payload: &[u8], out: &mut [u8]) {
    let log = u32::from(payload[0] & 0x7f);
    let (table, rare, used) = read_rare_table(&payload[1..], log).expect("table");
    let tables = TansTables::with_rare_on_top(&table, &rare).expect("tables");
    decode_block_lanes(&payload[1 + used..], &tables, out, Lanes::Pairs).expect("decodes");
}

fn bench_file(c: &mut Criterion, name: &str, rel: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let data = std::fs::read(&path).expect("corpus file");

    // Second form, checked against the codec.
    let options = Options::new(ModelKind::Static, 0, CoderKind::Tans)
        .and_then(|o| o.with_block_size(BLOCK as u64))
        .expect("options");
    let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
    let payloads: Vec<Vec<u8>> = blocks.iter().map(|b| second_encode(b)).collect();
    for (b, p) in blocks.iter().zip(&payloads) {
        let (block, _) = shannon::codec::encode_block(b, &options);
        assert!(block.body == *p, "{name}: not the codec's payload");
    }
    let built: Vec<(usize, TansTables)> = blocks
        .iter()
        .map(|b| {
            let (head, tables) = second_table(b);
            (head.len(), tables)
        })
        .collect();
    let mut out = vec![0u8; data.len()];
    for (p, o) in payloads.iter().zip(out.chunks_mut(BLOCK)) {
        second_decode(p, o);
    }
    assert!(out == data);
    let second: usize = payloads.iter().map(Vec::len).sum();

    // First form, whole file.
    let counts = Counts::of(&data);
    let r = choose_table_log(&counts);
    let table = FreqTable::from_counts(&counts, r).expect("table");
    let tables = TansTables::new(&table).expect("tans tables");
    let stream = encode_block(&data, &tables).expect("encode");
    decode_block(&stream, &tables, &mut out).expect("decode");
    assert!(out == data);
    let model = table.cost_bits(&counts) / data.len() as f64;
    let bpb = |bytes: usize| 8.0 * bytes as f64 / data.len() as f64;
    eprintln!(
        "{name}: {} bytes; second form in {} KiB blocks {second} bytes ({:.4} bits/byte, \
         tables included); first form as one block at R = {r}: stream {:.4} bits/byte, \
         cross entropy {model:.4} (+{:.4}%)",
        data.len(),
        BLOCK >> 10,
        bpb(second),
        bpb(stream.len()),
        100.0 * (bpb(stream.len()) / model - 1.0)
    );

    let mut g = c.benchmark_group(format!("tans/{name}"));
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            out.copy_from_slice(black_box(&data));
            black_box(&out);
        })
    });
    g.bench_function("second/encode", |b| {
        b.iter(|| {
            for block in &blocks {
                black_box(second_encode(black_box(block)));
            }
        })
    });
    g.bench_function("second/table", |b| {
        b.iter(|| {
            for block in &blocks {
                black_box(second_table(black_box(block)));
            }
        })
    });
    g.bench_function("second/encode_stream", |b| {
        b.iter(|| {
            for (block, (_, tables)) in blocks.iter().zip(&built) {
                black_box(encode_block_lanes(black_box(block), tables, Lanes::Pairs).unwrap());
            }
        })
    });
    g.bench_function("second/decode", |b| {
        b.iter(|| {
            for (p, o) in payloads.iter().zip(out.chunks_mut(BLOCK)) {
                second_decode(black_box(p), o);
            }
            black_box(&out);
        })
    });
    g.bench_function("second/decode_stream", |b| {
        b.iter(|| {
            for ((p, (head, tables)), o) in payloads.iter().zip(&built).zip(out.chunks_mut(BLOCK)) {
                decode_block_lanes(black_box(&p[*head..]), tables, o, Lanes::Pairs).unwrap();
            }
            black_box(&out);
        })
    });
    g.bench_function("first/encode_block", |b| {
        b.iter(|| encode_block(black_box(&data), &tables).unwrap())
    });
    g.bench_function("first/decode_block", |b| {
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
    // Small files, where the fixed work of a block weighs most.
    bench_file(c, "obj1", "corpora/calgary/obj1");
    bench_file(c, "sum", "corpora/canterbury/sum");
}

criterion_group!(benches, tans);
criterion_main!(benches);
