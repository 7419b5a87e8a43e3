//! Validated codec options: once an [`Options`] exists, compression cannot fail.

use crate::error::{Error, Result};
use crate::format::{CoderKind, Header, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, ModelKind};
use crate::model::adaptive::{DEFAULT_MEMORY, MAX_MEMORY, MAX_ORDER, MIN_MEMORY};
use crate::model::frequency;
use crate::model::order_k::MAX_STATIC_ORDER;
use crate::model::{MAX_SCALE_BITS, check_scale};

/// The model, order and coder `shannon compress` uses by default: adaptive order 4 with
/// the range coder. On book1 it writes 2.29 bits/byte (bzip2 -9: 2.42) and beats
/// bzip2 -9 on every Canterbury and Calgary text file; order 5 saves another 1% at
/// about 0.6x the speed.
pub const DEFAULT_CODEC: (ModelKind, u32, CoderKind) =
    (ModelKind::Adaptive, 4, CoderKind::Arithmetic);

/// Default block size: 1 MiB.
pub const DEFAULT_BLOCK_SIZE: u32 = 1 << 20;
/// Default largest table scale for static models (log2 of the table total).
pub const DEFAULT_SCALE_BITS: u32 = 12;

/// How to compress: model, order, coder and block size. Build with [`Options::new`]
/// (every combination is checked there) and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    model: ModelKind,
    order: u8,
    coder: CoderKind,
    block_size: u32,
    scale_bits: u32,
    /// log2 of the adaptive model's context memory as set by [`Options::with_memory`];
    /// 0 means "not set": static models use none, adaptive models the default for the
    /// block size ([`Options::memory`]).
    memory_log2: u8,
}

impl Default for Options {
    /// [`DEFAULT_CODEC`] (adaptive order 4, range coder) with 1 MiB blocks.
    fn default() -> Options {
        Options {
            model: DEFAULT_CODEC.0,
            order: DEFAULT_CODEC.1 as u8,
            coder: DEFAULT_CODEC.2,
            block_size: DEFAULT_BLOCK_SIZE,
            scale_bits: DEFAULT_SCALE_BITS,
            memory_log2: 0,
        }
    }
}

impl Options {
    /// Checks that `coder` can code `model` at `order` in this build.
    ///
    /// Table coders (Huffman, tANS) need a static model; adaptive models take orders
    /// `0..=8`, frequency models `0..=1`, static models `0..=4`.
    pub fn new(model: ModelKind, order: u32, coder: CoderKind) -> Result<Options> {
        if model != ModelKind::Static && matches!(coder, CoderKind::Huffman | CoderKind::Tans) {
            return Err(Error::InvalidOptions(format!(
                "the {} coder is compiled from a static table; use --model static, \
                 or --coder arithmetic or rans with the {} model",
                coder.name(),
                model.name()
            )));
        }
        if model == ModelKind::Frequency && order > frequency::MAX_ORDER {
            return Err(Error::InvalidOptions(format!(
                "frequency order {order} is above the largest, {}; use --model adaptive \
                 for higher orders",
                frequency::MAX_ORDER
            )));
        }
        if model == ModelKind::Adaptive && order > MAX_ORDER {
            return Err(Error::InvalidOptions(format!(
                "adaptive order {order} is above the largest, {MAX_ORDER}"
            )));
        }
        if model == ModelKind::Static && order > MAX_STATIC_ORDER {
            return Err(Error::InvalidOptions(format!(
                "static order {order} is above the largest, {MAX_STATIC_ORDER}; \
                 use --model adaptive for higher orders"
            )));
        }
        Ok(Options {
            model,
            order: order as u8,
            coder,
            memory_log2: 0,
            ..Options::default()
        })
    }

    /// Sets the block size (`MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE`, 256 B to 64 MiB).
    pub fn with_block_size(self, block_size: u64) -> Result<Options> {
        if !(u64::from(MIN_BLOCK_SIZE)..=u64::from(MAX_BLOCK_SIZE)).contains(&block_size) {
            return Err(Error::InvalidOptions(format!(
                "block size {block_size} is outside {MIN_BLOCK_SIZE}..={MAX_BLOCK_SIZE}"
            )));
        }
        Ok(Options {
            block_size: block_size as u32,
            ..self
        })
    }

    /// Sets the largest table scale static models may use (log2 of a table total,
    /// 8..=16; each block picks the best scale up to this).
    pub fn with_scale_bits(self, scale_bits: u32) -> Result<Options> {
        check_scale(scale_bits)?;
        if scale_bits < 8 {
            return Err(Error::InvalidOptions(format!(
                "scale {scale_bits} is below 8: 256 distinct symbols would not fit"
            )));
        }
        debug_assert!(scale_bits <= MAX_SCALE_BITS);
        Ok(Options { scale_bits, ..self })
    }

