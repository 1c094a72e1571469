//! SHA-256 digests: streaming file hashes, hex parsing and verification.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::{FetchError, Result};

/// Bytes read at a time when hashing a file.
const BUFFER_BYTES: usize = 1 << 20;

/// A SHA-256 digest. Displays as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest of a byte string.
    pub fn of_bytes(data: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(data).into())
    }

    /// The digest of a file, read in 1 MiB pieces (never all at once).
    ///
    /// # Errors
    ///
    /// [`FetchError::Io`] when the file cannot be opened or read.
    pub fn of_file(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| FetchError::io("opening", path, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; BUFFER_BYTES];
        loop {
            let n = file
                .read(&mut buffer)
                .map_err(|e| FetchError::io("reading", path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        Ok(Sha256Digest(hasher.finalize().into()))
    }

    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    ///
    /// [`FetchError::InvalidSha256`] for anything else.
    pub fn from_hex(hex: &str) -> Result<Self> {
        let invalid = || FetchError::InvalidSha256 {
            value: hex.to_owned(),
        };
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or_else(invalid)?;
            let low = hex_value(pair[1]).ok_or_else(invalid)?;
            *byte = (high << 4) | low;
        }
        Ok(Sha256Digest(bytes))
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for &b in &self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Checks this digest, computed from the file at `path`, against the
    /// pinned hex digest `expected`.
    ///
    /// # Errors
    ///
    /// [`FetchError::InvalidSha256`] when `expected` is not a digest,
    /// [`FetchError::ChecksumMismatch`] naming `path` when they differ.
    pub fn ensure_matches(&self, expected: &str, path: &Path) -> Result<()> {
        let expected = Sha256Digest::from_hex(expected)?;
        if *self == expected {
            Ok(())
        } else {
            Err(FetchError::ChecksumMismatch {
                path: path.to_path_buf(),
                expected: expected.to_hex(),
                actual: self.to_hex(),
            })
        }
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = FetchError;

    fn from_str(s: &str) -> Result<Self> {
        Sha256Digest::from_hex(s)
    }
}

impl From<[u8; 32]> for Sha256Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }
}

impl From<Sha256Digest> for [u8; 32] {
    fn from(digest: Sha256Digest) -> Self {
        digest.0
    }
}

/// Checks the SHA-256 of the file at `path` against the pinned hex digest
/// `expected` (either case), streaming the file. Returns the digest.
///
/// # Errors
///
/// [`FetchError::ChecksumMismatch`] when they differ,
/// [`FetchError::InvalidSha256`] when `expected` is not a digest,
/// [`FetchError::Io`] when the file cannot be read.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<Sha256Digest> {
    // A malformed pin is reported before the file is read.
    Sha256Digest::from_hex(expected)?;
    let actual = Sha256Digest::of_file(path)?;
    actual.ensure_matches(expected, path)?;
    Ok(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn known_answer() {
        // FIPS 180-2 test vector.
        assert_eq!(Sha256Digest::of_bytes(b"abc").to_hex(), ABC);
        assert_eq!(Sha256Digest::of_bytes(b"abc").to_string(), ABC);
    }

    #[test]
    fn hex_round_trip_and_case() {
        let digest = Sha256Digest::from_hex(ABC).unwrap();
        assert_eq!(digest, Sha256Digest::of_bytes(b"abc"));
        assert_eq!(
            Sha256Digest::from_hex(&ABC.to_ascii_uppercase()).unwrap(),
            digest
        );
        assert_eq!(ABC.parse::<Sha256Digest>().unwrap(), digest);
        for bad in ["", &ABC[1..], &format!("{ABC}0"), &ABC.replace('b', "g")] {
            assert!(
                matches!(
                    Sha256Digest::from_hex(bad),
                    Err(FetchError::InvalidSha256 { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn file_hash_equals_buffer_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        // Larger than one read buffer so that the loop runs more than once.
        let data: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            Sha256Digest::of_file(&path).unwrap(),
            Sha256Digest::of_bytes(&data)
        );
    }

    #[test]
    fn verify_accepts_the_pin_and_names_the_file_on_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            verify_sha256(&path, &ABC.to_ascii_uppercase()).unwrap(),
            Sha256Digest::of_bytes(b"abc")
        );
        let wrong = "00".repeat(32);
        match verify_sha256(&path, &wrong).unwrap_err() {
            FetchError::ChecksumMismatch {
                path: p,
                expected,
                actual,
            } => {
                assert_eq!(p, path);
                assert_eq!(expected, wrong);
                assert_eq!(actual, ABC);
            }
            other => panic!("expected a mismatch, got {other}"),
        }
        assert!(matches!(
            verify_sha256(&path, "abc"),
            Err(FetchError::InvalidSha256 { .. })
        ));
        assert!(matches!(
            verify_sha256(&dir.path().join("missing"), ABC),
            Err(FetchError::Io { .. })
        ));
    }
}
