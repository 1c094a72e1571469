//! Classification metrics: accuracy, per-class precision/recall/F1, macro
//! F1, Cohen's kappa, log loss and the confusion matrix, for any number of
//! classes. Pure Rust, no tensors.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::confusion::{ClassMetrics, ConfusionMatrix};
use crate::error::{HeadError, Result};

/// Probabilities are clipped to `[LOG_LOSS_EPSILON, 1 - LOG_LOSS_EPSILON]`
/// before taking logarithms, so a confident wrong prediction costs about
/// 34.5 nats instead of infinity.
pub const LOG_LOSS_EPSILON: f64 = 1e-15;

/// Every metric of one evaluation.
///
/// ```
/// use cryptotl_head::Metrics;
///
/// // Truth 0 0 1 1, prediction 0 1 1 1: 3 of 4 correct.
/// let m = Metrics::from_labels(&[0, 0, 1, 1], &[0, 1, 1, 1], 2)?;
/// assert_eq!(m.accuracy, 0.75);
/// // p_o = 3/4, p_e = (2·1 + 2·3)/16 = 1/2, kappa = (3/4 - 1/2)/(1/2) = 1/2.
/// assert_eq!(m.kappa, 0.5);
/// println!("{m}");
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of evaluated examples.
    pub examples: u64,
    /// Share of correctly classified examples.
    pub accuracy: f64,
    /// Mean F1 over the classes that occur (see [`ConfusionMatrix::macro_f1`]).
    pub macro_f1: f64,
    /// Cohen's kappa (see [`ConfusionMatrix::kappa`]).
    pub kappa: f64,
    /// Mean negative log-likelihood of the true class, when probabilities
    /// were available (see [`log_loss`]).
    pub log_loss: Option<f64>,
    /// Per-class precision, recall and F1, indexed by class.
    pub per_class: Vec<ClassMetrics>,
    /// Confusion matrix (rows = true, columns = predicted).
    pub confusion: ConfusionMatrix,
    /// Display names of the classes, indexed by class.
    pub class_names: Vec<String>,
}

impl Metrics {
    /// Metrics of hard predictions (no log loss).
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] for empty or mismatched slices, zero
    /// classes or out-of-range labels.
    pub fn from_labels(y_true: &[usize], y_pred: &[usize], classes: usize) -> Result<Self> {
        Ok(Self::from_confusion(ConfusionMatrix::from_labels(
            y_true, y_pred, classes,
        )?))
    }

    /// Metrics of predicted class probabilities: one row per example, one
    /// column per class. Predictions are the arg-max of each row (ties go to
    /// the lower class, so a binary probability of exactly 0.5 predicts
    /// class 0); the log loss is computed as in [`log_loss`].
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when the rows are empty, ragged, have
    /// fewer than 2 columns, hold non-finite or negative values, or when a
    /// label is out of range.
    pub fn from_probabilities(y_true: &[usize], probabilities: &[Vec<f32>]) -> Result<Self> {
        let loss = log_loss(y_true, probabilities)?;
        let classes = probabilities.first().map_or(0, Vec::len);
        let y_pred: Vec<usize> = probabilities.iter().map(|row| argmax(row)).collect();
        let mut metrics = Self::from_labels(y_true, &y_pred, classes)?;
        metrics.log_loss = Some(loss);
        Ok(metrics)
    }

    /// Metrics read off a confusion matrix (no log loss).
    pub fn from_confusion(confusion: ConfusionMatrix) -> Self {
        Self {
            examples: confusion.total(),
            accuracy: confusion.accuracy(),
            macro_f1: confusion.macro_f1(),
            kappa: confusion.kappa(),
            log_loss: None,
            per_class: confusion.class_metrics(),
            class_names: (0..confusion.classes()).map(|c| c.to_string()).collect(),
            confusion,
        }
    }

    /// Replaces the default class names (`"0"`, `"1"`, ...).
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when the number of names differs from the
    /// number of classes.
    pub fn with_class_names(mut self, names: &[String]) -> Result<Self> {
        if names.len() != self.confusion.classes() {
            return Err(HeadError::InvalidInput(format!(
                "{} class names for {} classes",
                names.len(),
                self.confusion.classes()
            )));
        }
        self.class_names = names.to_vec();
        Ok(self)
    }

    /// Mean and sample standard deviation of one metric over several
    /// evaluations (for example k-fold results); `None` when `runs` is empty.
    pub fn mean_std(runs: &[Metrics], metric: impl Fn(&Metrics) -> f64) -> Option<(f64, f64)> {
        if runs.is_empty() {
            return None;
        }
        let values: Vec<f64> = runs.iter().map(metric).collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        Some((mean, std))
    }
}

