//! Fast bit I/O with a 64-bit accumulator: a forward [`BitWriter`] and a
//! [`BackwardBitReader`] that reads the writer's stream from its end.
//!
//! # Read me first
//!
//! 1. **Direction.** The writer appends bits forward, low bits first: the stream is one
//!    little-endian number of `8 * len` bits, and the bits of each `put` sit above the
//!    bits of the `put` before it. The reader starts at the *top* of that number (the end
//!    of the byte slice) and walks down. So the reader sees the *last* value written
//!    first, and within one value it sees the most significant bit first. A table coder
//!    (Huffman, tANS) therefore feeds the writer its symbols last to first, and the
//!    decoder comes out first to last. This is the layout zstd's Huff0/FSE made common;
//!    it lets both sides move whole 8-byte words, the writer forward and the reader
//!    backward, with no byte swapping or bit reversal.
//! 2. **End marker.** [`BitWriter::finish`] puts a single 1 bit above the payload and pads
//!    the last byte with zeros. The reader finds the payload's top as the highest set bit
//!    of the last byte, so no length field is needed; a last byte of 0 is corruption.
//! 3. **Budget between flushes and refills.** After a flush the writer holds at most 7
//!    bits, so `57` bits may be put before the next flush. After a fast refill the reader
//!    has consumed at most 7 bits of its 64-bit window, so `57` bits may be read before
//!    the next refill. The callers' unrolled loops are sized from these two numbers.
//! 4. **Running off the start.** Past the beginning of the stream the reader reads zeros
//!    (never out of bounds) and [`BackwardBitReader::finish`] reports it; a hostile stream
//!    therefore decodes to garbage and then to an error, never to a panic.
//!
//! # Why not `bitvec` here
//!
//! `bitvec` (used in [`crate::coder::huffman`] to *show* code words, where clarity beats
//! speed) models a sequence of single bits: appending a `k`-bit code word is a loop over
//! `k` bits, each a read-modify-write of one byte behind a bounds and capacity check, and
//! reading is the same in reverse. The accumulator here moves up to 57 bits with one shift
//! and one OR, and touches memory once per 8 bytes with an unconditional 8-byte store or
//! load. `benches/huffman.rs` (group `bitvec_vs_accumulator`) measures the difference on
//! book1; see the numbers in the module note of `huffman.rs`.

use crate::error::{Error, Result};

/// Bits that may be put into a [`BitWriter`] between two flushes (and read from a
/// [`BackwardBitReader`] between two refills) without losing any.
pub const BITS_PER_FLUSH: u32 = 57;

/// Appends bits forward into a growable byte buffer (read me first, item 1).
#[derive(Debug)]
pub struct BitWriter {
    /// Output bytes. Invariant: `buf.len() >= pos + 8`, so a flush never reallocates
    /// inside the hot loop unless the stream outgrew its reservation.
    buf: Vec<u8>,
    /// Bytes of `buf` that are final.
    pos: usize,
    /// Pending bits, low bits first. Invariant: bits at and above `nbits` are zero.
    acc: u64,
    /// Number of pending bits. Invariant: `nbits <= 64`.
    nbits: u32,
}

impl BitWriter {
    /// A writer whose buffer already has room for `bytes` output bytes.
    pub fn with_capacity(bytes: usize) -> BitWriter {
        BitWriter {
            buf: vec![0; bytes.saturating_add(8)],
            pos: 0,
            acc: 0,
            nbits: 0,
        }
    }

    /// Adds the low `n` bits of `value`; the bits of `value` above `n` must be zero.
    ///
    /// Requires `nbits + n <= 64`: at most [`BITS_PER_FLUSH`] bits between two calls of
    /// [`BitWriter::flush`]. Breaking this loses bits (never memory safety).
    #[inline(always)]
    pub fn put(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 57 && value >> n == 0 && self.nbits + n <= 64);
        self.acc |= value << (self.nbits & 63);
        self.nbits += n;
    }

    /// Moves the whole bytes of the accumulator to the buffer; leaves `<= 7` bits pending.
    #[inline(always)]
    pub fn flush(&mut self) {
        if self.buf.len() < self.pos + 8 {
            self.grow();
        }
        // One unconditional 8-byte store; only `nbits / 8` of its bytes become final, the
        // rest are overwritten by the next flush.
        self.buf[self.pos..self.pos + 8].copy_from_slice(&self.acc.to_le_bytes());
        let whole = self.nbits >> 3;
        self.pos += whole as usize;
        self.nbits &= 7;
        // `whole * 8` can be 64 only when nbits was 64; shifting a u64 by 64 is not
        // defined, so split the shift.
        self.acc = (self.acc >> (whole * 4)) >> (whole * 4);
    }

    #[cold]
    fn grow(&mut self) {
        let new_len = (self.buf.len() * 2).max(self.pos + 8);
        self.buf.resize(new_len, 0);
    }

    /// Bits written so far, pending ones included.
    pub fn bits_written(&self) -> u64 {
        self.pos as u64 * 8 + u64::from(self.nbits)
    }

    /// Puts the end marker (a 1 bit), pads to a whole byte and returns the stream.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.put(1, 1);
        self.flush();
        // The pending (< 8) bits already sit in buf[pos]: the last flush stored the whole
        // accumulator before shifting it.
        let end = self.pos + (self.nbits as usize).div_ceil(8);
        self.buf.truncate(end);
        self.buf
    }
}

