//! Adaptive frequency model of order 0 or 1: a table of counts per context, with the
//! coding distribution rebuilt from the counts on a schedule (deferred summation).
//!
//! # Read me first
//!
//! **What it is.** The plain adaptive model of the classic arithmetic coders: per context
//! (none for order 0, the previous byte for order 1; the byte before the block start reads
//! as 0) a count per symbol, every symbol's probability its share of the counts. No
//! escapes, no mixing: every symbol keeps a count of at least 1, so every distribution
//! gives every byte `freq >= 1`. It is the like-for-like of htscodecs' `arith_dynamic`
//! (and a much weaker, much faster model than [`crate::model::adaptive`]'s PPM).
//!
//! **Deferred summation.** Counts grow by [`INC`] for every symbol coded in their
//! context, but the distribution the coder sees (start and frequency of each symbol at
//! total `2^16`, [`SCALE_BITS`]) is rebuilt from them only after the context has seen
//! `period` symbols; between rebuilds `predict` is a pointer to a table and `update` an
//! addition. `period` starts at [`FIRST_PERIOD`] and doubles at every rebuild up to
//! [`MAX_PERIOD`], so a young context follows its counts closely and an old one pays
//! for a rebuild once per `MAX_PERIOD` symbols.
//!
//! **Rules** (the same on both sides; integers only; also in `docs/FORMAT.md`):
//!
//! ```text
//! start of a block:  every context has c[s] = 1 for all 256 s, T = 256, period = FIRST_PERIOD,
//!                    left = period, and the uniform distribution freq[s] = 256
//! after symbol s in context x:
//!     c[s] += INC, T += INC, left -= 1
//!     if left == 0: rebuild(x, s); period = min(2 period, MAX_PERIOD); left = period
//!     (order 1: the context becomes s)
//! rebuild(x, s):
//!     if T > LIMIT:  c[y] = c[y] - floor(c[y] / 2) for every y   (halving; c stays >= 1)
//!                    T = sum of c
//!     m = floor(2^32 / T)                        (T <= 2^16, so m >= 2^16)
//!     freq[y] = floor(c[y] m / 2^16)             (>= c[y] >= 1)
//!     freq[s] += 2^16 - sum of freq              (the symbol just coded; adds 0..=256)
//!     start[y] = freq[0] + ... + freq[y-1]
//! ```
//!
//! `INC` and `LIMIT` depend on the order: [`INC`] is 32 at order 0 and 40 at order 1,
//! and `LIMIT = 2^16 - MAX_PERIOD * INC - 1`. Counts stay below 2^16: `T <= LIMIT +
//! MAX_PERIOD * INC < 2^16` before a halving.
//! With `FIRST_PERIOD = 1` a context rebuilds after its 1st, 3rd, 7th, 15th, ... symbol,
//! then every 64th: on kennedy.xls a longer `MAX_PERIOD` costs more than 1% (256: +1.1%
//! at order 0, +1.8% at order 1), on book1 it hardly matters.
//!
//! **Decoding.** A decoding model ([`FrequencyModel::new`]) also keeps a bucket table
//! per distribution: `bucket[j]` is the symbol whose interval holds `j * 2^BUCKET_SHIFT`.
//! A target `t` starts at `bucket[t >> BUCKET_SHIFT]` and walks towards the symbol
//! whose interval holds it; a walk longer than one step needs several symbols inside
//! one bucket (only rare symbols are that narrow) or hints from an older distribution.
//! The buckets are built without a branch a symbol (a store of each symbol at its
//! start's bucket, then a running maximum). With a rebuild every 64 symbols their size
//! is a trade: 128 buckets of 512 slots decoded book1 and kennedy.xls 3-6% faster than
//! 256, 512 slower again (CPU time of `shannon decompress`, medians of 7 alternated
//! runs), and 1024 buckets filled by a branchy loop spent 53% of the decoder's time in
//! rebuilds (perf). The buckets are only a hint where to start (the walk goes down as
//! well as up), so a context at the longest period rebuilds them every
//! `BUCKET_REFRESH` (4) rebuilds: 4 decoded 3-12% faster than 1 (16: no better than 4).
//! What is decoded never depends on them. A distribution that serves fewer than
//! `BUCKET_MIN_PERIOD` (64) symbols, that is every rebuild of a young context, gets no
//! buckets and is searched (binary search over the starts): 128 buckets cost more to
//! build than up to 32 searches (kennedy.xls, order 1, rANS: 136.3 to 118.4 million
//! instructions decoding, callgrind). On x86-64 with AVX2 the decoding loops do not
//! walk: they probe the bucket's symbol once and on a miss count the starts at most
//! the target (two compares of sixteen lanes, no branch;
//! `FrequencyDist::find_counting`). CPU time decoding kennedy.xls 32 times over
//! (128 KiB blocks, min of 5 alternated runs): against the walk, rANS order 0 0.27 s
//! to 0.20 s (counting alone, no buckets, in an earlier step); then the probe added
//! and used by every loop: range order 0 0.32 s to 0.29 s, order 1 0.34 s to 0.31
//! s, rANS order 1 0.29 s to 0.27 s, rANS order 0 unchanged. Counting alone was
//! slower than the walk for the range decoder (order 0: 0.32 s to 0.40 s) and rANS
//! at order 1 (0.31 s to 0.39 s): there each target waits on the previous symbol,
//! and the count's latency is on that chain; the probe takes it off for most
//! symbols. An encoding model
//! ([`FrequencyModel::for_encoding`]) skips the buckets, and its `symbol_at` falls back
//! to a binary search.
//!
//! **Two coders.** From format version 5 the arithmetic coder's blocks are coded by
//! two range coders taking turns, symbol `i` by coder `i mod 2` (F. Giesen,
//! "Interleaved entropy coders", arXiv:1402.3392, 2014; `crate::coder::range`'s
//! `InterleavedRangeEncoder`). The model is not split: it sees every symbol in data
//! order, so an encoder just hands the intervals of `encode_each` to the pair, and
//! [`FrequencyModel::decode_interleaved`] decodes two symbols an iteration, peeking
//! both coders before it looks either symbol up, so that the two divisions overlap
//! (each symbol then as below: top symbol first, then the lookup). At order 1 the odd
//! symbol's context is the even one, so only its division, not its lookup, runs ahead.
//!
//! **rANS lanes.** The rANS decoder rotates four states, symbol `i` by state `i mod
//! 4`, and picks the state by that index every symbol (a load and a store through it).
//! A decoding model given a [`RansDecoder`] ([`FrequencyModel::decode_rans`]) instead
//! decodes four symbols an iteration, each by one state as a decoder of its own
//! ([`RansLane`], a constant index). Same symbols, same stream. Callgrind, 128 KiB
//! blocks, decoding: kennedy.xls order 1 92.9 to 85.4 million instructions, order 0
//! 81.8 to 76.6; book1 order 1 69.5 to 64.6. CPU time of 32 copies of kennedy.xls at
//! order 1, 15 alternated runs: min 517 to 495 ms, median 569 to 567; the peer
//! benchmark's ratios moved within their noise.
//!
//! **Top symbol first.** A decoding model also tracks a symbol with the largest count
//! per context (a compare a symbol; halving keeps the counts' order) and, at each
//! rebuild, stores its interval if it holds at least `TOP_MIN_FREQ` (an eighth) of the
//! total (with the range coder a quarter decoded 1-5% slower, a sixteenth the same;
//! CPU time, min of 21 runs). [`Model::decode_into`] asks the coder about that interval first
//! ([`Decode::consume_if`]); only on a miss does it look the target up. It peeks
//! before it asks, though: the range decoder's division then starts ahead of the test
//! and its target is ready sooner when the test misses (the branch is close to a coin
//! flip on kennedy.xls), at the price of a division nobody uses on a hit (CPU time,
//! min of 7 alternated runs, 128 KiB blocks: order 0 decoded 3-4% faster, kennedy.xls
//! and book1; order 1 0-3%). The
//! range decoder answers with two multiplications instead of its division, so a hit
//! takes the division, the bucket and the walk off the symbol's dependency chain; the
//! rANS decoder answers only for intervals of at least half the total (it divides
//! nothing, and a test that misses as often as it hits costs more in mispredicted
//! branches than the walk it saves). On kennedy.xls the top symbol is about half the
//! bytes, on book1 a sixth (order 0) to a quarter (order 1).
//!
//! **Ninth session, decoding.** Three changes to the decoding loops, together (CPU
//! time of `shannon decompress -T 1`, 64 copies, 128 KiB blocks, min of 7 alternated
//! runs, arithmetic coder, base -> new): kennedy.xls order 0 528 -> 465 ms, order 1
//! 609 -> 566 ms; book1 order 0 534 -> 467 ms, order 1 674 -> 581 ms. (1) The range
//! decoder renormalises without a branch (`crate::coder::range`'s notes): with two
//! coders, callgrind's mispredicted branches on kennedy.xls went from 1.11M to 0.60M
//! (order 0), the change that saves the most; the one-coder version of it measured
//! slower (below, "Tried, not kept"). (2) Intervals go to the coder through
//! [`Decode::consume_valid`] and [`Decode::consume_if_valid`], which skip the range
//! decoder's checks of the interval: a `FrequencyDist`'s intervals are valid whatever
//! the stream. (3) The bucket probe is tried in every distribution, also one without
//! buckets of its own: its hint is then an older distribution's, often still right,
//! and the probe's test is exact anyway. Before (1), kennedy.xls order 0, one run of
//! five binaries alternated: base 510 ms, with (2) 513 ms (fewer instructions, no
//! faster alone), with (2) and (3) 488 ms; tried with (2) and not kept: no top-symbol
//! test (565 ms; book1 faster, 511 -> 469 ms), counting without the probe (782 ms).
//! Another run (with (2): 508 ms): the top symbol and the probe's symbol chosen without
//! a branch after the division, 544 ms (a top hit no longer resolves the symbol before
//! the division ends). After (1), order 1 / order 0 on kennedy.xls, each against the
//! kept build in one run: peeking a coder only after its top test misses (both coders
//! 615 / 484 ms against 590 / 473; the even coder only, 610 / 483), `peek` as an `f64`
//! division (731 / 627 against 547 / 474), and the total brought up to date only at a
//! rebuild (`INC * period`; 4% fewer instructions, 577 / 456 against 575 / 454 ms).
//!
//! **Rebuild cost.** A rebuild is plain loops over 16-bit lanes with no branch a
//! symbol: `floor(c m / 2^16)` as a multiply and a high multiply of 16-bit values (`m`
//! split in halves), the starts as prefix sums (eight lanes to an SSE2 vector on x86-64,
//! four to a `u64` elsewhere), the bucket hints as a scatter and a running maximum in
//! doubling steps. On kennedy.xls (order 1, range, decoding) rebuilds went from 27% to
//! 19% of the time (perf), from 32% to 22% when encoding; the SSE2 starts took another
//! 200 instructions off a rebuild (kennedy.xls order-1 rANS decoding: 118.6 to 113.8
//! million instructions, encoding 128.2 to 123.4, callgrind). The freqs are now made
//! in the same pass as the starts (`freqs_and_starts`), and the remainder added to the
//! starts after the symbol that takes it.
//! Ninth session, with AVX2 (`intervals_avx2`, `buckets_avx2`): two passes, the freqs
//! and their sum first, so that the remainder goes into `freq[last]` before any start
//! is made (no pass over the starts after it), and `coarse` is the running sum before
//! each chunk (no `set_coarse`); the buckets' keys as bytes from three vector
//! operations and the running maximum in four registers (it was seven passes over the
//! bytes, 380 instructions a build); `m` by a 32-bit division. Where a decoding rebuild
//! (kennedy.xls, order 1, range, 128 KiB blocks) spent 904 instructions, 666: the
//! starts pass 305, the freqs pass 135, the buckets about 1,000 a build (one rebuild
//! in six), 830 of them the scatter, a store a symbol. Decoding 98.7 to 92.9 million
//! instructions (callgrind); CPU time, min of 5 alternated runs, 64 copies: decoding
//! 0.87-0.95 of before (book1 and kennedy.xls, orders 0 and 1, both coders), encoding
//! 0.95-0.99.
//!
//! **Tried, not kept** (CPU time, min of 7 runs alternated, 128 KiB blocks): a
//! branch-free range decoder renormalisation (byte count from two comparisons, a
//! two-byte window) cut callgrind's mispredictions on kennedy.xls order 0 from 1.05M
//! to 0.63M but added 17M instructions and decoded 3.5% slower; `TOP_MIN_FREQ` 2^12
//! with the early peek: no change; the rANS decoder trying intervals of a quarter of
//! the total: kennedy.xls 1.5-4.6% faster, book1 5% slower or worse; the generic rANS
//! encoder with its four states rotated (constant indices) or its word written by a
//! select: 1-6% slower. Eighth session: the rANS encoder's `floor(x / f)` as an `f64`
//! division with an exact correction (0.50 to 0.55 s encoding 64 copies of kennedy.xls
//! at order 1: the conversions and the division sit on each state's chain; the kept
//! reciprocal table is in `crate::coder::rans`); running the model in chunks of 64
//! symbols before coding them (0.48 against 0.47 s); `freqs_and_starts` in AVX-512BW,
//! 32 lanes (decode 0.55 against 0.56 s, encode 0.46 against 0.46 s). Ninth session:
//! the bucket scatter unrolled with each symbol an immediate (a load and a store a
//! symbol: 685 to 622 instructions a rebuild, CPU time 0.98-1.03, noise, for 3 KB of
//! code: the scatter is bound by its 256 stores); the AVX2 check inlined into the
//! coding loops (it changed the encoding loop's code: 0.76 million more instructions
//! there, order-1 range encoding 2% slower than before; out of line, the check and a
//! tail jump, 0.97-1.01 against inlined). Not tried: the whole rebuild in AVX-512 (the
//! note above, and 512-bit operations issue on two ports to AVX2's three).
//!
//! **Memory.** A context's tables (counts, starts, buckets) take about 1.2 KiB; an
//! order-1 model holds 256 of them in one table (300 KiB) and sets a context up at its
//! first use in a block, so a block that uses 60 distinct bytes initialises 60.

