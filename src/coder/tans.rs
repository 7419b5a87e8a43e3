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
//! 4. **Interleaving.** `N_STATES = 4` states share one bit stream; symbols are coded in
//!    groups of four, the `j`-th of a group by state `j`. With [`Lanes::Interleaved`]
//!    group `t` is symbols `4t..4t+4` (symbol `i` by state `i mod 4`); with
//!    [`Lanes::Pairs`] it is `2t, 2t+1, h+2t, h+2t+1`. The encoder runs the groups last
//!    to first, so the bits of one group are written 3, 2, 1, 0 and read 0, 1, 2, 3.
//!    Below, "symbol `i`" is the `i`-th in that group order.
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
//! Tables of the second form put *rare* symbols (one slot each) on the highest slots
//! first and walk over the rest (`spread_slots`, [`normalize_rare_on_top`]).
//! Slot `u` (state `x = L + u`) owning symbol `s` gets the next unused `x_s` of `I_s`, in
//! increasing `u`. The decoding table stores per slot `(s, nb, new-state base)`; the
//! encoding tables store, per symbol, where its `x_s` values live and how to find `nb`.

use crate::error::{Error, Result};
use crate::model::compact::{TableBitReader, TableBitWriter};
use crate::model::{Counts, Distribution, FreqTable};
use std::sync::OnceLock;

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

/// Normalises `counts` for a rare-on-top table (see `spread_slots`) at table log `r`:
/// returns the frequencies (summing to `2^r`) and which symbols are *rare*.
///
/// A symbol is rare when its count is at most `n / 2^r` (probability at most one slot):
/// it gets one slot at the top of the table. The others share the remaining slots
/// (at least one each), optimally for the code length `sum c_s log2(T / f_s)`.
///
/// Errors: an empty histogram.
pub fn normalize_rare_on_top(counts: &Counts, r: u32) -> Result<([u32; 256], [bool; 256])> {
    let n = counts.total();
    if n == 0 {
        return Err(Error::InvalidOptions(
            "cannot normalise an empty histogram".into(),
        ));
    }
    let l = 1u64 << r;
    let c = &counts.0;
    let mut rare = [false; 256];
    let mut freq = [0u32; 256];
    let mut k = 0u64;
    let mut rest = 0u64;
    for s in 0..256 {
        if c[s] == 0 {
            continue;
        }
        if c[s] << r <= n {
            rare[s] = true;
            freq[s] = 1;
            k += 1;
        } else {
            rest += c[s];
        }
    }
    // Some symbol has c_s > n / L, since fewer than L symbols share n.
    debug_assert!(rest > 0);
    let slots = l - k;
    let normal: Vec<usize> = (0..256).filter(|&s| c[s] > 0 && !rare[s]).collect();
    let mut sum = 0u64;
    for &s in &normal {
        // In 64 bits when the product fits (always, for blocks up to 2^52 bytes).
        let f = match c[s].checked_mul(slots) {
            Some(p) => p / rest,
            None => ((u128::from(c[s]) * u128::from(slots)) / u128::from(rest)) as u64,
        };
        freq[s] = f.max(1) as u32;
        sum += u64::from(freq[s]);
    }
    balance(c, &normal, &mut freq, sum, slots);
    Ok((freq, rare))
}

/// Moves single units among `syms` until their frequencies (now summing to `sum`) sum
/// to `target` and no unit moved from one symbol to another shortens
/// `sum c_s log2(1 / f_s)`: the cost is convex in each `f_s`, so that is the optimum.
/// Candidate moves live in two heaps; an entry carries the frequency it was computed at
/// and is dropped when the symbol has moved since.
///
/// Which move comes next depends only on the entries that are current (the best by
/// gain or loss, then by symbol), not on what else the heaps hold; so a heap is built
/// only when its phase starts, and a move of the top entry's symbol replaces that
/// entry in place. (Measured with callgrind on obj1: 12% fewer instructions in the
/// normaliser than pushing every new entry into both heaps from the start.)
fn balance(c: &[u64; 256], syms: &[usize], freq: &mut [u32; 256], mut sum: u64, target: u64) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::collections::binary_heap::PeekMut;
    // Bits saved by one more unit for s at f, and lost by one fewer (1 is the floor).
    let gain = |s: usize, f: u32| Key(c[s] as f64 * (f64::from(f + 1) / f64::from(f)).log2());
    let loss = |s: usize, f: u32| Key(c[s] as f64 * (f64::from(f) / f64::from(f - 1)).log2());
    let ups_of = |freq: &[u32; 256]| -> BinaryHeap<(Key, usize, u32)> {
        syms.iter()
            .map(|&s| (gain(s, freq[s]), s, freq[s]))
            .collect()
    };
    let downs_of = |freq: &[u32; 256]| -> BinaryHeap<Reverse<(Key, usize, u32)>> {
        syms.iter()
            .filter(|&&s| freq[s] > 1)
            .map(|&s| Reverse((loss(s, freq[s]), s, freq[s])))
            .collect()
    };
    let push = |ups: &mut BinaryHeap<(Key, usize, u32)>,
                downs: &mut BinaryHeap<Reverse<(Key, usize, u32)>>,
                s: usize,
                f: u32| {
        ups.push((gain(s, f), s, f));
        if f > 1 {
            downs.push(Reverse((loss(s, f), s, f)));
        }
    };
    let best_up = |ups: &mut BinaryHeap<(Key, usize, u32)>, freq: &[u32; 256]| {
        while let Some(&(k, s, f)) = ups.peek() {
            if freq[s] == f {
                return Some((k.0, s));
            }
            ups.pop();
        }
        None
    };
    let best_down = |downs: &mut BinaryHeap<Reverse<(Key, usize, u32)>>, freq: &[u32; 256]| {
        while let Some(&Reverse((k, s, f))) = downs.peek() {
            if freq[s] == f {
                return Some((k.0, s));
            }
            downs.pop();
        }
        None
    };
    let (mut ups, mut downs);
    if sum < target {
        // Every entry stays current: the top's symbol takes a unit, its entry moves on.
        ups = ups_of(freq);
        while sum < target {
            let Some(mut top) = ups.peek_mut() else {
                return;
            };
            let s = top.1;
            freq[s] += 1;
            sum += 1;
            *top = (gain(s, freq[s]), s, freq[s]);
        }
        downs = downs_of(freq);
    } else {
        downs = downs_of(freq);
        ups = ups_of(freq);
        while sum > target {
            let Some(mut top) = downs.peek_mut() else {
                return;
            };
            let s = top.0.1;
            freq[s] -= 1;
            sum -= 1;
            if freq[s] > 1 {
                *top = Reverse((loss(s, freq[s]), s, freq[s]));
            } else {
                PeekMut::pop(top);
            }
            ups.push((gain(s, freq[s]), s, freq[s]));
        }
    }
    // Exchanges: each strictly shortens the code; the bound only guards float ties.
    for _ in 0..target {
        let Some((g, up)) = best_up(&mut ups, freq) else {
            break;
        };
        let Some((l, down)) = best_down(&mut downs, freq) else {
            break;
        };
        if up == down || g <= l * (1.0 + 1e-12) {
            break;
        }
        freq[up] += 1;
        freq[down] -= 1;
        push(&mut ups, &mut downs, up, freq[up]);
        push(&mut ups, &mut downs, down, freq[down]);
    }
}

/// A float ordered by `total_cmp`, for the heaps of [`balance`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// The keys are positive and finite (a count times the log of a ratio above 1), and
    /// on those `total_cmp` is the order of the bit patterns as integers: compared so,
    /// without `total_cmp`'s sign fix-up (the heaps compare keys most of their time).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        debug_assert!(self.0 > 0.0 && other.0 > 0.0 && self.0.is_finite());
        self.0.to_bits().cmp(&other.0.to_bits())
    }
}

