//! # shannon
//!
//! A lossless compression toolkit that shows Shannon's source-coding theorem at work.
//! Probability models (static and adaptive, order 0 to k) supply distributions; pluggable
//! entropy coders (Huffman, range, rANS, tANS) turn them into bits; the analyser puts
//! the achieved rate beside the empirical entropy and the model's cross entropy.
//!
//! Layers, top to bottom: [`cli`] (front end), [`codec`] (pairs a model with a coder per
//! block), [`format`](mod@format) (the `.shc` container), [`model`] and [`coder`] (the
//! two sides of the seam), [`analysis`] (entropies and rate decomposition); beside them,
//! [`sources`] (synthetic sources of known entropy and the source-coding demos).

#![warn(missing_docs)]
// Tables indexed by symbol are clearest as `for s in 0..256`; iterator chains hide that.
#![allow(clippy::needless_range_loop)]

pub mod analysis;
pub mod cli;
pub mod codec;
pub mod coder;
pub mod error;
pub mod format;
pub mod model;
pub mod sources;

pub use codec::{Compressor, Options, Summary, compress_bound, decompress_stream, inspect};
pub use error::{Error, Result};
pub use format::{CoderKind, ModelKind};

use std::io::{Read, Write};

/// Compresses `data` into a complete `.shc` stream (one frame).
///
/// ```
/// let opts = shannon::Options::default();
/// let packed = shannon::compress(b"abracadabra", &opts);
/// assert_eq!(shannon::decompress(&packed).unwrap(), b"abracadabra");
/// ```
pub fn compress(data: &[u8], options: &Options) -> Vec<u8> {
    let cap = compress_bound(data.len() as u64, options.block_size()) as usize;
    let mut c =
        Compressor::new(Vec::with_capacity(cap), *options).expect("writing to a Vec cannot fail");
    c.push(data).expect("writing to a Vec cannot fail");
    c.finish().expect("writing to a Vec cannot fail").0
}

/// Decompresses a complete `.shc` stream (one or more frames); every check is verified.
pub fn decompress(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress_stream(data, &mut out)?;
    Ok(out)
}

/// Compresses everything `input` yields into `output`, a block at a time: memory use is
/// about one block whatever the input's length.
pub fn compress_stream<R: Read, W: Write>(
    mut input: R,
    output: W,
    options: &Options,
) -> Result<Summary> {
    let mut c = Compressor::new(output, *options)?;
    let mut buf = vec![0u8; options.block_size() as usize];
    loop {
        let n = read_full(&mut input, &mut buf)?;
        c.push(&buf[..n])?;
        if n < buf.len() {
            break;
        }
    }
    Ok(c.finish()?.1)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Compresses `data` with `options`, decompresses it through both the slice and the
/// streaming decoders, and checks that everything agrees: the one helper that unit
/// tests, property tests and fuzz targets share. Returns the compressed stream.
///
/// Errors: a decoding error, or [`Error::Corrupt`] naming what disagreed.
pub fn round_trip(data: &[u8], options: &Options) -> Result<Vec<u8>> {
    let packed = compress(data, options);
    if packed.len() as u64 > compress_bound(data.len() as u64, options.block_size()) {
        return Err(Error::Corrupt {
            what: "round trip: output larger than compress_bound",
        });
    }
    let mut streamed = Vec::new();
    compress_stream(data, &mut streamed, options)?;
    if streamed != packed {
        return Err(Error::Corrupt {
            what: "round trip: streaming compressor wrote different bytes",
        });
    }
    if decompress(&packed)? != data {
        return Err(Error::Corrupt {
            what: "round trip: decompressed content differs",
        });
    }
    let mut out = Vec::new();
    decompress_stream(&packed[..], &mut out)?;
    if out != data {
        return Err(Error::Corrupt {
            what: "round trip: streamed decompression differs",
        });
    }
    Ok(packed)
}

/// Every model/coder pair this build can compress with, each at representative orders
/// (static orders 0 and 2 with all four coders; adaptive orders 0, 2 and 4 and frequency
/// orders 0 and 1 with the two stream coders), with default block size, scale and
/// memory: what tests and benchmarks iterate over.
pub fn available_codecs() -> Vec<Options> {
    let mut v = Vec::new();
    for order in [0, 2] {
        for c in [
            CoderKind::Arithmetic,
            CoderKind::Rans,
            CoderKind::Huffman,
            CoderKind::Tans,
        ] {
            v.extend(Options::new(ModelKind::Static, order, c).ok());
        }
    }
    for order in [0, 2, 4] {
        for c in [CoderKind::Arithmetic, CoderKind::Rans] {
            v.extend(Options::new(ModelKind::Adaptive, order, c).ok());
        }
    }
    for order in [0, 1] {
        for c in [CoderKind::Arithmetic, CoderKind::Rans] {
            v.extend(Options::new(ModelKind::Frequency, order, c).ok());
        }
    }
    v
}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
