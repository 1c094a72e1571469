//! L2-regularized multinomial logistic regression: the client's linear head
//! family ([`LogisticHead`]), fitted exactly (to a tolerance) by L-BFGS.
//!
//! Written here rather than taken from `linfa-logistic`: the model is small
//! (one weight vector and bias per class), it needs its own validated file
//! format next to the MLP head's, deterministic fitting and no `ndarray` /
//! `argmin` stack in a crate that already trains with candle.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::config::MAX_PARAMETERS;
use crate::data::{check_features, check_labelled};
use crate::error::{HeadError, Result};
use crate::head::default_class_names;
use crate::head_file::{check_version, read_file, write_file, FORMAT_KEY, VERSION_KEY};
use crate::metrics::{argmax, Metrics};

/// Value of the `format` metadata key of a logistic-regression head file.
pub const LOGISTIC_FORMAT: &str = "cryptotl-logistic-head";
/// The logistic head file format version this build reads and writes.
pub const LOGISTIC_FORMAT_VERSION: u32 = 1;

const MANIFEST_KEY: &str = "manifest";
const MEAN: &str = "standardize.mean";
const SCALE: &str = "standardize.scale";
const WEIGHT: &str = "weight";
const BIAS: &str = "bias";

/// How a [`LogisticHead`] is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogisticOptions {
    /// L2 penalty `λ`: the objective is the mean cross-entropy plus
    /// `λ / 2 · ‖W‖²` on standardized inputs (biases are not penalized).
    /// `λ = 1 / (C · n)` in scikit-learn's terms.
    pub l2: f64,
    /// Most L-BFGS iterations.
    pub max_iterations: usize,
    /// Stop when the largest gradient component falls below this.
    pub tolerance: f64,
}

impl Default for LogisticOptions {
    /// `λ = 1e-2`, 300 iterations, tolerance 1e-6.
    fn default() -> Self {
        Self {
            l2: 1e-2,
            max_iterations: 300,
            tolerance: 1e-6,
        }
    }
}

impl LogisticOptions {
    /// These options with penalty `l2`.
    pub fn with_l2(self, l2: f64) -> Self {
        Self { l2, ..self }
    }

    fn validate(&self) -> Result<()> {
        if !(self.l2.is_finite() && self.l2 > 0.0) {
            return Err(HeadError::InvalidOptions(format!(
                "logistic regression: the L2 penalty must be positive and finite, got {}",
                self.l2
            )));
        }
        if self.max_iterations == 0 || !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(HeadError::InvalidOptions(format!(
                "logistic regression: invalid options {self:?}"
            )));
        }
        Ok(())
    }
}

/// What the head file records besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    dim: usize,
    classes: usize,
    class_names: Vec<String>,
    l2: f64,
    iterations: usize,
    loss: f64,
}

/// A fitted multinomial logistic regression on standardized inputs: one
/// weight vector and bias per class, softmax over the class scores (two
/// classes are the binary case of the same model).
///
/// Inputs are standardized with the training set's per-feature mean and
/// standard deviation (a feature with no spread is centred only), which the
/// head stores and applies itself.
///
/// ```
/// use cryptotl_head::{LogisticHead, LogisticOptions};
///
/// let x: Vec<Vec<f32>> = (0..40).map(|i| vec![if i % 2 == 0 { 1.0 } else { -1.0 }, (i % 7) as f32]).collect();
/// let y: Vec<usize> = (0..40).map(|i| i % 2).collect();
/// let head = LogisticHead::fit(&x, &y, 2, &LogisticOptions::default())?;
/// assert_eq!(head.predict(&x)?, y);
/// let back = LogisticHead::from_bytes(&head.to_bytes()?)?;
/// assert_eq!(back.predict_proba(&x)?, head.predict_proba(&x)?);
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticHead {
    dim: usize,
    classes: usize,
    class_names: Vec<String>,
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// `classes × dim`, row-major.
    weights: Vec<f64>,
    bias: Vec<f64>,
    l2: f64,
    iterations: usize,
    loss: f64,
}

