//! Sentence pooling on tensors: masked mean over tokens, then L2
//! normalization, as sentence-transformers does for all-MiniLM-L6-v2.

use candle_core::{DType, Tensor, D};

use crate::error::{EmbedError, Result};

/// Smallest token count divided by, as in sentence-transformers (`clamp(min=1e-9)`).
const MIN_TOKEN_COUNT: f64 = 1e-9;
/// Smallest norm divided by, as in `torch.nn.functional.normalize`.
const MIN_NORM: f64 = 1e-12;

/// Averages `hidden` (`[batch, tokens, dim]`) over the tokens whose
/// `mask` (`[batch, tokens]`, any dtype, non-zero = real token) is set.
///
/// Masked positions are ignored entirely, even if they hold infinities or
/// NaN. A row without any real token pools to zeros. Returns `[batch, dim]`
/// in the dtype of `hidden`.
///
/// # Errors
///
/// [`EmbedError::InvalidInput`] when the shapes do not fit together.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (batch, tokens, dim) = hidden.dims3().map_err(|_| {
        EmbedError::InvalidInput(format!(
            "hidden states must be [batch, tokens, dim], got {:?}",
            hidden.dims()
        ))
    })?;
    if mask.dims() != [batch, tokens] {
        return Err(EmbedError::InvalidInput(format!(
            "mask shape {:?} does not match hidden states {:?}",
            mask.dims(),
            hidden.dims()
        )));
    }
    let keep = mask.to_dtype(DType::F32)?.ne(0f32)?; // u8, [batch, tokens]
    let kept = keep
        .unsqueeze(2)?
        .broadcast_as((batch, tokens, dim))?
        .where_cond(hidden, &hidden.zeros_like()?)?;
    let sums = kept.sum(1)?; // [batch, dim]
    let counts = keep
        .to_dtype(hidden.dtype())?
        .sum_keepdim(1)? // [batch, 1]
        .maximum(MIN_TOKEN_COUNT)?;
    Ok(sums.broadcast_div(&counts)?)
}