use crate::coder::Decode;
use crate::coder::rans::{RansDecoder, RansLane, STATES};
use crate::error::{Error, Result};
use crate::model::{Distribution, Interval, Model, decode_symbol, decode_symbols};

/// log2 of the total of every distribution this model hands out.
pub const SCALE_BITS: u32 = 16;
/// Count added to a symbol each time it is coded in a context, by order. Order-1
/// contexts are many and young, so a larger step gets their counts past the uniform
/// start sooner: book1 in 128 KiB blocks with rANS, order 1: 32 gave 352,627 bytes, 40
/// gave 352,551, 48 gave 352,591, 64 gave 352,771 (kennedy.xls: 325,157, 323,141,
/// 322,273, 321,505); over every Calgary and Canterbury file, 40 against 32: 2,331,627
/// against 2,331,656 bytes in 1 MiB blocks, 2,359,684 against 2,360,843 in 128 KiB
/// blocks. At order 0, 24 and 48 lost 3-6 KB on kennedy.xls against 32.
pub const INC: [u32; 2] = [32, 40];
/// Symbols a fresh context codes before its first rebuild.
pub const FIRST_PERIOD: u32 = 1;
/// Largest number of symbols between two rebuilds of a context.
pub const MAX_PERIOD: u32 = 64;
/// A rebuild that finds the counts' total above this halves them first, by order.
pub const LIMIT: [u32; 2] = [
    (1 << 16) - MAX_PERIOD * INC[0] - 1,
    (1 << 16) - MAX_PERIOD * INC[1] - 1,
];
/// Largest order this model takes.
pub const MAX_ORDER: u32 = 1;

/// log2 of the slots per bucket of the decoding table.
const BUCKET_SHIFT: u32 = 9;
/// A context at the longest period rebuilds its bucket hints every this many rebuilds.
const BUCKET_REFRESH: u32 = 4;
/// A rebuild whose distribution will serve fewer symbols than this builds no buckets.
const BUCKET_MIN_PERIOD: u32 = 64;
/// Smallest frequency of a top symbol worth asking the coder about first.
const TOP_MIN_FREQ: u32 = 1 << 13;
/// Buckets in a decoding table.
const BUCKETS: usize = 1 << (SCALE_BITS - BUCKET_SHIFT);

const _: () = assert!(LIMIT[0] + MAX_PERIOD * INC[0] < 1 << 16 && LIMIT[0] >= 256);
const _: () = assert!(LIMIT[1] + MAX_PERIOD * INC[1] < 1 << 16 && LIMIT[1] >= 256);

/// One context's coding distribution: the interval of every symbol at total `2^16`.
#[derive(Clone)]
pub struct FrequencyDist {
    /// `start[s]` for each symbol, and `start[256] = 0`, which stands for `2^16`: symbol
    /// `s` has `freq = start[s + 1] - start[s]` (mod `2^16`; `1 <= freq <= 2^16 - 255`).
    start: [u16; 257],
    /// `bucket[j]`: the symbol whose interval held `j << BUCKET_SHIFT` when the buckets
    /// were last built (at most [`BUCKET_REFRESH`] rebuilds ago): where `find` starts.
    /// Used only when `has_buckets`.
    bucket: [u8; BUCKETS],
    /// Whether `bucket` was built (decoding models build it).
    has_buckets: bool,
    /// A symbol with the largest count when the distribution was built (decoding
    /// models; 0 otherwise): the decoder asks [`Decode::consume_if`] about it first.
    top: u8,
    /// `start[top]`.
    top_start: u16,
    /// The frequency of `top` (at most `2^16 - 255`).
    top_freq: u16,
    /// `coarse[g] = start[16 g]`: the first start of each group of sixteen symbols,
    /// for [`FrequencyDist::find_counting`].
    coarse: [u16; 16],
}

impl std::fmt::Debug for FrequencyDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrequencyDist").finish_non_exhaustive()
    }
}

/// The starts of the uniform distribution (every `freq = 256`), and the final 0.
const UNIFORM_START: [u16; 257] = {
    let mut start = [0u16; 257];
    let mut s = 0;
    while s < 256 {
        start[s] = (s as u16) << 8;
        s += 1;
    }
    start
};

impl FrequencyDist {
    /// The interval of `symbol` (every symbol has one).
    #[inline(always)]
    pub fn get(&self, symbol: u8) -> Interval {
        let s = usize::from(symbol);
        let start = self.start[s];
        Interval {
            start: u32::from(start),
            freq: u32::from(self.start[s + 1].wrapping_sub(start)),
        }
    }

    /// The symbol whose interval holds `target`, which must be below `2^16`; only its
    /// low 16 bits are used (so a larger one, a caller bug, still ends: see
    /// [`Distribution::symbol_at`], which refuses it).
    #[inline(always)]
    pub fn find(&self, target: u32) -> (u8, Interval) {
        debug_assert!(target < 1 << SCALE_BITS);
        let target = target & 0xffff;
        if !self.has_buckets {
            return self.search(target);
        }
        // The bucket's symbol is a hint: the first symbol of the bucket's first slot when
        // the buckets were last built, which may be a few rebuilds ago. Walking down
        // while the target lies before the symbol's interval and up while it lies past
        // it reaches the one symbol that holds it (the intervals tile [0, 2^16), so
        // every step moves towards it and s stays in 0..=255).
        let mut s = self.bucket[(target >> BUCKET_SHIFT) as usize & (BUCKETS - 1)];
        loop {
            let iv = self.get(s);
            if target < iv.start {
                s = s.wrapping_sub(1);
            } else if target - iv.start < iv.freq {
                return (s, iv);
            } else {
                s = s.wrapping_add(1);
            }
        }
    }

    /// [`FrequencyDist::find`] by binary search over the starts (no buckets needed).
    fn search(&self, target: u32) -> (u8, Interval) {
        // The last symbol whose start is <= target; symbol 0 starts at 0.
        let s = self.start[..256].partition_point(|&e| u32::from(e) <= target) - 1;
        (s as u8, self.get(s as u8))
    }

