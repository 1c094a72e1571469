//! Client keys (secret) and evaluation keys (public, sent to the server).

use std::fmt;

use fhe::bfv::{RelinearizationKey, SecretKey};
use zeroize::ZeroizeOnDrop;

use crate::error::Result;
use crate::params::HeParameters;

/// The client's keys. Holds the BFV secret key, which never leaves this type:
/// it has no `Serialize`, its `Debug` output is redacted, it is not `Clone`,
/// and fhe.rs zeroizes the secret coefficients when it is dropped.
pub struct ClientKeys {
    params: HeParameters,
    secret: SecretKey,
}

impl fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKeys")
            .field("params", &self.params)
            .field("secret", &"<redacted>")
            .finish()
    }
}

// fhe.rs's `SecretKey` implements `Drop` by zeroizing its coefficients; this
// marker records that dropping `ClientKeys` therefore wipes the secret.
impl ZeroizeOnDrop for ClientKeys {}

impl ClientKeys {
    /// Generates a fresh secret key from the operating system's CSPRNG.
    pub fn generate(params: &HeParameters) -> Self {
        let mut rng = rand::rng();
        Self {
            params: params.clone(),
            secret: SecretKey::random(params.bfv(), &mut rng),
        }
    }

    /// The parameters these keys belong to.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// Generates the evaluation keys the server needs (a relinearization key
    /// for ciphertexts at the fresh level). They reveal nothing about the
    /// secret key and are meant to be sent to the server.
    pub fn evaluation_keys(&self) -> Result<EvaluationKeys> {
        let mut rng = rand::rng();
        let relin = RelinearizationKey::new(&self.secret, &mut rng)?;
        Ok(EvaluationKeys {
            params: self.params.clone(),
            relin,
        })
    }

    /// The secret key, for the modules of this crate only.
    pub(crate) fn secret(&self) -> &SecretKey {
        &self.secret
    }
}

/// Public evaluation keys: what the server needs to multiply ciphertexts.
#[derive(Clone)]
pub struct EvaluationKeys {
    pub(crate) params: HeParameters,
    pub(crate) relin: RelinearizationKey,
}

impl fmt::Debug for EvaluationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvaluationKeys")
            .field("params", &self.params)
            .field("relinearization", &true)
            .finish()
    }
}

impl EvaluationKeys {
    /// The parameters these keys belong to.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// The relinearization key.
    pub fn relinearization_key(&self) -> &RelinearizationKey {
        &self.relin
    }
}
