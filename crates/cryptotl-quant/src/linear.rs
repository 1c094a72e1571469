//! Dense (fully connected) layers: the float [`FloatLinear`] and its exact
//! integer counterpart [`QuantizedLinear`].

use serde::{Deserialize, Serialize};

use crate::error::QuantError;
use crate::error_bound::FloatInterval;
use crate::scale::AffineScale;
use crate::scheme::{Granularity, WeightQuantization};
use crate::util::{check_dim, check_finite_f32, overflow, round_to_i64, to_i64};

/// A float dense layer `y = W x + b` with `W` of shape `rows x cols`
/// (row-major) and `b` of length `rows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatLinear {
    /// Number of outputs.
    pub rows: usize,
    /// Number of inputs.
    pub cols: usize,
    /// Row-major weights, `rows * cols` values.
    pub weights: Vec<f32>,
    /// Bias, `rows` values.
    pub bias: Vec<f32>,
}

impl FloatLinear {
    /// A validated float layer.
    ///
    /// # Errors
    /// [`QuantError::Empty`], [`QuantError::DimensionMismatch`], [`QuantError::NonFinite`].
    pub fn new(
        weights: Vec<f32>,
        bias: Vec<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<Self, QuantError> {
        let l = FloatLinear {
            rows,
            cols,
            weights,
            bias,
        };
        l.validate()?;
        Ok(l)
    }

    /// Checks shapes and finiteness.
    ///
    /// # Errors
    /// See [`FloatLinear::new`].
    pub fn validate(&self) -> Result<(), QuantError> {
        validate_float_shape(&self.weights, &self.bias, self.rows, self.cols)
    }

    /// Evaluates `W x + b` in `f64`.
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `x.len() != cols` or the layer is malformed.
    pub fn evaluate(&self, x: &[f64]) -> Result<Vec<f64>, QuantError> {
        check_dim(
            "linear weights",
            self.rows.saturating_mul(self.cols),
            self.weights.len(),
        )?;
        check_dim("linear bias", self.rows, self.bias.len())?;
        check_dim("linear input", self.cols, x.len())?;
        Ok((0..self.rows)
            .map(|i| {
                let row = &self.weights[i * self.cols..(i + 1) * self.cols];
                f64::from(self.bias[i])
                    + row
                        .iter()
                        .zip(x)
                        .map(|(&w, &v)| f64::from(w) * v)
                        .sum::<f64>()
            })
            .collect())
    }

    /// Interval image of a box of inputs (f64 interval arithmetic).
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `x.len() != cols`.
    pub fn evaluate_interval(&self, x: &[FloatInterval]) -> Result<Vec<FloatInterval>, QuantError> {
        check_dim(
            "linear weights",
            self.rows.saturating_mul(self.cols),
            self.weights.len(),
        )?;
        check_dim("linear bias", self.rows, self.bias.len())?;
        check_dim("linear input", self.cols, x.len())?;
        Ok((0..self.rows)
            .map(|i| {
                let row = &self.weights[i * self.cols..(i + 1) * self.cols];
                let b = f64::from(self.bias[i]);
                let (mut lo, mut hi) = (b, b);
                for (&w, r) in row.iter().zip(x) {
                    let w = f64::from(w);
                    let (a, c) = (w * r.lo, w * r.hi);
                    lo += a.min(c);
                    hi += a.max(c);
                }
                FloatInterval { lo, hi }
            })
            .collect())
    }

    /// Quantizes this layer (see [`QuantizedLinear::quantize`]).
    ///
    /// # Errors
    /// As [`QuantizedLinear::quantize`].
    pub fn quantize(
        &self,
        input: &AffineScale,
        scheme: &WeightQuantization,
    ) -> Result<QuantizedLinear, QuantError> {
        QuantizedLinear::quantize(
            &self.weights,
            &self.bias,
            self.rows,
            self.cols,
            input,
            scheme,
        )
    }
}

fn validate_float_shape(
    weights: &[f32],
    bias: &[f32],
    rows: usize,
    cols: usize,
) -> Result<(), QuantError> {
    if rows == 0 || cols == 0 {
        return Err(QuantError::Empty(format!("linear layer ({rows} x {cols})")));
    }
    let n = rows
        .checked_mul(cols)
        .ok_or_else(|| overflow("linear layer shape"))?;
    check_dim("linear weights", n, weights.len())?;
    check_dim("linear bias", rows, bias.len())?;
    check_finite_f32(weights, "linear weights")?;
    check_finite_f32(bias, "linear bias")
}

/// An integer dense layer `y = Wq x + bq`, exact.
///
/// Built by [`QuantizedLinear::quantize`] from a float layer `(W, b)` and the
/// [`AffineScale`] `(s_in, o_in)` of its integer input:
///
/// * fold the input scale: `W'[i][j] = W[i][j] * s_in[j]`,
///   `b'[i] = b[i] + Σ_j W[i][j] * o_in[j]`;
/// * symmetric scale `s_w[i] = max|W'[i][.]| / (2^(b_w-1) - 1)` per output
///   channel, or the maximum over the whole matrix per tensor (if the
///   relevant weights are all zero, the bias magnitude is used instead, and
///   `1` if that is zero too);
/// * `Wq = round(W' / s_w)` (so `|Wq| <= 2^(b_w-1) - 1`), `bq[i] = round(b'[i] / s_w[i])`.
///
/// The output represents `y[i] ≈ s_w[i] * (Wq x + bq)[i]`
/// (`output = AffineScale { scale: s_w, offset: 0 }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedLinear {
    /// Number of outputs.
    pub rows: usize,
    /// Number of inputs.
    pub cols: usize,
    /// Row-major integer weights, `rows * cols` values.
    pub weights: Vec<i64>,
    /// Integer bias, `rows` values (in output units).
    pub bias: Vec<i64>,
    /// Scale of the input this layer was quantized for.
    pub input: AffineScale,
    /// Scale of the output: `scale = s_w`, zero offset.
    pub output: AffineScale,
    /// The weight quantization scheme used.
    pub scheme: WeightQuantization,
}