impl LogisticHead {
    /// Fits the model on `x` with labels in `0..classes`.
    ///
    /// # Errors
    /// [`HeadError::InvalidInput`] for an empty set, rows of unequal length,
    /// non-finite values or labels out of range;
    /// [`HeadError::InvalidConfig`] for fewer than two classes or too many
    /// parameters; [`HeadError::InvalidOptions`] for invalid options.
    pub fn fit(
        x: &[Vec<f32>],
        y: &[usize],
        classes: usize,
        options: &LogisticOptions,
    ) -> Result<Self> {
        options.validate()?;
        let dim = x.first().map_or(0, Vec::len);
        check_shape(dim, classes)?;
        check_labelled(x, y, dim, classes)?;
        let n = x.len();
        let mut mean = vec![0.0f64; dim];
        for row in x {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0f64; dim];
        for row in x {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d;
            }
        }
        let scale: Vec<f64> = var
            .iter()
            .map(|&v| {
                let sd = (v / n as f64).sqrt();
                if sd > 1e-12 {
                    1.0 / sd
                } else {
                    1.0
                }
            })
            .collect();
        let mut xs = Vec::with_capacity(n * dim);
        for row in x {
            xs.extend(
                row.iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((&v, m), s)| (f64::from(v) - m) * s),
            );
        }
        let problem = Problem {
            x: &xs,
            y,
            n,
            dim,
            classes,
            l2: options.l2,
        };
        let mut params = vec![0.0; classes * (dim + 1)];
        let (loss, iterations) = lbfgs(&problem, &mut params, options)?;
        let bias = params.split_off(classes * dim);
        Ok(Self {
            dim,
            classes,
            class_names: default_class_names(classes),
            mean,
            scale,
            weights: params,
            bias,
            l2: options.l2,
            iterations,
            loss,
        })
    }

    /// Input dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The L2 penalty it was fitted with.
    pub fn l2(&self) -> f64 {
        self.l2
    }

    /// L-BFGS iterations taken.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// The regularized training loss reached.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Display names of the classes (`"0"`, `"1"`, ... by default).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Sets the class names.
    ///
    /// # Errors
    /// [`HeadError::InvalidInput`] when the count is not the number of
    /// classes.
    pub fn set_class_names(&mut self, names: Vec<String>) -> Result<()> {
        if names.len() != self.classes {
            return Err(HeadError::InvalidInput(format!(
                "{} class names for {} classes",
                names.len(),
                self.classes
            )));
        }
        self.class_names = names;
        Ok(())
    }

    /// Class probabilities, one row per example.
    ///
    /// # Errors
    /// [`HeadError::InvalidInput`] when a row does not have `dim` finite
    /// values.
    pub fn predict_proba(&self, x: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        check_features(x, self.dim)?;
        let mut z = vec![0.0f64; self.dim];
        let mut scores = vec![0.0f64; self.classes];
        Ok(x.iter()
            .map(|row| {
                for (((zi, &v), m), s) in z.iter_mut().zip(row).zip(&self.mean).zip(&self.scale) {
                    *zi = (f64::from(v) - m) * s;
                }
                for (c, score) in scores.iter_mut().enumerate() {
                    let w = &self.weights[c * self.dim..(c + 1) * self.dim];
                    *score = self.bias[c] + dot(w, &z);
                }
                softmax(&scores).into_iter().map(|p| p as f32).collect()
            })
            .collect())
    }

    /// Predicted classes (the most probable; ties to the lower class).
    ///
    /// # Errors
    /// As [`LogisticHead::predict_proba`].
    pub fn predict(&self, x: &[Vec<f32>]) -> Result<Vec<usize>> {
        Ok(self.predict_proba(x)?.iter().map(|p| argmax(p)).collect())
    }

    /// Metrics on a labelled set, with log loss and class names.
    ///
    /// # Errors
    /// [`HeadError::InvalidInput`] for an empty set, mismatched lengths,
    /// wrong dimensions, non-finite features or out-of-range labels.
    pub fn evaluate(&self, x: &[Vec<f32>], y: &[usize]) -> Result<Metrics> {
        check_labelled(x, y, self.dim, self.classes)?;
        Metrics::from_probabilities(y, &self.predict_proba(x)?)?.with_class_names(&self.class_names)
    }

    /// The bytes of its file: safetensors with `F64` tensors
    /// `standardize.mean` and `standardize.scale` (`[dim]`), `weight`
    /// (`[classes, dim]`) and `bias` (`[classes]`), and metadata
    /// `format = "cryptotl-logistic-head"`, `format_version = "1"` and a
    /// JSON `manifest` (dimension, classes, class names, λ, iterations,
    /// loss).
    ///
    /// # Errors
    /// [`HeadError::MalformedManifest`] / [`HeadError::MalformedTensors`] if
    /// encoding fails.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let manifest = Manifest {
            dim: self.dim,
            classes: self.classes,
            class_names: self.class_names.clone(),
            l2: self.l2,
            iterations: self.iterations,
            loss: self.loss,
        };
        let manifest =
            serde_json::to_string(&manifest).map_err(HeadError::manifest("cannot encode"))?;
        let metadata = HashMap::from([
            (FORMAT_KEY.to_string(), LOGISTIC_FORMAT.to_string()),
            (VERSION_KEY.to_string(), LOGISTIC_FORMAT_VERSION.to_string()),
            (MANIFEST_KEY.to_string(), manifest),
        ]);
        let tensors = [
            (MEAN, vec![self.dim], f64_bytes(&self.mean)),
            (SCALE, vec![self.dim], f64_bytes(&self.scale)),
            (
                WEIGHT,
                vec![self.classes, self.dim],
                f64_bytes(&self.weights),
            ),
            (BIAS, vec![self.classes], f64_bytes(&self.bias)),
        ];
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                Ok((*name, TensorView::new(Dtype::F64, shape.clone(), bytes)?))
            })
            .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(HeadError::tensors("cannot encode tensors"))?;
        safetensors::serialize(views, Some(metadata))
            .map_err(HeadError::tensors("cannot encode tensors"))
    }

    /// Decodes a logistic head file, validating everything: the format tag
    /// and version, the manifest, exactly the expected tensors with dtype
    /// `F64` and the shapes the manifest implies, finite values, positive
    /// scales.
    ///
    /// # Errors
    /// [`HeadError::UnsupportedVersion`] for another version,
    /// [`HeadError::MalformedFile`] (or its tensor / manifest variants) for
    /// anything else that is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let malformed = HeadError::MalformedFile;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        let metadata = header
            .metadata()
            .as_ref()
            .ok_or_else(|| malformed("no metadata: not a cryptotl head file".into()))?;
        if metadata.get(FORMAT_KEY).map(String::as_str) != Some(LOGISTIC_FORMAT) {
            return Err(malformed(format!(
                "metadata key {FORMAT_KEY:?} is not {LOGISTIC_FORMAT:?}"
            )));
        }
        check_version(metadata, LOGISTIC_FORMAT_VERSION..=LOGISTIC_FORMAT_VERSION)?;
        let manifest: Manifest = metadata
            .get(MANIFEST_KEY)
            .ok_or_else(|| malformed(format!("missing {MANIFEST_KEY:?}")))
            .and_then(|m| {
                serde_json::from_str(m).map_err(HeadError::manifest("invalid manifest"))
            })?;
        check_shape(manifest.dim, manifest.classes).map_err(|e| malformed(e.to_string()))?;
        if manifest.class_names.len() != manifest.classes {
            return Err(malformed(format!(
                "{} class names for {} classes",
                manifest.class_names.len(),
                manifest.classes
            )));
        }
        if !(manifest.l2.is_finite() && manifest.l2 > 0.0) || manifest.loss.is_nan() {
            return Err(malformed("invalid λ or loss in the manifest".into()));
        }
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        if tensors.len() != 4 {
            return Err(malformed(format!("{} tensors, expected 4", tensors.len())));
        }
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f64>> {
            let view = tensors.tensor(name).map_err(HeadError::tensors(name))?;
            if view.dtype() != Dtype::F64 || view.shape() != shape {
                return Err(malformed(format!(
                    "{name} must be F64 of shape {shape:?}, found {:?} {:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            let values = from_f64_bytes(view.data())
                .ok_or_else(|| malformed(format!("{name}: not a whole number of f64")))?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(malformed(format!("{name} holds non-finite values")));
            }
            Ok(values)
        };
        let (dim, classes) = (manifest.dim, manifest.classes);
        let mean = read(MEAN, &[dim])?;
        let scale = read(SCALE, &[dim])?;
        if scale.iter().any(|&s| s <= 0.0) {
            return Err(malformed("standardization scales must be positive".into()));
        }
        let weights = read(WEIGHT, &[classes, dim])?;
        let bias = read(BIAS, &[classes])?;
        Ok(Self {
            dim,
            classes,
            class_names: manifest.class_names,
            mean,
            scale,
            weights,
            bias,
            l2: manifest.l2,
            iterations: manifest.iterations,
            loss: manifest.loss,
        })
    }

    /// Writes its file to `path`.
    ///
    /// # Errors
    /// [`HeadError::Io`] when writing fails, and those of
    /// [`LogisticHead::to_bytes`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path.as_ref(), &self.to_bytes()?)
    }

    /// Reads and validates the file at `path`.
    ///
    /// # Errors
    /// [`HeadError::Io`] when reading fails, and those of
    /// [`LogisticHead::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(&read_file(path.as_ref())?)
    }
}

