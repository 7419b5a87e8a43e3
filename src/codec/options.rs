//! Validated codec options: once an [`Options`] exists, compression cannot fail.

use crate::error::{Error, Result};
use crate::format::{CoderKind, Header, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, ModelKind};
use crate::model::{MAX_SCALE_BITS, check_scale};

/// Default block size: 1 MiB.
pub const DEFAULT_BLOCK_SIZE: u32 = 1 << 20;
/// Default largest table scale for static models (log2 of the table total).
pub const DEFAULT_SCALE_BITS: u32 = 14;

/// How to compress: model, order, coder and block size. Build with [`Options::new`]
/// (every combination is checked there) and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    model: ModelKind,
    order: u8,
    coder: CoderKind,
    block_size: u32,
    scale_bits: u32,
}

impl Default for Options {
    /// Static order-0 rANS with 1 MiB blocks.
    fn default() -> Options {
        Options {
            model: ModelKind::Static,
            order: 0,
            coder: CoderKind::Rans,
            block_size: DEFAULT_BLOCK_SIZE,
            scale_bits: DEFAULT_SCALE_BITS,
        }
    }
}

impl Options {
    /// Checks that `coder` can code `model` at `order` in this build.
    ///
    /// Table coders (Huffman, tANS) need a static model; only order 0 is built so far.
    pub fn new(model: ModelKind, order: u32, coder: CoderKind) -> Result<Options> {
        if model == ModelKind::Adaptive && matches!(coder, CoderKind::Huffman | CoderKind::Tans) {
            return Err(Error::InvalidOptions(format!(
                "the {} coder is compiled from a static table; use --model static, \
                 or --coder arithmetic or rans with an adaptive model",
                coder.name()
            )));
        }
        if model == ModelKind::Adaptive {
            return Err(Error::InvalidOptions(
                "adaptive models are not available yet; use --model static".into(),
            ));
        }
        if order != 0 {
            return Err(Error::InvalidOptions(format!(
                "static order {order} is not available yet; use --order 0"
            )));
        }
        Ok(Options {
            model,
            order: order as u8,
            coder,
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

    /// The options a frame header describes (for decoding and reports).
    pub fn from_header(h: &Header) -> Options {
        Options {
            model: h.model,
            order: h.order,
            coder: h.coder,
            block_size: h.block_size,
            scale_bits: h.scale_bits.into(),
        }
    }

    /// The header of a frame written with these options.
    pub fn header(&self) -> Header {
        Header {
            model: self.model,
            order: self.order,
            coder: self.coder,
            scale_bits: self.scale_bits as u8,
            memory_log2: 0,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_coders_refuse_adaptive_models() {
        for coder in [CoderKind::Huffman, CoderKind::Tans] {
            let e = Options::new(ModelKind::Adaptive, 0, coder).unwrap_err();
            assert!(e.to_string().contains("static"), "{e}");
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