impl QuantizedLinear {
    /// Quantizes the float layer `(weights, bias)` (row-major `rows x cols`)
    /// for an input with scale `input` (see the type docs for the formulas).
    ///
    /// # Errors
    /// [`QuantError::InvalidBits`] for a bad scheme, [`QuantError::Empty`],
    /// [`QuantError::DimensionMismatch`] (`weights`, `bias`, `input` sizes),
    /// [`QuantError::NonFinite`], [`QuantError::InvalidScale`], and
    /// [`QuantError::OutOfRange`] if a quantized bias does not fit `i64`.
    pub fn quantize(
        weights: &[f32],
        bias: &[f32],
        rows: usize,
        cols: usize,
        input: &AffineScale,
        scheme: &WeightQuantization,
    ) -> Result<Self, QuantError> {
        scheme.validate()?;
        validate_float_shape(weights, bias, rows, cols)?;
        input.validate()?;
        check_dim("linear input scale", cols, input.len())?;

        // Fold the input scale into the weights and the offset into the bias.
        let mut folded = Vec::with_capacity(rows * cols);
        let mut folded_bias = Vec::with_capacity(rows);
        for i in 0..rows {
            let row = &weights[i * cols..(i + 1) * cols];
            let mut b = f64::from(bias[i]);
            for (j, &w) in row.iter().enumerate() {
                let w = f64::from(w);
                folded.push(w * input.scale[j]);
                b += w * input.offset[j];
            }
            if !b.is_finite() {
                return Err(QuantError::NonFinite {
                    context: format!("folded bias of row {i}"),
                });
            }
            folded_bias.push(b);
        }
        if let Some(k) = folded.iter().position(|w| !w.is_finite()) {
            return Err(QuantError::NonFinite {
                context: format!("folded weight {k}"),
            });
        }

        let level = scheme.max_level() as f64;
        let row_max = |i: usize| -> f64 {
            folded[i * cols..(i + 1) * cols]
                .iter()
                .fold(0.0, |m, w| m.max(w.abs()))
        };
        let choose = |wmax: f64, bmax: f64| -> f64 {
            if wmax > 0.0 {
                wmax / level
            } else if bmax > 0.0 {
                bmax / level
            } else {
                1.0
            }
        };
        let scales: Vec<f64> = match scheme.granularity {
            Granularity::PerTensor => {
                let wmax = (0..rows).map(row_max).fold(0.0, f64::max);
                let bmax = folded_bias.iter().fold(0.0, |m: f64, b| m.max(b.abs()));
                vec![choose(wmax, bmax); rows]
            }
            Granularity::PerOutputChannel => (0..rows)
                .map(|i| choose(row_max(i), folded_bias[i].abs()))
                .collect(),
        };
        for (i, &s) in scales.iter().enumerate() {
            if !(s.is_finite() && s > 0.0) {
                return Err(QuantError::InvalidScale {
                    context: format!("weight scale of row {i}"),
                    value: s,
                });
            }
        }

        let lvl = scheme.max_level();
        let mut qweights = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for (j, &w) in folded[i * cols..(i + 1) * cols].iter().enumerate() {
                let q = round_to_i64(w / scales[i], || format!("weight [{i}][{j}]"))?;
                // |w / s| <= level up to one ulp; clamp keeps the signed range exact.
                qweights.push(q.clamp(-lvl, lvl));
            }
        }
        let qbias = folded_bias
            .iter()
            .zip(&scales)
            .enumerate()
            .map(|(i, (&b, &s))| round_to_i64(b / s, || format!("bias [{i}]")))
            .collect::<Result<Vec<_>, _>>()?;

