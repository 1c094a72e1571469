//! Quantized graphs: integer evaluation against the float graph and the
//! stated error bound, bound analysis, plaintext-modulus checks, errors.

mod common;

use cryptotl_graph::{Dense, Graph, GraphError, Layer, QuantizedGraph};
use cryptotl_quant::{
    evaluate_layers_trace, FloatInterval, FloatPolynomial, InputQuantizer, IntegerLayer,
    QuantError, WeightQuantization, INPUT_LAYER_NAME,
};
use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Random training samples in `[-1, 1]^d`.
fn training(rng: &mut ChaCha8Rng, d: usize, n: usize) -> Vec<Vec<f32>> {
    (0..n).map(|_| common::random_input(rng, d)).collect()
}

/// The fused default architecture for dimension `d` and a quantizer fitted on
/// random training data.
fn setup(seed: u64, d: usize, input_bits: u32) -> (Graph, InputQuantizer) {
    let mut rng = common::rng(seed);
    let fused = Graph::cryptotl_lower(d, &mut rng)
        .expect("valid")
        .fused()
        .expect("valid");
    let quantizer = InputQuantizer::fit(&training(&mut rng, d, 16), input_bits).expect("fits");
    (fused, quantizer)
}

fn scheme(bits: u32, per_channel: bool) -> WeightQuantization {
    if per_channel {
        WeightQuantization::per_output_channel(bits).expect("valid")
    } else {
        WeightQuantization::per_tensor(bits).expect("valid")
    }
}

/// A random point of the box `range`.
fn sample_in(rng: &mut ChaCha8Rng, range: &[FloatInterval]) -> Vec<f32> {
    range
        .iter()
        .map(|r| {
            let v = if r.hi > r.lo {
                rng.random_range(r.lo..=r.hi)
            } else {
                r.lo
            };
            // Stay inside the box after rounding to f32.
            (v as f32).clamp(r.lo as f32, r.hi as f32)
        })
        .collect()
}

#[test]
fn quantized_default_architecture_structure() {
    let d = 8;
    let (fused, quantizer) = setup(3, d, 8);
    let q =
        QuantizedGraph::from_fused(&fused, quantizer.clone(), &scheme(8, true)).expect("quantizes");
    let names: Vec<_> = q.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["dense0", "activation1", "dense2"]);
    let kinds: Vec<_> = q.layers.iter().map(|l| l.layer.kind()).collect();
    assert_eq!(kinds, ["linear", "polynomial", "linear"]);
    assert_eq!(q.input, quantizer);
    assert_eq!(q.input_dim(), d);
    assert_eq!(q.output_dim(), d - 2);
    assert_eq!(q.multiplicative_depth(), 1);
    // The square: C = [0, 0, 1] for every neuron.
    match &q.layers[1].layer {
        IntegerLayer::Polynomial(p) => {
            assert!(p.coefficients.iter().all(|c| c == &vec![0, 0, 1]));
        }
        other => panic!("expected a polynomial, got {other:?}"),
    }
    // Weights within the signed 8-bit range.
    match &q.layers[0].layer {
        IntegerLayer::Linear(l) => assert!(l.weights.iter().all(|w| w.abs() <= 127)),
        other => panic!("expected a linear layer, got {other:?}"),
    }
    // Fusing and quantizing the unfused graph gives the same result.
    let unfused = Graph::cryptotl_lower(d, &mut common::rng(3)).expect("valid");
    let q2 = QuantizedGraph::fuse_and_quantize(&unfused, quantizer, &scheme(8, true))
        .expect("quantizes");
    assert_eq!(q2, q);
}