/// Flag in the payload's table-log byte of a static order-0 tANS block: the table is a
/// rare-on-top table ([`write_rare_table`]) and the stream uses [`Lanes::Pairs`].
pub const RARE_ON_TOP: u8 = 0x80;

/// Code length in bits of data with histogram `counts` under a rare-on-top table
/// (`freq`, `rare`, table log `r`), in the stationary model of `spread_slots`: the `k`
/// top slots carry `1 - C` of the probability and the `L - k` others
/// `C = log2((2L - k) / L)`, shared evenly. So a normal symbol costs
/// `log2((L - k) / f_s) - log2 C` bits and a rare one `-log2((1 - C) / k)`. On the
/// Calgary and Canterbury files this is within 0.1% of the coded size, except where the
/// data's structure lets the states do better (kennedy.xls).
pub fn estimated_cost_bits(counts: &Counts, freq: &[u32; 256], rare: &[bool; 256], r: u32) -> f64 {
    let l = f64::from(1u32 << r);
    let k = rare.iter().filter(|&&t| t).count() as f64;
    let low = ((2.0 * l - k) / l).log2();
    let rare_bits = if k > 0.0 {
        -((1.0 - low) / k).log2()
    } else {
        0.0
    };
    let normal_bits = (l - k).log2() - low.log2();
    let mut bits = 0.0;
    for s in 0..256 {
        let c = counts.0[s];
        if c == 0 {
            continue;
        }
        bits += c as f64
            * if rare[s] {
                rare_bits
            } else {
                normal_bits - f64::from(freq[s]).log2()
            };
    }
    bits
}

/// Picks the table log for a rare-on-top table of `counts` without normalising: the
/// `R` in [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`] that minimises an estimate of table
/// bits plus [`estimated_cost_bits`]. The estimate takes the unrounded frequencies
/// `f_s = c_s (L - k) / n'` (`n'` the count of the normal symbols), which cost
/// `n' log2 n' - sum c_s log2 c_s - n' log2 C` bits, plus the expected loss of rounding
/// them, `sum c_s d_s^2 / (2 ln 2 f_s^2)` with `E d_s^2 = 1/12`, plus the table's
/// exp-Golomb bits for those frequencies rounded. Normalising costs more than this
/// whole estimate, so this is done once for every log and the normaliser once per
/// block. On the Calgary and Canterbury files in 128 KiB blocks it picks within 0.01%
/// of the best log by actual coded size.
pub fn choose_rare_table_log(counts: &Counts) -> u32 {
    let n = counts.total();
    // Per present symbol: c, c log2 c and 1 / c, computed once for all logs.
    let mut present = [(0u64, 0.0f64, 0.0f64); 256];
    let mut d = 0;
    for &c in counts.0.iter().filter(|&&c| c > 0) {
        let cf = c as f64;
        present[d] = (c, cf * cf.log2(), 1.0 / cf);
        d += 1;
    }
    let present = &present[..d];
    let mut best = (f64::INFINITY, MAX_TABLE_LOG);
    for r in (MIN_TABLE_LOG..=MAX_TABLE_LOG).rev() {
        let l = (1u64 << r) as f64;
        let (mut k, mut rare_count) = (0u64, 0u64);
        let mut c_log_c = 0.0;
        let mut inv = 0.0;
        for &(c, clc, inv_c) in present {
            if c << r <= n {
                k += 1;
                rare_count += c;
            } else {
                c_log_c += clc;
                inv += inv_c;
            }
        }
        let rest = (n - rare_count) as f64;
        if rest == 0.0 {
            continue;
        }
        let kf = k as f64;
        let low = ((2.0 * l - kf) / l).log2();
        let slots = l - kf;
        let mut bits = rest * rest.log2() - c_log_c - rest * low.log2();
        if k > 0 {
            bits -= rare_count as f64 * ((1.0 - low) / kf).log2();
        }
        bits += rest * rest * inv / (24.0 * std::f64::consts::LN_2 * slots * slots);
        if bits >= best.0 {
            // The table's bits (not negative) cannot bring this log below the best.
            continue;
        }
        // The table's values, then its length at the best exp-Golomb order.
        let scale = slots / rest;
        let mut values = [0u32; 256];
        for (v, &(c, ..)) in values.iter_mut().zip(present) {
            if c << r > n {
                *v = ((c as f64 * scale + 0.5) as u32).max(1);
            }
        }
        let table_bits = exp_golomb_bits(&values[..d]).into_iter().min().unwrap_or(0);
        let total = bits + f64::from(table_bits);
        if total < best.0 {
            best = (total, r);
        }
    }
    best.1
}

/// Total bits of the exp-Golomb codes of `values` (each below `2^23`) at each order
/// `k` in `0..8`: entry `k` is the sum over `w` of `2 floor(log2(w + 2^k)) - k + 1`.
/// `floor(log2 v)` comes from the exponent of `v` as an `f32`, exact for `v < 2^24`,
/// which lets the compiler do the eight orders in vector lanes.
fn exp_golomb_bits(values: &[u32]) -> [u32; 8] {
    let mut logs = [0u32; 8];
    for &w in values {
        debug_assert!(w < 1 << 23);
        for (k, m) in logs.iter_mut().enumerate() {
            // Through i32: a signed conversion is one vector instruction.
            *m += ((((w + (1 << k)) as i32) as f32).to_bits() >> 23) - 127;
        }
    }
    let n = values.len() as u32;
    std::array::from_fn(|k| 2 * logs[k] + n - n * k as u32)
}

/// Appends the rare-on-top table of `freq` (summing to a power of two) and `rare` (a
/// subset of the symbols of frequency 1) to `out`:
///
/// ```text
/// symbols  the present symbols, as in the order-0 frequency table
/// bits     LSB first, zero-padded to a byte:
///   3 bits  k
///   for every present symbol but the last, increasing: w in exp-Golomb of order k,
///           w = 0 for a rare symbol, else its frequency
///   1 bit   1 if the last symbol is rare (frequency 1), else 0 (frequency implied)
/// ```
///
/// Exp-Golomb of order `k` for `w`: with `v = w + 2^k` and `m = floor(log2 v)`, `m - k`
/// zero bits, a one bit, then the low `m` bits of `v`. The writer picks the `k` in
/// `0..8` that makes the table shortest.
pub fn write_rare_table(freq: &[u32; 256], rare: &[bool; 256], out: &mut Vec<u8>) {
    let present: Vec<u8> = (0..=255u8).filter(|&s| freq[s as usize] > 0).collect();
    let Some((&last, body)) = present.split_last() else {
        return;
    };
    crate::model::write_symbol_set(out, &present);
    let value = |s: u8| {
        if rare[s as usize] {
            0
        } else {
            freq[s as usize]
        }
    };
    let mut values = [0u32; 256];
    for (v, &s) in values.iter_mut().zip(body) {
        *v = value(s);
    }
    // The first of the shortest.
    let bits = exp_golomb_bits(&values[..body.len()]);
    let k = (0..8).min_by_key(|&k| bits[k as usize]).unwrap_or(0);
    let mut w = TableBitWriter::new(out);
    w.bits(u64::from(k), 3);
    for &s in body {
        let v = value(s) + (1 << k);
        let m = 31 - v.leading_zeros();
        w.bits(0, m - k);
        w.bits(1, 1);
        w.bits(u64::from(v & ((1 << m) - 1)), m);
    }
    w.bits(u64::from(rare[usize::from(last)]), 1);
    w.finish();
}

