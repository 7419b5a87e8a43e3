//! Quantising counts to frequencies with a power-of-two total.
//!
//! Goal: given counts `c_i` (n in total) and a total `T = 2^scale`, choose integer
//! frequencies `f_i >= 1` (for every `c_i > 0`) with `sum f_i = T` that minimise the code
//! length the data will cost under the quantised model,
//!
//! ```text
//! L(f) = sum_i c_i * log2(T / f_i)      bits.
//! ```
//!
//! `L` is a sum of convex functions of the individual `f_i` under one linear constraint,
//! so an allocation is optimal exactly when no single unit moved from one symbol to
//! another shortens the code: `max_i gain_i <= min_j loss_j`, with
//! `gain_i = c_i log2((f_i+1)/f_i)` and `loss_j = c_j log2(f_j/(f_j-1))`.
//! We start from proportional rounding (floored, clamped to 1), fill or drain the
//! difference greedily by marginal cost, then swap single units until that condition
//! holds. Proportional rounding alone can cost noticeably more on skewed data where
//! many rare symbols are clamped to 1.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::model::{Counts, check_scale};

/// Code length of one more unit for symbol with count `c` at frequency `f`.
fn gain(c: u64, f: u32) -> f64 {
    c as f64 * (f64::from(f + 1) / f64::from(f)).log2()
}

/// Code length lost by taking one unit from a symbol with count `c` at frequency `f`.
fn loss(c: u64, f: u32) -> f64 {
    if f <= 1 {
        f64::INFINITY
    } else {
        c as f64 * (f64::from(f) / f64::from(f - 1)).log2()
    }
}

/// A float ordered by `total_cmp`, for the heaps.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The valid entry with the largest gain (discarding stale ones); not removed.
fn top_up(ups: &mut BinaryHeap<(Key, usize, u32)>, freq: &[u32; 256]) -> Option<(f64, usize)> {
    while let Some(&(k, s, f)) = ups.peek() {
        if freq[s] == f {
            return Some((k.0, s));
        }
        ups.pop();
    }
    None
}

/// The valid entry with the smallest loss whose symbol is not `except` (discarding
/// stale ones); not removed.
fn top_down(
    downs: &mut BinaryHeap<Reverse<(Key, usize, u32)>>,
    freq: &[u32; 256],
    except: usize,
) -> Option<(f64, usize)> {
    let mut held = None;
    let found = loop {
        let Some(&Reverse((k, s, f))) = downs.peek() else {
            break None;
        };
        if freq[s] != f {
            downs.pop();
        } else if s == except {
            held = downs.pop();
        } else {
            break Some((k.0, s));
        }
    };
    if let Some(h) = held {
        downs.push(h);
    }
    found
}

/// Normalises `counts` to frequencies summing to `1 << scale_bits`, minimising the
/// quantised code length (see the module notes).
///
/// Errors: an empty histogram, a bad scale, or more distinct symbols than slots.
pub fn normalize(counts: &Counts, scale_bits: u32) -> Result<[u32; 256]> {
    check_scale(scale_bits)?;
    let total_slots: u32 = 1 << scale_bits;
    let present: Vec<usize> = (0..256).filter(|&s| counts.0[s] > 0).collect();
    if present.is_empty() {
        return Err(Error::InvalidOptions(
            "cannot normalise an empty histogram".into(),
        ));
    }
    if present.len() as u64 > u64::from(total_slots) {
        return Err(Error::LimitExceeded {
            what: "distinct symbols for this scale",
            got: present.len() as u64,
            max: u64::from(total_slots),
        });
    }
    let n = counts.total() as u128;
    let mut freq = [0u32; 256];
    let mut sum: u64 = 0;
    for &s in &present {
        let f = (counts.0[s] as u128 * u128::from(total_slots) / n) as u32;
        freq[s] = f.max(1);
        sum += u64::from(freq[s]);
    }
    let target = u64::from(total_slots);
    let c = &counts.0;
    // Two heaps of candidate moves, invalidated lazily: an entry remembers the frequency
    // its key was computed at and is discarded when the symbol has moved since. Each
    // move pushes at most four entries, so the work is O(moves * log nsym) rather than
    // a scan of every symbol per move (which cost milliseconds on blocks with many rare
    // symbols, more than coding them).
    let mut ups: BinaryHeap<(Key, usize, u32)> = present
        .iter()
        .map(|&s| (Key(gain(c[s], freq[s])), s, freq[s]))
        .collect();
    let mut downs: BinaryHeap<Reverse<(Key, usize, u32)>> = present
        .iter()
        .filter(|&&s| freq[s] > 1)
        .map(|&s| Reverse((Key(loss(c[s], freq[s])), s, freq[s])))
        .collect();
    let push = |ups: &mut BinaryHeap<(Key, usize, u32)>,
                downs: &mut BinaryHeap<Reverse<(Key, usize, u32)>>,
                s: usize,
                f: u32| {
        ups.push((Key(gain(c[s], f)), s, f));
        if f > 1 {
            downs.push(Reverse((Key(loss(c[s], f)), s, f)));
        }
    };
    // Fill or drain by best marginal cost: the rounding deficit is below one unit per
    // symbol, and the clamp to 1 adds at most one unit per symbol.
    while sum < target {
        let (_, s) = top_up(&mut ups, &freq).expect("every present symbol has an entry");
        freq[s] += 1;
        sum += 1;
        push(&mut ups, &mut downs, s, freq[s]);
    }
    while sum > target {
        let (_, s) = top_down(&mut downs, &freq, usize::MAX)
            .expect("sum > target implies a frequency above 1");
        freq[s] -= 1;
        sum -= 1;
        push(&mut ups, &mut downs, s, freq[s]);
    }
    // Exchange single units while that shortens the code. Each exchange strictly lowers
    // L, so this terminates; the bound only guards against float ties.
    for _ in 0..4 * total_slots {
        let Some((g, up)) = top_up(&mut ups, &freq) else {
            break;
        };
        let Some((l, down)) = top_down(&mut downs, &freq, up) else {
            break;
        };
        if g <= l * (1.0 + 1e-12) {
            break;
        }
        freq[up] += 1;
        freq[down] -= 1;
        push(&mut ups, &mut downs, up, freq[up]);
        push(&mut ups, &mut downs, down, freq[down]);
    }
    Ok(freq)
}