    /// [`FrequencyDist::find`] without buckets and without a branch: the group of
    /// sixteen symbols is the number of groups whose first start is at most `target`,
    /// less one; the symbol within it, the number of its starts at most `target`, less
    /// one (the starts rise strictly, and symbol 0 starts at 0). Two compares of
    /// sixteen lanes, each counted by a movemask and a popcount (a portable sum of
    /// the compares, vectorised by the compiler, decoded 1.6x slower than this).
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,popcnt")]
    fn find_counting(&self, target: u32) -> (u8, Interval) {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi16, _mm256_loadu_si256, _mm256_max_epu16,
            _mm256_movemask_epi8, _mm256_set1_epi16,
        };
        debug_assert!(target < 1 << SCALE_BITS);
        let t = _mm256_set1_epi16(target as u16 as i16);
        // Two mask bits for every lane whose value is at most t.
        let below = |v: &[u16; 16]| {
            // SAFETY: `v` is 16 u16, the 32 bytes an unaligned load reads.
            let v = unsafe { _mm256_loadu_si256(v.as_ptr().cast::<__m256i>()) };
            let le = _mm256_cmpeq_epi16(_mm256_max_epu16(v, t), t);
            (_mm256_movemask_epi8(le) as u32).count_ones() / 2
        };
        let g = ((below(&self.coarse).wrapping_sub(1) & 15) << 4) as usize;
        let group: &[u16; 16] = self.start[g..g + 16].try_into().expect("16 starts");
        let c = (below(group).wrapping_sub(1) & 15) as usize;
        let s = (g + c) as u8;
        (s, self.get(s))
    }

    /// Sets `coarse` from `start`.
    #[inline(always)]
    fn set_coarse(&mut self) {
        for (g, c) in self.coarse.iter_mut().enumerate() {
            *c = self.start[g << 4];
        }
    }

    /// The uniform distribution, and its buckets if `buckets`.
    fn set_uniform(&mut self, buckets: bool) {
        self.start = UNIFORM_START;
        self.set_coarse();
        // No symbol stands out: none is tried first (freq 0, a sure miss).
        (self.top, self.top_start, self.top_freq) = (0, 0, 0);
        if buckets {
            // Slot j << BUCKET_SHIFT lies in symbol (j << BUCKET_SHIFT) / 256.
            for (j, b) in self.bucket.iter_mut().enumerate() {
                *b = (j << BUCKET_SHIFT >> 8) as u8;
            }
        }
        self.has_buckets = buckets;
    }

    /// Sets the intervals from `counts` (each `>= 1`, summing to `total <= 2^16`) by the
    /// rebuild rule of the module notes, the rounding remainder to `last`; the symbol
    /// the decoder tries first to `top`; and the buckets if `buckets`. `coarse` is set
    /// if `coarse`, and always on x86-64 with AVX2 (where it costs nothing). The tests'
    /// entry: a rebuild calls [`FrequencyDist::set_with`] for its own kind of code.
    #[cfg(test)]
    fn set(
        &mut self,
        counts: &[u16; 256],
        total: u32,
        last: u8,
        top: u8,
        coarse: bool,
        buckets: bool,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the one requirement of a `target_feature` function.
            return unsafe { self.set_avx2(counts, total, last, top, buckets) };
        }
        self.set_with::<false>(counts, total, last, top, coarse, buckets)
    }

    /// [`FrequencyDist::set`] compiled for AVX2.
    #[cfg(all(test, target_arch = "x86_64"))]
    #[target_feature(enable = "avx2")]
    fn set_avx2(&mut self, counts: &[u16; 256], total: u32, last: u8, top: u8, buckets: bool) {
        self.set_with::<true>(counts, total, last, top, true, buckets)
    }

    /// `FrequencyDist::set`'s steps (`set` is the tests' entry); with `AVX2` (which only
    /// functions compiled for AVX2 may ask for) by [`intervals_avx2`] and
    /// [`buckets_avx2`].
    #[inline(always)]
    fn set_with<const AVX2: bool>(
        &mut self,
        counts: &[u16; 256],
        total: u32,
        last: u8,
        top: u8,
        coarse: bool,
        buckets: bool,
    ) {
        debug_assert!((256..=1 << 16).contains(&total));
        // m = floor(2^32 / T) <= 2^24 (T >= 256), split as m = mh 2^16 + ml. As a
        // 32-bit division (a shorter wait than a 64-bit one): floor((2^32 - 1) / T),
        // which is one less exactly when T divides 2^32, a power of two (T <= 2^16).
        let m = u32::MAX / total + u32::from(total.is_power_of_two());
        let (mh, ml) = ((m >> 16) as u16, (m & 0xffff) as u16);
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: `set_with::<true>` is called only from `set_avx2` and
            // `Context::rebuild_avx2`, both compiled for AVX2 and called only where
            // the CPU has it.
            unsafe { intervals_avx2(counts, mh, ml, last, &mut self.start, &mut self.coarse) };
        }
        if !AVX2 || cfg!(not(target_arch = "x86_64")) {
            // One pass: every freq and the starts of the freqs before the remainder is
            // added, and their sum (mod 2^16; the sum is <= 2^16).
            let sum = freqs_and_starts(counts, mh, ml, &mut self.start);
            // The remainder 2^16 - sum >= 0 goes to `last`: every start after it moves up.
            let rem = 0u16.wrapping_sub(sum);
            let last = usize::from(last);
            for st in &mut self.start[last + 1..256] {
                *st = st.wrapping_add(rem);
            }
            if coarse {
                self.set_coarse();
            }
        }
        self.start[256] = 0;
        let t = self.get(top);
        // A top below TOP_MIN_FREQ is not tried: freq 0 makes consume_if a sure miss.
        let f = if t.freq >= TOP_MIN_FREQ { t.freq } else { 0 };
        (self.top, self.top_start, self.top_freq) = (top, t.start as u16, f as u16);
        if buckets {
            self.has_buckets = true;
            #[cfg(target_arch = "x86_64")]
            if AVX2 {
                // SAFETY: as for `intervals_avx2` above.
                unsafe { buckets_avx2(&self.start, &mut self.bucket) };
                return;
            }
            // Without a branch a symbol: mark[j] = the last symbol whose start rounds up
            // to bucket j (0 if none)...
            // The bucket of each start first, in a loop the compiler vectorises
            // (`ceil(start / 2^BUCKET_SHIFT)` without leaving 16 bits), so that the
            // scatter is a load and a store a symbol (256 entries: no bounds check).
            let mut key = [0u8; 256];
            for (k, &start) in key.iter_mut().zip(&self.start[..256]) {
                let up = u16::from(start & ((1 << BUCKET_SHIFT) - 1) != 0);
                *k = ((start >> BUCKET_SHIFT) + up) as u8;
            }
            let mut mark = [0u8; 256];
            for (s, &j) in key.iter().enumerate() {
                mark[usize::from(j)] = s as u8;
            }
            // ...then bucket[j] = max(mark[0..=j]) = the last symbol starting at or
            // before j << BUCKET_SHIFT (symbol 0 starts at 0), as a running maximum
            // in seven doubling steps (each a plain loop over the bytes).
            let mut run = [0u8; BUCKETS];
            run.copy_from_slice(&mark[..BUCKETS]);
            let mut d = 1;
            while d < BUCKETS {
                let prev = run;
                for (r, &p) in run[d..].iter_mut().zip(&prev) {
                    *r = (*r).max(p);
                }
                d *= 2;
            }
            self.bucket = run;
        }
    }
}

