//! The normalised frequency table of a static model, and its compact serialisation.
//!
//! Layout (also in `docs/FORMAT.md`, "Order-0 frequency table"):
//!
//! ```text
//! u8      nsym - 1                    number of present symbols, 1..=256
//! symbols if nsym < 32: nsym bytes, strictly increasing
//!         else:        32-byte bitmap, bit (s & 7) of byte (s >> 3) set for symbol s
//! freqs   for every present symbol but the last, in increasing symbol order:
//!         LEB128 varint of (freq - 1)
//! ```
//!
//! The last symbol's frequency is implied: `2^scale` minus the others, and must be `>= 1`.

use crate::error::{Error, Result};
use crate::format::varint::{read_varint, write_varint};
use crate::model::{Counts, Distribution, Interval, check_scale, normalize};

/// Frequencies of the 256 byte values, summing to `2^scale_bits`, with their prefix sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreqTable {
    scale_bits: u32,
    /// `freq[s]` for each symbol; 0 for symbols that cannot occur.
    freq: [u32; 256],
    /// `cum[s] = freq[0] + ... + freq[s-1]`; `cum[256] = 2^scale_bits`.
    cum: [u32; 257],
}

impl FreqTable {
    /// Builds the optimal quantised table for `counts` (see [`normalize()`]).
    pub fn from_counts(counts: &Counts, scale_bits: u32) -> Result<FreqTable> {
        let freq = normalize(counts, scale_bits)?;
        FreqTable::from_freqs(freq, scale_bits)
    }

    /// Wraps frequencies that must already sum to `2^scale_bits`.
    pub fn from_freqs(freq: [u32; 256], scale_bits: u32) -> Result<FreqTable> {
        check_scale(scale_bits)?;
        let mut cum = [0u32; 257];
        let mut acc: u64 = 0;
        for s in 0..256 {
            cum[s] = acc as u32;
            acc += u64::from(freq[s]);
            if acc > 1 << scale_bits {
                return Err(Error::Corrupt {
                    what: "frequencies exceed the table total",
                });
            }
        }
        if acc != 1 << scale_bits {
            return Err(Error::Corrupt {
                what: "frequencies do not sum to the table total",
            });
        }
        cum[256] = acc as u32;
        Ok(FreqTable {
            scale_bits,
            freq,
            cum,
        })
    }

    /// All frequencies, indexed by symbol.
    pub fn freqs(&self) -> &[u32; 256] {
        &self.freq
    }

    /// Prefix sums: `cums()[s]` is the start of symbol `s`'s interval; 257 entries.
    pub fn cums(&self) -> &[u32; 257] {
        &self.cum
    }

    /// Number of symbols with non-zero frequency.
    pub fn distinct(&self) -> usize {
        self.freq.iter().filter(|&&f| f > 0).count()
    }

    /// A table of `2^scale_bits` entries mapping each slot to the symbol that owns it:
    /// the decoder's answer to "which symbol holds this target" in one load.
    pub fn slot_symbols(&self) -> Vec<u8> {
        let mut slots = vec![0u8; 1 << self.scale_bits];
        for s in 0..256 {
            let a = self.cum[s] as usize;
            let b = self.cum[s + 1] as usize;
            slots[a..b].fill(s as u8);
        }
        slots
    }

    /// Appends the serialised table (module notes) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let present: Vec<u8> = (0..=255u8).filter(|&s| self.freq[s as usize] > 0).collect();
        write_symbol_set(out, &present);
        for &s in &present[..present.len() - 1] {
            write_varint(out, u64::from(self.freq[s as usize] - 1));
        }
    }

    /// Reads a table written by [`FreqTable::write`] for the given scale; returns the
    /// table and the number of bytes it took. Every field is checked.
    pub fn read(input: &[u8], scale_bits: u32) -> Result<(FreqTable, usize)> {
        check_scale(scale_bits)?;
        let (present, mut pos) = read_symbol_set(input, "frequency table")?;
        let table = FreqTable::from_listed(&present, scale_bits, || {
            let (v, used) = read_varint(&input[pos..])?;
            pos += used;
            Ok(v)
        })?;
        Ok((table, pos))
    }

    /// The table of the symbols `present` (increasing, at least one) whose frequencies
    /// minus one `next` yields in turn for all but the last; the last takes what is left
    /// of `2^scale_bits`. Checks what a table reader must: the count fits the scale, no
    /// frequency overflows, and every symbol keeps at least one slot.
    pub(crate) fn from_listed(
        present: &[u8],
        scale_bits: u32,
        mut next: impl FnMut() -> Result<u64>,
    ) -> Result<FreqTable> {
        check_scale(scale_bits)?;
        let total: u64 = 1 << scale_bits;
        let nsym = present.len();
        if nsym as u64 > total {
            return Err(Error::LimitExceeded {
                what: "distinct symbols for this scale",
                got: nsym as u64,
                max: total,
            });
        }
        let Some((&last, listed)) = present.split_last() else {
            return Err(Error::Corrupt {
                what: "table without symbols",
            });
        };
        let mut freq = [0u32; 256];
        let mut sum: u64 = 0;
        for &s in listed {
            let f = next()?.checked_add(1).ok_or(Error::Corrupt {
                what: "frequency overflows",
            })?;
            sum = sum.saturating_add(f);
            // Every symbol still to come needs at least one slot.
            if sum >= total {
                return Err(Error::Corrupt {
                    what: "frequencies exceed the table total",
                });
            }
            freq[s as usize] = f as u32;
        }
        freq[last as usize] = (total - sum) as u32;
        FreqTable::from_freqs(freq, scale_bits)
    }

    /// Code length in bits of data with histogram `counts` under this table.
    pub fn cost_bits(&self, counts: &Counts) -> f64 {
        crate::model::quantisation_cost_bits(counts, &self.freq, self.scale_bits)
    }
}

