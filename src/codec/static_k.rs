//! Static order-k blocks (`k >= 1`): the payload and its coding with each coder.
//!
//! # Payload (also in `docs/FORMAT.md`, "Static order k")
//!
//! ```text
//! payload = used:u8 rest
//! used = 0:   rest is the static order-0 payload of the header's coder
//! used >= 1:  rest = table_len:varint table stream      (used <= the header's order)
//! ```
//!
//! The encoder builds the tables of every order `1..=k`, estimates table bits plus coded
//! bits for each, and keeps the cheapest of them and the real order-0 payload; `used`
//! records which ([`crate::model::order_k::payload_order`] reads it back).
//!
//! # Streams
//!
//! - **range**: one [`RangeEncoder`] stream, symbols in data order, each coded with the
//!   table of its context at the block scale `S`.
//! - **rANS**: one [`RansEncoder`] stream of four *lanes* (see [`Lanes::Four`]): with
//!   `q = floor(n / 4)`, stream symbol `i < 4q` is data position `(i mod 4) q + floor(i / 4)`
//!   and symbol `i >= 4q` is position `i`. So state `j` codes lane `j`, and the four
//!   states have independent context chains (each lane starts from a zero context).
//! - **Huffman**: one [`BitWriter`] stream of per-context canonical code words, last
//!   symbol first; a context with one symbol writes nothing.
//! - **tANS**: one shared state and one [`BitWriter`] stream (see `encode_tans`).
//!
//! # Fast paths (same bytes)
//!
//! rANS at orders 1 and 2 is coded by [`rans::encode_order_k`] and
//! [`rans::decode_order_k`] (per-context reciprocals; per-context slot tables, four lanes
//! in one loop); the generic [`RansEncoder`]/[`RansDecoder`] loops remain for orders 3
//! and 4 and for tables too large for [`rans::ContextSlots`], and the tests check that
//! both write the same streams. The coded bits reported are those the table build
//! priced, not a second sum over the symbols. With rANS the order-0 payload is only
//! built when a lower bound on its length (`n * H_0` less what the coder's states can
//! hold, see `rans_order0_lower_bound`) leaves it a chance against the best order-k
//! estimate; otherwise it could not be chosen, so the bytes are the same without it.
//!
//! The range coder at orders 1 and 2 (one FIFO stream; the same bytes and the same
//! errors as [`StaticOrderK`] through [`encode_with_model`]/[`decode_with_model`], which
//! remain for orders 3 and 4 and are the tests' oracle):
//!
//! - **Encoder** ([`RangeRows`]): per context bytes a row of 256 words `start | freq <<
//!   16` (0 for an absent byte, reported at once as the generic model reports it),
//!   fed to [`RangeEncoder`] without its interval check; the code length is summed by
//!   the same `CodeLength` in the same order, so the `f64` is the same. Tables of more
//!   than [`RANGE_ROWS_MAX_CONTEXTS`] contexts (16 MiB of rows) take the generic loop.
//! - **Decoder** ([`decode_range_slots`]): rANS's [`rans::ContextSlots`], read straight
//!   from the table bytes; the target `t = floor(code / r)` is looked up as rANS's `x mod
//!   2^S`. `t >= 2^S` and (for tables that are not closed) a context without a table are
//!   the generic lookup's one error at the same symbol; byte-at-a-time renormalisation.
//!
//! Measured 2026-11-28 (same machine and method as the table below; `perf stat -e
//! task-clock`, `-T 1`, 8 copies of book1 (b8) and of kennedy.xls (k8), 1 MiB blocks,
//! base = main), min of 9 alternated runs, MB/s encode / decode: b8 order 1 25.5 ->
//! 57.2 / 31.0 -> 56.8, order 2 19.8 -> 38.2 / 26.6 -> 50.6; k8 order 1 33.9 -> 75.7 /
//! 40.5 -> 78.1, order 2 23.7 -> 37.3 / 36.2 -> 70.8. callgrind instructions, whole
//! command, compress / decompress: b8 order 1 1247M/1041M -> 728M/279M, order 2
//! 1516M/964M -> 1113M/303M; k8 order 1 2116M/2067M -> 918M/365M, order 2 2937M/2128M
//! -> 1807M/449M. About a third of what compress has left at order 1 is the order-0
//! candidate payload (`range::encode_order0_pair`), built for comparison. The decoder
//! is one dependency chain a symbol (division, slot load, two products,
//! renormalisation); its slot tables
//! (512 KiB padded at order 1 on both files, 1 MiB at order 2) live in L2, not L1, which
//! is most of the difference to the order-0 decoder. Renormalising without a branch
//! ([`Decode::consume_valid`], with LZCNT) measured 4% faster on b8 and 10% slower on
//! k8 at order 1 (medians of 9 alternated runs), so the branchy form is kept.
//!
//! # Huffman and tANS at orders 1 and 2 (same bytes)
//!
//! The straightforward coders looked each symbol's context up, searched its entries
//! (encoders) or walked the code lengths (Huffman decoder), and built both directions'
//! tANS tables of `2^R` slots for every context. They remain for orders 3 and 4
//! (`*_generic`) and are the tests' oracle: the fast coders must write the same streams
//! and fail on every stream exactly as they do, with the same error.
//!
//! - **Encoders** ([`HuffmanRows`], [`TansRows`]): per context bytes (a dense array of
//!   `2^(8k)`) a row of 256 words, one per byte: the code word and its length (u16), or
//!   tANS's `deltaNbBits` and `deltaFindState` (u64, the latter pointing straight into
//!   one flat next-state array). An absent byte has a flagged word that moves no state
//!   out of range; the flag is checked after the loop and the error is the one of the
//!   straightforward coder (the first absent symbol in coding order).
//! - **Huffman decoder** ([`HuffmanLookup`]): per context a lookup of its next
//!   `t_c <= 11` bits (`lookup_bits`) giving byte and length; longer words escape to
//!   [`ContextCode::decode`]. Five symbols per refill.
//! - **tANS decoder** ([`TansLookup`]): 3 bytes a slot (`base | nb << 12 | e << 16`)
//!   and per entry of each context a word with its byte and the place of the context it
//!   leads to (two dependent loads a symbol). Four symbols per refill.
//! - **Sharing** ([`SharedTables`], `huffman_codes`): contexts with equal frequencies
//!   share one code (package-merge once) and one tANS table (by entry index); one-symbol
//!   contexts share the identity table. book1 order 2: about 700 codes and 774 tANS
//!   tables for 1307 multi-symbol contexts; kennedy.xls about 90 and 135 for 884.
//! - **Memory** (decoders, hostile tables): Huffman at most `2^22` lookup entries (8 MiB;
//!   contexts beyond get an escape-only lookup of one entry) plus `4 * 2^(8k)` bytes; tANS at most
//!   [`TANS_MAX_SLOTS`] slots (checked before building: 24 MiB), 8 bytes per entry of the
//!   table and `8 * 2^(8k)` bytes.
//!
//! Measured 2026-11-28 (2-core Xeon shared with other jobs; ratios within one command):
//! `perf stat -e task-clock`, min of 3-5 alternated runs of `shannon compress|decompress
//! -T 1 --model static` on b8 (8 MB: book1 repeated, 1 MiB blocks), base (main) -> this,
//! MB/s encode / decode:
//!
//! | coder, order | encode | decode |
//! |---|---|---|
//! | Huffman 1 | 42.1 -> 188.1 | 56.3 -> 171.1 |
//! | Huffman 2 | 18.5 -> 33.1 | 34.4 -> 95.9 |
//! | tANS 1 | 39.9 -> 123.8 | 75.4 -> 117.6 |
//! | tANS 2 | 13.2 -> 26.1 | 13.4 -> 23.3 |
//!
//! callgrind instructions (`valgrind --tool=callgrind`, whole command, `-T 1`), base ->
//! this, compress / decompress: book1 Huffman o1 150M/86M -> 74M/38M, o2 598M/148M ->
//! 495M/75M; tANS o1 165M/70M -> 76M/44M, o2 478M/332M -> 192M/131M; kennedy.xls Huffman
//! o1 340M/123M -> 165M/48M, o2 871M/174M -> 641M/67M; tANS o1 316M/118M -> 106M/61M,
//! o2 581M/163M -> 315M/65M. For scale, the same run's `shannon bench` on book1 gives
//! rANS order 1 about 420/420 MB/s and Huffman order 0 about 840/1200 MB/s.
//!
//! What limits them now (perf record, cpu-clock): the tANS coders at order 2 wait on
//! their table loads (a 12 KiB decoding or 8 KiB encoding table a context, several MB a
//! block, accessed at the state: about 3/4 of the decoder's samples on that load), and
//! building the decoder's tables takes about 10 ms of a 1 MiB block's 40. The order-1
//! decoders are chains of two or three dependent L1/L2 loads a symbol. The order-2
//! Huffman encoder spends most of its time choosing the precisions (package-merge in
//! [`OrderKTable::build`] for every candidate `s_c`, outside this file), and the order-2
//! Huffman decoder about a sixth in package-merge for the codes.
//!
//! Tried and not kept (same measurements): lookups of 11 bits for every Huffman context
//! (book1 order 1 decode 9% slower, kennedy.xls 16% faster; the 1/128 rule takes the
//! better of each); lengths of three-entry codes without package-merge (callgrind
//! 74.61M -> 74.50M, too few such lists); the Huffman window kept in a local register
//! (no change); Huffman lookup entries that carry the next context's lookup (u64:
//! book1 order 1 decode 9% slower, kennedy.xls faster); for the tANS table build,
//! direct stores, ranks counted in four quarters side by side, a reserved capacity, and
//! a spread with masked indices (callgrind: spread 22.4M -> 11.4M instructions on book1
//! order 2; decode time within noise, min of 5-7 alternated runs).

use crate::codec::drive::{CodeLength, Direction, decode_with_model, encode_with_model};
use crate::codec::{BlockCost, Options, decode_static_order0, encode_static_order0};
use crate::coder::bitio::{BackwardBitReader, BitWriter};
use crate::coder::huffman::{ContextCode, MAX_CODE_LEN};
use crate::coder::range::{RangeDecoder, RangeEncoder};
use crate::coder::rans::{self, RansDecoder, RansEncoder};
use crate::coder::tans::{self, ContextTans};
use crate::coder::{Decode, Encode};
use crate::error::{Error, Result};
use crate::format::varint::{read_varint, write_varint};
use crate::format::{CoderKind, Header};
use crate::model::order_k::{
    ContextTable, CostKind, Lanes, MAX_CONTEXT_SCALE, OrderKTable, PairCounts, StaticOrderK,
    payload_order,
};
use crate::model::{Counts, Distribution};
use std::collections::HashMap;

/// Lanes and pricing of each coder.
fn coder_shape(coder: CoderKind) -> (Lanes, CostKind) {
    match coder {
        CoderKind::Rans => (Lanes::Four, CostKind::Ideal),
        CoderKind::Huffman => (Lanes::One, CostKind::Huffman),
        CoderKind::Arithmetic | CoderKind::Tans => (Lanes::One, CostKind::Ideal),
    }
}

