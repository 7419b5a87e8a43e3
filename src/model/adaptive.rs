//! Adaptive order-k context model: PPM with escapes and exclusion, flattened into one
//! distribution per byte.
//!
//! # Read me first
//!
//! **What is predicted.** Before each byte the model holds the contexts of orders
//! `order, order-1, ..., 0` (the last `k` bytes; bytes before the start read as zero).
//! Each context that exists keeps a short list of the symbols that followed it with a
//! small count each. PPM codes a byte in the longest context that has seen it, paying an
//! *escape* for every context passed on the way down, with *exclusion* (a symbol seen in a
//! longer context is removed from the shorter ones, since it would have been coded there).
//! Instead of coding escapes as separate events we flatten the whole descent into ONE
//! distribution over the 256 bytes with total `2^16` ([`SCALE_BITS`]), so a coder sees
//! one `(start, freq)` per byte and the ideal code length is the PPM code length up to
//! quantisation.
//!
//! **Flattening (the levels).** Walk the contexts from the longest down; each context
//! with at least one symbol not yet excluded is a *level*. State: `base` (start of the
//! region still to be shared out), `R` (its size, `2^16` at first) and `u` (symbols not
//! yet given a slot, `256` at first). At a level with `n` fresh symbols of weights `w_i`
//! (sum `W`) and escape probability `p` (16-bit fixed point, from SEE below):
//!
//! ```text
//! u' = u - n                      symbols left for the shorter levels
//! A  = R - u'                     slots this level may hand out (one is kept for each of u')
//! S  = A - n                      spare slots, shared by weight
//! M  = floor(S (2^16 - p) floor((2^32 - 1) / W) / 2^16)    spare slots per unit of
//!      weight, 32.32 fixed point: 2^32 S (1 - p) / W rounded down, a little more (less
//!      than 2^-16 relatively), from a table of reciprocals instead of a division
//! start_i = base + i + floor(cumW_i * M / 2^32)    i-th fresh symbol, cumW_i = w_0 + .. + w_{i-1}
//! freq_i  = 1 + floor(cumW_{i+1} M / 2^32) - floor(cumW_i M / 2^32)   >= 1
//! width   = n + floor(W M / 2^32) <= n + S (1 - p)
//! base += width,  R -= width,  u = u'       (the escape keeps R - width >= u' slots)
//! ```
//!
//! When `u' = 0` nothing is left to escape to: `p = 0` and the last fresh symbol takes
//! every spare slot left, so `width = A = R`. Invariant `R >= u` at every level
//! (`R - width >= A - n - S = u'`), so after the last level the remaining `R` slots are
//! shared uniformly by the `u` symbols never seen (order -1): `q = R / u`, the first
//! `R % u` of them (in byte order) get `q + 1`, the rest `q`. The intervals of all 256
//! symbols tile `[0, 2^16)` exactly and every symbol has `freq >= 1`. `symbol_at` walks
//! the same levels and inverts `start_i` with multiplications only
//! (`start_i - base > t` iff `i > t` or `cumW_i M >= (t - i + 1) 2^32`). No division on
//! the way; cost O(symbols in the contexts passed), never a 256-entry table build.
//!
//! **Weights and escapes.** A symbol of count `c` weighs `w = 2c - 1` (Howard's method
//! D: a symbol seen once is worth half a count). Exclusion drops the weights of excluded
//! symbols from `W`. The escape probability comes from a small SEE table (secondary
//! escape estimation): a cell per (order, number of fresh symbols in 8 buckets, whether
//! this is the first level, `floor(log2 W)` capped at 7) holds `p` in units of `2^-16` and
//! a use count. Each cell starts at method D's escape probability `n / (W + n)` for the
//! middle of its buckets. A context with a single symbol (*deterministic*) is the `n = 1`
//! column of the table, which learns how often such contexts really escape.
//!
//! **Update rules (the same on both sides, integers only).** After byte `s`:
//!
//! 1. Find the level holding `s` (order `f`, or none) by the same walk (the walk done by
//!    the last `interval`/`symbol_at` for `s` is reused when there was one: it is a pure
//!    function of the state and `s`). Each SEE cell used on the way learns:
//!    `p += ((target - p) * floor(2^16 / (uses + 2))) >> 16` (arithmetic shift), with
//!    `target = 2^16 - 1` for a level that escaped and `0` for the level that held `s`;
//!    `p` is kept in `1..2^16` and `uses` saturates at 254.
//! 2. In the context of order `f` the count of `s` grows by [`INC`]; if it now outweighs
//!    the symbol before it in the list they swap (lists stay roughly sorted by count, so
//!    scans stop early).
//! 3. Every longer context (`f < k <= order`) gets `s` added (created if the context is
//!    new) with the inherited count `1 + min(INHERIT, floor(INHERIT * c / C))`, where
//!    `c / C` was the share of `s` in the context of order `f` before step 2 (1 when `s`
//!    was new everywhere). Shorter contexts are not touched (*update exclusion*).
//! 4. A context whose count would pass 255, or whose total passes [`LIMIT`], is halved:
//!    every count `c` becomes `c - floor(c/2)` (so it stays >= 1; no symbol is dropped).
//! 5. A hashed context that is full ([`CAP`] symbols) replaces its last (about the least
//!    frequent) symbol by the new one.
//!
//! **Memory.** Orders 0 and 1 live in direct tables (257 nodes of 772 bytes each, with
//! room for all 256 symbols and a symbol -> position index). Orders 2 and up live in one
//! table of 64-byte blocks ([`BLOCK_BYTES`]; one block = one context: a 16-bit check, the
//! symbol count, the total, and [`CAP`] symbols with a one-byte count each). When the
//! budget leaves at least 8 MiB for blocks, the first 2^16 blocks (4 MiB) are a direct
//! region for order 2 (indexed by the last two bytes); the rest, the largest power of two
//! of blocks that fits, is hashed for the longer orders (order 2 too when there is no
//! direct region), two ways per bucket, a new context evicting the way with the smaller
//! total. Everything is allocated zeroed once in [`AdaptiveModel::new`], and
//! [`AdaptiveModel::memory_used`] never exceeds the budget. The block table is an
//! anonymous memory map (`BlockTable`, started at a 2 MiB boundary so a block is one
//! cache line): the OS maps its pages as they are first touched, so an unused budget
//! costs nothing (a `vec!` of 64-byte blocks writes all of it up front: 128 MiB per
//! model, per codec block, at the default budget), and on Linux it is advised to use
//! transparent huge pages, which spares the hashed orders a TLB miss per lookup.
//! Behaviour depends only on `(order, memory_bytes)`.
//!
//! **Speed (what one byte costs).** `predict` is free; `interval` / `symbol_at` walk the
//! levels once and record the walk (found context and SEE events); `update` replays
//! that record instead of walking again, updates the found context and creates the
//! longer ones in the buckets that the last lookup hashed (`bucket`, `check`: no second
//! hash), then hashes and probes the next byte's contexts. At the first level nothing is
//! excluded, so the cumulative weight before a symbol is a plain prefix sum
//! `2 * (c_0 + ... + c_{i-1}) - i`. The trace lives in `Cell`s written field by field
//! (a trace copied as a whole stalled store-to-load forwarding on every byte), `M`
//! comes from a table of reciprocals, and the decoder's scan tests a bound that needs
//! no `M` first, so that its branches do not wait for it.
//!
//! **Fast paths.** When the top context is a block (order `>= 2`) and holds the byte
//! (98% of book1's bytes at order 2), `interval` / `symbol_at` map it without the
//! walk (`AdaptiveDist::top`: nothing is excluded there, so `R`, `u` and `S` are
//! constants), `update` only teaches one SEE cell and bumps one count, and `locate`
//! of a direct order 2 is two stores and a load. These paths are inlined into the
//! coding loop; everything else (escapes, new symbols, orders 0 and 1, hashed orders'
//! lookups) goes through the out-of-line walk. A test checks that both give the same
//! intervals and traces. Measured on book1, order 2 (callgrind, whole `shannon
//! compress` / `decompress` commands): 401 / 446 million instructions before, 265 / 284
//! after; old and new binaries alternated 11 times (`perf stat` task-clock medians):
//! encoding 25.6 -> 30.8 MB/s, decoding 21.6 -> 24.7 MB/s. The encoder finds a byte in
//! the top block with SSE2 compares and sums the counts before it with `psadbw`, with
//! no branch per list position (cachegrind's branch model: 1.8 -> 1.0 million
//! mispredictions; binaries alternated: encoding 31.0 -> 34.8 MB/s).
//!
//! **Hashing ahead.** With a budget far beyond the caches, waiting for the hashed
//! contexts' lines was a quarter of order 4's time (book1 took 83 ms with 32 MiB
//! against 65 ms with 4 MiB). The encoder knows the byte when it asks for its
//! interval, so `interval` hashes the contexts that will follow it and prefetches their
//! buckets; `locate` takes those buckets when the history matches. The decoder does
//! the same for a guess, the top block's first byte. Binaries alternated 9 times on
//! book1, order 4: encoding 9.1 -> 12.2 MB/s, decoding 8.6 -> 9.2 MB/s.
//!
//! **Fused loops (direct order 2).** [`Model::encode_each`] and [`Model::decode_into`]
//! run the whole block in one loop: while each byte is in the top block named by the
//! last two bytes, the loop finds it, hands its interval to the coder and learns it
//! with the direct region and order 2's SEE cells held as fixed-size local arrays, no
//! trace, no `locate` and no per-byte dispatch; any other byte locates its contexts and
//! takes the walk, then the loop resumes. (The per-symbol `predict` / `update` loop,
//! inlined into the codec's block coder with every slow path, reloaded the model's
//! fields from the stack and built the list view there on every byte: the compiler
//! ran out of registers.) A test checks that both loops emit the same
//! intervals, decode the same bytes and leave the same state as the plain loops.
//! Measured on book1, order 2, the session-start binary against the new one
//! alternated 11 times (`perf stat` task-clock medians of whole `shannon` commands,
//! on a loaded machine, so the ratios are what counts): range coder, encoding 29.2 ->
//! 36.5 MB/s and decoding 22.5 -> 25.9 (27.4 in a second run); rANS, encoding 24.4 ->
//! 29.6 and decoding 22.7 -> 27.3. callgrind, decoding: 285 -> 225 million
//! instructions. Most of what is left of a decoded byte's time is the scan's exit,
//! mispredicted about once a byte, and the range coder's division.
//!
//! What did not help, measured (old and new code alternated in one process, or
//! binaries alternated): a SWAR symbol search on `u64` words, a branch-free list swap
//! (twice), a prefetch of the guessed next block of a direct order 2, a branch-free
//! scan of the decoder's first four candidates, a first-level fast path inside the
//! walk that cut 10% of the decoder's instructions (+2% decoding, -2% encoding), and a
//! branch-free guess among the first eight symbols of the top block (prefix sums and
//! compares in SSE2 `f32`, checked against the exact interval): decoding 6% slower
//! (the next block's load then waits for the whole computation), 5% slower with the
//! blocks of the two likeliest next bytes prefetched.

use std::cell::Cell;

use crate::coder::Decode;
use crate::error::{Error, Result};
use crate::model::{Distribution, Interval, Model, decode_symbols, intervals_of};

