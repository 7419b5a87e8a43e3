//! Files of format version 2 (written by the build before version 3, kept in
//! `tests/data/v2/`) still decode: version 3 changed only the static order-0 tables, and
//! a reader dispatches on the header's version.

use std::path::Path;

#[test]
fn version_2_files_decode_to_their_content() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected = std::fs::read(root.join("corpora/canterbury/grammar.lsp")).unwrap();
    let mut seen = 0;
    for e in std::fs::read_dir(root.join("tests/data/v2")).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        // The fixtures really are version 2 ...
        assert_eq!(bytes[4], 2, "{}", path.display());
        // ... and decode under this build.
        let got = shannon::decompress(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(got == expected, "{} decodes to other bytes", path.display());
        seen += 1;
    }
    // Order 0 with all four coders, order 2 (one block falls back to order 0), adaptive.
    assert_eq!(seen, 6);
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
