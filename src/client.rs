//! The client side: quantizes, encrypts, decrypts and dequantizes. The
//! secret key never leaves [`LowerClient`].

use cryptotl_he::{ClientKeys, EncryptedBatch, EvaluationKeys, HeParameters};

use crate::card::ModelCard;
use crate::error::Error;

/// A client of one server model. Generates its own keys.
#[derive(Debug)]
pub struct LowerClient {
    card: ModelCard,
    params: HeParameters,
    keys: ClientKeys,
    evaluation_keys: EvaluationKeys,
}

impl LowerClient {
    /// Creates a client (and fresh keys) for a validated model card. When
    /// the card announces noise flooding, the evaluation keys carry the
    /// client's public key.
    pub fn new(card: &ModelCard) -> Result<Self, Error> {
        let params = card.validate()?;
        let keys = ClientKeys::generate(&params);
        let mut evaluation_keys = keys.evaluation_keys()?;
        if card.output_noise.is_some_and(|n| n.has_flooding()) {
            // The server floods its responses: it needs the public key.
            evaluation_keys = evaluation_keys.with_public_key(keys.public_key())?;
        }
        Ok(Self {
            card: card.clone(),
            params,
            keys,
            evaluation_keys,
        })
    }

    /// The model card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The HE parameters.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// The client's keys (the secret stays inside).
    pub fn keys(&self) -> &ClientKeys {
        &self.keys
    }

    /// Serialized evaluation keys to send to the server (public).
    pub fn evaluation_key_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(self.evaluation_keys.to_bytes())
    }

    /// The evaluation keys (public).
    pub fn evaluation_keys(&self) -> &EvaluationKeys {
        &self.evaluation_keys
    }

    /// Quantizes samples with the card's input quantizer.
    pub fn quantize(&self, samples: &[Vec<f32>]) -> Result<Vec<Vec<i64>>, Error> {
        samples
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if x.len() != self.card.input_dim {
                    return Err(Error::InvalidInput(format!(
                        "sample {i} has {} features, the model expects {}",
                        x.len(),
                        self.card.input_dim
                    )));
                }
                Ok(self.card.input.quantize(x)?)
            })
            .collect()
    }

    /// Quantizes and encrypts samples into batches of at most N samples.
    pub fn encrypt_batches(&self, samples: &[Vec<f32>]) -> Result<Vec<EncryptedBatch>, Error> {
        if samples.is_empty() {
            return Err(Error::InvalidInput("no samples to encrypt".into()));
        }
        let q = self.quantize(samples)?;
        q.chunks(self.params.degree())
            .map(|chunk| Ok(self.keys.encrypt_batch(chunk)?))
            .collect()
    }

    /// Quantizes, encrypts and serializes samples: one request per batch.
    pub fn encrypt(&self, samples: &[Vec<f32>]) -> Result<Vec<Vec<u8>>, Error> {
        Ok(self
            .encrypt_batches(samples)?
            .iter()
            .map(EncryptedBatch::to_bytes)
            .collect())
    }

    /// Decrypts a serialized response to integer features.
    pub fn decrypt_integers(&self, response: &[u8]) -> Result<Vec<Vec<i64>>, Error> {
        let batch = EncryptedBatch::from_bytes(response, &self.params, self.card.output_dim)?;
        self.decrypt_batch_integers(&batch)
    }

    /// Decrypts a parsed response to integer features.
    pub fn decrypt_batch_integers(&self, batch: &EncryptedBatch) -> Result<Vec<Vec<i64>>, Error> {
        if batch.features() != self.card.output_dim {
            return Err(Error::InvalidInput(format!(
                "the response holds {} features, the model outputs {}",
                batch.features(),
                self.card.output_dim
            )));
        }
        Ok(self.keys.decrypt_batch(batch)?)
    }

    /// Decrypts a serialized response and dequantizes the features.
    pub fn decrypt(&self, response: &[u8]) -> Result<Vec<Vec<f32>>, Error> {
        self.decrypt_integers(response)?
            .iter()
            .map(|y| Ok(self.card.output_scale.dequantize(y)?))
            .collect()
    }
}
