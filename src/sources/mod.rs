//! Synthetic sources whose entropy is known in advance, and the demos built on them.
//!
//! # Read me first
//!
//! 1. **Why.** A file of unknown origin has no "true" entropy, only empirical ones
//!    (H_k). A source we define ourselves has an entropy rate we can write down, so the
//!    achieved rate of every coder can be checked against the bound of the source-coding
//!    theorem: no code beats it on average, good ones come as close as we like.
//! 2. **Same seed, same bytes, everywhere.** Random numbers come from [`Rng`], a thin
//!    wrapper over `rand_pcg`'s `Pcg64Mcg` (pinned with `=` in `Cargo.toml`, seeded by
//!    `rand_core`'s documented `seed_from_u64`). Random numbers become symbols through
//!    *integer* tables only ([`Discrete`]: cumulative counts, a uniform integer below
//!    the total, a binary search), never by comparing floating-point probabilities.
//!    Where a table is made from real numbers (the probabilities of `iid`, the weights
//!    `r^-E` of `zipf`), it is made once with IEEE-754 basic operations only (`+ - * /`,
//!    `floor`, which are correctly rounded on every platform) and [`pow_det`], a power
//!    function written with those operations: `f64::powf` and `ln` come from the
//!    platform's maths library and may differ in the last bit.
//! 3. **The table is the truth.** Probabilities are quantised to integers out of
//!    `2^32` ([`QUANT_TOTAL`]); the entropy rate a source declares is computed from its
//!    integer table, so it is the exact entropy of what is sampled, not of the numbers
//!    typed on the command line (they differ by at most about `256 / 2^32`).
//! 4. **Symbols are bytes.** Every source emits one byte per symbol, so that the
//!    compressor and the analyser can be run on its output unchanged. The Bernoulli
//!    source writes the bytes `'0'` and `'1'`; [`pack_bits`] packs 8 tosses per byte.
//!
//! Sources:
//!
//! | source | symbols | entropy rate (bits per symbol) |
//! |---|---|---|
//! | [`Bernoulli`] | `'1'` with probability p, else `'0'` | `h(p) = -p log2 p - (1-p) log2 (1-p)`, exact |
//! | [`Iid`] | given bytes with given probabilities | `H(X) = -sum_x p(x) log2 p(x)`, exact |
//! | [`Zipf`] | rank r in `1..=A` with `p(r) ~ r^-E` | `H(X)` of the quantised table, exact |
//! | [`Markov`] | `x_n` drawn from `p(x_n \| x_{n-k} .. x_{n-1})` of a training file | the training file's `H_k` (see [`Markov`]) |
//!
//! [`demo`] holds the computations behind `shannon demo` (the coin, the asymptotic
//! equipartition property, orders of a file); [`plot`] draws them.

pub mod demo;
mod markov;
pub mod plot;

pub use markov::{MAX_MARKOV_ORDER, Markov, MarkovSample};

use rand_core::{Rng as _, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::error::{Error, Result};

/// Total of every quantised probability table: probabilities are multiples of `2^-32`.
pub const QUANT_TOTAL: u64 = 1 << 32;

/// The pinned pseudo-random generator every source draws from.
///
/// `Pcg64Mcg` (PCG-XSL-RR 128/64, "pcg64_fast") from `rand_pcg`; the same seed gives the
/// same stream on every platform (the crate tests against reference vectors, and the
/// version is pinned).
#[derive(Clone, Debug)]
pub struct Rng {
    inner: Pcg64Mcg,
}

impl Rng {
    /// The generator for `seed` (`rand_core`'s `seed_from_u64`: a PCG32 expansion of the
    /// 64-bit seed into the 128-bit state).
    pub fn new(seed: u64) -> Rng {
        Rng {
            inner: Pcg64Mcg::seed_from_u64(seed),
        }
    }

    /// The next 64 uniformly random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniformly random integer in `[0, n)`, exactly (no modulo bias); `n >= 1`.
    ///
    /// Lemire's multiply-and-reject (2019): `m = x * n` as a 128-bit product; the high
    /// half is the answer unless the low half falls below `2^64 mod n`, where that
    /// answer would be over-represented, and then `x` is drawn again.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n >= 1);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            // 2^64 mod n, computed in 64 bits as (2^64 - n) mod n.
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }
}

