//! The server side: serves a quantized lower network on encrypted batches.

use cryptotl_graph::{EncryptedEvaluator, QuantizedGraph, QuantizedModel};
use cryptotl_he::{EncryptedBatch, EvaluationKeys, HeParameters};

use crate::card::ModelCard;
use crate::error::Error;

/// A server holding a quantized model with its HE plan.
#[derive(Debug, Clone)]
pub struct LowerServer {
    graph: QuantizedGraph,
    params: HeParameters,
    card: ModelCard,
}

impl LowerServer {
    /// Prepares a model for serving; it must carry an HE plan whose
    /// plaintext modulus covers the model's bound analysis.
    pub fn new(model: QuantizedModel) -> Result<Self, Error> {
        let card = ModelCard::of(&model)?;
        let params = card.validate()?;
        model
            .graph
            .check_plaintext_modulus(params.plaintext_modulus())?;
        Ok(Self {
            graph: model.graph,
            params,
            card,
        })
    }

    /// The model card to publish.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The HE parameters in use.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// Opens a session from a client's serialized evaluation keys (validated:
    /// truncated, garbled or foreign keys are refused).
    pub fn open_session(&self, evaluation_keys: &[u8]) -> Result<Session, Error> {
        let keys = EvaluationKeys::from_bytes(evaluation_keys, &self.params)?;
        self.open_session_with(keys)
    }

    /// Opens a session from already parsed evaluation keys.
    pub fn open_session_with(&self, keys: EvaluationKeys) -> Result<Session, Error> {
        let evaluator = EncryptedEvaluator::from_plan(&self.graph, &self.card.he, keys)?;
        Ok(Session {
            evaluator,
            input_dim: self.card.input_dim,
        })
    }
}

/// One client's session: its evaluation keys, ready to evaluate batches.
#[derive(Debug, Clone)]
pub struct Session {
    evaluator: EncryptedEvaluator,
    input_dim: usize,
}

impl Session {
    /// Evaluates a serialized encrypted batch and returns the serialized
    /// encrypted features. The request is fully validated first.
    pub fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = EncryptedBatch::from_bytes(request, self.evaluator.params(), self.input_dim)?;
        Ok(self.evaluate_batch(&batch)?.to_bytes())
    }

    /// Evaluates a parsed encrypted batch.
    pub fn evaluate_batch(&self, batch: &EncryptedBatch) -> Result<EncryptedBatch, Error> {
        Ok(self.evaluator.evaluate(batch)?)
    }
}
