//! The model card: everything a client needs to use a server's model, and
//! nothing about its weights.

use cryptotl_graph::{HePlan, NoisePlan, QuantizedModel};
use cryptotl_he::HeParameters;
use cryptotl_quant::{AffineScale, InputQuantizer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ProtocolError;
use crate::slots::SlotCard;

/// Version of the model card format.
pub const CARD_VERSION: u32 = 1;

/// What a server publishes about its model: input and output dimensions, the
/// input quantizer (fitted on the server's training data; clients must use it
/// as is), the scale that dequantizes the output features, the HE parameters
/// and output level, and a fingerprint of the model. Never weights.
///
/// The output scale reveals, per output feature, the largest weight
/// magnitude of the last layer (a single number per row); this is the price of
/// letting the client read features in real units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Card format version ([`CARD_VERSION`]).
    pub version: u32,
    /// SHA-256 of the model's manifest and weights (hex).
    pub model_fingerprint: String,
    /// Number of input features.
    pub input_dim: usize,
    /// Number of output features.
    pub output_dim: usize,
    /// The input quantizer.
    pub input: InputQuantizer,
    /// Dequantization of the output features.
    pub output_scale: AffineScale,
    /// BFV parameters and output level.
    pub he: HePlan,
    /// The noise the server adds to every response, if any
    /// ([`OutputNoise`](cryptotl_graph::OutputNoise)): the discrete Gaussian `σ` on the
    /// quantized features with its tail bound and failure probability, the
    /// sensitivity assumption (`Δ` per output value when one last-layer
    /// integer weight changes by ±1, over `slots` values per response) and
    /// the flooding parameters (`κ`, width `2^flood_bits`). Absent in cards
    /// of servers without noise (and in cards written before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_noise: Option<NoisePlan>,
    /// Slot packing (single-sample latency), if the server offers it: the
    /// CRT parameter family, the slot layout, the output level and the
    /// rotation steps whose Galois keys a session must upload. Absent when
    /// the server serves batch packing only (and in older cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<SlotCard>,
    /// The public data sets the lower network was pretrained on (empty
    /// when the model does not say), so that a client can refuse a server
    /// trained on its own data's provenance family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl ModelCard {
    /// The card of a quantized model that has an HE plan.
    pub fn of(model: &QuantizedModel) -> Result<Self, ProtocolError> {
        let he = model.he_plan.clone().ok_or_else(|| {
            ProtocolError::InvalidCard("the model has no HE plan; plan it before serving".into())
        })?;
        let bytes = cryptotl_graph::Model::Quantized(model.clone()).to_bytes()?;
        let mut h = Sha256::new();
        h.update(&bytes.manifest);
        h.update(&bytes.weights);
        let model_fingerprint = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let card = ModelCard {
            version: CARD_VERSION,
            model_fingerprint,
            input_dim: model.graph.input_dim(),
            output_dim: model.graph.output_dim(),
            input: model.graph.input.clone(),
            output_scale: model.graph.output_scale(),
            he,
            output_noise: None,
            slots: None,
            sources: model.sources.clone(),
        };
        card.validate()?;
        Ok(card)
    }

    /// Checks version, dimensions and HE parameters (including their 128-bit
    /// security); returns the usable parameters.
    pub fn validate(&self) -> Result<HeParameters, ProtocolError> {
        if self.version != CARD_VERSION {
            return Err(ProtocolError::InvalidCard(format!(
                "card version {} is not supported (expected {CARD_VERSION})",
                self.version
            )));
        }
        self.input.validate()?;
        cryptotl_graph::QuantizedModel::validate_sources(&self.sources)?;
        self.output_scale.validate()?;
        if self.input.dim() != self.input_dim || self.output_scale.len() != self.output_dim {
            return Err(ProtocolError::InvalidCard(
                "dimensions disagree with the quantizer or the output scale".into(),
            ));
        }
        let params = HeParameters::new(&self.he.params)?;
        if let Some(noise) = &self.output_noise {
            if noise.output_level != self.he.output_level
                || !(noise.sigma.is_finite() && noise.sigma >= 0.0)
            {
                return Err(ProtocolError::InvalidCard(
                    "the output noise disagrees with the HE plan's output level or has an \
                     invalid sigma"
                        .into(),
                ));
            }
        }
        if let Some(slots) = &self.slots {
            if self.output_noise.is_some() {
                return Err(ProtocolError::InvalidCard(
                    "slot packing is not offered together with output noise".into(),
                ));
            }
            slots.validate(self.input_dim, self.output_dim)?;
        }
        if self.he.output_level > params.max_level() {
            return Err(ProtocolError::InvalidCard(format!(
                "output level {} beyond the parameters' deepest level {}",
                self.he.output_level,
                params.max_level()
            )));
        }
        Ok(params)
    }

    /// JSON encoding.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and validates a JSON card.
    pub fn from_json(json: &str) -> Result<Self, ProtocolError> {
        let card: ModelCard = serde_json::from_str(json).map_err(ProtocolError::CardJson)?;
        card.validate()?;
        Ok(card)
    }
}
