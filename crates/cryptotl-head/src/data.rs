//! Checking features and labels, and input standardization.

use serde::{Deserialize, Serialize};

use crate::error::{HeadError, Result};

/// Per-feature affine normalization `(x - mean) / std`, fitted on training
/// features and stored with the head so that prediction applies the same
/// transform.
///
/// ```
/// use cryptotl_head::Standardizer;
///
/// let s = Standardizer::fit(&[vec![1.0, 5.0], vec![3.0, 5.0]])?;
/// assert_eq!(s.mean(), &[2.0, 5.0]);
/// // Feature 1 is constant: its standard deviation is replaced by 1.
/// assert_eq!(s.std(), &[1.0, 1.0]);
/// assert_eq!(s.transform(&[3.0, 6.0]), vec![1.0, 1.0]);
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Standardizer {
    /// Fits mean and population standard deviation per feature (computed in
    /// `f64`). A standard deviation that is 0 or not a normal `f32` (a
    /// constant feature) is replaced by 1, so the transform stays finite.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when `x` is empty, ragged or holds
    /// non-finite values.
    pub fn fit(x: &[Vec<f32>]) -> Result<Self> {
        let dim = x
            .first()
            .map(Vec::len)
            .ok_or_else(|| HeadError::InvalidInput("no features to standardize".into()))?;
        check_features(x, dim)?;
        let all: Vec<usize> = (0..x.len()).collect();
        Self::fit_indices(x, &all)
    }

    /// Fits on the rows `indices` of `x`, which the caller has checked (same
    /// length, finite) and which must not be empty.
    pub(crate) fn fit_indices(x: &[Vec<f32>], indices: &[usize]) -> Result<Self> {
        let dim = indices
            .first()
            .and_then(|&i| x.get(i))
            .map(Vec::len)
            .ok_or_else(|| HeadError::InvalidInput("no features to standardize".into()))?;
        let n = indices.len() as f64;
        let mut mean = vec![0f64; dim];
        for &i in indices {
            for (m, &v) in mean.iter_mut().zip(&x[i]) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; dim];
        for &i in indices {
            for ((s, &v), m) in var.iter_mut().zip(&x[i]).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let std = (s / n).sqrt() as f32;
                if std.is_normal() {
                    std
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        })
    }

    /// A standardizer with the given statistics.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when the lengths differ or are 0, a mean
    /// is not finite, or a standard deviation is not a positive normal
    /// `f32`.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(HeadError::InvalidInput(format!(
                "standardizer needs as many means ({}) as standard deviations ({}), at least one",
                mean.len(),
                std.len()
            )));
        }
        if mean.iter().any(|m| !m.is_finite()) {
            return Err(HeadError::InvalidInput(
                "standardizer means must be finite".into(),
            ));
        }
        if std.iter().any(|s| !s.is_normal() || *s < 0.0) {
            return Err(HeadError::InvalidInput(
                "standardizer standard deviations must be positive normal numbers".into(),
            ));
        }
        Ok(Self { mean, std })
    }

    /// Per-feature means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Per-feature standard deviations (never 0).
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// Number of features.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Standardizes one feature vector (extra or missing features are
    /// ignored: callers check dimensions first).
    pub fn transform(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(&v, (m, s))| (v - m) / s)
            .collect()
    }
}

/// Checks that every row has `dim` finite values.
pub(crate) fn check_features(x: &[Vec<f32>], dim: usize) -> Result<()> {
    for (i, row) in x.iter().enumerate() {
        if row.len() != dim {
            return Err(HeadError::InvalidInput(format!(
                "example {i} has {} features, expected {dim}",
                row.len()
            )));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(HeadError::InvalidInput(format!(
                "example {i}, feature {j} is not finite"
            )));
        }
    }
    Ok(())
}

/// Checks a labelled set: non-empty, as many labels as rows, rows of `dim`
/// finite values, labels below `classes`.
pub(crate) fn check_labelled(
    x: &[Vec<f32>],
    y: &[usize],
    dim: usize,
    classes: usize,
) -> Result<()> {
    if x.is_empty() {
        return Err(HeadError::InvalidInput("no examples".into()));
    }
    if x.len() != y.len() {
        return Err(HeadError::InvalidInput(format!(
            "{} examples but {} labels",
            x.len(),
            y.len()
        )));
    }
    if let Some((i, label)) = y.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(HeadError::InvalidInput(format!(
            "label {label} of example {i} out of range for {classes} classes"
        )));
    }
    check_features(x, dim)
}

/// Rows `indices` of `x`, standardized if a standardizer is given, as one
/// row-major buffer.
pub(crate) fn gather_rows(
    x: &[Vec<f32>],
    indices: &[usize],
    standardizer: Option<&Standardizer>,
) -> Vec<f32> {
    let dim = x.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(indices.len() * dim);
    for &i in indices {
        match standardizer {
            Some(s) => out.extend(s.transform(&x[i])),
            None => out.extend_from_slice(&x[i]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_standardizer_centres_and_scales() {
        // Feature 0: 1e-6 · [1, 2, 3, 4] (tiny scale); mean 2.5e-6, population
        // std 1e-6 · sqrt(1.25) = 1.118e-6.
        let x: Vec<Vec<f32>> = (1..=4).map(|i| vec![i as f32 * 1e-6, 7.0]).collect();
        let s = Standardizer::fit(&x).unwrap();
        assert!((s.mean()[0] - 2.5e-6).abs() < 1e-12);
        assert!((s.std()[0] - 1.118_034e-6).abs() < 1e-11);
        let z: Vec<f32> = x.iter().map(|r| s.transform(r)[0]).collect();
        let mean: f32 = z.iter().sum::<f32>() / 4.0;
        let var: f32 = z.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "{z:?}");
        // The constant feature maps to 0.
        assert_eq!(s.transform(&x[0])[1], 0.0);
    }

    #[test]
    fn standardizer_rejects_bad_statistics_and_inputs() {
        assert!(Standardizer::new(vec![0.0], vec![0.0]).is_err());
        assert!(Standardizer::new(vec![0.0], vec![-1.0]).is_err());
        assert!(Standardizer::new(vec![f32::NAN], vec![1.0]).is_err());
        assert!(Standardizer::new(vec![0.0, 1.0], vec![1.0]).is_err());
        assert!(Standardizer::fit(&[]).is_err());
        assert!(Standardizer::fit(&[vec![1.0], vec![f32::INFINITY]]).is_err());
        assert!(Standardizer::fit(&[vec![1.0], vec![1.0, 2.0]]).is_err());
    }

    #[test]
    fn labelled_checks_catch_each_problem() {
        let x = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        assert!(check_labelled(&x, &[0, 1], 2, 2).is_ok());
        assert!(check_labelled(&x, &[0], 2, 2).is_err());
        assert!(check_labelled(&x, &[0, 2], 2, 2).is_err());
        assert!(check_labelled(&x, &[0, 1], 3, 2).is_err());
        assert!(check_labelled(&[], &[], 2, 2).is_err());
        assert!(check_labelled(&[vec![f32::NAN, 0.0]], &[0], 2, 2).is_err());
    }
}
