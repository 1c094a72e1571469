//! The transfer pipeline over folds, end to end on a toy task: a tiny lower
//! network pretrained (with its HE plan) on separable unit vectors, a real
//! encrypted session, and the float / quantized / encrypted heads trained
//! per fold. Checks that cross-validation encrypts and tests every row once,
//! stays bit-exact, and that the single split is one fold of it.

use std::time::Duration;

use cryptotl::head::Fold;
use cryptotl::head::TrainOptions;
use cryptotl::pipeline::{
    transfer_folds, transfer_to, EncryptedLink, HeadSpec, SourceModel, TargetData,
};
use cryptotl::pretrain::{pretrain, PretrainConfig};
use cryptotl::{synthetic, Error};

const D: usize = 16;

/// Unit vectors labelled by the sign of their first two coordinates' sum.
fn task(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let x = synthetic::unit_vectors(n, D, seed);
    let y = x.iter().map(|v| usize::from(v[0] + v[1] > 0.0)).collect();
    (x, y)
}

fn source() -> SourceModel {
    let (x, y) = task(400, 1);
    let config = PretrainConfig {
        learning_rate: 3e-3,
        batch_size: 32,
        max_epochs: 20,
        patience: 5,
        validation_fraction: 0.25,
        seed: 1,
        plan_he: true,
        ..PretrainConfig::default()
    };
    let pretrained = pretrain(&x, &y, &config, &mut |_| {}).expect("pretrains");
    SourceModel {
        name: "toy".into(),
        len: x.len(),
        pretrained,
        embed: Duration::ZERO,
        pretrain: Duration::ZERO,
        sources: Vec::new(),
    }
}

#[test]
fn cross_validation_encrypts_and_tests_every_row_exactly() {
    let model = source();
    let link = EncryptedLink::open(&model).expect("session");
    let (x, y) = task(90, 2);
    let classes = vec!["a".to_owned(), "b".to_owned()];
    let target = TargetData {
        classes: &classes,
        x_train: &x[..72],
        y_train: &y[..72],
        x_test: &x[72..],
        y_test: &y[72..],
    };
    let options = TrainOptions {
        max_epochs: 15,
        ..TrainOptions::default()
    };
    let head = HeadSpec {
        hidden: 12,
        options: &options,
        members: 1,
    };

    let folds = Fold::cross_validation(&y, 3, 0).expect("folds");
    let cv = transfer_folds(&target, &folds, &model, &link, head, &mut |_| {}).expect("cv");
    assert!(cv.exact_features && cv.identical_predictions);
    for result in [&cv.float, &cv.quantized, &cv.encrypted] {
        assert_eq!(result.metrics.examples, 90);
        assert_eq!(result.predictions.len(), 90);
    }
    assert_eq!(cv.encrypted.metrics, cv.quantized.metrics);

    // The single split: only the 18 test rows are scored, and it is the
    // same as naming that split as the only fold.
    let split = transfer_to(&target, &model, &link, head, &mut |_| {}).expect("split");
    assert_eq!(split.float.metrics.examples, 18);
    let one = transfer_folds(
        &target,
        &Fold::split(72, 18),
        &model,
        &link,
        head,
        &mut |_| {},
    )
    .expect("one fold");
    assert_eq!(one.float.predictions, split.float.predictions);
    assert_eq!(one.encrypted.predictions, split.encrypted.predictions);

    // A fold naming a row the target does not have is refused.
    let bad = [Fold {
        train: (0..72).collect(),
        test: vec![90],
    }];
    let err = transfer_folds(&target, &bad, &model, &link, head, &mut |_| {}).expect_err("refused");
    assert!(
        matches!(err, Error::Head(cryptotl::head::HeadError::InvalidInput(ref m)) if m.contains("row 90")),
        "{err}"
    );
}
