//! Property tests (small sizes): round trips, error bound, interval analysis,
//! per-channel vs per-tensor.

use cryptotl_quant::{
    analyze_bounds, error_bound, evaluate_float_layers, evaluate_layers_trace, quantize_layers,
    validate_scale_chain, FloatInterval, FloatLayer, FloatLinear, FloatPolynomial, Granularity,
    InputQuantizer, NamedLayer, QuantizedLinear, WeightQuantization,
};
use proptest::prelude::*;

/// Training samples: `n` samples of dimension `d`, values in `[-50, 50]`, and
/// sometimes a constant feature.
fn samples() -> impl Strategy<Value = Vec<Vec<f32>>> {
    (1usize..6, 2usize..8)
        .prop_flat_map(|(d, n)| prop::collection::vec(prop::collection::vec(-50.0f32..50.0, d), n))
}

fn granularity() -> impl Strategy<Value = Granularity> {
    prop_oneof![
        Just(Granularity::PerTensor),
        Just(Granularity::PerOutputChannel)
    ]
}

fn polynomial() -> impl Strategy<Value = FloatPolynomial> {
    prop_oneof![
        Just(FloatPolynomial::square()),
        (-1.0f64..1.0, -1.0f64..1.0, 0.05f64..2.0, any::<bool>()).prop_map(|(a0, a1, a2, neg)| {
            FloatPolynomial {
                coefficients: vec![a0, a1, if neg { -a2 } else { a2 }],
            }
        }),
        (-1.0f64..1.0, 0.1f64..2.0).prop_map(|(a0, a1)| FloatPolynomial {
            coefficients: vec![a0, a1],
        }),
    ]
}

fn linear(rows: usize, cols: usize) -> impl Strategy<Value = FloatLinear> {
    (
        prop::collection::vec(-1.0f32..1.0, rows * cols),
        prop::collection::vec(-1.0f32..1.0, rows),
    )
        .prop_map(move |(weights, bias)| FloatLinear {
            rows,
            cols,
            weights,
            bias,
        })
}

/// The CryptoTL shape after fusion: Dense -> Activation -> Dense.
#[derive(Debug, Clone)]
struct Net {
    layers: Vec<(String, FloatLayer)>,
    samples: Vec<Vec<f32>>,
}

fn net() -> impl Strategy<Value = Net> {
    (1usize..5, 1usize..5, 1usize..4, 2usize..6).prop_flat_map(|(d, h, o, n)| {
        (
            prop::collection::vec(prop::collection::vec(-4.0f32..4.0, d), n),
            linear(h, d),
            polynomial(),
            linear(o, h),
        )
            .prop_map(|(samples, l0, p, l1)| Net {
                samples,
                layers: vec![
                    ("dense0".into(), FloatLayer::Linear(l0)),
                    ("act".into(), FloatLayer::Polynomial(p)),
                    ("dense1".into(), FloatLayer::Linear(l1)),
                ],
            })
    })
}

