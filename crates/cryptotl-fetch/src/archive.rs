//! Reading package archives in Rust: zip (PyPI wheels), tar and
//! gzip-compressed tar (npm tarballs, Python sdists).
//!
//! Only regular files are extracted, only those the caller asks for, and
//! always to output names the caller chooses: a fixed name per
//! [`Member`], or the name a selector returns. Output names are checked to
//! be plain relative paths and files are created new (never overwritten,
//! never through an existing link), so an archive cannot write outside the
//! destination (no "zip slip"). Damaged archives are errors, never panics:
//! a zip's CRC is checked, a gzip stream is read to its trailer, a tar
//! stream must reach its end-of-archive marker, and every member must have
//! its declared size.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::digest::Sha256Digest;
use crate::error::{FetchError, Result};

/// Default largest member size accepted by an [`Archive`] (1 GiB): a guard
/// against decompression bombs, see [`Archive::with_max_member_bytes`].
pub const DEFAULT_MAX_MEMBER_BYTES: u64 = 1 << 30;

/// Bytes copied at a time.
const BUFFER_BYTES: usize = 1 << 16;

/// An archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    /// A zip file (PyPI wheels); stored and deflate members.
    Zip,
    /// An uncompressed tar file.
    Tar,
    /// A gzip-compressed tar file (npm tarballs, Python sdists).
    TarGz,
}

impl ArchiveFormat {
    /// Recognizes the format of a file from its first bytes (zip local or
    /// end-of-central-directory signature, gzip magic, or the `ustar` magic
    /// of a tar header).
    ///
    /// # Errors
    ///
    /// [`FetchError::UnknownFormat`] for anything else, [`FetchError::Io`]
    /// when the file cannot be read.
    pub fn detect(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| FetchError::io("opening", path, e))?;
        let mut head = Vec::with_capacity(512);
        file.take(512)
            .read_to_end(&mut head)
            .map_err(|e| FetchError::io("reading", path, e))?;
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Ok(ArchiveFormat::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Ok(ArchiveFormat::TarGz)
        } else if head.get(257..262) == Some(b"ustar") {
            Ok(ArchiveFormat::Tar)
        } else {
            Err(FetchError::UnknownFormat {
                archive: path.to_path_buf(),
            })
        }
    }
}

/// A member to extract and the output name to write it to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    pattern: String,
    suffix: bool,
    output: String,
}

impl Member {
    /// The member whose path in the archive is exactly `path`, written to
    /// `output` (a plain relative path under the destination).
    pub fn exact(path: impl Into<String>, output: impl Into<String>) -> Self {
        Member {
            pattern: path.into(),
            suffix: false,
            output: output.into(),
        }
    }

    /// The member whose path is `suffix` or ends with `/<suffix>`, written
    /// to `output`. Useful when one file sits under a version-dependent
    /// top directory (`pkg-1.0/pkg/model/x` in an sdist, `pkg/model/x` in a
    /// wheel).
    pub fn suffix(suffix: impl Into<String>, output: impl Into<String>) -> Self {
        Member {
            pattern: suffix.into(),
            suffix: true,
            output: output.into(),
        }
    }

    /// Whether the archive path `name` is this member.
    pub fn matches(&self, name: &str) -> bool {
        if name == self.pattern {
            return true;
        }
        self.suffix
            && name.len() > self.pattern.len()
            && name.ends_with(self.pattern.as_str())
            && name.as_bytes()[name.len() - self.pattern.len() - 1] == b'/'
    }

    /// The path (or path suffix) looked for in the archive.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The output name, relative to the destination.
    pub fn output(&self) -> &str {
        &self.output
    }
}

/// A file written by an extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedFile {
    /// The member's path in the archive.
    pub member: String,
    /// The output name, relative to the destination, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents.
    pub sha256: Sha256Digest,
}

