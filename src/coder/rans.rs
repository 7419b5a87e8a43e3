//! rANS: a LIFO stream coder with 64-bit states, 32-bit output words and four
//! interleaved states.
//!
//! # Read me first
//!
//! 1. **Encode backwards.** rANS is a stack: the decoder gets the symbols back in the
//!    reverse of the order the encoder was fed them. The encoder is therefore fed the
//!    block last to first (symbol `n - 1` first) and the decoder returns it first to last.
//!    [`RansEncoder::new`] takes `n` because it must know which state symbol `n - 1` uses.
//! 2. **Four states, one word stream.** Symbol `i` (0-based, in stream order) is coded by
//!    state `i % 4`. The four states are independent chains, so the CPU works on four
//!    symbols at once; their renormalisation words share one stream, in the order the
//!    decoder needs them.
//! 3. **The output grows backwards.** The encoder emits words in the reverse of the order
//!    the decoder reads them. The stream stores them in decoder order, so the decoder reads
//!    forward and the encoder writes from the end of its buffer towards the front.
//! 4. **State invariant.** Between symbols every state `x` lies in `[L, L * 2^32)` with
//!    `L = 2^31`, on both sides. The encoder starts every state at `L`; a decoder that
//!    decoded the right number of symbols from an intact stream ends with every state
//!    at `L` again. That, and "every word read, none missing", is the integrity check of
//!    [`Decode::finish`].
//! 5. **One renormalisation step, never a loop.** With 32-bit words and `scale <= 16`, one
//!    word in or out always brings the state back into range (proofs at `encode_step`
//!    and [`RansDecoder::consume`]); each side has one conditional per symbol.
//! 6. **`n` is not stored.** The caller knows the number of symbols and must decode exactly
//!    that many; decoding a different count fails the final check (or reads garbage first).
//! 7. **Hostile streams.** The decoders check the header states, never read past the
//!    word area (a missing word is [`Error::Truncated`]) and cannot overflow: with any
//!    state in `[L, L * 2^32)` and the interval of the slot that state points at, the next
//!    state is again in `[L, L * 2^32)` (proof at [`RansDecoder::consume`]).
//!
//! # The maths, in the notation of Duda's paper
//!
//! ```text
//! encode  x' = C(s, x) = floor(x / f) * 2^scale + (x mod f) + start
//! decode  s  = the symbol whose interval [start, start + f) holds x' mod 2^scale
//!         x  = D(s, x') = f * floor(x' / 2^scale) + (x' mod 2^scale) - start
//! ```
//!
//! `f` and `start` are the symbol's frequency and cumulative frequency, `2^scale` the
//! total. Before `C` the encoder emits the low word of `x` (and shifts it out) if `x` is
//! at least `x_max(f) = f * 2^(63 - scale)`; after `D` the decoder shifts a word in if
//! `x < L`.
//!
//! # Stream layout (little endian)
//!
//! ```text
//! u64 x 4   final encoder states, state 0 first; each in [2^31, 2^63)
//! u32 x W   renormalisation words, in the order the decoder reads them
//! ```
//!
//! An empty block is the 32-byte header with four states equal to `L`. The length of the
//! word area must be a multiple of 4. At most [`max_stream_len`] bytes in total.
//!
//! # Fast paths
//!
//! [`encode_order0`] and [`decode_order0`] code a whole block with one [`FreqTable`] and
//! write/read exactly the bytes that [`RansEncoder`]/[`RansDecoder`] do with the same
//! table; [`encode_order0_pair_into`] and [`decode_order0_pair`] code two such streams
//! (the halves of a large block from format 6), the decoder in one loop. The encoder divides by `f` with a precomputed reciprocal (`EncSymbol`); the
//! decoder finds symbol, `f` and `t - start` in one 8-byte entry for each of the `2^scale`
//! slots (`SlotTable`), four groups of four symbols per iteration. Both are safe
//! code: each group (decoder: each run of four groups) does one bounds check for the
//! words it may touch, and the state arithmetic cannot overflow.
//! The only `unsafe` is the call of a copy compiled with BMI2 (`decode_order0`,
//! `encode_order_k`, `decode_order_k`) after the CPU was seen to support it; the code of
//! that copy is the same safe code. Tables indexed in hot loops are sliced once to a
//! power-of-two length and indexed with a mask, so that the compiler drops the bounds
//! check without `unsafe` (the mask never changes an index that is in bounds).
//!
//! Measured with callgrind (instructions of one `encode_block`/`decode_block` pass over
//! book1 in 128 KiB blocks; htscodecs 4x16 in brackets): order-0 decode 25.9M -> 21.8M
//! [16.8M] from the exact-size slot table (no 512 KiB `calloc` per block) and BMI2;
//! order-1 encode 85.6M -> 75.5M [62.2M] and decode 48.5M -> 40.1M [27.7M] from the scale
//! as a constant, BMI2, masked lookups and `256^k`-entry context indexes.
//!
//! Choices measured on book1 (Sapphire Rapids, min of 40 interleaved runs in one process,
//! MB/s of input; the machine was shared, so only the ratios matter):
//!
//! - encoder division by reciprocal 631 vs plain `u64` division 286: kept the reciprocal;
//! - branch-free renormalisation (conditional move) vs a branch: decoder 795 vs 566,
//!   encoder 631 vs 405 (a renormalisation happens for ~15% of symbols, at random);
//! - decoder word choice by shifting the group's 16 bytes as a `u128` 865, by a cascade
//!   of selects 793 (the compiler turned one into a branch), by an indexed load 737
//!   (one build; the kept version measures 740 in later builds, code placement matters).
//!   Revisited after the BMI2 build and the exact-size slot table: the indexed load
//!   runs 0.82-0.83x htscodecs' decoder against 0.77-0.78x for the `u128` shift (thread
//!   CPU time, alternating runs in one process, book1 and kennedy.xls) and takes 20.0M
//!   instead of 21.8M instructions on book1, so both decoders now use it;
//! - the decoder's shift by the scale as a constant (one loop instance per scale): +3%;
//! - a `u32` (f, offset) table plus a `u8` symbol table instead of one `u64` per slot:
//!   +4% at scale 12, -3% at scale 14; not kept then.
//!
//! Order-0 decoder, fourth session (thread CPU time, min of 201 alternating runs in one
//! process, ratio to htscodecs' `rans_uncompress_to_4x16` order 0, book1 / kennedy.xls):
//! 0.85 / 0.85 before; the u64 `f | offset | symbol` slot became three arrays (`imul`
//! takes `f` from memory, no field extraction) and the four words of a group are loaded
//! before the states are known, 0.84 / 0.85 alone; two groups per iteration 0.90 / 0.91;
//! states 2 and 3 take their word by an indexed load and state 1 by a select that LLVM
//! makes a branch on state 0's renormalisation (see `decode_group`) 0.92 / 0.93;
//! `f` as u32 instead of u64 (table 44 -> 28 KiB at scale 12, L1 is 48 KiB) 0.985 /
//! 0.985; `f - 1` as u16 (20 KiB, one more add) 0.95 / 0.95, not kept.
//! Callgrind, `decode_order0` over book1 in 128 KiB blocks: 18.7M -> 14.6M instructions
//! (u64 `f`) [htscodecs 16.8M]; the loop is bound by latency and cache, not by
//! instructions.
//!
//! Order-1 decoder, fifth session (same method, ratio to htscodecs' order 1, whole
//! `decode_block_into` / the rANS call with its table build only, book1 / kennedy.xls):
//! 0.87 / 1.23 and 0.97 / 1.37 before. Callgrind over book1, `decode_order_k` with
//! `ContextSlots::new`: 33.9M -> 28.3M [htscodecs 27.7M with its table]. The loop is
//! bound by instructions (about 5 an cycle), not by its chains: dropping the
//! missing-context flag for closed tables, the shift `d` in the info word's low bits,
//! `D(s, x) = x - start - (2^S - f) floor(x / 2^S)` from the slot's top bits and two
//! groups per iteration give 0.92 / 1.33 and 1.05 / 1.49; filling the table eight slots
//! at a time 0.93-0.94 / 1.30-1.33. Not kept: the next context's info word in a u64
//! slot (no index load, but twice the table: 0.85 / 1.21), four groups per iteration
//! (0.94 / 1.37, more instructions), `get_unchecked` for the slot load (+3%, one
//! instruction and one register a symbol; the mask is kept). Sixth session: the slots
//! are filled straight from the table bytes (`ContextSlots::read`, no intermediate
//! tables) with gamma codes from a 64-bit buffer, table read and slot fill 11.5% -> 7.4%
//! of samples on book1; 0.99 / 1.40 in the peer bench (htscodecs order 1, book1 /
//! kennedy.xls).
//!
//! Seventh session, not kept (book1, 128 KiB blocks): order-0 decoder, a fourth slot
//! array with `ceil((L - (t - start)) / f)`, so that `D(s, x) < L` is known from
//! `floor(x / 2^S)` before the multiply (shorter path to the word loads of states 2
//! and 3): 11 bytes a slot (44 KiB at scale 12), the states spilled, 15.3M -> 19.5M
//! instructions and 0.81x htscodecs against about 0.95x. Order-1 decoder, symbols
//! collected in a stack buffer of 64 groups and copied to the lanes after each (no lane
//! pointers in the loop): 27.8M -> 27.2M instructions but no faster (median task-clock
//! of 12 alternating runs over 20 copies of book1, 38.4 ms against 37.7 ms). Order-1
//! encoder, the absent-symbol flag ORed in the coding pass from the threshold it loads
//! anyway instead of in the lookup pass: 25.1M -> 26.2M instructions.
//!
//! Eighth session, order-0 decoder (`decode_order0` including its slot table against
//! `rans_uncompress_to_4x16` order 0, 128 KiB blocks at scale 12 — the scale the codec
//! picks for every block of book1 and kennedy.xls —, thread CPU time, min of 51-101
//! alternating runs in one process, book1 / kennedy.xls): 1.03 / 1.04 before. Four
//! groups per iteration, written out: 1.045 / 1.06 (as a loop over the quads 1.03 /
//! 1.04, three groups 1.03 / 1.04, eight 1.015 / 1.03). Not kept: `f` as u16 (5 bytes
//! a slot, 20 KiB) or `f` and `t - start` interleaved, no change (the table size does
//! not matter at scale 12); states 0 and 1 by mask selects instead of LLVM's branch on
//! `need_0` 0.97 / 0.96; that branch also covering the words of states 2 and 3 (LLVM
//! duplicates the code) 0.98 / 0.98; a branch on `need_0 | need_1` 0.98 / 1.02; the
//! words as three preloaded u64 pairs picked by `shrx` 0.91 / 0.92; the threshold array
//! `ceil((L - (t - start)) / f)` compared with `floor(x / 2^S)` 0.88 / 0.89 (spills
//! again); the scale at run time (`bzhi`, `shrx`) 1.02 / 1.03 (spills). Timing-only
//! runs with wrong words: every state's word at a fixed offset in its group (no prefix
//! of the renormalisation flags) 1.10 / 1.10, no dependence of the word pointer on the
//! flags at all 1.17 / 1.17: the prefix costs about 7% and the whole pointer chain
//! about 14%. Callgrind: 19.4 instructions a symbol against htscodecs' 22.0 at about
//! the same speed, so the loop is bound by that chain, not by instructions. In the peer
//! bench our time is `decode_block_into`, which adds the XXH3 block check (25 us of
//! 820 on book1), the table read and the slot table (about 1.5 us a block each):
//! 0.97-0.98 / 0.96-0.97 before, 0.98-0.99 / 0.96-0.99 after.
//!
//! Tenth session, two streams a block (format 6, static order-0 blocks of at least
//! `TWO_STREAMS_MIN` bytes; [`encode_order0_pair_into`], [`decode_order0_pair`]). The
//! session's harness (the whole `decode_block_into` against `rans_uncompress_to_4x16`,
//! 128 KiB blocks, thread CPU time, median of 41 alternating runs, book1 / kennedy.xls)
//! had the one-stream decoder at 0.93-0.98 / 0.92 (0.95-0.99 / 0.94 without the XXH3
//! check, 2.1-2.2% of our time), so the loop alone no longer reached 1.0 in this build.
//! A timing-only run of two streams in one loop (the groups of both alternating) gave
//! 1.05-1.08; four word pointers, one per state, 0.88 (slower). The real two-stream
//! decoder: 1.00-1.03 / 1.01 with the branch of `decode_group` for state 1's word, and
//! 1.06-1.12 / 1.04-1.07 with the indexed load (now `pair_group`): with two chains in flight a
//! mispredicted branch stalls both. The encoder codes both halves in place in the
//! payload (`encode_order0_pair_into`, each word moved once); coding them into two
//! vectors and copying both was 6-9% slower than the one-stream encoder, in place 3-5%
//! faster (CPU time of 64 copies of book1 and kennedy.xls, min of 7 alternating runs).
//!
//! Twelfth session, order-0 decoders (callgrind, instructions a symbol of the peer bench's
//! three passes over the file in 128 KiB blocks, `decode_order0_pair` with its slot table,
//! htscodecs' `rans_uncompress_O0_4x16` with its own in brackets; speed as the median of
//! five alternated peer-bench runs of 51, ratio to that htscodecs decoder, book1 /
//! kennedy.xls): 23.6 / 23.6 [21.9 / 22.0] and 0.92 / 0.86 before; one 8-byte slot entry
//! (`SlotTable`), the loop restructured (`decode_quad_pairs`) and its groups renormalised
//! with an opaque `L` and shift (`pair_group`): 19.7 / 19.7 and 0.99 / 0.97; the words and
//! outputs as shrinking slices: 19.15 / 19.15. The one-stream decoder (16 KiB blocks of
//! book1) gains from the slot entry alone: 18.4 -> 17.4 instructions a symbol, 12.8 -> 12.1
//! ms (min of 11 alternated runs over seven copies; medians 13.0 / 12.9).

use crate::coder::{Decode, Encode};
use crate::error::{Error, Result};
use crate::format::varint::write_varint;
use crate::model::order_k::{MAX_CONTEXT_SCALE, OrderKTable, TableSink, read_table};
use crate::model::{Distribution, FreqTable, MAX_SCALE_BITS};

/// Lower end of the state interval `[L, L * 2^32)`.
const L: u64 = 1 << 31;
/// Number of interleaved states.
pub(crate) const STATES: usize = 4;
/// Bytes of the header: the four final states.
const HEADER_BYTES: usize = 8 * STATES;
/// Bytes per renormalisation word.
const WORD_BYTES: usize = 4;

/// Largest number of words an `n`-symbol block can need at `scale_bits`.
///
/// Two bounds, the smaller wins:
/// - at most one word per symbol (single-step renormalisation);
/// - information: let `Phi = 32 * words + log2(x)` for one state. Coding a symbol raises
///   `Phi` by less than `scale + log2(1 + 2^(scale - 31))` (the second term is the
///   rounding of `floor(x / f)`, largest right after a renormalisation where
///   `x >= f * 2^(63 - scale)`), and `log2(x)` starts at 31 and ends at or above 31. So
///   `32 * words < k * (scale + d) + words * d` with `d = log2(1 + 2^-15) < 4.5e-5`
///   for `scale <= 16`, which gives `words <= k * scale / 32 + k / 2^16` with room to
///   spare (the exact excess is below `7e-7 * k`).
fn max_words(n_symbols: usize, scale_bits: u32) -> usize {
    if scale_bits > MAX_SCALE_BITS {
        return n_symbols;
    }
    let n = n_symbols as u128;
    let info = (n * u128::from(scale_bits)).div_ceil(32) + n.div_ceil(1 << 16);
    // `info` can exceed usize only when it also exceeds n, which is a usize.
    usize::try_from(info).map_or(n_symbols, |w| w.min(n_symbols))
}

/// Worst-case length in bytes of the stream for `n_symbols` symbols coded with
/// distributions of total `2^scale_bits` (`scale_bits <= MAX_SCALE_BITS`):
/// `32 + 4 * min(n, ceil(n * scale / 32) + ceil(n / 2^16))`.
///
/// The first term is the header; the second bounds the words (at most one per symbol,
/// and no more than the information the symbols can carry at this scale, see the
/// derivation at `max_words` in the source). For `n = 0` it is 32. Saturates instead of
/// overflowing for absurd `n`.
pub fn max_stream_len(n_symbols: usize, scale_bits: u32) -> usize {
    max_words(n_symbols, scale_bits)
        .saturating_mul(WORD_BYTES)
        .saturating_add(HEADER_BYTES)
}

/// Renormalisation threshold of the encoder: `x_max(f) = f * 2^(63 - scale)`
/// `= (L / 2^scale) * 2^32 * f`.
#[inline]
fn x_max(freq: u32, scale_bits: u32) -> u64 {
    u64::from(freq) << (63 - scale_bits)
}

