//! Similarity helpers on plain embedding vectors.

use crate::error::{EmbedError, Result};

/// Norms below this count as zero (as in `torch.nn.functional.normalize`).
const MIN_NORM: f64 = 1e-12;

fn same_length(a: &[f32], b: &[f32]) -> Result<()> {
    if a.len() == b.len() {
        Ok(())
    } else {
        Err(EmbedError::InvalidInput(format!(
            "vectors have different lengths {} and {}",
            a.len(),
            b.len()
        )))
    }
}

/// Dot product, accumulated in `f64`.
///
/// # Errors
///
/// [`EmbedError::InvalidInput`] when the lengths differ.
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32> {
    same_length(a, b)?;
    Ok(dot64(a, b) as f32)
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// Euclidean length, accumulated in `f64`.
pub fn l2_norm(v: &[f32]) -> f32 {
    dot64(v, v).sqrt() as f32
}

/// Scales `v` to unit length in place; a (near-)zero vector is left
/// (near-)zero instead of becoming NaN.
pub fn normalize(v: &mut [f32]) {
    let norm = dot64(v, v).sqrt().max(MIN_NORM);
    for x in v.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
}

/// Cosine similarity in `[-1, 1]`; 0 when either vector is zero.
///
/// Embeddings from [`Embedder`](crate::Embedder) already have unit length,
/// so for them this equals [`dot`].
///
/// # Errors
///
/// [`EmbedError::InvalidInput`] when the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32> {
    same_length(a, b)?;
    let denominator = (dot64(a, a).sqrt() * dot64(b, b).sqrt()).max(MIN_NORM);
    Ok((dot64(a, b) / denominator).clamp(-1.0, 1.0) as f32)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 2.0]).unwrap(), 0.0);
        assert_eq!(cosine(&[1.0, 1.0], &[3.0, 3.0]).unwrap(), 1.0);
        assert_eq!(cosine(&[1.0, 1.0], &[-2.0, -2.0]).unwrap(), -1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]).unwrap(), 0.0);
        assert_eq!(l2_norm(&[3.0, 4.0]), 5.0);
        assert_eq!(dot(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), 11.0);
    }

    #[test]
    fn length_mismatch_is_an_error() {
        assert!(matches!(
            cosine(&[1.0], &[1.0, 2.0]),
            Err(EmbedError::InvalidInput(_))
        ));
        assert!(matches!(dot(&[1.0], &[]), Err(EmbedError::InvalidInput(_))));
    }

    #[test]
    fn zero_vector_stays_zero() {
        let mut v = vec![0.0f32; 4];
        normalize(&mut v);
        assert_eq!(v, vec![0.0; 4]);
    }

    proptest! {
        #[test]
        fn normalize_gives_unit_norm(mut v in prop::collection::vec(-1e3f32..1e3f32, 1..64)) {
            prop_assume!(l2_norm(&v) > 1e-3);
            normalize(&mut v);
            prop_assert!((l2_norm(&v) - 1.0).abs() < 1e-5);
        }

        #[test]
        fn cosine_is_scale_invariant_and_symmetric(
            pair in (1usize..32).prop_flat_map(|n| (
                prop::collection::vec(-10f32..10f32, n),
                prop::collection::vec(-10f32..10f32, n),
            )),
            scale in 0.01f32..100f32,
        ) {
            let (a, b) = pair;
            prop_assume!(l2_norm(&a) > 1e-3 && l2_norm(&b) > 1e-3);
            let c = cosine(&a, &b).unwrap();
            prop_assert!((-1.0..=1.0).contains(&c));
            prop_assert!((c - cosine(&b, &a).unwrap()).abs() < 1e-6);
            let scaled: Vec<f32> = a.iter().map(|x| x * scale).collect();
            prop_assert!((c - cosine(&scaled, &b).unwrap()).abs() < 1e-5);
            let (mut na, mut nb) = (a.clone(), b.clone());
            normalize(&mut na);
            normalize(&mut nb);
            prop_assert!((c - dot(&na, &nb).unwrap()).abs() < 1e-5);
        }
    }
}
