//! Training: convergence, determinism, early stopping, input errors.

mod common;

use common::{clusters, noise, separable_binary};
use cryptotl_head::{
    k_fold, train, HeadConfig, HeadError, Metrics, TrainOptions, Trainer, ValidationSplit,
};

fn options(seed: u64) -> TrainOptions {
    TrainOptions {
        max_epochs: 60,
        batch_size: 32,
        learning_rate: 3e-3,
        seed,
        ..TrainOptions::default()
    }
}

#[test]
fn binary_head_learns_a_separable_set_with_tiny_features() {
    // Features of order 1e-4: standardization makes them learnable. Train
    // and test come from one draw so that they share the separating plane.
    let all = separable_binary(600, 16, 1e-4, 1);
    let (x_train, y_train) = (&all.x[..400], &all.y[..400]);
    let (x_test, y_test) = (&all.x[400..], &all.y[400..]);
    let config = HeadConfig {
        hidden: 48,
        ..HeadConfig::new(16, 2)
    };

    let (head, report) = train(&config, x_train, y_train, &options(7)).unwrap();
    let first = report.history.first().unwrap().train_loss;
    let last = report.history.last().unwrap().train_loss;
    assert!(last < first * 0.5, "training loss {first} -> {last}");
    let metrics = head.evaluate(x_test, y_test).unwrap();
    assert!(metrics.accuracy >= 0.95, "{metrics}");
    assert!(head.standardizer().is_some());
    let record = head.training().unwrap();
    assert_eq!(record.epochs, report.epochs);
    assert_eq!(record.best_epoch, report.best_epoch);
    assert_eq!(
        (record.train_examples, record.validation_examples),
        (320, 80)
    );
}

#[test]
fn three_class_head_learns_clusters() {
    let all = clusters(450, 10, 3, 2);
    let (x_train, y_train) = (&all.x[..300], &all.y[..300]);
    let (x_test, y_test) = (&all.x[300..], &all.y[300..]);
    let config = HeadConfig {
        hidden: 48,
        ..HeadConfig::new(10, 3)
    };
    let (head, report) = train(&config, x_train, y_train, &options(3)).unwrap();
    assert!(
        report.history.last().unwrap().train_loss < report.history[0].train_loss,
        "{:?}",
        report.history
    );
    let metrics = head.evaluate(x_test, y_test).unwrap();
    assert!(metrics.accuracy >= 0.95, "{metrics}");
    assert!(metrics.macro_f1 >= 0.95, "{metrics}");
    let p = head.predict_proba(&x_test[..5]).unwrap();
    assert!(p
        .iter()
        .all(|row| row.len() == 3 && (row.iter().sum::<f32>() - 1.0).abs() < 1e-5));
}