/// log2 of the total of every distribution this model hands out.
pub const SCALE_BITS: u32 = 16;
/// The total `2^SCALE_BITS`.
const TOTAL: u32 = 1 << SCALE_BITS;
/// Largest supported context order (the history is kept in one `u64`).
pub const MAX_ORDER: u32 = 8;
/// Smallest memory budget accepted by [`AdaptiveModel::new`].
pub const MIN_MEMORY: usize = 256 << 10;
/// Largest memory budget accepted by [`AdaptiveModel::new`].
pub const MAX_MEMORY: usize = 1 << 30;
/// Memory budget to use when the caller has no opinion.
pub const DEFAULT_MEMORY: usize = 128 << 20;

/// Count added to a symbol each time it is coded in its longest context.
pub const INC: u32 = 1;
/// A symbol new to a context starts at `1 + floor(INHERIT * c / C)`, `c / C` its share in
/// the context that coded it.
pub const INHERIT: u32 = 4;
/// A context whose total count passes this is halved.
pub const LIMIT: u32 = 1 << 13;
/// Symbols one hashed context can hold.
pub const CAP: usize = 28;

/// Blocks of the direct order-2 region (one per pair of bytes).
const DIRECT2_BLOCKS: usize = 1 << 16;
/// Probability one in SEE cells.
const SEE_ONE: u32 = 1 << 16;
/// SEE cells stop speeding up after this many events (rate `1 / (SEE_USES + 2)`).
const SEE_USES: u16 = 254;
/// SEE cells: order (0..=MAX_ORDER) x fresh symbols (8 buckets) x first level x weight
/// (8 buckets).
const SEE_CELLS: usize = (MAX_ORDER as usize + 1) * 8 * 2 * 8;

/// `SEE_RATE[u] = floor(2^16 / (u + 2))`: the learning rate of a cell used `u` times.
const SEE_RATE: [i32; SEE_USES as usize + 1] = {
    let mut r = [0; SEE_USES as usize + 1];
    let mut u = 0;
    while u <= SEE_USES as usize {
        r[u] = (1 << 16) / (u as i32 + 2);
        u += 1;
    }
    r
};

/// Flag on a trace event: the level escaped.
const ESCAPED: u16 = 1 << 15;
const _: () = assert!(SEE_CELLS <= ESCAPED as usize);

/// The initial SEE table: each cell starts at method D's escape probability `n / (W + n)`
/// for the middle of its buckets.
fn see_prior() -> Vec<[u16; 2]> {
    (0..SEE_CELLS)
        .map(|cell| {
            let wb = (cell % 8) as u64;
            let nb = (cell / 16 % 8) as u64;
            let n = [1, 2, 3, 4, 5, 8, 13, 20][nb as usize];
            // W lies in [2^wb, 2^(wb+1)); take 1.5 * 2^wb, but at least n.
            let w = (3u64 << wb >> 1).max(n);
            [(n * u64::from(SEE_ONE) / (w + n)) as u16, 0]
        })
        .collect()
}

/// SEE cell of a level (see [`AdaptiveDist::escape`]).
#[inline]
fn see_index(k: usize, n: u32, w: u32, first: bool) -> usize {
    // Buckets of n: 1, 2, 3, 4, 5-6, 7-10, 11-16, 17+ (0 does not occur).
    const NB: [u8; 18] = [0, 0, 1, 2, 3, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7];
    let nb = usize::from(NB[n.min(17) as usize]);
    let wb = (31 - w.max(1).leading_zeros()).min(7) as usize;
    ((k * 8 + nb) * 2 + usize::from(first)) * 8 + wb
}

/// [`Block::see`] for a block with `n` symbols of total count `total`.
#[inline(always)]
fn top_see_cell(n: u32, total: u32) -> u16 {
    if n == 0 {
        return 0;
    }
    see_index(0, n, 2 * total - n, true) as u16
}

/// Bytes in one block of the hashed table (one context).
pub const BLOCK_BYTES: usize = 64;

/// One context of order 2 or more: one cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Block {
    /// Check bits of the context hash (unused in the direct order-2 region).
    check: u16,
    /// Number of symbols in `syms[..n]`, `<= CAP`; 0 = empty block.
    n: u8,
    _pad: u8,
    /// Sum of `counts[..n]`, at most [`LIMIT`].
    total: u16,
    /// The SEE cell of this context as the first level of a walk, less its order's
    /// part: `see_index(k, n, W, true) - see_index(k, 1, 1, true) + see_index(0, 1, 1,
    /// true)` for weight `W = 2 total - n` (the same for every order `k`), kept with
    /// every change of `n` or `total`: the decoder reads it with the counts instead of
    /// working it out on its per-byte chain.
    see: u16,
    /// Distinct symbols, in list order.
    syms: [u8; CAP],
    /// `counts[i] >= 1` is the count of `syms[i]`, for `i < n`.
    counts: [u8; CAP],
}
const _: () = assert!(std::mem::size_of::<Block>() == BLOCK_BYTES);

impl Block {
    /// The position of `s` in the list and the sum of the counts before it.
    ///
    /// On x86-64 without a branch per symbol (SSE2, part of the baseline): where a
    /// byte sits in its list is a coin toss for the branch predictor, and a scan that
    /// stops at it mispredicted about once per byte.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn find_and_sum(&self, s: u8) -> Option<(usize, u32)> {
        use std::arch::x86_64::*;
        let n = usize::from(self.n).min(CAP);
        let word = |bytes: &[u8]| {
            let mut w = [0u8; 8];
            w[..bytes.len()].copy_from_slice(bytes);
            i64::from_le_bytes(w)
        };
        // SAFETY: these intrinsics need SSE2 only, which every x86-64 CPU has (it is in
        // the target's baseline features); none of them reads or writes memory.
        unsafe {
            let lo = _mm_set_epi64x(word(&self.syms[8..16]), word(&self.syms[..8]));
            let hi = _mm_set_epi64x(word(&self.syms[24..]), word(&self.syms[16..24]));
            let needle = _mm_set1_epi8(s as i8);
            let hits = (_mm_movemask_epi8(_mm_cmpeq_epi8(lo, needle)) as u32)
                | (_mm_movemask_epi8(_mm_cmpeq_epi8(hi, needle)) as u32) << 16;
            let hits = hits & ((1u32 << n) - 1);
            if hits == 0 {
                return None;
            }
            let j = hits.trailing_zeros() as usize;
            // Sum of counts[..j]: keep the lanes below j, add bytes with psadbw.
            let c_lo = _mm_set_epi64x(word(&self.counts[8..16]), word(&self.counts[..8]));
            let c_hi = _mm_set_epi64x(word(&self.counts[24..]), word(&self.counts[16..24]));
            let jv = _mm_set1_epi8(j as i8);
            let idx_lo = _mm_set_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
            let idx_hi = _mm_set_epi8(
                31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
            );
            let keep_lo = _mm_and_si128(c_lo, _mm_cmpgt_epi8(jv, idx_lo));
            let keep_hi = _mm_and_si128(c_hi, _mm_cmpgt_epi8(jv, idx_hi));
            let sums = _mm_add_epi64(
                _mm_sad_epu8(keep_lo, _mm_setzero_si128()),
                _mm_sad_epu8(keep_hi, _mm_setzero_si128()),
            );
            let total = _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
            Some((j, total as u32))
        }
    }

    /// The position of `s` in the list and the sum of the counts before it.
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn find_and_sum(&self, s: u8) -> Option<(usize, u32)> {
        let n = usize::from(self.n).min(CAP);
        let mut c = 0u32;
        for j in 0..n {
            if self.syms[j] == s {
                return Some((j, c));
            }
            c += u32::from(self.counts[j]);
        }
        None
    }

    const EMPTY: Block = Block {
        check: 0,
        n: 0,
        _pad: 0,
        total: 0,
        see: 0,
        syms: [0; CAP],
        counts: [0; CAP],
    };
}

/// A table of blocks in an anonymous memory map: zero pages that the OS maps lazily,
/// backed by 2 MiB pages where the OS offers them.
///
/// Why not `vec![Block::EMPTY; n]`: that writes every byte up front (128 MiB per model
/// at the default budget, more time than coding a 1 MiB block); a large budget should
/// cost only the pages a block of data touches. Why a map of its own rather than
/// `calloc`: contexts of orders 3 and up are spread by their hash over the whole
/// table, so nearly every lookup touched another 4 KiB page and missed the TLB. On
/// Linux the table is asked for transparent huge pages (`madvise(MADV_HUGEPAGE)`) from
/// its first 2 MiB boundary: book1 at the default order 4 decoded 22% and encoded 24%
/// faster, and compressing the 3.7 KB grammar.lsp took half the time (fewer page
/// faults). The advice is a hint: where it is refused, or on other systems, nothing
/// but speed changes.
struct BlockTable {
    /// The mapping (`None` for an empty table).
    map: Option<memmap2::MmapMut>,
    /// Offset of the first block in `map`: a multiple of `BLOCK_BYTES`, with
    /// `offset + len * BLOCK_BYTES <= map.len()`.
    offset: usize,
    /// Number of blocks.
    len: usize,
}

/// Size of a transparent huge page on x86-64 and most other Linux targets.
const HUGE_PAGE: usize = 2 << 20;

impl BlockTable {
    /// `len` empty blocks.
    ///
    /// Errors: [`Error::Io`] if the OS refuses the mapping (out of address space).
    fn zeroed(len: usize) -> Result<BlockTable> {
        if len == 0 {
            return Ok(BlockTable {
                map: None,
                offset: 0,
                len,
            });
        }
        let bytes = len.checked_mul(BLOCK_BYTES).ok_or(Error::LimitExceeded {
            what: "adaptive model memory",
            got: u64::MAX,
            max: MAX_MEMORY as u64,
        })?;
        // Room to start at a huge-page boundary (address space only: nothing is mapped
        // until touched).
        let map = memmap2::MmapMut::map_anon(bytes + HUGE_PAGE)?;
        let offset = map.as_ptr().align_offset(HUGE_PAGE).min(HUGE_PAGE);
        // Page-aligned memory is aligned for `Block`; this keeps the invariant honest.
        let offset = offset - offset % BLOCK_BYTES;
        #[cfg(target_os = "linux")]
        {
            // A hint: an error (no THP support, say) changes nothing but speed.
            let _ = map.advise_range(memmap2::Advice::HugePage, offset, bytes);
        }
        Ok(BlockTable {
            map: Some(map),
            offset,
            len,
        })
    }

    /// Start of the blocks, for reading (dangling but aligned for an empty table).
    #[inline]
    fn base(&self) -> *const Block {
        match &self.map {
            // SAFETY: `offset <= map.len()` (see the field), so the result stays inside
            // the map or one past its end.
            Some(map) => unsafe { map.as_ptr().add(self.offset).cast::<Block>() },
            None => std::ptr::NonNull::<Block>::dangling().as_ptr(),
        }
    }

    /// Start of the blocks, for writing.
    #[inline]
    fn base_mut(&mut self) -> *mut Block {
        match &mut self.map {
            // SAFETY: as in `base`.
            Some(map) => unsafe { map.as_mut_ptr().add(self.offset).cast::<Block>() },
            None => std::ptr::NonNull::<Block>::dangling().as_ptr(),
        }
    }
}

impl std::ops::Deref for BlockTable {
    type Target = [Block];
    #[inline]
    fn deref(&self) -> &[Block] {
        // SAFETY: `base()` is aligned for `Block` (a page-aligned map plus a multiple of
        // `BLOCK_BYTES`, or dangling for `len == 0`), and the `len` blocks lie inside
        // the map (`offset + len * BLOCK_BYTES <= map.len()`), which lives as long as
        // `self`. The map was zero-filled by the OS and is only written through `Block`
        // values since; all-zero bytes are a valid `Block` (integers only, no padding).
        unsafe { std::slice::from_raw_parts(self.base(), self.len) }
    }
}

