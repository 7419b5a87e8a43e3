//! Driving a stream coder with a model, symbol by symbol, in the right direction.
//!
//! The range coder is FIFO: predict, encode, update, in data order. rANS is LIFO: the
//! decoder must see symbols in data order, so the encoder must receive them last to
//! first. A model can only be run forward (its contexts and adaptation follow the data),
//! so for rANS the encoder runs the model forward, buffers each `(start, freq, scale)`,
//! then feeds the buffer to the rANS encoder in reverse. This file is the only place
//! that knows about direction.

use crate::coder::range::{InterleavedRangeEncoder, RangeEncoder};
use crate::coder::rans::RansEncoder;
use crate::coder::{Decode, Encode};
use crate::error::Result;
use crate::model::{MAX_SCALE_BITS, Model};

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
pub fn encode_with_model<M: Model, E: EncodeReversed>(
    data: &[u8],
    model: &mut M,
    mut coder: E,
    direction: Direction,
) -> Result<(Vec<u8>, f64)> {
    let bits = match direction {
        Direction::Fifo => {
            let mut bits = CodeLength::new();
            // Inlined into the model's loop: out of line, the call and its saved
            // registers cost about 9 instructions a symbol (callgrind, frequency
            // model, kennedy.xls).
            model.encode_each(
                data,
                #[inline(always)]
                |scale, iv| {
                    bits.add(scale, iv.freq);
                    coder.encode(iv.start, iv.freq, scale);
                },
            )?;
            bits.bits()
        }
        Direction::Lifo => {
            // One u64 per symbol: start (< 2^16) in bits 0..16, freq - 1 (< 2^16) in bits
            // 16..32, scale (<= 16) in bits 32..40: 8 bytes a symbol while buffering.
            // Written by index, not pushed: a push keeps the length in memory (its
            // grow path is a call that takes the vector), a load and a store a symbol.
            let mut buffered: Vec<u64> = vec![0; data.len()];
            let mut n = 0;
            // Whether every scale was the largest (bit 32 + MAX_SCALE_BITS's bits
            // ANDed): then the reverse pass takes it as a constant (shifts by an
            // immediate, fewer live registers).
            let mut all = u64::MAX;
            model.encode_each(data, |scale, iv| {
                debug_assert!(scale <= MAX_SCALE_BITS && iv.freq >= 1);
                let packed =
                    u64::from(iv.start) | u64::from(iv.freq - 1) << 16 | u64::from(scale) << 32;
                all &= packed;
                // One interval a symbol: n < data.len() (the Model contract).
                buffered[n] = packed;
                n += 1;
            })?;
            buffered.truncate(n);
            let unpack = |packed: u64| {
                let start = (packed & 0xffff) as u32;
                let freq = ((packed >> 16) & 0xffff) as u32 + 1;
                (start, freq)
            };
            // The code length in its own pass, as four products (symbol i in i % 4),
            // not in the model's loop: there the one product's multiply chained every
            // symbol to the last (4 cycles, more with the moves between register
            // files), and it paced that loop. The same sum of logarithms, rounded in
            // another order (the bound at `CodeLength` holds for each part).
            let mut parts = [(); 4].map(|()| CodeLength::new());
            let mut quads = buffered.chunks_exact(4);
            for q in &mut quads {
                for (part, &packed) in parts.iter_mut().zip(q) {
                    part.add((packed >> 32) as u32, unpack(packed).1);
                }
            }
            for (part, &packed) in parts.iter_mut().zip(quads.remainder()) {
                part.add((packed >> 32) as u32, unpack(packed).1);
            }
            // `scale <= MAX_SCALE_BITS`, so `all >> 32 == MAX_SCALE_BITS` means every
            // scale was MAX_SCALE_BITS (no scale has all its bits and more).
            if all >> 32 == u64::from(MAX_SCALE_BITS) && !buffered.is_empty() {
                coder.encode_reversed(&buffered, |packed| {
                    let (start, freq) = unpack(packed);
                    (start, freq, MAX_SCALE_BITS)
                });
            } else {
                coder.encode_reversed(&buffered, |packed| {
                    let (start, freq) = unpack(packed);
                    (start, freq, (packed >> 32) as u32)
                });
            }
            parts.iter().map(CodeLength::bits).sum()
        }
    };
    Ok((coder.finish(), bits))
}

/// An encoder that can be fed a buffer of symbols last to first in one call (the LIFO
/// direction), which rANS does with its states in registers.
pub trait EncodeReversed: Encode {
    /// Codes `items` last to first with the intervals `(start, freq, scale_bits)` of
    /// `interval`, as [`Encode::encode`] on each would.
    fn encode_reversed<T: Copy, F: FnMut(T) -> (u32, u32, u32)>(
        &mut self,
        items: &[T],
        mut interval: F,
    ) {
        for &item in items.iter().rev() {
            let (start, freq, scale_bits) = interval(item);
            self.encode(start, freq, scale_bits);
        }
    }
}

impl EncodeReversed for RangeEncoder {}

