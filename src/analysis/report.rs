//! Rate decomposition: every byte of a compressed stream, accounted for.
//!
//! # Read me first
//!
//! For each run (one model, order and coder over one input) the compressed stream is
//! split into four parts whose sizes add up to the output length exactly:
//!
//! ```text
//! compressed bytes = framing + tables + stream
//!   framing = frame header (20 B) + trailer (17 B) + per block: kind byte, length
//!             varints, 4-byte check
//!   tables  = model descriptions inside block bodies: the scale byte and frequency
//!             table or Huffman lengths of a static block, the one byte of a run block
//!   stream  = the rest of each body: coded symbols, or the content of a stored block
//! ```
//!
//! and the rate (bits per byte, n = content length) into three terms:
//!
//! ```text
//! achieved      = 8 * compressed / n
//! cross entropy = (1/n) * sum over blocks of model_bits          (BlockCost::model_bits)
//! table/header  = 8 * (framing + tables) / n
//! coder overhead = achieved - cross entropy - table/header  = (8 * stream - model_bits) / n
//! ```
//!
//! Degenerate blocks, so that the identity holds for them too:
//! - *stored* block: `model_bits = 8 * len` (the codec's own [`BlockCost`]); the fallback
//!   shows as model cost, and its coder overhead is exactly 0.
//! - *run* block: `model_bits = 0`; its one byte is the model description (tables).
//!
//! For static models the cross entropy is compared with the per-block empirical entropy
//! `H_k(blocks) = (1/n) * sum_b n_b * H_k(block b)`, the code length a static order-k
//! model built from exact counts would reach (blocks are independent and each block's
//! context starts from zero bytes). `KL = cross entropy - H_k(blocks) >= 0` is the
//! price of quantising the counts to a table (and of stored fallbacks). For a
//! single-block input, `H_k(blocks)` is the file's `H_k`; for several blocks it is at
//! most the file's `H_k` (separate counts per block fit at least as well).
//!
//! Runs come from [`plan_runs`]: every `(model, order, coder)` that [`Options::new`]
//! accepts, so new models and coders show up without changes here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::entropy::{EntropyRow, MAX_ENTROPY_ORDER, conditional_entropy, entropies};
use crate::codec::{BlockCost, Compressor, DEFAULT_BLOCK_SIZE, Options, encode_block};
use crate::error::{Error, Result};
use crate::format::{
    Block, BlockKind, CoderKind, HEADER_LEN, Header, Item, ModelKind, Reader, TRAILER_LEN,
};
use crate::model::Counts;

/// Every model the analyser tries, in report order.
pub const ALL_MODELS: [ModelKind; 3] =
    [ModelKind::Static, ModelKind::Adaptive, ModelKind::Frequency];
/// Every coder the analyser tries, in report order.
pub const ALL_CODERS: [CoderKind; 4] = [
    CoderKind::Huffman,
    CoderKind::Arithmetic,
    CoderKind::Rans,
    CoderKind::Tans,
];
/// Default largest order of the entropy lines and the adaptive runs.
pub const DEFAULT_MAX_ORDER: u32 = 4;
/// Static runs go up to this order by default (tables grow fast with the order).
pub const DEFAULT_MAX_STATIC_ORDER: u32 = 3;

/// What to analyse: orders, models and coders to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyseConfig {
    /// Entropy lines are H_0 ..= H_max_order; default runs stop here too.
    /// At most [`MAX_ENTROPY_ORDER`].
    pub max_order: u32,
    /// Model families to run.
    pub models: Vec<ModelKind>,
    /// Coders to run.
    pub coders: Vec<CoderKind>,
    /// Orders to run for every model; `None`: static `0..=min(max_order, 3)`,
    /// adaptive `0..=max_order`.
    pub orders: Option<Vec<u32>>,
    /// Block size of every run (bytes).
    pub block_size: u64,
}

impl Default for AnalyseConfig {
    /// Orders 0..=4, both model families, all four coders, 1 MiB blocks.
    fn default() -> AnalyseConfig {
        AnalyseConfig {
            max_order: DEFAULT_MAX_ORDER,
            models: ALL_MODELS.to_vec(),
            coders: ALL_CODERS.to_vec(),
            orders: None,
            block_size: u64::from(DEFAULT_BLOCK_SIZE),
        }
    }
}

/// A combination [`Options::new`] (or the block size) refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Model family.
    #[serde(serialize_with = "ser_model")]
    pub model: ModelKind,
    /// Context order.
    pub order: u32,
    /// Coder.
    #[serde(serialize_with = "ser_coder")]
    pub coder: CoderKind,
    /// The refusal's message.
    pub reason: String,
}