impl std::ops::DerefMut for BlockTable {
    #[inline]
    fn deref_mut(&mut self) -> &mut [Block] {
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique, and the map is
        // writable (`MmapMut`), owned by `self` alone.
        unsafe { std::slice::from_raw_parts_mut(self.base_mut(), self.len) }
    }
}

/// A context of order 0 or 1: room for every symbol.
#[derive(Clone)]
struct FullNode {
    /// Number of symbols in `syms[..n]`, `<= 256`.
    n: u16,
    /// Sum of `counts[..n]`; at most `LIMIT + 255`.
    total: u16,
    /// Distinct symbols, in list order.
    syms: [u8; 256],
    /// `counts[i] >= 1` is the count of `syms[i]`, for `i < n`.
    counts: [u8; 256],
    /// `pos[s]` is the index of `s` in `syms` when `s` is present; `s` is present iff
    /// `pos[s] < n` and `syms[pos[s]] == s` (stale entries are harmless).
    pos: [u8; 256],
}

const FULL_NODE_BYTES: usize = std::mem::size_of::<FullNode>();

impl FullNode {
    const EMPTY: FullNode = FullNode {
        n: 0,
        total: 0,
        syms: [0; 256],
        counts: [0; 256],
        pos: [0; 256],
    };
}

/// `AdaptiveDist::cur` of an order whose context has never been seen (or was evicted).
const NONE: u32 = u32::MAX;

/// One context as the flattening sees it.
struct Level<'a> {
    /// Distinct symbols (non-empty).
    syms: &'a [u8],
    /// Their counts, `>= 1` each.
    counts: &'a [u8],
    /// Sum of `counts`.
    total: u32,
    /// Position index of a direct-table node (see [`FullNode::pos`]).
    pos: Option<&'a [u8; 256]>,
}

impl Level<'_> {
    /// Index of `s` in the list, if present.
    #[inline]
    fn find(&self, s: u8) -> Option<usize> {
        match self.pos {
            Some(pos) => {
                let i = usize::from(pos[usize::from(s)]);
                (i < self.syms.len() && self.syms[i] == s).then_some(i)
            }
            None => self.syms.iter().position(|&x| x == s),
        }
    }
}

/// Weight of a symbol of count `c` in its context (method D: `2c - 1`).
#[inline]
fn weight(c: u8) -> u32 {
    2 * u32::from(c) - 1
}

/// Asks the CPU to bring the cache line at `p` closer (a hint: any address will do,
/// nothing is read).
#[inline(always)]
fn prefetch(p: *const Block) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program; SSE is in
    // the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// 256-bit set of symbols.
#[derive(Clone, Copy, Default)]
struct SymSet([u64; 4]);

impl SymSet {
    #[inline]
    fn has(&self, s: u8) -> bool {
        self.0[usize::from(s >> 6)] >> (s & 63) & 1 != 0
    }
    /// Number of members.
    fn len(&self) -> u32 {
        self.0.iter().map(|x| x.count_ones()).sum()
    }
    /// Number of members below `s`.
    fn rank(&self, s: u8) -> u32 {
        let w = usize::from(s >> 6);
        let below: u32 = self.0[..w].iter().map(|x| x.count_ones()).sum();
        below + (self.0[w] & ((1u64 << (s & 63)) - 1)).count_ones()
    }
    /// The `k`-th symbol (from 0, in byte order) that is NOT a member.
    fn nth_absent(&self, mut k: u32) -> Option<u8> {
        for (w, &bits) in self.0.iter().enumerate() {
            let mut free = !bits;
            let c = free.count_ones();
            if k < c {
                for _ in 0..k {
                    free &= free - 1;
                }
                return Some((w as u32 * 64 + free.trailing_zeros()) as u8);
            }
            k -= c;
        }
        None
    }
}

/// Symbols excluded so far, and how many.
struct Excluded {
    set: SymSet,
    /// Size of `set`.
    len: usize,
}

impl Excluded {
    /// Adds every symbol of `lv` not yet excluded.
    #[inline]
    fn add_level(&mut self, lv: &Level<'_>) {
        // Without a branch on membership, which is data (mispredicted often).
        for &s in lv.syms {
            let word = &mut self.set.0[usize::from(s >> 6)];
            let bit = 1u64 << (s & 63);
            self.len += usize::from(*word & bit == 0);
            *word |= bit;
        }
    }
}

/// The model's state; also the distribution of the next byte (see the module notes).
pub struct AdaptiveDist {
    /// Highest order in use, `<= MAX_ORDER`.
    order: u32,
    /// Direct tables: `full[0]` is the order-0 context, `full[1 + c]` the order-1
    /// context after byte `c` (only when `order >= 1`).
    full: Vec<FullNode>,
    /// Contexts of orders `2..=order` (empty when `order < 2`).
    table: BlockTable,
    /// Blocks `table[..hash_base]` are the direct order-2 region (`hash_base` is 0 or
    /// [`DIRECT2_BLOCKS`]); `table[hash_base..]` is hashed and has `2^table_bits` blocks.
    table_bits: u32,
    /// Start of the hashed region.
    hash_base: usize,
    /// Whether order 2 lives in the direct region (`hash_base != 0`).
    direct2: bool,
    /// `cur[k]`, for `k <= order`: the context of order `k`, an index into `full` for
    /// `k < 2` and into `table` for `k >= 2`, or [`NONE`].
    cur: [u32; MAX_ORDER as usize + 1],
    /// `bucket[k]`, for `2 <= k <= order`: the first way of the bucket of the context of
    /// order `k` (its block, in the direct region), so that `update` need not hash again.
    bucket: [u32; MAX_ORDER as usize + 1],
    /// `check[k]`: the check bits of the context of order `k` (unused when direct).
    check: [u16; MAX_ORDER as usize + 1],
    /// SEE: `[p, uses]` per cell, `p` the escape probability in units of `1/SEE_ONE`
    /// (`1..SEE_ONE`), `uses <= SEE_USES`.
    see: Vec<[u16; 2]>,
    /// The trace of the last symbol looked up by `interval` or `symbol_at` since the
    /// last update: `update` reuses it instead of walking again. It is a pure function
    /// of the state and the symbol, so using it or not changes nothing.
    last: Trace,
    /// The history given to the last `locate`.
    hist: u64,
    /// Bucket and check bits of the next byte's hashed contexts, worked out by
    /// `interval` (on the encoder's side the byte is known before `update`) and fetched
    /// into the cache meanwhile; `locate` takes them when `ahead_hist` is its history.
    ahead: [Cell<(u32, u16)>; MAX_ORDER as usize + 1],
    /// The history `ahead` was worked out for, if any.
    ahead_hist: Cell<Option<u64>>,
}

/// `Trace::symbol` of a trace that holds nothing (already used, or never made).
const NO_TRACE: u16 = u16::MAX;
/// `Trace::found` when no context held the symbol.
const NOT_FOUND: u16 = u16::MAX;

/// What coding one symbol did: the context that held it, and the SEE events on the way.
///
/// Written in place, field by field, during the walk and read field by field by
/// `learn`: never copied as a whole. (A trace built on the stack and then copied into
/// the model made small stores feed wide loads, which defeats store-to-load forwarding;
/// that cost a third of the time of an order-0 model.)
struct Trace {
    /// For each level with an SEE cell: the cell, plus `ESCAPED` if the level escaped.
    events: [Cell<u16>; MAX_ORDER as usize + 1],
    /// Number of valid `events`.
    nev: Cell<u8>,
    /// `order << 8 | index in the list` of the symbol in the longest context holding
    /// it, or [`NOT_FOUND`].
    found: Cell<u16>,
    /// The symbol traced, or [`NO_TRACE`].
    symbol: Cell<u16>,
}

impl Trace {
    fn new() -> Trace {
        Trace {
            events: Default::default(),
            nev: Cell::new(0),
            found: Cell::new(NOT_FOUND),
            symbol: Cell::new(NO_TRACE),
        }
    }

    /// Starts a new trace (of a symbol not known yet).
    #[inline]
    fn start(&self) {
        self.nev.set(0);
        self.found.set(NOT_FOUND);
        self.symbol.set(NO_TRACE);
    }

    /// Records that the level with SEE cell `cell` escaped or not.
    #[inline]
    fn event(&self, cell: usize, escaped: bool) {
        let n = self.nev.get();
        self.events[usize::from(n)].set(cell as u16 | if escaped { ESCAPED } else { 0 });
        self.nev.set(n + 1);
    }

    /// Records where the symbol was found.
    #[inline]
    fn found_at(&self, k: usize, i: usize) {
        self.found.set((k as u16) << 8 | i as u16);
    }
}

impl AdaptiveDist {
    /// The context of order `k` as a level, if it exists and has a symbol.
    #[inline]
    fn level(&self, k: usize) -> Option<Level<'_>> {
        let i = self.cur[k];
        if i == NONE {
            None
        } else if k < 2 {
            let node = &self.full[i as usize];
            let n = usize::from(node.n);
            (n > 0).then(|| Level {
                syms: &node.syms[..n],
                counts: &node.counts[..n],
                total: u32::from(node.total),
                pos: Some(&node.pos),
            })
        } else {
            let b = &self.table[i as usize];
            let n = usize::from(b.n).min(CAP);
            (n > 0).then(|| Level {
                syms: &b.syms[..n],
                counts: &b.counts[..n],
                total: u32::from(b.total),
                pos: None,
            })
        }
    }

    /// The SEE cell of a level of order `k` with `n` fresh symbols of weight `w` (`first`:
    /// no longer context was passed), and its escape probability `p` in `1/SEE_ONE`.
    #[inline]
    fn escape(&self, k: usize, n: u32, w: u32, first: bool) -> (usize, u32) {
        let cell = see_index(k, n, w, first);
        (cell, u32::from(self.see[cell][0]))
    }

    /// The top context when it is a block (order `>= 2`) that exists, with its
    /// [`Mapping`]: the first level of every walk, where nothing is excluded, `base = 0`,
    /// `R = 2^16` and `u = 256`, so `S = 2^16 - 256` whatever the context. The fast paths
    /// of [`Self::trace`], `symbol_at` and [`Self::learn`] serve the common case (98% of
    /// book1's bytes at order 2) from here and leave everything else to [`Self::walk`];
    /// both give the same intervals and the same trace.
    #[inline(always)]
    fn top(&self) -> Option<(&Block, Mapping)> {
        if self.order < 2 {
            return None;
        }
        self.top_at(self.cur[self.order as usize] as usize)
    }

    /// [`Self::top`] for the top context in block `idx` (order `>= 2`): `None` when
    /// there is no such block or it is empty.
    #[inline(always)]
    fn top_at(&self, idx: usize) -> Option<(&Block, Mapping)> {
        let b = self.table.get(idx)?;
        if b.n == 0 {
            return None;
        }
        let cell = top_cell(self.order as usize, b);
        let p = self.see.get(cell).map_or(0, |c| u32::from(c[0]));
        Some((b, top_mapping(b, cell, p)))
    }
}

/// The SEE cell of a non-empty top block `b` of order `k`: its order's part plus the
/// part kept in the block (`Block::see`, below 128).
#[inline(always)]
fn top_cell(k: usize, b: &Block) -> usize {
    see_index(k, 1, 1, true) - see_index(0, 1, 1, true) + usize::from(b.see)
}

