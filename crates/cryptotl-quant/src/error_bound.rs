//! A rigorous worst-case bound on `|float network - dequantized integer network|`.
//!
//! The formula is documented on [`error_bound`].

use serde::{Deserialize, Serialize};

use crate::bounds::analyze_bounds;
use crate::error::QuantError;
use crate::input::InputQuantizer;
use crate::layer::{FloatLayer, IntegerLayer, NamedLayer};
use crate::linear::{FloatLinear, QuantizedLinear};
use crate::polynomial::{FloatPolynomial, QuantizedPolynomial, MAX_POLYNOMIAL_DEGREE};
use crate::scale::AffineScale;
use crate::util::check_dim;

/// Relative slack applied to final bounds and float intervals.
const REL_SLACK: f64 = 1e-9;
/// Unit roundoff of `f64`.
const EPS: f64 = f64::EPSILON / 2.0;

/// A closed real interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FloatInterval {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

impl FloatInterval {
    /// `[lo, hi]`.
    ///
    /// # Errors
    /// [`QuantError::NonFinite`] or [`QuantError::InvalidRange`] (`lo > hi`).
    pub fn new(lo: f64, hi: f64) -> Result<Self, QuantError> {
        let r = FloatInterval { lo, hi };
        r.validate(0)?;
        Ok(r)
    }

    /// `max(|lo|, |hi|)`.
    pub fn max_abs(&self) -> f64 {
        self.lo.abs().max(self.hi.abs())
    }

    /// `true` if `lo <= v <= hi`.
    pub fn contains(&self, v: f64) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// Errors unless finite with `lo <= hi` (`index` is used in the error).
    pub(crate) fn validate(&self, index: usize) -> Result<(), QuantError> {
        if !self.lo.is_finite() || !self.hi.is_finite() {
            return Err(QuantError::NonFinite {
                context: format!("float interval {index}"),
            });
        }
        if self.lo > self.hi {
            return Err(QuantError::InvalidRange {
                index,
                min: self.lo,
                max: self.hi,
            });
        }
        Ok(())
    }

    fn widen(self) -> Self {
        let m = REL_SLACK * (self.lo.abs() + self.hi.abs());
        FloatInterval {
            lo: self.lo - m,
            hi: self.hi + m,
        }
    }
}

/// Error bound of one layer's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerErrorBound {
    /// Layer name.
    pub name: String,
    /// Per output neuron: `|float output - dequantized integer output| <= per_neuron[i]`.
    pub per_neuron: Vec<f64>,
    /// `max_i per_neuron[i]`.
    pub max: f64,
    /// Range of the float output (`f64` interval arithmetic, widened).
    pub float_range: Vec<FloatInterval>,
}

/// Result of [`error_bound()`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBoundReport {
    /// Per input feature, the bound on `|x - x̂|`.
    pub input: Vec<f64>,
    /// One entry per layer, in order.
    pub layers: Vec<LayerErrorBound>,
}

impl ErrorBoundReport {
    /// Per-neuron bound of the network output (the last layer; the input if there are no layers).
    pub fn output(&self) -> &[f64] {
        self.layers
            .last()
            .map_or(self.input.as_slice(), |l| l.per_neuron.as_slice())
    }

    /// Largest output bound.
    pub fn max_output_error(&self) -> f64 {
        self.output().iter().fold(0.0, |m, &v| m.max(v))
    }
}

