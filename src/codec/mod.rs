//! The pipeline: pairs a model with a coder for each block, and deals with direction.
//!
//! This is the only layer that knows both sides of the seam. Per block it builds the model
//! (counting for static models), runs the chosen coder, and falls back to a *stored*
//! block when coding would not shrink the data, or a *run* block when the block holds a
//! single byte value (the named degenerate cases of `docs/FORMAT.md`).

mod drive;
mod options;
mod static_k;
mod stream;

pub use options::{DEFAULT_BLOCK_SIZE, DEFAULT_CODEC, DEFAULT_SCALE_BITS, Options};
pub use stream::{
    BlockInfo, Compressor, FrameInfo, MAX_THREADS, Summary, compress_bound, decompress_stream,
    decompress_stream_threads, inspect, inspect_threads,
};

use crate::coder::range::{InterleavedRangeEncoder, RangeDecoder, RangeEncoder};
use crate::coder::rans::{RansDecoder, RansEncoder};
use crate::coder::{Decode, huffman, range, rans, tans};
use crate::error::{Error, Result};
use crate::format::{Block, BlockKind, CoderKind, Header, ModelKind, VERSION, block_check};
use crate::model::adaptive::AdaptiveModel;
use crate::model::compact;
use crate::model::frequency::FrequencyModel;
use crate::model::order_k::MAX_STATIC_ORDER;
use crate::model::{Counts, FreqTable, MIN_SCALE_BITS, Model};
use drive::{Direction, decode_with_model, encode_with_model};

/// What encoding a block cost, beyond its size: the split the analyser reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockCost {
    /// Bytes of model description (tables, scale byte) inside the payload.
    pub table_bytes: usize,
    /// Code length the model assigns to the content: sum of -log2 p over the symbols
    /// with the distributions the coder actually used (bits). For Huffman that is the
    /// sum of code lengths.
    pub model_bits: f64,
}

/// Encodes one block of at most `options.block_size()` bytes.
pub fn encode_block(data: &[u8], options: &Options) -> (Block, BlockCost) {
    encode_block_reusing(data, options, &mut None)
}

/// [`encode_block`] with a place to keep an adaptive model between blocks: a model left
/// in `spare` by an earlier block of the same order and memory is reset and reused (see
/// [`AdaptiveModel::reset`]), and this block's model is left there. The output is the
/// same as [`encode_block`]'s.
pub fn encode_block_reusing(
    data: &[u8],
    options: &Options,
    spare: &mut Option<AdaptiveModel>,
) -> (Block, BlockCost) {
    let mut block = Block::empty();
    let cost = encode_block_into(data, options, spare, &mut block);
    (block, cost)
}

/// [`encode_block_reusing`] into `block`, whose fields are all overwritten but whose
/// body keeps its allocation: a caller coding block after block keeps one [`Block`] per
/// thread and the payload is written into memory it already has, instead of a fresh
/// allocation (and, for blocks near glibc's mmap threshold, fresh pages to fault in)
/// per block. The block written is the same as [`encode_block`]'s.
pub fn encode_block_into(
    data: &[u8],
    options: &Options,
    spare: &mut Option<AdaptiveModel>,
    block: &mut Block,
) -> BlockCost {
    debug_assert!(!data.is_empty() && data.len() <= options.block_size() as usize);
    block.check = block_check(data);
    block.raw_len = data.len() as u32;
    let body = &mut block.body;
    body.clear();
    if data.iter().all(|&b| b == data[0]) {
        block.kind = BlockKind::Run;
        body.push(data[0]);
        return BlockCost::default();
    }
    let coded = if (options.model(), options.order()) == (ModelKind::Static, 0) {
        encode_static_order0_into(data, options, body)
    } else {
        // The other encoders make their own payload, which becomes the body.
        let payload = match (options.model(), options.order()) {
            (ModelKind::Static, k) if k <= MAX_STATIC_ORDER => static_k::encode(data, options),
            (ModelKind::Adaptive, k) => {
                encode_adaptive(data, k, options.memory(), options.coder(), spare)
            }
            (ModelKind::Frequency, k) => encode_frequency(data, k, options.coder()),
            _ => Err(Error::InvalidOptions(
                "this model is not available in this build".into(),
            )),
        };
        payload.map(|(payload, cost)| {
            *body = payload;
            cost
        })
    };
    match coded {
        Ok(cost) if body.len() < data.len() => {
            block.kind = BlockKind::Entropy;
            cost
        }
        // Options were validated, so an error here can only be a coder refusing data it
        // cannot shrink; the stored block is the documented outcome either way.
        _ => {
            block.kind = BlockKind::Stored;
            body.clear();
            body.extend_from_slice(data);
            BlockCost {
                table_bytes: 0,
                model_bits: 8.0 * data.len() as f64,
            }
        }
    }
}

