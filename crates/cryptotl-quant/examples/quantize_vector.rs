//! Quantizes a vector and a small layer, and checks the rigorous error
//! bounds: the input's rounding error per feature, then the worst-case
//! difference between a float `Dense → x² → Dense` network and its integer
//! counterpart (dequantized), against the measured difference.
//!
//! `cargo run --release -p cryptotl-quant --example quantize_vector`

use cryptotl_quant::{
    analyze_bounds, error_bound, evaluate_float_layers, evaluate_layers, quantize_layers,
    FloatLayer, FloatLinear, FloatPolynomial, InputQuantizer, QuantError, WeightQuantization,
};

fn main() -> Result<(), QuantError> {
    // Fit an 8-bit input quantizer on a few 4-dimensional samples.
    let train = vec![
        vec![0.10f32, -0.40, 0.90, 0.00],
        vec![-0.30, 0.20, 0.50, 0.70],
        vec![0.80, 0.60, -0.20, -0.50],
        vec![0.40, -0.10, 0.10, 0.30],
    ];
    let input = InputQuantizer::fit(&train, 8)?;

    // One vector: its levels, its reconstruction and the rounding bound.
    let x = [0.21f32, 0.05, 0.33, -0.12];
    let q = input.quantize(&x)?;
    let back = input.dequantize(&q)?;
    let rounding = input.rounding_error(&input.fitted_range())?;
    println!("x          = {x:?}");
    println!("levels     = {q:?} (0..={})", input.max_level());
    println!("x̂          = {back:.4?}");
    for (j, ((&v, &r), &bound)) in x.iter().zip(&back).zip(&rounding).enumerate() {
        let err = (f64::from(v) - r).abs();
        println!("  feature {j}: |x - x̂| = {err:.2e} <= bound {bound:.2e}");
        // The bound is exact (half a step); allow for the f64 rounding of x̂.
        assert!(err <= bound * (1.0 + 1e-9));
    }

    // A small network, quantized with 8-bit per-channel weights.
    let layers = vec![
        (
            "dense0".to_string(),
            FloatLayer::Linear(FloatLinear::new(
                vec![
                    0.5, -0.25, 1.0, 0.75, //
                    -0.6, 0.3, 0.2, -0.1, //
                    0.05, 0.4, -0.8, 0.6,
                ],
                vec![0.1, 0.0, -0.2],
                3,
                4,
            )?),
        ),
        (
            "act".to_string(),
            FloatLayer::Polynomial(FloatPolynomial::square()),
        ),
        (
            "dense1".to_string(),
            FloatLayer::Linear(FloatLinear::new(
                vec![1.0, -1.0, 0.5, 0.25, 0.5, -0.75],
                vec![0.0, 0.1],
                2,
                3,
            )?),
        ),
    ];
    let quantized = quantize_layers(&layers, &input, &WeightQuantization::per_output_channel(8)?)?;
    let floats: Vec<FloatLayer> = layers.iter().map(|(_, l)| l.clone()).collect();

    // The plaintext modulus the integer network needs.
    let bounds = analyze_bounds(&quantized, &input.interval())?;
    println!(
        "integer network needs a {}-bit plaintext modulus",
        bounds.required_plaintext_bits()
    );

    // The rigorous bound against the measured error on the training samples.
    let report = error_bound(&floats, &quantized, &input, &input.fitted_range())?;
    let mut worst: f64 = 0.0;
    for sample in &train {
        let float = evaluate_float_layers(
            &floats,
            &sample.iter().map(|&v| v.into()).collect::<Vec<f64>>(),
        )?;
        let integer = evaluate_layers(&quantized, &input.quantize(sample)?)?;
        let real = quantized[quantized.len() - 1]
            .layer
            .output_scale()
            .dequantize_f64(&integer)?;
        for (f, r) in float.iter().zip(&real) {
            worst = worst.max((f - r).abs());
        }
    }
    println!(
        "float vs dequantized integer output: measured {worst:.3e} <= bound {:.3e}",
        report.max_output_error()
    );
    assert!(worst <= report.max_output_error());
    Ok(())
}
