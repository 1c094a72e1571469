//! Downloading pinned packages with the registries' own clients.
//!
//! Only `python3 -m pip download` and `npm pack` touch the network: this
//! crate has no HTTP client of its own, so proxies, mirrors, certificates
//! and credentials are whatever those clients are configured with.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::digest::Sha256Digest;
use crate::error::{FetchError, Result};
use crate::install::StagingDir;

/// Environment variable naming the Python interpreter that runs pip.
pub const PYTHON_ENV: &str = "CRYPTOTL_PYTHON";

/// Environment variable naming the npm client.
pub const NPM_ENV: &str = "CRYPTOTL_NPM";

/// The interpreter version pip downloads wheels for: a pinned file must not
/// depend on the Python that happens to be installed.
const PIP_PYTHON_VERSION: &str = "3.11";

/// A package registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registry {
    /// The Python Package Index, fetched with `python3 -m pip download`.
    PyPi,
    /// The npm registry, fetched with `npm pack`.
    Npm,
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Registry::PyPi => "PyPI",
            Registry::Npm => "npm",
        })
    }
}

/// One exact version of one package of a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackageSpec<'a> {
    /// The registry.
    pub registry: Registry,
    /// The package name as the registry spells it.
    pub name: &'a str,
    /// The exact version.
    pub version: &'a str,
}

impl<'a> PackageSpec<'a> {
    /// A PyPI distribution.
    pub const fn pypi(name: &'a str, version: &'a str) -> Self {
        PackageSpec {
            registry: Registry::PyPi,
            name,
            version,
        }
    }

    /// An npm package.
    pub const fn npm(name: &'a str, version: &'a str) -> Self {
        PackageSpec {
            registry: Registry::Npm,
            name,
            version,
        }
    }

    /// The requirement given to the client: `name==version` for PyPI,
    /// `name@version` for npm.
    pub fn requirement(&self) -> String {
        match self.registry {
            Registry::PyPi => format!("{}=={}", self.name, self.version),
            Registry::Npm => format!("{}@{}", self.name, self.version),
        }
    }
}

/// Which registry clients run, and how talkative fetching is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchOptions {
    /// Python interpreter that runs pip. Default: `$CRYPTOTL_PYTHON`, else
    /// `python3`.
    pub python: OsString,
    /// npm client. Default: `$CRYPTOTL_NPM`, else `npm`.
    pub npm: OsString,
    /// Suppress progress messages and the clients' output (errors are
    /// still returned).
    pub quiet: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        let program = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| default.into())
        };
        FetchOptions {
            python: program(PYTHON_ENV, "python3"),
            npm: program(NPM_ENV, "npm"),
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

    /// Uses another npm client.
    pub fn with_npm(mut self, npm: impl Into<OsString>) -> Self {
        self.npm = npm.into();
        self
    }

    /// Turns progress messages off or on.
    pub fn with_quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Prints `cryptotl-fetch: <message>` on stderr unless quiet.
    fn say(&self, message: &str) {
        if !self.quiet {
            eprintln!("cryptotl-fetch: {message}");
        }
    }
}

/// Downloads `package` with its registry's client into the existing
/// directory `dir` and returns the path of the one file it saved.
///
/// PyPI: `python3 -m pip download <name>==<version> --no-deps
/// --only-binary=:all: --python-version 3.11 --disable-pip-version-check
/// --no-input -d <dir>` (a wheel, the same one whatever the local Python).
/// npm: `npm pack <name>@<version> --ignore-scripts --loglevel=error
/// --pack-destination <dir>`, run in `dir`. The client's output goes to
/// stderr unless [`FetchOptions::quiet`]. Nothing is verified here: see
/// [`fetch_pinned`].
///
/// # Errors
///
/// [`FetchError::ClientNotFound`] when the client cannot be started,
/// [`FetchError::PipNotAvailable`], [`FetchError::ClientFailed`] with the
/// end of its error output, [`FetchError::UnexpectedDownload`] when it did
/// not leave exactly one new file, [`FetchError::Io`].
pub fn download(package: PackageSpec<'_>, dir: &Path, options: &FetchOptions) -> Result<PathBuf> {
    let requirement = package.requirement();
    let before = entry_names(dir)?;
    let (program, env_var, mut command) = match package.registry {
        Registry::PyPi => {
            let mut command = Command::new(&options.python);
            command
                .args(["-m", "pip", "download", requirement.as_str(), "--no-deps"])
                .args([
                    "--only-binary=:all:",
                    "--python-version",
                    PIP_PYTHON_VERSION,
                ])
                .args(["--disable-pip-version-check", "--no-input", "-d"])
                .arg(dir);
            (&options.python, PYTHON_ENV, command)
        }
        Registry::Npm => {
            let mut command = Command::new(&options.npm);
            command
                .args(["pack", requirement.as_str(), "--ignore-scripts"])
                .args(["--loglevel=error", "--pack-destination"])
                .arg(dir)
                .current_dir(dir);
            (&options.npm, NPM_ENV, command)
        }
    };
    options.say(&format!(
        "downloading {requirement} from {}",
        package.registry
    ));
    let output = command
        .stdin(Stdio::null())
        // The clients' progress goes to stdout: show it on our stderr.
        .stdout(if options.quiet {
            Stdio::null()
        } else {
            Stdio::from(io::stderr())
        })
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| FetchError::ClientNotFound {
            program: display(program),
            env_var,
            source,
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if package.registry == Registry::PyPi && stderr.contains("No module named pip") {
            return Err(FetchError::PipNotAvailable {
                program: display(program),
                detail: tail(&stderr),
            });
        }
        return Err(FetchError::ClientFailed {
            program: display(program),
            requirement,
            status: output.status,
            detail: tail(&stderr),
        });
    }
    if !options.quiet && !stderr.trim().is_empty() {
        // Warnings of a successful run.
        let _ = io::stderr().write_all(stderr.as_bytes());
    }
    let new: Vec<String> = entry_names(dir)?
        .into_iter()
        .filter(|name| !before.contains(name))
        .collect();
    match new.as_slice() {
        [one] if dir.join(one).is_file() => Ok(dir.join(one)),
        _ => Err(FetchError::UnexpectedDownload {
            requirement,
            dir: dir.to_path_buf(),
            found: new,
        }),
    }
}

