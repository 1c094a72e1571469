//! Multi-source pretraining and the objective knobs, on seeded synthetic
//! tasks: features that serve every source's task, one head per source, an
//! exact export, single-source equivalence, and clear errors.

use std::time::Instant;

use cryptotl_graph::{Model, QuantizedModel};
use cryptotl_pretrain::{
    pretrain, pretrain_multi, MultiPretrained, PretrainConfig, PretrainError, Source,
    SourceWeighting,
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

/// Labels of `xs` by the argmax of `xs · w_k` over the rows `w_k` (for two
/// rows: the sign of `xs · w_0`).
fn label(xs: &[Vec<f32>], w: &[Vec<f32>]) -> Vec<usize> {
    let dot = |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    xs.iter()
        .map(|x| {
            if w.len() == 2 {
                usize::from(dot(x, &w[0]) > 0.0)
            } else {
                (0..w.len())
                    .max_by(|&a, &b| dot(x, &w[a]).total_cmp(&dot(x, &w[b])))
                    .unwrap_or(0)
            }
        })
        .collect()
}

fn config(seed: u64) -> PretrainConfig {
    PretrainConfig {
        learning_rate: 3e-3,
        batch_size: 32,
        max_epochs: 30,
        patience: 5,
        validation_fraction: 0.2,
        seed,
        plan_he: false,
        ..PretrainConfig::default()
    }
}

fn source<'a>(
    name: &str,
    inputs: &'a [Vec<f32>],
    labels: &'a [usize],
    classes: usize,
) -> Source<'a> {
    Source {
        name: name.into(),
        inputs,
        labels,
        classes,
    }
}

/// Test accuracy of a logistic-regression probe (standardized features,
/// full-batch gradient descent) trained on the first `n_train` samples.
fn probe(features: &[Vec<f32>], labels: &[usize], n_train: usize) -> f64 {
    let p = features[0].len();
    let n = n_train as f64;
    let mut mean = vec![0.0f64; p];
    let mut var = vec![0.0f64; p];
    for x in &features[..n_train] {
        for (m, &v) in mean.iter_mut().zip(x) {
            *m += f64::from(v) / n;
        }
    }
    for x in &features[..n_train] {
        for ((s, &v), m) in var.iter_mut().zip(x).zip(&mean) {
            *s += (f64::from(v) - m).powi(2) / n;
        }
    }
    let z: Vec<Vec<f64>> = features
        .iter()
        .map(|x| {
            x.iter()
                .zip(mean.iter().zip(&var))
                .map(|(&v, (m, s))| (f64::from(v) - m) / s.sqrt().max(1e-9))
                .collect()
        })
        .collect();
    let score = |w: &[f64], b: f64, x: &[f64]| -> f64 {
        w.iter().zip(x).map(|(a, c)| a * c).sum::<f64>() + b
    };
    let (mut w, mut b) = (vec![0.0f64; p], 0.0f64);
    for _ in 0..500 {
        let (mut gw, mut gb) = (vec![0.0f64; p], 0.0f64);
        for (x, &t) in z[..n_train].iter().zip(labels) {
            let e = 1.0 / (1.0 + (-score(&w, b, x)).exp()) - t as f64;
            gw.iter_mut().zip(x).for_each(|(g, v)| *g += e * v);
            gb += e;
        }
        w.iter_mut().zip(&gw).for_each(|(w, g)| *w -= 0.5 * g / n);
        b -= 0.5 * gb / n;
    }
    let correct = z[n_train..]
        .iter()
        .zip(&labels[n_train..])
        .filter(|(x, &t)| usize::from(score(&w, b, x) > 0.0) == t)
        .count();
    correct as f64 / (features.len() - n_train) as f64
}

