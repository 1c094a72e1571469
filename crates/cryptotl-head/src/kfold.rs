//! Stratified k-fold cross-validation.

use crate::config::HeadConfig;
use crate::data::check_labelled;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::split::stratified_folds;
use crate::train::{EpochReport, TrainOptions, Trainer};

/// Stratified k-fold cross-validation: splits `(x, y)` into `k` folds with
/// [`stratified_folds`]`(y, k, seed)`, trains a head on each `k − 1` folds
/// with `options` (early stopping per `options.validation`, carved out of
/// those folds) and evaluates it on the held-out fold. Returns one
/// [`Metrics`] per fold, in fold order; summarize them with
/// [`Metrics::mean_std`].
///
/// ```
/// use cryptotl_head::{k_fold, HeadConfig, Metrics, TrainOptions};
///
/// let x: Vec<Vec<f32>> = (0..30).map(|i| vec![i as f32, 0.5]).collect();
/// let y: Vec<usize> = (0..30).map(|i| usize::from(i >= 15)).collect();
/// let config = HeadConfig { hidden: 6, ..HeadConfig::new(2, 2) };
/// let options = TrainOptions { max_epochs: 2, ..TrainOptions::default() };
/// let folds = k_fold(&config, &x, &y, 3, &options, 1)?;
/// assert_eq!(folds.len(), 3);
/// assert_eq!(folds.iter().map(|m| m.examples).sum::<u64>(), 30);
/// let (mean_acc, _std) = Metrics::mean_std(&folds, |m| m.accuracy).unwrap_or_default();
/// assert!((0.0..=1.0).contains(&mean_acc));
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
///
/// # Errors
///
/// [`HeadError::InvalidOptions`](crate::HeadError::InvalidOptions) when
/// `k < 2` or `k` exceeds the number of examples, and every error of
/// [`Trainer::fit`].
pub fn k_fold(
    config: &HeadConfig,
    x: &[Vec<f32>],
    y: &[usize],
    k: usize,
    options: &TrainOptions,
    seed: u64,
) -> Result<Vec<Metrics>> {
    k_fold_with_progress(config, x, y, k, options, seed, |_, _| {})
}

/// [`k_fold`] with a progress callback receiving the fold index (from 0)
/// and each epoch's report.
///
/// # Errors
///
/// As [`k_fold`].
pub fn k_fold_with_progress(
    config: &HeadConfig,
    x: &[Vec<f32>],
    y: &[usize],
    k: usize,
    options: &TrainOptions,
    seed: u64,
    mut progress: impl FnMut(usize, &EpochReport),
) -> Result<Vec<Metrics>> {
    config.validate()?;
    options.validate()?;
    check_labelled(x, y, config.input_dim, config.classes)?;
    let folds = stratified_folds(y, k, seed)?;
    let mut results = Vec::with_capacity(k);
    for (fold, test_idx) in folds.iter().enumerate() {
        let mut is_test = vec![false; x.len()];
        for &i in test_idx {
            is_test[i] = true;
        }
        let (mut train_x, mut train_y) = (Vec::new(), Vec::new());
        let (mut test_x, mut test_y) = (Vec::new(), Vec::new());
        for (i, (row, &label)) in x.iter().zip(y).enumerate() {
            if is_test[i] {
                test_x.push(row.clone());
                test_y.push(label);
            } else {
                train_x.push(row.clone());
                train_y.push(label);
            }
        }
        let (head, _) = Trainer::new(config.clone(), options.clone())
            .on_epoch(|report| progress(fold, report))
            .fit(&train_x, &train_y)?;
        results.push(head.evaluate(&test_x, &test_y)?);
    }
    Ok(results)
}
