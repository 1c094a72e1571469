//! Crash-safe file-system helpers.
//!
//! Everything is first written under a name that starts with a dot and
//! carries the process id and a counter, then renamed into place. A rename
//! within one directory is atomic on POSIX file systems, so readers see either
//! the old state or the complete new one, never a half-written file or model.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{EmbedError, Result};

/// A name no other process or thread uses at the same time.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory that is deleted, with its contents, when dropped.
///
/// It is created next to its final destination so that moving things out of
/// it is a rename on the same file system.
#[derive(Debug)]
pub(crate) struct StagingDir {
    path: PathBuf,
}

impl StagingDir {
    /// Creates `<parent>/.<label>.partial-<unique>`.
    pub(crate) fn create(parent: &Path, label: &str) -> Result<Self> {
        let path = parent.join(format!(".{label}.partial-{}", unique_suffix()));
        fs::create_dir_all(&path)
            .map_err(|e| EmbedError::io(format!("creating {}", path.display()), e))?;
        Ok(StagingDir { path })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        // Best effort: a leftover staging directory wastes space but is never
        // mistaken for a model, because its name starts with a dot.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes `bytes` to `path` so that `path` holds either its old content or
/// all of `bytes`, even if the process dies in between.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let tmp = parent.join(format!(".{name}.tmp-{}", unique_suffix()));
    let result = write_and_sync(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| {
            EmbedError::io(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            )
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<()> {
    let context = || format!("writing {}", path.display());
    let mut file = File::create(path).map_err(|e| EmbedError::io(context(), e))?;
    file.write_all(bytes)
        .map_err(|e| EmbedError::io(context(), e))?;
    file.sync_all().map_err(|e| EmbedError::io(context(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cryptotl-embed-atomic-{name}-{}", unique_suffix()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn staging_dir_is_removed_on_drop() {
        let parent = scratch("staging");
        let path = {
            let staging = StagingDir::create(&parent, "model").unwrap();
            fs::write(staging.path().join("f"), b"x").unwrap();
            assert!(staging.path().is_dir());
            staging.path().to_path_buf()
        };
        assert!(!path.exists());
        fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = scratch("write");
        let path = dir.join("data.bin");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let entries: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "temporary files left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_into_missing_directory_fails_cleanly() {
        let dir = scratch("missing");
        let path = dir.join("no-such-dir").join("data.bin");
        assert!(matches!(
            write_atomically(&path, b"x"),
            Err(EmbedError::Io { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
