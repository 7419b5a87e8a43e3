//! The computations behind `shannon demo`: the source-coding theorem, run.
//!
//! # Read me first
//!
//! - [`coin`]: a biased coin, `p('1') = p`, tossed N times for growing N, compressed by
//!   the library (`analysis::run`, the code path of `shannon::compress`, decompressed
//!   and checked) with each coder on the `'0'`/`'1'` bytes. Per toss:
//!   `achieved = 8 * compressed bytes / N` (container framing and tables included),
//!   `payload = 8 * stream bytes / N` (the coded symbols alone), and
//!   `ideal = model bits / N` (sum of `-log2 q(x)` under the tables the coder used; for
//!   Huffman the code lengths). Arithmetic and rANS approach `h(p)`; Huffman can do no
//!   better than 1 bit per toss, since every code word has at least one bit. Huffman on
//!   *blocks* of b tosses (one byte symbol = b tosses, first toss in the high bit of the
//!   b, a last partial block padded with 0 tosses; alphabet `2^b <= 256`) costs
//!   at most `h(p) + 1/b` per toss in payload (Shannon's bound on the best prefix code
//!   of the b-fold extension, `H(X^b) <= L < H(X^b) + 1`) but needs a table of up to
//!   `2^b` code lengths: [`BlockRow`] shows table and payload apart. The library's
//!   Huffman codes are limited to [`MAX_CODE_LEN`](crate::coder::huffman::MAX_CODE_LEN) = 11 bits; with a skewed coin the
//!   rare blocks of large b want longer code words (at p = 0.9, b = 8, up to 24 bits),
//!   and the limit costs payload: the optimal 11-bit-limited code of the 8-toss blocks
//!   at p = 0.9 averages 4.0 % above `h(p)`, an unlimited Huffman code 1.45 %. So
//!   [`BlockRow`] also gives the payload of a plain unlimited Huffman code of the same
//!   counts ([`huffman_lengths`]). All N share one sequence: each N is a prefix of the
//!   longest.
//! - [`typical`]: the asymptotic equipartition property. For a sequence x of N tosses
//!   with k ones, `-log2 p(x) / N = (k (-log2 p) + (N-k) (-log2 (1-p))) / N`; it
//!   concentrates at `h(p)` as N grows. Sampled: M sequences per N. Exact: from the
//!   binomial law of k, the probability of the typical set
//!   `A_eps = {x : |-log2 p(x)/N - h| <= eps}` and `log2 |A_eps| / N`, which the AEP
//!   squeezes into `[h - eps, h + eps]` as `P(A_eps) -> 1`.
//! - [`orders`]: a file's `H_k` beside what static and adaptive order-k models achieve
//!   (via [`analysis::analyse`](crate::analysis::analyse), one block for the whole
//!   file). `H_k` falls with k, but an adaptive model must learn `p(.|c)` for every
//!   context it meets, and that learning cost grows with the number of contexts: the
//!   achieved rate has a minimum, past which the model costs more than `H_k` gains.
//!   Static orders that [`Options::new`] does not accept are `None` ("n/a").
//!
//! Floating point appears only in the reported statistics, never in turning random
//! numbers into tosses (see the module above).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use serde::Serialize;

use super::{Bernoulli, Rng, Source, binary_entropy};
use crate::analysis::{AnalyseConfig, Run, analyse, conditional_entropy, run};
use crate::codec::Options;
use crate::error::{Error, Result};
use crate::format::{CoderKind, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, ModelKind};
use crate::model::Counts;

/// The coders [`coin`] runs on single tosses, in table order.
pub const COIN_CODERS: [CoderKind; 4] = [
    CoderKind::Huffman,
    CoderKind::Arithmetic,
    CoderKind::Rans,
    CoderKind::Tans,
];

/// Largest block of tosses per symbol: `2^8` symbols fill the byte alphabet.
pub const MAX_TOSSES_PER_SYMBOL: u32 = 8;

