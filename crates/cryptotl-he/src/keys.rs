//! Client keys (secret) and evaluation keys (public, sent to the server).

use std::fmt;

use fhe::bfv::{PublicKey as BfvPublicKey, RelinearizationKey, SecretKey};
use fhe_traits::{DeserializeParametrized, Serialize as FheSerialize};
use zeroize::{ZeroizeOnDrop, Zeroizing};

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
            public: None,
        })
    }

    /// Generates a BFV public key (fhe.rs's `PublicKey`: a fresh secret-key
    /// encryption of zero, `(−a·s + e, a)`). It is public under RLWE and lets
    /// the server re-randomize its responses ([`crate::Evaluator::flood`],
    /// circuit privacy); attach it with [`EvaluationKeys::with_public_key`].
    pub fn public_key(&self) -> PublicKey {
        let mut rng = rand::rng();
        PublicKey {
            params: self.params.clone(),
            key: BfvPublicKey::new(&self.secret, &mut rng),
        }
    }

    /// The same secret key for other parameters with the same degree and
    /// ciphertext moduli (another member of a [`crate::CrtParameters`]
    /// family): ciphertexts under different plaintext moduli then share one
    /// secret, so one set of relinearization and rotation keys serves all of
    /// them. Reusing an RLWE secret across plaintext moduli is as safe as
    /// publishing more encryptions under it.
    ///
    /// # Errors
    /// [`crate::HeError::ParameterMismatch`] if the degree or moduli differ.
    pub fn for_parameters(&self, params: &HeParameters) -> Result<ClientKeys> {
        if params.degree() != self.params.degree() || params.moduli() != self.params.moduli() {
            return Err(crate::HeError::ParameterMismatch(
                "a secret key can only be shared between parameters with the same degree and moduli"
                    .into(),
            ));
        }
        let bytes = Zeroizing::new(self.secret.to_bytes());
        let secret = SecretKey::from_bytes(&bytes, params.bfv())?;
        Ok(ClientKeys {
            params: params.clone(),
            secret,
        })
    }

    /// The secret key, for the modules of this crate only.
    pub(crate) fn secret(&self) -> &SecretKey {
        &self.secret
    }
}

/// The client's BFV public key (see [`ClientKeys::public_key`]).
#[derive(Clone)]
pub struct PublicKey {
    pub(crate) params: HeParameters,
    pub(crate) key: BfvPublicKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("params", &self.params.fingerprint())
            .finish()
    }
}

impl PublicKey {
    /// The parameters this key belongs to.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// The fhe.rs key.
    pub fn bfv(&self) -> &BfvPublicKey {
        &self.key
    }
}

/// Public evaluation keys: what the server needs to multiply ciphertexts
/// and, optionally, the public key it needs to flood responses.
#[derive(Clone)]
pub struct EvaluationKeys {
    pub(crate) params: HeParameters,
    pub(crate) relin: RelinearizationKey,
    pub(crate) public: Option<PublicKey>,
}

impl fmt::Debug for EvaluationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvaluationKeys")
            .field("params", &self.params)
            .field("relinearization", &true)
            .field("public_key", &self.public.is_some())
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

    /// The public key, if the client attached one (needed for flooding).
    pub fn public_key(&self) -> Option<&PublicKey> {
        self.public.as_ref()
    }

    /// Memory the keys occupy once parsed, in bytes: what a server holding
    /// them pays (much more than their serialized size). With `L` moduli
    /// and degree `N`, fhe.rs keeps the relinearization key as `2L`
    /// polynomials (`c0` and the expanded `c1`) of `L × N` 64-bit
    /// coefficients, each with its Shoup precomputation of the same size:
    /// `32 L² N` bytes (4 MiB at N = 8192, L = 4, against about 0.9 MB
    /// uploaded); an attached public key adds two NTT polynomials,
    /// `16 L N` bytes. Allocation overhead is not included.
    pub fn resident_bytes(&self) -> usize {
        let l = self.params.moduli().len();
        let poly = l * self.params.degree() * std::mem::size_of::<u64>();
        let relin = 2 * l * 2 * poly;
        let public = if self.public.is_some() { 2 * poly } else { 0 };
        relin + public
    }

    /// Attaches the client's public key; it is then serialized with the
    /// evaluation keys (as a second message, see [`crate::wire`]).
    ///
    /// # Errors
    /// [`crate::HeError::ParameterMismatch`] if the key belongs to other
    /// parameters.
    pub fn with_public_key(mut self, key: PublicKey) -> Result<Self> {
        self.params
            .ensure_same(key.params.bfv(), "the public key")?;
        self.public = Some(key);
        Ok(self)
    }
}