/// Picks the table scale that minimises table bytes plus coded bits for `counts`,
/// among the scales that can hold every present symbol, up to `max_scale`; ties go to
/// the smaller scale. Scales are tried from `max_scale` down, stopping at the first
/// that costs more than the best so far: the total falls as the table shrinks until
/// quantisation starts to cost more than it saves, and rises after, so one or two
/// normalisations usually settle it.
fn best_table(counts: &Counts, max_scale: u32) -> Result<(FreqTable, Vec<u8>, f64)> {
    let distinct = counts.distinct().max(1) as u32;
    let min_scale = (32 - (distinct - 1).leading_zeros()).max(MIN_SCALE_BITS);
    let mut best: Option<(FreqTable, Vec<u8>, f64, f64)> = None;
    for scale in (min_scale.min(max_scale)..=max_scale).rev() {
        let table = FreqTable::from_counts(counts, scale)?;
        let mut bytes = vec![scale as u8];
        compact::write_freq_table(&table, &mut bytes);
        let bits = table.cost_bits(counts);
        let total = bits + 8.0 * bytes.len() as f64;
        match &best {
            Some((.., best_total)) if total > *best_total + 1e-9 => break,
            _ => best = Some((table, bytes, bits, total)),
        }
    }
    best.map(|(t, b, bits, _)| (t, b, bits))
        .ok_or_else(|| Error::InvalidOptions("no usable table scale".into()))
}

/// A rare-on-top tANS table for `counts`: the table log (see
/// [`tans::choose_rare_table_log`]), frequencies and rare flags, and the estimated
/// code length in bits.
type TansChoice = (u32, [u32; 256], [bool; 256], f64);

fn tans_table(counts: &Counts) -> Result<TansChoice> {
    let log = tans::choose_rare_table_log(counts);
    let (freq, rare) = tans::normalize_rare_on_top(counts, log)?;
    let bits = tans::estimated_cost_bits(counts, &freq, &rare, log);
    Ok((log, freq, rare, bits))
}

/// Static order-0 blocks of at least this many bytes are coded as two streams with the
/// rANS and arithmetic coders (from format version 6; `docs/FORMAT.md`, "Static order
/// 0"): rANS the two halves of the block, so that its decoder runs eight independent
/// states instead of four; arithmetic every other symbol, so that two divisions are in
/// flight at once.
pub const TWO_STREAMS_MIN: usize = 1 << 15;

/// Whether a static order-0 block of `n` bytes with `coder` in a frame of format
/// `version` is two streams (see [`TWO_STREAMS_MIN`]).
fn two_streams(version: u8, coder: CoderKind, n: usize) -> bool {
    version >= 6 && matches!(coder, CoderKind::Rans | CoderKind::Arithmetic) && n >= TWO_STREAMS_MIN
}

/// Codes `data` with a static order-0 model: the payload (table, then the coder's
/// stream) and its cost.
fn encode_static_order0(data: &[u8], options: &Options) -> Result<(Vec<u8>, BlockCost)> {
    let mut payload = Vec::new();
    let cost = encode_static_order0_into(data, options, &mut payload)?;
    Ok((payload, cost))
}

