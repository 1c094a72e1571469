//! The shape of the head network ([`HeadConfig`]).

use serde::{Deserialize, Serialize};

use crate::error::{HeadError, Result};
use crate::preprocess::Preprocessing;

/// Largest number of trainable parameters a configuration may ask for
/// (2^28, 1 GiB of `f32`): guards against absurd allocations from a
/// malformed head file.
pub const MAX_PARAMETERS: usize = 1 << 28;

/// Architecture of the head (CryptoTL's upper network):
///
/// ```text
/// x (input_dim) ── preprocess ── standardize ── Dense(input_dim → hidden) ── ReLU
///   ── MaxPool1d(pool, stride = pool) ── Dropout(dropout, training only)
///   ── Dense(pooled → 1) + sigmoid    (classes = 2)
///   └─ Dense(pooled → classes) + softmax (classes > 2)
/// ```
///
/// The pooling follows Keras' `MaxPooling1D(pool_size = pool)` applied to
/// the `(hidden, 1)` activation, as CryptoTL did: the stride equals the pool
/// size and padding is `"valid"`, so the pooled width is
/// `⌊hidden / pool⌋` and trailing units that do not fill a window are
/// dropped (128 hidden units pooled by 3 give 42 values; units 126 and 127
/// never reach the output). Choose `hidden` divisible by `pool` to use every
/// unit.
///
/// ```
/// use cryptotl_head::HeadConfig;
///
/// let config = HeadConfig::new(382, 2);
/// assert_eq!((config.hidden, config.pool, config.pooled_dim()), (128, 3, 42));
/// assert_eq!(config.output_dim(), 1); // one sigmoid logit for two classes
/// config.validate()?;
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Dimension of the feature vectors (e.g. 382 for CryptoTL's lower
    /// network output).
    pub input_dim: usize,
    /// Units of the hidden dense layer (default 128).
    pub hidden: usize,
    /// Max-pooling window and stride (default 3).
    pub pool: usize,
    /// Dropout probability after pooling, during training only (default 0.2).
    pub dropout: f32,
    /// Number of classes (at least 2).
    pub classes: usize,
    /// Standardize inputs with the mean and standard deviation of the
    /// training features, stored with the head (default `true`; decrypted
    /// features can have tiny scales).
    pub standardize: bool,
    /// Per-sample preprocessing before everything else (default
    /// [`Preprocessing::None`]); recorded in the head file.
    #[serde(default)]
    pub preprocessing: Preprocessing,
}

impl HeadConfig {
    /// The default architecture for `input_dim` features and `classes`
    /// classes: 128 hidden units, pool 3, dropout 0.2, standardized inputs.
    pub fn new(input_dim: usize, classes: usize) -> Self {
        Self {
            input_dim,
            hidden: 128,
            pool: 3,
            dropout: 0.2,
            classes,
            standardize: true,
            preprocessing: Preprocessing::None,
        }
    }

    /// Width after max pooling, `⌊hidden / pool⌋` (0 if `pool` is 0).
    pub fn pooled_dim(&self) -> usize {
        self.hidden.checked_div(self.pool).unwrap_or(0)
    }

    /// Width of the output layer: 1 logit for two classes, `classes` logits
    /// otherwise.
    pub fn output_dim(&self) -> usize {
        if self.classes == 2 {
            1
        } else {
            self.classes
        }
    }

    /// Number of trainable parameters (weights and biases), or `None` on
    /// overflow.
    pub fn parameter_count(&self) -> Option<usize> {
        let hidden = self.input_dim.checked_add(1)?.checked_mul(self.hidden)?;
        let output = self
            .pooled_dim()
            .checked_add(1)?
            .checked_mul(self.output_dim())?;
        hidden.checked_add(output)
    }

    /// Checks that the configuration describes a usable network.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidConfig`] when `input_dim` is 0, `pool` is 0,
    /// `hidden < pool`, `classes < 2`, `dropout` is not in `[0, 1)`, or the
    /// network would exceed [`MAX_PARAMETERS`].
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(HeadError::InvalidConfig(reason));
        if self.input_dim == 0 {
            return fail("input_dim must be at least 1".into());
        }
        if self.pool == 0 {
            return fail("pool must be at least 1".into());
        }
        if self.hidden < self.pool {
            return fail(format!(
                "hidden ({}) must be at least the pool size ({})",
                self.hidden, self.pool
            ));
        }
        if self.classes < 2 {
            return fail(format!("classes must be at least 2, got {}", self.classes));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return fail(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        match self.parameter_count() {
            Some(n) if n <= MAX_PARAMETERS => Ok(()),
            _ => fail(format!(
                "the network would have more than {MAX_PARAMETERS} parameters"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_validates_and_counts_parameters() {
        let c = HeadConfig::new(382, 2);
        c.validate().unwrap();
        // (382 + 1)·128 + (42 + 1)·1
        assert_eq!(c.parameter_count(), Some(49_024 + 43));
        assert_eq!(HeadConfig::new(10, 4).output_dim(), 4);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let ok = HeadConfig::new(5, 3);
        let bad = [
            HeadConfig {
                input_dim: 0,
                ..ok.clone()
            },
            HeadConfig {
                classes: 1,
                ..ok.clone()
            },
            HeadConfig {
                pool: 0,
                ..ok.clone()
            },
            HeadConfig {
                hidden: 2,
                ..ok.clone()
            },
            HeadConfig {
                dropout: 1.0,
                ..ok.clone()
            },
            HeadConfig {
                dropout: -0.1,
                ..ok.clone()
            },
            HeadConfig {
                dropout: f32::NAN,
                ..ok.clone()
            },
            HeadConfig {
                input_dim: usize::MAX,
                ..ok.clone()
            },
            HeadConfig {
                input_dim: 1 << 22,
                hidden: 1 << 10,
                ..ok.clone()
            },
        ];
        for config in bad {
            assert!(
                matches!(config.validate(), Err(HeadError::InvalidConfig(_))),
                "{config:?}"
            );
        }
    }
}