/// The [`Mapping`] of a non-empty top block `b` whose SEE cell `cell` holds escape
/// probability `p` (see [`AdaptiveDist::top`]).
#[inline(always)]
fn top_mapping(b: &Block, cell: usize, p: u32) -> Mapping {
    let n = u32::from(b.n).min(CAP as u32);
    let w = 2 * u32::from(b.total) - n;
    let spare = TOTAL - 256;
    // A block holds at most CAP < 256 symbols, so the level can always escape.
    debug_assert_eq!(cell % 128, see_index(0, n, w, true));
    let share = u64::from(spare) * u64::from(SEE_ONE - p);
    // spare_per_weight(share, w) with one multiplication after p instead of two.
    let mul = match TOP_RECIPROCAL.get(w as usize) {
        Some(&r) => (u64::from(SEE_ONE - p) * r) >> 16,
        None => spare_per_weight(share, w),
    };
    debug_assert_eq!(mul, spare_per_weight(share, w));
    let mut m = Mapping {
        base: 0,
        mul,
        cell,
        last: u32::MAX,
        spare,
        width: 0,
        num: share << (32 - SCALE_BITS),
        w,
        n,
    };
    m.width = n + m.scaled(u64::from(w));
    m
}

impl AdaptiveDist {
    /// Walks the levels from the longest context down; for each one with fresh symbols
    /// calls `visit` with its order, the level, the exclusion set before it, and its
    /// [`Mapping`]. Stops when `visit` returns `Some`. Returns the final
    /// `(base, r, excluded)` otherwise (the region left for order -1).
    #[inline]
    fn walk<T>(
        &self,
        mut visit: impl FnMut(usize, &Level<'_>, &Excluded, &Mapping) -> Option<T>,
    ) -> std::result::Result<T, (u32, u32, SymSet)> {
        let mut base = 0u32;
        let mut r = TOTAL;
        let mut excl = Excluded {
            set: SymSet::default(),
            len: 0,
        };
        for k in (0..=self.order as usize).rev() {
            let Some(lv) = self.level(k) else { continue };
            // Fresh symbols n and their weight W: sum of (2c - 1) = 2 total - n.
            let mut n = lv.syms.len() as u32;
            let mut w = 2 * lv.total - n;
            if excl.len > 0 {
                if lv.pos.is_some() && excl.len < lv.syms.len() {
                    for (word, &bits) in excl.set.0.iter().enumerate() {
                        let mut bits = bits;
                        while bits != 0 {
                            let x = (word as u32 * 64 + bits.trailing_zeros()) as u8;
                            bits &= bits - 1;
                            if let Some(i) = lv.find(x) {
                                n -= 1;
                                w -= weight(lv.counts[i]);
                            }
                        }
                    }
                } else {
                    for (&x, &c) in lv.syms.iter().zip(lv.counts) {
                        if excl.set.has(x) {
                            n -= 1;
                            w -= weight(c);
                        }
                    }
                }
                if n == 0 {
                    continue;
                }
            }
            let u = 256 - excl.len as u32;
            let u_next = u - n;
            let a = r - u_next;
            let spare = a - n;
            let (cell, p) = if u_next == 0 {
                (usize::MAX, 0)
            } else {
                self.escape(k, n, w, excl.len == 0)
            };
            // The escape takes p of the level, the symbols 1 - p: the spare slots per unit
            // of weight are S (1 - p) / W, as a 32.32 fixed-point multiplier.
            let share = u64::from(spare) * u64::from(SEE_ONE - p);
            let num = share << (32 - SCALE_BITS);
            let mut m = Mapping {
                base,
                mul: spare_per_weight(share, w),
                cell,
                last: if u_next == 0 { n - 1 } else { u32::MAX },
                spare,
                width: a,
                num,
                w,
                n,
            };
            if u_next != 0 {
                m.width = n + m.scaled(u64::from(w));
            }
            if let Some(x) = visit(k, &lv, &excl, &m) {
                return Ok(x);
            }
            base += m.width;
            r -= m.width;
            excl.add_level(&lv);
        }
        Err((base, r, excl.set))
    }

    /// The interval of `symbol`; leaves the trace of coding it in `self.last`.
    #[inline(always)]
    fn trace(&self, symbol: u8) -> Interval {
        let tr = &self.last;
        if let Some((b, m)) = self.top()
            && let Some((j, c)) = b.find_and_sum(symbol)
        {
            tr.nev.set(0);
            tr.event(m.cell, false);
            tr.found_at(self.order as usize, j);
            tr.symbol.set(u16::from(symbol));
            let j32 = j as u32;
            return m.interval(j32, 2 * c - j32, weight(b.counts[j]));
        }
        self.trace_walk(symbol)
    }

    /// [`Self::trace`] the long way: every level, exclusion, order -1.
    #[inline(never)]
    fn trace_walk(&self, symbol: u8) -> Interval {
        let tr = &self.last;
        tr.start();
        let found = self.walk(|k, lv, excl, m| {
            // Nothing excluded (the first level): one pass finds the symbol and sums the
            // counts before it (cum = sum of (2c - 1) = 2 * sum - i); measured 7% faster
            // encoding at order 2 than a lookup followed by a sum.
            let (at, before) = if excl.len == 0 {
                let mut c = 0u32;
                let mut at = None;
                for (j, (&x, &cnt)) in lv.syms.iter().zip(lv.counts).enumerate() {
                    if x == symbol {
                        at = Some(j);
                        break;
                    }
                    c += u32::from(cnt);
                }
                (at, c)
            } else {
                (lv.find(symbol), 0)
            };
            if m.cell != usize::MAX {
                tr.event(m.cell, at.is_none());
            }
            let at = at?;
            tr.found_at(k, at);
            let (i, cum) = if excl.len == 0 {
                (at as u32, 2 * before - at as u32)
            } else {
                let (mut i, mut cum) = (0u32, 0u32);
                for (&s, &c) in lv.syms[..at].iter().zip(lv.counts) {
                    if !excl.set.has(s) {
                        i += 1;
                        cum += weight(c);
                    }
                }
                (i, cum)
            };
            Some(m.interval(i, cum, weight(lv.counts[at])))
        });
        let iv = match found {
            Ok(iv) => iv,
            Err((base, r, excl)) => {
                // `symbol` was in no context, so it is not excluded.
                let u = 256 - excl.len();
                uniform_interval(base, r, u, u32::from(symbol) - excl.rank(symbol))
            }
        };
        tr.symbol.set(u16::from(symbol));
        iv
    }
}

/// Halves every count of a list, keeping each `>= 1`; returns the new total. Out of
/// line and given the counts alone, so that a caller's list view can stay in registers.
#[cold]
#[inline(never)]
fn halve_counts(counts: &mut [u8]) -> u32 {
    let mut total = 0;
    for c in counts {
        *c -= *c / 2;
        total += u32::from(*c);
    }
    total
}

/// SEE update rule for one event of `cell` (module notes, update rule 1).
#[inline(always)]
fn see_step(cell: &mut [u16; 2], escaped: bool) {
    let [p, uses] = cell;
    let target: i32 = if escaped { SEE_ONE as i32 - 1 } else { 0 };
    // (target - p) / (uses + 2), as a multiplication by a 16-bit reciprocal
    let step = ((target - i32::from(*p)) * SEE_RATE[usize::from(*uses)]) >> 16;
    *p = (i32::from(*p) + step).clamp(1, SEE_ONE as i32 - 1) as u16;
    *uses = (*uses + 1).min(SEE_USES);
}

/// Update rule 2 for the symbol at position `j` of block `b`, the context that coded
/// it: bump its count (halving first if needed), move it up past a smaller count, and
/// keep the block's total and SEE part.
#[inline(always)]
fn learn_in_block(b: &mut Block, j: usize) {
    let n = usize::from(b.n).min(CAP);
    let mut total = u32::from(b.total);
    if u32::from(b.counts[j]) + INC > 255 || total + INC > LIMIT {
        total = halve_counts(&mut b.counts[..n]);
    }
    total += INC;
    // `NodeMut::bump` without a branch on the move up (whether the bumped count now
    // outweighs its predecessor is data, and mispredicted often): k is the
    // predecessor, or j itself at the head of the list, where nothing moves.
    let c = b.counts[j] + INC as u8;
    b.counts[j] = c;
    let k = j.saturating_sub(1);
    let prev = b.counts[k];
    let up = c > prev;
    let (sj, sk) = (b.syms[j], b.syms[k]);
    b.counts[k] = if up { c } else { prev };
    b.counts[j] = if up { prev } else { c };
    b.syms[k] = if up { sj } else { sk };
    b.syms[j] = if up { sk } else { sj };
    b.total = total as u16;
    b.see = top_see_cell(n as u32, total);
}

/// Largest weight `W` of a level: a direct node's counts total at most `LIMIT + 255`.
const MAX_WEIGHT: usize = 2 * (LIMIT as usize + 255);

/// `RECIPROCAL[w] = floor((2^32 - 1) / w)` for `1 <= w <= MAX_WEIGHT` (66 KiB; the
/// small weights that most contexts have stay in L1).
static RECIPROCAL: [u32; MAX_WEIGHT + 1] = {
    let mut r = [0u32; MAX_WEIGHT + 1];
    let mut w = 1;
    while w <= MAX_WEIGHT {
        r[w] = (u32::MAX as usize / w) as u32;
        w += 1;
    }
    r
};

/// `TOP_RECIPROCAL[w] = (2^16 - 256) * RECIPROCAL[w]`: the first level's spare slots
/// `S = 2^16 - 256` folded in, so that its `M` is one multiplication by `2^16 - p`
/// (132 KiB; `w = 0` is never looked up).
static TOP_RECIPROCAL: [u64; MAX_WEIGHT + 1] = {
    let mut r = [0u64; MAX_WEIGHT + 1];
    let mut w = 1;
    while w <= MAX_WEIGHT {
        r[w] = (TOTAL as u64 - 256) * RECIPROCAL[w] as u64;
        w += 1;
    }
    r
};

/// `M = floor(a * floor((2^32 - 1) / w) / 2^16)` for `a = S (2^16 - p) < 2^32`: the
/// spare slots per unit of weight in 32.32 fixed point. It is at most `2^16 a / w` (so
/// a level never takes more than its share) and below it by less than `2^-16`
/// relatively, and it needs a table load and a multiplication where a division used to
/// sit on the decoder's per-byte chain (measured in one process, old and new paths
/// alternated: 13 to 15% faster decoding at order 2, encoding unchanged).
#[inline]
fn spare_per_weight(a: u64, w: u32) -> u64 {
    debug_assert!(a < 1 << 32 && w >= 1);
    let r = match RECIPROCAL.get(w as usize) {
        Some(&r) if w > 0 => u64::from(r),
        // Not reached: `w` is at most MAX_WEIGHT by the model's invariants. Any value
        // here would still give a valid distribution, the same on both sides.
        _ => u64::from(u32::MAX) / u64::from(w.max(1)),
    };
    (a * r) >> 16
}

/// The map from cumulative weights of one level to slots (module notes).
struct Mapping {
    /// First slot of the level.
    base: u32,
    /// Spare slots per unit of weight, [`spare_per_weight`]: about `2^32 S (1 - p) / W`
    /// and never more; `S` is `spare`.
    mul: u64,
    /// SEE cell of the level's escape (`usize::MAX` when it cannot escape).
    cell: usize,
    /// Index of the last fresh symbol when the level cannot escape (it then takes every
    /// spare slot left, so the level fills its region); `u32::MAX` otherwise.
    last: u32,
    /// `S`.
    spare: u32,
    /// Slots taken by the level's symbols, `[base, base + width)`; the escape (if any)
    /// follows.
    width: u32,
    /// `N = 2^32 S (1 - p)` (`< 2^48`); `mul <= N / W`.
    num: u64,
    /// `W`, the weight of the fresh symbols (`< 2^15`).
    w: u32,
    /// `n`, the number of fresh symbols.
    n: u32,
}

impl Mapping {
    /// `floor(cum * mul / 2^32)`: spare slots before cumulative weight `cum`.
    #[inline]
    fn scaled(&self, cum: u64) -> u32 {
        ((cum * self.mul) >> 32) as u32
    }
    /// Whether the `i`-th fresh symbol, of cumulative weight `cum`, starts after `t`
    /// (relative to `base`): `i + scaled(cum) > t`, without a division.
    #[inline]
    fn starts_after(&self, i: u32, cum: u32, t: u32) -> bool {
        i > t || u64::from(cum) * self.mul >= u64::from(t - i + 1) << 32
    }
    /// Interval of the `i`-th fresh symbol with cumulative weight `cum` and weight `w`.
    #[inline]
    fn interval(&self, i: u32, cum: u32, w: u32) -> Interval {
        let lo = self.scaled(u64::from(cum));
        let hi = if i == self.last {
            self.spare
        } else {
            self.scaled(u64::from(cum + w))
        };
        Interval {
            start: self.base + i + lo,
            freq: 1 + hi - lo,
        }
    }
}

/// Order -1: the interval of the `k`-th of `u` remaining symbols in a region of `r`.
#[inline]
fn uniform_interval(base: u32, r: u32, u: u32, k: u32) -> Interval {
    let q = r / u;
    let rem = r % u;
    Interval {
        start: base + k * q + k.min(rem),
        freq: q + u32::from(k < rem),
    }
}

impl Distribution for AdaptiveDist {
    fn scale_bits(&self) -> u32 {
        SCALE_BITS
    }