/// Scales every row of `x` (normalizing over the last dimension) to unit
/// Euclidean length; rows shorter than 1e-12 are divided by 1e-12 instead.
///
/// # Errors
///
/// [`EmbedError::InvalidInput`] for a scalar.
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    if x.rank() == 0 {
        return Err(EmbedError::InvalidInput("cannot normalize a scalar".into()));
    }
    let norms = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(MIN_NORM)?;
    Ok(x.broadcast_div(&norms)?)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use proptest::prelude::*;

    use super::*;

    fn tensor3(data: &[f32], shape: (usize, usize, usize)) -> Tensor {
        Tensor::from_vec(data.to_vec(), shape, &Device::Cpu).unwrap()
    }

    fn mask(data: &[u32], shape: (usize, usize)) -> Tensor {
        Tensor::from_vec(data.to_vec(), shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn pools_only_unmasked_tokens() {
        // One sentence, three tokens of dim 2; the last token is padding.
        let hidden = tensor3(&[1.0, 2.0, 3.0, 4.0, 100.0, -100.0], (1, 3, 2));
        let pooled = mean_pool(&hidden, &mask(&[1, 1, 0], (1, 3))).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), vec![vec![2.0, 3.0]]);
    }

    #[test]
    fn masked_non_finite_values_are_ignored() {
        let hidden = tensor3(&[1.0, 2.0, f32::INFINITY, f32::NAN], (1, 2, 2));
        let pooled = mean_pool(&hidden, &mask(&[1, 0], (1, 2))).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), vec![vec![1.0, 2.0]]);
    }

    #[test]
    fn fully_masked_row_pools_to_zero() {
        let hidden = tensor3(&[5.0, 6.0], (1, 1, 2));
        let pooled = mean_pool(&hidden, &mask(&[0], (1, 1))).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), vec![vec![0.0, 0.0]]);
        let normalized = l2_normalize(&pooled).unwrap();
        assert_eq!(normalized.to_vec2::<f32>().unwrap(), vec![vec![0.0, 0.0]]);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let hidden = tensor3(&[0.0; 12], (2, 3, 2));
        assert!(matches!(
            mean_pool(&hidden, &mask(&[1; 4], (2, 2))),
            Err(EmbedError::InvalidInput(_))
        ));
        let flat = Tensor::from_vec(vec![0f32; 6], (2, 3), &Device::Cpu).unwrap();
        assert!(matches!(
            mean_pool(&flat, &mask(&[1; 6], (2, 3))),
            Err(EmbedError::InvalidInput(_))
        ));
    }

    /// Batch, token and dim sizes with a random hidden tensor and mask.
    fn pooling_case() -> impl Strategy<Value = (usize, usize, usize, Vec<f32>, Vec<u32>)> {
        (1usize..4, 1usize..7, 1usize..6).prop_flat_map(|(b, t, d)| {
            (
                Just(b),
                Just(t),
                Just(d),
                prop::collection::vec(-100f32..100f32, b * t * d),
                prop::collection::vec(0u32..2, b * t),
            )
        })
    }

    proptest! {
        #[test]
        fn masked_positions_do_not_matter(
            (b, t, d, data, m) in pooling_case(),
            junk in -1e6f32..1e6f32,
        ) {
            let hidden = tensor3(&data, (b, t, d));
            let mut scrambled = data.clone();
            for (i, value) in scrambled.iter_mut().enumerate() {
                if m[i / d] == 0 {
                    *value = junk;
                }
            }
            let a = mean_pool(&hidden, &mask(&m, (b, t))).unwrap().to_vec2::<f32>().unwrap();
            let scrambled = tensor3(&scrambled, (b, t, d));
            let c = mean_pool(&scrambled, &mask(&m, (b, t))).unwrap().to_vec2::<f32>().unwrap();
            prop_assert_eq!(a, c);
        }

        #[test]
        fn all_ones_mask_is_the_plain_mean(
            (b, t, d, data, _m) in pooling_case(),
        ) {
            let hidden = tensor3(&data, (b, t, d));
            let pooled = mean_pool(&hidden, &mask(&vec![1; b * t], (b, t)))
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let plain = hidden.mean(1).unwrap().to_vec2::<f32>().unwrap();
            for (row, expected) in pooled.iter().zip(&plain) {
                for (x, y) in row.iter().zip(expected) {
                    prop_assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{} vs {}", x, y);
                }
            }
        }

        #[test]
        fn pooled_rows_equal_the_mean_of_kept_tokens(
            (b, t, d, data, m) in pooling_case(),
        ) {
            let pooled = mean_pool(&tensor3(&data, (b, t, d)), &mask(&m, (b, t)))
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (row, out) in pooled.iter().enumerate() {
                let kept: Vec<usize> = (0..t).filter(|&k| m[row * t + k] != 0).collect();
                for (j, &x) in out.iter().enumerate() {
                    let expected = if kept.is_empty() {
                        0.0
                    } else {
                        kept.iter().map(|&k| f64::from(data[(row * t + k) * d + j])).sum::<f64>()
                            / kept.len() as f64
                    };
                    prop_assert!((f64::from(x) - expected).abs() <= 1e-3, "{} vs {}", x, expected);
                }
            }
        }

        #[test]
        fn normalized_rows_have_unit_norm_and_keep_direction(
            rows in (1usize..10, 1usize..5).prop_flat_map(|(d, n)| {
                prop::collection::vec(prop::collection::vec(-50f32..50f32, d), n)
            }),
        ) {
            let (n, d) = (rows.len(), rows[0].len());
            let flat: Vec<f32> = rows.concat();
            let x = Tensor::from_vec(flat, (n, d), &Device::Cpu).unwrap();
            let y = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
            for (input, output) in rows.iter().zip(&y) {
                let norm = input.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
                let out_norm = output.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
                if norm > 1e-6 {
                    prop_assert!((out_norm - 1.0).abs() < 1e-5, "norm {}", out_norm);
                    for (a, b) in input.iter().zip(output) {
                        prop_assert!((f64::from(*a) / norm - f64::from(*b)).abs() < 1e-5);
                    }
                }
            }
        }
    }
}
