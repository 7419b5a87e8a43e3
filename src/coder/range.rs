//! Placeholder until the range coder lands: same signatures, every call fails.
#![allow(missing_docs, unused_variables, clippy::ptr_arg)]
use crate::error::{Error, Result};
use crate::model::FreqTable;
pub fn encode_order0(data: &[u8], table: &FreqTable) -> Result<Vec<u8>> {
    Err(Error::InvalidOptions("range coder not built".into()))
}
pub fn decode_order0(stream: &[u8], table: &FreqTable, out: &mut [u8]) -> Result<()> {
    Err(Error::InvalidOptions("range coder not built".into()))
}
pub fn max_stream_len(n_symbols: usize, scale_bits: u32) -> usize {
    n_symbols * 2 + 16
}