/// Worst-case per-layer, per-neuron absolute error (in real, dequantized
/// units) between the float network `float_layers` and the integer network
/// `quantized` (dequantized with each layer's output scale), over all real
/// inputs in the box `input_range`, quantized with `input`.
///
/// The bound uses the actual integer weights and scales of `quantized`, so
/// it holds whatever way they were produced, as long as `quantized[k]` is
/// meant to compute `float_layers[k]` and each integer layer's input is
/// dequantized with the previous layer's output scale.
///
/// # The bound
///
/// Notation for layer `k` (real arithmetic): `x` is the exact float input of
/// the layer, `q` the integer input of the quantized layer and
/// `x̂ = s ⊙ q + o` its dequantized value, where `(s, o)` is the *previous*
/// layer's output [`AffineScale`] (the input quantizer's
/// scale for the first layer). `e_j >= |x_j - x̂_j|` is the bound of the
/// previous layer, `Q_j >= |q_j|` comes from the integer interval analysis
/// ([`analyze_bounds`]) started at the quantized input range, and
/// `X_j >= |x_j|` from `f64` interval arithmetic on the float layers started
/// at the float input range. The layer's own output is dequantized as
/// `ŷ = σ ⊙ (integer output) + ω`.
///
/// * **Input** (feature `j`, fitted `[min, max]`, step `s`, real input range
///   `[lo, hi]`):
///   `e0_j = max(s/2, min - lo, hi - max)`, where `s/2` (rounding) is
///   replaced by `0` for a constant feature; inputs outside the fitted range
///   are clamped, which costs their distance to the range.
/// * **Linear** `y = W x + b`, integer `Wq q + bq` (since
///   `y - ŷ = (W s - σ Wq) q + (b + W o - σ bq - ω) + W (x - x̂)`):
///
///   `E_i = Σ_j |W_ij s_j - σ_i Wq_ij| Q_j`  (weight rounding, incl. the folded input scale)
///   `    + |b_i + Σ_j W_ij o_j - σ_i bq_i - ω_i|`  (bias rounding, incl. the folded input offset)
///   `    + Σ_j |W_ij| e_j`  (propagated input error).
///
///   With the conventions of [`QuantizedLinear`] the
///   first two terms are at most `σ_i/2 · Σ_j Q_j` and `σ_i/2`.
/// * **Polynomial** `p(y) = a0 + a1 y + a2 y^2`, integer
///   `C0 + C1 q + C2 q^2` with output scale `T` (neuron `i`, dropping `i`):
///   `p(x) - ŷ = [p(x) - p(x̂)] + [p(x̂) - T(C0 + C1 q + C2 q^2) - ω]`. The
///   first bracket is `(x - x̂)(a1 + a2 (x + x̂))`, using
///   `|x² - x̂²| <= |x - x̂| (|x| + |x̂|)`; the second is the integer
///   polynomial's coefficient rounding `d2 q² + d1 q + d0` with
///   `d2 = a2 s² - T C2`, `d1 = 2 a2 s o + a1 s - T C1`,
///   `d0 = a2 o² + a1 o + a0 - T C0 - ω`:
///
///   `E = e (|a1| + |a2| (X + X̂)) + |d2| Q² + |d1| Q + |d0|`,
///   `X̂ = min(|s| Q + |o|, X + e) >= |x̂|`.
///
/// The bound is rigorous for exact real arithmetic. It is *evaluated* in
/// `f64`; to cover the rounding of that evaluation every difference carries
/// an extra `4·2^-53·(|a| + |b|)`, every sum of `n` terms an extra
/// `(n + 4)·2^-52` relative to its magnitude, every float interval is widened
/// by `10^-9` of its magnitude, and every final bound is multiplied by
/// `1 + 10^-9` (enough for layers narrower than ~10^6). Comparisons against a
/// float reference computed in `f32` must add that reference's own rounding.
///
/// # Errors
/// [`QuantError::DimensionMismatch`] (layer counts, widths, range length),
/// [`QuantError::LayerKindMismatch`], invalid ranges, [`QuantError::Overflow`]
/// from the interval analysis, [`QuantError::NonFinite`] if the bound is NaN;
/// per-layer errors are wrapped in [`QuantError::Layer`].
pub fn error_bound(
    float_layers: &[FloatLayer],
    quantized: &[NamedLayer],
    input: &InputQuantizer,
    input_range: &[FloatInterval],
) -> Result<ErrorBoundReport, QuantError> {
    input.validate()?;
    check_dim("layer count", float_layers.len(), quantized.len())?;
    check_dim("input range", input.dim(), input_range.len())?;
    for (j, r) in input_range.iter().enumerate() {
        r.validate(j)?;
    }
    let input_err: Vec<f64> = input
        .rounding_error(input_range)?
        .into_iter()
        .map(|e| e * (1.0 + REL_SLACK))
        .collect();
    let bounds = analyze_bounds(quantized, &input.interval_for(input_range)?)?;

    let mut scale = input.input_scale();
    let mut err = input_err.clone();
    let mut range: Vec<FloatInterval> = input_range.to_vec();
    let mut layers = Vec::with_capacity(quantized.len());
    for (k, (f, q)) in float_layers.iter().zip(quantized).enumerate() {
        let wrap = |e: QuantError| e.in_layer(&q.name);
        let q_in: Vec<f64> = if k == 0 {
            &bounds.input
        } else {
            &bounds.layers[k - 1]
        }
        .intervals
        .iter()
        .map(|i| u128_to_f64_up(i.max_abs()))
        .collect();
        let (per_neuron, next_range) = match (f, &q.layer) {
            (FloatLayer::Linear(f), IntegerLayer::Linear(ql)) => {
                let e = linear_error(f, ql, &scale, &err, &q_in).map_err(wrap)?;
                (e, f.evaluate_interval(&range).map_err(wrap)?)
            }
            (FloatLayer::Polynomial(p), IntegerLayer::Polynomial(qp)) => {
                let e = polynomial_error(p, qp, &scale, &err, &q_in, &range).map_err(wrap)?;
                (e, range.iter().map(|&r| p.range_over(r)).collect())
            }
            (f, q) => {
                return Err(QuantError::LayerKindMismatch {
                    index: k,
                    expected: f.kind(),
                    found: q.kind(),
                })
            }
        };
        if per_neuron.iter().any(|v| v.is_nan()) {
            return Err(wrap(QuantError::NonFinite {
                context: "error bound".into(),
            }));
        }
        range = next_range.into_iter().map(FloatInterval::widen).collect();
        scale = q.layer.output_scale().clone();
        layers.push(LayerErrorBound {
            name: q.name.clone(),
            max: per_neuron.iter().fold(0.0, |m, &v| m.max(v)),
            per_neuron: per_neuron.clone(),
            float_range: range.clone(),
        });
        err = per_neuron;
    }
    Ok(ErrorBoundReport {
        input: input_err,
        layers,
    })
}

