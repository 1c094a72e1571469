//! Learning curves on synthetic data: the draws, the sizes, and every
//! method's points (no download, no model).

use cryptotl::head::{SelectOptions, TrainOptions};
use cryptotl_experiments::{curves_on, draw_rows, sizes_for, CurveData, Method, Size};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` samples of two classes: the raw embedding carries the class in its
/// first coordinate; the "server features" are a noisy copy of it.
fn data(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let raw: Vec<Vec<f32>> = y
        .iter()
        .map(|&c| {
            let sign = if c == 1 { 1.0 } else { -1.0 };
            (0..6)
                .map(|j| {
                    if j == 0 {
                        sign + rng.random_range(-0.8..0.8)
                    } else {
                        rng.random_range(-1.0..1.0)
                    }
                })
                .collect()
        })
        .collect();
    let server = raw
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v * 0.5 + rng.random_range(-0.3..0.3))
                .collect()
        })
        .collect();
    (raw, server, y)
}

#[test]
fn every_method_gets_a_point_per_size_and_draw() {
    let classes = vec!["a".to_string(), "b".to_string()];
    let (raw, server, y) = data(160, 1);
    let (raw_t, server_t, y_t) = data(60, 2);
    let data = CurveData {
        classes: &classes,
        raw_pool: &raw,
        server_pool: Some(&server),
        y_pool: &y,
        raw_test: &raw_t,
        server_test: Some(&server_t),
        y_test: &y_t,
    };
    let select = SelectOptions {
        mlp: TrainOptions {
            max_epochs: 40,
            learning_rate: 1e-2,
            ..TrainOptions::default()
        },
        mlp_hidden: 9,
        l2_grid: vec![1e-2, 1.0],
        folds: 3,
        ..SelectOptions::default()
    };
    let methods: Vec<Method> = Method::BASELINES
        .iter()
        .chain(&Method::TRANSFER)
        .copied()
        .collect();
    let sizes = [Size::PerClass(6), Size::PerClass(500), Size::All];
    let curves = curves_on(&data, &methods, &sizes, 2, &select, 7, &mut |_| {}).unwrap();
    assert_eq!(curves.len(), methods.len());
    for c in &curves {
        // 500 per class does not fit an 80-per-class pool.
        let at: Vec<Size> = c.points.iter().map(|p| p.size).collect();
        assert_eq!(at, [Size::PerClass(6), Size::All]);
        for p in &c.points {
            assert_eq!(p.runs.len(), 2);
            assert!(p.runs.iter().all(|r| (0.0..=100.0).contains(r)));
        }
        assert_eq!(c.points[0].per_class, 6.0);
        assert_eq!(c.points[1].per_class, 80.0);
        // The whole pool separates the classes well.
        assert!(
            c.points[1].mean() > 80.0,
            "{} {:?}",
            c.method.name(),
            c.points[1]
        );
    }
    let auto = curves.iter().find(|c| c.method == Method::Auto).unwrap();
    assert_eq!(auto.choices.len(), 2);
    assert!(auto
        .choices
        .values()
        .all(|counts| counts.values().sum::<usize>() == 2));
    // The same seeds give the same curves.
    let again = curves_on(&data, &methods, &sizes, 2, &select, 7, &mut |_| {}).unwrap();
    assert_eq!(again, curves);
    // Transfer methods need the server's features.
    let no_server = CurveData {
        server_pool: None,
        server_test: None,
        ..data
    };
    assert!(curves_on(
        &no_server,
        &Method::TRANSFER,
        &sizes,
        1,
        &select,
        7,
        &mut |_| {}
    )
    .is_err());
}

#[test]
fn sizes_that_do_not_fit_the_smallest_class_are_skipped() {
    let y = [0, 0, 0, 1, 1, 1, 1, 1];
    assert_eq!(
        sizes_for(&[Size::PerClass(2), Size::PerClass(3), Size::All], &y, 2),
        [Size::PerClass(2), Size::All]
    );
}

proptest! {
    /// A draw holds exactly `n` distinct rows of every class, sorted, and
    /// depends only on its seed, size and index.
    #[test]
    fn draws_are_stratified_and_seeded(
        y in proptest::collection::vec(0usize..3, 30..120),
        n in 1usize..8,
        draw in 0usize..5,
        seed in any::<u64>(),
    ) {
        let counts: Vec<usize> = (0..3).map(|c| y.iter().filter(|&&l| l == c).count()).collect();
        prop_assume!(counts.iter().all(|&k| k >= n));
        let rows = draw_rows(&y, 3, Size::PerClass(n), draw, seed);
        prop_assert_eq!(rows.len(), 3 * n);
        prop_assert!(rows.windows(2).all(|w| w[0] < w[1]));
        for c in 0..3 {
            prop_assert_eq!(rows.iter().filter(|&&i| y[i] == c).count(), n);
        }
        prop_assert_eq!(&rows, &draw_rows(&y, 3, Size::PerClass(n), draw, seed));
        prop_assert_eq!(draw_rows(&y, 3, Size::All, draw, seed).len(), y.len());
    }
}
