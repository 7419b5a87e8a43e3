//! The `.shc` container: header, blocks, trailer (see `docs/FORMAT.md`).
//!
//! This layer knows bytes, not probabilities: it frames payloads that `codec` produced
//! and hands them back, checking every length against the documented maximum (and the
//! bytes that are actually there) before it allocates for it.

use std::io::{self, Read, Write};

use twox_hash::XxHash3_64;

use crate::error::{Error, Result};
use varint::{read_varint, write_varint};

pub mod varint;

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = [0x89, b'S', b'H', b'C'];
/// The format version this build writes (and the newest it reads).
pub const VERSION: u8 = 6;

/// The oldest format version this build reads. Version 2 differs from 3 only in the
/// static order-0 tables (byte-aligned instead of bit-packed), 3 from 4 only in the
/// framing of full blocks ([`FULL_BLOCK`]), 4 from 5 only in the payload of the
/// frequency model with the arithmetic coder (two interleaved range streams instead of
/// one), and 5 from 6 only in the payload of static order-0 rANS and arithmetic blocks
/// of at least [`crate::codec::TWO_STREAMS_MIN`] bytes (two streams; `docs/FORMAT.md`).
/// The layer that reads a part that changed dispatches on the header's version.
pub const MIN_VERSION: u8 = 2;

/// Flag of a block kind byte, from version 4: the block is *full*, its `raw_len` is the
/// header's block size and is not written.
pub const FULL_BLOCK: u8 = 0x10;
/// Length of the fixed frame header.
pub const HEADER_LEN: usize = 20;
/// Smallest block size a header may declare.
pub const MIN_BLOCK_SIZE: u32 = 256;
/// Largest block size a header may declare (64 MiB): bounds a decoder's memory.
pub const MAX_BLOCK_SIZE: u32 = 64 << 20;
/// Largest context order a header may declare.
pub const MAX_ORDER: u8 = 16;
/// Largest framing overhead of one block (kind, two varints, check).
pub const MAX_BLOCK_OVERHEAD: usize = 1 + 4 + 4 + 4;
/// Smallest log2 of an adaptive model's memory a header may declare (256 KiB).
pub const MIN_MEMORY_LOG2: u8 = 18;
/// Largest log2 of an adaptive model's memory a header may declare (1 GiB).
pub const MAX_MEMORY_LOG2: u8 = 30;
/// Length of the end marker and trailer.
pub const TRAILER_LEN: usize = 1 + 8 + 8;

/// Which family of model produced the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Two-pass: each block carries its tables.
    Static,
    /// One-pass: both sides learn as they go, restarting at each block.
    Adaptive,
    /// One-pass plain adaptive frequency counts (order 0 or 1), no escapes: the model of
    /// the classic adaptive arithmetic coders, fast rather than strong.
    Frequency,
}

/// Which entropy coder produced the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoderKind {
    /// Canonical, length-limited Huffman codes.
    Huffman,
    /// Range coding (arithmetic coding with byte output).
    Arithmetic,
    /// Range asymmetric numeral systems, interleaved states.
    Rans,
    /// Table-driven asymmetric numeral systems (FSE-style).
    Tans,
}

impl ModelKind {
    fn to_byte(self) -> u8 {
        match self {
            ModelKind::Static => 0,
            ModelKind::Adaptive => 1,
            ModelKind::Frequency => 2,
        }
    }

    fn from_byte(b: u8) -> Result<ModelKind> {
        match b {
            0 => Ok(ModelKind::Static),
            1 => Ok(ModelKind::Adaptive),
            2 => Ok(ModelKind::Frequency),
            _ => Err(Error::Corrupt {
                what: "unknown model kind in header",
            }),
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Static => "static",
            ModelKind::Adaptive => "adaptive",
            ModelKind::Frequency => "frequency",
        }
    }
}

impl CoderKind {
    fn to_byte(self) -> u8 {
        match self {
            CoderKind::Huffman => 0,
            CoderKind::Arithmetic => 1,
            CoderKind::Rans => 2,
            CoderKind::Tans => 3,
        }
    }

    fn from_byte(b: u8) -> Result<CoderKind> {
        match b {
            0 => Ok(CoderKind::Huffman),
            1 => Ok(CoderKind::Arithmetic),
            2 => Ok(CoderKind::Rans),
            3 => Ok(CoderKind::Tans),
            _ => Err(Error::Corrupt {
                what: "unknown coder in header",
            }),
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CoderKind::Huffman => "huffman",
            CoderKind::Arithmetic => "arithmetic",
            CoderKind::Rans => "rans",
            CoderKind::Tans => "tans",
        }
    }
}

