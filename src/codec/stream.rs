//! Whole streams: a block-splitting compressor and the frame-by-frame decoder.

use std::io::{self, BufReader, Read, Write};

use xxhash_rust::xxh3::Xxh3;

use super::{BlockCost, Options, decode_block, encode_block};
use crate::error::{Error, Result};
use crate::format::{
    self, BlockKind, HEADER_LEN, Header, Item, MAX_BLOCK_OVERHEAD, Reader, TRAILER_LEN,
};

/// Totals of one compression or decompression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Content bytes (uncompressed).
    pub raw_bytes: u64,
    /// Bytes of the compressed stream, headers and trailers included.
    pub compressed_bytes: u64,
    /// Number of blocks.
    pub blocks: u64,
    /// Number of frames.
    pub frames: u64,
}

/// One block as seen by a report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockInfo {
    /// How the block is represented.
    pub kind: BlockKind,
    /// Content bytes of the block.
    pub raw_len: u32,
    /// Bytes the block takes in the file (framing and check included).
    pub encoded_len: usize,
    /// Table and model costs, when the encoder computed them (not when reading a file).
    pub cost: Option<BlockCost>,
}

/// One frame of a file, as [`inspect`] saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameInfo {
    /// The frame's header.
    pub header: Header,
    /// Its blocks, in order.
    pub blocks: Vec<BlockInfo>,
    /// Content bytes of the frame.
    pub raw_bytes: u64,
    /// Bytes of the frame in the file.
    pub compressed_bytes: u64,
}

/// The largest stream `n` input bytes can compress to with blocks of `block_size`:
/// header, trailer, and per block at most its content plus [`MAX_BLOCK_OVERHEAD`].
pub fn compress_bound(n: u64, block_size: u32) -> u64 {
    let blocks = n.div_ceil(u64::from(block_size.max(1)));
    (HEADER_LEN + TRAILER_LEN) as u64 + n + blocks * MAX_BLOCK_OVERHEAD as u64
}

/// Compresses a stream pushed to it in pieces of any size; blocks are cut at the
/// block size. Nothing is final until [`Compressor::finish`] writes the trailer.
pub struct Compressor<W: Write> {
    out: W,
    options: Options,
    /// Content not yet a full block; always shorter than the block size.
    pending: Vec<u8>,
    hasher: Xxh3,
    summary: Summary,
    blocks: Vec<BlockInfo>,
}

impl<W: Write> Compressor<W> {
    /// Writes the frame header to `out` and returns a compressor ready for content.
    pub fn new(mut out: W, options: Options) -> io::Result<Compressor<W>> {
        out.write_all(&options.header().to_bytes())?;
        Ok(Compressor {
            out,
            options,
            pending: Vec::new(),
            hasher: Xxh3::new(),
            summary: Summary {
                compressed_bytes: HEADER_LEN as u64,
                frames: 1,
                ..Summary::default()
            },
            blocks: Vec::new(),
        })
    }

    fn emit(&mut self, data: &[u8]) -> io::Result<()> {
        let (block, cost) = encode_block(data, &self.options);
        format::write_block(&mut self.out, &block)?;
        let encoded_len = block.encoded_len();
        self.hasher.update(data);
        self.summary.raw_bytes += data.len() as u64;
        self.summary.compressed_bytes += encoded_len as u64;
        self.summary.blocks += 1;
        self.blocks.push(BlockInfo {
            kind: block.kind,
            raw_len: block.raw_len,
            encoded_len,
            cost: Some(cost),
        });
        Ok(())
    }

