//! Why transfer does or does not beat the no-transfer baselines
//! (docs/results.md, "Why transfer does or does not help"): plaintext
//! diagnostics of the transfer table, no encryption.
//!
//! For every source × target pair, on the transfer table's split, it
//! measures train and test accuracy of
//! - a logistic regression and the client head on the **raw** 384-d
//!   embeddings (the no-transfer baselines), and
//! - a logistic regression and the client head on the **float lower
//!   network's features** (the transfer pipeline without quantization).
//!
//! Logistic regression on raw vs lower-network features shows how much
//! linearly usable information about the target the pretrained lower
//! network keeps; the head's train − test gap shows overfitting; the
//! head against the logistic regression on the same features shows what
//! the head itself adds or loses. Quantization is measured separately by
//! the table's Δ q−f column.

use std::collections::BTreeMap;

use cryptotl_data::DatasetId;
use cryptotl_head::ConfusionMatrix;

use cryptotl::pipeline::{pretrain_source, train_head, Progress};
use cryptotl::Error;

use crate::transfer_table::{
    capped_dataset, embed_targets, plan_pairs, EmbeddedTarget, ExperimentOptions,
};

/// Train and test accuracy of one classifier on one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainTest {
    /// Accuracy on the training part.
    pub train: f64,
    /// Accuracy on the test part.
    pub test: f64,
}

/// The diagnostics of one source × target pair.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticRow {
    /// Source name.
    pub source: String,
    /// Target name.
    pub target: String,
    /// Training samples of the target.
    pub train: usize,
    /// Test samples of the target.
    pub test: usize,
    /// Width of the raw embeddings.
    pub raw_dim: usize,
    /// Width of the lower network's output features.
    pub feature_dim: usize,
    /// The pretraining head's validation accuracy on the source (float
    /// graph's features).
    pub source_validation_accuracy: f64,
    /// Logistic regression on the raw embeddings.
    pub logistic_raw: TrainTest,
    /// The client head on the raw embeddings.
    pub head_raw: TrainTest,
    /// Logistic regression on the float lower network's features.
    pub logistic_features: TrainTest,
    /// The client head on the float lower network's features.
    pub head_features: TrainTest,
}

fn logistic_train_test(
    options: &ExperimentOptions,
    classes: usize,
    train: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
) -> Result<TrainTest, Error> {
    let lr = cryptotl_head::LogisticHead::fit(train.0, train.1, classes, &options.logistic)?;
    let acc = |x: &[Vec<f32>], y: &[usize]| -> Result<f64, Error> {
        let pred = lr.predict(x)?;
        Ok(ConfusionMatrix::from_labels(y, &pred, classes)?.accuracy())
    };
    Ok(TrainTest {
        train: acc(train.0, train.1)?,
        test: acc(test.0, test.1)?,
    })
}

fn head_train_test(
    options: &ExperimentOptions,
    classes: &[String],
    train: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
) -> Result<TrainTest, Error> {
    let (head, result) = train_head(classes, options.head_spec(), train, test)?;
    let on_train = head.evaluate(train.0, train.1)?;
    Ok(TrainTest {
        train: on_train.accuracy,
        test: result.metrics.accuracy,
    })
}

/// Runs the diagnostics on every non-conflicting source × target pair of
/// `options`, with the transfer table's caps, split and seeds (each source
/// pretrained once, in plaintext).
///
/// # Errors
/// Any stage's failure (fetching, embedding, pretraining, training).
pub fn transfer_diagnostics(
    options: &ExperimentOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<DiagnosticRow>, Error> {
    let cache = options.cache.as_path();
    let (pairs, _) = plan_pairs(&options.sources, &options.targets);
    let embedder = options.embedding_model.load(cache)?;

    struct Target {
        data: EmbeddedTarget,
        logistic_raw: TrainTest,
        head_raw: TrainTest,
    }
    let mut targets: BTreeMap<DatasetId, Target> = BTreeMap::new();
    for (target, data) in embed_targets(options, &pairs, &embedder, progress)? {
        progress(Progress::Stage(format!("target {target}: raw baselines")));
        let tr = (data.x_train.as_slice(), data.y_train.as_slice());
        let te = (data.x_test.as_slice(), data.y_test.as_slice());
        let logistic_raw = logistic_train_test(options, data.classes.len(), tr, te)?;
        let head_raw = head_train_test(options, &data.classes, tr, te)?;
        targets.insert(
            target,
            Target {
                data,
                logistic_raw,
                head_raw,
            },
        );
    }

    let mut rows = Vec::new();
    for &source in &options.sources {
        if !pairs.iter().any(|&(s, _)| s == source) {
            continue;
        }
        let data = capped_dataset(source, options.max_source_samples, options)?;
        let model = pretrain_source(&embedder, &data, &options.pretrain, cache, progress)?;
        for &(_, target) in pairs.iter().filter(|&&(s, _)| s == source) {
            let Some(Target {
                data: t,
                logistic_raw,
                head_raw,
            }) = targets.get(&target)
            else {
                continue;
            };
            progress(Progress::Stage(format!("{source} → {target}: diagnostics")));
            let f_train = model.pretrained.float_features(&t.x_train)?;
            let f_test = model.pretrained.float_features(&t.x_test)?;
            let tr = (f_train.as_slice(), t.y_train.as_slice());
            let te = (f_test.as_slice(), t.y_test.as_slice());
            rows.push(DiagnosticRow {
                source: model.name.clone(),
                target: target.name().to_owned(),
                train: t.y_train.len(),
                test: t.y_test.len(),
                raw_dim: t.x_train.first().map_or(0, Vec::len),
                feature_dim: f_train.first().map_or(0, Vec::len),
                source_validation_accuracy: model.pretrained.report.float_validation_accuracy,
                logistic_raw: *logistic_raw,
                head_raw: *head_raw,
                logistic_features: logistic_train_test(options, t.classes.len(), tr, te)?,
                head_features: head_train_test(options, &t.classes, tr, te)?,
            });
        }
    }
    Ok(rows)
}
