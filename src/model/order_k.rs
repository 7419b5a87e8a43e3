//! Static (two-pass) order-k context models: one small frequency table per context seen
//! in the block, serialised compactly into the block.
//!
//! # Design note (read me first)
//!
//! 1. **Contexts.** The context of position `i` is the `k` bytes before it,
//!    `c = b[i-1] | b[i-2] << 8 | ... | b[i-k] << 8(k-1)` (the most recent byte in the low
//!    byte), with bytes before the start of the block (or of its *lane*, item 6) read as
//!    zero. Only contexts that occur get a table. With one lane this is the convention of
//!    `crate::analysis`, so a model built from exact counts codes the block in exactly
//!    `n * H_k` bits (test `exact_counts_give_n_times_h_k`).
//! 2. **Ranks.** The block's distinct bytes are listed once, most frequent first (order-0
//!    rank). Everything else in the table names a byte by its rank, so frequent bytes get
//!    small numbers and small gamma codes. A context is stored as its *key*: the rank
//!    digits of its bytes in base `m + 1` (`m` distinct bytes), most recent byte most
//!    significant, digit `rank + 1` for a listed byte and digit `0` for a zero byte that
//!    is not listed (only the padding before the block start can be such a byte).
//! 3. **Per-context precision.** Context `c` stores frequencies summing to `2^s_c` with
//!    its own `s_c <= S` (`S`, the block scale, is at most [`MAX_CONTEXT_SCALE`]). The
//!    encoder tries every `s_c` and keeps the one with the fewest table bits plus coded
//!    bits (for Huffman: the Huffman code length of the context's symbols). A context
//!    with one symbol can take `s_c = 0` and then costs the coder nothing at all. The
//!    coders see every context at scale `S`: `f = f_c << (S - s_c)`, which leaves each
//!    probability as stored.
//! 4. **Bit-packed table.** Gaps, counts, ranks and frequencies are Elias-gamma codes
//!    (`v >= 1`: `bitlen(v) - 1` zeros, a one, then the low `bitlen(v) - 1` bits of `v`,
//!    low bit first), written forward, low bit of each byte first (layout in
//!    `docs/FORMAT.md`, "Static order k"). The reader takes gamma codes from a 64-bit bit
//!    buffer (one peek per code; bit by bit only near the end and for long codes): at
//!    order 1 the table read was 8% of a 128 KiB block's decode with a bounds check per
//!    bit.
//! 5. **Hostile tables.** `read_table` (behind [`OrderKTable::read`] and the rANS
//!    decoder's `ContextSlots::read`) checks every field before it allocates:
//!    byte lists distinct, `S <= min(12, header scale)`, context count `<= raw_len` and
//!    `<=` the table's bits, keys strictly increasing and `< (m + 1)^k`, ranks `< m` and
//!    strictly increasing, `s_c <= S`, `nsym <= min(m, 2^s_c)`, frequencies summing to
//!    exactly `2^s_c` with each `>= 1`. Every context and every symbol entry costs at
//!    least one bit of the table, so the memory a table takes is bounded by a constant
//!    times its length: at most `8 * table_len` entries of 16 bytes and `4 * table_len`
//!    contexts of 24 bytes (plus their hashed index, 16 bytes a context), or a dense
//!    index of `256^k` u32 when `k <= 2`. The coders add per-context codes (Huffman:
//!    about 80 bytes a context and 5 an entry, and from the tenth session's fast paths
//!    at most `2^22` lookup entries of 2 bytes; tANS: at most `2^23` slots of 3 bytes
//!    for the decoder, 8 bytes an entry, none for a one-symbol context, see
//!    `codec::static_k`'s notes; the rANS fast decoder for `k <= 2`: 4 bytes a slot of
//!    `sum_c 2^s_c`, at most `2^22` slots (else the generic decoder), plus a 256 KiB
//!    index).
//! 6. **Lanes.** rANS codes a block as four interleaved *lanes* (quarters) so that its
//!    four states have independent context chains; each lane starts from a zero
//!    context. [`Lanes`] says which; the table layout does not depend on it.
//! 7. **Building fast.** For `k = 1` the counts come from one pass that adds each
//!    position to a row of 256 counts per context digit (four quarters of the block side
//!    by side); for `k = 2` from a counting sort by key (keys are below `257^2`); neither
//!    sorts one key per position. The byte counts can be passed in
//!    ([`OrderKTable::build_counted`]) so that a caller counts them once; in a large
//!    block they come from the order-1 pairs ([`PairCounts`]: one u16 read and one
//!    increment a position, the byte counts summed from the pairs), so that the block
//!    is read once for both ([`OrderKTable::build_pairs`]). The precision
//!    search of every context uses a normaliser that gives `normalize`'s frequencies bit
//!    for bit with cached marginal gains, tabulated logarithms, one division per symbol
//!    for all `s_c`, and branch-free scans that compare the gains' bit patterns as
//!    integers; a one-symbol context takes `s_c = 0` without a search. All are checked
//!    against the plain versions in the tests, so the tables, and thus the bytes, do not
//!    change. With ideal pricing the normaliser runs only at the `s_c` that a lower
//!    bound on the context's bits (a Lagrangian relaxation, `precision_bound`) leaves
//!    a chance against the best tried so far, lowest bound first: on book1 at order 1
//!    (128 KiB blocks) 519 runs for 468 contexts, where stopping at the first `s_c`
//!    whose monotone Gibbs bound passed the best took 1989. (Trying only the largest
//!    `s_c` saves the search but makes the block 0.97% larger, more than htscodecs'.)
//!
//! # Call order
//!
//! Encoder: [`OrderKTable::build`] (counts, picks `s_c`), [`OrderKTable::write`], then
//! code with [`StaticOrderK`] (a [`Model`]) or by looking contexts up with
//! [`OrderKTable::find`]. Decoder: [`OrderKTable::read`], then the same; the rANS
//! decoder at orders 1 and 2 reads the table bytes straight into its slots instead
//! (`ContextSlots::read`, through the same checks).

use crate::error::{Error, Result};
use crate::model::{Counts, Distribution, Interval, Model};

/// Largest static context order.
pub const MAX_STATIC_ORDER: u32 = 4;
/// Largest per-context and block scale `S` of a static order-k table.
pub const MAX_CONTEXT_SCALE: u32 = 12;

/// How the positions of a block are split into independent context chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// One chain: contexts read zeros only before the block start.
    One,
    /// Four chains (rANS): with `q = floor(n / 4)`, lane `j < 3` is `[j q, (j+1) q)` and
    /// lane 3 is `[3 q, n)`; each starts from a zero context.
    Four,
}

impl Lanes {
    /// Start positions of the lanes of an `n`-byte block (duplicates allowed).
    pub fn starts(self, n: usize) -> [usize; 4] {
        match self {
            Lanes::One => [0; 4],
            Lanes::Four => {
                let q = n / 4;
                [0, q, 2 * q, 3 * q]
            }
        }
    }

    /// `(start, end)` of every lane, in order.
    fn ranges(self, n: usize) -> Vec<(usize, usize)> {
        match self {
            Lanes::One => vec![(0, n)],
            Lanes::Four => {
                let q = n / 4;
                vec![(0, q), (q, 2 * q), (2 * q, 3 * q), (3 * q, n)]
            }
        }
    }
}

/// How the encoder prices a context's symbols when it picks `s_c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostKind {
    /// `sum n_s * log2(2^s / f_s)`: arithmetic, rANS and tANS.
    Ideal,
    /// `sum n_s * l_s` with the Huffman lengths of the stored frequencies (a context with
    /// one symbol costs 0).
    Huffman,
}

/// One symbol of a context: its byte, its stored frequency and its interval at scale `S`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The byte.
    pub symbol: u8,
    /// Rank of the byte in the block's list (order-0 rank).
    pub rank: u8,
    /// Frequency at the context's precision: `sum = 2^s_c`, each `>= 1`.
    pub freq_c: u32,
    /// Start of the interval at the block scale: sum of `freq` of the entries before.
    pub start: u32,
    /// `freq_c << (S - s_c)`.
    pub freq: u32,
}

/// The table of one context: a [`Distribution`] at the block scale `S`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextTable {
    /// The context bytes, most recent in the low byte.
    pub context: u32,
    /// The context's precision `s_c <= S`.
    pub scale_c: u8,
    /// The block scale `S`.
    scale: u8,
    /// The symbols in increasing rank; intervals are consecutive in this order and
    /// cover `[0, 2^S)` (empty only for the placeholder of an unknown context).
    entries: Box<[Entry]>,
}

impl ContextTable {
    /// The symbols of this context, in increasing rank.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Index in [`ContextTable::entries`] of `symbol`.
    #[inline]
    pub fn index_of(&self, symbol: u8) -> Option<usize> {
        self.entries.iter().position(|e| e.symbol == symbol)
    }
}

impl Distribution for ContextTable {
    fn scale_bits(&self) -> u32 {
        u32::from(self.scale)
    }

    #[inline]
    fn interval(&self, symbol: u8) -> Result<Interval> {
        match self.entries.iter().find(|e| e.symbol == symbol) {
            Some(e) => Ok(Interval {
                start: e.start,
                freq: e.freq,
            }),
            None => Err(Error::ZeroFrequency { symbol }),
        }
    }

    #[inline]
    fn symbol_at(&self, target: u32) -> Result<(u8, Interval)> {
        // Entries are in rank order, which is roughly decreasing probability: a linear
        // scan usually stops early.
        for e in self.entries.iter() {
            if target < e.start + e.freq {
                if target < e.start {
                    break;
                }
                return Ok((
                    e.symbol,
                    Interval {
                        start: e.start,
                        freq: e.freq,
                    },
                ));
            }
        }
        Err(Error::Corrupt {
            what: "decoder target outside the context's distribution",
        })
    }
}

/// Maps context bytes to the index of their table.
#[derive(Clone, Debug)]
enum ContextIndex {
    /// `k <= 2`: one u32 per possible context, `u32::MAX` if absent.
    Dense(Vec<u32>),
    /// `k >= 3`: open addressing, linear probing, load at most 1/2. Slots hold
    /// `(context, index)`; `index == u32::MAX` marks an empty slot.
    Hashed { slots: Vec<(u32, u32)>, log: u32 },
}

impl ContextIndex {
    fn new(order: u32, contexts: &[ContextTable]) -> ContextIndex {
        if order <= 2 {
            let mut dense = vec![u32::MAX; 1 << (8 * order)];
            for (i, c) in contexts.iter().enumerate() {
                dense[c.context as usize] = i as u32;
            }
            return ContextIndex::Dense(dense);
        }
        let log = (2 * contexts.len()).max(2).next_power_of_two().ilog2();
        let mut slots = vec![(0u32, u32::MAX); 1 << log];
        for (i, c) in contexts.iter().enumerate() {
            let mut h = hash(c.context, log);
            while slots[h].1 != u32::MAX {
                h = (h + 1) & ((1 << log) - 1);
            }
            slots[h] = (c.context, i as u32);
        }
        ContextIndex::Hashed { slots, log }
    }

    #[inline]
    fn get(&self, context: u32) -> Option<usize> {
        match self {
            ContextIndex::Dense(d) => match d.get(context as usize) {
                Some(&i) if i != u32::MAX => Some(i as usize),
                _ => None,
            },
            ContextIndex::Hashed { slots, log } => {
                let mask = (1usize << log) - 1;
                let mut h = hash(context, *log);
                // Terminates: at least half the slots are empty.
                loop {
                    let (c, i) = slots[h];
                    if i == u32::MAX {
                        return None;
                    }
                    if c == context {
                        return Some(i as usize);
                    }
                    h = (h + 1) & mask;
                }
            }
        }
    }
}

/// Multiplicative (Fibonacci) hash of a context to `log` bits.
#[inline]
fn hash(context: u32, log: u32) -> usize {
    (context.wrapping_mul(0x9E37_79B1) >> (32 - log)) as usize
}

/// A static order-k model of one block: the contexts seen, each with its table.
#[derive(Clone, Debug)]
pub struct OrderKTable {
    /// The order `k`, `1..=MAX_STATIC_ORDER`.
    order: u32,
    /// The block scale `S`: every `s_c <= S <= MAX_CONTEXT_SCALE`.
    scale: u32,
    /// The block's distinct bytes, rank 0 first; `1..=256` distinct values.
    alphabet: Vec<u8>,
    /// The contexts in increasing key order (design note, item 2).
    contexts: Vec<ContextTable>,
    index: ContextIndex,
    /// Placeholder handed out for a context that has no table: every lookup fails.
    missing: ContextTable,
}

/// The estimated size of a block coded with a built table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuildCost {
    /// Bits of the serialised table, without the byte padding.
    pub table_bits: u64,
    /// Bits the coder needs for the symbols, as priced by the [`CostKind`].
    pub coded_bits: f64,
}

/// Bits of the Elias-gamma code of `v >= 1`.
#[inline]
fn gamma_len(v: u64) -> u64 {
    2 * u64::from(64 - v.leading_zeros()) - 1
}

/// Per-context counts of a block in increasing key order, with the alphabet in rank
/// order. Used by [`OrderKTable::build`] and by the tests.
struct Histograms {
    alphabet: Vec<u8>,
    /// `(key, first, len)` per context, increasing keys: its symbols are
    /// `syms[first..first + len]`.
    contexts: Vec<(u64, u32, u32)>,
    /// `(rank, count)` of every context's symbols, each context's in increasing rank;
    /// every count `>= 1`.
    syms: Vec<(u8, u64)>,
}

