//! Files of older format versions still decode: version 2 (written by the build before
//! version 3, kept in `tests/data/v2/`), version 3 (the build before version 4, in
//! `tests/data/v3/`), version 4 (the build before version 5, in `tests/data/v4/`) and
//! version 5 (the build before version 6, in `tests/data/v5/`). Version 3 changed only
//! the static order-0 tables, version 4 only the framing of full blocks, version 5 only
//! the payload of the frequency model with the arithmetic coder (two interleaved range
//! streams), version 6 only the payload of static order-0 rANS and arithmetic blocks
//! of at least `TWO_STREAMS_MIN` bytes (two streams: rANS one for each half, arithmetic
//! two range coders taking turns); a reader dispatches on the header's version.

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

#[test]
fn version_4_files_decode_to_their_content() {
    // Frequency orders 0 and 1 with both stream coders (the arithmetic ones in the
    // one-stream layout of versions 2 to 4), static order 0 with Huffman and
    // arithmetic, adaptive order 2.
    assert_eq!(fixtures_decode(4), 7);
}

/// Version-5 files whose one block (coin-0.9.txt, 100,000 bytes) is large enough to be
/// two streams in version 6, with rANS and with the arithmetic coder, still decode, as
/// one stream. This build writes the same header but for the version (and its check), a
/// different payload, and a few bytes more: a second stream's states or flush byte, and
/// the length field.
#[test]
fn version_5_large_static_blocks_decode_as_one_stream() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(root.join("corpora/synthetic/coin-0.9.txt")).unwrap();
    assert!(data.len() >= shannon::codec::TWO_STREAMS_MIN);
    for coder in ["rans", "arithmetic"] {
        let name = format!("tests/data/v5/coin-0.9.txt.o0-{coder}.shc");
        let old = std::fs::read(root.join(&name)).unwrap();
        assert_eq!(old[4], 5, "{name}");
        assert_eq!(shannon::decompress(&old).unwrap(), data, "{name}");
        let header = shannon::format::Header::parse(old[..20].try_into().unwrap()).unwrap();
        let new = shannon::compress(&data, &options_of(&header));
        assert_eq!(new[4], shannon::format::VERSION);
        assert_eq!(new[5..16], old[5..16], "{name}: same codec");
        assert!(new[20..] != old[20..], "{name}");
        assert!(
            new.len() > old.len() && new.len() <= old.len() + 40,
            "{name}: {} bytes, version 5 {}",
            new.len(),
            old.len()
        );
        assert_eq!(shannon::decompress(&new).unwrap(), data, "{name}");
    }
}

/// The options a fixture's header names, with its block size.
fn options_of(header: &shannon::format::Header) -> shannon::Options {
    shannon::Options::new(header.model, header.order.into(), header.coder)
        .unwrap()
        .with_block_size(header.block_size.into())
        .unwrap()
}

/// Whether version 5 changed this codec's payload: the frequency model with the
/// arithmetic coder (two range coders taking turns instead of one).
fn interleaved_in_version_5(header: &shannon::format::Header) -> bool {
    header.model == shannon::ModelKind::Frequency
        && header.coder == shannon::format::CoderKind::Arithmetic
}

/// Version 5 writes the payloads of version 4 byte for byte, but for the frequency
/// model with the arithmetic coder: the same file but for the version byte and the
/// header check. Frequency + arithmetic files change after the header, and grow by
/// at most 3 bytes a block (a second flush byte and the length field, which is one
/// byte for these blocks) ...
#[test]
fn version_5_files_are_version_4_but_for_frequency_arithmetic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(root.join("corpora/canterbury/grammar.lsp")).unwrap();
    let (mut same, mut changed) = (0, 0);
    for e in std::fs::read_dir(root.join("tests/data/v4")).unwrap() {
        let path = e.unwrap().path();
        let old = std::fs::read(&path).unwrap();
        let header = shannon::format::Header::parse(old[..20].try_into().unwrap()).unwrap();
        let new = shannon::compress(&data, &options_of(&header));
        assert_eq!((old[4], new[4]), (4, shannon::format::VERSION));
        assert_eq!(new[5..16], old[5..16], "{}: same codec", path.display());
        if interleaved_in_version_5(&header) {
            assert!(new[20..] != old[20..], "{}", path.display());
            assert!(
                new.len() > old.len() && new.len() <= old.len() + 2 * 3,
                "{}: {} bytes, version 4 {}",
                path.display(),
                new.len(),
                old.len()
            );
            // ... and the version-4 file is still read as one stream.
            assert_eq!(shannon::decompress(&old).unwrap(), data);
            changed += 1;
        } else {
            assert_eq!(new[20..], old[20..], "{}", path.display());
            same += 1;
        }
    }
    assert_eq!((same, changed), (5, 2));
}

/// Version 4 writes the same payloads as version 3 and drops only the length of the
/// full block (grammar.lsp in 2 KiB blocks has one, and 2048 is a 2-byte varint).
/// Checked against this build's output, for the codecs whose payload version 5 kept.
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
        if interleaved_in_version_5(&header) {
            continue;
        }
        let new = shannon::compress(&data, &options_of(&header));
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
    // The seven version-3 fixtures but frequency order 1 with arithmetic.
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