/// Reads a [`BitWriter`] stream from its end towards its start (read me first, item 1).
#[derive(Clone, Debug)]
pub struct BackwardBitReader<'a> {
    /// The whole stream, end marker included.
    data: &'a [u8],
    /// The window: `data[start..start + 8]` as a little-endian u64 when the stream has at
    /// least 8 bytes; for a shorter stream its bytes sit at the top and zeros below.
    window: u64,
    /// Bits consumed from the top of `window`. May exceed 64 only on a damaged stream.
    consumed: u32,
    /// Index of the window's lowest byte in `data`.
    start: usize,
    /// Real (stream) bits in the window when `start == 0`: `min(64, 8 * data.len())`.
    /// The stream is used up exactly when `start == 0 && consumed == real_bits`.
    real_bits: u32,
}

impl<'a> BackwardBitReader<'a> {
    /// Opens a stream written by [`BitWriter::finish`]; checks its end marker.
    pub fn new(data: &'a [u8]) -> Result<BackwardBitReader<'a>> {
        let Some(&last) = data.last() else {
            return Err(Error::Truncated {
                what: "bit stream",
                needed: 1,
                available: 0,
            });
        };
        if last == 0 {
            return Err(Error::Corrupt {
                what: "bit stream has no end marker",
            });
        }
        let (window, start, real_bits) = if data.len() >= 8 {
            let start = data.len() - 8;
            (load_le(data, start), start, 64)
        } else {
            let mut bytes = [0u8; 8];
            bytes[8 - data.len()..].copy_from_slice(data);
            (u64::from_le_bytes(bytes), 0, 8 * data.len() as u32)
        };
        Ok(BackwardBitReader {
            data,
            window,
            // Skip the zero padding and the marker bit itself.
            consumed: last.leading_zeros() + 1,
            start,
            real_bits,
        })
    }

    /// True when [`BackwardBitReader::refill_fast`] may be called: the window can move
    /// down by 7 bytes without leaving the stream.
    #[inline(always)]
    pub fn can_refill_fast(&self) -> bool {
        self.start >= 8
    }

    /// Refills a window whose consumed bits are `<= 63`, where `can_refill_fast()` holds.
    /// Afterwards at most 7 bits are consumed, so [`BITS_PER_FLUSH`] bits can be read.
    #[inline(always)]
    pub fn refill_fast(&mut self) {
        debug_assert!(self.start >= 8 && self.consumed < 64);
        self.start -= (self.consumed >> 3) as usize;
        self.consumed &= 7;
        self.window = load_le(self.data, self.start);
    }

    /// Refills as far as the stream allows. Near the start of the stream fewer than
    /// [`BITS_PER_FLUSH`] real bits may remain; reads past them give zeros.
    #[inline]
    pub fn refill(&mut self) {
        if self.start == 0 {
            return;
        }
        let step = ((self.consumed >> 3) as usize).min(self.start);
        self.start -= step;
        self.consumed -= 8 * step as u32;
        self.window = load_le(self.data, self.start);
    }

    /// The next `n` bits (`1 <= n <= 57`) as a number, first bit most significant,
    /// without consuming them. Past the end of the window it reads zeros.
    #[inline(always)]
    pub fn peek(&self, n: u32) -> u64 {
        debug_assert!((1..=57).contains(&n));
        // A window shifted by 64 or more holds nothing: zeros.
        self.window.checked_shl(self.consumed).unwrap_or(0) >> (64 - n)
    }

    /// Consumes `n` bits (`n <= 57`) that were peeked.
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        self.consumed += n;
    }

    /// Peeks `n` bits when the caller guarantees `consumed + n <= 64` (it refilled and has
    /// read no more than [`BITS_PER_FLUSH`] bits since); one shift pair, no branch.
    #[inline(always)]
    pub fn peek_fast(&self, n: u32) -> u64 {
        debug_assert!(self.consumed < 64 && (1..=57).contains(&n));
        (self.window << (self.consumed & 63)) >> (64 - n)
    }