/// The frame header: everything a decoder needs to know before the first block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version, [`MIN_VERSION`]`..=`[`VERSION`]; [`VERSION`] for every frame this
    /// build writes, as [`Options::header`](crate::codec::Options::header) sets it.
    pub version: u8,
    /// Model family.
    pub model: ModelKind,
    /// Context order.
    pub order: u8,
    /// Entropy coder.
    pub coder: CoderKind,
    /// Largest log2 of a distribution total the blocks may use.
    pub scale_bits: u8,
    /// Adaptive models: log2 of the context memory in bytes; 0 for static and frequency
    /// models.
    pub memory_log2: u8,
    /// Largest raw length of a block.
    pub block_size: u32,
}

impl Header {
    /// The 20 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = self.version;
        b[5] = self.model.to_byte();
        b[6] = self.order;
        b[7] = self.coder.to_byte();
        b[8] = self.scale_bits;
        b[9] = self.memory_log2;
        b[12..16].copy_from_slice(&self.block_size.to_le_bytes());
        let check = XxHash3_64::oneshot(&b[0..16]) as u32;
        b[16..20].copy_from_slice(&check.to_le_bytes());
        b
    }

    /// Parses and validates 20 header bytes.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header> {
        if b[0..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        if !(MIN_VERSION..=VERSION).contains(&b[4]) {
            return Err(Error::UnsupportedVersion {
                got: b[4],
                supported: VERSION,
            });
        }
        let check = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
        if check != XxHash3_64::oneshot(&b[0..16]) as u32 {
            return Err(Error::Corrupt {
                what: "header check mismatch",
            });
        }
        if b[10] != 0 || b[11] != 0 {
            return Err(Error::Corrupt {
                what: "reserved header bytes are not zero",
            });
        }
        let model = ModelKind::from_byte(b[5])?;
        let coder = CoderKind::from_byte(b[7])?;
        let order = b[6];
        if order > MAX_ORDER {
            return Err(Error::LimitExceeded {
                what: "order",
                got: order.into(),
                max: MAX_ORDER.into(),
            });
        }
        let scale_bits = b[8];
        crate::model::check_scale(scale_bits.into())?;
        let memory_log2 = b[9];
        let memory_ok = match model {
            ModelKind::Static | ModelKind::Frequency => memory_log2 == 0,
            ModelKind::Adaptive => (MIN_MEMORY_LOG2..=MAX_MEMORY_LOG2).contains(&memory_log2),
        };
        if !memory_ok {
            return Err(Error::Corrupt {
                what: "model memory in header out of range",
            });
        }
        let block_size = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) {
            return Err(Error::LimitExceeded {
                what: "block size",
                got: block_size.into(),
                max: MAX_BLOCK_SIZE.into(),
            });
        }
        Ok(Header {
            version: b[4],
            model,
            order,
            coder,
            scale_bits,
            memory_log2,
            block_size,
        })
    }
}

/// How a block's content is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// Compressed by the frame's model and coder.
    Entropy,
    /// The content as is (it would not shrink).
    Stored,
    /// One byte value repeated `raw_len` times.
    Run,
}

impl BlockKind {
    fn to_byte(self) -> u8 {
        match self {
            BlockKind::Entropy => 1,
            BlockKind::Stored => 2,
            BlockKind::Run => 3,
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Entropy => "entropy",
            BlockKind::Stored => "stored",
            BlockKind::Run => "run",
        }
    }
}

/// A block as it stands in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Representation of the content.
    pub kind: BlockKind,
    /// Length of the decoded content.
    pub raw_len: u32,
    /// Entropy: the coded payload; stored: the content; run: the one byte.
    pub body: Vec<u8>,
    /// Low 32 bits of XXH3-64 of the decoded content.
    pub check: u32,
}

impl Block {
    /// An empty stored block with no allocation: the starting value of a block that
    /// [`crate::codec::encode_block_into`] will overwrite.
    pub const fn empty() -> Block {
        Block {
            kind: BlockKind::Stored,
            raw_len: 0,
            body: Vec::new(),
            check: 0,
        }
    }