/// One encoder step with plain division: emit a word into `emit` if needed, then
/// `x' = C(s, x)`.
///
/// Renormalisation is one step: if `x >= x_max(f)` then `x >> 32 < 2^31 <= x_max(f)`
/// (as `63 - scale >= 47`), and also `x >> 32 >= f * 2^(31 - scale)`, so
/// `floor(x / f) >= 2^(31 - scale)` and `C(s, x) >= L`. Without renormalisation
/// `C(s, x) >= x >= L`. In both cases `x < x_max(f)` gives `floor(x / f) < 2^(63 - scale)`
/// and `C(s, x) < 2^63 = L * 2^32`, so the invariant holds.
///
/// The quotient comes from [`quotient`] (a multiply by a reciprocal kept per `f`), and
/// `C(s, x) = x + floor(x / f) (2^scale - f) + start` (the same value: `x mod f = x -
/// floor(x / f) f`), so that a state's chain from one symbol to the next is a shift, a
/// multiply-high, a shift, a multiply and an add instead of a 64-bit division.
#[inline]
fn encode_step(x: &mut u64, start: u32, freq: u32, scale_bits: u32, emit: impl FnOnce(u32)) {
    let f = u64::from(freq);
    if *x >= x_max(freq, scale_bits) {
        emit(*x as u32);
        *x >>= 32;
    }
    // x' = C(s, x) = x + floor(x / f) (2^scale - f) + start; no step wraps: the result
    // is below 2^63 (the proof above).
    *x += quotient(*x, freq) * ((1 << scale_bits) - f) + u64::from(start);
}

/// `floor(x / f)` for `x < 2^63` and `1 <= f <= 2^16`, as `mulhi(2x, m) >> l` with the
/// reciprocal `m` of `f` from a table kept for the process (the rule and its proof at
/// `EncSymbol`; `reciprocal_division_is_exact` checks it for every such `f`).
///
/// The table holds `m` for every `f` up to `2^16` (512 KiB, of which only the pages of
/// the frequencies met are ever touched), each computed at its first use (a 128-bit
/// division) and then read with one load: an adaptive model hands out any `f` at all,
/// so no per-block table would do, and a division per symbol is what this replaces.
/// Every thread that fills an entry writes the same value, so relaxed atomics suffice.
#[inline(always)]
fn quotient(x: u64, freq: u32) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RECIPROCALS: [AtomicU64; (1 << MAX_SCALE_BITS) + 1] =
        [const { AtomicU64::new(0) }; (1 << MAX_SCALE_BITS) + 1];
    debug_assert!((1..=1 << MAX_SCALE_BITS).contains(&freq) && x < 1 << 63);
    // l = ceil(log2 f) (0 for f = 1).
    let l = 32 - freq.wrapping_sub(1).leading_zeros();
    let m = match RECIPROCALS.get(freq as usize) {
        Some(slot) => match slot.load(Ordering::Relaxed) {
            0 => {
                let m = reciprocal_of(freq, l);
                slot.store(m, Ordering::Relaxed);
                m
            }
            m => m,
        },
        // Outside the Encode contract (f = 0 or above 2^16): a value, not a panic here.
        None => reciprocal_of(freq.max(1), l),
    };
    ((u128::from(x << 1) * u128::from(m)) >> 64) as u64 >> (l & 63)
}

/// `m = ceil(2^(63 + l) / f)` for `l = ceil(log2 f)`, `1 <= f <= 2^16` (below 2^64,
/// see `EncSymbol`); never 0, which marks an empty slot of [`quotient`]'s table.
#[cold]
#[inline(never)]
fn reciprocal_of(freq: u32, l: u32) -> u64 {
    let m = (1u128 << (63 + l.min(16))).div_ceil(u128::from(freq.max(1)));
    m.min(u128::from(u64::MAX)) as u64
}

/// The rANS encoder for the generic [`Encode`] seam: any distribution per symbol.
///
/// Feed it the symbols last to first; symbol `i` goes to state `i % 4`.
#[derive(Clone, Debug)]
pub struct RansEncoder {
    /// The four states; each in `[L, L * 2^32)` between calls.
    states: [u64; STATES],
    /// Words in the order they were emitted (the reverse of the decoder's order).
    words: Vec<u32>,
    /// Index of the symbol coded last (`n` before the first call); the next call codes
    /// symbol `next - 1` with state `(next - 1) % 4`. Wraps harmlessly if misused.
    next: usize,
}

impl RansEncoder {
    /// An encoder for a block of `n_symbols` symbols. The first [`Encode::encode`] call
    /// codes symbol `n_symbols - 1`, the last one symbol 0.
    pub fn new(n_symbols: usize) -> RansEncoder {
        RansEncoder {
            states: [L; STATES],
            words: Vec::with_capacity(n_symbols / 4),
            next: n_symbols,
        }
    }
}

impl RansEncoder {
    /// Codes `items` last to first, each with the interval `interval(item)` gives as
    /// `(start, freq, scale_bits)`: the same stream and state as [`Encode::encode`]
    /// called on each in that order (the same preconditions), with the four states
    /// held in registers and taken in turn four symbols at a time instead of indexed
    /// in memory by a running count.
    #[inline]
    pub fn encode_reversed<T: Copy, F: FnMut(T) -> (u32, u32, u32)>(
        &mut self,
        items: &[T],
        mut interval: F,
    ) {
        // Item i takes state (next - len + i) % 4, x[i % 4] once rotated by `base`.
        let len = items.len();
        let base = self.next.wrapping_sub(len) % STATES;
        let mut x = self.states;
        x.rotate_left(base);
        let [mut x0, mut x1, mut x2, mut x3] = x;
        // At most one word a symbol: room for them all up front, written by an index
        // (no capacity check and length store per word, as a push has), the rest cut
        // off at the end.
        let before = self.words.len();
        self.words.resize(before + len, 0);
        let out = &mut self.words[before..];
        let mut written = 0;
        let mut step = |x: &mut u64, item: T| {
            let (start, freq, scale_bits) = interval(item);
            debug_assert!(freq >= 1 && scale_bits <= MAX_SCALE_BITS);
            debug_assert!(u64::from(start) + u64::from(freq) <= 1 << scale_bits);
            encode_step(x, start, freq, scale_bits, |w| {
                // In bounds: one word at most for each of the `len` items.
                out[written] = w;
                written += 1;
            });
        };
        let full = len - len % STATES;
        for (j, &item) in items[full..].iter().enumerate().rev() {
            let xj = match j {
                0 => &mut x0,
                1 => &mut x1,
                _ => &mut x2,
            };
            step(xj, item);
        }
        for c in items[..full].chunks_exact(STATES).rev() {
            step(&mut x3, c[3]);
            step(&mut x2, c[2]);
            step(&mut x1, c[1]);
            step(&mut x0, c[0]);
        }
        self.words.truncate(before + written);
        let mut x = [x0, x1, x2, x3];
        x.rotate_right(base);
        self.states = x;
        self.next = self.next.wrapping_sub(len);
    }
}

impl Encode for RansEncoder {
    /// Codes the next symbol (in reverse stream order).
    ///
    /// Panics if `freq == 0` (the [`Encode`] contract rules that out).
    #[inline]
    fn encode(&mut self, start: u32, freq: u32, scale_bits: u32) {
        debug_assert!(freq >= 1 && scale_bits <= MAX_SCALE_BITS);
        debug_assert!(u64::from(start) + u64::from(freq) <= 1 << scale_bits);
        self.next = self.next.wrapping_sub(1);
        let words = &mut self.words;
        encode_step(
            &mut self.states[self.next % STATES],
            start,
            freq,
            scale_bits,
            |w| words.push(w),
        );
    }

    fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + WORD_BYTES * self.words.len());
        for x in self.states {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for &w in self.words.iter().rev() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Splits a stream into its four checked header states and its word area.
fn parse_header(stream: &[u8]) -> Result<([u64; STATES], &[u8])> {
    let Some((head, words)) = stream.split_first_chunk::<HEADER_BYTES>() else {
        return Err(Error::Truncated {
            what: "rans state header",
            needed: HEADER_BYTES as u64,
            available: stream.len() as u64,
        });
    };
    let mut states = [0u64; STATES];
    for (x, bytes) in states.iter_mut().zip(head.chunks_exact(8)) {
        *x = u64::from_le_bytes(bytes.try_into().expect("chunks of 8"));
        if !(L..L << 32).contains(x) {
            return Err(Error::Corrupt {
                what: "rans state outside [2^31, 2^63)",
            });
        }
    }
    if words.len() % WORD_BYTES != 0 {
        return Err(Error::Truncated {
            what: "rans word",
            needed: WORD_BYTES as u64,
            available: (words.len() % WORD_BYTES) as u64,
        });
    }
    Ok((states, words))
}

/// The final check shared by both decoders: every word read, every state back at `L`.
fn check_end(states: &[u64; STATES], words_read: usize, words: &[u8]) -> Result<()> {
    if words_read * WORD_BYTES != words.len() {
        return Err(Error::Corrupt {
            what: "rans stream has unread words",
        });
    }
    if states.iter().any(|&x| x != L) {
        return Err(Error::Corrupt {
            what: "rans final state is not the initial state",
        });
    }
    Ok(())
}

/// The rANS decoder for the generic [`Decode`] seam.
///
/// Allocates nothing; reads the stream in place.
#[derive(Clone, Debug)]
pub struct RansDecoder<'a> {
    /// The four states; in `[L, L * 2^32)` between calls as long as each `consume` gets
    /// the interval of the slot its `peek` returned (see `consume`). Wrapping arithmetic
    /// keeps misuse from panicking; `finish` then reports it.
    states: [u64; STATES],
    /// The word area: a whole number of 4-byte words.
    words: &'a [u8],
    /// Words read so far, including reads past the end (which yield 0).
    words_read: usize,
    /// Index of the next symbol, modulo the word size of usize; its state is `next % 4`.
    next: usize,
}

impl<'a> RansDecoder<'a> {
    /// Reads the header of `stream`.
    ///
    /// Errors: [`Error::Truncated`] if it is shorter than the 32-byte header or the word
    /// area is not a whole number of words; [`Error::Corrupt`] if a state lies outside
    /// `[2^31, 2^63)`.
    pub fn new(stream: &'a [u8]) -> Result<RansDecoder<'a>> {
        let (states, words) = parse_header(stream)?;
        Ok(RansDecoder {
            states,
            words,
            words_read: 0,
            next: 0,
        })
    }
}

impl Decode for RansDecoder<'_> {
    #[inline]
    fn peek(&mut self, scale_bits: u32) -> u32 {
        debug_assert!(scale_bits <= MAX_SCALE_BITS);
        let mask = (1u64 << scale_bits) - 1;
        (self.states[self.next % STATES] & mask) as u32
    }

    /// Decodes with `x = D(s, x')`, then shifts in one word if `x < L`.
    ///
    /// Why the state stays in `[L, L * 2^32)` when `start <= x' mod 2^scale < start + f`:
    /// `x = f * floor(x' / 2^scale) + (x' mod 2^scale - start)` with the bracket in
    /// `[0, f)`, so `x < f * (floor(x' / 2^scale) + 1) <= 2^scale * 2^(63 - scale)`, and
    /// `x >= floor(x' / 2^scale) >= 2^(31 - scale) >= 2^15`. If `x < L` one word makes it
    /// `x * 2^32 + w`, which is `>= 2^47 >= L` and `< 2^63`. One step always suffices.
    #[inline]
    fn consume(&mut self, start: u32, freq: u32, scale_bits: u32) {
        let j = self.next % STATES;
        self.next = self.next.wrapping_add(1);
        self.consume_state(j, start, freq, scale_bits);
    }

    /// Declines (`false`, nothing consumed) an interval narrower than half the total:
    /// a lookup costs rANS no division, only a table walk, and a test that misses
    /// about as often as it hits costs more in mispredicted branches than it saves.
    /// Otherwise `peek`, a comparison and `consume`, as provided.
    #[inline(always)]
    fn consume_if(&mut self, start: u32, freq: u32, scale_bits: u32) -> bool {
        consume_if_wide(self, start, freq, scale_bits)
    }

    fn finish(self) -> Result<()> {
        let have = self.words.len() / WORD_BYTES;
        if self.words_read > have {
            return Err(Error::Truncated {
                what: "rans words",
                needed: (self.words_read * WORD_BYTES) as u64,
                available: self.words.len() as u64,
            });
        }
        check_end(&self.states, self.words_read, self.words)
    }
}

impl RansDecoder<'_> {
    /// `consume` on state `j` (`< STATES`), whichever symbol is next.
    #[inline(always)]
    fn consume_state(&mut self, j: usize, start: u32, freq: u32, scale_bits: u32) {
        debug_assert!(scale_bits <= MAX_SCALE_BITS);
        let xp = self.states[j];
        let mask = (1u64 << scale_bits) - 1;
        // x = D(s, x') = f * floor(x' / 2^scale) + (x' mod 2^scale) - start
        let mut x = u64::from(freq)
            .wrapping_mul(xp >> scale_bits)
            .wrapping_add(xp & mask)
            .wrapping_sub(u64::from(start));
        // The next word is read whether it is needed or not (0 past the end), and
        // shifted in by a select: after an adaptive model's symbol whether the state
        // needs a word is hard to predict.
        let at = self.words_read * WORD_BYTES;
        let w = self
            .words
            .get(at..at + WORD_BYTES)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        let refill = x < L;
        self.words_read += usize::from(refill);
        x = if refill { (x << 32) | u64::from(w) } else { x };
        self.states[j] = x;
    }

    /// Which state decodes the next symbol (`0..4`).
    pub fn next_state(&self) -> usize {
        self.next % STATES
    }

    /// Records that `n` symbols were decoded through [`RansLane`]s, which do not move
    /// the rotation themselves.
    pub fn skip(&mut self, n: usize) {
        self.next = self.next.wrapping_add(n);
    }
}

/// `consume_if` of the rANS decoders: declines (`false`, nothing consumed) an interval
/// narrower than half the total, else `peek`, a comparison and `consume`.
#[inline(always)]
fn consume_if_wide<D: Decode>(d: &mut D, start: u32, freq: u32, scale_bits: u32) -> bool {
    let scale_bits = scale_bits.min(MAX_SCALE_BITS);
    if freq < 1 << scale_bits >> 1 {
        return false;
    }
    let hit = d.peek(scale_bits).wrapping_sub(start) < freq;
    if hit {
        d.consume(start, freq, scale_bits);
    }
    hit
}

/// State `J` of a [`RansDecoder`] as a decoder of its own, for a loop that rotates
/// through the four states itself, symbol `i` of a group of four by lane `i`: each
/// state is then a constant index, which the compiler can keep in a register, instead
/// of `next % 4`. The lane does not advance the decoder's rotation: the loop calls
/// [`RansDecoder::skip`] with the symbols it decoded. `finish` checks nothing (the
/// stream's checks are the whole decoder's).
pub struct RansLane<'r, 'a, const J: usize>(pub &'r mut RansDecoder<'a>);

impl<const J: usize> Decode for RansLane<'_, '_, J> {
    #[inline(always)]
    fn peek(&mut self, scale_bits: u32) -> u32 {
        debug_assert!(scale_bits <= MAX_SCALE_BITS);
        let mask = (1u64 << scale_bits) - 1;
        (self.0.states[J % STATES] & mask) as u32
    }

    #[inline(always)]
    fn consume(&mut self, start: u32, freq: u32, scale_bits: u32) {
        self.0.consume_state(J % STATES, start, freq, scale_bits);
    }

    /// As [`RansDecoder`]'s.
    #[inline(always)]
    fn consume_if(&mut self, start: u32, freq: u32, scale_bits: u32) -> bool {
        consume_if_wide(self, start, freq, scale_bits)
    }

    fn finish(self) -> Result<()> {
        Ok(())
    }
}

/// What the fast encoder needs about one symbol, 32 bytes.
///
/// Division by `f` is a multiply-high by a reciprocal (Granlund and Montgomery, "Division
/// by invariant integers using multiplication", 1994, theorem 4.2): with `l = ceil(log2 f)`
/// and `m = ceil(2^(63 + l) / f)`, `m * f = 2^(63 + l) + e` with `0 <= e < f <= 2^l`,
/// hence `floor(x / f) = floor(x * m / 2^(63 + l))` for every `x < 2^63`, and `m < 2^64`.
/// We evaluate it as `mulhi(2x, m) >> l` (`2x < 2^64`), which also covers `f = 1`.
#[derive(Clone, Copy, Debug, Default)]
struct EncSymbol {
    /// `x_max(f)`; `u64::MAX` for a symbol with zero frequency (never renormalises).
    x_max: u64,
    /// The reciprocal `m`; 0 for a zero-frequency symbol (so `q = 0`).
    rcp: u64,
    /// `start`; 0 for a zero-frequency symbol.
    start: u32,
    /// `2^scale - f`, since `C(s, x) = x + start + floor(x / f) * (2^scale - f)`;
    /// 0 for a zero-frequency symbol, which thus leaves the state unchanged.
    cmpl: u32,
    /// `l = ceil(log2 f)`.
    shift: u32,
    /// 1 if the symbol has zero frequency, else 0.
    zero: u32,
}

impl EncSymbol {
    fn table(table: &FreqTable) -> [EncSymbol; 256] {
        let scale = table.scale_bits();
        let mut out = [EncSymbol {
            x_max: u64::MAX,
            zero: 1,
            ..EncSymbol::default()
        }; 256];
        for (s, e) in out.iter_mut().enumerate() {
            let f = table.freqs()[s];
            if f == 0 {
                continue;
            }
            let shift = 32 - (f - 1).leading_zeros();
            let m = (1u128 << (63 + shift)).div_ceil(u128::from(f));
            *e = EncSymbol {
                x_max: x_max(f, scale),
                rcp: u64::try_from(m).expect("reciprocal below 2^64 (see EncSymbol)"),
                start: table.cums()[s],
                cmpl: (1 << scale) - f,
                shift,
                zero: 0,
            };
        }
        out
    }