/// Bytes of one run of the library, split as the analyser splits them, per toss.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cost {
    /// The coder.
    pub coder: &'static str,
    /// The whole compressed stream (bytes).
    pub compressed_bytes: u64,
    /// Container framing: frame header and trailer, per-block kind, lengths and check.
    pub framing_bytes: u64,
    /// Model descriptions inside blocks (frequency tables, Huffman code lengths).
    pub table_bytes: u64,
    /// Coded symbols (and the content of stored blocks).
    pub stream_bytes: u64,
    /// `8 * compressed / N`, bits per toss.
    pub achieved: f64,
    /// `8 * stream / N`: the payload alone, bits per toss.
    pub payload: f64,
    /// `8 * table / N`, bits per toss.
    pub table: f64,
    /// `8 * framing / N`, bits per toss.
    pub framing: f64,
    /// Model bits / N: what the coder's tables say the tosses cost (code lengths for
    /// Huffman), bits per toss.
    pub ideal: f64,
}

impl Cost {
    /// The split of `r`, per toss of `tosses`.
    fn of(r: &Run, tosses: u64) -> Result<Cost> {
        let bug = Error::Corrupt {
            what: "demo: a fresh run has unknown costs",
        };
        let (table, stream, bits) = match (r.table_bytes, r.stream_bytes, r.model_bits) {
            (Some(t), Some(s), Some(b)) => (t, s, b),
            _ => return Err(bug),
        };
        let per = |bytes: u64| 8.0 * bytes as f64 / tosses as f64;
        Ok(Cost {
            coder: r.coder.name(),
            compressed_bytes: r.compressed_bytes,
            framing_bytes: r.framing_bytes,
            table_bytes: table,
            stream_bytes: stream,
            achieved: per(r.compressed_bytes),
            payload: per(stream),
            table: per(table),
            framing: per(r.framing_bytes),
            ideal: bits / tosses as f64,
        })
    }
}

/// One N of [`coin`]: every coder on single tosses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoinRow {
    /// Tosses.
    pub n: u64,
    /// Ones among them.
    pub ones: u64,
    /// The sample's empirical entropy `H_0` (bits per toss), beside the true `h(p)`.
    pub empirical_entropy: f64,
    /// One per coder of [`COIN_CODERS`].
    pub coders: Vec<Cost>,
}

/// Huffman on blocks of `b` tosses, for one N.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockRow {
    /// Tosses.
    pub n: u64,
    /// Tosses per symbol.
    pub b: u32,
    /// Size of the extended alphabet, `2^b`.
    pub alphabet: u32,
    /// Symbols coded, `ceil(N / b)`.
    pub symbols: u64,
    /// The empirical entropy of the symbols, `H_0(symbols) * symbols / N`, bits per
    /// toss: what an ideal static code of these symbols would pay.
    pub empirical_entropy: f64,
    /// The Huffman run on the symbols, per toss.
    pub cost: Cost,
    /// Payload of an optimal prefix code *without* the library's length limit
    /// ([`MAX_CODE_LEN`](crate::coder::huffman::MAX_CODE_LEN) bits), from the same symbol counts: `sum_s n_s l_s / N` with
    /// plain Huffman lengths `l_s` (no stream padding), bits per toss. The gap to
    /// `cost.payload` is what the limit costs.
    pub unlimited_payload: f64,
    /// Longest code word of that unlimited code.
    pub unlimited_longest: u32,
}

/// The result of [`coin`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoinReport {
    /// `p('1')` as sampled (quantised to a multiple of `2^-32`).
    pub p: f64,
    /// `h(p)`, the entropy rate, bits per toss.
    pub entropy_rate: f64,
    /// The seed of the tosses.
    pub seed: u64,
    /// One per N.
    pub rows: Vec<CoinRow>,
    /// Block Huffman, for every N and `b = 1..=max_block`.
    pub blocks: Vec<BlockRow>,
}

/// `10, 100, ..., 10^max_exp`.
pub fn powers_of_ten(max_exp: u32) -> Vec<u64> {
    (1..=max_exp).map(|e| 10u64.pow(e)).collect()
}

fn check_p(p: f64) -> Result<Bernoulli> {
    if !(p > 0.0 && p < 1.0) {
        return Err(Error::InvalidOptions(format!(
            "p = {p}: the demos need 0 < p < 1"
        )));
    }
    Bernoulli::new(p)
}