/// Reads a table written by [`write_rare_table`] at table log `r`; returns the
/// frequency table, the rare flags and the bytes it took. Every field is checked: the
/// frequencies must sum to `2^r` with every present symbol at 1 or more, and the padding
/// bits must be 0.
pub fn read_rare_table(input: &[u8], r: u32) -> Result<(FreqTable, [bool; 256], usize)> {
    let total = 1u32 << r;
    let (present, start) = crate::model::read_symbol_set(input, "tans table")?;
    let (&last, body) = present.split_last().ok_or(Error::Corrupt {
        what: "tans table without symbols",
    })?;
    let mut rd = TableBitReader::new(&input[start..], "tans table");
    let k = rd.bits(3)? as u32;
    let mut freq = [0u32; 256];
    let mut rare = [false; 256];
    let mut sum = 0u32;
    for &s in body {
        let mut zeros = 0;
        while rd.bits(1)? == 0 {
            zeros += 1;
            // A frequency needs at most 13 bits: longer codes are corrupt.
            if zeros > 14 {
                return Err(Error::Corrupt {
                    what: "tans table value too long",
                });
            }
        }
        let m = zeros + k;
        let w = ((1 << m) | rd.bits(m)? as u32) - (1 << k);
        let s = usize::from(s);
        if w == 0 {
            rare[s] = true;
            freq[s] = 1;
        } else {
            freq[s] = w;
        }
        sum = sum.saturating_add(freq[s]);
        // Every symbol still to come needs at least one slot.
        if sum >= total {
            return Err(Error::Corrupt {
                what: "frequencies exceed the table total",
            });
        }
    }
    let last = usize::from(last);
    if rd.bits(1)? == 1 {
        rare[last] = true;
        freq[last] = 1;
    } else {
        freq[last] = total - sum;
    }
    let used = start + rd.finish()?;
    Ok((FreqTable::from_freqs(freq, r)?, rare, used))
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
/// global state. Each half is built on its first use, so that an encoder never builds
/// the decoding table nor a decoder the encoding tables. Memory: the distribution
/// (2 KiB), `4 * 2^R` bytes of decoding table and 10 KiB of encoding tables.
#[derive(Clone, Debug)]
pub struct TansTables {
    /// The distribution; its scale is `R`, in [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`].
    table: FreqTable,
    /// Symbols on top of the spread (each of frequency 1), see `spread_slots`.
    top: [bool; 256],
    /// `D`: `2^R` entries indexed by `x - L`.
    decode: OnceLock<Vec<DecodeEntry>>,
    /// The encoder's tables.
    encode: OnceLock<Box<EncodeTables>>,
}

/// The encoding tables of a [`TansTables`], in one allocation.
#[derive(Clone, Debug)]
struct EncodeTables {
    /// Per-symbol encoding parameters, indexed by byte value.
    transform: [SymbolTransform; 256],
    /// `C`: next states `x` in `I = [L, 2L)` in the first `2^R` entries; symbol `s`'s
    /// `f_s` entries start at `cum_s`, entry `cum_s + (x_s - f_s)` is `C(s, x_s)`. Sized
    /// for the largest `R` so that the encoder's index needs a mask, not a bounds check
    /// (measured: about 10% faster encoding than a checked `Vec` index).
    next_state: [u16; 1 << MAX_TABLE_LOG],
}

impl TansTables {
    /// Builds the tables for `table`, whose scale is the table log `R`.
    ///
    /// Errors: [`Error::LimitExceeded`] if the scale is outside
    /// [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`].
    pub fn new(table: &FreqTable) -> Result<TansTables> {
        TansTables::build(table, &[false; 256])
    }

    /// Builds the tables for `table` with the rare-on-top spread (see `spread_slots`):
    /// the symbols flagged in `rare`, each of frequency 1, take the highest slots.
    ///
    /// Errors: as [`TansTables::new`], and [`Error::Corrupt`] if a rare symbol's
    /// frequency is not 1.
    pub fn with_rare_on_top(table: &FreqTable, rare: &[bool; 256]) -> Result<TansTables> {
        if (0..256).any(|s| rare[s] && table.freqs()[s] != 1) {
            return Err(Error::Corrupt {
                what: "tans rare symbol with a frequency other than 1",
            });
        }
        TansTables::build(table, rare)
    }

    /// The tables of `table`, symbols flagged in `top` (each of frequency 1) on top;
    /// checks the log, leaves both halves to their first use.
    fn build(table: &FreqTable, top: &[bool; 256]) -> Result<TansTables> {
        let r = table.scale_bits();
        if !(MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&r) {
            return Err(Error::LimitExceeded {
                what: "tans table log",
                got: u64::from(r),
                max: u64::from(MAX_TABLE_LOG),
            });
        }
        Ok(TansTables {
            table: table.clone(),
            top: *top,
            decode: OnceLock::new(),
            encode: OnceLock::new(),
        })
    }

    /// `D`, built on first use: slot `u` owning symbol `s` gets the next unused `x_s` of
    /// `I_s`, in increasing `u`.
    fn decode_table(&self) -> &[DecodeEntry] {
        self.decode.get_or_init(|| {
            let r = self.table_log();
            let l = 1usize << r;
            let mut spread = [0u8; 1 << MAX_TABLE_LOG];
            spread_slots(self.table.freqs(), l, &self.top, &mut spread);
            // next_xs[s] is the next unused x_s in I_s = [f_s, 2 f_s).
            let mut next_xs = *self.table.freqs();
            spread[..l]
                .iter()
                .map(|&s| {
                    let s = usize::from(s);
                    let x_s = next_xs[s];
                    next_xs[s] += 1;
                    // nbBits = R - floor(log2 x_s): the x = (x_s << nb) + bits lie in I.
                    let nb = r - (31 - x_s.leading_zeros());
                    DecodeEntry {
                        base: ((x_s << nb) as usize - l) as u16,
                        symbol: s as u8,
                        nb_bits: nb as u8,
                    }
                })
                .collect()
        })
    }

    /// The encoding tables, built on first use: `C(s, x_s) = L + u` inverts
    /// `(s, x_s) = D(L + u)`, and the `x_s` of `s` come in increasing `u`, so `s`'s
    /// entries of `next_state` are its slots in increasing order.
    fn encode_tables(&self) -> &EncodeTables {
        self.encode.get_or_init(|| {
            let r = self.table_log();
            let l = 1usize << r;
            let freq = self.table.freqs();
            let cum = self.table.cums();
            let mut spread = [0u8; 1 << MAX_TABLE_LOG];
            spread_slots(freq, l, &self.top, &mut spread);
            let mut encode = Box::new(EncodeTables {
                transform: [SymbolTransform::default(); 256],
                next_state: [0; 1 << MAX_TABLE_LOG],
            });
            // next[s]: where the next slot of s goes, from cum_s up.
            let mut next: [u32; 256] = std::array::from_fn(|s| cum[s]);
            for (u, &s) in spread[..l].iter().enumerate() {
                let at = &mut next[usize::from(s)];
                encode.next_state[*at as usize & ((1 << MAX_TABLE_LOG) - 1)] = (l + u) as u16;
                *at += 1;
            }
            for (s, t) in encode.transform.iter_mut().enumerate() {
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
            encode
        })
    }

    /// The table log `R` (the tables have `2^R` states).
    pub fn table_log(&self) -> u32 {
        self.table.scale_bits()
    }
}

/// Deals the `l = slots.len()` slots to the symbols of `freq` (summing to `l`); part of
/// the format. Symbols flagged in `top` (frequency 1 each) take the highest slots, one
/// each, in increasing symbol order from slot `L - 1` down. The others, in increasing
/// symbol order, get their `f_s` slots by walking from slot 0 with the odd step
/// `5L/8 + 3`, skipping the slots on top; the walk visits every slot once per `L` steps,
/// so a free slot always comes up. With no symbol on top this is the spread of the
/// first format.
///
/// Why the top: in the stationary state distribution (close to `P(x) ~ 1/x`), slot `u`
/// carries probability about `log2((L+u+1)/(L+u))`, from `1.44/L` at the bottom to
/// `0.72/L` at the top, so a symbol rarer than one slot's worth wastes less on top
/// (Collet's FSE gives such "low probability" symbols the top slots for the same
/// reason).
fn spread_slots(
    freq: &[u32; 256],
    l: usize,
    top: &[bool; 256],
    slots: &mut [u8; 1 << MAX_TABLE_LOG],
) {
    debug_assert!(l.is_power_of_two() && l <= slots.len());
    // Indices masked to the array's size need no bounds check (they are below l).
    const ALL: usize = (1 << MAX_TABLE_LOG) - 1;
    let step = (l >> 1) + (l >> 3) + 3;
    let mut high = l;
    for (s, &f) in freq.iter().enumerate() {
        if top[s] && f == 1 {
            high -= 1;
            slots[high & ALL] = s as u8;
        }
    }
    let mut pos = 0;
    for (s, &f) in freq.iter().enumerate() {
        if top[s] && f == 1 {
            continue;
        }
        for _ in 0..f {
            // The walk visits every slot once per round, so a free one comes up.
            while pos >= high {
                pos = (pos + step) & (l - 1);
            }
            slots[pos & ALL] = s as u8;
            pos = (pos + step) & (l - 1);
        }
    }
}

/// Which symbols of a block each of the four states codes (part of the format).
///
/// Either way the stream is the one of the module notes for a sequence of *groups* of
/// four symbols, the `j`-th symbol of a group coded by state `j`. With `n` symbols and
/// `h = 2 floor(n/4)`, group `t < h/2` holds:
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// symbols `4t, 4t+1, 4t+2, 4t+3`: symbol `i` is coded by state `i mod 4` (the
    /// first format).
    Interleaved,
    /// symbols `2t, 2t+1, h+2t, h+2t+1`: states 0 and 1 take turns over the first half
    /// of the block, states 2 and 3 over the second, so each state sees every other
    /// symbol, as in zstd's two-state FSE. On data with a 2-byte structure a state's
    /// successive symbols are then related, and tANS states carry some of that: on
    /// kennedy.xls (128 KiB blocks, rare-on-top tables) 446.5 KB against 448.7 KB
    /// interleaved; elsewhere the two agree within 0.1%.
    Pairs,
}

/// Encodes `data` with `tables`, symbols to states as [`Lanes::Interleaved`]; layout in
/// the module notes.
///
/// Errors: [`Error::ZeroFrequency`] if `data` holds a byte whose frequency is 0.
pub fn encode_block(data: &[u8], tables: &TansTables) -> Result<Vec<u8>> {
    encode_block_lanes(data, tables, Lanes::Interleaved)
}

/// Encodes `data` with `tables`, symbols to states as `lanes` says.
///
/// Errors: as [`encode_block`].
pub fn encode_block_lanes(data: &[u8], tables: &TansTables, lanes: Lanes) -> Result<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `encode_bmi2` requires.
        return unsafe { encode_bmi2(data, tables, lanes) };
    }
    match lanes {
        Lanes::Interleaved => encode_impl::<N_STATES, false>(data, tables),
        Lanes::Pairs => encode_impl::<N_STATES, true>(data, tables),
    }
}

