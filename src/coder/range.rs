//! The range coder: a FIFO multi-symbol arithmetic coder with carry propagation.
//!
//! # Design note (read me first)
//!
//! **Numbers.** The coder narrows an interval of `[0, 1)`, written in base 256. Only a
//! 32-bit *window* of it is held in registers: after `k` byte shifts, `low` and `range`
//! are integers in units of `2^-(32 + 8k)`, the window being the 4 bytes that follow the
//! `k` bytes shifted out. The stream is the big-endian base-256 expansion of one number
//! `V` of the final interval.
//!
//! **Per symbol** `[start, start + freq)` out of `2^s` (`s = scale_bits <= 16`):
//!
//! ```text
//! r     = floor(range / 2^s)          r = range >> s
//! low   = low + r * start             the carry lands in bit 32 of low
//! range = r * freq
//! while range < 2^24: shift one byte out of low, range = range * 2^8
//! ```
//!
//! The slice `range - r * 2^s` at the top of the interval belongs to no symbol: that
//! rounding is the coder's whole overhead apart from the flush, at most
//! `-log2(1 - 2^(s-24))` bits a symbol (0.0057 bits at `s = 16`). Measured on book1,
//! flush included: 0.0009% of the table's code length at `s = 12`, 0.0056% at `s = 15`.
//!
//! **Carries.** Adding `r * start` can carry into bytes already shifted out of the window.
//! Those bytes wait: a byte is written only when no later carry can reach it. The bytes
//! shifted out but not written are always one byte `cache` followed by `pending - 1`
//! bytes 0xFF; a carry turns them into `cache + 1, 0x00, ..., 0x00`. Why nothing else can
//! happen: `low + range` never increases while symbols are coded, and a shift maps the
//! window to `((low mod 2^24) + range) * 2^8 <= 2^33`, so `low + range <= 2^33` holds
//! throughout. A byte that leaves the window (a shift happens only when `range < 2^24`)
//! with value `b` in `0..=0x1FF`, carry included, leaves all future values of `low` in
//! that window below `min((b + 2) * 2^24, 2^33)`: at most one carry can still reach it,
//! none can overflow it, and none can reach the bytes before it unless `b = 0xFF`. So the
//! pending bytes are written (carry added) as soon as a byte other than 0xFF leaves, and
//! that byte becomes the new `cache`; a 0xFF joins the pending run instead. The classic
//! scheme also writes a leading byte for the carry above the first window; that byte is
//! always 0 (the first window has `low + range <= 2^32 - 1`) and is not written here.
//!
//! **Flush: exactly one byte.** At the end `range >= 2^24`, so the interval
//! `[low, low + range)` holds a multiple of `2^24`; the encoder takes the smallest one,
//! `V = ceil(low / 2^24) * 2^24`, shifts out its top byte (settling any carry) and writes
//! the pending bytes. The three lower bytes of `V`'s window are zero and are not written:
//! the decoder reads zeros past the end of the stream. No flush of zero bytes exists in
//! general (the interval need not hold a multiple of `2^32`), so one byte is the least.
//!
//! **Stream length.** If coding the symbols took `S` byte shifts, the stream has exactly
//! `S + 1` bytes. The decoder makes the same `S` shifts, having read 4 bytes at the start,
//! so a valid stream ends with the decoder having read exactly three zero bytes past its
//! end and holding `code = V - low < 2^24`. [`Decode::finish`] checks all three things;
//! with them a stream of the right symbols is accepted only byte for byte as written
//! (a different `V` in the same interval is a larger multiple of `2^24`).
//!
//! **Decoder.** It keeps `code = V - low` (window units) and the same `range`. The target
//! of the next symbol is `t = floor(code / r)`, `r = range >> s`. The division is safe:
//! `range >= 2^24` between symbols and `s <= 16`, so `r >= 2^8 > 0`. On a valid stream
//! `code < r * 2^s`, so `t < 2^s`; a damaged stream can give `t >= 2^s`, which the
//! distribution lookup reports as corruption. If the symbol found has
//! `start <= t < start + freq`, then `r * start <= code < r * (start + freq)`, so the update
//! `code -= r * start` cannot wrap and leaves `code < range`: the decoder stays in a sane
//! state on any input.
//!
//! **Speed.** The decoder is bound by the division in `peek`. Branch-free versions of
//! the renormalisation (both sides: shift by `8 * n` bits, `n = 0..=2` computed) measured
//! slower than the plain loop in CPU time on book1 (encoder 2x, decoder 7%), so the
//! static order-0 fast paths use the same byte-at-a-time loop, inlined. The only checks
//! left in their loops are the `freq == 0` test (encoder), the `t < 2^s` test folded into
//! the slot lookup (decoder), and `Vec::push`'s capacity test against a buffer reserved
//! for [`max_stream_len`] bytes.
//!
//! The generic decoder ([`Decode`]) renormalises without the branch since the ninth
//! session: under an adaptive model two coders take turns (the frequency model's
//! format version 5), and whether a symbol shifts 0, 1 or 2 bytes is a coin flip the
//! branch predictor loses. With [`Decode::consume_valid`] (no interval checks, the
//! frequency model's intervals being valid by construction) the frequency model's
//! decoding took 7-14% less CPU time, though 9-11% more instructions (callgrind,
//! kennedy.xls order 0: 93.8M to 102.6M instructions, 1.11M to 0.60M mispredicted
//! branches; see the frequency model's notes for the times).
//!
//! **Stream layout** (for `docs/FORMAT.md`): no header and no length field; the container
//! stores the stream length and the number of symbols. The bytes are `V` as above, most
//! significant first, without its always-zero leading carry byte and without its three
//! trailing zero bytes; the coder starts from `low = 0`, `range = 2^32 - 1`.
//!
//! **Two coders taking turns** ([`InterleavedRangeEncoder`], format version 5, the
//! frequency model only): symbol `i` goes to coder `i mod 2`, each coder an ordinary
//! stream as above, and the payload is [`join_pair`]'s `zigzag(len0 - len1):varint
//! stream0 stream1` (F. Giesen, "Interleaved entropy coders", arXiv:1402.3392, 2014).
//! A decoder keeps two [`RangeDecoder`]s and can divide for both before it looks up
//! either symbol, halving the divisions on its dependency chain. From format 6 the
//! static order-0 blocks of at least `codec::TWO_STREAMS_MIN` bytes are coded the same
//! way ([`encode_order0_pair`], [`decode_order0_pair`]): decoding 64 copies of book1
//! (128 KiB blocks) and kennedy.xls (1 MiB) took 29-32% and 35-36% less CPU time than
//! one stream, encoding 12-21% more. Every other use of this coder (static order-0
//! blocks below that size, order-k and adaptive models) writes one stream.