/// One run of static order-0 `coder` on `data`, through the library's compressor.
fn library_run(data: &[u8], coder: CoderKind) -> Result<Run> {
    let options = Options::new(ModelKind::Static, 0, coder)?;
    run(data, &options, &mut BTreeMap::new())
}

/// Groups `b` tosses into one byte symbol, the first toss in the high bit (of the low
/// `b` bits); a last partial group is padded with `'0'` tosses.
pub fn group_tosses(tosses: &[u8], b: u32) -> Vec<u8> {
    debug_assert!((1..=8).contains(&b));
    tosses
        .chunks(b as usize)
        .map(|c| {
            let mut v = 0u8;
            for i in 0..b as usize {
                v = v << 1 | u8::from(c.get(i).is_some_and(|&t| t != b'0'));
            }
            v
        })
        .collect()
}

/// The coin demo (read me first): tosses with `p('1') = p` from `seed`, for every N in
/// `ns`, each coder of [`COIN_CODERS`] and block Huffman with `b = 1..=max_block`.
///
/// Errors: `p` not in `(0, 1)`, `max_block` outside `1..=8`, an N of 0.
pub fn coin(p: f64, ns: &[u64], max_block: u32, seed: u64) -> Result<CoinReport> {
    let coin = check_p(p)?;
    if !(1..=MAX_TOSSES_PER_SYMBOL).contains(&max_block) {
        return Err(Error::InvalidOptions(format!(
            "block of {max_block} tosses: use 1..={MAX_TOSSES_PER_SYMBOL}"
        )));
    }
    if ns.contains(&0) {
        return Err(Error::InvalidOptions("N = 0 tosses".into()));
    }
    let longest = ns.iter().copied().max().unwrap_or(0);
    let tosses = coin.generate(longest as usize, &mut Rng::new(seed));
    let mut rows = Vec::new();
    let mut blocks = Vec::new();
    for &n in ns {
        let x = &tosses[..n as usize];
        let coders = COIN_CODERS
            .iter()
            .map(|&c| Cost::of(&library_run(x, c)?, n))
            .collect::<Result<Vec<_>>>()?;
        rows.push(CoinRow {
            n,
            ones: x.iter().filter(|&&t| t == b'1').count() as u64,
            empirical_entropy: conditional_entropy(x, 0).bits_per_byte,
            coders,
        });
        for b in 1..=max_block {
            let symbols = group_tosses(x, b);
            let h = conditional_entropy(&symbols, 0).bits_per_byte;
            let counts = Counts::of(&symbols);
            let lengths = huffman_lengths(&counts.0);
            let unlimited_bits: u64 = (0..256).map(|s| counts.0[s] * u64::from(lengths[s])).sum();
            blocks.push(BlockRow {
                n,
                b,
                alphabet: 1 << b,
                symbols: symbols.len() as u64,
                empirical_entropy: h * symbols.len() as f64 / n as f64,
                cost: Cost::of(&library_run(&symbols, CoderKind::Huffman)?, n)?,
                unlimited_payload: unlimited_bits as f64 / n as f64,
                unlimited_longest: lengths.iter().copied().max().unwrap_or(0),
            });
        }
    }
    Ok(CoinReport {
        p: coin.p(),
        entropy_rate: coin.entropy_rate(),
        seed,
        rows,
        blocks,
    })
}

/// Code lengths of a plain (unlimited) Huffman code for `counts`: repeatedly merge
/// the two lightest nodes (ties: the node made or listed first), a symbol's length is
/// its depth. One symbol gets length 1; absent symbols 0. A second, deliberately
/// simple construction beside the library's length-limited one, used only to show
/// what the limit costs.
pub fn huffman_lengths(counts: &[u64; 256]) -> [u32; 256] {
    let mut lengths = [0u32; 256];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    // Nodes 0..256 are the symbols; merged nodes follow. parent[i] for every node.
    let mut parent: Vec<usize> = vec![usize::MAX; 256];
    for s in 0..256 {
        if counts[s] > 0 {
            heap.push(Reverse((counts[s], s)));
        }
    }
    if heap.len() == 1 {
        if let Some(Reverse((_, s))) = heap.pop() {
            lengths[s] = 1;
        }
        return lengths;
    }
    while heap.len() > 1 {
        let (Some(Reverse((wa, a))), Some(Reverse((wb, b)))) = (heap.pop(), heap.pop()) else {
            break;
        };
        let node = parent.len();
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(Reverse((wa + wb, node)));
    }
    for s in 0..256 {
        if counts[s] > 0 {
            let (mut d, mut i) = (0, s);
            while parent[i] != usize::MAX {
                i = parent[i];
                d += 1;
            }
            lengths[s] = d;
        }
    }
    lengths
}