    /// Adds content. Full blocks are compressed and written at once; a tail shorter
    /// than a block waits for more content or for [`Compressor::finish`].
    pub fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        let bs = self.options.block_size() as usize;
        if !self.pending.is_empty() {
            let take = (bs - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < bs {
                return Ok(());
            }
            let block = std::mem::take(&mut self.pending);
            self.emit(&block)?;
            self.pending = block;
            self.pending.clear();
        }
        while data.len() >= bs {
            self.emit(&data[..bs])?;
            data = &data[bs..];
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// The blocks written so far.
    pub fn blocks(&self) -> &[BlockInfo] {
        &self.blocks
    }

    /// Compresses what is pending, writes the trailer and flushes; returns the writer
    /// and the totals.
    pub fn finish(mut self) -> io::Result<(W, Summary, Vec<BlockInfo>)> {
        if !self.pending.is_empty() {
            let block = std::mem::take(&mut self.pending);
            self.emit(&block)?;
        }
        format::write_trailer(&mut self.out, self.summary.raw_bytes, self.hasher.digest())?;
        self.summary.compressed_bytes += TRAILER_LEN as u64;
        self.out.flush()?;
        Ok((self.out, self.summary, self.blocks))
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Decodes every frame of `input`, handing each decoded block to `sink` and each block's
/// description to `on_block`. Fails on the first damaged or malformed byte.
fn decode_frames<R: Read>(
    input: R,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
    mut on_frame: impl FnMut(FrameInfo),
) -> Result<Summary> {
    let mut reader = Reader::new(BufReader::with_capacity(1 << 16, input));
    let mut header = reader.header()?.ok_or(Error::Truncated {
        what: "header",
        needed: HEADER_LEN as u64,
        available: 0,
    })?;
    let mut summary = Summary::default();
    let mut buf = Vec::new();
    loop {
        let frame_start = reader.consumed() - HEADER_LEN as u64;
        let mut hasher = Xxh3::new();
        let mut frame = FrameInfo {
            header,
            blocks: Vec::new(),
            raw_bytes: 0,
            compressed_bytes: 0,
        };
        loop {
            match reader.item(&header)? {
                Item::Block(block) => {
                    let index = frame.blocks.len() as u64;
                    decode_block(&header, &block, index, &mut buf)?;
                    hasher.update(&buf);
                    sink(&buf)?;
                    frame.raw_bytes += buf.len() as u64;
                    frame.blocks.push(BlockInfo {
                        kind: block.kind,
                        raw_len: block.raw_len,
                        encoded_len: block.encoded_len(),
                        cost: None,
                    });
                }
                Item::End {
                    content_len,
                    content_hash,
                } => {
                    if content_len != frame.raw_bytes {
                        return Err(Error::ContentLength {
                            expected: content_len,
                            actual: frame.raw_bytes,
                        });
                    }
                    let actual = hasher.digest();
                    if actual != content_hash {
                        return Err(Error::ContentChecksum {
                            expected: content_hash,
                            actual,
                        });
                    }
                    break;
                }
            }
        }
        frame.compressed_bytes = reader.consumed() - frame_start;
        summary.raw_bytes += frame.raw_bytes;
        summary.blocks += frame.blocks.len() as u64;
        summary.frames += 1;
        on_frame(frame);
        match reader.next_frame()? {
            Some(h) => header = h,
            None => break,
        }
    }
    summary.compressed_bytes = reader.consumed();
    Ok(summary)
}

/// Decompresses every frame of `input` into `output`, verifying each block's check and
/// each frame's length and checksum. On error, `output` may hold a prefix of the content:
/// callers that write files should write to a temporary file (the CLI does).
pub fn decompress_stream<R: Read, W: Write>(input: R, mut output: W) -> Result<Summary> {
    let summary = decode_frames(
        input,
        |block| output.write_all(block).map_err(Error::from),
        |_| {},
    )?;
    output.flush()?;
    Ok(summary)
}

/// Decodes `input` without keeping the content, and describes each frame and block.
/// An error means the file is damaged (or not a shannon file).
pub fn inspect<R: Read>(input: R) -> Result<(Vec<FrameInfo>, Summary)> {
    let mut frames = Vec::new();
    let summary = decode_frames(input, |_| Ok(()), |f| frames.push(f))?;
    Ok((frames, summary))
}
