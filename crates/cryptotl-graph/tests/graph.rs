//! Shape inference, validation, the default architecture and the f32
//! evaluator.

mod common;

use cryptotl_graph::{
    AvgPool1d, Conv1d, Dense, Graph, GraphError, Layer, LowerNetworkParams, Shape,
};
use cryptotl_quant::FloatPolynomial;
use proptest::prelude::*;

fn dense(i: usize, o: usize) -> Layer {
    Layer::Dense(Dense::new(i, o, vec![0.5; i * o], vec![0.0; o]).expect("valid"))
}

fn conv(ic: usize, oc: usize, k: usize) -> Layer {
    Layer::Conv1d(Conv1d::new(ic, oc, k, vec![0.25; ic * oc * k], None).expect("valid"))
}

fn invalid_layer_index(e: GraphError) -> usize {
    match e {
        GraphError::InvalidLayer { index, .. } => index,
        other => panic!("expected InvalidLayer, got {other:?}"),
    }
}

#[test]
fn shape_inference_through_every_layer_kind() {
    let g = Graph::new(
        6,
        vec![
            conv(1, 2, 3),
            Layer::AvgPool1d(AvgPool1d { window: 2 }),
            Layer::Activation(FloatPolynomial::square()),
            Layer::Flatten,
            dense(10, 4),
        ],
    )
    .expect("valid");
    let shapes = g.shapes().expect("valid");
    assert_eq!(
        shapes,
        vec![
            Shape::flat(6),
            Shape {
                channels: 2,
                length: 6
            },
            Shape {
                channels: 2,
                length: 5
            },
            Shape {
                channels: 2,
                length: 5
            },
            Shape::flat(10),
            Shape::flat(4),
        ]
    );
    assert_eq!(g.output_dim().expect("valid"), 4);
}

#[test]
fn wrong_shapes_are_refused_with_the_layer_index() {
    // Dense after a multi-channel tensor without flatten.
    let e = Graph::new(5, vec![conv(1, 2, 3), dense(10, 2)]).expect_err("needs flatten");
    assert_eq!(invalid_layer_index(e), 1);
    // Dense with the wrong input dimension.
    let e = Graph::new(5, vec![dense(4, 2)]).expect_err("dimension");
    assert_eq!(invalid_layer_index(e), 0);
    // Conv with the wrong number of input channels.
    let e = Graph::new(5, vec![Layer::Flatten, conv(2, 1, 3)]).expect_err("channels");
    assert_eq!(invalid_layer_index(e), 1);
    // Pooling window longer than the input.
    let e = Graph::new(
        3,
        vec![dense(3, 2), Layer::AvgPool1d(AvgPool1d { window: 3 })],
    )
    .expect_err("window");
    assert_eq!(invalid_layer_index(e), 1);
    // Malformed layer built by hand (public fields): even kernel.
    let bad = Layer::Conv1d(Conv1d {
        in_channels: 1,
        out_channels: 1,
        kernel: 2,
        weights: vec![1.0, 1.0],
        bias: None,
    });
    let e = Graph::new(4, vec![bad]).expect_err("even kernel");
    assert_eq!(invalid_layer_index(e), 0);
    // Zero input dimension.
    assert!(matches!(
        Graph::new(0, vec![]),
        Err(GraphError::InvalidGraph(_))
    ));
    // A hand-built invalid graph is refused by the evaluator too.
    let g = Graph {
        input_dim: 5,
        layers: vec![dense(4, 2)],
    };
    assert!(g.evaluate(&[0.0; 5]).is_err());
    assert!(g.evaluate_batch(&[vec![0.0; 5]]).is_err());
}

#[test]
fn evaluator_refuses_bad_inputs() {
    let g = Graph::new(3, vec![dense(3, 2)]).expect("valid");
    assert!(matches!(
        g.evaluate(&[1.0, 2.0]),
        Err(GraphError::InvalidInput(_))
    ));
    assert!(matches!(
        g.evaluate(&[1.0, f32::NAN, 2.0]),
        Err(GraphError::InvalidInput(_))
    ));
    let e = g
        .evaluate_batch(&[vec![0.0; 3], vec![0.0; 4]])
        .expect_err("second sample is wrong");
    assert!(e.to_string().contains("sample 1"), "{e}");
    assert_eq!(g.evaluate(&[1.0, 1.0, 2.0]).expect("ok"), vec![2.0, 2.0]);
}

