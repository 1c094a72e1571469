//! The server side: serves a quantized lower network on encrypted batches.

use std::sync::Arc;

use cryptotl_graph::{
    plan_output_noise, plan_with_output_noise, EncryptedEvaluator, NoisePlan, OutputNoise,
    QuantizedGraph, QuantizedModel,
};
use cryptotl_he::wire::{split_messages, Kind};
use cryptotl_he::Fingerprint;
use cryptotl_he::{EncryptedBatch, EvaluationKeys, HeParameters, Preset};

use crate::card::ModelCard;
use crate::error::ProtocolError;
use crate::slots::{classify_slot_messages, SlotServer, SlotSession};

/// A server holding a quantized model with its HE plan. The model is
/// immutable and shared: every [`Session`] opened here refers to the same
/// graph (no copy of the weights), so a session costs only its keys.
#[derive(Debug, Clone)]
pub struct LowerServer {
    graph: Arc<QuantizedGraph>,
    params: HeParameters,
    card: ModelCard,
    noise: Option<NoisePlan>,
    slots: Option<SlotServer>,
}

impl LowerServer {
    /// Prepares a model for serving; it must carry an HE plan whose
    /// plaintext modulus covers the model's bound analysis.
    pub fn new(model: QuantizedModel) -> Result<Self, ProtocolError> {
        let card = ModelCard::of(&model)?;
        let params = card.validate()?;
        model
            .graph
            .check_plaintext_modulus(params.plaintext_modulus())?;
        Ok(Self {
            graph: Arc::new(model.graph),
            params,
            card,
            noise: None,
            slots: None,
        })
    }

    /// Also offers slot packing (one sample per ciphertext, for low latency
    /// on small requests; [`SlotServer`](crate::SlotServer)): plans it (a
    /// calibration run of a few seconds), encodes the model's diagonals once,
    /// and advertises the plan and the rotation steps on the card.
    ///
    /// # Errors
    /// If the server adds output noise (not supported with slot packing),
    /// the network is not `Dense → quadratic → Dense`, a sample does not fit
    /// one ciphertext, or no plan keeps the noise budget.
    pub fn with_slot_packing(mut self) -> Result<Self, ProtocolError> {
        if self.noise.is_some() {
            return Err(ProtocolError::InvalidCard(
                "slot packing does not support server output noise; serve batch packing only"
                    .into(),
            ));
        }
        let slots = SlotServer::plan(&self.graph)?;
        self.card.slots = Some(slots.card().clone());
        self.card.validate()?;
        self.slots = Some(slots);
        Ok(self)
    }

    /// The slot-packing state, if offered.
    pub fn slot_server(&self) -> Option<&SlotServer> {
        self.slots.as_ref()
    }

    /// Like [`LowerServer::new`], but every response carries the server's
    /// output noise ([`OutputNoise`](cryptotl_graph::OutputNoise)): discrete Gaussian
    /// noise of standard deviation `noise.sigma` on the quantized features
    /// (under encryption) and, if `noise.flooding_kappa > 0`, noise flooding
    /// (clients must then send their public key, which [`crate::LowerClient`]
    /// does when the card says so). The card advertises the noise and the
    /// output level it needs.
    ///
    /// For the CLI's `serve --output-noise SIGMA`:
    /// `LowerServer::with_output_noise(model, OutputNoise::new(SIGMA))`.
    ///
    /// # Errors
    /// As [`LowerServer::new`]; [`cryptotl_graph::GraphError::NoiseDoesNotFit`]
    /// (naming the output layer) when the model's plaintext modulus has no
    /// room for the noise's tail bound — re-plan the model with
    /// [`plan_model_for_noise`] first; flooding that exceeds the noise
    /// budget.
    pub fn with_output_noise(
        model: QuantizedModel,
        noise: OutputNoise,
    ) -> Result<Self, ProtocolError> {
        let mut server = Self::new(model)?;
        let plan = plan_output_noise(&server.graph, &server.card.he, &noise)?;
        server.card.he.output_level = plan.output_level;
        server.card.output_noise = Some(plan);
        server.card.validate()?;
        server.noise = Some(plan);
        Ok(server)
    }

