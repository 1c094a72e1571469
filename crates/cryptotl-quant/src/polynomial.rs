//! Polynomial activations: the float [`FloatPolynomial`] and the per-neuron
//! integer [`QuantizedPolynomial`].

use serde::{Deserialize, Serialize};

use crate::error::QuantError;
use crate::error_bound::FloatInterval;
use crate::scale::AffineScale;
use crate::util::{check_dim, check_finite_f64, overflow, round_to_i64, to_i64};

/// Largest supported activation degree (a cubic cannot be evaluated exactly
/// under BFV's 61-bit plaintext limit).
pub const MAX_POLYNOMIAL_DEGREE: usize = 2;

/// A float polynomial activation `p(y) = a0 + a1 y + a2 y^2`, coefficients
/// in ascending order. Trailing zero coefficients are allowed; the degree is
/// that of the highest non-zero coefficient and must be `<= 2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatPolynomial {
    /// Ascending coefficients `[a0, a1, a2]` (shorter is fine).
    pub coefficients: Vec<f64>,
}

impl Default for FloatPolynomial {
    /// The plain square, CryptoTL's activation.
    fn default() -> Self {
        Self::square()
    }
}

impl FloatPolynomial {
    /// A validated polynomial from ascending coefficients.
    ///
    /// # Errors
    /// [`QuantError::NonFinite`], [`QuantError::UnsupportedDegree`] (degree > 2).
    pub fn new(coefficients: Vec<f64>) -> Result<Self, QuantError> {
        let p = FloatPolynomial { coefficients };
        p.validate()?;
        Ok(p)
    }

    /// `p(y) = y^2`.
    pub fn square() -> Self {
        FloatPolynomial {
            coefficients: vec![0.0, 0.0, 1.0],
        }
    }

    /// Checks finiteness and degree `<= 2`.
    ///
    /// # Errors
    /// See [`FloatPolynomial::new`].
    pub fn validate(&self) -> Result<(), QuantError> {
        check_finite_f64(&self.coefficients, "polynomial coefficients")?;
        let d = self.degree();
        if d > MAX_POLYNOMIAL_DEGREE {
            return Err(QuantError::UnsupportedDegree { degree: d });
        }
        Ok(())
    }

    /// Degree (index of the highest non-zero coefficient; `0` for the zero polynomial).
    pub fn degree(&self) -> usize {
        self.coefficients
            .iter()
            .rposition(|&c| c != 0.0)
            .unwrap_or(0)
    }

    /// Coefficient `k` (`0` beyond the stored ones).
    pub fn coefficient(&self, k: usize) -> f64 {
        self.coefficients.get(k).copied().unwrap_or(0.0)
    }

    /// `(a0, a1, a2)`.
    pub fn quadratic_coefficients(&self) -> (f64, f64, f64) {
        (
            self.coefficient(0),
            self.coefficient(1),
            self.coefficient(2),
        )
    }

    /// Evaluates `p(y)` (Horner, all stored coefficients).
    pub fn evaluate(&self, y: f64) -> f64 {
        self.coefficients
            .iter()
            .rev()
            .fold(0.0, |acc, &c| acc * y + c)
    }

    /// Applies `p` to every component.
    pub fn evaluate_vec(&self, y: &[f64]) -> Vec<f64> {
        y.iter().map(|&v| self.evaluate(v)).collect()
    }

    /// Exact range of the quadratic `a0 + a1 y + a2 y^2` over `[lo, hi]`
    /// (endpoints and, if inside, the vertex), computed in `f64`.
    pub fn range_over(&self, r: FloatInterval) -> FloatInterval {
        let (a0, a1, a2) = self.quadratic_coefficients();
        let f = |y: f64| a0 + a1 * y + a2 * y * y;
        let mut lo = f(r.lo).min(f(r.hi));
        let mut hi = f(r.lo).max(f(r.hi));
        if a2 != 0.0 {
            let v = -a1 / (2.0 * a2);
            if v > r.lo && v < r.hi {
                let fv = f(v);
                lo = lo.min(fv);
                hi = hi.max(fv);
            }
        }
        FloatInterval { lo, hi }
    }
}

/// A per-neuron integer polynomial: neuron `i` maps `q` to
/// `C0[i] + C1[i] q + C2[i] q^2`, exactly.
///
/// Built by [`QuantizedPolynomial::quantize`] from a float
/// `p(y) = a0 + a1 y + a2 y^2` and a zero-offset input scale `S`, so that
/// `p(S[i] q) ≈ T[i] * (C2[i] q^2 + C1[i] q + C0[i])`:
///
/// * if `a2 != 0`: `T[i] = |a2| S[i]^2`, `C2 = sign(a2)`,
///   `C1 = round(a1 S[i] / T[i])`, `C0 = round(a0 / T[i])`;
/// * else if `a1 != 0`: `T[i] = |a1| S[i]`, `C1 = sign(a1)`, `C0 = round(a0 / T[i])`;
/// * else: error (constant activation).
///
/// The output scale is `AffineScale { scale: T, offset: 0 }`. For the plain
/// square: `C2 = 1`, `C1 = C0 = 0`, `T = S^2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedPolynomial {
    /// Per-neuron ascending integer coefficients (`[C0, C1, C2]` or `[C0, C1]`).
    pub coefficients: Vec<Vec<i64>>,
    /// Scale of the input this layer was quantized for (zero offset).
    pub input: AffineScale,
    /// Scale of the output: `scale = T`, zero offset.
    pub output: AffineScale,
    /// The float polynomial this was quantized from.
    pub polynomial: FloatPolynomial,
}

