//! End-to-end pretraining on seeded synthetic tasks.

use std::time::Instant;

use cryptotl_pretrain::{
    pretrain, pretrain_with_validation, ActivationInit, BitsSource, Labeled, PretrainConfig,
    PretrainError, QuantBits, TrainingMode,
};
use cryptotl_quant::evaluate_layers_trace;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` random unit vectors of dimension `d` (Gaussian directions).
fn unit_vectors(n: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..d)
                .map(|_| {
                    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                    let u2: f64 = rng.random();
                    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// A separable task: unit vectors labeled by the argmax of `classes` random
/// linear functions (for two classes: the sign of one).
fn task(n: usize, d: usize, classes: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = unit_vectors(classes.max(2), d, &mut rng);
    let xs = unit_vectors(n, d, &mut rng);
    let ys = xs
        .iter()
        .map(|x| {
            let score = |k: usize| -> f32 { w[k].iter().zip(x).map(|(a, b)| a * b).sum() };
            if classes == 2 {
                usize::from(score(0) > 0.0)
            } else {
                (0..classes)
                    .max_by(|&a, &b| score(a).total_cmp(&score(b)))
                    .unwrap_or(0)
            }
        })
        .collect();
    (xs, ys)
}

fn config() -> PretrainConfig {
    PretrainConfig {
        learning_rate: 3e-3,
        batch_size: 32,
        max_epochs: 60,
        patience: 8,
        validation_fraction: 0.25,
        seed: 1,
        plan_he: false,
        ..PretrainConfig::default()
    }
}

#[test]
fn qat_learns_a_separable_task_and_exports_a_servable_model() {
    let (xs, ys) = task(800, 16, 2, 10);
    let cfg = PretrainConfig {
        plan_he: true,
        ..config()
    };
    let mut epochs = Vec::new();
    let start = Instant::now();
    let trained = pretrain(&xs, &ys, &cfg, &mut |e| epochs.push(e)).expect("trains");
    let r = &trained.report;
    eprintln!(
        "QAT d=16: {:.2?}, {} epochs (best {}), loss {:.4} -> {:.4}, bits {:?} ({:?}), t {} bits, \
         activation {:?}, accuracy float {:.3} quantized {:.3}",
        start.elapsed(),
        r.epochs_run,
        r.best_epoch,
        r.initial_train_loss,
        r.best_train_loss,
        r.export_bits,
        r.bits_source,
        r.plaintext_bits,
        r.activation,
        r.float_validation_accuracy,
        r.quantized_validation_accuracy
    );
    // The callback saw every epoch, in order.
    assert_eq!(epochs.len(), r.epochs_run);
    assert!(epochs.iter().enumerate().all(|(i, e)| e.epoch == i + 1));
    assert_eq!(epochs, r.history);
    assert!(
        r.best_epoch >= 1,
        "training never improved on the initial weights"
    );
    assert!(r.best_train_loss < 0.5 * r.initial_train_loss);
    assert!(r.float_validation_accuracy >= 0.9, "{r:?}");
    assert!(r.quantized_validation_accuracy >= 0.9, "{r:?}");
    assert_eq!((r.train_samples, r.validation_samples), (600, 200));

    // The served model: plan present, its t holds every value of the network.
    let q = &trained.model.graph;
    let plan = trained.model.he_plan.as_ref().expect("planned");
    q.check_plaintext_modulus(plan.params.plaintext_modulus)
        .expect("t fits the bound analysis");
    assert_eq!(q.input.bits, r.export_bits.input);
    assert_eq!(trained.float_model.input.as_ref(), Some(&q.input));

    // Every integer value on real inputs lies inside the analysed intervals.
    let bounds = q.bounds().expect("bounds");
    for x in &xs {
        let qx = q.quantize_input(x).expect("quantizes");
        let trace = evaluate_layers_trace(&q.layers, &qx).expect("evaluates");
        for (values, bound) in trace.iter().zip(&bounds.layers) {
            for (v, iv) in values.iter().zip(&bound.intervals) {
                assert!(iv.contains(i128::from(*v)), "{} outside {iv:?}", bound.name);
            }
        }
    }

    // The feature helpers agree with the graphs.
    let f = trained.float_features(&xs[..5]).expect("float features");
    let g = trained
        .quantized_features(&xs[..5])
        .expect("quantized features");
    assert_eq!(f.len(), 5);
    assert_eq!(f[0].len(), 14);
    assert_eq!(g[0].len(), 14);
}

#[test]
fn qat_is_at_least_as_good_as_quantizing_after_float_training() {
    let (xs, ys) = task(800, 32, 2, 20);
    let bits = Some(QuantBits {
        input: 3,
        weight: 3,
    });
    let run = |mode| {
        let cfg = PretrainConfig {
            mode,
            bits,
            ..config()
        };
        let start = Instant::now();
        let t = pretrain(&xs, &ys, &cfg, &mut |_| {}).expect("trains");
        eprintln!(
            "{mode:?} d=32 b=3/3: {:.2?}, {} epochs, accuracy float {:.3} quantized {:.3}",
            start.elapsed(),
            t.report.epochs_run,
            t.report.float_validation_accuracy,
            t.report.quantized_validation_accuracy
        );
        t.report
    };
    let qat = run(TrainingMode::QuantizationAware);
    let float = run(TrainingMode::FloatOnly);
    assert_eq!(qat.bits_source, BitsSource::Caller);
    assert!(
        qat.quantized_validation_accuracy >= float.quantized_validation_accuracy - 0.02,
        "QAT {} vs float-only {}",
        qat.quantized_validation_accuracy,
        float.quantized_validation_accuracy
    );
    assert!(qat.quantized_validation_accuracy >= 0.8);
}

#[test]
fn multiclass_head_uses_cross_entropy() {
    let (xs, ys) = task(900, 16, 3, 30);
    let cfg = PretrainConfig {
        classes: 3,
        activation: ActivationInit::ReluApprox,
        ..config()
    };
    let t = pretrain(&xs, &ys, &cfg, &mut |_| {}).expect("trains");
    eprintln!(
        "3 classes: {:?}",
        (
            t.report.float_validation_accuracy,
            t.report.quantized_validation_accuracy
        )
    );
    assert_eq!(t.head.outputs(), 3);
    assert!(
        t.report.quantized_validation_accuracy >= 0.8,
        "{:?}",
        t.report
    );
}

#[test]
fn same_seed_same_model() {
    let (xs, ys) = task(200, 16, 2, 40);
    let cfg = PretrainConfig {
        max_epochs: 3,
        ..config()
    };
    let a = pretrain(&xs, &ys, &cfg, &mut |_| {}).expect("trains");
    let b = pretrain(&xs, &ys, &cfg, &mut |_| {}).expect("trains");
    assert_eq!(a, b);
    let other = PretrainConfig { seed: 2, ..cfg };
    let c = pretrain(&xs, &ys, &other, &mut |_| {}).expect("trains");
    assert_ne!(a.float_model.graph, c.float_model.graph);
}

#[test]
fn invalid_inputs_are_errors() {
    let (xs, ys) = task(40, 16, 2, 50);
    let cfg = PretrainConfig {
        max_epochs: 1,
        ..config()
    };
    let data_err = |r: Result<_, PretrainError>| matches!(r, Err(PretrainError::InvalidData(_)));
    let mut ragged = xs.clone();
    ragged[3].push(0.0);
    assert!(data_err(pretrain(&ragged, &ys, &cfg, &mut |_| {})));
    let mut bad_labels = ys.clone();
    bad_labels[5] = 2;
    assert!(data_err(pretrain(&xs, &bad_labels, &cfg, &mut |_| {})));
    assert!(data_err(pretrain(&[], &[], &cfg, &mut |_| {})));
    assert!(data_err(pretrain(&xs, &ys[..10], &cfg, &mut |_| {})));
    let mut nan = xs.clone();
    nan[0][0] = f32::NAN;
    assert!(data_err(pretrain(&nan, &ys, &cfg, &mut |_| {})));
    let short: Vec<Vec<f32>> = xs.iter().map(|x| x[..8].to_vec()).collect();
    assert!(data_err(pretrain_with_validation(
        Labeled::new(&xs, &ys),
        Labeled::new(&short, &ys),
        &cfg,
        &mut |_| {}
    )));
    assert!(data_err(pretrain_with_validation(
        Labeled::new(&xs, &ys),
        Labeled::new(&[], &[]),
        &cfg,
        &mut |_| {}
    )));

    let config_err = |c: PretrainConfig| {
        matches!(
            pretrain(&xs, &ys, &c, &mut |_| {}),
            Err(PretrainError::InvalidConfig(_))
        )
    };
    assert!(config_err(PretrainConfig {
        classes: 1,
        ..cfg.clone()
    }));
    assert!(config_err(PretrainConfig {
        input_clip: 0.5,
        ..cfg.clone()
    }));
    assert!(config_err(PretrainConfig {
        batch_size: 0,
        ..cfg.clone()
    }));
    assert!(config_err(PretrainConfig {
        learning_rate: f64::NAN,
        ..cfg.clone()
    }));
    assert!(config_err(PretrainConfig {
        validation_fraction: 1.0,
        ..cfg.clone()
    }));
    assert!(config_err(PretrainConfig {
        bits: Some(QuantBits {
            input: 8,
            weight: 1
        }),
        ..cfg.clone()
    }));
    assert!(config_err(PretrainConfig {
        activation: ActivationInit::Custom(cryptotl_quant::FloatPolynomial {
            coefficients: vec![0.0, 1.0],
        }),
        ..cfg.clone()
    }));
    // An invalid polynomial keeps the quantization crate's error as its source.
    let cubic = PretrainConfig {
        activation: ActivationInit::Custom(cryptotl_quant::FloatPolynomial {
            coefficients: vec![0.0, 0.0, 0.0, 1.0],
        }),
        ..cfg.clone()
    };
    let err = pretrain(&xs, &ys, &cubic, &mut |_| {}).expect_err("a cubic activation is refused");
    assert!(
        matches!(err, PretrainError::InvalidActivation(_)),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .starts_with("invalid configuration: activation: "));
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn bit_widths_beyond_the_preset_are_refused() {
    let (xs, ys) = task(60, 16, 2, 60);
    let cfg = PretrainConfig {
        max_epochs: 1,
        bits: Some(QuantBits {
            input: 10,
            weight: 10,
        }),
        ..config()
    };
    match pretrain(&xs, &ys, &cfg, &mut |_| {}) {
        Err(PretrainError::PlaintextTooWide {
            required, allowed, ..
        }) => assert!(required > allowed),
        other => panic!("expected PlaintextTooWide, got {other:?}"),
    }
}