    /// `floor(x / f)` for `x < 2^63`.
    #[inline(always)]
    fn div(&self, x: u64) -> u64 {
        ((u128::from(x << 1) * u128::from(self.rcp)) >> 64) as u64 >> self.shift
    }

    /// `x' = C(s, x)` for an `x` already renormalised (`x < x_max`).
    #[inline(always)]
    fn encode(&self, x: u64) -> u64 {
        // x' = C(s, x) = floor(x / f) * 2^scale + (x mod f) + start
        //              = x + start + floor(x / f) * (2^scale - f)
        x + u64::from(self.start) + self.div(x) * u64::from(self.cmpl)
    }
}

/// Encodes `data` with one static table; the stream equals that of [`RansEncoder`] fed
/// `data` backwards with the intervals of `table`.
///
/// Errors: [`Error::ZeroFrequency`] if a byte of `data` has frequency 0 in `table`.
pub fn encode_order0(data: &[u8], table: &FreqTable) -> Result<Vec<u8>> {
    let syms = EncSymbol::table(table);
    let mut buf = vec![0u8; order0_room(data.len(), table.scale_bits())];
    let (x, p) = encode_order0_words(data, table, &syms, &mut buf)?;
    let cap = buf.len();
    put_states(&mut buf[..HEADER_BYTES], &x);
    buf.copy_within(p..cap, HEADER_BYTES);
    buf.truncate(HEADER_BYTES + cap - p);
    Ok(buf)
}

/// Appends `a` and `b`, each coded as [`encode_order0`] codes it with `table`, to `out` in
/// the layout of [`crate::coder::join_pair`] (`zigzag(len_a - len_b):varint stream_a
/// stream_b`): the format-6 payload of a large static order-0 block after its table,
/// which [`decode_order0_pair`] decodes. Both streams are coded in place in `out`, each
/// word moved once (as [`encode_order0`] moves it).
///
/// Errors: [`Error::ZeroFrequency`] as [`encode_order0`]; `out` is then left longer.
pub fn encode_order0_pair_into(
    a: &[u8],
    b: &[u8],
    table: &FreqTable,
    out: &mut Vec<u8>,
) -> Result<()> {
    let syms = EncSymbol::table(table);
    let (room_a, room_b) = (
        order0_room(a.len(), table.scale_bits()),
        order0_room(b.len(), table.scale_bits()),
    );
    // Room for the length field (at most 10 bytes) in front of stream a, and more: every
    // move below then goes towards the front (a's words start at least GAP + 36 bytes
    // in and move to at most 10 + 32; b's start at least GAP + room_a + 36 in and move to
    // at most 10 + 32 + (room_a - 36) + 32).
    const GAP: usize = 16;
    let base = out.len();
    out.resize(base + GAP + room_a + room_b, 0);
    let (buf_a, buf_b) = out[base + GAP..].split_at_mut(room_a);
    let (xa, pa) = encode_order0_words(a, table, &syms, buf_a)?;
    let (xb, pb) = encode_order0_words(b, table, &syms, buf_b)?;
    let (words_a, words_b) = (room_a - pa, room_b - pb);
    let mut field = Vec::with_capacity(10);
    // Lengths are below 2^63, so the difference fits an i64.
    write_varint(
        &mut field,
        crate::coder::zigzag(words_a as i64 - words_b as i64),
    );
    let start_a = base + field.len();
    out[base..start_a].copy_from_slice(&field);
    let from_a = base + GAP + pa;
    out.copy_within(from_a..from_a + words_a, start_a + HEADER_BYTES);
    put_states(&mut out[start_a..start_a + HEADER_BYTES], &xa);
    let start_b = start_a + HEADER_BYTES + words_a;
    let from_b = base + GAP + room_a + pb;
    out.copy_within(from_b..from_b + words_b, start_b + HEADER_BYTES);
    put_states(&mut out[start_b..start_b + HEADER_BYTES], &xb);
    out.truncate(start_b + HEADER_BYTES + words_b);
    Ok(())
}

/// Bytes [`encode_order0_words`] needs for `n` symbols at `scale`: the header, the most
/// words `n` symbols can take, and one spare word that lets the branch-free
/// renormalisation store its candidate word unconditionally (module notes, rule 3).
fn order0_room(n: usize, scale: u32) -> usize {
    HEADER_BYTES + WORD_BYTES * (max_words(n, scale) + 1)
}

/// Writes the four states, state 0 first, as the stream header.
fn put_states(header: &mut [u8], x: &[u64; STATES]) {
    for (bytes, xj) in header.chunks_exact_mut(8).zip(x) {
        bytes.copy_from_slice(&xj.to_le_bytes());
    }
}

/// The coding loop of [`encode_order0`]: codes `data` into the words at the end of `buf`
/// ([`order0_room`] bytes, contents ignored) and returns the final states and where the
/// words start (at least `HEADER_BYTES + 4`).
fn encode_order0_words(
    data: &[u8],
    table: &FreqTable,
    syms: &[EncSymbol; 256],
    buf: &mut [u8],
) -> Result<([u64; STATES], usize)> {
    let n = data.len();
    let cap = buf.len();
    // Words written so far occupy buf[p..cap]; invariant p >= HEADER_BYTES + 4.
    let mut p = cap;
    let mut x = [L; STATES];
    let mut zero = 0u32;

    let groups = n / STATES;
    // The last n % 4 symbols first, one at a time (state i % 4 for symbol i).
    for i in (STATES * groups..n).rev() {
        let e = &syms[usize::from(data[i])];
        let xj = &mut x[i % STATES];
        zero |= e.zero;
        if *xj >= e.x_max {
            buf[p - WORD_BYTES..p].copy_from_slice(&(*xj as u32).to_le_bytes());
            p -= WORD_BYTES;
            *xj >>= 32;
        }
        *xj = e.encode(*xj);
    }
    // Then groups of four, last group first; within a group symbol 4g+3 (state 3) first.
    for quad in data[..STATES * groups].chunks_exact(STATES).rev() {
        // At most four words per group. The window sits just below p, above the header
        // (p >= 36 and the header is written last), so one bounds check per group.
        let win: &mut [u8; 16] = (&mut buf[p - 16..p]).try_into().expect("16 bytes");
        let mut k = 0usize; // words emitted in this group, <= 3 before each store
        for j in (0..STATES).rev() {
            let e = &syms[usize::from(quad[j])];
            zero |= e.zero;
            let emit = x[j] >= e.x_max;
            // Store the candidate word unconditionally; it counts only if `emit`.
            let at = 12 - 4 * (k & 3);
            win[at..at + 4].copy_from_slice(&(x[j] as u32).to_le_bytes());
            k += usize::from(emit);
            let xr = if emit { x[j] >> 32 } else { x[j] };
            x[j] = e.encode(xr);
        }
        p -= WORD_BYTES * k;
    }
    if zero != 0 {
        let symbol = *data
            .iter()
            .find(|&&b| table.freqs()[usize::from(b)] == 0)
            .expect("a zero-frequency symbol was seen");
        return Err(Error::ZeroFrequency { symbol });
    }
    Ok((x, p))
}

/// The decoder's slot table: for each slot `t` in `[0, 2^scale)` of symbol `s` with
/// interval `[start, start + f)`, the symbol `s`, `f` and `t - start`, so that
/// `D(s, x') = f * floor(x' / 2^scale) + (t - start)` for `t = x' mod 2^scale`.
///
/// One 8-byte entry a slot: `f` (u32 little endian), `t - start` (u16), `s` (u8) and a
/// zero byte; 32 KiB at scale 12. Every slot is equally likely to be read, so the whole
/// table must stay in L1 beside the streams: `f` as u64 (an `imul` memory operand, 44 KiB
/// in all) was 7% slower. Until the twelfth session the three fields were three arrays
/// (7 bytes a slot); with one entry the three loads share one index register scaled by
/// 8, where the arrays' scales 4, 2 and 1 made LLVM copy the index once more a symbol
/// (in the two-stream loop 715 -> 682 instructions an iteration of 32 symbols;
/// `decode_quad_pairs`). The table is rebuilt for every block.
struct SlotTable {
    /// The `2^scale` entries, 8 bytes each.
    bytes: Vec<u8>,
}

/// Bytes per slot in [`SlotTable`].
const SLOT_BYTES: usize = 8;

impl SlotTable {
    fn new(table: &FreqTable) -> SlotTable {
        let n = 1usize << table.scale_bits();
        let mut bytes = vec![0u8; SLOT_BYTES * n];
        let (freqs, cums) = (table.freqs(), table.cums());
        // The intervals of a FreqTable tile [0, 2^scale), so every slot is written once.
        for s in 0..256 {
            let (f, c) = (freqs[s] as usize, cums[s] as usize);
            let head = f as u64 | (s as u64) << 48;
            let slots = bytes[SLOT_BYTES * c..SLOT_BYTES * (c + f)].chunks_exact_mut(SLOT_BYTES);
            for (i, e) in (0u64..).zip(slots) {
                e.copy_from_slice(&(head | i << 32).to_le_bytes());
            }
        }
        SlotTable { bytes }
    }

    /// Decodes one symbol from state `x` (in `[L, L * 2^32)`): returns `s` and `D(s, x)`,
    /// not yet renormalised. `mask` is `2^scale - 1`, the last index of the table.
    #[inline(always)]
    fn decode(&self, x: u64, scale_bits: u32, mask: u64) -> (u8, u64) {
        let t = (x & mask) as usize;
        let e = &self.bytes[SLOT_BYTES * t..SLOT_BYTES * t + SLOT_BYTES];
        slot_decode(e, x, scale_bits)
    }
}

/// `(s, D(s, x))` from the 8-byte [`SlotTable`] entry `e` of `t = x mod 2^scale`.
#[inline(always)]
fn slot_decode(e: &[u8], x: u64, scale_bits: u32) -> (u8, u64) {
    let f = u32::from_le_bytes(e[..4].try_into().expect("4 bytes"));
    let o = u16::from_le_bytes(e[4..6].try_into().expect("2 bytes"));
    // x = D(s, x') = f * floor(x' / 2^scale) + (x' mod 2^scale) - start
    (e[6], u64::from(f) * (x >> scale_bits) + u64::from(o))
}

/// The decoding half of a group ([`decode_group`], [`pair_group`]): the symbols of the
/// four states `x` (the first four) into `quad`, and their `D(s, x)`, not yet
/// renormalised. `slots` is the [`SlotTable`] sliced to its `2^SCALE` entries.
#[inline(always)]
fn decode_quad<const SCALE: u32>(x: &[u64], quad: &mut [u8], slots: &[u8]) -> [u64; STATES] {
    let mask = (1u64 << SCALE) - 1;
    let mut d = [0u64; STATES];
    for j in 0..STATES {
        let t = (x[j] & mask) as usize;
        let e = &slots[SLOT_BYTES * t..SLOT_BYTES * t + SLOT_BYTES];
        (quad[j], d[j]) = slot_decode(e, x[j], SCALE);
    }
    d
}

/// One group of four symbols, one per state: decodes them into `quad`, renormalises the
/// states with the words at the start of `win` and returns how many words it took.
///
/// State `j` takes word number `k_j = need_0 + ... + need_(j-1)` of the group. Measured
/// choices (book1 and kennedy.xls against htscodecs in one process): state 1 selects its
/// word from the first two (`n0 ? w1 : w0`), a select with a loaded operand that LLVM
/// turns into a branch on `need_0`, which takes state 0's renormalisation off the
/// dependency chains when it is predicted (about 86% of symbols on book1): 0.92-0.93x
/// htscodecs; all selects as conditional moves 0.86-0.88x, also the sliding window of
/// six selects for all states 0.90x; indexed loads for all states 0.86x.
///
/// With two streams in one loop ([`decode_order0_pair`]) a mispredicted branch stalls
/// both, and there an indexed load for state 1 measured 1.07-1.09x / 1.04-1.07x
/// htscodecs against 1.00-1.03x / 1.01x with the branch (book1 / kennedy.xls, whole
/// blocks); that loop has its own group, [`pair_group`].
///
/// `slots` is the [`SlotTable`] sliced to its `2^SCALE` entries.
#[inline(always)]
fn decode_group<const SCALE: u32>(
    x: &mut [u64; STATES],
    win: &[u8],
    quad: &mut [u8],
    slots: &[u8],
) -> usize {
    let d = decode_quad::<SCALE>(x, quad, slots);
    let w = |i: usize| {
        u64::from(u32::from_le_bytes(
            win[4 * i..4 * i + 4].try_into().expect("4 bytes"),
        ))
    };
    let n0 = d[0] < L;
    let n1 = d[1] < L;
    let n2 = d[2] < L;
    let n3 = d[3] < L;
    let k2 = usize::from(n0) + usize::from(n1);
    let k3 = k2 + usize::from(n2);
    let w0 = w(0);
    let c1 = if n0 { w(1) } else { w0 };
    let c2 = w(k2);
    let c3 = w(k3);
    // x = x * 2^32 + word if x < L
    x[0] = if n0 { (d[0] << 32) | w0 } else { d[0] };
    x[1] = if n1 { (d[1] << 32) | c1 } else { d[1] };
    x[2] = if n2 { (d[2] << 32) | c2 } else { d[2] };
    x[3] = if n3 { (d[3] << 32) | c3 } else { d[3] };
    k3 + usize::from(n3)
}

/// The hot loop of [`decode_order0`]: four groups of four symbols at a time while at
/// least sixteen words (the most four groups can read) remain. Returns the symbols
/// decoded and the byte offset of the next word.
#[inline(always)]
fn decode_quads<const SCALE: u32>(
    states: &mut [u64; STATES],
    words: &[u8],
    table: &SlotTable,
    out: &mut [u8],
) -> (usize, usize) {
    // One length check here (the table has 2^SCALE slots); `x & mask` then indexes it
    // without one.
    let Some(slots) = table.bytes.get(..SLOT_BYTES << SCALE) else {
        return (0, 0);
    };
    // A local copy stays in registers; writing through `states` costs four stores a group.
    let mut x = *states;
    // The unread words; shrinks from the front.
    let mut rest = words;
    let mut done = 0usize;
    let mut blocks = out.chunks_exact_mut(4 * STATES);
    // Four groups an iteration: one length check of the words and of the output for all.
    while let Some(win) = rest.first_chunk::<64>() {
        let Some(block) = blocks.next() else {
            break;
        };
        // Written out rather than as a loop over the four quads: the loop measured 1.5%
        // slower (code placement; see the module docs).
        let (first, more) = block.split_at_mut(STATES);
        let (second, more) = more.split_at_mut(STATES);
        let (third, fourth) = more.split_at_mut(STATES);
        // Each group reads at most 4 words, so group g's 16 bytes start at or before
        // byte 16 g and lie within the 64.
        let k = decode_group::<SCALE>(&mut x, &win[..16], first, slots);
        let k = k + decode_group::<SCALE>(&mut x, &win[4 * k..4 * k + 16], second, slots);
        let k = k + decode_group::<SCALE>(&mut x, &win[4 * k..4 * k + 16], third, slots);
        let k = k + decode_group::<SCALE>(&mut x, &win[4 * k..4 * k + 16], fourth, slots);
        rest = &rest[WORD_BYTES * k..];
        done += 4 * STATES;
    }
    *states = x;
    (done, words.len() - rest.len())
}

/// Decodes `out.len()` symbols coded with one static table; reads exactly the streams
/// that [`RansDecoder`] reads with the same table.
///
/// Errors as [`RansDecoder::new`] and [`Decode::finish`]: a stream that runs out of words
/// is [`Error::Truncated`]; leftover words or final states other than `L` are
/// [`Error::Corrupt`]. Allocates the slot table (8 bytes a slot, `2^scale` slots: 32 KiB
/// at scale 12) and nothing else.
pub fn decode_order0(stream: &[u8], table: &FreqTable, out: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `decode_order0_bmi2` requires.
        return unsafe { decode_order0_bmi2(stream, table, out) };
    }
    decode_order0_impl(stream, table, out)
}

/// [`decode_order0_impl`] compiled with BMI2 (`shrx`/`shlx`: shifts by a register without
/// `cl` and without flags).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn decode_order0_bmi2(stream: &[u8], table: &FreqTable, out: &mut [u8]) -> Result<()> {
    decode_order0_impl(stream, table, out)
}