/// A distribution over bytes as an integer table: symbol `symbols[i]` has probability
/// `(cum[i+1] - cum[i]) / total`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrete {
    /// The symbols with non-zero probability, distinct.
    symbols: Vec<u8>,
    /// Cumulative counts. Invariant: `cum.len() == symbols.len() + 1`, `cum[0] == 0`,
    /// strictly increasing (every symbol has a count >= 1), `cum.last()` is the total.
    cum: Vec<u64>,
}

impl Discrete {
    /// The table of integer counts `(symbol, count)`; zero counts are left out.
    ///
    /// Errors: no positive count, a repeated symbol, or a total above `2^63`.
    pub fn from_counts(counts: &[(u8, u64)]) -> Result<Discrete> {
        let mut seen = [false; 256];
        let mut symbols = Vec::new();
        let mut cum = vec![0u64];
        let mut total = 0u64;
        for &(s, c) in counts {
            if std::mem::replace(&mut seen[s as usize], true) {
                return Err(Error::InvalidOptions(format!(
                    "symbol {} is given twice",
                    show_byte(s)
                )));
            }
            if c == 0 {
                continue;
            }
            total = total
                .checked_add(c)
                .filter(|&t| t <= 1 << 63)
                .ok_or_else(|| Error::InvalidOptions("counts add up to more than 2^63".into()))?;
            symbols.push(s);
            cum.push(total);
        }
        if symbols.is_empty() {
            return Err(Error::InvalidOptions(
                "a distribution needs at least one symbol of positive probability".into(),
            ));
        }
        Ok(Discrete { symbols, cum })
    }

    /// Quantises real weights to counts out of [`QUANT_TOTAL`] (read me first, items 2
    /// and 3): `f(x) = floor(2^32 * w(x) / W)` with `W = sum w`, at least 1 for every
    /// `w(x) > 0`; what is left over (or over-given) goes to the first most probable
    /// symbol. Only basic IEEE operations are used, so the table is the same everywhere.
    ///
    /// Errors: a weight that is negative or not finite, no positive weight, a repeated
    /// symbol.
    pub fn quantise(weights: &[(u8, f64)]) -> Result<Discrete> {
        let mut sum = 0.0f64;
        for &(s, w) in weights {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::InvalidOptions(format!(
                    "probability of {} is {w}: it must be a finite number >= 0",
                    show_byte(s)
                )));
            }
            sum += w;
        }
        if !(sum > 0.0 && sum.is_finite()) {
            return Err(Error::InvalidOptions(
                "the probabilities must add up to a positive finite number".into(),
            ));
        }
        let scale = QUANT_TOTAL as f64;
        let mut counts: Vec<(u8, u64)> = weights
            .iter()
            .map(|&(s, w)| {
                let f = (w / sum * scale).floor() as u64;
                (s, if w > 0.0 { f.max(1) } else { 0 })
            })
            .collect();
        let given: u64 = counts.iter().map(|c| c.1).sum();
        // The first symbol of largest count takes the difference; it holds at least
        // 2^32 / 256 while the difference is at most 256 either way.
        let mut top = 0;
        for (i, c) in counts.iter().enumerate() {
            if c.1 > counts[top].1 {
                top = i;
            }
        }
        counts[top].1 = counts[top].1 + QUANT_TOTAL - given;
        Discrete::from_counts(&counts)
    }

    /// The sum of the counts.
    pub fn total(&self) -> u64 {
        self.cum[self.cum.len() - 1]
    }

    /// The symbols of positive probability, in table order.
    pub fn symbols(&self) -> &[u8] {
        &self.symbols
    }

    /// `(symbol, count)` in table order.
    pub fn counts(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        self.symbols
            .iter()
            .zip(self.cum.windows(2))
            .map(|(&s, w)| (s, w[1] - w[0]))
    }

    /// Probability of `symbol` (0 if absent).
    pub fn probability(&self, symbol: u8) -> f64 {
        self.counts()
            .find(|c| c.0 == symbol)
            .map_or(0.0, |c| c.1 as f64 / self.total() as f64)
    }

    /// Entropy `H = -sum_x p(x) log2 p(x)` in bits, with `p(x) = count / total`.
    pub fn entropy_bits(&self) -> f64 {
        let t = self.total() as f64;
        // H = log2 T - (1/T) sum_x c(x) log2 c(x)
        let s: f64 = self
            .counts()
            .map(|(_, c)| c as f64 * (c as f64).log2())
            .sum();
        (t.log2() - s / t).max(0.0)
    }

    /// Draws one symbol: `r` uniform in `[0, total)`, the symbol `i` with
    /// `cum[i] <= r < cum[i+1]`.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u8 {
        let r = rng.below(self.total());
        let i = self.cum[1..].partition_point(|&c| c <= r);
        self.symbols[i]
    }
}

