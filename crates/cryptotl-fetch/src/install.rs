//! Crash-safe installs: staging directories and atomic file writes.
//!
//! Everything is first written under a name that starts with a dot and
//! carries the process id, a time stamp and a counter, in the same parent
//! directory as its destination, then renamed into place. A rename within
//! one file system is atomic, so readers see either the old state or the
//! complete new one, never a half-written file or directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FetchError, Result};

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

/// A hidden staging directory next to a destination, deleted with its
/// contents when dropped unless [`StagingDir::commit`] moved its
/// [`dir`](StagingDir::dir) into place.
///
/// Layout: `<parent>/.<label>.partial-<unique>/` holding `content/` (what
/// becomes the destination) and `scratch/` (downloads and other
/// intermediate files, deleted with the staging directory). Because the
/// name starts with a dot and differs from the destination, an interrupted
/// install never leaves anything that looks like a complete destination.
#[derive(Debug)]
pub struct StagingDir {
    root: PathBuf,
    content: PathBuf,
    scratch: PathBuf,
}

/// The outcome of [`StagingDir::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed<T> {
    /// The staged content is now the destination.
    Installed,
    /// The destination already held a complete copy (for instance one that
    /// another process installed meanwhile); it was kept, and the staged
    /// content discarded. Holds what the completeness check returned.
    Kept(T),
}

impl StagingDir {
    /// Creates `<parent>/.<label>.partial-<unique>/` with empty `content/`
    /// and `scratch/` directories, creating `parent` first if needed.
    ///
    /// # Errors
    ///
    /// [`FetchError::Io`] when a directory cannot be created.
    pub fn create(parent: &Path, label: &str) -> Result<Self> {
        fs::create_dir_all(parent).map_err(|e| FetchError::io("creating", parent, e))?;
        let root = parent.join(format!(".{label}.partial-{}", unique_suffix()));
        fs::create_dir(&root).map_err(|e| FetchError::io("creating", &root, e))?;
        let staging = StagingDir {
            content: root.join("content"),
            scratch: root.join("scratch"),
            root,
        };
        // From here on, dropping `staging` removes what was created.
        for dir in [&staging.content, &staging.scratch] {
            fs::create_dir(dir).map_err(|e| FetchError::io("creating", dir, e))?;
        }
        Ok(staging)
    }

    /// The directory that [`StagingDir::commit`] moves into place.
    pub fn dir(&self) -> &Path {
        &self.content
    }

    /// Scratch space on the same file system, deleted with the staging
    /// directory.
    pub fn scratch(&self) -> &Path {
        &self.scratch
    }

    /// Moves [`dir`](StagingDir::dir) to `target` (on the same file system:
    /// `target` should be in the `parent` given to [`StagingDir::create`]).
    ///
    /// `existing` checks a directory that is already at `target`: when it
    /// returns `Some`, that copy is complete and is kept
    /// ([`Committed::Kept`]); otherwise it is stale, and replaced. It is
    /// asked again if the final rename fails, in case another process
    /// installed `target` at the same moment.
    ///
    /// # Errors
    ///
    /// [`FetchError::Io`] when the stale copy cannot be moved aside or the
    /// rename fails.
    pub fn commit<T>(
        self,
        target: &Path,
        existing: impl Fn(&Path) -> Option<T>,
    ) -> Result<Committed<T>> {
        if target.is_dir() {
            if let Some(kept) = existing(target) {
                return Ok(Committed::Kept(kept));
            }
        }
        // Move a stale copy out of the way; it is deleted with the staging dir.
        match fs::rename(target, self.root.join("previous")) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FetchError::io("moving aside", target, e)),
        }
        match fs::rename(&self.content, target) {
            Ok(()) => Ok(Committed::Installed),
            Err(e) => match existing(target) {
                Some(kept) => Ok(Committed::Kept(kept)),
                None => Err(FetchError::io("renaming a staging directory to", target, e)),
            },
        }
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        // Best effort: a leftover staging directory wastes space but is never
        // mistaken for a destination, because its name starts with a dot.
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Writes `bytes` to `path` so that `path` holds either its old content or
/// all of `bytes`, even if the process dies in between: the bytes go to a
/// hidden temporary file in the same directory, which is synced and renamed.
///
/// # Errors
///
/// [`FetchError::Io`] when the directory does not exist or writing or
/// renaming fails; the temporary file is removed.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let tmp = parent.join(format!(".{name}.tmp-{}", unique_suffix()));
    let result = write_and_sync(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| FetchError::io("renaming a temporary file to", path, e))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create_new(path).map_err(|e| FetchError::io("creating", path, e))?;
    file.write_all(bytes)
        .map_err(|e| FetchError::io("writing", path, e))?;
    file.sync_all()
        .map_err(|e| FetchError::io("syncing", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn staging_dir_is_hidden_and_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        {
            let staging = StagingDir::create(parent.path(), "model").unwrap();
            fs::write(staging.dir().join("f"), b"x").unwrap();
            fs::write(staging.scratch().join("g"), b"y").unwrap();
            let entries = names(parent.path());
            assert_eq!(entries.len(), 1);
            assert!(entries[0].starts_with(".model.partial-"), "{entries:?}");
        }
        assert!(names(parent.path()).is_empty());
    }

    #[test]
    fn commit_installs_replaces_stale_and_keeps_complete_copies() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("thing");

        let staging = StagingDir::create(parent.path(), "thing").unwrap();
        fs::write(staging.dir().join("v"), b"1").unwrap();
        let done = staging.commit(&target, |_| None::<()>).unwrap();
        assert_eq!(done, Committed::Installed);
        assert_eq!(fs::read(target.join("v")).unwrap(), b"1");

        // A stale copy (the check says incomplete) is replaced.
        let staging = StagingDir::create(parent.path(), "thing").unwrap();
        fs::write(staging.dir().join("v"), b"2").unwrap();
        let done = staging.commit(&target, |_| None::<()>).unwrap();
        assert_eq!(done, Committed::Installed);
        assert_eq!(fs::read(target.join("v")).unwrap(), b"2");

        // A complete copy is kept, and the check's answer returned.
        let staging = StagingDir::create(parent.path(), "thing").unwrap();
        fs::write(staging.dir().join("v"), b"3").unwrap();
        let done = staging
            .commit(&target, |dir| fs::read(dir.join("v")).ok())
            .unwrap();
        assert_eq!(done, Committed::Kept(b"2".to_vec()));
        assert_eq!(fs::read(target.join("v")).unwrap(), b"2");
        assert_eq!(names(parent.path()), vec!["thing".to_string()]);
    }

    #[test]
    fn commit_replaces_a_file_in_the_way() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("thing");
        fs::write(&target, b"not a directory").unwrap();
        let staging = StagingDir::create(parent.path(), "thing").unwrap();
        fs::write(staging.dir().join("v"), b"1").unwrap();
        staging.commit(&target, |_| Some(())).unwrap();
        assert_eq!(fs::read(target.join("v")).unwrap(), b"1");
        assert_eq!(names(parent.path()), vec!["thing".to_string()]);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        write_file_atomically(&path, b"first").unwrap();
        write_file_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(dir.path()), vec!["data.bin".to_string()]);
    }

    #[test]
    fn atomic_write_into_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("data.bin");
        assert!(matches!(
            write_file_atomically(&path, b"x"),
            Err(FetchError::Io { .. })
        ));
        assert!(names(dir.path()).is_empty());
    }
}