impl Histograms {
    /// `(key, [(rank, count)])` of every context, in increasing key order.
    fn iter(&self) -> impl Iterator<Item = (u64, &[(u8, u64)])> {
        self.contexts
            .iter()
            .map(|&(key, first, len)| (key, &self.syms[first as usize..(first + len) as usize]))
    }
}

/// The digit of byte `b` in a context key: `rank + 1` if listed, else 0.
#[inline]
fn digit(rank: &[u8; 256], listed: &[bool; 256], b: u8) -> u64 {
    if listed[b as usize] {
        u64::from(rank[b as usize]) + 1
    } else {
        0
    }
}

/// The block's distinct bytes, most frequent first (ties in byte order), and each
/// byte's rank and whether it is listed.
#[cfg(test)]
fn rank_bytes(data: &[u8]) -> (Vec<u8>, [u8; 256], [bool; 256]) {
    rank_counted(&Counts::of(data))
}

/// The distinct bytes of a block with byte counts `counts`, most frequent first (ties
/// in byte order), and each byte's rank and whether it is listed.
fn rank_counted(counts: &Counts) -> (Vec<u8>, [u8; 256], [bool; 256]) {
    let mut alphabet: Vec<u8> = (0..=255u8).filter(|&s| counts.0[s as usize] > 0).collect();
    alphabet.sort_by_key(|&s| (std::cmp::Reverse(counts.0[s as usize]), s));
    let mut rank = [0u8; 256];
    let mut listed = [false; 256];
    for (r, &s) in alphabet.iter().enumerate() {
        rank[s as usize] = r as u8;
        listed[s as usize] = true;
    }
    (alphabet, rank, listed)
}

/// Per-context counts of `data`, whose byte counts are `counts`.
fn histograms(data: &[u8], counts: &Counts, order: u32, lanes: Lanes) -> Histograms {
    let (alphabet, rank, listed) = rank_counted(counts);
    if order == 1 && u32::try_from(data.len()).is_ok() {
        histograms_o1(data, lanes, alphabet, &rank, &listed)
    } else if order <= 2 {
        histograms_dense(data, order, lanes, alphabet, &rank, &listed)
    } else {
        histograms_sorted(data, order, lanes, alphabet, &rank, &listed)
    }
}

/// [`histograms`] for any order: one key per position, sorted.
fn histograms_sorted(
    data: &[u8],
    order: u32,
    lanes: Lanes,
    alphabet: Vec<u8>,
    rank: &[u8; 256],
    listed: &[bool; 256],
) -> Histograms {
    let base = alphabet.len() as u64 + 1;
    let mut keys: Vec<u64> = Vec::with_capacity(data.len());
    for (start, end) in lanes.ranges(data.len()) {
        for i in start..end {
            // key = sum_j digit(b[i-j]) * base^(k-j), most recent byte most significant.
            let mut key = 0u64;
            for j in 1..=order as usize {
                let b = if i >= start + j { data[i - j] } else { 0 };
                key = key * base + digit(rank, listed, b);
            }
            keys.push(key << 8 | u64::from(rank[data[i] as usize]));
        }
    }
    keys.sort_unstable();
    let mut contexts = Vec::new();
    let mut syms = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let key = keys[i] >> 8;
        let first = syms.len() as u32;
        while i < keys.len() && keys[i] >> 8 == key {
            let k = keys[i];
            let mut j = i;
            while j < keys.len() && keys[j] == k {
                j += 1;
            }
            syms.push(((k & 0xff) as u8, (j - i) as u64));
            i = j;
        }
        contexts.push((key, first, syms.len() as u32 - first));
    }
    Histograms {
        alphabet,
        contexts,
        syms,
    }
}

/// Calls `f(i, key)` for every position `i` (lane by lane) of an order-1 or order-2
/// model, with the digits `dig` of the bytes and `pad` of the padding before a lane.
#[inline(always)]
fn for_each_key(
    data: &[u8],
    order: u32,
    lanes: Lanes,
    dig: &[u32; 256],
    pad: u32,
    base: u32,
    mut f: impl FnMut(usize, u32),
) {
    for (start, end) in lanes.ranges(data.len()) {
        if start == end {
            continue;
        }
        // The first `order` positions of a lane see padding.
        let head = (start + order as usize).min(end);
        for i in start..head {
            let d1 = if i > start {
                dig[data[i - 1] as usize]
            } else {
                pad
            };
            let d2 = if i > start + 1 {
                dig[data[i - 2] as usize]
            } else {
                pad
            };
            f(i, if order == 1 { d1 } else { d1 * base + d2 });
        }
        // key = d(b[i-1]) (order 1), d(b[i-1]) * base + d(b[i-2]) (order 2).
        if head == end {
            continue;
        }
        if order == 1 {
            for (i, &b) in (head..end).zip(&data[head - 1..end - 1]) {
                f(i, dig[b as usize]);
            }
        } else {
            for (i, w) in (head..end).zip(data[head - 2..end].windows(2)) {
                f(i, dig[w[1] as usize] * base + dig[w[0] as usize]);
            }
        }
    }
}

/// [`histograms`] for `k <= 2` without sorting: keys are below `(m + 1)^2 <= 257^2`, so
/// a counting sort by key (one count pass, one scatter of the ranks into per-key
/// buckets) leaves each context's symbols together, and one pass over a bucket counts
/// them. Time `O(n + (m + 1)^k)`, memory `n` bytes plus `4 (m + 1)^k`.
fn histograms_dense(
    data: &[u8],
    order: u32,
    lanes: Lanes,
    alphabet: Vec<u8>,
    rank: &[u8; 256],
    listed: &[bool; 256],
) -> Histograms {
    let base = alphabet.len() + 1;
    let nkeys = base.pow(order);
    let mut dig = [0u32; 256];
    for b in 0..=255u8 {
        dig[b as usize] = digit(rank, listed, b) as u32;
    }
    let pad = dig[0];
    let base = base as u32;
    // bucket[key] becomes the end of the key's bucket after the scatter.
    let mut bucket = vec![0u32; nkeys + 1];
    for_each_key(data, order, lanes, &dig, pad, base, |_, key| {
        bucket[key as usize + 1] += 1
    });
    for k in 1..=nkeys {
        bucket[k] += bucket[k - 1];
    }
    let mut ranks = vec![0u8; data.len()];
    for_each_key(data, order, lanes, &dig, pad, base, |i, key| {
        let at = &mut bucket[key as usize];
        ranks[*at as usize] = rank[data[i] as usize];
        *at += 1;
    });
    let mut contexts = Vec::new();
    let mut syms = Vec::new();
    let mut hist = [0u64; 256];
    let mut seen: Vec<u8> = Vec::with_capacity(256);
    let mut begin = 0usize;
    for (key, &end) in bucket[..nkeys].iter().enumerate() {
        let end = end as usize;
        if end == begin {
            continue;
        }
        for &r in &ranks[begin..end] {
            if hist[r as usize] == 0 {
                seen.push(r);
            }
            hist[r as usize] += 1;
        }
        seen.sort_unstable();
        let first = syms.len() as u32;
        for &r in &seen {
            syms.push((r, hist[r as usize]));
            hist[r as usize] = 0;
        }
        contexts.push((key as u64, first, seen.len() as u32));
        seen.clear();
        begin = end;
    }
    Histograms {
        alphabet,
        contexts,
        syms,
    }
}

/// [`histograms`] for order 1 (and `n < 2^32`): one pass adds every (context digit,
/// byte) pair to a table of `m + 1` rows of 256 counts, then the rows are read in key
/// order (the key of an order-1 context is its digit) and each row's bytes in rank order.
/// Time `O(n + (m + 1) m)`, memory `1 KiB (m + 1)`; no scatter of the data as
/// [`histograms_dense`] does, which costs about twice as much per byte.
///
/// The pass walks four quarters of the block side by side, each with its own context,
/// so that four independent chains of loads and increments overlap: with four lanes the
/// quarters are the lanes (each starting from the padding); with one lane every quarter
/// but the first starts from the byte before it.
fn histograms_o1(
    data: &[u8],
    lanes: Lanes,
    alphabet: Vec<u8>,
    rank: &[u8; 256],
    listed: &[bool; 256],
) -> Histograms {
    // The row of each byte as a context: its digit (at most m <= 256) times 256.
    let mut row_at = [0u32; 256];
    for b in 0..=255u8 {
        row_at[b as usize] = digit(rank, listed, b) as u32 * 256;
    }
    let mut rows = vec![0u32; (alphabet.len() + 1) * 256];
    let n = data.len();
    let q = n / 4;
    // The padding before a lane reads as byte 0.
    let pad = row_at[0];
    let mut ctx = match lanes {
        Lanes::Four => [pad; 4],
        Lanes::One if q == 0 => [pad; 4],
        Lanes::One => [
            pad,
            row_at[usize::from(data[q - 1])],
            row_at[usize::from(data[2 * q - 1])],
            row_at[usize::from(data[3 * q - 1])],
        ],
    };
    // Every index is a row start (at most 256 m) plus a byte: below (m + 1) 256.
    let (l0, rest) = data.split_at(q);
    let (l1, rest) = rest.split_at(q);
    let (l2, rest) = rest.split_at(q);
    let (l3, tail) = rest.split_at(q);
    for (((&b0, &b1), &b2), &b3) in l0.iter().zip(l1).zip(l2).zip(l3) {
        rows[(ctx[0] | u32::from(b0)) as usize] += 1;
        ctx[0] = row_at[usize::from(b0)];
        rows[(ctx[1] | u32::from(b1)) as usize] += 1;
        ctx[1] = row_at[usize::from(b1)];
        rows[(ctx[2] | u32::from(b2)) as usize] += 1;
        ctx[2] = row_at[usize::from(b2)];
        rows[(ctx[3] | u32::from(b3)) as usize] += 1;
        ctx[3] = row_at[usize::from(b3)];
    }
    // The rest of the last quarter (lane 3 continues).
    for &b in tail {
        rows[(ctx[3] | u32::from(b)) as usize] += 1;
        ctx[3] = row_at[usize::from(b)];
    }
    let mut contexts = Vec::new();
    let mut syms = Vec::new();
    for (key, row) in rows.chunks_exact(256).enumerate() {
        let first = syms.len() as u32;
        for (r, &b) in alphabet.iter().enumerate() {
            let c = row[usize::from(b)];
            if c > 0 {
                syms.push((r as u8, u64::from(c)));
            }
        }
        let len = syms.len() as u32 - first;
        if len > 0 {
            contexts.push((key as u64, first, len));
        }
    }
    Histograms {
        alphabet,
        contexts,
        syms,
    }
}

/// Blocks shorter than this count their bytes and pairs apart (see [`PairCounts::of`]).
const PAIR_COUNTS_MIN_LEN: usize = 1 << 15;

/// The order-1 pair counts of a block, counted in one pass: how often each byte
/// follows each context byte, in the block's [`Lanes`] (the padding before a lane reads
/// as byte 0). Every position is counted once, so the byte counts of the block are the
/// sums of the byte's counts over all contexts ([`PairCounts::counts`]): a caller that
/// needs both reads the block once.
pub struct PairCounts {
    lanes: Lanes,
    /// `rows[256 b + c]`: the positions with context byte `c` that hold byte `b`. (Byte
    /// major: the little-endian u16 at `p - 1` is the index of position `p`.)
    rows: Box<[u32; 1 << 16]>,
}

impl PairCounts {
    /// Counts the pairs of `data` in `lanes`; `None` if the block is shorter than
    /// `PAIR_COUNTS_MIN_LEN` (zeroing and summing 64 Ki counters would cost more than
    /// counting the bytes twice) or has `2^32` bytes or more (u32 counters).
    ///
    /// Every position but the first of a lane is counted at the index of the two bytes
    /// that end there, read as one u16. The pass walks four quarters of the block side
    /// by side so that four independent chains of loads and increments overlap: with
    /// four lanes the quarters are the lanes; with one lane every quarter but the first
    /// starts from the byte before it.
    pub fn of(data: &[u8], lanes: Lanes) -> Option<PairCounts> {
        let n = data.len();
        if n < PAIR_COUNTS_MIN_LEN || u32::try_from(n).is_err() {
            return None;
        }
        Some(PairCounts::count(data, lanes))
    }

    /// [`PairCounts::of`] for any `4 <= n < 2^32`.
    fn count(data: &[u8], lanes: Lanes) -> PairCounts {
        let n = data.len();
        debug_assert!(n >= 4 && u32::try_from(n).is_ok());
        let mut rows: Box<[u32; 1 << 16]> = vec![0u32; 1 << 16]
            .into_boxed_slice()
            .try_into()
            .expect("2^16 counters");
        let q = n / 4;
        // The bytes whose windows of two are the quarters' pairs, and the positions
        // whose context is the padding (byte 0, index = the byte times 256).
        let (pairs, firsts): ([&[u8]; 4], &[usize]) = match lanes {
            Lanes::Four => (
                [
                    &data[..q],
                    &data[q..2 * q],
                    &data[2 * q..3 * q],
                    &data[3 * q..],
                ],
                &[0, q, 2 * q, 3 * q],
            ),
            Lanes::One => (
                [
                    &data[..q],
                    &data[q - 1..2 * q],
                    &data[2 * q - 1..3 * q],
                    &data[3 * q - 1..],
                ],
                &[0],
            ),
        };
        for &p in firsts {
            rows[usize::from(data[p]) << 8] += 1;
        }
        // Quarters have at least q - 1 >= 1 pairs; the rest (at most a few, and lane 3's
        // tail) are counted one quarter at a time.
        let common = pairs.map(|s| s.len()).into_iter().min().unwrap_or(0);
        let index = |w: &[u8]| {
            let pair: [u8; 2] = w.try_into().expect("windows of two");
            usize::from(u16::from_le_bytes(pair))
        };
        let [w0, w1, w2, w3] = pairs.map(|s| s[..common].windows(2));
        for (((a, b), c), d) in w0.zip(w1).zip(w2).zip(w3) {
            rows[index(a)] += 1;
            rows[index(b)] += 1;
            rows[index(c)] += 1;
            rows[index(d)] += 1;
        }
        for s in pairs {
            for w in s[common - 1..].windows(2) {
                rows[index(w)] += 1;
            }
        }
        PairCounts { lanes, rows }
    }