/// Bytes a coder adds beyond the coded bits (for comparing orders).
fn coder_overhead_bits(coder: CoderKind) -> f64 {
    match coder {
        CoderKind::Rans => 8.0 * 32.0,
        CoderKind::Tans => 4.0 * 12.0 + 8.0,
        CoderKind::Arithmetic | CoderKind::Huffman => 8.0,
    }
}

/// A lower bound on the length of the static order-0 payload of `data` with the rANS
/// coder, for deciding without building it that an order-k payload is smaller.
///
/// The payload is a scale byte, the table and the rANS stream: a 32-byte header and
/// words that carry the code length of the table, which is at least `n * H_0` (the
/// empirical entropy; no distribution codes the block in fewer bits), less what the four
/// final states hold (at most `4 * 32` bits) and less the rounding of `floor(x / f)`,
/// which can save at most `f / (x ln 2) < 2^-15` bits a symbol (`x >= 2^31`,
/// `f <= 2^16`). The bound subtracts `n / 1024 + 8` bits for that and for floating-point
/// error.
fn rans_order0_lower_bound(counts: &Counts) -> f64 {
    let n = counts.total() as f64;
    let info = n * counts.entropy_bits_per_symbol();
    let word_bits = (info - 128.0 - n / 1024.0 - 8.0).max(0.0);
    (1 + rans::max_stream_len(0, 0)) as f64 + word_bits / 8.0
}

/// Encodes a block with a static model of order up to `options.order()` (module notes).
pub(super) fn encode(data: &[u8], options: &Options) -> Result<(Vec<u8>, BlockCost)> {
    let coder = options.coder();
    let (lanes, kind) = coder_shape(coder);
    let max_scale = options.scale_bits().min(MAX_CONTEXT_SCALE);
    let mut best: Option<(u32, OrderKTable, f64)> = None;
    let mut best_bits = f64::INFINITY;
    // Counted once for every order and the order-0 bound: the byte counts are the
    // column sums of the order-1 pairs where those are counted (large blocks).
    let pairs = PairCounts::of(data, lanes);
    let counts = pairs
        .as_ref()
        .map_or_else(|| Counts::of(data), PairCounts::counts);
    let build = |k: u32, scale: u32| match &pairs {
        Some(pairs) if k == 1 => OrderKTable::build_pairs(pairs, &counts, scale, kind),
        _ => OrderKTable::build_counted(data, &counts, k, lanes, scale, kind),
    };
    for k in 1..=options.order() {
        let (mut table, mut cost) = build(k, max_scale)?;
        if coder == CoderKind::Tans && !tans_fits(&table) {
            // The largest R whose tables fit; rebuild at that precision if it exists.
            let per_context = TANS_MAX_SLOTS / table.contexts().len() as u64;
            let fit = per_context.max(1).ilog2();
            if fit < tans::MIN_TABLE_LOG {
                continue;
            }
            (table, cost) = build(k, fit)?;
        }
        let table_bytes = cost.table_bits.div_ceil(8);
        let bits =
            8.0 * (1 + 4 + table_bytes) as f64 + cost.coded_bits + coder_overhead_bits(coder);
        if bits < best_bits {
            best_bits = bits;
            best = Some((k, table, cost.coded_bits));
        }
    }
    // The order-0 payload wins if it is smaller than the best order-k estimate (ties go
    // to order k). With rANS it is built only if its lower bound leaves it a chance:
    // otherwise the choice is the same without it.
    let order0_can_win = coder != CoderKind::Rans
        || best.is_none()
        || 8.0 * (rans_order0_lower_bound(&counts) + 1.0) <= best_bits;
    if order0_can_win {
        let (p0, c0) = encode_static_order0(data, options)?;
        if 8.0 * (p0.len() + 1) as f64 <= best_bits {
            let mut payload = Vec::with_capacity(p0.len() + 1);
            payload.push(0);
            payload.extend_from_slice(&p0);
            return Ok((
                payload,
                BlockCost {
                    table_bytes: c0.table_bytes + 1,
                    model_bits: c0.model_bits,
                },
            ));
        }
    }
    let (k, table, coded_bits) = best.expect("order 0 wins when no order k is usable");
    let mut tbytes = Vec::new();
    table.write(&mut tbytes);
    let mut payload = vec![k as u8];
    write_varint(&mut payload, tbytes.len() as u64);
    payload.extend_from_slice(&tbytes);
    let table_bytes = payload.len();
    let model_bits = if coder == CoderKind::Rans && table.order() <= 2 {
        // Straight into the payload: no copy of the stream.
        rans::encode_order_k_into(data, &table, &mut payload)?;
        coded_bits
    } else {
        let (stream, model_bits) = match coder {
            CoderKind::Arithmetic => encode_range(data, &table)?,
            CoderKind::Rans => encode_rans(data, &table)?,
            // The table's build already priced every symbol: the coded bits are those.
            CoderKind::Huffman => (encode_huffman(data, &table)?, coded_bits),
            CoderKind::Tans => (encode_tans(data, &table)?, coded_bits),
        };
        payload.extend_from_slice(&stream);
        model_bits
    };
    Ok((
        payload,
        BlockCost {
            table_bytes,
            model_bits,
        },
    ))
}

/// Decodes a static order-k payload into `out`.
pub(super) fn decode(header: &Header, payload: &[u8], out: &mut [u8]) -> Result<()> {
    let used = payload_order(payload, header.order.into())?;
    let rest = &payload[1..];
    if used == 0 {
        return decode_static_order0(header, rest, out);
    }
    let (len, used_bytes) = read_varint(rest)?;
    let rest = &rest[used_bytes..];
    if len > rest.len() as u64 {
        return Err(Error::Truncated {
            what: "order-k table",
            needed: len,
            available: rest.len() as u64,
        });
    }
    let (tbytes, stream) = rest.split_at(len as usize);
    let max_scale = header.scale_bits.into();
    if matches!(header.coder, CoderKind::Rans | CoderKind::Arithmetic) {
        // Orders 1 and 2: the fast decoder's tables straight from the table bytes.
        if let Some(slots) = rans::ContextSlots::read(tbytes, used, max_scale, out.len())? {
            return match header.coder {
                CoderKind::Rans => rans::decode_order_k(stream, &slots, out),
                _ => decode_range_slots(stream, &slots, out),
            };
        }
    }
    let table = OrderKTable::read(tbytes, used, max_scale, out.len())?;
    match header.coder {
        CoderKind::Arithmetic => decode_range_generic(stream, &table, out),
        CoderKind::Rans => decode_rans(stream, &table, out),
        CoderKind::Huffman => decode_huffman(stream, &table, out),
        CoderKind::Tans => decode_tans(stream, &table, out),
    }
}

/// The context bytes of data position `p` in a chain that starts at `lane_start`.
#[inline]
fn context_at(data: &[u8], p: usize, lane_start: usize, order: u32) -> u32 {
    let mut c = 0u32;
    for j in 1..=order as usize {
        if p >= lane_start + j {
            c |= u32::from(data[p - j]) << (8 * (j - 1));
        }
    }
    c
}

/// rANS lanes: the data position of stream symbol `i`, and its lane.
#[inline]
fn lane_position(i: usize, q: usize) -> (usize, usize) {
    if i < 4 * q {
        let lane = i & 3;
        (lane * q + (i >> 2), lane)
    } else {
        (i, 3)
    }
}

fn encode_rans(data: &[u8], table: &OrderKTable) -> Result<(Vec<u8>, f64)> {
    let n = data.len();
    let q = n / 4;
    let scale = table.scale_bits();
    let starts = Lanes::Four.starts(n);
    let mut enc = RansEncoder::new(n);
    let mut bits = 0.0;
    for i in (0..n).rev() {
        let (p, lane) = lane_position(i, q);
        let d = table.dist(context_at(data, p, starts[lane], table.order()));
        let iv = d.interval(data[p])?;
        bits += f64::from(scale) - f64::from(iv.freq).log2();
        enc.encode(iv.start, iv.freq, scale);
    }
    Ok((enc.finish(), bits))
}

fn decode_rans(stream: &[u8], table: &OrderKTable, out: &mut [u8]) -> Result<()> {
    let n = out.len();
    let q = n / 4;
    let scale = table.scale_bits();
    let mask = table.context_mask();
    let mut dec = RansDecoder::new(stream)?;
    let mut ctx = [0u32; 4];
    for i in 0..n {
        let (p, lane) = lane_position(i, q);
        let d = table.dist(ctx[lane]);
        let t = dec.peek(scale);
        let (s, iv) = d.symbol_at(t)?;
        dec.consume(iv.start, iv.freq, scale);
        out[p] = s;
        ctx[lane] = (ctx[lane] << 8 | u32::from(s)) & mask;
    }
    dec.finish()
}

/// Range coder at orders 1 and 2 (module notes, "Fast paths"): the encoder's tables.
/// Per context bytes the start of a row of 256 words, one per byte: `start | freq << 16`
/// at the block scale `S <= 12`, or 0 for a byte the context lacks; context bytes
/// without a table point at row 0, which is all zeros. One load for the row and one for
/// the word a symbol, where [`StaticOrderK`] looked the context up and searched its
/// entries.
struct RangeRows {
    /// `2^(8k)` row starts.
    row_of: Vec<u32>,
    /// `(contexts + 1) * 256` words.
    rows: Vec<u32>,
}

/// Most contexts of [`RangeRows`] (1 KiB a row: 16 MiB); a table with more (order 2 on
/// blocks of little structure, seldom chosen) is coded by the generic loop, which writes
/// the same stream.
const RANGE_ROWS_MAX_CONTEXTS: usize = 1 << 14;

impl RangeRows {
    /// The rows of `table` (order 1 or 2), or `None` beyond [`RANGE_ROWS_MAX_CONTEXTS`].
    fn new(table: &OrderKTable) -> Option<RangeRows> {
        debug_assert!((1..=2).contains(&table.order()));
        if table.contexts().len() > RANGE_ROWS_MAX_CONTEXTS {
            return None;
        }
        let mut row_of = vec![0u32; 1 << (8 * table.order())];
        let mut rows = vec![0u32; (table.contexts().len() + 1) * 256];
        for (ci, c) in table.contexts().iter().enumerate() {
            let start = (ci + 1) * 256;
            row_of[c.context as usize] = start as u32;
            for e in c.entries() {
                // start < 2^12 and 1 <= freq <= 2^12 (S <= MAX_CONTEXT_SCALE).
                rows[start + usize::from(e.symbol)] = e.start | e.freq << 16;
            }
        }
        Some(RangeRows { row_of, rows })
    }
}

/// The range coder's stream and code length (as [`encode_with_model`] reports it) of
/// `data` under `table`: with [`RangeRows`] at orders 1 and 2, else (or for tables of
/// more than [`RANGE_ROWS_MAX_CONTEXTS`] contexts) with [`StaticOrderK`].
fn encode_range(data: &[u8], table: &OrderKTable) -> Result<(Vec<u8>, f64)> {
    let rows = match table.order() {
        1 | 2 => RangeRows::new(table),
        _ => None,
    };
    match rows {
        Some(rows) if table.order() == 1 => encode_range_rows::<1>(data, &rows, table.scale_bits()),
        Some(rows) => encode_range_rows::<2>(data, &rows, table.scale_bits()),
        None => encode_range_generic(data, table),
    }
}

