//! Client-side noise-budget inspection (needs the secret key).
//!
//! Documented on [`ClientKeys::noise_budget`].

use rayon::prelude::*;

use crate::batch::EncryptedBatch;
use crate::error::{HeError, Result};
use crate::keys::ClientKeys;

impl ClientKeys {
    /// The smallest noise budget (in bits) over the ciphertexts of a batch.
    /// Zero means decryption may already be wrong.
    ///
    /// The noise budget of a ciphertext is how many more bits of noise it can
    /// absorb before decryption fails: `log2(q_level) − log2(t) − 1 − log2|e|`,
    /// where `e` is its current noise. It is a diagnostic for tests, parameter
    /// selection and calibration; the server never sees it.
    #[allow(unsafe_code)] // `measure_noise`; see the SAFETY comment
    pub fn noise_budget(&self, batch: &EncryptedBatch) -> Result<u32> {
        self.params()
            .ensure_same(batch.params().bfv(), "the batch")?;
        let log_q = self.params().log_q_at_level(batch.level()) as i64;
        let log_t = self.params().plaintext_bits() as i64;
        let noise = batch
            .ciphertexts()
            .par_iter()
            .map(|ct| {
                // SAFETY: `measure_noise` is marked unsafe only because its
                // running time depends on the noise. It runs on the client,
                // which owns both the key and the ciphertext, for diagnostics.
                unsafe { self.secret().measure_noise(ct) }
                    .map(|n| n as i64)
                    .map_err(HeError::from)
            })
            .collect::<Result<Vec<i64>>>()?;
        let worst = noise.into_iter().max().unwrap_or(0);
        Ok((log_q - log_t - 1 - worst).max(0) as u32)
    }
}