    /// Sets the context memory of an adaptive model, rounded down to a power of two
    /// (256 KiB to 1 GiB). Encoder and decoder use the same value: it is in the header.
    pub fn with_memory(self, bytes: u64) -> Result<Options> {
        if self.model != ModelKind::Adaptive {
            return Err(Error::InvalidOptions(
                "--memory applies to adaptive models only".into(),
            ));
        }
        if !(MIN_MEMORY as u64..=MAX_MEMORY as u64).contains(&bytes) {
            return Err(Error::InvalidOptions(format!(
                "memory {bytes} is outside {MIN_MEMORY}..={MAX_MEMORY} bytes"
            )));
        }
        Ok(Options {
            memory_log2: bytes.ilog2() as u8,
            ..self
        })
    }

    /// The options a frame header describes (for decoding and reports).
    pub fn from_header(h: &Header) -> Options {
        Options {
            model: h.model,
            order: h.order,
            coder: h.coder,
            block_size: h.block_size,
            scale_bits: h.scale_bits.into(),
            memory_log2: h.memory_log2,
        }
    }

    /// The header of a frame written with these options.
    pub fn header(&self) -> Header {
        Header {
            version: crate::format::VERSION,
            model: self.model,
            order: self.order,
            coder: self.coder,
            scale_bits: self.scale_bits as u8,
            memory_log2: self.effective_memory_log2(),
            block_size: self.block_size,
        }
    }

    /// Model family.
    pub fn model(&self) -> ModelKind {
        self.model
    }

    /// Context order.
    pub fn order(&self) -> u32 {
        self.order.into()
    }

    /// Entropy coder.
    pub fn coder(&self) -> CoderKind {
        self.coder
    }

    /// Largest raw length of a block.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Largest table scale of static models.
    pub fn scale_bits(&self) -> u32 {
        self.scale_bits
    }

    /// Context memory of an adaptive model in bytes (0 for static and frequency models:
    /// a frequency model's tables are fixed, at most 256 contexts). Unless set
    /// with [`Options::with_memory`], it is 32 times the block size rounded up to a power
    /// of two, within 256 KiB ..= 128 MiB (`DEFAULT_MEMORY`): a 1 MiB block gets 32 MiB.
    /// A table much larger than a block can fill costs page faults and buys almost
    /// nothing (book1, adaptive order 4: 219,857 bytes with 32 MiB, 219,726 with 128 MiB).
    pub fn memory(&self) -> usize {
        match self.effective_memory_log2() {
            0 => 0,
            log2 => 1 << log2,
        }
    }

    fn effective_memory_log2(&self) -> u8 {
        match (self.model, self.memory_log2) {
            (ModelKind::Static | ModelKind::Frequency, _) => 0,
            (ModelKind::Adaptive, 0) => {
                let want = (u64::from(self.block_size).next_power_of_two() * 32).ilog2();
                want.clamp(MIN_MEMORY.ilog2(), DEFAULT_MEMORY.ilog2()) as u8
            }
            (ModelKind::Adaptive, log2) => log2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_coders_refuse_adaptive_models() {
        for coder in [CoderKind::Huffman, CoderKind::Tans] {
            for model in [ModelKind::Adaptive, ModelKind::Frequency] {
                let e = Options::new(model, 0, coder).unwrap_err();
                assert!(e.to_string().contains("static"), "{e}");
            }
        }
    }

    #[test]
    fn frequency_models_take_orders_0_and_1_and_no_memory() {
        for coder in [CoderKind::Arithmetic, CoderKind::Rans] {
            for order in [0, 1] {
                let o = Options::new(ModelKind::Frequency, order, coder).unwrap();
                assert_eq!((o.memory(), o.header().memory_log2), (0, 0));
                assert!(o.with_memory(1 << 20).is_err());
            }
            let e = Options::new(ModelKind::Frequency, 2, coder).unwrap_err();
            assert!(e.to_string().contains("frequency order 2"), "{e}");
        }
    }

    #[test]
    fn block_size_and_scale_limits() {
        let o = Options::default();
        assert!(o.with_block_size(255).is_err());
        assert!(o.with_block_size(64 << 20).is_ok());
        assert!(o.with_block_size((64 << 20) + 1).is_err());
        assert!(o.with_scale_bits(7).is_err());
        assert!(o.with_scale_bits(17).is_err());
        assert_eq!(o.with_scale_bits(16).unwrap().scale_bits(), 16);
    }
}