/// [`encode_impl`] compiled with BMI2's flag-free variable shifts (`shlx`, `shrx`,
/// `bzhi`), which free `cl` and relieve register pressure in the interleaved loop.
/// Measured on book1 (CPU time): encoding and decoding both about 1.25x as fast as the
/// portable build of the same code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn encode_bmi2(data: &[u8], tables: &TansTables, lanes: Lanes) -> Result<Vec<u8>> {
    match lanes {
        Lanes::Interleaved => encode_impl::<N_STATES, false>(data, tables),
        Lanes::Pairs => encode_impl::<N_STATES, true>(data, tables),
    }
}

/// The encoder; `PAIRS` selects [`Lanes::Pairs`] over [`Lanes::Interleaved`].
#[inline(always)]
fn encode_impl<const N: usize, const PAIRS: bool>(
    data: &[u8],
    tables: &TansTables,
) -> Result<Vec<u8>> {
    const { assert!(GROUP % N == 0 && GROUP == 4) };
    let r = tables.table_log();
    let l = 1u32 << r;
    let encode = tables.encode_tables();
    let next_state = &encode.next_state;
    let transform = &encode.transform;
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
    if PAIRS {
        // Groups last to first; in a group, states 3, 2, 1, 0.
        let (lo, hi) = data[..split].split_at(split / 2);
        let fast = <&mut [u32; N_STATES]>::try_from(&mut x[..])
            .ok()
            .and_then(|x| encode_pairs_fast(lo, hi, transform, next_state, x, &mut w));
        if let Some(m) = fast {
            missing |= m;
        } else {
            for (a, b) in lo.rchunks_exact(2).zip(hi.rchunks_exact(2)) {
                put(&mut x[3 % N], b[1], &mut w);
                put(&mut x[2 % N], b[0], &mut w);
                put(&mut x[1 % N], a[1], &mut w);
                put(&mut x[0], a[0], &mut w);
                w.flush();
            }
        }
    } else {
        for chunk in data[..split].rchunks_exact(GROUP) {
            for j in (0..GROUP).rev() {
                put(&mut x[j % N], chunk[j], &mut w);
            }
            w.flush();
        }
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

/// The hot loop of the [`Lanes::Pairs`] encoder: every group of `lo` and `hi` (the two
/// halves of the block's whole groups, equal in length and even), last to first, from
/// states `x` into `w`, exactly as the checked loop of [`encode_impl`] codes them.
/// Returns the OR of the symbols' `delta_nb_bits` sums (the caller tests [`MISSING`]), or
/// `None`, having done nothing, if `w` lacks room for the most bits the groups can take
/// (never, with the capacity [`max_stream_len`] gives it) or the tables or states are
/// outside what the room check assumes (never for tables this module builds).
///
/// The writer's fields live in locals and the 8-byte stores go through a raw pointer:
/// the room check up front covers every store, so the loop has no bounds check. The
/// check rests on the tables themselves, not on how they were built: a state is below
/// 2^16 (the entry states are checked, later ones come from `next_state`), so a symbol
/// emits at most `max_nb` bits, found from `transform`.
///
/// Measured on book1 (peer bench rows, callgrind, 3 passes): 110 -> 84 instructions a
/// group of four symbols (63.4 -> 48.5 M for the encoder); the checked loop spilled
/// the writer and bounds-checked each store. Encoding speed against zstd's FSE in the
/// same process (book1 and kennedy.xls, alternated binaries, three pairs of runs):
/// 0.93x -> 1.05-1.09x while the host core was contended; in an earlier build of this
/// loop, 1.08-1.10x -> 1.19-1.23x while it was not.
#[inline(always)]
fn encode_pairs_fast(
    lo: &[u8],
    hi: &[u8],
    transform: &[SymbolTransform; 256],
    next_state: &[u16; 1 << MAX_TABLE_LOG],
    x: &mut [u32; N_STATES],
    w: &mut BitWriter,
) -> Option<u32> {
    let groups = lo.len().min(hi.len()) / 2;
    // nb (below) is bits 16..21 of `x + delta_nb_bits`; with `x < 2^16` that is bits
    // 16..21 of `delta_nb_bits`, or of it plus one. For the tables of this module the
    // largest is `R` (a symbol of frequency 1, or a missing one).
    let max_nb = transform
        .iter()
        .map(|t| {
            let d = t.delta_nb_bits >> 16;
            (d & 31).max(d.wrapping_add(1) & 31)
        })
        .max()
        .unwrap_or(0);
    if max_nb > MAX_TABLE_LOG || x.iter().any(|&v| v > 0xffff) || w.nbits > 7 {
        return None;
    }
    // After `g` groups at most `nbits + 4 max_nb g` bits are pending or completed past
    // `pos`, and a store at `pos' <= pos + (nbits + 4 max_nb g) / 8` ends by
    // `pos + (nbits + 4 max_nb g) / 8 + 8`. Pending bits stay below
    // `7 + 4 MAX_TABLE_LOG = 55`, inside the 64-bit accumulator.
    let room = (w.nbits as usize + 4 * max_nb as usize * groups) / 8 + 8;
    if w.pos.checked_add(room)? > w.buf.len() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), and `w` has the
        // room that `pairs_loop` requires (checked above).
        return Some(unsafe { pairs_loop_bmi2(lo, hi, transform, next_state, x, w) });
    }
    // SAFETY: `w` has the room that `pairs_loop` requires (checked above).
    Some(unsafe { pairs_loop(lo, hi, transform, next_state, x, w) })
}