use crate::coder::{Decode, Encode, join_pair, split_pair};
use crate::error::{Error, Result};
use crate::model::{Distribution, FreqTable, MAX_SCALE_BITS};

/// Renormalisation threshold: `range` is at least this between symbols.
const TOP: u32 = 1 << 24;

/// Bytes the decoder reads past the end of a valid stream (the flush writes 1 of the 4
/// bytes that the last window needs).
const READ_PAST_END: usize = 3;

/// A FIFO range encoder; see the module notes.
#[derive(Clone, Debug)]
pub struct RangeEncoder {
    /// Bottom of the interval in window units. `low + range <= 2^33`, so `low < 2^33`;
    /// bit 32 is a carry not yet added to the pending bytes.
    low: u64,
    /// Width of the interval in window units: `2^24 <= range <= 2^32 - 1` between symbols.
    range: u32,
    /// First of the `pending` bytes that have left the window but not been written.
    /// When `pending == 0` (before the first shift) it is 0xFF, so that a run of
    /// 0xFF at the start of the stream can be held like any other.
    cache: u8,
    /// Bytes shifted out of the window but not yet written: `cache`, then `pending - 1`
    /// bytes 0xFF. A later carry adds one to this string and never overflows it.
    pending: usize,
    /// Bytes that no carry can change any more.
    out: Vec<u8>,
}

impl Default for RangeEncoder {
    fn default() -> Self {
        RangeEncoder::new()
    }
}

impl RangeEncoder {
    /// An encoder at the start of a stream: `low = 0`, `range = 2^32 - 1`.
    pub fn new() -> RangeEncoder {
        RangeEncoder::with_capacity(0)
    }

    /// An encoder whose output buffer is reserved for `bytes` bytes.
    fn with_capacity(bytes: usize) -> RangeEncoder {
        RangeEncoder {
            low: 0,
            range: u32::MAX,
            cache: 0xFF,
            pending: 0,
            out: Vec::with_capacity(bytes),
        }
    }

    /// Codes `[start, start + freq)` of `2^scale_bits`; the caller has checked the interval.
    #[inline(always)]
    fn put(&mut self, start: u32, freq: u32, scale_bits: u32) {
        debug_assert!(scale_bits <= MAX_SCALE_BITS);
        debug_assert!(freq >= 1 && u64::from(start) + u64::from(freq) <= 1u64 << scale_bits);
        // r = floor(range / 2^s) >= 2^(24-16) since range >= 2^24 and s <= 16.
        let r = self.range >> scale_bits;
        // low = low + r * start: r * start < range, so low + range stays <= 2^33.
        self.low += u64::from(r) * u64::from(start);
        // range = r * freq, in [2^8, range]: at most two shifts restore range >= 2^24.
        self.range = r * freq;
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Moves the top byte of the window out of `low` (module notes, "Carries").
    #[inline(always)]
    fn shift_low(&mut self) {
        // The byte leaving the window with the carry above it: 0..=0x1FF.
        let top = (self.low >> 24) as u32;
        if top != 0xFF {
            // Settled: no later carry can reach the pending bytes.
            let carry = (top >> 8) as u8;
            if self.pending != 0 {
                self.out.push(self.cache.wrapping_add(carry));
                if self.pending > 1 {
                    let fill = 0xFFu8.wrapping_add(carry);
                    let len = self.out.len() + self.pending - 1;
                    self.out.resize(len, fill);
                }
            } else {
                // Nothing before the first window, hence no carry above it.
                debug_assert_eq!(carry, 0);
            }
            self.cache = top as u8;
            self.pending = 1;
        } else {
            // A carry may still come and turn this 0xFF into 0x00: hold it.
            self.pending += 1;
        }
        self.low = (self.low << 8) & 0xFFFF_FFFF;
    }

    /// Writes the one flush byte and every pending byte, and returns the stream.
    fn flush(mut self) -> Vec<u8> {
        // V = ceil(low / 2^24) * 2^24 <= low + 2^24 - 1 < low + range.
        self.low = (self.low + (u64::from(TOP) - 1)) & !(u64::from(TOP) - 1);
        self.shift_low();
        // The rest of V is zero: no carry can follow, write what is pending as it is.
        debug_assert!(self.low == 0 && self.pending >= 1);
        self.out.push(self.cache);
        let len = self.out.len() + self.pending - 1;
        self.out.resize(len, 0xFF);
        self.out
    }
}

/// Panics unless `[start, start + freq)` is an interval of some distribution of total
/// `2^scale_bits` (`scale_bits <= 16`, `freq >= 1`, `start + freq <= 2^scale_bits`): what
/// both encoders require of their callers before they narrow their range.
#[inline(always)]
fn assert_interval(start: u32, freq: u32, scale_bits: u32) {
    assert!(
        scale_bits <= MAX_SCALE_BITS
            && freq >= 1
            && u64::from(start) + u64::from(freq) <= 1u64 << scale_bits,
        "range encoder given an invalid interval"
    );
}

impl Encode for RangeEncoder {
    /// Codes one symbol.
    ///
    /// # Panics
    ///
    /// If `scale_bits > 16`, `freq == 0` or `start + freq > 2^scale_bits`: the interval
    /// comes from a model, so this is a bug in the caller, never a property of data.
    #[inline(always)]
    fn encode(&mut self, start: u32, freq: u32, scale_bits: u32) {
        assert_interval(start, freq, scale_bits);
        self.put(start, freq, scale_bits);
    }

    fn finish(self) -> Vec<u8> {
        self.flush()
    }
}

/// A FIFO range decoder over a whole stream; see the module notes.
#[derive(Clone, Debug)]
pub struct RangeDecoder<'a> {
    stream: &'a [u8],
    /// Index of the next byte to read: 4 plus the number of shifts so far. Past the end
    /// of `stream` the decoder reads zeros; `finish` checks how far it went.
    pos: usize,
    /// `V - low` in window units, where `V` is the number the stream spells (zeros after
    /// its end). `code < range` after any symbol whose lookup succeeded.
    code: u32,
    /// As in the encoder: `2^24 <= range <= 2^32 - 1` between symbols.
    range: u32,
    /// Set if `consume` was given an interval that no distribution of total `2^s` has.
    misused: bool,
}