/// R² of the least-squares affine map from `features` to `inputs`, fitted
/// on the first half and measured on the second.
fn reconstruction_r2(features: &[Vec<f32>], inputs: &[Vec<f32>]) -> f64 {
    let half = features.len() / 2;
    let p = features[0].len() + 1;
    let d = inputs[0].len();
    let row = |f: &[f32]| -> Vec<f64> { f.iter().map(|&v| f64::from(v)).chain([1.0]).collect() };
    // Normal equations (lightly regularized), solved by Gauss-Jordan.
    let mut a = vec![vec![0.0f64; p]; p];
    let mut rhs = vec![vec![0.0f64; d]; p];
    for (f, x) in features[..half].iter().zip(&inputs[..half]) {
        let r = row(f);
        for i in 0..p {
            for j in 0..p {
                a[i][j] += r[i] * r[j];
            }
            for k in 0..d {
                rhs[i][k] += r[i] * f64::from(x[k]);
            }
        }
    }
    let ridge = 1e-6 * (0..p).map(|i| a[i][i]).sum::<f64>() / p as f64;
    (0..p).for_each(|i| a[i][i] += ridge);
    for c in 0..p {
        let pivot = (c..p)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .expect("rows");
        a.swap(c, pivot);
        rhs.swap(c, pivot);
        let (pivot_row, pivot_rhs) = (a[c].clone(), rhs[c].clone());
        for (r, (row, rhs_row)) in a.iter_mut().zip(rhs.iter_mut()).enumerate() {
            if r != c {
                let m = row[c] / pivot_row[c];
                row.iter_mut()
                    .zip(&pivot_row)
                    .for_each(|(v, p)| *v -= m * p);
                rhs_row
                    .iter_mut()
                    .zip(&pivot_rhs)
                    .for_each(|(v, p)| *v -= m * p);
            }
        }
    }
    let coef: Vec<Vec<f64>> = (0..p)
        .map(|i| rhs[i].iter().map(|v| v / a[i][i]).collect())
        .collect();
    let test = &inputs[half..];
    let mean: Vec<f64> = (0..d)
        .map(|k| test.iter().map(|x| f64::from(x[k])).sum::<f64>() / test.len() as f64)
        .collect();
    let (mut sse, mut sst) = (0.0f64, 0.0f64);
    for (f, x) in features[half..].iter().zip(test) {
        let r = row(f);
        for k in 0..d {
            let pred: f64 = (0..p).map(|i| r[i] * coef[i][k]).sum();
            sse += (pred - f64::from(x[k])).powi(2);
            sst += (f64::from(x[k]) - mean[k]).powi(2);
        }
    }
    1.0 - sse / sst
}

/// Two binary tasks on the same kind of inputs whose labels depend on
/// different random directions: `(xa, ya, xb, yb, test, test labels a, test
/// labels b)`.
type TwoTasks = (
    Vec<Vec<f32>>,
    Vec<usize>,
    Vec<Vec<f32>>,
    Vec<usize>,
    Vec<Vec<f32>>,
    Vec<usize>,
    Vec<usize>,
);

fn two_tasks(n_a: usize, n_b: usize, d: usize, seed: u64) -> TwoTasks {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let directions = unit_vectors(2, d, &mut rng);
    let (wa, wb) = (
        vec![directions[0].clone(), vec![0.0; d]],
        vec![directions[1].clone(), vec![0.0; d]],
    );
    let xa = unit_vectors(n_a, d, &mut rng);
    let xb = unit_vectors(n_b, d, &mut rng);
    let test = unit_vectors(1000, d, &mut rng);
    let (ya, yb) = (label(&xa, &wa), label(&xb, &wb));
    let (ta, tb) = (label(&test, &wa), label(&test, &wb));
    (xa, ya, xb, yb, test, ta, tb)
}