/// [`encode_range`] at order `K` with `rows` at scale `S`: the intervals of
/// [`StaticOrderK`] in data order (the context at the block start is zero), the same
/// error for the first symbol its context lacks ([`Error::ZeroFrequency`]), and the code
/// length summed by the same [`CodeLength`] in the same order, so the same `f64`.
fn encode_range_rows<const K: usize>(
    data: &[u8],
    rows: &RangeRows,
    scale: u32,
) -> Result<(Vec<u8>, f64)> {
    let cmask = (1usize << (8 * K)) - 1;
    let (row_of, rows) = (&rows.row_of[..=cmask], &rows.rows[..]);
    let mut enc = RangeEncoder::for_symbols(data.len(), scale);
    let mut bits = CodeLength::new();
    let mut c = 0usize;
    for &s in data {
        let e = rows[row_of[c] as usize + usize::from(s)];
        let freq = e >> 16;
        if freq == 0 {
            return Err(Error::ZeroFrequency { symbol: s });
        }
        bits.add(scale, freq);
        // An entry of a context's table: start + freq <= 2^S, S <= 12.
        enc.encode_valid(e & 0xffff, freq, scale);
        c = (c << 8 | usize::from(s)) & cmask;
    }
    Ok((enc.finish(), bits.bits()))
}

/// The generic range encoder (any order): [`StaticOrderK`] through [`encode_with_model`].
/// Orders 3 and 4 use it; the tests check the fast one against it.
fn encode_range_generic(data: &[u8], table: &OrderKTable) -> Result<(Vec<u8>, f64)> {
    encode_with_model(
        data,
        &mut StaticOrderK::new(table),
        RangeEncoder::new(),
        Direction::Fifo,
    )
}

/// Decodes a range coder stream of a static order-1 or order-2 model with the slot
/// tables of the rANS decoder ([`rans::ContextSlots`]): the range decoder's target `t =
/// floor(code / r) < 2^S` is looked up as rANS's `x mod 2^S` is. Reads exactly the
/// streams the generic decoder ([`StaticOrderK`] through [`decode_with_model`]) reads,
/// and fails where it fails with the same error: a target `t >= 2^S` or a context
/// without a table at symbol `i` is its [`Error::Corrupt`] at symbol `i` (the generic
/// lookup reports both alike), the rest is [`Decode::finish`]'s.
fn decode_range_slots(stream: &[u8], slots: &rans::ContextSlots, out: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `decode_range_slots_bmi2` requires.
        return unsafe { decode_range_slots_bmi2(stream, slots, out) };
    }
    decode_range_slots_any(stream, slots, out)
}

/// [`decode_range_slots_any`] compiled with BMI2 (shifts by a register without `cl`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn decode_range_slots_bmi2(
    stream: &[u8],
    slots: &rans::ContextSlots,
    out: &mut [u8],
) -> Result<()> {
    decode_range_slots_any(stream, slots, out)
}

/// One instance per order, for closed and open tables.
#[inline(always)]
fn decode_range_slots_any(stream: &[u8], slots: &rans::ContextSlots, out: &mut [u8]) -> Result<()> {
    match (slots.order(), slots.is_closed()) {
        (1, true) => decode_range_slots_with::<1, true>(stream, slots, out),
        (1, false) => decode_range_slots_with::<1, false>(stream, slots, out),
        (_, true) => decode_range_slots_with::<2, true>(stream, slots, out),
        (_, false) => decode_range_slots_with::<2, false>(stream, slots, out),
    }
}

/// [`decode_range_slots`] at order `K`; `CLOSED` for a closed table (no context without
/// a table can be reached, so the loop does not look for one).
#[inline(always)]
fn decode_range_slots_with<const K: usize, const CLOSED: bool>(
    stream: &[u8],
    slots: &rans::ContextSlots,
    out: &mut [u8],
) -> Result<()> {
    let cmask = (1usize << (8 * K)) - 1;
    let scale = slots.scale();
    // Sliced to the lengths the masks assume: no bounds checks in the loop.
    let info = &slots.info()[..=cmask];
    let entries = slots.slots();
    let smask = entries.len() - 1;
    let mut dec = RangeDecoder::new(stream)?;
    let mut c = 0usize;
    for o in out.iter_mut() {
        let inf = info[c];
        let t = dec.peek(scale);
        if t >> scale != 0 || (!CLOSED && inf & rans::INFO_MISSING != 0) {
            return Err(Error::Corrupt {
                what: "decoder target outside the context's distribution",
            });
        }
        // t < 2^S and a context with a table: the slot of t is in its table, whose
        // entry holds t's interval (symbol | start << 8 | (2^S - f) << 20).
        let at = (inf >> rans::INFO_OFFSET_SHIFT) as usize + (t >> (inf & 15)) as usize;
        let e = entries[at & smask];
        let start = (e >> 8) & 0xfff;
        let freq = (1 << scale) - (e >> 20);
        dec.consume_valid_bytewise(start, freq, scale);
        let s = e as u8;
        *o = s;
        c = (c << 8 | usize::from(s)) & cmask;
    }
    dec.finish()
}

/// The generic range decoder (any order): [`StaticOrderK`] through [`decode_with_model`].
fn decode_range_generic(stream: &[u8], table: &OrderKTable, out: &mut [u8]) -> Result<()> {
    decode_with_model(
        out,
        &mut StaticOrderK::new(table),
        RangeDecoder::new(stream)?,
    )
}

/// Per-context canonical codes, built from the stored frequencies: the distinct codes
/// and, per context, the index of its code. Contexts with the same stored frequencies
/// share one code (the lengths depend on nothing else), so package-merge runs once per
/// distinct frequency list (on book1 at order 2, about 700 of 1307 contexts with more than
/// one symbol); two entries always get lengths 1 and 1, which need no package-merge.
fn huffman_codes(table: &OrderKTable) -> Result<(Vec<ContextCode>, Vec<u32>)> {
    let mut codes = Vec::new();
    let mut seen: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut of = Vec::with_capacity(table.contexts().len());
    for c in table.contexts() {
        let w: Vec<u32> = c.entries().iter().map(|e| e.freq_c).collect();
        if let Some(&i) = seen.get(&w) {
            of.push(i);
            continue;
        }
        let code = if w.len() == 2 && !w.contains(&0) {
            ContextCode::from_lengths(&[1, 1])?
        } else {
            ContextCode::from_weights(&w)?
        };
        let i = codes.len() as u32;
        codes.push(code);
        seen.insert(w, i);
        of.push(i);
    }
    Ok((codes, of))
}

/// Symbols between flushes: 5 code words of at most 11 bits fit the writer's 57.
const HUFFMAN_PER_FLUSH: usize = 5;
const _: () = assert!(HUFFMAN_PER_FLUSH as u32 * MAX_CODE_LEN <= 57);

/// The context bytes of position `p >= K` (one lane): a constant-order [`context_at`].
#[inline(always)]
fn context_of<const K: usize>(data: &[u8], p: usize) -> usize {
    let mut c = 0usize;
    for j in 1..=K {
        c |= usize::from(data[p - j]) << (8 * (j - 1));
    }
    c
}

/// The first symbol, in coding order (last position first), whose context has no table
/// or lacks it: the error of the straightforward coders.
fn first_absent(data: &[u8], table: &OrderKTable) -> Error {
    for p in (0..data.len()).rev() {
        let found = table
            .find(context_at(data, p, 0, table.order()))
            .and_then(|ci| table.contexts()[ci].index_of(data[p]));
        if found.is_none() {
            return Error::ZeroFrequency { symbol: data[p] };
        }
    }
    unreachable!("an absent symbol was flagged")
}

/// Row entry of [`HuffmanRows`] for a symbol its context lacks (no bits, flagged).
const ROW_ABSENT: u16 = 1 << 15;

/// The Huffman encoder's tables at orders 1 and 2: per context bytes the start of a row
/// of 256 code words (`code | len << 11`, or [`ROW_ABSENT`]); context bytes without a
/// table point at row 0, which is all absent. One load a symbol for its row and one for
/// its word, instead of a context lookup and a search of the context's entries.
struct HuffmanRows {
    /// `2^(8k)` row starts.
    row_of: Vec<u32>,
    /// `(contexts + 1) * 256` entries.
    rows: Vec<u16>,
}

impl HuffmanRows {
    fn new(table: &OrderKTable, codes: &[ContextCode], of: &[u32]) -> HuffmanRows {
        let mut row_of = vec![0u32; 1 << (8 * table.order())];
        let mut rows = vec![ROW_ABSENT; (table.contexts().len() + 1) * 256];
        for (ci, c) in table.contexts().iter().enumerate() {
            let start = (ci + 1) * 256;
            row_of[c.context as usize] = start as u32;
            let code = &codes[of[ci] as usize];
            for (ei, e) in c.entries().iter().enumerate() {
                // Words of at most 11 bits, lengths at most 11: 15 bits in all.
                rows[start + usize::from(e.symbol)] =
                    (code.word(ei) | code.length(ei) << 11) as u16;
            }
        }
        HuffmanRows { row_of, rows }
    }

    /// Puts the word of `symbol` in the context whose row starts at `row`; returns the
    /// entry for the caller's absent flags.
    #[inline(always)]
    fn put(&self, w: &mut BitWriter, row: u32, symbol: u8) -> u16 {
        let e = self.rows[row as usize + usize::from(symbol)];
        w.put(u64::from(e & 0x7ff), u32::from(e >> 11) & 0xf);
        e
    }
}

/// Huffman stream (module notes): orders 1 and 2 by [`HuffmanRows`], higher orders by
/// the straightforward coder.
fn encode_huffman(data: &[u8], table: &OrderKTable) -> Result<Vec<u8>> {
    match table.order() {
        1 => encode_huffman_rows::<1>(data, table),
        2 => encode_huffman_rows::<2>(data, table),
        _ => encode_huffman_generic(data, table),
    }
}

fn encode_huffman_rows<const K: usize>(data: &[u8], table: &OrderKTable) -> Result<Vec<u8>> {
    let (codes, of) = huffman_codes(table)?;
    let rows = HuffmanRows::new(table, &codes, &of);
    let mut w = BitWriter::with_capacity(data.len() / 2 + 16);
    let mut flags = 0u16;
    // Last position first; the stream does not depend on where the flushes fall.
    let mut p = data.len();
    while p >= K + HUFFMAN_PER_FLUSH {
        for _ in 0..HUFFMAN_PER_FLUSH {
            p -= 1;
            flags |= rows.put(&mut w, rows.row_of[context_of::<K>(data, p)], data[p]);
        }
        w.flush();
    }
    while p > 0 {
        p -= 1;
        let c = context_at(data, p, 0, K as u32) as usize;
        flags |= rows.put(&mut w, rows.row_of[c], data[p]);
        w.flush();
    }
    if flags & ROW_ABSENT != 0 {
        return Err(first_absent(data, table));
    }
    Ok(w.finish())
}