        Ok(QuantizedLinear {
            rows,
            cols,
            weights: qweights,
            bias: qbias,
            input: input.clone(),
            output: AffineScale {
                scale: scales,
                offset: vec![0.0; rows],
            },
            scheme: *scheme,
        })
    }

    /// Checks internal consistency (useful after deserialization).
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] / [`QuantError::InvalidScale`] /
    /// [`QuantError::Empty`].
    pub fn validate(&self) -> Result<(), QuantError> {
        if self.rows == 0 || self.cols == 0 {
            return Err(QuantError::Empty(format!(
                "linear layer ({} x {})",
                self.rows, self.cols
            )));
        }
        let n = self
            .rows
            .checked_mul(self.cols)
            .ok_or_else(|| overflow("linear layer shape"))?;
        check_dim("quantized linear weights", n, self.weights.len())?;
        check_dim("quantized linear bias", self.rows, self.bias.len())?;
        self.input.validate()?;
        check_dim("quantized linear input scale", self.cols, self.input.len())?;
        self.output.validate()?;
        check_dim(
            "quantized linear output scale",
            self.rows,
            self.output.len(),
        )
    }

    /// Exact integer evaluation `y = Wq x + bq` (accumulated in `i128`).
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] if `x.len() != cols` (or the layer is
    /// malformed), [`QuantError::Overflow`] if an output does not fit `i64`.
    pub fn evaluate(&self, x: &[i64]) -> Result<Vec<i64>, QuantError> {
        check_dim(
            "quantized linear weights",
            self.rows.saturating_mul(self.cols),
            self.weights.len(),
        )?;
        check_dim("quantized linear bias", self.rows, self.bias.len())?;
        check_dim("quantized linear input", self.cols, x.len())?;
        (0..self.rows)
            .map(|i| {
                let row = &self.weights[i * self.cols..(i + 1) * self.cols];
                let mut acc = i128::from(self.bias[i]);
                for (&w, &v) in row.iter().zip(x) {
                    // i64 * i64 always fits i128; only the sum can overflow.
                    acc = acc
                        .checked_add(i128::from(w) * i128::from(v))
                        .ok_or_else(|| overflow(format!("linear accumulation of row {i}")))?;
                }
                to_i64(acc, || format!("linear output {i} ({acc}) exceeds i64"))
            })
            .collect()
    }

    /// Row `i` of the integer weights (`None` if out of range).
    pub fn row(&self, i: usize) -> Option<&[i64]> {
        self.weights.get(i * self.cols..(i + 1) * self.cols)
    }
}