impl QuantizedPolynomial {
    /// Quantizes `p` for an input with scale `input` (see the type docs).
    ///
    /// # Errors
    /// [`QuantError::UnsupportedDegree`], [`QuantError::ConstantPolynomial`],
    /// [`QuantError::NonFinite`], [`QuantError::NonZeroOffset`],
    /// [`QuantError::InvalidScale`] (bad input scale or an output scale that
    /// underflows/overflows), [`QuantError::Empty`] (zero neurons),
    /// [`QuantError::OutOfRange`] (a coefficient does not fit `i64`).
    pub fn quantize(p: &FloatPolynomial, input: &AffineScale) -> Result<Self, QuantError> {
        p.validate()?;
        input.validate()?;
        if input.is_empty() {
            return Err(QuantError::Empty("polynomial layer (zero neurons)".into()));
        }
        if let Some((index, &offset)) = input.offset.iter().enumerate().find(|(_, &o)| o != 0.0) {
            return Err(QuantError::NonZeroOffset { index, offset });
        }
        let (a0, a1, a2) = p.quadratic_coefficients();
        if a1 == 0.0 && a2 == 0.0 {
            return Err(QuantError::ConstantPolynomial);
        }
        let mut coefficients = Vec::with_capacity(input.len());
        let mut out_scale = Vec::with_capacity(input.len());
        for (i, &s) in input.scale.iter().enumerate() {
            let t = if a2 != 0.0 {
                a2.abs() * s * s
            } else {
                a1.abs() * s
            };
            if !(t.is_finite() && t > 0.0) {
                return Err(QuantError::InvalidScale {
                    context: format!("polynomial output scale of neuron {i}"),
                    value: t,
                });
            }
            let c0 = round_to_i64(a0 / t, || format!("polynomial C0 of neuron {i}"))?;
            let c = if a2 != 0.0 {
                let c1 = round_to_i64(a1 * s / t, || format!("polynomial C1 of neuron {i}"))?;
                vec![c0, c1, sign(a2)]
            } else {
                vec![c0, sign(a1)]
            };
            coefficients.push(c);
            out_scale.push(t);
        }
        let n = out_scale.len();
        Ok(QuantizedPolynomial {
            coefficients,
            input: input.clone(),
            output: AffineScale {
                scale: out_scale,
                offset: vec![0.0; n],
            },
            polynomial: p.clone(),
        })
    }

    /// Number of neurons (input and output width).
    pub fn width(&self) -> usize {
        self.coefficients.len()
    }

    /// Degree: the longest coefficient list minus one.
    pub fn degree(&self) -> usize {
        self.coefficients
            .iter()
            .map(|c| c.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
    }

    /// Checks internal consistency (useful after deserialization).
    ///
    /// # Errors
    /// [`QuantError::Empty`], [`QuantError::DimensionMismatch`],
    /// [`QuantError::UnsupportedDegree`], [`QuantError::InvalidScale`].
    pub fn validate(&self) -> Result<(), QuantError> {
        if self.coefficients.is_empty() {
            return Err(QuantError::Empty("polynomial layer (zero neurons)".into()));
        }
        if self.degree() > MAX_POLYNOMIAL_DEGREE {
            return Err(QuantError::UnsupportedDegree {
                degree: self.degree(),
            });
        }
        self.input.validate()?;
        self.output.validate()?;
        check_dim("polynomial input scale", self.width(), self.input.len())?;
        check_dim("polynomial output scale", self.width(), self.output.len())
    }

    /// Exact per-neuron evaluation (Horner in `i128`, checked).
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `x.len() != width()`,
    /// [`QuantError::Overflow`] if a value does not fit `i64`.
    pub fn evaluate(&self, x: &[i64]) -> Result<Vec<i64>, QuantError> {
        check_dim("polynomial input", self.width(), x.len())?;
        x.iter()
            .zip(&self.coefficients)
            .enumerate()
            .map(|(i, (&v, c))| {
                let r = eval_i128(c, i128::from(v))
                    .ok_or_else(|| overflow(format!("polynomial of neuron {i}")))?;
                to_i64(r, || format!("polynomial output {i} ({r}) exceeds i64"))
            })
            .collect()
    }
}

/// Horner evaluation of ascending integer coefficients in `i128`; `None` on overflow.
pub(crate) fn eval_i128(coefficients: &[i64], x: i128) -> Option<i128> {
    coefficients.iter().rev().try_fold(0i128, |acc, &c| {
        acc.checked_mul(x)?.checked_add(i128::from(c))
    })
}

fn sign(v: f64) -> i64 {
    if v < 0.0 {
        -1
    } else {
        1
    }
}