/// Runs `$f::<S>($args)` for `S` = `$scale` (a constant for the compiler: the shift by
/// the scale saves a register and the slow shift by `cl`), or gives `$other` for a scale
/// outside `1..=16` (which [`FreqTable`] never has).
macro_rules! at_scale {
    ($scale:expr, $f:ident $args:tt, $other:expr) => {
        at_scale!(@ $scale, $f $args, $other, 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    };
    (@ $scale:expr, $f:ident $args:tt, $other:expr, $($s:literal)*) => {
        match $scale {
            $($s => $f::<$s> $args,)*
            _ => $other,
        }
    };
}

#[inline(always)]
fn decode_order0_impl(stream: &[u8], table: &FreqTable, out: &mut [u8]) -> Result<()> {
    let (mut x, words) = parse_header(stream)?;
    let slots = SlotTable::new(table);
    // Anything but 1..=16 is left to the checked loop.
    let (done, pos) = at_scale!(
        table.scale_bits(),
        decode_quads(&mut x, words, &slots, out),
        (0, 0)
    );
    decode_rest(
        &slots,
        table.scale_bits(),
        &mut x,
        words,
        pos,
        &mut out[done..],
    )
}

/// The symbols after the fast loop, one at a time with every read checked, from states
/// `x` (the next symbol is state 0's) and the words from byte `pos` on; then the final
/// check of [`check_end`].
fn decode_rest(
    slots: &SlotTable,
    scale: u32,
    x: &mut [u64; STATES],
    words: &[u8],
    mut pos: usize,
    out: &mut [u8],
) -> Result<()> {
    let mask = (1u64 << scale) - 1;
    for (i, o) in out.iter_mut().enumerate() {
        let xj = &mut x[i % STATES];
        let (s, mut xn) = slots.decode(*xj, scale, mask);
        *o = s;
        if xn < L {
            let Some(w) = words.get(pos..pos + WORD_BYTES) else {
                return Err(Error::Truncated {
                    what: "rans words",
                    needed: (pos + WORD_BYTES) as u64,
                    available: words.len() as u64,
                });
            };
            xn = (xn << 32) | u64::from(u32::from_le_bytes(w.try_into().expect("4 bytes")));
            pos += WORD_BYTES;
        }
        *xj = xn;
    }
    check_end(x, pos / WORD_BYTES, words)
}

/// Decodes two streams coded with the same static table, `a` into `out_a` and `b` into
/// `out_b`, as [`decode_order0`] decodes each, in one loop: two sets of four states whose
/// word pointers do not depend on each other, so that the processor overlaps twice as
/// many independent chains (the format-6 payload of static order-0 rANS blocks, which
/// codes the two halves of a large block as two streams; `docs/FORMAT.md`).
///
/// Errors as [`decode_order0`] for either stream. Allocates one slot table for both.
pub fn decode_order0_pair(
    a: &[u8],
    b: &[u8],
    table: &FreqTable,
    out_a: &mut [u8],
    out_b: &mut [u8],
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `decode_order0_pair_bmi2` requires.
        return unsafe { decode_order0_pair_bmi2(a, b, table, out_a, out_b) };
    }
    decode_order0_pair_impl(a, b, table, out_a, out_b)
}

/// [`decode_order0_pair_impl`] compiled with BMI2, as [`decode_order0_bmi2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn decode_order0_pair_bmi2(
    a: &[u8],
    b: &[u8],
    table: &FreqTable,
    out_a: &mut [u8],
    out_b: &mut [u8],
) -> Result<()> {
    decode_order0_pair_impl(a, b, table, out_a, out_b)
}

#[inline(always)]
fn decode_order0_pair_impl(
    a: &[u8],
    b: &[u8],
    table: &FreqTable,
    out_a: &mut [u8],
    out_b: &mut [u8],
) -> Result<()> {
    let (mut x, words_a) = parse_header(a)?;
    let (mut y, words_b) = parse_header(b)?;
    let slots = SlotTable::new(table);
    let scale = table.scale_bits();
    let (done, pos_a, pos_b) = at_scale!(
        scale,
        decode_quad_pairs(
            [&mut x, &mut y],
            [words_a, words_b],
            &slots,
            [&mut *out_a, &mut *out_b]
        ),
        (0, 0, 0)
    );
    decode_rest(&slots, scale, &mut x, words_a, pos_a, &mut out_a[done..])?;
    decode_rest(&slots, scale, &mut y, words_b, pos_b, &mut out_b[done..])
}