    /// The lanes the pairs were counted in.
    pub fn lanes(&self) -> Lanes {
        self.lanes
    }

    /// The byte counts of the block (`Counts::of(data)`): each byte's counts summed
    /// over all contexts.
    pub fn counts(&self) -> Counts {
        let mut counts = [0u64; 256];
        for (t, row) in counts.iter_mut().zip(self.rows.chunks_exact(256)) {
            // u32 sums: the block has fewer than 2^32 bytes.
            *t = u64::from(row.iter().sum::<u32>());
        }
        Counts(counts)
    }

    /// [`histograms`] at order 1 from the pairs: each context's bytes in rank order,
    /// the contexts sorted by key (the key of an order-1 context is its digit: 0 for the
    /// padding when byte 0 is not listed, else `rank + 1`). Time `O((m + 1) m)`.
    ///
    /// The contexts are read in byte order, not in key order: a context's counts lie
    /// 1 KiB apart, and neighbouring context bytes share their cache lines.
    fn histograms(&self, alphabet: Vec<u8>, listed: &[bool; 256]) -> Histograms {
        let mut contexts = Vec::with_capacity(alphabet.len() + 1);
        let mut syms = Vec::new();
        let mut key_of = [None; 256];
        for (r, &c) in alphabet.iter().enumerate() {
            key_of[usize::from(c)] = Some(r as u64 + 1);
        }
        // The padding has a context of its own only if byte 0 is not listed; else it
        // shares the context of byte 0.
        if !listed[0] {
            key_of[0] = Some(0);
        }
        // One context's symbols, gathered without a branch on each count (whether a
        // byte follows a context is a coin toss to the branch predictor).
        let mut row = [(0u8, 0u64); 256];
        for (c, key) in (0..=255u8).zip(key_of) {
            let Some(key) = key else { continue };
            let first = syms.len() as u32;
            let mut len = 0;
            for (r, &b) in alphabet.iter().enumerate() {
                let count = self.rows[usize::from(b) << 8 | usize::from(c)];
                // len <= r < 256.
                row[len & 255] = (r as u8, u64::from(count));
                len += usize::from(count > 0);
            }
            syms.extend_from_slice(&row[..len]);
            let len = len as u32;
            if len > 0 {
                contexts.push((key, first, len));
            }
        }
        contexts.sort_unstable_by_key(|&(key, ..)| key);
        Histograms {
            alphabet,
            contexts,
            syms,
        }
    }
}

/// Context bytes of a key (design note, item 2); `None` if a digit is out of range or
/// is the padding digit 0 while byte 0 is listed.
fn key_to_context(mut key: u64, order: u32, alphabet: &[u8], zero_listed: bool) -> Option<u32> {
    let base = alphabet.len() as u64 + 1;
    let mut digits = [0u64; MAX_STATIC_ORDER as usize];
    for d in digits[..order as usize].iter_mut().rev() {
        *d = key % base;
        key /= base;
    }
    if key != 0 {
        return None;
    }
    let mut context = 0u32;
    // digits[0] is the most recent byte.
    for (j, &d) in digits[..order as usize].iter().enumerate() {
        let b = if d == 0 {
            if zero_listed {
                return None;
            }
            0
        } else {
            alphabet[(d - 1) as usize]
        };
        context |= u32::from(b) << (8 * j);
    }
    Some(context)
}

/// The table bits of one context apart from its key gap, at precision `s` with
/// frequencies `freqs` (one per symbol, in rank order).
fn context_bits(s: u32, ranks: &[u8], freqs: &[u32]) -> u64 {
    let mut bits = gamma_len(u64::from(s) + 1);
    if s == 0 {
        return bits + gamma_len(u64::from(ranks[0]) + 1);
    }
    bits += gamma_len(ranks.len() as u64);
    let mut prev = None;
    for &r in ranks {
        bits += gamma_len(match prev {
            None => u64::from(r) + 1,
            Some(p) => u64::from(r - p),
        });
        prev = Some(r);
    }
    for &f in &freqs[..freqs.len() - 1] {
        bits += gamma_len(u64::from(f));
    }
    bits
}

/// Coded bits of counts `c` under frequencies `f` of total `2^s`.
///
/// Not inlined: inside the precision search, with its many live values, the float sum
/// was kept in memory (a store and a load on the chain of every symbol).
#[inline(never)]
fn coded_bits(kind: CostKind, s: u32, counts: &[u64], freqs: &[u32]) -> f64 {
    let logs = log_tables();
    let ideal = |log2: fn(&LogTables, u32) -> f64| -> f64 {
        counts
            .iter()
            .zip(freqs)
            .map(|(&c, &f)| c as f64 * (f64::from(s) - log2(logs, f)))
            .sum()
    };
    match kind {
        // Frequencies are at most 2^s.
        CostKind::Ideal if s <= MAX_CONTEXT_SCALE => ideal(log2_of::<true>),
        CostKind::Ideal => ideal(log2_of::<false>),
        CostKind::Huffman => {
            if counts.len() == 1 {
                return 0.0;
            }
            let lengths = crate::coder::huffman::context_code_lengths(freqs)
                .expect("at least one positive weight");
            counts
                .iter()
                .zip(&lengths)
                .map(|(&c, &l)| c as f64 * f64::from(l))
                .sum()
        }
    }
}

/// Chooses `s_c` and the frequencies for one context (design note, item 3); returns
/// `(s_c, freqs, table bits without the gap, coded bits)`.
///
/// The same choice as trying every `s` with [`context_bits`] and [`coded_bits`] (test
/// `best_precision_equals_the_plain_search`), with less work: one symbol goes straight
/// to `s = 0`, the rank bits are counted once, and the normaliser divides once per
/// symbol for all `s` (see [`Normalizer::prepare`]).
fn best_precision(
    kind: CostKind,
    max_scale: u32,
    ranks: &[u8],
    counts: &[u64],
    work: &mut Normalizer,
) -> Result<(u32, Vec<u32>, u64, f64)> {
    let nsym = counts.len();
    if nsym == 1 {
        // s = 0 costs gamma(1) + gamma(rank + 1) bits and codes in 0 bits. Every s >= 1
        // adds gamma(s + 1) >= 3 bits for the precision and gamma(1) for the count, and
        // codes in 0 bits as well (f = 2^s, log2 f = s exactly): s = 0 wins.
        return Ok((0, vec![1], context_bits(0, ranks, &[1]), 0.0));
    }
    let total: u64 = counts.iter().sum();
    let min_s = usize::BITS - (nsym - 1).leading_zeros();
    // Precision beyond the counts' own resolution cannot pay for its table bits.
    let max_s = max_scale.min(64 - total.leading_zeros() + 1).max(min_s);
    // context_bits at s >= 1 apart from the precision and the frequencies.
    let rank_bits = context_bits(1, ranks, &[1]) - gamma_len(2);
    let logs = log_tables();
    work.prepare(counts, max_s)?;
    if kind == CostKind::Ideal && max_s > min_s {
        return best_ideal_precision(min_s..=max_s, rank_bits, counts, total, work);
    }
    let mut best: Option<(u32, u64, f64)> = None;
    let mut best_freqs = Vec::with_capacity(nsym);
    for s in min_s..=max_s {
        let freqs = work.run_at(counts, s, logs)?;
        let tb = precision_table_bits(s, rank_bits, freqs);
        let cb = coded_bits(kind, s, counts, freqs);
        if best.is_none_or(|b| tb as f64 + cb < b.1 as f64 + b.2 - 1e-9) {
            best = Some((s, tb, cb));
            best_freqs.clear();
            best_freqs.extend_from_slice(freqs);
        }
    }
    let (s, tb, cb) = best.ok_or(Error::InvalidOptions("no usable context precision".into()))?;
    Ok((s, best_freqs, tb, cb))
}

/// Table bits of one context at precision `s >= 1` with frequencies `freqs`, apart from
/// its key gap: `gamma(s + 1)`, the `rank_bits` and every frequency but the last.
#[inline]
fn precision_table_bits(s: u32, rank_bits: u64, freqs: &[u32]) -> u64 {
    let stored = &freqs[..freqs.len() - 1];
    gamma_len(u64::from(s) + 1)
        + rank_bits
        + stored.iter().map(|&f| gamma_len(u64::from(f))).sum::<u64>()
}

/// Most precisions one search can try: `s` runs from at least 1 to at most
/// [`crate::model::MAX_SCALE_BITS`].
const MAX_PRECISIONS: usize = crate::model::MAX_SCALE_BITS as usize;

/// [`best_precision`] with ideal pricing and at least two precisions to try: the
/// normaliser runs only at the precisions that lower bounds on their bits leave a
/// chance.
///
/// First the precision `m` where the tight bound [`precision_bound`] has a local
/// minimum is tried, found by walking downhill from a guess (`(bitlen(N) + 6) / 2`:
/// the best precision grows with `log2(N) / 2`, as the table bits grow by about two a
/// symbol and precision while the rounding loss falls by a factor of four); its bits are
/// the fewest seen so far, `C`. Then every other precision whose bound, less a slack
/// for the rounding of the float sums, exceeds `C + 10^-6` is left out, the others are
/// tried (each lowering `C` if it costs less). Two bounds rule out whole ranges at once:
/// above `m` the cheap [`CostBound`], which rises with `s`; below `m`, the coded bits
/// alone (the bound without gamma codes, each frequency's code at least one bit), whose
/// minimum over all frequencies never rises with `s` (frequencies `f` at `s` are `2 f`
/// at `s + 1`, with the same code lengths), so that their bound at `s` holds at every
/// smaller precision. The plain search then runs over the precisions tried, in
/// increasing order, and so makes its choice over all of them: it keeps the first
/// precision that beats the one kept before by more than `10^-9` bits. Leaving out a
/// precision `k` that costs more than `C + 10^-6`, where the one of cost `C` stays,
/// changes no choice. If `k` comes after it, the precision kept when `k` is reached
/// costs at most `C + 10^-9`, and `k` does not beat it. If `k` comes first and is kept,
/// the two searches may keep different precisions after `k`, but only precisions of
/// costs within `10^-9` of each other and of `k`'s, at most `MAX_PRECISIONS` of them,
/// so all above `C + 10^-9`; the precision of cost `C` then beats what either search
/// holds, and from there on they agree.
///
/// On book1 (order 1, 128 KiB blocks) the normaliser runs 519 times for 468 contexts;
/// stopping at the first precision whose [`CostBound`] passes the best so far ran it
/// 1989 times.
fn best_ideal_precision(
    range: std::ops::RangeInclusive<u32>,
    rank_bits: u64,
    counts: &[u64],
    total: u64,
    work: &mut Normalizer,
) -> Result<(u32, Vec<u32>, u64, f64)> {
    let logs = log_tables();
    let nsym = counts.len();
    let (min_s, max_s) = (*range.start(), *range.end());
    // With GAMMA, the bound at `s`; without, the coded bits' bound at `s`, which holds
    // at every `s' <= s` with the table bits of `min_s` and frequency codes of one bit.
    let bound = |s: u32, gamma: bool| {
        let fixed = if gamma {
            gamma_len(u64::from(s) + 1) + rank_bits
        } else {
            gamma_len(u64::from(min_s) + 1) + rank_bits + nsym as u64 - 1
        };
        match (s <= MAX_CONTEXT_SCALE, gamma) {
            (true, true) => precision_bound::<true, true>(counts, total, s, fixed, logs),
            (true, false) => precision_bound::<true, false>(counts, total, s, fixed, logs),
            (false, true) => precision_bound::<false, true>(counts, total, s, fixed, logs),
            (false, false) => precision_bound::<false, false>(counts, total, s, fixed, logs),
        }
    };
    // The tight bound of each precision computed so far, by `s - min_s`.
    let mut bounds = [f64::NAN; MAX_PRECISIONS];
    let bound_at = |bounds: &mut [f64; MAX_PRECISIONS], s: u32| {
        let b = &mut bounds[(s - min_s) as usize];
        if b.is_nan() {
            *b = bound(s, true);
        }
        *b
    };
    let bitlen = 64 - total.leading_zeros();
    let mut m = ((bitlen + 6) / 2).clamp(min_s, max_s);
    if m < max_s && bound_at(&mut bounds, m + 1) < bound_at(&mut bounds, m) {
        while m < max_s && bound_at(&mut bounds, m + 1) < bound_at(&mut bounds, m) {
            m += 1;
        }
    } else {
        while m > min_s && bound_at(&mut bounds, m - 1) < bound_at(&mut bounds, m) {
            m -= 1;
        }
    }
    // Far above the rounding error of either float sum (terms of at most 16 N bits).
    let slack = 1e-3 + total as f64 / (1u64 << 36) as f64;
    // (table bits, coded bits) of each precision tried, by `s - min_s`; their
    // frequencies in `kept`, `nsym` a precision.
    let mut costs = [None; MAX_PRECISIONS];
    let mut kept = std::mem::take(&mut work.kept);
    kept.resize(nsym * MAX_PRECISIONS, 0);
    let mut fewest = f64::INFINITY;
    let mut try_at = |s: u32, work: &mut Normalizer, fewest: &mut f64| -> Result<()> {
        let freqs = work.run_at(counts, s, logs)?;
        let tb = precision_table_bits(s, rank_bits, freqs);
        let cb = coded_bits(CostKind::Ideal, s, counts, freqs);
        let at = (s - min_s) as usize;
        kept[nsym * at..nsym * (at + 1)].copy_from_slice(freqs);
        costs[at] = Some((tb, cb));
        *fewest = fewest.min(tb as f64 + cb);
        Ok(())
    };
    try_at(m, work, &mut fewest)?;
    let rises = CostBound::new(counts, rank_bits, logs);
    for s in m + 1..=max_s {
        if rises.low(s) - rises.slack > fewest + 1e-6 {
            break;
        }
        if bound_at(&mut bounds, s) - slack <= fewest + 1e-6 {
            try_at(s, work, &mut fewest)?;
        }
    }
    for s in (min_s..m).rev() {
        let known = !bounds[(s - min_s) as usize].is_nan();
        if !known && bound(s, false) - slack > fewest + 1e-6 {
            break;
        }
        if bound_at(&mut bounds, s) - slack <= fewest + 1e-6 {
            try_at(s, work, &mut fewest)?;
        }
    }
    let mut best: Option<(usize, u64, f64)> = None;
    for (at, cost) in costs.iter().enumerate() {
        if let &Some((tb, cb)) = cost
            && best.is_none_or(|b| tb as f64 + cb < b.1 as f64 + b.2 - 1e-9)
        {
            best = Some((at, tb, cb));
        }
    }
    let (at, tb, cb) = best.expect("precision m is always tried");
    let freqs = kept[nsym * at..nsym * (at + 1)].to_vec();
    work.kept = kept;
    Ok((min_s + at as u32, freqs, tb, cb))
}

