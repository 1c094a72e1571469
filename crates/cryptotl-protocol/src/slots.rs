//! Slot packing in the facade (issue: single-sample latency): the model-card
//! entry, the server's prepared slot evaluator and per-session keys, and the
//! client that encrypts one sample per ciphertext.
//!
//! The wire layout is documented on [`SlotServer`].

use std::sync::Arc;

use cryptotl_graph::{
    prepare_slots, QuantizedGraph, SlotClient, SlotEvaluator, SlotKeys, SlotPlan,
};
use cryptotl_he::wire::{split_messages, Kind};
use cryptotl_he::CrtParameters;
use cryptotl_he::Fingerprint;
use cryptotl_he::{EncryptedBatch, EvaluationKeys, Preset};
use cryptotl_he::{Rotation, RotationKeys};
use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;

/// Most samples one slot-packed request may hold (each costs one ciphertext
/// per pipeline; beyond a few dozen, batch packing is cheaper anyway).
pub const MAX_SLOT_SAMPLES: usize = 64;

/// What the model card says about slot packing: the plan (CRT parameters,
/// layout, output level) and the rotation steps whose Galois keys a client
/// must upload — exactly those the layout uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotCard {
    /// The plan.
    pub plan: SlotPlan,
    /// The Galois keys the server needs.
    pub rotations: Vec<Rotation>,
}

impl SlotCard {
    /// The card entry of a plan.
    pub fn of(plan: &SlotPlan) -> Self {
        Self {
            plan: plan.clone(),
            rotations: plan.rotations(),
        }
    }

    /// Validates the entry (parameters secure and consistent, the layout the
    /// one the dimensions imply, the rotation list the layout's) and returns
    /// the parameter family.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidCard`] naming the problem.
    pub fn validate(
        &self,
        input_dim: usize,
        output_dim: usize,
    ) -> Result<CrtParameters, ProtocolError> {
        let crt = CrtParameters::new(&self.plan.crt).map_err(ProtocolError::SlotParameters)?;
        self.plan
            .check_layouts()
            .map_err(ProtocolError::SlotLayout)?;
        let l = &self.plan.layout;
        if l.input_dim != input_dim
            || l.output_dim != output_dim
            || l.degree != crt.first().degree()
        {
            return Err(ProtocolError::InvalidCard(
                "the slot layout does not match the model's dimensions".into(),
            ));
        }
        if self.rotations != self.plan.rotations() {
            return Err(ProtocolError::InvalidCard(
                "the slot rotation list does not match the layout".into(),
            ));
        }
        if self.plan.output_level > crt.first().max_level() {
            return Err(ProtocolError::InvalidCard(
                "slot output level out of range".into(),
            ));
        }
        Ok(crt)
    }
}

/// The server's slot-packing state for one model: every diagonal encoded
/// once, shared by all sessions.
///
/// On the wire everything is a sequence of `cryptotl-he` messages back to
/// back (each with its own header and parameter fingerprint):
///
/// - session keys: one rotation-keys message (fingerprint of pipeline 0) and
///   one evaluation-keys message per CRT pipeline, in pipeline order;
/// - a request: one ciphertext-batch message per pipeline (one ciphertext
///   per sample, or per two samples in the plan's two-lane layout; the
///   batches announce the sample count, which tells the layout, and all
///   announce the same);
/// - a response: one ciphertext-batch message per pipeline, at the plan's
///   output level.
#[derive(Debug, Clone)]
pub struct SlotServer {
    evaluator: Arc<SlotEvaluator>,
    card: SlotCard,
}

impl SlotServer {
    /// Plans slot packing for `graph` (a calibration run: seconds) and
    /// encodes its diagonals.
    ///
    /// # Errors
    /// If the network is not `Dense → quadratic → Dense`, does not fit one
    /// ciphertext, or no plan keeps the noise budget.
    pub fn plan(graph: &QuantizedGraph) -> Result<Self, ProtocolError> {
        let evaluator = prepare_slots(graph, Preset::N8192)?;
        Ok(Self {
            card: SlotCard::of(evaluator.plan()),
            evaluator: Arc::new(evaluator),
        })
    }