/// A point of `[lo, hi]` at fraction `u` in `[0, 1]`, as f32.
fn lerp(r: FloatInterval, u: f64) -> f32 {
    (r.lo + (r.hi - r.lo) * u) as f32
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Quantize/dequantize of in-range data errs by at most half a step.
    #[test]
    fn input_round_trip_within_half_step(samples in samples(), bits in 1u32..=16) {
        let q = InputQuantizer::fit(&samples, bits).expect("valid data");
        let scale = q.input_scale();
        for x in &samples {
            let qx = q.quantize(x).expect("right dim");
            let top = (1i64 << bits) - 1;
            prop_assert!(qx.iter().all(|&v| (0..=top).contains(&v)));
            let back = q.dequantize(&qx).expect("right dim");
            for j in 0..x.len() {
                let err = (f64::from(x[j]) - back[j]).abs();
                let half = if q.min[j] == q.max[j] { 0.0 } else { scale.scale[j] / 2.0 };
                prop_assert!(err <= half * (1.0 + 1e-9) + 1e-12, "feature {j}: {err} > {half}");
            }
        }
    }

    /// Dequantized integer outputs of every layer stay within the stated
    /// error bound of the float layers, inside and outside the fitted range.
    #[test]
    fn integer_eval_within_error_bound(
        net in net(),
        in_bits in 3u32..=12,
        w_bits in 3u32..=12,
        g in granularity(),
        widen in 0.0f64..0.5,
        points in prop::collection::vec(prop::collection::vec(0.0f64..=1.0, 5), 1..6),
    ) {
        let iq = InputQuantizer::fit(&net.samples, in_bits).expect("valid data");
        let scheme = WeightQuantization::new(w_bits, g).expect("valid scheme");
        // A near-zero weight row makes the activation's output scale tiny, and a
        // constant term can then be too large for i64: an error, never a wrap.
        let qlayers = match quantize_layers(&net.layers, &iq, &scheme) {
            Ok(q) => q,
            Err(e) => {
                prop_assert!(format!("{e:?}").contains("OutOfRange"), "{e:?}");
                return Ok(());
            }
        };
        validate_scale_chain(&iq.input_scale(), &qlayers).expect("scales chain");
        let float_layers: Vec<FloatLayer> = net.layers.iter().map(|(_, l)| l.clone()).collect();
        // Range: the fitted range, widened by `widen` on each side (clamping is covered).
        let range: Vec<FloatInterval> = iq
            .fitted_range()
            .into_iter()
            .map(|r| FloatInterval { lo: r.lo - widen, hi: r.hi + widen })
            .collect();
        let ibounds = analyze_bounds(&qlayers, &iq.interval_for(&range).expect("range")).expect("i128");
        // Extreme scale ratios can need more than i64; evaluation then errors (tested elsewhere).
        prop_assume!(ibounds.max_abs() <= i64::MAX as u128);
        let report = error_bound(&float_layers, &qlayers, &iq, &range).expect("bound");
        prop_assert_eq!(report.layers.len(), 3);
        prop_assert_eq!(report.layers[1].name.as_str(), "act");

        let mut inputs: Vec<Vec<f32>> = net.samples.clone();
        inputs.extend(points.iter().map(|u| range.iter().zip(u).map(|(&r, &u)| lerp(r, u)).collect()));
        for x in &inputs {
            let xf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let qx = iq.quantize(x).expect("quantizes");
            let trace = evaluate_layers_trace(&qlayers, &qx).expect("no overflow");
            let mut cur = xf.clone();
            for (k, (fl, ql)) in float_layers.iter().zip(&qlayers).enumerate() {
                cur = fl.evaluate(&cur).expect("float eval");
                let deq = ql.layer.output_scale().dequantize_f64(&trace[k]).expect("dims");
                let lb = &report.layers[k];
                for i in 0..cur.len() {
                    let diff = (cur[i] - deq[i]).abs();
                    // The f64 reference itself carries rounding ~1e-15 relative.
                    let slack = 1e-12 * (1.0 + cur[i].abs());
                    prop_assert!(
                        diff <= lb.per_neuron[i] + slack,
                        "layer {} neuron {}: |{} - {}| = {} > bound {}",
                        lb.name, i, cur[i], deq[i], diff, lb.per_neuron[i]
                    );
                    prop_assert!(lb.per_neuron[i] <= lb.max);
                    prop_assert!(lb.float_range[i].contains(cur[i]));
                }
            }
            let out = evaluate_float_layers(&float_layers, &xf).expect("float eval");
            prop_assert_eq!(out.len(), report.output().len());
        }
    }

    /// Every value of the integer network lies inside the intervals of the
    /// bound analysis, for random integer inputs in `[0, 2^bits - 1]`.
    #[test]
    fn bound_analysis_never_exceeded(
        net in net(),
        in_bits in 1u32..=16,
        w_bits in 2u32..=16,
        g in granularity(),
        points in prop::collection::vec(prop::collection::vec(0.0f64..=1.0, 5), 1..8),
    ) {
        let iq = InputQuantizer::fit(&net.samples, in_bits).expect("valid data");
        let scheme = WeightQuantization::new(w_bits, g).expect("valid scheme");
        // At high bit widths a bias can legitimately be too large for i64 in
        // the output units; that is an error, never a wrap.
        let qlayers = match quantize_layers(&net.layers, &iq, &scheme) {
            Ok(q) => q,
            Err(e) => {
                prop_assert!(format!("{e:?}").contains("OutOfRange"), "{e:?}");
                return Ok(());
            }
        };
        let input_iv = iq.interval();
        let report = analyze_bounds(&qlayers, &input_iv).expect("no overflow");
        prop_assert_eq!(report.layers.len(), qlayers.len());
        // Corners first: all-min and all-max are in-range inputs too.
        let mut qs: Vec<Vec<i64>> = vec![
            input_iv.iter().map(|i| i.lo as i64).collect(),
            input_iv.iter().map(|i| i.hi as i64).collect(),
        ];
        qs.extend(points.iter().map(|u| {
            input_iv.iter().zip(u).map(|(i, &u)| (i.lo as f64 + (i.hi - i.lo) as f64 * u).round() as i64).collect()
        }));
        for q in &qs {
            let trace = match evaluate_layers_trace(&qlayers, q) {
                Ok(t) => t,
                Err(e) => {
                    // Overflow only where the analysis says values exceed i64.
                    prop_assert!(report.max_abs() > i64::MAX as u128, "{e:?}");
                    continue;
                }
            };
            for (k, out) in trace.iter().enumerate() {
                let lb = &report.layers[k];
                for (i, &v) in out.iter().enumerate() {
                    prop_assert!(lb.intervals[i].contains(i128::from(v)), "layer {} neuron {}: {} not in {:?}", lb.name, i, v, lb.intervals[i]);
                    prop_assert!(u128::from(v.unsigned_abs()) <= report.max_abs());
                }
            }
        }
        // A modulus of exactly the required size is accepted, one below 2*max is refused.
        let m = report.max_abs();
        if 2 * m < u128::from(u64::MAX) {
            prop_assert!(report.check_plaintext_modulus((2 * m + 1) as u64).is_ok());
            prop_assert!(report.check_plaintext_modulus((2 * m) as u64).is_err());
        }
    }

    /// Per-output-channel scales are never coarser than the per-tensor scale,
    /// per-tensor scales are all equal, weights stay in the signed range, and
    /// each folded weight is reconstructed within half its row's step.
    #[test]
    fn per_channel_vs_per_tensor(
        (rows, cols, w, b) in (1usize..6, 1usize..6).prop_flat_map(|(r, c)| (
            Just(r), Just(c),
            prop::collection::vec(-10.0f32..10.0, r * c),
            prop::collection::vec(-10.0f32..10.0, r),
        )),
        bits in 2u32..=16,
        in_scale in prop::collection::vec(0.001f64..2.0, 6),
        in_offset in prop::collection::vec(-3.0f64..3.0, 6),
    ) {
        let input = cryptotl_quant::AffineScale::new(in_scale[..cols].to_vec(), in_offset[..cols].to_vec())
            .expect("valid scale");
        let pt = QuantizedLinear::quantize(&w, &b, rows, cols, &input, &WeightQuantization::per_tensor(bits).expect("ok")).expect("ok");
        let pc = QuantizedLinear::quantize(&w, &b, rows, cols, &input, &WeightQuantization::per_output_channel(bits).expect("ok")).expect("ok");
        let level = (1i64 << (bits - 1)) - 1;
        prop_assert!(pt.output.scale.windows(2).all(|s| s[0] == s[1]));
        prop_assert!(pt.output.has_zero_offset() && pc.output.has_zero_offset());
        for i in 0..rows {
            prop_assert!(pc.output.scale[i] <= pt.output.scale[i] * (1.0 + 1e-12));
            for q in [&pt, &pc] {
                let s = q.output.scale[i];
                let row = q.row(i).expect("row exists");
                prop_assert!(row.iter().all(|v| v.abs() <= level));
                let mut bias_folded = f64::from(b[i]);
                for j in 0..cols {
                    let folded = f64::from(w[i * cols + j]) * input.scale[j];
                    bias_folded += f64::from(w[i * cols + j]) * input.offset[j];
                    prop_assert!((folded - s * row[j] as f64).abs() <= s / 2.0 * (1.0 + 1e-9));
                }
                prop_assert!((bias_folded - s * q.bias[i] as f64).abs() <= s / 2.0 * (1.0 + 1e-9) + 1e-12);
            }
            // Per channel, the largest weight of a non-zero row hits the top level.
            if pc.row(i).expect("row").iter().any(|&v| v != 0) {
                prop_assert_eq!(pc.row(i).expect("row").iter().map(|v| v.abs()).max(), Some(level));
            }
        }
    }

    /// Integer layer evaluation is exact: it matches an independent i128 computation.
    #[test]
    fn linear_evaluation_is_exact(
        w in prop::collection::vec(-1000i64..1000, 6),
        b in prop::collection::vec(-1000i64..1000, 2),
        x in prop::collection::vec(-100_000i64..100_000, 3),
    ) {
        let input = cryptotl_quant::AffineScale::uniform(1.0, 3).expect("valid");
        let l = QuantizedLinear {
            rows: 2, cols: 3, weights: w.clone(), bias: b.clone(),
            input, output: cryptotl_quant::AffineScale::uniform(1.0, 2).expect("valid"),
            scheme: WeightQuantization::default(),
        };
        let y = l.evaluate(&x).expect("small values");
        for i in 0..2 {
            let want: i128 = i128::from(b[i]) + (0..3).map(|j| i128::from(w[i * 3 + j]) * i128::from(x[j])).sum::<i128>();
            prop_assert_eq!(i128::from(y[i]), want);
        }
        let named = NamedLayer::new("l", cryptotl_quant::IntegerLayer::Linear(l));
        prop_assert_eq!(named.evaluate(&x).expect("ok"), y);
    }
}
