//! Checking labeled embeddings and splitting off a validation set.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{PretrainError, Result};

/// Smallest input dimension the lower network accepts (its pooling window).
pub const MIN_INPUT_DIM: usize = 3;

/// Borrowed labeled samples: `inputs[i]` (an embedding) has class
/// `labels[i]`.
#[derive(Debug, Clone, Copy)]
pub struct Labeled<'a> {
    /// The embeddings, all of the same dimension.
    pub inputs: &'a [Vec<f32>],
    /// Class indices, `< classes`.
    pub labels: &'a [usize],
}

impl<'a> Labeled<'a> {
    /// Pairs embeddings with labels (unchecked; see [`Labeled::check`]).
    pub fn new(inputs: &'a [Vec<f32>], labels: &'a [usize]) -> Self {
        Labeled { inputs, labels }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Checks the set (named `what` in errors) and returns the input
    /// dimension: at least one sample, as many labels as inputs, one
    /// dimension `>= MIN_INPUT_DIM` (or `expected_dim` if given), finite
    /// values, labels `< classes`.
    ///
    /// # Errors
    /// [`PretrainError::InvalidData`] describing the first problem.
    pub fn check(&self, what: &str, classes: usize, expected_dim: Option<usize>) -> Result<usize> {
        let bad = |msg: String| Err(PretrainError::InvalidData(format!("{what}: {msg}")));
        let Some(first) = self.inputs.first() else {
            return bad("no samples".into());
        };
        if self.labels.len() != self.inputs.len() {
            return bad(format!(
                "{} inputs but {} labels",
                self.inputs.len(),
                self.labels.len()
            ));
        }
        let d = expected_dim.unwrap_or(first.len());
        if d < MIN_INPUT_DIM {
            return bad(format!(
                "input dimension {d} is below the minimum {MIN_INPUT_DIM}"
            ));
        }
        for (i, x) in self.inputs.iter().enumerate() {
            if x.len() != d {
                return bad(format!(
                    "sample {i} has dimension {}, expected {d}",
                    x.len()
                ));
            }
            if let Some(j) = x.iter().position(|v| !v.is_finite()) {
                return bad(format!("sample {i}, feature {j} is not finite"));
            }
        }
        if let Some(i) = self.labels.iter().position(|&y| y >= classes) {
            return bad(format!(
                "label {} of sample {i} is not below the class count {classes}",
                self.labels[i]
            ));
        }
        Ok(d)
    }
}

/// Owned labeled samples (a split of a [`Labeled`] set).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabeledSet {
    /// The embeddings.
    pub inputs: Vec<Vec<f32>>,
    /// Their class indices.
    pub labels: Vec<usize>,
}

impl LabeledSet {
    /// Borrows the set.
    pub fn view(&self) -> Labeled<'_> {
        Labeled::new(&self.inputs, &self.labels)
    }

    /// The samples of `data` at `indices`, in that order.
    pub(crate) fn pick(data: Labeled<'_>, indices: &[usize]) -> Self {
        LabeledSet {
            inputs: indices.iter().map(|&i| data.inputs[i].clone()).collect(),
            labels: indices.iter().map(|&i| data.labels[i]).collect(),
        }
    }
}

/// Shuffles `data` with `rng` and splits it into `(train, validation)`,
/// holding out `round(len · fraction)` samples, at least one and leaving at
/// least one for training.
///
/// # Errors
/// [`PretrainError::InvalidData`] for fewer than two samples or mismatched
/// lengths, [`PretrainError::InvalidConfig`] unless `0 < fraction < 1`.
pub(crate) fn split<R: Rng + ?Sized>(
    data: Labeled<'_>,
    fraction: f64,
    rng: &mut R,
) -> Result<(LabeledSet, LabeledSet)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(PretrainError::InvalidConfig(format!(
            "validation fraction must be in (0, 1), got {fraction}"
        )));
    }
    let n = data.len();
    if data.labels.len() != n {
        return Err(PretrainError::InvalidData(format!(
            "{n} inputs but {} labels",
            data.labels.len()
        )));
    }
    if n < 2 {
        return Err(PretrainError::InvalidData(format!(
            "need at least 2 samples to hold out a validation set, got {n}"
        )));
    }
    let (train, val) = split_indices(n, fraction, rng);
    Ok((LabeledSet::pick(data, &train), LabeledSet::pick(data, &val)))
}

/// The random draw of [`split`] for `n >= 2` samples and `0 < fraction < 1`
/// (unchecked): shuffles `0..n` with `rng` and returns `(train,
/// validation)` indices, `round(n · fraction)` (at least one, at most
/// `n − 1`) held out.
pub(crate) fn split_indices<R: Rng + ?Sized>(
    n: usize,
    fraction: f64,
    rng: &mut R,
) -> (Vec<usize>, Vec<usize>) {
    let held = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let train = order.split_off(held);
    (train, order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn set(n: usize, d: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let xs = (0..n).map(|i| vec![i as f32; d]).collect();
        let ys = (0..n).map(|i| i % 2).collect();
        (xs, ys)
    }

    #[test]
    fn check_reports_each_problem() {
        let (xs, ys) = set(4, 5);
        assert_eq!(Labeled::new(&xs, &ys).check("t", 2, None).ok(), Some(5));
        assert!(Labeled::new(&[], &[]).check("t", 2, None).is_err());
        assert!(Labeled::new(&xs, &ys[..3]).check("t", 2, None).is_err());
        assert!(Labeled::new(&xs, &ys).check("t", 2, Some(6)).is_err());
        assert!(Labeled::new(&xs, &ys).check("t", 1, None).is_err());
        let mut ragged = xs.clone();
        ragged[2].pop();
        assert!(Labeled::new(&ragged, &ys).check("t", 2, None).is_err());
        let mut nan = xs.clone();
        nan[1][3] = f32::NAN;
        assert!(Labeled::new(&nan, &ys).check("t", 2, None).is_err());
        let (small, ys2) = set(4, 2);
        assert!(Labeled::new(&small, &ys2).check("t", 2, None).is_err());
    }

    #[test]
    fn split_partitions_the_samples() {
        let (xs, ys) = set(10, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (train, val) = split(Labeled::new(&xs, &ys), 0.3, &mut rng).expect("splits");
        assert_eq!((train.inputs.len(), val.inputs.len()), (7, 3));
        let mut seen: Vec<u32> = train
            .inputs
            .iter()
            .chain(&val.inputs)
            .map(|x| x[0] as u32)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        for (x, &y) in train.inputs.iter().zip(&train.labels) {
            assert_eq!(x[0] as usize % 2, y);
        }
        let (one, _) = set(1, 3);
        assert!(split(Labeled::new(&one, &[0]), 0.5, &mut rng).is_err());
        assert!(split(Labeled::new(&xs, &ys), 1.0, &mut rng).is_err());
    }
}
