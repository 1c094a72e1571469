//! On-disk cache of embeddings, one file per list of input texts.
//!
//! Documented on [`EmbeddingCache`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cryptotl_fetch::{write_file_atomically, Sha256Digest};

use crate::error::{EmbedError, Result};

/// First bytes of every cache file.
pub const CACHE_MAGIC: [u8; 8] = *b"CTLEMBED";
/// Version of the file layout.
pub const CACHE_FORMAT_VERSION: u32 = 1;

const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 32;
const TRAILER_LEN: usize = 32;

/// Identifies one list of texts embedded by one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// Derives the key from a model fingerprint, the truncation length and
    /// the texts in order.
    pub fn new<S: AsRef<str>>(
        model_fingerprint: &[u8; 32],
        max_tokens: usize,
        texts: &[S],
    ) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"cryptotl-embed/embedding-cache/v1\0");
        hasher.update(model_fingerprint);
        hasher.update((max_tokens as u64).to_le_bytes());
        hasher.update((texts.len() as u64).to_le_bytes());
        for text in texts {
            let text = text.as_ref().as_bytes();
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text);
        }
        CacheKey(hasher.finalize().into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, used as the file name.
    pub fn to_hex(&self) -> String {
        Sha256Digest::from_bytes(self.0).to_hex()
    }
}

/// Serializes `embeddings` (each of length `dim`) for `key`.
///
/// # Errors
///
/// [`EmbedError::InvalidInput`] when a row does not have length `dim` or the
/// sizes do not fit the format.
pub(crate) fn encode(key: &CacheKey, dim: usize, embeddings: &[Vec<f32>]) -> Result<Vec<u8>> {
    let dim32 = u32::try_from(dim)
        .map_err(|_| EmbedError::InvalidInput(format!("dimension {dim} too large to cache")))?;
    if let Some(row) = embeddings.iter().position(|e| e.len() != dim) {
        return Err(EmbedError::InvalidInput(format!(
            "embedding {row} has length {}, expected {dim}",
            embeddings[row].len()
        )));
    }
    let payload = embeddings.len() * dim * 4;
    let mut out = Vec::with_capacity(HEADER_LEN + payload + TRAILER_LEN);
    out.extend_from_slice(&CACHE_MAGIC);
    out.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&dim32.to_le_bytes());
    out.extend_from_slice(&(embeddings.len() as u64).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    for value in embeddings.iter().flatten() {
        out.extend_from_slice(&value.to_le_bytes());
    }
    let checksum = Sha256Digest::of_bytes(&out);
    out.extend_from_slice(checksum.as_bytes());
    Ok(out)
}

/// Why bytes are not a valid cache file for the expected contents.
fn check(
    bytes: &[u8],
    key: &CacheKey,
    count: usize,
    dim: usize,
) -> std::result::Result<(), String> {
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err(format!("{} bytes is shorter than the header", bytes.len()));
    }
    let (header, rest) = bytes.split_at(HEADER_LEN);
    if header[..8] != CACHE_MAGIC {
        return Err("bad magic".into());
    }
    let u32_at = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let version = u32_at(8);
    if version != CACHE_FORMAT_VERSION {
        return Err(format!(
            "format version {version}, expected {CACHE_FORMAT_VERSION}"
        ));
    }
    let file_dim = u32_at(12);
    if u64::from(file_dim) != dim as u64 {
        return Err(format!("dimension {file_dim}, expected {dim}"));
    }
    let mut count_bytes = [0u8; 8];
    count_bytes.copy_from_slice(&header[16..24]);
    let file_count = u64::from_le_bytes(count_bytes);
    if file_count != count as u64 {
        return Err(format!("{file_count} embeddings, expected {count}"));
    }
    if header[24..56] != key.as_bytes()[..] {
        return Err("written for other inputs (key mismatch)".into());
    }
    let payload = count
        .checked_mul(dim)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| "size overflows".to_string())?;
    if rest.len() != payload + TRAILER_LEN {
        return Err(format!(
            "{} data bytes, expected {}",
            rest.len().saturating_sub(TRAILER_LEN),
            payload
        ));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
    if Sha256Digest::of_bytes(body).as_bytes()[..] != trailer[..] {
        return Err("checksum mismatch".into());
    }
    Ok(())
}

