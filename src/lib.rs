//! # shannon
//!
//! A lossless compression toolkit that shows Shannon's source-coding theorem at work.
//! Probability models (static and adaptive, order 0 to k) supply distributions; pluggable
//! entropy coders (Huffman, range, rANS, tANS) turn them into bits; the analyser puts
//! the achieved rate beside the empirical entropy and the model's cross entropy.
//!
//! Layers, top to bottom: [`cli`] (front end), [`codec`] (pairs a model with a coder per
//! block), [`format`] (the `.shc` container), [`model`] and [`coder`] (the two sides of
//! the seam), [`analysis`] (entropies and rate decomposition).

#![warn(missing_docs)]

pub mod analysis;
pub mod cli;
pub mod codec;
pub mod coder;
pub mod error;
pub mod format;
pub mod model;

pub use error::{Error, Result};