#[test]
fn unfused_graphs_and_mismatched_quantizers_are_refused() {
    let d = 6;
    let unfused = Graph::cryptotl_lower(d, &mut common::rng(1)).expect("valid");
    let (fused, quantizer) = setup(1, d, 8);
    match QuantizedGraph::from_fused(&unfused, quantizer.clone(), &scheme(8, true)) {
        Err(GraphError::NotFused { index: 0, kind }) => assert_eq!(kind, "conv1d"),
        other => panic!("expected NotFused, got {other:?}"),
    }
    let wrong_dim = InputQuantizer::fit(&[vec![0.0; d + 1], vec![1.0; d + 1]], 8).expect("fits");
    assert!(matches!(
        QuantizedGraph::from_fused(&fused, wrong_dim, &scheme(8, true)),
        Err(GraphError::InvalidInput(_))
    ));
    assert!(matches!(
        QuantizedGraph::from_fused(
            &fused,
            quantizer.clone(),
            &WeightQuantization {
                bits: 1,
                granularity: cryptotl_quant::Granularity::PerTensor
            }
        ),
        Err(GraphError::Quant(QuantError::InvalidBits { .. }))
    ));
    // An activation directly on the (offset) input cannot be quantized.
    let act_first =
        Graph::new(d, vec![Layer::Activation(FloatPolynomial::square())]).expect("valid");
    assert!(QuantizedGraph::from_fused(&act_first, quantizer.clone(), &scheme(8, true)).is_err());
    // No layers.
    let empty = Graph::new(d, vec![]).expect("valid");
    assert!(QuantizedGraph::from_fused(&empty, quantizer, &scheme(8, true)).is_err());
}

#[test]
fn evaluation_errors() {
    let d = 5;
    let (fused, quantizer) = setup(2, d, 4);
    let q = QuantizedGraph::from_fused(&fused, quantizer, &scheme(6, false)).expect("ok");
    assert!(matches!(
        q.evaluate(&[0.0; 4]),
        Err(GraphError::InvalidInput(_))
    ));
    assert!(matches!(
        q.evaluate(&[0.0, 0.0, f32::NAN, 0.0, 0.0]),
        Err(GraphError::InvalidInput(_))
    ));
    // Integer inputs must be in [0, 2^bits - 1].
    assert!(matches!(
        q.evaluate_integer(&[0, 0, 16, 0, 0]),
        Err(GraphError::InvalidInput(_))
    ));
    assert!(matches!(
        q.evaluate_integer(&[0, -1, 0, 0, 0]),
        Err(GraphError::InvalidInput(_))
    ));
    assert!(q.evaluate_integer(&[15, 0, 15, 0, 15]).is_ok());
    let e = q
        .evaluate_batch(&[vec![0.0; d], vec![0.0; d + 1]])
        .expect_err("second sample");
    assert!(e.to_string().contains("sample 1"), "{e}");
    // A hand-broken graph (scale chain) is refused.
    let mut broken = q.clone();
    if let IntegerLayer::Linear(l) = &mut broken.layers[2].layer {
        l.input.scale[0] *= 2.0;
    }
    assert!(broken.evaluate(&[0.0; 5]).is_err());
    assert!(broken.bounds().is_err());
    // Overflow is reported (huge integer weights), not wrapped.
    let mut huge = q.clone();
    if let IntegerLayer::Linear(l) = &mut huge.layers[0].layer {
        l.weights.iter_mut().for_each(|w| *w = i64::MAX / 2);
    }
    let e = huge.evaluate_integer(&[15; 5]).expect_err("overflow");
    assert!(e.to_string().contains("dense0"), "{e}");
}

