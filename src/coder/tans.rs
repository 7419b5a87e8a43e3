//! tANS: tabled asymmetric numeral systems, FSE-style, with interleaved states.
//!
//! References, whose notation the code uses on the lines that implement them:
//! J. Duda, "Asymmetric numeral systems: entropy coding combining speed of Huffman
//! coding with compression rate of arithmetic coding", arXiv:1311.2540 (2013), tANS with
//! `b = 2` (states `x` in `I = {L, .., 2L-1}`, per-symbol ranges `I_s = {L_s, .., 2L_s-1}`
//! with `L_s = f_s` here, decoding `(s, x_s) = D(x)`, encoding `x = C(s, x_s)`);
//! Y. Collet, "Finite State Entropy" blog series (fastcompression.blogspot.com,
//! 2013-2014), for `nbBits`, `deltaNbBits`, `deltaFindState` and the spreading step.
//!
//! # Read me first: the traps
//!
//! 1. **Encode backwards.** tANS is LIFO: the encoder walks the block from the last
//!    symbol to the first, so that the decoder produces symbols first to last.
//! 2. **The decoder reads the bit stream backwards.** The encoder appends bits at
//!    increasing positions; the decoder starts at the *end* of the stream and walks
//!    towards byte 0. Each symbol's `nb` bits are a value whose low bit is the lowest
//!    position, in both directions.
//! 3. **Initial and final states.** The encoder starts every state at `x = L` (the
//!    bottom of `I`). After the last (= first) symbol, its states are *flushed*: written
//!    as `x - L` in `R` bits each, state `N-1` first, state `0` last, so the decoder reads
//!    state 0 first. The decoder keeps states as `x - L` in `[0, L)` (an index into its
//!    table); at the end of a valid stream every state is back at 0 (`x = L`) and every
//!    bit has been read. Both are checked, and a stream that passes is exactly the
//!    encoding of what was decoded (each decoding step inverts one encoding step).
//! 4. **Interleaving.** `N_STATES = 4` states share one bit stream; symbol `i` is coded
//!    by state `i mod 4`. The encoder runs the states in the order
//!    `i = n-1, n-2, .., 0`, so the bits of one group of four are written 3, 2, 1, 0 and
//!    read 0, 1, 2, 3.
//! 5. **Terminator.** After the flushed states the encoder writes a single `1` bit, then
//!    zeros up to a byte boundary. The last byte is never 0; its highest set bit marks
//!    where the decoder starts reading (downwards, excluding the marker).
//! 6. **One distinct symbol** gets `f_s = L`: every state maps back to `I` with
//!    `nb = 0`, so the stream holds only the flushed states and the marker.
//!
//! # Stream layout (for docs/FORMAT.md)
//!
//! ```text
//! The stream is a bit string; bit k is bit (k & 7) of byte (k >> 3) (LSB first).
//! From bit 0 upwards the encoder writes:
//!   for i = n-1 down to 0:   nb_i bits: the low nb_i bits of state (i mod 4) before
//!                            coding symbol i (value LSB at the lowest position)
//!   for j = 3 down to 0:     R bits: final state j minus L (L = 2^R)
//!   one 1 bit (terminator), then 0 bits up to the next byte boundary.
//! Length: ceil((sum nb_i + 4R + 1) / 8) bytes, at most max_stream_len(n, R).
//! The table log R and n are not in the stream: the container stores them.
//! ```
//!
//! # Table construction
//!
//! With `L = 2^R` and normalised frequencies `f_s` (`sum f_s = L`, from a
//! [`FreqTable`] of scale `R`), the symbols are *spread* over the `L` table slots by
//! stepping through the slots with `step = 5L/8 + 3`: odd, hence coprime with `L`, so the
//! walk visits every slot exactly once, and it scatters each symbol's slots roughly
//! evenly, which is what keeps `log2(x / x_s)` close to `log2(L / f_s)`.
//! Slot `u` (state `x = L + u`) owning symbol `s` gets the next unused `x_s` of `I_s`, in
//! increasing `u`. The decoding table stores per slot `(s, nb, new-state base)`; the
//! encoding tables store, per symbol, where its `x_s` values live and how to find `nb`.

use crate::error::{Error, Result};
use crate::model::{Counts, Distribution, FreqTable};

/// Smallest table log `R` (the table has `2^R` states) this coder accepts.
pub const MIN_TABLE_LOG: u32 = 9;
/// Largest table log `R`; states then fit in 13 bits and a symbol emits at most 12.
pub const MAX_TABLE_LOG: u32 = 12;

/// Number of interleaved states sharing one bit stream (part of the format). Measured on
/// book1 (CPU time, BMI2 path): 4 states decode 1.8x and encode 1.1x as fast as 2.
const N_STATES: usize = 4;
/// Symbols decoded (or encoded) between two refills (flushes) of the bit buffer: at most
/// `GROUP * MAX_TABLE_LOG = 48` bits, so 64-bit buffers never overflow. A multiple of
/// `N_STATES`.
const GROUP: usize = 4;
const _: () = assert!(GROUP % N_STATES == 0 && GROUP * MAX_TABLE_LOG as usize <= 56);

