//! Bit-packed order-0 tables (format version 3): the frequency table of the static
//! order-0 arithmetic, rANS and tANS payloads, and the symbol set that the Huffman length
//! table shares with it.
//!
//! Layout (also in `docs/FORMAT.md`, "Order-0 tables, version 3"). Bits are written low
//! bit of each byte first; the table ends with zero bits up to a byte boundary.
//!
//! ```text
//! nsym - 1   8 bits                         number of present symbols, 1..=256
//! set        if nsym < 256: mode, 1 bit
//!              0: gaps   gamma(s_i - s_(i-1)) for each present symbol, s_(-1) = -1
//!              1: bitmap 256 bits, bit s set for symbol s
//! k          4 bits, if nsym >= 2           Exp-Golomb parameter of the frequencies
//! freqs      for every present symbol but the last, increasing: EG_k(freq - 1)
//! ```
//!
//! `gamma(v)` for `v >= 1` with `n = floor(log2 v)`: `n` zero bits, a one bit, then the
//! low `n` bits of `v` (low bit first). `EG_k(v)` for `v >= 0`: `gamma((v >> k) + 1)`,
//! then the low `k` bits of `v`. The last symbol's frequency is implied, as in version 2.
//!
//! Why: in version 2 the set took a 32-byte bitmap from 32 symbols up and every
//! frequency a whole varint byte or two. Text has runs of present symbols (gaps of 1 cost
//! one bit) and frequencies of every size; one `k` per table follows their scale. On
//! book1 in 128 KiB blocks the six tables shrink from 721 to 457 bytes, on kennedy.xls
//! the eight from 2,208 to 930 (`shannon compress --model static --order 0 --coder rans
//! -B 128K`, against the version-2 build).

use crate::error::{Error, Result};
use crate::model::{FreqTable, check_scale};

/// Largest number of zero bits a gamma code in a table may start with: every value a
/// table holds is below `2^17`, so 20 leaves room and bounds the work on hostile input.
const MAX_GAMMA_ZEROS: u32 = 20;

/// Largest Exp-Golomb parameter (4 bits).
const MAX_K: u32 = 15;

/// Forward bit writer for tables: low bit of each byte first.
#[derive(Debug)]
pub struct TableBitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl<'a> TableBitWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> TableBitWriter<'a> {
        TableBitWriter { out, acc: 0, n: 0 }
    }

    /// Writes the low `n <= 32` bits of `v` (the bits above must be zero).
    pub fn bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 32 && v >> n == 0);
        self.acc |= v << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Elias gamma of `1 <= v < 2^31`.
    pub fn gamma(&mut self, v: u64) {
        debug_assert!((1..1 << 31).contains(&v));
        let n = v.ilog2();
        // n zeros, then the one bit and the low n bits: v's bits reversed in order of
        // significance would be wrong, so write the marker and the low bits separately.
        self.bits(0, n);
        self.bits(1, 1);
        self.bits(v & ((1 << n) - 1), n);
    }

    /// Exp-Golomb with parameter `k <= 15` of `v < 2^31`.
    pub fn exp_golomb(&mut self, v: u64, k: u32) {
        self.gamma((v >> k) + 1);
        self.bits(v & ((1 << k) - 1), k);
    }

    /// Pads with zero bits to a byte boundary.
    pub fn finish(self) {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
    }
}

/// Bits of `gamma(v)`.
pub fn gamma_bits(v: u64) -> u64 {
    2 * u64::from(v.ilog2()) + 1
}

/// Bits of `EG_k(v)`.
pub fn exp_golomb_bits(v: u64, k: u32) -> u64 {
    gamma_bits((v >> k) + 1) + u64::from(k)
}

/// Forward bit reader for tables; every read is bounds-checked, and reads past the end
/// are [`Error::Truncated`].
#[derive(Debug)]
pub struct TableBitReader<'a> {
    data: &'a [u8],
    /// Bits read so far.
    pos: u64,
    /// Names the table in errors.
    what: &'static str,
}