impl<'a> RangeDecoder<'a> {
    /// A decoder at the start of `stream`. Every valid stream has at least one byte (the
    /// flush); an empty one is [`Error::Truncated`].
    pub fn new(stream: &'a [u8]) -> Result<RangeDecoder<'a>> {
        if stream.is_empty() {
            return Err(Error::Truncated {
                what: "range coder stream",
                needed: 1,
                available: 0,
            });
        }
        let mut dec = RangeDecoder {
            stream,
            pos: 0,
            code: 0,
            range: u32::MAX,
            misused: false,
        };
        for _ in 0..4 {
            dec.code = (dec.code << 8) | u32::from(dec.next_byte());
        }
        Ok(dec)
    }

    /// The next stream byte, or 0 past the end (remembered in `pos`).
    #[inline(always)]
    fn next_byte(&mut self) -> u8 {
        let b = self.stream.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// Shifts bytes in until `range >= 2^24`, a byte at a time; requires `range >= 2^8`
    /// (two shifts at most). The static order-0 loop's: there it decoded book1 faster
    /// than [`RangeDecoder::renormalise`] (64 copies, 128 KiB blocks: 396 against 449
    /// ms CPU, min of 7 alternated runs).
    #[inline(always)]
    fn renormalise_bytewise(&mut self) {
        debug_assert!(self.range >= 1 << 8);
        while self.range < TOP {
            // code < range < 2^24, so nothing is lost off the top.
            self.code = (self.code << 8) | u32::from(self.next_byte());
            self.range <<= 8;
        }
    }

    /// Shifts bytes in until `range >= 2^24`; requires `range >= 2^8` (two shifts at
    /// most). Without a branch on how many: `n` bytes, taken from a two-byte window
    /// (zeros past the end of the stream), where `8n` is the count of leading zero bits
    /// of `range` with its low three bits cleared (0-7 leading zeros: none, 8-15: one
    /// byte, 16-23: two). With the `lzcnt` instruction (the frequency model's decoding
    /// loops are compiled for it, and for `bmi2`'s shifts by a register and `movbe`'s
    /// swapped load) that is two instructions where two compares took six, and the
    /// window goes in as `(window << 8n) >> 16` rather than `window >> (16 - 8n)`
    /// (no subtraction): kennedy.xls at order 1, 128 KiB blocks, decoding 103.7 to 95.6
    /// million instructions (callgrind), and in the peer benchmark (201 runs, three
    /// alternated pairs) 1.45-1.51x htscodecs' decoding speed before, 1.51-1.52x after.
    #[inline(always)]
    fn renormalise(&mut self) {
        debug_assert!(self.range >= 1 << 8);
        let sh = self.range.leading_zeros() & 24;
        let window = match self.stream.get(self.pos..self.pos + 2) {
            Some(&[a, b]) => u32::from(u16::from_be_bytes([a, b])),
            // The last byte or none: what follows it reads as 0.
            _ => u32::from(self.stream.get(self.pos).copied().unwrap_or(0)) << 8,
        };
        // code < range < 2^(32 - 8n), so nothing is lost off the top; n = 0 shifts
        // nothing in (window < 2^16).
        self.code = (self.code << sh) | ((window << sh) >> 16);
        self.range <<= sh;
        self.pos += (sh >> 3) as usize;
    }

    /// The error for a decoder that has read more than the flush guarantees.
    fn truncated(&self) -> Error {
        Error::Truncated {
            what: "range coder stream",
            needed: (self.pos - READ_PAST_END) as u64,
            available: self.stream.len() as u64,
        }
    }
}

impl Decode for RangeDecoder<'_> {
    /// `t = floor(code / r)`, `r = range >> scale_bits` (`scale_bits` above 16 is read as
    /// 16, which no valid stream uses). Never divides by zero: `r >= 2^8`.
    #[inline]
    fn peek(&mut self, scale_bits: u32) -> u32 {
        let r = self.range >> scale_bits.min(MAX_SCALE_BITS);
        self.code / r
    }

    /// `code -= r * start`, `range = r * freq`, then renormalise. An interval that no
    /// distribution of total `2^scale_bits` has (empty, too long, `scale_bits > 16`)
    /// leaves the state as it is and makes [`Decode::finish`] fail.
    #[inline]
    fn consume(&mut self, start: u32, freq: u32, scale_bits: u32) {
        if scale_bits > MAX_SCALE_BITS
            || freq == 0
            || u64::from(start) + u64::from(freq) > 1u64 << scale_bits
        {
            self.misused = true;
            return;
        }
        self.consume_valid(start, freq, scale_bits);
    }

    /// Without the division of `peek`: `floor(code / r)` lies in `[start, start + freq)`
    /// exactly when `r * start <= code < r * (start + freq)`, that is when `code - r *
    /// start` (wrapping) is below `r * freq`. If `code < r * start` the difference wraps
    /// to `2^32 - (r * start - code) > 2^32 - r * start >= r * freq`, since `r * (start +
    /// freq) <= r * 2^s <= range < 2^32`: a miss, as it should be. On a hit the update is
    /// `consume`'s. An interval `consume` would refuse is a miss.
    #[inline(always)]
    fn consume_if(&mut self, start: u32, freq: u32, scale_bits: u32) -> bool {
        if scale_bits > MAX_SCALE_BITS || u64::from(start) + u64::from(freq) > 1u64 << scale_bits {
            return false;
        }
        self.consume_if_valid(start, freq, scale_bits)
    }

    /// `consume` without its checks (the caller's interval is valid by construction).
    #[inline(always)]
    fn consume_valid(&mut self, start: u32, freq: u32, scale_bits: u32) {
        debug_assert!(scale_bits <= MAX_SCALE_BITS && freq >= 1 && start + freq <= 1 << scale_bits);
        let r = self.range >> scale_bits;
        // r * (start + freq) <= r * 2^s <= range: neither product overflows. The
        // subtraction wraps only if the caller's interval does not hold peek's target.
        self.code = self.code.wrapping_sub(r.wrapping_mul(start));
        self.range = r.wrapping_mul(freq);
        self.renormalise()
    }

    /// `consume_if` without its check of the interval (valid by construction, or empty:
    /// `width` is then 0 and nothing is below it).
    #[inline(always)]
    fn consume_if_valid(&mut self, start: u32, freq: u32, scale_bits: u32) -> bool {
        debug_assert!(scale_bits <= MAX_SCALE_BITS && start + freq <= 1 << scale_bits);
        let r = self.range >> scale_bits;
        let below = self.code.wrapping_sub(r.wrapping_mul(start));
        let width = r.wrapping_mul(freq);
        if below < width {
            self.code = below;
            self.range = width;
            self.renormalise();
            true
        } else {
            false
        }
    }

    fn finish(self) -> Result<()> {
        if self.misused {
            return Err(Error::Corrupt {
                what: "range decoder given an interval outside its distribution",
            });
        }
        let end = self.stream.len() + READ_PAST_END;
        if self.pos > end {
            return Err(self.truncated());
        }
        if self.pos < end {
            return Err(Error::Corrupt {
                what: "bytes left over after the range coder stream",
            });
        }
        if self.code >= TOP {
            return Err(Error::Corrupt {
                what: "range coder stream does not end as its encoder ends it",
            });
        }
        Ok(())
    }
}

/// Two range encoders taking turns: symbol `i` is coded by coder `i mod 2` (F. Giesen,
/// "Interleaved entropy coders", arXiv:1402.3392, 2014). Each coder is an ordinary
/// [`RangeEncoder`] over every other symbol, so its stream is what a lone encoder fed
/// those intervals writes; the pair's output is the two streams in the layout of
/// [`join_pair`].
///
/// Why: decoding one range stream is a chain, each symbol's division waiting on the
/// previous symbol's update. Two streams make two chains that a decoder runs side by
/// side (`FrequencyModel::decode_interleaved`), the divisions of both in flight at once.
/// The model is not split: it sees every symbol in data order, so the intervals are the
/// same as with one coder; only the coder that narrows each interval changes.
///
/// Buffering the intervals (8 bytes a symbol) and coding each coder's share in one
/// loop at the end, state in registers, took more instructions (kennedy.xls order 1:
/// 117-132 million against 105, callgrind) and no less CPU time.
#[derive(Clone, Debug, Default)]
pub struct InterleavedRangeEncoder {
    /// Coder 0 takes the even symbols, coder 1 the odd ones.
    coders: [RangeEncoder; 2],
    /// Which coder takes the next symbol: the number of symbols so far, mod 2.
    next: usize,
}

impl InterleavedRangeEncoder {
    /// A pair at the start of a block (each coder as [`RangeEncoder::new`]).
    pub fn new() -> InterleavedRangeEncoder {
        InterleavedRangeEncoder::default()
    }

