//! The crate's one error type.
//!
//! Messages are short and lower case; where a limit was broken they carry the value and
//! the limit, so the CLI can print `shannon: FILE: message` and nothing more is needed.

use thiserror::Error as ThisError;

/// Everything that can go wrong while compressing, decompressing or inspecting data.
#[derive(Debug, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// The input does not start with shannon's magic bytes.
    #[error("not a shannon file (bad magic bytes)")]
    BadMagic,
    /// The file was written by a format version this build does not read.
    #[error(
        "unsupported format version {got} (this build reads versions {} to {supported})",
        crate::format::MIN_VERSION
    )]
    UnsupportedVersion {
        /// Version found in the header.
        got: u8,
        /// Version this build reads.
        supported: u8,
    },
    /// The input ended before a structure it announced was complete.
    #[error("truncated input: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// The structure that was being read.
        what: &'static str,
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes that were left.
        available: u64,
    },
    /// A value read from the input breaks a documented limit.
    #[error("{what} is {got}, the limit is {max}")]
    LimitExceeded {
        /// The quantity that was checked.
        what: &'static str,
        /// The value found.
        got: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A field holds a value that no valid file can hold.
    #[error("corrupt input: {what}")]
    Corrupt {
        /// What was wrong.
        what: &'static str,
    },
    /// A symbol was coded with a distribution that gives it no probability.
    #[error("symbol {symbol} has zero frequency in the model")]
    ZeroFrequency {
        /// The symbol that cannot be coded.
        symbol: u8,
    },
    /// The decoded content of a block does not match its check.
    #[error("block {block} is damaged: check {actual:#010x}, expected {expected:#010x}")]
    BlockChecksum {
        /// Index of the block, from 0.
        block: u64,
        /// Check stored in the file.
        expected: u32,
        /// Check of the decoded bytes.
        actual: u32,
    },
    /// An entropy-coded block could not be decoded (its payload is malformed).
    #[error("block {block} is damaged: {source}")]
    DamagedBlock {
        /// Index of the block in its frame, from 0.
        block: u64,
        /// What the decoder found.
        #[source]
        source: Box<Error>,
    },
    /// The whole decoded content does not match the trailer's checksum.
    #[error("content checksum mismatch: got {actual:#018x}, expected {expected:#018x}")]
    ContentChecksum {
        /// Checksum stored in the file.
        expected: u64,
        /// Checksum of the decoded content.
        actual: u64,
    },
    /// The trailer's total length disagrees with the sum of the block lengths.
    #[error("content length mismatch: blocks hold {actual} bytes, trailer says {expected}")]
    ContentLength {
        /// Length stored in the trailer.
        expected: u64,
        /// Length of the decoded blocks.
        actual: u64,
    },
    /// Bytes follow the end of the compressed stream.
    #[error("{count} unexpected bytes after the end of the stream")]
    TrailingData {
        /// How many bytes (at least) follow the trailer.
        count: u64,
    },
    /// A combination of options that shannon does not support.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// An I/O error from the underlying reader or writer.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
