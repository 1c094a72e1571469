//! Deterministic, seeded, stratified splits.

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::text::dedup_key;

/// Train, validation and test parts of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreeWaySplit {
    /// The training part (named `<name>/train`).
    pub train: Dataset,
    /// The validation part (named `<name>/validation`).
    pub validation: Dataset,
    /// The test part (named `<name>/test`).
    pub test: Dataset,
}

/// Splits a data set into `(train, test)`.
///
/// - **Deterministic**: the same data set, fraction and seed give the same
///   split on every platform (ChaCha8 stream and an explicit Fisher–Yates
///   shuffle, independent of `rand`'s distribution code).
/// - **Stratified**: for each class with `n` examples, `round(n ·
///   test_fraction)` go to the test part, clamped to `1..=n-1` when `n ≥ 2`
///   (a class with one example stays in train).
/// - **Disjoint by text**: rows sharing a [`dedup_key`] form one unit that is
///   never divided, so no text (up to case, whitespace and edge punctuation)
///   appears in both parts even for uncleaned data. A unit counts toward the
///   class of its first row; for uncleaned data with large duplicate groups
///   the test part may slightly exceed its target.
///
/// Both parts keep the original row order, classes and family; their names
/// get a `/train` or `/test` suffix.
///
/// # Errors
/// [`DataError::InvalidArgument`] unless `0 < test_fraction < 1`.
pub fn split(dataset: &Dataset, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
    check_fraction("test_fraction", test_fraction)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut test_rows: Vec<usize> = Vec::new();
    let mut train_rows: Vec<usize> = Vec::new();
    for mut units in units_by_class(dataset) {
        let rows: usize = units.iter().map(Vec::len).sum();
        let target = test_count(rows, test_fraction);
        shuffle(&mut units, &mut rng);
        let mut taken = 0;
        for unit in units {
            if taken < target {
                taken += unit.len();
                test_rows.extend(unit);
            } else {
                train_rows.extend(unit);
            }
        }
    }
    train_rows.sort_unstable();
    test_rows.sort_unstable();
    let name = dataset.name();
    Ok((
        dataset
            .select_unchecked(&train_rows)
            .with_name(format!("{name}/train")),
        dataset
            .select_unchecked(&test_rows)
            .with_name(format!("{name}/test")),
    ))
}

/// Splits a data set into train, validation and test parts.
///
/// The test part is split off first with `test_fraction`, then the
/// validation part from the rest, so that it holds about
/// `validation_fraction` of the whole data set. Both steps have the
/// guarantees of [`split`]; the second step uses a seed derived from `seed`.
///
/// # Errors
/// [`DataError::InvalidArgument`] unless both fractions are in `(0, 1)` and
/// their sum is below 1.
pub fn split_three_way(
    dataset: &Dataset,
    validation_fraction: f64,
    test_fraction: f64,
    seed: u64,
) -> Result<ThreeWaySplit> {
    check_fraction("validation_fraction", validation_fraction)?;
    check_fraction("test_fraction", test_fraction)?;
    if validation_fraction + test_fraction >= 1.0 {
        return Err(DataError::InvalidArgument(format!(
            "validation_fraction + test_fraction = {} must be below 1",
            validation_fraction + test_fraction
        )));
    }
    let name = dataset.name();
    let (rest, test) = split(dataset, test_fraction, seed)?;
    let relative = validation_fraction / (1.0 - test_fraction);
    let (train, validation) = split(&rest, relative, splitmix64(seed))?;
    Ok(ThreeWaySplit {
        train: train.with_name(format!("{name}/train")),
        validation: validation.with_name(format!("{name}/validation")),
        test,
    })
}

fn check_fraction(what: &str, fraction: f64) -> Result<()> {
    if fraction.is_finite() && fraction > 0.0 && fraction < 1.0 {
        Ok(())
    } else {
        Err(DataError::InvalidArgument(format!(
            "{what} must be strictly between 0 and 1, got {fraction}"
        )))
    }
}

/// Rows of a class that go to the test part.
fn test_count(rows: usize, fraction: f64) -> usize {
    if rows < 2 {
        return 0;
    }
    // `rows` is far below 2^52, so the conversions are exact.
    let wanted = (rows as f64 * fraction).round() as usize;
    wanted.clamp(1, rows - 1)
}

/// Groups rows sharing a dedup key into units, and the units by the label of
/// their first row. Units and their rows are in data-set order.
fn units_by_class(dataset: &Dataset) -> Vec<Vec<Vec<usize>>> {
    let mut by_class: Vec<Vec<Vec<usize>>> = vec![Vec::new(); dataset.classes().len()];
    let mut unit_of_key: HashMap<String, (usize, usize)> = HashMap::new();
    for (row, (text, label)) in dataset.iter().enumerate() {
        let key = dedup_key(text);
        match unit_of_key.get(&key) {
            Some(&(class, unit)) => by_class[class][unit].push(row),
            None => {
                unit_of_key.insert(key, (label, by_class[label].len()));
                by_class[label].push(vec![row]);
            }
        }
    }
    by_class
}

