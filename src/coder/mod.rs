//! Entropy coders: the lower half of the model/coder seam.
//!
//! *Stream coders* ([`range`], [`rans`]) see nothing of a model: per symbol they are handed
//! `(start, freq, scale_bits)`, the interval `[start, start + freq)` of the symbol in a
//! distribution of total `2^scale_bits` ([`Encode`], [`Decode`]). The range coder is FIFO;
//! rANS is LIFO, so its encoder is fed the symbols last to first (only `codec` deals
//! with direction).
//!
//! *Table coders* ([`huffman`], [`tans`]) are compiled from one static distribution and
//! code a whole block with it.
//!
//! Each coder also offers a fast path for a whole block under one static table
//! (`encode_order0` / `decode_order0`) that writes exactly the stream the generic trait
//! path would: the fast path is an optimisation, never a second format.

pub mod bitio;
pub mod huffman;
pub mod range;
pub mod rans;
pub mod tans;

use crate::error::Result;

/// Encodes symbols given as intervals of a distribution with a power-of-two total.
pub trait Encode {
    /// Codes the symbol that owns `[start, start + freq)` out of `2^scale_bits`.
    ///
    /// Requires `freq >= 1`, `start + freq <= 2^scale_bits` and
    /// `scale_bits <= model::MAX_SCALE_BITS`; the models guarantee this.
    fn encode(&mut self, start: u32, freq: u32, scale_bits: u32);

    /// Flushes the coder state and returns the finished stream.
    fn finish(self) -> Vec<u8>;
}

/// Decodes symbols given the same distributions the encoder used.
///
/// Call order per symbol: `peek(scale)` to learn the target, look the symbol up in the
/// distribution, then `consume(start, freq, scale)` with its interval.
pub trait Decode {
    /// A value that lies in the interval of the next symbol. It is below `2^scale_bits`
    /// for every valid stream; on a damaged stream it may not be, and the distribution
    /// lookup reports that as corruption.
    ///
    /// It changes nothing a later call sees: a caller may peek before
    /// [`Decode::consume_if`] (to start the work of a lookup early) and use that target
    /// if the answer is a miss.
    fn peek(&mut self, scale_bits: u32) -> u32;

    /// Removes the symbol that owns `[start, start + freq)` from the stream.
    fn consume(&mut self, start: u32, freq: u32, scale_bits: u32);

    /// Consumes the next symbol if it is the one that owns `[start, start + freq)` out
    /// of `2^scale_bits`, and says whether it was: the question "is it this one?" asked
    /// before "which one is it?".
    ///
    /// `true`: the symbol has been consumed, exactly as by `peek`, a lookup that finds
    /// this interval, and `consume(start, freq, scale_bits)`. `false`: the target lies
    /// outside the interval and the decoder is unchanged; the caller goes on with
    /// `peek` as usual. So a model may ask it of any one interval of the distribution
    /// it decodes with (its likeliest symbol's, say) before it looks up the target, and
    /// decodes the same symbols either way, on any stream.
    ///
    /// The interval must be one `consume` would accept (`freq >= 1`, `start + freq <=
    /// 2^scale_bits`, `scale_bits <= model::MAX_SCALE_BITS`); for any other the answer
    /// is `false` or a consume that makes [`Decode::finish`] fail, never a panic.
    ///
    /// Provided from `peek` and `consume`. Coders override it when they can answer
    /// with less than `peek` costs: the range decoder compares its code with the two
    /// ends of the interval (two multiplications) instead of dividing.
    #[inline(always)]
    fn consume_if(&mut self, start: u32, freq: u32, scale_bits: u32) -> bool {
        let hit = self.peek(scale_bits).wrapping_sub(start) < freq;
        if hit {
            self.consume(start, freq, scale_bits);
        }
        hit
    }

    /// [`Decode::consume`] for an interval that is valid by construction (`freq >= 1`,
    /// `start + freq <= 2^scale_bits`, `scale_bits <= model::MAX_SCALE_BITS`) whatever
    /// the stream holds: one taken from a distribution whose every interval is valid,
    /// such as the frequency model's. A coder may skip the checks `consume` makes; an
    /// invalid interval is then a bug of the caller (a debug assertion), not a damaged
    /// stream. Provided as `consume`.
    #[inline(always)]
    fn consume_valid(&mut self, start: u32, freq: u32, scale_bits: u32) {
        self.consume(start, freq, scale_bits)
    }

    /// [`Decode::consume_if`] for an interval that is valid by construction as for
    /// [`Decode::consume_valid`], or empty (`freq == 0`, a sure miss). Provided as
    /// `consume_if`.
    #[inline(always)]
    fn consume_if_valid(&mut self, start: u32, freq: u32, scale_bits: u32) -> bool {
        self.consume_if(start, freq, scale_bits)
    }

    /// Checks that the stream ended where the encoder ended it (no bytes missing, none
    /// left over, final state as expected). A decoder that ran past the end of its input
    /// reads zeros and reports it here.
    fn finish(self) -> Result<()>;
}
