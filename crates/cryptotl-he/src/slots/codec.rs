//! Encrypting and decrypting whole slot vectors (one ciphertext each).

use fhe_traits::FheEncrypter;
use rayon::prelude::*;

use crate::batch::EncryptedBatch;
use crate::error::{HeError, Result};
use crate::keys::ClientKeys;
use crate::slots::transform::encode_slots;

impl ClientKeys {
    /// Encrypts each vector (at most `N` values in `[-(t-1)/2, (t-1)/2]`,
    /// the rest of the slots zero) into its own ciphertext; the batch's
    /// "samples" count is the number of vectors.
    ///
    /// # Errors
    /// [`HeError::InvalidInput`] for no vectors, too many values or a value
    /// outside the plaintext range.
    pub fn encrypt_slots<S: AsRef<[i64]> + Sync>(&self, vectors: &[S]) -> Result<EncryptedBatch> {
        let params = self.params();
        if vectors.is_empty() {
            return Err(HeError::InvalidInput("no slot vectors to encrypt".into()));
        }
        let max = params.max_abs_value() as i128;
        for (i, v) in vectors.iter().enumerate() {
            if let Some(x) = v.as_ref().iter().find(|x| (**x as i128).abs() > max) {
                return Err(HeError::InvalidInput(format!(
                    "slot vector {i} holds {x}, outside the plaintext range ±{max}"
                )));
            }
        }
        let encrypted = vectors
            .par_iter()
            .map(|v| {
                let pt = encode_slots(params, v.as_ref())?;
                let mut rng = rand::rng();
                let ct = self.secret().try_encrypt(&pt, &mut rng)?;
                let seed = fhe::proto::bfv::Ciphertext::from(&ct).seed;
                Ok((ct, seed.as_slice().try_into().ok()))
            })
            .collect::<Result<Vec<(_, Option<[u8; 32]>)>>>()?;
        let seeds: Option<Vec<[u8; 32]>> = encrypted.iter().map(|(_, s)| *s).collect();
        let cts = encrypted.into_iter().map(|(c, _)| c).collect();
        let mut batch = EncryptedBatch::new(params, cts, vectors.len(), 0);
        batch.seeds = seeds;
        Ok(batch)
    }

    /// Decrypts every ciphertext of a batch into its `N` centered slot values.
    ///
    /// # Errors
    /// [`HeError::ParameterMismatch`] for a batch of other parameters.
    pub fn decrypt_slot_vectors(&self, batch: &EncryptedBatch) -> Result<Vec<Vec<i64>>> {
        self.params()
            .ensure_same(batch.params().bfv(), "the batch")?;
        batch
            .ciphertexts()
            .par_iter()
            .map(|ct| self.decrypt_slots(ct))
            .collect()
    }
}