    /// Like [`LowerServer::with_output_noise`], but a model whose plaintext
    /// modulus has no room for the noise is re-planned for it first
    /// ([`plan_model_for_noise`]): what `cryptotl serve --output-noise`
    /// does.
    ///
    /// # Errors
    /// As [`LowerServer::with_output_noise`] after re-planning: no
    /// parameters fit the noise, or flooding that exceeds the budget.
    pub fn with_output_noise_replanned(
        model: QuantizedModel,
        noise: OutputNoise,
    ) -> Result<Self, ProtocolError> {
        match Self::with_output_noise(model.clone(), noise) {
            Ok(server) => Ok(server),
            // No room for the noise (or its flooding) at the model's plan:
            // re-plan for the noise; this fails with the reason if no
            // parameters fit.
            Err(_) => {
                let mut model = model;
                plan_model_for_noise(&mut model, &noise)?;
                Self::with_output_noise(model, noise)
            }
        }
    }

    /// The output noise in use, if any.
    pub fn output_noise(&self) -> Option<&NoisePlan> {
        self.noise.as_ref()
    }

    /// The model card to publish.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The HE parameters in use.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// The served model's graph, shared with every session.
    pub fn model(&self) -> &Arc<QuantizedGraph> {
        &self.graph
    }

    /// Opens a session from a client's serialized evaluation keys (validated:
    /// truncated, garbled or foreign keys are refused). When the server
    /// offers slot packing, the keys may be followed by the slot keys
    /// ([`SlotServer`](crate::SlotServer): rotation keys, then one
    /// evaluation-keys message per CRT pipeline).
    pub fn open_session(&self, evaluation_keys: &[u8]) -> Result<Session, ProtocolError> {
        let parts = split_messages(evaluation_keys)?;
        let split = parts
            .iter()
            .position(|(kind, _, _)| *kind == Kind::RotationKeys)
            .unwrap_or(parts.len());
        let batch_len: usize = parts[..split].iter().map(|(_, _, b)| b.len()).sum();
        let keys = EvaluationKeys::from_bytes(&evaluation_keys[..batch_len], &self.params)?;
        let mut session = self.open_session_with(keys)?;
        if split < parts.len() {
            let slots = self.slots.as_ref().ok_or_else(|| {
                ProtocolError::InvalidRequest(
                    "slot keys were sent, but this server does not offer slot packing".into(),
                )
            })?;
            let messages: Vec<&[u8]> = parts[split..].iter().map(|(_, _, b)| *b).collect();
            session.slots = Some(slots.open_session(&messages)?);
        }
        Ok(session)
    }

    /// Opens a session from already parsed evaluation keys.
    pub fn open_session_with(&self, keys: EvaluationKeys) -> Result<Session, ProtocolError> {
        let keys_resident_bytes = keys.resident_bytes();
        let mut evaluator =
            EncryptedEvaluator::from_shared_plan(Arc::clone(&self.graph), &self.card.he, keys)?;
        if let Some(noise) = &self.noise {
            evaluator = evaluator.with_output_noise(noise)?;
        }
        Ok(Session {
            key_bytes: keys_resident_bytes,
            evaluator,
            input_dim: self.card.input_dim,
            slots: None,
            slot_fingerprint: self.slots.as_ref().map(SlotServer::fingerprint),
        })
    }
}

/// One client's session: its evaluation keys, ready to evaluate batches.
#[derive(Debug, Clone)]
pub struct Session {
    evaluator: EncryptedEvaluator,
    input_dim: usize,
    slots: Option<SlotSession>,
    slot_fingerprint: Option<Fingerprint>,
    key_bytes: usize,
}