/// [`encode_static_order0`] appending the payload to `payload`, which the caller
/// passes empty.
fn encode_static_order0_into(
    data: &[u8],
    options: &Options,
    payload: &mut Vec<u8>,
) -> Result<BlockCost> {
    let counts = Counts::of(data);
    match options.coder() {
        CoderKind::Arithmetic | CoderKind::Rans => {
            let (table, table_payload, bits) = best_table(&counts, options.scale_bits())?;
            payload.extend_from_slice(&table_payload);
            let pair = two_streams(VERSION, options.coder(), data.len());
            match options.coder() {
                CoderKind::Rans if pair => {
                    let (a, b) = data.split_at(data.len() / 2);
                    rans::encode_order0_pair_into(a, b, &table, payload)?;
                }
                CoderKind::Rans => payload.extend_from_slice(&rans::encode_order0(data, &table)?),
                _ if pair => payload.extend_from_slice(&range::encode_order0_pair(data, &table)?),
                _ => payload.extend_from_slice(&range::encode_order0(data, &table)?),
            }
            Ok(BlockCost {
                table_bytes: table_payload.len(),
                model_bits: bits,
            })
        }
        CoderKind::Huffman => {
            let code = huffman::HuffmanCode::from_counts(&counts)?;
            code.write_compact(payload);
            let table_bytes = payload.len();
            huffman::encode_block_into(data, &code, payload)?;
            Ok(BlockCost {
                table_bytes,
                model_bits: code.cost_bits(&counts) as f64,
            })
        }
        CoderKind::Tans => {
            let (log, freq, rare, bits) = tans_table(&counts)?;
            let table = FreqTable::from_freqs(freq, log)?;
            payload.push(tans::RARE_ON_TOP | log as u8);
            tans::write_rare_table(&freq, &rare, payload);
            let table_bytes = payload.len();
            let tables = tans::TansTables::with_rare_on_top(&table, &rare)?;
            payload.extend_from_slice(&tans::encode_block_lanes(
                data,
                &tables,
                tans::Lanes::Pairs,
            )?);
            Ok(BlockCost {
                table_bytes,
                model_bits: bits,
            })
        }
    }
}

/// The model in `spare` if it has this order and memory (reset), else a new one.
fn take_model(
    spare: &mut Option<AdaptiveModel>,
    order: u32,
    memory: usize,
) -> Result<AdaptiveModel> {
    match spare.take() {
        Some(mut m) if m.order() == order && m.memory_budget() == memory => {
            m.reset();
            Ok(m)
        }
        _ => AdaptiveModel::new(order, memory),
    }
}

fn encode_adaptive(
    data: &[u8],
    order: u32,
    memory: usize,
    coder: CoderKind,
    spare: &mut Option<AdaptiveModel>,
) -> Result<(Vec<u8>, BlockCost)> {
    let mut model = take_model(spare, order, memory)?;
    let coded = encode_streamed(data, &mut model, coder);
    *spare = Some(model);
    coded
}

/// Codes `data` with an adaptive or frequency model and a stream coder: the payload is
/// the coder's stream alone.
fn encode_streamed<M: Model>(
    data: &[u8],
    model: &mut M,
    coder: CoderKind,
) -> Result<(Vec<u8>, BlockCost)> {
    let (stream, bits) = match coder {
        CoderKind::Arithmetic => {
            encode_with_model(data, model, RangeEncoder::new(), Direction::Fifo)?
        }
        CoderKind::Rans => {
            encode_with_model(data, model, RansEncoder::new(data.len()), Direction::Lifo)?
        }
        CoderKind::Huffman | CoderKind::Tans => {
            return Err(Error::InvalidOptions(
                "table coders need a static model".into(),
            ));
        }
    };
    Ok((stream, stream_cost(bits)))
}

/// The cost of a payload that is a coder's output alone (adaptive and frequency
/// models): no table bytes, the model's code length.
fn stream_cost(model_bits: f64) -> BlockCost {
    BlockCost {
        table_bytes: 0,
        model_bits,
    }
}

std::thread_local! {
    /// Frequency models kept between blocks on this thread, one for encoding and one
    /// for decoding (index: [`FrequencyModel::decodes_fast`]): an order-1 model is
    /// about 300 KiB, and a fresh one per block cost its allocation, page faults and
    /// fill every time; a kept one is [`FrequencyModel::reset`] (a flag per context).
    static SPARE_FREQUENCY: [std::cell::Cell<Option<FrequencyModel>>; 2] =
        const { [std::cell::Cell::new(None), std::cell::Cell::new(None)] };
}

/// Runs `f` with a frequency model at the start of a block: this thread's spare of
/// that order and kind (reset) if it has one, else a new one; the model is kept as the
/// spare afterwards. `Err` only for an order the model refuses.
fn with_frequency_model<T>(
    order: u32,
    decoding: bool,
    f: impl FnOnce(&mut FrequencyModel) -> T,
) -> Result<T> {
    let spare = SPARE_FREQUENCY.with(|s| s[usize::from(decoding)].take());
    let mut model = match spare {
        Some(mut m) if m.order() == order => {
            m.reset();
            m
        }
        _ if decoding => FrequencyModel::new(order)?,
        _ => FrequencyModel::for_encoding(order)?,
    };
    let result = f(&mut model);
    SPARE_FREQUENCY.with(|s| s[usize::from(decoding)].set(Some(model)));
    Ok(result)
}