/// Refuses fewer than two classes, a zero dimension and parameter counts
/// beyond [`MAX_PARAMETERS`].
fn check_shape(dim: usize, classes: usize) -> Result<()> {
    if classes < 2 {
        return Err(HeadError::InvalidConfig(format!(
            "logistic regression needs at least two classes, got {classes}"
        )));
    }
    if dim == 0 {
        return Err(HeadError::InvalidInput("no features".into()));
    }
    if dim
        .checked_add(1)
        .and_then(|d| d.checked_mul(classes))
        .is_none_or(|p| p > MAX_PARAMETERS)
    {
        return Err(HeadError::InvalidConfig(format!(
            "{classes} classes × {dim} features exceed {MAX_PARAMETERS} parameters"
        )));
    }
    Ok(())
}

/// The regularized cross-entropy of a standardized data set.
struct Problem<'a> {
    x: &'a [f64],
    y: &'a [usize],
    n: usize,
    dim: usize,
    classes: usize,
    l2: f64,
}

impl Problem<'_> {
    /// Loss and gradient at `params` (weights `classes × dim`, then biases).
    fn loss_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let (d, k) = (self.dim, self.classes);
        let (weights, bias) = params.split_at(k * d);
        grad.iter_mut().for_each(|g| *g = 0.0);
        let (gw, gb) = grad.split_at_mut(k * d);
        let mut scores = vec![0.0f64; k];
        let mut loss = 0.0;
        let inv_n = 1.0 / self.n as f64;
        for (i, &label) in self.y.iter().enumerate() {
            let row = &self.x[i * d..(i + 1) * d];
            for (c, s) in scores.iter_mut().enumerate() {
                *s = bias[c] + dot(&weights[c * d..(c + 1) * d], row);
            }
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            let log_sum = max + sum.ln();
            loss += (log_sum - scores[label]) * inv_n;
            for c in 0..k {
                let p = (scores[c] - log_sum).exp();
                let r = (p - f64::from(u8::from(c == label))) * inv_n;
                gb[c] += r;
                for (g, &v) in gw[c * d..(c + 1) * d].iter_mut().zip(row) {
                    *g += r * v;
                }
            }
        }
        loss += 0.5 * self.l2 * weights.iter().map(|w| w * w).sum::<f64>();
        for (g, w) in gw.iter_mut().zip(weights) {
            *g += self.l2 * w;
        }
        loss
    }
}