/// Appends a set of symbols (strictly increasing, 1 to 256 of them): `nsym - 1` as a
/// byte, then the symbols as a list when `nsym < 32`, else as a 32-byte bitmap (bit
/// `s & 7` of byte `s >> 3`). Shared by the order-0 frequency table and the Huffman
/// length table.
pub fn write_symbol_set(out: &mut Vec<u8>, present: &[u8]) {
    debug_assert!(!present.is_empty() && present.windows(2).all(|w| w[0] < w[1]));
    out.push((present.len() - 1) as u8);
    if present.len() < 32 {
        out.extend_from_slice(present);
    } else {
        let mut bitmap = [0u8; 32];
        for &s in present {
            bitmap[(s >> 3) as usize] |= 1 << (s & 7);
        }
        out.extend_from_slice(&bitmap);
    }
}

/// Reads a set written by [`write_symbol_set`]; returns the symbols, increasing, and
/// the bytes it took. `what` names the table in errors. Checks that a list is strictly
/// increasing and that a bitmap holds exactly the announced number of symbols.
pub fn read_symbol_set(input: &[u8], what: &'static str) -> Result<(Vec<u8>, usize)> {
    let nsym = usize::from(*input.first().ok_or(Error::Truncated {
        what,
        needed: 1,
        available: 0,
    })?) + 1;
    let rest = &input[1..];
    if nsym < 32 {
        let list = rest.get(..nsym).ok_or(Error::Truncated {
            what,
            needed: nsym as u64,
            available: rest.len() as u64,
        })?;
        if list.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Corrupt {
                what: "table symbols not increasing",
            });
        }
        Ok((list.to_vec(), 1 + nsym))
    } else {
        let bitmap = rest.get(..32).ok_or(Error::Truncated {
            what,
            needed: 32,
            available: rest.len() as u64,
        })?;
        let present: Vec<u8> = (0..=255u8)
            .filter(|&s| bitmap[(s >> 3) as usize] & (1 << (s & 7)) != 0)
            .collect();
        if present.len() != nsym {
            return Err(Error::Corrupt {
                what: "table bitmap disagrees with its symbol count",
            });
        }
        Ok((present, 33))
    }
}

impl Distribution for FreqTable {
    fn scale_bits(&self) -> u32 {
        self.scale_bits
    }

    #[inline]
    fn interval(&self, symbol: u8) -> Result<Interval> {
        let freq = self.freq[symbol as usize];
        if freq == 0 {
            return Err(Error::ZeroFrequency { symbol });
        }
        Ok(Interval {
            start: self.cum[symbol as usize],
            freq,
        })
    }

    #[inline]
    fn symbol_at(&self, target: u32) -> Result<(u8, Interval)> {
        if target >= self.cum[256] {
            return Err(Error::Corrupt {
                what: "decoder target outside the distribution",
            });
        }
        // Last s with cum[s] <= target; it has freq > 0 because cum[s+1] > target.
        let s = self.cum[1..].partition_point(|&c| c <= target);
        Ok((
            s as u8,
            Interval {
                start: self.cum[s],
                freq: self.freq[s],
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn symbol_at_inverts_interval() {
        let t = FreqTable::from_counts(&Counts::of(b"abracadabra"), 8).unwrap();
        for target in 0..256 {
            let (s, iv) = t.symbol_at(target).unwrap();
            assert!(iv.start <= target && target < iv.start + iv.freq);
            assert_eq!(t.interval(s).unwrap(), iv);
        }
        assert!(t.symbol_at(256).is_err());
        assert!(matches!(
            t.interval(b'z'),
            Err(Error::ZeroFrequency { symbol: b'z' })
        ));
        let slots = t.slot_symbols();
        for target in 0..256u32 {
            assert_eq!(slots[target as usize], t.symbol_at(target).unwrap().0);
        }
    }

    proptest! {
        #[test]
        fn table_serialisation_round_trips(data in proptest::collection::vec(any::<u8>(), 1..2000), scale in 8u32..=16) {
            let t = FreqTable::from_counts(&Counts::of(&data), scale).unwrap();
            let mut buf = Vec::new();
            t.write(&mut buf);
            let (u, used) = FreqTable::read(&buf, scale).unwrap();
            prop_assert_eq!(used, buf.len());
            prop_assert_eq!(t, u);
            // Every strict prefix is an error, never a panic.
            for cut in 0..buf.len() {
                prop_assert!(FreqTable::read(&buf[..cut], scale).is_err());
            }
        }

        #[test]
        fn hostile_tables_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), scale in 1u32..=16) {
            if let Ok((t, used)) = FreqTable::read(&bytes, scale) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(t.cums()[256], 1u32 << scale);
            }
        }
    }
}
