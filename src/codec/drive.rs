//! Driving a stream coder with a model, symbol by symbol, in the right direction.
//!
//! The range coder is FIFO: predict, encode, update, in data order. rANS is LIFO: the
//! decoder must see symbols in data order, so the encoder must receive them last to
//! first. A model can only be run forward (its contexts and adaptation follow the data),
//! so for rANS the encoder runs the model forward, buffers each `(start, freq, scale)`,
//! then feeds the buffer to the rANS encoder in reverse. This file is the only place
//! that knows about direction.

use crate::coder::{Decode, Encode};
use crate::error::Result;
use crate::model::{Distribution, Model};

/// Order in which an encoder consumes symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// First symbol first (range coder).
    Fifo,
    /// Last symbol first (rANS).
    Lifo,
}

/// Runs `model` over `data` and codes every symbol with `coder`; returns the stream and
/// the model's code length in bits (the cross entropy of the distributions the coder
/// actually used, times n).
pub fn encode_with_model<M: Model, E: Encode>(
    data: &[u8],
    model: &mut M,
    mut coder: E,
    direction: Direction,
) -> Result<(Vec<u8>, f64)> {
    let mut bits = 0.0;
    match direction {
        Direction::Fifo => {
            for &s in data {
                let d = model.predict();
                let scale = d.scale_bits();
                let iv = d.interval(s)?;
                bits += f64::from(scale) - f64::from(iv.freq).log2();
                coder.encode(iv.start, iv.freq, scale);
                model.update(s);
            }
        }
        Direction::Lifo => {
            // One u64 per symbol: start (< 2^16) in bits 0..16, freq - 1 (< 2^16) in bits
            // 16..32, scale (<= 16) in bits 32..40: 8 bytes a symbol while buffering.
            let mut buffered: Vec<u64> = Vec::with_capacity(data.len());
            for &s in data {
                let d = model.predict();
                let scale = d.scale_bits();
                let iv = d.interval(s)?;
                bits += f64::from(scale) - f64::from(iv.freq).log2();
                debug_assert!(scale <= crate::model::MAX_SCALE_BITS && iv.freq >= 1);
                buffered.push(
                    u64::from(iv.start) | u64::from(iv.freq - 1) << 16 | u64::from(scale) << 32,
                );
                model.update(s);
            }
            for &packed in buffered.iter().rev() {
                let start = (packed & 0xffff) as u32;
                let freq = ((packed >> 16) & 0xffff) as u32 + 1;
                coder.encode(start, freq, (packed >> 32) as u32);
            }
        }
    }
    Ok((coder.finish(), bits))
}

/// Decodes `out.len()` symbols with `model` and `coder`, in data order (both directions
/// decode forward), then checks that the stream ended exactly.
pub fn decode_with_model<M: Model, D: Decode>(
    out: &mut [u8],
    model: &mut M,
    mut coder: D,
) -> Result<()> {
    for o in out.iter_mut() {
        let d = model.predict();
        let scale = d.scale_bits();
        let target = coder.peek(scale);
        let (s, iv) = d.symbol_at(target)?;
        coder.consume(iv.start, iv.freq, scale);
        *o = s;
        model.update(s);
    }
    coder.finish()
}