/// Mean negative log-likelihood of the true classes,
/// `-(1/n) Σ_i ln clip(p_i[y_i])`, with probabilities clipped to
/// `[LOG_LOSS_EPSILON, 1 - LOG_LOSS_EPSILON]`. Rows are used as given (not
/// renormalized).
///
/// ```
/// use cryptotl_head::log_loss;
///
/// // -(ln 0.8 + ln 0.5) / 2 = 0.4581...
/// let loss = log_loss(&[0, 1], &[vec![0.8, 0.2], vec![0.5, 0.5]])?;
/// assert!((loss - 0.458_145_365).abs() < 1e-6);
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
///
/// # Errors
///
/// [`HeadError::InvalidInput`] when the rows are empty, ragged, have fewer
/// than 2 columns, hold non-finite or negative values, or when the label
/// count differs or a label is out of range.
pub fn log_loss(y_true: &[usize], probabilities: &[Vec<f32>]) -> Result<f64> {
    if y_true.len() != probabilities.len() {
        return Err(HeadError::InvalidInput(format!(
            "{} labels but {} probability rows",
            y_true.len(),
            probabilities.len()
        )));
    }
    let classes = probabilities
        .first()
        .map(Vec::len)
        .ok_or_else(|| HeadError::InvalidInput("no probabilities to score".into()))?;
    if classes < 2 {
        return Err(HeadError::InvalidInput(
            "probability rows need one column per class (at least 2)".into(),
        ));
    }
    let mut total = 0.0;
    for (i, (&label, row)) in y_true.iter().zip(probabilities).enumerate() {
        if row.len() != classes {
            return Err(HeadError::InvalidInput(format!(
                "probability row {i} has {} columns, expected {classes}",
                row.len()
            )));
        }
        if row.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return Err(HeadError::InvalidInput(format!(
                "probability row {i} holds a negative or non-finite value"
            )));
        }
        let p = row.get(label).copied().ok_or_else(|| {
            HeadError::InvalidInput(format!(
                "label {label} of example {i} out of range for {classes} classes"
            ))
        })?;
        total -= f64::from(p)
            .clamp(LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON)
            .ln();
    }
    Ok(total / y_true.len() as f64)
}

/// Index of the largest value (the first one on ties; 0 for an empty row):
/// the class [`crate::Head::predict`] picks from a probability row.
///
/// ```
/// assert_eq!(cryptotl_head::argmax(&[0.2, 0.5, 0.5]), 1);
/// ```
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "examples {}  accuracy {:.4}  macro F1 {:.4}  kappa {:.4}",
            self.examples, self.accuracy, self.macro_f1, self.kappa
        )?;
        if let Some(loss) = self.log_loss {
            write!(f, "  log loss {loss:.4}")?;
        }
        writeln!(f)?;
        let name_width = self
            .class_names
            .iter()
            .map(String::len)
            .chain([5])
            .max()
            .unwrap_or(5);
        writeln!(
            f,
            "{:<name_width$}  precision  recall     F1  support",
            "class"
        )?;
        for (name, m) in self.class_names.iter().zip(&self.per_class) {
            writeln!(
                f,
                "{name:<name_width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                m.precision, m.recall, m.f1, m.support
            )?;
        }
        writeln!(f, "confusion matrix (rows = true, columns = predicted):")?;
        let cell = self
            .confusion
            .rows()
            .iter()
            .flatten()
            .map(|c| c.to_string().len())
            .chain(self.class_names.iter().map(String::len))
            .max()
            .unwrap_or(1);
        write!(f, "{:<name_width$}", "")?;
        for name in &self.class_names {
            write!(f, "  {name:>cell$}")?;
        }
        for (name, row) in self.class_names.iter().zip(self.confusion.rows()) {
            writeln!(f)?;
            write!(f, "{name:<name_width$}")?;
            for count in row {
                write!(f, "  {count:>cell$}")?;
            }
        }
        Ok(())
    }
}
