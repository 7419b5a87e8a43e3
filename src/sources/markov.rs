//! An order-k Markov source trained on a file: Shannon's approximations to English.
//!
//! # Read me first
//!
//! - **Model.** For every context `c` (the k bytes before a position; bytes before the
//!   start of the file read as 0, the convention of `DESIGN.md`) the training counts
//!   `n(c, s)` give `p(s | c) = n(c, s) / n(c)`. Sampling draws one symbol at a time,
//!   `x_n ~ p(. | x_{n-k} .. x_{n-1})`: the chain rule
//!   `p(x_1 .. x_N) = prod_n p(x_n | x_{n-k} .. x_{n-1})`, exactly, with integer tables
//!   (a uniform integer below `n(c)`, a binary search in the cumulative counts).
//! - **Start.** The first context is k zero bytes, as at the start of the training file.
//! - **Back-off.** A context never seen in training (it can only arise from the last
//!   positions of the file, whose following context never occurs as a context) is
//!   replaced by its longest seen suffix: the last `k-1` bytes, then `k-2`, down to
//!   order 0, which always exists. Each such step is counted ([`MarkovSample`]).
//! - **Entropy rate.** The source declares the conditional entropy of its model under
//!   the training file's context frequencies,
//!   `H = sum_c n(c)/n * H(p(. | c)) = (1/n) sum_{c,s} n(c,s) log2(n(c)/n(c,s))`,
//!   which is exactly the training file's empirical `H_k`. The chain's true entropy rate
//!   weighs `H(p(. | c))` by its *stationary* distribution instead; the empirical context
//!   frequencies are stationary for the chain except at the two ends of the file (the
//!   flow into and out of each context differs only for the first and last context) and
//!   where sampling backs off, so the two agree up to terms of order `1/n` for a chain
//!   that does not get trapped (text does not). It is an estimate, said as such.
//!
//! Shannon (1948, section 3) built "approximations to English" this way: order 0 here is
//! his first-order approximation (letter frequencies), order 1 his second order (digram
//! structure), order 2 his third (trigram); his zero-order approximation, equiprobable
//! symbols, is the `iid` source with equal probabilities.

use std::collections::HashMap;

use super::{Rng, Source};
use crate::error::{Error, Result};

/// Largest order [`Markov::train`] accepts: a context of 8 bytes fills a `u64` key.
pub const MAX_MARKOV_ORDER: u32 = 8;

/// The order-j model of one back-off level, all contexts' tables in flat arrays.
#[derive(Clone, Debug)]
struct Level {
    /// Context (the last j bytes, the most recent in the low byte) -> `(start, len)` of
    /// its entries in `symbols` and `ends`. Invariant: `len >= 1`, in bounds.
    spans: HashMap<u64, (u32, u32)>,
    /// Symbols of each context, increasing within a context.
    symbols: Vec<u8>,
    /// Cumulative counts, each context's own running sum: entry `start + i` is
    /// `sum_{m <= i} n(c, s_m)`; the context's last entry is `n(c)`. Strictly
    /// increasing within a context.
    ends: Vec<u64>,
}

impl Level {
    /// Counts `(context, symbol)` of order `j` over `data` and lays out the tables.
    /// Returns the level and `sum_{c,s} n(c,s) log2(n(c)/n(c,s))` in bits.
    fn train(data: &[u8], j: u32) -> (Level, f64) {
        let mask = context_mask(j);
        let mut hist = 0u64;
        let mut keys: Vec<(u64, u8)> = Vec::with_capacity(data.len());
        for &b in data {
            keys.push((hist & mask, b));
            hist = hist << 8 | u64::from(b);
        }
        keys.sort_unstable();
        let mut level = Level {
            spans: HashMap::new(),
            symbols: Vec::new(),
            ends: Vec::new(),
        };
        let mut bits = 0.0;
        let mut i = 0;
        while i < keys.len() {
            let c = keys[i].0;
            let start = level.symbols.len();
            let mut run = 0u64;
            let mut sum_nlogn = 0.0;
            let mut j = i;
            while j < keys.len() && keys[j].0 == c {
                let mut m = j;
                while m < keys.len() && keys[m] == keys[j] {
                    m += 1;
                }
                let ncs = (m - j) as u64;
                run += ncs;
                sum_nlogn += ncs as f64 * (ncs as f64).log2();
                level.symbols.push(keys[j].1);
                level.ends.push(run);
                j = m;
            }
            // n(c) log2 n(c) - sum_s n(c,s) log2 n(c,s)
            bits += run as f64 * (run as f64).log2() - sum_nlogn;
            let len = level.symbols.len() - start;
            level.spans.insert(c, (start as u32, len as u32));
            i = j;
        }
        (level, bits)
    }

    /// Draws a symbol from context `c`'s table, or `None` if `c` was never seen.
    #[inline]
    fn sample(&self, c: u64, rng: &mut Rng) -> Option<u8> {
        let &(start, len) = self.spans.get(&c)?;
        let ends = &self.ends[start as usize..(start + len) as usize];
        let r = rng.below(ends[ends.len() - 1]);
        let i = ends.partition_point(|&e| e <= r);
        Some(self.symbols[start as usize + i])
    }
}

