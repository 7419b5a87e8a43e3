//! Whole streams: a block-splitting compressor and the frame-by-frame decoder.
//!
//! Read me first (threads):
//! - Blocks are independent (tables per block, adaptive models restart), so with
//!   `threads = t > 1` up to `t` whole blocks are coded at once on rayon's global pool,
//!   and the results are written (or handed to the sink) in block order. The output is
//!   byte-identical to one thread: blocks are cut at the same offsets whatever the
//!   thread count or the sizes of the pieces pushed.
//! - Memory stays bounded: at most `t` blocks of content (and their coded forms) are in
//!   flight, never the whole input; each block being coded with an adaptive model also
//!   holds its own model, so the peak is about `t * (2 * block size + model memory)`.
//!   Parallelism is at most `min(t, rayon pool size)`; the pool has one worker per core
//!   unless `RAYON_NUM_THREADS` says otherwise.
//! - Decoding reads a batch of up to `t` blocks, decodes them in parallel, then checks
//!   and emits them in order, so a damaged stream yields the same prefix and the same
//!   error as with one thread (the first failure in stream order wins, and a read error
//!   after good blocks is reported after those blocks are emitted).

use std::io::{self, BufReader, Read, Write};

use rayon::prelude::*;
use std::hash::Hasher as _;
use twox_hash::XxHash3_64;

use super::{BlockCost, Options, decode_block_reusing, encode_block_into};
use crate::error::{Error, Result};
use crate::format::{
    self, Block, BlockKind, HEADER_LEN, Header, Item, MAX_BLOCK_OVERHEAD, Reader, TRAILER_LEN,
};
use crate::model::AdaptiveModel;

/// The largest thread count the stream functions accept; larger requests are clamped
/// (it bounds the blocks in flight: `MAX_THREADS * MAX_BLOCK_SIZE` bytes at worst).
pub const MAX_THREADS: usize = 256;

/// Clamps a requested thread count to `1..=MAX_THREADS` (0 means 1).
fn clamp_threads(threads: usize) -> usize {
    threads.clamp(1, MAX_THREADS)
}

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
///
/// With [`Compressor::with_threads`], up to `threads` blocks are compressed in
/// parallel; the bytes written are the same for every thread count.
pub struct Compressor<W: Write> {
    out: W,
    options: Options,
    /// Blocks coded at once; `1..=MAX_THREADS`.
    threads: usize,
    /// Content not yet a full block; always shorter than the block size.
    pending: Vec<u8>,
    /// Full blocks (each exactly the block size) waiting for a batch;
    /// `queue.len() < threads` between calls.
    queue: Vec<Vec<u8>>,
    hasher: XxHash3_64,
    summary: Summary,
    blocks: Vec<BlockInfo>,
    /// One adaptive model per block of a batch, reset and reused by the next batch
    /// (fresh tables for every block cost page faults, which serialise threads).
    models: Vec<Option<AdaptiveModel>>,
    /// One coded block per block of a batch, overwritten by the next batch: its body's
    /// allocation is reused (see [`encode_block_into`]).
    coded: Vec<Block>,
}

impl<W: Write> Compressor<W> {
    /// Writes the frame header to `out` and returns a compressor ready for content
    /// (one thread).
    pub fn new(mut out: W, options: Options) -> io::Result<Compressor<W>> {
        out.write_all(&options.header().to_bytes())?;
        Ok(Compressor {
            out,
            options,
            threads: 1,
            pending: Vec::new(),
            queue: Vec::new(),
            hasher: XxHash3_64::new(),
            summary: Summary {
                compressed_bytes: HEADER_LEN as u64,
                frames: 1,
                ..Summary::default()
            },
            blocks: Vec::new(),
            models: vec![None],
            coded: Vec::new(),
        })
    }

    /// Compresses up to `threads` blocks at once (clamped to `1..=MAX_THREADS`; 0
    /// means 1). Call before pushing content; the output does not depend on it.
    pub fn with_threads(mut self, threads: usize) -> Compressor<W> {
        self.threads = clamp_threads(threads);
        self.models.resize_with(self.threads, || None);
        self
    }