/// Training on two sources yields features from which *both* tasks are
/// linearly separable; features trained on one source lose much of the
/// other task (CryptoTL's transfer problem, in miniature).
#[test]
fn multi_source_features_serve_both_tasks() {
    for seed in [0u64, 1] {
        let (xa, ya, xb, yb, test, ta, tb) = two_tasks(600, 600, 16, seed);
        let cfg = config(seed);
        let start = Instant::now();
        let single = pretrain(&xa, &ya, &cfg, &mut |_| {}).expect("trains");
        let single_time = start.elapsed();
        let sources = [source("a", &xa, &ya, 2), source("b", &xb, &yb, 2)];
        let start = Instant::now();
        let mut epochs = Vec::new();
        let multi = pretrain_multi(&sources, &cfg, &mut |e| epochs.push(e)).expect("trains");
        let multi_time = start.elapsed();

        let fs = single.quantized_features(&test).expect("features");
        let fm = multi.quantized_features(&test).expect("features");
        let (single_a, single_b) = (probe(&fs, &ta, 500), probe(&fs, &tb, 500));
        let (multi_a, multi_b) = (probe(&fm, &ta, 500), probe(&fm, &tb, 500));
        eprintln!(
            "seed {seed}: single-source {single_time:.2?} ({} epochs), two sources \
             {multi_time:.2?} ({} epochs); probe accuracy task a: {single_a:.3} / {multi_a:.3}, \
             task b: {single_b:.3} / {multi_b:.3}; heads {:?}",
            single.report.epochs_run,
            multi.report.epochs_run,
            multi
                .sources
                .iter()
                .map(|s| (s.float_validation_accuracy, s.quantized_validation_accuracy))
                .collect::<Vec<_>>()
        );
        // Both tasks from the two-source features; the other task clearly
        // better than from the single-source features.
        assert!(multi_a >= 0.85 && multi_b >= 0.85, "{multi_a} {multi_b}");
        assert!(multi_b >= single_b + 0.15, "{multi_b} vs {single_b}");
        for s in &multi.sources {
            assert!(s.quantized_validation_accuracy >= 0.85, "{s:?}");
        }
        // Per-source progress: both sources' validation accuracies.
        assert_eq!(epochs, multi.report.history);
        assert!(epochs
            .iter()
            .all(|e| e.source_validation_accuracy.len() == 2));
        assert!(single
            .report
            .history
            .iter()
            .all(|e| e.source_validation_accuracy.is_empty()));
        assert_eq!(multi.model.sources, ["a", "b"]);
    }
}

/// Checks what the reported accuracies say against the exported artifacts,
/// and that every integer value stays inside the analysed intervals.
fn check_export_is_exact(trained: &MultiPretrained, sources: &[Source<'_>]) {
    assert_eq!(trained.validation_indices.len(), sources.len());
    for ((source, report), held) in sources
        .iter()
        .zip(&trained.sources)
        .zip(&trained.validation_indices)
    {
        let inputs: Vec<Vec<f32>> = held.iter().map(|&i| source.inputs[i].clone()).collect();
        let labels: Vec<usize> = held.iter().map(|&i| source.labels[i]).collect();
        let head = trained.head(&source.name).expect("a head per source");
        let q = trained
            .quantized_features(&inputs)
            .expect("integer evaluation");
        let f = trained.float_features(&inputs).expect("float evaluation");
        assert_eq!(
            head.accuracy(&q, &labels).expect("sizes"),
            report.quantized_validation_accuracy
        );
        assert_eq!(
            head.accuracy(&f, &labels).expect("sizes"),
            report.float_validation_accuracy
        );
        let graph = &trained.model.graph;
        let bounds = graph.bounds().expect("bounds");
        for x in source.inputs {
            let qx = graph.quantize_input(x).expect("quantizes");
            let trace = evaluate_layers_trace(&graph.layers, &qx).expect("evaluates");
            for (values, bound) in trace.iter().zip(&bounds.layers) {
                for (v, iv) in values.iter().zip(&bound.intervals) {
                    assert!(iv.contains(i128::from(*v)), "{} outside {iv:?}", bound.name);
                }
            }
        }
    }
}

/// Sources with 2, 3 and 4 classes: one head each with its class count, a
/// stratified hold-out, the served model exact, planned at 128-bit
/// parameters and carrying the source names through its file.
#[test]
fn one_head_per_source_and_an_exact_128_bit_export() {
    let d = 12;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let data: Vec<(Vec<Vec<f32>>, Vec<usize>, usize)> = [(2usize, 160usize), (3, 200), (4, 120)]
        .into_iter()
        .map(|(classes, n)| {
            let w = unit_vectors(classes.max(2), d, &mut rng);
            let xs = unit_vectors(n, d, &mut rng);
            let ys = label(&xs, &w);
            (xs, ys, classes)
        })
        .collect();
    let names = ["sst2", "ag-news", "trec_6.v1"];
    let sources: Vec<Source<'_>> = data
        .iter()
        .zip(names)
        .map(|((xs, ys, classes), name)| source(name, xs, ys, *classes))
        .collect();
    let cfg = PretrainConfig {
        max_epochs: 3,
        validation_fraction: 0.25,
        plan_he: true,
        ..config(3)
    };
    let trained = pretrain_multi(&sources, &cfg, &mut |_| {}).expect("trains");

    // One head per source, named, with the source's class count.
    assert_eq!(trained.heads.len(), 3);
    for ((name, head), (_, _, classes)) in trained.heads.iter().zip(&data) {
        assert_eq!(head.classes, *classes, "{name}");
        assert_eq!(head.outputs(), if *classes == 2 { 1 } else { *classes });
        assert_eq!(head.features, d - 2);
        head.validate().expect("valid head");
    }
    let head_names: Vec<&str> = trained.heads.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(head_names, names);
    assert!(trained.head("nope").is_none());

    // A stratified hold-out: a quarter of each source, disjoint indices.
    let r = &trained.report;
    for ((s, held), (xs, _, classes)) in trained
        .sources
        .iter()
        .zip(&trained.validation_indices)
        .zip(&data)
    {
        assert_eq!(s.classes, *classes);
        assert_eq!(s.validation_samples, xs.len() / 4);
        assert_eq!(s.train_samples + s.validation_samples, xs.len());
        let mut sorted = held.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), held.len());
        assert!(sorted.iter().all(|&i| i < xs.len()));
    }
    assert_eq!(r.train_samples + r.validation_samples, 480);
    // Per-sample weighting: the combined accuracies are sample-weighted.
    let weighted = |f: fn(&cryptotl_pretrain::SourceReport) -> f64| -> f64 {
        trained
            .sources
            .iter()
            .map(|s| f(s) * s.validation_samples as f64)
            .sum::<f64>()
            / r.validation_samples as f64
    };
    assert!(
        (weighted(|s| s.quantized_validation_accuracy) - r.quantized_validation_accuracy).abs()
            < 1e-12
    );
    assert!(
        (weighted(|s| s.float_validation_accuracy) - r.float_validation_accuracy).abs() < 1e-12
    );

    // Exact: the report's accuracies are those of the exported artifacts,
    // and the integer network stays inside its analysed bounds.
    check_export_is_exact(&trained, &sources);

    // 128-bit parameters, a plaintext modulus that holds every value.
    let plan = trained.model.he_plan.as_ref().expect("planned");
    cryptotl_he::check_security(plan.params.degree, &plan.params.moduli).expect("128-bit security");
    assert_eq!(plan.params.degree, cfg.preset.degree());
    trained
        .model
        .graph
        .check_plaintext_modulus(plan.params.plaintext_modulus)
        .expect("t fits the bound analysis");
    assert_eq!(trained.model.graph.layers.len(), 3);

    // The source names are recorded in the served model and its file.
    assert_eq!(trained.model.sources, names);
    let bytes = Model::Quantized(trained.model.clone())
        .to_bytes()
        .expect("encodes");
    let loaded = Model::from_bytes(&bytes.manifest, &bytes.weights)
        .and_then(Model::into_quantized)
        .expect("decodes");
    assert_eq!(loaded, trained.model);
    assert_eq!(loaded.sources, names);
}