/// Codes `data` with a frequency model at the start of a block (`docs/FORMAT.md`): with
/// the arithmetic coder, two range coders taking turns ([`InterleavedRangeEncoder`],
/// the payload laid out by [`crate::coder::join_pair`]); with rANS, its stream alone.
fn encode_frequency(data: &[u8], order: u32, coder: CoderKind) -> Result<(Vec<u8>, BlockCost)> {
    with_frequency_model(order, false, |model| {
        if coder == CoderKind::Arithmetic {
            let coder = InterleavedRangeEncoder::new();
            let (payload, bits) = encode_with_model(data, model, coder, Direction::Fifo)?;
            Ok((payload, stream_cost(bits)))
        } else {
            encode_streamed(data, model, coder)
        }
    })?
}

/// Decodes a payload of [`encode_streamed`] with `model`; `what` names the model in the
/// error for a table coder.
fn decode_streamed<M: Model>(
    coder: CoderKind,
    payload: &[u8],
    out: &mut [u8],
    model: &mut M,
    what: &'static str,
) -> Result<()> {
    match coder {
        CoderKind::Arithmetic => {
            RangeDecoder::new(payload).and_then(|c| decode_with_model(out, model, c))
        }
        CoderKind::Rans => RansDecoder::new(payload).and_then(|c| decode_with_model(out, model, c)),
        CoderKind::Huffman | CoderKind::Tans => Err(Error::Corrupt { what }),
    }
}

/// Decodes a frequency-model payload in the layout of the frame's format `version`:
/// from version 5 the arithmetic coder's payload is two interleaved range streams
/// ([`crate::coder::split_pair`]), before it one stream; rANS has one stream in every version.
/// The header's order was checked when it was parsed only against the container's
/// limit, so a larger one is refused here.
fn decode_frequency(
    version: u8,
    coder: CoderKind,
    order: u32,
    payload: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let what = "table coder with a frequency model";
    with_frequency_model(order, true, |model| {
        if coder == CoderKind::Arithmetic && version >= INTERLEAVED_RANGE_VERSION {
            let (s0, s1) = crate::coder::split_pair(payload)?;
            let (mut even, mut odd) = (RangeDecoder::new(s0)?, RangeDecoder::new(s1)?);
            model.decode_interleaved(out, &mut even, &mut odd)?;
            Decode::finish(even)?;
            Decode::finish(odd)
        } else if coder == CoderKind::Rans {
            let mut rans = RansDecoder::new(payload)?;
            model.decode_rans(out, &mut rans)?;
            Decode::finish(rans)
        } else {
            decode_streamed(coder, payload, out, model, what)
        }
    })
    .map_err(|_| Error::Corrupt {
        what: "frequency model order above 1",
    })?
}

/// The first format version whose frequency-model arithmetic payloads hold two
/// interleaved range streams (`docs/FORMAT.md`, version 5).
const INTERLEAVED_RANGE_VERSION: u8 = 5;

fn decode_adaptive(
    header: &Header,
    order: u32,
    payload: &[u8],
    out: &mut [u8],
    spare: &mut Option<AdaptiveModel>,
) -> Result<()> {
    let mut model = take_model(spare, order, 1usize << header.memory_log2)?;
    let what = "table coder with an adaptive model";
    let decoded = decode_streamed(header.coder, payload, out, &mut model, what);
    *spare = Some(model);
    decoded
}

/// Decodes one block into `out` (its old contents replaced) and verifies its check.
/// `index` is the block's position in its frame, for the error message.
pub fn decode_block(header: &Header, block: &Block, index: u64, out: &mut Vec<u8>) -> Result<()> {
    decode_block_reusing(header, block, index, out, &mut None)
}

/// [`decode_block`] with a place to keep an adaptive model between blocks, as
/// [`encode_block_reusing`].
pub fn decode_block_reusing(
    header: &Header,
    block: &Block,
    index: u64,
    out: &mut Vec<u8>,
    spare: &mut Option<AdaptiveModel>,
) -> Result<()> {
    // Every decoder writes all n bytes (or fails), so only growth needs zeroing: a
    // caller that reuses `out` for many blocks does not pay a memset per block. Stale
    // bytes of a failed decode are never returned as data, and a decoder that skipped a
    // byte would fail the block's check.
    let n = block.raw_len as usize;
    out.truncate(n);
    out.resize(n, 0);
    decode_block_into(header, block, index, out, spare)
}