impl Session {
    /// Evaluates a serialized request and returns the serialized encrypted
    /// features. The request is fully validated first. Batch-packed requests
    /// are one ciphertext-batch message; slot-packed ones one message per
    /// CRT pipeline ([`SlotServer`](crate::SlotServer)), which needs the
    /// session's slot keys.
    pub fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        if let Some(messages) = self.slot_request(request)? {
            let slots = self.slots.as_ref().ok_or_else(|| {
                ProtocolError::InvalidRequest(
                    "a slot-packed request in a session opened without slot keys".into(),
                )
            })?;
            return slots.evaluate(&messages);
        }
        Ok(self.evaluate_to_batch(request)?.to_bytes())
    }

    /// The messages of a slot-packed request, or `None` for a batch-packed
    /// one.
    ///
    /// # Errors
    /// For bytes that are not a sequence of HE messages.
    pub fn slot_request<'a>(
        &self,
        request: &'a [u8],
    ) -> Result<Option<Vec<&'a [u8]>>, ProtocolError> {
        if self.slot_fingerprint.is_none() {
            return Ok(None);
        }
        let (is_slot, messages) = classify_slot_messages(request, self.slot_fingerprint)?;
        Ok(is_slot.then_some(messages))
    }

    /// Whether the session holds slot keys.
    pub fn has_slot_keys(&self) -> bool {
        self.slots.is_some()
    }

    /// Like [`Session::evaluate`], but returns the encrypted features
    /// unserialized, for writing them out incrementally
    /// ([`EncryptedBatch::serialized_prefix`],
    /// [`EncryptedBatch::serialized_ciphertext`]): the same bytes as
    /// [`Session::evaluate`] returns.
    pub fn evaluate_to_batch(&self, request: &[u8]) -> Result<EncryptedBatch, ProtocolError> {
        let batch = EncryptedBatch::from_bytes(request, self.evaluator.params(), self.input_dim)?;
        self.evaluate_batch(&batch)
    }

    /// Evaluates a parsed encrypted batch.
    pub fn evaluate_batch(&self, batch: &EncryptedBatch) -> Result<EncryptedBatch, ProtocolError> {
        Ok(self.evaluator.evaluate(batch)?)
    }

    /// Memory this session's keys occupy
    /// ([`EvaluationKeys::resident_bytes`], plus the slot keys' when it has
    /// them): what the session costs, the model being shared.
    pub fn key_bytes(&self) -> usize {
        self.key_bytes + self.slots.as_ref().map_or(0, SlotSession::resident_bytes)
    }

    /// The model this session evaluates: the server's shared graph, not a
    /// copy ([`Arc::ptr_eq`] with [`LowerServer::model`] holds).
    pub fn model(&self) -> &Arc<QuantizedGraph> {
        self.evaluator.shared_graph()
    }
}

/// Re-plans a model's HE parameters (same ring degree) so that its plaintext
/// modulus has room for `noise` next to the output bound
/// ([`cryptotl_graph::plan_with_output_noise`]); replaces `model.he_plan`.
/// This changes the model's fingerprint and card.
///
/// # Errors
/// A model without an HE plan or with an unknown ring degree, and planning
/// errors.
pub fn plan_model_for_noise(
    model: &mut QuantizedModel,
    noise: &OutputNoise,
) -> Result<(), ProtocolError> {
    let plan = model.he_plan.as_ref().ok_or_else(|| {
        ProtocolError::InvalidCard("the model has no HE plan; plan it before serving".into())
    })?;
    let degree = HeParameters::new(&plan.params)?.degree();
    let preset = Preset::all()
        .into_iter()
        .find(|p| p.degree() == degree)
        .ok_or_else(|| ProtocolError::InvalidCard(format!("no preset has ring degree {degree}")))?;
    let (plan, _) = plan_with_output_noise(&model.graph, preset, noise)?;
    model.he_plan = Some(plan);
    Ok(())
}
