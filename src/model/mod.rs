//! Probability models: the upper half of the model/coder seam.
//!
//! A model answers two questions about the next symbol (see `DESIGN.md`):
//!
//! 1. *encoding*: what is the interval `[start, start + freq)` of symbol `s`?
//! 2. *decoding*: which symbol's interval holds the target `t` in `[0, 2^scale)`?
//!
//! Both questions are asked of a [`Distribution`], which a [`Model`] hands out for the
//! current context ([`Model::predict`]) before being told what happened
//! ([`Model::update`]). Coders never see a model type, only `(start, freq, scale)`.
//!
//! Every distribution has a power-of-two total `2^scale` so that coders can divide by a
//! shift; every symbol that can occur has `freq >= 1`, and asking for the interval of a
//! symbol with zero frequency is [`Error::ZeroFrequency`], never a panic.

pub mod adaptive;
pub mod compact;
mod counts;
pub mod frequency;
mod normalize;
mod order0;
pub mod order_k;
mod table;

pub use adaptive::{
    AdaptiveDist, AdaptiveModel, DEFAULT_MEMORY, MAX_MEMORY, MAX_ORDER, MIN_MEMORY,
};
pub use counts::Counts;
pub use frequency::{FrequencyDist, FrequencyModel};
pub use normalize::{normalize, quantisation_cost_bits};
pub use order_k::{OrderKTable, StaticOrderK};
pub use order0::StaticOrder0;
pub use table::{FreqTable, read_symbol_set, write_symbol_set};

use crate::coder::Decode;
use crate::error::{Error, Result};

/// Smallest scale (log2 of a distribution's total) any model may use.
pub const MIN_SCALE_BITS: u32 = 1;
/// Largest scale any model may use: the coders' precision is designed around it.
pub const MAX_SCALE_BITS: u32 = 16;

/// The interval `[start, start + freq)` that a symbol owns in `[0, 2^scale)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Cumulative frequency of all symbols before this one.
    pub start: u32,
    /// The symbol's own frequency; `>= 1` for every symbol that can be coded.
    pub freq: u32,
}

/// A distribution over the byte alphabet whose total is `2^scale_bits`.
pub trait Distribution {
    /// log2 of the total; the total is `1 << scale_bits()`.
    fn scale_bits(&self) -> u32;

    /// The interval of `symbol`, or [`Error::ZeroFrequency`] if it cannot occur.
    fn interval(&self, symbol: u8) -> Result<Interval>;

    /// The symbol whose interval holds `target`, and that interval.
    ///
    /// `target` must be below `1 << scale_bits()`; decoders check this before asking,
    /// since a hostile stream can produce any target. Implementations may return
    /// [`Error::Corrupt`] for an out-of-range target instead of panicking.
    fn symbol_at(&self, target: u32) -> Result<(u8, Interval)>;
}

/// A (possibly adaptive) model of a byte sequence.
///
/// Call order, the same on the encoder's and the decoder's side:
/// `predict()` once, code the symbol with the returned distribution, then `update(symbol)`
/// once. A static model ignores `update` except to track its context.
pub trait Model {
    /// The type of distribution this model hands out.
    type Dist: Distribution + ?Sized;

    /// The distribution of the next symbol in the current context.
    fn predict(&mut self) -> &Self::Dist;

    /// Tells the model which symbol occurred.
    fn update(&mut self, symbol: u8);

    /// Decodes `out.len()` symbols from `coder`, learning each: [`decode_symbols`],
    /// which calls `predict`, [`Decode::peek`], [`Distribution::symbol_at`],
    /// [`Decode::consume`] and `update` per symbol. A model may replace it with a
    /// faster loop that decodes the same symbols and leaves the same state (and takes
    /// the same symbols from `coder`; it may ask [`Decode::consume_if`] first).
    fn decode_into<D: Decode>(&mut self, out: &mut [u8], coder: &mut D) -> Result<()> {
        decode_symbols(self, out, coder)
    }

    /// Runs the model over `data`: for each symbol, in order, calls `emit(scale_bits,
    /// interval)` with the interval it is coded with, then learns it. Provided:
    /// [`intervals_of`] (`predict`, [`Distribution::interval`], `update` per symbol); a
    /// model may replace it with a faster loop that emits the same intervals and leaves
    /// the same state.
    fn encode_each<F: FnMut(u32, Interval)>(&mut self, data: &[u8], emit: F) -> Result<()> {
        intervals_of(self, data, emit)
    }
}

/// The plain loop of [`Model::encode_each`].
#[inline(always)]
pub fn intervals_of<M: Model + ?Sized, F: FnMut(u32, Interval)>(
    model: &mut M,
    data: &[u8],
    mut emit: F,
) -> Result<()> {
    for &s in data {
        let d = model.predict();
        let scale = d.scale_bits();
        emit(scale, d.interval(s)?);
        model.update(s);
    }
    Ok(())
}

/// The plain decoding loop of [`Model::decode_into`]: per symbol, `predict`, `peek`,
/// `symbol_at`, `consume` and `update`. Does not call [`Decode::finish`].
#[inline(always)]
pub fn decode_symbols<M: Model + ?Sized, D: Decode>(
    model: &mut M,
    out: &mut [u8],
    coder: &mut D,
) -> Result<()> {
    for o in out.iter_mut() {
        *o = decode_symbol(model, coder)?;
    }
    Ok(())
}

/// One step of [`decode_symbols`]: predict, peek, look the target up, consume, learn;
/// returns the symbol.
#[inline(always)]
pub(crate) fn decode_symbol<M: Model + ?Sized, D: Decode>(
    model: &mut M,
    coder: &mut D,
) -> Result<u8> {
    let d = model.predict();
    let scale = d.scale_bits();
    let target = coder.peek(scale);
    let (s, iv) = d.symbol_at(target)?;
    coder.consume(iv.start, iv.freq, scale);
    model.update(s);
    Ok(s)
}

/// Checks that `scale_bits` lies within [`MIN_SCALE_BITS`]`..=`[`MAX_SCALE_BITS`].
pub fn check_scale(scale_bits: u32) -> Result<()> {
    if !(MIN_SCALE_BITS..=MAX_SCALE_BITS).contains(&scale_bits) {
        return Err(Error::LimitExceeded {
            what: "scale bits",
            got: u64::from(scale_bits),
            max: u64::from(MAX_SCALE_BITS),
        });
    }
    Ok(())
}
