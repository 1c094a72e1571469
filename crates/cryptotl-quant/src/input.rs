//! [`InputQuantizer`]: per-feature min/max input quantization, fitted once on
//! training data and stored with the model.

use serde::{Deserialize, Serialize};

use crate::bounds::Interval;
use crate::error::QuantError;
use crate::error_bound::FloatInterval;
use crate::scale::AffineScale;
use crate::scheme::MAX_BITS;
use crate::util::check_dim;

/// Smallest input bit width.
pub const MIN_INPUT_BITS: u32 = 1;

/// Unsigned per-feature input quantizer.
///
/// For feature `j` with step `s[j] = (max[j] - min[j]) / (2^bits - 1)`, a
/// value `x` becomes `q = round((x - min[j]) / s[j])` clamped to
/// `[0, 2^bits - 1]` (values outside the fitted range are clamped, i.e.
/// treated as `min`/`max`). A constant feature (`min == max`) has `s = 1` and
/// always `q = 0`. The integer `q` represents `s[j] * q + min[j]`
/// ([`InputQuantizer::input_scale`]).
///
/// The quantizer is fitted once ([`InputQuantizer::fit`]) and never refits:
/// [`InputQuantizer::quantize`] takes `&self`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputQuantizer {
    /// Bit width, in `1..=16`.
    pub bits: u32,
    /// Per-feature minimum seen in the training data.
    pub min: Vec<f32>,
    /// Per-feature maximum seen in the training data.
    pub max: Vec<f32>,
}

impl InputQuantizer {
    /// A validated quantizer from explicit ranges.
    ///
    /// # Errors
    /// [`QuantError::InvalidBits`], [`QuantError::Empty`] (no features),
    /// [`QuantError::DimensionMismatch`], [`QuantError::NonFinite`],
    /// [`QuantError::InvalidRange`] (`min > max`).
    pub fn new(bits: u32, min: Vec<f32>, max: Vec<f32>) -> Result<Self, QuantError> {
        let q = InputQuantizer { bits, min, max };
        q.validate()?;
        Ok(q)
    }

    /// Fits per-feature min/max on training samples (each of the same length).
    ///
    /// # Errors
    /// [`QuantError::InvalidBits`] unless `1 <= bits <= 16`,
    /// [`QuantError::Empty`] for no samples or zero features,
    /// [`QuantError::DimensionMismatch`] for ragged samples,
    /// [`QuantError::NonFinite`] for NaN/infinite values.
    pub fn fit(samples: &[Vec<f32>], bits: u32) -> Result<Self, QuantError> {
        check_input_bits(bits)?;
        let first = samples
            .first()
            .ok_or_else(|| QuantError::Empty("training sample set".into()))?;
        let d = first.len();
        if d == 0 {
            return Err(QuantError::Empty("feature vector".into()));
        }
        let mut min = vec![f32::INFINITY; d];
        let mut max = vec![f32::NEG_INFINITY; d];
        for (n, sample) in samples.iter().enumerate() {
            check_dim(&format!("training sample {n}"), d, sample.len())?;
            for (j, &v) in sample.iter().enumerate() {
                if !v.is_finite() {
                    return Err(QuantError::NonFinite {
                        context: format!("training sample {n}, feature {j}"),
                    });
                }
                min[j] = min[j].min(v);
                max[j] = max[j].max(v);
            }
        }
        Self::new(bits, min, max)
    }

    /// Checks the invariants (bit width, lengths, finite, `min <= max`).
    ///
    /// # Errors
    /// See [`InputQuantizer::new`].
    pub fn validate(&self) -> Result<(), QuantError> {
        check_input_bits(self.bits)?;
        if self.min.is_empty() {
            return Err(QuantError::Empty("feature vector".into()));
        }
        check_dim("input quantizer max", self.min.len(), self.max.len())?;
        for (j, (&lo, &hi)) in self.min.iter().zip(&self.max).enumerate() {
            if !lo.is_finite() || !hi.is_finite() {
                return Err(QuantError::NonFinite {
                    context: format!("input quantizer range of feature {j}"),
                });
            }
            if lo > hi {
                return Err(QuantError::InvalidRange {
                    index: j,
                    min: lo.into(),
                    max: hi.into(),
                });
            }
        }
        Ok(())
    }

    /// Number of features.
    pub fn dim(&self) -> usize {
        self.min.len()
    }

    /// Largest quantized value, `2^bits - 1`.
    pub fn max_level(&self) -> i64 {
        (1i64 << self.bits.min(62)) - 1
    }

    /// Step of feature `j` (`1` for constant features). Assumes `j < dim()`.
    fn step(&self, j: usize) -> f64 {
        let lo = f64::from(self.min[j]);
        let hi = f64::from(self.max[j]);
        if hi > lo {
            (hi - lo) / self.max_level() as f64
        } else {
            1.0
        }
    }

    /// `true` if feature `j` is constant in the training data.
    fn is_constant(&self, j: usize) -> bool {
        self.min[j] >= self.max[j]
    }