/// One group of [`decode_quad_pairs`]: decodes four symbols into `quad`, renormalises
/// the states `x` (four) with the words at the start of `win` (16 bytes) and returns how
/// many words it took. Unlike [`decode_group`], state `j` takes word
/// `k_j = need_0 + ... + need_(j-1)` by an indexed load for every `j` (no branch: with
/// two streams in flight a mispredicted branch stalls both), `k` counted in a u32 (as a
/// usize LLVM copied it once more before each load: 657 -> 633 instructions an
/// iteration).
///
/// `lim` is `L` and `shift` 32, as values the compiler does not see as constants (see
/// `decode_quad_pairs`): `x < lim` is one `cmp` with a register (as a constant LLVM
/// loaded `2^31` into a register again for most compares, or tested it with an `sete`
/// and an add where a `cmp` and an `adc` do), and `d << shift` is one `shlx` instead of
/// a copy and a shift (633 -> 616).
#[inline(always)]
fn pair_group<const SCALE: u32>(
    x: &mut [u64],
    win: &[u8],
    quad: &mut [u8],
    slots: &[u8],
    lim: u64,
    shift: u32,
) -> usize {
    let d = decode_quad::<SCALE>(x, quad, slots);
    let win: &[u8; 16] = win[..16].try_into().expect("16 bytes");
    let w = |i: u32| {
        let at = 4 * i as usize;
        u64::from(u32::from_le_bytes(
            win[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    let mut k = 0u32;
    for j in 0..STATES {
        // x = x * 2^32 + word if x < L
        let need = d[j] < lim;
        let c = w(k);
        x[j] = if need { (d[j] << shift) | c } else { d[j] };
        k += u32::from(need);
    }
    k as usize
}

/// The hot loop of [`decode_order0_pair`]: [`decode_quads`] for two streams in lockstep
/// while both have sixteen words and sixteen symbols left; each iteration decodes four
/// groups of stream a and then four of stream b. Returns the symbols decoded from each
/// and the byte offsets of their next words.
///
/// Measured (twelfth session, callgrind instructions an iteration of 32 symbols, book1
/// at scale 12): 742 before, with the groups of the two streams alternating, three slot
/// arrays and the outputs as chunk iterators (their bookkeeping spilled to the stack).
/// Output slices indexed by one count 715; the 8-byte slot entry ([`SlotTable`]) 682;
/// four groups of a before four of b 657 (alternating 676: the eight states, two word
/// positions, two outputs and the table do not fit the registers, and in this order
/// stream b's states wait on the stack while a's groups run, and the reverse);
/// `pair_group`'s u32 count 633 and its opaque `lim` and `shift` 616; the words and the
/// outputs as shrinking slices 611 (608 in the peer bench's build, 19.15 instructions a
/// symbol with the slot table).
///
/// Not kept: alternating the groups again on top of all that, 637 (645 in the peer bench's
/// build, 20.3 a symbol): 6-10% faster than this order in a timing loop of the decoder
/// alone when the core was not contended and no faster when it was; in the peer bench
/// (whole blocks, alternated runs of 51) 1.05 / 1.03 against 1.04 / 1.04 for this order
/// (book1 / kennedy.xls) in one set and 1.06 / 1.03 against 0.95 / 0.99 in another: not
/// clearly faster, 4% more instructions. Also not kept: eight groups of each stream an
/// iteration (128-byte windows), 17.6 instructions a symbol in the loop but in that timing
/// loop 1-5% faster than the loop of the session's start where this order was 5-8% faster
/// (one stream's chain of eight groups leaves the other too little to overlap with); the
/// two streams' groups fused into one of eight symbols, 666; the shift by a constant 32 (a
/// copy and a shift), 633 -> 660 alternating; the scale at run time (`bzhi`, `shrx`): the
/// table index is no longer known to be in bounds, 814; the symbols into a stack buffer
/// copied out every 128 (no output pointers in the loop), 641 and no faster; an `asm!`
/// group (36 + 24 instructions, states in registers), 635 alternating, as LLVM moves the
/// eight states to and from the stack around each block.
/// Four groups of one stream of [`decode_quad_pairs`] into `out` from the words `v`;
/// returns the words taken. Each group reads at most 4 words, so group `g`'s 16 bytes
/// start at or before byte `16 g` and lie within the 64. Written out: as a loop over the
/// groups, LLVM kept the loop.
#[inline(always)]
fn four_groups<const SCALE: u32>(
    x: &mut [u64],
    v: &[u8; 64],
    out: &mut [u8; 16],
    slots: &[u8],
    lim: u64,
    shift: u32,
) -> usize {
    let mut k = pair_group::<SCALE>(x, &v[..16], &mut out[0..4], slots, lim, shift);
    k += pair_group::<SCALE>(x, &v[4 * k..4 * k + 16], &mut out[4..8], slots, lim, shift);
    k += pair_group::<SCALE>(x, &v[4 * k..4 * k + 16], &mut out[8..12], slots, lim, shift);
    k + pair_group::<SCALE>(x, &v[4 * k..4 * k + 16], &mut out[12..], slots, lim, shift)
}

#[inline(always)]
fn decode_quad_pairs<const SCALE: u32>(
    [sa, sb]: [&mut [u64; STATES]; 2],
    [wa, wb]: [&[u8]; 2],
    table: &SlotTable,
    [oa, ob]: [&mut [u8]; 2],
) -> (usize, usize, usize) {
    let Some(slots) = table.bytes.get(..SLOT_BYTES << SCALE) else {
        return (0, 0, 0);
    };
    // L and 32 (`pair_group`); `black_box` changes no value, only what the compiler
    // may assume about it.
    let lim = std::hint::black_box(L);
    let shift = lim.trailing_zeros() + 1;
    let mut x = [sa[0], sa[1], sa[2], sa[3], sb[0], sb[1], sb[2], sb[3]];
    // The unread words of each stream, and the output not yet written (the same whole
    // number of 16-byte blocks for both, so that the two splits below fail together and
    // only on empty slices: `n - qa.len()` is then the symbols decoded); all shrink from
    // the front.
    let (mut ra, mut rb) = (wa, wb);
    let n = oa.len().min(ob.len()) / 16 * 16;
    let (mut qa, mut qb) = (&mut oa[..n], &mut ob[..n]);
    while let (Some(va), Some(vb)) = (ra.first_chunk::<64>(), rb.first_chunk::<64>()) {
        let Some((ba, rest_a)) = std::mem::take(&mut qa).split_first_chunk_mut::<16>() else {
            break;
        };
        let Some((bb, rest_b)) = std::mem::take(&mut qb).split_first_chunk_mut::<16>() else {
            break;
        };
        (qa, qb) = (rest_a, rest_b);
        let (xa, xb) = x.split_at_mut(STATES);
        // All of a, then all of b (module notes: fewer spills than alternating, and
        // faster or as fast).
        let k = four_groups::<SCALE>(xa, va, ba, slots, lim, shift);
        let m = four_groups::<SCALE>(xb, vb, bb, slots, lim, shift);
        ra = &ra[WORD_BYTES * k..];
        rb = &rb[WORD_BYTES * m..];
    }
    sa.copy_from_slice(&x[..STATES]);
    sb.copy_from_slice(&x[STATES..]);
    (n - qa.len(), wa.len() - ra.len(), wb.len() - rb.len())
}

// ---------------------------------------------------------------------------------------
// Order-k fast paths: static order-1 and order-2 models in four lanes
// ---------------------------------------------------------------------------------------
//
// Read me first:
//
// 1. **Lanes.** The stream is the one a [`RansEncoder`] writes for the lane layout of
//    `docs/FORMAT.md` ("Static order k", rANS): with `q = floor(n / 4)`, stream symbol
//    `4g + j` (`g < q`) is data position `j q + g`, so state `j` codes lane `j`, and
//    stream symbols `i >= 4q` are positions `i` (state `i % 4`, still lane 3). The
//    context of a position is the `k` bytes before it *in its lane*, most recent in the
//    low byte, zeros before the lane start. So in the decoder each state's context is
//    its own previous output: four independent chains in one loop.
// 2. **Decoder tables at the context's precision.** Context `c` stores frequencies
//    `f_c` of total `2^s_c`, and is coded at the block scale `S` as `f = f_c << d`,
//    `d = S - s_c`. Every interval then starts at a multiple of `2^d`, so the slot `t`
//    (at scale `S`) lies in the interval of the symbol that owns slot `t >> d` of a table
//    of only `2^s_c` entries. The tables of all contexts take `sum_c 2^s_c` u32 instead of
//    `nctx * 2^S` (on book1 at order 2, about 10 times less), which keeps them in cache.
// 3. **One index load, one slot load per symbol.** `ContextSlots::info[c]` holds the
//    context's table offset and `d`; the slot holds the symbol, `start` and `2^S - f` at
//    scale `S <= 12` (8 + 12 + 12 bits, see `slot_step`). A context without a table
//    points at a one-slot table with `f = 2^S` (the state arithmetic stays in range) and
//    carries a flag. Most tables are *closed* (no decodable symbol leads to a context
//    without a table; `ContextSlots::closed`), and their hot loop has no flag; otherwise
//    the decoder ORs the info words into an error word and checks it at the end.
//    Two groups per iteration (the order-0 `decode_quads` now runs four; four measured
//    slower here, module notes).
// 4. **Memory.** At most [`MAX_CONTEXT_SLOTS`] slots (16 MiB) plus a 256 KiB index;
//    [`ContextSlots::new`] and [`ContextSlots::read`] return `None` beyond that (and for
//    `k > 2`), and the caller uses the generic path, which reads the same stream.
// 5. **Encoder.** Entries hold the reciprocal division of [`encode_order0`]. At order 1
//    every context has a full row of 256 entries (one load for the row, one for the
//    entry), and the hot loop runs in two passes per chunk of groups: look up the
//    entries lane by lane, then code the four states (together they spilled registers).
//    At order 2 a row of 256 u32 per context maps a symbol to its entry in the context's
//    run. A symbol the context lacks gets an entry with frequency 0 that leaves the
//    state alone and carries a flag in its shift byte (the shift takes its count mod
//    64), reported as [`Error::ZeroFrequency`] after the loop.

/// Most slots of all per-context decoder tables of one block (4 bytes each).
pub const MAX_CONTEXT_SLOTS: usize = 1 << 22;

/// Slots that [`ContextSlots::new`] writes at a time.
const FILL: usize = 8;

/// Where a context's table offset starts in its `ContextSlots::info` word; the five bits
/// below hold the shift `d` (bits 0-3) and the missing flag.
pub(crate) const INFO_OFFSET_SHIFT: u32 = 5;
/// The flag of a context without a table. It adds 16 to the shift count `d`, which then
/// stays below 32 (a shift by the word's low five bits is a plain shift) and turns every
/// `t < 2^S` into 0, the placeholder's slot.
pub(crate) const INFO_MISSING: u32 = 1 << 4;
const _: () = assert!(MAX_CONTEXT_SLOTS < 1 << (32 - INFO_OFFSET_SHIFT));
const _: () = assert!(MAX_CONTEXT_SCALE < 16);

/// The context bytes of data position `p` in a lane that starts at `lane_start`.
#[inline(always)]
fn lane_context<const K: usize>(data: &[u8], p: usize, lane_start: usize) -> u32 {
    let mut c = 0u32;
    for j in 1..=K {
        if p >= lane_start + j {
            c |= u32::from(data[p - j]) << (8 * (j - 1));
        }
    }
    c
}

/// Decoder tables of a static order-1 or order-2 model (notes above).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextSlots {
    /// The order `k`, 1 or 2.
    order: u32,
    /// The block scale `S <= 12`.
    scale: u32,
    /// For context bytes `c` (`2^(8k)` entries): `d | missing << 4 | offset << 5`, where
    /// `offset + (t >> d)` is in bounds of `slots` for every `t < 2^S`. A shift by the
    /// whole word (`wrapping_shr`, which takes its low five bits) shifts by `d`.
    info: Vec<u32>,
    /// Slot entries `symbol | start << 8 | (2^S - f) << 20` at scale `S` (see
    /// [`slot_step`]): the symbol is the low byte (stored as it is); slot 0 is the
    /// placeholder of missing contexts (`f = 2^S`, `start = 0`). Padded with copies of
    /// the placeholder to a power-of-two length, `slots_mask + 1`, which lets a masked
    /// index stand in for a bounds check (no index in bounds is changed by the mask).
    slots: Vec<u32>,
    slots_mask: usize,
    /// No decodable symbol leads to a context without a table: the start context (all
    /// zeros) has a table, and so has context `(c << 8 | s) mod 2^(8k)` for every symbol
    /// `s` of every context `c` with a table. Then the hot loop needs no missing flag.
    closed: bool,
}

impl ContextSlots {
    /// The tables of `table`, or `None` if its order is above 2 or its contexts need
    /// more than [`MAX_CONTEXT_SLOTS`] slots.
    pub fn new(table: &OrderKTable) -> Option<ContextSlots> {
        let order = table.order();
        if !(1..=2).contains(&order) || table.scale_bits() > MAX_CONTEXT_SCALE {
            return None;
        }
        let mut b = SlotBuilder::new(order);
        b.begin(table.alphabet(), table.scale_bits(), table.contexts().len());
        let (mut ranks, mut freqs) = ([0u8; 256], [0u32; 256]);
        for c in table.contexts() {
            let n = c.entries().len();
            for (e, (r, f)) in c.entries().iter().zip(ranks.iter_mut().zip(&mut freqs)) {
                (*r, *f) = (e.rank, e.freq_c);
            }
            b.context(c.context, c.scale_c.into(), &ranks[..n], &freqs[..n]);
        }
        b.finish()
    }

    /// Reads a static order-k table ([`OrderKTable::read`]'s arguments, the same checks
    /// and errors) straight into decoder tables, without an [`OrderKTable`] in between:
    /// `Ok(None)` if `order` is above 2 (without reading) or the contexts need more than
    /// [`MAX_CONTEXT_SLOTS`] slots (the caller then reads the table again for the generic
    /// decoder). Equal to [`ContextSlots::new`] of [`OrderKTable::read`].
    pub fn read(
        input: &[u8],
        order: u32,
        max_scale: u32,
        raw_len: usize,
    ) -> Result<Option<ContextSlots>> {
        if !(1..=2).contains(&order) {
            return Ok(None);
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
        {
            // SAFETY: the CPU supports BMI1 and BMI2 (checked on the lines above), which
            // is all that `read_slots_bmi` requires.
            return unsafe { read_slots_bmi(input, order, max_scale, raw_len) };
        }
        read_slots(input, order, max_scale, raw_len)
    }

    /// The order `k`, 1 or 2.
    pub(crate) fn order(&self) -> u32 {
        self.order
    }

    /// The block scale `S <= 12`.
    pub(crate) fn scale(&self) -> u32 {
        self.scale
    }

    /// Whether no decodable symbol leads to a context without a table (see the field).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// The info word of every context bytes value (`2^(8k)` of them; see the field).
    pub(crate) fn info(&self) -> &[u32] {
        &self.info
    }

    /// The slot entries, padded to a power-of-two length (see the field).
    pub(crate) fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// Decodes one symbol in context `c` from state `x`: returns `s`, `D(s, x)` (not yet
    /// renormalised) and the context's info word (its top bit flags a missing context).
    ///
    /// With `x` in `[L, L * 2^32)` the result is below `2^63` (see
    /// [`RansDecoder::consume`]): the slot's interval always holds `t = x mod 2^S`.
    #[inline(always)]
    fn decode(&self, x: u64, c: u32, scale: u32) -> (u8, u64, u32) {
        let info = self.info[c as usize];
        let t = (x as u32) & ((1 << scale) - 1);
        let at = (info >> INFO_OFFSET_SHIFT) as usize + t.wrapping_shr(info) as usize;
        let e = self.slots[..=self.slots_mask][at & self.slots_mask];
        (e as u8, slot_step(x, e, scale), info)
    }
}

/// [`ContextSlots::read`] for orders 1 and 2.
#[inline(always)]
fn read_slots(
    input: &[u8],
    order: u32,
    max_scale: u32,
    raw_len: usize,
) -> Result<Option<ContextSlots>> {
    let mut b = SlotBuilder::new(order);
    read_table(input, order, max_scale, raw_len, &mut b)?;
    Ok(b.finish())
}

/// [`read_slots`] compiled with BMI1 and BMI2: the gamma codes' trailing zeros
/// (`tzcnt`) and variable shifts and masks (`shrx`, `bzhi`) take one instruction each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2")]
unsafe fn read_slots_bmi(
    input: &[u8],
    order: u32,
    max_scale: u32,
    raw_len: usize,
) -> Result<Option<ContextSlots>> {
    read_slots(input, order, max_scale, raw_len)
}

/// Builds [`ContextSlots`] context by context: from an [`OrderKTable`]
/// ([`ContextSlots::new`]) or as [`read_table`] parses one ([`ContextSlots::read`]).
///
/// Filling a context's runs through a local slice of the vector (zeroed first, one
/// memset a context) instead of `extend_from_slice` was tried: book1 order 1, callgrind
/// 31.21M -> 31.61M instructions for the whole decode, its perf share 3.1% -> 2.8% plus
/// 0.1% more memset; not kept. The fill's cost is the mispredicted end of each run.
struct SlotBuilder {
    order: u32,
    /// The block scale `S`.
    scale: u32,
    /// The block's bytes by rank.
    alphabet: [u8; 256],
    /// [`ContextSlots::info`], every context missing to start with.
    info: Vec<u32>,
    /// [`ContextSlots::slots`] without the padding.
    slots: Vec<u32>,
    /// Bit `c` set: a symbol of some context leads to context `c` (for `closed`).
    reached: Vec<u64>,
    /// The contexts need more than [`MAX_CONTEXT_SLOTS`] slots: the rest is skipped.
    too_big: bool,
}

impl SlotBuilder {
    fn new(order: u32) -> SlotBuilder {
        debug_assert!((1..=2).contains(&order));
        SlotBuilder {
            order,
            scale: 0,
            alphabet: [0; 256],
            info: Vec::new(),
            slots: Vec::new(),
            reached: Vec::new(),
            too_big: false,
        }
    }

    /// The tables, or `None` if they need more than [`MAX_CONTEXT_SLOTS`] slots.
    fn finish(mut self) -> Option<ContextSlots> {
        if self.too_big {
            return None;
        }
        let total = self.slots.len();
        let present = |c: usize| self.info[c] & INFO_MISSING == 0;
        // The start context, and every context a symbol leads to, has a table.
        let closed = present(0)
            && self.reached.iter().enumerate().all(|(i, &w)| {
                let mut w = w;
                while w != 0 {
                    if !present(64 * i + w.trailing_zeros() as usize) {
                        return false;
                    }
                    w &= w - 1;
                }
                true
            });
        // Padding: copies of the placeholder.
        self.slots.resize(total.next_power_of_two(), 0);
        Some(ContextSlots {
            order: self.order,
            scale: self.scale,
            info: self.info,
            slots_mask: self.slots.len() - 1,
            slots: self.slots,
            closed,
        })
    }
}

impl TableSink for SlotBuilder {
    fn begin(&mut self, alphabet: &[u8], scale: u32, contexts: usize) {
        debug_assert!(scale <= MAX_CONTEXT_SCALE);
        self.scale = scale;
        self.alphabet[..alphabet.len()].copy_from_slice(alphabet);
        let n = 1usize << (8 * self.order);
        self.info = vec![INFO_MISSING | scale; n];
        self.reached = vec![0; n / 64];
        // At most 2^S slots a context and the placeholder; room for the padding and for
        // the last run's overshoot (below), so that the vector never moves. Only what
        // is written is touched.
        let most = contexts
            .saturating_mul(1 << scale)
            .saturating_add(1)
            .min(MAX_CONTEXT_SLOTS);
        self.slots = Vec::with_capacity(most.next_power_of_two().max(most + FILL));
        // The placeholder: f = 2^S, start = 0, symbol 0.
        self.slots.push(0);
    }

    #[inline]
    fn context(&mut self, context: u32, s: u32, ranks: &[u8], freqs: &[u32]) {
        let len = self.slots.len();
        if self.too_big || len + (1 << s) > MAX_CONTEXT_SLOTS {
            self.too_big = true;
            return;
        }
        let scale = self.scale;
        let d = scale - s;
        let cmask = (1u32 << (8 * self.order)) - 1;
        self.info[(context & cmask) as usize] = (len as u32) << INFO_OFFSET_SHIFT | d;
        let mut start = 0u32;
        for (&r, &f) in ranks.iter().zip(freqs) {
            let symbol = self.alphabet[r as usize];
            let freq = f << d;
            let v = u32::from(symbol) | start << 8 | ((1 << scale) - freq) << 20;
            start += freq;
            // Runs are short (16 slots on average on book1): whole blocks of FILL
            // copies, then the overshoot cut off.
            let end = self.slots.len() + f as usize;
            while self.slots.len() < end {
                self.slots.extend_from_slice(&[v; FILL]);
            }
            self.slots.truncate(end);
            let next = ((context << 8 | u32::from(symbol)) & cmask) as usize;
            self.reached[next / 64] |= 1 << (next % 64);
        }
        debug_assert_eq!(start, 1 << scale);
    }
}

/// `D(s, x)` for the slot entry `e` of `t = x mod 2^S` (see [`ContextSlots::slots`]),
/// not yet renormalised.
///
/// `D(s, x) = f * floor(x / 2^S) + t - start = x - start - (2^S - f) * floor(x / 2^S)`:
/// the second form needs no `t` and takes `2^S - f` from the top bits with one shift.
/// Neither subtraction can wrap: `x >= L > start`, and the result is the first form,
/// which is at least 0 because the slot's interval holds `t`.
#[inline(always)]
fn slot_step(x: u64, e: u32, scale: u32) -> u64 {
    let (start, g) = ((e >> 8) & 0xfff, e >> 20);
    x - u64::from(start) - u64::from(g) * (x >> scale)
}

/// The hot loop of [`decode_order_k`]: groups of four symbols (one per lane), two groups
/// an iteration while at least eight words (the most two groups can read) remain.
/// `lanes` are the four lanes' outputs, each `q` bytes; `ctx` the lanes' contexts.
/// Returns the groups decoded, the byte offset of the next word and the OR of the info
/// words used if `FLAGS` (0 otherwise: for closed tables, which need no check).
///
/// At order 2 a lane's context word keeps every byte decoded inside the loop (shifted
/// up, masked only where it indexes `info`), so after two groups its low 16 bits are
/// the two new symbols: one 2-byte store a lane an iteration, and no lane pointer in
/// the groups (the four of them spilled to the stack). At order 1 that costs more
/// instructions than it saves (the context is the symbol itself): one store a symbol.
#[inline(always)]
fn decode_lane_quads<const K: usize, const SCALE: u32, const FLAGS: bool>(
    x: &mut [u64; STATES],
    ctx: &mut [u32; STATES],
    words: &[u8],
    tab: &ContextSlots,
    mut lanes: [&mut [u8]; STATES],
) -> (usize, usize, u32) {
    let cmask: u32 = if K == 1 { 0xff } else { 0xffff };
    // Tables sliced to the lengths the masks below assume: no bounds checks in the loop.
    let Some(info) = tab.info.get(..=cmask as usize) else {
        return (0, 0, 0);
    };
    let smask = tab.slots_mask;
    let Some(slots) = tab.slots.get(..=smask) else {
        return (0, 0, 0);
    };
    let q = lanes.iter().map(|l| l.len()).min().unwrap_or(0);
    let (mut xs, mut cs) = (*x, *ctx);
    let mut pos = 0usize;
    let mut flags = 0u32;
    let mut g = 0usize;
    while g + 1 < q {
        let Some(win) = words.get(pos..pos + 32) else {
            break;
        };
        let win: &[u8; 32] = win.try_into().expect("32 bytes");
        let k = lane_group::<K, SCALE, FLAGS>(
            &mut xs,
            &mut cs,
            &mut flags,
            &win[..16],
            info,
            slots,
            &mut lanes,
            g,
        );
        let k2 = lane_group::<K, SCALE, FLAGS>(
            &mut xs,
            &mut cs,
            &mut flags,
            &win[4 * k..4 * k + 16],
            info,
            slots,
            &mut lanes,
            g + 1,
        );
        if K == 2 {
            for (lane, &c) in lanes.iter_mut().zip(&cs) {
                // Symbol g in bits 8-15, symbol g + 1 in bits 0-7.
                lane[g..g + 2].copy_from_slice(&(c as u16).to_be_bytes());
            }
        }
        pos += WORD_BYTES * (k + k2);
        g += 2;
    }
    *x = xs;
    *ctx = cs.map(|c| c & cmask);
    (g, pos, flags)
}

/// One group of [`decode_lane_quads`]: decodes symbol `g` of every lane with the slot
/// tables (`info` and `slots` sliced to `2^(8k)` and a power of two), makes it the
/// lane's context `cs[j]` (at order 1, where it also stores it in `lanes`) or shifts it
/// into `cs[j]` (order 2, unmasked), renormalises the states with the words at the start
/// of `win` (16 bytes) and returns how many it took. State `j` takes word
/// `k_j = need_0 + ... + need_(j-1)` by an indexed load.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lane_group<const K: usize, const SCALE: u32, const FLAGS: bool>(
    xs: &mut [u64; STATES],
    cs: &mut [u32; STATES],
    flags: &mut u32,
    win: &[u8],
    info: &[u32],
    slots: &[u32],
    lanes: &mut [&mut [u8]; STATES],
    g: usize,
) -> usize {
    let cmask: u32 = if K == 1 { 0xff } else { 0xffff };
    // `slots` has a power-of-two length: the mask keeps an index in bounds.
    let smask = slots.len().wrapping_sub(1);
    let mut d = [0u64; STATES];
    for j in 0..STATES {
        // ContextSlots::decode at a constant scale.
        let inf = info[(cs[j] & cmask) as usize];
        let t = (xs[j] as u32) & ((1 << SCALE) - 1);
        // Shifts by d (or by d + 16 in a missing context: to the placeholder).
        let at = (inf >> INFO_OFFSET_SHIFT) as usize + t.wrapping_shr(inf) as usize;
        let e = slots[at & smask];
        d[j] = slot_step(xs[j], e, SCALE);
        if FLAGS {
            *flags |= inf;
        }
        let sj = e as u8;
        if K == 1 {
            lanes[j][g] = sj;
            cs[j] = u32::from(sj);
        } else {
            cs[j] = cs[j] << 8 | u32::from(sj);
        }
    }
    let mut k = 0usize;
    for j in 0..STATES {
        let need = d[j] < L;
        let at = 4 * (k & 3);
        let word = u32::from_le_bytes(win[at..at + 4].try_into().expect("4 bytes"));
        let shifted = (d[j] << 32) | u64::from(word);
        xs[j] = if need { shifted } else { d[j] };
        k += usize::from(need);
    }
    k
}

/// Decodes `out.len()` symbols of a static order-1 or order-2 model in four lanes
/// (notes above); reads exactly the streams that [`RansDecoder`] reads with the same
/// contexts' intervals.
///
/// Errors as [`decode_order0`], and [`Error::Corrupt`] if a decoded symbol leads to a
/// context without a table. Allocates nothing beyond `slots`.
pub fn decode_order_k(stream: &[u8], slots: &ContextSlots, out: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `decode_order_k_bmi2` requires.
        return unsafe { decode_order_k_bmi2(stream, slots, out) };
    }
    decode_order_k_any(stream, slots, out)
}

/// [`decode_order_k_any`] compiled with BMI2 (`shrx`, `shlx`: shifts without `cl`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn decode_order_k_bmi2(stream: &[u8], slots: &ContextSlots, out: &mut [u8]) -> Result<()> {
    decode_order_k_any(stream, slots, out)
}

/// One instance per order and scale: the shifts by the scale become constants.
#[inline(always)]
fn decode_order_k_any(stream: &[u8], slots: &ContextSlots, out: &mut [u8]) -> Result<()> {
    macro_rules! by_scale {
        ($k:literal; $($s:literal)*) => {
            match slots.scale {
                $($s => decode_order_k_with::<$k, $s>(stream, slots, out),)*
                _ => unreachable!("ContextSlots::new takes scales up to 12"),
            }
        };
    }
    if slots.order == 1 {
        by_scale!(1; 0 1 2 3 4 5 6 7 8 9 10 11 12)
    } else {
        by_scale!(2; 0 1 2 3 4 5 6 7 8 9 10 11 12)
    }
}

#[inline(always)]
fn decode_order_k_with<const K: usize, const SCALE: u32>(
    stream: &[u8],
    tab: &ContextSlots,
    out: &mut [u8],
) -> Result<()> {
    let (mut x, words) = parse_header(stream)?;
    let n = out.len();
    let q = n / STATES;
    let cmask: u32 = if K == 1 { 0xff } else { 0xffff };
    let mut ctx = [0u32; STATES];
    let (lanes, tail) = out.split_at_mut(STATES * q);
    let (done, mut pos, mut flags) = {
        let (l0, r) = lanes.split_at_mut(q);
        let (l1, r) = r.split_at_mut(q);
        let (l2, l3) = r.split_at_mut(q);
        let lanes = [l0, l1, l2, l3];
        if tab.closed {
            decode_lane_quads::<K, SCALE, false>(&mut x, &mut ctx, words, tab, lanes)
        } else {
            decode_lane_quads::<K, SCALE, true>(&mut x, &mut ctx, words, tab, lanes)
        }
    };
    // Every read checked from here on: the groups the window did not cover, then the
    // tail (lane 3 continued, state i % 4).
    let mut step = |j: usize, c: &mut u32| -> Result<u8> {
        let (s, mut xn, info) = tab.decode(x[j], *c, tab.scale);
        flags |= info;
        if xn < L {
            let Some(w) = words.get(pos..pos + WORD_BYTES) else {
                return Err(Error::Truncated {
                    what: "rans words",
                    needed: (pos + WORD_BYTES) as u64,
                    available: words.len() as u64,
                });
            };
            xn = (xn << 32) | u64::from(u32::from_le_bytes(w.try_into().expect("4 bytes")));
            pos += WORD_BYTES;
        }
        x[j] = xn;
        *c = (*c << 8 | u32::from(s)) & cmask;
        Ok(s)
    };
    for g in done..q {
        for (j, c) in ctx.iter_mut().enumerate() {
            lanes[j * q + g] = step(j, c)?;
        }
    }
    for (i, o) in tail.iter_mut().enumerate() {
        *o = step((STATES * q + i) % STATES, &mut ctx[3])?;
    }
    if flags & INFO_MISSING != 0 {
        return Err(Error::Corrupt {
            what: "context without a table",
        });
    }
    check_end(&x, pos / WORD_BYTES, words)
}

/// What the order-k encoder needs about one symbol of one context, 16 bytes, laid out
/// so that coding a symbol takes few instructions (scale `S <= 12`):
///
/// - Renormalise if `x >= x_max(f) = f 2^(63 - S)`, i.e. if `x >= (f 2^(31 - S)) 2^32`;
///   `f 2^(31 - S) <= 2^31` has its low `31 - S >= 19` bits zero, so the low five bits
///   of [`CtxEncSymbol::xmax_sh`] hold the shift of the division.
/// - Divide without doubling `x`: with `l = ceil(log2 f) >= 1` and `m = ceil(2^(63 + l) /
///   f) < 2^64` (the reciprocal of [`EncSymbol`]), `floor(x / f) = floor(x m / 2^(63 +
///   l)) = floor(mulhi(x, m) / 2^(l - 1))` (a floor of a floor divided by an integer),
///   so the shift is `l - 1 <= 11`.
/// - `f = 1` (`l = 0`) takes `m = 2^64 - 1` and shift 0: `mulhi(x, m) = x - 1` for `1 <= x
///   < 2^64`, one short of `floor(x / 1)`, which `start + cmpl` in place of `start` makes
///   up: `x + (start + cmpl) + (x - 1) cmpl = x + start + x cmpl`.
///
/// Then `x' = C(s, x) = x + start + floor(x / f) (2^S - f)`. Aligned so that one entry
/// never straddles two cache lines.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
struct CtxEncSymbol {
    /// The reciprocal (see above); 0 for an absent symbol, so `q = 0`.
    rcp: u64,
    /// `f 2^(31 - S) | shift`; for an absent symbol `u32::MAX`: it never renormalises
    /// (its threshold `(2^32 - 32) 2^32` is above every state) and bit 5, zero in every
    /// other entry, flags it. The encoders OR these words and check the flag once.
    xmax_sh: u32,
    /// `start`, plus `cmpl` if `f = 1` (at most `2^13 - 2`); 0 for an absent symbol.
    start: u16,
    /// `2^S - f`; 0 for an absent symbol, which thus leaves the state unchanged.
    cmpl: u16,
}

/// The flag in [`CtxEncSymbol::xmax_sh`] of an absent symbol.
const ABSENT_FLAG: u64 = 1 << 5;

impl CtxEncSymbol {
    const ABSENT: CtxEncSymbol = CtxEncSymbol {
        rcp: 0,
        xmax_sh: u32::MAX,
        start: 0,
        cmpl: 0,
    };

    /// The entry of a symbol with interval `[start, start + freq)` out of `2^scale`,
    /// `1 <= freq`, `scale <= 12`.
    fn of(start: u32, freq: u32, scale: u32) -> CtxEncSymbol {
        debug_assert!(scale <= MAX_CONTEXT_SCALE && (1..=1 << scale).contains(&freq));
        let cmpl = (1 << scale) - freq;
        let (rcp, shift, start) = if freq == 1 {
            (u64::MAX, 0, start + cmpl)
        } else {
            let l = 32 - (freq - 1).leading_zeros();
            (reciprocal(freq), l - 1, start)
        };
        CtxEncSymbol {
            rcp,
            xmax_sh: freq << (31 - scale) | shift,
            start: start as u16,
            cmpl: cmpl as u16,
        }
    }

    /// `x_max(f)` (above every state for an absent symbol).
    #[inline(always)]
    fn x_max(&self) -> u64 {
        u64::from(self.xmax_sh & !31) << 32
    }

    /// `x >= x_max(f)`.
    #[inline(always)]
    fn needs_word(&self, x: u64) -> bool {
        x >= self.x_max()
    }

    /// `x' = C(s, x)` for an `x` already renormalised.
    #[inline(always)]
    fn encode(&self, x: u64) -> u64 {
        let hi = ((u128::from(x) * u128::from(self.rcp)) >> 64) as u64;
        // The shift count is taken mod 64: bits 0-4 of xmax_sh (bit 5 only when absent,
        // where rcp = 0).
        let q = hi.wrapping_shr(self.xmax_sh);
        // x' = C(s, x) = x + start + floor(x / f) * (2^S - f)
        x + u64::from(self.start) + q * u64::from(self.cmpl)
    }
}

/// `m = ceil(2^(63 + l) / f)` with `l = ceil(log2 f)`, for `f >= 2` (the reciprocal
/// of [`CtxEncSymbol`]). A u128 division is a library call of about a hundred
/// instructions and a block's tables repeat few frequencies, so each value up to
/// `2^MAX_CONTEXT_SCALE` is computed once per process and kept (0 marks one not yet
/// computed; `m >= 2^63`). Threads that race store the same value.
fn reciprocal(freq: u32) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static KEPT: [AtomicU64; (1 << MAX_CONTEXT_SCALE) + 1] =
        [const { AtomicU64::new(0) }; (1 << MAX_CONTEXT_SCALE) + 1];
    let slot = KEPT.get(freq as usize);
    if let Some(m) = slot.map(|a| a.load(Ordering::Relaxed)).filter(|&m| m != 0) {
        return m;
    }
    let l = 32 - (freq - 1).leading_zeros();
    let m = (1u128 << (63 + l)).div_ceil(u128::from(freq));
    let m = u64::try_from(m).expect("reciprocal below 2^64 (see EncSymbol)");
    if let Some(a) = slot {
        a.store(m, Ordering::Relaxed);
    }
    m
}