/// The whole interval rule of a rebuild (module notes) in AVX2, sixteen lanes a
/// vector: the starts of the freqs with the remainder given to `last`, and `coarse`.
/// Two passes. The first makes the freqs, `c mh + floor(c ml / 2^16)` in 16-bit lanes
/// (exact: each `freq < 2^16`), into a table and sums them; the remainder `2^16 - sum`
/// is then added to `freq[last]` (one vector, a lane selected by a compare). The
/// second makes the starts as prefix sums: within each 128-bit half a lane-shifted add
/// three times (`x + (x << 1 lane)`, then 2, then 4) makes each lane the sum of those
/// up to it; the low half's sum (broadcast by a byte shuffle) is carried into the high
/// half; less the lane's own freq, plus the sum of the chunks before, it is the start.
/// The running sum before each chunk is also its first start, the chunk's `coarse`.
/// No pass over the starts after the remainder is known, no `set_coarse`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn intervals_avx2(
    counts: &[u16; 256],
    mh: u16,
    ml: u16,
    last: u8,
    start: &mut [u16; 257],
    coarse: &mut [u16; 16],
) {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_add_epi16, _mm_cvtsi128_si32, _mm_shuffle_epi32, _mm_srli_epi32,
        _mm256_add_epi16, _mm256_and_si256, _mm256_castsi256_si128, _mm256_cmpeq_epi16,
        _mm256_cvtsi256_si32, _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_mullo_epi16,
        _mm256_permute4x64_epi64, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setr_epi16,
        _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_slli_si256, _mm256_storeu_si256,
        _mm256_sub_epi16,
    };
    let (mhv, mlv) = (_mm256_set1_epi16(mh as i16), _mm256_set1_epi16(ml as i16));
    // floor(c ml / 2^16) in each lane, one `vpmulhuw`. Written as the intrinsic, LLVM
    // (which knows `ml < 2^16` here) widened the lanes to 32 bits and packed them
    // back: five more instructions a vector.
    let mulhi = |c: __m256i| {
        let hi: __m256i;
        // SAFETY: one AVX2 instruction (this function requires AVX2) on registers: it
        // reads and writes no memory, touches no stack and sets no flags.
        unsafe {
            std::arch::asm!(
                "vpmulhuw {hi}, {c}, {ml}",
                hi = lateout(ymm_reg) hi,
                c = in(ymm_reg) c,
                ml = in(ymm_reg) mlv,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        hi
    };
    // Pass 1: the freqs, and their sum in each lane.
    let mut freq = [0u16; 256];
    let mut sum = _mm256_setzero_si256();
    for (c, f) in counts.chunks_exact(16).zip(freq.chunks_exact_mut(16)) {
        // SAFETY: `c` and `f` are 16 u16, the 32 bytes an unaligned load or store
        // reads or writes.
        unsafe {
            let c = _mm256_loadu_si256(c.as_ptr().cast::<__m256i>());
            // freq = c mh + floor(c ml / 2^16), wrapping as the scalar rule does.
            let x = _mm256_add_epi16(_mm256_mullo_epi16(c, mhv), mulhi(c));
            _mm256_storeu_si256(f.as_mut_ptr().cast::<__m256i>(), x);
            sum = _mm256_add_epi16(sum, x);
        }
    }
    // The sixteen lanes added (mod 2^16): halves, then dwords, then words.
    let mut s: __m128i = _mm_add_epi16(
        _mm256_castsi256_si128(sum),
        _mm256_extracti128_si256::<1>(sum),
    );
    s = _mm_add_epi16(s, _mm_shuffle_epi32::<0x4e>(s));
    s = _mm_add_epi16(s, _mm_shuffle_epi32::<0xb1>(s));
    s = _mm_add_epi16(s, _mm_srli_epi32::<16>(s));
    // The remainder 2^16 - sum >= 0 goes to `last`'s lane of its chunk.
    let rem = 0u16.wrapping_sub(_mm_cvtsi128_si32(s) as u16);
    let (k, lane) = (usize::from(last >> 4) << 4, last & 15);
    let chunk: &mut [u16; 16] = (&mut freq[k..k + 16]).try_into().expect("16 freqs");
    let iota = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let pick = _mm256_cmpeq_epi16(iota, _mm256_set1_epi16(i16::from(lane)));
    // SAFETY: `chunk` is 16 u16, the 32 bytes an unaligned load or store reads or writes.
    unsafe {
        let x = _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>());
        let x = _mm256_add_epi16(x, _mm256_and_si256(pick, _mm256_set1_epi16(rem as i16)));
        _mm256_storeu_si256(chunk.as_mut_ptr().cast::<__m256i>(), x);
    }
    // Pass 2: the starts. Bytes 14 and 15 (lane 7) of each half, to every lane of it.
    let lane7 = _mm256_set1_epi32(0x0f0e_0f0e);
    // One chunk: its starts from its freqs `f` and `before`, the sum of the freqs of
    // the chunks before it in every lane; returns that for the next chunk.
    let chunk = |f: &[u16], st: &mut [u16], co: &mut u16, before: __m256i| {
        let (f, st): (&[u16; 16], &mut [u16; 16]) = (
            f.try_into().expect("16 freqs"),
            st.try_into().expect("16 starts"),
        );
        // SAFETY: `f` is 16 u16, the 32 bytes an unaligned load reads.
        let x = unsafe { _mm256_loadu_si256(f.as_ptr().cast::<__m256i>()) };
        // Within each half, lane i: the sum of the lanes of that half up to i.
        let mut up = _mm256_add_epi16(x, _mm256_slli_si256::<2>(x));
        up = _mm256_add_epi16(up, _mm256_slli_si256::<4>(up));
        up = _mm256_add_epi16(up, _mm256_slli_si256::<8>(up));
        // The low half's sum, added to the high half (0 to the low half).
        let carry: __m256i;
        // SAFETY: two AVX2 instructions (this function requires AVX2) on registers: they
        // read and write no memory, touch no stack and set no flags. (Written as the
        // intrinsics, LLVM turned the byte shuffle and the permute into four.)
        unsafe {
            std::arch::asm!(
                "vpshufb {c}, {up}, {lane7}",
                "vperm2i128 {c}, {c}, {c}, 0x08",
                c = out(ymm_reg) carry,
                up = in(ymm_reg) up,
                lane7 = in(ymm_reg) lane7,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        up = _mm256_add_epi16(up, carry);
        let out = _mm256_add_epi16(_mm256_sub_epi16(up, x), before);
        // SAFETY: `st` is 16 u16, the 32 bytes an unaligned store writes.
        unsafe { _mm256_storeu_si256(st.as_mut_ptr().cast::<__m256i>(), out) };
        *co = _mm256_cvtsi256_si32(before) as u16;
        // The chunk's sum (lane 15 of `up`) in every lane.
        _mm256_add_epi16(
            before,
            _mm256_permute4x64_epi64::<0xff>(_mm256_shuffle_epi8(up, lane7)),
        )
    };
    // Two chunks an iteration (half the loop's own instructions).
    let mut before = _mm256_setzero_si256();
    for ((f, st), co) in freq
        .chunks_exact(32)
        .zip(start[..256].chunks_exact_mut(32))
        .zip(coarse.chunks_exact_mut(2))
    {
        let (st0, st1) = st.split_at_mut(16);
        let (co0, co1) = co.split_at_mut(1);
        before = chunk(&f[..16], st0, &mut co0[0], before);
        before = chunk(&f[16..], st1, &mut co1[0], before);
    }
}

/// The bucket hints of the starts `start` (`bucket[j]`: the symbol whose interval holds
/// `j << BUCKET_SHIFT`) in AVX2, without a branch a symbol: `mark[j]` = the last symbol
/// whose start rounds up to bucket `j` (0 if none), by a scatter of each symbol to its
/// start's bucket, then `bucket[j] = max(mark[0..=j])`, the last symbol starting at or
/// before `j << BUCKET_SHIFT` (symbol 0 starts at 0). A start's bucket `ceil(start /
/// 2^BUCKET_SHIFT)` is `2^16 / 2^BUCKET_SHIFT - ((2^16 - start) >> BUCKET_SHIFT)`,
/// three operations a vector in 16 bits (symbol 0's start gives 128, a bucket past the
/// last, which it does not need: `mark[0]` is 0 already). The running maximum over the
/// 128 buckets, four vectors of bytes, is in registers: within each 128-bit half by
/// shifted maxima (1, 2, 4, 8 bytes), then each half's last byte carried on.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn buckets_avx2(start: &[u16; 257], bucket: &mut [u8; BUCKETS]) {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm256_max_epu8, _mm256_packus_epi16,
        _mm256_permute2x128_si256, _mm256_permute4x64_epi64, _mm256_set1_epi8, _mm256_set1_epi16,
        _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_slli_si256, _mm256_srli_epi16,
        _mm256_storeu_si256, _mm256_sub_epi16,
    };
    const _: () = assert!(BUCKETS == 128);
    let mut key = [0u8; 256];
    let zero = _mm256_setzero_si256();
    let past = _mm256_set1_epi16(BUCKETS as i16);
    for (st, k) in start[..256].chunks_exact(32).zip(key.chunks_exact_mut(32)) {
        // SAFETY: `st` is 32 u16, read by two unaligned loads of 32 bytes, and `k` 32
        // bytes, what an unaligned store writes.
        unsafe {
            let bucket_of = |v: __m256i| {
                _mm256_sub_epi16(
                    past,
                    _mm256_srli_epi16::<{ BUCKET_SHIFT as i32 }>(_mm256_sub_epi16(zero, v)),
                )
            };
            let a = bucket_of(_mm256_loadu_si256(st.as_ptr().cast::<__m256i>()));
            let b = bucket_of(_mm256_loadu_si256(st[16..].as_ptr().cast::<__m256i>()));
            // To bytes (each <= 128), then the 64-bit quarters back in order.
            let k8 = _mm256_permute4x64_epi64::<0xd8>(_mm256_packus_epi16(a, b));
            _mm256_storeu_si256(k.as_mut_ptr().cast::<__m256i>(), k8);
        }
    }
    let mut mark = [0u8; 256];
    for (s, &j) in key.iter().enumerate() {
        mark[usize::from(j)] = s as u8;
    }
    let last_byte = _mm256_set1_epi8(15);
    // The maximum of the buckets before this vector, in every byte.
    let mut before = _mm256_setzero_si256();
    for (m, b) in mark[..BUCKETS]
        .chunks_exact(32)
        .zip(bucket.chunks_exact_mut(32))
    {
        // SAFETY: `m` and `b` are 32 bytes, what an unaligned load or store reads or
        // writes.
        unsafe {
            let mut v = _mm256_loadu_si256(m.as_ptr().cast::<__m256i>());
            v = _mm256_max_epu8(v, _mm256_slli_si256::<1>(v));
            v = _mm256_max_epu8(v, _mm256_slli_si256::<2>(v));
            v = _mm256_max_epu8(v, _mm256_slli_si256::<4>(v));
            v = _mm256_max_epu8(v, _mm256_slli_si256::<8>(v));
            // The low half's maximum, into the high half.
            let halves = _mm256_shuffle_epi8(v, last_byte);
            v = _mm256_max_epu8(v, _mm256_permute2x128_si256::<0x08>(halves, halves));
            v = _mm256_max_epu8(v, before);
            _mm256_storeu_si256(b.as_mut_ptr().cast::<__m256i>(), v);
            before = _mm256_permute4x64_epi64::<0xff>(_mm256_shuffle_epi8(v, last_byte));
        }
    }
}

/// The freqs of the rebuild rule before the remainder, `freq[y] = floor(c[y] m / 2^16)`
/// with `m = mh 2^16 + ml`, as `c mh + floor(c ml / 2^16)` in 16-bit lanes (exact: each
/// `freq < 2^16`, module notes), and in one pass their starts,
/// `start[y] = freq[0] + ... + freq[y - 1]` for `y` in `0..256`; returns the sum of all
/// 256 mod `2^16` (the sum is at most `2^16`, and every partial sum below it, so no start
/// wraps).
///
/// Used where the CPU has no AVX2 ([`intervals_avx2`] does the whole rule otherwise).
/// Eight lanes to an SSE2 vector (part of every x86-64 CPU): a multiply and a high
/// multiply a lane, then a lane-shifted add three times (`x + (x << 1 lane)`, then 2
/// lanes, then 4) makes each lane the sum of those below it, plus the total so far,
/// broadcast. One pass instead of three (freqs, their sum, the starts), the remainder
/// added to the starts after it: 1,554 to 1,522 instructions a decoding rebuild
/// (kennedy.xls, order 0, range, callgrind), no change in CPU time beyond noise.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn freqs_and_starts(counts: &[u16; 256], mh: u16, ml: u16, start: &mut [u16; 257]) -> u16 {
    // SAFETY: every x86-64 CPU has SSE2 (it is in the target's baseline).
    unsafe { freqs_and_starts_sse2(counts, mh, ml, start) }
}