    /// Quantizes one sample: `q[j] = clamp(round((x[j] - min[j]) / s[j]), 0, 2^bits - 1)`.
    ///
    /// `±∞` are clamped like any out-of-range value; NaN is an error.
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `x.len() != self.dim()`,
    /// [`QuantError::NonFinite`] for NaN, or a validation error for a
    /// malformed (e.g. hand-edited) quantizer.
    pub fn quantize(&self, x: &[f32]) -> Result<Vec<i64>, QuantError> {
        self.validate()?;
        check_dim("input sample", self.dim(), x.len())?;
        let top = self.max_level();
        x.iter()
            .enumerate()
            .map(|(j, &v)| {
                if v.is_nan() {
                    return Err(QuantError::NonFinite {
                        context: format!("input feature {j}"),
                    });
                }
                if self.is_constant(j) {
                    return Ok(0);
                }
                let r = ((f64::from(v) - f64::from(self.min[j])) / self.step(j)).round();
                // Clamp in f64 first (handles ±∞), then the cast is exact.
                Ok(r.clamp(0.0, top as f64) as i64)
            })
            .collect()
    }

    /// Quantizes a batch of samples.
    ///
    /// # Errors
    /// As [`InputQuantizer::quantize`], for the first failing sample.
    pub fn quantize_batch(&self, xs: &[Vec<f32>]) -> Result<Vec<Vec<i64>>, QuantError> {
        xs.iter().map(|x| self.quantize(x)).collect()
    }

    /// The scale of the quantized input: `scale[j] = s[j]`, `offset[j] = min[j]`.
    pub fn input_scale(&self) -> AffineScale {
        let d = self.min.len().min(self.max.len());
        AffineScale {
            scale: (0..d).map(|j| self.step(j)).collect(),
            offset: self.min[..d].iter().map(|&m| f64::from(m)).collect(),
        }
    }

    /// Dequantizes a quantized sample back to reals (`f64`).
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `q.len() != self.dim()`.
    pub fn dequantize(&self, q: &[i64]) -> Result<Vec<f64>, QuantError> {
        self.input_scale().dequantize_f64(q)
    }

    /// The integer interval of every quantized input: `[0, 2^bits - 1]` per
    /// feature (conservative for constant features, which always give `0`;
    /// [`InputQuantizer::interval_for`] is tight).
    pub fn interval(&self) -> Vec<Interval> {
        let top = i128::from(self.max_level());
        vec![Interval { lo: 0, hi: top }; self.min.len().min(self.max.len())]
    }

    /// The fitted real range `[min[j], max[j]]` of every feature.
    pub fn fitted_range(&self) -> Vec<FloatInterval> {
        self.min
            .iter()
            .zip(&self.max)
            .map(|(&lo, &hi)| FloatInterval {
                lo: lo.into(),
                hi: hi.into(),
            })
            .collect()
    }

    /// The integer interval reached by quantizing any real input inside
    /// `range` (quantization is monotone, so this quantizes the endpoints).
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`], [`QuantError::NonFinite`] or
    /// [`QuantError::InvalidRange`] for a malformed range.
    pub fn interval_for(&self, range: &[FloatInterval]) -> Result<Vec<Interval>, QuantError> {
        self.validate()?;
        check_dim("input range", self.dim(), range.len())?;
        let top = self.max_level();
        range
            .iter()
            .enumerate()
            .map(|(j, r)| {
                r.validate(j)?;
                if self.is_constant(j) {
                    return Ok(Interval { lo: 0, hi: 0 });
                }
                let min = f64::from(self.min[j]);
                let s = self.step(j);
                let q = |v: f64| ((v - min) / s).round().clamp(0.0, top as f64) as i128;
                Ok(Interval {
                    lo: q(r.lo),
                    hi: q(r.hi),
                })
            })
            .collect()
    }

    /// Worst-case `|x - x̂|` per feature over real inputs `x` in `range`,
    /// where `x̂ = s q + min` is the dequantized value:
    /// `max(h[j], min[j] - lo[j], hi[j] - max[j])` with `h[j] = s[j] / 2`
    /// (`0` for a constant feature, which always reconstructs to `min[j]`).
    ///
    /// # Errors
    /// As [`InputQuantizer::interval_for`].
    pub fn rounding_error(&self, range: &[FloatInterval]) -> Result<Vec<f64>, QuantError> {
        self.validate()?;
        check_dim("input range", self.dim(), range.len())?;
        range
            .iter()
            .enumerate()
            .map(|(j, r)| {
                r.validate(j)?;
                let min = f64::from(self.min[j]);
                let max = f64::from(self.max[j]);
                let half = if self.is_constant(j) {
                    0.0
                } else {
                    self.step(j) / 2.0
                };
                Ok(half.max(min - r.lo).max(r.hi - max))
            })
            .collect()
    }
}

fn check_input_bits(bits: u32) -> Result<(), QuantError> {
    if (MIN_INPUT_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(QuantError::InvalidBits {
            what: "input",
            bits,
            min: MIN_INPUT_BITS,
            max: MAX_BITS,
        })
    }
}
