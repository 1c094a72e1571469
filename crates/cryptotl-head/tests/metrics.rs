//! Metrics against hand-computed values, and their properties.

use cryptotl_head::{log_loss, ConfusionMatrix, HeadError, Metrics, LOG_LOSS_EPSILON};
use proptest::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn three_class_example_by_hand() {
    let y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
    let y_pred = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1];
    let m = Metrics::from_labels(&y_true, &y_pred, 3).unwrap();
    // Confusion (rows = true): [2 1 1], [1 2 0], [0 1 2].
    let cm = ConfusionMatrix::try_from(vec![vec![2, 1, 1], vec![1, 2, 0], vec![0, 1, 2]]).unwrap();
    assert_eq!(m.confusion, cm);
    // Trace 6 of 10.
    assert_eq!(m.examples, 10);
    assert!(close(m.accuracy, 0.6));
    // Row sums (support) 4 3 3; column sums (predicted) 3 4 3.
    // Class 0: P = 2/3, R = 2/4, F1 = 2·2/(4+3) = 4/7.
    // Class 1: P = 2/4, R = 2/3, F1 = 4/(3+4) = 4/7.
    // Class 2: P = 2/3, R = 2/3, F1 = 4/6 = 2/3.
    let expected = [
        (2. / 3., 0.5, 4. / 7.),
        (0.5, 2. / 3., 4. / 7.),
        (2. / 3., 2. / 3., 2. / 3.),
    ];
    for (c, (p, r, f1)) in m.per_class.iter().zip(expected) {
        assert!(
            close(c.precision, p) && close(c.recall, r) && close(c.f1, f1),
            "{c:?}"
        );
    }
    assert_eq!(
        m.per_class.iter().map(|c| c.support).collect::<Vec<_>>(),
        [4, 3, 3]
    );
    // Macro F1 = (4/7 + 4/7 + 2/3) / 3 = 38/63.
    assert!(close(m.macro_f1, 38. / 63.));
    // p_o = 0.6, p_e = (4·3 + 3·4 + 3·3)/100 = 0.33, kappa = 0.27/0.67 = 27/67.
    assert!(close(m.kappa, 27. / 67.));
    assert_eq!(m.log_loss, None);
}

#[test]
fn binary_example_by_hand() {
    let m = Metrics::from_labels(&[1, 1, 1, 0, 0], &[1, 0, 1, 0, 1], 2).unwrap();
    // Confusion [1 1], [1 2]: accuracy 3/5.
    assert!(close(m.accuracy, 0.6));
    // Class 0: TP 1, support 2, predicted 2 -> P = R = F1 = 1/2.
    // Class 1: TP 2, support 3, predicted 3 -> P = R = F1 = 2/3.
    assert!(close(m.per_class[0].f1, 0.5) && close(m.per_class[1].f1, 2. / 3.));
    // Macro F1 = (1/2 + 2/3)/2 = 7/12.
    assert!(close(m.macro_f1, 7. / 12.));
    // p_o = 3/5, p_e = (2·2 + 3·3)/25 = 13/25, kappa = (15 - 13)/(25 - 13) = 1/6.
    assert!(close(m.kappa, 1. / 6.));
}

#[test]
fn log_loss_by_hand() {
    let probs = vec![
        vec![0.7, 0.2, 0.1],
        vec![0.1, 0.8, 0.1],
        vec![0.3, 0.3, 0.4],
    ];
    // -(ln 0.7 + ln 0.8 + ln 0.4)/3 = (0.356675 + 0.223144 + 0.916291)/3 = 0.498703.
    let loss = log_loss(&[0, 1, 2], &probs).unwrap();
    assert!((loss - 0.498_703).abs() < 1e-6, "{loss}");
    // A zero probability for the true class is clipped: -ln(1e-15) = 34.538776.
    let clipped = log_loss(&[1], &[vec![1.0, 0.0]]).unwrap();
    assert!((clipped + LOG_LOSS_EPSILON.ln()).abs() < 1e-9);
    assert!((clipped - 34.538_776).abs() < 1e-6);
    // Metrics from probabilities: arg-max predictions plus the loss.
    let m = Metrics::from_probabilities(&[0, 1, 2], &probs).unwrap();
    assert_eq!(m.accuracy, 1.0);
    assert_eq!(m.log_loss, Some(loss));
}

#[test]
fn probability_ties_go_to_the_lower_class() {
    let m = Metrics::from_probabilities(&[0, 1], &[vec![0.5, 0.5], vec![0.5, 0.5]]).unwrap();
    assert_eq!(m.confusion.rows(), &[vec![1, 0], vec![1, 0]]);
}

#[test]
fn bad_inputs_are_errors() {
    let invalid = |r: Result<Metrics, HeadError>| matches!(r, Err(HeadError::InvalidInput(_)));
    assert!(invalid(Metrics::from_labels(&[], &[], 2)));
    assert!(invalid(Metrics::from_labels(&[0, 1], &[0], 2)));
    assert!(invalid(Metrics::from_labels(&[0, 2], &[0, 1], 2)));
    assert!(invalid(Metrics::from_labels(&[0], &[0], 0)));
    assert!(invalid(Metrics::from_probabilities(&[0], &[vec![1.0]])));
    assert!(invalid(Metrics::from_probabilities(
        &[0, 1],
        &[vec![0.5, 0.5], vec![1.0]]
    )));
    assert!(invalid(Metrics::from_probabilities(
        &[0],
        &[vec![f32::NAN, 0.5]]
    )));
    assert!(invalid(Metrics::from_probabilities(
        &[0],
        &[vec![-0.1, 1.1]]
    )));
    assert!(invalid(Metrics::from_probabilities(
        &[2],
        &[vec![0.5, 0.5]]
    )));
    assert!(ConfusionMatrix::try_from(vec![vec![1, 2]]).is_err());
    assert!(ConfusionMatrix::try_from(Vec::<Vec<u64>>::new()).is_err());
}

