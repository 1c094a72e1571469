//! [`PretrainConfig`]: what to train, how, and how to export it.

use cryptotl_he::Preset;
use cryptotl_quant::{FloatPolynomial, MAX_BITS};
use serde::{Deserialize, Serialize};

use crate::error::{PretrainError, Result};

/// Input and weight bit widths of the deployed integer network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QuantBits {
    /// Input bits `b_x` (min-max, per feature, fitted on the training split).
    pub input: u32,
    /// Weight bits `b_w` (symmetric, per output channel).
    pub weight: u32,
}

impl QuantBits {
    /// Checks `1 <= input <= 16` and `2 <= weight <= 16` (the ranges of
    /// `cryptotl-quant`).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_BITS).contains(&self.input) || !(2..=MAX_BITS).contains(&self.weight) {
            return Err(PretrainError::InvalidConfig(format!(
                "bit widths must be 1..={MAX_BITS} (input) and 2..={MAX_BITS} (weights), got \
                 {} and {}",
                self.input, self.weight
            )));
        }
        Ok(())
    }
}

/// Whether training sees the deployed integer network or the float one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TrainingMode {
    /// Quantization-aware training: the forward pass fake-quantizes the
    /// inputs, both fused linear layers and the activation coefficients
    /// exactly as the export will (straight-through gradients).
    #[default]
    QuantizationAware,
    /// Plain float training; the export quantizes afterwards (the baseline
    /// QAT is compared against).
    FloatOnly,
}

/// Starting point of the trainable quadratic activation `a0 + a1 y + a2 y²`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum ActivationInit {
    /// `y²`, CryptoTL's activation.
    #[default]
    Square,
    /// `0.25 + 0.5 y + 0.125 y²`, the least-squares-style quadratic
    /// approximation of `ReLU` on `[-2, 2]` commonly used in HE networks.
    ReluApprox,
    /// Any quadratic with a non-zero `y²` coefficient.
    Custom(FloatPolynomial),
}

impl ActivationInit {
    /// The coefficients `[a0, a1, a2]`.
    ///
    /// # Errors
    /// [`PretrainError::InvalidConfig`] for a custom polynomial of degree
    /// above 2, with non-finite coefficients or without a `y²` term (the
    /// quantized activation needs `a2 != 0`).
    pub fn coefficients(&self) -> Result<[f32; 3]> {
        let p = match self {
            ActivationInit::Square => return Ok([0.0, 0.0, 1.0]),
            ActivationInit::ReluApprox => return Ok([0.25, 0.5, 0.125]),
            ActivationInit::Custom(p) => p,
        };
        p.validate().map_err(PretrainError::InvalidActivation)?;
        let (a0, a1, a2) = p.quadratic_coefficients();
        let c = [a0 as f32, a1 as f32, a2 as f32];
        if c[2] == 0.0 || c.iter().any(|v| !v.is_finite()) {
            return Err(PretrainError::InvalidConfig(
                "the activation needs a non-zero, f32-representable y² coefficient".into(),
            ));
        }
        Ok(c)
    }
}

/// Everything [`pretrain`](crate::pretrain) needs besides the data.
///
/// [`PretrainConfig::default`] suits 384-d sentence embeddings with two
/// classes; tests and small experiments lower `max_epochs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Number of classes of the temporary head (`>= 2`). Two classes use one
    /// logit and binary cross-entropy, more use softmax cross-entropy.
    pub classes: usize,
    /// The HE preset the model is served at: bounds the plaintext modulus
    /// and is what the HE plan is made for.
    pub preset: Preset,
    /// Bit widths; `None` picks what
    /// [`cryptotl_graph::widest_quantization`] chooses for the initial
    /// network at `preset` (if the trained network no longer fits, the
    /// export falls back to the widths chosen for the trained network and
    /// the report says so).
    pub bits: Option<QuantBits>,
    /// Quantization-aware or float-only training.
    pub mode: TrainingMode,
    /// Calibration of the input quantizer's range: the share of each
    /// feature's training values left outside the range at *each* end (the
    /// range is `[q, 1 − q]` quantiles per feature; values outside are
    /// clamped by the quantizer). `0` is per-feature min-max. A small share
    /// trades clamping of rare outliers for a finer step on the bulk of the
    /// values; the bit widths, and so the HE plan, do not change.
    #[serde(default)]
    pub input_clip: f64,
    /// Initial activation.
    pub activation: ActivationInit,
    /// Whether the activation coefficients are trained (otherwise frozen at
    /// `activation`).
    pub train_activation: bool,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW); `0` is plain Adam.
    pub weight_decay: f64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Upper limit on epochs.
    pub max_epochs: usize,
    /// Stop after this many epochs without a lower validation loss (the best
    /// weights are restored).
    pub patience: usize,
    /// Fraction of the data held out for validation by
    /// [`pretrain`](crate::pretrain) (ignored by
    /// [`pretrain_with_validation`](crate::pretrain_with_validation)).
    pub validation_fraction: f64,
    /// Seed of the initialization, the split and the minibatch order.
    pub seed: u64,
    /// Whether to compute the HE plan ([`cryptotl_graph::plan`]) for the
    /// exported model (a calibration run under encryption: seconds).
    pub plan_he: bool,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            classes: 2,
            preset: Preset::N8192,
            bits: None,
            mode: TrainingMode::QuantizationAware,
            input_clip: 0.0,
            activation: ActivationInit::Square,
            train_activation: true,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            batch_size: 128,
            max_epochs: 50,
            patience: 5,
            validation_fraction: 0.1,
            seed: 0,
            plan_he: true,
        }
    }
}

impl PretrainConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`PretrainError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(PretrainError::InvalidConfig(msg));
        if self.classes < 2 {
            return bad(format!("need at least 2 classes, got {}", self.classes));
        }
        if let Some(bits) = &self.bits {
            bits.validate()?;
        }
        self.activation.coefficients()?;
        if !(self.input_clip.is_finite() && (0.0..0.5).contains(&self.input_clip)) {
            return bad(format!(
                "input clip must be in [0, 0.5), got {}",
                self.input_clip
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!(
                "learning rate must be > 0, got {}",
                self.learning_rate
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "weight decay must be >= 0, got {}",
                self.weight_decay
            ));
        }
        if self.batch_size == 0 {
            return bad("batch size must be > 0".into());
        }
        if self.max_epochs == 0 {
            return bad("max_epochs must be > 0".into());
        }
        if self.patience == 0 {
            return bad("patience must be > 0".into());
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return bad(format!(
                "validation fraction must be in (0, 1), got {}",
                self.validation_fraction
            ));
        }
        Ok(())
    }
}
