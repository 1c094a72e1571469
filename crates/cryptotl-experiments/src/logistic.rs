//! A small multinomial logistic regression: the no-transfer linear baseline
//! of the transfer table.
//!
//! - **Inputs** are standardized with the training set's per-feature mean
//!   and standard deviation (features with zero spread are centered only).
//! - **Model**: one weight vector and bias per class, softmax over the class
//!   scores (two classes are the binary case of the same model).
//! - **Loss**: mean cross-entropy plus `l2 / 2 · ‖W‖²` (biases are not
//!   regularized).
//! - **Optimizer**: full-batch Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8) for at
//!   most `max_iterations` steps, stopping early once the loss changes by
//!   less than `tolerance` between two steps.
//!
//! Everything is deterministic (zero initialization, no sampling), in f64.

use cryptotl::Error;

/// Settings of [`LogisticRegression::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticOptions {
    /// L2 penalty on the weights (not the biases).
    pub l2: f64,
    /// Adam step size.
    pub learning_rate: f64,
    /// Maximum number of full-batch steps.
    pub max_iterations: usize,
    /// Stop when the loss changes by less than this between two steps.
    pub tolerance: f64,
}

impl Default for LogisticOptions {
    /// `l2 = 1e-3`, `learning_rate = 0.05`, 500 iterations, tolerance 1e-7.
    fn default() -> Self {
        Self {
            l2: 1e-3,
            learning_rate: 0.05,
            max_iterations: 500,
            tolerance: 1e-7,
        }
    }
}

/// A fitted multinomial logistic regression on standardized inputs.
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// `classes × dim`, row-major.
    weights: Vec<f64>,
    bias: Vec<f64>,
    classes: usize,
    /// Steps taken.
    pub iterations: usize,
    /// Regularized training loss after the last step.
    pub loss: f64,
}