/// What the order-k encoders' shared steps (tail, error search) need of an entry.
trait CoderEntry {
    /// A word whose bit [`ABSENT_FLAG`] is set exactly for an absent symbol.
    fn flag_word(&self) -> u64;
    /// `x >= x_max(f)`.
    fn needs_word(&self, x: u64) -> bool;
    /// `x' = C(s, x)` for an `x` already renormalised.
    fn encode(&self, x: u64) -> u64;
}

impl CoderEntry for CtxEncSymbol {
    #[inline(always)]
    fn flag_word(&self) -> u64 {
        u64::from(self.xmax_sh)
    }
    #[inline(always)]
    fn needs_word(&self, x: u64) -> bool {
        CtxEncSymbol::needs_word(self, x)
    }
    #[inline(always)]
    fn encode(&self, x: u64) -> u64 {
        CtxEncSymbol::encode(self, x)
    }
}

/// The order-1 encoder's entry, 32 bytes: every field the step adds or multiplies is a
/// u64, so that the instructions take it from memory and the hot loop holds no field
/// of an entry in a register but `thr` (reciprocal, shift and `cmpl` as in
/// [`CtxEncSymbol`]). With 16-bit fields LLVM loaded all four symbols' fields of a group
/// up front and spilled them: 110 instructions a group against 80.
///
/// `thr = x_max(f) + shift` with `x_max(f) = f 2^(63 - S)`, a multiple of `2^(63 - S)
/// >= 2^51`, and `shift <= 11`: `x_max(f) = thr & !63`, and the shift of the division
/// is `thr mod 64`, as a shift by `thr` takes it.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct WideSym {
    /// The reciprocal; 0 for an absent symbol.
    rcp: u64,
    /// `x_max(f) + shift`; `u64::MAX` for an absent symbol, whose threshold `thr & !63`
    /// is above every state (`x < 2^63`), with [`ABSENT_FLAG`] set (clear in every other
    /// entry: `shift < 32`).
    thr: u64,
    /// `start` (plus `cmpl` if `f = 1`, see [`CtxEncSymbol`]); 0 for an absent symbol.
    start: u64,
    /// `2^S - f`; 0 for an absent symbol, which thus leaves the state unchanged.
    cmpl: u64,
}

impl WideSym {
    const ABSENT: WideSym = WideSym {
        rcp: 0,
        thr: u64::MAX,
        start: 0,
        cmpl: 0,
    };

    /// The entry of a symbol with interval `[start, start + freq)` out of `2^scale`,
    /// `1 <= freq`, `scale <= 12`.
    fn of(start: u32, freq: u32, scale: u32) -> WideSym {
        let e = CtxEncSymbol::of(start, freq, scale);
        WideSym {
            rcp: e.rcp,
            thr: (u64::from(freq) << (63 - scale)) + u64::from(e.xmax_sh & 31),
            start: u64::from(e.start),
            cmpl: u64::from(e.cmpl),
        }
    }
}

impl CoderEntry for WideSym {
    #[inline(always)]
    fn flag_word(&self) -> u64 {
        self.thr
    }
    #[inline(always)]
    fn needs_word(&self, x: u64) -> bool {
        x >= self.thr & !63
    }
    #[inline(always)]
    fn encode(&self, x: u64) -> u64 {
        let hi = ((u128::from(x) * u128::from(self.rcp)) >> 64) as u64;
        // The shift count is taken mod 64.
        let q = hi.wrapping_shr(self.thr as u32);
        x + self.start + q * self.cmpl
    }
}

/// One row of order-1 encoder indexes: the index in [`RowEnc::syms`] of every byte's
/// entry in one context.
type EncRow = [u16; 256];

/// Encoder tables of a static order-1 model: a row of 256 u16 indexes per context into
/// one array of entries, so that a symbol costs one load of its context's row, one of
/// its index and one of its entry. (Full rows of 32-byte entries cost 8 KiB a context to
/// fill, 2 MiB per block on kennedy.xls; the indexes 512 bytes.)
struct RowEnc {
    /// The row of each context byte in `rows`. At most 256 contexts, and a row for the
    /// contexts without a table only if one lacks a table: at most 256 rows.
    row_of: [u8; 256],
    rows: Vec<EncRow>,
    /// The entries of all contexts' symbols (`P <= 256 * 256` of them), then an absent
    /// entry at index `P` if `P < 2^16` (which every absent index names; with `P = 2^16`
    /// every context has all 256 symbols and nothing is absent). Padded with absent
    /// entries to a power-of-two length, `mask + 1`.
    syms: Vec<WideSym>,
    mask: usize,
}

impl RowEnc {
    fn new(table: &OrderKTable) -> RowEnc {
        debug_assert_eq!(table.order(), 1);
        let scale = table.scale_bits();
        let contexts = table.contexts();
        let present: usize = contexts.iter().map(|c| c.entries().len()).sum();
        // Below 2^16 unless nothing is absent (see above); then any value will do.
        let absent = present.min(usize::from(u16::MAX)) as u16;
        let len = (present + 1).min(1 << 16).next_power_of_two();
        let mut syms = Vec::with_capacity(len);
        // An order-1 context is one byte, so at most 256 contexts.
        let mut row_of = [contexts.len().min(255) as u8; 256];
        let mut rows = vec![[absent; 256]; (contexts.len() + 1).min(256)];
        for (r, c) in contexts.iter().enumerate() {
            row_of[(c.context & 0xff) as usize] = r as u8;
            for e in c.entries() {
                rows[r][usize::from(e.symbol)] = syms.len() as u16;
                syms.push(WideSym::of(e.start, e.freq, scale));
            }
        }
        syms.resize(len, WideSym::ABSENT);
        RowEnc {
            row_of,
            rows,
            mask: syms.len() - 1,
            syms,
        }
    }

    /// The row of every context byte.
    fn rows(&self) -> [&EncRow; 256] {
        std::array::from_fn(|c| &self.rows[usize::from(self.row_of[c])])
    }

    /// The entry of index `i`; the mask only lets the compiler see that the index is
    /// in bounds (every index in the rows is).
    #[inline(always)]
    fn sym(&self, i: u16) -> &WideSym {
        &self.syms[..=self.mask][usize::from(i) & self.mask]
    }
}

/// Encoder tables of a static order-2 model (notes above).
struct ContextEnc {
    /// For context bytes `c` (`256^2` entries): `256 r`, where `r` is the context's row
    /// in `map` (row 0: contexts without a table).
    row: Vec<u32>,
    /// 256 u32 per row: the index in `syms` of each symbol's entry (an absent entry if it
    /// has none). Padded with zeros to a power-of-two length, `map_mask + 1`.
    map: Vec<u32>,
    map_mask: usize,
    /// The entries; `syms[0]` is absent. Padded with absent entries to a power-of-two
    /// length, `syms_mask + 1`.
    syms: Vec<CtxEncSymbol>,
    syms_mask: usize,
}

impl ContextEnc {
    fn new(table: &OrderKTable) -> ContextEnc {
        let scale = table.scale_bits();
        let mut row = vec![0u32; 1 << (8 * table.order().min(2))];
        let nctx = table.contexts().len();
        let mut map = Vec::with_capacity((256 * (nctx + 1)).next_power_of_two());
        let mut syms = Vec::new();
        // Row 0: every symbol absent.
        map.extend_from_slice(&[0u32; 256]);
        syms.push(CtxEncSymbol::ABSENT);
        for c in table.contexts() {
            row[c.context as usize] = map.len() as u32;
            let mut m = [0u32; 256];
            for e in c.entries() {
                m[usize::from(e.symbol)] = syms.len() as u32;
                syms.push(CtxEncSymbol::of(e.start, e.freq, scale));
            }
            map.extend_from_slice(&m);
        }
        // The masks in `get` then never change an index that is in bounds.
        map.resize(map.len().next_power_of_two(), 0);
        syms.resize(syms.len().next_power_of_two(), CtxEncSymbol::ABSENT);
        ContextEnc {
            row,
            map_mask: map.len() - 1,
            map,
            syms_mask: syms.len() - 1,
            syms,
        }
    }

    /// The entry of symbol `s` in context bytes `c` (below `256^2`). The masks only let
    /// the compiler see that the indices are in bounds.
    #[inline(always)]
    fn get(&self, c: u32, s: u8) -> &CtxEncSymbol {
        let (map, syms) = (&self.map[..=self.map_mask], &self.syms[..=self.syms_mask]);
        let r = self.row[..1 << 16][usize::from(c as u16)];
        let i = map[(r as usize + usize::from(s)) & self.map_mask] as usize;
        &syms[i & self.syms_mask]
    }
}

/// Encodes `data` with a static order-1 or order-2 table in four lanes; the stream
/// equals that of [`RansEncoder`] fed the lane layout backwards (notes above).
///
/// Errors: [`Error::ZeroFrequency`] if a byte is absent from its context's table (or
/// its context has none); [`Error::InvalidOptions`] for an order other than 1 or 2.
pub fn encode_order_k(data: &[u8], table: &OrderKTable) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_order_k_into(data, table, &mut out)?;
    Ok(out)
}

/// [`encode_order_k`] appending the stream to `out` (so that a caller with a payload
/// under way saves a copy of the stream). On an error `out` is unchanged.
pub fn encode_order_k_into(data: &[u8], table: &OrderKTable, out: &mut Vec<u8>) -> Result<()> {
    if !(1..=2).contains(&table.order()) || table.scale_bits() > MAX_CONTEXT_SCALE {
        return Err(Error::InvalidOptions(
            "the order-k rans fast path takes orders 1 and 2".into(),
        ));
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `encode_order_k_bmi2` requires.
        return unsafe { encode_order_k_bmi2(data, table, out) };
    }
    encode_order_k_any(data, table, out)
}

/// [`encode_order_k_any`] compiled with BMI2 (`mulx`, `shrx`: fewer register moves).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn encode_order_k_bmi2(data: &[u8], table: &OrderKTable, out: &mut Vec<u8>) -> Result<()> {
    encode_order_k_any(data, table, out)
}

/// One instance per order and scale: the shifts by the scale become constants.
#[inline(always)]
fn encode_order_k_any(data: &[u8], table: &OrderKTable, out: &mut Vec<u8>) -> Result<()> {
    macro_rules! by_scale {
        ($f:ident; $($s:literal)*) => {
            match table.scale_bits() {
                $($s => $f::<$s>(data, table, out),)*
                _ => unreachable!("scale checked by encode_order_k"),
            }
        };
    }
    if table.order() == 1 {
        by_scale!(encode_order1_with; 0 1 2 3 4 5 6 7 8 9 10 11 12)
    } else {
        by_scale!(encode_order2_with; 0 1 2 3 4 5 6 7 8 9 10 11 12)
    }
}

/// The stream buffer of the order-k encoders for `n` symbols at `scale`: words are
/// written backwards from the end, with one spare word for the unconditional store.
fn order_k_buffer(n: usize, scale: u32) -> Vec<u8> {
    vec![0u8; HEADER_BYTES + WORD_BYTES * (max_words(n, scale) + 1)]
}

/// Codes stream symbol `i` (state `i % 4`) with entry `e`, one at a time with a
/// checked store (the tail and the few groups outside the hot loops).
#[inline(always)]
fn encode_one<const SCALE: u32>(
    e: &impl CoderEntry,
    xj: &mut u64,
    buf: &mut [u8],
    p: &mut usize,
    flags: &mut u64,
) {
    *flags |= e.flag_word();
    if e.needs_word(*xj) {
        buf[*p - WORD_BYTES..*p].copy_from_slice(&(*xj as u32).to_le_bytes());
        *p -= WORD_BYTES;
        *xj >>= 32;
    }
    *xj = e.encode(*xj);
}