/// Fisher–Yates shuffle driven directly by the ChaCha8 output.
fn shuffle<T>(items: &mut [T], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = uniform_below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A uniform integer in `0..n` (`n > 0`), by rejection of the biased low zone.
fn uniform_below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    // 2^64 mod n: the values below it would make `x % n` biased.
    let threshold = (u64::MAX % n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x >= threshold {
            return x % n;
        }
    }
}

/// SplitMix64 finalizer, used to derive an independent seed.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stratified, seeded subsample of at most `max` rows (the data set
/// itself when it is not larger). Each class keeps its share (largest
/// remainders, at least one row for every present class when `max` allows);
/// rows keep their original order.
///
/// # Errors
/// Row selection failures (not expected).
pub fn stratified_subsample(dataset: &Dataset, max: usize, seed: u64) -> Result<Dataset> {
    let n = dataset.len();
    if n <= max {
        return Ok(dataset.clone());
    }
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (row, &label) in dataset.labels().iter().enumerate() {
        by_class.entry(label).or_default().push(row);
    }
    // Largest-remainder quotas.
    let mut quotas: Vec<(usize, usize, f64)> = by_class
        .iter()
        .map(|(&c, rows)| {
            let exact = rows.len() as f64 * max as f64 / n as f64;
            let floor = exact.floor() as usize;
            (c, floor, exact - floor as f64)
        })
        .collect();
    let mut left = max.saturating_sub(quotas.iter().map(|q| q.1).sum::<usize>());
    for q in &mut quotas {
        if q.1 == 0 && left > 0 {
            q.1 = 1;
            left -= 1;
        }
    }
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| quotas[b].2.total_cmp(&quotas[a].2).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        if quotas[i].1 < by_class[&quotas[i].0].len() {
            quotas[i].1 += 1;
            left -= 1;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(max);
    for (c, quota, _) in quotas {
        let mut class_rows = by_class[&c].clone();
        class_rows.shuffle(&mut rng);
        rows.extend(class_rows.into_iter().take(quota));
    }
    rows.sort_unstable();
    dataset.select(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(n_neg: usize, n_pos: usize) -> Dataset {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n_neg {
            texts.push(format!("negative {i}"));
            labels.push(0);
        }
        for i in 0..n_pos {
            texts.push(format!("positive {i}"));
            labels.push(1);
        }
        Dataset::new("d", texts, labels, vec!["neg".into(), "pos".into()]).unwrap()
    }

    #[test]
    fn split_is_stratified_and_named() {
        let d = dataset(80, 20);
        let (train, test) = split(&d, 0.25, 7).unwrap();
        assert_eq!(test.class_counts(), vec![20, 5]);
        assert_eq!(train.class_counts(), vec![60, 15]);
        assert_eq!(train.name(), "d/train");
        assert_eq!(test.name(), "d/test");
    }

    #[test]
    fn different_seeds_give_different_splits() {
        let d = dataset(50, 50);
        let (_, a) = split(&d, 0.2, 1).unwrap();
        let (_, b) = split(&d, 0.2, 2).unwrap();
        assert_ne!(a.texts(), b.texts());
    }

    #[test]
    fn duplicates_stay_on_one_side() {
        let texts: Vec<String> = (0..40).map(|i| format!("Text {}", i % 10)).collect();
        let labels: Vec<usize> = (0..40).map(|i| (i % 10) % 2).collect();
        let d = Dataset::new("d", texts, labels, vec!["a".into(), "b".into()]).unwrap();
        let (train, test) = split(&d, 0.3, 3).unwrap();
        for text in test.texts() {
            assert!(!train.texts().contains(text), "{text} on both sides");
        }
        assert_eq!(train.len() + test.len(), 40);
    }

    #[test]
    fn rejects_bad_fractions() {
        let d = dataset(5, 5);
        for f in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(split(&d, f, 0).is_err(), "{f}");
        }
        assert!(split_three_way(&d, 0.5, 0.5, 0).is_err());
    }

    #[test]
    fn three_way_split_covers_everything_once() {
        let d = dataset(60, 40);
        let s = split_three_way(&d, 0.1, 0.2, 9).unwrap();
        assert_eq!(s.test.class_counts(), vec![12, 8]);
        assert_eq!(s.validation.class_counts(), vec![6, 4]);
        assert_eq!(s.train.len(), 70);
        let mut all: Vec<&String> = s
            .train
            .texts()
            .iter()
            .chain(s.validation.texts())
            .chain(s.test.texts())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
    }

    #[test]
    fn uniform_below_stays_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for n in [1u64, 2, 3, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(uniform_below(&mut rng, n) < n);
            }
        }
    }
}