/// [`decode_block_reusing`] into a slice of exactly the block's raw length (for example
/// the block's place in a whole output buffer, which saves a copy); any other length is
/// [`Error::InvalidOptions`]. On an error the slice holds unspecified bytes.
pub fn decode_block_into(
    header: &Header,
    block: &Block,
    index: u64,
    out: &mut [u8],
    spare: &mut Option<AdaptiveModel>,
) -> Result<()> {
    let n = block.raw_len as usize;
    if out.len() != n {
        return Err(Error::InvalidOptions(format!(
            "block {index} decodes to {n} bytes, not {}",
            out.len()
        )));
    }
    match block.kind {
        BlockKind::Stored if block.body.len() == n => out.copy_from_slice(&block.body),
        BlockKind::Stored => {
            return Err(Error::Corrupt {
                what: "stored block body of another length than the block",
            });
        }
        BlockKind::Run => out.fill(*block.body.first().ok_or(Error::Corrupt {
            what: "run block without its byte",
        })?),
        BlockKind::Entropy => {
            let decoded = match (header.model, header.order) {
                (ModelKind::Static, 0) => decode_static_order0(header, &block.body, out),
                (ModelKind::Static, k) if u32::from(k) <= MAX_STATIC_ORDER => {
                    static_k::decode(header, &block.body, out)
                }
                (ModelKind::Adaptive, k) => {
                    decode_adaptive(header, k.into(), &block.body, out, spare)
                }
                (ModelKind::Frequency, k) => {
                    decode_frequency(header.version, header.coder, k.into(), &block.body, out)
                }
                _ => Err(Error::Corrupt {
                    what: "model not supported by this build",
                }),
            };
            decoded.map_err(|e| Error::DamagedBlock {
                block: index,
                source: Box::new(e),
            })?;
        }
    }
    let actual = block_check(out);
    if actual != block.check {
        return Err(Error::BlockChecksum {
            block: index,
            expected: block.check,
            actual,
        });
    }
    Ok(())
}

fn split_scale<'a>(
    payload: &'a [u8],
    max_scale: u32,
    what: &'static str,
) -> Result<(u32, &'a [u8])> {
    let (&scale, rest) = payload.split_first().ok_or(Error::Truncated {
        what,
        needed: 1,
        available: 0,
    })?;
    let scale = u32::from(scale);
    if scale > max_scale {
        return Err(Error::LimitExceeded {
            what,
            got: scale.into(),
            max: max_scale.into(),
        });
    }
    Ok((scale, rest))
}

/// The order-0 frequency table at the start of `input` in the layout of the frame's
/// format version (bit-packed from version 3), and the bytes it took.
pub(crate) fn read_freq_table(
    header: &Header,
    input: &[u8],
    scale: u32,
) -> Result<(FreqTable, usize)> {
    if header.version >= 3 {
        compact::read_freq_table(input, scale)
    } else {
        FreqTable::read(input, scale)
    }
}

/// The Huffman code lengths at the start of `input` in the layout of the frame's format
/// version, and the bytes they took.
pub(crate) fn read_huffman_table(
    header: &Header,
    input: &[u8],
) -> Result<(huffman::HuffmanCode, usize)> {
    if header.version >= 3 {
        huffman::HuffmanCode::read_compact(input)
    } else {
        huffman::HuffmanCode::read(input)
    }
}