/// A source of bytes with a known entropy rate.
pub trait Source {
    /// Draws `len` symbols (one byte each) from `rng`.
    fn generate(&self, len: usize, rng: &mut Rng) -> Vec<u8>;
    /// The entropy rate in bits per symbol.
    fn entropy_rate(&self) -> f64;
    /// One line saying what the source is and what its entropy rate means.
    fn describe(&self) -> String;
}

/// Binary entropy `h(p) = -p log2 p - (1-p) log2(1-p)` in bits (0 at p = 0 and 1).
pub fn binary_entropy(p: f64) -> f64 {
    let term = |x: f64| if x > 0.0 { -x * x.log2() } else { 0.0 };
    term(p) + term(1.0 - p)
}

/// The biased coin: the byte `'1'` with probability p, otherwise `'0'`, independently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bernoulli {
    /// A toss is `'1'` when the top 32 bits of a draw are below this. Invariant:
    /// `threshold <= 2^32`; p(1) = `threshold / 2^32`.
    threshold: u64,
}

impl Bernoulli {
    /// The coin with `p('1') = round(p * 2^32) / 2^32`.
    ///
    /// Errors: `p` outside `[0, 1]` (or not a number).
    pub fn new(p: f64) -> Result<Bernoulli> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidOptions(format!(
                "p = {p} is not a probability in [0, 1]"
            )));
        }
        // p * 2^32 is exact (a power-of-two scaling); round is exact too.
        Ok(Bernoulli {
            threshold: (p * QUANT_TOTAL as f64).round() as u64,
        })
    }

    /// The probability of `'1'` that is actually sampled.
    pub fn p(&self) -> f64 {
        self.threshold as f64 / QUANT_TOTAL as f64
    }

    /// One toss: `true` for `'1'`.
    #[inline]
    pub fn toss(&self, rng: &mut Rng) -> bool {
        (rng.next_u64() >> 32) < self.threshold
    }
}

impl Source for Bernoulli {
    fn generate(&self, len: usize, rng: &mut Rng) -> Vec<u8> {
        (0..len)
            .map(|_| if self.toss(rng) { b'1' } else { b'0' })
            .collect()
    }

    fn entropy_rate(&self) -> f64 {
        binary_entropy(self.p())
    }

    fn describe(&self) -> String {
        format!(
            "bernoulli p('1') = {}: entropy rate h(p) exactly, per toss",
            self.p()
        )
    }
}

/// Packs tosses (`'0'`/`'1'` bytes, anything but `'0'` counting as 1) 8 to a byte, the
/// first toss in the most significant bit; a last partial byte is padded with 0 bits.
pub fn pack_bits(tosses: &[u8]) -> Vec<u8> {
    tosses
        .chunks(8)
        .map(|c| {
            let mut byte = 0u8;
            for (i, &t) in c.iter().enumerate() {
                byte |= u8::from(t != b'0') << (7 - i);
            }
            byte
        })
        .collect()
}

/// Independent, identically distributed bytes with given probabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iid {
    table: Discrete,
}

impl Iid {
    /// The source with `p(x)` proportional to the given weights (quantised, see
    /// [`Discrete::quantise`]).
    pub fn new(probs: &[(u8, f64)]) -> Result<Iid> {
        Ok(Iid {
            table: Discrete::quantise(probs)?,
        })
    }

    /// Parses `"a:0.5,b:0.25,c:0.25"`: comma-separated `SYMBOL:PROBABILITY` pairs.
    /// A symbol is one character of one byte (`a`, `,` is not allowed) or `0xHH`;
    /// probabilities are divided by their sum.
    pub fn parse(spec: &str) -> Result<Iid> {
        let mut probs = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || {
                Error::InvalidOptions(format!(
                    "`{item}` is not SYMBOL:PROBABILITY (e.g. a:0.5 or 0x00:0.5)"
                ))
            };
            let (sym, p) = item.rsplit_once(':').ok_or_else(bad)?;
            let symbol = parse_symbol(sym).ok_or_else(bad)?;
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            probs.push((symbol, p));
        }
        Iid::new(&probs)
    }

    /// The quantised table that is sampled.
    pub fn table(&self) -> &Discrete {
        &self.table
    }
}

