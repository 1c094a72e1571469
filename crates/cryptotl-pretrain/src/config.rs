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

/// How [`pretrain_multi`](crate::pretrain_multi) weighs the sources in the
/// loss, in the validation loss that early stopping watches, and in the
/// combined accuracies of the report. With a single source both are the
/// same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SourceWeighting {
    /// Every sample counts the same: the loss is the mean over all samples
    /// of all sources, so a large source dominates.
    #[default]
    PerSample,
    /// Every source counts the same: the loss is the mean over sources of
    /// each source's mean loss. In a minibatch (drawn from the union), a
    /// sample of source `s` is weighted by `N / (K · N_s)` (`N` training
    /// samples in all, `K` sources, `N_s` of source `s`), so each
    /// minibatch's loss is an unbiased estimate of that mean even when a
    /// source is missing from the batch.
    EqualSources,
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

/// Everything [`pretrain`](crate::pretrain) and
/// [`pretrain_multi`](crate::pretrain_multi) need besides the data.
///
/// [`PretrainConfig::default`] suits 384-d sentence embeddings with two
/// classes; tests and small experiments lower `max_epochs`. The objective
/// knobs (`label_smoothing`, `reconstruction`, `source_weighting`) default
/// to what the trainer did before they existed, and configurations written
/// without them still deserialize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Number of classes of the temporary head (`>= 2`). Two classes use one
    /// logit and binary cross-entropy, more use softmax cross-entropy.
    /// Ignored by [`pretrain_multi`](crate::pretrain_multi), where each
    /// [`Source`](crate::Source) gives its own class count.
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
    /// Label smoothing `ε` of every head's cross-entropy, in `[0, 1)`: the
    /// target distribution is `(1 − ε) · one-hot + ε / k` over the head's
    /// `k` classes (two classes: the single logit's target is
    /// `y (1 − ε) + ε / 2`). `0` is plain cross-entropy. Keeps the features
    /// from sharpening towards the source's decision boundary alone.
    #[serde(default)]
    pub label_smoothing: f64,
    /// Weight `λ >= 0` of an auxiliary reconstruction loss (`0`: off, and
    /// nothing of it is computed). A linear decoder `ẑ = D f + c` (`D`:
    /// `d × (d − 2)`, initialized to zero, trained with the network and
    /// discarded at export) maps the lower network's output features `f`
    /// (the training-mode forward pass: fake-quantized under QAT) back to
    /// the *standardized input embedding* `z`, `z_j = (x_j − μ_j) / σ_j`
    /// with `μ_j`, `σ_j` the mean and (population) standard deviation of
    /// embedding feature `j` over the training samples of all sources
    /// (`z_j = 0` where `σ_j = 0`). Each sample's loss becomes
    /// `cross-entropy + λ · mean_j (ẑ_j − z_j)²`; training, validation and
    /// early stopping all use that sum. It rewards features that keep what
    /// is needed to recover the whole embedding, not only what separates
    /// the source's classes.
    #[serde(default)]
    pub reconstruction: f64,
    /// How [`pretrain_multi`](crate::pretrain_multi) weighs its sources
    /// (no effect with one source).
    #[serde(default)]
    pub source_weighting: SourceWeighting,
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
            label_smoothing: 0.0,
            reconstruction: 0.0,
            source_weighting: SourceWeighting::PerSample,
        }
    }
}

impl PretrainConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`PretrainError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.classes < 2 {
            return Err(PretrainError::InvalidConfig(format!(
                "need at least 2 classes, got {}",
                self.classes
            )));
        }
        self.validate_shared()
    }

    /// Checks every field's range but `classes` (what
    /// [`pretrain_multi`](crate::pretrain_multi) uses).
    pub(crate) fn validate_shared(&self) -> Result<()> {
        let bad = |msg: String| Err(PretrainError::InvalidConfig(msg));
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
        if !(self.label_smoothing.is_finite() && (0.0..1.0).contains(&self.label_smoothing)) {
            return bad(format!(
                "label smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
        }
        if !(self.reconstruction.is_finite() && self.reconstruction >= 0.0) {
            return bad(format!(
                "reconstruction weight must be finite and >= 0, got {}",
                self.reconstruction
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration written before the objective knobs existed still
    /// deserializes, to the old behaviour.
    #[test]
    fn old_configs_deserialize_with_the_knobs_off() {
        let mut json = serde_json::to_value(PretrainConfig::default()).expect("encodes");
        let object = json.as_object_mut().expect("object");
        for key in ["label_smoothing", "reconstruction", "source_weighting"] {
            assert!(object.remove(key).is_some(), "{key}");
        }
        let old: PretrainConfig = serde_json::from_value(json).expect("decodes");
        assert_eq!(old, PretrainConfig::default());
        assert_eq!(old.label_smoothing, 0.0);
        assert_eq!(old.reconstruction, 0.0);
        assert_eq!(old.source_weighting, SourceWeighting::PerSample);
    }

    #[test]
    fn knob_ranges_are_checked() {
        let ok = |c: PretrainConfig| c.validate().is_ok();
        let base = PretrainConfig::default();
        for (eps, valid) in [
            (0.0, true),
            (0.1, true),
            (0.99, true),
            (1.0, false),
            (-0.1, false),
            (f64::NAN, false),
        ] {
            assert_eq!(
                ok(PretrainConfig {
                    label_smoothing: eps,
                    ..base.clone()
                }),
                valid,
                "{eps}"
            );
        }
        for (w, valid) in [
            (0.0, true),
            (2.5, true),
            (-1e-9, false),
            (f64::INFINITY, false),
            (f64::NAN, false),
        ] {
            assert_eq!(
                ok(PretrainConfig {
                    reconstruction: w,
                    ..base.clone()
                }),
                valid,
                "{w}"
            );
        }
        // `classes` is checked by `validate` only.
        let one = PretrainConfig { classes: 1, ..base };
        assert!(!ok(one.clone()));
        assert!(one.validate_shared().is_ok());
    }
}
