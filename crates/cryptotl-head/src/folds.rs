//! How a target's rows are divided between training and testing the
//! client's head: the single train/test split, or stratified k-fold
//! cross-validation, where every row is tested once, by a head that was
//! not trained on it.
//!
//! Documented on [`Fold`].

use crate::error::HeadError;
use crate::split::stratified_folds;

/// One division of a target's rows: train on `train`, test on `test`.
///
/// A [`Fold`] holds indices into the target's rows (training part first,
/// then test part, as the facade's `pipeline::TargetData` lays them out).
/// [`pooled`] runs one fit-and-predict per fold and concatenates the
/// folds' test predictions, so that a score over them is a score over
/// every tested row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// Rows the head is trained on.
    pub train: Vec<usize>,
    /// Rows the head is tested on.
    pub test: Vec<usize>,
}

impl Fold {
    /// The single split of a target laid out as `n_train` training rows
    /// followed by `n_test` test rows.
    ///
    /// ```
    /// use cryptotl_head::Fold;
    ///
    /// let folds = Fold::split(3, 2);
    /// assert_eq!(folds.len(), 1);
    /// assert_eq!(folds[0].train, [0, 1, 2]);
    /// assert_eq!(folds[0].test, [3, 4]);
    /// ```
    pub fn split(n_train: usize, n_test: usize) -> Vec<Fold> {
        vec![Fold {
            train: (0..n_train).collect(),
            test: (n_train..n_train + n_test).collect(),
        }]
    }

    /// Stratified `k`-fold cross-validation over all rows with labels `y`
    /// ([`stratified_folds`] seeded with `seed`): fold `i` tests on the
    /// `i`-th part and trains on the other `k − 1`.
    ///
    /// ```
    /// use cryptotl_head::Fold;
    ///
    /// let y = [0, 1, 0, 1, 0, 1];
    /// let folds = Fold::cross_validation(&y, 3, 0)?;
    /// assert_eq!(folds.len(), 3);
    /// let mut tested: Vec<usize> = folds.iter().flat_map(|f| f.test.clone()).collect();
    /// tested.sort_unstable();
    /// assert_eq!(tested, [0, 1, 2, 3, 4, 5]);
    /// # Ok::<(), cryptotl_head::HeadError>(())
    /// ```
    ///
    /// # Errors
    /// [`HeadError::InvalidInput`] when `k < 2` or `k` exceeds the rows.
    pub fn cross_validation(y: &[usize], k: usize, seed: u64) -> Result<Vec<Fold>, HeadError> {
        let parts = stratified_folds(y, k, seed)?;
        Ok((0..parts.len())
            .map(|i| {
                let mut train: Vec<usize> = parts
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .flat_map(|(_, p)| p.iter().copied())
                    .collect();
                train.sort_unstable();
                Fold {
                    train,
                    test: parts[i].clone(),
                }
            })
            .collect())
    }

    /// The rows of `all` that `rows` names, in that order.
    ///
    /// # Panics
    /// When a row is out of range. Folds from [`Fold::split`] and
    /// [`Fold::cross_validation`] over the same rows never are; the
    /// pipeline checks other folds first ([`Fold::check_rows`]).
    pub fn gather<T: Clone>(all: &[T], rows: &[usize]) -> Vec<T> {
        rows.iter().map(|&i| all[i].clone()).collect()
    }

    /// Checks that `folds` can be used over `rows` rows: at least one fold,
    /// each with training and test rows, none naming a row beyond `rows`.
    ///
    /// # Errors
    /// [`HeadError::InvalidInput`] naming the problem.
    pub fn check_rows(folds: &[Fold], rows: usize) -> Result<(), HeadError> {
        if folds.is_empty()
            || folds
                .iter()
                .any(|f| f.test.is_empty() || f.train.is_empty())
        {
            return Err(HeadError::InvalidInput(
                "every fold needs training and test rows".into(),
            ));
        }
        let outside = folds
            .iter()
            .flat_map(|f| f.train.iter().chain(&f.test))
            .find(|&&i| i >= rows);
        match outside {
            Some(i) => Err(HeadError::InvalidInput(format!(
                "a fold names row {i} of a target with {rows} rows"
            ))),
            None => Ok(()),
        }
    }
}

/// The rows every fold tests, in fold order: the order of [`pooled`]'s
/// output.
pub fn tested_rows(folds: &[Fold]) -> Vec<usize> {
    folds.iter().flat_map(|f| f.test.iter().copied()).collect()
}

/// The largest training part of any fold (what one head is trained on at
/// most).
pub fn largest_train(folds: &[Fold]) -> usize {
    folds.iter().map(|f| f.train.len()).max().unwrap_or(0)
}

/// Runs `fit_predict(train rows, test rows)` once per fold and
/// concatenates the per-row outputs in fold order ([`tested_rows`]).
///
/// # Errors
/// The first failure of `fit_predict`, or [`HeadError::InvalidInput`] when
/// it returns a number of outputs other than the fold's test rows.
pub fn pooled<T, E: From<HeadError>>(
    folds: &[Fold],
    mut fit_predict: impl FnMut(&Fold) -> Result<Vec<T>, E>,
) -> Result<Vec<T>, E> {
    let mut out = Vec::with_capacity(folds.iter().map(|f| f.test.len()).sum());
    for fold in folds {
        let part = fit_predict(fold)?;
        if part.len() != fold.test.len() {
            return Err(HeadError::InvalidInput(format!(
                "{} outputs for {} test rows",
                part.len(),
                fold.test.len()
            ))
            .into());
        }
        out.extend(part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cross_validation_rejects_bad_k() {
        assert!(Fold::cross_validation(&[0, 1, 0], 1, 0).is_err());
        assert!(Fold::cross_validation(&[0, 1, 0], 4, 0).is_err());
    }

    #[test]
    fn check_rows_refuses_empty_and_out_of_range_folds() {
        assert!(Fold::check_rows(&[], 4).is_err());
        assert!(Fold::check_rows(&Fold::split(0, 2), 2).is_err());
        assert!(Fold::check_rows(&Fold::split(2, 0), 2).is_err());
        assert!(Fold::check_rows(&Fold::split(2, 2), 3).is_err());
        assert!(Fold::check_rows(&Fold::split(2, 2), 4).is_ok());
    }

    #[test]
    fn pooled_checks_output_counts() {
        let folds = Fold::split(2, 2);
        let short = pooled::<_, HeadError>(&folds, |_| Ok(vec![0u8]));
        assert!(matches!(short, Err(HeadError::InvalidInput(_))));
        let ok = pooled::<_, HeadError>(&folds, |f| Ok(f.test.clone())).unwrap();
        assert_eq!(ok, tested_rows(&folds));
    }

    proptest! {
        /// Every row is tested exactly once, never by a fold that trains on
        /// it, and every fold trains on all the other rows.
        #[test]
        fn folds_partition_the_rows(
            y in proptest::collection::vec(0usize..3, 4..60),
            k in 2usize..6,
            seed in any::<u64>(),
        ) {
            prop_assume!(k <= y.len());
            let folds = Fold::cross_validation(&y, k, seed).unwrap();
            prop_assert_eq!(folds.len(), k);
            let mut tested = tested_rows(&folds);
            tested.sort_unstable();
            prop_assert_eq!(tested, (0..y.len()).collect::<Vec<_>>());
            for f in &folds {
                prop_assert!(f.test.iter().all(|i| !f.train.contains(i)));
                prop_assert_eq!(f.train.len() + f.test.len(), y.len());
            }
            prop_assert!(largest_train(&folds) < y.len());
        }
    }
}