/// Picks the table log `R` for a block with histogram `counts`.
///
/// Two pulls, then clamped to [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`]:
/// - *alphabet*: `ceil(log2 d) + 2` for `d` distinct symbols, so that the `2^R` states
///   give each symbol at least four states on average; the coder's loss against the
///   quantised model falls quickly as states per symbol grow.
/// - *block length*: `ceil(log2 n) - 2` for an `n`-byte block, i.e. fewer than `n/2`
///   states: a model much finer than `1/n` describes noise and costs header bits and
///   table-building time for nothing.
///
/// `R = clamp(max(alphabet, length))`, so blocks of more than 8 KiB get `R = 12`. On the
/// Canterbury and Calgary files over 100 KB the coder then stays within 0.07% of the
/// quantised model's cross entropy.
pub fn choose_table_log(counts: &Counts) -> u32 {
    let ceil_log2 = |v: u64| 64 - v.max(1).saturating_sub(1).leading_zeros();
    let length = ceil_log2(counts.total()).saturating_sub(2);
    let alphabet = ceil_log2(counts.distinct() as u64) + 2;
    length.max(alphabet).clamp(MIN_TABLE_LOG, MAX_TABLE_LOG)
}

/// Largest stream [`encode_block`] writes for `n_symbols` symbols at table log
/// `table_log`: every symbol emits at most `R` bits, plus the flushed states and the
/// terminator byte.
pub fn max_stream_len(n_symbols: usize, table_log: u32) -> usize {
    let r = table_log as usize;
    n_symbols
        .saturating_mul(r)
        .saturating_add(N_STATES * r + 1 + 7)
        / 8
}

/// One slot of the decoding table: `D(x)` for `x = L + slot`, pre-combined with the
/// renormalisation that follows it.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct DecodeEntry {
    /// `(x_s << nb) - L`: adding the `nb` bits read gives the next slot. `< L`, and
    /// `base + 2^nb <= L`, so the next slot is always in the table.
    base: u16,
    /// The symbol `s` this slot decodes to.
    symbol: u8,
    /// `nb = R - floor(log2 x_s)`: bits that bring `x_s` back into `I`; `<= R`.
    nb_bits: u8,
}

/// How the encoder codes one symbol `s` from a state `x` in `I` (Collet's `symbolTT`).
#[derive(Clone, Copy, Debug, Default)]
struct SymbolTransform {
    /// `(k << 16) - (f_s << k)` with `k = R - floor(log2 f_s)` (wrapping), so that
    /// `nb = (x + delta_nb_bits) >> 16` is `k` when `x >= f_s << k`, else `k - 1`.
    /// The sum stays below `2^21`; for a symbol with `f_s = 0` this field is
    /// [`MISSING`]` | ((R << 16) - L)`: bits 16..24 of the sum are then `R`, which keeps
    /// the step in bounds, and bit 31 flags the block as uncodable.
    delta_nb_bits: u32,
    /// `cum_s - f_s` (wrapping): `x_s + delta_find_state` indexes `next_state` for
    /// `x_s` in `I_s = [f_s, 2 f_s)`.
    delta_find_state: u32,
}

/// Flag bit in [`SymbolTransform::delta_nb_bits`] of a symbol with frequency 0.
const MISSING: u32 = 1 << 31;

/// The decoding and encoding tables of one static distribution at table log `R`.
///
/// Built once per distribution (per block, or per context of an order-k model); holds no
/// global state. Memory: `4 * 2^R` bytes of decoding table plus 10 KiB.
#[derive(Clone, Debug)]
pub struct TansTables {
    /// `R`, in [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`].
    table_log: u32,
    /// `D`: `2^R` entries indexed by `x - L`.
    decode: Vec<DecodeEntry>,
    /// `C`: next states `x` in `I = [L, 2L)` in the first `2^R` entries; symbol `s`'s
    /// `f_s` entries start at `cum_s`, entry `cum_s + (x_s - f_s)` is `C(s, x_s)`. Sized
    /// for the largest `R` so that the encoder's index needs a mask, not a bounds check
    /// (measured: about 10% faster encoding than a checked `Vec` index).
    next_state: Box<[u16; 1 << MAX_TABLE_LOG]>,
    /// Per-symbol encoding parameters, indexed by byte value.
    transform: [SymbolTransform; 256],
}