    /// The unread bits of the window, first bit at the top (bit 63), zeros below them.
    /// Right after [`BackwardBitReader::refill_fast`] at least [`BITS_PER_FLUSH`] of them
    /// are stream bits. A caller may shift a copy of this left as it decodes and report
    /// the bits it used with [`BackwardBitReader::consume`]: that keeps the shift amount
    /// (a table entry) on the dependency chain instead of a running bit count.
    #[inline(always)]
    pub fn aligned_bits(&self) -> u64 {
        debug_assert!(self.consumed < 64);
        self.window << (self.consumed & 63)
    }

    /// The window's place: the index in the stream of its lowest byte, and the bits
    /// consumed from its top. With [`BackwardBitReader::seek`] this lets a caller run its
    /// own unrolled loop on the stream's bytes and hand the position back.
    #[inline(always)]
    pub fn position(&self) -> (usize, u32) {
        (self.start, self.consumed)
    }

    /// Moves the window to `start` (no later than the current one: a reader only walks
    /// towards the stream's start) with `consumed` bits of it used, as returned by
    /// [`BackwardBitReader::position`] and advanced by a caller's own loop. A later
    /// `start` is clamped to the current one, so a caller's mistake cannot make a read
    /// leave the stream.
    pub fn seek(&mut self, start: usize, consumed: u32) {
        let start = start.min(self.start);
        if start != self.start {
            self.start = start;
            self.window = load_le(self.data, start);
        }
        self.consumed = consumed;
    }

    /// Like [`BackwardBitReader::aligned_bits`], with a *marker*: the window's lowest bit
    /// is replaced by a 1 before the shift, so the marker sits just below the unread
    /// bits and `trailing_zeros` of the shifted copy is the number of bits consumed from
    /// the window. The replaced bit is the window's last, which a caller that reads at
    /// most [`BITS_PER_FLUSH`] bits after [`BackwardBitReader::refill_fast`] never
    /// reaches (`7 + 57 < 64`). Hand the position back with
    /// [`BackwardBitReader::seek`].
    #[inline(always)]
    pub fn marked_bits(&self) -> u64 {
        debug_assert!(self.consumed < 64);
        (self.window | 1) << (self.consumed & 63)
    }

