//! What a head file records about how the head was trained.

use serde::{Deserialize, Serialize};

/// How a head was trained, stored in its head file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Epochs run (including those after the best one when early stopping
    /// restored earlier weights).
    pub epochs: usize,
    /// Epoch (1-based) whose weights the head holds.
    pub best_epoch: usize,
    /// Validation loss of those weights, when a validation set was used.
    pub best_validation_loss: Option<f64>,
    /// Examples used for gradient steps.
    pub train_examples: usize,
    /// Examples used for early stopping (0 without validation).
    pub validation_examples: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Seed of initialization, shuffling, dropout and the validation split.
    pub seed: u64,
    /// Differential-privacy accounting, when the head was trained with
    /// DP-SGD.
    #[serde(default)]
    pub dp: Option<DpRecord>,
}

/// Differential-privacy guarantee and DP-SGD parameters of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpRecord {
    /// Privacy budget ε spent.
    pub epsilon: f64,
    /// Failure probability δ.
    pub delta: f64,
    /// Per-example gradient L2 clipping norm C.
    pub clip: f64,
    /// Noise standard deviation as a multiple σ of the clipping norm.
    pub noise_multiplier: f64,
}

impl TrainingRecord {
    /// Whether every floating-point field is finite (JSON cannot hold the
    /// others).
    pub(crate) fn is_finite(&self) -> bool {
        let dp_finite = self.dp.is_none_or(|dp| {
            [dp.epsilon, dp.delta, dp.clip, dp.noise_multiplier]
                .iter()
                .all(|v| v.is_finite())
        });
        self.learning_rate.is_finite()
            && self.best_validation_loss.is_none_or(f64::is_finite)
            && dp_finite
    }
}
