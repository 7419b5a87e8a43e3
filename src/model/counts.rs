//! Byte histograms.

/// How often each byte value occurs in a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts(pub [u64; 256]);

impl Default for Counts {
    fn default() -> Self {
        Counts([0; 256])
    }
}

impl Counts {
    /// Counts the bytes of `data`.
    ///
    /// Four sub-histograms are filled in turn so that runs of one byte value do not
    /// serialise on a single counter (a store-to-load dependency per byte).
    pub fn of(data: &[u8]) -> Counts {
        let mut sub = [[0u32; 256]; 4];
        let mut total = [0u64; 256];
        // u32 counters cannot overflow within a chunk of 2^32 - 4 bytes per lane.
        for chunk in data.chunks(1 << 30) {
            let mut quads = chunk.chunks_exact(4);
            for q in &mut quads {
                sub[0][q[0] as usize] += 1;
                sub[1][q[1] as usize] += 1;
                sub[2][q[2] as usize] += 1;
                sub[3][q[3] as usize] += 1;
            }
            for &b in quads.remainder() {
                sub[0][b as usize] += 1;
            }
            for s in 0..256 {
                total[s] += u64::from(sub[0][s] + sub[1][s] + sub[2][s] + sub[3][s]);
            }
            sub = [[0; 256]; 4];
        }
        Counts(total)
    }

    /// Number of symbols counted.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Number of distinct symbols (those with a non-zero count).
    pub fn distinct(&self) -> usize {
        self.0.iter().filter(|&&c| c > 0).count()
    }

    /// Count of one symbol.
    pub fn get(&self, symbol: u8) -> u64 {
        self.0[symbol as usize]
    }

    /// Empirical order-0 entropy in bits per symbol (0 for an empty histogram).
    pub fn entropy_bits_per_symbol(&self) -> f64 {
        let n = self.total();
        if n == 0 {
            return 0.0;
        }
        let n = n as f64;
        self.0
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let c = c as f64;
                c * (n / c).log2()
            })
            .sum::<f64>()
            / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_naive_histogram() {
        let data: Vec<u8> = (0..10_007u32).map(|i| (i * 7 % 13) as u8).collect();
        let c = Counts::of(&data);
        let mut naive = [0u64; 256];
        for &b in &data {
            naive[b as usize] += 1;
        }
        assert_eq!(c.0, naive);
        assert_eq!(c.total(), data.len() as u64);
        assert_eq!(c.distinct(), 13);
    }

    #[test]
    fn entropy_of_uniform_and_constant() {
        let all: Vec<u8> = (0..=255).collect();
        assert!((Counts::of(&all).entropy_bits_per_symbol() - 8.0).abs() < 1e-12);
        assert_eq!(Counts::of(&[9; 100]).entropy_bits_per_symbol(), 0.0);
        assert_eq!(Counts::of(&[]).entropy_bits_per_symbol(), 0.0);
    }
}