/// One byte written as itself (`a`) or in hex (`0x61`).
fn parse_symbol(s: &str) -> Option<u8> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u8::from_str_radix(hex, 16).ok();
    }
    match s.as_bytes() {
        [b] => Some(*b),
        _ => None,
    }
}

/// A byte as shown in messages: printable ASCII as itself, else hex.
fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

impl Source for Iid {
    fn generate(&self, len: usize, rng: &mut Rng) -> Vec<u8> {
        (0..len).map(|_| self.table.sample(rng)).collect()
    }

    fn entropy_rate(&self) -> f64 {
        self.table.entropy_bits()
    }

    fn describe(&self) -> String {
        format!(
            "iid over {} symbols: entropy rate H(X) of the quantised table exactly, per byte",
            self.table.symbols.len()
        )
    }
}

/// Zipf's law over an alphabet of `A` ranks: `p(r) = r^-E / sum_j j^-E`, rank `r` written
/// as the byte `offset + r - 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zipf {
    table: Discrete,
    alphabet: u32,
}

/// Largest Zipf exponent accepted (`256^-64 = 2^-512` is still a normal `f64`).
pub const MAX_ZIPF_EXPONENT: f64 = 64.0;

impl Zipf {
    /// The Zipf source with `alphabet` ranks (`1..=256 - offset`) and exponent `E` in
    /// `[0, 64]`; weights `r^-E` by [`pow_det`], quantised by [`Discrete::quantise`].
    pub fn new(alphabet: u32, exponent: f64, offset: u8) -> Result<Zipf> {
        if alphabet == 0 || alphabet + u32::from(offset) > 256 {
            return Err(Error::InvalidOptions(format!(
                "alphabet {alphabet} from byte {offset} does not fit in 1..=256 byte values"
            )));
        }
        if !(0.0..=MAX_ZIPF_EXPONENT).contains(&exponent) {
            return Err(Error::InvalidOptions(format!(
                "exponent {exponent} is outside 0..={MAX_ZIPF_EXPONENT}"
            )));
        }
        let weights: Vec<(u8, f64)> = (1..=alphabet)
            .map(|r| ((u32::from(offset) + r - 1) as u8, pow_det(r, -exponent)))
            .collect();
        Ok(Zipf {
            table: Discrete::quantise(&weights)?,
            alphabet,
        })
    }

    /// The quantised table that is sampled.
    pub fn table(&self) -> &Discrete {
        &self.table
    }
}

impl Source for Zipf {
    fn generate(&self, len: usize, rng: &mut Rng) -> Vec<u8> {
        (0..len).map(|_| self.table.sample(rng)).collect()
    }

    fn entropy_rate(&self) -> f64 {
        self.table.entropy_bits()
    }

    fn describe(&self) -> String {
        format!(
            "zipf over {} ranks: entropy rate H(X) of the quantised table exactly, per byte",
            self.alphabet
        )
    }
}