/// A lower bound on the bits (table bits without the gap, plus ideal coded bits) of one
/// context at precision `s`, whatever frequencies the normaliser picks, for `counts`
/// (`>= 2` of them, each `>= 1`, their sum `total = N < 2^53`); `fixed` is
/// `gamma(s + 1)` plus the rank bits; `SMALL` (`s <= MAX_CONTEXT_SCALE`) as in
/// [`log2_of`]. Without `GAMMA` the frequencies' gamma codes are left out (`fixed` must
/// then account for them): a bound on `fixed` plus the coded bits only.
///
/// With `L` the last symbol (its frequency is not stored), the bits of frequencies `f_i
/// >= 1` with `sum f_i = 2^s` are
///
/// ```text
/// bits(s) = fixed + N s + sum_i g_i(f_i),  g_i(f) = [i < L] gamma(f) - c_i log2 f.
/// ```
///
/// For any `lambda`, `sum_i lambda f_i - lambda 2^s = 0`, so (Lagrangian relaxation)
///
/// ```text
/// bits(s) >= fixed + N s - lambda 2^s + sum_i min over integers f >= 1 of
///            (g_i(f) + lambda f),
/// ```
///
/// one minimum per symbol, without the constraint that couples them. With
/// `lambda = N / (2^s ln 2)`, `h(f) = lambda f - c_i log2 f` is convex with its minimum
/// at `f* = c_i 2^s / N`, the ideal frequency. Above `f*` both `h` and `gamma` rise, so
/// `ceil(f*)` is the best there; below, `h` falls towards `f*`, so the best of the
/// class of `floor(f*)` (the `f` with the same `floor(log2 f)`) is `floor(f*)`, and that
/// of every lower class `j` its top `2^(j+1) - 1` (`gamma = 2 j + 1`). With `F =
/// max(floor(f*), 1)` in class `k`, the minimum is at least the least of `F`, `F + 1`,
/// the top of class `k - 1`, and `1 + h` at the top of class `k - 2` (every class below
/// `k - 1` codes in at least one bit, at an `f` no larger). (For `f* < 1` this gives
/// `f = 1`: `F + 1 = 2` costs more.) No branch: a walk down the classes that stopped
/// when no lower class could win cost mispredictions, 11% of the encoder's time on
/// book1. On book1 the bound is 1 to 9 bits below the bits of the best precision, and
/// rises steeply on both sides of it.
#[inline(always)]
fn precision_bound<const SMALL: bool, const GAMMA: bool>(
    counts: &[u64],
    total: u64,
    s: u32,
    fixed: u64,
    logs: &LogTables,
) -> f64 {
    let n = total as f64;
    let slots = (1u64 << s) as f64;
    let lambda = n / (slots * std::f64::consts::LN_2);
    let to_ideal = slots / n;
    // Counts below 2^53 convert exactly, and as i64 in one instruction.
    let float = |c: u64| c as i64 as f64;
    let (&last, rest) = counts.split_last().expect("at least two symbols");
    let last = float(last);
    let mut sum = 0.0;
    // Plain compares: `f64::min` spends instructions on NaN, which cannot occur here.
    let min = |a: f64, b: f64| if b < a { b } else { a };
    for &c in rest {
        let c = float(c);
        let h = |f: u32| lambda * f64::from(f) - c * log2_of::<SMALL>(logs, f);
        // f* < 2^s <= 2^16, so the u32 holds it.
        let fl = ((c * to_ideal) as u32).max(1);
        if !GAMMA {
            sum += min(h(fl), h(fl + 1));
            continue;
        }
        // fl is in class k (gamma 2 k + 1); the class below has top 2^k - 1 and gamma
        // 2 k - 1, every class further down gamma >= 1 and f <= 2^(k-1) - 1, where h
        // is larger still. A top of 0 (no such class) has h = +inf.
        let k = 31 - fl.leading_zeros();
        let up = 2 * (32 - (fl + 1).leading_zeros()) - 1;
        let (top1, top2): (u32, u32) = ((1 << k) - 1, ((1u32 << k) >> 1).saturating_sub(1));
        let here = min(f64::from(2 * k + 1) + h(fl), f64::from(up) + h(fl + 1));
        let below = min(f64::from(2 * k) - 1.0 + h(top1), 1.0 + h(top2));
        sum += min(here, below);
    }
    let h = |f: u32| lambda * f64::from(f) - last * log2_of::<SMALL>(logs, f);
    let fl = ((last * to_ideal) as u32).max(1);
    sum += min(h(fl), h(fl + 1));
    fixed as f64 + n * f64::from(s) + sum - lambda * slots
}

/// A lower bound on the bits (table bits without the gap, plus ideal coded bits) of one
/// context at every precision `s >= 1`, whatever frequencies the normaliser picks, so
/// that the search can stop once the bound passes the best total so far. Looser than
/// [`precision_bound`], but computed once for all `s`.
///
/// With `L` the last symbol (its frequency is not stored) and `sum f_i = 2^s`:
///
/// ```text
/// bits(s) = gamma(s + 1) + rank bits + sum_{i<L} gamma(f_i) + sum_i c_i (s - log2 f_i)
/// gamma(f) = 2 floor(log2 f) + 1 >= 2 log2 f - 1
/// bits(s) >= gamma(s + 1) + rank bits - (nsym - 1) + N s + sum_{i<L} (2 - c_i) log2 f_i
///            - c_L log2 f_L
/// ```
///
/// Terms with `c_i <= 2` are `>= 0` (`f_i >= 1`) and are dropped. The rest is
/// `-sum w_i log2 f_i` with `w_i = c_i - 2` (`i < L`, `c_i > 2`) and `w_L = c_L`, whose
/// largest value over real `f_i > 0` with `sum f_i <= 2^s` is at `f_i = w_i 2^s / W`
/// (Gibbs' inequality), `W s - W H_w` with `H_w = sum (w_i / W) log2(W / w_i)`. Hence
///
/// ```text
/// bits(s) >= gamma(s + 1) + rank bits - (nsym - 1) + D s + W H_w,
/// D = N - W = sum_{i<L} min(c_i, 2),
/// ```
///
/// which never decreases with `s`. Only for [`CostKind::Ideal`]: Huffman lengths are
/// not `s - log2 f_i`.
struct CostBound {
    /// `rank bits - (nsym - 1) + W H_w`.
    offset: f64,
    /// `D`.
    slope: f64,
    /// Slack for the rounding of the float sums on both sides: `1 + 2^-30 N`, far above
    /// the few ulps of `N s` bits that either sum can be off.
    slack: f64,
}

impl CostBound {
    /// The bound for `counts` (`>= 2` symbols, each `>= 1`) whose ranks cost
    /// `rank_bits` (everything of [`context_bits`] but the precision and frequencies).
    fn new(counts: &[u64], rank_bits: u64, logs: &LogTables) -> CostBound {
        let (last, rest) = counts.split_last().expect("at least two symbols");
        let log2 = |w: u64| match logs.log2.get(w as usize) {
            Some(&v) => v,
            None => (w as f64).log2(),
        };
        let mut slope = 0u64;
        let mut w_total = *last;
        // sum w log2 w, for W H_w = W log2 W - sum w log2 w.
        let mut w_log_w = *last as f64 * log2(*last);
        for &c in rest {
            slope += c.min(2);
            if c > 2 {
                let w = c - 2;
                w_total += w;
                w_log_w += w as f64 * log2(w);
            }
        }
        let w_total = w_total as f64;
        let n: u64 = counts.iter().sum();
        CostBound {
            offset: rank_bits as f64 - rest.len() as f64 + (w_total * w_total.log2() - w_log_w),
            slope: slope as f64,
            slack: 1.0 + n as f64 * (1.0 / (1u64 << 30) as f64),
        }
    }

    /// The bound at precision `s` (without the slack).
    fn low(&self, s: u32) -> f64 {
        gamma_len(u64::from(s) + 1) as f64 + self.offset + self.slope * f64::from(s)
    }
}

/// [`crate::model::normalize()`] for one context's counts (all `>= 1`, in rank order), with the same
/// result bit for bit and much less work: it looks at the context's symbols only, not
/// at 256 counters, and keeps each symbol's marginal gain and loss instead of
/// recomputing two logarithms per symbol per unit moved.
///
/// The steps are `normalize`'s, in the same order, with the same tie rules (the largest
/// gain picks the *last* of equals, as `Iterator::max_by` does; the smallest loss the
/// *first*, as `min_by` does) and the same float expressions, so every comparison sees
/// the same values (test `fast_normalizer_equals_normalize`).
#[derive(Default)]
struct Normalizer {
    /// `floor(c_i 2^top / n)`, from which the first guess at every `s <= top` follows
    /// by a shift (see [`Normalizer::prepare`]).
    base: Vec<u64>,
    /// The scale of `base`.
    top: u32,
    /// `c_i as f64`, converted once for every run (a u64 takes five instructions).
    cf: Vec<f64>,
    freq: Vec<u32>,
    /// Bits of `gain(c_i, f_i)`: code length saved by one more unit for symbol `i`.
    gain: Vec<u64>,
    /// Bits of `loss(c_i, f_i)`: code length lost by one unit less; infinite at
    /// `f_i = 1`.
    loss: Vec<u64>,
    /// Storage of the heaps of long fills and drains (see [`Normalizer::run_at`]):
    /// `(gain, i)` and `(loss, i)` as `2^64 gain + i`, compared as one integer.
    ups: Vec<u128>,
    downs: Vec<std::cmp::Reverse<u128>>,
    /// Frequencies of the precisions tried by [`best_ideal_precision`].
    kept: Vec<u32>,
    /// Normaliser runs so far (for the tests' counts of the search's work).
    #[cfg(test)]
    runs: usize,
}

/// Units times symbols above which a fill or drain uses a heap instead of scanning.
const HEAP_WORK: usize = 256;

/// Logarithms of the frequencies of one context (`f <= 2^MAX_CONTEXT_SCALE`), each
/// computed once with the very expression the table replaces, so that a lookup gives
/// the same bits as the computation.
struct LogTables {
    /// `log2(f)`.
    log2: Box<[f64; LOG_TABLE_LEN]>,
    /// `log2((f + 1) / f)`, the factor of [`unit_gain`].
    up: Box<[f64; LOG_TABLE_LEN]>,
    /// `log2(f / (f - 1))` for `f >= 2`, the factor of [`unit_loss`].
    down: Box<[f64; LOG_TABLE_LEN]>,
}

/// Frequencies covered by [`LogTables`]: `0..=2^MAX_CONTEXT_SCALE`.
const LOG_TABLE_LEN: usize = (1 << MAX_CONTEXT_SCALE) + 1;

fn log_tables() -> &'static LogTables {
    static TABLES: std::sync::OnceLock<LogTables> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let f = |i: usize| f64::from(i as u32);
        let table = |g: &dyn Fn(usize) -> f64| -> Box<[f64; LOG_TABLE_LEN]> {
            let v: Box<[f64]> = (0..LOG_TABLE_LEN).map(g).collect();
            v.try_into().expect("LOG_TABLE_LEN entries")
        };
        LogTables {
            log2: table(&|i| f(i).log2()),
            up: table(&|i| (f(i + 1) / f(i)).log2()),
            down: table(&|i| if i < 2 { 0.0 } else { (f(i) / f(i - 1)).log2() }),
        }
    })
}

/// `log2(f)`. With `SMALL` the caller promises `f <= 2^MAX_CONTEXT_SCALE`, which the
/// tables cover: the index is clamped instead of checked, so that no call to `log2`
/// sits in the loops (a call there kept their float sums and factors in memory,
/// every caller-saved register being lost across it).
#[inline(always)]
fn log2_of<const SMALL: bool>(logs: &LogTables, f: u32) -> f64 {
    if SMALL {
        return logs.log2[(f as usize).min(LOG_TABLE_LEN - 1)];
    }
    match logs.log2.get(f as usize) {
        Some(&v) => v,
        None => f64::from(f).log2(),
    }
}