/// One N of [`typical`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypicalRow {
    /// Sequence length.
    pub n: u64,
    /// Sequences sampled.
    pub samples: u64,
    /// Mean of `-log2 p(x) / N` over the samples, bits per toss.
    pub mean: f64,
    /// Smallest sampled value.
    pub min: f64,
    /// 5th percentile.
    pub q05: f64,
    /// 95th percentile.
    pub q95: f64,
    /// Largest sampled value.
    pub max: f64,
    /// Fraction of sampled sequences within `eps` of `h(p)`.
    pub within: f64,
    /// `P(A_eps)`, exactly (binomial law of the number of ones).
    pub exact_within: f64,
    /// `log2 |A_eps| / N`, exactly: the typical set holds about `2^(N h)` sequences.
    pub typical_set_log2_per_toss: f64,
}

/// The result of [`typical`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypicalReport {
    /// `p('1')` as sampled.
    pub p: f64,
    /// `h(p)`, bits per toss.
    pub entropy_rate: f64,
    /// The half-width of the typical set.
    pub epsilon: f64,
    /// The seed.
    pub seed: u64,
    /// One per N.
    pub rows: Vec<TypicalRow>,
}

/// Largest `samples * N` summed over the Ns that [`typical`] accepts (about a second of
/// drawing).
pub const MAX_TYPICAL_DRAWS: u64 = 1 << 30;

/// The AEP demo (read me first): `samples` sequences of each length in `ns`.
///
/// Errors: `p` not in `(0, 1)`, `epsilon <= 0`, no samples, an N of 0, or more than
/// [`MAX_TYPICAL_DRAWS`] tosses in all.
pub fn typical(p: f64, ns: &[u64], samples: u64, epsilon: f64, seed: u64) -> Result<TypicalReport> {
    let coin = check_p(p)?;
    if !(epsilon > 0.0 && epsilon.is_finite()) || samples == 0 || ns.contains(&0) {
        return Err(Error::InvalidOptions(
            "the typical-set demo needs eps > 0, at least one sample and N >= 1".into(),
        ));
    }
    let draws = ns
        .iter()
        .try_fold(0u64, |acc, &n| acc.checked_add(n.checked_mul(samples)?));
    if draws.is_none_or(|d| d > MAX_TYPICAL_DRAWS) {
        return Err(Error::InvalidOptions(format!(
            "{samples} samples of these lengths need more than {MAX_TYPICAL_DRAWS} tosses"
        )));
    }
    let (p1, h) = (coin.p(), coin.entropy_rate());
    // Code lengths of one toss: -log2 p for a 1, -log2 (1-p) for a 0.
    let (a1, a0) = (-p1.log2(), -(1.0 - p1).log2());
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    for &n in ns {
        let mut v: Vec<f64> = (0..samples)
            .map(|_| {
                let ones = (0..n).filter(|_| coin.toss(&mut rng)).count() as f64;
                (ones * a1 + (n as f64 - ones) * a0) / n as f64
            })
            .collect();
        v.sort_by(f64::total_cmp);
        let quantile = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        let within = v.iter().filter(|&&x| (x - h).abs() <= epsilon).count();
        let (exact_within, typical_set_log2_per_toss) = exact_typical(n, p1, epsilon);
        rows.push(TypicalRow {
            n,
            samples,
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v[0],
            q05: quantile(0.05),
            q95: quantile(0.95),
            max: v[v.len() - 1],
            within: within as f64 / v.len() as f64,
            exact_within,
            typical_set_log2_per_toss,
        });
    }
    Ok(TypicalReport {
        p: p1,
        entropy_rate: h,
        epsilon,
        seed,
        rows,
    })
}