/// `base^e` with IEEE-754 basic operations only, so that it gives the same bits on every
/// platform (read me first, item 2); relative error about `1e-15`. `base >= 1`.
///
/// `base^e = 2^(e * log2 base)`; `log2 base = m + ln(f)/ln 2` with `base = 2^m f`,
/// `f` in `[1/sqrt 2, sqrt 2]`, `ln f = 2 atanh z = 2 (z + z^3/3 + z^5/5 + ...)` with
/// `z = (f-1)/(f+1)`, `|z| <= 0.172`; `2^y = 2^n * exp(t ln 2)` with `n = floor y`,
/// `t = y - n` in `[0, 1)`, `exp` by its Taylor series.
pub fn pow_det(base: u32, e: f64) -> f64 {
    debug_assert!(base >= 1);
    let mut m = base.ilog2() as i32;
    let mut f = f64::from(base) / f64::from(1u32 << m);
    if f > std::f64::consts::SQRT_2 {
        f /= 2.0;
        m += 1;
    }
    let z = (f - 1.0) / (f + 1.0);
    let z2 = z * z;
    let (mut term, mut ln_f) = (z, 0.0);
    for k in 0..20 {
        ln_f += term / f64::from(2 * k + 1);
        term *= z2;
    }
    ln_f *= 2.0;
    let y = e * (f64::from(m) + ln_f / std::f64::consts::LN_2);
    let n = y.floor();
    if n < -1022.0 {
        return 0.0;
    }
    if n > 1023.0 {
        return f64::INFINITY;
    }
    let x = (y - n) * std::f64::consts::LN_2;
    let (mut term, mut exp) = (1.0, 1.0);
    for k in 1..30 {
        term *= x / f64::from(k);
        exp += term;
    }
    // 2^n exactly, built from its bits.
    exp * f64::from_bits(((n as i64 + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_det_matches_the_library_power() {
        for base in [1u32, 2, 3, 7, 10, 100, 255, 256] {
            for e in [-3.5, -1.0, -0.5, 0.0, 0.3, 1.0, 2.0] {
                let want = f64::from(base).powf(e);
                let got = pow_det(base, e);
                assert!(
                    ((got - want) / want).abs() < 1e-13,
                    "{base}^{e}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn below_is_in_range_and_uses_the_whole_range() {
        let mut rng = Rng::new(3);
        for n in [1u64, 2, 3, 10, 1 << 40, u64::MAX] {
            let mut seen_top = false;
            for _ in 0..2000 {
                let r = rng.below(n);
                assert!(r < n);
                seen_top |= r >= n - n.div_ceil(4);
            }
            assert!(seen_top, "n = {n}: never drew from the top quarter");
        }
    }

    #[test]
    fn quantised_tables_sum_to_the_total_and_keep_rare_symbols() {
        let t =
            Discrete::quantise(&[(b'a', 1.0), (b'b', 1e-30), (b'c', 0.0), (b'd', 2.0)]).unwrap();
        assert_eq!(t.total(), QUANT_TOTAL);
        assert_eq!(t.symbols(), b"abd");
        assert_eq!(t.counts().nth(1), Some((b'b', 1)));
        assert!((t.probability(b'd') - 2.0 / 3.0).abs() < 1e-9);
        assert!(Discrete::quantise(&[(b'a', 0.0)]).is_err());
        assert!(Discrete::quantise(&[(b'a', -1.0), (b'b', 2.0)]).is_err());
        assert!(Discrete::quantise(&[(b'a', 1.0), (b'a', 2.0)]).is_err());
        assert!(Discrete::quantise(&[(b'a', f64::NAN)]).is_err());
    }

    #[test]
    fn iid_specs_parse() {
        let s = Iid::parse("a:0.5, b:0.25,0x00:0.25").unwrap();
        assert_eq!(s.table().symbols(), &[b'a', b'b', 0]);
        assert!((s.entropy_rate() - 1.5).abs() < 1e-9);
        assert!(Iid::parse("ab:0.5").is_err());
        assert!(Iid::parse("a=0.5").is_err());
        assert!(Iid::parse("").is_err());
        assert!(Iid::parse("a:x").is_err());
    }

    #[test]
    fn bernoulli_checks_p_and_packs() {
        assert!(Bernoulli::new(1.5).is_err());
        assert!(Bernoulli::new(f64::NAN).is_err());
        assert_eq!(Bernoulli::new(1.0).unwrap().entropy_rate(), 0.0);
        assert!((Bernoulli::new(0.5).unwrap().entropy_rate() - 1.0).abs() < 1e-12);
        let ones = Bernoulli::new(1.0).unwrap().generate(5, &mut Rng::new(0));
        assert_eq!(ones, b"11111");
        assert_eq!(pack_bits(b"1000000011"), vec![0x80, 0xc0]);
        assert_eq!(pack_bits(b""), Vec::<u8>::new());
    }

    #[test]
    fn zipf_checks_its_alphabet() {
        assert!(Zipf::new(0, 1.0, 0).is_err());
        assert!(Zipf::new(200, 1.0, 100).is_err());
        assert!(Zipf::new(10, -1.0, 0).is_err());
        let z = Zipf::new(256, 0.0, 0).unwrap();
        assert!((z.entropy_rate() - 8.0).abs() < 1e-9);
        let z = Zipf::new(26, 1.0, b'a').unwrap();
        assert_eq!(z.table().symbols()[0], b'a');
        assert!(z.table().probability(b'a') > z.table().probability(b'b'));
    }
}
