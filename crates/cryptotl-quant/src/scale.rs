//! [`AffineScale`]: how an integer vector represents a real vector.

use serde::{Deserialize, Serialize};

use crate::error::QuantError;
use crate::util::check_dim;

/// Per-component affine map from integers to reals.
///
/// An integer vector `q` represents the real vector
/// `x[j] ≈ scale[j] * q[j] + offset[j]`. Only the network input has a
/// non-zero offset; every layer output has `offset == 0`.
///
/// A valid scale has `scale.len() == offset.len()`, every `scale[j]` finite
/// and `> 0`, and every `offset[j]` finite (see [`AffineScale::validate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffineScale {
    /// Multiplicative factor per component (finite, `> 0`).
    pub scale: Vec<f64>,
    /// Additive offset per component (finite).
    pub offset: Vec<f64>,
}

impl AffineScale {
    /// Builds a validated scale.
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if the lengths differ,
    /// [`QuantError::InvalidScale`] / [`QuantError::NonFinite`] for bad values.
    pub fn new(scale: Vec<f64>, offset: Vec<f64>) -> Result<Self, QuantError> {
        let s = AffineScale { scale, offset };
        s.validate()?;
        Ok(s)
    }

    /// A validated scale with zero offset.
    ///
    /// # Errors
    /// [`QuantError::InvalidScale`] if a scale is not finite and `> 0`.
    pub fn with_zero_offset(scale: Vec<f64>) -> Result<Self, QuantError> {
        let offset = vec![0.0; scale.len()];
        Self::new(scale, offset)
    }

    /// The same scale for every one of `len` components, zero offset.
    ///
    /// # Errors
    /// [`QuantError::InvalidScale`] if `scale` is not finite and `> 0`.
    pub fn uniform(scale: f64, len: usize) -> Result<Self, QuantError> {
        Self::with_zero_offset(vec![scale; len])
    }

    /// Checks the invariants listed on the type.
    ///
    /// # Errors
    /// See [`AffineScale::new`].
    pub fn validate(&self) -> Result<(), QuantError> {
        check_dim("affine scale offset", self.scale.len(), self.offset.len())?;
        for (j, &s) in self.scale.iter().enumerate() {
            if !(s.is_finite() && s > 0.0) {
                return Err(QuantError::InvalidScale {
                    context: format!("affine scale component {j}"),
                    value: s,
                });
            }
        }
        if let Some(j) = self.offset.iter().position(|o| !o.is_finite()) {
            return Err(QuantError::NonFinite {
                context: format!("affine offset component {j}"),
            });
        }
        Ok(())
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.scale.len()
    }

    /// `true` if there are no components.
    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }

    /// `true` if every offset is exactly zero.
    pub fn has_zero_offset(&self) -> bool {
        self.offset.iter().all(|&o| o == 0.0)
    }

    /// Maps integers back to reals in `f64`: `scale[j] * q[j] + offset[j]`.
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `q.len() != self.len()` or the
    /// scale itself is malformed.
    pub fn dequantize_f64(&self, q: &[i64]) -> Result<Vec<f64>, QuantError> {
        check_dim("affine scale offset", self.scale.len(), self.offset.len())?;
        check_dim("dequantize", self.scale.len(), q.len())?;
        Ok(q.iter()
            .zip(self.scale.iter().zip(&self.offset))
            .map(|(&q, (&s, &o))| s * q as f64 + o)
            .collect())
    }

    /// Maps integers back to reals: `scale[j] * q[j] + offset[j]`, computed in
    /// `f64` and rounded to `f32`.
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `q.len() != self.len()`.
    pub fn dequantize(&self, q: &[i64]) -> Result<Vec<f32>, QuantError> {
        Ok(self
            .dequantize_f64(q)?
            .into_iter()
            .map(|v| v as f32)
            .collect())
    }

    /// `true` if both scales have the same length and every component agrees
    /// within a relative tolerance `rel` (`|a - b| <= rel * max(|a|, |b|)`).
    pub fn approx_eq(&self, other: &AffineScale, rel: f64) -> bool {
        fn close(a: f64, b: f64, rel: f64) -> bool {
            a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
        }
        self.scale.len() == other.scale.len()
            && self.offset.len() == other.offset.len()
            && self
                .scale
                .iter()
                .zip(&other.scale)
                .all(|(&a, &b)| close(a, b, rel))
            && self
                .offset
                .iter()
                .zip(&other.offset)
                .all(|(&a, &b)| close(a, b, rel))
    }
}
