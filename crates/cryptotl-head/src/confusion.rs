//! Confusion matrices and the statistics that depend only on them
//! (accuracy, per-class precision/recall/F1, macro F1, Cohen's kappa).

use serde::{Deserialize, Serialize};

use crate::error::{HeadError, Result};

/// A `k × k` confusion matrix: `count(t, p)` is the number of examples of
/// true class `t` predicted as class `p` (rows = true, columns = predicted).
///
/// ```
/// use cryptotl_head::ConfusionMatrix;
///
/// let cm = ConfusionMatrix::from_labels(&[0, 0, 1, 1], &[0, 1, 1, 1], 2)?;
/// assert_eq!(cm.count(0, 1), 1);
/// assert_eq!(cm.accuracy(), 0.75);
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Vec<u64>>", into = "Vec<Vec<u64>>")]
pub struct ConfusionMatrix {
    counts: Vec<Vec<u64>>,
}

/// Precision, recall, F1 and support of one class (one-vs-rest).
///
/// Ratios with a zero denominator are defined as 0 (scikit-learn's
/// `zero_division=0`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// `TP / (TP + FP)`: of the examples predicted as this class, the share
    /// that belong to it.
    pub precision: f64,
    /// `TP / (TP + FN)`: of the examples of this class, the share found.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of examples whose true class is this one.
    pub support: u64,
    /// Number of examples predicted as this class.
    pub predicted: u64,
}

impl ConfusionMatrix {
    /// Counts `(y_true[i], y_pred[i])` pairs for `classes` classes.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when the slices differ in length or are
    /// empty, when `classes` is 0, or when a label is `>= classes`.
    pub fn from_labels(y_true: &[usize], y_pred: &[usize], classes: usize) -> Result<Self> {
        if classes == 0 {
            return Err(HeadError::InvalidInput(
                "a confusion matrix needs at least one class".into(),
            ));
        }
        if y_true.len() != y_pred.len() {
            return Err(HeadError::InvalidInput(format!(
                "{} true labels but {} predictions",
                y_true.len(),
                y_pred.len()
            )));
        }
        if y_true.is_empty() {
            return Err(HeadError::InvalidInput("no labels to compare".into()));
        }
        let mut counts = vec![vec![0u64; classes]; classes];
        for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            if t >= classes || p >= classes {
                return Err(HeadError::InvalidInput(format!(
                    "example {i}: label {t} / prediction {p} out of range for {classes} classes"
                )));
            }
            counts[t][p] += 1;
        }
        Ok(Self { counts })
    }

    /// Number of classes `k`.
    pub fn classes(&self) -> usize {
        self.counts.len()
    }

    /// Examples of true class `truth` predicted as `predicted` (0 when either
    /// index is out of range).
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts
            .get(truth)
            .and_then(|row| row.get(predicted))
            .copied()
            .unwrap_or(0)
    }

    /// The rows of the matrix (rows = true class, columns = predicted class).
    pub fn rows(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Total number of examples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Number of correctly classified examples (the trace).
    pub fn correct(&self) -> u64 {
        (0..self.classes()).map(|c| self.counts[c][c]).sum()
    }

    /// Examples whose true class is `class` (row sum).
    pub fn support(&self, class: usize) -> u64 {
        self.counts.get(class).map_or(0, |row| row.iter().sum())
    }

    /// Examples predicted as `class` (column sum).
    pub fn predicted(&self, class: usize) -> u64 {
        self.counts
            .iter()
            .map(|row| row.get(class).copied().unwrap_or(0))
            .sum()
    }

    /// Share of correctly classified examples (0 for an empty matrix).
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Precision, recall and F1 of every class, one-vs-rest.
    pub fn class_metrics(&self) -> Vec<ClassMetrics> {
        (0..self.classes())
            .map(|c| {
                let tp = self.counts[c][c];
                let support = self.support(c);
                let predicted = self.predicted(c);
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                // F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (support + predicted),
                // computed from counts to avoid rounding in P and R.
                let f1 = ratio(2 * tp, support + predicted);
                ClassMetrics {
                    precision,
                    recall,
                    f1,
                    support,
                    predicted,
                }
            })
            .collect()
    }

    /// Unweighted mean of the per-class F1 scores over the classes that
    /// occur, as truth or as prediction (scikit-learn's default label set).
    /// Classes that never occur are left out so that a perfect classifier
    /// scores 1 whatever the number of classes. 0 for an empty matrix.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = self
            .class_metrics()
            .into_iter()
            .filter(|m| m.support + m.predicted > 0)
            .map(|m| m.f1)
            .collect();
        if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        }
    }

    /// Cohen's kappa: `(p_o - p_e) / (1 - p_e)`, agreement between truth and
    /// prediction corrected for the agreement expected by chance from the
    /// marginals.
    ///
    /// Computed exactly in integers as
    /// `(n·trace − Σ_c row_c·col_c) / (n² − Σ_c row_c·col_c)`. When the
    /// denominator is 0 (truth and prediction are the same constant class)
    /// the agreement is perfect and kappa is 1; an empty matrix gives 0.
    pub fn kappa(&self) -> f64 {
        let n = u128::from(self.total());
        if n == 0 {
            return 0.0;
        }
        let chance: u128 = (0..self.classes())
            .map(|c| u128::from(self.support(c)) * u128::from(self.predicted(c)))
            .sum();
        let observed = n * u128::from(self.correct());
        let denominator = n * n - chance;
        if denominator == 0 {
            return 1.0;
        }
        (observed as f64 - chance as f64) / denominator as f64
    }
}

impl TryFrom<Vec<Vec<u64>>> for ConfusionMatrix {
    type Error = HeadError;

    fn try_from(counts: Vec<Vec<u64>>) -> Result<Self> {
        if counts.is_empty() || counts.iter().any(|row| row.len() != counts.len()) {
            return Err(HeadError::InvalidInput(
                "a confusion matrix must be square and non-empty".into(),
            ));
        }
        Ok(Self { counts })
    }
}

impl From<ConfusionMatrix> for Vec<Vec<u64>> {
    fn from(cm: ConfusionMatrix) -> Self {
        cm.counts
    }
}

/// `num / den`, or 0 when `den` is 0.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