impl LogisticRegression {
    /// Fits the model on `x` (rows of equal length) with labels in
    /// `0..classes`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty set, rows of unequal length,
    /// non-finite values, labels out of range, fewer than two classes or
    /// invalid options.
    pub fn fit(
        x: &[Vec<f32>],
        y: &[usize],
        classes: usize,
        options: &LogisticOptions,
    ) -> Result<Self, Error> {
        let invalid = |m: String| Err(Error::InvalidInput(format!("logistic regression: {m}")));
        if x.is_empty() || x.len() != y.len() {
            return invalid(format!("{} samples and {} labels", x.len(), y.len()));
        }
        if classes < 2 {
            return invalid(format!("{classes} classes; need at least two"));
        }
        if !(options.l2 >= 0.0 && options.learning_rate > 0.0 && options.tolerance >= 0.0) {
            return invalid(format!("invalid options {options:?}"));
        }
        let dim = x[0].len();
        if let Some(row) = x.iter().find(|r| r.len() != dim) {
            return invalid(format!("rows of length {dim} and {}", row.len()));
        }
        if x.iter().flatten().any(|v| !v.is_finite()) {
            return invalid("non-finite input".into());
        }
        if let Some(&label) = y.iter().find(|&&l| l >= classes) {
            return invalid(format!("label {label} out of range for {classes} classes"));
        }

        let n = x.len() as f64;
        let mut mean = vec![0.0f64; dim];
        for row in x {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v) / n;
            }
        }
        let mut var = vec![0.0f64; dim];
        for row in x {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d / n;
            }
        }
        let scale: Vec<f64> = var
            .iter()
            .map(|&v| if v > 1e-24 { 1.0 / v.sqrt() } else { 1.0 })
            .collect();
        let mut model = Self {
            mean,
            scale,
            weights: vec![0.0; classes * dim],
            bias: vec![0.0; classes],
            classes,
            iterations: 0,
            loss: f64::INFINITY,
        };
        let xs: Vec<Vec<f64>> = x.iter().map(|r| model.standardize(r)).collect();

        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        let params = classes * (dim + 1);
        let (mut m1, mut m2) = (vec![0.0f64; params], vec![0.0f64; params]);
        let mut grad = vec![0.0f64; params];
        let mut previous = f64::INFINITY;
        for step in 1..=options.max_iterations {
            let loss = model.loss_and_gradient(&xs, y, options.l2, &mut grad);
            model.loss = loss;
            // Adam's loss is not monotone: stop on a small change either way,
            // never on the first increase.
            if previous.is_finite() && (previous - loss).abs() < options.tolerance {
                break;
            }
            previous = loss;
            let t = i32::try_from(step).unwrap_or(i32::MAX);
            let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
            for (i, g) in grad.iter().enumerate() {
                m1[i] = beta1 * m1[i] + (1.0 - beta1) * g;
                m2[i] = beta2 * m2[i] + (1.0 - beta2) * g * g;
                let update = options.learning_rate * (m1[i] / c1) / ((m2[i] / c2).sqrt() + eps);
                if i < classes * dim {
                    model.weights[i] -= update;
                } else {
                    model.bias[i - classes * dim] -= update;
                }
            }
            model.iterations = step;
        }
        Ok(model)
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn standardize(&self, row: &[f32]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((&v, m), s)| (f64::from(v) - m) * s)
            .collect()
    }

    /// Class scores (logits) of one standardized row.
    fn scores(&self, z: &[f64]) -> Vec<f64> {
        let dim = self.dim();
        (0..self.classes)
            .map(|c| {
                let w = &self.weights[c * dim..(c + 1) * dim];
                self.bias[c] + w.iter().zip(z).map(|(a, b)| a * b).sum::<f64>()
            })
            .collect()
    }

    /// Regularized mean cross-entropy; writes its gradient (weights first,
    /// then biases) into `grad`.
    fn loss_and_gradient(&self, xs: &[Vec<f64>], y: &[usize], l2: f64, grad: &mut [f64]) -> f64 {
        let (dim, k) = (self.dim(), self.classes);
        let n = xs.len() as f64;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        for (z, &label) in xs.iter().zip(y) {
            let p = softmax(&self.scores(z));
            loss -= p[label].max(1e-300).ln() / n;
            for c in 0..k {
                let delta = (p[c] - if c == label { 1.0 } else { 0.0 }) / n;
                for (g, v) in grad[c * dim..(c + 1) * dim].iter_mut().zip(z) {
                    *g += delta * v;
                }
                grad[k * dim + c] += delta;
            }
        }
        for (g, w) in grad[..k * dim].iter_mut().zip(&self.weights) {
            *g += l2 * w;
        }
        loss + 0.5 * l2 * self.weights.iter().map(|w| w * w).sum::<f64>()
    }

    /// Class probabilities of each row.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for rows of the wrong length.
    pub fn predict_proba(&self, x: &[Vec<f32>]) -> Result<Vec<Vec<f64>>, Error> {
        x.iter()
            .map(|row| {
                if row.len() != self.dim() {
                    return Err(Error::InvalidInput(format!(
                        "logistic regression: row of length {}, expected {}",
                        row.len(),
                        self.dim()
                    )));
                }
                Ok(softmax(&self.scores(&self.standardize(row))))
            })
            .collect()
    }

    /// Most probable class of each row (the lowest index on ties).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for rows of the wrong length.
    pub fn predict(&self, x: &[Vec<f32>]) -> Result<Vec<usize>, Error> {
        Ok(self
            .predict_proba(x)?
            .iter()
            .map(|p| {
                p.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (c, &v)| {
                        if v > best.1 {
                            (c, v)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect())
    }
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated Gaussian-ish blobs (deterministic).
    fn blobs(classes: usize, per_class: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for c in 0..classes {
            for i in 0..per_class {
                let jitter = ((i * 7919 + c * 104_729) % 100) as f32 / 100.0 - 0.5;
                let mut row = vec![jitter, -jitter * 0.5, 100.0 + jitter];
                row[c % 2] += 4.0 * (c as f32 + 1.0);
                row.push(c as f32 * 3.0 + jitter);
                x.push(row);
                y.push(c);
            }
        }
        (x, y)
    }

    #[test]
    fn separable_binary_set_is_fit_exactly() -> Result<(), Error> {
        let (x, y) = blobs(2, 50);
        let model = LogisticRegression::fit(&x, &y, 2, &LogisticOptions::default())?;
        assert_eq!(model.predict(&x)?, y);
        assert!(model.loss < 0.1, "loss {}", model.loss);
        let p = model.predict_proba(&x)?;
        assert!(p.iter().all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-9));
        Ok(())
    }

    #[test]
    fn separable_three_class_set_is_fit_exactly() -> Result<(), Error> {
        let (x, y) = blobs(3, 40);
        let model = LogisticRegression::fit(&x, &y, 3, &LogisticOptions::default())?;
        assert_eq!(model.predict(&x)?, y);
        Ok(())
    }

    #[test]
    fn stronger_l2_gives_less_confident_predictions() -> Result<(), Error> {
        let (x, y) = blobs(2, 30);
        let weak = LogisticRegression::fit(&x, &y, 2, &LogisticOptions::default())?;
        let strong = LogisticRegression::fit(
            &x,
            &y,
            2,
            &LogisticOptions {
                l2: 1.0,
                ..LogisticOptions::default()
            },
        )?;
        let conf = |m: &LogisticRegression| -> Result<f64, Error> {
            Ok(m.predict_proba(&x)?
                .iter()
                .zip(&y)
                .map(|(p, &l)| p[l])
                .sum::<f64>())
        };
        assert!(conf(&strong)? < conf(&weak)?);
        Ok(())
    }

    #[test]
    fn a_loss_increase_does_not_stop_training() -> Result<(), Error> {
        // Large Adam steps overshoot: the loss rises on some steps. Training
        // must go on (it once stopped at the first rise).
        let (x, y) = blobs(3, 40);
        let options = LogisticOptions {
            learning_rate: 2.0,
            ..LogisticOptions::default()
        };
        let model = LogisticRegression::fit(&x, &y, 3, &options)?;
        assert!(model.iterations > 20, "stopped after {}", model.iterations);
        assert_eq!(model.predict(&x)?, y);
        Ok(())
    }

    #[test]
    fn imbalanced_overlapping_set_beats_the_majority_class() -> Result<(), Error> {
        // 90 % class 0; the classes overlap on one feature only.
        let x: Vec<Vec<f32>> = (0..500)
            .map(|i| {
                let c = usize::from(i % 10 == 0);
                let noise = ((i * 7919) % 101) as f32 / 50.0 - 1.0;
                vec![c as f32 * 1.5 + noise, noise * 0.3, 1.0]
            })
            .collect();
        let y: Vec<usize> = (0..500).map(|i| usize::from(i % 10 == 0)).collect();
        let model = LogisticRegression::fit(&x, &y, 2, &LogisticOptions::default())?;
        let correct = model
            .predict(&x)?
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count();
        assert!(correct > 450, "{correct} of 500 correct, majority is 450");
        Ok(())
    }

    #[test]
    fn bad_input_is_refused() {
        let opts = LogisticOptions::default();
        assert!(LogisticRegression::fit(&[], &[], 2, &opts).is_err());
        assert!(LogisticRegression::fit(&[vec![1.0]], &[2], 2, &opts).is_err());
        assert!(LogisticRegression::fit(&[vec![1.0], vec![1.0, 2.0]], &[0, 1], 2, &opts).is_err());
        assert!(LogisticRegression::fit(&[vec![f32::NAN]], &[0], 2, &opts).is_err());
        assert!(LogisticRegression::fit(&[vec![1.0]], &[0], 1, &opts).is_err());
    }
}
