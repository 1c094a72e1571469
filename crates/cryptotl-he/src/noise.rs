//! Client-side noise-budget inspection (needs the secret key).
//!
//! The noise budget of a ciphertext is how many more bits of noise it can
//! absorb before decryption fails: `log2(q_level) − log2(t) − 1 − log2|e|`,
//! where `e` is its current noise. It is a diagnostic for tests, parameter
//! selection and calibration; the server never sees it.

use crate::batch::EncryptedBatch;
use crate::error::{HeError, Result};
use crate::keys::ClientKeys;

impl ClientKeys {
    /// The smallest noise budget (in bits) over the ciphertexts of a batch.
    /// Zero means decryption may already be wrong.
    pub fn noise_budget(&self, batch: &EncryptedBatch) -> Result<u32> {
        self.params().ensure_same(batch.params().bfv(), "the batch")?;
        let log_q = self.params().log_q_at_level(batch.level()) as i64;
        let log_t = self.params().plaintext_bits() as i64;
        let mut min_budget = i64::MAX;
        for ct in batch.ciphertexts() {
            // SAFETY: `measure_noise` is marked unsafe only because its running
            // time depends on the noise. It runs on the client, which owns both
            // the key and the ciphertext, and is used for diagnostics only.
            let noise = unsafe { self.secret().measure_noise(ct) }
                .map_err(|e| HeError::Fhe(e.to_string()))? as i64;
            min_budget = min_budget.min(log_q - log_t - 1 - noise);
        }
        Ok(min_budget.max(0) as u32)
    }
}
