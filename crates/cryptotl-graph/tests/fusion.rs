//! The fusion pass: fused and unfused graphs compute the same function.

mod common;

use cryptotl_graph::{fuse, is_fused, AvgPool1d, Dense, Graph, Layer};
use cryptotl_quant::FloatPolynomial;
use proptest::prelude::*;

#[test]
fn default_architecture_fuses_to_dense_activation_dense() {
    let d = 12;
    let g = Graph::cryptotl_lower(d, &mut common::rng(7)).expect("valid");
    assert!(!is_fused(&g));
    let fused = fuse(&g).expect("valid");
    assert!(is_fused(&fused.graph));
    assert_eq!(fused.sources, vec![0..2, 2..3, 3..5]);
    match fused.graph.layers.as_slice() {
        [Layer::Dense(a), Layer::Activation(p), Layer::Dense(b)] => {
            assert_eq!((a.in_features, a.out_features), (d, d));
            assert_eq!(p, &FloatPolynomial::square());
            assert_eq!((b.in_features, b.out_features), (d, d - 2));
        }
        other => panic!("unexpected fused layers {other:?}"),
    }
    // Fusing again changes nothing.
    assert_eq!(fused.graph.fused().expect("valid"), fused.graph);
}

#[test]
fn flatten_only_runs_are_dropped_and_single_dense_is_kept() {
    let dense = Dense::new(3, 3, (0..9).map(|v| v as f32).collect(), vec![1.0; 3]).expect("ok");
    let g = Graph::new(
        3,
        vec![
            Layer::Flatten,
            Layer::Activation(FloatPolynomial::square()),
            Layer::Flatten,
            Layer::Dense(dense.clone()),
            Layer::Activation(FloatPolynomial::square()),
            Layer::Flatten,
        ],
    )
    .expect("valid");
    let fused = fuse(&g).expect("valid");
    assert_eq!(
        fused.graph.layers,
        vec![
            Layer::Activation(FloatPolynomial::square()),
            Layer::Dense(dense),
            Layer::Activation(FloatPolynomial::square()),
        ]
    );
    assert_eq!(fused.sources, vec![1..2, 2..4, 4..5]);
}

#[test]
fn invalid_graph_is_not_fused() {
    let g = Graph {
        input_dim: 4,
        layers: vec![Layer::AvgPool1d(AvgPool1d { window: 5 })],
    };
    assert!(fuse(&g).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Fused and unfused graphs agree in f32 within 1e-4 relative to the
    /// output (or, for outputs that cancel to almost nothing, to 1% of the
    /// magnitude of the terms that were summed).
    #[test]
    fn fused_matches_unfused(
        seed in any::<u64>(),
        ops in proptest::collection::vec(0u8..5, 1..7),
    ) {
        let g = common::random_graph(seed, &ops);
        let fused = g.fused().expect("valid");
        prop_assert!(is_fused(&fused));
        prop_assert!(fused.layers.len() <= g.layers.len());
        let mut rng = common::rng(seed.wrapping_add(1));
        for _ in 0..3 {
            let x = common::random_input(&mut rng, g.input_dim);
            let u = g.evaluate(&x).expect("valid");
            let f = fused.evaluate(&x).expect("valid");
            prop_assert_eq!(u.len(), f.len());
            let scale = common::max_abs(&u).max(1e-2 * common::max_abs(&common::magnitude(&g, &x)));
            for (a, b) in u.iter().zip(&f) {
                prop_assert!((a - b).abs() <= 1e-4 * scale, "{} vs {} (scale {})", a, b, scale);
            }
        }
    }

    /// For a purely affine graph the fused dense layer is exactly the matrix
    /// of the map (column j = f(e_j) - f(0), bias = f(0), computed in f64 from
    /// the unfused graph) up to one f32 rounding.
    #[test]
    fn fused_affine_graph_is_the_exact_matrix(
        seed in any::<u64>(),
        ops in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(3), Just(4)], 1..5),
    ) {
        let g = common::random_graph(seed, &ops);
        let fused = g.fused().expect("valid");
        let d = g.input_dim;
        let zero = g.evaluate_f64(&vec![0.0; d]).expect("valid");
        match fused.layers.as_slice() {
            [Layer::Dense(dl)] => {
                prop_assert_eq!(dl.in_features, d);
                prop_assert_eq!(dl.out_features, zero.len());
                for (b, z) in dl.bias.iter().zip(&zero) {
                    prop_assert!((f64::from(*b) - z).abs() <= 1e-6 * (1.0 + z.abs()));
                }
                for j in 0..d {
                    let mut e = vec![0.0; d];
                    e[j] = 1.0;
                    let col = g.evaluate_f64(&e).expect("valid");
                    for i in 0..dl.out_features {
                        let want = col[i] - zero[i];
                        let got = f64::from(dl.weights[i * d + j]);
                        prop_assert!((got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                            "M[{}][{}] = {} vs {}", i, j, got, want);
                    }
                }
            }
            // Only flatten layers: nothing left.
            [] => prop_assert!(g.layers.iter().all(|l| matches!(l, Layer::Flatten))),
            other => prop_assert!(false, "unexpected fused layers {:?}", other),
        }
    }
}