impl<'a> TableBitReader<'a> {
    /// A reader of the table at the start of `data`; `what` names it in errors.
    pub fn new(data: &'a [u8], what: &'static str) -> TableBitReader<'a> {
        TableBitReader { data, pos: 0, what }
    }

    /// The next (up to) 57 bits, low bit first, zeros past the end of the data.
    #[inline]
    fn window(&self) -> u64 {
        let at = (self.pos >> 3) as usize;
        let w = match self.data.get(at..at.saturating_add(8)) {
            Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
            // The last 7 bytes (a table is read at the start of what follows it, so
            // mostly not here): copy what is left.
            None => {
                let mut b = [0u8; 8];
                let have = self.data.len().saturating_sub(at).min(8);
                if have > 0 {
                    b[..have].copy_from_slice(&self.data[at..at + have]);
                }
                u64::from_le_bytes(b)
            }
        };
        w >> (self.pos & 7)
    }

    /// Moves on by `n` bits; an error if that passes the end of the data.
    #[inline]
    fn advance(&mut self, n: u32) -> Result<()> {
        self.pos += u64::from(n);
        let have = 8 * self.data.len() as u64;
        if self.pos > have {
            return Err(Error::Truncated {
                what: self.what,
                needed: self.pos.div_ceil(8),
                available: self.data.len() as u64,
            });
        }
        Ok(())
    }

    /// Reads `n <= 32` bits.
    pub fn bits(&mut self, n: u32) -> Result<u64> {
        debug_assert!(n <= 32);
        let v = self.window() & ((1u64 << n) - 1);
        self.advance(n)?;
        Ok(v)
    }

    /// Reads a gamma code: a value `>= 1` below `2^MAX_GAMMA_ZEROS + 1`.
    pub fn gamma(&mut self) -> Result<u64> {
        let w = self.window();
        let n = w.trailing_zeros();
        if n > MAX_GAMMA_ZEROS {
            // 57 or more zero bits in the window are either padding past the end or a
            // code longer than any table holds.
            if 8 * self.data.len() as u64 <= self.pos + u64::from(n) {
                return Err(Error::Truncated {
                    what: self.what,
                    needed: (self.pos + u64::from(n) + 1).div_ceil(8),
                    available: self.data.len() as u64,
                });
            }
            return Err(Error::Corrupt {
                what: "gamma code too long in a table",
            });
        }
        // n + 1 + n <= 41 bits, all inside the window.
        let v = 1 << n | (w >> (n + 1)) & ((1 << n) - 1);
        self.advance(2 * n + 1)?;
        Ok(v)
    }

    /// Reads `EG_k(v)` for `k <= 15`.
    pub fn exp_golomb(&mut self, k: u32) -> Result<u64> {
        let high = self.gamma()? - 1;
        Ok(high << k | self.bits(k)?)
    }

    /// Checks the padding (zero bits to the byte boundary) and returns the table's bytes.
    pub fn finish(self) -> Result<usize> {
        let end = self.pos.div_ceil(8);
        let pad = (end * 8 - self.pos) as u32;
        if pad > 0 && self.window() & ((1 << pad) - 1) != 0 {
            return Err(Error::Corrupt {
                what: "table padding bits are not zero",
            });
        }
        Ok(end as usize)
    }
}

/// Bits of the set `present` (strictly increasing, 1..=256 symbols) after its count:
/// the cheaper of gaps and bitmap, and which one (`true`: bitmap).
fn set_cost(present: &[u8]) -> (u64, bool) {
    if present.len() == 256 {
        return (0, true);
    }
    let mut prev = -1i32;
    let gaps: u64 = present
        .iter()
        .map(|&s| {
            let g = i32::from(s) - prev;
            prev = i32::from(s);
            gamma_bits(g as u64)
        })
        .sum();
    if gaps <= 256 {
        (1 + gaps, false)
    } else {
        (1 + 256, true)
    }
}

/// Writes the count and set of `present` (strictly increasing, 1..=256 symbols).
pub fn write_symbol_set(w: &mut TableBitWriter, present: &[u8]) {
    debug_assert!(!present.is_empty() && present.windows(2).all(|p| p[0] < p[1]));
    w.bits((present.len() - 1) as u64, 8);
    if present.len() == 256 {
        return;
    }
    let (_, bitmap) = set_cost(present);
    w.bits(u64::from(bitmap), 1);
    if bitmap {
        let mut words = [0u32; 8];
        for &s in present {
            words[usize::from(s >> 5)] |= 1 << (s & 31);
        }
        for word in words {
            w.bits(u64::from(word), 32);
        }
    } else {
        let mut prev = -1i32;
        for &s in present {
            w.gamma((i32::from(s) - prev) as u64);
            prev = i32::from(s);
        }
    }
}