/// With one source, `pretrain_multi` is `pretrain` (same draws, same
/// operations, bit for bit) apart from the recorded name, whatever
/// `config.classes` says; equal-source weighting and explicit zero knobs
/// change nothing.
#[test]
fn one_source_is_exactly_pretrain() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let w = unit_vectors(3, 16, &mut rng);
    for classes in [2usize, 3] {
        let xs = unit_vectors(240, 16, &mut rng);
        let ys = label(&xs, &w[..classes.max(2)]);
        let cfg = PretrainConfig {
            classes,
            max_epochs: 4,
            ..config(5)
        };
        let single = pretrain(&xs, &ys, &cfg, &mut |_| {}).expect("trains");
        for variant in [
            PretrainConfig {
                classes: 9, // ignored
                ..cfg.clone()
            },
            PretrainConfig {
                source_weighting: SourceWeighting::EqualSources,
                label_smoothing: 0.0,
                reconstruction: 0.0,
                ..cfg.clone()
            },
        ] {
            let mut epochs = Vec::new();
            let multi = pretrain_multi(&[source("only", &xs, &ys, classes)], &variant, &mut |e| {
                epochs.push(e)
            })
            .expect("trains");
            assert_eq!(multi.float_model, single.float_model);
            assert_eq!(multi.model.graph, single.model.graph);
            assert_eq!(multi.model.he_plan, single.model.he_plan);
            assert_eq!(multi.model.sources, ["only"]);
            assert!(single.model.sources.is_empty());
            assert_eq!(multi.heads, vec![("only".to_owned(), single.head.clone())]);
            assert_eq!(multi.report, single.report);
            assert_eq!(epochs, single.report.history);
            let s = &multi.sources[0];
            assert_eq!(
                s.float_validation_accuracy,
                single.report.float_validation_accuracy
            );
            assert_eq!(
                s.quantized_validation_accuracy,
                single.report.quantized_validation_accuracy
            );
            assert_eq!(
                (s.train_samples, s.validation_samples),
                (
                    single.report.train_samples,
                    single.report.validation_samples
                )
            );
        }
        // Explicitly zero knobs are the default.
        let zero = PretrainConfig {
            label_smoothing: 0.0,
            reconstruction: 0.0,
            source_weighting: SourceWeighting::PerSample,
            ..cfg.clone()
        };
        assert_eq!(zero, cfg);
        assert_eq!(
            pretrain(&xs, &ys, &zero, &mut |_| {}).expect("trains"),
            single
        );
    }
}