/// Whether `name` is a plain relative path: non-empty, `/`-separated
/// components that are neither empty, `.` nor `..` and hold no backslash,
/// colon or NUL. Only such names are ever used as output names.
pub fn is_plain_relative(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty() && part != "." && part != ".." && !part.contains(['\\', ':', '\0'])
        })
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// A package archive on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    path: PathBuf,
    format: ArchiveFormat,
    max_member_bytes: u64,
}

/// Visits one regular file of an archive: its path, its data and its
/// declared size.
type Visitor<'v> = dyn FnMut(&str, &mut dyn Read, u64) -> Result<()> + 'v;

impl Archive {
    /// An archive of a known format.
    pub fn new(path: impl Into<PathBuf>, format: ArchiveFormat) -> Self {
        Archive {
            path: path.into(),
            format,
            max_member_bytes: DEFAULT_MAX_MEMBER_BYTES,
        }
    }

    /// An archive whose format is recognized from its first bytes
    /// ([`ArchiveFormat::detect`]).
    ///
    /// # Errors
    ///
    /// As for [`ArchiveFormat::detect`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let format = ArchiveFormat::detect(&path)?;
        Ok(Archive::new(path, format))
    }

    /// Sets the largest member size accepted (default
    /// [`DEFAULT_MAX_MEMBER_BYTES`]); a larger member is a
    /// [`FetchError::MemberTooLarge`].
    pub fn with_max_member_bytes(mut self, limit: u64) -> Self {
        self.max_member_bytes = limit;
        self
    }

    /// The archive file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its format.
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// Extracts exactly `members` into `dest` (an existing directory), each
    /// to its output name, and returns the files written in the order of
    /// `members`. The whole archive is read, so damage anywhere is noticed.
    ///
    /// Each member must match exactly one regular file; an entry matching
    /// several members is written for the first of them only.
    ///
    /// # Errors
    ///
    /// [`FetchError::UnsafeOutputName`] or [`FetchError::DuplicateMember`]
    /// (checked before anything is written) for bad or repeated output
    /// names, [`FetchError::MissingMember`], [`FetchError::DuplicateMember`]
    /// when a member occurs twice, [`FetchError::MemberTooLarge`],
    /// [`FetchError::Zip`] / [`FetchError::Corrupt`] for damaged archives,
    /// [`FetchError::Io`] for file-system failures (an output that already
    /// exists included). Files written before an error are left in `dest`.
    pub fn extract(&self, members: &[Member], dest: &Path) -> Result<Vec<ExtractedFile>> {
        let mut outputs = HashSet::new();
        for member in members {
            check_output(&member.output)?;
            if !outputs.insert(member.output.as_str()) {
                return Err(self.duplicate(&member.output));
            }
        }
        let mut found: Vec<Option<ExtractedFile>> = vec![None; members.len()];
        self.for_each_file(&mut |name, reader, size| {
            let Some(index) = members.iter().position(|m| m.matches(name)) else {
                return Ok(());
            };
            if found[index].is_some() {
                return Err(self.duplicate(&members[index].pattern));
            }
            let file = self.write_member(name, &members[index].output, reader, size, dest)?;
            found[index] = Some(file);
            Ok(())
        })?;
        found
            .into_iter()
            .zip(members)
            .map(|(file, member)| {
                file.ok_or_else(|| FetchError::MissingMember {
                    archive: self.path.clone(),
                    member: member.pattern.clone(),
                })
            })
            .collect()
    }

    /// Extracts every regular file for which `select` returns an output
    /// name (checked like [`Member`] outputs) into `dest`, and returns the
    /// files written sorted by output name. `select` sees every regular
    /// file's archive path, UTF-8 only.
    ///
    /// # Errors
    ///
    /// As for [`Archive::extract`], without [`FetchError::MissingMember`];
    /// [`FetchError::DuplicateMember`] when two members get one output name.
    pub fn extract_selected(
        &self,
        select: &mut dyn FnMut(&str) -> Option<String>,
        dest: &Path,
    ) -> Result<Vec<ExtractedFile>> {
        let mut outputs = HashSet::new();
        let mut written = Vec::new();
        self.for_each_file(&mut |name, reader, size| {
            let Some(output) = select(name) else {
                return Ok(());
            };
            check_output(&output)?;
            if !outputs.insert(output.clone()) {
                return Err(self.duplicate(&output));
            }
            written.push(self.write_member(name, &output, reader, size, dest)?);
            Ok(())
        })?;
        written.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(written)
    }

    /// The paths and sizes of the regular files (UTF-8 names only), in
    /// archive order. Every member is read, so this also checks the whole
    /// archive (CRCs, gzip trailer, tar end marker).
    ///
    /// # Errors
    ///
    /// [`FetchError::Zip`] / [`FetchError::Corrupt`] for damaged archives,
    /// [`FetchError::MemberTooLarge`], [`FetchError::Io`].
    pub fn list(&self) -> Result<Vec<(String, u64)>> {
        let mut files = Vec::new();
        self.for_each_file(&mut |name, reader, size| {
            let bytes = self.copy_data(
                name,
                reader,
                size,
                &mut io::sink(),
                Path::new("/dev/null"),
                &mut |_| {},
            )?;
            files.push((name.to_owned(), bytes));
            Ok(())
        })?;
        Ok(files)
    }

    /// Copies the member whose path is exactly `member` to `out` and
    /// returns its size. The whole archive is read.
    ///
    /// # Errors
    ///
    /// [`FetchError::MissingMember`], [`FetchError::DuplicateMember`],
    /// [`FetchError::MemberTooLarge`], [`FetchError::Zip`] /
    /// [`FetchError::Corrupt`]; [`FetchError::Io`] naming `out_path` when
    /// writing fails.
    pub fn copy_member(&self, member: &str, out: &mut dyn Write, out_path: &Path) -> Result<u64> {
        let mut copied = None;
        self.for_each_file(&mut |name, reader, size| {
            if name != member {
                return Ok(());
            }
            if copied.is_some() {
                return Err(self.duplicate(member));
            }
            copied = Some(self.copy_data(name, reader, size, out, out_path, &mut |_| {})?);
            Ok(())
        })?;
        copied.ok_or_else(|| FetchError::MissingMember {
            archive: self.path.clone(),
            member: member.to_owned(),
        })
    }

    fn duplicate(&self, member: &str) -> FetchError {
        FetchError::DuplicateMember {
            archive: self.path.clone(),
            member: member.to_owned(),
        }
    }

    fn corrupt(&self, member: Option<&str>, source: io::Error) -> FetchError {
        FetchError::Corrupt {
            archive: self.path.clone(),
            member: member.map(str::to_owned),
            source,
        }
    }

    /// Calls `visit` for every regular file, in archive order.
    fn for_each_file(&self, visit: &mut Visitor<'_>) -> Result<()> {
        let file = File::open(&self.path).map_err(|e| FetchError::io("opening", &self.path, e))?;
        let reader = BufReader::new(file);
        match self.format {
            ArchiveFormat::Zip => self.zip_files(reader, visit),
            ArchiveFormat::Tar => self.tar_files(reader, visit),
            ArchiveFormat::TarGz => self.tar_files(flate2::read::GzDecoder::new(reader), visit),
        }
    }

    fn zip_files(&self, reader: BufReader<File>, visit: &mut Visitor<'_>) -> Result<()> {
        let bad = |source| FetchError::Zip {
            archive: self.path.clone(),
            source,
        };
        let mut archive = zip::ZipArchive::new(reader).map_err(bad)?;
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).map_err(bad)?;
            if !entry.is_file() {
                continue;
            }
            // A name that does not decode cannot be asked for.
            let Ok(name) = entry.name().map(|name| name.into_owned()) else {
                continue;
            };
            let size = entry.size();
            visit(&name, &mut entry, size)?;
        }
        Ok(())
    }

    fn tar_files(&self, reader: impl Read, visit: &mut Visitor<'_>) -> Result<()> {
        let eof = Rc::new(Cell::new(false));
        let mut archive = tar::Archive::new(EofWatch {
            inner: reader,
            eof: Rc::clone(&eof),
        });
        // A stream that ends where a header should be is read by the tar
        // crate as a complete archive: the watch tells the two apart.
        let truncated = || {
            self.corrupt(
                None,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the archive ends before its end-of-archive marker",
                ),
            )
        };
        // Errors after the end of the input was reached are truncation.
        let damaged = |e: io::Error| {
            if eof.get() && e.kind() != io::ErrorKind::UnexpectedEof {
                self.corrupt(None, io::Error::new(io::ErrorKind::UnexpectedEof, e))
            } else {
                self.corrupt(None, e)
            }
        };
        let entries = archive.entries().map_err(damaged)?;
        for entry in entries {
            let mut entry = entry.map_err(damaged)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = match std::str::from_utf8(&entry.path_bytes()) {
                Ok(name) => name.to_owned(),
                Err(_) => continue,
            };
            let size = entry.size();
            visit(&name, &mut entry, size)?;
        }
        if eof.get() {
            return Err(truncated());
        }
        // Read what follows the end marker, so that a gzip stream is checked
        // up to its trailer (CRC and length).
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| self.corrupt(None, e))?;
        Ok(())
    }

    /// Writes one member to `dest/output`, a new file.
    fn write_member(
        &self,
        name: &str,
        output: &str,
        reader: &mut dyn Read,
        size: u64,
        dest: &Path,
    ) -> Result<ExtractedFile> {
        if size > self.max_member_bytes {
            return Err(self.too_large(name));
        }
        let target = dest.join(output);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| FetchError::io("creating", parent, e))?;
        }
        // `create_new` neither overwrites nor follows a link at `target`.
        let mut out =
            File::create_new(&target).map_err(|e| FetchError::io("creating", &target, e))?;
        let mut hasher = Sha256::new();
        let result = self
            .copy_data(name, reader, size, &mut out, &target, &mut |chunk| {
                hasher.update(chunk)
            })
            .and_then(|bytes| {
                out.sync_all()
                    .map_err(|e| FetchError::io("syncing", &target, e))?;
                Ok(bytes)
            });
        match result {
            Ok(bytes) => Ok(ExtractedFile {
                member: name.to_owned(),
                path: output.to_owned(),
                bytes,
                sha256: Sha256Digest::from_bytes(hasher.finalize().into()),
            }),
            Err(e) => {
                drop(out);
                let _ = fs::remove_file(&target);
                Err(e)
            }
        }
    }

    /// Copies a member's data to `out`, enforcing the size limit and the
    /// declared size; `inspect` sees every chunk.
    fn copy_data(
        &self,
        name: &str,
        reader: &mut dyn Read,
        size: u64,
        out: &mut dyn Write,
        out_path: &Path,
        inspect: &mut dyn FnMut(&[u8]),
    ) -> Result<u64> {
        if size > self.max_member_bytes {
            return Err(self.too_large(name));
        }
        let mut limited = reader.take(self.max_member_bytes.saturating_add(1));
        let mut buffer = vec![0u8; BUFFER_BYTES];
        let mut bytes = 0u64;
        loop {
            let n = match limited.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.corrupt(Some(name), e)),
            };
            bytes += n as u64;
            if bytes > self.max_member_bytes {
                return Err(self.too_large(name));
            }
            inspect(&buffer[..n]);
            out.write_all(&buffer[..n])
                .map_err(|e| FetchError::io("writing", out_path, e))?;
        }
        if bytes != size {
            let kind = if bytes < size {
                io::ErrorKind::UnexpectedEof
            } else {
                io::ErrorKind::InvalidData
            };
            return Err(self.corrupt(
                Some(name),
                io::Error::new(
                    kind,
                    format!("the member has {bytes} bytes, its header says {size}"),
                ),
            ));
        }
        Ok(bytes)
    }

    fn too_large(&self, name: &str) -> FetchError {
        FetchError::MemberTooLarge {
            archive: self.path.clone(),
            member: name.to_owned(),
            limit: self.max_member_bytes,
        }
    }
}

