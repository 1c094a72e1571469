//! SHA-256 helpers: streaming file hashes and hex formatting.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{EmbedError, Result};

/// A SHA-256 digest.
pub(crate) type Sha256Bytes = [u8; 32];

/// Hashes a file without reading it into memory at once.
pub(crate) fn sha256_file(path: &Path) -> Result<Sha256Bytes> {
    let context = || format!("reading {}", path.display());
    let mut file = File::open(path).map_err(|e| EmbedError::io(context(), e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| EmbedError::io(context(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().into())
}

/// Hashes a byte string.
pub(crate) fn sha256(bytes: &[u8]) -> Sha256Bytes {
    Sha256::digest(bytes).into()
}

/// Lower-case hex encoding.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // FIPS 180-2 test vector.
        assert_eq!(
            to_hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn file_hash_equals_buffer_hash() {
        let dir =
            std::env::temp_dir().join(format!("cryptotl-embed-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blob");
        // Larger than one read buffer so that the loop runs more than once.
        let data: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let from_file = sha256_file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(from_file, sha256(&data));
    }
}