#[test]
fn a_seed_fixes_the_result() {
    let set = clusters(150, 6, 3, 4);
    let config = HeadConfig {
        hidden: 12,
        ..HeadConfig::new(6, 3)
    };
    let opts = TrainOptions {
        max_epochs: 8,
        ..options(11)
    };
    let (a, ra) = train(&config, &set.x, &set.y, &opts).unwrap();
    let (b, rb) = train(&config, &set.x, &set.y, &opts).unwrap();
    assert_eq!(
        a.predict_proba(&set.x).unwrap(),
        b.predict_proba(&set.x).unwrap()
    );
    let losses = |r: &cryptotl_head::TrainReport| {
        r.history
            .iter()
            .map(|e| (e.train_loss, e.validation_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&ra), losses(&rb));
    let (c, _) = train(&config, &set.x, &set.y, &TrainOptions { seed: 12, ..opts }).unwrap();
    assert_ne!(
        a.predict_proba(&set.x).unwrap(),
        c.predict_proba(&set.x).unwrap()
    );
}

#[test]
fn early_stopping_stops_on_a_plateau_and_restores_the_best_weights() {
    // Labels independent of the features: validation loss cannot keep
    // improving, so patience runs out long before 200 epochs.
    let train_set = noise(200, 8, 5);
    let val = noise(100, 8, 6);
    let config = HeadConfig::new(8, 2);
    let opts = TrainOptions {
        max_epochs: 200,
        patience: 3,
        ..options(1)
    };
    let mut epochs_seen = Vec::new();
    let (head, report) = Trainer::new(config, opts)
        .validation_set(&val.x, &val.y)
        .on_epoch(|e| epochs_seen.push(e.epoch))
        .fit(&train_set.x, &train_set.y)
        .unwrap();
    assert!(report.stopped_early);
    assert!(report.epochs < 200, "ran {} epochs", report.epochs);
    // Stops after exactly `patience` epochs without improvement.
    assert_eq!(report.epochs - report.best_epoch, 3);
    assert_eq!(epochs_seen, (1..=report.epochs).collect::<Vec<_>>());
    assert!(report.history[report.best_epoch - 1].improved);
    // The head holds the best epoch's weights: its validation log loss is
    // the best validation loss, not the last one.
    let best = report.best_validation_loss.unwrap();
    let restored = head.evaluate(&val.x, &val.y).unwrap().log_loss.unwrap();
    assert!(
        (restored - best).abs() < 1e-5,
        "restored {restored}, best {best}"
    );
    let last = report.history.last().unwrap().validation_loss.unwrap();
    assert!(last >= best);
    assert_eq!(report.validation_examples, 100);
    assert_eq!(report.train_examples, 200);
}

#[test]
fn without_validation_training_runs_every_epoch() {
    let set = clusters(60, 4, 2, 8);
    let config = HeadConfig {
        hidden: 6,
        ..HeadConfig::new(4, 2)
    };
    let opts = TrainOptions {
        max_epochs: 4,
        validation: ValidationSplit::None,
        ..options(0)
    };
    let (head, report) = train(&config, &set.x, &set.y, &opts).unwrap();
    assert_eq!(report.epochs, 4);
    assert_eq!(report.best_epoch, 4);
    assert!(!report.stopped_early);
    assert_eq!(report.best_validation_loss, None);
    assert!(report
        .history
        .iter()
        .all(|e| e.validation_loss.is_none() && !e.improved));
    assert_eq!(head.training().unwrap().train_examples, 60);
}

#[test]
fn wrong_inputs_are_errors() {
    let set = clusters(40, 4, 2, 9);
    let config = HeadConfig {
        hidden: 6,
        ..HeadConfig::new(4, 2)
    };
    let opts = TrainOptions {
        max_epochs: 2,
        ..options(0)
    };
    let invalid_input = |r: Result<_, HeadError>| matches!(r, Err(HeadError::InvalidInput(_)));

    let mut wrong_dim = set.x.clone();
    wrong_dim[3].push(0.0);
    assert!(invalid_input(
        train(&config, &wrong_dim, &set.y, &opts).map(|_| ())
    ));
    let mut nan = set.x.clone();
    nan[0][1] = f32::NAN;
    assert!(invalid_input(
        train(&config, &nan, &set.y, &opts).map(|_| ())
    ));
    let mut bad_label = set.y.clone();
    bad_label[0] = 2;
    assert!(invalid_input(
        train(&config, &set.x, &bad_label, &opts).map(|_| ())
    ));
    assert!(invalid_input(
        train(&config, &set.x, &set.y[1..], &opts).map(|_| ())
    ));
    assert!(invalid_input(train(&config, &[], &[], &opts).map(|_| ())));
    // An explicit validation set is checked too.
    let val_x = vec![vec![0.0; 3]];
    let r = Trainer::new(config.clone(), opts.clone())
        .validation_set(&val_x, &[0])
        .fit(&set.x, &set.y);
    assert!(invalid_input(r.map(|_| ())));

    let (head, _) = train(&config, &set.x, &set.y, &opts).unwrap();
    assert!(invalid_input(head.predict(&[vec![0.0; 5]]).map(|_| ())));
    assert!(invalid_input(
        head.predict_proba(&[vec![0.0; 3]]).map(|_| ())
    ));
    assert!(invalid_input(
        head.evaluate(&set.x, &set.y[1..]).map(|_| ())
    ));
    assert!(invalid_input(
        head.predict(&[vec![f32::INFINITY; 4]]).map(|_| ())
    ));
    assert_eq!(head.predict(&[]).unwrap(), Vec::<usize>::new());
    // Wrong number of class names.
    let r = Trainer::new(config.clone(), opts.clone())
        .class_names(vec!["only one".into()])
        .fit(&set.x, &set.y);
    assert!(invalid_input(r.map(|_| ())));
}

#[test]
fn invalid_configurations_and_options_are_errors() {
    let set = clusters(40, 4, 2, 10);
    let good = HeadConfig {
        hidden: 6,
        ..HeadConfig::new(4, 2)
    };
    let bad_config = HeadConfig {
        classes: 1,
        ..good.clone()
    };
    assert!(matches!(
        train(&bad_config, &set.x, &set.y, &TrainOptions::default()),
        Err(HeadError::InvalidConfig(_))
    ));
    let bad_options = [
        TrainOptions {
            batch_size: 0,
            ..TrainOptions::default()
        },
        TrainOptions {
            max_epochs: 0,
            ..TrainOptions::default()
        },
        TrainOptions {
            learning_rate: 0.0,
            ..TrainOptions::default()
        },
        TrainOptions {
            learning_rate: f64::NAN,
            ..TrainOptions::default()
        },
        TrainOptions {
            weight_decay: -1.0,
            ..TrainOptions::default()
        },
        TrainOptions {
            validation: ValidationSplit::Fraction(1.5),
            ..TrainOptions::default()
        },
        // 1% of 20 examples per class rounds to no validation example.
        TrainOptions {
            validation: ValidationSplit::Fraction(0.01),
            ..TrainOptions::default()
        },
    ];
    for opts in bad_options {
        assert!(
            matches!(
                train(&good, &set.x, &set.y, &opts),
                Err(HeadError::InvalidOptions(_))
            ),
            "{opts:?}"
        );
    }
}

#[test]
fn a_huge_learning_rate_diverges_or_trains_without_panicking() {
    let set = clusters(60, 4, 3, 12);
    let config = HeadConfig {
        hidden: 6,
        ..HeadConfig::new(4, 3)
    };
    let opts = TrainOptions {
        max_epochs: 5,
        learning_rate: 1e30,
        ..options(0)
    };
    match train(&config, &set.x, &set.y, &opts) {
        Ok(_) | Err(HeadError::Diverged { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn k_fold_evaluates_every_example_once() {
    let set = clusters(120, 6, 3, 13);
    let config = HeadConfig {
        hidden: 24,
        ..HeadConfig::new(6, 3)
    };
    let folds = k_fold(&config, &set.x, &set.y, 4, &options(2), 5).unwrap();
    assert_eq!(folds.len(), 4);
    assert_eq!(folds.iter().map(|m| m.examples).sum::<u64>(), 120);
    let (mean, _) = Metrics::mean_std(&folds, |m| m.accuracy).unwrap();
    assert!(mean >= 0.9, "mean accuracy {mean}");
    assert!(matches!(
        k_fold(&config, &set.x, &set.y, 1, &options(2), 5),
        Err(HeadError::InvalidOptions(_))
    ));
}

/// Per-example gradients, averaged: the skeleton of DP-SGD without clipping
/// or noise. Must train like the default rule up to rounding.
struct PerExampleMean {
    calls: usize,
}

impl cryptotl_head::GradientRule for PerExampleMean {
    fn gradients(
        &mut self,
        batch: &cryptotl_head::StepBatch<'_>,
    ) -> cryptotl_head::Result<(f64, cryptotl_head::candle_core::backprop::GradStore)> {
        self.calls += 1;
        let n = batch.len();
        let mut sum = vec![0f32; batch.parameter_count()];
        let mut loss = 0.0;
        for i in 0..n {
            loss += f64::from(batch.example_loss(i)?.to_scalar::<f32>()?);
            for (s, g) in sum.iter_mut().zip(batch.example_gradient(i)?) {
                *s += g;
            }
        }
        sum.iter_mut().for_each(|s| *s /= n as f32);
        Ok((loss / n as f64, batch.grad_store_from_flat(&sum)?))
    }
}

#[test]
fn a_custom_gradient_rule_drives_training() {
    let set = clusters(90, 5, 3, 14);
    let config = HeadConfig {
        hidden: 9,
        ..HeadConfig::new(5, 3)
    };
    let opts = TrainOptions {
        max_epochs: 3,
        batch_size: 16,
        validation: ValidationSplit::None,
        ..options(3)
    };
    let mut rule = PerExampleMean { calls: 0 };
    let (custom, custom_report) = Trainer::new(config.clone(), opts.clone())
        .gradient_rule(&mut rule)
        .fit(&set.x, &set.y)
        .unwrap();
    // 90 examples in batches of 16: 6 steps per epoch.
    assert_eq!(rule.calls, 18);
    let (default, default_report) = train(&config, &set.x, &set.y, &opts).unwrap();
    let a = custom.predict_proba(&set.x).unwrap();
    let b = default.predict_proba(&set.x).unwrap();
    let max_diff = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-3, "probabilities differ by {max_diff}");
    let last = |r: &cryptotl_head::TrainReport| r.history.last().unwrap().train_loss;
    assert!((last(&custom_report) - last(&default_report)).abs() < 1e-3);
}