/// The straightforward Huffman encoder (any order): a context lookup and a search of the
/// context's entries a symbol. Orders 3 and 4 use it; the tests check the fast one
/// against it.
fn encode_huffman_generic(data: &[u8], table: &OrderKTable) -> Result<Vec<u8>> {
    let (codes, of) = huffman_codes(table)?;
    let mut w = BitWriter::with_capacity(data.len() / 2 + 16);
    for (i, p) in (0..data.len()).rev().enumerate() {
        let ci = table
            .find(context_at(data, p, 0, table.order()))
            .ok_or_else(|| Error::ZeroFrequency { symbol: data[p] })?;
        let ei = table.contexts()[ci]
            .index_of(data[p])
            .ok_or_else(|| Error::ZeroFrequency { symbol: data[p] })?;
        codes[of[ci] as usize].put(&mut w, ei);
        if i % HUFFMAN_PER_FLUSH == HUFFMAN_PER_FLUSH - 1 {
            w.flush();
        }
    }
    Ok(w.finish())
}

/// Shortest lookup of [`HuffmanLookup`] for a context whose longest code word is longer:
/// it looks up at least the first 9 bits, and more (up to [`MAX_CODE_LEN`]) while the
/// code words beyond the lookup have more than `2^-`[`LOOKUP_ESCAPE_SHIFT`] of the
/// context's probability; those take [`ContextCode::decode`]. Measured (decompress, b8 =
/// 8 MB of book1, and kennedy.xls, order 1): every context at 9 bits and every context
/// at 11 bits were each about 10% slower than the other on one of the two files.
const LOOKUP_BITS: u32 = 9;
/// Largest share of a context's probability (by its stored frequencies) left to the
/// escape: `2^-LOOKUP_ESCAPE_SHIFT`.
const LOOKUP_ESCAPE_SHIFT: u32 = 7;
/// Most lookup entries of one block (2 bytes each, 8 MiB); contexts beyond it decode
/// with [`ContextCode::decode`] only, so that a hostile table cannot make the decoder
/// allocate more (a table of `t` bits needs at least `t + 1` entries in the table).
const LOOKUP_MAX_ENTRIES: usize = 1 << 22;
/// Lookup entry: `symbol | len << 8`, or this flag for "longer than the lookup".
const LOOKUP_ESCAPE: u16 = 1 << 15;
/// `info` of context bytes without a table.
const LOOKUP_MISSING: u32 = u32::MAX;

/// The bits `t_c` of a context's lookup: its longest code length if that is at most
/// [`LOOKUP_BITS`], else the least `t >= LOOKUP_BITS` that leaves at most
/// `2^-LOOKUP_ESCAPE_SHIFT` of the context's probability to longer code words.
fn lookup_bits(code: &ContextCode, c: &ContextTable) -> u32 {
    let max = code.max_len();
    if max <= LOOKUP_BITS {
        return max;
    }
    let total = 1u64 << c.scale_c;
    (LOOKUP_BITS..max)
        .find(|&t| {
            let escaped: u64 = (0..c.entries().len())
                .filter(|&ei| code.length(ei) > t)
                .map(|ei| u64::from(c.entries()[ei].freq_c))
                .sum();
            escaped << LOOKUP_ESCAPE_SHIFT <= total
        })
        .unwrap_or(max)
}

/// The Huffman decoder's tables at orders 1 and 2: per context bytes a lookup of the
/// next `t_c` bits ([`lookup_bits`]) that gives the symbol and its length (a
/// one-symbol context has `t_c = 0` and one entry of length 0).
struct HuffmanLookup {
    /// `2^(8k)` words `offset << 4 | t_c`, or [`LOOKUP_MISSING`].
    info: Vec<u32>,
    /// The lookups, one after another.
    entries: Vec<u16>,
}

impl HuffmanLookup {
    /// The lookups of `table`'s contexts, at most `max_entries` entries in all (the
    /// contexts beyond get `t_c = 0`: one escape entry, or the symbol of a one-symbol
    /// context).
    fn new(
        table: &OrderKTable,
        codes: &[ContextCode],
        of: &[u32],
        max_entries: usize,
    ) -> HuffmanLookup {
        let mut info = vec![LOOKUP_MISSING; 1 << (8 * table.order())];
        let mut entries = Vec::new();
        for (ci, c) in table.contexts().iter().enumerate() {
            let code = &codes[of[ci] as usize];
            let mut t = lookup_bits(code, c);
            if entries.len() + (1 << t) > max_entries {
                t = 0;
            }
            let start = entries.len();
            info[c.context as usize] = (start as u32) << 4 | t;
            entries.resize(start + (1 << t), LOOKUP_ESCAPE);
            let lookup = &mut entries[start..];
            for (ei, e) in c.entries().iter().enumerate() {
                let len = code.length(ei);
                if len <= t {
                    // Every t-bit window that starts with the word.
                    let first = (code.word(ei) << (t - len)) as usize;
                    lookup[first..first + (1 << (t - len))]
                        .fill(u16::from(e.symbol) | (len as u16) << 8);
                }
            }
        }
        HuffmanLookup { info, entries }
    }
}

/// Decodes with [`HuffmanLookup`] at orders 1 and 2, else with the straightforward
/// decoder.
fn decode_huffman(stream: &[u8], table: &OrderKTable, out: &mut [u8]) -> Result<()> {
    decode_huffman_with(stream, table, out, LOOKUP_MAX_ENTRIES)
}

/// [`decode_huffman`] with at most `max_entries` lookup entries.
fn decode_huffman_with(
    stream: &[u8],
    table: &OrderKTable,
    out: &mut [u8],
    max_entries: usize,
) -> Result<()> {
    if table.order() > 2 {
        return decode_huffman_generic(stream, table, out);
    }
    let (codes, of) = huffman_codes(table)?;
    let lookup = HuffmanLookup::new(table, &codes, &of, max_entries);
    let d = LookupDecoder {
        lookup: &lookup,
        codes: &codes,
        of: &of,
        table,
        mask: table.context_mask(),
    };
    let mut r = BackwardBitReader::new(stream)?;
    let mut ctx = 0u32;
    let n = out.len();
    let mut i = 0;
    // Once the reader cannot refill fast it never can again (it only moves down).
    while i + HUFFMAN_PER_FLUSH <= n && r.can_refill_fast() {
        // Leaves at least 57 bits in the window for five words of at most 11, and stream
        // bytes below it: no overrun is possible until the next refill.
        r.refill_fast();
        for o in &mut out[i..i + HUFFMAN_PER_FLUSH] {
            *o = d.step::<true>(&mut r, &mut ctx)?;
        }
        i += HUFFMAN_PER_FLUSH;
    }
    for o in &mut out[i..] {
        r.refill();
        *o = d.step::<false>(&mut r, &mut ctx)?;
        if r.overrun() {
            return Err(Error::Truncated {
                what: "order-k huffman bit stream",
                needed: 1,
                available: 0,
            });
        }
    }
    r.finish()
}

/// What [`decode_huffman`] needs for a symbol.
struct LookupDecoder<'a> {
    lookup: &'a HuffmanLookup,
    codes: &'a [ContextCode],
    of: &'a [u32],
    table: &'a OrderKTable,
    mask: u32,
}

impl LookupDecoder<'_> {
    /// One symbol in context `ctx` from a refilled reader (with `FAST`, one refilled by
    /// `refill_fast` that has given at most 44 bits since); moves `ctx` on. The same bits
    /// as [`ContextCode::decode`]: the lookup holds the words of at most `t_c` bits, the
    /// escape the longer ones. `Err` for a context without a table.
    #[inline(always)]
    fn step<const FAST: bool>(&self, r: &mut BackwardBitReader, ctx: &mut u32) -> Result<u8> {
        let info = self.lookup.info[*ctx as usize];
        // A `let else`-like early return: building the error only when it is returned.
        if info == LOOKUP_MISSING {
            return Err(Error::Corrupt {
                what: "context without a table",
            });
        }
        let t = info & 0xf;
        let window = if FAST {
            r.peek_fast(MAX_CODE_LEN)
        } else {
            r.peek(MAX_CODE_LEN)
        } as usize;
        let e = self.lookup.entries[(info >> 4) as usize + (window >> (MAX_CODE_LEN - t))];
        let s = if e & LOOKUP_ESCAPE == 0 {
            r.consume(u32::from(e >> 8));
            e as u8
        } else {
            self.escape(r, *ctx)
        };
        *ctx = (*ctx << 8 | u32::from(s)) & self.mask;
        Ok(s)
    }

    /// A code word longer than its context's lookup.
    #[cold]
    #[inline(never)]
    fn escape(&self, r: &mut BackwardBitReader, ctx: u32) -> u8 {
        // Only contexts with a table have a lookup (and so an escape entry).
        let ci = self.table.find(ctx).unwrap_or(0);
        let ei = self.codes[self.of[ci] as usize].decode(r);
        self.table.contexts()[ci].entries()[ei].symbol
    }
}

/// The straightforward Huffman decoder (any order): a context lookup and a walk over
/// the code lengths a symbol. Orders 3 and 4 use it; the tests check the fast one
/// against it.
fn decode_huffman_generic(stream: &[u8], table: &OrderKTable, out: &mut [u8]) -> Result<()> {
    let (codes, of) = huffman_codes(table)?;
    let mask = table.context_mask();
    let mut r = BackwardBitReader::new(stream)?;
    let mut ctx = 0u32;
    for o in out.iter_mut() {
        // A `let else`, not `ok_or`: building the error on every symbol and dropping it
        // cost a tenth of the Huffman decoder.
        let Some(ci) = table.find(ctx) else {
            return Err(Error::Corrupt {
                what: "context without a table",
            });
        };
        r.refill();
        let ei = codes[of[ci] as usize].decode(&mut r);
        if r.overrun() {
            return Err(Error::Truncated {
                what: "order-k huffman bit stream",
                needed: 1,
                available: 0,
            });
        }
        let s = table.contexts()[ci].entries()[ei].symbol;
        *o = s;
        ctx = (ctx << 8 | u32::from(s)) & mask;
    }
    r.finish()
}

/// Largest `contexts * 2^R` of per-context tANS tables: the decoder's tables then take
/// at most 32 MiB (4 bytes a slot). The encoder lowers the block scale to fit, and skips
/// an order whose contexts do not fit even at `R = MIN_TABLE_LOG`.
const TANS_MAX_SLOTS: u64 = 1 << 23;

/// The shared table log `R` of a block: the block scale, at least the coder's minimum.
fn tans_log(table: &OrderKTable) -> u32 {
    table.scale_bits().max(tans::MIN_TABLE_LOG)
}

fn tans_fits(table: &OrderKTable) -> bool {
    (table.contexts().len() as u64) << tans_log(table) <= TANS_MAX_SLOTS
}

/// Per-context tANS tables at the shared log `R`: `f = f_S << (R - S)`.
///
/// A context with one symbol (`f = 2^R`) gets `None`: its table would be the identity
/// (every state keeps its slot and no bits move, since `x >> 0` already lies in
/// `[f, 2f) = [L, 2L)`), so the coders skip it instead of building `2^R` slots for it.
fn tans_tables(table: &OrderKTable) -> Result<Vec<Option<ContextTans>>> {
    let r = tans_log(table);
    let up = r - table.scale_bits();
    table
        .contexts()
        .iter()
        .map(|c| {
            if c.entries().len() == 1 {
                return Ok(None);
            }
            let syms: Vec<u8> = c.entries().iter().map(|e| e.symbol).collect();
            let freqs: Vec<u32> = c.entries().iter().map(|e| e.freq << up).collect();
            ContextTans::new(&syms, &freqs, r).map(Some)
        })
        .collect()
}