/// Code length of one more unit for a symbol with count `c` (as a float: `c as f64`)
/// at frequency `f` (the expression of `normalize`); `SMALL` as in [`log2_of`].
#[inline(always)]
fn unit_gain<const SMALL: bool>(logs: &LogTables, c: f64, f: u32) -> f64 {
    let up = if SMALL {
        logs.up[(f as usize).min(LOG_TABLE_LEN - 1)]
    } else {
        match logs.up.get(f as usize) {
            Some(&v) => v,
            None => (f64::from(f + 1) / f64::from(f)).log2(),
        }
    };
    c * up
}

/// Code length lost by taking one unit from a symbol with count `c` at frequency `f`;
/// `SMALL` as in [`log2_of`].
#[inline(always)]
fn unit_loss<const SMALL: bool>(logs: &LogTables, c: f64, f: u32) -> f64 {
    if f <= 1 {
        return f64::INFINITY;
    }
    let down = if SMALL {
        logs.down[(f as usize).min(LOG_TABLE_LEN - 1)]
    } else {
        match logs.down.get(f as usize) {
            Some(&v) => v,
            None => (f64::from(f) / f64::from(f - 1)).log2(),
        }
    };
    c * down
}

/// Index of the largest gain, the last of equals. Gains and losses are positive (or
/// +inf), and for non-negative floats the order of the bit patterns as integers is
/// `total_cmp`'s: the scans compare integers.
#[inline]
fn arg_max_gain(gain: &[u64]) -> usize {
    let mut best = 0;
    let mut top = gain[0];
    for (i, &g) in gain.iter().enumerate().skip(1) {
        // Selects, not a branch: which symbol leads changes unpredictably.
        let higher = g >= top;
        best = if higher { i } else { best };
        top = top.max(g);
    }
    best
}

/// Index of the smallest loss among symbols with `f > 1` other than `skip`, the first of
/// equals. The loss is infinite exactly when `f <= 1`, so a finite one marks a
/// candidate. (`skip` is left out by reading its loss as infinite, which keeps the scan
/// free of branches.)
#[inline]
fn arg_min_loss(loss: &[u64], skip: usize) -> Option<usize> {
    const INF: u64 = 0x7ff0_0000_0000_0000;
    debug_assert_eq!(INF, f64::INFINITY.to_bits());
    let mut best = usize::MAX;
    let mut low = INF;
    for (i, &l) in loss.iter().enumerate() {
        let l = if i == skip { INF } else { l };
        let lower = l < low;
        best = if lower { i } else { best };
        low = if lower { l } else { low };
    }
    (best != usize::MAX).then_some(best)
}

impl Normalizer {
    /// Frequencies for `counts` (non-empty, each `>= 1`, `len <= 2^s`) summing to `2^s`.
    #[cfg(test)]
    fn run(&mut self, counts: &[u64], s: u32) -> Result<&[u32]> {
        self.prepare(counts, s)?;
        self.run_at(counts, s, log_tables())
    }

    /// Prepares runs at every scale `s <= top` for `counts` (non-empty, each `>= 1`):
    /// the first guess `floor(c 2^s / n)` of [`crate::model::normalize()`] is
    /// `floor(c 2^top / n) >> (top - s)` (`floor(floor(a) / b) = floor(a / b)` for a
    /// positive integer `b`), so one division per symbol serves every `s`.
    fn prepare(&mut self, counts: &[u64], top: u32) -> Result<()> {
        crate::model::check_scale(top)?;
        if counts.is_empty() {
            return Err(Error::InvalidOptions(
                "context counts do not fit the precision".into(),
            ));
        }
        let n: u128 = counts.iter().map(|&c| u128::from(c)).sum();
        self.top = top;
        self.base.clear();
        self.cf.clear();
        self.cf.extend(counts.iter().map(|&c| c as f64));
        for &c in counts {
            // floor(c * 2^top / n), in u64 when c * 2^top fits (the same integer).
            let f = match (c.checked_shl(top), u64::try_from(n)) {
                (Some(cs), Ok(n64)) if cs >> top == c => cs / n64,
                _ => (u128::from(c) * (1u128 << top) / n) as u64,
            };
            self.base.push(f);
        }
        Ok(())
    }

    /// `Normalizer::run` (the tests' entry) at `s <= top` for the counts given to
    /// [`Normalizer::prepare`]. (Not inlined, so that its loops get registers of their
    /// own.)
    #[inline(never)]
    fn run_at(&mut self, counts: &[u64], s: u32, logs: &LogTables) -> Result<&[u32]> {
        #[cfg(test)]
        {
            self.runs += 1;
        }
        // Every frequency is at most 2^s: within the tables at the context scales.
        if s <= MAX_CONTEXT_SCALE {
            self.run_with::<true>(counts, s, logs)
        } else {
            self.run_with::<false>(counts, s, logs)
        }
    }

    /// [`Normalizer::run_at`]; `SMALL` (`s <= MAX_CONTEXT_SCALE`) as in [`log2_of`].
    #[inline(always)]
    fn run_with<const SMALL: bool>(
        &mut self,
        counts: &[u64],
        s: u32,
        logs: &LogTables,
    ) -> Result<&[u32]> {
        let total_slots: u32 = 1 << s;
        if s > self.top
            || counts.len() != self.base.len()
            || counts.len() as u64 > u64::from(total_slots)
        {
            return Err(Error::InvalidOptions(
                "context counts do not fit the precision".into(),
            ));
        }
        let n = counts.len();
        let cf = &self.cf[..n];
        let (freq, gain, loss) = (&mut self.freq, &mut self.gain, &mut self.loss);
        freq.resize(n, 0);
        gain.resize(n, 0);
        loss.resize(n, 0);
        let (freq, gain, loss) = (&mut freq[..n], &mut gain[..n], &mut loss[..n]);
        let mut sum: u64 = 0;
        let down = self.top - s;
        for ((((f, g), l), &c), &b) in freq
            .iter_mut()
            .zip(gain.iter_mut())
            .zip(loss.iter_mut())
            .zip(cf)
            .zip(&self.base)
        {
            // floor(c 2^s / n) <= 2^s: fits a u32.
            *f = ((b >> down) as u32).max(1);
            *g = unit_gain::<SMALL>(logs, c, *f).to_bits();
            *l = unit_loss::<SMALL>(logs, c, *f).to_bits();
            sum += u64::from(*f);
        }
        let set = |i: usize, f: u32, freq: &mut [u32], gain: &mut [u64], loss: &mut [u64]| {
            freq[i] = f;
            gain[i] = unit_gain::<SMALL>(logs, cf[i], f).to_bits();
            loss[i] = unit_loss::<SMALL>(logs, cf[i], f).to_bits();
        };
        let target = u64::from(total_slots);
        let key = |v: u64, i: usize| u128::from(v) << 64 | i as u128;
        // The greedy fill takes the largest gain (the last of equals) unit by unit, the
        // drain the smallest loss (the first of equals). A symbol's gain falls and its
        // loss rises with every unit it gets, so a heap ordered by (gain, index), or by
        // (loss, index) reversed, makes the same choice at every step in O(log n)
        // instead of a scan of all n symbols.
        let steps = sum.abs_diff(target) as usize;
        if sum < target && steps.saturating_mul(n) > HEAP_WORK {
            let mut heap = std::mem::take(&mut self.ups);
            heap.clear();
            heap.extend(gain.iter().enumerate().map(|(i, &g)| key(g, i)));
            let mut heap = std::collections::BinaryHeap::from(heap);
            for _ in 0..steps {
                let mut top = heap.peek_mut().expect("counts are not empty");
                let i = *top as u64 as usize;
                set(i, freq[i] + 1, freq, gain, loss);
                *top = key(gain[i], i);
            }
            self.ups = heap.into_vec();
            sum = target;
        }
        if sum > target && steps.saturating_mul(n) > HEAP_WORK {
            let mut heap = std::mem::take(&mut self.downs);
            heap.clear();
            heap.extend(
                loss.iter()
                    .enumerate()
                    .map(|(i, &l)| std::cmp::Reverse(key(l, i))),
            );
            let mut heap = std::collections::BinaryHeap::from(heap);
            for _ in 0..steps {
                let mut top = heap.peek_mut().expect("counts are not empty");
                let i = top.0 as u64 as usize;
                // An infinite loss (f = 1) on top means no frequency above 1 is left.
                assert!(
                    (top.0 >> 64) as u64 != f64::INFINITY.to_bits(),
                    "sum > target implies a frequency above 1"
                );
                set(i, freq[i] - 1, freq, gain, loss);
                *top = std::cmp::Reverse(key(loss[i], i));
            }
            self.downs = heap.into_vec();
            sum = target;
        }
        while sum < target {
            let i = arg_max_gain(gain);
            set(i, freq[i] + 1, freq, gain, loss);
            sum += 1;
        }
        while sum > target {
            let i =
                arg_min_loss(loss, usize::MAX).expect("sum > target implies a frequency above 1");
            set(i, freq[i] - 1, freq, gain, loss);
            sum -= 1;
        }
        for _ in 0..4 * total_slots {
            let up = arg_max_gain(gain);
            let Some(down) = arg_min_loss(loss, up) else {
                break;
            };
            if f64::from_bits(gain[up]) <= f64::from_bits(loss[down]) * (1.0 + 1e-12) {
                break;
            }
            set(up, freq[up] + 1, freq, gain, loss);
            set(down, freq[down] - 1, freq, gain, loss);
        }
        Ok(&self.freq[..n])
    }
}

impl OrderKTable {
    /// Counts `data` (non-empty) at `order` in the given lanes and picks every context's
    /// precision up to `max_scale` (clamped to [`MAX_CONTEXT_SCALE`]) by `kind`.
    pub fn build(
        data: &[u8],
        order: u32,
        lanes: Lanes,
        max_scale: u32,
        kind: CostKind,
    ) -> Result<(OrderKTable, BuildCost)> {
        OrderKTable::build_counted(data, &Counts::of(data), order, lanes, max_scale, kind)
    }

    /// [`OrderKTable::build`] for a caller that has the byte counts of `data` already
    /// (`counts` must be `Counts::of(data)`), so that they are not counted again.
    pub fn build_counted(
        data: &[u8],
        counts: &Counts,
        order: u32,
        lanes: Lanes,
        max_scale: u32,
        kind: CostKind,
    ) -> Result<(OrderKTable, BuildCost)> {
        check_order(order)?;
        debug_assert_eq!(counts.total(), data.len() as u64);
        if data.is_empty() {
            return Err(Error::InvalidOptions(
                "cannot build a model of an empty block".into(),
            ));
        }
        let h = histograms(data, counts, order, lanes);
        OrderKTable::build_histograms(h, order, max_scale, kind)
    }

    /// [`OrderKTable::build_counted`] at order 1 from the pair counts of the block
    /// (`counts` must be `pairs.counts()`), in the lanes the pairs were counted in.
    pub fn build_pairs(
        pairs: &PairCounts,
        counts: &Counts,
        max_scale: u32,
        kind: CostKind,
    ) -> Result<(OrderKTable, BuildCost)> {
        debug_assert!(pairs.counts() == *counts);
        let (alphabet, _, listed) = rank_counted(counts);
        let h = pairs.histograms(alphabet, &listed);
        OrderKTable::build_histograms(h, 1, max_scale, kind)
    }

    /// Picks every context's precision for the histograms `h` (of a non-empty block).
    fn build_histograms(
        h: Histograms,
        order: u32,
        max_scale: u32,
        kind: CostKind,
    ) -> Result<(OrderKTable, BuildCost)> {
        let max_scale = max_scale.min(MAX_CONTEXT_SCALE);
        let m = h.alphabet.len();
        let mut table_bits = 8 + 8 * m as u64 + 4 + gamma_len(h.contexts.len() as u64);
        let mut coded = 0.0;
        let mut chosen = Vec::with_capacity(h.contexts.len());
        let mut prev_key: Option<u64> = None;
        let mut scale = 0;
        let mut work = Normalizer::default();
        for (key, syms) in h.iter() {
            table_bits += gamma_len(match prev_key {
                None => key + 1,
                Some(p) => key - p,
            });
            prev_key = Some(key);
            let ranks: Vec<u8> = syms.iter().map(|&(r, _)| r).collect();
            let counts: Vec<u64> = syms.iter().map(|&(_, c)| c).collect();
            let (s, freqs, tb, cb) = best_precision(kind, max_scale, &ranks, &counts, &mut work)?;
            table_bits += tb;
            coded += cb;
            scale = scale.max(s);
            chosen.push((key, s, ranks, freqs));
        }
        let zero_listed = h.alphabet.contains(&0);
        let mut contexts = Vec::with_capacity(chosen.len());
        for (key, s, ranks, freqs) in chosen {
            let context = key_to_context(key, order, &h.alphabet, zero_listed)
                .expect("keys built from the alphabet decode");
            contexts.push(context_table(
                context,
                s,
                scale,
                &h.alphabet,
                &ranks,
                &freqs,
            ));
        }
        let table = OrderKTable::assemble(order, scale, h.alphabet, contexts);
        Ok((
            table,
            BuildCost {
                table_bits,
                coded_bits: coded,
            },
        ))
    }