#[test]
fn plaintext_modulus_check_names_the_first_layer_that_does_not_fit() {
    let (fused, quantizer) = setup(5, 10, 8);
    let q = QuantizedGraph::from_fused(&fused, quantizer, &scheme(8, true)).expect("ok");
    let report = q.bounds().expect("ok");
    let max = report.max_abs();
    let bits = report.required_plaintext_bits();
    assert!((2..64).contains(&bits));
    let big = u64::try_from(2 * max + 1).expect("fits u64");
    q.check_plaintext_modulus(big).expect("2 max + 1 suffices");
    let small = u64::try_from(2 * max).expect("fits u64");
    let expected = std::iter::once(&report.input)
        .chain(&report.layers)
        .find(|l| 2 * l.max_abs >= u128::from(small))
        .expect("some layer reaches the max")
        .name
        .clone();
    match q.check_plaintext_modulus(small) {
        Err(GraphError::Quant(QuantError::PlaintextModulusTooSmall {
            layer,
            bound,
            modulus,
        })) => {
            assert_eq!(layer, expected);
            assert_eq!(modulus, small);
            assert!(2 * bound >= u128::from(small));
        }
        other => panic!("expected PlaintextModulusTooSmall, got {other:?}"),
    }
    // The input interval alone needs t > 2 * 255.
    match q.check_plaintext_modulus(300) {
        Err(GraphError::Quant(QuantError::PlaintextModulusTooSmall { layer, .. })) => {
            assert_eq!(layer, INPUT_LAYER_NAME)
        }
        other => panic!("expected PlaintextModulusTooSmall, got {other:?}"),
    }
}

#[test]
fn more_bits_give_a_smaller_error_bound() {
    let (fused, _) = setup(9, 8, 8);
    let mut rng = common::rng(9);
    let samples = training(&mut rng, 8, 16);
    let bound = |bits: u32| {
        let quantizer = InputQuantizer::fit(&samples, bits).expect("fits");
        QuantizedGraph::from_fused(&fused, quantizer, &scheme(bits, true))
            .expect("ok")
            .error_bound_fitted(&fused)
            .expect("ok")
            .max_output_error()
    };
    let (b6, b12) = (bound(6), bound(12));
    assert!(b12 > 0.0 && b12 < b6 / 8.0, "6 bits: {b6}, 12 bits: {b12}");
}