/// [`freqs_and_starts`]'s loop, compiled for SSE2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn freqs_and_starts_sse2(counts: &[u16; 256], mh: u16, ml: u16, start: &mut [u16; 257]) -> u16 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi16, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_mulhi_epu16,
        _mm_mullo_epi16, _mm_set1_epi16, _mm_setzero_si128, _mm_shuffle_epi32, _mm_shufflehi_epi16,
        _mm_slli_si128, _mm_storeu_si128,
    };
    // Opaque to the optimiser: knowing that `ml` is the low half of `m`, LLVM widened
    // the high multiply into four 32-bit ones and a pack (about 20 more instructions
    // an iteration, callgrind) instead of one `pmulhuw`.
    let (mh, ml) = (
        _mm_set1_epi16(mh as i16),
        std::hint::black_box(_mm_set1_epi16(ml as i16)),
    );
    // Every lane: the sum of the freqs of the chunks before this one.
    let mut total = _mm_setzero_si128();
    for (c, st) in counts.chunks_exact(8).zip(start[..256].chunks_exact_mut(8)) {
        // SAFETY: `c` is 8 u16, the 16 bytes an unaligned load reads.
        let c = unsafe { _mm_loadu_si128(c.as_ptr().cast::<__m128i>()) };
        // freq = c mh + floor(c ml / 2^16), wrapping as the scalar rule does.
        let x = _mm_add_epi16(_mm_mullo_epi16(c, mh), _mm_mulhi_epu16(c, ml));
        // Lane i: freq of lane i - 1, then the sum of lanes below i.
        let mut below = _mm_slli_si128::<2>(x);
        below = _mm_add_epi16(below, _mm_slli_si128::<2>(below));
        below = _mm_add_epi16(below, _mm_slli_si128::<4>(below));
        below = _mm_add_epi16(below, _mm_slli_si128::<8>(below));
        let out = _mm_add_epi16(below, total);
        // SAFETY: `st` is 8 u16, the 16 bytes an unaligned store writes.
        unsafe { _mm_storeu_si128(st.as_mut_ptr().cast::<__m128i>(), out) };
        // Lane 7 of out + x is the total to the end of this chunk: broadcast it
        // (to lanes 4..=7, then dword 3 to all dwords).
        let end = _mm_shufflehi_epi16::<0xff>(_mm_add_epi16(out, x));
        total = _mm_shuffle_epi32::<0xff>(end);
    }
    _mm_cvtsi128_si32(total) as u16
}

/// [`freqs_and_starts`] on targets other than x86-64.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn freqs_and_starts(counts: &[u16; 256], mh: u16, ml: u16, start: &mut [u16; 257]) -> u16 {
    freqs_and_starts_scalar(counts, mh, ml, start)
}

/// [`freqs_and_starts`] in plain integers.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline(always)]
fn freqs_and_starts_scalar(counts: &[u16; 256], mh: u16, ml: u16, start: &mut [u16; 257]) -> u16 {
    let mut sum = 0u16;
    for (st, &c) in start.iter_mut().zip(counts) {
        *st = sum;
        let high = ((u32::from(c) * u32::from(ml)) >> 16) as u16;
        sum = sum.wrapping_add(c.wrapping_mul(mh).wrapping_add(high));
    }
    sum
}

impl Distribution for FrequencyDist {
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        SCALE_BITS
    }

    #[inline(always)]
    fn interval(&self, symbol: u8) -> Result<Interval> {
        Ok(self.get(symbol))
    }

    #[inline(always)]
    fn symbol_at(&self, target: u32) -> Result<(u8, Interval)> {
        if target >= 1 << SCALE_BITS {
            return Err(Error::Corrupt {
                what: "coder target outside the distribution",
            });
        }
        Ok(self.find(target))
    }
}

/// Decodes one symbol of an order-1 model in the context `ctx` (set up first if it
/// is not yet) from `coder` at the target `t` peeked from it, and moves `ctx` to it; on
/// an error `ctx` stays the context of the symbol that failed.
#[inline(always)]
fn decode_in_context<D: Decode, const COUNT: bool>(
    table: &mut [Context; 256],
    ctx: &mut u8,
    coder: &mut D,
    t: u32,
) -> Result<u8> {
    let c = &mut table[usize::from(*ctx)];
    if !c.ready {
        c.clear(true);
    }
    let s = c.decode_at::<D, COUNT>(coder, t, 1)?;
    *ctx = s;
    Ok(s)
}

/// The plain loop of [`FrequencyModel::decode_interleaved`] (that of
/// [`decode_symbols`], symbol `i` taken from `even` or `odd` by the parity of `i`).
fn decode_symbols_interleaved<M: Model, D: Decode>(
    model: &mut M,
    out: &mut [u8],
    even: &mut D,
    odd: &mut D,
) -> Result<()> {
    for (i, o) in out.iter_mut().enumerate() {
        let coder = if i % 2 == 0 { &mut *even } else { &mut *odd };
        *o = decode_symbol(model, coder)?;
    }
    Ok(())
}

/// Whether decoding models look targets up by a bucket probe and
/// [`FrequencyDist::find_counting`] instead of the bucket walk: on x86-64 CPUs with
/// AVX2 and POPCNT. The loops that do are also compiled for BMI2, LZCNT and MOVBE (all
/// in x86-64-v3, as AVX2 is), which the range decoder's renormalisation uses.
#[inline(always)]
fn counting() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("movbe");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// An order-1 model's 256 contexts as an array, indexed by a byte without a bounds
/// check.
#[inline(always)]
fn order1_table(contexts: &mut [Context]) -> Result<&mut [Context; 256]> {
    contexts.try_into().map_err(|_| {
        Error::InvalidOptions("frequency model of order 1 without 256 contexts".into())
    })
}

/// One context: its counts and the distribution last built from them.
#[derive(Clone)]
struct Context {
    dist: FrequencyDist,
    /// Count of each symbol, `>= 1`.
    counts: [u16; 256],
    /// Sum of `counts`.
    total: u32,
    /// Symbols to code before the next rebuild, `>= 1`.
    left: u32,
    /// Symbols between the last rebuild and the next.
    period: u32,
    /// Rebuilds since the bucket hints were last built.
    stale: u32,
    /// A symbol with the largest count, tracked by decoding models (0 otherwise).
    top: u8,
    /// Whether the context has been set up since the block started (the rest of the
    /// fields are meaningless until it is).
    ready: bool,
}

impl Context {
    /// A context not yet set up ([`Context::clear`] does it at its first use).
    const BLANK: Context = Context {
        dist: FrequencyDist {
            start: [0; 257],
            bucket: [0; BUCKETS],
            has_buckets: false,
            top: 0,
            top_start: 0,
            top_freq: 0,
            coarse: [0; 16],
        },
        top: 0,
        counts: [0; 256],
        total: 0,
        left: 0,
        period: 0,
        stale: 0,
        ready: false,
    };

    /// Back to the state of a fresh context.
    fn clear(&mut self, buckets: bool) {
        self.ready = true;
        self.counts = [1; 256];
        self.total = 256;
        self.period = FIRST_PERIOD;
        self.left = FIRST_PERIOD;
        self.stale = 0;
        self.top = 0;
        self.dist.set_uniform(buckets);
    }

    #[inline(always)]
    fn update(&mut self, symbol: u8, top: bool, buckets: bool, order: usize) {
        // counts < 2^16 by the choice of LIMIT (module notes).
        let c = self.counts[usize::from(symbol)] + INC[order] as u16;
        self.counts[usize::from(symbol)] = c;
        if top && c > self.counts[usize::from(self.top)] {
            // Halving keeps the counts' order (c - c / 2 grows with c), so top stays
            // a largest count by this alone.
            self.top = symbol;
        }
        self.total += INC[order];
        self.left -= 1;
        if self.left == 0 {
            self.rebuild(symbol, top, buckets, LIMIT[order]);
        }
    }

    /// Decodes one symbol with this context's distribution and learns it: peeks, asks
    /// the coder whether it is `top` ([`Decode::consume_if`], no lookup), else finds
    /// the peeked target. Needs the buckets (a decoding model). `peek` changes no
    /// state, so the target peeked before `consume_if` is the one a miss leaves.
    #[inline(always)]
    fn decode<D: Decode, const COUNT: bool>(&mut self, coder: &mut D, order: usize) -> Result<u8> {
        let target = coder.peek(SCALE_BITS);
        self.decode_at::<D, COUNT>(coder, target, order)
    }

    /// [`Context::decode`] with the target already peeked from `coder` (no call to
    /// `coder` between the peek and this one): the interleaved loops peek both coders
    /// first, so that both divisions are under way before either symbol is looked up.
    #[inline(always)]
    fn decode_at<D: Decode, const COUNT: bool>(
        &mut self,
        coder: &mut D,
        target: u32,
        order: usize,
    ) -> Result<u8> {
        let d = &self.dist;
        let top_start = u32::from(d.top_start);
        let s = if coder.consume_if_valid(top_start, u32::from(d.top_freq), SCALE_BITS) {
            d.top
        } else {
            let (s, iv) = if COUNT {
                if target >= 1 << SCALE_BITS {
                    return Err(Error::Corrupt {
                        what: "coder target outside the distribution",
                    });
                }
                #[cfg(target_arch = "x86_64")]
                // The bucket's symbol first (one probe, no walk), else a count. The
                // probe is tried even in a distribution without buckets of its own (a
                // young context's): its symbol is then one from an older distribution,
                // often still the right one, and the test below is exact whatever the
                // hint. SAFETY (both calls): COUNT is true only in `decode_order_avx2`,
                // called only where `counting` found AVX2 and POPCNT.
                let probe = d.bucket[(target >> BUCKET_SHIFT) as usize & (BUCKETS - 1)];
                let iv = d.get(probe);
                let found = if target.wrapping_sub(iv.start) < iv.freq {
                    (probe, iv)
                } else {
                    unsafe { d.find_counting(target) }
                };
                #[cfg(not(target_arch = "x86_64"))]
                let found = d.symbol_at(target)?;
                found
            } else {
                d.symbol_at(target)?
            };
            coder.consume_valid(iv.start, iv.freq, SCALE_BITS);
            s
        };
        self.update(s, true, true, order);
        Ok(s)
    }

