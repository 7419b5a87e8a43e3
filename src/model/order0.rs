//! The static (two-pass) order-0 model: count the block, normalise once, code every
//! symbol with the same table.

use crate::error::Result;
use crate::model::{Counts, FreqTable, Model};

/// A static order-0 model: the same [`FreqTable`] for every position.
#[derive(Clone, Debug)]
pub struct StaticOrder0 {
    table: FreqTable,
}

impl StaticOrder0 {
    /// Counts `data` and builds the optimal table of total `2^scale_bits`.
    pub fn build(data: &[u8], scale_bits: u32) -> Result<StaticOrder0> {
        Ok(StaticOrder0 {
            table: FreqTable::from_counts(&Counts::of(data), scale_bits)?,
        })
    }

    /// Wraps a table read from a file.
    pub fn from_table(table: FreqTable) -> StaticOrder0 {
        StaticOrder0 { table }
    }

    /// The model's table.
    pub fn table(&self) -> &FreqTable {
        &self.table
    }
}

impl Model for StaticOrder0 {
    type Dist = FreqTable;

    #[inline]
    fn predict(&mut self) -> &FreqTable {
        &self.table
    }

    #[inline]
    fn update(&mut self, _symbol: u8) {}
}