    /// The two finished streams, coder 0's first.
    pub fn finish_streams(self) -> (Vec<u8>, Vec<u8>) {
        let [even, odd] = self.coders;
        (even.flush(), odd.flush())
    }
}

impl Encode for InterleavedRangeEncoder {
    /// Codes one symbol with the coder whose turn it is.
    ///
    /// # Panics
    ///
    /// As [`RangeEncoder`]'s `encode`, on an interval no distribution has.
    #[inline(always)]
    fn encode(&mut self, start: u32, freq: u32, scale_bits: u32) {
        assert_interval(start, freq, scale_bits);
        // A branch that alternates (predicted), so that each arm addresses its coder at
        // a constant offset: 4 instructions a symbol less than indexing by `next`
        // (kennedy.xls, order 1, callgrind: 109.3 to 105.0 million, one coder 101.3).
        let [even, odd] = &mut self.coders;
        if self.next == 0 {
            even.put(start, freq, scale_bits);
        } else {
            odd.put(start, freq, scale_bits);
        }
        self.next ^= 1;
    }

    /// Both streams in the layout of [`join_pair`].
    fn finish(self) -> Vec<u8> {
        let (even, odd) = self.finish_streams();
        join_pair(&even, &odd)
    }
}

/// Worst-case length of a [`join_pair`] payload of `n_symbols` symbols at scale
/// `scale_bits`: the two streams' bounds ([`max_stream_len`] of `ceil(n / 2)` and
/// `floor(n / 2)` symbols) and a varint of at most 10 bytes.
pub fn max_pair_len(n_symbols: usize, scale_bits: u32) -> usize {
    max_stream_len(n_symbols.div_ceil(2), scale_bits)
        .saturating_add(max_stream_len(n_symbols / 2, scale_bits))
        .saturating_add(10)
}

/// Worst-case length in bytes of a stream of `n_symbols` symbols at scale `scale_bits`
/// (values above 16 are read as 16):
///
/// ```text
/// 1 + ceil(n * s * 1025 / 8192)      i.e.  1 + n * s/8 * (1 + 2^-10), rounded up
/// ```
///
/// Proof: `log2(range) + 8 * shifts` starts below 32, ends at least `24 + 8 * S`, and a
/// symbol with `freq >= 1` lowers it by at most `log2(range / r) < s - log2(1 - 2^(s-24))
/// <= s * (1 + 2^-10)` for `s <= 16`. So `8 * S < 8 + n * s * (1 + 2^-10)`, and the stream
/// has `S + 1` bytes.
pub fn max_stream_len(n_symbols: usize, scale_bits: u32) -> usize {
    let s = u128::from(scale_bits.min(MAX_SCALE_BITS));
    let bound = 1 + (n_symbols as u128 * s * 1025).div_ceil(8192);
    usize::try_from(bound).unwrap_or(usize::MAX)
}

/// Encodes `data` with one static `table`: the same stream as a [`RangeEncoder`] fed
/// every byte's interval, made faster. [`Error::ZeroFrequency`] if a byte of `data` has
/// frequency 0 in `table`.
pub fn encode_order0(data: &[u8], table: &FreqTable) -> Result<Vec<u8>> {
    encode_symbols(data.iter().copied(), data.len(), table)
}

/// The loop of [`encode_order0`] over `n` symbols from `symbols`.
#[inline(always)]
fn encode_symbols(
    symbols: impl Iterator<Item = u8>,
    n: usize,
    table: &FreqTable,
) -> Result<Vec<u8>> {
    let scale_bits = table.scale_bits();
    let freqs = table.freqs();
    let cums = table.cums();
    let mut enc = RangeEncoder::with_capacity(max_stream_len(n, scale_bits));
    for symbol in symbols {
        // Indexing [u32; 256] and [u32; 257] by a u8 needs no bounds check.
        let freq = freqs[usize::from(symbol)];
        if freq == 0 {
            return Err(Error::ZeroFrequency { symbol });
        }
        // The table sums to 2^s, so start + freq <= 2^s: put's precondition holds.
        enc.put(cums[usize::from(symbol)], freq, scale_bits);
    }
    Ok(enc.flush())
}

/// Decodes `out.len()` symbols of a stream written with one static `table` (by
/// [`encode_order0`] or the generic encoder) and checks that it ends exactly where it
/// should ([`Decode::finish`]). Allocates one slot table of `2^scale_bits <= 64 KiB`.
pub fn decode_order0(stream: &[u8], table: &FreqTable, out: &mut [u8]) -> Result<()> {
    let scale_bits = table.scale_bits();
    let freqs = table.freqs();
    let cums = table.cums();
    // slots.len() == 2^s, so `slots.get(t)` is also the check `t < 2^s`.
    let slots = table.slot_symbols();
    let mut dec = RangeDecoder::new(stream)?;
    let limit = stream.len() + READ_PAST_END;
    for o in out.iter_mut() {
        // t = floor(code / r), r = range >> s >= 2^8 (range >= 2^24, s <= 16).
        let r = dec.range >> scale_bits;
        let t = dec.code / r;
        let Some(&symbol) = slots.get(t as usize) else {
            return Err(Error::Corrupt {
                what: "range decoder target outside the distribution",
            });
        };
        let start = cums[usize::from(symbol)];
        let freq = freqs[usize::from(symbol)];
        // start <= t < start + freq, so r * start <= code < r * (start + freq) <= range.
        dec.code -= r * start;
        dec.range = r * freq;
        // range >= r >= 2^8: at most two shifts bring it back to >= 2^24.
        if dec.range < TOP {
            dec.renormalise_bytewise();
            // Past this point finish() must fail: stop early on a hopeless stream.
            if dec.pos > limit {
                return Err(dec.truncated());
            }
        }
        *o = symbol;
    }
    dec.finish()
}

/// Codes `data` with one static `table` by two range coders taking turns, symbol `i` by
/// coder `i mod 2`, each stream as [`encode_order0`] would write its share, in the layout
/// of [`join_pair`]: the format-6 payload of a large static order-0 block after its
/// table, which [`decode_order0_pair`] decodes.
///
/// Errors: [`Error::ZeroFrequency`] if a byte of `data` has frequency 0 in `table`.
pub fn encode_order0_pair(data: &[u8], table: &FreqTable) -> Result<Vec<u8>> {
    // The coders are independent, so each codes its share in a pass of its own. CPU time
    // of compressing 64 copies of book1 (128 KiB blocks) and kennedy.xls (1 MiB), min of
    // 5 alternated runs, against one stream: both coders in one loop 1.36 / 1.57 times,
    // two passes 1.12 / 1.21 (the coders' states spill in the first); copying each share
    // to a buffer first, 1.33. The two passes alone (`cargo bench --bench range`, book1
    // in one piece, scale 12): 3.01 ms against 2.87 for one stream, and 2% more
    // instructions (callgrind); the rest of the CLI's difference is outside this loop.
    let even = encode_symbols(
        data.iter().step_by(2).copied(),
        data.len().div_ceil(2),
        table,
    )?;
    let odd = encode_symbols(
        data.iter().skip(1).step_by(2).copied(),
        data.len() / 2,
        table,
    )?;
    Ok(join_pair(&even, &odd))
}

/// Decodes `out.len()` symbols of a payload of [`encode_order0_pair`]: both coders in
/// one loop, the two divisions of a pair of symbols in flight at once. Each stream must
/// end exactly where it should, as in [`decode_order0`]. Allocates one slot table.
pub fn decode_order0_pair(payload: &[u8], table: &FreqTable, out: &mut [u8]) -> Result<()> {
    let (s0, s1) = split_pair(payload)?;
    let scale_bits = table.scale_bits();
    let freqs = table.freqs();
    let cums = table.cums();
    // slots.len() == 2^s, so `slots.get(t)` is also the check `t < 2^s`.
    let slots = table.slot_symbols();
    let mut coders = [RangeDecoder::new(s0)?, RangeDecoder::new(s1)?];
    let limits = [s0.len() + READ_PAST_END, s1.len() + READ_PAST_END];
    let step = |dec: &mut RangeDecoder, limit: usize| -> Result<u8> {
        // As in `decode_order0`: t = floor(code / r), r >= 2^8.
        let r = dec.range >> scale_bits;
        let t = dec.code / r;
        let Some(&symbol) = slots.get(t as usize) else {
            return Err(Error::Corrupt {
                what: "range decoder target outside the distribution",
            });
        };
        dec.code -= r * cums[usize::from(symbol)];
        dec.range = r * freqs[usize::from(symbol)];
        if dec.range < TOP {
            dec.renormalise_bytewise();
            if dec.pos > limit {
                return Err(dec.truncated());
            }
        }
        Ok(symbol)
    };
    let [even, odd] = &mut coders;
    let mut pairs = out.chunks_exact_mut(2);
    for pair in &mut pairs {
        // Both targets depend only on their own coder: the divisions overlap.
        pair[0] = step(even, limits[0])?;
        pair[1] = step(odd, limits[1])?;
    }
    if let [last] = pairs.into_remainder() {
        *last = step(even, limits[0])?;
    }
    let [even, odd] = coders;
    even.finish()?;
    odd.finish()
}

impl RangeEncoder {
    /// An encoder at the start of a stream (as [`RangeEncoder::new`]) whose output is
    /// reserved for [`max_stream_len`] of `n_symbols` at `scale_bits`: coding that many
    /// symbols never grows it.
    pub(crate) fn for_symbols(n_symbols: usize, scale_bits: u32) -> RangeEncoder {
        RangeEncoder::with_capacity(max_stream_len(n_symbols, scale_bits))
    }