    /// The number of blocks compressed at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Encodes `batch` (in parallel when it holds more than one block) and writes the
    /// blocks in order.
    fn emit_batch(&mut self, batch: &[&[u8]]) -> io::Result<()> {
        let options = self.options;
        if self.models.len() < batch.len() {
            self.models.resize_with(batch.len(), || None);
        }
        if self.coded.len() < batch.len() {
            self.coded.resize_with(batch.len(), Block::empty);
        }
        let models = &mut self.models[..batch.len()];
        let coded = &mut self.coded[..batch.len()];
        let mut costs = vec![BlockCost::default(); batch.len()];
        if batch.len() == 1 {
            costs[0] = encode_block_into(batch[0], &options, &mut models[0], &mut coded[0]);
        } else {
            batch
                .par_iter()
                .zip(models.par_iter_mut())
                .zip(coded.par_iter_mut())
                .zip(costs.par_iter_mut())
                .for_each(|(((data, model), block), cost)| {
                    *cost = encode_block_into(data, &options, model, block);
                });
        }
        let header = options.header();
        for ((data, block), &cost) in batch.iter().zip(coded.iter()).zip(costs.iter()) {
            format::write_block(&mut self.out, block, &header)?;
            let encoded_len = block.encoded_len(&header);
            self.hasher.write(data);
            self.summary.raw_bytes += data.len() as u64;
            self.summary.compressed_bytes += encoded_len as u64;
            self.summary.blocks += 1;
            self.blocks.push(BlockInfo {
                kind: block.kind,
                raw_len: block.raw_len,
                encoded_len,
                cost: Some(cost),
            });
        }
        Ok(())
    }

    /// Encodes and writes every queued block.
    fn flush_queue(&mut self) -> io::Result<()> {
        if self.queue.is_empty() {
            return Ok(());
        }
        let queue = std::mem::take(&mut self.queue);
        let refs: Vec<&[u8]> = queue.iter().map(Vec::as_slice).collect();
        self.emit_batch(&refs)?;
        self.queue = queue;
        self.queue.clear();
        Ok(())
    }

    /// Queues a full block (copied), coding the queue once it holds a batch.
    fn enqueue(&mut self, block: Vec<u8>) -> io::Result<()> {
        self.queue.push(block);
        if self.queue.len() >= self.threads {
            self.flush_queue()?;
        }
        Ok(())
    }