    #[inline(always)]
    fn interval(&self, symbol: u8) -> Result<Interval> {
        if self.order >= 3 || (self.order == 2 && !self.direct2) {
            self.hash_ahead(symbol);
        }
        Ok(self.trace(symbol))
    }

    #[inline(always)]
    fn symbol_at(&self, target: u32) -> Result<(u8, Interval)> {
        let tr = &self.last;
        if let Some((b, m)) = self.top() {
            if self.order >= 3 && in_top_level(&m, target) {
                // Guess the top block's first (about its most frequent) byte and fetch
                // the contexts that would follow it while the scan runs.
                self.hash_ahead(b.syms[0]);
            }
            if let Some((j, iv)) = find_in_top(b, &m, target) {
                if self.order >= 3 && j != 0 {
                    // The guess was wrong: fetch the contexts after the byte found, now,
                    // rather than when `locate` asks for them after this byte's work.
                    self.hash_ahead(b.syms[j]);
                }
                tr.nev.set(0);
                tr.event(m.cell, false);
                tr.found_at(self.order as usize, j);
                tr.symbol.set(u16::from(b.syms[j]));
                return Ok((b.syms[j], iv));
            }
        }
        let found = self.symbol_at_walk(target);
        if self.order >= 3
            && let Ok((s, _)) = found
        {
            self.hash_ahead(s);
        }
        found
    }
}

/// Whether `target` lies in the slots of the first level's symbols (`[0, width)`, from
/// a bound that needs `p` but not `M`), not in its escape.
#[inline(always)]
fn in_top_level(m: &Mapping, target: u32) -> bool {
    target < m.n + (m.num >> 32) as u32
}

/// The decoder's fast path: the symbol of top block `b` (with its [`Mapping`] `m`)
/// whose interval holds `target`, as its list position and interval; `None` when the
/// target lies in the escape (or, at a rounding edge, the bound let through a target
/// that the scan's last symbol does not hold), which the walk then resolves.
///
/// The first level's scan of `walk` (see there): the bound `next >= goal` needs no `M`,
/// so the scan's branches need not wait for it.
#[inline(always)]
fn find_in_top(b: &Block, m: &Mapping, target: u32) -> Option<(usize, Interval)> {
    if !in_top_level(m, target) {
        return None;
    }
    let w_shift = u64::from(m.w) << 32;
    let goal = u64::from(target + 1) * w_shift;
    let (mut j, mut cum, mut lhs) = (0usize, 0u32, 0u64);
    while j + 1 < m.n as usize {
        let wj = weight(b.counts[j]);
        let next = lhs + u64::from(wj) * m.num + w_shift;
        if next >= goal && m.starts_after(j as u32 + 1, cum + wj, target) {
            break;
        }
        (j, cum, lhs) = (j + 1, cum + wj, next);
    }
    let iv = m.interval(j as u32, cum, weight(b.counts[j]));
    (target < iv.start + iv.freq).then_some((j, iv))
}

impl AdaptiveDist {
    /// `symbol_at` the long way: every level, exclusion, order -1.
    #[inline(never)]
    fn symbol_at_walk(&self, target: u32) -> Result<(u8, Interval)> {
        if target >= TOTAL {
            return Err(Error::Corrupt {
                what: "decoder target outside the distribution",
            });
        }
        let tr = &self.last;
        tr.start();
        let found = self.walk(|k, lv, excl, m| {
            // Last fresh symbol i with i + floor(cum_i M / 2^32) <= t, if t is inside.
            //
            // The scan is not allowed to wait for M (a division, the longest latency on
            // the path): it tests the weaker `cum_i N + i W 2^32 >= (t + 1) W 2^32`
            // (N = M W + remainder, so the exact test implies it), which needs only N
            // and W, and asks the exact `starts_after` only where the weaker test passes
            // (normally once, at the end). Likewise the escape region starts at or below
            // `n + N / 2^32`, so a target at or past that escapes without a scan.
            let t = target - m.base;
            if m.cell != usize::MAX && t >= m.n + (m.num >> 32) as u32 {
                tr.event(m.cell, true);
                return None;
            }
            let w_shift = u64::from(m.w) << 32;
            let goal = u64::from(t + 1) * w_shift;
            let mut lhs = 0u64;
            let best;
            let mut i = 0u32;
            let mut cum = 0u32;
            if excl.len == 0 {
                // The first level: every symbol is fresh, so the index is the position
                // and the loop carries three numbers only (2 to 7% faster decoding).
                let mut j = 0usize;
                while j + 1 < lv.syms.len() {
                    let wj = weight(lv.counts[j]);
                    let next = lhs + u64::from(wj) * m.num + w_shift;
                    if next >= goal && m.starts_after(j as u32 + 1, cum + wj, t) {
                        break;
                    }
                    (j, cum, lhs) = (j + 1, cum + wj, next);
                }
                best = Some((lv.syms[j], j, j as u32, cum, weight(lv.counts[j])));
            } else {
                // Without a branch on exclusion (data, mispredicted often): an excluded
                // symbol adds nothing and cannot end the scan.
                let mut last = None;
                for (j, (&s, &c)) in lv.syms.iter().zip(lv.counts).enumerate() {
                    let fresh = !excl.set.has(s);
                    if fresh & (lhs >= goal) && m.starts_after(i, cum, t) {
                        break;
                    }
                    let wc = weight(c);
                    if fresh {
                        last = Some((j, i, cum));
                    }
                    let f = u32::from(fresh);
                    i += f;
                    cum += f * wc;
                    lhs += u64::from(f) * (u64::from(wc) * m.num + w_shift);
                }
                best = last.map(|(j, i, cum)| (lv.syms[j], j, i, cum, weight(lv.counts[j])));
            }
            let hit = best.and_then(|(s, j, i, cum, w)| {
                let iv = m.interval(i, cum, w);
                (target < iv.start + iv.freq).then_some((s, j, iv))
            });
            if m.cell != usize::MAX {
                tr.event(m.cell, hit.is_none());
            }
            let (s, j, iv) = hit?;
            tr.found_at(k, j);
            Some((s, iv))
        });
        let (s, iv) = match found {
            Ok(x) => x,
            Err((base, r, excl)) => {
                let u = 256 - excl.len();
                if target < base || u == 0 {
                    return Err(Error::Corrupt {
                        what: "decoder target outside the distribution",
                    });
                }
                let t = target - base;
                let q = r / u;
                let rem = r % u;
                let k = if t < rem * (q + 1) {
                    t / (q + 1)
                } else {
                    rem + (t - rem * (q + 1)) / q
                };
                let s = excl.nth_absent(k).ok_or(Error::Corrupt {
                    what: "decoder target outside the distribution",
                })?;
                (s, uniform_interval(base, r, u, k))
            }
        };
        tr.symbol.set(u16::from(s));
        Ok((s, iv))
    }
}

/// Mixes an order and its context bytes into 64 well-spread bits.
#[inline]
fn context_hash(k: u32, key: u64) -> u64 {
    let mut h = (key ^ u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^= h >> 32;
    h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 29)
}

/// The last `k` bytes of `hist` (most recent in the low byte).
#[inline]
fn context_key(hist: u64, k: u32) -> u64 {
    if k >= 8 {
        hist
    } else {
        hist & ((1u64 << (8 * k)) - 1)
    }
}

/// A node's symbol list, borrowed mutably for an update.
struct NodeMut<'a> {
    syms: &'a mut [u8],
    counts: &'a mut [u8],
    n: usize,
    total: u32,
    /// The position index of a direct-table node, kept in step with `syms`.
    pos: Option<&'a mut [u8; 256]>,
}

impl NodeMut<'_> {
    /// The list of block `b` (its header is written back by the caller).
    #[inline(always)]
    fn of_block(b: &mut Block) -> NodeMut<'_> {
        NodeMut {
            n: usize::from(b.n).min(CAP),
            total: u32::from(b.total),
            syms: &mut b.syms,
            counts: &mut b.counts,
            pos: None,
        }
    }

    /// Halves every count, keeping each `>= 1`.
    #[inline(always)]
    fn halve(&mut self) {
        self.total = halve_counts(&mut self.counts[..self.n]);
    }

    /// Adds `inc` to the count of the symbol at `i`, halving first if needed, and moves
    /// it one place up if it now outweighs its predecessor.
    #[inline(always)]
    fn bump(&mut self, i: usize, inc: u32) {
        if u32::from(self.counts[i]) + inc > 255 || self.total + inc > LIMIT {
            self.halve();
        }
        self.counts[i] += inc as u8;
        self.total += inc;
        if i > 0 && self.counts[i] > self.counts[i - 1] {
            self.counts.swap(i, i - 1);
            self.syms.swap(i, i - 1);
            if let Some(pos) = self.pos.as_deref_mut() {
                pos[usize::from(self.syms[i])] = i as u8;
                pos[usize::from(self.syms[i - 1])] = (i - 1) as u8;
            }
        }
    }

    /// Whether `s` is in the list.
    fn contains(&self, s: u8) -> bool {
        match self.pos.as_deref() {
            Some(pos) => {
                let i = usize::from(pos[usize::from(s)]);
                i < self.n && self.syms[i] == s
            }
            None => self.syms[..self.n].contains(&s),
        }
    }

    /// Adds `s` (absent) with count `c`, replacing the last symbol when full.
    fn add(&mut self, s: u8, c: u8) {
        let i = if self.n < self.syms.len() {
            self.n += 1;
            self.n - 1
        } else {
            let last = self.n - 1;
            self.total -= u32::from(self.counts[last]);
            last
        };
        self.syms[i] = s;
        self.counts[i] = c;
        if let Some(pos) = self.pos.as_deref_mut() {
            pos[usize::from(s)] = i as u8;
        }
        self.total += u32::from(c);
        if self.total > LIMIT {
            self.halve();
        }
    }
}