fn decode_static_order0(header: &Header, payload: &[u8], out: &mut [u8]) -> Result<()> {
    match header.coder {
        CoderKind::Arithmetic | CoderKind::Rans => {
            let (scale, rest) = split_scale(payload, header.scale_bits.into(), "table scale")?;
            let (table, used) = read_freq_table(header, rest, scale)?;
            let stream = &rest[used..];
            let pair = two_streams(header.version, header.coder, out.len());
            match header.coder {
                CoderKind::Rans if pair => {
                    let (a, b) = crate::coder::split_pair(stream)?;
                    let (out_a, out_b) = out.split_at_mut(out.len() / 2);
                    rans::decode_order0_pair(a, b, &table, out_a, out_b)
                }
                CoderKind::Rans => rans::decode_order0(stream, &table, out),
                _ if pair => range::decode_order0_pair(stream, &table, out),
                _ => range::decode_order0(stream, &table, out),
            }
        }
        CoderKind::Huffman => {
            let (code, used) = read_huffman_table(header, payload)?;
            if header.version >= 3 {
                huffman::decode_block(&payload[used..], &code, out)
            } else {
                huffman::decode_block_v2(&payload[used..], &code, out)
            }
        }
        CoderKind::Tans => {
            // The first form (log byte 9..=12): order-0 table, plain spread, interleaved
            // lanes; the second (RARE_ON_TOP | log): rare-on-top table and pairs.
            let second = payload.first().is_some_and(|&b| b & tans::RARE_ON_TOP != 0);
            let (log, rest) = match payload.split_first() {
                Some((&b, rest)) if second => (u32::from(b & !tans::RARE_ON_TOP), rest),
                _ => split_scale(payload, tans::MAX_TABLE_LOG, "tans table log")?,
            };
            if !(tans::MIN_TABLE_LOG..=tans::MAX_TABLE_LOG).contains(&log) {
                return Err(Error::Corrupt {
                    what: "tans table log outside 9..=12",
                });
            }
            if second {
                let (table, rare, used) = tans::read_rare_table(rest, log)?;
                let tables = tans::TansTables::with_rare_on_top(&table, &rare)?;
                tans::decode_block_lanes(&rest[used..], &tables, out, tans::Lanes::Pairs)
            } else {
                // The first form's table is the order-0 table of the frame's version.
                let (table, used) = read_freq_table(header, rest, log)?;
                let tables = tans::TansTables::new(&table)?;
                tans::decode_block(&rest[used..], &tables, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coder::{split_pair, zigzag};
    use crate::format::varint::write_varint;

    /// `prefix`, then two streams after a length difference field of `d` (right or
    /// not).
    fn pair_with(prefix: &[u8], d: i64, s0: &[u8], s1: &[u8]) -> Vec<u8> {
        let mut p = prefix.to_vec();
        write_varint(&mut p, zigzag(d));
        p.extend_from_slice(s0);
        p.extend_from_slice(s1);
        p
    }

    fn sample(n: usize) -> Vec<u8> {
        let text = b"two coders take turns: even symbols to one, odd ones to the other. ";
        text.iter().cycle().take(n).copied().collect()
    }

    /// Frequency + arithmetic payloads of every small length (0, 1, 2, odd, even)
    /// decode back under version 5, and they are the two-stream layout: the version-4
    /// reading of the same bytes (one stream) fails.
    #[test]
    fn frequency_arithmetic_payloads_round_trip_at_every_small_length() {
        for order in [0, 1] {
            for n in (0..=9).chain([100, 101, 4096, 4097]) {
                let data = sample(n);
                let (payload, _) = encode_frequency(&data, order, CoderKind::Arithmetic).unwrap();
                let (s0, s1) = crate::coder::split_pair(&payload).unwrap();
                assert!(!s0.is_empty() && !s1.is_empty(), "{n} symbols");
                let mut out = vec![0xAA; n];
                decode_frequency(5, CoderKind::Arithmetic, order, &payload, &mut out).unwrap();
                assert_eq!(out, data, "order {order}, {n} symbols");
                let v4 = decode_frequency(4, CoderKind::Arithmetic, order, &payload, &mut out);
                if n > 0 {
                    assert!(v4.is_err() || out != data, "order {order}, {n} symbols");
                }
            }
        }
    }

    /// A version-4 frame's frequency + arithmetic payload is one range stream: still
    /// decoded as such (and refused as a version-5 payload). rANS payloads are the same
    /// in both versions.
    #[test]
    fn version_4_frequency_payloads_decode_with_one_coder() {
        let data = sample(3001);
        for order in [0, 1] {
            let mut model = FrequencyModel::for_encoding(order).unwrap();
            let (one, _) = encode_streamed(&data, &mut model, CoderKind::Arithmetic).unwrap();
            let mut out = vec![0; data.len()];
            decode_frequency(4, CoderKind::Arithmetic, order, &one, &mut out).unwrap();
            assert_eq!(out, data);
            assert!(decode_frequency(5, CoderKind::Arithmetic, order, &one, &mut out).is_err());
            let (rans, _) = encode_frequency(&data, order, CoderKind::Rans).unwrap();
            for version in [4, 5] {
                let mut out = vec![0; data.len()];
                decode_frequency(version, CoderKind::Rans, order, &rans, &mut out).unwrap();
                assert_eq!(out, data);
            }
        }
    }

    /// Hostile two-stream payloads: a stream-0 length past the payload, of the wrong
    /// parity, or shifted by a byte; either stream cut; a byte added after either; an
    /// empty payload. Every one is an error, not a panic.
    #[test]
    fn hostile_two_stream_payloads_are_errors() {
        let data = sample(5000);
        for order in [0, 1] {
            let (payload, _) = encode_frequency(&data, order, CoderKind::Arithmetic).unwrap();
            let (s0, s1) = crate::coder::split_pair(&payload).unwrap();
            let field = payload.len() - s0.len() - s1.len();
            let decode = |p: &[u8]| {
                let mut out = vec![0; data.len()];
                decode_frequency(5, CoderKind::Arithmetic, order, p, &mut out).map(|()| out)
            };
            assert_eq!(decode(&payload).unwrap(), data);
            let with_field = |d: i64, s0: &[u8], s1: &[u8]| pair_with(&[], d, s0, s1);
            let d = s0.len() as i64 - s1.len() as i64;
            assert_eq!(with_field(d, s0, s1), payload);
            let rest = (s0.len() + s1.len()) as i64;
            let bad = [
                with_field(rest + 2, s0, s1), // stream 0 longer than the payload
                with_field(-rest - 2, s0, s1),
                with_field(d + 1, s0, s1), // parity
                with_field(d + 2, s0, s1), // stream 0 takes a byte of stream 1
                with_field(d - 2, s0, s1),
                with_field(d, &s0[..s0.len() - 1], s1), // both cut ...
                with_field(d - 1, s0, &s1[..s1.len() - 1]),
                with_field(d - 1, &s0[..s0.len() - 1], &s1[..s1.len() - 1]),
                with_field(d + 1, &[s0, &[0]].concat(), s1), // ... trailing bytes
                with_field(d - 1, s0, &[s1, &[0]].concat()),
                payload[..field].to_vec(),
                Vec::new(),
            ];
            for (i, p) in bad.iter().enumerate() {
                assert!(decode(p).is_err(), "order {order}, case {i}");
            }
        }
    }

    /// The static order-0 payload of `data` with `coder` (rANS or arithmetic), where its
    /// table (with the scale byte) ends, and the table read back.
    fn order0_parts(data: &[u8], coder: CoderKind) -> (Header, Vec<u8>, FreqTable, usize) {
        let o = Options::new(ModelKind::Static, 0, coder).unwrap();
        let header = o.header();
        let (payload, _) = encode_static_order0(data, &o).unwrap();
        let (scale, rest) = split_scale(&payload, header.scale_bits.into(), "scale").unwrap();
        let (table, used) = read_freq_table(&header, rest, scale).unwrap();
        let table_end = payload.len() - rest.len() + used;
        (header, payload, table, table_end)
    }

    /// From version 6 a static order-0 rANS block of at least `TWO_STREAMS_MIN` bytes is
    /// two streams, the halves as `rans::decode_order0` reads each, after the length of
    /// the first; a smaller block is one stream. A version-5 frame's one-stream payload
    /// of a large block still decodes, and each layout is refused under the other
    /// version.
    #[test]
    fn large_static_rans_blocks_are_two_streams_from_version_6() {
        for n in [
            TWO_STREAMS_MIN - 1,
            TWO_STREAMS_MIN,
            TWO_STREAMS_MIN + 1,
            100_001,
        ] {
            let data = sample(n);
            let (h6, payload, table, table_end) = order0_parts(&data, CoderKind::Rans);
            let h5 = Header { version: 5, ..h6 };
            assert_eq!(h6.version, 6);
            let stream = &payload[table_end..];
            let mut out = vec![0; n];
            decode_static_order0(&h6, &payload, &mut out).unwrap();
            assert_eq!(out, data, "{n} bytes");
            let mut one = vec![0; n];
            let as_one = rans::decode_order0(stream, &table, &mut one);
            if n < TWO_STREAMS_MIN {
                as_one.unwrap();
                assert_eq!(one, data);
                continue;
            }
            assert!(as_one.is_err(), "{n} bytes");
            let (a, b) = split_pair(stream).unwrap();
            assert_eq!(crate::coder::join_pair(a, b), stream);
            let h = n / 2;
            let mut half = vec![0; h];
            rans::decode_order0(a, &table, &mut half).unwrap();
            assert_eq!(half, data[..h]);
            let mut half = vec![0; n - h];
            rans::decode_order0(b, &table, &mut half).unwrap();
            assert_eq!(half, data[h..]);
            assert!(decode_static_order0(&h5, &payload, &mut out).is_err());
            let mut v5 = payload[..table_end].to_vec();
            v5.extend(rans::encode_order0(&data, &table).unwrap());
            out.fill(0);
            decode_static_order0(&h5, &v5, &mut out).unwrap();
            assert_eq!(out, data, "version 5, {n} bytes");
            assert!(decode_static_order0(&h6, &v5, &mut out).is_err());
        }
    }

    /// From version 6 a static order-0 arithmetic block of at least `TWO_STREAMS_MIN`
    /// bytes is two range coders taking turns (`range::decode_order0_pair`); a smaller
    /// block is one stream. A version-5 frame's one-stream payload of a large block
    /// still decodes, and neither layout decodes to the data under the other version.
    #[test]
    fn large_static_arithmetic_blocks_are_two_coders_from_version_6() {
        for n in [TWO_STREAMS_MIN - 1, TWO_STREAMS_MIN, TWO_STREAMS_MIN + 1] {
            let data = sample(n);
            let (h6, payload, table, table_end) = order0_parts(&data, CoderKind::Arithmetic);
            let h5 = Header { version: 5, ..h6 };
            let stream = &payload[table_end..];
            let mut out = vec![0; n];
            decode_static_order0(&h6, &payload, &mut out).unwrap();
            assert_eq!(out, data, "{n} bytes");
            out.fill(0);
            let as_one = range::decode_order0(stream, &table, &mut out);
            if n < TWO_STREAMS_MIN {
                as_one.unwrap();
                assert_eq!(out, data);
                continue;
            }
            assert!(as_one.is_err() || out != data, "{n} bytes");
            out.fill(0);
            range::decode_order0_pair(stream, &table, &mut out).unwrap();
            assert_eq!(out, data);
            let v5_reading = decode_static_order0(&h5, &payload, &mut out);
            assert!(v5_reading.is_err() || out != data);
            let mut v5 = payload[..table_end].to_vec();
            v5.extend(range::encode_order0(&data, &table).unwrap());
            out.fill(0);
            decode_static_order0(&h5, &v5, &mut out).unwrap();
            assert_eq!(out, data, "version 5, {n} bytes");
            let v6_reading = decode_static_order0(&h6, &v5, &mut out);
            assert!(v6_reading.is_err() || out != data);
        }
    }

    /// Hostile two-stream rANS payloads: a length difference past the end, a word off
    /// either way, either stream cut or lengthened, the field alone, nothing. Every one
    /// is an error, not a panic.
    #[test]
    fn hostile_rans_halves_are_errors() {
        let data = sample(TWO_STREAMS_MIN + 77);
        let (header, payload, _, table_end) = order0_parts(&data, CoderKind::Rans);
        let (a, b) = split_pair(&payload[table_end..]).unwrap();
        let with = |d: i64, a: &[u8], b: &[u8]| pair_with(&payload[..table_end], d, a, b);
        let d = a.len() as i64 - b.len() as i64;
        assert_eq!(with(d, a, b), payload);
        let all = (a.len() + b.len()) as i64;
        let bad = [
            with(all + 2, a, b),
            with(-all - 2, a, b),
            with(i64::MAX, a, b),
            with(d - 8, a, b), // stream a gives stream b a word
            with(d + 8, a, b),
            with(d + 1, a, b), // parity
            with(d - 1, &a[..a.len() - 1], b),
            with(d + 4, a, &b[..b.len() - 4]),
            with(d + 4, &[a, &[0; 4]].concat(), b),
            with(d - 4, a, &[b, &[0; 4]].concat()),
            with(0, &[], &[]),
            payload[..table_end + 1].to_vec(),
            payload[..table_end].to_vec(),
        ];
        for (i, p) in bad.iter().enumerate() {
            let mut out = vec![0; data.len()];
            assert!(
                decode_static_order0(&header, p, &mut out).is_err(),
                "case {i}"
            );
        }
    }
}