    /// Bytes this block takes in the frame of `header` (from version 4 a full block does
    /// not write its length).
    pub fn encoded_len(&self, header: &Header) -> usize {
        let mut scratch = Vec::with_capacity(16);
        if !is_full(self, header) {
            write_varint(&mut scratch, self.raw_len.into());
        }
        if self.kind == BlockKind::Entropy {
            write_varint(&mut scratch, self.body.len() as u64);
        }
        1 + scratch.len() + self.body.len() + 4
    }
}

/// The check stored with each block: low 32 bits of XXH3-64 of its content.
pub fn block_check(content: &[u8]) -> u32 {
    XxHash3_64::oneshot(content) as u32
}

/// Whether `block` is written as a full block in the frame of `header`: from version 4,
/// when its length is the block size.
fn is_full(block: &Block, header: &Header) -> bool {
    header.version >= 4 && block.raw_len == header.block_size
}

/// Writes one block in the frame of `header` (its version's layout: from version 4, a
/// full block as its kind with [`FULL_BLOCK`] and no length).
pub fn write_block<W: Write>(w: &mut W, block: &Block, header: &Header) -> io::Result<()> {
    let mut head = Vec::with_capacity(24);
    if is_full(block, header) {
        head.push(block.kind.to_byte() | FULL_BLOCK);
    } else {
        head.push(block.kind.to_byte());
        write_varint(&mut head, block.raw_len.into());
    }
    if block.kind == BlockKind::Entropy {
        write_varint(&mut head, block.body.len() as u64);
    }
    w.write_all(&head)?;
    w.write_all(&block.body)?;
    w.write_all(&block.check.to_le_bytes())
}

/// Writes the end marker and the trailer.
pub fn write_trailer<W: Write>(w: &mut W, content_len: u64, content_hash: u64) -> io::Result<()> {
    let mut t = [0u8; TRAILER_LEN];
    t[1..9].copy_from_slice(&content_len.to_le_bytes());
    t[9..17].copy_from_slice(&content_hash.to_le_bytes());
    w.write_all(&t)
}

/// What follows a header: a block, or the end of the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A block.
    Block(Block),
    /// The end marker and trailer.
    End {
        /// Content length the trailer declares.
        content_len: u64,
        /// Content hash the trailer declares.
        content_hash: u64,
    },
}

/// Reads frames from a byte source, validating as it goes.
pub struct Reader<R: Read> {
    inner: R,
    /// Bytes consumed so far (for reports).
    consumed: u64,
}

impl<R: Read> Reader<R> {
    /// Wraps a source; it should be buffered (varints are read a byte at a time).
    pub fn new(inner: R) -> Reader<R> {
        Reader { inner, consumed: 0 }
    }