    fn assemble(
        order: u32,
        scale: u32,
        alphabet: Vec<u8>,
        contexts: Vec<ContextTable>,
    ) -> OrderKTable {
        let index = ContextIndex::new(order, &contexts);
        OrderKTable {
            order,
            scale,
            alphabet,
            contexts,
            index,
            missing: ContextTable {
                context: 0,
                scale_c: 0,
                scale: scale as u8,
                entries: Box::new([]),
            },
        }
    }

    /// The order `k`.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// The block scale `S`.
    pub fn scale_bits(&self) -> u32 {
        self.scale
    }

    /// The block's distinct bytes, most frequent first.
    pub fn alphabet(&self) -> &[u8] {
        &self.alphabet
    }

    /// All contexts, in increasing key order.
    pub fn contexts(&self) -> &[ContextTable] {
        &self.contexts
    }

    /// Index in [`OrderKTable::contexts`] of the table for these context bytes.
    #[inline]
    pub fn find(&self, context: u32) -> Option<usize> {
        self.index.get(context)
    }

    /// The table of a context, or a placeholder whose every lookup is an error.
    #[inline]
    pub fn dist(&self, context: u32) -> &ContextTable {
        match self.index.get(context) {
            Some(i) => &self.contexts[i],
            None => &self.missing,
        }
    }

    /// The mask of the context bytes: `2^(8k) - 1`.
    pub fn context_mask(&self) -> u32 {
        context_mask(self.order)
    }

    /// Appends the bit-packed table (`docs/FORMAT.md`, "Static order k"), padded with
    /// zero bits to a whole byte.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut w = TableWriter::new(out);
        let m = self.alphabet.len();
        w.bits(m as u64 - 1, 8);
        for &s in &self.alphabet {
            w.bits(u64::from(s), 8);
        }
        w.bits(u64::from(self.scale), 4);
        w.gamma(self.contexts.len() as u64);
        let mut rank = [0u8; 256];
        for (r, &s) in self.alphabet.iter().enumerate() {
            rank[s as usize] = r as u8;
        }
        let mut listed = [false; 256];
        for &s in &self.alphabet {
            listed[s as usize] = true;
        }
        let base = m as u64 + 1;
        let mut prev: Option<u64> = None;
        for c in &self.contexts {
            let mut key = 0u64;
            for j in 0..self.order {
                key = key * base + digit(&rank, &listed, (c.context >> (8 * j)) as u8);
            }
            w.gamma(match prev {
                None => key + 1,
                Some(p) => key - p,
            });
            prev = Some(key);
            w.gamma(u64::from(c.scale_c) + 1);
            if c.scale_c == 0 {
                w.gamma(u64::from(c.entries[0].rank) + 1);
                continue;
            }
            w.gamma(c.entries.len() as u64);
            let mut prev_rank: Option<u8> = None;
            for e in c.entries.iter() {
                w.gamma(match prev_rank {
                    None => u64::from(e.rank) + 1,
                    Some(p) => u64::from(e.rank - p),
                });
                prev_rank = Some(e.rank);
            }
            for e in &c.entries[..c.entries.len() - 1] {
                w.gamma(u64::from(e.freq_c));
            }
        }
        w.finish();
    }

    /// Reads a table written by [`OrderKTable::write`] from the whole of `input` (every
    /// byte must belong to the table, padding bits zero), for a block of `raw_len` bytes
    /// and block scales up to `max_scale`. Checks every field (design note, item 5); the
    /// parsing is [`read_table`]'s.
    pub fn read(input: &[u8], order: u32, max_scale: u32, raw_len: usize) -> Result<OrderKTable> {
        let mut sink = CollectContexts::default();
        read_table(input, order, max_scale, raw_len, &mut sink)?;
        Ok(OrderKTable::assemble(
            order,
            sink.scale,
            sink.alphabet,
            sink.contexts,
        ))
    }
}

/// Builds one context's table from ranks (increasing) and frequencies at precision `s`.
fn context_table(
    context: u32,
    s: u32,
    scale: u32,
    alphabet: &[u8],
    ranks: &[u8],
    freqs: &[u32],
) -> ContextTable {
    let mut start = 0;
    let entries: Box<[Entry]> = ranks
        .iter()
        .zip(freqs)
        .map(|(&r, &f)| {
            let freq = f << (scale - s);
            let e = Entry {
                symbol: alphabet[r as usize],
                rank: r,
                freq_c: f,
                start,
                freq,
            };
            start += freq;
            e
        })
        .collect();
    debug_assert_eq!(start, 1 << scale);
    ContextTable {
        context,
        scale_c: s as u8,
        scale: scale as u8,
        entries,
    }
}

fn corrupt(what: &'static str) -> Error {
    Error::Corrupt { what }
}

/// Checks `1 <= order <= MAX_STATIC_ORDER`.
pub fn check_order(order: u32) -> Result<()> {
    if !(1..=MAX_STATIC_ORDER).contains(&order) {
        return Err(Error::LimitExceeded {
            what: "static context order",
            got: order.into(),
            max: MAX_STATIC_ORDER.into(),
        });
    }
    Ok(())
}

/// `2^(8k) - 1` as a u32 (all ones for `k = 4`).
pub fn context_mask(order: u32) -> u32 {
    if order >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * order)) - 1
    }
}

/// The order a static order-k payload was coded with: its first byte, checked against
/// the header's order (the encoder may fall back to a lower order, or to 0).
pub fn payload_order(payload: &[u8], header_order: u32) -> Result<u32> {
    let &used = payload.first().ok_or(Error::Truncated {
        what: "static order-k payload",
        needed: 1,
        available: 0,
    })?;
    if u32::from(used) > header_order {
        return Err(Error::LimitExceeded {
            what: "order used by a block",
            got: used.into(),
            max: header_order.into(),
        });
    }
    Ok(used.into())
}

/// Ideal code length in bits of `data` under the order-k model built from exact
/// (unquantised) counts in the given lanes: `sum_c sum_s n(c,s) log2(n(c) / n(c,s))`.
pub fn exact_code_length(data: &[u8], order: u32, lanes: Lanes) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let h = histograms(data, &Counts::of(data), order, lanes);
    h.iter()
        .map(|(_, syms)| {
            let nc: u64 = syms.iter().map(|&(_, c)| c).sum();
            syms.iter()
                .map(|&(_, c)| c as f64 * (nc as f64 / c as f64).log2())
                .sum::<f64>()
        })
        .sum()
}

/// The [`Model`] of an [`OrderKTable`] in data order with one lane.
#[derive(Clone, Debug)]
pub struct StaticOrderK<'a> {
    table: &'a OrderKTable,
    /// The last `k` bytes, most recent in the low byte.
    context: u32,
    mask: u32,
}

impl<'a> StaticOrderK<'a> {
    /// The model at the start of a block (zero context).
    pub fn new(table: &'a OrderKTable) -> StaticOrderK<'a> {
        StaticOrderK {
            table,
            context: 0,
            mask: table.context_mask(),
        }
    }
}

impl Model for StaticOrderK<'_> {
    type Dist = ContextTable;

    #[inline]
    fn predict(&mut self) -> &ContextTable {
        self.table.dist(self.context)
    }

    #[inline]
    fn update(&mut self, symbol: u8) {
        self.context = (self.context << 8 | u32::from(symbol)) & self.mask;
    }
}

/// Forward bit writer for tables: low bit of each byte first.
struct TableWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl<'a> TableWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> TableWriter<'a> {
        TableWriter { out, acc: 0, n: 0 }
    }

    /// Writes the low `n <= 48` bits of `v`.
    #[inline]
    fn bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 48 && (n == 0 || v >> n == 0));
        // Fewer than 8 bits wait in `acc`, so it holds at most 55: whole bytes out at
        // once, no loop.
        self.acc |= v << self.n;
        self.n += n;
        let whole = self.n / 8;
        // Eight bytes out (one store), the ones not yet whole taken back.
        self.out.extend_from_slice(&self.acc.to_le_bytes());
        self.out.truncate(self.out.len() - 8 + whole as usize);
        // whole <= 6: the shift is below 64.
        self.acc >>= 8 * whole;
        self.n -= 8 * whole;
    }

    /// Elias gamma of `v >= 1` (design note, item 4).
    #[inline]
    fn gamma(&mut self, v: u64) {
        debug_assert!(v >= 1);
        let len = 64 - v.leading_zeros();
        if len <= 24 {
            // All 2 len - 1 <= 47 bits at once: len - 1 zeros, a one, the low bits.
            self.bits((v ^ (1 << (len - 1))) << len | 1 << (len - 1), 2 * len - 1);
            return;
        }
        self.bits(0, len - 1);
        self.bits(1, 1);
        // Low bits in pieces of at most 32.
        let low = v & !(1u64 << (len - 1));
        let mut rest = len - 1;
        let mut val = low;
        while rest > 0 {
            let take = rest.min(32);
            self.bits(val & ((1u64 << take) - 1), take);
            val >>= take;
            rest -= take;
        }
    }

    fn finish(mut self) {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.bits(0, pad);
        }
    }
}

/// Receives an order-k table context by context as [`read_table`] checks it, so that a
/// decoder can build its own tables without an [`OrderKTable`] in between. A sink sees
/// only fields that passed their checks, but an error later in the table voids them.
pub trait TableSink {
    /// Called once, before any context: the block's bytes in rank order (`1..=256`,
    /// distinct), the block scale `S <= MAX_CONTEXT_SCALE` and the number of contexts
    /// that follow (at most the block length and half the table's bits).
    fn begin(&mut self, alphabet: &[u8], scale: u32, contexts: usize);

    /// One context, in increasing key order: its bytes (most recent in the low byte),
    /// its precision `s <= S`, the ranks of its symbols (strictly increasing, each below
    /// the alphabet's length, at most `2^s` of them) and their frequencies at precision
    /// `s` (each `>= 1`, summing to `2^s`).
    fn context(&mut self, context: u32, s: u32, ranks: &[u8], freqs: &[u32]);
}

/// The [`TableSink`] of [`OrderKTable::read`]: the contexts as [`ContextTable`]s.
#[derive(Default)]
struct CollectContexts {
    alphabet: Vec<u8>,
    scale: u32,
    contexts: Vec<ContextTable>,
}

impl TableSink for CollectContexts {
    fn begin(&mut self, alphabet: &[u8], scale: u32, contexts: usize) {
        self.alphabet = alphabet.to_vec();
        self.scale = scale;
        self.contexts = Vec::with_capacity(contexts);
    }

    fn context(&mut self, context: u32, s: u32, ranks: &[u8], freqs: &[u32]) {
        let t = context_table(context, s, self.scale, &self.alphabet, ranks, freqs);
        self.contexts.push(t);
    }
}

/// Parses a table written by [`OrderKTable::write`] from the whole of `input` (every
/// byte must belong to the table, padding bits zero) for a block of `raw_len` bytes and
/// block scales up to `max_scale`, checking every field (design note, item 5), and hands
/// it to `sink` as it goes. Allocates nothing; the sink decides what to keep. Inlined,
/// so that a caller compiled for more CPU features reads with them.
#[inline(always)]
pub fn read_table<T: TableSink>(
    input: &[u8],
    order: u32,
    max_scale: u32,
    raw_len: usize,
    sink: &mut T,
) -> Result<()> {
    check_order(order)?;
    let max_scale = max_scale.min(MAX_CONTEXT_SCALE);
    let mut r = TableReader::new(input);
    let m = r.bits(8)? as usize + 1;
    let mut alphabet = [0u8; 256];
    let mut listed = [false; 256];
    for a in alphabet[..m].iter_mut() {
        let s = r.bits(8)? as u8;
        if listed[s as usize] {
            return Err(corrupt("byte listed twice in an order-k table"));
        }
        listed[s as usize] = true;
        *a = s;
    }
    let alphabet = &alphabet[..m];
    let scale = r.bits(4)? as u32;
    if scale > max_scale {
        return Err(Error::LimitExceeded {
            what: "order-k table scale",
            got: scale.into(),
            max: max_scale.into(),
        });
    }
    let nctx = r.gamma()?;
    // Every context takes at least 2 bits (gap and precision).
    let bound = (raw_len as u64).min(r.bits_left() / 2);
    if nctx > bound {
        return Err(Error::LimitExceeded {
            what: "contexts in an order-k table",
            got: nctx,
            max: bound,
        });
    }
    sink.begin(alphabet, scale, nctx as usize);
    let key_end = (m as u64 + 1).pow(order);
    let zero_listed = listed[0];
    let mut key: Option<u64> = None;
    // A context has at most `m <= 256` symbols (checked below).
    let mut ranks = [0u8; 256];
    let mut freqs = [0u32; 256];
    for _ in 0..nctx {
        let gap = r.gamma()?;
        let k = match key {
            None => gap - 1,
            // `ok_or_else`: an error built and dropped for every context costs more than
            // the context's other checks.
            Some(p) => p
                .checked_add(gap)
                .ok_or_else(|| corrupt("context key overflows"))?,
        };
        if k >= key_end {
            return Err(corrupt("context key out of range"));
        }
        key = Some(k);
        let context = context_of_key(k, order, alphabet, zero_listed)
            .ok_or_else(|| corrupt("context key names an unlisted byte"))?;
        let s = r.gamma()? - 1;
        if s > u64::from(scale) {
            return Err(Error::LimitExceeded {
                what: "context precision",
                got: s,
                max: scale.into(),
            });
        }
        let s = s as u32;
        if s == 0 {
            let rank = r.gamma()? - 1;
            if rank >= m as u64 {
                return Err(corrupt("symbol rank out of range"));
            }
            ranks[0] = rank as u8;
            freqs[0] = 1;
            sink.context(context, 0, &ranks[..1], &freqs[..1]);
            continue;
        }
        let nsym = r.gamma()?;
        let most = (m as u64).min(1 << s);
        if nsym > most {
            return Err(Error::LimitExceeded {
                what: "symbols in a context",
                got: nsym,
                max: most,
            });
        }
        // 1 <= nsym <= m <= 256 from here on.
        let nsym = nsym as usize;
        let mut next_min = 0u64; // the smallest rank still allowed
        for slot in ranks[..nsym].iter_mut() {
            // First rank + 1, then rank - previous rank: both `rank - next_min + 1`.
            let rank = next_min + r.gamma()? - 1;
            if rank >= m as u64 {
                return Err(corrupt("symbol rank out of range"));
            }
            *slot = rank as u8;
            next_min = rank + 1;
        }
        let total = 1u64 << s;
        let mut sum = 0u64;
        for (i, slot) in freqs[..nsym - 1].iter_mut().enumerate() {
            let f = r.gamma()?;
            sum += f;
            // Every symbol still to come needs at least 1.
            if sum + (nsym - 1 - i) as u64 > total {
                return Err(corrupt("context frequencies exceed their total"));
            }
            *slot = f as u32;
        }
        freqs[nsym - 1] = (total - sum) as u32;
        sink.context(context, s, &ranks[..nsym], &freqs[..nsym]);
    }
    r.finish()
}