impl AdaptiveDist {
    /// Runs `f` on the node of order `k` at index `i` (see [`Self::cur`]) and writes its
    /// header back.
    #[inline]
    fn with_node(&mut self, k: usize, i: u32, f: impl FnOnce(&mut NodeMut<'_>)) {
        if i == NONE {
            return;
        }
        if k < 2 {
            let node = &mut self.full[i as usize];
            let mut view = NodeMut {
                n: usize::from(node.n),
                total: u32::from(node.total),
                syms: &mut node.syms,
                counts: &mut node.counts,
                pos: Some(&mut node.pos),
            };
            f(&mut view);
            let (n, total) = (view.n, view.total);
            node.n = n as u16;
            node.total = total as u16;
        } else {
            let b = &mut self.table[i as usize];
            let mut view = NodeMut::of_block(b);
            f(&mut view);
            let (n, total) = (view.n, view.total);
            b.n = n as u8;
            b.total = total as u16;
            b.see = top_see_cell(n as u32, total);
        }
    }

    /// Bucket (first way) and check bits of the hashed context of order `k`.
    #[inline]
    fn bucket(&self, k: u32, hist: u64) -> (usize, u16) {
        let h = context_hash(k, context_key(hist, k));
        let idx = (h >> (64 - self.table_bits)) as usize & !1;
        (self.hash_base + idx, h as u16)
    }

    /// Index of the context of order `k >= 2` in the table, or [`NONE`], from the cached
    /// `bucket[k]` and `check[k]`.
    #[inline]
    fn find(&self, k: usize) -> u32 {
        let idx = self.bucket[k] as usize;
        if k == 2 && self.direct2 {
            return if self.table[idx].n != 0 {
                idx as u32
            } else {
                NONE
            };
        }
        let check = self.check[k];
        for way in [idx, idx | 1] {
            let b = &self.table[way];
            if b.n != 0 && b.check == check {
                return way as u32;
            }
        }
        NONE
    }

    /// Finds the context of order `k >= 2`, or makes an empty one, evicting the way of
    /// the bucket with the smaller total.
    fn find_or_create(&mut self, k: usize) -> u32 {
        let found = self.find(k);
        if found != NONE {
            return found;
        }
        let idx = self.bucket[k] as usize;
        if k == 2 && self.direct2 {
            return idx as u32;
        }
        let way = if self.table[idx | 1].total < self.table[idx].total {
            idx | 1
        } else {
            idx
        };
        let b = &mut self.table[way];
        *b = Block::EMPTY;
        b.check = self.check[k];
        way as u32
    }

    /// Looks up the contexts of every order for the history `hist`.
    #[inline(always)]
    fn locate(&mut self, hist: u64) {
        if self.order == 2 && self.direct2 {
            self.hist = hist;
            let idx = (hist & 0xffff) as usize;
            self.cur[1] = 1 + (hist & 0xff) as u32;
            self.bucket[2] = idx as u32;
            self.cur[2] = match self.table.get(idx) {
                Some(b) if b.n != 0 => idx as u32,
                _ => NONE,
            };
        } else {
            self.locate_all(hist);
        }
    }

    /// [`Self::locate`] for every order but direct order 2.
    #[inline(never)]
    fn locate_all(&mut self, hist: u64) {
        self.hist = hist;
        let ahead = self.ahead_hist.take() == Some(hist);
        if self.order >= 1 {
            self.cur[1] = 1 + (hist & 0xff) as u32;
        }
        for k in 2..=self.order as usize {
            if k == 2 && self.direct2 {
                self.bucket[2] = (hist & 0xffff) as u32;
            } else {
                let (idx, check) = if ahead {
                    let (idx, check) = self.ahead[k].get();
                    (idx as usize, check)
                } else {
                    self.bucket(k as u32, hist)
                };
                self.bucket[k] = idx as u32;
                self.check[k] = check;
            }
            self.cur[k] = self.find(k);
        }
    }

    /// Works out the buckets of the hashed contexts that follow `symbol` and asks for
    /// their cache lines (see `ahead`): with a budget far beyond the caches, waiting
    /// for those lines was a quarter of order 4's time.
    #[inline]
    fn hash_ahead(&self, symbol: u8) {
        let next = self.hist << 8 | u64::from(symbol);
        let first = if self.direct2 { 3 } else { 2 };
        for k in first..=self.order as usize {
            let (idx, check) = self.bucket(k as u32, next);
            prefetch(self.table.as_ptr().wrapping_add(idx));
            prefetch(self.table.as_ptr().wrapping_add(idx | 1));
            self.ahead[k].set((idx as u32, check));
        }
        self.ahead_hist.set(Some(next));
    }

    /// SEE update rule for one trace event (module notes, update rule 1).
    #[inline]
    fn see_learn(&mut self, ev: u16) {
        see_step(&mut self.see[usize::from(ev & !ESCAPED)], ev & ESCAPED != 0);
    }

    /// Learns `s` after the contexts of `hist` (module notes, update rules).
    #[inline(always)]
    fn learn(&mut self, s: u8) {
        let found = self.last.found.get();
        let order = self.order as usize;
        if self.last.symbol.get() == u16::from(s) && order >= 2 && usize::from(found >> 8) == order
        {
            self.last.symbol.set(NO_TRACE);
            let ev = self.last.events[0].get();
            self.learn_top(self.cur[order] as usize, ev, usize::from(found & 0xff));
        } else {
            self.learn_walk(s);
        }
    }

    /// [`Self::learn`] for a symbol found at position `j` of the top block, block `idx`
    /// (the fast paths' case): one SEE event `ev` (the level's cell, not escaped), one
    /// bump, no longer context to add the symbol to.
    #[inline(always)]
    fn learn_top(&mut self, idx: usize, ev: u16, j: usize) {
        self.see_learn(ev);
        learn_in_block(&mut self.table[idx], j);
    }

    /// The fast loop of a direct order 2's `decode_into`: decodes bytes into `out` for
    /// as long as each lies in its top block, `hist` being the history before the
    /// first. Returns how many it decoded and, if it stopped before the end of `out`,
    /// the target of the next byte (peeked, not consumed). Exactly what `symbol_at`'s
    /// fast path and `learn_top` do, with the direct region and order 2's SEE cells
    /// held in local slices.
    #[inline(always)]
    fn decode_top_run<D: Decode>(
        &mut self,
        out: &mut [u8],
        coder: &mut D,
        mut hist: u64,
    ) -> (usize, Option<u32>) {
        let Some((direct, see_base, see)) = self.direct2_parts() else {
            // Not reached for a direct order 2: leave every byte to the walk.
            return (0, out.first().map(|_| coder.peek(SCALE_BITS)));
        };
        // For `prefetch` only, which reads nothing.
        let blocks: *const Block = direct.as_ptr();
        for (i, o) in out.iter_mut().enumerate() {
            let target = coder.peek(SCALE_BITS);
            let b = &mut direct[(hist & 0xffff) as usize];
            if b.n == 0 {
                return (i, Some(target));
            }
            // Fetch the block that follows the likeliest byte (the list's first, 40% of
            // book1's bytes) while this one is searched: when the scan's exit is
            // mispredicted, the next block's load would otherwise wait for the scan.
            // 3 to 4% faster decoding of book1 at order 2 with either coder.
            let s0 = b.syms[0];
            prefetch(&direct[((hist << 8 | u64::from(s0)) & 0xffff) as usize]);
            let b = &mut direct[(hist & 0xffff) as usize];
            // `Block::see` is below 128 (`top_cell`).
            let part = usize::from(b.see) & 127;
            let m = top_mapping(b, see_base + part, u32::from(see[part][0]));
            let Some((j, iv)) = find_in_top(b, &m, target) else {
                return (i, Some(target));
            };
            let s = b.syms[j];
            hist = (hist << 8) | u64::from(s);
            // And fetch the next byte's block now that it is known, before the rest of
            // this byte's work: after a mispredicted scan exit the CPU reaches the
            // next block's load only once it has issued everything in between (5 to
            // 6% faster decoding than without this fetch).
            prefetch(blocks.wrapping_add((hist & 0xffff) as usize));
            coder.consume(iv.start, iv.freq, SCALE_BITS);
            see_step(&mut see[part], false);
            learn_in_block(b, j);
            *o = s;
        }
        (out.len(), None)
    }

    /// The encoder's twin of [`Self::decode_top_run`]: emits the intervals of the bytes
    /// of `data` and learns them for as long as each is in its top block; returns how
    /// many it took.
    #[inline(always)]
    fn encode_top_run<F: FnMut(u32, Interval)>(
        &mut self,
        data: &[u8],
        emit: &mut F,
        mut hist: u64,
    ) -> usize {
        let Some((direct, see_base, see)) = self.direct2_parts() else {
            return 0;
        };
        for (i, &s) in data.iter().enumerate() {
            let b = &mut direct[(hist & 0xffff) as usize];
            let Some((j, c)) = b.find_and_sum(s) else {
                return i;
            };
            let part = usize::from(b.see) & 127;
            let m = top_mapping(b, see_base + part, u32::from(see[part][0]));
            let j32 = j as u32;
            emit(
                SCALE_BITS,
                m.interval(j32, 2 * c - j32, weight(b.counts[j])),
            );
            see_step(&mut see[part], false);
            learn_in_block(b, j);
            hist = (hist << 8) | u64::from(s);
        }
        data.len()
    }

    /// The direct order-2 region and order 2's SEE cells (with the index of the first),
    /// as fixed-size arrays that a byte's indices need no bounds check in; `None` when
    /// there is no direct region.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn direct2_parts(
        &mut self,
    ) -> Option<(&mut [Block; DIRECT2_BLOCKS], usize, &mut [[u16; 2]; 128])> {
        let see_base = see_index(2, 0, 0, false);
        let direct = self.table.get_mut(..DIRECT2_BLOCKS)?.try_into().ok()?;
        let see = self
            .see
            .get_mut(see_base..see_base + 128)?
            .try_into()
            .ok()?;
        Some((direct, see_base, see))
    }

    /// [`Self::learn`] in general (module notes, update rules).
    #[inline(never)]
    fn learn_walk(&mut self, s: u8) {
        // 1. The longest context holding s; every level passed escaped, and the SEE cell
        //    of each level learns whether it did.
        if self.last.symbol.get() != u16::from(s) {
            self.trace(s);
        }
        self.last.symbol.set(NO_TRACE);
        let found = self.last.found.get();
        let order = self.order as usize;
        for i in 0..usize::from(self.last.nev.get()) {
            self.see_learn(self.last.events[i].get());
        }
        let mut init = 1u8;
        let first_new = match (found != NOT_FOUND).then_some(found) {
            Some(f) => {
                let (k, i) = (usize::from(f >> 8), usize::from(f & 0xff));
                self.with_node(k, self.cur[k], |node| {
                    if k < order {
                        // Inheritance: c0 = 1 + floor(INHERIT * c / C) from the context
                        // that coded s (before its own increment).
                        let share = INHERIT * u32::from(node.counts[i]) / node.total.max(1);
                        init = 1 + share.min(INHERIT) as u8;
                    }
                    node.bump(i, INC)
                });
                k + 1
            }
            None => 0,
        };
        // 2. Longer contexts learn s with the inherited count.
        for k in first_new..=order {
            // A context created for a shorter order may have taken this one's block: look
            // again (cheap, the bucket is cached and its line is hot).
            let i = if k >= 2 {
                self.find_or_create(k)
            } else {
                self.cur[k]
            };
            self.with_node(k, i, |node| {
                if !node.contains(s) {
                    node.add(s, init);
                }
            });
        }
    }
}