    /// Bytes read from the source so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Reads up to `buf.len()` bytes; returns how many were there before the end.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.consumed += got as u64;
        Ok(got)
    }

    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<()> {
        let got = self.fill(buf)?;
        if got < buf.len() {
            return Err(Error::Truncated {
                what,
                needed: buf.len() as u64,
                available: got as u64,
            });
        }
        Ok(())
    }

    fn byte(&mut self, what: &'static str) -> Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b, what)?;
        Ok(b[0])
    }

    fn varint(&mut self, what: &'static str, max: u64) -> Result<u64> {
        let mut bytes = Vec::with_capacity(10);
        loop {
            let b = self.byte(what)?;
            bytes.push(b);
            if b & 0x80 == 0 || bytes.len() == 10 {
                break;
            }
        }
        let (v, _) = read_varint(&bytes)?;
        if v > max {
            return Err(Error::LimitExceeded { what, got: v, max });
        }
        Ok(v)
    }

    /// Reads `len` bytes without trusting `len`: the buffer grows only as bytes arrive.
    fn body(&mut self, len: usize, what: &'static str) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(len.min(1 << 20));
        let got = (&mut self.inner).take(len as u64).read_to_end(&mut v)?;
        self.consumed += got as u64;
        if got < len {
            return Err(Error::Truncated {
                what,
                needed: len as u64,
                available: got as u64,
            });
        }
        Ok(v)
    }

    /// Reads a frame header; `Ok(None)` if the source is at its end (no bytes at all).
    pub fn header(&mut self) -> Result<Option<Header>> {
        let mut b = [0u8; HEADER_LEN];
        let got = self.fill(&mut b)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            if got < 4 || b[0..4] != MAGIC {
                return Err(Error::BadMagic);
            }
            return Err(Error::Truncated {
                what: "header",
                needed: HEADER_LEN as u64,
                available: got as u64,
            });
        }
        Header::parse(&b).map(Some)
    }

    /// Reads the next block or the end of the frame.
    pub fn item(&mut self, header: &Header) -> Result<Item> {
        let byte = self.byte("block kind")?;
        let (kind, full) = if header.version >= 4 && byte & FULL_BLOCK != 0 {
            (byte & !FULL_BLOCK, true)
        } else {
            (byte, false)
        };
        match kind {
            0 if !full => {
                let mut t = [0u8; TRAILER_LEN - 1];
                self.exact(&mut t, "trailer")?;
                let content_len = u64::from_le_bytes(t[0..8].try_into().expect("8 bytes"));
                let content_hash = u64::from_le_bytes(t[8..16].try_into().expect("8 bytes"));
                Ok(Item::End {
                    content_len,
                    content_hash,
                })
            }
            1..=3 => {
                let raw_len = if full {
                    header.block_size.into()
                } else {
                    self.varint("block length", header.block_size.into())?
                };
                if raw_len == 0 {
                    return Err(Error::Corrupt {
                        what: "empty block",
                    });
                }
                let (kind, body) = match kind {
                    1 => {
                        let len = self.varint("payload length", raw_len - 1)?;
                        if len == 0 {
                            return Err(Error::Corrupt {
                                what: "empty payload",
                            });
                        }
                        (
                            BlockKind::Entropy,
                            self.body(len as usize, "block payload")?,
                        )
                    }
                    2 => (
                        BlockKind::Stored,
                        self.body(raw_len as usize, "stored block")?,
                    ),
                    _ => (BlockKind::Run, vec![self.byte("run byte")?]),
                };
                let mut c = [0u8; 4];
                self.exact(&mut c, "block check")?;
                Ok(Item::Block(Block {
                    kind,
                    raw_len: raw_len as u32,
                    body,
                    check: u32::from_le_bytes(c),
                }))
            }
            _ => Err(Error::Corrupt {
                what: "unknown block kind",
            }),
        }
    }

    /// After a trailer: is there another frame? `Ok(None)` at the end of the source;
    /// bytes that are not a frame are [`Error::TrailingData`].
    pub fn next_frame(&mut self) -> Result<Option<Header>> {
        let mut b = [0u8; HEADER_LEN];
        let got = self.fill(&mut b)?;
        if got == 0 {
            return Ok(None);
        }
        if got < 4 || b[0..4] != MAGIC {
            let mut rest = Vec::new();
            let more = (&mut self.inner).take(1 << 20).read_to_end(&mut rest)?;
            return Err(Error::TrailingData {
                count: (got + more) as u64,
            });
        }
        if got < HEADER_LEN {
            return Err(Error::Truncated {
                what: "header",
                needed: HEADER_LEN as u64,
                available: got as u64,
            });
        }
        Header::parse(&b).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            model: ModelKind::Static,
            order: 0,
            coder: CoderKind::Rans,
            scale_bits: 12,
            memory_log2: 0,
            block_size: 1 << 20,
        }
    }

    #[test]
    fn header_round_trips_and_every_flip_is_caught() {
        let h = header();
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b).unwrap(), h);
        for bit in 0..HEADER_LEN * 8 {
            let mut c = b;
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(Header::parse(&c).is_err(), "flip of bit {bit} not caught");
        }
    }

    #[test]
    fn older_headers_are_read_and_keep_their_version() {
        for version in [2, 3, 4, 5] {
            let old = Header {
                version,
                ..header()
            };
            assert_eq!(Header::parse(&old.to_bytes()).unwrap(), old);
        }
        assert_eq!((MIN_VERSION, VERSION), (2, 6));
    }

    #[test]
    fn other_versions_are_refused_by_name_even_with_a_valid_check() {
        for version in [0, 1, VERSION + 1, u8::MAX] {
            let mut b = header().to_bytes();
            b[4] = version;
            let check = (XxHash3_64::oneshot(&b[0..16]) as u32).to_le_bytes();
            b[16..20].copy_from_slice(&check);
            match Header::parse(&b) {
                Err(Error::UnsupportedVersion { got, supported }) => {
                    assert_eq!((got, supported), (version, VERSION));
                }
                other => panic!("version {version}: {other:?}"),
            }
        }
    }

    #[test]
    fn blocks_round_trip_and_lengths_are_bounded() {
        for version in [3, 4, VERSION] {
            let h = Header {
                version,
                ..header()
            };
            let mut buf = Vec::new();
            let blocks = [
                Block {
                    kind: BlockKind::Entropy,
                    raw_len: 1000,
                    body: vec![7; 300],
                    check: 5,
                },
                Block {
                    kind: BlockKind::Stored,
                    raw_len: 3,
                    body: vec![1, 2, 3],
                    check: 6,
                },
                Block {
                    kind: BlockKind::Run,
                    raw_len: 70000,
                    body: vec![9],
                    check: 7,
                },
                // Full blocks: from version 4 without their length.
                Block {
                    kind: BlockKind::Entropy,
                    raw_len: h.block_size,
                    body: vec![3; 200],
                    check: 8,
                },
                Block {
                    kind: BlockKind::Run,
                    raw_len: h.block_size,
                    body: vec![4],
                    check: 9,
                },
            ];
            for b in &blocks {
                let before = buf.len();
                write_block(&mut buf, b, &h).unwrap();
                assert_eq!(buf.len() - before, b.encoded_len(&h));
                let full = b.raw_len == h.block_size && version >= 4;
                assert_eq!(buf[before] & FULL_BLOCK != 0, full, "version {version}");
                // Kind, then the length (3 bytes) unless the block is full.
                let head = if full { 1 } else { 4 };
                if b.raw_len == h.block_size {
                    let extra = if b.kind == BlockKind::Entropy { 2 } else { 0 };
                    assert_eq!(b.encoded_len(&h), head + extra + b.body.len() + 4);
                }
            }
            let content: u64 = blocks.iter().map(|b| u64::from(b.raw_len)).sum();
            write_trailer(&mut buf, content, 42).unwrap();
            let mut r = Reader::new(&buf[..]);
            for b in &blocks {
                assert_eq!(r.item(&h).unwrap(), Item::Block(b.clone()));
            }
            assert_eq!(
                r.item(&h).unwrap(),
                Item::End {
                    content_len: content,
                    content_hash: 42
                }
            );
            assert_eq!(r.next_frame().unwrap(), None);
            // Every truncation is an error.
            for cut in 0..buf.len() {
                let mut r = Reader::new(&buf[..cut]);
                let mut failed = false;
                for _ in 0..blocks.len() + 1 {
                    if r.item(&h).is_err() {
                        failed = true;
                        break;
                    }
                }
                assert!(failed, "cut at {cut} not caught");
            }
        }
    }

    /// The full-block flag means something only from version 4, and only on the three
    /// block kinds: a version-3 reader and a full end marker refuse it.
    #[test]
    fn full_block_flag_is_refused_where_it_does_not_belong() {
        let v4 = header();
        let v3 = Header { version: 3, ..v4 };
        let mut buf = Vec::new();
        let run = Block {
            kind: BlockKind::Run,
            raw_len: v4.block_size,
            body: vec![1],
            check: 0,
        };
        write_block(&mut buf, &run, &v4).unwrap();
        assert_eq!(buf[0], 3 | FULL_BLOCK);
        assert!(Reader::new(&buf[..]).item(&v4).is_ok());
        assert!(matches!(
            Reader::new(&buf[..]).item(&v3),
            Err(Error::Corrupt {
                what: "unknown block kind"
            })
        ));
        let mut end = vec![FULL_BLOCK];
        end.extend_from_slice(&[0; TRAILER_LEN - 1]);
        assert!(matches!(
            Reader::new(&end[..]).item(&v4),
            Err(Error::Corrupt {
                what: "unknown block kind"
            })
        ));
    }

    #[test]
    fn payload_not_smaller_than_raw_is_rejected() {
        let h = header();
        let mut buf = vec![1u8];
        write_varint(&mut buf, 10);
        write_varint(&mut buf, 10);
        assert!(matches!(
            Reader::new(&buf[..]).item(&h),
            Err(Error::LimitExceeded {
                got: 10,
                max: 9,
                ..
            })
        ));
        let mut buf = vec![2u8];
        write_varint(&mut buf, u64::from(h.block_size) + 1);
        assert!(matches!(
            Reader::new(&buf[..]).item(&h),
            Err(Error::LimitExceeded { .. })
        ));
    }
}
