//! The model card: everything a client needs to use a server's model, and
//! nothing about its weights.

use cryptotl_graph::{HePlan, QuantizedModel};
use cryptotl_he::HeParameters;
use cryptotl_quant::{AffineScale, InputQuantizer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

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
}

impl ModelCard {
    /// The card of a quantized model that has an HE plan.
    pub fn of(model: &QuantizedModel) -> Result<Self, Error> {
        let he = model.he_plan.clone().ok_or_else(|| {
            Error::InvalidCard("the model has no HE plan; plan it before serving".into())
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
        };
        card.validate()?;
        Ok(card)
    }

    /// Checks version, dimensions and HE parameters (including their 128-bit
    /// security); returns the usable parameters.
    pub fn validate(&self) -> Result<HeParameters, Error> {
        if self.version != CARD_VERSION {
            return Err(Error::InvalidCard(format!(
                "card version {} is not supported (expected {CARD_VERSION})",
                self.version
            )));
        }
        self.input.validate()?;
        self.output_scale.validate()?;
        if self.input.dim() != self.input_dim || self.output_scale.len() != self.output_dim {
            return Err(Error::InvalidCard(
                "dimensions disagree with the quantizer or the output scale".into(),
            ));
        }
        let params = HeParameters::new(&self.he.params)?;
        if self.he.output_level > params.max_level() {
            return Err(Error::InvalidCard(format!(
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
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let card: ModelCard = serde_json::from_str(json)
            .map_err(|e| Error::InvalidCard(format!("not a model card: {e}")))?;
        card.validate()?;
        Ok(card)
    }
}