/// Reads a set written by [`write_symbol_set`]: the symbols, increasing. Checks that the
/// gaps stay below 256 and that a bitmap holds exactly the announced count.
pub fn read_symbol_set(r: &mut TableBitReader) -> Result<Vec<u8>> {
    let nsym = r.bits(8)? as usize + 1;
    if nsym == 256 {
        return Ok((0..=255).collect());
    }
    let mut present = Vec::with_capacity(nsym);
    if r.bits(1)? == 1 {
        for word in 0..8u32 {
            let bits = r.bits(32)? as u32;
            present.extend(
                (0..32)
                    .filter(|b| bits >> b & 1 == 1)
                    .map(|b| (word * 32 + b) as u8),
            );
        }
        if present.len() != nsym {
            return Err(Error::Corrupt {
                what: "table bitmap disagrees with its symbol count",
            });
        }
    } else {
        let mut s = -1i64;
        for _ in 0..nsym {
            s += r.gamma()? as i64;
            if s > 255 {
                return Err(Error::Corrupt {
                    what: "table symbol gap runs past 255",
                });
            }
            present.push(s as u8);
        }
    }
    Ok(present)
}

/// Appends `table` in the version-3 layout (module notes), choosing the Exp-Golomb
/// parameter that makes it shortest.
pub fn write_freq_table(table: &FreqTable, out: &mut Vec<u8>) {
    let freqs = &table.freqs()[..];
    let present: Vec<u8> = (0..=255u8).filter(|&s| freqs[usize::from(s)] > 0).collect();
    let mut w = TableBitWriter::new(out);
    write_symbol_set(&mut w, &present);
    if present.len() >= 2 {
        let body = &present[..present.len() - 1];
        let k = best_k(body.iter().map(|&s| u64::from(freqs[usize::from(s)] - 1)));
        w.bits(u64::from(k), 4);
        for &s in body {
            w.exp_golomb(u64::from(freqs[usize::from(s)] - 1), k);
        }
    }
    w.finish();
}

/// Bytes [`write_freq_table`] writes for `table`.
pub fn freq_table_bytes(table: &FreqTable) -> usize {
    freq_table_bits(table).div_ceil(8) as usize
}

/// Bits [`write_freq_table`] writes for `table`, before the padding.
fn freq_table_bits(table: &FreqTable) -> u64 {
    let freqs = &table.freqs()[..];
    let present: Vec<u8> = (0..=255u8).filter(|&s| freqs[usize::from(s)] > 0).collect();
    let mut bits = 8 + set_cost(&present).0;
    if present.len() >= 2 {
        let values = present[..present.len() - 1]
            .iter()
            .map(|&s| u64::from(freqs[usize::from(s)] - 1));
        let k = best_k(values.clone());
        bits += 4 + values.map(|v| exp_golomb_bits(v, k)).sum::<u64>();
    }
    bits
}

/// The `k <= 15` that codes `values` in the fewest bits (the smallest such `k`).
fn best_k(values: impl Iterator<Item = u64> + Clone) -> u32 {
    (0..=MAX_K)
        .min_by_key(|&k| values.clone().map(|v| exp_golomb_bits(v, k)).sum::<u64>())
        .expect("sixteen candidates")
}

