//! Logistic regression: fits, predictions, regularization and its file
//! format (round trips, hostile bytes).

mod common;

use common::{assemble, clusters, flipped, noise, parts, separable_binary};
use cryptotl_head::{HeadError, LogisticHead, LogisticOptions, LOGISTIC_FORMAT_VERSION};
use proptest::prelude::*;

fn options(l2: f64) -> LogisticOptions {
    LogisticOptions::default().with_l2(l2)
}

#[test]
fn separable_data_is_fitted_and_many_classes_work() {
    let set = separable_binary(120, 6, 1e-3, 3);
    let head = LogisticHead::fit(&set.x, &set.y, 2, &options(1e-4)).unwrap();
    let m = head.evaluate(&set.x, &set.y).unwrap();
    assert!(m.accuracy > 0.97, "{m}");
    assert!(head.iterations() > 0 && head.loss().is_finite());

    let set = clusters(150, 4, 5, 8);
    let head = LogisticHead::fit(&set.x, &set.y, 5, &options(1e-3)).unwrap();
    assert!(head.evaluate(&set.x, &set.y).unwrap().accuracy > 0.95);
    for p in head.predict_proba(&set.x).unwrap() {
        assert_eq!(p.len(), 5);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

/// A stronger penalty pulls the probabilities towards uniform, and the
/// objective it reaches is larger.
#[test]
fn a_stronger_penalty_gives_flatter_probabilities() {
    let set = separable_binary(100, 5, 1.0, 11);
    let confidence = |l2: f64| {
        let head = LogisticHead::fit(&set.x, &set.y, 2, &options(l2)).unwrap();
        let p = head.predict_proba(&set.x).unwrap();
        (
            p.iter().map(|r| r[0].max(r[1])).sum::<f32>() / p.len() as f32,
            head.loss(),
        )
    };
    let (weak, weak_loss) = confidence(1e-4);
    let (strong, strong_loss) = confidence(1.0);
    assert!(weak > strong + 0.1, "{weak} vs {strong}");
    assert!(strong > 0.5);
    assert!(strong_loss > weak_loss);
}

/// On labels independent of the features it stays near chance, near 0.5.
#[test]
fn noise_gives_uncertain_predictions() {
    let set = noise(200, 5, 4);
    let head = LogisticHead::fit(&set.x, &set.y, 2, &options(1.0)).unwrap();
    let p = head.predict_proba(&set.x).unwrap();
    assert!(p.iter().all(|r| (r[0] - 0.5).abs() < 0.2));
}

#[test]
fn bad_input_is_refused() {
    let set = separable_binary(20, 3, 1.0, 1);
    assert!(LogisticHead::fit(&[], &[], 2, &options(0.1)).is_err());
    assert!(LogisticHead::fit(&set.x, &set.y, 1, &options(0.1)).is_err());
    assert!(LogisticHead::fit(&set.x, &set.y[1..], 2, &options(0.1)).is_err());
    assert!(LogisticHead::fit(&set.x, &set.y, 2, &options(0.0)).is_err());
    assert!(LogisticHead::fit(&set.x, &set.y, 2, &options(f64::NAN)).is_err());
    let mut x = set.x.clone();
    x[3][1] = f32::NAN;
    assert!(matches!(
        LogisticHead::fit(&x, &set.y, 2, &options(0.1)),
        Err(HeadError::InvalidInput(_))
    ));
    let mut y = set.y.clone();
    y[0] = 2;
    assert!(LogisticHead::fit(&set.x, &y, 2, &options(0.1)).is_err());
    let head = LogisticHead::fit(&set.x, &set.y, 2, &options(0.1)).unwrap();
    assert!(head.predict(&[vec![0.0; 4]]).is_err());
    assert!(head.predict(&[vec![f32::INFINITY; 3]]).is_err());
}

#[test]
fn files_round_trip_and_other_versions_are_refused() {
    let set = clusters(60, 3, 3, 2);
    let mut head = LogisticHead::fit(&set.x, &set.y, 3, &options(1e-2)).unwrap();
    head.set_class_names(vec!["a".into(), "b".into(), "c".into()])
        .unwrap();
    let back = LogisticHead::from_bytes(&head.to_bytes().unwrap()).unwrap();
    assert_eq!(back, head);
    assert_eq!(
        back.predict_proba(&set.x).unwrap(),
        head.predict_proba(&set.x).unwrap()
    );

    let (tensors, mut metadata) = parts(&head.to_bytes().unwrap());
    metadata.insert(
        "format_version".into(),
        (LOGISTIC_FORMAT_VERSION + 1).to_string(),
    );
    assert!(matches!(
        LogisticHead::from_bytes(&assemble((tensors.clone(), metadata.clone()))),
        Err(HeadError::UnsupportedVersion { .. })
    ));
    metadata.insert("format_version".into(), "1".into());
    metadata.insert("format".into(), "cryptotl-head".into());
    assert!(LogisticHead::from_bytes(&assemble((tensors, metadata))).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Flipped bytes and truncations never panic: either an error or a
    /// valid head.
    #[test]
    fn hostile_bytes_never_panic(
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 1u8..=255), 1..6),
        cut in any::<proptest::sample::Index>(),
    ) {
        let set = separable_binary(30, 3, 1.0, 5);
        let clean = LogisticHead::fit(&set.x, &set.y, 2, &options(0.1)).unwrap().to_bytes().unwrap();
        if let Ok(head) = LogisticHead::from_bytes(&flipped(&clean, &flips)) {
            let _ = head.predict_proba(&set.x);
        }
        prop_assert!(LogisticHead::from_bytes(&clean[..cut.index(clean.len())]).is_err());
    }

    /// Scaling every feature by the same positive factor does not change
    /// the predictions (the head standardizes its inputs).
    #[test]
    fn predictions_do_not_depend_on_the_feature_scale(scale in 1e-4f32..1e3, seed in 0u64..50) {
        let set = separable_binary(60, 4, 1.0, seed);
        let scaled: Vec<Vec<f32>> = set.x.iter().map(|r| r.iter().map(|v| v * scale).collect()).collect();
        let a = LogisticHead::fit(&set.x, &set.y, 2, &options(1e-2)).unwrap();
        let b = LogisticHead::fit(&scaled, &set.y, 2, &options(1e-2)).unwrap();
        prop_assert_eq!(a.predict(&set.x).unwrap(), b.predict(&scaled).unwrap());
    }
}