/// An adaptive order-`k` PPM model (module notes): encoder and decoder run identical
/// instances and stay in step by calling [`Model::predict`] and [`Model::update`] in turn.
pub struct AdaptiveModel {
    dist: AdaptiveDist,
    /// The last 8 bytes, most recent in the low byte; zeros before the start.
    hist: u64,
    /// The budget the model was built with.
    memory_bytes: usize,
}

impl AdaptiveModel {
    /// A fresh model of the given order (`0..=MAX_ORDER`) within `memory_bytes`
    /// (`MIN_MEMORY..=MAX_MEMORY`). Models built with the same arguments behave
    /// identically.
    pub fn new(order: u32, memory_bytes: usize) -> Result<AdaptiveModel> {
        if order > MAX_ORDER {
            return Err(Error::LimitExceeded {
                what: "adaptive model order",
                got: u64::from(order),
                max: u64::from(MAX_ORDER),
            });
        }
        if memory_bytes > MAX_MEMORY {
            return Err(Error::LimitExceeded {
                what: "adaptive model memory",
                got: memory_bytes as u64,
                max: MAX_MEMORY as u64,
            });
        }
        if memory_bytes < MIN_MEMORY {
            return Err(Error::InvalidOptions(format!(
                "adaptive model memory {memory_bytes} is below the minimum {MIN_MEMORY}"
            )));
        }
        let nfull = if order >= 1 { 257 } else { 1 };
        let full = vec![FullNode::EMPTY; nfull];
        let (table, table_bits, hash_base) = if order >= 2 {
            let blocks = (memory_bytes - nfull * FULL_NODE_BYTES) / BLOCK_BYTES;
            // A direct region for the 2^16 order-2 contexts when it leaves at least as
            // much again for the hashed ones.
            let direct = if blocks >= 2 * DIRECT2_BLOCKS {
                DIRECT2_BLOCKS
            } else {
                0
            };
            let bits = usize::BITS - 1 - (blocks - direct).leading_zeros();
            (BlockTable::zeroed(direct + (1 << bits))?, bits, direct)
        } else {
            (BlockTable::zeroed(0)?, 0, 0)
        };
        let mut dist = AdaptiveDist {
            order,
            full,
            table,
            table_bits,
            hash_base,
            direct2: hash_base != 0,
            cur: [NONE; MAX_ORDER as usize + 1],
            bucket: [0; MAX_ORDER as usize + 1],
            check: [0; MAX_ORDER as usize + 1],
            see: see_prior(),
            last: Trace::new(),
            hist: 0,
            ahead: Default::default(),
            ahead_hist: Cell::new(None),
        };
        dist.cur[0] = 0;
        dist.locate(0);
        Ok(AdaptiveModel {
            dist,
            hist: 0,
            memory_bytes,
        })
    }

    /// Puts the model back in the state [`AdaptiveModel::new`] gives for its order and
    /// memory, keeping its tables: a caller that codes many blocks reuses one model per
    /// thread instead of mapping (and faulting in) fresh tables for every block. Writes
    /// every byte of the tables (about 1 ms for 32 MiB here), which a fresh model does
    /// not pay until it touches a page.
    pub fn reset(&mut self) {
        let d = &mut self.dist;
        d.full.fill(FullNode::EMPTY);
        d.table.fill(Block::EMPTY);
        d.cur = [NONE; MAX_ORDER as usize + 1];
        d.bucket = [0; MAX_ORDER as usize + 1];
        d.check = [0; MAX_ORDER as usize + 1];
        d.see.clear();
        d.see.extend(see_prior());
        d.last = Trace::new();
        d.ahead_hist.set(None);
        d.cur[0] = 0;
        d.locate(0);
        self.hist = 0;
    }

    /// The model's order.
    pub fn order(&self) -> u32 {
        self.dist.order
    }

    /// The memory budget given to [`AdaptiveModel::new`].
    pub fn memory_budget(&self) -> usize {
        self.memory_bytes
    }

    /// Bytes held by the model's tables; never more than [`Self::memory_budget`].
    pub fn memory_used(&self) -> usize {
        self.dist.full.len() * FULL_NODE_BYTES + self.dist.table.len() * BLOCK_BYTES
    }
}

impl Model for AdaptiveModel {
    type Dist = AdaptiveDist;

    #[inline]
    fn predict(&mut self) -> &AdaptiveDist {
        &self.dist
    }

    #[inline(always)]
    fn update(&mut self, symbol: u8) {
        self.dist.learn(symbol);
        self.hist = (self.hist << 8) | u64::from(symbol);
        self.dist.locate(self.hist);
    }

    /// For a direct order 2, one loop as in `decode_into` (`encode_top_run`, with the
    /// encoder's branch-free `Block::find_and_sum`); other orders use the plain loop.
    #[inline(never)]
    fn encode_each<F: FnMut(u32, Interval)>(&mut self, data: &[u8], mut emit: F) -> Result<()> {
        if !(self.dist.order == 2 && self.dist.direct2) {
            return intervals_of(self, data, emit);
        }
        let mut hist = self.hist;
        let mut done = 0;
        while done < data.len() {
            let n = self.dist.encode_top_run(&data[done..], &mut emit, hist);
            for &s in &data[done..done + n] {
                hist = (hist << 8) | u64::from(s);
            }
            done += n;
            let Some(&s) = data.get(done) else {
                break;
            };
            // A byte its top block does not hold (or no top block): the walk.
            let d = &mut self.dist;
            d.locate(hist);
            emit(SCALE_BITS, d.trace_walk(s));
            d.learn(s);
            hist = (hist << 8) | u64::from(s);
            done += 1;
        }
        self.hist = hist;
        self.dist.locate(hist);
        Ok(())
    }

