//! Compress arbitrary data with arbitrary options and check it comes back unchanged.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shannon::{CoderKind, ModelKind, Options};

#[derive(Arbitrary, Debug)]
struct Case {
    data: Vec<u8>,
    /// 0 static, 1 adaptive, 2 frequency (modulo 3).
    model: u8,
    order: u8,
    coder: u8,
    block_size: u16,
    scale: u8,
}

fuzz_target!(|c: Case| {
    let coder = match c.coder % 4 {
        0 => CoderKind::Huffman,
        1 => CoderKind::Arithmetic,
        2 => CoderKind::Rans,
        _ => CoderKind::Tans,
    };
    let model = match c.model % 3 {
        0 => ModelKind::Static,
        1 => ModelKind::Adaptive,
        _ => ModelKind::Frequency,
    };
    let Ok(options) = Options::new(model, u32::from(c.order % 7), coder) else {
        return;
    };
    let options = options
        .with_block_size(256 + u64::from(c.block_size))
        .and_then(|o| o.with_scale_bits(8 + u32::from(c.scale % 9)))
        .and_then(|o| {
            // A small context memory keeps every block's fresh model cheap.
            if model == ModelKind::Adaptive {
                o.with_memory(1 << 18)
            } else {
                Ok(o)
            }
        })
        .expect("sizes in range");
    if let Err(e) = shannon::round_trip(&c.data, &options) {
        panic!("round trip failed with {options:?}: {e}");
    }
});