/// tANS: one state `x` in `[L, 2L)`, `L = 2^R`, shared by all contexts, and one
/// [`BitWriter`] stream: for `i = n-1 .. 0` the `nb_i` low bits of `x` before coding
/// symbol `i` with its context's table, then `x - L` in `R` bits, then the end marker.
/// The decoder reads `x - L` first and every state must end at `L`. Orders 1 and 2 by
/// [`TansRows`], higher orders by the straightforward coder.
fn encode_tans(data: &[u8], table: &OrderKTable) -> Result<Vec<u8>> {
    match table.order() {
        1 => encode_tans_rows::<1>(data, table),
        2 => encode_tans_rows::<2>(data, table),
        _ => encode_tans_generic(data, table),
    }
}

/// Symbols between flushes of the tANS coders: at most 4 * 12 bits.
const TANS_PER_FLUSH: usize = 4;
const _: () = assert!(TANS_PER_FLUSH as u32 * tans::MAX_TABLE_LOG <= 57);

/// Row flag of [`TansRows`] for a symbol its context lacks.
const TANS_ABSENT: u64 = 1 << 63;

/// Offsets into the next-state tables of [`TansRows`] and the entries of
/// [`TansLookup`] for each distinct list of frequencies (at `R`) among the contexts with
/// more than one symbol: contexts with equal frequencies have the same spread and the
/// same `x_s` per slot, so they share the tables (by entry index, not by byte). On
/// book1 at order 2, 774 lists for 1307 contexts; kennedy.xls 135 for 884.
struct SharedTables {
    seen: HashMap<Vec<u32>, usize>,
    spread: Vec<u8>,
}

impl SharedTables {
    fn new(r: u32) -> SharedTables {
        SharedTables {
            seen: HashMap::new(),
            spread: vec![0; 1 << r],
        }
    }

    /// The offset of the table for `freqs` at log `r`; if it is new, `build(spread)` is
    /// called with the context's spread to append it at `next_offset`.
    fn offset(
        &mut self,
        freqs: Vec<u32>,
        r: u32,
        next_offset: usize,
        build: impl FnOnce(&[u8]),
    ) -> Result<usize> {
        if let Some(&at) = self.seen.get(&freqs) {
            return Ok(at);
        }
        tans::context_spread(&freqs, r, &mut self.spread)?;
        build(&self.spread);
        self.seen.insert(freqs, next_offset);
        Ok(next_offset)
    }
}

/// The tANS encoder's tables at orders 1 and 2. Per context bytes the start of a row of
/// 256 words, one per byte: `deltaNbBits | deltaFindState << 32` of the byte in that
/// context, or [`TANS_ABSENT`]; context bytes without a table point at row 0 (all
/// absent). `deltaFindState` indexes `next_state` directly: `cum_e - f_e` plus the
/// offset of the context's table. Every offset is at least `L` (`next_state` starts with
/// `L` unused entries), so that `deltaFindState` is never negative and leaves bit 63 free.
/// A one-symbol context (`f = L`) gets `nb = 0` and the identity table at offset `L`
/// (`C(s, x) = x`); an absent byte is coded as `nb = R` into the identity, which keeps the
/// state in `I` until the flag is seen after the loop.
struct TansRows {
    row_of: Vec<u32>,
    rows: Vec<u64>,
    next_state: Vec<u16>,
}

impl TansRows {
    fn new(table: &OrderKTable) -> Result<TansRows> {
        let r = tans_log(table);
        let l = 1usize << r;
        let up = r - table.scale_bits();
        let mut row_of = vec![0u32; 1 << (8 * table.order())];
        let absent = TANS_ABSENT | (l as u64) << 32 | u64::from((r << 16) - l as u32);
        let mut rows = vec![absent; (table.contexts().len() + 1) * 256];
        let mut next_state = vec![0u16; l];
        next_state.extend((0..l).map(|u| (l + u) as u16));
        let mut shared = SharedTables::new(r);
        let mut cum = [0u32; 256];
        for (ci, c) in table.contexts().iter().enumerate() {
            let freqs: Vec<u32> = c.entries().iter().map(|e| e.freq << up).collect();
            let mut acc = 0;
            for (cu, &f) in cum.iter_mut().zip(&freqs) {
                *cu = acc;
                acc += f;
            }
            let at = if freqs.len() == 1 {
                l
            } else {
                let end = next_state.len();
                shared.offset(freqs.clone(), r, end, |spread| {
                    // C(e, x_s) = L + u for the slots u of e in increasing order.
                    next_state.resize(end + l, 0);
                    let t = &mut next_state[end..];
                    let mut next = cum;
                    for (u, &e) in spread.iter().enumerate() {
                        let at = &mut next[usize::from(e)];
                        t[*at as usize] = (l + u) as u16;
                        *at += 1;
                    }
                })?
            };
            let start = (ci + 1) * 256;
            row_of[c.context as usize] = start as u32;
            for ((e, &f), &cu) in c.entries().iter().zip(&freqs).zip(&cum) {
                // nb = R - floor(log2 f) or one less: (x + deltaNbBits) >> 16.
                let k = r - f.ilog2();
                let delta_nb = (k << 16).wrapping_sub(f << k);
                let delta_find = (at as u32 + cu) - f;
                rows[start + usize::from(e.symbol)] =
                    u64::from(delta_nb) | u64::from(delta_find) << 32;
            }
        }
        Ok(TansRows {
            row_of,
            rows,
            next_state,
        })
    }

    /// Codes `symbol` in the context whose row starts at `row`: puts the low `nb` bits of
    /// `x` into `w` and moves `x` to `C(s, x >> nb)`. Returns the row word for the
    /// caller's absent flags.
    #[inline(always)]
    fn step(&self, x: &mut u32, w: &mut BitWriter, row: u32, symbol: u8) -> u64 {
        let t = self.rows[row as usize + usize::from(symbol)];
        let nb = x.wrapping_add(t as u32) >> 16;
        w.put(u64::from(*x & ((1 << nb) - 1)), nb);
        let slot = (*x >> nb) + ((t >> 32) as u32 & 0x7fff_ffff);
        *x = u32::from(self.next_state[slot as usize]);
        t
    }
}

fn encode_tans_rows<const K: usize>(data: &[u8], table: &OrderKTable) -> Result<Vec<u8>> {
    let r = tans_log(table);
    let rows = TansRows::new(table)?;
    let l = 1u32 << r;
    let mut x = l;
    let mut w = BitWriter::with_capacity(data.len() / 2 + 16);
    let mut flags = 0u64;
    let mut p = data.len();
    while p >= K + TANS_PER_FLUSH {
        for _ in 0..TANS_PER_FLUSH {
            p -= 1;
            let row = rows.row_of[context_of::<K>(data, p)];
            flags |= rows.step(&mut x, &mut w, row, data[p]);
        }
        w.flush();
    }
    while p > 0 {
        p -= 1;
        let row = rows.row_of[context_at(data, p, 0, K as u32) as usize];
        flags |= rows.step(&mut x, &mut w, row, data[p]);
        w.flush();
    }
    if flags & TANS_ABSENT != 0 {
        return Err(first_absent(data, table));
    }
    w.flush();
    w.put(u64::from(x - l), r);
    Ok(w.finish())
}

/// The straightforward tANS encoder (any order, [`ContextTans`] per context): orders 3
/// and 4 use it; the tests check the fast one against it.
fn encode_tans_generic(data: &[u8], table: &OrderKTable) -> Result<Vec<u8>> {
    let r = tans_log(table);
    let tables = tans_tables(table)?;
    let l = 1u32 << r;
    let mut x = l;
    let mut w = BitWriter::with_capacity(data.len() / 2 + 16);
    for (i, p) in (0..data.len()).rev().enumerate() {
        let ci = table
            .find(context_at(data, p, 0, table.order()))
            .ok_or_else(|| Error::ZeroFrequency { symbol: data[p] })?;
        let c = &table.contexts()[ci];
        let ei = c
            .index_of(data[p])
            .ok_or_else(|| Error::ZeroFrequency { symbol: data[p] })?;
        if let Some(t) = &tables[ci] {
            t.encode_step(&mut x, ei, &mut w);
        }
        // At most 4 * 12 bits between flushes.
        if i % 4 == 3 {
            w.flush();
        }
    }
    w.flush();
    w.put(u64::from(x - l), r);
    Ok(w.finish())
}

/// A context's place in [`TansLookup`]: the byte offset of its slots in `entries`
/// (bits 0-27) and the index of its first entry in `recs` (bits 28-55); all ones in the
/// low 28 bits for context bytes without a table.
const TANS_MISSING: u64 = (1 << 28) - 1;

/// The tANS decoder's tables at orders 1 and 2. Per slot 3 bytes, `base | nb << 12 |
/// e << 16`: `D(x)` as the next slot's base, the bits to read and the entry index `e` of
/// the context (so tables are shared as in [`SharedTables`]); entries 0 to `L - 1` are
/// the identity (`nb = 0`, base `u`), the table of every one-symbol context. Per entry of
/// every context a word `symbol | next << 8`, `next` the place (see [`TANS_MISSING`])
/// of the context that the symbol leads to: a symbol is two dependent loads, the slot and
/// the word, with no lookup of the context bytes between them. 3-byte slots, not 4: a
/// quarter less to keep in cache, and the order-2 decoder waits on these loads.
struct TansLookup {
    /// Place of the zero context, where decoding starts.
    start: u64,
    /// `3 * slots + 1` bytes (the last one pads the 4-byte load of the last slot).
    entries: Vec<u8>,
    recs: Vec<u64>,
}

impl TansLookup {
    fn new(table: &OrderKTable) -> Result<TansLookup> {
        let r = tans_log(table);
        let l = 1usize << r;
        let up = r - table.scale_bits();
        let mask = table.context_mask();
        let mut place = vec![TANS_MISSING; 1 << (8 * table.order())];
        let mut entries: Vec<u8> = (0..l as u32)
            .flat_map(|u| u.to_le_bytes()[..3].to_vec())
            .collect();
        let mut shared = SharedTables::new(r);
        let mut n_recs = 0u64;
        for c in table.contexts() {
            let freqs: Vec<u32> = c.entries().iter().map(|e| e.freq << up).collect();
            let at = if freqs.len() == 1 {
                0
            } else {
                let end = entries.len();
                let f = freqs.clone();
                shared.offset(freqs, r, end, |spread| {
                    // Slot u of entry e gets the next unused x_s of I_e, in increasing u.
                    let mut next_xs = [0u32; 256];
                    next_xs[..f.len()].copy_from_slice(&f);
                    entries.extend(spread.iter().flat_map(|&e| {
                        let at = &mut next_xs[usize::from(e)];
                        let x_s = *at;
                        *at += 1;
                        let nb = r - x_s.ilog2();
                        let w = ((x_s << nb) - l as u32) | nb << 12 | u32::from(e) << 16;
                        [w as u8, (w >> 8) as u8, (w >> 16) as u8]
                    }));
                })?
            };
            place[c.context as usize] = at as u64 | n_recs << 28;
            n_recs += c.entries().len() as u64;
        }
        entries.push(0);
        let mut recs = Vec::with_capacity(n_recs as usize);
        for c in table.contexts() {
            recs.extend(c.entries().iter().map(|e| {
                let next = (c.context << 8 | u32::from(e.symbol)) & mask;
                u64::from(e.symbol) | place[next as usize] << 8
            }));
        }
        Ok(TansLookup {
            start: place[0],
            entries,
            recs,
        })
    }

