//! Files of older format versions still decode: version 2 (written by the build before
//! version 3, kept in `tests/data/v2/`) and version 3 (the build before version 4, in
//! `tests/data/v3/`). Version 3 changed only the static order-0 tables and version 4
//! only the framing of full blocks; a reader dispatches on the header's version.

use std::path::Path;

/// Decodes every fixture of `tests/data/v{version}` (all `grammar.lsp` with 2 KiB
/// blocks) and returns how many there were.
fn fixtures_decode(version: u8) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected = std::fs::read(root.join("corpora/canterbury/grammar.lsp")).unwrap();
    let mut seen = 0;
    for e in std::fs::read_dir(root.join(format!("tests/data/v{version}"))).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        // The fixtures really are of that version ...
        assert_eq!(bytes[4], version, "{}", path.display());
        // ... and decode under this build.
        let got = shannon::decompress(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(got == expected, "{} decodes to other bytes", path.display());
        seen += 1;
    }
    seen
}

#[test]
fn version_2_files_decode_to_their_content() {
    // Order 0 with all four coders, order 2 (one block falls back to order 0), adaptive.
    assert_eq!(fixtures_decode(2), 6);
}

#[test]
fn version_3_files_decode_to_their_content() {
    // Order 0 with all four coders (tANS in its second form), static order 1, frequency
    // order 1, adaptive order 2.
    assert_eq!(fixtures_decode(3), 7);
}

/// Version 4 writes the same payloads as version 3 and drops only the length of the
/// full block (grammar.lsp in 2 KiB blocks has one, and 2048 is a 2-byte varint).
#[test]
fn version_4_files_are_version_3_less_the_full_blocks_length() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(root.join("corpora/canterbury/grammar.lsp")).unwrap();
    assert_eq!(data.len().div_ceil(2048), 2, "one full block, one shorter");
    let mut seen = 0;
    for e in std::fs::read_dir(root.join("tests/data/v3")).unwrap() {
        let path = e.unwrap().path();
        let old = std::fs::read(&path).unwrap();
        // The header names the codec and block size; version 4 is the same but for the
        // version byte and the header check.
        let header = shannon::format::Header::parse(old[..20].try_into().unwrap()).unwrap();
        let options = shannon::Options::new(header.model, header.order.into(), header.coder)
            .unwrap()
            .with_block_size(header.block_size.into())
            .unwrap();
        let new = shannon::compress(&data, &options);
        assert_eq!(new[4], shannon::format::VERSION);
        assert_eq!(new[5..12], old[5..12], "{}: same codec", path.display());
        assert_eq!(new.len() + 2, old.len(), "{}", path.display());
        // Past the header: the full block's kind byte gains the flag and loses its length
        // (`80 10` is varint 2048); the rest is byte for byte the same.
        assert_eq!(
            new[20],
            old[20] | shannon::format::FULL_BLOCK,
            "{}",
            path.display()
        );
        assert_eq!(&old[21..23], &[0x80, 0x10], "{}", path.display());
        assert_eq!(new[21..], old[23..], "{}", path.display());
        seen += 1;
    }
    assert_eq!(seen, 7);
}

#[test]
fn version_3_order_0_tables_are_smaller_than_version_2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(root.join("corpora/canterbury/grammar.lsp")).unwrap();
    for coder in ["huffman", "rans", "arithmetic", "tans"] {
        let old =
            std::fs::read(root.join(format!("tests/data/v2/grammar.lsp.o0-{coder}.shc"))).unwrap();
        let options = shannon::available_codecs()
            .into_iter()
            .find(|o| {
                o.model() == shannon::ModelKind::Static
                    && o.order() == 0
                    && o.coder().name() == coder
            })
            .unwrap()
            .with_block_size(2048)
            .unwrap();
        let new = shannon::compress(&data, &options);
        assert_eq!(new[4], shannon::format::VERSION);
        // Two blocks, each table at least 8 bytes smaller.
        assert!(
            new.len() + 16 <= old.len(),
            "{coder}: {} vs {}",
            new.len(),
            old.len()
        );
    }
}