fn check_output(name: &str) -> Result<()> {
    if is_plain_relative(name) {
        Ok(())
    } else {
        Err(FetchError::UnsafeOutputName {
            name: name.to_owned(),
        })
    }
}

/// One member of one archive, as a piece of a file split over several
/// archives (see [`join_members`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The archive holding the piece.
    pub archive: Archive,
    /// The exact path of the piece in the archive.
    pub member: String,
}

/// Concatenates, in order, one member of each archive into the new file
/// `output` (a file split over several packages, like a zip cut into
/// parts), and returns the SHA-256 of the whole, computed while writing;
/// check it with [`Sha256Digest::ensure_matches`].
///
/// # Errors
///
/// As for [`Archive::copy_member`]; [`FetchError::Io`] when `output`
/// exists or cannot be written. On error `output` is removed.
pub fn join_members(pieces: &[Piece], output: &Path) -> Result<Sha256Digest> {
    let file = File::create_new(output).map_err(|e| FetchError::io("creating", output, e))?;
    let result = (|| {
        let mut hashing = HashingWriter {
            inner: io::BufWriter::new(file),
            hasher: Sha256::new(),
        };
        for piece in pieces {
            piece
                .archive
                .copy_member(&piece.member, &mut hashing, output)?;
        }
        let HashingWriter { inner, hasher } = hashing;
        let file = inner
            .into_inner()
            .map_err(|e| FetchError::io("writing", output, e.into_error()))?;
        file.sync_all()
            .map_err(|e| FetchError::io("syncing", output, e))?;
        Ok(Sha256Digest::from_bytes(hasher.finalize().into()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(output);
    }
    result
}

/// A writer that hashes what goes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that records whether it ever reached the end of its input.
struct EofWatch<R> {
    inner: R,
    eof: Rc<Cell<bool>>,
}

impl<R: Read> Read for EofWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_names() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a\\b",
            "./a",
            "a/./b",
            "a/",
            "C:x",
            "a\0b",
            "..",
        ] {
            assert!(!is_plain_relative(bad), "{bad:?}");
        }
        for good in ["a", "package/test/fixtures/imdb.json", "x.y-z_1/..a"] {
            assert!(is_plain_relative(good), "{good:?}");
        }
    }

    #[test]
    fn member_matching() {
        let exact = Member::exact("pkg/model/config.json", "config.json");
        assert!(exact.matches("pkg/model/config.json"));
        assert!(!exact.matches("pkg-1.0/pkg/model/config.json"));
        let suffix = Member::suffix("pkg/model/config.json", "config.json");
        assert!(suffix.matches("pkg/model/config.json"));
        assert!(suffix.matches("pkg-1.0/pkg/model/config.json"));
        assert!(!suffix.matches("xpkg/model/config.json"));
        assert!(!suffix.matches("pkg/model/1_Pooling/config.json"));
        assert!(!suffix.matches("model/config.json"));
    }

    #[test]
    fn detect_formats() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            ArchiveFormat::detect(&path)
        };
        assert_eq!(check("z", b"PK\x03\x04rest").unwrap(), ArchiveFormat::Zip);
        assert_eq!(
            check("g", &[0x1f, 0x8b, 8, 0]).unwrap(),
            ArchiveFormat::TarGz
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(check("t", &tar).unwrap(), ArchiveFormat::Tar);
        for junk in [&b""[..], b"PK", b"definitely not an archive"] {
            assert!(matches!(
                check("j", junk),
                Err(FetchError::UnknownFormat { .. })
            ));
        }
        assert!(matches!(
            ArchiveFormat::detect(&dir.path().join("missing")),
            Err(FetchError::Io { .. })
        ));
    }
}