    /// Halves if due, then builds the distribution from the counts (module notes), with
    /// what a decoding model (`decoding`) looks targets up by: `top`, `coarse`, and the
    /// buckets if `buckets`.
    /// On x86-64 with AVX2 the whole rebuild is compiled for it ([`intervals_avx2`],
    /// [`buckets_avx2`]; the halving is a plain loop the compiler vectorises). This
    /// is only the check and a jump to the rebuild it picks.
    #[inline(never)]
    fn rebuild(&mut self, symbol: u8, decoding: bool, buckets: bool, limit: u32) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the one requirement of a `target_feature` function.
            return unsafe { self.rebuild_avx2(symbol, decoding, buckets, limit) };
        }
        self.rebuild_plain(symbol, decoding, buckets, limit)
    }

    /// [`Context::rebuild`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    fn rebuild_avx2(&mut self, symbol: u8, decoding: bool, buckets: bool, limit: u32) {
        self.rebuild_body::<true>(symbol, decoding, buckets, limit)
    }

    /// [`Context::rebuild`] without AVX2.
    #[inline(never)]
    fn rebuild_plain(&mut self, symbol: u8, decoding: bool, buckets: bool, limit: u32) {
        self.rebuild_body::<false>(symbol, decoding, buckets, limit)
    }

    /// [`Context::rebuild`]'s steps; `AVX2` only in code compiled for AVX2
    /// ([`FrequencyDist::set_with`]).
    #[inline(always)]
    fn rebuild_body<const AVX2: bool>(
        &mut self,
        symbol: u8,
        decoding: bool,
        buckets: bool,
        limit: u32,
    ) {
        if self.total > limit {
            let mut total = 0;
            for c in self.counts.iter_mut() {
                *c -= *c >> 1;
                total += u32::from(*c);
            }
            self.total = total;
        }
        // A distribution that serves fewer than BUCKET_MIN_PERIOD symbols is searched
        // instead of given buckets (building them costs more than the searches). After
        // that, young contexts change fast: their hints are rebuilt every time; then
        // every BUCKET_REFRESH rebuilds (the hints only shorten find's walk).
        let period = (self.period * 2).min(MAX_PERIOD);
        let short = period < BUCKET_MIN_PERIOD;
        let refresh =
            buckets && !short && (self.period < MAX_PERIOD || self.stale + 1 >= BUCKET_REFRESH);
        if short || !buckets {
            self.dist.has_buckets = false;
        }
        self.stale = if refresh { 0 } else { self.stale + 1 };
        self.period = period;
        self.left = self.period;
        self.dist.set_with::<AVX2>(
            &self.counts,
            self.total,
            symbol,
            self.top,
            decoding,
            refresh,
        );
    }
}

/// The adaptive frequency model of order 0 or 1 (module notes).
#[derive(Clone)]
pub struct FrequencyModel {
    order: u32,
    /// Whether distributions keep bucket tables for fast `symbol_at`.
    buckets: bool,
    /// The current context: 0 for order 0, the previous byte for order 1.
    ctx: usize,
    /// One entry per context (1 or 256), each set up at its first use in a block: a
    /// flat table, so that an order-1 context is found without a pointer to follow.
    contexts: Vec<Context>,
}