/// The runs `config` asks for: every `(model, order, coder)` that [`Options::new`]
/// accepts, in the order models, orders, coders; and the refused ones.
///
/// Errors: [`Error::InvalidOptions`] if `max_order` is above [`MAX_ENTROPY_ORDER`].
pub fn plan_runs(config: &AnalyseConfig) -> Result<(Vec<Options>, Vec<Skipped>)> {
    if config.max_order > MAX_ENTROPY_ORDER {
        return Err(Error::InvalidOptions(format!(
            "--max-order {} is above the largest, {MAX_ENTROPY_ORDER}",
            config.max_order
        )));
    }
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for &model in &config.models {
        let orders: Vec<u32> = match (&config.orders, model) {
            (Some(v), _) => v.clone(),
            (None, ModelKind::Static) => {
                (0..=config.max_order.min(DEFAULT_MAX_STATIC_ORDER)).collect()
            }
            (None, ModelKind::Adaptive) => (0..=config.max_order).collect(),
            (None, ModelKind::Frequency) => {
                (0..=config.max_order.min(crate::model::frequency::MAX_ORDER)).collect()
            }
        };
        for order in orders {
            for &coder in &config.coders {
                match Options::new(model, order, coder)
                    .and_then(|o| o.with_block_size(config.block_size))
                {
                    Ok(o) => runs.push(o),
                    Err(e) => skipped.push(Skipped {
                        model,
                        order,
                        coder,
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }
    Ok((runs, skipped))
}

/// How a run's model bits were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostSource {
    /// From the encoder while compressing (a fresh run).
    Encoder,
    /// From a compressed file: every block, encoded again with the header's options,
    /// gave the same bytes, so the encoder's costs apply exactly.
    ReEncoded,
    /// From a compressed file: static order-0 tables read from the blocks and the
    /// decoded content's counts (at least one block did not re-encode identically).
    TablesRead,
    /// From a compressed file whose blocks neither re-encode identically nor have
    /// tables this build can read: model bits and table bytes are unknown.
    Unknown,
}

/// How many blocks of each kind a run wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlockTally {
    /// Entropy-coded blocks.
    pub entropy: u64,
    /// Stored blocks (coding would not shrink them).
    pub stored: u64,
    /// Run blocks (one byte value).
    pub run: u64,
}

/// One run: a model, order and coder over one input, with where its bytes went.
///
/// Invariant: `compressed_bytes == framing_bytes + table_bytes + stream_bytes` when the
/// last two are known (checked when the run is built).
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Model family.
    pub model: ModelKind,
    /// Context order.
    pub order: u32,
    /// Coder.
    pub coder: CoderKind,
    /// Block size the run used.
    pub block_size: u32,
    /// For a compressed input: the frame this run describes.
    pub frame: Option<usize>,
    /// Content bytes n.
    pub raw_bytes: u64,
    /// Bytes of the compressed stream (the whole frame).
    pub compressed_bytes: u64,
    /// Frame header, trailer and per-block framing bytes.
    pub framing_bytes: u64,
    /// Model descriptions inside block bodies (tables, run bytes); `None` if unknown.
    pub table_bytes: Option<u64>,
    /// Coded symbols and stored content; `None` if unknown.
    pub stream_bytes: Option<u64>,
    /// Sum over blocks of the model's code length (bits); `None` if unknown.
    pub model_bits: Option<f64>,
    /// Static models: sum over blocks of `n_b * H_k(block)` (bits), the ideal code
    /// length of exact per-block counts; `None` for adaptive models.
    pub block_entropy_bits: Option<f64>,
    /// Blocks of each kind.
    pub blocks: BlockTally,
    /// Static models: the distinct orders the blocks were coded with, largest first (an
    /// order-k encoder falls back per block where tables cost more than they save).
    pub orders_used: Vec<u32>,
    /// Where `model_bits` came from.
    pub source: CostSource,
}

impl Run {
    fn per_byte(&self, bits: f64) -> Option<f64> {
        (self.raw_bytes > 0).then(|| bits / self.raw_bytes as f64)
    }

    /// Achieved rate: `8 * compressed / n` bits per byte (`None` for empty input).
    pub fn achieved(&self) -> Option<f64> {
        self.per_byte(8.0 * self.compressed_bytes as f64)
    }

    /// Model cross entropy: `model_bits / n`.
    pub fn cross_entropy(&self) -> Option<f64> {
        self.per_byte(self.model_bits?)
    }

    /// Table and header cost: `8 * (framing + tables) / n`.
    pub fn table(&self) -> Option<f64> {
        self.per_byte(8.0 * (self.framing_bytes + self.table_bytes?) as f64)
    }

    /// Coder overhead: achieved - cross entropy - table/header, computed as
    /// `(8 * stream - model_bits) / n` (the same quantity, without the rounding of
    /// three subtractions: a stored block's overhead is exactly 0).
    pub fn coder_overhead(&self) -> Option<f64> {
        self.per_byte(8.0 * self.stream_bytes? as f64 - self.model_bits?)
    }

    /// Static models: per-block empirical entropy `H_k(blocks)` in bits per byte.
    pub fn block_entropy(&self) -> Option<f64> {
        self.per_byte(self.block_entropy_bits?)
    }

    /// Static models: `KL = cross entropy - H_k(blocks)`, the quantisation cost.
    pub fn kl(&self) -> Option<f64> {
        Some(self.cross_entropy()? - self.block_entropy()?)
    }

    /// "static order-2 rans" and the like.
    pub fn label(&self) -> String {
        format!(
            "{} order-{} {}",
            self.model.name(),
            self.order,
            self.coder.name()
        )
    }
}

/// The analysis of one input file.
#[derive(Clone, Debug, PartialEq)]
pub struct FileReport {
    /// The name as given.
    pub path: String,
    /// Content bytes n (decompressed, for a compressed input).
    pub bytes: u64,
    /// The input was a `.shc` file, analysed as it stands.
    pub compressed_input: bool,
    /// H_0 ..= H_K.
    pub entropy: Vec<EntropyRow>,
    /// One per run (per frame for a compressed input).
    pub runs: Vec<Run>,
    /// Combinations that were refused.
    pub skipped: Vec<Skipped>,
}

/// One block of a compressed stream, as read back from the bytes.
struct ReadBlock {
    block: Block,
    /// Bytes of the block in the file minus its body: kind, varints, check.
    framing: u64,
}

/// One frame of a compressed stream, as read back from the bytes.
struct ReadFrame {
    header: Header,
    blocks: Vec<ReadBlock>,
    /// Bytes of the frame in the stream.
    len: u64,
}

/// Splits a compressed stream into frames and blocks without decoding them. The caller
/// decodes (and so verifies) the stream separately.
fn read_frames(packed: &[u8]) -> Result<Vec<ReadFrame>> {
    let mut reader = Reader::new(packed);
    let mut frames = Vec::new();
    let mut next = reader.header()?;
    while let Some(header) = next {
        let start = reader.consumed() - HEADER_LEN as u64;
        let mut blocks = Vec::new();
        loop {
            let before = reader.consumed();
            match reader.item(&header)? {
                Item::Block(block) => {
                    let framing = reader.consumed() - before - block.body.len() as u64;
                    blocks.push(ReadBlock { block, framing });
                }
                Item::End { .. } => break,
            }
        }
        frames.push(ReadFrame {
            header,
            blocks,
            len: reader.consumed() - start,
        });
        next = reader.next_frame()?;
    }
    Ok(frames)
}

/// Sum over `blocks` of `n_b * H_k(block b)` in bits, or `None` above the largest
/// order the entropy code handles.
fn block_entropy_bits<'a>(blocks: impl Iterator<Item = &'a [u8]>, order: u32) -> Option<f64> {
    (order <= MAX_ENTROPY_ORDER).then(|| {
        blocks
            .map(|b| conditional_entropy(b, order).bits_per_byte * b.len() as f64)
            .sum()
    })
}

/// Bytes split into (framing, tables, stream) and model bits for one block whose cost is
/// known; the run block's byte counts as its table.
fn split_block(rb: &ReadBlock, cost: &BlockCost) -> Result<(u64, u64, f64)> {
    let body = rb.block.body.len() as u64;
    let (table, bits) = match rb.block.kind {
        BlockKind::Entropy => (cost.table_bytes as u64, cost.model_bits),
        BlockKind::Stored => (0, 8.0 * f64::from(rb.block.raw_len)),
        BlockKind::Run => (body, 0.0),
    };
    if table > body {
        return Err(Error::Corrupt {
            what: "analyse: table bytes exceed the block body",
        });
    }
    Ok((table, body - table, bits))
}

/// The order each block of a static frame was coded with: the payload says so for
/// entropy-coded order-k blocks; other blocks count at the header's order.
fn used_orders(blocks: &[ReadBlock], order: u32) -> Result<Vec<u32>> {
    blocks
        .iter()
        .map(|b| {
            if order > 0 && b.block.kind == BlockKind::Entropy {
                crate::model::order_k::payload_order(&b.block.body, order)
            } else {
                Ok(order)
            }
        })
        .collect()
}

/// The distinct values of `orders`, largest first.
fn distinct_desc(orders: &[u32]) -> Vec<u32> {
    let mut v = orders.to_vec();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.dedup();
    v
}

fn tally(blocks: &[ReadBlock]) -> BlockTally {
    let mut t = BlockTally::default();
    for b in blocks {
        match b.block.kind {
            BlockKind::Entropy => t.entropy += 1,
            BlockKind::Stored => t.stored += 1,
            BlockKind::Run => t.run += 1,
        }
    }
    t
}

/// Compresses `data` with `options` through [`Compressor`] (the code `compress` uses),
/// decompresses the result to verify it, and accounts for every output byte.
///
/// `block_entropy` maps an order to `sum_b n_b H_k(block b)` for this block size, a
/// cache shared by runs of one input; missing orders are computed and added.
///
/// Errors: the round trip failed, or the output's bytes do not add up (both bugs).
pub fn run(
    data: &[u8],
    options: &Options,
    block_entropy: &mut BTreeMap<u32, Option<f64>>,
) -> Result<Run> {
    let mut c = Compressor::new(Vec::new(), *options)?;
    c.push(data)?;
    let (packed, summary, infos) = c.finish()?;
    if crate::decompress(&packed)? != data {
        return Err(Error::Corrupt {
            what: "analyse: decompressed content differs from the input",
        });
    }
    let frames = read_frames(&packed)?;
    let [frame] = &frames[..] else {
        return Err(Error::Corrupt {
            what: "analyse: the compressor wrote other than one frame",
        });
    };
    if frame.blocks.len() != infos.len() || summary.compressed_bytes != packed.len() as u64 {
        return Err(Error::Corrupt {
            what: "analyse: the compressor's block list disagrees with its output",
        });
    }
    let mut framing = (HEADER_LEN + TRAILER_LEN) as u64;
    let (mut tables, mut stream, mut bits) = (0u64, 0u64, 0.0f64);
    for (rb, info) in frame.blocks.iter().zip(&infos) {
        let cost = info.cost.ok_or(Error::Corrupt {
            what: "analyse: the compressor gave no block cost",
        })?;
        let (t, s, b) = split_block(rb, &cost)?;
        framing += rb.framing;
        tables += t;
        stream += s;
        bits += b;
    }
    if framing + tables + stream != packed.len() as u64 {
        return Err(Error::Corrupt {
            what: "analyse: framing, tables and stream do not add up to the output",
        });
    }
    let used = match options.model() {
        ModelKind::Static => used_orders(&frame.blocks, options.order())?,
        ModelKind::Adaptive | ModelKind::Frequency => Vec::new(),
    };
    let entropy_bits = match options.model() {
        ModelKind::Static => {
            // A static order-k encoder may fall back to a lower order per block; the
            // entropy it can reach is then that order's.
            if used.iter().all(|&k| k == options.order()) {
                *block_entropy.entry(options.order()).or_insert_with(|| {
                    block_entropy_bits(data.chunks(options.block_size() as usize), options.order())
                })
            } else {
                data.chunks(options.block_size() as usize)
                    .zip(&used)
                    .map(|(b, &k)| block_entropy_bits(std::iter::once(b), k))
                    .sum::<Option<f64>>()
            }
        }
        ModelKind::Adaptive | ModelKind::Frequency => None,
    };
    Ok(Run {
        model: options.model(),
        order: options.order(),
        coder: options.coder(),
        block_size: options.block_size(),
        frame: None,
        raw_bytes: data.len() as u64,
        compressed_bytes: packed.len() as u64,
        framing_bytes: framing,
        table_bytes: Some(tables),
        stream_bytes: Some(stream),
        model_bits: Some(bits),
        block_entropy_bits: entropy_bits,
        blocks: tally(&frame.blocks),
        orders_used: distinct_desc(&used),
        source: CostSource::Encoder,
    })
}

/// Analyses raw content: entropies, then every run `config` plans.
///
/// Errors: an invalid `config` ([`Error::InvalidOptions`]) or a failed run (a bug).
pub fn analyse(path: &str, data: &[u8], config: &AnalyseConfig) -> Result<FileReport> {
    let (plan, skipped) = plan_runs(config)?;
    let entropy = entropies(data, config.max_order);
    let mut cache = BTreeMap::new();
    // With one block, per-block H_k is the file's H_k: reuse the lines above.
    if data.len() as u64 <= config.block_size {
        for row in &entropy {
            cache.insert(row.order, Some(row.bits_per_byte * data.len() as f64));
        }
    }
    let runs = plan
        .iter()
        .map(|o| run(data, o, &mut cache))
        .collect::<Result<Vec<_>>>()?;
    Ok(FileReport {
        path: path.to_string(),
        bytes: data.len() as u64,
        compressed_input: false,
        entropy,
        runs,
        skipped,
    })
}

/// Table bytes and model bits of a static order-0 entropy block read from its own
/// tables (the layouts of `docs/FORMAT.md`) and the decoded content's counts.
fn static_order0_cost(header: &Header, body: &[u8], content: &[u8]) -> Result<BlockCost> {
    let counts = Counts::of(content);
    let corrupt = Error::Corrupt {
        what: "analyse: block table unreadable",
    };
    match header.coder {
        CoderKind::Huffman => {
            let (code, used) = crate::codec::read_huffman_table(header, body)?;
            let bits = code.cost_bits(&counts);
            if bits == u64::MAX {
                return Err(corrupt);
            }
            Ok(BlockCost {
                table_bytes: used,
                model_bits: bits as f64,
            })
        }
        CoderKind::Arithmetic | CoderKind::Rans | CoderKind::Tans => {
            // One byte of scale (table log for tANS), then the frequency table.
            let (&scale, rest) = body.split_first().ok_or(corrupt)?;
            let (table, used) = crate::codec::read_freq_table(header, rest, scale.into())?;
            if (0..256).any(|s| counts.0[s] > 0 && table.freqs()[s] == 0) {
                return Err(Error::Corrupt {
                    what: "analyse: decoded symbol absent from the block's table",
                });
            }
            Ok(BlockCost {
                table_bytes: 1 + used,
                model_bits: table.cost_bits(&counts),
            })
        }
    }
}

/// Analyses an existing `.shc` stream: decodes it (verifying every check), computes
/// the content's entropies, and decomposes each frame as a run.
///
/// Model bits are recovered per block by encoding the decoded content again with the
/// header's options: when that gives the same bytes (a file this build wrote), the
/// encoder's costs apply exactly. Otherwise static order-0 blocks are costed from
/// their own tables and the content's counts; other blocks are unknown, and the run
/// reports its model bits, tables and coder overhead as unknown. `max_order` bounds the
/// entropy lines.
///
/// Errors: any decoding error of the stream; `max_order` above [`MAX_ENTROPY_ORDER`].
pub fn analyse_compressed(path: &str, packed: &[u8], max_order: u32) -> Result<FileReport> {
    if max_order > MAX_ENTROPY_ORDER {
        return Err(Error::InvalidOptions(format!(
            "--max-order {max_order} is above the largest, {MAX_ENTROPY_ORDER}"
        )));
    }
    let content = crate::decompress(packed)?;
    let frames = read_frames(packed)?;
    let mut runs = Vec::new();
    let mut pos = 0usize;
    for (index, frame) in frames.iter().enumerate() {
        let options = Options::from_header(&frame.header);
        let mut framing = (HEADER_LEN + TRAILER_LEN) as u64;
        let (mut tables, mut stream, mut bits) = (0u64, 0u64, 0.0f64);
        let mut source = CostSource::ReEncoded;
        let mut contents: Vec<&[u8]> = Vec::with_capacity(frame.blocks.len());
        for rb in &frame.blocks {
            // decompress() verified every length, so the split is in bounds.
            let n = rb.block.raw_len as usize;
            let block_content = content.get(pos..pos + n).ok_or(Error::Corrupt {
                what: "analyse: blocks longer than the content",
            })?;
            pos += n;
            contents.push(block_content);
            framing += rb.framing;
            let cost = match rb.block.kind {
                BlockKind::Entropy => {
                    let (again, cost) = encode_block(block_content, &options);
                    if again == rb.block {
                        Some(cost)
                    } else if frame.header.model == ModelKind::Static && frame.header.order == 0 {
                        source = source.max_with(CostSource::TablesRead);
                        Some(static_order0_cost(
                            &frame.header,
                            &rb.block.body,
                            block_content,
                        )?)
                    } else {
                        source = CostSource::Unknown;
                        None
                    }
                }
                _ => Some(BlockCost::default()),
            };
            if let Some(cost) = cost {
                let (t, s, b) = split_block(rb, &cost)?;
                tables += t;
                stream += s;
                bits += b;
            }
        }
        let known = source != CostSource::Unknown;
        if known && framing + tables + stream != frame.len {
            return Err(Error::Corrupt {
                what: "analyse: framing, tables and stream do not add up to the frame",
            });
        }
        let h = &frame.header;
        let used = match h.model {
            ModelKind::Static => used_orders(&frame.blocks, h.order.into())?,
            ModelKind::Adaptive | ModelKind::Frequency => Vec::new(),
        };
        runs.push(Run {
            model: h.model,
            order: h.order.into(),
            coder: h.coder,
            block_size: h.block_size,
            frame: Some(index),
            raw_bytes: contents.iter().map(|c| c.len() as u64).sum(),
            compressed_bytes: frame.len,
            framing_bytes: framing,
            table_bytes: known.then_some(tables),
            stream_bytes: known.then_some(stream),
            model_bits: known.then_some(bits),
            block_entropy_bits: match h.model {
                ModelKind::Static => contents
                    .iter()
                    .zip(&used)
                    .map(|(&b, &k)| block_entropy_bits(std::iter::once(b), k))
                    .sum::<Option<f64>>(),
                ModelKind::Adaptive | ModelKind::Frequency => None,
            },
            blocks: tally(&frame.blocks),
            orders_used: distinct_desc(&used),
            source,
        });
    }
    Ok(FileReport {
        path: path.to_string(),
        bytes: content.len() as u64,
        compressed_input: true,
        entropy: entropies(&content, max_order),
        runs,
        skipped: Vec::new(),
    })
}

impl CostSource {
    /// The weaker of two sources (re-encoded < tables read < unknown).
    fn max_with(self, other: CostSource) -> CostSource {
        let rank = |s: CostSource| match s {
            CostSource::Encoder | CostSource::ReEncoded => 0,
            CostSource::TablesRead => 1,
            CostSource::Unknown => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// "static k=1..3 {huffman, rans}; adaptive k=0..4 {huffman, tans}": per model, runs of
/// consecutive orders refused for the same coders.
fn skipped_summary(skipped: &[Skipped]) -> String {
    let mut parts = Vec::new();
    for model in ALL_MODELS {
        let mut by_order: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for k in skipped.iter().filter(|k| k.model == model) {
            by_order.entry(k.order).or_default().push(k.coder.name());
        }
        let mut groups: Vec<(u32, u32, Vec<&str>)> = Vec::new();
        for (order, coders) in by_order {
            match groups.last_mut() {
                Some((_, last, c)) if *last + 1 == order && *c == coders => *last = order,
                _ => groups.push((order, order, coders)),
            }
        }
        for (first, last, coders) in groups {
            let orders = if first == last {
                format!("k={first}")
            } else {
                format!("k={first}..{last}")
            };
            parts.push(format!(
                "{} {orders} {{{}}}",
                model.name(),
                coders.join(", ")
            ));
        }
    }
    parts.join("; ")
}

fn fmt_opt(v: Option<f64>, width: usize) -> String {
    match v {
        Some(x) => format!("{x:>width$.4}"),
        None => format!("{:>width$}", "-"),
    }
}

/// The text report of one file: size, entropy lines, then one aligned row per run.
pub fn render_text(report: &FileReport) -> String {
    let mut s = String::new();
    let kind = if report.compressed_input {
        " (decompressed)"
    } else {
        ""
    };
    let _ = writeln!(s, "{}: {} bytes{kind}", report.path, report.bytes);
    for row in &report.entropy {
        let _ = writeln!(
            s,
            "  H_{:<2} = {:.4} bits/byte  ({} context{})",
            row.order,
            row.bits_per_byte,
            row.contexts,
            if row.contexts == 1 { "" } else { "s" }
        );
    }
    if report.runs.is_empty() {
        let _ = writeln!(s, "  (no runs)");
    } else {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  {:<8} {:>4} {:<10} {:>10} {:>8} = {:>8} + {:>8} + {:>8}  {:>8} {:>8}  {:>8}",
            "model",
            "k",
            "coder",
            "bytes",
            "achieved",
            "cross-H",
            "tbl+hdr",
            "coder",
            "H_k(blk)",
            "KL",
            "blocks"
        );
        for r in &report.runs {
            let blocks = format!("{}/{}/{}", r.blocks.entropy, r.blocks.stored, r.blocks.run);
            // "3>2": asked for order 3, the blocks used order 2.
            let k = if r.orders_used.iter().any(|&u| u != r.order) {
                let used: Vec<String> = r.orders_used.iter().map(u32::to_string).collect();
                format!("{}>{}", r.order, used.join(","))
            } else {
                r.order.to_string()
            };
            let _ = writeln!(
                s,
                "  {:<8} {:>4} {:<10} {:>10} {} = {} + {} + {}  {} {}  {:>8}",
                r.model.name(),
                k,
                r.coder.name(),
                r.compressed_bytes,
                fmt_opt(r.achieved(), 8),
                fmt_opt(r.cross_entropy(), 8),
                fmt_opt(r.table(), 8),
                fmt_opt(r.coder_overhead(), 8),
                fmt_opt(r.block_entropy(), 8),
                fmt_opt(r.kl(), 8),
                blocks
            );
        }
        let _ = writeln!(
            s,
            "  (bits per byte; blocks = entropy/stored/run; a stored block counts 8 bits/byte \
             as model cost,\n   a run block's byte as table; H_k(blk) = the per-block H_k \
             a static model can reach at the order each block used\n   (k \"3>2\": asked for \
             order 3, blocks used order 2); KL = cross-H - H_k(blk))"
        );
        for r in report.runs.iter().filter(|r| r.frame.is_some()) {
            let source = match r.source {
                CostSource::Encoder | CostSource::ReEncoded => {
                    "model bits exact (blocks re-encode identically)"
                }
                CostSource::TablesRead => "model bits from the blocks' own tables and counts",
                CostSource::Unknown => {
                    "model bits and tables cannot be recovered (blocks do not re-encode \
                     identically and their tables are not readable here)"
                }
            };
            let _ = writeln!(
                s,
                "  frame {} ({}): {} content bytes; {source}",
                r.frame.unwrap_or(0),
                r.label(),
                r.raw_bytes
            );
        }
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(
            s,
            "  not run (Options::new refuses them; reasons in --json): {}",
            skipped_summary(&report.skipped)
        );
    }
    s
}

fn ser_model<S: serde::Serializer>(m: &ModelKind, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(m.name())
}

fn ser_coder<S: serde::Serializer>(c: &CoderKind, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(c.name())
}

/// JSON shape of a run (documented in README.md, "Analyser JSON").
#[derive(Serialize)]
struct RunJson<'a> {
    model: &'static str,
    order: u32,
    coder: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    orders_used: Vec<u32>,
    block_size: u32,
    blocks: BlockTally,
    compressed_bytes: u64,
    framing_bytes: u64,
    table_bytes: Option<u64>,
    stream_bytes: Option<u64>,
    model_bits: Option<f64>,
    achieved_bits_per_byte: Option<f64>,
    cross_entropy_bits_per_byte: Option<f64>,
    table_bits_per_byte: Option<f64>,
    coder_overhead_bits_per_byte: Option<f64>,
    entropy_bits_per_byte: Option<f64>,
    kl_bits_per_byte: Option<f64>,
    model_bits_source: &'a CostSource,
}

#[derive(Serialize)]
struct EntropyJson {
    order: u32,
    bits_per_byte: f64,
    contexts: u64,
}

#[derive(Serialize)]
struct FileJson<'a> {
    path: &'a str,
    bytes: u64,
    compressed_input: bool,
    entropy: Vec<EntropyJson>,
    runs: Vec<RunJson<'a>>,
    skipped: &'a [Skipped],
}

#[derive(Serialize)]
struct ReportJson<'a> {
    files: Vec<FileJson<'a>>,
}