/// [`key_to_context`] of a key below `(m + 1)^order` (which the caller checks): for
/// orders 1 and 2 without 64-bit divisions (the key is below `257^2`).
#[inline]
fn context_of_key(key: u64, order: u32, alphabet: &[u8], zero_listed: bool) -> Option<u32> {
    // The byte of a digit: 0 for the padding digit 0 (only if byte 0 is not listed).
    let byte = |d: u32| match d {
        0 if zero_listed => None,
        0 => Some(0),
        _ => alphabet.get(d as usize - 1).map(|&b| u32::from(b)),
    };
    let base = alphabet.len() as u32 + 1;
    match order {
        1 if key < u64::from(base) => byte(key as u32),
        // The most significant digit is the most recent byte.
        2 if key < u64::from(base * base) => {
            let key = key as u32;
            Some(byte(key / base)? | byte(key % base)? << 8)
        }
        _ => key_to_context(key, order, alphabet, zero_listed),
    }
}

/// Forward bit reader for tables; every read is bounds-checked. Reads come from a
/// 64-bit buffer of the next bits, refilled by one unaligned 8-byte load while 8 bytes
/// are left (so that a gamma code's chain is its trailing-zero count and a shift, not a
/// load); in the last 8 bytes of the table, and for codes the buffer cannot hold, they
/// go bit by bit, with the same results and errors.
struct TableReader<'a> {
    data: &'a [u8],
    /// Bits read so far.
    pos: u64,
    /// The table's bits `pos..pos + avail`, bit `pos` in bit 0; the bits above zero.
    buf: u64,
    /// Valid bits in `buf`, at most 64.
    avail: u32,
}

/// Longest gamma code accepted: values below `2^MAX_GAMMA_BITS`.
const MAX_GAMMA_BITS: u32 = 40;

impl<'a> TableReader<'a> {
    fn new(data: &'a [u8]) -> TableReader<'a> {
        TableReader {
            data,
            pos: 0,
            buf: 0,
            avail: 0,
        }
    }

    fn bits_left(&self) -> u64 {
        8 * self.data.len() as u64 - self.pos
    }

    /// Fills the buffer from `pos`: `64 - pos mod 8 >= 57` bits if 8 bytes are left from
    /// the current byte, else none.
    #[inline(always)]
    fn refill(&mut self) {
        let at = (self.pos >> 3) as usize;
        (self.buf, self.avail) = match self.data.get(at..).and_then(|d| d.first_chunk()) {
            Some(word) => (
                u64::from_le_bytes(*word) >> (self.pos & 7),
                64 - (self.pos & 7) as u32,
            ),
            None => (0, 0),
        };
    }

    /// Takes `n < 64` bits known to be in the buffer.
    #[inline(always)]
    fn consume(&mut self, n: u32) {
        debug_assert!(n < 64 && n <= self.avail);
        self.buf >>= n;
        self.avail -= n;
        self.pos += u64::from(n);
    }

    fn bit(&mut self) -> Result<u64> {
        // A `let else`, not `ok_or`: an error built and dropped for every bit cost about
        // a tenth of reading the table.
        let Some(byte) = self.data.get((self.pos >> 3) as usize) else {
            return Err(Error::Truncated {
                what: "order-k table",
                needed: (self.pos >> 3) + 1,
                available: self.data.len() as u64,
            });
        };
        let b = (byte >> (self.pos & 7)) & 1;
        self.pos += 1;
        Ok(u64::from(b))
    }

    /// `n <= 40` bits, the first read in bit 0.
    #[inline(always)]
    fn bits(&mut self, n: u32) -> Result<u64> {
        debug_assert!(n <= MAX_GAMMA_BITS);
        if n > self.avail {
            self.refill();
            if n > self.avail {
                return self.bits_slowly(n);
            }
        }
        let v = self.buf & ((1u64 << n) - 1);
        self.consume(n);
        Ok(v)
    }

    /// [`TableReader::bits`] bit by bit; empties the buffer.
    fn bits_slowly(&mut self, n: u32) -> Result<u64> {
        (self.buf, self.avail) = (0, 0);
        let mut v = 0;
        for i in 0..n {
            v |= self.bit()? << i;
        }
        Ok(v)
    }

    /// Elias gamma: a value `>= 1` below `2^MAX_GAMMA_BITS`. From the buffer, the zeros
    /// are its trailing zeros `z` (zeros above the valid bits make the code too long for
    /// the buffer), the one after them is the value's top bit `2^z` and the `z` bits after
    /// that its low bits; a code of `2 z + 1 <= 64` bits has `z <= 31 < MAX_GAMMA_BITS`.
    #[inline(always)]
    fn gamma(&mut self) -> Result<u64> {
        let mut zeros = self.buf.trailing_zeros();
        if 2 * zeros + 1 > self.avail {
            self.refill();
            zeros = self.buf.trailing_zeros();
            if 2 * zeros + 1 > self.avail {
                return self.gamma_slowly();
            }
        }
        let v = 1 << zeros | (self.buf >> (zeros + 1)) & ((1u64 << zeros) - 1);
        self.consume(2 * zeros + 1);
        Ok(v)
    }

    /// [`TableReader::gamma`] bit by bit (empties the buffer): near the end of the table
    /// and for codes longer than the buffer (which are also where a run of
    /// [`MAX_GAMMA_BITS`] zeros is caught).
    #[cold]
    fn gamma_slowly(&mut self) -> Result<u64> {
        (self.buf, self.avail) = (0, 0);
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros >= MAX_GAMMA_BITS {
                return Err(corrupt("gamma code too long in an order-k table"));
            }
        }
        Ok(1 << zeros | self.bits_slowly(zeros)?)
    }