    /// Prepares a known plan.
    ///
    /// # Errors
    /// If the plan does not fit the graph.
    pub fn with_plan(graph: &QuantizedGraph, plan: &SlotPlan) -> Result<Self, ProtocolError> {
        let evaluator = SlotEvaluator::new(graph, plan)?;
        Ok(Self {
            evaluator: Arc::new(evaluator),
            card: SlotCard::of(plan),
        })
    }

    /// The card entry.
    pub fn card(&self) -> &SlotCard {
        &self.card
    }

    /// The parameter fingerprint of CRT pipeline 0, which marks slot-packed
    /// requests.
    pub fn fingerprint(&self) -> Fingerprint {
        self.evaluator.crt().first().fingerprint()
    }

    /// Parses a client's slot keys (see the module docs) and opens a session.
    ///
    /// # Errors
    /// [`ProtocolError::He`] / [`ProtocolError::InvalidRequest`] for malformed, foreign,
    /// missing or superfluous keys.
    pub fn open_session(&self, messages: &[&[u8]]) -> Result<SlotSession, ProtocolError> {
        let members = self.evaluator.crt().members();
        if messages.len() != members.len() + 1 {
            return Err(ProtocolError::InvalidRequest(format!(
                "slot keys: expected 1 rotation-keys message and {} evaluation-keys messages, got {} messages",
                members.len(),
                messages.len()
            )));
        }
        let rotations =
            RotationKeys::from_bytes(messages[0], &members[0], self.card.rotations.len())?;
        if rotations.rotations() != self.card.rotations {
            return Err(ProtocolError::InvalidRequest(
                "slot keys: the rotation keys are not the steps the model card lists".into(),
            ));
        }
        let evaluation = messages[1..]
            .iter()
            .zip(members)
            .map(|(m, p)| EvaluationKeys::from_bytes(m, p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SlotSession {
            evaluator: Arc::clone(&self.evaluator),
            keys: Arc::new(SlotKeys {
                evaluation,
                rotations,
            }),
        })
    }
}

/// One client's slot-packing session: the shared model and its keys.
#[derive(Debug, Clone)]
pub struct SlotSession {
    evaluator: Arc<SlotEvaluator>,
    keys: Arc<SlotKeys>,
}

impl SlotSession {
    /// Evaluates a slot-packed request (one batch message per pipeline) and
    /// returns the response bytes (one batch message per pipeline).
    ///
    /// # Errors
    /// [`ProtocolError::InvalidRequest`] / [`ProtocolError::He`] for malformed, foreign or
    /// oversized requests.
    pub fn evaluate(&self, messages: &[&[u8]]) -> Result<Vec<u8>, ProtocolError> {
        let batches = pipeline_batches("slot request", messages, self.evaluator.crt())?;
        let out = self.evaluator.evaluate(&batches, &self.keys)?;
        Ok(out.iter().flat_map(|b| b.to_bytes()).collect())
    }

