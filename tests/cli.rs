//! End-to-end tests of the `shannon` binary: file naming, stdin/stdout, refusing to
//! overwrite, `--rm`, `test`, `info`, and damaged or foreign inputs (each must give a
//! clear error, a non-zero exit, and no output file).

use std::fs;
use std::path::{Path, PathBuf};

mod common;

use common::{corpus, entries, shannon};
use predicates::prelude::*;
use tempfile::TempDir;

/// A temporary directory holding a copy of a corpus file.
fn setup(name: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let src = corpus(name);
    let dst = dir.path().join(src.file_name().unwrap());
    fs::copy(&src, &dst).unwrap();
    (dir, dst)
}

fn shc(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".shc");
    PathBuf::from(s)
}

#[test]
fn compress_then_decompress_restores_the_file_and_keeps_inputs() {
    let (dir, file) = setup("canterbury/alice29.txt");
    let original = fs::read(&file).unwrap();
    shannon().arg("compress").arg(&file).assert().success();
    let packed = shc(&file);
    assert!(packed.exists());
    assert!(file.exists(), "input kept without --rm");
    assert!(fs::metadata(&packed).unwrap().len() < original.len() as u64);
    fs::remove_file(&file).unwrap();
    shannon().arg("decompress").arg(&packed).assert().success();
    assert_eq!(fs::read(&file).unwrap(), original);
    assert!(packed.exists());
    assert_eq!(entries(dir.path()), ["alice29.txt", "alice29.txt.shc"]);
}

#[test]
fn every_coder_works_from_the_command_line() {
    let (_dir, file) = setup("canterbury/fields.c");
    let original = fs::read(&file).unwrap();
    for coder in ["arithmetic", "rans", "huffman", "tans"] {
        let out = file.with_extension(format!("{coder}.shc"));
        shannon()
            .args(["compress", "--coder", coder, "-o"])
            .arg(&out)
            .arg(&file)
            .assert()
            .success();
        let back = shannon()
            .arg("decompress")
            .arg("-c")
            .arg(&out)
            .output()
            .unwrap();
        assert!(back.status.success(), "{coder}");
        assert_eq!(back.stdout, original, "{coder}");
    }
}

#[test]
fn stdin_to_stdout_round_trip() {
    let original = fs::read(corpus("canterbury/xargs.1")).unwrap();
    let packed = shannon()
        .args(["compress", "--coder", "arithmetic"])
        .write_stdin(original.clone())
        .output()
        .unwrap();
    assert!(packed.status.success());
    assert!(packed.stdout.len() < original.len());
    let back = shannon()
        .args(["decompress", "-"])
        .write_stdin(packed.stdout)
        .output()
        .unwrap();
    assert!(back.status.success());
    assert_eq!(back.stdout, original);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let (_dir, file) = setup("canterbury/grammar.lsp");
    let target = shc(&file);
    fs::write(&target, b"precious").unwrap();
    shannon()
        .arg("compress")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(fs::read(&target).unwrap(), b"precious");
    shannon()
        .args(["compress", "-f"])
        .arg(&file)
        .assert()
        .success();
    assert_ne!(fs::read(&target).unwrap(), b"precious");
}

#[test]
fn rm_removes_the_input_only_after_success() {
    let (dir, file) = setup("canterbury/cp.html");
    let original = fs::read(&file).unwrap();
    shannon()
        .args(["compress", "--rm"])
        .arg(&file)
        .assert()
        .success();
    assert!(!file.exists());
    let packed = shc(&file);
    shannon()
        .args(["decompress", "--rm"])
        .arg(&packed)
        .assert()
        .success();
    assert!(!packed.exists());
    assert_eq!(fs::read(&file).unwrap(), original);
    // A failing run keeps its input.
    fs::write(&packed, b"not shannon").unwrap();
    fs::remove_file(&file).unwrap();
    shannon()
        .args(["decompress", "--rm"])
        .arg(&packed)
        .assert()
        .code(1);
    assert!(packed.exists());
    assert_eq!(entries(dir.path()), ["cp.html.shc"]);
}

#[test]
fn test_and_info_describe_a_good_file() {
    let (_dir, file) = setup("calgary/paper1");
    shannon().arg("compress").arg(&file).assert().success();
    let packed = shc(&file);
    shannon()
        .arg("test")
        .arg(&packed)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok"));
    shannon()
        .arg("info")
        .arg(&packed)
        .assert()
        .success()
        .stdout(predicate::str::contains("adaptive order-4 arithmetic"))
        .stdout(predicate::str::contains("raw:         53161 bytes"))
        .stdout(predicate::str::contains(format!(
            "format:      version {}\n",
            shannon::format::VERSION
        )))
        .stdout(predicate::str::contains("bits/byte"))
        .stdout(predicate::str::contains("checksums:   ok"));
}