    /// One symbol from slot `u` in the context at `place`; moves both on. With `FAST`
    /// the reader was refilled by `refill_fast` and has given at most 36 bits since;
    /// otherwise it refills as it reads. `Err` for a context without a table.
    #[inline(always)]
    fn step<const FAST: bool>(
        &self,
        u: &mut usize,
        place: &mut u64,
        rd: &mut BackwardBitReader,
    ) -> Result<u8> {
        if *place & TANS_MISSING == TANS_MISSING {
            return Err(Error::Corrupt {
                what: "context without a table",
            });
        }
        // u < L: it is a base plus fewer than 2^nb bits, which D keeps below L.
        let at = (*place & TANS_MISSING) as usize + 3 * *u;
        let e = u32::from_le_bytes(self.entries[at..at + 4].try_into().unwrap_or([0; 4]));
        let nb = (e >> 12) & 0xf;
        let bits = if FAST {
            // nb <= 12; for nb = 0 the shifts give 0.
            let b = (rd.aligned_bits() >> 1) >> (63 - nb);
            rd.consume(nb);
            b
        } else if nb == 0 {
            0
        } else {
            rd.read(nb)
        };
        *u = (e & 0xfff) as usize + bits as usize;
        let rec = self.recs[(*place >> 28) as usize + (e >> 16 & 0xff) as usize];
        *place = rec >> 8;
        Ok(rec as u8)
    }
}

fn decode_tans(stream: &[u8], table: &OrderKTable, out: &mut [u8]) -> Result<()> {
    if !tans_fits(table) {
        return Err(Error::LimitExceeded {
            what: "order-k tans table slots",
            got: (table.contexts().len() as u64) << tans_log(table),
            max: TANS_MAX_SLOTS,
        });
    }
    if table.order() > 2 {
        return decode_tans_generic(stream, table, out);
    }
    let r = tans_log(table);
    let lookup = TansLookup::new(table)?;
    let mut rd = BackwardBitReader::new(stream)?;
    let mut u = rd.read(r) as usize;
    let mut place = lookup.start;
    let n = out.len();
    let mut i = 0;
    // Once the reader cannot refill fast it never can again (it only moves down).
    while i + TANS_PER_FLUSH <= n && rd.can_refill_fast() {
        // At least 57 bits in the window for four reads of at most 12, and stream bytes
        // below it: no overrun is possible until the next refill.
        rd.refill_fast();
        for o in &mut out[i..i + TANS_PER_FLUSH] {
            *o = lookup.step::<true>(&mut u, &mut place, &mut rd)?;
        }
        i += TANS_PER_FLUSH;
    }
    for o in &mut out[i..] {
        *o = lookup.step::<false>(&mut u, &mut place, &mut rd)?;
        if rd.overrun() {
            return Err(Error::Truncated {
                what: "order-k tans bit stream",
                needed: 1,
                available: 0,
            });
        }
    }
    if u != 0 {
        return Err(Error::Corrupt {
            what: "order-k tans final state differs from the initial state",
        });
    }
    rd.finish()
}