#[test]
fn default_architecture_shapes() {
    for d in [3, 4, 16, 33] {
        let g = Graph::cryptotl_lower(d, &mut common::rng(d as u64)).expect("valid");
        let kinds: Vec<_> = g.layers.iter().map(Layer::kind).collect();
        assert_eq!(
            kinds,
            ["conv1d", "dense", "activation", "avgpool1d", "dense"]
        );
        match &g.layers[0] {
            Layer::Conv1d(c) => {
                assert_eq!((c.in_channels, c.out_channels, c.kernel), (1, 1, 9));
                assert!(c.bias.is_none());
            }
            other => panic!("expected conv1d, got {other:?}"),
        }
        assert_eq!(g.layers[2], Layer::Activation(FloatPolynomial::square()));
        let shapes = g.shapes().expect("valid");
        assert_eq!(shapes[2], Shape::flat(d));
        assert_eq!(shapes[4], Shape::flat(d - 2));
        assert_eq!(g.output_dim().expect("valid"), d - 2);
        // Glorot-uniform: every dense weight within sqrt(6 / (2d)).
        if let Layer::Dense(dl) = &g.layers[1] {
            let limit = (6.0 / (2 * d) as f32).sqrt();
            assert!(dl.weights.iter().all(|w| w.abs() <= limit));
            assert!(dl.weights.iter().any(|&w| w != 0.0));
        }
    }
    assert!(Graph::cryptotl_lower(2, &mut common::rng(0)).is_err());
}

#[test]
fn default_architecture_with_given_weights() {
    let d = 5;
    let mut params = LowerNetworkParams::random(d, &mut common::rng(1)).expect("d >= 3");
    let g = Graph::cryptotl_lower_with(d, params.clone()).expect("fits");
    match &g.layers[4] {
        Layer::Dense(dl) => assert_eq!(dl.weights, params.dense2_weights),
        other => panic!("expected dense, got {other:?}"),
    }
    params.dense2_weights.pop();
    let e = Graph::cryptotl_lower_with(d, params).expect_err("wrong size");
    assert_eq!(invalid_layer_index(e), 4);
}

#[test]
fn default_architecture_evaluates_by_hand() {
    // Identity-like weights: conv = centre tap 1, dense1 = I, square,
    // pool 3, dense2 = I, zero biases: y[t] = (x[t]^2 + x[t+1]^2 + x[t+2]^2) / 3.
    let d = 5;
    let eye = |n: usize| {
        let mut w = vec![0.0f32; n * n];
        for i in 0..n {
            w[i * n + i] = 1.0;
        }
        w
    };
    let mut kernel = vec![0.0; 9];
    kernel[4] = 1.0;
    let params = LowerNetworkParams {
        conv_kernel: kernel,
        dense1_weights: eye(d),
        dense1_bias: vec![0.0; d],
        activation: FloatPolynomial::square(),
        dense2_weights: eye(d - 2),
        dense2_bias: vec![0.0; d - 2],
    };
    let g = Graph::cryptotl_lower_with(d, params).expect("valid");
    let y = g.evaluate(&[1.0, 2.0, 3.0, 4.0, 5.0]).expect("ok");
    let expected = [14.0 / 3.0, 29.0 / 3.0, 50.0 / 3.0];
    for (a, b) in y.iter().zip(expected) {
        assert!((a - b).abs() <= 1e-6 * b, "{a} vs {b}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Batch evaluation is sample-wise evaluation, and the f32 evaluator stays
    /// within f32 rounding of the f64 reference.
    #[test]
    fn batch_matches_single_and_f64(
        seed in any::<u64>(),
        ops in proptest::collection::vec(0u8..5, 1..6),
    ) {
        let g = common::random_graph(seed, &ops);
        let mut rng = common::rng(seed ^ 0x5eed);
        let xs: Vec<Vec<f32>> = (0..4).map(|_| common::random_input(&mut rng, g.input_dim)).collect();
        let batch = g.evaluate_batch(&xs).expect("valid");
        prop_assert_eq!(batch.len(), xs.len());
        for (x, y) in xs.iter().zip(&batch) {
            prop_assert_eq!(&g.evaluate(x).expect("valid"), y);
            prop_assert_eq!(y.len(), g.output_dim().expect("valid"));
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let exact = g.evaluate_f64(&x64).expect("valid");
            let mag = common::magnitude(&g, x);
            for ((a, b), m) in y.iter().zip(&exact).zip(&mag) {
                prop_assert!((f64::from(*a) - b).abs() <= 1e-5 * (1e-6 + f64::from(*m)),
                    "{} vs {} (magnitude {})", a, b, m);
            }
        }
    }
}
