//! Empirical conditional entropies H_k of a byte string.
//!
//! Convention (shared with the models and the tests, see `DESIGN.md`): all n positions
//! count, and bytes before the start of the input read as zero. With it,
//!
//! ```text
//! H_k = (1/n) * sum over contexts c, symbols s of  n(c,s) * log2( n(c) / n(c,s) )
//! ```
//!
//! where `c` ranges over the k bytes before each position, so that a static order-k
//! model built from exact counts has an ideal code length of exactly `n * H_k` bits.
//!
//! Method: one pass per order builds a key `(context, symbol)` for every position, the
//! keys are sorted, and runs of equal keys (counts `n(c,s)`) inside runs of equal
//! contexts (counts `n(c)`) are summed. Keys are `u64` up to order 7 and `u128` up to
//! [`MAX_ENTROPY_ORDER`].

/// Largest order [`conditional_entropy`] accepts: 15 context bytes and the symbol fill a
/// `u128` key.
pub const MAX_ENTROPY_ORDER: u32 = 15;

/// H_k of one order, with the number of distinct contexts that occur.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntropyRow {
    /// The order k.
    pub order: u32,
    /// H_k in bits per byte.
    pub bits_per_byte: f64,
    /// Distinct contexts of length k seen (1 for order 0 on non-empty data).
    pub contexts: u64,
}

/// Sums `n(c,s) log2(n(c)/n(c,s))` over sorted keys, where `ctx(key)` drops the symbol.
fn sum_sorted<K: Copy + Eq + Ord>(keys: &mut [K], ctx: impl Fn(K) -> K) -> (f64, u64) {
    keys.sort_unstable();
    let mut bits = 0.0;
    let mut contexts = 0u64;
    let mut i = 0;
    while i < keys.len() {
        let c = ctx(keys[i]);
        let mut j = i;
        // Within context c: sum n(c,s) log2 n(c,s) and n(c).
        let mut sum_nlogn = 0.0;
        while j < keys.len() && ctx(keys[j]) == c {
            let mut m = j;
            while m < keys.len() && keys[m] == keys[j] {
                m += 1;
            }
            let ncs = (m - j) as f64;
            sum_nlogn += ncs * ncs.log2();
            j = m;
        }
        let nc = (j - i) as f64;
        bits += nc * nc.log2() - sum_nlogn;
        contexts += 1;
        i = j;
    }
    (bits, contexts)
}

/// H_k of `data` (bits per byte) and the number of distinct contexts.
///
/// # Panics
/// If `k > MAX_ENTROPY_ORDER`; callers validate the order first.
pub fn conditional_entropy(data: &[u8], k: u32) -> EntropyRow {
    assert!(
        k <= MAX_ENTROPY_ORDER,
        "order {k} above {MAX_ENTROPY_ORDER}"
    );
    let n = data.len();
    if n == 0 {
        return EntropyRow {
            order: k,
            bits_per_byte: 0.0,
            contexts: 0,
        };
    }
    let (bits, contexts) = if k <= 7 {
        let mask: u64 = if k == 0 { 0 } else { (1u64 << (8 * k)) - 1 };
        let mut hist: u64 = 0;
        let mut keys: Vec<u64> = Vec::with_capacity(n);
        for &b in data {
            keys.push((hist & mask) << 8 | u64::from(b));
            hist = hist << 8 | u64::from(b);
        }
        sum_sorted(&mut keys, |key| key >> 8)
    } else {
        let mask: u128 = (1u128 << (8 * k)) - 1;
        let mut hist: u128 = 0;
        let mut keys: Vec<u128> = Vec::with_capacity(n);
        for &b in data {
            keys.push((hist & mask) << 8 | u128::from(b));
            hist = hist << 8 | u128::from(b);
        }
        sum_sorted(&mut keys, |key| key >> 8)
    };
    EntropyRow {
        order: k,
        bits_per_byte: (bits / n as f64).max(0.0),
        contexts,
    }
}

/// H_0 ..= H_max_order of `data`.
pub fn entropies(data: &[u8], max_order: u32) -> Vec<EntropyRow> {
    (0..=max_order.min(MAX_ENTROPY_ORDER))
        .map(|k| conditional_entropy(data, k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deliberately simple second implementation: hash maps of context strings.
    fn reference(data: &[u8], k: usize) -> (f64, u64) {
        let mut padded = vec![0u8; k];
        padded.extend_from_slice(data);
        let mut joint: HashMap<&[u8], u64> = HashMap::new();
        let mut ctx: HashMap<&[u8], u64> = HashMap::new();
        for i in 0..data.len() {
            *joint.entry(&padded[i..i + k + 1]).or_default() += 1;
            *ctx.entry(&padded[i..i + k]).or_default() += 1;
        }
        let mut bits = 0.0;
        for (key, &ncs) in &joint {
            let nc = ctx[&key[..k]];
            bits += ncs as f64 * (nc as f64 / ncs as f64).log2();
        }
        (bits / data.len() as f64, ctx.len() as u64)
    }

    #[test]
    fn known_answers() {
        assert_eq!(conditional_entropy(&[7; 1000], 0).bits_per_byte, 0.0);
        let all: Vec<u8> = (0..=255).collect();
        assert!((conditional_entropy(&all, 0).bits_per_byte - 8.0).abs() < 1e-12);
        // After the first byte, "abab..." is determined by its previous byte; the first
        // position's context is the zero byte, which occurs once.
        let ab: Vec<u8> = b"ab".repeat(500);
        let h1 = conditional_entropy(&ab, 1);
        assert!(h1.bits_per_byte.abs() < 1e-12);
        assert_eq!(h1.contexts, 3);
        assert_eq!(conditional_entropy(&[], 3).bits_per_byte, 0.0);
    }

    #[test]
    fn matches_reference_on_corpus_files() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        for f in [
            "canterbury/grammar.lsp",
            "canterbury/xargs.1",
            "calgary/paper5",
        ] {
            let data = std::fs::read(root.join(f)).unwrap();
            for k in 0..=9u32 {
                let row = conditional_entropy(&data, k);
                let (h, c) = reference(&data, k as usize);
                assert!(
                    (row.bits_per_byte - h).abs() < 1e-9,
                    "{f} H_{k}: {} vs {h}",
                    row.bits_per_byte
                );
                assert_eq!(row.contexts, c, "{f} contexts at order {k}");
            }
        }
    }

    #[test]
    fn entropy_does_not_grow_with_order() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora");
        let data = std::fs::read(root.join("calgary/paper1")).unwrap();
        let rows = entropies(&data, 6);
        for w in rows.windows(2) {
            assert!(w[1].bits_per_byte <= w[0].bits_per_byte + 1e-12);
        }
    }
}