/// The straightforward tANS decoder (any order, [`ContextTans`] per context): orders 3
/// and 4 use it; the tests check the fast one against it. The caller checks
/// [`tans_fits`].
fn decode_tans_generic(stream: &[u8], table: &OrderKTable, out: &mut [u8]) -> Result<()> {
    let r = tans_log(table);
    let tables = tans_tables(table)?;
    let mask = table.context_mask();
    let mut rd = BackwardBitReader::new(stream)?;
    let mut u = rd.read(r) as usize;
    let mut ctx = 0u32;
    for o in out.iter_mut() {
        // A `let else`, not `ok_or`: building the error on every symbol and dropping it
        // cost a tenth of the Huffman decoder.
        let Some(ci) = table.find(ctx) else {
            return Err(Error::Corrupt {
                what: "context without a table",
            });
        };
        let s = match &tables[ci] {
            Some(t) => t.decode_step(&mut u, &mut rd),
            None => table.contexts()[ci].entries()[0].symbol,
        };
        if rd.overrun() {
            return Err(Error::Truncated {
                what: "order-k tans bit stream",
                needed: 1,
                available: 0,
            });
        }
        *o = s;
        ctx = (ctx << 8 | u32::from(s)) & mask;
    }
    if u != 0 {
        return Err(Error::Corrupt {
            what: "order-k tans final state differs from the initial state",
        });
    }
    rd.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ModelKind;
    use crate::model::order_k::payload_order;
    use proptest::prelude::*;

    const CODERS: [CoderKind; 4] = [
        CoderKind::Arithmetic,
        CoderKind::Rans,
        CoderKind::Huffman,
        CoderKind::Tans,
    ];

    fn options(k: u32, coder: CoderKind) -> Options {
        Options::new(ModelKind::Static, k, coder).unwrap()
    }

    /// Encodes one block, decodes it, checks it; returns the payload.
    fn block_round_trip(data: &[u8], o: &Options) -> Vec<u8> {
        let (payload, _) = encode(data, o).unwrap();
        let mut out = vec![0u8; data.len()];
        decode(&o.header(), &payload, &mut out).unwrap();
        assert!(out == data, "{:?} order {}", o.coder(), o.order());
        payload
    }

    fn corpus_files() -> Vec<std::path::PathBuf> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        let mut files = Vec::new();
        for dir in ["canterbury", "calgary"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    files.push(p);
                }
            }
        }
        files.sort();
        files
    }

    /// Every corpus file, orders 1..=3; files above 200 KB with one coder per order
    /// (rotating), the rest with all four.
    #[test]
    fn every_corpus_file_round_trips() {
        let files = corpus_files();
        assert!(files.len() >= 29);
        for (fi, f) in files.iter().enumerate() {
            let data = std::fs::read(f).unwrap();
            for k in 1..=3u32 {
                let coders: Vec<CoderKind> = if data.len() > 200_000 {
                    vec![CODERS[(fi + k as usize) % 4]]
                } else {
                    CODERS.to_vec()
                };
                for c in coders {
                    let o = options(k, c).with_block_size(1 << 20).unwrap();
                    for block in data.chunks(1 << 20) {
                        if block.iter().all(|&b| b == block[0]) {
                            continue;
                        }
                        block_round_trip(block, &o);
                    }
                }
            }
        }
    }

    /// Text has strong order-2 structure: the encoder must keep the order asked for.
    #[test]
    fn text_keeps_its_order_and_beats_order_0() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        let data = std::fs::read(root.join("canterbury/alice29.txt")).unwrap();
        for c in CODERS {
            let (p0, _) = encode_static_order0(&data, &options(0, c)).unwrap();
            for k in 1..=2 {
                let p = block_round_trip(&data, &options(k, c));
                assert_eq!(payload_order(&p, k).unwrap(), k, "{c:?}");
                assert!(p.len() < p0.len(), "{c:?} order {k}");
            }
        }
    }

    /// A short block of distinct bytes pays for its byte list and a table per context
    /// but gains nothing from them: the encoder falls back to order 0.
    #[test]
    fn short_blocks_fall_back_to_order_0() {
        let data: Vec<u8> = (0..60u32).map(|i| (i * 97 + 13) as u8).collect();
        for c in CODERS {
            let p = block_round_trip(&data, &options(3, c));
            assert_eq!(payload_order(&p, 3).unwrap(), 0, "{c:?}");
        }
    }

    /// The rANS fast paths against the generic coder for one block: the same stream,
    /// and the fast decoder gives the block back. Returns the table and the stream.
    fn rans_fast_equals_generic(data: &[u8], k: u32) -> (OrderKTable, Vec<u8>) {
        let (table, _) = OrderKTable::build(data, k, Lanes::Four, 12, CostKind::Ideal).unwrap();
        let fast = rans::encode_order_k(data, &table).unwrap();
        let (generic, _) = encode_rans(data, &table).unwrap();
        assert!(
            fast == generic,
            "order {k}: fast and generic streams differ"
        );
        let slots = rans::ContextSlots::new(&table).expect("small tables");
        let mut out = vec![0u8; data.len()];
        rans::decode_order_k(&fast, &slots, &mut out).unwrap();
        assert!(out == data, "order {k}: fast decoder");
        (table, fast)
    }

    #[test]
    fn rans_fast_paths_equal_the_generic_coder_on_corpus_files() {
        for f in corpus_files() {
            let data = std::fs::read(&f).unwrap();
            for k in 1..=2 {
                rans_fast_equals_generic(&data, k);
            }
        }
    }

    #[test]
    fn rans_fast_decoder_rejects_every_truncation_and_follows_the_generic_one_on_wrong_lengths() {
        let data = b"abracadabra, abracadabra; four lanes, four contexts".repeat(12);
        for k in 1..=2 {
            let (table, s) = rans_fast_equals_generic(&data, k);
            let slots = rans::ContextSlots::new(&table).unwrap();
            let mut out = vec![0u8; data.len()];
            for cut in 0..s.len() {
                assert!(rans::decode_order_k(&s[..cut], &slots, &mut out).is_err());
            }
            // A wrong length changes the lane layout; symbols that cost nothing (one-symbol
            // contexts) may still let it pass, but exactly when the generic decoder
            // passes too.
            for n in [
                data.len() - 1,
                data.len() + 1,
                data.len() + 9,
                data.len() / 2,
            ] {
                let mut a = vec![0u8; n];
                let mut b = vec![0u8; n];
                let fast = rans::decode_order_k(&s, &slots, &mut a);
                let generic = decode_rans(&s, &table, &mut b);
                assert_eq!(fast.is_ok(), generic.is_ok(), "n = {n}");
                assert!(a == b || fast.is_err(), "n = {n}");
            }
        }
    }

    #[test]
    fn rans_fast_encoder_reports_an_absent_symbol() {
        for k in 1..=2 {
            let (table, _) =
                OrderKTable::build(b"abcabcabcabc", k, Lanes::Four, 12, CostKind::Ideal).unwrap();
            for data in [&b"abcabcabcabz"[..], b"zbcabcabcabc", b"abcabcabcacb"] {
                assert!(
                    matches!(
                        rans::encode_order_k(data, &table),
                        Err(Error::ZeroFrequency { .. })
                    ),
                    "order {k}"
                );
            }
        }
    }

    /// Every one of the 2^16 (context, byte) pairs in every lane: the order-1 encoder's
    /// u16 entry indexes then have no room for an absent entry and need none.
    #[test]
    fn rans_fast_paths_with_every_pair_present() {
        let pairs: Vec<u8> = (0..=255u8)
            .flat_map(|a| (0..=255u8).flat_map(move |b| [a, b]))
            .collect();
        let data = pairs.repeat(4);
        let (table, _) = rans_fast_equals_generic(&data, 1);
        let present: usize = table.contexts().iter().map(|c| c.entries().len()).sum();
        assert_eq!(present, 1 << 16);
    }

    /// The fast Huffman coders against the straightforward ones on one block at order
    /// `k`: the same stream, and the fast decoder (with a full lookup budget and with a
    /// tiny one, which sends most contexts to the escape) gives the block back.
    fn huffman_fast_equals_generic(data: &[u8], k: u32) {
        let (table, _) = OrderKTable::build(data, k, Lanes::One, 12, CostKind::Huffman).unwrap();
        let fast = encode_huffman(data, &table).unwrap();
        let generic = encode_huffman_generic(data, &table).unwrap();
        assert!(
            fast == generic,
            "order {k}: fast and generic streams differ"
        );
        for budget in [LOOKUP_MAX_ENTRIES, 40, 0] {
            let mut out = vec![0u8; data.len()];
            decode_huffman_with(&fast, &table, &mut out, budget).unwrap();
            assert!(out == data, "order {k}, budget {budget}: fast decoder");
        }
    }

    /// On any stream, the fast Huffman decoder (any lookup budget) fails exactly when the
    /// straightforward one does, with the same error, and otherwise decodes the same bytes.
    fn huffman_decoders_agree(table: &OrderKTable, stream: &[u8], n: usize, budget: usize) {
        let mut a = vec![0u8; n];
        let mut b = vec![0u8; n];
        let fast = decode_huffman_with(stream, table, &mut a, budget);
        let generic = decode_huffman_generic(stream, table, &mut b);
        assert_eq!(format!("{fast:?}"), format!("{generic:?}"));
        if fast.is_ok() {
            assert!(a == b);
        }
    }

    #[test]
    fn huffman_fast_paths_equal_the_generic_coder_on_corpus_files() {
        for f in corpus_files() {
            let data = std::fs::read(&f).unwrap();
            for k in 1..=2 {
                huffman_fast_equals_generic(&data, k);
            }
        }
    }

    #[test]
    fn huffman_fast_encoder_reports_the_absent_symbol_of_the_generic_one() {
        for k in 1..=2 {
            let (table, _) =
                OrderKTable::build(b"abcabcabcabc", k, Lanes::One, 12, CostKind::Huffman).unwrap();
            for data in [
                &b"abcabcabcabz"[..],
                b"zbcabcabcabc",
                b"abcabcabcacb",
                b"bb",
            ] {
                let fast = encode_huffman(data, &table).unwrap_err();
                let generic = encode_huffman_generic(data, &table).unwrap_err();
                assert_eq!(format!("{fast:?}"), format!("{generic:?}"), "order {k}");
            }
        }
    }

    #[test]
    fn huffman_fast_decoder_fails_as_the_generic_one_on_truncations_and_wrong_lengths() {
        let data = b"abracadabra, abracadabra; one stream, many contexts".repeat(12);
        for k in 1..=2 {
            let (table, _) =
                OrderKTable::build(&data, k, Lanes::One, 12, CostKind::Huffman).unwrap();
            let s = encode_huffman(&data, &table).unwrap();
            for cut in 0..s.len() {
                huffman_decoders_agree(&table, &s[..cut], data.len(), LOOKUP_MAX_ENTRIES);
                huffman_decoders_agree(&table, &s[s.len() - cut..], data.len(), 16);
            }
            for n in [
                0,
                1,
                data.len() - 1,
                data.len() + 1,
                data.len() + 9,
                data.len() / 2,
            ] {
                huffman_decoders_agree(&table, &s, n, LOOKUP_MAX_ENTRIES);
            }
        }
    }

    /// The tANS table of `data` at order `k` (lowered to fit as the encoder does).
    fn tans_table(data: &[u8], k: u32, scale: u32) -> OrderKTable {
        let (table, _) = OrderKTable::build(data, k, Lanes::One, scale, CostKind::Ideal).unwrap();
        if tans_fits(&table) {
            return table;
        }
        let fit = (TANS_MAX_SLOTS / table.contexts().len() as u64).ilog2();
        OrderKTable::build(data, k, Lanes::One, fit, CostKind::Ideal)
            .unwrap()
            .0
    }

    /// The fast tANS coders against the straightforward ones on one block at order `k`:
    /// the same stream, and the fast decoder gives the block back.
    fn tans_fast_equals_generic(data: &[u8], k: u32, scale: u32) {
        let table = tans_table(data, k, scale);
        let fast = encode_tans(data, &table).unwrap();
        let generic = encode_tans_generic(data, &table).unwrap();
        assert!(
            fast == generic,
            "order {k}: fast and generic streams differ"
        );
        let mut out = vec![0u8; data.len()];
        decode_tans(&fast, &table, &mut out).unwrap();
        assert!(out == data, "order {k}: fast decoder");
    }

    /// On any stream, the fast tANS decoder fails exactly when the straightforward one
    /// does, with the same error, and otherwise decodes the same bytes.
    fn tans_decoders_agree(table: &OrderKTable, stream: &[u8], n: usize) {
        let mut a = vec![0u8; n];
        let mut b = vec![0u8; n];
        let fast = decode_tans(stream, table, &mut a);
        let generic = decode_tans_generic(stream, table, &mut b);
        assert_eq!(format!("{fast:?}"), format!("{generic:?}"));
        if fast.is_ok() {
            assert!(a == b);
        }
    }

    #[test]
    fn tans_fast_paths_equal_the_generic_coder_on_corpus_files() {
        for f in corpus_files() {
            let data = std::fs::read(&f).unwrap();
            for k in 1..=2 {
                tans_fast_equals_generic(&data, k, 12);
            }
        }
    }

    #[test]
    fn tans_fast_encoder_reports_the_absent_symbol_of_the_generic_one() {
        for k in 1..=2 {
            let table = tans_table(b"abcabcabcabcaabbcc", k, 12);
            for data in [
                &b"abcabcabcabz"[..],
                b"zbcabcabcabc",
                b"abcabcabcacb",
                b"bb",
            ] {
                let fast = encode_tans(data, &table).unwrap_err();
                let generic = encode_tans_generic(data, &table).unwrap_err();
                assert_eq!(format!("{fast:?}"), format!("{generic:?}"), "order {k}");
            }
        }
    }

    #[test]
    fn tans_fast_decoder_fails_as_the_generic_one_on_truncations_and_wrong_lengths() {
        let data = b"abracadabra, abracadabra; one state, many contexts".repeat(12);
        for k in 1..=2 {
            let table = tans_table(&data, k, 12);
            let s = encode_tans(&data, &table).unwrap();
            for cut in 0..s.len() {
                tans_decoders_agree(&table, &s[..cut], data.len());
                tans_decoders_agree(&table, &s[s.len() - cut..], data.len());
            }
            for n in [
                0,
                1,
                data.len() - 1,
                data.len() + 1,
                data.len() + 9,
                data.len() / 2,
            ] {
                tans_decoders_agree(&table, &s, n);
            }
        }
    }

    /// The range coder's fast paths against the generic ones on one block at order `k`
    /// and scale `scale`: the same stream and the same code length (to the bit), and the
    /// fast decoder gives the block back. Returns the table and the stream.
    fn range_fast_equals_generic(data: &[u8], k: u32, scale: u32) -> (OrderKTable, Vec<u8>) {
        let (table, _) = OrderKTable::build(data, k, Lanes::One, scale, CostKind::Ideal).unwrap();
        let rows = RangeRows::new(&table).expect("few contexts");
        let (fast, fast_bits) = match k {
            1 => encode_range_rows::<1>(data, &rows, table.scale_bits()),
            _ => encode_range_rows::<2>(data, &rows, table.scale_bits()),
        }
        .unwrap();
        let (generic, generic_bits) = encode_range_generic(data, &table).unwrap();
        assert!(
            fast == generic,
            "order {k}: fast and generic streams differ"
        );
        assert_eq!(fast_bits.to_bits(), generic_bits.to_bits(), "order {k}");
        assert_eq!(encode_range(data, &table).unwrap().0, fast);
        let slots = rans::ContextSlots::new(&table).expect("small tables");
        let mut out = vec![0u8; data.len()];
        decode_range_slots(&fast, &slots, &mut out).unwrap();
        assert!(out == data, "order {k}: fast decoder");
        (table, fast)
    }

    /// On any stream, the fast range decoder fails exactly when the generic one does,
    /// with the same error, and otherwise decodes the same bytes.
    fn range_decoders_agree(table: &OrderKTable, stream: &[u8], n: usize) {
        let slots = rans::ContextSlots::new(table).expect("small tables");
        let mut a = vec![0u8; n];
        let mut b = vec![0u8; n];
        let fast = decode_range_slots(stream, &slots, &mut a);
        let generic = decode_range_generic(stream, table, &mut b);
        assert_eq!(format!("{fast:?}"), format!("{generic:?}"));
        if fast.is_ok() {
            assert!(a == b);
        }
    }

    #[test]
    fn range_fast_paths_equal_the_generic_coder_on_corpus_files() {
        for f in corpus_files() {
            let data = std::fs::read(&f).unwrap();
            for k in 1..=2 {
                range_fast_equals_generic(&data, k, 12);
            }
        }
    }

    #[test]
    fn range_fast_encoder_reports_the_absent_symbol_of_the_generic_one() {
        for k in 1..=2 {
            let (table, _) =
                OrderKTable::build(b"abcabcabcabc", k, Lanes::One, 12, CostKind::Ideal).unwrap();
            // An absent byte, a context without a table (first, last, in the middle),
            // a byte its context lacks, and two errors (the first in data order counts).
            for data in [
                &b"abcabcabcabz"[..],
                b"zbcabcabcabc",
                b"abcabcabcacb",
                b"bb",
                b"abcabcacz",
                b"",
            ] {
                let fast = encode_range(data, &table);
                let generic = encode_range_generic(data, &table);
                assert_eq!(format!("{fast:?}"), format!("{generic:?}"), "order {k}");
            }
        }
    }

    #[test]
    fn range_fast_decoder_fails_as_the_generic_one_on_truncations_and_wrong_lengths() {
        let data = b"abracadabra, abracadabra; one interval, many contexts".repeat(12);
        for k in 1..=2 {
            let (table, s) = range_fast_equals_generic(&data, k, 12);
            for cut in 0..s.len() {
                range_decoders_agree(&table, &s[..cut], data.len());
                range_decoders_agree(&table, &s[s.len() - cut..], data.len());
            }
            for n in [
                0,
                1,
                data.len() - 1,
                data.len() + 1,
                data.len() + 9,
                data.len() / 2,
            ] {
                range_decoders_agree(&table, &s, n);
            }
            // Every byte damaged in turn (high and low bit).
            for i in 0..s.len() {
                for bit in [0x01, 0x80] {
                    let mut bad = s.clone();
                    bad[i] ^= bit;
                    range_decoders_agree(&table, &bad, data.len());
                }
            }
        }
    }

    /// Tables whose decoded symbols can lead to a context without one (open tables: the
    /// last byte's context here): the fast decoder, which then checks each context,
    /// fails where the generic one does, on the block's stream and on a stream of 0xFF
    /// (targets beyond `2^S`).
    #[test]
    fn range_fast_decoder_fails_as_the_generic_one_on_open_tables() {
        for k in 1..=2 {
            let (table, _) =
                OrderKTable::build(b"\0abcabcd", k, Lanes::One, 12, CostKind::Ideal).unwrap();
            assert!(!rans::ContextSlots::new(&table).unwrap().is_closed());
            // Coded with the block's own table: decodable only up to the last byte.
            let stream = encode_range_generic(b"\0abcabcd", &table).unwrap().0;
            for n in 0..12 {
                range_decoders_agree(&table, &stream, n);
            }
            let (table, _) =
                OrderKTable::build(b"aaab", k, Lanes::One, 12, CostKind::Ideal).unwrap();
            let stream = encode_range_generic(b"aaab", &table).unwrap().0;
            for n in 0..6 {
                range_decoders_agree(&table, &stream, n);
                range_decoders_agree(&table, &[0xff; 5], n);
            }
        }
    }

    /// Blocks whose rows would exceed [`RANGE_ROWS_MAX_CONTEXTS`] are coded by the
    /// generic encoder.
    #[test]
    fn range_rows_refuse_tables_beyond_their_limit() {
        let n = 1 << 20;
        let wide = wide_order2_table(RANGE_ROWS_MAX_CONTEXTS + 1);
        let t = OrderKTable::read(&wide, 2, 12, n).unwrap();
        assert!(RangeRows::new(&t).is_none());
        let zeros = vec![0u8; 100];
        assert_eq!(
            encode_range(&zeros, &t).unwrap().0,
            encode_range_generic(&zeros, &t).unwrap().0
        );
        let t = OrderKTable::read(&wide_order2_table(RANGE_ROWS_MAX_CONTEXTS), 2, 12, n).unwrap();
        assert!(RangeRows::new(&t).is_some());
    }

    fn skewed() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec(prop_oneof![9 => 0u8..4, 1 => any::<u8>()], 0..3000),
            Just((0..=255u8).collect::<Vec<u8>>()),
            Just(vec![42u8]),
            Just(vec![7u8; 100]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn arbitrary_bytes_round_trip(data in skewed(), k in 1u32..=3) {
            for c in CODERS {
                crate::round_trip(&data, &options(k, c)).unwrap();
                if !data.is_empty() {
                    block_round_trip(&data, &options(k, c));
                }
            }
        }

        #[test]
        fn rans_fast_paths_equal_the_generic_coder(data in skewed(), k in 1u32..=2) {
            if !data.is_empty() {
                rans_fast_equals_generic(&data, k);
            }
        }

        /// On any stream (mostly with valid states), the fast decoder fails exactly when
        /// the generic one does, and otherwise decodes the same bytes.
        #[test]
        fn rans_fast_decoder_agrees_with_the_generic_one(model in proptest::collection::vec(0u8..6, 1..300), k in 1u32..=2, stream in proptest::collection::vec(any::<u8>(), 0..400), n in 0usize..500) {
            let (table, _) = OrderKTable::build(&model, k, Lanes::Four, 12, CostKind::Ideal).unwrap();
            let slots = rans::ContextSlots::new(&table).unwrap();
            let mut stream = stream;
            if stream.len() >= 32 {
                for j in 0..4 {
                    stream[8 * j + 7] = 0x40 | (stream[8 * j + 7] & 0x3f);
                }
            }
            let mut a = vec![0u8; n];
            let mut b = vec![0u8; n];
            let fast = rans::decode_order_k(&stream, &slots, &mut a);
            let generic = decode_rans(&stream, &table, &mut b);
            prop_assert_eq!(fast.is_ok(), generic.is_ok());
            if fast.is_ok() {
                prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn huffman_fast_paths_equal_the_generic_coder(data in skewed(), k in 1u32..=2) {
            if !data.is_empty() {
                huffman_fast_equals_generic(&data, k);
            }
        }

        #[test]
        fn huffman_fast_decoder_agrees_with_the_generic_one(model in proptest::collection::vec(0u8..12, 1..400), k in 1u32..=2, stream in proptest::collection::vec(any::<u8>(), 0..300), n in 0usize..800, budget in prop_oneof![Just(LOOKUP_MAX_ENTRIES), 0usize..300]) {
            let (table, _) = OrderKTable::build(&model, k, Lanes::One, 12, CostKind::Huffman).unwrap();
            huffman_decoders_agree(&table, &stream, n, budget);
        }

        #[test]
        fn tans_fast_paths_equal_the_generic_coder(data in skewed(), k in 1u32..=2, scale in 9u32..=12) {
            if !data.is_empty() {
                tans_fast_equals_generic(&data, k, scale);
            }
        }

        #[test]
        fn tans_fast_decoder_agrees_with_the_generic_one(model in proptest::collection::vec(0u8..12, 1..400), k in 1u32..=2, stream in proptest::collection::vec(any::<u8>(), 0..300), n in 0usize..800) {
            let table = tans_table(&model, k, 12);
            tans_decoders_agree(&table, &stream, n);
        }

        #[test]
        fn range_fast_paths_equal_the_generic_coder(data in skewed(), k in 1u32..=2, scale in 9u32..=12) {
            if !data.is_empty() {
                range_fast_equals_generic(&data, k, scale);
            }
        }

        /// Random streams (often with targets beyond `2^S`, and contexts without a
        /// table) and the block's own stream cut or damaged.
        #[test]
        fn range_fast_decoder_agrees_with_the_generic_one(model in proptest::collection::vec(0u8..12, 1..400), k in 1u32..=2, stream in proptest::collection::vec(any::<u8>(), 0..300), n in 0usize..800, cut in any::<u16>(), flip in any::<u32>()) {
            let (table, _) = OrderKTable::build(&model, k, Lanes::One, 12, CostKind::Ideal).unwrap();
            range_decoders_agree(&table, &stream, n);
            // Led by 0xFF bytes: a first target in the top slice beyond 2^S * r.
            let high: Vec<u8> = [0xff; 3].iter().chain(&stream).copied().collect();
            range_decoders_agree(&table, &high, n);
            let own = encode_range_generic(&model, &table).unwrap().0;
            range_decoders_agree(&table, &own[..usize::from(cut) % (own.len() + 1)], model.len());
            let mut bad = own.clone();
            let bit = flip as usize % (8 * bad.len());
            bad[bit / 8] ^= 1 << (bit % 8);
            range_decoders_agree(&table, &bad, model.len());
        }

        #[test]
        fn random_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..400), k in 1u8..=4, n in 1usize..3000, coder in 0usize..4) {
            let mut header = options(k.into(), CODERS[coder]).header();
            header.order = k;
            let mut out = vec![0u8; n];
            let _ = decode(&header, &payload, &mut out);
            // With a plausible head: some order, a table length within the payload.
            let mut p = vec![k, (payload.len() / 2).min(127) as u8];
            p.extend_from_slice(&payload);
            let _ = decode(&header, &p, &mut out);
        }

        #[test]
        fn damaged_payloads_never_panic(data in proptest::collection::vec(0u8..8, 200..1500), k in 1u32..=3, coder in 0usize..4, flips in proptest::collection::vec(any::<u32>(), 1..4), cut in any::<u16>()) {
            let o = options(k, CODERS[coder]);
            let (payload, _) = encode(&data, &o).unwrap();
            let mut out = vec![0u8; data.len()];
            let cut = usize::from(cut) % payload.len();
            prop_assert!(decode(&o.header(), &payload[..cut], &mut out).is_err() || cut == payload.len());
            let mut bad = payload.clone();
            for f in flips {
                // Mostly in the head and table, where the checks are.
                let span = (8 * bad.len()).min(8 * 64);
                let bit = f as usize % span;
                bad[bit / 8] ^= 1 << (bit % 8);
            }
            let _ = decode(&o.header(), &bad, &mut out);
        }
    }

    /// A table of `n` order-2 contexts at precision 12 (the largest), each with byte 0
    /// only, over the alphabet of all 256 bytes.
    fn wide_order2_table(n: usize) -> Vec<u8> {
        let mut bits: Vec<bool> = Vec::new();
        let put =
            |bits: &mut Vec<bool>, v: u64, w: u32| bits.extend((0..w).map(|i| v >> i & 1 == 1));
        let gamma = |bits: &mut Vec<bool>, v: u64| {
            let len = 64 - v.leading_zeros();
            put(bits, 0, len - 1);
            put(bits, 1, 1);
            put(bits, v, len - 1);
        };
        put(&mut bits, 255, 8);
        for b in 0..256 {
            put(&mut bits, b, 8);
        }
        put(&mut bits, 12, 4);
        gamma(&mut bits, n as u64);
        // Keys with both digits in 1..=256 (digit 0 names no byte: byte 0 is listed).
        let keys = (258u64..).filter(|k| k % 257 != 0).take(n);
        let mut prev = None;
        for key in keys {
            gamma(&mut bits, prev.map_or(key + 1, |p| key - p));
            prev = Some(key);
            gamma(&mut bits, 13); // s_c = 12
            gamma(&mut bits, 1); // one symbol
            gamma(&mut bits, 1); // of rank 0
        }
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
            bytes[i / 8] |= 1 << (i % 8);
        }
        bytes
    }

    /// The fast decoder's slot limit: `1 + 1023 * 2^12` slots fit, `1 + 1024 * 2^12` do
    /// not, and then the block decodes with the generic decoder (the table read again).
    /// Every context of the table has byte 0 at frequency `2^12`, so a block of zeros
    /// costs no words.
    #[test]
    fn tables_beyond_the_slot_limit_decode_with_the_generic_decoder() {
        let n = 1 << 20;
        let fits = wide_order2_table(1023);
        let t = OrderKTable::read(&fits, 2, 12, n).unwrap();
        let slots = rans::ContextSlots::read(&fits, 2, 12, n).unwrap().unwrap();
        assert_eq!(rans::ContextSlots::new(&t), Some(slots));
        let wide = wide_order2_table(1024);
        assert_eq!(rans::ContextSlots::read(&wide, 2, 12, n).unwrap(), None);
        let t = OrderKTable::read(&wide, 2, 12, n).unwrap();
        assert_eq!(t.contexts().len(), 1024);
        assert!(rans::ContextSlots::new(&t).is_none());
        let header = options(2, CoderKind::Rans).header();
        let zeros = vec![0u8; 2000];
        let (stream, _) = encode_rans(&zeros, &t).unwrap();
        let mut payload = vec![2u8];
        write_varint(&mut payload, wide.len() as u64);
        payload.extend_from_slice(&wide);
        payload.extend_from_slice(&stream);
        let mut out = vec![1u8; zeros.len()];
        decode(&header, &payload, &mut out).unwrap();
        assert!(out == zeros);
        // A damaged state fails as the generic decoder fails.
        let at = payload.len() - stream.len();
        payload[at + 3] ^= 1;
        let err = decode(&header, &payload, &mut out).unwrap_err();
        let s = &payload[at..];
        let generic = decode_rans(s, &t, &mut out).unwrap_err();
        assert_eq!(format!("{err:?}"), format!("{generic:?}"));
        // The same with the range coder.
        let header = options(2, CoderKind::Arithmetic).header();
        let (stream, _) = encode_range(&zeros, &t).unwrap();
        let mut payload = vec![2u8];
        write_varint(&mut payload, wide.len() as u64);
        payload.extend_from_slice(&wide);
        payload.extend_from_slice(&stream);
        let mut out = vec![1u8; zeros.len()];
        decode(&header, &payload, &mut out).unwrap();
        assert!(out == zeros);
    }
}