    /// [`Encode::encode`] without its check, for intervals valid by construction:
    /// `scale_bits <= 16`, `freq >= 1` and `start + freq <= 2^scale_bits`. Outside that
    /// the stream is wrong (`freq == 0` would never end the renormalisation loop).
    #[inline(always)]
    pub(crate) fn encode_valid(&mut self, start: u32, freq: u32, scale_bits: u32) {
        self.put(start, freq, scale_bits);
    }
}

impl RangeDecoder<'_> {
    /// [`Decode::consume_valid`] with the byte-at-a-time renormalisation of the static
    /// order-0 loops (a branch on each byte shifted in, rather than none).
    #[inline(always)]
    pub(crate) fn consume_valid_bytewise(&mut self, start: u32, freq: u32, scale_bits: u32) {
        debug_assert!(scale_bits <= MAX_SCALE_BITS && freq >= 1 && start + freq <= 1 << scale_bits);
        let r = self.range >> scale_bits;
        // As in consume_valid: no product overflows; range = r * freq >= 2^8.
        self.code = self.code.wrapping_sub(r.wrapping_mul(start));
        self.range = r.wrapping_mul(freq);
        self.renormalise_bytewise();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Counts;
    use proptest::prelude::*;

    /// The table the tests code `data` with: its own optimal table, or a flat one for
    /// empty data.
    fn table_for(data: &[u8], scale_bits: u32) -> FreqTable {
        if data.is_empty() {
            FreqTable::from_counts(&Counts([1; 256]), scale_bits).unwrap()
        } else {
            FreqTable::from_counts(&Counts::of(data), scale_bits).unwrap()
        }
    }

    fn encode_generic(data: &[u8], table: &FreqTable) -> Vec<u8> {
        let mut enc = RangeEncoder::new();
        for &b in data {
            let iv = table.interval(b).unwrap();
            enc.encode(iv.start, iv.freq, table.scale_bits());
        }
        enc.finish()
    }

    fn decode_generic(stream: &[u8], table: &FreqTable, n: usize) -> Result<Vec<u8>> {
        let s = table.scale_bits();
        let mut dec = RangeDecoder::new(stream)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let t = dec.peek(s);
            let (symbol, iv) = table.symbol_at(t)?;
            dec.consume(iv.start, iv.freq, s);
            out.push(symbol);
        }
        dec.finish()?;
        Ok(out)
    }