impl TansTables {
    /// Builds the tables for `table`, whose scale is the table log `R`.
    ///
    /// Errors: [`Error::LimitExceeded`] if the scale is outside
    /// [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`].
    pub fn new(table: &FreqTable) -> Result<TansTables> {
        let r = table.scale_bits();
        if !(MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&r) {
            return Err(Error::LimitExceeded {
                what: "tans table log",
                got: u64::from(r),
                max: u64::from(MAX_TABLE_LOG),
            });
        }
        let l = 1usize << r;
        let freq = table.freqs();
        let cum = table.cums();

        // Spread: symbol s occupies f_s slots, visited with an odd step (coprime with L).
        let mut spread = [0u8; 1 << MAX_TABLE_LOG];
        let step = (l >> 1) + (l >> 3) + 3;
        let mut pos = 0;
        for (s, &f) in freq.iter().enumerate() {
            for _ in 0..f {
                spread[pos] = s as u8;
                pos = (pos + step) & (l - 1);
            }
        }
        // sum f_s = L steps of an odd step modulo L come back to the start.
        debug_assert_eq!(pos, 0);

        // next_xs[s] is the next unused x_s in I_s = [f_s, 2 f_s).
        let mut next_xs = *freq;
        let mut decode = vec![DecodeEntry::default(); l];
        let mut next_state = Box::new([0u16; 1 << MAX_TABLE_LOG]);
        for (u, entry) in decode.iter_mut().enumerate() {
            let s = usize::from(spread[u]);
            let x_s = next_xs[s];
            next_xs[s] += 1;
            // nbBits = R - floor(log2 x_s): the x = (x_s << nb) + bits lie in I.
            let nb = r - (31 - x_s.leading_zeros());
            *entry = DecodeEntry {
                base: ((x_s << nb) as usize - l) as u16,
                symbol: s as u8,
                nb_bits: nb as u8,
            };
            // C(s, x_s) = L + u: the inverse of (s, x_s) = D(L + u).
            next_state[(cum[s] + x_s - freq[s]) as usize] = (l + u) as u16;
        }

        let mut transform = [SymbolTransform::default(); 256];
        for (s, t) in transform.iter_mut().enumerate() {
            let f = freq[s];
            *t = if f == 0 {
                // nb = R, x >> R = 1, index 1 - 1 = 0: harmless, and flagged.
                SymbolTransform {
                    delta_nb_bits: MISSING | ((r << 16) - l as u32),
                    delta_find_state: u32::MAX,
                }
            } else {
                let k = r - (31 - f.leading_zeros());
                SymbolTransform {
                    delta_nb_bits: (k << 16).wrapping_sub(f << k),
                    delta_find_state: cum[s].wrapping_sub(f),
                }
            };
        }
        Ok(TansTables {
            table_log: r,
            decode,
            next_state,
            transform,
        })
    }

    /// The table log `R` (the tables have `2^R` states).
    pub fn table_log(&self) -> u32 {
        self.table_log
    }
}

/// Encodes `data` with `tables`; layout in the module notes.
///
/// Errors: [`Error::ZeroFrequency`] if `data` holds a byte whose frequency is 0.
pub fn encode_block(data: &[u8], tables: &TansTables) -> Result<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `encode_bmi2` requires.
        return unsafe { encode_bmi2(data, tables) };
    }
    encode_impl::<N_STATES>(data, tables)
}

/// [`encode_impl`] compiled with BMI2's flag-free variable shifts (`shlx`, `shrx`,
/// `bzhi`), which free `cl` and relieve register pressure in the interleaved loop.
/// Measured on book1 (CPU time): encoding and decoding both about 1.25x as fast as the
/// portable build of the same code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn encode_bmi2(data: &[u8], tables: &TansTables) -> Result<Vec<u8>> {
    encode_impl::<N_STATES>(data, tables)
}

#[inline(always)]
fn encode_impl<const N: usize>(data: &[u8], tables: &TansTables) -> Result<Vec<u8>> {
    const { assert!(GROUP % N == 0) };
    let r = tables.table_log;
    let l = 1u32 << r;
    let next_state = &*tables.next_state;
    let transform = &tables.transform;
    let mut w = BitWriter::new(max_stream_len(data.len(), r));
    // Every state starts at the bottom of I; the decoder checks it ends there.
    let mut x = [l; N];
    let mut missing = 0u32;

    // One step x -> C(s, x >> nb), emitting the low nb bits of x.
    let mut put = |x: &mut u32, s: u8, w: &mut BitWriter| {
        let t = transform[usize::from(s)];
        let sum = x.wrapping_add(t.delta_nb_bits);
        missing |= sum;
        // nbBits = (x + deltaNbBits) >> 16: the nb with (x >> nb) in I_s = [f_s, 2 f_s).
        let nb = u32::from((sum >> 16) as u8);
        w.put(*x & ((1 << nb) - 1), nb);
        // x = C(s, x_s) with x_s = x >> nb, via deltaFindState = cum_s - f_s. The index
        // is below L already (x_s lies in [f_s, 2 f_s)); the mask only spares the check.
        let slot = (*x >> nb).wrapping_add(t.delta_find_state) as usize;
        *x = u32::from(next_state[slot & ((1 << MAX_TABLE_LOG) - 1)]);
    };

    let split = data.len() - data.len() % GROUP;
    // Symbols after the last whole group: i = n-1 down to split, state i mod N.
    for (j, &s) in data[split..].iter().enumerate().rev() {
        put(&mut x[j % N], s, &mut w);
        w.flush();
    }
    for chunk in data[..split].rchunks_exact(GROUP) {
        for j in (0..GROUP).rev() {
            put(&mut x[j % N], chunk[j], &mut w);
        }
        w.flush();
    }
    if missing & MISSING != 0 {
        let symbol = data
            .iter()
            .copied()
            .find(|&s| transform[usize::from(s)].delta_nb_bits & MISSING != 0)
            .unwrap_or(0);
        return Err(Error::ZeroFrequency { symbol });
    }
    // Flush the states, state 0 last so that the decoder reads it first.
    for &xj in x.iter().rev() {
        w.put(xj - l, r);
        w.flush();
    }
    Ok(w.finish())
}

