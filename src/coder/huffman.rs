//! Placeholder until the Huffman coder lands: same signatures, every call fails.
#![allow(missing_docs, unused_variables, clippy::ptr_arg)]
use crate::error::{Error, Result};
use crate::model::Counts;
pub const MAX_CODE_LEN: u32 = 11;
pub struct HuffmanCode;
impl HuffmanCode {
    pub fn from_counts(counts: &Counts) -> Result<HuffmanCode> {
        Err(Error::InvalidOptions("huffman not built".into()))
    }
    pub fn write(&self, out: &mut Vec<u8>) {}
    pub fn read(input: &[u8]) -> Result<(HuffmanCode, usize)> {
        Err(Error::InvalidOptions("huffman not built".into()))
    }
    pub fn cost_bits(&self, counts: &Counts) -> u64 {
        0
    }
}
pub fn encode_block(data: &[u8], code: &HuffmanCode) -> Result<Vec<u8>> {
    Err(Error::InvalidOptions("huffman not built".into()))
}
pub fn decode_block(stream: &[u8], code: &HuffmanCode, out: &mut [u8]) -> Result<()> {
    Err(Error::InvalidOptions("huffman not built".into()))
}