/// One JSON document describing every file (field list in README.md, "Analyser JSON").
pub fn render_json(files: &[FileReport]) -> String {
    let doc = ReportJson {
        files: files
            .iter()
            .map(|f| FileJson {
                path: &f.path,
                bytes: f.bytes,
                compressed_input: f.compressed_input,
                entropy: f
                    .entropy
                    .iter()
                    .map(|e| EntropyJson {
                        order: e.order,
                        bits_per_byte: e.bits_per_byte,
                        contexts: e.contexts,
                    })
                    .collect(),
                runs: f
                    .runs
                    .iter()
                    .map(|r| RunJson {
                        model: r.model.name(),
                        order: r.order,
                        coder: r.coder.name(),
                        frame: r.frame,
                        orders_used: r.orders_used.clone(),
                        block_size: r.block_size,
                        blocks: r.blocks,
                        compressed_bytes: r.compressed_bytes,
                        framing_bytes: r.framing_bytes,
                        table_bytes: r.table_bytes,
                        stream_bytes: r.stream_bytes,
                        model_bits: r.model_bits,
                        achieved_bits_per_byte: r.achieved(),
                        cross_entropy_bits_per_byte: r.cross_entropy(),
                        table_bits_per_byte: r.table(),
                        coder_overhead_bits_per_byte: r.coder_overhead(),
                        entropy_bits_per_byte: r.block_entropy(),
                        kl_bits_per_byte: r.kl(),
                        model_bits_source: &r.source,
                    })
                    .collect(),
                skipped: &f.skipped,
            })
            .collect(),
    };
    // Serialising plain structs of numbers and strings cannot fail.
    serde_json::to_string_pretty(&doc).expect("report serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FreqTable;
    use proptest::prelude::*;

    fn check_run(r: &Run) {
        let a = r.achieved().unwrap();
        let x = r.cross_entropy().unwrap();
        let t = r.table().unwrap();
        let o = r.coder_overhead().unwrap();
        assert!(
            a >= x - 1e-9,
            "{}: achieved {a} < cross entropy {x}",
            r.label()
        );
        assert!((x + t + o - a).abs() < 1e-9, "{}", r.label());
        // The overhead is also what the stream bytes cost beyond the model bits.
        let n = r.raw_bytes as f64;
        let from_stream = (8.0 * r.stream_bytes.unwrap() as f64 - r.model_bits.unwrap()) / n;
        assert!((from_stream - o).abs() < 1e-9, "{}", r.label());
        assert_eq!(
            r.framing_bytes + r.table_bytes.unwrap() + r.stream_bytes.unwrap(),
            r.compressed_bytes
        );
        if r.model == ModelKind::Static {
            assert!(r.kl().unwrap() >= -1e-9, "{}: KL {:?}", r.label(), r.kl());
        }
    }

    fn corpus(name: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        std::fs::read(root.join(name)).unwrap()
    }

    #[test]
    fn plan_keeps_what_options_accept() {
        let (runs, skipped) = plan_runs(&AnalyseConfig::default()).unwrap();
        for o in &runs {
            assert!(Options::new(o.model(), o.order(), o.coder()).is_ok());
        }
        for k in &skipped {
            assert!(Options::new(k.model, k.order, k.coder).is_err());
        }
        // Static orders 0..=3, adaptive 0..=4 and frequency 0..=1, times four coders.
        assert_eq!(runs.len() + skipped.len(), (4 + 5 + 2) * 4);
        assert!(
            runs.iter()
                .any(|o| o.model() == ModelKind::Adaptive && o.order() == 4)
        );
        let too_high = AnalyseConfig {
            max_order: MAX_ENTROPY_ORDER + 1,
            ..AnalyseConfig::default()
        };
        assert!(plan_runs(&too_high).is_err());
    }

    #[test]
    fn decomposition_adds_up_with_many_blocks_and_degenerate_ones() {
        // Text, then a long run of one byte, then noise: with 4 KiB blocks this gives
        // entropy, run and stored blocks in one input.
        let mut data = corpus("canterbury/xargs.1");
        data.extend(std::iter::repeat_n(b'z', 9000));
        let mut x: u32 = 12345;
        data.extend((0..5000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        let config = AnalyseConfig {
            max_order: 2,
            block_size: 4096,
            ..AnalyseConfig::default()
        };
        let report = analyse("mixed", &data, &config).unwrap();
        assert!(!report.runs.is_empty());
        let mut seen = BlockTally::default();
        for r in &report.runs {
            check_run(r);
            seen.entropy += r.blocks.entropy;
            seen.stored += r.blocks.stored;
            seen.run += r.blocks.run;
        }
        assert!(
            seen.entropy > 0 && seen.stored > 0 && seen.run > 0,
            "{seen:?}"
        );
        // Per-block H_k is at most the file's H_k, at the lowest order a block used
        // (blocks that fell back to a lower order can reach only that order's entropy).
        for r in report.runs.iter().filter(|r| r.model == ModelKind::Static) {
            let lowest = r.orders_used.last().copied().unwrap_or(r.order);
            assert!(lowest <= r.order);
            let file_h = report.entropy[lowest as usize].bits_per_byte;
            assert!(r.block_entropy().unwrap() <= file_h + 1e-9);
        }
    }

    #[test]
    fn compressed_input_gives_the_same_decomposition() {
        let data = corpus("canterbury/grammar.lsp");
        let config = AnalyseConfig {
            max_order: 2,
            ..AnalyseConfig::default()
        };
        let (plan, _) = plan_runs(&config).unwrap();
        for o in plan {
            let mut cache = BTreeMap::new();
            let fresh = run(&data, &o, &mut cache).unwrap();
            let packed = crate::compress(&data, &o);
            let read = analyse_compressed("x.shc", &packed, 2).unwrap();
            assert_eq!(read.bytes, data.len() as u64);
            let [r] = &read.runs[..] else {
                panic!("one frame")
            };
            assert_eq!(r.source, CostSource::ReEncoded);
            assert_eq!(r.compressed_bytes, fresh.compressed_bytes);
            assert_eq!(r.table_bytes, fresh.table_bytes);
            assert_eq!(r.model_bits, fresh.model_bits);
            assert_eq!(r.block_entropy_bits, fresh.block_entropy_bits);
            check_run(r);
        }
    }

    #[test]
    fn static_order0_tables_give_the_encoders_bits() {
        // The fallback path (tables read from the block) must agree with the encoder.
        let data = corpus("canterbury/xargs.1");
        for coder in [CoderKind::Huffman, CoderKind::Arithmetic, CoderKind::Rans] {
            let o = Options::new(ModelKind::Static, 0, coder).unwrap();
            let (block, cost) = encode_block(&data, &o);
            assert_eq!(block.kind, BlockKind::Entropy);
            let got = static_order0_cost(&o.header(), &block.body, &data).unwrap();
            assert_eq!(got.table_bytes, cost.table_bytes, "{coder:?}");
            assert!((got.model_bits - cost.model_bits).abs() < 1e-6, "{coder:?}");
        }
    }

    #[test]
    fn foreign_static_block_is_costed_from_its_own_table() {
        // A block with a table scale this encoder would not pick (one below its
        // choice): re-encoding differs, so the cost must come from the block's table.
        let data = corpus("canterbury/xargs.1");
        let o = Options::new(ModelKind::Static, 0, CoderKind::Rans).unwrap();
        let counts = Counts::of(&data);
        let scale = encode_block(&data, &o).0.body[0] - 1;
        let table = FreqTable::from_counts(&counts, scale.into()).unwrap();
        let mut body = vec![scale];
        crate::model::compact::write_freq_table(&table, &mut body);
        let table_bytes = body.len();
        body.extend(crate::coder::rans::encode_order0(&data, &table).unwrap());
        let block = Block {
            kind: BlockKind::Entropy,
            raw_len: data.len() as u32,
            body,
            check: crate::format::block_check(&data),
        };
        assert_ne!(
            encode_block(&data, &o).0,
            block,
            "the test needs a foreign block"
        );
        let mut packed = o.header().to_bytes().to_vec();
        crate::format::write_block(&mut packed, &block, &o.header()).unwrap();
        let hash = twox_hash::XxHash3_64::oneshot(&data);
        crate::format::write_trailer(&mut packed, data.len() as u64, hash).unwrap();
        let report = analyse_compressed("foreign.shc", &packed, 0).unwrap();
        let [r] = &report.runs[..] else {
            panic!("one frame")
        };
        assert_eq!(r.source, CostSource::TablesRead);
        assert_eq!(r.table_bytes, Some(table_bytes as u64));
        let bits = table.cost_bits(&counts);
        assert!((r.model_bits.unwrap() - bits).abs() < 1e-9);
        check_run(r);
        assert!(render_text(&report).contains("own tables"));
    }

    #[test]
    fn empty_input_has_no_rates() {
        let report = analyse("empty", &[], &AnalyseConfig::default()).unwrap();
        for r in &report.runs {
            assert_eq!(r.compressed_bytes, (HEADER_LEN + TRAILER_LEN) as u64);
            assert_eq!(r.achieved(), None);
        }
        let text = render_text(&report);
        assert!(text.contains("empty: 0 bytes"));
        let v: serde_json::Value = serde_json::from_str(&render_json(&[report])).unwrap();
        assert!(v["files"][0]["runs"][0]["achieved_bits_per_byte"].is_null());
    }

    fn small_config() -> AnalyseConfig {
        AnalyseConfig {
            max_order: 1,
            block_size: 256,
            ..AnalyseConfig::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Arbitrary bytes (with the named degenerate inputs mixed in) keep every
        /// invariant of the decomposition, with many small blocks.
        #[test]
        fn decomposition_holds_on_arbitrary_bytes(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..1500),
                proptest::collection::vec(0u8..3, 1..1500),
                (any::<u8>(), 1usize..1500).prop_map(|(b, n)| vec![b; n]),
                Just((0..=255u8).collect::<Vec<u8>>()),
                Just(vec![7u8]),
            ]
        ) {
            let report = analyse("p", &data, &small_config()).unwrap();
            for r in &report.runs {
                if data.is_empty() {
                    prop_assert_eq!(r.achieved(), None);
                } else {
                    check_run(r);
                }
            }
        }

        /// Random bytes, and random damage to a valid stream, give Ok or an error from
        /// the compressed-file analysis: never a panic.
        #[test]
        fn hostile_compressed_input_never_panics(
            junk in proptest::collection::vec(any::<u8>(), 0..400),
            flips in proptest::collection::vec((0usize..4096, 0u8..8), 1..4),
        ) {
            let _ = analyse_compressed("junk", &junk, 1);
            let mut with_magic = crate::format::MAGIC.to_vec();
            with_magic.extend_from_slice(&junk);
            let _ = analyse_compressed("junk", &with_magic, 1);
            let data = corpus("canterbury/grammar.lsp");
            let o = Options::new(ModelKind::Static, 0, CoderKind::Huffman).unwrap();
            let mut packed = crate::compress(&data, &o);
            for (pos, bit) in flips {
                let i = pos % packed.len();
                packed[i] ^= 1 << bit;
            }
            if let Ok(r) = analyse_compressed("flipped", &packed, 1) {
                for run in &r.runs {
                    check_run(run);
                }
            }
        }
    }

    #[test]
    fn damaged_compressed_input_is_an_error() {
        let data = corpus("canterbury/grammar.lsp");
        let mut packed = crate::compress(&data, &Options::default());
        let mid = packed.len() / 2;
        packed[mid] ^= 0x40;
        assert!(analyse_compressed("bad.shc", &packed, 1).is_err());
        assert!(analyse_compressed("short.shc", &packed[..10], 1).is_err());
    }
}
