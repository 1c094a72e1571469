//! Unit tests: known values, plaintext-modulus checks, input clamping, errors, serde.

use cryptotl_quant::{
    analyze_bounds, error_bound, evaluate_layers, quantize_layers, validate_scale_chain,
    AffineScale, FloatInterval, FloatLayer, FloatLinear, FloatPolynomial, Granularity,
    InputQuantizer, IntegerLayer, Interval, NamedLayer, QuantError, QuantizedLinear,
    QuantizedPolynomial, WeightQuantization, INPUT_LAYER_NAME,
};

fn scale(s: &[f64], o: &[f64]) -> AffineScale {
    AffineScale::new(s.to_vec(), o.to_vec()).expect("valid scale")
}

fn ident_linear(rows: usize, cols: usize, weights: Vec<i64>, bias: Vec<i64>) -> QuantizedLinear {
    QuantizedLinear {
        rows,
        cols,
        weights,
        bias,
        input: AffineScale::uniform(1.0, cols).expect("valid"),
        output: AffineScale::uniform(1.0, rows).expect("valid"),
        scheme: WeightQuantization::default(),
    }
}

fn square_layer(width: usize) -> QuantizedPolynomial {
    QuantizedPolynomial::quantize(
        &FloatPolynomial::square(),
        &AffineScale::uniform(1.0, width).expect("valid"),
    )
    .expect("square quantizes")
}