#[test]
fn error_bound_needs_the_matching_fused_graph() {
    let (fused, quantizer) = setup(4, 6, 8);
    let q = QuantizedGraph::from_fused(&fused, quantizer, &scheme(8, true)).expect("ok");
    let unfused = Graph::cryptotl_lower(6, &mut common::rng(4)).expect("valid");
    assert!(matches!(
        q.error_bound_fitted(&unfused),
        Err(GraphError::NotFused { .. })
    ));
    let shorter = Graph::new(
        6,
        vec![Layer::Dense(
            Dense::new(6, 4, vec![0.1; 24], vec![0.0; 4]).expect("valid"),
        )],
    )
    .expect("valid");
    assert!(q.error_bound_fitted(&shorter).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The dequantized integer network stays within the stated error bound of
    /// the float network (the exact f64 reference, and the f32 evaluator with
    /// its own rounding added), for inputs inside the fitted range and, with
    /// the bound over a wider range, for clamped inputs outside it.
    #[test]
    fn integer_eval_within_error_bound(
        seed in any::<u64>(),
        d in 4usize..10,
        input_bits in 3u32..10,
        weight_bits in 3u32..10,
        per_channel in any::<bool>(),
        widen in prop_oneof![Just(0.0f64), Just(0.3)],
    ) {
        let (fused, quantizer) = setup(seed, d, input_bits);
        let q = QuantizedGraph::from_fused(&fused, quantizer.clone(), &scheme(weight_bits, per_channel))
            .expect("quantizes");
        let range: Vec<FloatInterval> = quantizer
            .fitted_range()
            .iter()
            .map(|r| FloatInterval { lo: r.lo - widen, hi: r.hi + widen })
            .collect();
        let report = q.error_bound(&fused, &range).expect("bound");
        let bound = report.output();
        prop_assert_eq!(bound.len(), d - 2);
        let mut rng = common::rng(seed ^ 0xb0b);
        for _ in 0..8 {
            let x = sample_in(&mut rng, &range);
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let exact = fused.evaluate_f64(&x64).expect("valid");
            let y = q.evaluate_integer(&q.quantize_input(&x).expect("ok")).expect("ok");
            let deq = q.output_scale().dequantize_f64(&y).expect("ok");
            let float32 = fused.evaluate(&x).expect("valid");
            let deq32 = q.evaluate(&x).expect("ok");
            let mag = common::magnitude(&fused, &x);
            for i in 0..d - 2 {
                let slack64 = 1e-9 * (1.0 + exact[i].abs());
                prop_assert!((exact[i] - deq[i]).abs() <= bound[i] + slack64,
                    "neuron {}: float {} vs quantized {} (bound {})", i, exact[i], deq[i], bound[i]);
                // f32 reference and f32 dequantized output: add their rounding.
                let slack32 = 1e-5 * (f64::from(mag[i]) + deq[i].abs() + 1e-6);
                prop_assert!((f64::from(float32[i]) - f64::from(deq32[i])).abs() <= bound[i] + slack32,
                    "neuron {}: f32 {} vs quantized {} (bound {})", i, float32[i], deq32[i], bound[i]);
            }
        }
    }

    /// Every integer value of the network, for random in-range inputs
    /// (including the corners of the input box), lies in the interval the
    /// bound analysis reports for it.
    #[test]
    fn bound_analysis_is_never_exceeded(
        seed in any::<u64>(),
        d in 3usize..9,
        input_bits in 1u32..12,
        weight_bits in 2u32..12,
        per_channel in any::<bool>(),
    ) {
        let (fused, quantizer) = setup(seed, d, input_bits);
        let q = QuantizedGraph::from_fused(&fused, quantizer, &scheme(weight_bits, per_channel))
            .expect("quantizes");
        let report = q.bounds().expect("bounds");
        prop_assert_eq!(report.layers.len(), q.layers.len());
        let top = q.input.max_level();
        let mut rng = common::rng(seed ^ 0xf00);
        let mut inputs: Vec<Vec<i64>> = vec![vec![0; d], vec![top; d]];
        inputs.extend((0..10).map(|_| (0..d).map(|_| rng.random_range(0..=top)).collect()));
        // Inputs quantized from reals outside the fitted range (clamped).
        inputs.extend((0..4).map(|_| {
            let x: Vec<f32> = (0..d).map(|_| rng.random_range(-3.0..3.0)).collect();
            q.quantize_input(&x).expect("ok")
        }));
        for x in &inputs {
            let x: Vec<i64> = x
                .iter()
                .zip(&report.input.intervals)
                .map(|(&v, r)| v.clamp(r.lo as i64, r.hi as i64))
                .collect();
            let trace = evaluate_layers_trace(&q.layers, &x).expect("no overflow");
            prop_assert_eq!(trace.last(), Some(&q.evaluate_integer(&x).expect("ok")));
            for (values, bound) in trace.iter().zip(&report.layers) {
                for (v, r) in values.iter().zip(&bound.intervals) {
                    prop_assert!(r.contains(i128::from(*v)),
                        "layer {}: {} outside [{}, {}]", bound.name, v, r.lo, r.hi);
                    prop_assert!(v.unsigned_abs() as u128 <= bound.max_abs);
                }
            }
        }
    }

    /// Batch evaluation equals sample-wise evaluation.
    #[test]
    fn batch_matches_single(seed in any::<u64>(), d in 3usize..8) {
        let (fused, quantizer) = setup(seed, d, 8);
        let q = QuantizedGraph::from_fused(&fused, quantizer, &scheme(8, true)).expect("ok");
        let mut rng = common::rng(seed);
        let xs: Vec<Vec<f32>> = (0..5).map(|_| common::random_input(&mut rng, d)).collect();
        let batch = q.evaluate_batch(&xs).expect("ok");
        let qs: Vec<Vec<i64>> = xs.iter().map(|x| q.quantize_input(x).expect("ok")).collect();
        let ibatch = q.evaluate_integer_batch(&qs).expect("ok");
        for ((x, y), (qx, iy)) in xs.iter().zip(&batch).zip(qs.iter().zip(&ibatch)) {
            prop_assert_eq!(&q.evaluate(x).expect("ok"), y);
            prop_assert_eq!(&q.evaluate_integer(qx).expect("ok"), iy);
            prop_assert_eq!(&q.dequantize(iy).expect("ok"), y);
        }
    }
}
