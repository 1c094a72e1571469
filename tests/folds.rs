//! Heads over folds: the single split reproduces the plain head, k-fold
//! cross-validation tests every row once and lines its predictions up
//! with the rows it tested. Toy data, no model or download needed.

use cryptotl::head::TrainOptions;
use cryptotl::head::{tested_rows, Fold};
use cryptotl::pipeline::{train_head_folds, train_head_on, HeadSpec};
use cryptotl::Error;

/// `n` rows whose class is whether the first feature is positive, classes
/// interleaved irregularly so that a misaligned pooling would score ~50 %.
fn toy(n: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
    let y: Vec<usize> = (0..n)
        .map(|i| usize::from((i * 7 + i / 3) % 5 < 2))
        .collect();
    let x = y
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let sign = if c == 1 { 1.0 } else { -1.0 };
            vec![sign * (1.0 + (i % 4) as f32), (i % 9) as f32 / 9.0, 0.5]
        })
        .collect();
    (x, y)
}

fn classes() -> Vec<String> {
    vec!["neg".into(), "pos".into()]
}

fn options() -> TrainOptions {
    TrainOptions {
        max_epochs: 30,
        batch_size: 16,
        learning_rate: 1e-2,
        ..TrainOptions::default()
    }
}

fn spec(options: &TrainOptions, members: usize) -> HeadSpec<'_> {
    HeadSpec {
        hidden: 12,
        options,
        members,
    }
}

#[test]
fn one_split_fold_is_the_plain_head() {
    let (x, y) = toy(80);
    let options = options();
    for members in [1, 2] {
        let spec = spec(&options, members);
        let plain = train_head_on(&classes(), spec, (&x[..60], &y[..60]), (&x[60..], &y[60..]))
            .expect("plain head");
        let folded = train_head_folds(&classes(), spec, (&x, &y), &Fold::split(60, 20))
            .expect("head over one fold");
        assert_eq!(folded.predictions, plain.predictions);
        assert_eq!(folded.metrics, plain.metrics);
        assert_eq!(folded.epochs, plain.epochs);
    }
}

#[test]
fn cross_validation_tests_every_row_in_fold_order() {
    let (x, y) = toy(100);
    let options = options();
    let folds = Fold::cross_validation(&y, 5, 3).expect("folds");
    let result = train_head_folds(&classes(), spec(&options, 1), (&x, &y), &folds).expect("cv");
    assert_eq!(result.metrics.examples, 100);
    assert_eq!(result.predictions.len(), 100);
    // The toy set is separable: pooled predictions line up with the labels
    // of the rows in fold order, or accuracy would fall towards 50 %.
    let tested = Fold::gather(&y, &tested_rows(&folds));
    let agree = tested
        .iter()
        .zip(&result.predictions)
        .filter(|(a, b)| a == b)
        .count();
    assert!(agree >= 95, "{agree} of 100 right");
    assert!((result.metrics.accuracy - agree as f64 / 100.0).abs() < 1e-12);
    assert!(result.metrics.log_loss.is_some());
}

#[test]
fn folds_outside_the_rows_are_refused() {
    let (x, y) = toy(20);
    let options = options();
    let bad = vec![Fold {
        train: (0..10).collect(),
        test: vec![10, 25],
    }];
    let err = train_head_folds(&classes(), spec(&options, 1), (&x, &y), &bad).unwrap_err();
    assert!(
        matches!(err, Error::Head(cryptotl::head::HeadError::InvalidInput(ref m)) if m.contains("row 25")),
        "{err}"
    );
    let empty = vec![Fold {
        train: (0..10).collect(),
        test: Vec::new(),
    }];
    assert!(train_head_folds(&classes(), spec(&options, 1), (&x, &y), &empty).is_err());
}