/// `(P(A_eps), log2 |A_eps| / N)` for N tosses of a coin with `p('1') = p`: a sequence
/// with k ones has `-log2 p(x)/N = (k a1 + (N-k) a0)/N`; there are `C(N,k)` of them, of
/// probability `C(N,k) p^k (1-p)^(N-k)` together. `ln C(N,k)` is built up term by term,
/// `ln C(N,k+1) = ln C(N,k) + ln(N-k) - ln(k+1)`; `log2 |A_eps|` is a log-sum-exp.
/// An empty typical set gives `(0, -inf)`.
fn exact_typical(n: u64, p: f64, eps: f64) -> (f64, f64) {
    let h = binary_entropy(p);
    let (a1, a0) = (-p.log2(), -(1.0 - p).log2());
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let nf = n as f64;
    let mut ln_c = 0.0f64;
    let mut prob = 0.0f64;
    // log-sum-exp of ln C(N,k) over typical k: sum = exp(top) * scaled.
    let (mut top, mut scaled) = (f64::NEG_INFINITY, 0.0f64);
    for k in 0..=n {
        let kf = k as f64;
        if ((kf * a1 + (nf - kf) * a0) / nf - h).abs() <= eps {
            prob += (ln_c + kf * lp + (nf - kf) * lq).exp();
            if ln_c > top {
                scaled = scaled * (top - ln_c).exp() + 1.0;
                top = ln_c;
            } else {
                scaled += (ln_c - top).exp();
            }
        }
        if k < n {
            ln_c += ((nf - kf) / (kf + 1.0)).ln();
        }
    }
    let log2_size = if scaled > 0.0 {
        (top + scaled.ln()) / std::f64::consts::LN_2
    } else {
        f64::NEG_INFINITY
    };
    (prob.min(1.0), log2_size / nf)
}

/// One order of [`orders`]. Rates in bits per byte; `None` where the model was not run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderRow {
    /// The order k.
    pub k: u32,
    /// The file's `H_k`.
    pub entropy: f64,
    /// Distinct contexts of length k in the file.
    pub contexts: u64,
    /// Static order-k model: cross entropy of its tables.
    pub static_cross: Option<f64>,
    /// Static order-k model: tables and framing.
    pub static_table: Option<f64>,
    /// Static order-k model: achieved rate (cross entropy + tables + coder overhead).
    pub static_achieved: Option<f64>,
    /// Adaptive order-k model: cross entropy (what its learning predictions cost).
    pub adaptive_cross: Option<f64>,
    /// Adaptive order-k model: achieved rate.
    pub adaptive_achieved: Option<f64>,
}

impl OrderRow {
    /// Adaptive achieved minus `H_k`: the price of learning the model on the fly.
    pub fn learning_cost(&self) -> Option<f64> {
        Some(self.adaptive_achieved? - self.entropy)
    }
}

/// The result of [`orders`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrdersReport {
    /// The file as named.
    pub path: String,
    /// Its length.
    pub bytes: u64,
    /// The coder of every run.
    pub coder: &'static str,
    /// Orders 0..=K.
    pub rows: Vec<OrderRow>,
    /// The order of least adaptive achieved rate, if any adaptive run was made.
    pub best_adaptive_order: Option<u32>,
}