/// `|a - b|` plus the worst-case `f64` rounding of `a`, `b` and the difference.
fn residual(a: f64, b: f64) -> f64 {
    (a - b).abs() + 4.0 * EPS * (a.abs() + b.abs())
}

/// Smallest `f64 >= m`.
fn u128_to_f64_up(m: u128) -> f64 {
    let f = m as f64;
    if f as u128 >= m || f.is_infinite() {
        f
    } else {
        f.next_up()
    }
}

fn linear_error(
    f: &FloatLinear,
    q: &QuantizedLinear,
    prev: &AffineScale,
    e_in: &[f64],
    q_in: &[f64],
) -> Result<Vec<f64>, QuantError> {
    f.validate()?;
    q.validate()?;
    check_dim("quantized rows vs float rows", f.rows, q.rows)?;
    check_dim("quantized cols vs float cols", f.cols, q.cols)?;
    check_dim("linear input scale", f.cols, prev.len())?;
    let (rows, cols) = (f.rows, f.cols);
    let n_slack = (cols as f64 + 4.0) * 2.0 * EPS;
    Ok((0..rows)
        .map(|i| {
            let sigma = q.output.scale[i];
            let omega = q.output.offset[i];
            let w = &f.weights[i * cols..(i + 1) * cols];
            let wq = &q.weights[i * cols..(i + 1) * cols];
            let mut weight_term = 0.0;
            let mut prop_term = 0.0;
            let mut c = f64::from(f.bias[i]);
            let mut c_mag = c.abs();
            for j in 0..cols {
                let wij = f64::from(w[j]);
                weight_term += residual(wij * prev.scale[j], sigma * wq[j] as f64) * q_in[j];
                prop_term += wij.abs() * e_in[j];
                let t = wij * prev.offset[j];
                c += t;
                c_mag += t.abs();
            }
            let sb = sigma * q.bias[i] as f64;
            c = c - sb - omega;
            c_mag += sb.abs() + omega.abs();
            let bias_term = c.abs() + n_slack * c_mag;
            let sum = weight_term + bias_term + prop_term;
            (sum + n_slack * sum) * (1.0 + REL_SLACK)
        })
        .collect())
}

fn polynomial_error(
    p: &FloatPolynomial,
    q: &QuantizedPolynomial,
    prev: &AffineScale,
    e_in: &[f64],
    q_in: &[f64],
    range: &[FloatInterval],
) -> Result<Vec<f64>, QuantError> {
    p.validate()?;
    q.validate()?;
    check_dim("polynomial width", q.width(), prev.len())?;
    check_dim("polynomial width", q.width(), range.len())?;
    let (a0, a1, a2) = p.quadratic_coefficients();
    let slack = 16.0 * EPS;
    q.coefficients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if c.len() > MAX_POLYNOMIAL_DEGREE + 1 {
                return Err(QuantError::UnsupportedDegree {
                    degree: c.len() - 1,
                });
            }
            let coef = |k: usize| c.get(k).map_or(0.0, |&v| v as f64);
            let (s, o) = (prev.scale[i], prev.offset[i]);
            let t = q.output.scale[i];
            let omega = q.output.offset[i];
            // d2 = a2 s² - T C2
            let d2 = residual(a2 * s * s, t * coef(2));
            // d1 = 2 a2 s o + a1 s - T C1
            let d1_a = 2.0 * a2 * s * o + a1 * s;
            let d1 = residual(d1_a, t * coef(1)) + slack * (2.0 * a2 * s * o).abs();
            // d0 = a2 o² + a1 o + a0 - T C0 - ω
            let d0_a = a2 * o * o + a1 * o + a0;
            let d0_mag = (a2 * o * o).abs() + (a1 * o).abs() + a0.abs();
            let d0 = residual(d0_a, t * coef(0) + omega) + slack * (d0_mag + omega.abs());
            let (qm, xm, e) = (q_in[i], range[i].max_abs(), e_in[i]);
            let xhat = (s.abs() * qm + o.abs()).min(xm + e);
            let prop = e * (a1.abs() + a2.abs() * (xm + xhat));
            let sum = prop + d2 * qm * qm + d1 * qm + d0;
            Ok((sum + slack * sum) * (1.0 + REL_SLACK))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u128_to_f64_rounds_up() {
        for m in [
            0u128,
            1,
            1 << 53,
            (1 << 53) + 1,
            u128::from(u64::MAX),
            u128::MAX,
        ] {
            let f = u128_to_f64_up(m);
            assert!(f >= m as f64);
            if f.is_finite() && f < 3.0e38 {
                assert!(f as u128 >= m, "{m} -> {f}");
            }
        }
        assert_eq!(u128_to_f64_up(7), 7.0);
    }

    #[test]
    fn residual_is_at_least_the_difference() {
        assert!(residual(1.0, 0.25) >= 0.75);
        assert!(residual(0.1 * 3.0, 0.3) > 0.0);
    }
}