    /// Adds content. Full blocks are compressed and written as soon as a batch of
    /// `threads` is ready (at once with one thread); the rest waits for more content or
    /// for [`Compressor::finish`].
    pub fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        let bs = self.options.block_size() as usize;
        if !self.pending.is_empty() {
            let take = (bs - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < bs {
                return Ok(());
            }
            let block = std::mem::replace(&mut self.pending, Vec::with_capacity(bs));
            self.enqueue(block)?;
        }
        // Top the queue up to a batch from `data`, so that blocks stay in order.
        while !self.queue.is_empty() && data.len() >= bs {
            let (block, rest) = data.split_at(bs);
            data = rest;
            self.enqueue(block.to_vec())?;
        }
        // Whole batches straight from the caller's slice, without copying.
        while data.len() >= bs * self.threads {
            let (batch, rest) = data.split_at(bs * self.threads);
            data = rest;
            let refs: Vec<&[u8]> = batch.chunks_exact(bs).collect();
            self.emit_batch(&refs)?;
        }
        while data.len() >= bs {
            let (block, rest) = data.split_at(bs);
            data = rest;
            self.enqueue(block.to_vec())?;
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// The blocks written so far.
    pub fn blocks(&self) -> &[BlockInfo] {
        &self.blocks
    }

    /// Compresses what is queued and pending, writes the trailer and flushes; returns
    /// the writer and the totals.
    pub fn finish(mut self) -> io::Result<(W, Summary, Vec<BlockInfo>)> {
        if !self.pending.is_empty() {
            let block = std::mem::take(&mut self.pending);
            self.queue.push(block);
        }
        self.flush_queue()?;
        format::write_trailer(&mut self.out, self.summary.raw_bytes, self.hasher.finish())?;
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

/// Decodes every frame of `input`, handing each decoded block to `sink` and each frame's
/// description to `on_frame`, up to `threads` blocks at a time. Fails on the first
/// damaged or malformed byte, after emitting every block before it (as one thread does).
fn decode_frames<R: Read>(
    input: R,
    threads: usize,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
    mut on_frame: impl FnMut(FrameInfo),
) -> Result<Summary> {
    let threads = clamp_threads(threads);
    let mut reader = Reader::new(BufReader::with_capacity(1 << 16, input));
    let mut header = reader.header()?.ok_or(Error::Truncated {
        what: "header",
        needed: HEADER_LEN as u64,
        available: 0,
    })?;
    let mut summary = Summary::default();
    // One output buffer per block of a batch, reused across batches.
    let mut bufs: Vec<Vec<u8>> = (0..threads).map(|_| Vec::new()).collect();
    // And one adaptive model per block of a batch, reset and reused (see `Compressor`).
    let mut models: Vec<Option<AdaptiveModel>> = (0..threads).map(|_| None).collect();
    let mut batch: Vec<Block> = Vec::with_capacity(threads);
    loop {
        let frame_start = reader.consumed() - HEADER_LEN as u64;
        let mut hasher = XxHash3_64::new();
        let mut frame = FrameInfo {
            header,
            blocks: Vec::new(),
            raw_bytes: 0,
            compressed_bytes: 0,
        };
        loop {
            // Read up to a batch; an item that cannot be read ends the batch, and its
            // error is reported after the blocks before it.
            let mut end = None;
            let mut read_error = None;
            while batch.len() < threads {
                match reader.item(&header) {
                    Ok(Item::Block(block)) => batch.push(block),
                    Ok(Item::End {
                        content_len,
                        content_hash,
                    }) => {
                        end = Some((content_len, content_hash));
                        break;
                    }
                    Err(e) => {
                        read_error = Some(e);
                        break;
                    }
                }
            }
            let first = frame.blocks.len() as u64;
            let results: Vec<Result<()>> = if batch.len() <= 1 {
                batch
                    .iter()
                    .zip(bufs.iter_mut().zip(models.iter_mut()))
                    .map(|(block, (buf, model))| {
                        decode_block_reusing(&header, block, first, buf, model)
                    })
                    .collect()
            } else {
                batch
                    .par_iter()
                    .zip(bufs.par_iter_mut().zip(models.par_iter_mut()))
                    .enumerate()
                    .map(|(i, (block, (buf, model)))| {
                        decode_block_reusing(&header, block, first + i as u64, buf, model)
                    })
                    .collect()
            };
            for ((block, buf), result) in batch.iter().zip(bufs.iter()).zip(results) {
                result?;
                hasher.write(buf);
                sink(buf)?;
                frame.raw_bytes += buf.len() as u64;
                frame.blocks.push(BlockInfo {
                    kind: block.kind,
                    raw_len: block.raw_len,
                    encoded_len: block.encoded_len(&header),
                    cost: None,
                });
            }
            batch.clear();
            if let Some(e) = read_error {
                return Err(e);
            }
            if let Some((content_len, content_hash)) = end {
                if content_len != frame.raw_bytes {
                    return Err(Error::ContentLength {
                        expected: content_len,
                        actual: frame.raw_bytes,
                    });
                }
                let actual = hasher.finish();
                if actual != content_hash {
                    return Err(Error::ContentChecksum {
                        expected: content_hash,
                        actual,
                    });
                }
                break;
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
pub fn decompress_stream<R: Read, W: Write>(input: R, output: W) -> Result<Summary> {
    decompress_stream_threads(input, output, 1)
}

/// [`decompress_stream`] decoding up to `threads` blocks at once (clamped to
/// `1..=MAX_THREADS`): the same output, the same errors, after the same prefix.
/// Memory: up to `threads` blocks, compressed and decoded.
pub fn decompress_stream_threads<R: Read, W: Write>(
    input: R,
    mut output: W,
    threads: usize,
) -> Result<Summary> {
    let summary = decode_frames(
        input,
        threads,
        |block| output.write_all(block).map_err(Error::from),
        |_| {},
    )?;
    output.flush()?;
    Ok(summary)
}

/// Decodes `input` without keeping the content, and describes each frame and block.
/// An error means the file is damaged (or not a shannon file).
pub fn inspect<R: Read>(input: R) -> Result<(Vec<FrameInfo>, Summary)> {
    inspect_threads(input, 1)
}

/// [`inspect`] decoding up to `threads` blocks at once (clamped to `1..=MAX_THREADS`).
pub fn inspect_threads<R: Read>(input: R, threads: usize) -> Result<(Vec<FrameInfo>, Summary)> {
    let mut frames = Vec::new();
    let summary = decode_frames(input, threads, |_| Ok(()), |f| frames.push(f))?;
    Ok((frames, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ModelKind;
    use proptest::prelude::*;

    /// Every available codec at `block_size`, adaptive ones with a small memory.
    fn codecs(block_size: u64) -> Vec<Options> {
        crate::available_codecs()
            .into_iter()
            .map(|o| o.with_block_size(block_size).unwrap())
            .map(|o| match o.model() {
                ModelKind::Adaptive => o.with_memory(1 << 20).unwrap(),
                ModelKind::Static | ModelKind::Frequency => o,
            })
            .collect()
    }

    /// Compresses `data` pushed in pieces of `piece` bytes with `threads` threads.
    fn compress_with(data: &[u8], options: &Options, threads: usize, piece: usize) -> Vec<u8> {
        let mut c = Compressor::new(Vec::new(), *options)
            .unwrap()
            .with_threads(threads);
        for chunk in data.chunks(piece.max(1)) {
            c.push(chunk).unwrap();
        }
        let (out, summary, blocks) = c.finish().unwrap();
        assert_eq!(summary.compressed_bytes, out.len() as u64);
        assert_eq!(summary.blocks, blocks.len() as u64);
        assert_eq!(summary.raw_bytes, data.len() as u64);
        out
    }

    /// Decompresses with `threads` threads: the result and the prefix written.
    fn decompress_with(packed: &[u8], threads: usize) -> (String, Vec<u8>) {
        let mut out = Vec::new();
        let r = decompress_stream_threads(packed, &mut out, threads);
        (format!("{r:?}"), out)
    }

    fn corpus(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpora")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn threads_give_identical_bytes_on_corpus_files_for_every_codec() {
        let files = [
            "calgary/book1",
            "canterbury/kennedy.xls",
            "calgary/obj1",
            "canterbury/fields.c",
        ];
        for name in files {
            let data = corpus(name);
            for o in codecs(64 << 10) {
                let one = compress_with(&data, &o, 1, data.len());
                let bs = o.block_size() as usize;
                for (threads, piece) in [(2, data.len()), (3, bs), (2, 10_007), (4, bs * 3 + 1)] {
                    let many = compress_with(&data, &o, threads, piece);
                    assert!(
                        many == one,
                        "{name} {:?}: {threads} threads, pieces of {piece} differ",
                        o.header()
                    );
                }
                for threads in [1, 2, 3] {
                    let (r, out) = decompress_with(&one, threads);
                    assert!(r.starts_with("Ok"), "{name}: {r}");
                    assert!(out == data, "{name}: {threads} threads decode differently");
                }
                let (frames1, s1) = inspect(&one[..]).unwrap();
                let (frames3, s3) = inspect_threads(&one[..], 3).unwrap();
                assert_eq!(frames1, frames3);
                assert_eq!(s1, s3);
                assert_eq!(s1.blocks as usize, data.len().div_ceil(bs));
            }
        }
    }

    #[test]
    fn damaged_streams_fail_alike_with_any_thread_count() {
        let data = corpus("canterbury/fields.c");
        for o in codecs(1024) {
            let packed = compress_with(&data, &o, 1, data.len());
            // Truncations at every 97th byte, and a flipped bit every 89th byte.
            for cut in (0..packed.len()).step_by(97) {
                let serial = decompress_with(&packed[..cut], 1);
                assert!(!serial.0.starts_with("Ok"));
                for threads in [2, 3] {
                    assert_eq!(
                        decompress_with(&packed[..cut], threads),
                        serial,
                        "cut {cut}"
                    );
                }
            }
            for at in (HEADER_LEN..packed.len()).step_by(89) {
                let mut bad = packed.clone();
                bad[at] ^= 0x10;
                let serial = decompress_with(&bad, 1);
                for threads in [2, 3] {
                    assert_eq!(decompress_with(&bad, threads), serial, "flip at {at}");
                }
            }
        }
    }

    #[test]
    fn thread_counts_are_clamped() {
        let c = Compressor::new(Vec::new(), Options::default()).unwrap();
        assert_eq!(c.threads(), 1);
        assert_eq!(c.with_threads(0).threads(), 1);
        let c = Compressor::new(Vec::new(), Options::default()).unwrap();
        assert_eq!(c.with_threads(1 << 20).threads(), MAX_THREADS);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn threaded_round_trip_matches_one_thread(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..3000),
                proptest::collection::vec(0u8..3, 0..3000),
                Just(Vec::new()),
                Just(vec![7u8]),
                Just(vec![9u8; 1000]),
                Just((0..=255u8).cycle().take(2000).collect::<Vec<u8>>()),
            ],
            pick in 0usize..10,
            threads in 2usize..5,
            piece in 1usize..700,
        ) {
            let o = codecs(256)[pick % codecs(256).len()];
            let one = compress_with(&data, &o, 1, data.len());
            let many = compress_with(&data, &o, threads, piece);
            prop_assert!(one == many);
            let (r, out) = decompress_with(&one, threads);
            prop_assert!(r.starts_with("Ok"), "{}", r);
            prop_assert!(out == data);
        }

        #[test]
        fn threaded_decoder_on_random_bytes_agrees_with_one_thread(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            threads in 2usize..5,
        ) {
            // A valid header, then hostile blocks: Ok or Err, never a panic, and the
            // same outcome and prefix as one thread.
            let mut input = Options::default().with_block_size(256).unwrap().header().to_bytes().to_vec();
            input.extend_from_slice(&body);
            prop_assert_eq!(decompress_with(&input, threads), decompress_with(&input, 1));
            prop_assert_eq!(decompress_with(&body, threads), decompress_with(&body, 1));
        }
    }
}