/// [`pairs_loop`] compiled with BMI2 in a function of its own: inlined into the whole
/// encoder, the loop's registers were allocated worse from one build to the next (86 to
/// 93 instructions a group for the same code); alone it has the registers to itself.
///
/// # Safety
///
/// The CPU supports BMI2, and the contract of [`pairs_loop`] holds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
#[inline(never)]
unsafe fn pairs_loop_bmi2(
    lo: &[u8],
    hi: &[u8],
    transform: &[SymbolTransform; 256],
    next_state: &[u16; 1 << MAX_TABLE_LOG],
    x: &mut [u32; N_STATES],
    w: &mut BitWriter,
) -> u32 {
    // SAFETY: the caller keeps the contract of `pairs_loop`.
    unsafe { pairs_loop(lo, hi, transform, next_state, x, w) }
}

/// The loop of [`encode_pairs_fast`] over `min(lo.len(), hi.len()) / 2` groups; returns
/// the OR of the `delta_nb_bits` sums.
///
/// # Safety
///
/// The states `x` are below 2^16, no symbol's nb exceeds [`MAX_TABLE_LOG`] for such a
/// state, `w.nbits <= 7`, and `w.buf` has `(w.nbits + 4 max_nb groups) / 8 + 8` bytes
/// from `w.pos` on, where `max_nb` bounds every nb (all as [`encode_pairs_fast`] checks).
#[inline(always)]
unsafe fn pairs_loop(
    lo: &[u8],
    hi: &[u8],
    transform: &[SymbolTransform; 256],
    next_state: &[u16; 1 << MAX_TABLE_LOG],
    x: &mut [u32; N_STATES],
    w: &mut BitWriter,
) -> u32 {
    let groups = lo.len().min(hi.len()) / 2;
    let out = w.buf.as_mut_ptr();
    let (mut acc, mut nbits, mut pos) = (w.acc, w.nbits, w.pos);
    let [mut x0, mut x1, mut x2, mut x3] = *x;
    let mut missing = 0u32;
    // x -> C(s, x >> nb); returns the nb low bits of x and nb.
    let step = |x: &mut u32, s: u8, missing: &mut u32| {
        let t = transform[usize::from(s)];
        let sum = x.wrapping_add(t.delta_nb_bits);
        *missing |= sum;
        // Bits 16..21 of the sum: the same nb as the checked loop's low byte (at most
        // `R` <= 12 either way, flag or not), and a 5-bit count needs no further mask
        // for the shifts below.
        let nb = (sum >> 16) & 31;
        let bits = *x & ((1 << nb) - 1);
        let slot = (*x >> nb).wrapping_add(t.delta_find_state) as usize;
        *x = u32::from(next_state[slot & ((1 << MAX_TABLE_LOG) - 1)]);
        (bits, nb)
    };
    let (lo, hi) = (&lo[..2 * groups], &hi[..2 * groups]);
    for g in (0..groups).rev() {
        let (v3, n3) = step(&mut x3, hi[2 * g + 1], &mut missing);
        let (v2, n2) = step(&mut x2, hi[2 * g], &mut missing);
        let (v1, n1) = step(&mut x1, lo[2 * g + 1], &mut missing);
        let (v0, n0) = step(&mut x0, lo[2 * g], &mut missing);
        acc |= u64::from(v3) << nbits;
        nbits += n3;
        acc |= u64::from(v2) << nbits;
        nbits += n2;
        acc |= u64::from(v1) << nbits;
        nbits += n1;
        acc |= u64::from(v0) << nbits;
        nbits += n0;
        // SAFETY: `pos + 8 <= w.buf.len()` by the contract (this group's bits included:
        // every nb is at most `max_nb`, the states staying below 2^16 as `next_state`
        // holds u16), so the 8 bytes at `pos` lie inside the buffer.
        unsafe { out.add(pos).cast::<u64>().write_unaligned(acc.to_le()) };
        let whole = nbits >> 3;
        pos += whole as usize;
        acc >>= whole * 8;
        nbits &= 7;
    }
    *x = [x0, x1, x2, x3];
    (w.acc, w.nbits, w.pos) = (acc, nbits, pos);
    missing
}

/// Decodes `out.len()` symbols from `stream` with `tables`, symbols to states as
/// [`Lanes::Interleaved`].
///
/// Every byte of `stream` is treated as hostile: the result is `Ok` only if the stream
/// is exactly the encoding of what was written to `out` (all bits read, final states at
/// their start value). Errors: [`Error::Truncated`] for an empty stream or one that runs
/// out of bits, [`Error::Corrupt`] otherwise. Allocates nothing; the work is linear in
/// `out.len()` (which bounds it even when symbols cost 0 bits).
pub fn decode_block(stream: &[u8], tables: &TansTables, out: &mut [u8]) -> Result<()> {
    decode_block_lanes(stream, tables, out, Lanes::Interleaved)
}

/// Decodes `out.len()` symbols from `stream` with `tables`, symbols to states as
/// `lanes` says; otherwise as [`decode_block`].
pub fn decode_block_lanes(
    stream: &[u8],
    tables: &TansTables,
    out: &mut [u8],
    lanes: Lanes,
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2 (checked on the line above), which is all that
        // `decode_bmi2` requires.
        return unsafe { decode_bmi2(stream, tables, out, lanes) };
    }
    decode_lanes::<N_STATES>(stream, tables, out, lanes)
}

/// [`decode_impl`] compiled with BMI2 (see [`encode_bmi2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn decode_bmi2(
    stream: &[u8],
    tables: &TansTables,
    out: &mut [u8],
    lanes: Lanes,
) -> Result<()> {
    decode_lanes::<N_STATES>(stream, tables, out, lanes)
}

/// Cuts `out` into the groups of `lanes` (each as two pairs of symbols) and its last,
/// partial group, and decodes into them.
#[inline(always)]
fn decode_lanes<const N: usize>(
    stream: &[u8],
    tables: &TansTables,
    out: &mut [u8],
    lanes: Lanes,
) -> Result<()> {
    let split = out.len() - out.len() % GROUP;
    let (body, tail) = out.split_at_mut(split);
    match lanes {
        Lanes::Interleaved => {
            let groups = body.chunks_exact_mut(GROUP).map(|g| g.split_at_mut(2));
            decode_impl::<N, _>(stream, tables, groups, tail)
        }
        Lanes::Pairs => {
            let (lo, hi) = body.split_at_mut(split / 2);
            let groups = lo.chunks_exact_mut(2).zip(hi.chunks_exact_mut(2));
            decode_impl::<N, _>(stream, tables, groups, tail)
        }
    }
}