/// `info` names the format version of the file, not of this build.
#[test]
fn info_names_an_older_files_version() {
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v4/grammar.lsp.f0-rans.shc");
    shannon()
        .arg("info")
        .arg(&old)
        .assert()
        .success()
        .stdout(predicate::str::contains("format:      version 4\n"));
}

/// Compresses a corpus file, damages the result with `damage`, and checks that
/// decompression fails with `message`, exit 1, and leaves no output file behind.
fn damaged(damage: impl Fn(&mut Vec<u8>), message: &str) {
    let (dir, file) = setup("calgary/paper2");
    shannon().arg("compress").arg(&file).assert().success();
    let packed = shc(&file);
    fs::remove_file(&file).unwrap();
    let mut bytes = fs::read(&packed).unwrap();
    damage(&mut bytes);
    fs::write(&packed, &bytes).unwrap();
    shannon()
        .arg("decompress")
        .arg(&packed)
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("shannon: "))
        .stderr(predicate::str::contains(message));
    assert_eq!(entries(dir.path()), ["paper2.shc"], "no output left behind");
    shannon().arg("test").arg(&packed).assert().code(1);
}

#[test]
fn truncated_file_is_an_error() {
    damaged(|b| b.truncate(b.len() / 2), "truncated");
}

#[test]
fn flipped_payload_bit_is_an_error() {
    damaged(|b| b[200] ^= 0x10, "damaged");
}

#[test]
fn flipped_header_bit_is_an_error() {
    damaged(|b| b[6] ^= 0x01, "header");
}

#[test]
fn foreign_file_is_an_error() {
    damaged(|b| b[0] = b'P', "not a shannon file");
}

#[test]
fn unknown_suffix_and_directories_are_refused() {
    let (dir, file) = setup("canterbury/xargs.1");
    shannon()
        .arg("decompress")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("suffix"));
    shannon()
        .arg("compress")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("directory"));
    shannon().arg("compress").arg(&file).assert().success();
    shannon()
        .arg("compress")
        .arg(shc(&file))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already has the .shc suffix"));
}

#[test]
fn usage_errors_exit_2() {
    shannon()
        .args(["compress", "--coder", "zip"])
        .assert()
        .code(2);
    shannon()
        .args(["compress", "--block-size", "12Q"])
        .assert()
        .code(2);
    shannon()
        .args(["compress", "--model", "adaptive", "--coder", "huffman"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("static"));
}

#[test]
fn empty_input_is_a_valid_file() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("empty");
    fs::write(&file, b"").unwrap();
    shannon().arg("compress").arg(&file).assert().success();
    fs::remove_file(&file).unwrap();
    shannon()
        .arg("decompress")
        .arg(shc(&file))
        .assert()
        .success();
    assert_eq!(fs::read(&file).unwrap(), b"");
}

#[test]
fn info_codes_shows_huffman_beside_ideal_lengths() {
    let (_dir, file) = setup("canterbury/grammar.lsp");
    shannon().arg("compress").arg(&file).assert().success();
    shannon()
        .args(["info", "--codes"])
        .arg(shc(&file))
        .assert()
        .success()
        .stdout(predicate::str::contains("-log2 p"))
        .stdout(predicate::str::contains("code word"))
        .stdout(predicate::str::contains("entropy H0"));
    shannon()
        .args(["info", "--codes", "--block", "7"])
        .arg(shc(&file))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("block 7 does not exist"));
}

#[test]
fn info_says_which_order_static_blocks_used() {
    let dir = TempDir::new().unwrap();
    // 3000 bytes cannot pay for order-3 tables: the encoder falls back to a lower order.
    let small = dir.path().join("small");
    let text = fs::read(corpus("canterbury/alice29.txt")).unwrap();
    fs::write(&small, &text[..3000]).unwrap();
    shannon()
        .args(["compress", "--model", "static", "--order", "3"])
        .arg(&small)
        .assert()
        .success();
    let out = shannon().arg("info").arg(shc(&small)).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("orders used"))
        .expect("orders line");
    assert!(!line.contains("order 3"), "{line}");
    assert!(line.contains("in 1 block"), "{line}");
}