    /// Checks that only zero padding (fewer than 8 bits) is left.
    fn finish(mut self) -> Result<()> {
        if self.bits_left() >= 8 {
            return Err(corrupt("bytes left over after an order-k table"));
        }
        while self.bits_left() > 0 {
            if self.bit()? != 0 {
                return Err(corrupt("order-k table padding is not zero"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::conditional_entropy;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog; the dog sleeps, the fox runs. \
          abracadabra abracadabra \x00\x00\x01 the end"
            .to_vec()
    }

    /// The precision search on the contexts of real blocks (book1 and kennedy.xls in
    /// 128 KiB blocks, order 1, four lanes) makes the choice of the plain search over
    /// every precision; prints how many normaliser runs it takes.
    #[test]
    fn precision_search_on_corpus_blocks() {
        for name in ["calgary/book1", "canterbury/kennedy.xls"] {
            let path = format!("{}/corpora/{name}", env!("CARGO_MANIFEST_DIR"));
            let data = std::fs::read(&path).unwrap();
            let (mut contexts, mut work) = (0, Normalizer::default());
            for block in data.chunks(128 << 10) {
                let counts = Counts::of(block);
                let h = histograms(block, &counts, 1, Lanes::Four);
                for (_, syms) in h.iter() {
                    let ranks: Vec<u8> = syms.iter().map(|&(r, _)| r).collect();
                    let c: Vec<u64> = syms.iter().map(|&(_, c)| c).collect();
                    let got = best_precision(CostKind::Ideal, 12, &ranks, &c, &mut work).unwrap();
                    let want = plain_precision(CostKind::Ideal, 12, &ranks, &c);
                    assert_eq!((got.0, &got.1, got.2), (want.0, &want.1, want.2));
                    assert_eq!(got.3.to_bits(), want.3.to_bits());
                    contexts += 1;
                }
            }
            println!("{name}: {contexts} contexts, {} normaliser runs", work.runs);
        }
    }

    /// The choice of [`best_precision`] by trying every precision with
    /// [`crate::model::normalize()`], [`context_bits`] and [`coded_bits`].
    fn plain_precision(
        kind: CostKind,
        max_scale: u32,
        ranks: &[u8],
        counts: &[u64],
    ) -> (u32, Vec<u32>, u64, f64) {
        let nsym = counts.len();
        let total: u64 = counts.iter().sum();
        let min_s = if nsym == 1 {
            0
        } else {
            usize::BITS - (nsym - 1).leading_zeros()
        };
        let max_s = max_scale.min(64 - total.leading_zeros() + 1).max(min_s);
        let mut plain: Option<(u32, Vec<u32>, u64, f64)> = None;
        for s in min_s..=max_s {
            let freqs: Vec<u32> = if s == 0 {
                vec![1]
            } else {
                let mut hist = Counts::default();
                hist.0[..nsym].copy_from_slice(counts);
                crate::model::normalize(&hist, s).unwrap()[..nsym].to_vec()
            };
            let tb = context_bits(s, ranks, &freqs);
            let cb = coded_bits(kind, s, counts, &freqs);
            if plain
                .as_ref()
                .is_none_or(|b| tb as f64 + cb < b.2 as f64 + b.3 - 1e-9)
            {
                plain = Some((s, freqs, tb, cb));
            }
        }
        plain.unwrap()
    }

    #[test]
    fn exact_counts_give_n_times_h_k() {
        for data in [sample(), vec![0, 0, 0, 1], b"aaaaaaab".to_vec()] {
            for k in 1..=3 {
                let bits = exact_code_length(&data, k, Lanes::One);
                let h = conditional_entropy(&data, k).bits_per_byte * data.len() as f64;
                assert!((bits - h).abs() < 1e-6 * h.max(1.0), "k={k}: {bits} vs {h}");
            }
        }
    }

    #[test]
    fn quantised_model_codes_near_the_exact_one() {
        let data = sample();
        for k in 1..=3 {
            let (t, cost) = OrderKTable::build(&data, k, Lanes::One, 12, CostKind::Ideal).unwrap();
            // Walk the model and sum -log2 p.
            let mut m = StaticOrderK::new(&t);
            let mut bits = 0.0;
            for &b in &data {
                let d = m.predict();
                let iv = d.interval(b).unwrap();
                bits += f64::from(d.scale_bits()) - f64::from(iv.freq).log2();
                m.update(b);
            }
            assert!((bits - cost.coded_bits).abs() < 1e-6 * bits.max(1.0));
            assert!(bits >= exact_code_length(&data, k, Lanes::One) - 1e-6);
        }
    }

    fn round_trip(data: &[u8], k: u32, lanes: Lanes, kind: CostKind) -> Vec<u8> {
        let (t, cost) = OrderKTable::build(data, k, lanes, 12, kind).unwrap();
        let mut buf = Vec::new();
        t.write(&mut buf);
        assert_eq!(buf.len() as u64, cost.table_bits.div_ceil(8));
        let u = OrderKTable::read(&buf, k, 12, data.len()).unwrap();
        assert_eq!(t.alphabet, u.alphabet);
        assert_eq!(t.contexts, u.contexts);
        assert_eq!(t.scale, u.scale);
        buf
    }

    #[test]
    fn all_bytes_and_padding_contexts() {
        let all: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
        for k in 1..=MAX_STATIC_ORDER {
            round_trip(&all, k, Lanes::One, CostKind::Ideal);
            round_trip(&[7], k, Lanes::Four, CostKind::Huffman);
            round_trip(&[7, 0, 7, 7, 0, 1], k, Lanes::Four, CostKind::Ideal);
        }
    }

    fn same_histograms(a: &Histograms, b: &Histograms) -> bool {
        a.alphabet == b.alphabet && a.iter().eq(b.iter())
    }

    #[test]
    fn dense_histograms_equal_sorted_ones_on_corpus_files() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        for f in ["calgary/book1", "calgary/obj2", "canterbury/kennedy.xls"] {
            let data = std::fs::read(root.join(f)).unwrap();
            let (alphabet, rank, listed) = rank_bytes(&data);
            for k in 1..=2 {
                for lanes in [Lanes::One, Lanes::Four] {
                    let d = histograms_dense(&data, k, lanes, alphabet.clone(), &rank, &listed);
                    let s = histograms_sorted(&data, k, lanes, alphabet.clone(), &rank, &listed);
                    assert!(same_histograms(&d, &s), "{f} order {k} {lanes:?}");
                    if k == 1 {
                        let o = histograms_o1(&data, lanes, alphabet.clone(), &rank, &listed);
                        assert!(same_histograms(&o, &s), "{f} order-1 rows {lanes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn pair_counts_equal_byte_counts_and_sorted_histograms_on_corpus_files() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        for f in ["calgary/book1", "calgary/obj2", "canterbury/kennedy.xls"] {
            let data = std::fs::read(root.join(f)).unwrap();
            let (alphabet, rank, listed) = rank_bytes(&data);
            for lanes in [Lanes::One, Lanes::Four] {
                let pairs = PairCounts::of(&data, lanes).expect("a large block");
                assert_eq!(pairs.lanes(), lanes);
                assert_eq!(pairs.counts(), Counts::of(&data), "{f} {lanes:?}");
                let p = pairs.histograms(alphabet.clone(), &listed);
                let s = histograms_sorted(&data, 1, lanes, alphabet.clone(), &rank, &listed);
                assert!(same_histograms(&p, &s), "{f} {lanes:?}");
                for kind in [CostKind::Ideal, CostKind::Huffman] {
                    let counts = pairs.counts();
                    let (a, ca) = OrderKTable::build_pairs(&pairs, &counts, 12, kind).unwrap();
                    let (b, cb) = OrderKTable::build(&data, 1, lanes, 12, kind).unwrap();
                    assert_eq!(ca, cb, "{f} {lanes:?} {kind:?}");
                    let (mut wa, mut wb) = (Vec::new(), Vec::new());
                    a.write(&mut wa);
                    b.write(&mut wb);
                    assert_eq!(wa, wb, "{f} {lanes:?} {kind:?}");
                }
            }
        }
    }

    #[test]
    fn pair_counts_skip_small_blocks() {
        assert!(PairCounts::of(&[1; PAIR_COUNTS_MIN_LEN - 1], Lanes::Four).is_none());
        let pairs = PairCounts::of(&[1; PAIR_COUNTS_MIN_LEN], Lanes::Four).unwrap();
        // Four lanes: four positions after the padding, the rest after a 1.
        assert_eq!(pairs.rows[1 << 8], 4);
        assert_eq!(pairs.rows[1 << 8 | 1], PAIR_COUNTS_MIN_LEN as u32 - 4);
    }

    proptest! {
        #[test]
        fn pair_histograms_equal_sorted_ones(data in proptest::collection::vec(prop_oneof![4 => 0u8..5, 1 => any::<u8>()], 4..600), four in any::<bool>()) {
            let lanes = if four { Lanes::Four } else { Lanes::One };
            let (alphabet, rank, listed) = rank_bytes(&data);
            let pairs = PairCounts::count(&data, lanes);
            prop_assert_eq!(pairs.counts(), Counts::of(&data));
            let p = pairs.histograms(alphabet.clone(), &listed);
            let s = histograms_sorted(&data, 1, lanes, alphabet, &rank, &listed);
            prop_assert!(same_histograms(&p, &s));
        }

        #[test]
        fn dense_histograms_equal_sorted_ones(data in proptest::collection::vec(prop_oneof![4 => 0u8..5, 1 => any::<u8>()], 1..600), k in 1u32..=2, four in any::<bool>()) {
            let lanes = if four { Lanes::Four } else { Lanes::One };
            let (alphabet, rank, listed) = rank_bytes(&data);
            let d = histograms_dense(&data, k, lanes, alphabet.clone(), &rank, &listed);
            let s = histograms_sorted(&data, k, lanes, alphabet.clone(), &rank, &listed);
            prop_assert!(same_histograms(&d, &s));
            if k == 1 {
                let o = histograms_o1(&data, lanes, alphabet, &rank, &listed);
                prop_assert!(same_histograms(&o, &s));
            }
        }

        #[test]
        fn fast_normalizer_equals_normalize(counts in proptest::collection::vec(prop_oneof![3 => 1u64..20, 2 => 1u64..5000, 1 => 1u64..2_000_000], 1..80), extra in 0u32..=6) {
            let nsym = counts.len();
            let min_s = usize::BITS - (nsym.max(2) - 1).leading_zeros();
            let s = (min_s + extra).min(16);
            let mut hist = Counts::default();
            hist.0[..nsym].copy_from_slice(&counts);
            let want = crate::model::normalize(&hist, s).unwrap();
            let mut work = Normalizer::default();
            let got = work.run(&counts, s).unwrap();
            prop_assert_eq!(got, &want[..nsym]);
        }

        /// The search with its shortcuts picks what trying every precision with the
        /// reference normaliser picks, with the same bits.
        #[test]
        fn best_precision_equals_the_plain_search(counts in proptest::collection::vec(prop_oneof![3 => 1u64..20, 2 => 1u64..5000, 1 => 1u64..2_000_000], 1..80), max_scale in 0u32..=12, huffman in any::<bool>()) {
            let kind = if huffman { CostKind::Huffman } else { CostKind::Ideal };
            let nsym = counts.len();
            let ranks: Vec<u8> = (0..nsym).map(|i| (i * 3) as u8).collect();
            let (s, freqs, tb, cb) = plain_precision(kind, max_scale, &ranks, &counts);
            let got = best_precision(kind, max_scale, &ranks, &counts, &mut Normalizer::default()).unwrap();
            prop_assert_eq!((got.0, &got.1, got.2), (s, &freqs, tb));
            prop_assert_eq!(got.3.to_bits(), cb.to_bits());
        }

        /// The monotone lower bound is below the bits of every precision.
        #[test]
        fn cost_bound_is_below_every_precision(counts in proptest::collection::vec(prop_oneof![3 => 1u64..20, 2 => 1u64..5000, 1 => 1u64..2_000_000], 2..80)) {
            let nsym = counts.len();
            let ranks: Vec<u8> = (0..nsym).map(|i| (i * 3) as u8).collect();
            let rank_bits = context_bits(1, &ranks, &[1]) - gamma_len(2);
            let bound = CostBound::new(&counts, rank_bits, log_tables());
            let min_s = usize::BITS - (nsym - 1).leading_zeros();
            for s in min_s..=16 {
                let mut hist = Counts::default();
                hist.0[..nsym].copy_from_slice(&counts);
                let freqs = crate::model::normalize(&hist, s).unwrap()[..nsym].to_vec();
                let bits = context_bits(s, &ranks, &freqs) as f64
                    + coded_bits(CostKind::Ideal, s, &counts, &freqs);
                prop_assert!(bound.low(s) - bound.slack <= bits + 1e-6, "s {} bits {}", s, bits);
            }
        }

        /// The search's lower bound is below the bits of every precision it can rule out.
        #[test]
        fn precision_bound_is_below_the_bits(counts in proptest::collection::vec(prop_oneof![3 => 1u64..20, 2 => 1u64..5000, 1 => 1u64..2_000_000], 2..80)) {
            let nsym = counts.len();
            let ranks: Vec<u8> = (0..nsym).map(|i| (i * 3) as u8).collect();
            let rank_bits = context_bits(1, &ranks, &[1]) - gamma_len(2);
            let total: u64 = counts.iter().sum();
            let min_s = usize::BITS - (nsym - 1).leading_zeros();
            let mut all_bits = Vec::new();
            for s in min_s..=16 {
                let mut hist = Counts::default();
                hist.0[..nsym].copy_from_slice(&counts);
                let freqs = crate::model::normalize(&hist, s).unwrap()[..nsym].to_vec();
                let bits = context_bits(s, &ranks, &freqs) as f64
                    + coded_bits(CostKind::Ideal, s, &counts, &freqs);
                let fixed = gamma_len(u64::from(s) + 1) + rank_bits;
                let bound = if s <= MAX_CONTEXT_SCALE {
                    precision_bound::<true, true>(&counts, total, s, fixed, log_tables())
                } else {
                    precision_bound::<false, true>(&counts, total, s, fixed, log_tables())
                };
                prop_assert!(bound <= bits + 1e-6, "s {} bits {} bound {}", s, bits, bound);
                all_bits.push(bits);
            }
            // The coded bits' bound at s0 holds at every s <= s0 with the smallest
            // table bits.
            for s0 in min_s..=16 {
                let fixed = gamma_len(u64::from(min_s) + 1) + rank_bits + nsym as u64 - 1;
                let coded = if s0 <= MAX_CONTEXT_SCALE {
                    precision_bound::<true, false>(&counts, total, s0, fixed, log_tables())
                } else {
                    precision_bound::<false, false>(&counts, total, s0, fixed, log_tables())
                };
                for (s, &bits) in (min_s..=s0).zip(&all_bits) {
                    prop_assert!(coded <= bits + 1e-6, "s0 {} s {} bits {} bound {}", s0, s, bits, coded);
                }
            }
        }

        #[test]
        fn tables_round_trip(data in proptest::collection::vec(0u8..6, 1..400), k in 1u32..=4, four in any::<bool>()) {
            let lanes = if four { Lanes::Four } else { Lanes::One };
            let buf = round_trip(&data, k, lanes, CostKind::Ideal);
            for cut in 0..buf.len() {
                prop_assert!(OrderKTable::read(&buf[..cut], k, 12, data.len()).is_err());
            }
        }

        #[test]
        fn damaged_tables_never_panic(data in proptest::collection::vec(any::<u8>(), 1..300), k in 1u32..=3, flips in proptest::collection::vec(any::<u32>(), 1..4)) {
            let (t, _) = OrderKTable::build(&data, k, Lanes::One, 12, CostKind::Ideal).unwrap();
            let mut buf = Vec::new();
            t.write(&mut buf);
            for f in flips {
                let bit = f as usize % (8 * buf.len());
                buf[bit / 8] ^= 1 << (bit % 8);
            }
            if let Ok(u) = OrderKTable::read(&buf, k, 12, data.len()) {
                for c in u.contexts() {
                    let sum: u32 = c.entries().iter().map(|e| e.freq).sum();
                    prop_assert_eq!(sum, 1 << u.scale_bits());
                }
            }
        }

        #[test]
        fn random_tables_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), k in 1u32..=4, raw_len in 1usize..5000) {
            let _ = OrderKTable::read(&bytes, k, 12, raw_len);
        }
    }

    /// Reads `ops` (`0` a gamma code, `n > 0` a field of `n` bits) from `bytes` with the
    /// buffered reader and bit by bit: every value, error and position must agree.
    fn fast_and_slow_reads_agree(bytes: &[u8], ops: &[u32]) {
        let (mut fast, mut slow) = (TableReader::new(bytes), TableReader::new(bytes));
        for &op in ops {
            let (a, b) = if op == 0 {
                (fast.gamma(), slow.gamma_slowly())
            } else {
                (fast.bits(op), slow.bits_slowly(op))
            };
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "op {op} at bit {}",
                slow.pos
            );
            assert_eq!(fast.pos, slow.pos);
            if a.is_err() {
                return;
            }
        }
    }

    /// Gamma codes of every length around the buffer's limit (28 to 31 zeros, by the bit
    /// offset) and the longest accepted one (39 zeros), far from the end of the table and
    /// across it.
    #[test]
    fn peeked_gamma_codes_equal_the_bit_by_bit_ones() {
        for zeros in [0u32, 1, 7, 27, 28, 29, 30, 31, 32, 38, 39, 40, 41, 63, 64] {
            let mut bits = vec![false; zeros as usize];
            bits.push(true);
            bits.extend((0..zeros).map(|i| i % 3 != 1));
            for lead in 0..9 {
                for tail in [0usize, 1, 7, 8, 9, 64, 80] {
                    let mut all = vec![true; lead];
                    all.extend(&bits);
                    all.resize(all.len() + tail, false);
                    let mut bytes = vec![0u8; all.len().div_ceil(8)];
                    for (i, _) in all.iter().enumerate().filter(|(_, b)| **b) {
                        bytes[i / 8] |= 1 << (i % 8);
                    }
                    let mut ops = vec![0u32; lead];
                    ops.extend([0, 0, 5, 0]);
                    fast_and_slow_reads_agree(&bytes, &ops);
                    let mut r = TableReader::new(&bytes);
                    for _ in 0..lead {
                        assert_eq!(r.gamma().unwrap(), 1);
                    }
                    match r.gamma() {
                        Ok(v) => {
                            assert!(zeros < MAX_GAMMA_BITS);
                            assert_eq!(v >> zeros, 1, "zeros {zeros}");
                            let low = (0..zeros).filter(|i| i % 3 != 1).map(|i| 1u64 << i);
                            assert_eq!(v, 1 << zeros | low.sum::<u64>());
                        }
                        Err(Error::Corrupt { .. }) => assert!(zeros >= MAX_GAMMA_BITS),
                        Err(e) => assert!(matches!(e, Error::Truncated { .. })),
                    }
                }
            }
        }
    }

    /// The table reader's key decoding equals `key_to_context` for every key of orders 1
    /// and 2 (and some above the range), with and without byte 0 listed.
    #[test]
    fn keys_of_orders_1_and_2_decode_as_key_to_context() {
        let alphabets: [Vec<u8>; 6] = [
            vec![0],
            vec![7],
            vec![3, 0, 9],
            (1..=255).collect(),
            (0..=255).rev().collect(),
            b"etaoin shrdlu".to_vec(),
        ];
        for alphabet in &alphabets {
            let zero_listed = alphabet.contains(&0);
            let base = alphabet.len() as u64 + 1;
            for order in 1..=3 {
                for key in 0..base.pow(order).min(70_000) + 3 {
                    assert_eq!(
                        context_of_key(key, order, alphabet, zero_listed),
                        key_to_context(key, order, alphabet, zero_listed),
                        "order {order} key {key} of {} bytes",
                        alphabet.len()
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn peeking_reader_equals_the_bit_by_bit_one(bytes in proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..64), ops in proptest::collection::vec(prop_oneof![3 => Just(0u32), 1 => 1u32..=40], 1..60)) {
            fast_and_slow_reads_agree(&bytes, &ops);
        }
    }
}