/// The decoder: `groups` yields each whole group as two pairs (states 0, 1 and 2, 3),
/// `tail` is the last, partial group (fewer than four symbols).
#[inline(always)]
fn decode_impl<'a, const N: usize, G>(
    stream: &[u8],
    tables: &TansTables,
    mut groups: G,
    tail: &mut [u8],
) -> Result<()>
where
    G: Iterator<Item = (&'a mut [u8], &'a mut [u8])>,
{
    const { assert!(GROUP % N == 0 && GROUP == 4) };
    let r = tables.table_log();
    let table = tables.decode_table();
    let mut st = [0usize; N];

    let mut slow = match FastReader::new(stream)? {
        Some(mut rd) => {
            for s in st.iter_mut() {
                *s = rd.read(r) as usize;
            }
            rd.refill();
            // Each group reads at most 48 bits; with start >= 8 the refill stays in bounds.
            while rd.start >= 8 {
                let Some((a, b)) = groups.next() else { break };
                fast_step(table, &mut rd, &mut st[0], &mut a[0]);
                fast_step(table, &mut rd, &mut st[1 % N], &mut a[1]);
                fast_step(table, &mut rd, &mut st[2 % N], &mut b[0]);
                fast_step(table, &mut rd, &mut st[3 % N], &mut b[1]);
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
    for (a, b) in groups {
        step(&mut st[0], &mut a[0])?;
        step(&mut st[1 % N], &mut a[1])?;
        step(&mut st[2 % N], &mut b[0])?;
        step(&mut st[3 % N], &mut b[1])?;
    }
    for (j, out) in tail.iter_mut().enumerate() {
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

/// One decoding step from slot `state`: `(s, x_s) = D(x)`, then `x = (x_s << nb) + bits`,
/// kept as the slot `x - L`.
#[inline(always)]
fn fast_step(table: &[DecodeEntry], rd: &mut FastReader<'_>, state: &mut usize, out: &mut u8) {
    let e = table[*state];
    *out = e.symbol;
    *state = usize::from(e.base) + rd.read(u32::from(e.nb_bits)) as usize;
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
        let l = context_table_size(r)?;
        if symbols.len() != freqs.len() {
            return Err(Error::Corrupt {
                what: "context tans frequencies do not sum to the table size",
            });
        }
        // Checks the frequencies (each >= 1, summing to L, at most 256) before any use.
        let mut spread = vec![0u8; l];
        context_spread(freqs, r, &mut spread)?;
        let mut cum = Vec::with_capacity(freqs.len());
        let mut acc = 0u32;
        for &f in freqs {
            cum.push(acc);
            acc += f;
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

/// `L = 2^table_log` for a table log in [`MIN_TABLE_LOG`]`..=`[`MAX_TABLE_LOG`], else
/// [`Error::LimitExceeded`].
fn context_table_size(table_log: u32) -> Result<usize> {
    if !(MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&table_log) {
        return Err(Error::LimitExceeded {
            what: "tans table log",
            got: u64::from(table_log),
            max: u64::from(MAX_TABLE_LOG),
        });
    }
    Ok(1 << table_log)
}

/// Deals the `L = 2^table_log` slots of one context's table to its entries, as
/// [`ContextTans::new`] does (part of the format): `slots[u]` is the index of the entry
/// that owns slot `u`. Entries in the order given, `f_e` slots each, by walking from slot
/// 0 with the odd step `5L/8 + 3` (as `TansTables::new`), which visits every slot once.
///
/// Errors as [`ContextTans::new`]: the table log out of range, frequencies that are not
/// all `>= 1` or do not sum to `L`, more than 256 entries, or `slots` not `L` long.
pub fn context_spread(freqs: &[u32], table_log: u32, slots: &mut [u8]) -> Result<()> {
    let l = context_table_size(table_log)?;
    if freqs.len() > 256
        || slots.len() != l
        || freqs.contains(&0)
        || freqs.iter().map(|&f| u64::from(f)).sum::<u64>() != l as u64
    {
        return Err(Error::Corrupt {
            what: "context tans frequencies do not sum to the table size",
        });
    }
    let step = (l >> 1) + (l >> 3) + 3;
    let mut pos = 0;
    for (e, &f) in freqs.iter().enumerate() {
        for _ in 0..f {
            slots[pos] = e as u8;
            pos = (pos + step) & (l - 1);
        }
    }
    Ok(())
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

    /// The rare-on-top table of `data` (a fixed one-symbol block if empty) at the log
    /// [`choose_rare_table_log`] picks, or at `log` if given; the table goes through its
    /// serialisation, so what is returned is what a decoder would build.
    fn rare_tables_for(data: &[u8], log: Option<u32>) -> (FreqTable, [bool; 256], TansTables) {
        let counts = if data.is_empty() {
            Counts::of(b"a")
        } else {
            Counts::of(data)
        };
        let r = log.unwrap_or_else(|| choose_rare_table_log(&counts));
        let (freq, rare) = normalize_rare_on_top(&counts, r).unwrap();
        let mut bytes = Vec::new();
        write_rare_table(&freq, &rare, &mut bytes);
        let (table, read_rare, used) = read_rare_table(&bytes, r).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(table.freqs(), &freq);
        assert_eq!(read_rare, rare);
        let tables = TansTables::with_rare_on_top(&table, &rare).unwrap();
        (table, rare, tables)
    }

    /// Encodes and decodes `data` with [`Lanes::Pairs`]; returns the stream.
    fn round_trip_pairs(data: &[u8], tables: &TansTables) -> Vec<u8> {
        let stream = encode_block_lanes(data, tables, Lanes::Pairs).unwrap();
        assert!(stream.len() <= max_stream_len(data.len(), tables.table_log()));
        let mut out = vec![0xa5; data.len()];
        decode_block_lanes(&stream, tables, &mut out, Lanes::Pairs).unwrap();
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

    /// The second form (rare-on-top table, pairs of lanes, log by estimate) against the
    /// first (order-0 table, plain spread, interleaved lanes, log by length and
    /// alphabet): table plus stream, each corpus file in 128 KiB blocks.
    #[test]
    fn second_form_is_never_larger_on_the_corpus() {
        let (mut first_total, mut second_total) = (0, 0);
        for (name, data) in corpus_files() {
            let (mut first, mut second) = (0, 0);
            for block in data.chunks(128 << 10) {
                let counts = Counts::of(block);
                let r = choose_table_log(&counts);
                let (table, tables) = tables_for(block, r);
                let mut bytes = Vec::new();
                table.write(&mut bytes);
                first += bytes.len() + encode_block(block, &tables).unwrap().len();

                let (table, rare, tables) = rare_tables_for(block, None);
                let mut bytes = Vec::new();
                write_rare_table(table.freqs(), &rare, &mut bytes);
                second += bytes.len() + round_trip_pairs(block, &tables).len();
            }
            assert!(second <= first, "{name}: {second} bytes against {first}");
            first_total += first;
            second_total += second;
        }
        // Measured 2026-11-27: 3,049,878 against 3,056,686 bytes (-0.22%).
        assert!(
            second_total * 1000 <= first_total * 999,
            "{second_total} against {first_total}"
        );
    }

    #[test]
    fn estimate_is_close_to_the_coded_size() {
        // Outside data with structure the states can use, the stationary model of the
        // rare-on-top spread predicts the stream within 0.2%.
        for (name, data) in corpus_files() {
            if name.contains("kennedy") {
                continue;
            }
            for block in data.chunks(128 << 10).filter(|b| b.len() > 50_000) {
                let counts = Counts::of(block);
                let (table, rare, tables) = rare_tables_for(block, None);
                let est = estimated_cost_bits(&counts, table.freqs(), &rare, table.scale_bits());
                let coded = 8.0 * round_trip_pairs(block, &tables).len() as f64;
                assert!(
                    (coded / est - 1.0).abs() < 0.002,
                    "{name}: coded {coded} bits, estimated {est:.0}"
                );
            }
        }
    }

    #[test]
    fn rare_normaliser_follows_its_rules() {
        let mut v: Vec<u8> = vec![0; 100_000];
        v.extend(std::iter::repeat_n(1u8, 30_000));
        for s in 2..=255u8 {
            // Counts 1..=254: below n / L for every log, except the top few at R = 9.
            v.extend(std::iter::repeat_n(s, usize::from(s) - 1));
        }
        let counts = Counts::of(&v);
        let n = counts.total();
        for r in MIN_TABLE_LOG..=MAX_TABLE_LOG {
            let (freq, rare) = normalize_rare_on_top(&counts, r).unwrap();
            assert_eq!(freq.iter().map(|&f| u64::from(f)).sum::<u64>(), 1 << r);
            for s in 0..256 {
                let c = counts.0[s];
                assert_eq!(freq[s] > 0, c > 0, "symbol {s}");
                assert_eq!(rare[s], c > 0 && c << r <= n, "symbol {s} at {r}");
                if rare[s] {
                    assert_eq!(freq[s], 1);
                }
            }
            // The normal symbols' share is optimal: no unit moved between two of them
            // shortens the code.
            let normal: Vec<usize> = (0..256).filter(|&s| freq[s] > 0 && !rare[s]).collect();
            for &a in &normal {
                for &b in &normal {
                    if a == b || freq[b] == 1 {
                        continue;
                    }
                    let (ca, cb) = (counts.0[a] as f64, counts.0[b] as f64);
                    let (fa, fb) = (f64::from(freq[a]), f64::from(freq[b]));
                    let gain = ca * ((fa + 1.0) / fa).log2();
                    let loss = cb * (fb / (fb - 1.0)).log2();
                    assert!(gain <= loss * (1.0 + 1e-9), "{a} <- {b} at {r}");
                }
            }
        }
    }

    /// The normaliser's balancing as first written: every new entry pushed into both
    /// heaps from the start. [`balance`] must make the same moves.
    fn balance_reference(
        c: &[u64; 256],
        syms: &[usize],
        freq: &mut [u32; 256],
        mut sum: u64,
        target: u64,
    ) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let gain = |s: usize, f: u32| Key(c[s] as f64 * (f64::from(f + 1) / f64::from(f)).log2());
        let loss = |s: usize, f: u32| Key(c[s] as f64 * (f64::from(f) / f64::from(f - 1)).log2());
        let mut ups: BinaryHeap<(Key, usize, u32)> = syms
            .iter()
            .map(|&s| (gain(s, freq[s]), s, freq[s]))
            .collect();
        let mut downs: BinaryHeap<Reverse<(Key, usize, u32)>> = syms
            .iter()
            .filter(|&&s| freq[s] > 1)
            .map(|&s| Reverse((loss(s, freq[s]), s, freq[s])))
            .collect();
        let push = |ups: &mut BinaryHeap<(Key, usize, u32)>,
                    downs: &mut BinaryHeap<Reverse<(Key, usize, u32)>>,
                    s: usize,
                    f: u32| {
            ups.push((gain(s, f), s, f));
            if f > 1 {
                downs.push(Reverse((loss(s, f), s, f)));
            }
        };
        let best_up = |ups: &mut BinaryHeap<(Key, usize, u32)>, freq: &[u32; 256]| {
            while let Some(&(k, s, f)) = ups.peek() {
                if freq[s] == f {
                    return Some((k.0, s));
                }
                ups.pop();
            }
            None
        };
        let best_down = |downs: &mut BinaryHeap<Reverse<(Key, usize, u32)>>, freq: &[u32; 256]| {
            while let Some(&Reverse((k, s, f))) = downs.peek() {
                if freq[s] == f {
                    return Some((k.0, s));
                }
                downs.pop();
            }
            None
        };
        while sum < target {
            let Some((_, s)) = best_up(&mut ups, freq) else {
                return;
            };
            freq[s] += 1;
            sum += 1;
            push(&mut ups, &mut downs, s, freq[s]);
        }
        while sum > target {
            let Some((_, s)) = best_down(&mut downs, freq) else {
                return;
            };
            freq[s] -= 1;
            sum -= 1;
            push(&mut ups, &mut downs, s, freq[s]);
        }
        for _ in 0..target {
            let Some((g, up)) = best_up(&mut ups, freq) else {
                break;
            };
            let Some((l, down)) = best_down(&mut downs, freq) else {
                break;
            };
            if up == down || g <= l * (1.0 + 1e-12) {
                break;
            }
            freq[up] += 1;
            freq[down] -= 1;
            push(&mut ups, &mut downs, up, freq[up]);
            push(&mut ups, &mut downs, down, freq[down]);
        }
    }

    /// Runs both balancers from the same start; `start` maps counts to first
    /// frequencies (floors, ceilings or anything at least 1).
    fn assert_balance_as_reference(counts: &[u64; 256], start: &[u32; 256], target: u64) {
        let syms: Vec<usize> = (0..256).filter(|&s| counts[s] > 0).collect();
        let sum = syms.iter().map(|&s| u64::from(start[s])).sum();
        let (mut a, mut b) = (*start, *start);
        balance(counts, &syms, &mut a, sum, target);
        balance_reference(counts, &syms, &mut b, sum, target);
        assert_eq!(a, b, "sum {sum} target {target}");
    }

    #[test]
    fn balance_moves_as_the_reference_on_the_corpus() {
        for (_, data) in corpus_files() {
            for block in data.chunks(32 << 10) {
                let counts = Counts::of(block);
                for r in MIN_TABLE_LOG..=MAX_TABLE_LOG {
                    let (freq, _) = normalize_rare_on_top(&counts, r).unwrap();
                    let mut start = [0u32; 256];
                    let mut ties = [0u64; 256];
                    for s in 0..256 {
                        if counts.0[s] > 0 {
                            // Too many units, too few, and many equal counts (ties).
                            start[s] = freq[s] + (s as u32 % 3);
                            ties[s] = 1 + counts.0[s] % 4;
                        }
                    }
                    assert_balance_as_reference(&counts.0, &start, 1 << r);
                    let low = start.map(|f| f.min(1));
                    assert_balance_as_reference(&counts.0, &low, 1 << r);
                    assert_balance_as_reference(&ties, &low, 1 << r);
                    assert_balance_as_reference(&ties, &start, 1 << r);
                }
            }
        }
    }

    #[test]
    fn rare_symbols_take_the_top_slots() {
        let mut v = vec![b'a'; 5000];
        v.extend_from_slice(&[b'b'; 3000]);
        v.extend_from_slice(b"xyz");
        let (table, rare, tables) = rare_tables_for(&v, Some(9));
        assert_eq!(
            (0..256).filter(|&s| rare[s]).collect::<Vec<_>>(),
            vec![usize::from(b'x'), usize::from(b'y'), usize::from(b'z')]
        );
        let l = 1 << 9;
        let top: Vec<u8> = tables.decode_table()[l - 3..]
            .iter()
            .map(|e| e.symbol)
            .collect();
        assert_eq!(top, b"zyx");
        assert!(
            tables.decode_table()[..l - 3]
                .iter()
                .all(|e| e.symbol != b'x')
        );
        assert_eq!(table.freqs()[usize::from(b'x')], 1);
        round_trip_pairs(&v, &tables);
        // The flag is refused on a symbol of frequency above 1.
        let mut bad = rare;
        bad[usize::from(b'a')] = true;
        assert!(TansTables::with_rare_on_top(&table, &bad).is_err());
    }

    /// `data` in the order [`Lanes::Pairs`] codes it: Interleaved on this sequence is
    /// Pairs on `data`.
    fn regroup_pairs(data: &[u8]) -> Vec<u8> {
        let h = data.len() / 4 * 2;
        let mut regrouped = Vec::with_capacity(data.len());
        for t in 0..h / 2 {
            regrouped.extend_from_slice(&[data[2 * t], data[2 * t + 1]]);
            regrouped.extend_from_slice(&[data[h + 2 * t], data[h + 2 * t + 1]]);
        }
        regrouped.extend_from_slice(&data[2 * h..]);
        regrouped
    }

    #[test]
    fn pairs_code_each_half_in_turns() {
        // Lanes::Pairs (whose groups take `encode_pairs_fast`) is Lanes::Interleaved (the
        // checked loop) on the sequence regrouped as documented, at every table log, for
        // skewed and flat data.
        for r in MIN_TABLE_LOG..=MAX_TABLE_LOG {
            for n in [0usize, 1, 3, 4, 5, 7, 8, 9, 1001, 4099, 30_001] {
                let data: Vec<u8> = (0..n)
                    .map(|i| match r % 2 {
                        0 => (i * 7 % 13 + i % 3) as u8,
                        _ => (i.wrapping_mul(2_654_435_761) >> 13) as u8,
                    })
                    .collect();
                let (_, _, tables) = rare_tables_for(&data, Some(r));
                assert_eq!(
                    round_trip_pairs(&data, &tables),
                    encode_block(&regroup_pairs(&data), &tables).unwrap(),
                    "r = {r}, n = {n}"
                );
            }
        }
    }

    #[test]
    fn pairs_report_a_missing_symbol_anywhere() {
        // A byte without a slot, in either half's groups or in the tail: the same error as
        // the checked loop gives, naming that byte.
        let data: Vec<u8> = (0..4003u32).map(|i| (i * 7 % 13) as u8).collect();
        let (_, tables) = tables_for(&data, 10);
        for at in [0, 1, 1000, 2001, 2002, 3999, 4000, 4002] {
            let mut bad = data.clone();
            bad[at] = 200;
            let want = encode_block(&regroup_pairs(&bad), &tables);
            assert!(matches!(want, Err(Error::ZeroFrequency { symbol: 200 })));
            let got = encode_block_lanes(&bad, &tables, Lanes::Pairs);
            assert!(
                matches!(got, Err(Error::ZeroFrequency { symbol: 200 })),
                "at {at}: {got:?}"
            );
        }
    }

    #[test]
    fn rare_table_is_checked() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * i % 251) as u8).collect();
        let (table, rare, _) = rare_tables_for(&data, Some(11));
        let mut bytes = Vec::new();
        write_rare_table(table.freqs(), &rare, &mut bytes);
        for cut in 0..bytes.len() {
            assert!(read_rare_table(&bytes[..cut], 11).is_err(), "cut {cut}");
        }
        // A smaller log: the frequencies before the last exceed the table size.
        assert!(read_rare_table(&bytes, 10).is_err());
        // Nonzero padding.
        let mut padded = bytes.clone();
        let last = padded.len() - 1;
        padded[last] |= 0x80;
        if padded != bytes {
            assert!(read_rare_table(&padded, 11).is_err());
        }
    }

    #[test]
    fn damaged_pairs_streams_are_rejected() {
        let data: Vec<u8> = (0..402u32).map(|i| (i * i % 7 + i % 3) as u8).collect();
        let (_, _, tables) = rare_tables_for(&data, Some(9));
        let stream = round_trip_pairs(&data, &tables);
        let check = |s: &[u8]| {
            let mut out = vec![0u8; data.len()];
            if decode_block_lanes(s, &tables, &mut out, Lanes::Pairs).is_ok() {
                assert!(out != data, "damaged stream decoded to the original");
            }
        };
        for cut in 0..stream.len() {
            check(&stream[..cut]);
        }
        for bit in 0..8 * stream.len() {
            let mut bad = stream.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            check(&bad);
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
            assert_eq!(
                encode_impl::<N_STATES, false>(&data, &tables).unwrap(),
                stream
            );
            let mut out = vec![0u8; data.len()];
            decode_lanes::<N_STATES>(&stream, &tables, &mut out, Lanes::Interleaved).unwrap();
            assert!(out == data);
            let mut bad = stream.clone();
            bad[100] ^= 4;
            assert_rejected_or_different(&bad, &tables, &data);
            let (_, _, tables) = rare_tables_for(&data, Some(r));
            let stream = encode_block_lanes(&data, &tables, Lanes::Pairs).unwrap();
            assert_eq!(
                encode_impl::<N_STATES, true>(&data, &tables).unwrap(),
                stream
            );
            let mut out = vec![0u8; data.len()];
            decode_lanes::<N_STATES>(&stream, &tables, &mut out, Lanes::Pairs).unwrap();
            assert!(out == data);
        }
    }

    #[test]
    fn exp_golomb_bits_are_the_code_lengths() {
        // The code of the module notes, bit by bit: m - k zeros, a one, m bits.
        let len = |w: u32, k: u32| {
            let v = w + (1 << k);
            let m = 31 - v.leading_zeros();
            (m - k) + 1 + m
        };
        let mut values: Vec<u32> = (0..=300).chain([511, 512, 1023, 4095, 4096]).collect();
        values.extend((0..23).map(|e| (1u32 << e) - 1));
        values.extend((0..23).map(|e| 1u32 << e));
        values.push((1 << 23) - 1);
        for chunk in [&values[..0], &values[..1], &values[..17], &values[..]] {
            let bits = exp_golomb_bits(chunk);
            for k in 0..8 {
                let want: u32 = chunk.iter().map(|&w| len(w, k)).sum();
                assert_eq!(bits[k as usize], want, "order {k}, {} values", chunk.len());
            }
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
        fn rare_tables_round_trip_arbitrary_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            r in MIN_TABLE_LOG..=MAX_TABLE_LOG,
        ) {
            let (_, _, tables) = rare_tables_for(&data, Some(r));
            round_trip_pairs(&data, &tables);
        }

        #[test]
        fn rare_tables_round_trip_edge_cases(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..20),
                two_symbols(),
                all_symbols(),
                // Very skewed: one byte, a few others sprinkled.
                proptest::collection::vec(
                    prop_oneof![20 => Just(0u8), 1 => any::<u8>()], 0..5000),
            ],
        ) {
            let (_, _, tables) = rare_tables_for(&data, None);
            round_trip_pairs(&data, &tables);
        }

        #[test]
        fn keys_order_as_total_cmp(a in 1e-300f64..1e300, b in 1e-300f64..1e300) {
            prop_assert_eq!(Key(a).cmp(&Key(b)), a.total_cmp(&b));
            prop_assert_eq!(Key(a).cmp(&Key(a)), std::cmp::Ordering::Equal);
        }

        #[test]
        fn hostile_rare_tables_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            r in MIN_TABLE_LOG..=MAX_TABLE_LOG,
        ) {
            if let Ok((table, rare, used)) = read_rare_table(&bytes, r) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(table.cums()[256], 1u32 << r);
                prop_assert!(TansTables::with_rare_on_top(&table, &rare).is_ok());
            }
        }

        #[test]
        fn hostile_pairs_streams_never_panic(
            stream in proptest::collection::vec(any::<u8>(), 0..200),
            n in 0usize..600,
            model in proptest::collection::vec(any::<u8>(), 1..300),
            r in MIN_TABLE_LOG..=MAX_TABLE_LOG,
        ) {
            let (_, _, tables) = rare_tables_for(&model, Some(r));
            let mut out = vec![0u8; n];
            if decode_block_lanes(&stream, &tables, &mut out, Lanes::Pairs).is_ok() {
                prop_assert_eq!(
                    encode_block_lanes(&out, &tables, Lanes::Pairs).unwrap(), stream);
            }
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