/// Code length in bits of data with histogram `counts` under frequencies `freq` of total
/// `2^scale_bits`: `sum_i c_i log2(2^scale / f_i)`. Infinite if a counted symbol has no
/// frequency.
pub fn quantisation_cost_bits(counts: &Counts, freq: &[u32; 256], scale_bits: u32) -> f64 {
    let mut bits = 0.0;
    for s in 0..256 {
        let c = counts.0[s];
        if c == 0 {
            continue;
        }
        if freq[s] == 0 {
            return f64::INFINITY;
        }
        bits += c as f64 * (f64::from(scale_bits) - f64::from(freq[s]).log2());
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts_from(v: &[u64]) -> Counts {
        let mut c = Counts::default();
        c.0[..v.len()].copy_from_slice(v);
        c
    }

    #[test]
    fn sums_to_total_and_keeps_every_symbol() {
        let c = counts_from(&[1_000_000, 1, 1, 1, 5, 0, 7]);
        let f = normalize(&c, 10).unwrap();
        assert_eq!(f.iter().map(|&x| u64::from(x)).sum::<u64>(), 1024);
        for s in 0..7 {
            assert_eq!(f[s] > 0, c.0[s] > 0, "symbol {s}");
        }
    }

    #[test]
    fn too_many_symbols_for_scale_is_an_error() {
        let c = Counts([1; 256]);
        assert!(matches!(
            normalize(&c, 7),
            Err(Error::LimitExceeded { got: 256, .. })
        ));
        assert!(normalize(&c, 8).unwrap().iter().all(|&f| f == 1));
    }

    #[test]
    fn empty_histogram_is_an_error() {
        assert!(normalize(&Counts::default(), 12).is_err());
    }

    #[test]
    fn beats_or_equals_proportional_rounding_on_skewed_data() {
        // Many rare symbols: proportional rounding clamps them and steals from the big one.
        let mut v = vec![1u64; 200];
        v[0] = 100_000;
        v[1] = 30_000;
        let c = counts_from(&v);
        let f = normalize(&c, 10).unwrap();
        let ours = quantisation_cost_bits(&c, &f, 10);
        // A simple rival: floor, clamp, fix the sum on the largest symbol.
        let n = c.total();
        let mut g = [0u32; 256];
        for s in 0..256 {
            if c.0[s] > 0 {
                g[s] = ((c.0[s] * 1024 / n) as u32).max(1);
            }
        }
        let sum: i64 = g.iter().map(|&x| i64::from(x)).sum();
        g[0] = (i64::from(g[0]) + 1024 - sum) as u32;
        let rival = quantisation_cost_bits(&c, &g, 10);
        assert!(ours <= rival + 1e-6, "ours {ours} rival {rival}");
    }

    proptest! {
        /// The result is optimal: no single-unit exchange shortens the code.
        #[test]
        fn no_improving_exchange(v in proptest::collection::vec(0u64..5000, 1..64), scale in 6u32..=14) {
            let c = counts_from(&v);
            prop_assume!(c.total() > 0);
            let f = normalize(&c, scale).unwrap();
            prop_assert_eq!(f.iter().map(|&x| u64::from(x)).sum::<u64>(), 1u64 << scale);
            let base = quantisation_cost_bits(&c, &f, scale);
            for i in 0..v.len() {
                for j in 0..v.len() {
                    if i == j || c.0[i] == 0 || f[j] <= 1 { continue; }
                    let mut g = f;
                    g[i] += 1;
                    g[j] -= 1;
                    let other = quantisation_cost_bits(&c, &g, scale);
                    prop_assert!(other >= base - 1e-6 * base.max(1.0), "move {j}->{i}: {other} < {base}");
                }
            }
        }
    }
}