/// The reconstruction term keeps more of the input in the features
/// (linearly recoverable), the decoder is not exported, and both objective
/// knobs change training while keeping the task learned.
#[test]
fn reconstruction_and_label_smoothing() {
    for seed in [0u64, 2] {
        let (xa, ya, _, _, test, _, _) = two_tasks(600, 0, 16, seed);
        let cfg = config(seed);
        let plain = pretrain(&xa, &ya, &cfg, &mut |_| {}).expect("trains");
        let recon_cfg = PretrainConfig {
            reconstruction: 1.0,
            ..cfg.clone()
        };
        let recon = pretrain(&xa, &ya, &recon_cfg, &mut |_| {}).expect("trains");
        let smooth_cfg = PretrainConfig {
            label_smoothing: 0.2,
            ..cfg.clone()
        };
        let smooth = pretrain(&xa, &ya, &smooth_cfg, &mut |_| {}).expect("trains");
        let r2 = |t: &cryptotl_pretrain::Pretrained| {
            reconstruction_r2(&t.quantized_features(&test).expect("features"), &test)
        };
        let (r2_plain, r2_recon) = (r2(&plain), r2(&recon));
        eprintln!(
            "seed {seed}: R² of the input from the features: plain {r2_plain:.3}, with \
             reconstruction {r2_recon:.3}; accuracy plain {:.3}, reconstruction {:.3}, smoothing \
             {:.3}",
            plain.report.quantized_validation_accuracy,
            recon.report.quantized_validation_accuracy,
            smooth.report.quantized_validation_accuracy
        );
        assert!(r2_recon >= r2_plain + 0.08, "{r2_recon} vs {r2_plain}");
        for t in [&recon, &smooth] {
            assert_ne!(t.float_model.graph, plain.float_model.graph);
            assert!(
                t.report.quantized_validation_accuracy >= 0.85,
                "{:?}",
                t.report
            );
            // Same served shape: the decoder is not part of the model.
            assert_eq!(t.model.graph.layers.len(), 3);
            assert_eq!(t.model.graph.output_dim(), 14);
        }
        // The reported losses include the term (squared errors of
        // standardized inputs from a zero decoder start near 1 per sample).
        assert!(recon.report.initial_train_loss > plain.report.initial_train_loss + 0.5);
    }
}

/// Equal-source weighting: combined accuracies and losses are plain means
/// over the sources, and an imbalanced pair trains a different model than
/// per-sample weighting.
#[test]
fn equal_source_weighting_weighs_sources_not_samples() {
    let (xa, ya, xb, yb, _, _, _) = two_tasks(400, 80, 16, 4);
    let sources = [source("big", &xa, &ya, 2), source("small", &xb, &yb, 2)];
    let cfg = PretrainConfig {
        max_epochs: 4,
        ..config(4)
    };
    let per_sample = pretrain_multi(&sources, &cfg, &mut |_| {}).expect("trains");
    let equal_cfg = PretrainConfig {
        source_weighting: SourceWeighting::EqualSources,
        ..cfg
    };
    let equal = pretrain_multi(&sources, &equal_cfg, &mut |_| {}).expect("trains");
    assert_ne!(equal.float_model.graph, per_sample.float_model.graph);
    let mean = |f: fn(&cryptotl_pretrain::SourceReport) -> f64| -> f64 {
        equal.sources.iter().map(f).sum::<f64>() / 2.0
    };
    let r = &equal.report;
    assert!((mean(|s| s.float_validation_accuracy) - r.float_validation_accuracy).abs() < 1e-12);
    assert!(
        (mean(|s| s.quantized_validation_accuracy) - r.quantized_validation_accuracy).abs() < 1e-12
    );
    for e in &r.history {
        let m = e.source_validation_accuracy.iter().sum::<f64>() / 2.0;
        assert!((m - e.validation_accuracy).abs() < 1e-12);
    }
    assert_eq!(
        (
            equal.sources[0].validation_samples,
            equal.sources[1].validation_samples
        ),
        (80, 16)
    );
}