/// Appends the final states (the header) and the words `buf[p..]` to `out`.
fn finish_order_k(buf: &[u8], p: usize, x: &[u64; STATES], out: &mut Vec<u8>) {
    out.reserve(HEADER_BYTES + buf.len() - p);
    for xj in x {
        out.extend_from_slice(&xj.to_le_bytes());
    }
    out.extend_from_slice(&buf[p..]);
}

/// The first byte of `data` that is absent from its context's table (lanes as in the
/// notes above), for the error; `entry(context, byte)` gives the entry.
fn absent_symbol<'a, E: CoderEntry + 'a, const K: usize>(
    data: &[u8],
    entry: impl Fn(u32, u8) -> &'a E,
) -> Error {
    let q = data.len() / STATES;
    let starts = [0, q, 2 * q, 3 * q];
    for (at, &b) in data.iter().enumerate() {
        let lane = if at < 4 * q { at / q.max(1) } else { 3 };
        if entry(lane_context::<K>(data, at, starts[lane.min(3)]), b).flag_word() & ABSENT_FLAG != 0
        {
            return Error::ZeroFrequency { symbol: b };
        }
    }
    unreachable!("an absent symbol was flagged")
}

/// The start of an order-`K` encoder: the output buffer, then the tail coded first
/// (stream symbols `n - 1` down to `4q`: lane 3, state `i % 4`), with `entry(context,
/// symbol)` giving each symbol's coder entry. Returns the buffer, the start of the words
/// written so far (`buf[p..]`; invariant `p >= HEADER_BYTES + 4`), the states and the
/// absent-symbol flags.
#[inline(always)]
fn encode_tail<'e, E: CoderEntry + 'e, const SCALE: u32, const K: usize>(
    data: &[u8],
    entry: impl Fn(u32, u8) -> &'e E,
) -> (Vec<u8>, usize, [u64; STATES], u64) {
    let n = data.len();
    let q = n / STATES;
    let mut buf = order_k_buffer(n, SCALE);
    let mut p = buf.len();
    let mut x = [L; STATES];
    let mut flags = 0u64;
    for i in (STATES * q..n).rev() {
        let e = entry(lane_context::<K>(data, i, 3 * q), data[i]);
        encode_one::<SCALE>(e, &mut x[i % STATES], &mut buf, &mut p, &mut flags);
    }
    (buf, p, x, flags)
}

/// [`encode_order_k`] at order 1 and scale `SCALE`.
///
/// The words go into a vector in the order they are emitted (the reverse of the
/// stream's), which needs no zeroed buffer of the worst-case length, and are copied
/// reversed after the header at the end.
#[inline(always)]
fn encode_order1_with<const SCALE: u32>(
    data: &[u8],
    table: &OrderKTable,
    out: &mut Vec<u8>,
) -> Result<()> {
    let enc = RowEnc::new(table);
    let rows = enc.rows();
    let entry = |c: u32, s: u8| enc.sym(rows[(c & 0xff) as usize][usize::from(s)]);
    let n = data.len();
    let q = n / STATES;
    let mut words: Vec<u32> = Vec::with_capacity(max_words(n, SCALE));
    let mut x = [L; STATES];
    let mut flags = 0u64;
    // One symbol of state `j` (stream symbol `i`, `i mod 4 = j`) with entry `e`.
    let one = |e: &WideSym, xj: &mut u64, words: &mut Vec<u32>, flags: &mut u64| {
        *flags |= e.flag_word();
        if e.needs_word(*xj) {
            words.push(*xj as u32);
            *xj >>= 32;
        }
        *xj = e.encode(*xj);
    };
    // First the tail: stream symbols n - 1 down to 4q (lane 3).
    for i in (STATES * q..n).rev() {
        let e = entry(lane_context::<1>(data, i, 3 * q), data[i]);
        one(e, &mut x[i % STATES], &mut words, &mut flags);
    }
    // Then groups g = q-1 .. 1 (every context inside its lane), then group 0 (zero
    // contexts); within a group lane 3 first.
    if q > 0 {
        let lanes = [
            &data[..q],
            &data[q..2 * q],
            &data[2 * q..3 * q],
            &data[3 * q..4 * q],
        ];
        encode_order1_groups::<SCALE>(&enc, &rows, lanes, &mut words, &mut x, &mut flags);
        for j in (0..STATES).rev() {
            one(entry(0, lanes[j][0]), &mut x[j], &mut words, &mut flags);
        }
    }
    if flags & ABSENT_FLAG != 0 {
        return Err(absent_symbol::<_, 1>(data, entry));
    }
    out.reserve(HEADER_BYTES + WORD_BYTES * words.len());
    for xj in &x {
        out.extend_from_slice(&xj.to_le_bytes());
    }
    let at = out.len();
    out.resize(at + WORD_BYTES * words.len(), 0);
    for (d, &w) in out[at..]
        .chunks_exact_mut(WORD_BYTES)
        .zip(words.iter().rev())
    {
        d.copy_from_slice(&w.to_le_bytes());
    }
    Ok(())
}

/// Groups per chunk of the order-1 encoder's hot loop.
const ENC_CHUNK: usize = 63;

/// The hot loop of the order-1 encoder: groups `g = q-1 .. 1` of the four lanes (each
/// `q` bytes), lane 3 first, with the branch-free renormalisation of [`encode_order0`].
///
/// In chunks of [`ENC_CHUNK`] groups, two passes: the first looks up every symbol's
/// entry (the context of lane position `g` is the byte at `g - 1`), lane by lane, into
/// a stack array in stream order; the second codes them. Apart, each pass keeps its
/// values in registers: together, the lane pointers and the four states spilled. The
/// second pass writes its words forward into a stack array indexed by a u8 (no bounds
/// check, no pointer into the stream held in a register), appended to `out` (words in
/// the order emitted) after each chunk; with [`WideSym`] entries it takes 80 instructions
/// a group where 16-bit fields and stores into the stream took 130.
#[inline(always)]
fn encode_order1_groups<const SCALE: u32>(
    enc: &RowEnc,
    rows: &[&EncRow; 256],
    lanes: [&[u8]; STATES],
    out: &mut Vec<u32>,
    x: &mut [u64; STATES],
    flags: &mut u64,
) {
    let q = lanes[0].len();
    let [mut x0, mut x1, mut x2, mut x3] = *x;
    let mut fl = 0u64;
    let mut ents = [&WideSym::ABSENT; STATES * ENC_CHUNK];
    // The chunk's words in the order they are emitted (the reverse of the stream's):
    // at most 4 * ENC_CHUNK = 252 of them, so a u8 counts them and indexes the array
    // (with room for the unconditional store of a word that does not count).
    let mut words = [0u32; 256];
    // Groups [1, hi) remain.
    let mut hi = q;
    while hi > 1 {
        let lo = hi.saturating_sub(ENC_CHUNK).max(1);
        let ents = &mut ents[..STATES * (hi - lo)];
        for (j, lane) in lanes.iter().enumerate() {
            let (ctx, sym) = (&lane[lo - 1..hi - 1], &lane[lo..hi]);
            for ((e, &c), &s) in ents.chunks_exact_mut(STATES).zip(ctx).zip(sym) {
                let entry = enc.sym(rows[usize::from(c)][usize::from(s)]);
                fl |= entry.thr;
                e[j] = entry;
            }
        }
        let mut w = 0u8; // words emitted in this chunk
        for es in ents.chunks_exact(STATES).rev() {
            macro_rules! put {
                ($x:ident, $e:expr) => {{
                    let e: &WideSym = $e;
                    let emit = $x >= e.thr & !63;
                    // Store the candidate word unconditionally; it counts only if `emit`.
                    words[usize::from(w)] = $x as u32;
                    w += u8::from(emit);
                    let xr = if emit { $x >> 32 } else { $x };
                    let hi = ((u128::from(xr) * u128::from(e.rcp)) >> 64) as u64;
                    // The shift count is taken mod 64.
                    $x = xr + hi.wrapping_shr(e.thr as u32) * e.cmpl + e.start;
                }};
            }
            put!(x3, es[3]);
            put!(x2, es[2]);
            put!(x1, es[1]);
            put!(x0, es[0]);
        }
        out.extend_from_slice(&words[..usize::from(w)]);
        hi = lo;
    }
    *x = [x0, x1, x2, x3];
    *flags |= fl;
}

/// [`encode_order_k`] at order 2 and scale `SCALE`.
#[inline(always)]
fn encode_order2_with<const SCALE: u32>(
    data: &[u8],
    table: &OrderKTable,
    out: &mut Vec<u8>,
) -> Result<()> {
    const K: usize = 2;
    let enc = ContextEnc::new(table);
    let n = data.len();
    let q = n / STATES;
    let (mut buf, mut p, mut x, mut flags) = encode_tail::<_, SCALE, K>(data, |c, s| enc.get(c, s));
    // Then groups g = q-1 .. 0; within a group lane 3 first.
    let mut es = [&CtxEncSymbol::ABSENT; STATES];
    // Groups g >= K: every context lies inside its lane.
    if q > K {
        // Windows of K + 1 bytes: the context, then the symbol, of lane position `g >= K`.
        let w = |j: usize| data[j * q..(j + 1) * q].windows(K + 1);
        let ctx = |w: &[u8]| u32::from(w[1]) | u32::from(w[0]) << 8;
        for (((w0, w1), w2), w3) in w(0).zip(w(1)).zip(w(2)).zip(w(3)).rev() {
            es[0] = enc.get(ctx(w0), w0[K]);
            es[1] = enc.get(ctx(w1), w1[K]);
            es[2] = enc.get(ctx(w2), w2[K]);
            es[3] = enc.get(ctx(w3), w3[K]);
            encode_group::<SCALE>(&es, &mut buf, &mut p, &mut x, &mut flags);
        }
    }
    for g in (0..q.min(K)).rev() {
        for (j, e) in es.iter_mut().enumerate() {
            let at = j * q + g;
            *e = enc.get(lane_context::<K>(data, at, j * q), data[at]);
        }
        encode_group::<SCALE>(&es, &mut buf, &mut p, &mut x, &mut flags);
    }
    if flags & ABSENT_FLAG != 0 {
        return Err(absent_symbol::<_, K>(data, |c, s| enc.get(c, s)));
    }
    finish_order_k(&buf, p, &x, out);
    Ok(())
}

/// Codes one group of the order-2 encoder: the four symbols' entries, lane 3 first,
/// with the branch-free renormalisation of [`encode_order0`]. `buf[..p]` must hold at
/// least 16 bytes.
#[inline(always)]
fn encode_group<const SCALE: u32>(
    es: &[&CtxEncSymbol; STATES],
    buf: &mut [u8],
    p: &mut usize,
    x: &mut [u64; STATES],
    flags: &mut u64,
) {
    let win: &mut [u8; 16] = (&mut buf[*p - 16..*p]).try_into().expect("16 bytes");
    let mut k = 0usize; // words emitted in this group, <= 3 before each store
    for j in (0..STATES).rev() {
        let e = es[j];
        *flags |= u64::from(e.xmax_sh);
        let emit = e.needs_word(x[j]);
        let w = 12 - 4 * (k & 3);
        win[w..w + 4].copy_from_slice(&(x[j] as u32).to_le_bytes());
        k += usize::from(emit);
        let xr = if emit { x[j] >> 32 } else { x[j] };
        x[j] = e.encode(xr);
    }
    *p -= WORD_BYTES * k;
}

/// Decodes `out.len()` symbols with the generic decoder and `dist` (the reference the
/// fast path is tested against).
#[cfg(test)]
fn decode_generic(stream: &[u8], dist: &impl Distribution, out: &mut [u8]) -> Result<()> {
    let scale = dist.scale_bits();
    let mut dec = RansDecoder::new(stream)?;
    for o in out.iter_mut() {
        let target = dec.peek(scale);
        let (s, iv) = dist.symbol_at(target)?;
        dec.consume(iv.start, iv.freq, scale);
        *o = s;
    }
    dec.finish()
}