/// Mask of the last `j` bytes of a history word.
fn context_mask(j: u32) -> u64 {
    if j == 0 { 0 } else { u64::MAX >> (64 - 8 * j) }
}

/// An order-k Markov source trained on a file (read me first above).
#[derive(Clone, Debug)]
pub struct Markov {
    order: u32,
    /// `levels[j]` is the order-j model, `j = 0..=order`, for back-off.
    levels: Vec<Level>,
    /// The training file's `H_k` in bits per byte.
    entropy_rate: f64,
    /// Bytes of training data.
    trained_on: usize,
}

/// The result of [`Markov::sample`]: the bytes, and how often a context had to back off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkovSample {
    /// The sampled bytes.
    pub bytes: Vec<u8>,
    /// Positions whose order-k context was never seen in training (each counted once,
    /// however many orders it backed off).
    pub backoffs: u64,
}

impl Markov {
    /// Counts the order-0 ..= order-k statistics of `data`.
    ///
    /// Errors: empty training data, `order > MAX_MARKOV_ORDER`, or data longer than
    /// `u32::MAX` bytes.
    pub fn train(data: &[u8], order: u32) -> Result<Markov> {
        if order > MAX_MARKOV_ORDER {
            return Err(Error::InvalidOptions(format!(
                "markov order {order} is above the largest, {MAX_MARKOV_ORDER}"
            )));
        }
        if data.is_empty() {
            return Err(Error::InvalidOptions(
                "the training file is empty: nothing to learn".into(),
            ));
        }
        if data.len() > u32::MAX as usize {
            return Err(Error::InvalidOptions(format!(
                "the training file has {} bytes; the limit is {}",
                data.len(),
                u32::MAX
            )));
        }
        let mut levels = Vec::with_capacity(order as usize + 1);
        let mut entropy_rate = 0.0;
        for j in 0..=order {
            let (level, bits) = Level::train(data, j);
            levels.push(level);
            entropy_rate = (bits / data.len() as f64).max(0.0);
        }
        Ok(Markov {
            order,
            levels,
            entropy_rate,
            trained_on: data.len(),
        })
    }

    /// The order k.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Number of distinct order-k contexts seen in training.
    pub fn contexts(&self) -> usize {
        self.levels[self.order as usize].spans.len()
    }

    /// Draws `len` bytes, one at a time from `p(x_n | previous k)`, backing off for
    /// unseen contexts.
    pub fn sample(&self, len: usize, rng: &mut Rng) -> MarkovSample {
        let mut bytes = Vec::with_capacity(len);
        let mut backoffs = 0u64;
        let mut hist = 0u64;
        for _ in 0..len {
            let mut s = None;
            for j in (0..=self.order).rev() {
                s = self.levels[j as usize].sample(hist & context_mask(j), rng);
                if s.is_some() {
                    break;
                }
                if j == self.order {
                    backoffs += 1;
                }
            }
            // Order 0 has the one context 0, seen at every position of non-empty data.
            let s = s.expect("the order-0 table is never empty");
            bytes.push(s);
            hist = hist << 8 | u64::from(s);
        }
        MarkovSample { bytes, backoffs }
    }
}

impl Source for Markov {
    fn generate(&self, len: usize, rng: &mut Rng) -> Vec<u8> {
        self.sample(len, rng).bytes
    }

    fn entropy_rate(&self) -> f64 {
        self.entropy_rate
    }

    fn describe(&self) -> String {
        format!(
            "markov order {} trained on {} bytes ({} contexts): entropy rate estimated as \
             the training file's H_{}, the model's conditional entropy under the training \
             context frequencies, per byte",
            self.order,
            self.trained_on,
            self.contexts(),
            self.order
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::conditional_entropy;

    #[test]
    fn entropy_rate_is_the_training_files_h_k() {
        let data = b"the cat sat on the mat; the dog sat on the log. ".repeat(20);
        for k in 0..=MAX_MARKOV_ORDER {
            let m = Markov::train(&data, k).unwrap();
            let h = conditional_entropy(&data, k).bits_per_byte;
            assert!((m.entropy_rate() - h).abs() < 1e-9, "order {k}");
        }
    }

    #[test]
    fn a_deterministic_text_is_reproduced() {
        // Every order-2 context of "abcabc..." has one successor; the sampler must
        // follow it exactly from the zero-byte start.
        let data = b"abc".repeat(50);
        let m = Markov::train(&data, 2).unwrap();
        let s = m.sample(300, &mut Rng::new(9));
        assert_eq!(&s.bytes[..], &b"abc".repeat(100)[..]);
        assert_eq!(s.backoffs, 0);
    }

    #[test]
    fn unseen_contexts_back_off() {
        // "ab": context (a,b) never occurs as a context; order 1 context b neither;
        // the sampler must fall back to order 0 and keep going.
        let m = Markov::train(b"ab", 2).unwrap();
        let s = m.sample(50, &mut Rng::new(1));
        assert_eq!(&s.bytes[..2], b"ab");
        assert!(s.backoffs >= 1);
        assert_eq!(s.bytes.len(), 50);
    }

    #[test]
    fn bad_training_is_refused() {
        assert!(Markov::train(b"", 1).is_err());
        assert!(Markov::train(b"abc", MAX_MARKOV_ORDER + 1).is_err());
    }
}
