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
    // Fill or drain by best marginal cost. At most one pass per present symbol is needed
    // for the rounding deficit, and the clamp to 1 adds at most one unit per symbol.
    while sum < target {
        let best = present
            .iter()
            .copied()
            .max_by(|&a, &b| gain(counts.0[a], freq[a]).total_cmp(&gain(counts.0[b], freq[b])))
            .expect("present is not empty");
        freq[best] += 1;
        sum += 1;
    }
    while sum > target {
        let best = present
            .iter()
            .copied()
            .filter(|&s| freq[s] > 1)
            .min_by(|&a, &b| loss(counts.0[a], freq[a]).total_cmp(&loss(counts.0[b], freq[b])))
            .expect("sum > target implies a frequency above 1");
        freq[best] -= 1;
        sum -= 1;
    }
    // Exchange single units while that shortens the code. Each exchange strictly lowers
    // L, so this terminates; the bound only guards against float ties.
    for _ in 0..4 * total_slots {
        let up = present
            .iter()
            .copied()
            .max_by(|&a, &b| gain(counts.0[a], freq[a]).total_cmp(&gain(counts.0[b], freq[b])))
            .expect("present is not empty");
        let down = present
            .iter()
            .copied()
            .filter(|&s| s != up && freq[s] > 1)
            .min_by(|&a, &b| loss(counts.0[a], freq[a]).total_cmp(&loss(counts.0[b], freq[b])));
        let Some(down) = down else { break };
        let g = gain(counts.0[up], freq[up]);
        let l = loss(counts.0[down], freq[down]);
        if g <= l * (1.0 + 1e-12) {
            break;
        }
        freq[up] += 1;
        freq[down] -= 1;
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