/// Encodes `data` with the generic encoder and `dist`.
#[cfg(test)]
fn encode_generic(data: &[u8], dist: &impl Distribution) -> Result<Vec<u8>> {
    let scale = dist.scale_bits();
    let mut enc = RansEncoder::new(data.len());
    for &b in data.iter().rev() {
        let iv = dist.interval(b)?;
        enc.encode(iv.start, iv.freq, scale);
    }
    Ok(enc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Counts;
    use proptest::prelude::*;

    /// The optimal table for `data`, or a uniform one if `data` is empty.
    fn table_for(data: &[u8], scale: u32) -> FreqTable {
        if data.is_empty() {
            FreqTable::from_counts(&Counts::of(b"x"), scale).unwrap()
        } else {
            FreqTable::from_counts(&Counts::of(data), scale).unwrap()
        }
    }

    /// Round-trips `data` through both paths, checks they agree byte for byte, and
    /// returns the stream.
    fn round_trip(data: &[u8], table: &FreqTable) -> Vec<u8> {
        let fast = encode_order0(data, table).unwrap();
        let generic = encode_generic(data, table).unwrap();
        assert_eq!(fast, generic, "fast and generic encoders disagree");
        assert!(fast.len() <= max_stream_len(data.len(), table.scale_bits()));
        let mut out = vec![0u8; data.len()];
        decode_order0(&fast, table, &mut out).unwrap();
        assert_eq!(out, data, "fast decoder");
        out.fill(0);
        decode_generic(&fast, table, &mut out).unwrap();
        assert_eq!(out, data, "generic decoder");
        fast
    }

    fn corpus(dir: &str) -> Vec<(String, Vec<u8>)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpora")
            .join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect()
    }

    fn all_corpus_files() -> Vec<(String, Vec<u8>)> {
        let mut v = corpus("canterbury");
        v.extend(corpus("calgary"));
        assert!(v.len() >= 29, "corpora missing: {}", v.len());
        v
    }

    #[test]
    fn empty_block_is_four_initial_states() {
        let t = table_for(b"", 12);
        let s = round_trip(b"", &t);
        assert_eq!(s.len(), 32);
        for j in 0..4 {
            assert_eq!(
                u64::from_le_bytes(s[8 * j..8 * j + 8].try_into().unwrap()),
                L
            );
        }
    }

    /// `quotient` against the integer division for every `f` of a scale up to 2^16:
    /// at both ends of the state range, at the largest renormalised state of each
    /// scale (`x_max(f) - 1`), around multiples of `f` at the top of the range and at
    /// random, and at random states; twice, the second time from the filled table.
    #[test]
    fn table_quotient_is_exact() {
        for _ in 0..2 {
            let mut r = 0x9E37_79B9_7F4A_7C15u64;
            for f in 1..=(1u32 << 16) {
                let fw = u64::from(f);
                let top = (1u64 << 63) - 1;
                let mut xs = vec![0, 1, L - 1, L, L + 1, top, top - 1, top / 2];
                for scale in 0..=16 {
                    if f <= 1 << scale {
                        xs.push(x_max(f, scale) - 1);
                    }
                }
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                for k in [top / fw, top / fw - 1, (r >> 13) % (top / fw)] {
                    for d in [-1i64, 0, 1] {
                        xs.push((k * fw).wrapping_add_signed(d));
                    }
                }
                xs.push(r % top);
                for x in xs {
                    if x <= top {
                        assert_eq!(quotient(x, f), x / fw, "{x} / {f}");
                    }
                }
            }
        }
    }

    #[test]
    fn reciprocal_division_is_exact() {
        let xs = [
            0u64,
            1,
            L - 1,
            L,
            L + 12345,
            (1 << 47) - 1,
            1 << 47,
            0x5555_5555_5555_5555,
            (1 << 63) - 2,
            (1 << 63) - 1,
        ];
        for f in 1..=(1u32 << 16) {
            let shift = 32 - (f - 1).leading_zeros();
            let m = (1u128 << (63 + shift)).div_ceil(u128::from(f));
            let e = EncSymbol {
                rcp: u64::try_from(m).unwrap(),
                shift,
                ..EncSymbol::default()
            };
            for &x in &xs {
                assert_eq!(e.div(x), x / u64::from(f), "x = {x}, f = {f}");
            }
            let near = u64::from(f) * (((1 << 63) - 1) / u64::from(f));
            for x in [near - 1, near, near.saturating_sub(u64::from(f))] {
                assert_eq!(e.div(x), x / u64::from(f), "x = {x}, f = {f}");
            }
        }
    }

    #[test]
    fn one_symbol_with_the_whole_total_costs_nothing() {
        for scale in [8, 12, 16] {
            let data = vec![b'q'; 1001];
            let t = table_for(&data, scale);
            assert_eq!(t.freqs()[usize::from(b'q')], 1 << scale);
            let s = round_trip(&data, &t);
            assert_eq!(s.len(), 32, "C(s, x) = x when f = 2^scale");
        }
    }

    #[test]
    fn worst_case_bound_is_reached_but_not_exceeded() {
        // Every symbol at frequency 1 of 2^16: 16 bits each, the most a symbol can cost.
        let mut freqs = [0u32; 256];
        freqs[0] = 1;
        freqs[1] = (1 << 16) - 1;
        let t = FreqTable::from_freqs(freqs, 16).unwrap();
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 4097, 100_003] {
            let data = vec![0u8; n];
            let s = round_trip(&data, &t);
            let bound = max_stream_len(n, 16);
            assert!(s.len() <= bound, "n = {n}: {} > {bound}", s.len());
            // 16 bits a symbol: the words carry all but the state headroom.
            assert!(32 + 2 * n <= s.len() + 16, "n = {n}: {}", s.len());
        }
        assert_eq!(max_stream_len(0, 12), 32);
        assert_eq!(max_stream_len(1, 16), 36);
        assert_eq!(max_stream_len(usize::MAX, 16), usize::MAX);
    }

    #[test]
    fn every_scale_round_trips() {
        // The fast decoder has one instance per scale; scales below 8 hold fewer symbols.
        let text = b"it was the best of times, it was the worst of times".repeat(30);
        for scale in 1..=16u32 {
            let alphabet = 1u32 << scale.min(8);
            let data: Vec<u8> = text
                .iter()
                .map(|&b| (u32::from(b) % alphabet) as u8)
                .collect();
            let t = table_for(&data, scale);
            round_trip(&data, &t);
        }
    }

    #[test]
    fn zero_frequency_is_an_error() {
        let t = table_for(b"abc", 10);
        for data in [
            &b"abcz"[..],
            b"zzzzzzzzz",
            b"abcabcabcabcabcabcz",
            b"zabcabc",
        ] {
            assert!(matches!(
                encode_order0(data, &t),
                Err(Error::ZeroFrequency { symbol: b'z' })
            ));
            assert!(matches!(
                encode_generic(data, &t),
                Err(Error::ZeroFrequency { symbol: b'z' })
            ));
        }
    }

    #[test]
    fn corpus_files_round_trip_at_scale_12() {
        for (name, data) in all_corpus_files() {
            let t = table_for(&data, 12);
            let s = encode_order0(&data, &t).unwrap();
            let mut out = vec![0u8; data.len()];
            decode_order0(&s, &t, &mut out).unwrap();
            assert!(out == data, "{name}");
        }
    }

    #[test]
    fn book1_fast_equals_generic() {
        let (_, data) = corpus("calgary")
            .into_iter()
            .find(|(n, _)| n.ends_with("book1"))
            .unwrap();
        for scale in [12, 16] {
            let t = table_for(&data, scale);
            round_trip(&data, &t);
        }
    }

    #[test]
    fn coder_overhead_is_below_five_hundredths_of_a_percent() {
        for (name, data) in all_corpus_files() {
            if data.len() <= 100_000 {
                continue;
            }
            let t = table_for(&data, 12);
            let s = encode_order0(&data, &t).unwrap();
            let cost = t.cost_bits(&Counts::of(&data));
            let coded = (8 * s.len() - 8 * HEADER_BYTES) as f64;
            assert!(
                coded <= cost * 1.0005,
                "{name}: {coded} bits coded, {cost} bits information"
            );
            // And the words are not short of the information either: the four states
            // hold at most 4 * 32 bits of it.
            // (plus at most 2^(scale - 31) / ln 2 bits of rounding per symbol).
            let slack = 128.0 + data.len() as f64 / 65536.0;
            assert!(coded >= cost - slack, "{name}: {coded} < {cost}");
        }
    }

    #[test]
    fn misuse_of_the_count_is_detected() {
        let data = b"the quick brown fox jumps over the lazy dog".repeat(10);
        let t = table_for(&data, 12);
        let s = encode_order0(&data, &t).unwrap();
        for n in [data.len() - 1, data.len() + 1, data.len() + 40] {
            let mut out = vec![0u8; n];
            assert!(decode_order0(&s, &t, &mut out).is_err(), "n = {n}");
            assert!(decode_generic(&s, &t, &mut out).is_err(), "n = {n}");
        }
    }

    #[test]
    fn every_truncation_of_a_stream_is_an_error() {
        let data = b"abracadabra, abracadabra; all 4 states get words".repeat(20);
        let t = table_for(&data, 14);
        let s = encode_order0(&data, &t).unwrap();
        let mut out = vec![0u8; data.len()];
        for cut in 0..s.len() {
            assert!(decode_order0(&s[..cut], &t, &mut out).is_err(), "cut {cut}");
            assert!(
                decode_generic(&s[..cut], &t, &mut out).is_err(),
                "cut {cut}"
            );
        }
        assert!(matches!(
            RansDecoder::new(&s[..31]),
            Err(Error::Truncated { needed: 32, .. })
        ));
        let mut bad = s.clone();
        bad[7] = 0x80; // state 0 becomes >= 2^63
        assert!(matches!(RansDecoder::new(&bad), Err(Error::Corrupt { .. })));
    }

    fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            proptest::collection::vec(any::<u8>(), 0..2),
            (any::<u8>(), 1usize..3000).prop_map(|(b, n)| vec![b; n]),
            proptest::collection::vec(any::<u8>(), 0..500).prop_map(|mut v| {
                v.extend(0..=255u8);
                v
            }),
            // Skewed: mostly one byte, some others.
            proptest::collection::vec(prop_oneof![9 => Just(b'e'), 1 => any::<u8>()], 0..4000),
        ]
    }

    /// Order-1 data whose four lanes are `a...ab`: `b` ends every lane, so the context
    /// `b` has no table although `b` is decodable in context `a`.
    fn lanes_ending_in_b() -> (Vec<u8>, OrderKTable) {
        use crate::model::order_k::{CostKind, Lanes};
        let lane = [vec![b'a'; 249], vec![b'b']].concat();
        let data = lane.repeat(4);
        let (table, _) = OrderKTable::build(&data, 1, Lanes::Four, 12, CostKind::Ideal).unwrap();
        (data, table)
    }

    #[test]
    fn closed_tables_are_recognised() {
        use crate::model::order_k::{CostKind, Lanes};
        let (data, table) = lanes_ending_in_b();
        let slots = ContextSlots::new(&table).unwrap();
        assert!(!slots.closed);
        let mut out = vec![0u8; data.len()];
        decode_order_k(&encode_order_k(&data, &table).unwrap(), &slots, &mut out).unwrap();
        assert!(out == data);
        // Every symbol of a cycle is followed by the next one, also across lane ends.
        let data = b"abcd".repeat(100);
        for k in 1..=2 {
            let (table, _) =
                OrderKTable::build(&data, k, Lanes::Four, 12, CostKind::Ideal).unwrap();
            assert!(ContextSlots::new(&table).unwrap().closed, "order {k}");
        }
    }

    /// Random words lead some lane into context `b`, which has no table: the hot loop of
    /// an open table must report it (the closed hot loop has no check).
    #[test]
    fn a_context_without_a_table_is_an_error() {
        let (data, table) = lanes_ending_in_b();
        let slots = ContextSlots::new(&table).unwrap();
        let mut missing = 0;
        for seed in 0..20u64 {
            let mut stream = vec![0u8; HEADER_BYTES + 4096];
            let mut r = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            for b in stream.iter_mut() {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                *b = r as u8;
            }
            for j in 0..STATES {
                stream[8 * j + 7] = 0x40 | (stream[8 * j + 7] & 0x3f);
            }
            let mut out = vec![0u8; data.len()];
            match decode_order_k(&stream, &slots, &mut out) {
                Err(Error::Corrupt {
                    what: "context without a table",
                }) => missing += 1,
                Err(_) => {}
                Ok(()) => panic!("seed {seed}: random words decoded"),
            }
        }
        assert!(missing >= 10, "{missing} of 20 streams reached context b");
    }

    proptest! {
        #[test]
        fn round_trips_on_arbitrary_bytes(data in data_strategy(), scale in 8u32..=16) {
            let t = table_for(&data, scale);
            round_trip(&data, &t);
        }

        #[test]
        fn random_streams_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            valid_states in any::<bool>(),
            n in 0usize..600,
            scale in 8u32..=16,
        ) {
            let mut bytes = bytes;
            if valid_states && bytes.len() >= 32 {
                // Force states into range so that decoding gets past the header.
                for j in 0..4 {
                    bytes[8 * j + 7] = 0x40 | (bytes[8 * j + 7] & 0x3f);
                }
            }
            let t = table_for(b"random streams meet a text table", scale);
            let mut out = vec![0u8; n];
            let fast = decode_order0(&bytes, &t, &mut out).is_ok();
            let fast_out = out.clone();
            let generic = decode_generic(&bytes, &t, &mut out).is_ok();
            prop_assert_eq!(fast, generic);
            if fast {
                prop_assert_eq!(fast_out, out);
            }
        }

        /// The in-place pair encoder writes what `join_pair` of two `encode_order0`
        /// streams is, after whatever `out` held.
        #[test]
        fn pair_into_is_join_pair_of_two_streams(
            a in data_strategy(),
            b in data_strategy(),
            prefix in proptest::collection::vec(any::<u8>(), 0..20),
            scale in 8u32..=16,
        ) {
            let t = table_for(&[a.as_slice(), b.as_slice()].concat(), scale);
            let mut out = prefix.clone();
            encode_order0_pair_into(&a, &b, &t, &mut out).unwrap();
            let (sa, sb) = (encode_order0(&a, &t).unwrap(), encode_order0(&b, &t).unwrap());
            let joined = crate::coder::join_pair(&sa, &sb);
            prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
            prop_assert_eq!(&out[prefix.len()..], &joined[..]);
        }

        /// The two-stream decoder gives what two calls of `decode_order0` give, on
        /// intact streams and on streams with a byte changed (in either), and it errs
        /// exactly when one of them does.
        #[test]
        fn pair_decodes_as_two_single_decodes(
            a in data_strategy(),
            b in data_strategy(),
            scale in 8u32..=16,
            damage in proptest::option::of((any::<bool>(), any::<prop::sample::Index>(), 1u8..=255)),
        ) {
            let t = table_for(&[a.as_slice(), b.as_slice()].concat(), scale);
            let mut sa = encode_order0(&a, &t).unwrap();
            let mut sb = encode_order0(&b, &t).unwrap();
            if let Some((in_b, at, x)) = damage {
                let s = if in_b { &mut sb } else { &mut sa };
                let i = at.index(s.len());
                s[i] ^= x;
            }
            let (mut oa, mut ob) = (vec![0u8; a.len()], vec![0u8; b.len()]);
            let single_a = decode_order0(&sa, &t, &mut oa).is_ok();
            let single_b = decode_order0(&sb, &t, &mut ob).is_ok();
            let (mut pa, mut pb) = (vec![0u8; a.len()], vec![0u8; b.len()]);
            let pair = decode_order0_pair(&sa, &sb, &t, &mut pa, &mut pb).is_ok();
            prop_assert_eq!(pair, single_a && single_b);
            if pair {
                prop_assert_eq!(&pa, &oa);
                prop_assert_eq!(&pb, &ob);
            }
            if damage.is_none() {
                prop_assert!(pair);
                prop_assert_eq!(&pa, &a);
                prop_assert_eq!(&pb, &b);
            }
        }

        /// The fast loops (`decode_quads` in `decode_order0`, `decode_quad_pairs` in
        /// `decode_order0_pair`) leave no trace: both decoders give the same result,
        /// error included, as the checked symbol-at-a-time loop `decode_rest` from the
        /// start of each stream, and the same output when they succeed; on intact
        /// streams, on streams with a byte changed and on streams cut short by whole
        /// words (so that the header still parses).
        #[test]
        fn fast_loops_equal_the_checked_loop(
            a in data_strategy(),
            b in data_strategy(),
            scale in 8u32..=16,
            damage in proptest::option::of((any::<bool>(), any::<prop::sample::Index>(), 1u8..=255)),
            cut in proptest::option::of((any::<bool>(), 1usize..40)),
        ) {
            let t = table_for(&[a.as_slice(), b.as_slice()].concat(), scale);
            let mut streams = [encode_order0(&a, &t).unwrap(), encode_order0(&b, &t).unwrap()];
            if let Some((in_b, at, x)) = damage {
                let s = &mut streams[usize::from(in_b)];
                let i = at.index(s.len());
                s[i] ^= x;
            }
            if let Some((in_b, words)) = cut {
                let s = &mut streams[usize::from(in_b)];
                let keep = s.len().saturating_sub(WORD_BYTES * words).max(HEADER_BYTES);
                s.truncate(keep);
            }
            let [sa, sb] = &streams;
            let slots = SlotTable::new(&t);
            let checked = |s: &[u8], out: &mut [u8]| -> Result<()> {
                let (mut x, words) = parse_header(s)?;
                decode_rest(&slots, scale, &mut x, words, 0, out)
            };
            let (mut ca, mut cb) = (vec![0u8; a.len()], vec![0u8; b.len()]);
            let (fa, fb) = (vec![0u8; a.len()], vec![0u8; b.len()]);
            // The single-stream decoder on each stream.
            for (s, c, f) in [(sa, &mut ca, fa.clone()), (sb, &mut cb, fb.clone())] {
                let mut f = f;
                let want = checked(s, c);
                let got = decode_order0(s, &t, &mut f);
                prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
                if want.is_ok() {
                    prop_assert_eq!(&f, &*c);
                }
            }
            // The pair decoder: both headers first, then stream a's result, then b's.
            let want = parse_header(sa)
                .and(parse_header(sb))
                .and_then(|_| checked(sa, &mut ca))
                .and_then(|()| checked(sb, &mut cb));
            let (mut pa, mut pb) = (fa, fb);
            let got = decode_order0_pair(sa, sb, &t, &mut pa, &mut pb);
            prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
            if want.is_ok() {
                prop_assert_eq!(&pa, &ca);
                prop_assert_eq!(&pb, &cb);
            }
            if damage.is_none() && cut.is_none() {
                prop_assert!(got.is_ok());
                prop_assert_eq!(&pa, &a);
                prop_assert_eq!(&pb, &b);
            }
        }

        #[test]
        fn flipped_bit_is_an_error_or_other_output(
            data in proptest::collection::vec(any::<u8>(), 1..1500),
            scale in 8u32..=16,
            bit in any::<prop::sample::Index>(),
        ) {
            let t = table_for(&data, scale);
            let mut s = encode_order0(&data, &t).unwrap();
            let i = bit.index(8 * s.len());
            s[i / 8] ^= 1 << (i % 8);
            let mut out = vec![0u8; data.len()];
            if decode_order0(&s, &t, &mut out).is_ok() {
                prop_assert_ne!(&out, &data);
            }
            if decode_generic(&s, &t, &mut out).is_ok() {
                prop_assert_ne!(&out, &data);
            }
        }
    }

    #[test]
    fn kept_reciprocals_equal_computed_ones() {
        // Twice over: the first call computes and keeps, the second reads back.
        for _ in 0..2 {
            for f in (2u32..=1 << MAX_CONTEXT_SCALE).chain([(1 << MAX_CONTEXT_SCALE) + 1, 65_535]) {
                let l = 32 - (f - 1).leading_zeros();
                let m = (1u128 << (63 + l)).div_ceil(u128::from(f));
                assert_eq!(u128::from(reciprocal(f)), m, "f {f}");
            }
        }
    }

    /// `ContextSlots::read` of a table's bytes: the same result as `OrderKTable::read`
    /// then `ContextSlots::new`, errors included.
    fn read_agrees_with_new(bytes: &[u8], k: u32, raw_len: usize) -> Option<ContextSlots> {
        let direct = ContextSlots::read(bytes, k, 12, raw_len);
        let via = OrderKTable::read(bytes, k, 12, raw_len).map(|t| ContextSlots::new(&t));
        assert_eq!(format!("{direct:?}"), format!("{via:?}"));
        direct.ok().flatten()
    }

    #[test]
    fn slots_read_from_table_bytes_equal_those_of_the_table() {
        use crate::model::order_k::{CostKind, Lanes};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        let (b, _) = lanes_ending_in_b();
        let mut files = vec![b, b"abcd".repeat(100)];
        for f in ["calgary/book1", "calgary/obj2", "canterbury/kennedy.xls"] {
            files.push(std::fs::read(root.join(f)).unwrap()[..1 << 17].to_vec());
        }
        for data in &files {
            for k in 1..=2 {
                let (t, _) = OrderKTable::build(data, k, Lanes::Four, 12, CostKind::Ideal).unwrap();
                let mut bytes = Vec::new();
                t.write(&mut bytes);
                let slots = read_agrees_with_new(&bytes, k, data.len()).unwrap();
                assert_eq!(Some(&slots), ContextSlots::new(&t).as_ref());
                for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
                    assert!(read_agrees_with_new(&bytes[..cut], k, data.len()).is_none());
                }
            }
        }
        // Orders above 2 are not read at all.
        assert_eq!(ContextSlots::read(&[], 3, 12, 10).unwrap(), None);
    }

    proptest! {
        #[test]
        fn damaged_tables_read_as_slots_fail_as_the_table_does(data in proptest::collection::vec(0u8..12, 1..600), k in 1u32..=2, flips in proptest::collection::vec(any::<u32>(), 0..4), cut in any::<u16>()) {
            use crate::model::order_k::{CostKind, Lanes};
            let (t, _) = OrderKTable::build(&data, k, Lanes::Four, 12, CostKind::Ideal).unwrap();
            let mut bytes = Vec::new();
            t.write(&mut bytes);
            for f in flips {
                let bit = f as usize % (8 * bytes.len());
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            bytes.truncate(bytes.len() - usize::from(cut) % 3);
            read_agrees_with_new(&bytes, k, data.len());
        }
    }
}