/// Parses a cache file written by [`encode`], checking that it holds `count`
/// embeddings of length `dim` for `key`.
///
/// # Errors
///
/// [`EmbedError::CorruptCache`] (with `path` as given) describing the first
/// problem found. Never panics, whatever the bytes.
pub(crate) fn decode(
    bytes: &[u8],
    key: &CacheKey,
    count: usize,
    dim: usize,
    path: &Path,
) -> Result<Vec<Vec<f32>>> {
    check(bytes, key, count, dim).map_err(|reason| EmbedError::CorruptCache {
        path: path.to_path_buf(),
        reason,
    })?;
    let data = &bytes[HEADER_LEN..bytes.len() - TRAILER_LEN];
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(if dim == 0 {
        vec![Vec::new(); count]
    } else {
        values.chunks_exact(dim).map(<[f32]>::to_vec).collect()
    })
}

/// A directory of cached embeddings.
///
/// A file lives at `<cache>/embeddings/<key>.bin`, where the key is a SHA-256
/// over the model fingerprint, the truncation length and every text
/// (length-prefixed, so `["ab", "c"]` and `["a", "bc"]` differ). Layout, all
/// integers little-endian:
///
/// | bytes              | content                                    |
/// |--------------------|--------------------------------------------|
/// | 8                  | magic `CTLEMBED`                           |
/// | 4                  | format version ([`CACHE_FORMAT_VERSION`])  |
/// | 4                  | dimension `d`                              |
/// | 8                  | count `n`                                  |
/// | 32                 | the key                                    |
/// | `4·n·d`            | embeddings, `f32`, row after row           |
/// | 32                 | SHA-256 of everything above                |
///
/// Loading checks every field and the checksum; anything else is reported
/// as [`EmbedError::CorruptCache`], and [`EmbeddingCache::get_or_compute`]
/// then recomputes (with a warning) and rewrites the file. Files are written
/// to a temporary name and renamed, so readers never see half a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingCache {
    dir: PathBuf,
}