/// The orders demo (read me first): `H_k` and static and adaptive order-k runs with
/// `coder` for `k = 0..=max_order`, the whole file as one block (`data.len()` clamped
/// to the block sizes the format allows).
///
/// Errors: those of [`analyse`] (`max_order` above the entropy code's limit).
pub fn orders(path: &str, data: &[u8], max_order: u32, coder: CoderKind) -> Result<OrdersReport> {
    let config = AnalyseConfig {
        max_order,
        models: vec![ModelKind::Static, ModelKind::Adaptive],
        coders: vec![coder],
        orders: Some((0..=max_order).collect()),
        block_size: (data.len() as u64).clamp(u64::from(MIN_BLOCK_SIZE), u64::from(MAX_BLOCK_SIZE)),
    };
    let report = analyse(path, data, &config)?;
    let find = |model: ModelKind, k: u32| {
        report
            .runs
            .iter()
            .find(|r| r.model == model && r.order == k)
    };
    let rows: Vec<OrderRow> = report
        .entropy
        .iter()
        .map(|e| {
            let s = find(ModelKind::Static, e.order);
            let a = find(ModelKind::Adaptive, e.order);
            OrderRow {
                k: e.order,
                entropy: e.bits_per_byte,
                contexts: e.contexts,
                static_cross: s.and_then(Run::cross_entropy),
                static_table: s.and_then(Run::table),
                static_achieved: s.and_then(Run::achieved),
                adaptive_cross: a.and_then(Run::cross_entropy),
                adaptive_achieved: a.and_then(Run::achieved),
            }
        })
        .collect();
    let best_adaptive_order = rows
        .iter()
        .filter_map(|r| Some((r.k, r.adaptive_achieved?)))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|x| x.0);
    Ok(OrdersReport {
        path: path.to_string(),
        bytes: data.len() as u64,
        coder: coder.name(),
        rows,
        best_adaptive_order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::pack_bits;

    #[test]
    fn grouping_puts_the_first_toss_high_and_pads_with_zeros() {
        assert_eq!(group_tosses(b"10011", 2), vec![0b10, 0b01, 0b10]);
        assert_eq!(group_tosses(b"1", 8), vec![0x80]);
        assert_eq!(group_tosses(b"10000001", 8), pack_bits(b"10000001"));
    }

    #[test]
    fn unlimited_huffman_lengths_are_optimal_on_small_cases() {
        let mut c = [0u64; 256];
        assert_eq!(huffman_lengths(&c), [0; 256]);
        c[7] = 5;
        assert_eq!(huffman_lengths(&c)[7], 1);
        // Dyadic probabilities 1/2, 1/4, 1/8, 1/8: lengths 1, 2, 3, 3.
        c = [0; 256];
        c[b'a' as usize] = 4;
        c[b'b' as usize] = 2;
        c[b'c' as usize] = 1;
        c[b'd' as usize] = 1;
        let l = huffman_lengths(&c);
        assert_eq!([l[97], l[98], l[99], l[100]], [1, 2, 3, 3]);
        // Fibonacci weights need depth n - 1: beyond the library's limit.
        c = [0; 256];
        let (mut a, mut b) = (1u64, 1u64);
        for s in 0..20 {
            c[s] = a;
            (a, b) = (b, a + b);
        }
        let l = huffman_lengths(&c);
        assert_eq!(l.iter().max(), Some(&19));
        let kraft: f64 = l[..20].iter().map(|&x| 0.5f64.powi(x as i32)).sum();
        assert!((kraft - 1.0).abs() < 1e-12);
    }

    #[test]
    fn exact_typical_set_of_a_fair_coin_is_everything() {
        // p = 1/2: every sequence has -log2 p(x)/N = 1 = h, so A_eps holds all 2^N.
        let (prob, size) = exact_typical(20, 0.5, 1e-9);
        assert!((prob - 1.0).abs() < 1e-9);
        assert!((size - 1.0).abs() < 1e-9);
    }

    #[test]
    fn exact_typical_matches_enumeration() {
        // N = 12, p = 0.3: enumerate all 4096 sequences.
        let (n, p, eps) = (12u32, 0.3f64, 0.1);
        let h = binary_entropy(p);
        let (mut prob, mut count) = (0.0, 0u64);
        for x in 0u32..1 << n {
            let k = x.count_ones();
            let px = p.powi(k as i32) * (1.0 - p).powi((n - k) as i32);
            if (-px.log2() / f64::from(n) - h).abs() <= eps {
                prob += px;
                count += 1;
            }
        }
        let (got_prob, got_size) = exact_typical(n.into(), p, eps);
        assert!(count > 0);
        assert!((got_prob - prob).abs() < 1e-9);
        assert!((got_size - (count as f64).log2() / f64::from(n)).abs() < 1e-9);
    }

    #[test]
    fn demos_refuse_degenerate_parameters() {
        assert!(coin(0.0, &[10], 2, 1).is_err());
        assert!(coin(0.5, &[10], 9, 1).is_err());
        assert!(coin(0.5, &[0], 2, 1).is_err());
        assert!(typical(1.0, &[10], 10, 0.1, 1).is_err());
        assert!(typical(0.5, &[10], 0, 0.1, 1).is_err());
        assert!(typical(0.5, &[1 << 40], 1 << 20, 0.1, 1).is_err());
    }
}