    fn decode_fast(stream: &[u8], table: &FreqTable, n: usize) -> Result<Vec<u8>> {
        let mut out = vec![0; n];
        decode_order0(stream, table, &mut out)?;
        Ok(out)
    }

    /// Codes `data` both ways, checks that both paths agree byte for byte and decode
    /// back to `data`, and returns the stream.
    fn round_trip(data: &[u8], table: &FreqTable) -> Vec<u8> {
        let fast = encode_order0(data, table).unwrap();
        let generic = encode_generic(data, table);
        assert_eq!(fast, generic, "fast and generic encoders disagree");
        assert!(fast.len() <= max_stream_len(data.len(), table.scale_bits()));
        assert_eq!(decode_fast(&fast, table, data.len()).unwrap(), data);
        assert_eq!(decode_generic(&fast, table, data.len()).unwrap(), data);
        fast
    }

    /// Decodes `stream` both ways and checks that they agree; returns the fast result.
    fn decode_both(stream: &[u8], table: &FreqTable, n: usize) -> Result<Vec<u8>> {
        let fast = decode_fast(stream, table, n);
        let generic = decode_generic(stream, table, n);
        match (&fast, &generic) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => panic!("fast and generic decoders disagree: {fast:?} vs {generic:?}"),
        }
        fast
    }

    /// Exact big-number encoder for reference: keeps every byte written so far and adds
    /// each carry into them at once. Returns the stream and the longest carry chain
    /// (bytes turned from 0xFF into 0x00 by one carry).
    fn encode_reference(symbols: &[(u32, u32)], scale_bits: u32) -> (Vec<u8>, usize) {
        let mut digits: Vec<u8> = Vec::new();
        let mut low: u64 = 0; // < 2^32: carries leave at once
        let mut range: u64 = u64::from(u32::MAX);
        let mut longest = 0;
        let mut add = |low: &mut u64, digits: &mut Vec<u8>, v: u64| {
            *low += v;
            if *low >= 1 << 32 {
                *low -= 1 << 32;
                let mut chain = 0;
                let mut i = digits.len();
                loop {
                    i -= 1; // a carry out of the first byte would be a bug
                    if digits[i] == 0xFF {
                        digits[i] = 0;
                        chain += 1;
                    } else {
                        digits[i] += 1;
                        break;
                    }
                }
                longest = longest.max(chain);
            }
        };
        for &(start, freq) in symbols {
            let r = range >> scale_bits;
            add(&mut low, &mut digits, r * u64::from(start));
            range = r * u64::from(freq);
            while range < 1 << 24 {
                digits.push((low >> 24) as u8);
                low = (low << 8) & 0xFFFF_FFFF;
                range <<= 8;
            }
        }
        let v = (low + (1 << 24) - 1) & !((1u64 << 24) - 1);
        let up = v - low;
        add(&mut low, &mut digits, up);
        digits.push((low >> 24) as u8);
        (digits, longest)
    }

    #[test]
    fn degenerate_inputs_round_trip_at_every_scale() {
        let all: Vec<u8> = (0..=255).collect();
        for s in 8..=16 {
            let empty = round_trip(&[], &table_for(&[], s));
            assert_eq!(empty, [0], "the empty stream is the flush byte alone");
            round_trip(&[7], &table_for(&[7], s));
            // One distinct symbol owns the whole 2^s: only the rounding costs anything.
            let same = vec![b'x'; 10_000];
            let t = table_for(&same, s);
            assert_eq!(t.freqs()[usize::from(b'x')], 1 << s);
            let stream = round_trip(&same, &t);
            assert!(
                stream.len() < 16,
                "{} bytes for a certain symbol",
                stream.len()
            );
            let mut many = Vec::new();
            for i in 0..20 {
                many.extend(all.iter().map(|&b| b.wrapping_mul(i * 2 + 1)));
            }
            round_trip(&all, &table_for(&all, s));
            round_trip(&many, &table_for(&many, s));
        }
    }

    #[test]
    fn stream_length_is_shifts_plus_one_and_within_bound() {
        // Worst case for the bound: every symbol has freq 1 at scale 16.
        let mut freq = [0u32; 256];
        freq[0] = 1;
        freq[1] = 1;
        freq[2] = (1 << 16) - 2;
        let t = FreqTable::from_freqs(freq, 16).unwrap();
        let data: Vec<u8> = (0..5000).map(|i| (i % 2) as u8).collect();
        let stream = round_trip(&data, &t);
        let bound = max_stream_len(data.len(), 16);
        assert!(stream.len() <= bound, "{} > {bound}", stream.len());
        // 16 bits a symbol is the least it can cost.
        assert!(stream.len() >= data.len() * 2);
        assert_eq!(max_stream_len(0, 12), 1);
        assert_eq!(max_stream_len(8192, 8), 1 + 8192 + 8);
    }

    #[test]
    fn encode_reports_zero_frequency() {
        let t = table_for(b"aaab", 12);
        assert!(matches!(
            encode_order0(b"aabc", &t),
            Err(Error::ZeroFrequency { symbol: b'c' })
        ));
    }

    /// Symbols and their intervals.
    type Decoded = (Vec<u8>, Vec<(u32, u32)>);

    /// Decodes symbols from the number that `v` spells until the decoder has read 16
    /// bytes past its end; `None` if `v` falls into the unused top slice of an interval.
    fn symbols_of(v: &[u8], t: &FreqTable) -> Option<Decoded> {
        let s = t.scale_bits();
        let mut dec = RangeDecoder::new(v).unwrap();
        let mut data = Vec::new();
        let mut intervals = Vec::new();
        while dec.pos < v.len() + 16 {
            let (symbol, iv) = t.symbol_at(dec.peek(s)).ok()?;
            dec.consume(iv.start, iv.freq, s);
            data.push(symbol);
            intervals.push((iv.start, iv.freq));
        }
        Some((data, intervals))
    }

    #[test]
    fn long_carry_chains_propagate() {
        // Symbols that decode from V = x0 00 ... 00 01 pull low up towards x0 00 ... from
        // below through a long run of 0xFF bytes, until low finally crosses over and a
        // carry turns (x0 - 1) FF FF ... into x0 00 00 ....
        let zeros = 2000;
        let text = b"a range coder narrows an interval, one symbol at a time";
        for s in [8, 12, 16] {
            let t = table_for(text, s);
            // V may fall into the slice that rounding leaves unused: try another x0.
            let (v, (data, intervals)) = (0x80..=0xFFu8)
                .find_map(|first| {
                    let mut v = vec![first];
                    v.resize(1 + zeros, 0);
                    v.push(1);
                    symbols_of(&v, &t).map(|found| (v, found))
                })
                .expect("some V decodes");
            let (reference, longest) = encode_reference(&intervals, s);
            assert!(longest >= zeros - 8, "longest carry chain {longest}");
            let stream = round_trip(&data, &t);
            assert_eq!(stream, reference, "scale {s}");
            assert_eq!(&stream[..zeros - 8], &v[..zeros - 8]);
        }
    }

    #[test]
    fn matches_reference_on_text() {
        let data = std::fs::read(corpus("canterbury/fields.c")).unwrap();
        for s in [7, 9, 12, 16] {
            let t = FreqTable::from_counts(&Counts::of(&data), s).unwrap();
            let ivs: Vec<(u32, u32)> = data
                .iter()
                .map(|&b| {
                    let iv = t.interval(b).unwrap();
                    (iv.start, iv.freq)
                })
                .collect();
            assert_eq!(
                round_trip(&data, &t),
                encode_reference(&ivs, t.scale_bits()).0
            );
        }
    }

    fn corpus(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpora")
            .join(name)
    }

    fn corpus_files() -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for dir in ["canterbury", "calgary"] {
            let mut names: Vec<_> = std::fs::read_dir(corpus(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for path in names {
                files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
        assert!(files.len() >= 29, "corpora missing: {} files", files.len());
        files
    }

    #[test]
    fn corpora_round_trip_within_overhead() {
        for (name, data) in corpus_files() {
            let counts = Counts::of(&data);
            for s in [12, 15] {
                let t = FreqTable::from_counts(&counts, s).unwrap();
                let stream = encode_order0(&data, &t).unwrap();
                assert_eq!(stream, encode_generic(&data, &t), "{name} at {s}");
                assert_eq!(decode_fast(&stream, &t, data.len()).unwrap(), data);
                let bits = 8.0 * stream.len() as f64;
                let cost = t.cost_bits(&counts);
                // The final interval is no wider than 2^-cost and the stream pins it to
                // within 2^-(8 * len), so 8 * len >= cost always.
                assert!(bits >= cost, "{name} at {s}: {bits} < {cost}");
                if data.len() > 100_000 {
                    assert!(
                        bits <= cost * 1.0005,
                        "{name} at {s}: overhead {:.4}%",
                        100.0 * (bits / cost - 1.0)
                    );
                }
            }
        }
    }

    #[test]
    fn corpus_damage_is_detected_or_visible() {
        let data = std::fs::read(corpus("canterbury/grammar.lsp")).unwrap();
        let t = table_for(&data, 12);
        let stream = round_trip(&data, &t);
        for cut in 0..stream.len() {
            if let Ok(out) = decode_both(&stream[..cut], &t, data.len()) {
                assert_ne!(out, data, "prefix of {cut} bytes accepted");
            }
        }
        // Every bit of the last 64 bytes, every 13th bit before them.
        let tail = stream.len().saturating_sub(64) * 8;
        for bit in (0..tail).step_by(13).chain(tail..stream.len() * 8) {
            let mut bad = stream.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            if let Ok(out) = decode_both(&bad, &t, data.len()) {
                assert_ne!(out, data, "bit {bit} flipped and accepted");
            }
        }
        let mut longer = stream.clone();
        longer.push(0);
        assert!(decode_both(&longer, &t, data.len()).is_err());
    }

    #[test]
    fn decoder_never_divides_by_zero_on_misuse() {
        let stream = [0xFF; 8];
        let mut dec = RangeDecoder::new(&stream).unwrap();
        assert!(
            dec.peek(16) >= 1 << 16,
            "all-0xFF stream is outside every interval"
        );
        dec.consume(0, 0, 12);
        dec.consume(4000, 200, 12);
        dec.consume(0, 1, 40);
        let _ = dec.peek(40);
        assert!(dec.clone().finish().is_err());
        assert!(RangeDecoder::new(&[]).is_err());
    }

    /// The streams of [`InterleavedRangeEncoder`] are those of two lone encoders fed
    /// the even and the odd symbols, for 0, 1, 2, odd and even counts; each decodes
    /// back to its half; the joined payload splits back into them.
    #[test]
    fn interleaved_streams_are_two_plain_streams() {
        let data = std::fs::read(corpus("canterbury/grammar.lsp")).unwrap();
        let t = table_for(&data, 12);
        for n in [0, 1, 2, 3, 4, 5, 1000, 1001, data.len()] {
            let data = &data[..n];
            let mut pair = InterleavedRangeEncoder::new();
            for &b in data {
                let iv = t.interval(b).unwrap();
                pair.encode(iv.start, iv.freq, 12);
            }
            let joined = pair.clone().finish();
            let (even, odd) = pair.finish_streams();
            let halves: [Vec<u8>; 2] =
                [0, 1].map(|k| data.iter().skip(k).step_by(2).copied().collect());
            assert_eq!(even, encode_generic(&halves[0], &t), "{n} symbols");
            assert_eq!(odd, encode_generic(&halves[1], &t), "{n} symbols");
            assert_eq!(decode_fast(&even, &t, halves[0].len()).unwrap(), halves[0]);
            assert_eq!(decode_fast(&odd, &t, halves[1].len()).unwrap(), halves[1]);
            assert_eq!(split_pair(&joined).unwrap(), (&even[..], &odd[..]));
            assert!(joined.len() <= max_pair_len(n, 12));
            // The length field is one byte while the streams differ by under 64 bytes.
            if even.len().abs_diff(odd.len()) < 64 {
                assert_eq!(joined.len(), 1 + even.len() + odd.len());
            }
        }
        assert_eq!(InterleavedRangeEncoder::new().finish(), [0, 0, 0]);
    }

    /// Every split the layout allows, and every way to get one wrong: a difference
    /// larger than the payload, of the wrong parity, a missing or overlong varint.
    #[test]
    fn pair_layout_splits_exactly_and_refuses_bad_lengths() {
        let bytes: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        for len0 in 0..=150 {
            for len1 in [0, 1, 2, 127, 128, 150] {
                let (s0, s1) = (&bytes[..len0], &bytes[len0..len0 + len1]);
                let p = join_pair(s0, s1);
                assert_eq!(split_pair(&p).unwrap(), (s0, s1), "{len0} + {len1}");
                // Another payload length with the same field: the parity or the
                // bound fails, or the split moves (the decoders then refuse it).
                for cut in 0..p.len() {
                    if let Ok((a, b)) = split_pair(&p[..cut]) {
                        assert_eq!(a.len() + b.len() + p.len() - s0.len() - s1.len(), cut);
                    }
                }
            }
        }
        // Difference past the payload: 2 * 5 = 10 with 4 bytes after the field.
        assert!(matches!(
            split_pair(&[10, 1, 2, 3, 4]),
            Err(Error::Corrupt { .. })
        ));
        // The largest difference the payload allows, each way.
        assert_eq!(
            split_pair(&[8, 1, 2, 3, 4]).unwrap(),
            (&[1u8, 2, 3, 4][..], &[][..])
        );
        assert_eq!(
            split_pair(&[7, 1, 2, 3, 4]).unwrap(),
            (&[][..], &[1u8, 2, 3, 4][..])
        );
        // Odd difference with an even number of bytes.
        assert!(matches!(
            split_pair(&[2, 1, 2, 3, 4]),
            Err(Error::Corrupt { .. })
        ));
        // Huge values never overflow.
        let mut huge = vec![0xFF; 9];
        huge.push(0x01);
        huge.extend_from_slice(&[1, 2, 3]);
        assert!(split_pair(&huge).is_err());
        assert!(split_pair(&[]).is_err());
        assert!(split_pair(&[0x80]).is_err());
        assert_eq!(split_pair(&[0]).unwrap(), (&[][..], &[][..]));
    }

    fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            proptest::collection::vec(0u8..4, 0..3000),
            (any::<u8>(), 0usize..3000).prop_map(|(b, n)| vec![b; n]),
            proptest::collection::vec(prop_oneof![9 => Just(b'e'), 1 => any::<u8>()], 0..3000),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_round_trip(data in data_strategy(), s in 8u32..=16) {
            let t = table_for(&data, s);
            round_trip(&data, &t);
        }

        /// The static two-coder pair is what `InterleavedRangeEncoder` writes with the
        /// table's intervals, decodes back, and a cut or a flipped bit in it is an error
        /// or other output, never the data.
        #[test]
        fn static_pair_round_trips_and_is_the_interleaved_stream(
            data in data_strategy(),
            s in 8u32..=16,
            cut in any::<prop::sample::Index>(),
            bit in any::<prop::sample::Index>(),
        ) {
            let t = table_for(&data, s);
            let pair = encode_order0_pair(&data, &t).unwrap();
            let mut enc = InterleavedRangeEncoder::new();
            for &b in &data {
                let iv = t.interval(b).unwrap();
                enc.encode(iv.start, iv.freq, s);
            }
            prop_assert_eq!(&pair, &enc.finish());
            let mut out = vec![0u8; data.len()];
            decode_order0_pair(&pair, &t, &mut out).unwrap();
            prop_assert_eq!(&out, &data);
            let cut = cut.index(pair.len());
            if decode_order0_pair(&pair[..cut], &t, &mut out).is_ok() {
                prop_assert_ne!(&out, &data);
            }
            let bit = bit.index(pair.len() * 8);
            let mut bad = pair.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            if decode_order0_pair(&bad, &t, &mut out).is_ok() {
                prop_assert_ne!(&out, &data);
            }
        }

        #[test]
        fn damaged_streams_fail_or_differ(data in data_strategy(), s in 8u32..=16, cut in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>()) {
            let t = table_for(&data, s);
            let stream = encode_order0(&data, &t).unwrap();
            let cut = cut.index(stream.len());
            if let Ok(out) = decode_both(&stream[..cut], &t, data.len()) {
                prop_assert_ne!(out, data.clone());
            }
            let bit = bit.index(stream.len() * 8);
            let mut bad = stream.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            if let Ok(out) = decode_both(&bad, &t, data.len()) {
                prop_assert_ne!(out, data);
            }
        }

        #[test]
        fn flat_renormalise_matches_bytewise(
            stream in proptest::collection::vec(any::<u8>(), 1..8),
            pos in 0usize..10,
            bits in 8u32..24,
            low in any::<u32>(),
            code in any::<u32>(),
        ) {
            // Any state the decoder can be in before a renormalisation: code < range,
            // 2^8 <= range < 2^24 (every length equally likely), the next byte
            // anywhere up to past the end.
            let range = (1 << bits) | (low & ((1 << bits) - 1));
            let mut a = RangeDecoder::new(&stream).unwrap();
            (a.pos, a.range, a.code) = (pos, range, code % range);
            let mut b = a.clone();
            a.renormalise();
            b.renormalise_bytewise();
            prop_assert_eq!((a.pos, a.range, a.code), (b.pos, b.range, b.code));
        }

        #[test]
        fn valid_methods_match_checked_ones(
            stream in proptest::collection::vec(any::<u8>(), 1..200),
            steps in proptest::collection::vec((any::<bool>(), any::<u16>(), any::<u16>()), 0..300),
        ) {
            // The same intervals (valid at scale 16: freq >= 1, start + freq <= 2^16; an
            // empty one for consume_if) through the checked and the unchecked methods.
            let mut a = RangeDecoder::new(&stream).unwrap();
            let mut b = a.clone();
            for (ask, x, y) in steps {
                let (start, freq) = if x % 2 == 0 {
                    // An interval that holds the target (a symbol decoded as it is)...
                    let t = a.peek(16).min(0xffff);
                    let start = t.saturating_sub(u32::from(y) % 64);
                    (start, (t - start + 1 + u32::from(x) % 64).min((1 << 16) - start))
                } else {
                    // ...or any valid one.
                    let freq = u32::from(y).max(1);
                    (u32::from(x) % ((1 << 16) - freq + 1), freq)
                };
                if ask {
                    let freq = if x % 7 == 0 { 0 } else { freq };
                    prop_assert_eq!(a.consume_if(start, freq, 16), b.consume_if_valid(start, freq, 16));
                } else {
                    a.consume(start, freq, 16);
                    b.consume_valid(start, freq, 16);
                }
                prop_assert_eq!((a.pos, a.range, a.code), (b.pos, b.range, b.code));
            }
            prop_assert_eq!(format!("{:?}", Decode::finish(a)), format!("{:?}", Decode::finish(b)));
        }

        #[test]
        fn random_streams_never_panic(
            stream in proptest::collection::vec(any::<u8>(), 0..600),
            counts in proptest::collection::vec(0u64..50, 256),
            n in 0usize..3000,
            s in 8u32..=16,
        ) {
            let mut c = Counts::default();
            c.0.copy_from_slice(&counts);
            c.0[0] += 1;
            let t = FreqTable::from_counts(&c, s).unwrap();
            if let Ok(out) = decode_both(&stream, &t, n) {
                // Accepted streams are exactly what the encoder writes for their output.
                prop_assert_eq!(encode_order0(&out, &t).unwrap(), stream);
            }
        }
    }
}