impl std::fmt::Debug for FrequencyModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrequencyModel")
            .field("order", &self.order)
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl FrequencyModel {
    /// A model at the start of a block, for decoding (and anything else); `order` is 0
    /// or 1, anything else is [`Error::InvalidOptions`].
    pub fn new(order: u32) -> Result<FrequencyModel> {
        Self::with_buckets(order, true)
    }

    /// A model for encoding only: the same distributions as [`FrequencyModel::new`]'s,
    /// without the bucket tables that make `symbol_at` fast.
    pub fn for_encoding(order: u32) -> Result<FrequencyModel> {
        Self::with_buckets(order, false)
    }

    fn with_buckets(order: u32, buckets: bool) -> Result<FrequencyModel> {
        if order > MAX_ORDER {
            return Err(Error::InvalidOptions(format!(
                "frequency model order {order} is above the largest, {MAX_ORDER}"
            )));
        }
        Ok(FrequencyModel {
            order,
            buckets,
            ctx: 0,
            contexts: vec![Context::BLANK; 1 << (8 * order)],
        })
    }

    /// Back to the state of a new model, keeping the tables allocated.
    pub fn reset(&mut self) {
        self.ctx = 0;
        for c in self.contexts.iter_mut() {
            c.ready = false;
        }
    }

    /// The context order, 0 or 1.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Whether this model keeps bucket tables (made by [`FrequencyModel::new`]).
    pub fn decodes_fast(&self) -> bool {
        self.buckets
    }

    /// [`Model::decode_into`] at order `ORDER`, for a model with buckets.
    #[inline(always)]
    fn decode_order<D: Decode, const ORDER: usize, const COUNT: bool>(
        &mut self,
        out: &mut [u8],
        coder: &mut D,
    ) -> Result<()> {
        if ORDER == 0 {
            let c = self.context();
            for o in out.iter_mut() {
                *o = c.decode::<D, COUNT>(coder, 0)?;
            }
            return Ok(());
        }
        let table = order1_table(&mut self.contexts)?;
        let mut ctx = self.ctx as u8;
        let mut result = Ok(());
        for o in out.iter_mut() {
            let c = &mut table[usize::from(ctx)];
            if !c.ready {
                c.clear(true);
            }
            match c.decode::<D, COUNT>(coder, 1) {
                Ok(s) => {
                    *o = s;
                    ctx = s;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.ctx = usize::from(ctx);
        result
    }

    /// [`FrequencyModel::decode_order`] with [`FrequencyDist::find_counting`],
    /// compiled for AVX2 (and the rest of [`counting`]'s features).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi2,lzcnt,movbe")]
    fn decode_order_avx2<D: Decode, const ORDER: usize>(
        &mut self,
        out: &mut [u8],
        coder: &mut D,
    ) -> Result<()> {
        self.decode_order::<D, ORDER, true>(out, coder)
    }

    /// Decodes `out.len()` symbols coded by two coders taking turns (symbol `i` by
    /// `even` if `i` is even, else by `odd`), learning each in data order: the decoding
    /// side of an `InterleavedRangeEncoder` (`crate::coder::range`). The model's state
    /// and the symbols are those of one coder fed every interval; only which coder each
    /// is taken from differs. Does not call [`Decode::finish`] (on either coder).
    ///
    /// A decoding model runs both coders in one loop iteration (two symbols), each
    /// peeked before the first is looked up, so that the two coders' divisions overlap
    /// (for the range coder, the chain that bounds the one-coder loop); each symbol is
    /// then decoded as by [`Model::decode_into`] (top symbol first, then the lookup).
    /// An encoding model takes the plain loop.
    #[inline(never)]
    pub fn decode_interleaved<D: Decode>(
        &mut self,
        out: &mut [u8],
        even: &mut D,
        odd: &mut D,
    ) -> Result<()> {
        match (self.order, self.buckets) {
            #[cfg(target_arch = "x86_64")]
            (0, true) if counting() => {
                // SAFETY: `counting` found every feature the function is compiled for.
                unsafe { self.decode_pairs_avx2::<D, 0>(out, even, odd) }
            }
            #[cfg(target_arch = "x86_64")]
            (1, true) if counting() => {
                // SAFETY: `counting` found every feature the function is compiled for.
                unsafe { self.decode_pairs_avx2::<D, 1>(out, even, odd) }
            }
            (0, true) => self.decode_pairs::<D, 0, false>(out, even, odd),
            (1, true) => self.decode_pairs::<D, 1, false>(out, even, odd),
            _ => decode_symbols_interleaved(self, out, even, odd),
        }
    }

    /// [`FrequencyModel::decode_interleaved`] at order `ORDER`, for a model with
    /// buckets: [`FrequencyModel::decode_order`] two symbols an iteration.
    #[inline(always)]
    fn decode_pairs<D: Decode, const ORDER: usize, const COUNT: bool>(
        &mut self,
        out: &mut [u8],
        even: &mut D,
        odd: &mut D,
    ) -> Result<()> {
        let mut pairs = out.chunks_exact_mut(2);
        if ORDER == 0 {
            let c = self.context();
            for pair in &mut pairs {
                // Both divisions first: neither depends on the other coder's symbol.
                let t0 = even.peek(SCALE_BITS);
                let t1 = odd.peek(SCALE_BITS);
                pair[0] = c.decode_at::<D, COUNT>(even, t0, 0)?;
                pair[1] = c.decode_at::<D, COUNT>(odd, t1, 0)?;
            }
            if let [o] = pairs.into_remainder() {
                *o = c.decode::<D, COUNT>(even, 0)?;
            }
            return Ok(());
        }
        let table = order1_table(&mut self.contexts)?;
        let mut ctx = self.ctx as u8;
        let mut result = Ok(());
        for pair in &mut pairs {
            // The odd coder's target does not depend on the even symbol (only its
            // context does): peek both before either lookup.
            let t0 = even.peek(SCALE_BITS);
            let t1 = odd.peek(SCALE_BITS);
            let s0 = match decode_in_context::<D, COUNT>(table, &mut ctx, even, t0) {
                Ok(s) => s,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let s1 = match decode_in_context::<D, COUNT>(table, &mut ctx, odd, t1) {
                Ok(s) => s,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            pair[0] = s0;
            pair[1] = s1;
        }
        if let ([o], Ok(())) = (pairs.into_remainder(), &result) {
            let t = even.peek(SCALE_BITS);
            match decode_in_context::<D, COUNT>(table, &mut ctx, even, t) {
                Ok(s) => *o = s,
                Err(e) => result = Err(e),
            }
        }
        self.ctx = usize::from(ctx);
        result
    }

    /// [`FrequencyModel::decode_pairs`] with [`FrequencyDist::find_counting`],
    /// compiled for AVX2 (and the rest of [`counting`]'s features).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi2,lzcnt,movbe")]
    fn decode_pairs_avx2<D: Decode, const ORDER: usize>(
        &mut self,
        out: &mut [u8],
        even: &mut D,
        odd: &mut D,
    ) -> Result<()> {
        self.decode_pairs::<D, ORDER, true>(out, even, odd)
    }

    /// [`Model::decode_into`] with a rANS decoder: on x86-64 with AVX2, POPCNT, BMI2,
    /// LZCNT and MOVBE, a decoding model takes four symbols an iteration, symbol `i` of
    /// each group by the decoder's state `i` ([`RansLane`]), so that no state is picked
    /// by an index that changes every symbol. The same symbols and state as
    /// [`Model::decode_into`].
    #[inline(never)]
    pub fn decode_rans(&mut self, out: &mut [u8], coder: &mut RansDecoder<'_>) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if self.buckets && counting() {
            // Up to the first symbol of state 0 the plain way.
            let head = ((STATES - coder.next_state()) % STATES).min(out.len());
            let (first, rest) = out.split_at_mut(head);
            self.decode_into(first, coder)?;
            let whole = rest.len() / STATES * STATES;
            let (quads, tail) = rest.split_at_mut(whole);
            // SAFETY: `counting` found every feature the function is compiled for.
            match self.order {
                0 => unsafe { self.decode_quads_avx2::<0>(quads, coder)? },
                _ => unsafe { self.decode_quads_avx2::<1>(quads, coder)? },
            }
            coder.skip(whole);
            return self.decode_into(tail, coder);
        }
        self.decode_into(out, coder)
    }

    /// [`FrequencyModel::decode_rans`]'s groups of four (`out.len()` a multiple of 4),
    /// compiled for [`counting`]'s features.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,bmi2,lzcnt,movbe")]
    fn decode_quads_avx2<const ORDER: usize>(
        &mut self,
        out: &mut [u8],
        coder: &mut RansDecoder<'_>,
    ) -> Result<()> {
        if ORDER == 0 {
            let c = self.context();
            for quad in out.chunks_exact_mut(STATES) {
                quad[0] = c.decode::<_, true>(&mut RansLane::<0>(coder), 0)?;
                quad[1] = c.decode::<_, true>(&mut RansLane::<1>(coder), 0)?;
                quad[2] = c.decode::<_, true>(&mut RansLane::<2>(coder), 0)?;
                quad[3] = c.decode::<_, true>(&mut RansLane::<3>(coder), 0)?;
            }
            return Ok(());
        }
        let table = order1_table(&mut self.contexts)?;
        let mut ctx = self.ctx as u8;
        let mut result = Ok(());
        // One symbol by lane `$j`, in the context `ctx`, which moves to it.
        macro_rules! lane {
            ($j:literal) => {{
                let c = &mut table[usize::from(ctx)];
                if !c.ready {
                    c.clear(true);
                }
                c.decode::<_, true>(&mut RansLane::<$j>(coder), 1)
                    .inspect(|&s| ctx = s)
            }};
        }
        for quad in out.chunks_exact_mut(STATES) {
            let r = (|| {
                quad[0] = lane!(0)?;
                quad[1] = lane!(1)?;
                quad[2] = lane!(2)?;
                quad[3] = lane!(3)?;
                Ok(())
            })();
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        }
        self.ctx = usize::from(ctx);
        result
    }

    /// [`Model::encode_each`] at order `ORDER`, with or without buckets (`BUCKETS`).
    #[inline(always)]
    fn encode_order<F: FnMut(u32, Interval), const ORDER: usize, const BUCKETS: bool>(
        &mut self,
        data: &[u8],
        mut emit: F,
    ) -> Result<()> {
        if ORDER == 0 {
            let c = self.context();
            for &s in data {
                emit(SCALE_BITS, c.dist.get(s));
                c.update(s, BUCKETS, BUCKETS, 0);
            }
            return Ok(());
        }
        let table = order1_table(&mut self.contexts)?;
        let mut ctx = self.ctx as u8;
        for &s in data {
            let c = &mut table[usize::from(ctx)];
            if !c.ready {
                c.clear(BUCKETS);
            }
            emit(SCALE_BITS, c.dist.get(s));
            c.update(s, BUCKETS, BUCKETS, 1);
            ctx = s;
        }
        self.ctx = usize::from(ctx);
        Ok(())
    }

    #[inline(always)]
    fn context(&mut self) -> &mut Context {
        let buckets = self.buckets;
        // ctx < contexts.len(): 0 for order 0, a byte for order 1.
        let c = &mut self.contexts[self.ctx];
        if !c.ready {
            c.clear(buckets);
        }
        c
    }
}

impl Model for FrequencyModel {
    type Dist = FrequencyDist;

    #[inline(always)]
    fn predict(&mut self) -> &FrequencyDist {
        &self.context().dist
    }

    #[inline(always)]
    fn update(&mut self, symbol: u8) {
        let buckets = self.buckets;
        let order = usize::from(self.order == 1);
        self.context().update(symbol, buckets, buckets, order);
        if self.order == 1 {
            self.ctx = usize::from(symbol);
        }
    }

    /// One loop per order: the context is found once per symbol, and each symbol is
    /// first tried as its context's `top` ([`Decode::consume_if`], after a `peek`
    /// whose target serves a miss); only if it is not is the target looked up. The same symbols and state as
    /// the plain loop. An encoding model (no buckets) takes the plain loop.
    #[inline(never)]
    fn decode_into<D: Decode>(&mut self, out: &mut [u8], coder: &mut D) -> Result<()> {
        match (self.order, self.buckets) {
            #[cfg(target_arch = "x86_64")]
            (0, true) if counting() => {
                // SAFETY: `counting` found every feature the function is compiled for.
                unsafe { self.decode_order_avx2::<D, 0>(out, coder) }
            }
            #[cfg(target_arch = "x86_64")]
            (1, true) if counting() => {
                // SAFETY: `counting` found every feature the function is compiled for.
                unsafe { self.decode_order_avx2::<D, 1>(out, coder) }
            }
            (0, true) => self.decode_order::<D, 0, false>(out, coder),
            (1, true) => self.decode_order::<D, 1, false>(out, coder),
            _ => decode_symbols(self, out, coder),
        }
    }

    /// One loop per order and kind (with or without buckets), the context found once
    /// per symbol; the same intervals and state as the plain loop.
    #[inline]
    fn encode_each<F: FnMut(u32, Interval)>(&mut self, data: &[u8], emit: F) -> Result<()> {
        match (self.order, self.buckets) {
            (0, false) => self.encode_order::<F, 0, false>(data, emit),
            (1, false) => self.encode_order::<F, 1, false>(data, emit),
            (0, true) => self.encode_order::<F, 0, true>(data, emit),
            _ => self.encode_order::<F, 1, true>(data, emit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coder::Encode;
    use crate::coder::range::{InterleavedRangeEncoder, RangeDecoder, RangeEncoder};
    use crate::coder::rans::{RansDecoder, RansEncoder};
    use proptest::prelude::*;

    /// Codes `data` with a fresh encoding model of `order`: the range stream and the
    /// rANS stream (fed last to first).
    fn streams(data: &[u8], order: u32) -> (Vec<u8>, Vec<u8>) {
        let mut ivs = Vec::new();
        let mut m = FrequencyModel::for_encoding(order).unwrap();
        m.encode_each(data, |_, iv| ivs.push(iv)).unwrap();
        let mut range = RangeEncoder::new();
        for iv in &ivs {
            range.encode(iv.start, iv.freq, SCALE_BITS);
        }
        let mut rans = RansEncoder::new(data.len());
        for iv in ivs.iter().rev() {
            rans.encode(iv.start, iv.freq, SCALE_BITS);
        }
        (range.finish(), rans.finish())
    }

    /// Decodes `n` symbols with the fast loop (top symbol, then a bucket probe and a
    /// count where the CPU has AVX2, else the bucket walk) and with the plain one (the
    /// bucket walk) and checks that they agree: the same symbols, the same error, the
    /// same end check, the same next distribution. Returns the fast loop's result.
    fn decode_both<'a, D: Decode + Clone + 'a>(
        new: impl Fn() -> Result<D>,
        order: u32,
        n: usize,
    ) -> Result<Vec<u8>> {
        let (Ok(mut fast), Ok(mut plain)) = (new(), new()) else {
            return Err(Error::Corrupt { what: "header" });
        };
        let (mut mf, mut mp) = (
            FrequencyModel::new(order).unwrap(),
            FrequencyModel::new(order).unwrap(),
        );
        let (mut of, mut op) = (vec![0; n], vec![0; n]);
        let rf = mf.decode_into(&mut of, &mut fast);
        let rp = decode_symbols(&mut mp, &mut op, &mut plain);
        assert_eq!(rf.is_ok(), rp.is_ok(), "{rf:?} vs {rp:?}");
        rf?;
        assert_eq!(of, op);
        let (ef, ep) = (fast.finish(), plain.finish());
        assert_eq!(ef.is_ok(), ep.is_ok(), "{ef:?} vs {ep:?}");
        assert_eq!(mf.predict().start, mp.predict().start);
        ef.map(|()| of)
    }

    fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            proptest::collection::vec(prop_oneof![9 => Just(b'e'), 1 => any::<u8>()], 0..3000),
            proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => 0u8..4], 0..3000),
        ]
    }

    proptest! {
        /// A rebuild (AVX2 where the CPU has it) gives the intervals of the rule in the
        /// module notes, computed here in plain u64 arithmetic, for any counts a context
        /// can hold (each >= 1, summing to at most 2^16); the one pass agrees with the
        /// scalar loop, and the rebuild without AVX2 makes the same tables.
        #[test]
        fn rebuild_follows_the_rule(
            counts in proptest::collection::vec(1u16..=200, 256),
            big in any::<u8>(),
            boost in 0u32..=40_000,
            last in any::<u8>(),
        ) {
            let mut counts: [u16; 256] = counts.try_into().unwrap();
            let rest: u32 = counts.iter().map(|&c| u32::from(c)).sum();
            let b = usize::from(big);
            let room = (1u32 << 16) - (rest - u32::from(counts[b]));
            counts[b] = boost.clamp(1, room) as u16;
            let total: u32 = counts.iter().map(|&c| u32::from(c)).sum();
            prop_assert!(total <= 1 << 16);
            let m = (1u64 << 32) / u64::from(total);
            let mut freq: Vec<u64> = counts.iter().map(|&c| (u64::from(c) * m) >> 16).collect();
            let sum: u64 = freq.iter().sum();
            freq[usize::from(last)] += (1 << 16) - sum;
            let mut d = FrequencyDist {
                start: [7; 257],
                bucket: [0; BUCKETS],
                has_buckets: false,
                top: 0,
                top_start: 0,
                top_freq: 0,
                coarse: [0; 16],
            };
            d.set(&counts, total, last, 0, true, true);
            let mut start = 0u64;
            for s in 0..=255u8 {
                let f = freq[usize::from(s)];
                prop_assert!(f >= 1);
                prop_assert_eq!(d.get(s), Interval { start: start as u32, freq: f as u32 });
                prop_assert_eq!(d.find(start as u32).0, s);
                prop_assert_eq!(d.find((start + f - 1) as u32).0, s);
                #[cfg(target_arch = "x86_64")]
                if counting() {
                    // SAFETY: the CPU has AVX2 and POPCNT.
                    let (a, b) = unsafe {
                        (d.find_counting(start as u32), d.find_counting((start + f - 1) as u32))
                    };
                    prop_assert_eq!(a, (s, d.get(s)));
                    prop_assert_eq!(b, (s, d.get(s)));
                }
                start += f;
            }
            prop_assert_eq!(start, 1 << 16);
            // Freshly built buckets hold the symbol of their first slot.
            for (j, &b) in d.bucket.iter().enumerate() {
                prop_assert_eq!(b, d.search((j << BUCKET_SHIFT) as u32).0, "bucket {}", j);
            }
            let (mh, ml) = ((m >> 16) as u16, (m & 0xffff) as u16);
            let (mut fast, mut plain) = ([7u16; 257], [7u16; 257]);
            let sf = freqs_and_starts(&counts, mh, ml, &mut fast);
            let sp = freqs_and_starts_scalar(&counts, mh, ml, &mut plain);
            prop_assert_eq!(sf, sp);
            prop_assert_eq!(&fast[..256], &plain[..256]);
            // The SSE2 loop on its own, and the whole rebuild without AVX2 (`set` above
            // takes the AVX2 one where the CPU has it): the same tables.
            #[cfg(target_arch = "x86_64")]
            {
                let mut sse2 = [7u16; 257];
                // SAFETY: every x86-64 CPU has SSE2.
                let s2 = unsafe { freqs_and_starts_sse2(&counts, mh, ml, &mut sse2) };
                prop_assert_eq!(s2, sp);
                prop_assert_eq!(&sse2[..256], &plain[..256]);
            }
            let mut p = d.clone();
            (p.start, p.bucket, p.coarse) = ([7; 257], [7; BUCKETS], [7; 16]);
            p.set_with::<false>(&counts, total, last, 0, true, true);
            prop_assert_eq!(p.start, d.start);
            prop_assert_eq!(p.coarse, d.coarse);
            prop_assert_eq!(p.bucket, d.bucket);
            prop_assert_eq!((p.top, p.top_start, p.top_freq), (d.top, d.top_start, d.top_freq));
        }

        /// The fast decoding loop (top symbol first, `consume_if`) decodes what the
        /// plain loop decodes, on streams as written and on damaged ones, with both
        /// stream coders.
        #[test]
        fn fast_decoder_matches_plain_loop(
            data in data_strategy(),
            order in 0u32..=1,
            flip in any::<prop::sample::Index>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let (range, rans) = streams(&data, order);
            let n = data.len();
            prop_assert_eq!(decode_both(|| RangeDecoder::new(&range), order, n).unwrap(), data.clone());
            prop_assert_eq!(decode_both(|| RansDecoder::new(&rans), order, n).unwrap(), data.clone());
            for stream in [&range, &rans] {
                let mut bad = stream.clone();
                let bit = flip.index(bad.len() * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
                let short = &stream[..cut.index(stream.len())];
                for s in [&bad[..], short] {
                    let _ = decode_both(|| RangeDecoder::new(s), order, n);
                    let _ = decode_both(|| RansDecoder::new(s), order, n);
                }
            }
        }

        /// `decode_rans` (four symbols an iteration, each state a lane of its own)
        /// decodes what the plain loop decodes from the same rANS stream, as written and
        /// damaged or cut, also after a first call that leaves the rotation at any
        /// state: the same symbols or the same failure, the same end check, the same
        /// next distribution.
        #[test]
        fn rans_lanes_match_plain_loop(
            data in data_strategy(),
            order in 0u32..=1,
            flip in any::<prop::sample::Index>(),
            cut in any::<prop::sample::Index>(),
            split in any::<prop::sample::Index>(),
        ) {
            let (_, rans) = streams(&data, order);
            let n = data.len();
            let k = split.index(n + 1);
            let mut bad = rans.clone();
            let bit = flip.index(bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            let short = &rans[..cut.index(rans.len())];
            for (i, s) in [&rans[..], &bad[..], short].into_iter().enumerate() {
                let (Ok(mut lanes), Ok(mut plain)) = (RansDecoder::new(s), RansDecoder::new(s)) else {
                    continue;
                };
                let (mut ml, mut mp) = (
                    FrequencyModel::new(order).unwrap(),
                    FrequencyModel::new(order).unwrap(),
                );
                let (mut ol, mut op) = (vec![0; n], vec![0; n]);
                let (a, b) = ol.split_at_mut(k);
                let rl = ml.decode_rans(a, &mut lanes).and_then(|()| ml.decode_rans(b, &mut lanes));
                let rp = decode_symbols(&mut mp, &mut op, &mut plain);
                prop_assert_eq!(rl.is_ok(), rp.is_ok(), "{:?} vs {:?}", rl, rp);
                if rl.is_ok() {
                    prop_assert_eq!(&ol, &op);
                    prop_assert_eq!(ml.predict().start, mp.predict().start);
                    let (el, ep) = (Decode::finish(lanes), Decode::finish(plain));
                    prop_assert_eq!(el.is_ok(), ep.is_ok(), "{:?} vs {:?}", el, ep);
                    if i == 0 {
                        prop_assert!(el.is_ok());
                        prop_assert_eq!(&ol, &data);
                    }
                }
            }
        }

        /// The interleaved loop (two coders, two symbols an iteration) decodes what
        /// the plain one-symbol-at-a-time loop decodes from the same two coders, on
        /// streams as written (back to `data`, every length, odd and even) and on
        /// damaged or cut ones: the same symbols or the same failure, the same ends
        /// of both streams, the same next distribution.
        #[test]
        fn interleaved_decoder_matches_plain_loop(
            data in data_strategy(),
            order in 0u32..=1,
            flip in any::<prop::sample::Index>(),
            cut in any::<prop::sample::Index>(),
            which in any::<bool>(),
        ) {
            let mut m = FrequencyModel::for_encoding(order).unwrap();
            let mut pair = InterleavedRangeEncoder::new();
            m.encode_each(&data, |scale, iv| pair.encode(iv.start, iv.freq, scale)).unwrap();
            let (even, odd) = pair.finish_streams();
            let n = data.len();
            let both = |s0: &[u8], s1: &[u8]| -> Result<Vec<u8>> {
                let (mut f0, mut f1) = (RangeDecoder::new(s0)?, RangeDecoder::new(s1)?);
                let (mut p0, mut p1) = (f0.clone(), f1.clone());
                let (mut mf, mut mp) = (
                    FrequencyModel::new(order).unwrap(),
                    FrequencyModel::new(order).unwrap(),
                );
                let (mut of, mut op) = (vec![0; n], vec![0; n]);
                let rf = mf.decode_interleaved(&mut of, &mut f0, &mut f1);
                let rp = decode_symbols_interleaved(&mut mp, &mut op, &mut p0, &mut p1);
                assert_eq!(rf.is_ok(), rp.is_ok(), "{rf:?} vs {rp:?}");
                rf?;
                assert_eq!(&of, &op);
                assert_eq!(format!("{f0:?} {f1:?}"), format!("{p0:?} {p1:?}"));
                assert_eq!(mf.predict().start, mp.predict().start);
                f0.finish()?;
                f1.finish()?;
                Ok(of)
            };
            prop_assert_eq!(both(&even, &odd).unwrap(), data.clone());
            let (mut bad0, mut bad1) = (even.clone(), odd.clone());
            let bad = if which { &mut bad0 } else { &mut bad1 };
            let bit = flip.index(bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            if let Ok(out) = both(&bad0, &bad1) {
                prop_assert_ne!(out, data.clone());
            }
            let (short0, short1) = if which {
                (&even[..cut.index(even.len())], &odd[..])
            } else {
                (&even[..], &odd[..cut.index(odd.len())])
            };
            if let Ok(out) = both(short0, short1) {
                prop_assert_ne!(out, data.clone());
            }
        }

        /// `consume_if` answers exactly "does peek's target lie in the interval", and
        /// a hit leaves the decoder as peek and consume would (both coders, any
        /// interval of the scale, on arbitrary streams).
        #[test]
        fn consume_if_is_peek_then_consume(
            stream in proptest::collection::vec(any::<u8>(), 33..200),
            ivs in proptest::collection::vec((0u32..1 << 16, 1u32..1 << 16), 1..200),
        ) {
            fn check<D: Decode + Clone + std::fmt::Debug>(mut dec: D, ivs: &[(u32, u32)]) {
                for &(start, freq) in ivs {
                    let freq = freq.min((1 << SCALE_BITS) - start).max(1);
                    let start = start.min((1 << SCALE_BITS) - freq);
                    let mut plain = dec.clone();
                    let t = plain.peek(SCALE_BITS);
                    let holds = t.wrapping_sub(start) < freq;
                    let hit = dec.consume_if(start, freq, SCALE_BITS);
                    if hit {
                        plain.consume(start, freq, SCALE_BITS);
                    }
                    assert_eq!(format!("{dec:?}"), format!("{plain:?}"));
                    if !hit {
                        // A coder may decline a narrow interval, never a hit it took
                        // on a wide one's behalf.
                        assert!(!holds || freq < 1 << 15, "missed {t} in {start}+{freq}");
                        // Go on as a decoder would: with the target's own slot.
                        let f = 1 + (t & 0xff);
                        let s = t.saturating_sub(t & 0xff).min((1 << SCALE_BITS) - f);
                        dec.consume(s, f, SCALE_BITS);
                    } else {
                        assert!(holds);
                    }
                }
                // Intervals no distribution has: no panic.
                let _ = dec.consume_if(1 << 16, 1, SCALE_BITS);
                let _ = dec.consume_if(0, 0, SCALE_BITS);
                let _ = dec.consume_if(5, 10, 40);
            }
            check(RangeDecoder::new(&stream).unwrap(), &ivs);
            let mut header = stream.clone();
            for i in 0..4 {
                // Valid rANS states: in [2^31, 2^63).
                header[8 * i + 7] = (header[8 * i + 7] & 0x3f) | 0x01;
            }
            header.truncate(32 + (header.len() - 32) / 4 * 4);
            check(RansDecoder::new(&header).unwrap(), &ivs);
        }
    }

    #[test]
    fn fresh_distribution_is_uniform() {
        let mut m = FrequencyModel::new(0).unwrap();
        let d = m.predict();
        for s in 0..=255u8 {
            assert_eq!(
                d.get(s),
                Interval {
                    start: u32::from(s) * 256,
                    freq: 256
                }
            );
        }
        assert_eq!(d.find(0).0, 0);
        assert_eq!(d.find(65535).0, 255);
        assert!(d.symbol_at(1 << 16).is_err());
        assert!(FrequencyModel::new(2).is_err());
    }
}
