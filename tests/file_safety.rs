//! The CLI never loses or half-writes a file: metadata is kept, a full disk or a
//! read-only directory fails cleanly, Ctrl-C leaves nothing behind, special files are
//! refused.
//!
//! The disk tests mount small tmpfs file systems, which needs root (CI runs as root);
//! where mounting is not allowed they say so on stderr and check nothing else.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command as Proc, Stdio};
use std::time::{Duration, SystemTime};

mod common;

use common::{corpus, entries, shannon};
use predicates::prelude::*;
use tempfile::TempDir;

#[test]
fn permissions_and_modification_time_are_kept() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("paper3");
    fs::copy(corpus("calgary/paper3"), &file).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    shannon()
        .args(["compress", "--rm"])
        .arg(&file)
        .assert()
        .success();
    let packed = dir.path().join("paper3.shc");
    let meta = fs::metadata(&packed).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(meta.modified().unwrap(), mtime);
    shannon().arg("decompress").arg(&packed).assert().success();
    let meta = fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(meta.modified().unwrap(), mtime);
}

#[test]
fn special_files_are_refused() {
    let dir = TempDir::new().unwrap();
    shannon()
        .args(["compress", "-o"])
        .arg(dir.path().join("null.shc"))
        .arg("/dev/null")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a regular file"));
    assert!(entries(dir.path()).is_empty());
}

/// A tmpfs of `size` at a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Option<Tmpfs> {
        let dir = TempDir::new().unwrap();
        let ok = Proc::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: cannot mount tmpfs here (not root?); disk test not run");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Proc::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn full_disk_fails_cleanly_and_leaves_nothing() {
    let Some(disk) = Tmpfs::mount("size=64k") else {
        return;
    };
    // kennedy.xls compresses to about 200 KB, more than the disk holds.
    let out = disk.path().join("kennedy.xls.shc");
    shannon()
        .args(["compress", "-o"])
        .arg(&out)
        .arg(corpus("canterbury/kennedy.xls"))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("shannon: "))
        .stderr(predicate::str::contains("space"));
    assert!(
        entries(disk.path()).is_empty(),
        "{:?}",
        entries(disk.path())
    );
}

#[test]
fn read_only_directory_fails_cleanly() {
    let Some(disk) = Tmpfs::mount("ro,size=64k") else {
        return;
    };
    shannon()
        .args(["compress", "-o"])
        .arg(disk.path().join("x.shc"))
        .arg(corpus("canterbury/xargs.1"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Read-only file system"));
    assert!(entries(disk.path()).is_empty());
}

#[test]
fn interrupt_removes_the_temporary_file() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("partial.shc");
    let mut child = Proc::new(env!("CARGO_BIN_EXE_shannon"))
        .args(["compress", "-o"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Keep stdin open so the compressor waits for more input with its temporary file
    // in place.
    let stdin = child.stdin.take().unwrap();
    let mut waited = 0;
    while entries(dir.path()).is_empty() && waited < 500 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    assert_eq!(entries(dir.path()).len(), 1, "temporary file not created");
    let pid = child.id().to_string();
    assert!(
        Proc::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(130));
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn output_without_an_input_file_gets_ordinary_permissions() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("from-stdin.shc");
    shannon()
        .args(["compress", "-o"])
        .arg(&out)
        .write_stdin(fs::read(corpus("canterbury/xargs.1")).unwrap())
        .assert()
        .success();
    // 0666 less the umask: at least readable by the group and others under the usual
    // umasks (022, 002), never the temporary file's private 0600.
    let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
}
