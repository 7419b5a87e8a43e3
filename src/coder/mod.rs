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

use crate::error::{Error, Result};
use crate::format::varint::{read_varint, write_varint};

/// `zigzag(d) = 2d` for `d >= 0`, `-2d - 1` below.
pub(crate) fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

/// Lays out the two streams of one block (the range coders of
/// [`range::InterleavedRangeEncoder`], the halves of a large static order-0 rANS block):
///
/// ```text
/// pair = zigzag(len0 - len1):varint stream0 stream1
/// ```
///
/// The payload's length is known to its reader, so one length fixes both; the
/// difference rather than `len0` itself, because the two streams code nearly the same
/// number of bits (every other symbol of one block): the difference takes one or two
/// bytes where `len0` takes three for blocks of 16 KiB and more. Measured with the
/// frequency model in 128 KiB blocks, the whole layout (this field and a second flush
/// byte) costs 11 bytes over one stream on book1 (6 blocks) and 13 on kennedy.xls (8),
/// at order 0 and 1 alike. ([`rans::encode_order0_pair_into`] writes the same layout
/// without the copies.)
pub fn join_pair(stream0: &[u8], stream1: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stream0.len() + stream1.len() + 10);
    // Slice lengths are below 2^63, so the difference fits an i64.
    let d = stream0.len() as i64 - stream1.len() as i64;
    write_varint(&mut out, zigzag(d));
    out.extend_from_slice(stream0);
    out.extend_from_slice(stream1);
    out
}

/// Splits a payload of [`join_pair`] into its two streams. Every value of the length
/// field is checked against the bytes there: a difference larger than the bytes after
/// it, or of the other parity, is [`Error::Corrupt`]; a stream of length 0 is left to
/// the stream's decoder, which refuses it.
pub fn split_pair(payload: &[u8]) -> Result<(&[u8], &[u8])> {
    let (zz, used) = read_varint(payload)?;
    let rest = payload.len() - used;
    // |d| = ceil(zz / 2) <= rest, else no split exists: checked before any arithmetic
    // that could overflow.
    if zz.div_ceil(2) > rest as u64 {
        return Err(Error::Corrupt {
            what: "stream length difference larger than the payload",
        });
    }
    let magnitude = zz.div_ceil(2) as usize;
    if (rest - magnitude) % 2 != 0 {
        return Err(Error::Corrupt {
            what: "stream length difference of the wrong parity",
        });
    }
    // len0 - len1 = d and len0 + len1 = rest.
    let smaller = (rest - magnitude) / 2;
    let len0 = if zz & 1 == 0 {
        smaller + magnitude
    } else {
        smaller
    };
    Ok(payload[used..].split_at(len0))
}

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