/// Reads a table written by [`write_freq_table`] at `scale_bits`; returns it and the
/// bytes it took. Every field is checked: the count fits the scale, the frequencies sum
/// below the total with room for the last symbol.
pub fn read_freq_table(input: &[u8], scale_bits: u32) -> Result<(FreqTable, usize)> {
    check_scale(scale_bits)?;
    let mut r = TableBitReader::new(input, "frequency table");
    let present = read_symbol_set(&mut r)?;
    let k = if present.len() >= 2 {
        r.bits(4)? as u32
    } else {
        0
    };
    let table = FreqTable::from_listed(&present, scale_bits, || r.exp_golomb(k))?;
    Ok((table, r.finish()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Counts, Distribution};
    use proptest::prelude::*;

    fn round_trip(table: &FreqTable) -> Vec<u8> {
        let mut buf = vec![0xAA];
        write_freq_table(table, &mut buf);
        assert_eq!(buf.len() - 1, freq_table_bytes(table));
        let (back, used) = read_freq_table(&buf[1..], table.scale_bits()).unwrap();
        assert_eq!(&back, table);
        assert_eq!(used, buf.len() - 1);
        buf.split_off(1)
    }

    #[test]
    fn edge_tables_round_trip() {
        let one = FreqTable::from_counts(&Counts::of(b"zzzz"), 12).unwrap();
        // Count, mode bit, gap 123 (13 bits): 22 bits.
        assert_eq!(round_trip(&one).len(), 3);
        let all: Vec<u8> = (0..=255).collect();
        let full = FreqTable::from_counts(&Counts::of(&all), 8).unwrap();
        round_trip(&full);
        let mut skewed = vec![0u8; 100_000];
        skewed.extend_from_slice(b"abcxyz\xff");
        for scale in [8, 12, 16] {
            round_trip(&FreqTable::from_counts(&Counts::of(&skewed), scale).unwrap());
        }
        // Every other symbol: gaps of 2 (3 bits each) cost more than the bitmap.
        let even: Vec<u8> = (0..=255).step_by(2).collect();
        let t = FreqTable::from_counts(&Counts::of(&even), 10).unwrap();
        assert_eq!(set_cost(&even), (257, true));
        round_trip(&t);
    }

    #[test]
    fn smaller_than_version_2_on_text() {
        let text = include_bytes!("../../corpora/canterbury/alice29.txt");
        let t = FreqTable::from_counts(&Counts::of(text), 12).unwrap();
        let mut v2 = Vec::new();
        t.write(&mut v2);
        let v3 = round_trip(&t);
        assert!(v3.len() * 10 < v2.len() * 7, "{} vs {}", v3.len(), v2.len());
    }

    #[test]
    fn gamma_and_exp_golomb_round_trip_at_every_length() {
        let mut buf = Vec::new();
        let mut w = TableBitWriter::new(&mut buf);
        let values: Vec<u64> = (0..=20)
            .flat_map(|n| [1u64 << n, (2u64 << n) - 1])
            .collect();
        for &v in &values {
            w.gamma(v);
            w.exp_golomb(v - 1, (v % 16) as u32);
        }
        w.finish();
        let mut r = TableBitReader::new(&buf, "test");
        for &v in &values {
            assert_eq!(r.gamma().unwrap(), v);
            assert_eq!(r.exp_golomb((v % 16) as u32).unwrap(), v - 1);
        }
        assert_eq!(r.finish().unwrap(), buf.len());
    }

    #[test]
    fn hostile_tables_are_errors() {
        // A gamma code of 21 zeros is longer than any table holds.
        let long = [0u8, 0, 0, 0, 0, 0, 0, 0, 0xff];
        let mut r = TableBitReader::new(&long, "test");
        assert!(matches!(r.gamma(), Err(Error::Corrupt { .. })));
        // All zeros to the end: truncated.
        let mut r = TableBitReader::new(&[0u8; 2], "test");
        assert!(matches!(r.gamma(), Err(Error::Truncated { .. })));
        // nsym = 2, gaps: 200 then 100 runs past 255.
        let mut buf = Vec::new();
        let mut w = TableBitWriter::new(&mut buf);
        w.bits(1, 8);
        w.bits(0, 1);
        w.gamma(201);
        w.gamma(100);
        w.finish();
        assert!(matches!(
            read_freq_table(&buf, 12),
            Err(Error::Corrupt { what }) if what.contains("past 255")
        ));
        // A padding bit set.
        let t = FreqTable::from_counts(&Counts::of(b"abracadabra"), 12).unwrap();
        assert_ne!(freq_table_bits(&t) % 8, 0, "pick a table that has padding");
        let mut bad = Vec::new();
        write_freq_table(&t, &mut bad);
        *bad.last_mut().unwrap() |= 0x80;
        assert!(matches!(
            read_freq_table(&bad, 12),
            Err(Error::Corrupt { what }) if what.contains("padding")
        ));
    }

    proptest! {
        #[test]
        fn random_tables_round_trip_and_cuts_fail(
            data in proptest::collection::vec(any::<u8>(), 1..3000),
            skew in 0u8..8,
            scale in 9u32..=16,
        ) {
            let data: Vec<u8> = data.iter().map(|&b| b >> skew).collect();
            let t = FreqTable::from_counts(&Counts::of(&data), scale).unwrap();
            let bytes = round_trip(&t);
            for cut in 0..bytes.len() {
                prop_assert!(read_freq_table(&bytes[..cut], scale).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), scale in 1u32..=16) {
            if let Ok((t, used)) = read_freq_table(&bytes, scale) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(t.scale_bits(), scale);
            }
        }
    }
}