impl EmbeddingCache {
    /// The cache under `<cache>/embeddings/` (created on first store).
    pub fn new(cache: &Path) -> Self {
        EmbeddingCache {
            dir: cache.join("embeddings"),
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the embeddings for `key` are stored.
    pub fn path_for(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.bin", key.to_hex()))
    }

    /// Loads the embeddings for `key`: `Ok(None)` when there is no file.
    ///
    /// # Errors
    ///
    /// [`EmbedError::CorruptCache`] when the file is invalid, I/O errors
    /// other than "not found".
    pub fn load(&self, key: &CacheKey, count: usize, dim: usize) -> Result<Option<Vec<Vec<f32>>>> {
        let path = self.path_for(key);
        match fs::read(&path) {
            Ok(bytes) => decode(&bytes, key, count, dim, &path).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EmbedError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Stores embeddings for `key`, atomically replacing any old file.
    ///
    /// # Errors
    ///
    /// [`EmbedError::InvalidInput`] for rows of the wrong length, I/O errors.
    pub fn store(&self, key: &CacheKey, dim: usize, embeddings: &[Vec<f32>]) -> Result<()> {
        let bytes = encode(key, dim, embeddings)?;
        fs::create_dir_all(&self.dir)
            .map_err(|e| EmbedError::io(format!("creating {}", self.dir.display()), e))?;
        Ok(write_file_atomically(&self.path_for(key), &bytes)?)
    }

    /// Returns the cached embeddings for `key`, or runs `compute` and caches
    /// its result.
    ///
    /// A corrupt or unreadable file is reported on stderr and recomputed; a
    /// failure to write the new file is reported on stderr and otherwise
    /// ignored (the result is still returned).
    ///
    /// # Errors
    ///
    /// Whatever `compute` returns, or [`EmbedError::InvalidInput`] when it
    /// returns the wrong number or size of embeddings.
    pub fn get_or_compute<F>(
        &self,
        key: &CacheKey,
        count: usize,
        dim: usize,
        compute: F,
    ) -> Result<Vec<Vec<f32>>>
    where
        F: FnOnce() -> Result<Vec<Vec<f32>>>,
    {
        match self.load(key, count, dim) {
            Ok(Some(embeddings)) => return Ok(embeddings),
            Ok(None) => {}
            Err(e) => eprintln!("cryptotl-embed: warning: {e}; recomputing"),
        }
        let embeddings = compute()?;
        if embeddings.len() != count {
            return Err(EmbedError::InvalidInput(format!(
                "computed {} embeddings for {count} inputs",
                embeddings.len()
            )));
        }
        match self.store(key, dim, &embeddings) {
            Ok(()) => {}
            Err(e @ EmbedError::InvalidInput(_)) => return Err(e),
            Err(e) => eprintln!("cryptotl-embed: warning: cannot write embedding cache: {e}"),
        }
        Ok(embeddings)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(n: u8) -> CacheKey {
        CacheKey::new(&[n; 32], 128, &["a", "b"])
    }

    fn embeddings() -> impl Strategy<Value = (usize, Vec<Vec<f32>>)> {
        (0usize..8, 0usize..6).prop_flat_map(|(dim, count)| {
            (
                Just(dim),
                prop::collection::vec(prop::collection::vec(any::<f32>(), dim), count),
            )
        })
    }

    fn bits(rows: &[Vec<f32>]) -> Vec<Vec<u32>> {
        rows.iter()
            .map(|r| r.iter().map(|x| x.to_bits()).collect())
            .collect()
    }

    #[test]
    fn key_is_length_prefixed_and_order_sensitive() {
        let fp = [7u8; 32];
        let base = CacheKey::new(&fp, 128, &["ab", "c"]);
        assert_ne!(base, CacheKey::new(&fp, 128, &["a", "bc"]));
        assert_ne!(base, CacheKey::new(&fp, 128, &["c", "ab"]));
        assert_ne!(base, CacheKey::new(&fp, 64, &["ab", "c"]));
        assert_ne!(base, CacheKey::new(&[8u8; 32], 128, &["ab", "c"]));
        assert_ne!(
            CacheKey::new(&fp, 128, &[""]),
            CacheKey::new(&fp, 128, &[] as &[&str])
        );
        assert_eq!(
            base,
            CacheKey::new(&fp, 128, &[String::from("ab"), String::from("c")])
        );
        assert_eq!(base.to_hex().len(), 64);
    }

    #[test]
    fn wrong_row_length_is_refused() {
        assert!(matches!(
            encode(&key(0), 3, &[vec![1.0, 2.0]]),
            Err(EmbedError::InvalidInput(_))
        ));
    }

    proptest! {
        #[test]
        fn round_trip_is_bit_exact((dim, rows) in embeddings(), k in any::<u8>()) {
            let bytes = encode(&key(k), dim, &rows).unwrap();
            let back = decode(&bytes, &key(k), rows.len(), dim, Path::new("x")).unwrap();
            prop_assert_eq!(bits(&back), bits(&rows));
        }

        #[test]
        fn every_truncation_is_rejected((dim, rows) in embeddings(), cut in any::<prop::sample::Index>()) {
            let bytes = encode(&key(1), dim, &rows).unwrap();
            let cut = cut.index(bytes.len());
            let result = decode(&bytes[..cut], &key(1), rows.len(), dim, Path::new("x"));
            prop_assert!(
                matches!(result, Err(EmbedError::CorruptCache { .. })),
                "accepted {} of {} bytes",
                cut,
                bytes.len()
            );
        }

        #[test]
        fn every_byte_flip_is_rejected(
            (dim, rows) in embeddings(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut bytes = encode(&key(2), dim, &rows).unwrap();
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            let result = decode(&bytes, &key(2), rows.len(), dim, Path::new("x"));
            prop_assert!(matches!(result, Err(EmbedError::CorruptCache { .. })), "flip at {}", at);
        }

        #[test]
        fn arbitrary_bytes_are_rejected_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            prop_assert!(decode(&bytes, &key(3), 1, 4, Path::new("x")).is_err());
        }

        #[test]
        fn other_key_count_or_dim_is_rejected((dim, rows) in embeddings()) {
            let bytes = encode(&key(4), dim, &rows).unwrap();
            let p = Path::new("x");
            prop_assert!(decode(&bytes, &key(5), rows.len(), dim, p).is_err());
            prop_assert!(decode(&bytes, &key(4), rows.len() + 1, dim, p).is_err());
            prop_assert!(decode(&bytes, &key(4), rows.len(), dim + 1, p).is_err());
        }
    }
}
