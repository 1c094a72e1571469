//! The client side: quantizes, encrypts, decrypts and dequantizes. The
//! secret key never leaves [`LowerClient`].

use cryptotl_he::{ClientKeys, EncryptedBatch, EvaluationKeys, HeParameters};

use cryptotl_graph::{BatchShape, SlotOperations};
use cryptotl_graph::{CostModel, Packing, PackingChoice, PackingDecision};

use crate::card::ModelCard;
use crate::error::ProtocolError;
use crate::slots::SlotLowerClient;

/// The cost model's decision for a card (slot packing considered when
/// `slots` is given).
fn estimate(
    card: &ModelCard,
    slots: Option<&crate::slots::SlotCard>,
    params: &HeParameters,
    choice: PackingChoice,
    samples: usize,
) -> Result<PackingDecision, ProtocolError> {
    let hidden = slots.map_or(card.input_dim, |c| c.plan.layout.hidden_dim);
    let shape = BatchShape {
        degree: params.degree(),
        moduli: params.moduli().len(),
        weights: card.input_dim * hidden + hidden * card.output_dim,
        squares: hidden,
    };
    let ops = slots.map_or_else(Vec::new, |c| SlotOperations::of_plan(&c.plan));
    Ok(CostModel::default().choose(choice, samples, &shape, &ops)?)
}

/// A client of one server model. Generates its own keys.
#[derive(Debug)]
pub struct LowerClient {
    card: ModelCard,
    params: HeParameters,
    keys: ClientKeys,
    evaluation_keys: EvaluationKeys,
    packing: PackingChoice,
    slots: Option<(SlotLowerClient, Vec<u8>)>,
}

impl LowerClient {
    /// Creates a client (and fresh keys) for a validated model card. When
    /// the card announces noise flooding, the evaluation keys carry the
    /// client's public key.
    pub fn new(card: &ModelCard) -> Result<Self, ProtocolError> {
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
            packing: PackingChoice::Fixed(Packing::Batch),
            slots: None,
        })
    }

    /// Chooses the packing of this client's requests (the default is batch
    /// packing). `auto` and `slots` generate the slot-packing keys when the
    /// card offers slot packing (their upload, about 25 MB at d = 384, joins
    /// [`LowerClient::evaluation_key_bytes`]); `auto` then decides per
    /// request with the cost model ([`LowerClient::decide`]) and falls back
    /// to batch packing when the card offers no slot packing.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidCard`] for `slots` when the card does not offer it;
    /// key-generation errors.
    pub fn with_packing(mut self, choice: PackingChoice) -> Result<Self, ProtocolError> {
        self.packing = choice;
        self.slots = None;
        let wants_slots = choice != PackingChoice::Fixed(Packing::Batch);
        match (&self.card.slots, wants_slots) {
            (Some(card), true) => {
                let client = SlotLowerClient::new(card, self.card.input_dim, self.card.output_dim)?;
                let keys = client.key_bytes()?;
                self.slots = Some((client, keys));
            }
            (None, true) if choice == PackingChoice::Fixed(Packing::Slots) => {
                return Err(ProtocolError::InvalidCard(
                    "--packing slots: the server does not offer slot packing for this model \
                     (its card has no slot plan)"
                        .into(),
                ))
            }
            _ => {}
        }
        Ok(self)
    }

    /// The packing asked for.
    pub fn packing(&self) -> PackingChoice {
        self.packing
    }

    /// The slot-packing client, when slot packing is enabled.
    pub fn slot_client(&self) -> Option<&SlotLowerClient> {
        self.slots.as_ref().map(|(c, _)| c)
    }

    /// The packing for a request of `samples` samples, with the cost model's
    /// estimates (what the CLI prints). Slot packing is considered only when
    /// it is enabled on this client.
    ///
    /// # Errors
    /// `slots` asked for without slot packing enabled.
    pub fn decide(&self, samples: usize) -> Result<PackingDecision, ProtocolError> {
        let card = self.slot_client().map(|c| c.card());
        estimate(&self.card, card, &self.params, self.packing, samples)
    }

    /// What `choice` would pick for `samples` samples against `card`, before
    /// any client (or key) exists: lets a caller skip generating and
    /// uploading slot keys when `auto` would not use them.
    ///
    /// # Errors
    /// An invalid card, or `slots` when the card does not offer it.
    pub fn estimate(
        card: &ModelCard,
        choice: PackingChoice,
        samples: usize,
    ) -> Result<PackingDecision, ProtocolError> {
        let params = card.validate()?;
        estimate(card, card.slots.as_ref(), &params, choice, samples)
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

    /// Serialized evaluation keys to send to the server (public): the
    /// batch-packing keys, followed by the slot-packing keys when slot
    /// packing is enabled ([`LowerClient::with_packing`]).
    pub fn evaluation_key_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut out = self.evaluation_keys.to_bytes();
        if let Some((_, slot_keys)) = &self.slots {
            out.extend_from_slice(slot_keys);
        }
        Ok(out)
    }

    /// The evaluation keys (public).
    pub fn evaluation_keys(&self) -> &EvaluationKeys {
        &self.evaluation_keys
    }

    /// Quantizes samples with the card's input quantizer.
    pub fn quantize(&self, samples: &[Vec<f32>]) -> Result<Vec<Vec<i64>>, ProtocolError> {
        samples
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if x.len() != self.card.input_dim {
                    return Err(ProtocolError::SampleDimension {
                        sample: i,
                        got: x.len(),
                        expected: self.card.input_dim,
                    });
                }
                Ok(self.card.input.quantize(x)?)
            })
            .collect()
    }

    /// Quantizes and encrypts samples into batches of at most N samples.
    pub fn encrypt_batches(
        &self,
        samples: &[Vec<f32>],
    ) -> Result<Vec<EncryptedBatch>, ProtocolError> {
        if samples.is_empty() {
            return Err(ProtocolError::InvalidRequest(
                "no samples to encrypt".into(),
            ));
        }
        let q = self.quantize(samples)?;
        q.chunks(self.params.degree())
            .map(|chunk| Ok(self.keys.encrypt_batch(chunk)?))
            .collect()
    }

    /// Quantizes, encrypts and serializes samples: one request per batch.
    pub fn encrypt(&self, samples: &[Vec<f32>]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        Ok(self
            .encrypt_batches(samples)?
            .iter()
            .map(EncryptedBatch::to_bytes)
            .collect())
    }

    /// Decrypts a serialized response to integer features.
    pub fn decrypt_integers(&self, response: &[u8]) -> Result<Vec<Vec<i64>>, ProtocolError> {
        let batch = EncryptedBatch::from_bytes(response, &self.params, self.card.output_dim)?;
        self.decrypt_batch_integers(&batch)
    }

    /// Decrypts a parsed response to integer features.
    pub fn decrypt_batch_integers(
        &self,
        batch: &EncryptedBatch,
    ) -> Result<Vec<Vec<i64>>, ProtocolError> {
        if batch.features() != self.card.output_dim {
            return Err(ProtocolError::InvalidRequest(format!(
                "the response holds {} features, the model outputs {}",
                batch.features(),
                self.card.output_dim
            )));
        }
        Ok(self.keys.decrypt_batch(batch)?)
    }

    /// Decrypts a serialized response and dequantizes the features.
    pub fn decrypt(&self, response: &[u8]) -> Result<Vec<Vec<f32>>, ProtocolError> {
        self.decrypt_integers(response)?
            .iter()
            .map(|y| Ok(self.card.output_scale.dequantize(y)?))
            .collect()
    }
}