/// Makes the file `target` hold the archive of `package` whose SHA-256 is
/// `sha256` (hex), and returns `target`.
///
/// A file already at `target` with that digest is kept without network
/// access; one with another digest is removed and downloaded again. The
/// download goes to a hidden staging directory next to `target`, is
/// verified, and only then renamed to `target`, so `target` never holds
/// anything but the pinned file.
///
/// # Errors
///
/// [`FetchError::InvalidSha256`] for a malformed pin, the errors of
/// [`download`], [`FetchError::ChecksumMismatch`] (naming the downloaded
/// file) when the registry serves other bytes, [`FetchError::Io`].
pub fn fetch_pinned(
    package: PackageSpec<'_>,
    sha256: &str,
    target: &Path,
    options: &FetchOptions,
) -> Result<PathBuf> {
    let expected = Sha256Digest::from_hex(sha256)?;
    if target.is_file() {
        let found = Sha256Digest::of_file(target)?;
        if found == expected {
            return Ok(target.to_path_buf());
        }
        options.say(&format!(
            "cached {} has SHA-256 {found}, expected {expected}; downloading it again",
            target.display()
        ));
        fs::remove_file(target).map_err(|e| FetchError::io("removing", target, e))?;
    }
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let label = target
        .file_name()
        .map_or_else(|| "download".into(), OsStr::to_string_lossy);
    let staging = StagingDir::create(parent, &label)?;
    let downloaded = download(package, staging.scratch(), options)?;
    Sha256Digest::of_file(&downloaded)?.ensure_matches(sha256, &downloaded)?;
    fs::rename(&downloaded, target)
        .map_err(|e| FetchError::io("renaming a download to", target, e))?;
    options.say(&format!(
        "verified {} (SHA-256 {expected})",
        target.display()
    ));
    Ok(target.to_path_buf())
}

/// The names of the entries of `dir`.
fn entry_names(dir: &Path) -> Result<HashSet<String>> {
    let listing = |e| FetchError::io("listing", dir, e);
    let mut names = HashSet::new();
    for entry in fs::read_dir(dir).map_err(listing)? {
        let entry = entry.map_err(listing)?;
        names.insert(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn display(program: &OsStr) -> String {
    program.to_string_lossy().into_owned()
}

/// The last lines of a client's error output, enough to see what failed.
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

    #[test]
    fn requirements() {
        assert_eq!(PackageSpec::pypi("a-b", "1.0").requirement(), "a-b==1.0");
        assert_eq!(
            PackageSpec::npm("@stdlib/x", "0.2.3").requirement(),
            "@stdlib/x@0.2.3"
        );
        assert_eq!(Registry::PyPi.to_string(), "PyPI");
        assert_eq!(Registry::Npm.to_string(), "npm");
    }

    #[test]
    fn missing_clients_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let options = FetchOptions::default()
            .with_python("/nonexistent/python3")
            .with_npm("/nonexistent/npm")
            .with_quiet(true);
        for (package, env) in [
            (PackageSpec::pypi("x", "1"), PYTHON_ENV),
            (PackageSpec::npm("x", "1"), NPM_ENV),
        ] {
            match download(package, dir.path(), &options).unwrap_err() {
                FetchError::ClientNotFound {
                    program,
                    env_var,
                    source,
                } => {
                    assert!(program.starts_with("/nonexistent/"), "{program}");
                    assert_eq!(env_var, env);
                    assert_eq!(source.kind(), io::ErrorKind::NotFound);
                }
                other => panic!("expected ClientNotFound, got {other}"),
            }
        }
    }
}