/// input [0, 15]^2 -> dense0 (3 x0 - 2 x1 + 1: [-29, 46]) -> act (square: [0, 2116]) -> dense1 (identity).
fn small_network() -> Vec<NamedLayer> {
    vec![
        NamedLayer::new(
            "dense0",
            IntegerLayer::Linear(ident_linear(1, 2, vec![3, -2], vec![1])),
        ),
        NamedLayer::new("act", IntegerLayer::Polynomial(square_layer(1))),
        NamedLayer::new(
            "dense1",
            IntegerLayer::Linear(ident_linear(1, 1, vec![1], vec![0])),
        ),
    ]
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

#[test]
fn bound_analysis_known_values() {
    let input = vec![Interval::new(0, 15).expect("ok"); 2];
    let r = analyze_bounds(&small_network(), &input).expect("no overflow");
    assert_eq!(r.input.max_abs, 15);
    assert_eq!(r.layers[0].intervals, vec![Interval { lo: -29, hi: 46 }]);
    assert_eq!(r.layers[0].max_abs, 46);
    assert_eq!(r.layers[1].intervals, vec![Interval { lo: 0, hi: 2116 }]);
    assert_eq!(r.layers[2].max_abs, 2116);
    assert_eq!(r.max_abs(), 2116);
    assert_eq!(r.output().name, "dense1");
    // Every integer input reaches values inside the intervals, and the extremes are attained.
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for a in 0..=15 {
        for b in 0..=15 {
            let y = evaluate_layers(&small_network(), &[a, b]).expect("small")[0];
            lo = lo.min(y);
            hi = hi.max(y);
        }
    }
    assert_eq!((lo, hi), (0, 2116));
}

#[test]
fn plaintext_modulus_check_names_the_right_layer() {
    let input = vec![Interval::new(0, 15).expect("ok"); 2];
    let r = analyze_bounds(&small_network(), &input).expect("no overflow");
    let err = |t: u64| r.check_plaintext_modulus(t).expect_err("too small");
    assert_eq!(
        err(30),
        QuantError::PlaintextModulusTooSmall {
            layer: INPUT_LAYER_NAME.into(),
            bound: 15,
            modulus: 30
        }
    );
    assert_eq!(
        err(31),
        QuantError::PlaintextModulusTooSmall {
            layer: "dense0".into(),
            bound: 46,
            modulus: 31
        }
    );
    assert_eq!(
        err(93),
        QuantError::PlaintextModulusTooSmall {
            layer: "act".into(),
            bound: 2116,
            modulus: 93
        }
    );
    assert_eq!(
        err(4232),
        QuantError::PlaintextModulusTooSmall {
            layer: "act".into(),
            bound: 2116,
            modulus: 4232
        }
    );
    assert!(err(4232).to_string().contains("`act`"));
    assert_eq!(r.check_plaintext_modulus(4233), Ok(()));
    assert_eq!(r.check_plaintext_modulus(u64::MAX), Ok(()));

    // required_plaintext_bits: 2 * 2116 = 4232 < 8192 = 2^13, so b = 14.
    let b = r.required_plaintext_bits();
    assert_eq!(b, 14);
    let first_prime_at = |lo: u64| (lo..).find(|&t| is_prime(t)).expect("primes exist");
    assert_eq!(
        r.check_plaintext_modulus(first_prime_at(1 << (b - 1))),
        Ok(())
    );
    // One bit less is not enough for every prime: 4099 is a prime >= 2^12 and <= 4232.
    assert!(is_prime(4099) && 4099 >= 1 << (b - 2));
    assert!(r.check_plaintext_modulus(4099).is_err());
}

#[test]
fn input_quantizer_known_values_clamps_and_never_refits() {
    let q = InputQuantizer::fit(&[vec![0.0, 5.0], vec![10.0, 5.0]], 2).expect("fits");
    assert_eq!(q.min, vec![0.0, 5.0]);
    assert_eq!(q.max, vec![10.0, 5.0]);
    let s = q.input_scale();
    assert!((s.scale[0] - 10.0 / 3.0).abs() < 1e-12);
    assert_eq!(s.scale[1], 1.0); // constant feature
    assert_eq!(s.offset, vec![0.0, 5.0]);
    assert_eq!(q.interval(), vec![Interval { lo: 0, hi: 3 }; 2]);
    assert_eq!(
        q.interval_for(&q.fitted_range()).expect("ok"),
        vec![Interval { lo: 0, hi: 3 }, Interval { lo: 0, hi: 0 }]
    );

    let before = q.clone();
    assert_eq!(q.quantize(&[5.0, 5.0]).expect("ok"), vec![2, 0]); // 1.5 rounds away from zero
    assert_eq!(q.quantize(&[-100.0, 7.0]).expect("ok"), vec![0, 0]); // clamped below
    assert_eq!(q.quantize(&[100.0, -7.0]).expect("ok"), vec![3, 0]); // clamped above
    assert_eq!(q.quantize(&[f32::INFINITY, 5.0]).expect("ok"), vec![3, 0]);
    assert_eq!(
        q.quantize(&[f32::NEG_INFINITY, 5.0]).expect("ok"),
        vec![0, 0]
    );
    // Quantizing out-of-range data did not refit anything.
    assert_eq!(q, before);
    assert_eq!(q.quantize(&[10.0, 5.0]).expect("ok"), vec![3, 0]);
    assert_eq!(q.quantize(&[3.3, 5.0]).expect("ok"), vec![1, 0]);
    assert!(matches!(
        q.quantize(&[f32::NAN, 5.0]),
        Err(QuantError::NonFinite { .. })
    ));
    // Batch
    assert_eq!(
        q.quantize_batch(&[vec![0.0, 5.0], vec![10.0, 5.0]])
            .expect("ok"),
        vec![vec![0, 0], vec![3, 0]]
    );
    // Dequantize
    let back = q.dequantize(&[3, 0]).expect("ok");
    assert!((back[0] - 10.0).abs() < 1e-12 && back[1] == 5.0);
    // Out-of-range error bound: s/2 inside, distance outside, 0 for an exactly-hit constant.
    let e = q
        .rounding_error(&[
            FloatInterval::new(-1.0, 10.0).expect("ok"),
            FloatInterval::new(5.0, 5.0).expect("ok"),
        ])
        .expect("ok");
    assert!((e[0] - 10.0 / 6.0).abs() < 1e-12);
    assert_eq!(e[1], 0.0);
    let e = q
        .rounding_error(&[
            FloatInterval::new(-3.0, 12.0).expect("ok"),
            FloatInterval::new(4.0, 5.5).expect("ok"),
        ])
        .expect("ok");
    assert_eq!(e, vec![3.0, 1.0]);
}

#[test]
fn input_quantizer_errors() {
    let data = vec![vec![0.0f32, 1.0], vec![2.0, 3.0]];
    for bits in [0, 17, 64] {
        assert!(matches!(
            InputQuantizer::fit(&data, bits),
            Err(QuantError::InvalidBits { what: "input", .. })
        ));
    }
    assert!(InputQuantizer::fit(&data, 1).is_ok());
    assert!(InputQuantizer::fit(&data, 16).is_ok());
    assert!(matches!(
        InputQuantizer::fit(&[], 8),
        Err(QuantError::Empty(_))
    ));
    assert!(matches!(
        InputQuantizer::fit(&[vec![]], 8),
        Err(QuantError::Empty(_))
    ));
    assert!(matches!(
        InputQuantizer::fit(&[vec![0.0, 1.0], vec![1.0]], 8),
        Err(QuantError::DimensionMismatch {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert!(matches!(
        InputQuantizer::fit(&[vec![0.0, f32::NAN]], 8),
        Err(QuantError::NonFinite { .. })
    ));
    let q = InputQuantizer::fit(&data, 8).expect("ok");
    assert!(matches!(
        q.quantize(&[1.0]),
        Err(QuantError::DimensionMismatch {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert!(matches!(
        q.interval_for(&[FloatInterval { lo: 0.0, hi: 1.0 }]),
        Err(QuantError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        InputQuantizer::new(8, vec![1.0], vec![0.0]),
        Err(QuantError::InvalidRange { index: 0, .. })
    ));
    assert!(matches!(
        InputQuantizer::new(8, vec![0.0], vec![1.0, 2.0]),
        Err(QuantError::DimensionMismatch { .. })
    ));
    // A hand-edited (deserialized) invalid quantizer is refused on use.
    let bad = InputQuantizer {
        bits: 0,
        min: vec![0.0],
        max: vec![1.0],
    };
    assert!(matches!(
        bad.quantize(&[0.5]),
        Err(QuantError::InvalidBits { .. })
    ));
}

#[test]
fn weight_scheme_errors() {
    for bits in [0, 1, 17] {
        assert!(matches!(
            WeightQuantization::per_tensor(bits),
            Err(QuantError::InvalidBits {
                what: "weights",
                ..
            })
        ));
    }
    assert_eq!(
        WeightQuantization::per_output_channel(2)
            .expect("ok")
            .max_level(),
        1
    );
    assert_eq!(
        WeightQuantization::per_tensor(8).expect("ok").max_level(),
        127
    );
    assert_eq!(
        WeightQuantization::per_tensor(16).expect("ok").max_level(),
        32767
    );
    let bad = WeightQuantization {
        bits: 0,
        granularity: Granularity::PerTensor,
    };
    let input = AffineScale::uniform(1.0, 1).expect("ok");
    assert!(matches!(
        QuantizedLinear::quantize(&[1.0], &[0.0], 1, 1, &input, &bad),
        Err(QuantError::InvalidBits { .. })
    ));
}

#[test]
fn linear_quantization_known_values() {
    let w = [1.0f32, -0.5, 0.25, 0.0];
    let b = [0.1f32, 0.0];
    let input = scale(&[0.5, 1.0], &[1.0, 0.0]);
    let pc = QuantizedLinear::quantize(
        &w,
        &b,
        2,
        2,
        &input,
        &WeightQuantization::per_output_channel(3).expect("ok"),
    )
    .expect("ok");
    // Row 0: W' = [0.5, -0.5], b' = 0.1 + 1 = 1.1, s = 0.5/3.
    // Row 1: W' = [0.125, 0], b' = 0.25, s = 0.125/3.
    assert_eq!(pc.weights, vec![3, -3, 3, 0]);
    assert_eq!(pc.bias, vec![7, 6]);
    assert!((pc.output.scale[0] - 0.5 / 3.0).abs() < 1e-15);
    assert!((pc.output.scale[1] - 0.125 / 3.0).abs() < 1e-15);
    assert_eq!(pc.output.offset, vec![0.0, 0.0]);
    assert_eq!(pc.input, input);
    let pt = QuantizedLinear::quantize(
        &w,
        &b,
        2,
        2,
        &input,
        &WeightQuantization::per_tensor(3).expect("ok"),
    )
    .expect("ok");
    assert_eq!(pt.weights, vec![3, -3, 1, 0]);
    assert_eq!(pt.bias, vec![7, 2]);
    assert_eq!(pt.output.scale[0], pt.output.scale[1]);
    // Integer evaluation: q = [2, 5] -> [7 + 6 - 15, 6 + 6] = [-2, 12] (per channel).
    assert_eq!(pc.evaluate(&[2, 5]).expect("ok"), vec![-2, 12]);
    // Dequantized vs float: x = s q + o = [2, 5] -> W x + b = [2 - 2.5 + 0.1, 0.5] = [-0.4, 0.5].
    let y = pc
        .output
        .dequantize(&pc.evaluate(&[2, 5]).expect("ok"))
        .expect("ok");
    assert!((y[0] - -0.4f32).abs() < 0.5 / 3.0 && (y[1] - 0.5).abs() < 0.125 / 3.0);
}

#[test]
fn linear_zero_weights_use_bias_scale() {
    let input = AffineScale::uniform(1.0, 2).expect("ok");
    let s = WeightQuantization::per_output_channel(4).expect("ok");
    let l = QuantizedLinear::quantize(&[0.0, 0.0, 0.0, 0.0], &[0.7, 0.0], 2, 2, &input, &s)
        .expect("ok");
    assert_eq!(l.weights, vec![0; 4]);
    assert_eq!(l.bias, vec![7, 0]);
    assert!((l.output.scale[0] - f64::from(0.7f32) / 7.0).abs() < 1e-15);
    assert_eq!(l.output.scale[1], 1.0);
}

#[test]
fn linear_errors() {
    let input = AffineScale::uniform(1.0, 2).expect("ok");
    let s = WeightQuantization::default();
    let dm = |r: Result<QuantizedLinear, QuantError>| {
        matches!(r, Err(QuantError::DimensionMismatch { .. }))
    };
    assert!(dm(QuantizedLinear::quantize(
        &[1.0; 3],
        &[0.0],
        1,
        2,
        &input,
        &s
    )));
    assert!(dm(QuantizedLinear::quantize(
        &[1.0; 2],
        &[0.0, 0.0],
        1,
        2,
        &input,
        &s
    )));
    assert!(dm(QuantizedLinear::quantize(
        &[1.0; 3],
        &[0.0],
        1,
        3,
        &input,
        &s
    )));
    assert!(matches!(
        QuantizedLinear::quantize(&[], &[], 0, 2, &input, &s),
        Err(QuantError::Empty(_))
    ));
    assert!(matches!(
        QuantizedLinear::quantize(&[1.0, f32::NAN], &[0.0], 1, 2, &input, &s),
        Err(QuantError::NonFinite { .. })
    ));
    let zero_scale = AffineScale {
        scale: vec![0.0, 1.0],
        offset: vec![0.0, 0.0],
    };
    assert!(matches!(
        QuantizedLinear::quantize(&[1.0, 1.0], &[0.0], 1, 2, &zero_scale, &s),
        Err(QuantError::InvalidScale { .. })
    ));
    // Bias that does not fit i64 in output units.
    let tiny = AffineScale::uniform(1e-30, 2).expect("ok");
    assert!(matches!(
        QuantizedLinear::quantize(&[1.0, 1.0], &[1.0], 1, 2, &tiny, &s),
        Err(QuantError::OutOfRange { .. })
    ));
    let l = ident_linear(1, 2, vec![1, 1], vec![0]);
    assert!(matches!(
        l.evaluate(&[1]),
        Err(QuantError::DimensionMismatch {
            expected: 2,
            found: 1,
            ..
        })
    ));
}

#[test]
fn integer_overflow_is_an_error_not_a_wrap() {
    // One column: the i128 sum fits but the i64 result does not.
    let l = ident_linear(1, 1, vec![i64::MAX], vec![0]);
    assert!(matches!(l.evaluate(&[2]), Err(QuantError::Overflow { .. })));
    assert_eq!(l.evaluate(&[1]).expect("fits"), vec![i64::MAX]);
    // Two columns: the i128 accumulation itself overflows.
    let l = ident_linear(1, 2, vec![i64::MIN, i64::MIN], vec![0]);
    assert!(matches!(
        l.evaluate(&[i64::MIN, i64::MIN]),
        Err(QuantError::Overflow { .. })
    ));
    // Polynomial.
    let p = square_layer(1);
    assert!(matches!(
        p.evaluate(&[i64::MAX]),
        Err(QuantError::Overflow { .. })
    ));
    assert_eq!(
        p.evaluate(&[-3_037_000_499]).expect("fits"),
        vec![9_223_372_030_926_249_001]
    );
    // Named layers report their name.
    let named = NamedLayer::new(
        "dense7",
        IntegerLayer::Linear(ident_linear(1, 1, vec![i64::MAX], vec![0])),
    );
    match named.evaluate(&[2]) {
        Err(QuantError::Layer { layer, source }) => {
            assert_eq!(layer, "dense7");
            assert!(matches!(*source, QuantError::Overflow { .. }));
        }
        other => panic!("expected a layer error, got {other:?}"),
    }
    // The interval analysis overflows i128 with a named error.
    let big = vec![
        NamedLayer::new(
            "a",
            IntegerLayer::Linear(ident_linear(1, 1, vec![i64::MAX], vec![0])),
        ),
        NamedLayer::new("b", IntegerLayer::Polynomial(square_layer(1))),
        NamedLayer::new("c", IntegerLayer::Polynomial(square_layer(1))),
    ];
    let iv = [Interval::new(0, i128::from(i64::MAX)).expect("ok")];
    match analyze_bounds(&big, &iv) {
        Err(QuantError::Layer { layer, .. }) => assert_eq!(layer, "b"),
        other => panic!("expected overflow in b, got {other:?}"),
    }
}

#[test]
fn polynomial_quantization_known_values_and_errors() {
    let s = AffineScale::with_zero_offset(vec![0.5, 0.25]).expect("ok");
    let sq = QuantizedPolynomial::quantize(&FloatPolynomial::square(), &s).expect("ok");
    assert_eq!(sq.coefficients, vec![vec![0, 0, 1], vec![0, 0, 1]]);
    assert_eq!(sq.output.scale, vec![0.25, 0.0625]);
    assert_eq!(sq.degree(), 2);
    assert_eq!(sq.evaluate(&[3, -4]).expect("ok"), vec![9, 16]);

    // p(y) = 0.5 - y - 2 y^2, S = 0.5: T = 2 * 0.25 = 0.5, C2 = -1, C1 = round(-0.5/0.5) = -1, C0 = round(0.5/0.5) = 1.
    let p = FloatPolynomial::new(vec![0.5, -1.0, -2.0]).expect("ok");
    let q =
        QuantizedPolynomial::quantize(&p, &AffineScale::uniform(0.5, 1).expect("ok")).expect("ok");
    assert_eq!(q.coefficients, vec![vec![1, -1, -1]]);
    assert_eq!(q.output.scale, vec![0.5]);
    // q = 3: y = 1.5, p = 0.5 - 1.5 - 4.5 = -5.5; integer 1 - 3 - 9 = -11, * 0.5 = -5.5 (exact here).
    assert_eq!(q.evaluate(&[3]).expect("ok"), vec![-11]);

    // Linear activation: p(y) = 1 + 2y, S = 0.25: T = 0.5, C1 = 1, C0 = 2.
    let lin = FloatPolynomial::new(vec![1.0, 2.0, 0.0]).expect("trailing zero ok");
    assert_eq!(lin.degree(), 1);
    let q = QuantizedPolynomial::quantize(&lin, &AffineScale::uniform(0.25, 1).expect("ok"))
        .expect("ok");
    assert_eq!(q.coefficients, vec![vec![2, 1]]);
    assert_eq!(q.degree(), 1);

    assert!(matches!(
        FloatPolynomial::new(vec![0.0, 0.0, 0.0, 1.0]),
        Err(QuantError::UnsupportedDegree { degree: 3 })
    ));
    assert!(matches!(
        FloatPolynomial::new(vec![1.0, f64::NAN]),
        Err(QuantError::NonFinite { .. })
    ));
    let cubic = FloatPolynomial {
        coefficients: vec![0.0, 0.0, 1.0, 1.0],
    };
    assert!(matches!(
        QuantizedPolynomial::quantize(&cubic, &s),
        Err(QuantError::UnsupportedDegree { degree: 3 })
    ));
    let constant = FloatPolynomial {
        coefficients: vec![3.0],
    };
    assert_eq!(
        QuantizedPolynomial::quantize(&constant, &s),
        Err(QuantError::ConstantPolynomial)
    );
    let offset = scale(&[1.0, 1.0], &[0.0, 2.0]);
    assert_eq!(
        QuantizedPolynomial::quantize(&FloatPolynomial::square(), &offset),
        Err(QuantError::NonZeroOffset {
            index: 1,
            offset: 2.0
        })
    );
    assert!(matches!(
        sq.evaluate(&[1, 2, 3]),
        Err(QuantError::DimensionMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
}

#[test]
fn affine_scale_validation_and_dequantize() {
    assert!(matches!(
        AffineScale::new(vec![1.0], vec![]),
        Err(QuantError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        AffineScale::new(vec![-1.0], vec![0.0]),
        Err(QuantError::InvalidScale { .. })
    ));
    assert!(matches!(
        AffineScale::new(vec![f64::NAN], vec![0.0]),
        Err(QuantError::InvalidScale { .. })
    ));
    assert!(matches!(
        AffineScale::new(vec![1.0], vec![f64::INFINITY]),
        Err(QuantError::NonFinite { .. })
    ));
    let s = scale(&[0.5, 2.0], &[1.0, 0.0]);
    assert_eq!(s.dequantize(&[4, -3]).expect("ok"), vec![3.0f32, -6.0]);
    assert!(matches!(
        s.dequantize(&[1]),
        Err(QuantError::DimensionMismatch { .. })
    ));
    assert!(!s.has_zero_offset());
}

fn float_net() -> (Vec<(String, FloatLayer)>, InputQuantizer) {
    let l0 =
        FloatLinear::new(vec![0.3, -0.7, 0.1, 0.9, 0.4, -0.2], vec![0.05, -0.1], 2, 3).expect("ok");
    let l1 = FloatLinear::new(vec![1.0, -0.5], vec![0.2], 1, 2).expect("ok");
    let layers = vec![
        ("dense0".to_string(), FloatLayer::Linear(l0)),
        (
            "act".to_string(),
            FloatLayer::Polynomial(FloatPolynomial::square()),
        ),
        ("dense1".to_string(), FloatLayer::Linear(l1)),
    ];
    // Feature 2 is constant.
    let iq = InputQuantizer::fit(
        &[
            vec![-1.0, 0.0, 3.0],
            vec![1.0, 2.0, 3.0],
            vec![0.5, 1.0, 3.0],
        ],
        8,
    )
    .expect("ok");
    (layers, iq)
}

#[test]
fn error_bound_holds_with_constant_feature_and_out_of_range_inputs() {
    let (layers, iq) = float_net();
    let scheme = WeightQuantization::per_output_channel(8).expect("ok");
    let q = quantize_layers(&layers, &iq, &scheme).expect("ok");
    validate_scale_chain(&iq.input_scale(), &q).expect("chain");
    let floats: Vec<FloatLayer> = layers.iter().map(|(_, l)| l.clone()).collect();
    let range = vec![
        FloatInterval::new(-1.5, 1.5).expect("ok"),
        FloatInterval::new(0.0, 2.0).expect("ok"),
        FloatInterval::new(2.5, 3.5).expect("ok"),
    ];
    let report = error_bound(&floats, &q, &iq, &range).expect("ok");
    assert!((report.input[0] - 0.5).abs() < 1e-6); // clamping dominates
    assert!((report.input[2] - 0.5).abs() < 1e-6); // constant feature
    assert_eq!(
        report
            .layers
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>(),
        ["dense0", "act", "dense1"]
    );
    let bound = report.output()[0];
    assert!(bound > 0.0 && bound == report.max_output_error());
    let mut worst: f64 = 0.0;
    for a in 0..=12 {
        for b in 0..=8 {
            for c in 0..=4 {
                let x = [
                    -1.5 + 0.25 * a as f32,
                    0.25 * b as f32,
                    2.5 + 0.25 * c as f32,
                ];
                let xf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let yf = cryptotl_quant::evaluate_float_layers(&floats, &xf).expect("ok");
                let qx = iq.quantize(&x).expect("ok");
                let yq = evaluate_layers(&q, &qx).expect("ok");
                let yd = q[2].layer.output_scale().dequantize_f64(&yq).expect("ok");
                let diff = (yf[0] - yd[0]).abs();
                assert!(diff <= bound, "{x:?}: {diff} > {bound}");
                worst = worst.max(diff);
            }
        }
    }
    // The bound is not vacuous: the worst observed error is a sizeable fraction of it.
    assert!(worst > 0.05 * bound, "worst {worst} vs bound {bound}");
}

#[test]
fn error_bound_rejects_mismatched_networks() {
    let (layers, iq) = float_net();
    let q = quantize_layers(&layers, &iq, &WeightQuantization::default()).expect("ok");
    let floats: Vec<FloatLayer> = layers.iter().map(|(_, l)| l.clone()).collect();
    let range = iq.fitted_range();
    assert!(matches!(
        error_bound(&floats[..2], &q, &iq, &range),
        Err(QuantError::DimensionMismatch { .. })
    ));
    let mut swapped = floats.clone();
    swapped.swap(0, 1);
    assert!(matches!(
        error_bound(&swapped, &q, &iq, &range),
        Err(QuantError::LayerKindMismatch {
            index: 0,
            expected: "polynomial",
            found: "linear"
        })
    ));
    assert!(matches!(
        error_bound(&floats, &q, &iq, &range[..2]),
        Err(QuantError::DimensionMismatch { .. })
    ));
    let bad_range = vec![FloatInterval { lo: 1.0, hi: 0.0 }; 3];
    assert!(matches!(
        error_bound(&floats, &q, &iq, &bad_range),
        Err(QuantError::InvalidRange { .. })
    ));
    // Scale chain: a layer quantized for another input scale is refused.
    let mut broken = q.clone();
    broken.swap(0, 2);
    assert!(validate_scale_chain(&iq.input_scale(), &broken).is_err());
    let mut off = q.clone();
    if let IntegerLayer::Polynomial(p) = &mut off[1].layer {
        p.input.scale[0] *= 2.0;
    }
    assert_eq!(
        validate_scale_chain(&iq.input_scale(), &off),
        Err(QuantError::ScaleMismatch {
            layer: "act".into()
        })
    );
    // Width chain errors in quantize_layers name the layer.
    let mut wrong = layers.clone();
    wrong.truncate(1);
    wrong.push(("dense1".into(), layers[0].1.clone())); // 3 inputs after 2 outputs
    match quantize_layers(&wrong, &iq, &WeightQuantization::default()) {
        Err(QuantError::Layer { layer, .. }) => assert_eq!(layer, "dense1"),
        other => panic!("expected a width error, got {other:?}"),
    }
    assert!(matches!(
        quantize_layers(&[], &iq, &WeightQuantization::default()),
        Err(QuantError::Empty(_))
    ));
    // Invalid input intervals.
    assert!(matches!(
        analyze_bounds(&q, &[Interval { lo: 2, hi: 1 }]),
        Err(QuantError::InvalidInterval { .. })
    ));
    match analyze_bounds(&q, &[Interval::point(0)]) {
        Err(QuantError::Layer { layer, source }) => {
            assert_eq!(layer, "dense0");
            assert!(matches!(*source, QuantError::DimensionMismatch { .. }));
        }
        other => panic!("expected a dimension error, got {other:?}"),
    }
}

#[test]
fn serde_round_trips() {
    let (layers, iq) = float_net();
    let q = quantize_layers(
        &layers,
        &iq,
        &WeightQuantization::per_tensor(6).expect("ok"),
    )
    .expect("ok");
    let json = serde_json::to_string(&q).expect("serializes");
    let back: Vec<NamedLayer> = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back.len(), q.len());
    for (a, b) in back.iter().zip(&q) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.layer.kind(), b.layer.kind());
        assert!(a
            .layer
            .output_scale()
            .approx_eq(b.layer.output_scale(), 1e-15));
        match (&a.layer, &b.layer) {
            (IntegerLayer::Linear(x), IntegerLayer::Linear(y)) => {
                assert_eq!(
                    (&x.weights, &x.bias, x.scheme),
                    (&y.weights, &y.bias, y.scheme)
                );
            }
            (IntegerLayer::Polynomial(x), IntegerLayer::Polynomial(y)) => {
                assert_eq!(x.coefficients, y.coefficients);
            }
            _ => panic!("kind changed"),
        }
    }
    validate_scale_chain(&iq.input_scale(), &back).expect("still chains after a JSON round trip");

    let iq_back: InputQuantizer =
        serde_json::from_str(&serde_json::to_string(&iq).expect("ok")).expect("ok");
    assert_eq!(iq_back, iq);

    let report = analyze_bounds(&q, &iq.interval()).expect("ok");
    let r_back: cryptotl_quant::BoundReport =
        serde_json::from_str(&serde_json::to_string(&report).expect("ok")).expect("ok");
    assert_eq!(r_back, report);

    let s = WeightQuantization::per_output_channel(5).expect("ok");
    let s_back: WeightQuantization =
        serde_json::from_str(&serde_json::to_string(&s).expect("ok")).expect("ok");
    assert_eq!(s_back, s);
}
