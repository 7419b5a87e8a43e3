//! Unsigned LEB128 varints: 7 bits a byte, low group first, at most 10 bytes, and in
//! their shortest form only (a final zero group is rejected), so every value has one
//! encoding.

use crate::error::{Error, Result};

/// Appends `v` as an unsigned LEB128 varint (7 bits a byte, low first).
pub fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 varint of at most 10 bytes; returns it and its length.
pub fn read_varint(input: &[u8]) -> Result<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err(Error::Corrupt {
                what: "varint overflows 64 bits",
            });
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(Error::Corrupt {
                    what: "varint with a redundant zero group",
                });
            }
            return Ok((v, i + 1));
        }
    }
    if input.len() >= 10 {
        Err(Error::Corrupt {
            what: "varint longer than 10 bytes",
        })
    } else {
        Err(Error::Truncated {
            what: "varint",
            needed: input.len() as u64 + 1,
            available: input.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_and_rejects_overlong() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            assert_eq!(read_varint(&b).unwrap(), (v, b.len()));
            assert!(read_varint(&b[..b.len() - 1]).is_err());
        }
        assert!(read_varint(&[0xff; 11]).is_err());
        assert!(read_varint(&[0x80, 0x00]).is_err(), "overlong zero");
        assert!(read_varint(&[0x81, 0x80, 0x00]).is_err(), "overlong one");
        assert!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err()
        );
    }
}