/// Decodes `out.len()` symbols from `stream` with `tables`.
///
/// Every byte of `stream` is treated as hostile: the result is `Ok` only if the stream
/// is exactly the encoding of what was written to `out` (all bits read, final states at
/// their start value). Errors: [`Error::Truncated`] for an empty stream or one that runs
/// out of bits, [`Error::Corrupt`] otherwise. Allocates nothing; the work is linear in
/// `out.len()` (which bounds it even when symbols cost 0 bits).
pub fn decode_block(stream: &[u8], tables: &TansTables, out: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `decode_bmi2` requires.
        return unsafe { decode_bmi2(stream, tables, out) };
    }
    decode_impl::<N_STATES>(stream, tables, out)
}

/// [`decode_impl`] compiled with BMI2 (see [`encode_bmi2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn decode_bmi2(stream: &[u8], tables: &TansTables, out: &mut [u8]) -> Result<()> {
    decode_impl::<N_STATES>(stream, tables, out)
}

#[inline(always)]
fn decode_impl<const N: usize>(stream: &[u8], tables: &TansTables, out: &mut [u8]) -> Result<()> {
    const { assert!(GROUP % N == 0) };
    let r = tables.table_log;
    let table = &tables.decode[..];
    let mut st = [0usize; N];
    let mut chunks = out.chunks_exact_mut(GROUP);

    let mut slow = match FastReader::new(stream)? {
        Some(mut rd) => {
            for s in st.iter_mut() {
                *s = rd.read(r) as usize;
            }
            rd.refill();
            // Each group reads at most 48 bits; with start >= 8 the refill stays in bounds.
            while rd.start >= 8 {
                let Some(chunk) = chunks.next() else { break };
                for (j, out) in chunk.iter_mut().enumerate() {
                    // (s, x_s) = D(x), then x = (x_s << nb) + bits, as slot x - L.
                    let e = table[st[j % N]];
                    *out = e.symbol;
                    st[j % N] = usize::from(e.base) + rd.read(u32::from(e.nb_bits)) as usize;
                }
                rd.refill();
            }
            rd.into_slow()?
        }
        None => {
            let mut rd = SlowReader::new(stream)?;
            for s in st.iter_mut() {
                *s = rd.read(r)? as usize;
            }
            rd
        }
    };

    // The last few hundred bits: every read is checked against the bits left.
    let mut step = |state: &mut usize, out: &mut u8| -> Result<()> {
        let e = table[*state];
        *out = e.symbol;
        *state = usize::from(e.base) + slow.read(u32::from(e.nb_bits))? as usize;
        Ok(())
    };
    for chunk in &mut chunks {
        for (j, out) in chunk.iter_mut().enumerate() {
            step(&mut st[j % N], out)?;
        }
    }
    for (j, out) in chunks.into_remainder().iter_mut().enumerate() {
        step(&mut st[j % N], out)?;
    }
    if slow.bits != 0 {
        return Err(Error::Corrupt {
            what: "tans stream has bits left over",
        });
    }
    if st.iter().any(|&s| s != 0) {
        return Err(Error::Corrupt {
            what: "tans final state differs from the initial state",
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Private bit I/O. To be replaced by the shared `coder::bitio` once it lands; the
// contract the code above relies on:
// - BitWriter::put(v, nb): appends the nb (<= 32) low bits of v, LSB first;
//   flush() must be called before more than 56 bits are pending.
// - FastReader reads the same bits backwards from the end, up to 56 bits between
//   refills, and never touches a byte before 0 (the caller stops at start < 8).
// - SlowReader: the last < 128 bits, every read checked.
// ---------------------------------------------------------------------------------------

/// Forward LSB-first bit writer with a 64-bit accumulator.
struct BitWriter {
    /// Output; `len = capacity + 8` so that `flush` can always store a whole word.
    buf: Vec<u8>,
    /// Bytes completed.
    pos: usize,
    /// Pending bits, the oldest in bit 0; bits at `nbits` and above are zero.
    acc: u64,
    /// Number of pending bits; `<= 7` after `flush`.
    nbits: u32,
}

impl BitWriter {
    /// A writer for at most `capacity` bytes of output.
    fn new(capacity: usize) -> BitWriter {
        BitWriter {
            buf: vec![0; capacity + 8],
            pos: 0,
            acc: 0,
            nbits: 0,
        }
    }

    /// Appends the low `nb` bits of `v`, which must be its only set bits.
    #[inline(always)]
    fn put(&mut self, v: u32, nb: u32) {
        self.acc |= u64::from(v) << self.nbits;
        self.nbits += nb;
    }

    /// Moves the whole bytes of the accumulator to the buffer.
    #[inline(always)]
    fn flush(&mut self) {
        self.buf[self.pos..self.pos + 8].copy_from_slice(&self.acc.to_le_bytes());
        let whole = self.nbits >> 3;
        self.pos += whole as usize;
        self.acc >>= whole * 8;
        self.nbits &= 7;
    }

    /// Writes the terminator bit and returns the stream.
    fn finish(mut self) -> Vec<u8> {
        self.put(1, 1);
        self.flush();
        let len = self.pos + usize::from(self.nbits > 0);
        self.buf.truncate(len);
        self.buf
    }
}

/// Finds the terminator; returns the number of data bits below it.
fn data_bits(stream: &[u8]) -> Result<usize> {
    let &last = stream.last().ok_or(Error::Truncated {
        what: "tans stream",
        needed: 1,
        available: 0,
    })?;
    if last == 0 {
        return Err(Error::Corrupt {
            what: "tans stream lacks its terminator bit",
        });
    }
    Ok(8 * (stream.len() - 1) + (7 - last.leading_zeros() as usize))
}

/// Backward bit reader over a 64-bit window, for all but the first ~120 bits.
struct FastReader<'a> {
    buf: &'a [u8],
    /// Byte index of the window's first byte; `start + 8 <= buf.len()`.
    start: usize,
    /// `buf[start..start + 8]` as little-endian; its top bit is the highest bit.
    window: u64,
    /// Bits of the window already read (from the top); `<= 56` before any read.
    consumed: u32,
}

impl<'a> FastReader<'a> {
    /// A reader positioned below the terminator, or `None` if the stream is too short
    /// for the fast path (under 16 bytes: the [`SlowReader`] holds it whole).
    fn new(buf: &'a [u8]) -> Result<Option<FastReader<'a>>> {
        let bits = data_bits(buf)?;
        if buf.len() < 16 {
            return Ok(None);
        }
        let start = buf.len() - 8;
        Ok(Some(FastReader {
            buf,
            start,
            window: load_le(buf, start),
            consumed: (8 * buf.len() - bits) as u32,
        }))
    }

    /// Reads the next `nb <= 12` bits (going backwards); `consumed + nb <= 64`.
    #[inline(always)]
    fn read(&mut self, nb: u32) -> u32 {
        // Two shifts so that nb = 0 gives 0 without a shift by 64.
        let v = ((self.window << self.consumed) >> 1) >> (63 - nb);
        self.consumed += nb;
        v as u32
    }

    /// Slides the window down by the whole bytes read. Requires `start >= 7`.
    #[inline(always)]
    fn refill(&mut self) {
        self.start -= (self.consumed >> 3) as usize;
        self.consumed &= 7;
        self.window = load_le(self.buf, self.start);
    }

    /// Hands the unread bits (fewer than 128 when `start < 8`) to a checked reader.
    /// More than that can be left only if the output filled up first: since the last
    /// `GROUP - 1` symbols need at most 36 bits, such a stream is corrupt.
    fn into_slow(self) -> Result<SlowReader> {
        let unread = 8 * self.start + 64 - self.consumed as usize;
        if unread >= 128 {
            return Err(Error::Corrupt {
                what: "tans stream has bits left over",
            });
        }
        Ok(SlowReader::from_prefix(self.buf, unread))
    }
}

/// The eight bytes at `start` as a little-endian word.
#[inline(always)]
fn load_le(buf: &[u8], start: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&buf[start..start + 8]);
    u64::from_le_bytes(word)
}

/// Backward bit reader holding the (fewer than 128) lowest bits of the stream.
struct SlowReader {
    /// The unread bits, bit `k` of the stream at bit `k`; bits at `bits` and up are 0.
    rest: u128,
    /// Number of unread bits, `< 128`.
    bits: usize,
}

impl SlowReader {
    /// A reader for a whole stream shorter than 16 bytes.
    fn new(buf: &[u8]) -> Result<SlowReader> {
        let bits = data_bits(buf)?;
        Ok(SlowReader::from_prefix(buf, bits))
    }

    /// A reader for the first `bits < 128` bits of `buf`.
    fn from_prefix(buf: &[u8], bits: usize) -> SlowReader {
        debug_assert!(bits < 128);
        let mut rest = 0u128;
        for (i, &b) in buf.iter().take(bits.div_ceil(8)).enumerate() {
            rest |= u128::from(b) << (8 * i);
        }
        rest &= (1u128 << bits) - 1;
        SlowReader { rest, bits }
    }

    /// Reads the next `nb <= 32` bits, or fails if fewer are left.
    fn read(&mut self, nb: u32) -> Result<u32> {
        let nb = nb as usize;
        if nb > self.bits {
            return Err(Error::Truncated {
                what: "tans bit stream",
                needed: nb as u64,
                available: self.bits as u64,
            });
        }
        self.bits -= nb;
        Ok(((self.rest >> self.bits) as u32) & ((1u64 << nb) - 1) as u32)
    }
}

// ---------------------------------------------------------------------------------------
// Per-context tables for static order-k models.
// ---------------------------------------------------------------------------------------

/// The tANS tables of one context of a static order-k model, used one symbol at a time
/// with the shared bit I/O of [`crate::coder::bitio`].
///
/// All contexts of a block share one table log `R`, so that a state `x` in
/// `I = [L, 2L)` left by one context's step is a valid state for the next context's
/// table: decoding `(s, x_s) = D_c(x)` and reading `nb` bits returns to `I`, and the
/// encoder's `x = C_c(s, x_s)` inverts exactly that step, whatever `c` is (the decoder
/// knows `c` from the symbols before). Memory: `6 * 2^R` bytes plus 8 bytes an entry,
/// with no fixed 10 KiB part, since a block may have thousands of contexts.
#[derive(Clone, Debug)]
pub struct ContextTans {
    /// `D_c`, indexed by `x - L`: `2^R` entries.
    decode: Box<[DecodeEntry]>,
    /// `C_c`: entry `cum_e + (x_s - f_e)` is the next state of entry `e` from `x_s`.
    next_state: Box<[u16]>,
    /// Encoder parameters per entry (as [`SymbolTransform`]; entries all have `f >= 1`).
    transform: Box<[SymbolTransform]>,
    /// `R`.
    table_log: u32,
}

impl ContextTans {
    /// Tables for entries with bytes `symbols` and frequencies `freqs` (each `>= 1`,
    /// summing to `2^table_log`, table log in
    /// [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`]); entries are spread in the order given.
    pub fn new(symbols: &[u8], freqs: &[u32], table_log: u32) -> Result<ContextTans> {
        let r = table_log;
        if !(MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&r) {
            return Err(Error::LimitExceeded {
                what: "tans table log",
                got: u64::from(r),
                max: u64::from(MAX_TABLE_LOG),
            });
        }
        let l = 1usize << r;
        if symbols.len() != freqs.len()
            || freqs.contains(&0)
            || freqs.iter().map(|&f| u64::from(f)).sum::<u64>() != l as u64
        {
            return Err(Error::Corrupt {
                what: "context tans frequencies do not sum to the table size",
            });
        }
        let mut cum = Vec::with_capacity(freqs.len());
        let mut acc = 0u32;
        for &f in freqs {
            cum.push(acc);
            acc += f;
        }
        // Spread as in TansTables::new: an odd step visits every slot once.
        let mut spread = vec![0u8; l];
        let step = (l >> 1) + (l >> 3) + 3;
        let mut pos = 0;
        for (e, &f) in freqs.iter().enumerate() {
            for _ in 0..f {
                spread[pos] = e as u8;
                pos = (pos + step) & (l - 1);
            }
        }
        let mut next_xs = freqs.to_vec();
        let mut decode = vec![DecodeEntry::default(); l].into_boxed_slice();
        let mut next_state = vec![0u16; l].into_boxed_slice();
        for (u, entry) in decode.iter_mut().enumerate() {
            let e = usize::from(spread[u]);
            let x_s = next_xs[e];
            next_xs[e] += 1;
            let nb = r - (31 - x_s.leading_zeros());
            *entry = DecodeEntry {
                base: ((x_s << nb) as usize - l) as u16,
                symbol: symbols[e],
                nb_bits: nb as u8,
            };
            next_state[(cum[e] + x_s - freqs[e]) as usize] = (l + u) as u16;
        }
        let transform = freqs
            .iter()
            .zip(&cum)
            .map(|(&f, &c)| {
                let k = r - (31 - f.leading_zeros());
                SymbolTransform {
                    delta_nb_bits: (k << 16).wrapping_sub(f << k),
                    delta_find_state: c.wrapping_sub(f),
                }
            })
            .collect();
        Ok(ContextTans {
            decode,
            next_state,
            transform,
            table_log: r,
        })
    }

    /// The table log `R`.
    pub fn table_log(&self) -> u32 {
        self.table_log
    }

    /// Codes entry `e` from state `x` in `[L, 2L)`: puts the low `nb <= R` bits of `x`
    /// into `w` (the caller flushes at least every 4 steps) and sets `x = C_c(s, x >> nb)`.
    #[inline]
    pub fn encode_step(&self, x: &mut u32, e: usize, w: &mut crate::coder::bitio::BitWriter) {
        let t = self.transform[e];
        // nbBits = (x + deltaNbBits) >> 16: the nb with (x >> nb) in I_s = [f_s, 2 f_s).
        let nb = x.wrapping_add(t.delta_nb_bits) >> 16;
        w.put(u64::from(*x & ((1 << nb) - 1)), nb);
        let slot = (*x >> nb).wrapping_add(t.delta_find_state) as usize;
        *x = u32::from(self.next_state[slot]);
    }

    /// Decodes one symbol from slot `u = x - L` (`< 2^R`) and moves `u` to the next slot,
    /// reading `nb` bits from `r` (zeros past the stream's start; the caller checks
    /// [`crate::coder::bitio::BackwardBitReader::finish`]).
    #[inline]
    pub fn decode_step(&self, u: &mut usize, r: &mut crate::coder::bitio::BackwardBitReader) -> u8 {
        // The mask keeps a slot from another context's table in range (all share R).
        let e = self.decode[*u & (self.decode.len() - 1)];
        let bits = if e.nb_bits == 0 {
            0
        } else {
            r.read(u32::from(e.nb_bits))
        };
        *u = usize::from(e.base) + bits as usize;
        e.symbol
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds the tables for `data`'s histogram at `table_log`, or for a fixed one-symbol
    /// histogram if `data` is empty.
    fn tables_for(data: &[u8], table_log: u32) -> (FreqTable, TansTables) {
        let counts = if data.is_empty() {
            Counts::of(b"a")
        } else {
            Counts::of(data)
        };
        let table = FreqTable::from_counts(&counts, table_log).unwrap();
        let tables = TansTables::new(&table).unwrap();
        (table, tables)
    }

    /// Encodes and decodes `data`; returns the stream.
    fn round_trip(data: &[u8], tables: &TansTables) -> Vec<u8> {
        let stream = encode_block(data, tables).unwrap();
        assert!(stream.len() <= max_stream_len(data.len(), tables.table_log()));
        let mut out = vec![0xa5; data.len()];
        decode_block(&stream, tables, &mut out).unwrap();
        assert!(out == data, "round trip differs");
        stream
    }

    /// A hostile variant of a valid stream must give an error or different output.
    fn assert_rejected_or_different(stream: &[u8], tables: &TansTables, data: &[u8]) {
        let mut out = vec![0u8; data.len()];
        if decode_block(stream, tables, &mut out).is_ok() {
            assert!(out != data, "damaged stream decoded to the original");
        }
    }

    fn corpus_files() -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        let mut files = Vec::new();
        for dir in ["canterbury", "calgary"] {
            let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for path in entries {
                let data = std::fs::read(&path).unwrap();
                files.push((path.display().to_string(), data));
            }
        }
        assert!(files.len() >= 29, "corpora missing");
        files
    }

    #[test]
    fn corpus_round_trips_close_to_cross_entropy() {
        for (name, data) in corpus_files() {
            let counts = Counts::of(&data);
            let r = choose_table_log(&counts);
            let (table, tables) = tables_for(&data, r);
            let stream = round_trip(&data, &tables);
            if data.len() > 100_000 {
                let achieved = 8.0 * stream.len() as f64;
                let model = table.cost_bits(&counts);
                assert!(
                    achieved <= 1.002 * model,
                    "{name}: {achieved} bits vs cross entropy {model:.0} (+{:.3}%)",
                    100.0 * (achieved / model - 1.0)
                );
            }
        }
    }

    #[test]
    fn portable_path_writes_and_reads_the_same_stream() {
        // The dispatching functions take the BMI2 path where the CPU has it; the portable
        // instantiation must agree with them bit for bit.
        let data: Vec<u8> = (0..50_000u32)
            .map(|i| (i * 31 % 97 + (i >> 9) % 5) as u8)
            .collect();
        for r in MIN_TABLE_LOG..=MAX_TABLE_LOG {
            let (_, tables) = tables_for(&data, r);
            let stream = encode_block(&data, &tables).unwrap();
            assert_eq!(encode_impl::<N_STATES>(&data, &tables).unwrap(), stream);
            let mut out = vec![0u8; data.len()];
            decode_impl::<N_STATES>(&stream, &tables, &mut out).unwrap();
            assert!(out == data);
            let mut bad = stream.clone();
            bad[100] ^= 4;
            assert_rejected_or_different(&bad, &tables, &data);
        }
    }

    #[test]
    fn choose_table_log_follows_length_and_alphabet() {
        assert_eq!(choose_table_log(&Counts::default()), MIN_TABLE_LOG);
        assert_eq!(choose_table_log(&Counts::of(&[7; 10])), MIN_TABLE_LOG);
        let all: Vec<u8> = (0..=255).collect();
        // 256 symbols want 4 states each: R = 10 even for a tiny block.
        assert_eq!(choose_table_log(&Counts::of(&all)), 10);
        // 4 KiB of two symbols: ceil(log2 4096) - 2 = 10.
        assert_eq!(choose_table_log(&Counts::of(&[1u8, 2].repeat(2048))), 10);
        assert_eq!(choose_table_log(&Counts::of(&[1u8, 2].repeat(8192))), 12);
        assert_eq!(choose_table_log(&Counts::of(&[1u8, 2].repeat(1 << 20))), 12);
    }

    #[test]
    fn table_log_outside_range_is_rejected() {
        for r in [8, 13, 16] {
            let table = FreqTable::from_counts(&Counts::of(b"abc"), r).unwrap();
            assert!(matches!(
                TansTables::new(&table),
                Err(Error::LimitExceeded { got, .. }) if got == u64::from(r)
            ));
        }
    }

    #[test]
    fn zero_frequency_symbol_is_an_error() {
        let (_, tables) = tables_for(b"abcabc", 9);
        for data in [&b"abcz"[..], b"z", b"zabcabcabcabc"] {
            assert!(matches!(
                encode_block(data, &tables),
                Err(Error::ZeroFrequency { symbol: b'z' })
            ));
        }
    }

    #[test]
    fn one_distinct_symbol_emits_only_states() {
        for r in MIN_TABLE_LOG..=MAX_TABLE_LOG {
            let data = vec![b'q'; 100_003];
            let (_, tables) = tables_for(&data, r);
            let stream = round_trip(&data, &tables);
            assert_eq!(stream.len(), (4 * r as usize + 1).div_ceil(8));
        }
    }

    #[test]
    fn empty_block_is_states_and_terminator() {
        let (_, tables) = tables_for(b"xyz", 12);
        let stream = round_trip(b"", &tables);
        assert_eq!(stream.len(), 7);
        // A stream for zero symbols does not decode as one symbol, and vice versa.
        assert!(decode_block(&stream, &tables, &mut [0u8; 1]).is_err());
        let one = encode_block(b"y", &tables).unwrap();
        assert!(decode_block(&one, &tables, &mut []).is_err());
    }

    #[test]
    fn damaged_streams_are_rejected() {
        // Long enough to use the fast reader, short enough to try every damage.
        let data: Vec<u8> = (0..400u32).map(|i| (i * i % 7 + i % 3) as u8).collect();
        let (_, tables) = tables_for(&data, 9);
        let stream = round_trip(&data, &tables);
        assert!(stream.len() > 16);
        assert!(decode_block(&[], &tables, &mut [0u8; 3]).is_err());
        for cut in 0..stream.len() {
            assert_rejected_or_different(&stream[..cut], &tables, &data);
        }
        let mut extended = stream.clone();
        extended.push(1);
        assert_rejected_or_different(&extended, &tables, &data);
        for bit in 0..8 * stream.len() {
            let mut bad = stream.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_rejected_or_different(&bad, &tables, &data);
        }
        // Asking for more or fewer symbols than were written.
        for n in [data.len() - 1, data.len() + 1] {
            let mut out = vec![0u8; n];
            assert!(decode_block(&stream, &tables, &mut out).is_err());
        }
    }

    /// Regression (found by `hostile_streams_never_panic`): a long stream decoded into a
    /// short output left the fast reader with far more than 128 unread bits, which the
    /// hand-over to the checked reader asserted could not happen. It is now corruption.
    #[test]
    fn long_stream_for_few_symbols_is_corrupt() {
        let (_, tables) = tables_for(&[0], 9);
        let mut stream = vec![0u8; 40];
        stream[20] = 78;
        stream[39] = 1;
        for n in [0, 3, 4, 7] {
            let mut out = vec![0u8; n];
            assert!(matches!(
                decode_block(&stream, &tables, &mut out),
                Err(Error::Corrupt { .. })
            ));
        }
    }

    fn two_symbols() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<bool>(), 0..3000),
        )
            .prop_map(|(a, b, picks)| picks.into_iter().map(|p| if p { a } else { b }).collect())
    }

    fn all_symbols() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(any::<u8>(), 0..3000),
            any::<usize>(),
        )
            .prop_map(|(mut v, turn)| {
                v.extend(0..=255u8);
                let k = turn % v.len();
                v.rotate_left(k);
                v
            })
    }

    proptest! {
        #[test]
        fn round_trips_arbitrary_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            r in MIN_TABLE_LOG..=MAX_TABLE_LOG,
        ) {
            let (_, tables) = tables_for(&data, r);
            round_trip(&data, &tables);
        }

        #[test]
        fn round_trips_short_blocks(
            data in proptest::collection::vec(any::<u8>(), 0..20),
            r in MIN_TABLE_LOG..=MAX_TABLE_LOG,
        ) {
            let (_, tables) = tables_for(&data, r);
            round_trip(&data, &tables);
        }

        #[test]
        fn round_trips_two_symbols(data in two_symbols(), r in MIN_TABLE_LOG..=MAX_TABLE_LOG) {
            let (_, tables) = tables_for(&data, r);
            round_trip(&data, &tables);
        }

        #[test]
        fn round_trips_all_256_symbols(data in all_symbols(), r in MIN_TABLE_LOG..=MAX_TABLE_LOG) {
            let (table, tables) = tables_for(&data, r);
            prop_assert_eq!(table.distinct(), 256);
            round_trip(&data, &tables);
        }

        #[test]
        fn hostile_streams_never_panic(
            stream in proptest::collection::vec(any::<u8>(), 0..200),
            n in 0usize..600,
            model in proptest::collection::vec(any::<u8>(), 1..300),
            r in MIN_TABLE_LOG..=MAX_TABLE_LOG,
        ) {
            let (_, tables) = tables_for(&model, r);
            let mut out = vec![0u8; n];
            if decode_block(&stream, &tables, &mut out).is_ok() {
                // An accepted stream is exactly the encoding of what it decoded to.
                prop_assert_eq!(encode_block(&out, &tables).unwrap(), stream);
            }
        }
    }
}
