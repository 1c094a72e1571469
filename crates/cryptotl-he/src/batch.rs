//! Batched packing: one SIMD slot per sample.
//!
//! Documented on [`EncryptedBatch`].

use fhe::bfv::{Ciphertext, Encoding, Plaintext};
use fhe_traits::{FheDecoder, FheDecrypter, FheEncoder, FheEncrypter};
use rayon::prelude::*;

use crate::error::{HeError, Result};
use crate::keys::ClientKeys;
use crate::params::HeParameters;

/// A batch of encrypted samples, stored feature-major. Its `Debug` output
/// shows only the shape, never ciphertext data.
///
/// A batch of `n ≤ N` samples, each a vector of `d` integers, becomes `d`
/// ciphertexts (feature-major): ciphertext `j` holds feature `j` of sample
/// `s` in slot `s`. Every slot-wise operation then acts on all samples at
/// once and no rotations are needed. Slots past `n` hold zeros.
#[derive(Clone)]
pub struct EncryptedBatch {
    pub(crate) params: HeParameters,
    pub(crate) ciphertexts: Vec<Ciphertext>,
    pub(crate) samples: usize,
    pub(crate) level: usize,
    /// For fresh secret-key encryptions: the seed of each ciphertext's
    /// second part, so that it can be sent as 32 bytes instead of a polynomial.
    pub(crate) seeds: Option<Vec<[u8; 32]>>,
}

impl std::fmt::Debug for EncryptedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedBatch")
            .field("samples", &self.samples)
            .field("features", &self.ciphertexts.len())
            .field("level", &self.level)
            .field("params", &self.params.fingerprint())
            .finish()
    }
}

impl EncryptedBatch {
    /// Builds a batch from ciphertexts that were created under exactly this
    /// `params` instance (encryption, decoding or evaluation with it).
    pub(crate) fn new(
        params: &HeParameters,
        ciphertexts: Vec<Ciphertext>,
        samples: usize,
        level: usize,
    ) -> Self {
        Self {
            params: params.clone(),
            ciphertexts,
            samples,
            level,
            seeds: None,
        }
    }

    /// Number of samples (used slots).
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The same ciphertexts announcing `samples` samples (for slot vectors,
    /// where one ciphertext may carry several samples side by side; the
    /// count travels in the wire format).
    ///
    /// # Errors
    /// [`HeError::InvalidInput`] unless `1 ≤ samples ≤ N`.
    pub fn with_samples(mut self, samples: usize) -> Result<Self> {
        let n = self.params.degree();
        if samples == 0 || samples > n {
            return Err(HeError::InvalidInput(format!(
                "a batch carries 1..={n} samples, not {samples}"
            )));
        }
        self.samples = samples;
        Ok(self)
    }

    /// Number of features (ciphertexts).
    pub fn features(&self) -> usize {
        self.ciphertexts.len()
    }

    /// Modulus-switching level of the ciphertexts (0 = fresh, all moduli).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The ciphertexts, one per feature.
    pub fn ciphertexts(&self) -> &[Ciphertext] {
        &self.ciphertexts
    }

    /// A batch holding the ciphertexts at `indices` (features), in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        let ciphertexts = indices
            .iter()
            .map(|&i| {
                self.ciphertexts.get(i).cloned().ok_or_else(|| {
                    HeError::InvalidInput(format!(
                        "feature {i} out of range (the batch has {})",
                        self.ciphertexts.len()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if ciphertexts.is_empty() {
            return Err(HeError::InvalidInput("no features selected".into()));
        }
        let mut out = Self::new(&self.params, ciphertexts, self.samples, self.level);
        out.seeds = self
            .seeds
            .as_ref()
            .map(|s| indices.iter().map(|&i| s[i]).collect());
        Ok(out)
    }

    /// The parameters of the batch.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }
}

impl ClientKeys {
    /// Encrypts `samples` (each of the same length `d`, values in
    /// `[-(t-1)/2, (t-1)/2]`) into `d` ciphertexts, one slot per sample, with
    /// secret-key (symmetric, seeded) encryption. Parallel over features.
    pub fn encrypt_batch<S: AsRef<[i64]> + Sync>(&self, samples: &[S]) -> Result<EncryptedBatch> {
        let params = self.params();
        let n = params.degree();
        if samples.is_empty() || samples.len() > n {
            return Err(HeError::InvalidInput(format!(
                "a batch holds 1..={n} samples, got {}",
                samples.len()
            )));
        }
        let d = samples[0].as_ref().len();
        if d == 0 {
            return Err(HeError::InvalidInput("samples have no features".into()));
        }
        let max = params.max_abs_value() as i128;
        for (s, sample) in samples.iter().enumerate() {
            let sample = sample.as_ref();
            if sample.len() != d {
                return Err(HeError::InvalidInput(format!(
                    "sample {s} has {} features, expected {d}",
                    sample.len()
                )));
            }
            if let Some(v) = sample.iter().find(|v| (**v as i128).abs() > max) {
                return Err(HeError::InvalidInput(format!(
                    "sample {s} holds {v}, outside the plaintext range ±{max}"
                )));
            }
        }
        let ciphertexts = (0..d)
            .into_par_iter()
            .map(|j| {
                let mut slots = vec![0i64; n];
                for (slot, sample) in slots.iter_mut().zip(samples) {
                    *slot = sample.as_ref()[j];
                }
                let pt = Plaintext::try_encode(&slots, Encoding::simd(), params.bfv())?;
                let mut rng = rand::rng();
                let ct = self.secret().try_encrypt(&pt, &mut rng)?;
                let seed = fhe::proto::bfv::Ciphertext::from(&ct).seed;
                let seed: Option<[u8; 32]> = seed.as_slice().try_into().ok();
                Ok((ct, seed))
            })
            .collect::<Result<Vec<_>>>()?;
        let seeds: Option<Vec<[u8; 32]>> = ciphertexts.iter().map(|(_, s)| *s).collect();
        let ciphertexts = ciphertexts.into_iter().map(|(c, _)| c).collect();
        let mut batch = EncryptedBatch::new(params, ciphertexts, samples.len(), 0);
        batch.seeds = seeds;
        Ok(batch)
    }

    /// Decrypts a batch back to per-sample integer vectors (centered in
    /// `[-(t-1)/2, (t-1)/2]`).
    pub fn decrypt_batch(&self, batch: &EncryptedBatch) -> Result<Vec<Vec<i64>>> {
        self.params().ensure_same(batch.params.bfv(), "the batch")?;
        let columns = batch
            .ciphertexts
            .par_iter()
            .map(|ct| self.decrypt_slots(ct))
            .collect::<Result<Vec<_>>>()?;
        Ok((0..batch.samples)
            .map(|s| columns.iter().map(|c| c[s]).collect())
            .collect())
    }

    /// Decrypts one ciphertext into its `N` centered slot values.
    pub(crate) fn decrypt_slots(&self, ct: &Ciphertext) -> Result<Vec<i64>> {
        let pt = self.secret().try_decrypt(ct)?;
        let raw = Vec::<u64>::try_decode(&pt, Encoding::simd())?;
        let t = self.params().plaintext_modulus();
        let half = t / 2;
        Ok(raw
            .into_iter()
            .map(|v| {
                if v > half {
                    v as i64 - t as i64
                } else {
                    v as i64
                }
            })
            .collect())
    }
}