#[test]
fn invalid_sources_are_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let xs = unit_vectors(40, 16, &mut rng);
    let ys: Vec<usize> = (0..40).map(|i| i % 2).collect();
    let short: Vec<Vec<f32>> = xs.iter().map(|x| x[..8].to_vec()).collect();
    let cfg = PretrainConfig {
        max_epochs: 1,
        ..config(1)
    };
    let run = |sources: &[Source<'_>], cfg: &PretrainConfig| {
        pretrain_multi(sources, cfg, &mut |_| {}).expect_err("refused")
    };
    let config_err = |e: PretrainError, needle: &str| {
        assert!(matches!(e, PretrainError::InvalidConfig(_)), "{e:?}");
        assert!(e.to_string().contains(needle), "{e}");
    };
    let data_err = |e: PretrainError, needle: &str| {
        assert!(matches!(e, PretrainError::InvalidData(_)), "{e:?}");
        assert!(e.to_string().contains(needle), "{e}");
    };
    let a = source("a", &xs, &ys, 2);
    config_err(run(&[], &cfg), "at least one source");
    config_err(
        run(&[a.clone(), source("a", &xs, &ys, 2)], &cfg),
        "named twice",
    );
    config_err(
        run(&[source("Bad Name", &xs, &ys, 2)], &cfg),
        "not a source name",
    );
    config_err(run(&[source("", &xs, &ys, 2)], &cfg), "not a source name");
    let many: Vec<Source<'_>> = (0..=QuantizedModel::MAX_SOURCES)
        .map(|i| source(&format!("s{i}"), &xs, &ys, 2))
        .collect();
    config_err(run(&many, &cfg), "at most 64");
    config_err(
        run(&[a.clone(), source("b", &xs, &ys, 1)], &cfg),
        "source b: needs at least 2 classes",
    );
    data_err(
        run(&[a.clone(), source("b", &xs, &ys[..30], 2)], &cfg),
        "source b: 40 inputs but 30 labels",
    );
    data_err(
        run(&[a.clone(), source("b", &short, &ys, 2)], &cfg),
        "source b: input dimension 8 differs from source a's 16",
    );
    data_err(
        run(&[a.clone(), source("b", &xs[..1], &ys[..1], 2)], &cfg),
        "source b: needs at least 2 samples",
    );
    let bad_labels: Vec<usize> = ys.iter().map(|&y| y * 2).collect();
    data_err(
        run(&[a.clone(), source("b", &xs, &bad_labels, 2)], &cfg),
        "source b: label 2",
    );
    let mut nan = xs.clone();
    nan[3][1] = f32::NAN;
    data_err(
        run(&[a.clone(), source("b", &nan, &ys, 2)], &cfg),
        "not finite",
    );
    // Invalid knobs.
    for bad in [
        PretrainConfig {
            label_smoothing: 1.0,
            ..cfg.clone()
        },
        PretrainConfig {
            label_smoothing: -0.1,
            ..cfg.clone()
        },
        PretrainConfig {
            reconstruction: -1.0,
            ..cfg.clone()
        },
        PretrainConfig {
            reconstruction: f64::NAN,
            ..cfg.clone()
        },
        PretrainConfig {
            batch_size: 0,
            ..cfg.clone()
        },
    ] {
        assert!(matches!(
            run(std::slice::from_ref(&a), &bad),
            PretrainError::InvalidConfig(_)
        ));
        assert!(matches!(
            pretrain(&xs, &ys, &bad, &mut |_| {}),
            Err(PretrainError::InvalidConfig(_))
        ));
    }
    // `config.classes` is not checked by `pretrain_multi` (sources give theirs).
    let ignored = PretrainConfig { classes: 0, ..cfg };
    assert!(pretrain_multi(&[a], &ignored, &mut |_| {}).is_ok());
}