    /// Memory the session's keys occupy (rotation keys as parsed and kept
    /// for hoisting, and every pipeline's relinearization key).
    pub fn resident_bytes(&self) -> usize {
        self.keys.rotations.resident_bytes()
            + self
                .keys
                .evaluation
                .iter()
                .map(EvaluationKeys::resident_bytes)
                .sum::<usize>()
    }
}

/// Parses one ciphertext-batch message per CRT pipeline (each under its
/// member's parameters, at most [`MAX_SLOT_SAMPLES`] ciphertexts): the shape
/// of slot requests and responses alike.
fn pipeline_batches(
    what: &str,
    messages: &[&[u8]],
    crt: &CrtParameters,
) -> Result<Vec<EncryptedBatch>, ProtocolError> {
    let members = crt.members();
    if messages.len() != members.len() {
        return Err(ProtocolError::InvalidRequest(format!(
            "{what}: expected {} ciphertext batches (one per pipeline), got {}",
            members.len(),
            messages.len()
        )));
    }
    Ok(messages
        .iter()
        .zip(members)
        .map(|(m, p)| EncryptedBatch::from_bytes(m, p, MAX_SLOT_SAMPLES))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Splits a body into messages and reports whether it is slot-packed: its
/// first message is a rotation-keys message (session keys) or a ciphertext
/// batch under `slot_fingerprint`, the parameters of CRT pipeline 0
/// ([`SlotServer::fingerprint`]; `None` when slot packing is not offered).
///
/// # Errors
/// [`ProtocolError::He`] for bytes that are not a sequence of HE messages.
pub fn classify_slot_messages(
    bytes: &[u8],
    slot_fingerprint: Option<Fingerprint>,
) -> Result<(bool, Vec<&[u8]>), ProtocolError> {
    let parts = split_messages(bytes)?;
    let is_slot = match parts.first() {
        Some((Kind::RotationKeys, _, _)) => true,
        Some((Kind::CiphertextBatch, fp, _)) => Some(*fp) == slot_fingerprint,
        _ => false,
    };
    Ok((is_slot, parts.into_iter().map(|(_, _, b)| b).collect()))
}

/// The client side of slot packing for one model card entry.
#[derive(Debug)]
pub struct SlotLowerClient {
    client: SlotClient,
    card: SlotCard,
}

impl SlotLowerClient {
    /// A fresh secret key for the card's slot plan.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidCard`] for an invalid entry.
    pub fn new(
        card: &SlotCard,
        input_dim: usize,
        output_dim: usize,
    ) -> Result<Self, ProtocolError> {
        card.validate(input_dim, output_dim)?;
        Ok(Self {
            client: SlotClient::generate(&card.plan)?,
            card: card.clone(),
        })
    }

    /// The card entry.
    pub fn card(&self) -> &SlotCard {
        &self.card
    }

    /// The session keys to upload (rotation keys, then one evaluation-keys
    /// message per pipeline).
    ///
    /// # Errors
    /// From key generation.
    pub fn key_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        let keys = self.client.keys()?;
        let mut out = keys.rotations.to_bytes();
        for k in &keys.evaluation {
            out.extend_from_slice(&k.to_bytes());
        }
        Ok(out)
    }

    /// Encrypts quantized samples (at most [`MAX_SLOT_SAMPLES`]) into one
    /// request, `lanes` samples per ciphertext (1, or 2 when the card's plan
    /// has the two-lane layout; [`cryptotl_graph::PackingDecision::slot_lanes`]).
    ///
    /// # Errors
    /// For too many samples, invalid values or a layout the plan lacks.
    pub fn encrypt(&self, samples: &[Vec<i64>], lanes: usize) -> Result<Vec<u8>, ProtocolError> {
        if samples.is_empty() || samples.len() > MAX_SLOT_SAMPLES {
            return Err(ProtocolError::InvalidRequest(format!(
                "a slot-packed request holds 1..={MAX_SLOT_SAMPLES} samples, got {}",
                samples.len()
            )));
        }
        Ok(self
            .client
            .encrypt(samples, lanes)?
            .iter()
            .flat_map(|b| b.to_bytes())
            .collect())
    }

    /// Decrypts a response into the exact integer features, one vector per
    /// sample.
    ///
    /// # Errors
    /// For malformed or foreign responses.
    pub fn decrypt(&self, response: &[u8]) -> Result<Vec<Vec<i64>>, ProtocolError> {
        let parts: Vec<&[u8]> = split_messages(response)?
            .into_iter()
            .map(|(_, _, b)| b)
            .collect();
        let batches = pipeline_batches("slot response", &parts, self.client.crt())?;
        Ok(self.client.decrypt(&batches)?)
    }
}
