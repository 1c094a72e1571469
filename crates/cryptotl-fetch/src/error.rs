//! The error type of `cryptotl-fetch`.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use thiserror::Error;

/// Everything that can go wrong while locating the cache, downloading a
/// package, verifying a digest, extracting an archive or installing files.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A file-system operation failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What was being done, e.g. `"creating"`.
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No cache directory could be determined from the environment.
    #[error("no cache directory: set CRYPTOTL_CACHE, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    /// A registry client (`python3`, `npm`) could not be started.
    #[error("cannot run `{program}` ({source}); install it or point {env_var} at it")]
    ClientNotFound {
        /// The program that was tried.
        program: String,
        /// The environment variable that selects another program.
        env_var: &'static str,
        /// Why it could not be started.
        #[source]
        source: io::Error,
    },
    /// The Python interpreter has no pip module.
    #[error("`{program} -m pip` is not available: {detail}")]
    PipNotAvailable {
        /// The Python interpreter that was tried.
        program: String,
        /// What the interpreter reported.
        detail: String,
    },
    /// A registry client ran but did not download the package (network,
    /// unknown package or version, ...).
    #[error("`{program}` could not download {requirement} ({status}): {detail}")]
    ClientFailed {
        /// The program that was run.
        program: String,
        /// The requirement it was asked for (`name==version`, `name@version`).
        requirement: String,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its error output.
        detail: String,
    },
    /// A registry client reported success but did not leave exactly one new
    /// file in the download directory.
    #[error(
        "expected one new file in {} after downloading {requirement}, found {found:?}",
        .dir.display()
    )]
    UnexpectedDownload {
        /// The requirement that was downloaded.
        requirement: String,
        /// The download directory.
        dir: PathBuf,
        /// The new entries found there.
        found: Vec<String>,
    },
    /// A file does not have its pinned SHA-256.
    #[error(
        "checksum mismatch for {}: expected SHA-256 {expected}, got {actual}",
        .path.display()
    )]
    ChecksumMismatch {
        /// The file that failed verification.
        path: PathBuf,
        /// The pinned digest (lower-case hex).
        expected: String,
        /// The digest of the file (lower-case hex).
        actual: String,
    },
    /// A pinned digest is not 64 hexadecimal digits.
    #[error("{value:?} is not a SHA-256 digest (64 hexadecimal digits)")]
    InvalidSha256 {
        /// The offending text.
        value: String,
    },
    /// A file is not a zip, tar or gzip-compressed tar archive.
    #[error("{} is not a zip, tar or gzip-compressed tar archive", .archive.display())]
    UnknownFormat {
        /// The file.
        archive: PathBuf,
    },
    /// A zip archive is truncated or corrupt (bad central directory, bad
    /// local header, unsupported compression).
    #[error("corrupt or truncated zip archive {}: {source}", .archive.display())]
    Zip {
        /// The archive.
        archive: PathBuf,
        /// What the zip reader reported.
        #[source]
        source: zip::result::ZipError,
    },
    /// An archive could not be decoded: a truncated or corrupt gzip stream
    /// or tar header, a member whose data is cut short or fails its CRC.
    /// A truncated archive has a source of kind
    /// [`io::ErrorKind::UnexpectedEof`].
    #[error(
        "corrupt or truncated archive {}{}: {source}",
        .archive.display(),
        in_member(.member)
    )]
    Corrupt {
        /// The archive.
        archive: PathBuf,
        /// The member being read, when the damage is inside one.
        member: Option<String>,
        /// The decoding error.
        #[source]
        source: io::Error,
    },
    /// A requested member is not in the archive.
    #[error("archive {} has no {member}", .archive.display())]
    MissingMember {
        /// The archive.
        archive: PathBuf,
        /// The member that was asked for.
        member: String,
    },
    /// A requested member occurs more than once, or two members would be
    /// written to the same output name.
    #[error("archive {} has more than one {member}", .archive.display())]
    DuplicateMember {
        /// The archive.
        archive: PathBuf,
        /// The member (or output name) that occurs twice.
        member: String,
    },
    /// A member is larger than the extraction limit (a decompression bomb
    /// or the wrong archive).
    #[error("{member} in {} is larger than {limit} bytes", .archive.display())]
    MemberTooLarge {
        /// The archive.
        archive: PathBuf,
        /// The member.
        member: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// An output name is not a plain relative path (it is empty, absolute,
    /// or has `..`, `.`, empty components, backslashes, colons or NUL).
    #[error("output name {name:?} is not a plain relative path")]
    UnsafeOutputName {
        /// The rejected name.
        name: String,
    },
}

/// `" (member <name>)"`, or nothing.
fn in_member(member: &Option<String>) -> String {
    member
        .as_ref()
        .map(|m| format!(" (member {m})"))
        .unwrap_or_default()
}

impl FetchError {
    /// A [`FetchError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FetchError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, FetchError>;