/// The interleaved pair is FIFO, like each of its coders.
impl EncodeReversed for InterleavedRangeEncoder {}

impl EncodeReversed for RansEncoder {
    #[inline]
    fn encode_reversed<T: Copy, F: FnMut(T) -> (u32, u32, u32)>(
        &mut self,
        items: &[T],
        interval: F,
    ) {
        // The inherent method: the four states in registers.
        RansEncoder::encode_reversed(self, items, interval)
    }
}

/// Sum of `scale - log2(freq)` over coded symbols, without a logarithm per symbol.
///
/// The frequencies are multiplied into an `f64` and the product's binary exponent is
/// moved into an integer every [`CodeLength::BATCH`] symbols (`freq <= 2^16`, so 56
/// factors stay below `2^1023`); one `log2` at the end. Each multiplication rounds by at
/// most `2^-53` relatively, so over `n` symbols the result is off by at most about
/// `n * 2^-53 / ln 2` bits: far below what any report prints.
pub(crate) struct CodeLength {
    /// Product of the frequencies since the exponent was last moved out, times `2^-exp`.
    product: f64,
    /// Binary exponent moved out of `product`.
    exp: i64,
    /// Sum of the scales.
    scales: u64,
    /// Factors in `product` since the last renormalisation.
    pending: u32,
}

impl CodeLength {
    const BATCH: u32 = 56;

    pub(crate) fn new() -> CodeLength {
        CodeLength {
            product: 1.0,
            exp: 0,
            scales: 0,
            pending: 0,
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, scale: u32, freq: u32) {
        self.product *= f64::from(freq);
        self.scales += u64::from(scale);
        self.pending += 1;
        if self.pending == Self::BATCH {
            self.pending = 0;
            self.product = self.renormalise(self.product);
        }
    }

    /// Moves the binary exponent of `p` (finite, `>= 1`) into `exp`; returns the
    /// mantissa in `[1, 2)`.
    fn renormalise(&mut self, p: f64) -> f64 {
        let b = p.to_bits();
        self.exp += ((b >> 52) & 0x7ff) as i64 - 1023;
        f64::from_bits((b & !(0x7ff << 52)) | (1023 << 52))
    }

    /// The code length in bits.
    pub(crate) fn bits(&self) -> f64 {
        let log_product = self.exp as f64 + self.product.log2();
        self.scales as f64 - log_product
    }
}

/// Decodes `out.len()` symbols with `model` and `coder`, in data order (both directions
/// decode forward), then checks that the stream ended exactly.
pub fn decode_with_model<M: Model, D: Decode>(
    out: &mut [u8],
    model: &mut M,
    mut coder: D,
) -> Result<()> {
    model.decode_into(out, &mut coder)?;
    coder.finish()
}

#[cfg(test)]
mod tests {
    use super::{CodeLength, EncodeReversed};
    use crate::coder::Encode;
    use crate::coder::rans::RansEncoder;

    #[test]
    fn rans_reversed_run_matches_symbol_by_symbol() {
        // Intervals at scale 16 and 12, from a xorshift; lengths around multiples of
        // four, fed whole and in two runs (the second starting at any state).
        let mut r = 0x2545_F491_4F6C_DD1Du64;
        let mut items = Vec::new();
        for _ in 0..1003 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let scale = if r & 1 == 0 { 16 } else { 12 };
            let freq = 1 + ((r >> 8) % (1 << scale)) as u32;
            let start = ((r >> 32) % u64::from((1u32 << scale) - freq + 1)) as u32;
            items.push((start, freq, scale));
        }
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 1003] {
            let items = &items[..n];
            let mut plain = RansEncoder::new(n);
            for &(start, freq, scale) in items.iter().rev() {
                plain.encode(start, freq, scale);
            }
            let plain = plain.finish();
            let mut whole = RansEncoder::new(n);
            EncodeReversed::encode_reversed(&mut whole, items, |i| i);
            assert_eq!(whole.finish(), plain, "{n} symbols");
            for cut in [0, 1, 2, 3, n / 2, n.saturating_sub(1)] {
                let cut = cut.min(n);
                let mut two = RansEncoder::new(n);
                two.encode_reversed(&items[cut..], |i| i);
                two.encode_reversed(&items[..cut], |i| i);
                assert_eq!(two.finish(), plain, "{n} symbols cut at {cut}");
            }
        }
    }

    #[test]
    fn code_length_matches_a_sum_of_logarithms() {
        // Frequencies from 1 to 2^16 (the extremes included) over many batches.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut fast = CodeLength::new();
        let mut exact = 0.0f64;
        for i in 0..100_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let freq = match i % 1000 {
                0 => 1,
                1 => 1 << 16,
                _ => 1 + (x % (1 << 16)) as u32,
            };
            let scale = 16;
            fast.add(scale, freq);
            exact += f64::from(scale) - f64::from(freq).log2();
        }
        assert!(
            (fast.bits() - exact).abs() < 1e-6 * exact,
            "{} vs {exact}",
            fast.bits()
        );
        assert_eq!(CodeLength::new().bits(), 0.0);
    }
}