/// Minimizes `problem` from `params` by L-BFGS (memory 10, backtracking
/// Armijo line search). Returns the final loss and the iterations taken.
fn lbfgs(
    problem: &Problem<'_>,
    params: &mut [f64],
    options: &LogisticOptions,
) -> Result<(f64, usize)> {
    const MEMORY: usize = 10;
    let m = params.len();
    let mut grad = vec![0.0; m];
    let mut loss = problem.loss_and_gradient(params, &mut grad);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho_hist: Vec<f64> = Vec::new();
    let mut trial = vec![0.0; m];
    let mut trial_grad = vec![0.0; m];
    let mut iterations = 0;
    while iterations < options.max_iterations {
        if grad.iter().fold(0.0f64, |a, g| a.max(g.abs())) <= options.tolerance {
            break;
        }
        iterations += 1;
        // Two-loop recursion: direction = −H·grad.
        let mut q = grad.clone();
        let mut alpha = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho_hist[i] * dot(&s_hist[i], &q);
            for (qj, yj) in q.iter_mut().zip(&y_hist[i]) {
                *qj -= alpha[i] * yj;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / dot(&grad, &grad).sqrt().max(1e-12),
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..s_hist.len() {
            let beta = rho_hist[i] * dot(&y_hist[i], &q);
            for (qj, sj) in q.iter_mut().zip(&s_hist[i]) {
                *qj += (alpha[i] - beta) * sj;
            }
        }
        let mut direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&direction, &grad);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart along
            // the negative gradient.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            direction = grad.iter().map(|g| -g).collect();
            slope = -dot(&grad, &grad);
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            for ((t, p), dd) in trial.iter_mut().zip(params.iter()).zip(&direction) {
                *t = p + step * dd;
            }
            let trial_loss = problem.loss_and_gradient(&trial, &mut trial_grad);
            if trial_loss.is_finite() && trial_loss <= loss + 1e-4 * step * slope {
                let s: Vec<f64> = trial
                    .iter()
                    .zip(params.iter())
                    .map(|(t, p)| t - p)
                    .collect();
                let y: Vec<f64> = trial_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &y);
                params.copy_from_slice(&trial);
                grad.copy_from_slice(&trial_grad);
                let previous = loss;
                loss = trial_loss;
                if sy > 1e-12 {
                    if s_hist.len() == MEMORY {
                        s_hist.remove(0);
                        y_hist.remove(0);
                        rho_hist.remove(0);
                    }
                    rho_hist.push(1.0 / sy);
                    s_hist.push(s);
                    y_hist.push(y);
                }
                accepted = true;
                if (previous - loss).abs() <= 1e-12 * previous.abs().max(1.0) {
                    return Ok((loss, iterations));
                }
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            // No decrease along the direction: at the optimum to machine
            // precision.
            break;
        }
    }
    if !loss.is_finite() {
        return Err(HeadError::Diverged {
            epoch: iterations,
            which: "training",
        });
    }
    Ok((loss, iterations))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_f64_bytes(bytes: &[u8]) -> Option<Vec<f64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gradient matches central finite differences.
    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.5, -1.0, 2.0, 0.1, -0.3, 0.7, 1.5, -2.0, 0.0];
        let y = [0, 2, 1];
        let p = Problem {
            x: &x,
            y: &y,
            n: 3,
            dim: 3,
            classes: 3,
            l2: 0.1,
        };
        let params: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin() * 0.5).collect();
        let mut grad = vec![0.0; 12];
        p.loss_and_gradient(&params, &mut grad);
        let mut scratch = vec![0.0; 12];
        for i in 0..12 {
            let h = 1e-6;
            let mut up = params.clone();
            up[i] += h;
            let mut down = params.clone();
            down[i] -= h;
            let numeric = (p.loss_and_gradient(&up, &mut scratch)
                - p.loss_and_gradient(&down, &mut scratch))
                / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-6,
                "{i}: {numeric} vs {}",
                grad[i]
            );
        }
    }
}
