//! Helpers shared by the test files.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `shannon` binary under test.
pub fn shannon() -> Command {
    Command::cargo_bin("shannon").unwrap()
}

/// A bundled corpus file, e.g. `corpus("calgary/book1")`.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpora")
        .join(name)
}

/// The bytes of a bundled corpus file, e.g. `corpus_bytes("calgary/book1")`.
pub fn corpus_bytes(name: &str) -> Vec<u8> {
    fs::read(corpus(name)).unwrap()
}

/// The names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