#[test]
fn display_shows_the_numbers_and_names() {
    let m = Metrics::from_labels(&[0, 1, 1], &[0, 1, 0], 2)
        .unwrap()
        .with_class_names(&["benign".into(), "malignant".into()])
        .unwrap();
    let text = m.to_string();
    assert!(text.contains("accuracy 0.6667"), "{text}");
    assert!(text.contains("malignant"), "{text}");
    assert!(text.contains("rows = true"), "{text}");
    assert!(m.clone().with_class_names(&["x".into()]).is_err());
}

#[test]
fn metrics_round_trip_through_json() {
    let m = Metrics::from_probabilities(
        &[0, 1, 1],
        &[vec![0.9, 0.1], vec![0.3, 0.7], vec![0.6, 0.4]],
    )
    .unwrap();
    let json = serde_json::to_string(&m).unwrap();
    let back: Metrics = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    // A non-square matrix in JSON is rejected.
    let bad = json.replace(
        "\"confusion\":[[1,0],[1,1]]",
        "\"confusion\":[[1,0,0],[1,1]]",
    );
    assert_ne!(bad, json);
    assert!(serde_json::from_str::<Metrics>(&bad).is_err());
}

#[test]
fn mean_std_of_runs() {
    let a = Metrics::from_labels(&[0, 1], &[0, 1], 2).unwrap();
    let b = Metrics::from_labels(&[0, 1], &[1, 1], 2).unwrap();
    // Accuracies 1 and 0.5: mean 0.75, sample std sqrt(2 · 0.25²) = 0.353553.
    let (mean, std) = Metrics::mean_std(&[a, b], |m| m.accuracy).unwrap();
    assert!(close(mean, 0.75) && (std - 0.353_553_39).abs() < 1e-8);
    assert!(Metrics::mean_std(&[], |m| m.accuracy).is_none());
}

/// Labels and a class count.
fn labels() -> impl Strategy<Value = (Vec<usize>, usize)> {
    (2usize..6).prop_flat_map(|k| (prop::collection::vec(0..k, 1..60), Just(k)))
}

proptest! {
    #[test]
    fn perfect_predictions_score_one((y, k) in labels()) {
        let m = Metrics::from_labels(&y, &y, k).unwrap();
        prop_assert_eq!(m.accuracy, 1.0);
        prop_assert_eq!(m.kappa, 1.0);
        prop_assert_eq!(m.macro_f1, 1.0);
    }

    #[test]
    fn constant_predictor_has_zero_kappa((y, k) in labels(), c_seed in any::<usize>()) {
        let c = c_seed % k;
        prop_assume!(y.iter().any(|&l| l != y[0]));
        let m = Metrics::from_labels(&y, &vec![c; y.len()], k).unwrap();
        prop_assert_eq!(m.kappa, 0.0);
    }

    #[test]
    fn scores_are_invariant_to_relabeling(
        (y, k) in labels(),
        pred_seed in prop::collection::vec(0usize..6, 60),
        perm_seed in any::<u64>(),
    ) {
        let pred: Vec<usize> = (0..y.len()).map(|i| pred_seed[i] % k).collect();
        // A permutation of 0..k from the seed (Fisher-Yates with a simple LCG).
        let mut perm: Vec<usize> = (0..k).collect();
        let mut s = perm_seed;
        for i in (1..k).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let relabel = |v: &[usize]| v.iter().map(|&l| perm[l]).collect::<Vec<_>>();
        let a = Metrics::from_labels(&y, &pred, k).unwrap();
        let b = Metrics::from_labels(&relabel(&y), &relabel(&pred), k).unwrap();
        prop_assert!((a.macro_f1 - b.macro_f1).abs() < 1e-12);
        prop_assert!((a.kappa - b.kappa).abs() < 1e-12);
        prop_assert_eq!(a.accuracy, b.accuracy);
    }

    #[test]
    fn scores_stay_in_range((y, k) in labels(), pred_seed in prop::collection::vec(0usize..6, 60)) {
        let pred: Vec<usize> = (0..y.len()).map(|i| pred_seed[i] % k).collect();
        let m = Metrics::from_labels(&y, &pred, k).unwrap();
        prop_assert!((0.0..=1.0).contains(&m.accuracy));
        prop_assert!((0.0..=1.0).contains(&m.macro_f1));
        prop_assert!((-1.0..=1.0).contains(&m.kappa));
        prop_assert_eq!(m.confusion.total(), y.len() as u64);
    }

    #[test]
    fn log_loss_is_non_negative_and_bounded(
        rows in prop::collection::vec(prop::collection::vec(0f32..=1.0, 3), 1..30),
        label_seed in prop::collection::vec(0usize..3, 30),
    ) {
        let y: Vec<usize> = label_seed[..rows.len()].to_vec();
        let loss = log_loss(&y, &rows).unwrap();
        prop_assert!(loss >= 0.0 && loss <= -LOG_LOSS_EPSILON.ln() + 1e-9);
    }
}
