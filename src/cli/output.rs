//! Output files that appear complete or not at all.
//!
//! Content goes to a temporary file in the target's directory; only when it is complete
//! and synced is it renamed over the target name (refusing to replace an existing file
//! unless forced). Dropping an unfinished [`AtomicOutput`] removes the temporary file, and
//! so does Ctrl-C: the signal handler deletes every temporary file still registered here
//! before the process exits.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tempfile::NamedTempFile;

/// Temporary files in flight, for the Ctrl-C handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the Ctrl-C (SIGINT/SIGTERM) handler that removes temporary files, then
/// exits with status 130. Safe to call more than once.
pub fn install_interrupt_cleanup() {
    let _ = ctrlc::set_handler(|| {
        if let Ok(live) = LIVE.lock() {
            for p in live.iter() {
                let _ = fs::remove_file(p);
            }
        }
        std::process::exit(130);
    });
}

fn register(p: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(p.to_path_buf());
    }
}

fn unregister(p: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|q| q != p);
    }
}

/// A file being written under a temporary name next to its final `target`.
pub struct AtomicOutput {
    temp: Option<NamedTempFile>,
    writer: Option<BufWriter<File>>,
    target: PathBuf,
}

impl AtomicOutput {
    /// Creates the temporary file. Fails at once if `target` exists and `force` is off,
    /// so no work is wasted (the final rename checks again).
    pub fn create(target: &Path, force: bool) -> io::Result<AtomicOutput> {
        if !force && fs::symlink_metadata(target).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists (use -f to overwrite)", target.display()),
            ));
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Created with mode 0666 less the umask, like any new file; `commit` then copies
        // the input's permissions when there is an input file.
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)?;
        register(temp.path());
        let writer = BufWriter::with_capacity(1 << 20, temp.reopen()?);
        Ok(AtomicOutput {
            temp: Some(temp),
            writer: Some(writer),
            target: target.to_path_buf(),
        })
    }

    /// The writer for the content.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer lives until commit")
    }

    /// Flushes and syncs the content, gives it `like`'s permissions and modification
    /// time (when given), and renames it into place.
    pub fn commit(mut self, force: bool, like: Option<&fs::Metadata>) -> io::Result<()> {
        let writer = self.writer.take().expect("commit once");
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        if let Some(meta) = like {
            file.set_permissions(meta.permissions())?;
            if let Ok(mtime) = meta.modified() {
                file.set_modified(mtime)?;
            }
        }
        file.sync_all()?;
        drop(file);
        let temp = self.temp.take().expect("commit once");
        let temp_path = temp.path().to_path_buf();
        let result = if force {
            temp.persist(&self.target).map(drop)
        } else {
            temp.persist_noclobber(&self.target).map(drop)
        };
        unregister(&temp_path);
        match result {
            Ok(()) => {
                sync_parent(&self.target);
                Ok(())
            }
            Err(e) => {
                if e.error.kind() == io::ErrorKind::AlreadyExists {
                    Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "{} already exists (use -f to overwrite)",
                            self.target.display()
                        ),
                    ))
                } else {
                    Err(e.error)
                }
            }
        }
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        self.writer.take();
        if let Some(t) = self.temp.take() {
            let p = t.path().to_path_buf();
            drop(t); // removes the file
            unregister(&p);
        }
    }
}

/// Syncs the directory holding `path`, so that a rename is durable before the input is
/// removed. Best effort: not every file system allows opening a directory.
pub fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
