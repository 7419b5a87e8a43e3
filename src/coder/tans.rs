//! Placeholder until the tANS coder lands: same signatures, every call fails.
#![allow(missing_docs, unused_variables, clippy::ptr_arg)]
use crate::error::{Error, Result};
use crate::model::{Counts, FreqTable};
pub const MIN_TABLE_LOG: u32 = 9;
pub const MAX_TABLE_LOG: u32 = 12;
pub fn choose_table_log(counts: &Counts) -> u32 {
    12
}
pub struct TansTables;
impl TansTables {
    pub fn new(table: &FreqTable) -> Result<TansTables> {
        Err(Error::InvalidOptions("tans not built".into()))
    }
}
pub fn encode_block(data: &[u8], tables: &TansTables) -> Result<Vec<u8>> {
    Err(Error::InvalidOptions("tans not built".into()))
}
pub fn decode_block(stream: &[u8], tables: &TansTables, out: &mut [u8]) -> Result<()> {
    Err(Error::InvalidOptions("tans not built".into()))
}
