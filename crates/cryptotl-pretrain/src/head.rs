//! [`Head`]: the temporary classification head trained on top of the lower
//! network's features (discarded when the model is served; reported so that
//! callers can measure feature quality).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{PretrainError, Result};

/// A dense classification head `logits = W f + b`.
///
/// Two classes use one logit (class 1 iff the logit is positive); `k > 2`
/// classes use `k` logits (argmax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// Feature dimension (the lower network's output dimension).
    pub features: usize,
    /// Number of classes (`>= 2`).
    pub classes: usize,
    /// Weights, `outputs x features`, row-major (see [`Head::outputs`]).
    pub weights: Vec<f32>,
    /// Bias, one per output.
    pub bias: Vec<f32>,
}

/// Number of logits for `classes` classes: 1 for two classes, else `classes`.
pub(crate) fn head_outputs(classes: usize) -> usize {
    if classes == 2 {
        1
    } else {
        classes
    }
}

impl Head {
    /// Glorot-uniform weights and a zero bias.
    pub fn random<R: Rng + ?Sized>(features: usize, classes: usize, rng: &mut R) -> Self {
        let outputs = head_outputs(classes);
        let limit = (6.0 / (features + outputs) as f64).sqrt() as f32;
        Head {
            features,
            classes,
            weights: (0..outputs * features)
                .map(|_| rng.random_range(-limit..=limit))
                .collect(),
            bias: vec![0.0; outputs],
        }
    }

    /// Number of logits.
    pub fn outputs(&self) -> usize {
        head_outputs(self.classes)
    }

    /// Checks sizes, `classes >= 2` and finiteness.
    ///
    /// # Errors
    /// [`PretrainError::InvalidConfig`].
    pub fn validate(&self) -> Result<()> {
        let o = self.outputs();
        if self.classes < 2
            || self.features == 0
            || self.weights.len() != o * self.features
            || self.bias.len() != o
        {
            return Err(PretrainError::InvalidConfig(format!(
                "head: {} classes, {} features, {} weights, {} biases do not fit",
                self.classes,
                self.features,
                self.weights.len(),
                self.bias.len()
            )));
        }
        if self
            .weights
            .iter()
            .chain(&self.bias)
            .any(|v| !v.is_finite())
        {
            return Err(PretrainError::InvalidConfig(
                "head: non-finite parameter".into(),
            ));
        }
        Ok(())
    }

    /// The logits of one feature vector.
    ///
    /// # Errors
    /// [`PretrainError::InvalidData`] if `features` has the wrong length.
    pub fn logits(&self, features: &[f32]) -> Result<Vec<f32>> {
        if features.len() != self.features {
            return Err(PretrainError::InvalidData(format!(
                "head expects {} features, got {}",
                self.features,
                features.len()
            )));
        }
        Ok(self
            .weights
            .chunks(self.features)
            .zip(&self.bias)
            .map(|(row, &b)| {
                let s: f64 = row
                    .iter()
                    .zip(features)
                    .map(|(&w, &f)| f64::from(w) * f64::from(f))
                    .sum();
                (s + f64::from(b)) as f32
            })
            .collect())
    }

    /// The predicted class of one feature vector.
    ///
    /// # Errors
    /// As [`Head::logits`].
    pub fn predict(&self, features: &[f32]) -> Result<usize> {
        let logits = self.logits(features)?;
        Ok(predicted_class(&logits))
    }

    /// Fraction of `features[i]` predicted as `labels[i]`.
    ///
    /// # Errors
    /// [`PretrainError::InvalidData`] for an empty set, mismatched lengths or
    /// wrong feature dimensions.
    pub fn accuracy(&self, features: &[Vec<f32>], labels: &[usize]) -> Result<f64> {
        if features.is_empty() || features.len() != labels.len() {
            return Err(PretrainError::InvalidData(format!(
                "accuracy needs as many labels as feature vectors (> 0), got {} and {}",
                features.len(),
                labels.len()
            )));
        }
        let mut correct = 0usize;
        for (f, &y) in features.iter().zip(labels) {
            if self.predict(f)? == y {
                correct += 1;
            }
        }
        Ok(correct as f64 / features.len() as f64)
    }
}

/// The class of a logit vector: `logit > 0` for a single logit, else the
/// argmax (first one on ties).
pub(crate) fn predicted_class(logits: &[f32]) -> usize {
    match logits {
        [z] => usize::from(*z > 0.0),
        _ => {
            logits
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_multiclass_predictions() {
        let bin = Head {
            features: 2,
            classes: 2,
            weights: vec![1.0, -1.0],
            bias: vec![0.0],
        };
        assert!(bin.validate().is_ok());
        assert_eq!(bin.predict(&[2.0, 1.0]).ok(), Some(1));
        assert_eq!(bin.predict(&[1.0, 2.0]).ok(), Some(0));
        assert!(bin.predict(&[1.0]).is_err());
        let multi = Head {
            features: 1,
            classes: 3,
            weights: vec![1.0, 0.0, -1.0],
            bias: vec![0.0, 0.5, 0.0],
        };
        assert_eq!(multi.predict(&[2.0]).ok(), Some(0));
        assert_eq!(multi.predict(&[0.0]).ok(), Some(1));
        assert_eq!(multi.predict(&[-2.0]).ok(), Some(2));
        let acc = multi
            .accuracy(
                &[vec![2.0], vec![0.0], vec![-2.0], vec![2.0]],
                &[0, 1, 2, 2],
            )
            .expect("sizes fit");
        assert!((acc - 0.75).abs() < 1e-12);
        assert!(multi.accuracy(&[], &[]).is_err());
        let broken = Head {
            bias: vec![],
            ..multi
        };
        assert!(broken.validate().is_err());
    }
}
