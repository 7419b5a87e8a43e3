//! A damaged file must never decode to wrong content without an error.
//!
//! For a compressed corpus file and every codec: truncation at every byte offset, and
//! every single-bit flip in the first 4 KiB, must each give an error (a check or
//! checksum error where the flip lands in content the decoder accepts), or, where the
//! flipped bit is redundant, the original content: never wrong content without an
//! error. (Redundant bits exist: a static order-k Huffman table stores frequencies, and
//! a flip that changes a frequency but not the code lengths built from it changes
//! nothing.)

use shannon::{Error, available_codecs, compress, decompress};

mod common;
use common::corpus_bytes as corpus;

/// The codecs to damage: every static coder, and one adaptive order with each stream
/// coder (with a small context memory, since every decode builds a fresh model).
fn codecs() -> Vec<shannon::Options> {
    available_codecs()
        .into_iter()
        .filter(|o| o.model() == shannon::ModelKind::Static || o.order() == 2)
        .map(|o| {
            let o = o.with_block_size(1024).unwrap();
            if o.model() == shannon::ModelKind::Adaptive {
                o.with_memory(1 << 18).unwrap()
            } else {
                o
            }
        })
        .collect()
}

fn label(o: &shannon::Options) -> String {
    format!(
        "{} order-{} {}",
        o.model().name(),
        o.order(),
        o.coder().name()
    )
}

#[test]
fn every_truncation_is_an_error() {
    let data = corpus("canterbury/grammar.lsp");
    for o in codecs() {
        let packed = compress(&data, &o);
        assert_eq!(decompress(&packed).unwrap(), data);
        for cut in 0..packed.len() {
            match decompress(&packed[..cut]) {
                Err(_) => {}
                Ok(_) => panic!(
                    "{}: truncation at {cut} of {} accepted",
                    label(&o),
                    packed.len()
                ),
            }
        }
    }
}

#[test]
fn every_bit_flip_in_the_first_4k_is_an_error() {
    let data = corpus("canterbury/xargs.1");
    for o in codecs() {
        let packed = compress(&data, &o);
        let span = packed.len().min(4096);
        let mut kinds = std::collections::BTreeMap::<String, usize>::new();
        for bit in 0..span * 8 {
            let mut damaged = packed.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            match decompress(&damaged) {
                Ok(out) if out == data => *kinds.entry("harmless".to_string()).or_default() += 1,
                Ok(out) => panic!(
                    "{}: flip of bit {bit} gave wrong content ({} bytes) without an error",
                    label(&o),
                    out.len()
                ),
                Err(e) => {
                    let kind = match e {
                        Error::BlockChecksum { .. } => "block check",
                        Error::DamagedBlock { .. } => "damaged block",
                        Error::ContentChecksum { .. } | Error::ContentLength { .. } => "trailer",
                        _ => "format",
                    };
                    *kinds.entry(kind.to_string()).or_default() += 1;
                }
            }
        }
        // The file has entropy-coded blocks, so the flips must reach the decoders too;
        // and redundant bits are rare.
        assert!(kinds.len() >= 2, "{}: {kinds:?}", label(&o));
        let harmless = kinds.get("harmless").copied().unwrap_or(0);
        assert!(harmless * 100 <= span * 8, "{}: {kinds:?}", label(&o));
        eprintln!("{}: {kinds:?}", label(&o));
    }
}