    /// For a direct order 2, one loop that does what `predict`, `symbol_at` and
    /// `update` do, without the trace in between: a byte its top block holds (98% of
    /// book1's) is found by `find_in_top` and learnt by `learn_top`, in the block
    /// the last two bytes name, with no `locate`; any other byte locates the contexts
    /// and takes the walk. Other orders use the plain loop.
    #[inline(never)]
    fn decode_into<D: Decode>(&mut self, out: &mut [u8], coder: &mut D) -> Result<()> {
        if !(self.dist.order == 2 && self.dist.direct2) {
            return decode_symbols(self, out, coder);
        }
        let mut hist = self.hist;
        let mut done = 0;
        let result = loop {
            let (n, target) = self.dist.decode_top_run(&mut out[done..], coder, hist);
            for &s in &out[done..done + n] {
                hist = (hist << 8) | u64::from(s);
            }
            done += n;
            let Some(target) = target else {
                break Ok(());
            };
            // A byte the top block does not hold (or no top block): the walk.
            let d = &mut self.dist;
            d.locate(hist);
            match d.symbol_at_walk(target) {
                Ok((s, iv)) => {
                    coder.consume(iv.start, iv.freq, SCALE_BITS);
                    d.learn(s);
                    out[done] = s;
                    hist = (hist << 8) | u64::from(s);
                    done += 1;
                }
                Err(e) => break Err(e),
            }
        };
        self.hist = hist;
        self.dist.locate(hist);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Ideal code length in bits of `data` under a fresh model: sum of -log2(freq / 2^16).
    fn code_length_bits(order: u32, memory: usize, data: &[u8]) -> f64 {
        let mut m = AdaptiveModel::new(order, memory).unwrap();
        let mut bits = 0.0;
        for &s in data {
            let iv = m.predict().interval(s).unwrap();
            bits += f64::from(SCALE_BITS) - f64::from(iv.freq).log2();
            m.update(s);
        }
        bits
    }

    /// Runs an encoder-side and a decoder-side model over `data`: the decoder, given the
    /// first and the last target of each interval, must find the same symbol and interval.
    /// On every `check_every`-th step the 256 intervals must tile `[0, 2^16)`.
    fn decode_simulation(order: u32, memory: usize, data: &[u8], check_every: usize) {
        let mut enc = AdaptiveModel::new(order, memory).unwrap();
        let mut dec = AdaptiveModel::new(order, memory).unwrap();
        for (pos, &s) in data.iter().enumerate() {
            let iv = enc.predict().interval(s).unwrap();
            assert!(
                iv.freq >= 1 && iv.start + iv.freq <= TOTAL,
                "pos {pos}: {iv:?}"
            );
            let d = dec.predict();
            for t in [iv.start, iv.start + iv.freq - 1] {
                assert_eq!(d.symbol_at(t).unwrap(), (s, iv), "pos {pos} target {t}");
            }
            if check_every > 0 && pos % check_every == 0 {
                assert_tiles(d);
            }
            enc.update(s);
            dec.update(s);
            assert!(enc.memory_used() <= memory);
        }
    }

    #[test]
    fn hashed_ahead_buckets_are_taken_only_for_their_history() {
        // Both sides hash the next byte's contexts ahead (the encoder for the byte, the
        // decoder for a guess) and must use them only when the history matches: also
        // when the history is eight 0xff bytes, and the guess was another byte.
        let text = include_bytes!("../../corpora/calgary/paper4");
        let mut data = Vec::new();
        for run in 6..14 {
            data.extend_from_slice(&text[..300 * run]);
            data.extend(std::iter::repeat_n(0xff, run));
            data.extend_from_slice(b"e\xff\xff\xff\xff\xff\xff\xff\xffthe");
        }
        for order in [3, 4, 8] {
            decode_simulation(order, MIN_MEMORY, &data, 0);
        }
    }

    /// The intervals of all 256 symbols tile `[0, 2^16)` and `symbol_at` agrees.
    fn assert_tiles(d: &AdaptiveDist) {
        let mut ivs: Vec<(u32, u32, u8)> = (0..=255u8)
            .map(|s| {
                let iv = d.interval(s).unwrap();
                assert!(iv.freq >= 1);
                (iv.start, iv.freq, s)
            })
            .collect();
        ivs.sort_unstable();
        let mut next = 0;
        for &(start, freq, s) in &ivs {
            assert_eq!(start, next, "gap or overlap before symbol {s}");
            next = start + freq;
            assert_eq!(d.symbol_at(start).unwrap().0, s);
            assert_eq!(d.symbol_at(start + freq - 1).unwrap().0, s);
        }
        assert_eq!(next, TOTAL);
        assert!(d.symbol_at(TOTAL).is_err());
    }

    #[test]
    fn spare_per_weight_is_a_close_lower_bound() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = 1 + (x >> 40) as u32 % MAX_WEIGHT as u32;
            let a = (x >> 1) & 0xffff_ffff;
            let exact = (a << 16) / u64::from(w);
            let m = spare_per_weight(a, w);
            assert!(m <= exact, "a {a} w {w}: {m} > {exact}");
            assert!(
                exact - m <= 1 + exact / (1 << 16),
                "a {a} w {w}: {m} vs {exact}"
            );
        }
        assert_eq!(spare_per_weight(1 << 16, 1), u64::from(u32::MAX));
        let (a, w) = (u64::from(u32::MAX), MAX_WEIGHT as u32);
        assert!(spare_per_weight(a, w) <= (a << 16) / u64::from(w));
    }

    #[test]
    fn top_reciprocals_give_the_first_levels_spare_per_weight() {
        // Every weight, escape probabilities from the extremes and between.
        for w in 1..=MAX_WEIGHT {
            for p in [1u32, 2, 77, 1 << 12, 40_000, SEE_ONE - 1] {
                let share = u64::from(TOTAL - 256) * u64::from(SEE_ONE - p);
                let folded = (u64::from(SEE_ONE - p) * TOP_RECIPROCAL[w]) >> 16;
                assert_eq!(folded, spare_per_weight(share, w as u32), "w {w} p {p}");
            }
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(AdaptiveModel::new(MAX_ORDER + 1, DEFAULT_MEMORY).is_err());
        assert!(AdaptiveModel::new(3, MIN_MEMORY - 1).is_err());
        assert!(AdaptiveModel::new(3, MAX_MEMORY + 1).is_err());
        assert!(AdaptiveModel::new(MAX_ORDER, MIN_MEMORY).is_ok());
    }

    #[test]
    fn fresh_model_is_uniform() {
        let mut m = AdaptiveModel::new(4, MIN_MEMORY).unwrap();
        for s in 0..=255u8 {
            let iv = m.predict().interval(s).unwrap();
            assert_eq!(
                iv,
                Interval {
                    start: u32::from(s) * 256,
                    freq: 256
                }
            );
        }
        assert_tiles(m.predict());
    }

    /// What a trace holds: events, found, symbol.
    fn trace_of(d: &AdaptiveDist) -> (Vec<u16>, u16, u16) {
        let t = &d.last;
        let events = (0..usize::from(t.nev.get()))
            .map(|i| t.events[i].get())
            .collect();
        (events, t.found.get(), t.symbol.get())
    }

    #[test]
    fn fast_paths_agree_with_the_walk() {
        // The top-block fast paths of `trace` and `symbol_at` must give the walk's
        // interval and trace for every symbol and target they answer. Orders 2 (direct
        // region), 3 and 5 (hashed), on text with all four outcomes: found on top,
        // escaped to a shorter order, new to every context, and a missing top context.
        let data = include_bytes!("../../corpora/calgary/paper1");
        for order in [2, 3, 5] {
            let mut m = AdaptiveModel::new(order, 1 << 22).unwrap();
            let mut fast_hits = 0;
            for (pos, &s) in data.iter().enumerate() {
                if pos % 211 == 0 {
                    let d = &m.dist;
                    for sym in 0..=255u8 {
                        let fast = d.trace(sym);
                        let fast_trace = trace_of(d);
                        let walk = d.trace_walk(sym);
                        assert_eq!((fast, fast_trace), (walk, trace_of(d)), "{order} {pos}");
                    }
                    for t in (0..TOTAL).step_by(29).chain([TOTAL - 1]) {
                        let fast = d.symbol_at(t).unwrap();
                        let fast_trace = trace_of(d);
                        let walk = d.symbol_at_walk(t).unwrap();
                        assert_eq!((fast, fast_trace), (walk, trace_of(d)), "{order} {pos}");
                        fast_hits += usize::from(
                            d.top()
                                .is_some_and(|(_, mp)| t < mp.n + (mp.num >> 32) as u32),
                        );
                    }
                }
                m.predict().interval(s).unwrap();
                m.update(s);
            }
            assert!(
                fast_hits > 1000,
                "order {order}: the fast path was hardly tried"
            );
        }
    }

    /// The intervals every symbol would get next: a model's state as the coders see it.
    fn next_intervals(m: &mut AdaptiveModel) -> Vec<Interval> {
        (0..=255u8)
            .map(|s| m.predict().interval(s).unwrap())
            .collect()
    }

    #[test]
    fn fused_loops_match_the_plain_ones() {
        use crate::coder::range::{RangeDecoder, RangeEncoder};
        use crate::coder::{Decode, Encode};
        // Text (found in the top block, escapes, new symbols), a long run of two bytes
        // (counts reach 255 and totals LIMIT, so blocks halve), then noise (empty and
        // fresh contexts). Each loop runs in two calls, to check the hand-over.
        let mut data = include_bytes!("../../corpora/calgary/paper1").to_vec();
        data.extend((0..40_000).map(|i| b"ab"[i % 2]));
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        data.extend((0..20_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        }));
        data.extend_from_slice(include_bytes!("../../corpora/canterbury/fields.c"));
        let cut = data.len() / 3;
        let fresh = || AdaptiveModel::new(2, 1 << 24).unwrap();
        assert!(
            fresh().dist.direct2,
            "the test needs a direct order-2 region"
        );

        let (mut fused, mut plain) = (fresh(), fresh());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for part in [&data[..cut], &data[cut..]] {
            fused
                .encode_each(part, |scale, iv| a.push((scale, iv)))
                .unwrap();
            intervals_of(&mut plain, part, |scale, iv| b.push((scale, iv))).unwrap();
        }
        assert_eq!(a, b);
        assert_eq!(next_intervals(&mut fused), next_intervals(&mut plain));

        let mut enc = RangeEncoder::new();
        for &(scale, iv) in &a {
            enc.encode(iv.start, iv.freq, scale);
        }
        let stream = enc.finish();
        let (mut fused, mut plain) = (fresh(), fresh());
        let (mut out_f, mut out_p) = (vec![0u8; data.len()], vec![0u8; data.len()]);
        let mut dec = RangeDecoder::new(&stream).unwrap();
        fused.decode_into(&mut out_f[..cut], &mut dec).unwrap();
        fused.decode_into(&mut out_f[cut..], &mut dec).unwrap();
        dec.finish().unwrap();
        let mut dec = RangeDecoder::new(&stream).unwrap();
        decode_symbols(&mut plain, &mut out_p, &mut dec).unwrap();
        dec.finish().unwrap();
        assert!(out_f == data && out_p == data);
        assert_eq!(next_intervals(&mut fused), next_intervals(&mut plain));
    }

    proptest! {
        #[test]
        fn block_find_and_sum_matches_a_scan(
            syms in proptest::collection::vec(any::<u8>(), CAP),
            counts in proptest::collection::vec(any::<u8>(), CAP),
            n in 0..=CAP,
            pick in any::<prop::sample::Index>(),
            other in any::<u8>(),
        ) {
            // Stale bytes past `n` must not be found or summed.
            let mut b = Block::EMPTY;
            b.n = n as u8;
            b.syms.copy_from_slice(&syms);
            b.counts.copy_from_slice(&counts);
            for s in [syms[pick.index(CAP)], other] {
                let naive = syms[..n].iter().position(|&x| x == s).map(|j| {
                    (j, counts[..j].iter().map(|&c| u32::from(c)).sum::<u32>())
                });
                prop_assert_eq!(b.find_and_sum(s), naive);
            }
        }
    }

    #[test]
    fn learns_a_repeated_pattern() {
        let data: Vec<u8> = b"abcdefgh".iter().copied().cycle().take(4000).collect();
        for order in 0..=6 {
            let bits = code_length_bits(order, MIN_MEMORY, &data);
            // Order 0 still pays ~3 bits a byte; any longer context predicts almost surely.
            let limit = if order == 0 { 3.2 } else { 0.1 };
            assert!(
                bits / 4000.0 < limit,
                "order {order}: {} bpc",
                bits / 4000.0
            );
        }
    }

    #[test]
    fn a_reset_model_behaves_as_a_fresh_one() {
        let book1 = std::fs::read("corpora/calgary/book1").unwrap();
        let (a, b) = (&book1[..200_000], &book1[300_000..400_000]);
        for order in [0, 1, 2, 3, 5] {
            // Small memory, so that the hashed table fills and evicts before the reset.
            let memory = 1 << 20;
            let mut used = AdaptiveModel::new(order, memory).unwrap();
            for &s in a {
                used.predict().interval(s).unwrap();
                used.update(s);
            }
            used.reset();
            let mut fresh = AdaptiveModel::new(order, memory).unwrap();
            for &s in b {
                let x = used.predict().interval(s).unwrap();
                let y = fresh.predict().interval(s).unwrap();
                assert_eq!((x.start, x.freq), (y.start, y.freq), "order {order}");
                used.update(s);
                fresh.update(s);
            }
        }
    }

    #[test]
    fn decoder_follows_encoder_on_text() {
        let data = include_bytes!("../../corpora/calgary/paper4");
        for order in 0..=6 {
            decode_simulation(order, MIN_MEMORY, data, 997);
        }
    }

    #[test]
    #[ignore = "slow in debug; run with --release --ignored"]
    fn decoder_follows_encoder_on_book1() {
        let data = include_bytes!("../../corpora/calgary/book1");
        for order in [2, 4, 6] {
            decode_simulation(order, DEFAULT_MEMORY, data, 20_011);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn decoder_follows_encoder(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..1500),
                proptest::collection::vec(0u8..4, 0..3000),
                Just(vec![7u8; 700]),
                Just((0..=255u8).collect::<Vec<u8>>()),
            ],
            order in 0u32..=6,
            extra_kib in 0usize..64,
        ) {
            decode_simulation(order, MIN_MEMORY + extra_kib * 1024, &data, 101);
        }

        #[test]
        fn hostile_targets_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            targets in proptest::collection::vec(any::<u32>(), 1..50),
            order in 0u32..=6,
        ) {
            let mut m = AdaptiveModel::new(order, MIN_MEMORY).unwrap();
            for &s in &data {
                m.update(s);
            }
            let d = m.predict();
            for t in targets {
                match d.symbol_at(t) {
                    Ok((s, iv)) => {
                        prop_assert!(t < TOTAL && iv.start <= t && t < iv.start + iv.freq);
                        prop_assert_eq!(d.interval(s).unwrap(), iv);
                    }
                    Err(_) => prop_assert!(t >= TOTAL),
                }
            }
        }
    }

    /// Prints bits per byte for each order on the text files of the corpora, next to
    /// bzip2 -9 sizes measured separately (`cargo test --release --lib adaptive::tests::report
    /// -- --ignored --nocapture`).
    #[test]
    #[ignore = "report, not a check"]
    fn report() {
        let all = [
            "calgary/book1",
            "calgary/book2",
            "calgary/bib",
            "calgary/news",
            "calgary/paper1",
            "calgary/paper2",
            "calgary/paper3",
            "calgary/paper4",
            "calgary/paper5",
            "calgary/paper6",
            "calgary/progc",
            "calgary/progl",
            "calgary/progp",
            "canterbury/alice29.txt",
            "canterbury/asyoulik.txt",
            "canterbury/lcet10.txt",
            "canterbury/plrabn12.txt",
        ];
        let files: Vec<&str> = match std::env::var("FILES") {
            Ok(v) => all
                .iter()
                .copied()
                .filter(|f| v.split(',').any(|x| f.contains(x)))
                .collect(),
            Err(_) => all.to_vec(),
        };
        let orders: Vec<u32> = std::env::var("ORDERS")
            .map(|v| v.split(',').map(|x| x.parse().unwrap()).collect())
            .unwrap_or_else(|_| (0..=6).collect());
        let memory = std::env::var("MEMORY_MIB")
            .map_or(DEFAULT_MEMORY, |v| v.parse::<usize>().unwrap() << 20);
        for f in files {
            let data =
                std::fs::read(format!("{}/corpora/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let mut line = format!("{f:24}");
            for &order in &orders {
                let bits = code_length_bits(order, memory, &data);
                line += &format!(
                    " o{order} {:.4} ({:7.0} B)",
                    bits / data.len() as f64,
                    bits / 8.0
                );
            }
            println!("{line}");
        }
    }
}
