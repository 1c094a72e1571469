//! Fake quantization helpers: the straight-through estimator and per-row
//! symmetric weight quantization mirroring `QuantizedLinear::quantize`, so
//! that what is trained is what is deployed.

use candle_core::{Result, Tensor};

/// The straight-through estimator: the value of `target`, the gradient of
/// `x` (`x + (target − x).detach()`).
pub(crate) fn ste(x: &Tensor, target: &Tensor) -> Result<Tensor> {
    let delta = (target - x)?.detach();
    x + delta
}

/// Symmetric per-row quantization of `w` (`rows x cols`) at `level =
/// 2^(b_w−1) − 1`, as `QuantizedLinear::quantize` with per-output-channel
/// granularity: row scale `s[i] = max_j |w[i][j]| / level` (for an all-zero
/// row `|bias[i]| / level`, then `1`), values `s · clamp(round(w / s))`.
///
/// Returns the dequantized weights and the scales `(rows, 1)`, both detached
/// (no gradient); `bias` (`rows`) only chooses the scale of zero rows. Pass
/// `f64` tensors to reproduce the integer weights exactly.
pub(crate) fn quantize_rows(w: &Tensor, bias: &Tensor, level: f64) -> Result<(Tensor, Tensor)> {
    let w = w.detach();
    let wmax = w.abs()?.max_keepdim(1)?;
    let bmax = bias.detach().abs()?.unsqueeze(1)?;
    let ones = wmax.ones_like()?;
    // A true division (`tensor / f64` would multiply by the reciprocal).
    let levels = (&ones * level)?;
    let from_bias = bmax.gt(0.0)?.where_cond(&bmax.div(&levels)?, &ones)?;
    let scale = wmax
        .gt(0.0)?
        .where_cond(&wmax.div(&levels)?, &from_bias)?
        .maximum(f64::MIN_POSITIVE)?;
    let q = w
        .broadcast_div(&scale)?
        .round()?
        .clamp(-level, level)?
        .broadcast_mul(&scale)?;
    Ok((q, scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use cryptotl_quant::{AffineScale, QuantizedLinear, WeightQuantization};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// `quantize_rows` in f64 reproduces `QuantizedLinear::quantize`'s
        /// scales and integer weights exactly (unit input scale), zero rows
        /// included.
        #[test]
        fn quantize_rows_matches_quantized_linear(
            rows in 1usize..5,
            cols in 1usize..6,
            bits in 2u32..9,
            zero_row in proptest::option::of(0usize..5),
            seed in any::<u64>(),
        ) {
            let val = |i: usize| {
                let h = seed.wrapping_add(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                (((h >> 40) as f64 / (1u64 << 24) as f64) - 0.5) as f32
            };
            let mut w: Vec<f32> = (0..rows * cols).map(val).collect();
            if let Some(z) = zero_row.filter(|&z| z < rows) {
                w[z * cols..(z + 1) * cols].fill(0.0);
            }
            let b: Vec<f32> = (0..rows).map(|i| val(1000 + i)).collect();
            let scheme = WeightQuantization::per_output_channel(bits).expect("valid bits");
            let input = AffineScale::uniform(1.0, cols).expect("valid scale");
            let ql = QuantizedLinear::quantize(&w, &b, rows, cols, &input, &scheme)
                .expect("quantizes");
            let dev = Device::Cpu;
            let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
            let b64: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
            let wt = Tensor::from_vec(w64, (rows, cols), &dev).expect("tensor");
            let bt = Tensor::from_vec(b64, rows, &dev).expect("tensor");
            let (q, s) = quantize_rows(&wt, &bt, scheme.max_level() as f64).expect("runs");
            let q: Vec<f64> = q.flatten_all().and_then(|t| t.to_vec1()).expect("values");
            let s: Vec<f64> = s.flatten_all().and_then(|t| t.to_vec1()).expect("values");
            prop_assert_eq!(&s, &ql.output.scale);
            prop_assert_eq!(q.len(), ql.weights.len());
            for (k, (&qk, &wk)) in q.iter().zip(&ql.weights).enumerate() {
                prop_assert_eq!((qk / s[k / cols]).round() as i64, wk);
            }
        }
    }

    #[test]
    fn ste_has_the_target_value_and_the_identity_gradient() {
        let dev = Device::Cpu;
        let x = Var::from_vec(vec![0.26f32, -0.74, 1.49], 3, &dev).expect("var");
        let target = x.as_tensor().detach().round().expect("rounds");
        let y = ste(x.as_tensor(), &target).expect("runs");
        assert_eq!(y.to_vec1::<f32>().expect("values"), vec![0.0, -1.0, 1.0]);
        let loss = (y * 3.0).and_then(|t| t.sum_all()).expect("sum");
        let grads = loss.backward().expect("backward");
        let g = grads.get(x.as_tensor()).expect("gradient");
        assert_eq!(g.to_vec1::<f32>().expect("values"), vec![3.0, 3.0, 3.0]);
    }
}
