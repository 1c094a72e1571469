//! Seeded stratified splits: a train/validation split and k folds.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{HeadError, Result};
use crate::seed::{rng, Stream};

/// Indices of each class, shuffled with `rng`.
fn shuffled_by_class(y: &[usize], classes: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut by_class = vec![Vec::new(); classes];
    for (i, &label) in y.iter().enumerate() {
        if let Some(bucket) = by_class.get_mut(label) {
            bucket.push(i);
        }
    }
    for bucket in &mut by_class {
        bucket.shuffle(rng);
    }
    by_class
}

/// Splits `0..y.len()` into (train, validation) index lists, taking
/// `round(fraction · n_c)` examples of every class `c` for validation.
/// Both lists are sorted.
///
/// # Errors
///
/// [`HeadError::InvalidOptions`] when `fraction` is not in `(0, 1)` or when
/// either side would be empty.
pub(crate) fn stratified_split(
    y: &[usize],
    classes: usize,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(HeadError::InvalidOptions(format!(
            "validation fraction must be in (0, 1), got {fraction}"
        )));
    }
    let mut rng = rng(seed, Stream::ValidationSplit);
    let mut train = Vec::new();
    let mut validation = Vec::new();
    for bucket in shuffled_by_class(y, classes, &mut rng) {
        let take = ((bucket.len() as f64) * fraction).round() as usize;
        let take = take.min(bucket.len());
        validation.extend_from_slice(&bucket[..take]);
        train.extend_from_slice(&bucket[take..]);
    }
    if train.is_empty() || validation.is_empty() {
        return Err(HeadError::InvalidOptions(format!(
            "a validation fraction of {fraction} of {} examples leaves {} for training and {} for validation; both need at least one",
            y.len(),
            train.len(),
            validation.len()
        )));
    }
    train.sort_unstable();
    validation.sort_unstable();
    Ok((train, validation))
}

/// Partitions `0..y.len()` into `k` stratified folds: the examples of each
/// class are shuffled (seeded) and dealt round-robin, continuing the deal
/// across classes, so fold sizes differ by at most one and every class is
/// spread as evenly as possible. Each fold is sorted.
///
/// ```
/// use cryptotl_head::stratified_folds;
///
/// let y = [0, 0, 0, 0, 1, 1, 1, 1];
/// let folds = stratified_folds(&y, 2, 7)?;
/// assert_eq!(folds.len(), 2);
/// for fold in &folds {
///     assert_eq!(fold.iter().filter(|&&i| y[i] == 1).count(), 2);
/// }
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
///
/// # Errors
///
/// [`HeadError::InvalidOptions`] when `k < 2` or `k > y.len()`.
pub fn stratified_folds(y: &[usize], k: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if k < 2 || k > y.len() {
        return Err(HeadError::InvalidOptions(format!(
            "k-fold needs 2 <= k <= examples, got k = {k} for {} examples",
            y.len()
        )));
    }
    let classes = y.iter().max().map_or(0, |m| m + 1);
    let mut rng = rng(seed, Stream::Folds);
    let mut folds = vec![Vec::new(); k];
    let mut dealt = 0usize;
    for bucket in shuffled_by_class(y, classes, &mut rng) {
        for i in bucket {
            folds[dealt % k].push(i);
            dealt += 1;
        }
    }
    for fold in &mut folds {
        fold.sort_unstable();
    }
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn split_takes_the_fraction_of_every_class() {
        let y: Vec<usize> = (0..100).map(|i| usize::from(i >= 80)).collect();
        let (train, val) = stratified_split(&y, 2, 0.25, 3).unwrap();
        // round(80 · 0.25) = 20 of class 0, round(20 · 0.25) = 5 of class 1.
        assert_eq!(val.iter().filter(|&&i| y[i] == 0).count(), 20);
        assert_eq!(val.iter().filter(|&&i| y[i] == 1).count(), 5);
        assert_eq!(train.len(), 75);
        assert_eq!(stratified_split(&y, 2, 0.25, 3).unwrap().1, val);
        assert_ne!(stratified_split(&y, 2, 0.25, 4).unwrap().1, val);
    }

    #[test]
    fn split_rejects_bad_fractions_and_empty_sides() {
        let y = [0, 1, 0, 1];
        assert!(stratified_split(&y, 2, 0.0, 0).is_err());
        assert!(stratified_split(&y, 2, 1.0, 0).is_err());
        assert!(stratified_split(&y, 2, f64::NAN, 0).is_err());
        // round(2 · 0.1) = 0 per class: no validation example.
        assert!(stratified_split(&y, 2, 0.1, 0).is_err());
    }

    #[test]
    fn folds_reject_bad_k() {
        assert!(stratified_folds(&[0, 1, 0], 1, 0).is_err());
        assert!(stratified_folds(&[0, 1, 0], 4, 0).is_err());
    }

    proptest! {
        #[test]
        fn split_partitions_the_indices(
            y in prop::collection::vec(0usize..3, 10..80),
            seed in any::<u64>(),
        ) {
            if let Ok((train, val)) = stratified_split(&y, 3, 0.3, seed) {
                let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
                all.sort_unstable();
                prop_assert_eq!(all, (0..y.len()).collect::<Vec<_>>());
            }
        }

        #[test]
        fn folds_partition_and_balance(
            y in prop::collection::vec(0usize..4, 2..120),
            k in 2usize..8,
            seed in any::<u64>(),
        ) {
            prop_assume!(k <= y.len());
            let folds = stratified_folds(&y, k, seed).unwrap();
            let mut all: Vec<usize> = folds.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..y.len()).collect::<Vec<_>>());
            let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            for class in 0..4 {
                let per_fold: Vec<usize> = folds
                    .iter()
                    .map(|f| f.iter().filter(|&&i| y[i] == class).count())
                    .collect();
                prop_assert!(per_fold.iter().max().unwrap() - per_fold.iter().min().unwrap() <= 1);
            }
        }
    }
}