    /// Reads `n` bits (`1 <= n <= 57`), refilling first as far as the stream allows.
    #[inline]
    pub fn read(&mut self, n: u32) -> u64 {
        self.refill();
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// True if more bits were consumed than the stream holds (a damaged stream).
    #[inline]
    pub fn overrun(&self) -> bool {
        // With start > 0 the window still has real bits below it, and consumption is at
        // most 64 + 57 before a refill, so only the bottom window can overrun.
        self.start == 0 && self.consumed > self.real_bits
    }

    /// Real bits not yet consumed.
    pub fn bits_left(&self) -> u64 {
        (self.start as u64 * 8 + u64::from(self.real_bits)).saturating_sub(u64::from(self.consumed))
    }

    /// Checks that the stream was used up exactly: no bit left over, none read past it.
    pub fn finish(self) -> Result<()> {
        if self.start != 0 || self.consumed < self.real_bits {
            return Err(Error::Corrupt {
                what: "bit stream has unread bits",
            });
        }
        if self.consumed > self.real_bits {
            return Err(Error::Truncated {
                what: "bit stream",
                needed: u64::from(self.consumed - self.real_bits).div_ceil(8),
                available: 0,
            });
        }
        Ok(())
    }
}

/// `data[at..at + 8]` as a little-endian u64; the caller guarantees `at + 8 <= len`.
#[inline(always)]
fn load_le(data: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&data[at..at + 8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Writes `(value, width)` pairs in order; reading backward must give them reversed.
    fn round_trip(items: &[(u64, u32)]) {
        let mut w = BitWriter::with_capacity(0);
        let mut since_flush = 0;
        for &(v, n) in items {
            if since_flush + n > BITS_PER_FLUSH {
                w.flush();
                since_flush = 0;
            }
            w.put(v, n);
            since_flush += n;
        }
        let total: u64 = items.iter().map(|&(_, n)| u64::from(n)).sum();
        assert_eq!(w.bits_written(), total);
        let stream = w.finish();
        assert_eq!(stream.len() as u64, (total + 1).div_ceil(8));
        let mut r = BackwardBitReader::new(&stream).unwrap();
        for &(v, n) in items.iter().rev() {
            assert_eq!(r.read(n), v, "width {n}");
        }
        assert_eq!(r.bits_left(), 0);
        r.finish().unwrap();
    }

    #[test]
    fn empty_stream_is_one_marker_byte() {
        let s = BitWriter::with_capacity(0).finish();
        assert_eq!(s, vec![1]);
        BackwardBitReader::new(&s).unwrap().finish().unwrap();
    }

    #[test]
    fn fixed_pattern_round_trips() {
        let items: Vec<(u64, u32)> = (0..1000u64)
            .map(|i| {
                let n = (i % 57 + 1) as u32;
                (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - n), n)
            })
            .collect();
        round_trip(&items);
    }

    #[test]
    fn reading_past_the_start_is_reported() {
        let mut w = BitWriter::with_capacity(0);
        w.put(0b101, 3);
        let s = w.finish();
        let mut r = BackwardBitReader::new(&s).unwrap();
        assert_eq!(r.read(3), 0b101);
        assert!(!r.overrun());
        assert_eq!(r.read(9), 0);
        assert!(r.overrun());
        assert!(matches!(r.finish(), Err(Error::Truncated { .. })));
    }

    #[test]
    fn unread_bits_are_reported() {
        let mut w = BitWriter::with_capacity(0);
        w.put(0x3ff, 10);
        let s = w.finish();
        let mut r = BackwardBitReader::new(&s).unwrap();
        r.read(9);
        assert!(matches!(r.finish(), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn missing_marker_is_corrupt() {
        assert!(BackwardBitReader::new(&[]).is_err());
        assert!(BackwardBitReader::new(&[5, 0]).is_err());
    }

    /// A stream of `items`, flushed after every five (as the fast readers expect).
    fn write_in_fives(items: &[(u64, u32)]) -> Vec<u8> {
        let mut w = BitWriter::with_capacity(16);
        for chunk in items.chunks(5) {
            for &(v, n) in chunk {
                w.put(v, n);
            }
            w.flush();
        }
        w.finish()
    }

    #[test]
    fn fast_refill_path_matches_plain_reads() {
        let items: Vec<(u64, u32)> = (0..400u64).map(|i| (i & 0x7ff, 11)).collect();
        let s = write_in_fives(&items);
        let mut r = BackwardBitReader::new(&s).unwrap();
        let mut got = Vec::new();
        while got.len() + 5 <= items.len() && r.can_refill_fast() {
            r.refill_fast();
            for _ in 0..5 {
                got.push(r.peek_fast(11));
                r.consume(11);
            }
        }
        while got.len() < items.len() {
            got.push(r.read(11));
        }
        r.finish().unwrap();
        let want: Vec<u64> = items.iter().rev().map(|&(v, _)| v).collect();
        assert_eq!(got, want);
    }

    /// A caller's own loop on the marked window (as Huffman's decoder runs it) hands the
    /// position back with `seek`, and plain reads carry on from there.
    #[test]
    fn marked_window_and_seek_match_plain_reads() {
        let items: Vec<(u64, u32)> = (0..300u64).map(|i| ((i * 37) & 0x3ff, 10)).collect();
        let s = write_in_fives(&items);
        let mut r = BackwardBitReader::new(&s).unwrap();
        let (mut start, _) = r.position();
        let mut bits = r.marked_bits();
        let mut got = Vec::new();
        while start >= 8 && got.len() + 5 <= items.len() {
            let used = bits.trailing_zeros();
            start -= (used >> 3) as usize;
            let word = u64::from_le_bytes(s[start..start + 8].try_into().unwrap());
            bits = (word | 1) << (used & 7);
            for _ in 0..5 {
                got.push(bits >> 54);
                bits <<= 10;
            }
        }
        assert!(got.len() > 200, "the loop must have run");
        r.seek(start, bits.trailing_zeros());
        while got.len() < items.len() {
            got.push(r.read(10));
        }
        r.finish().unwrap();
        let want: Vec<u64> = items.iter().rev().map(|&(v, _)| v).collect();
        assert_eq!(got, want);
    }

    proptest! {
        #[test]
        fn arbitrary_values_round_trip(
            raw in proptest::collection::vec((any::<u64>(), 1u32..=57), 0..300)
        ) {
            let items: Vec<(u64, u32)> = raw.iter().map(|&(v, n)| (v >> (64 - n), n)).collect();
            round_trip(&items);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64),
                                       widths in proptest::collection::vec(1u32..=57, 0..40)) {
            if let Ok(mut r) = BackwardBitReader::new(&data) {
                for n in widths {
                    r.read(n);
                }
                let _ = r.finish();
            }
        }
    }
}
