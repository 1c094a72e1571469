//! Integer interval analysis: how large can every value of the integer
//! network get, and which plaintext modulus holds it.

use serde::{Deserialize, Serialize};

use crate::error::QuantError;
use crate::layer::{IntegerLayer, NamedLayer};
use crate::linear::QuantizedLinear;
use crate::polynomial::{eval_i128, QuantizedPolynomial};
use crate::util::{check_dim, overflow};

/// Name used for the network input in [`BoundReport`] and
/// [`QuantError::PlaintextModulusTooSmall`].
pub const INPUT_LAYER_NAME: &str = "<input>";

/// A closed integer interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end (inclusive).
    pub lo: i128,
    /// Upper end (inclusive).
    pub hi: i128,
}

impl Interval {
    /// `[lo, hi]`.
    ///
    /// # Errors
    /// [`QuantError::InvalidInterval`] if `lo > hi`.
    pub fn new(lo: i128, hi: i128) -> Result<Self, QuantError> {
        let i = Interval { lo, hi };
        i.validate(0)?;
        Ok(i)
    }

    /// The single point `[v, v]`.
    pub fn point(v: i128) -> Self {
        Interval { lo: v, hi: v }
    }

    /// `max(|lo|, |hi|)`.
    pub fn max_abs(&self) -> u128 {
        self.lo.unsigned_abs().max(self.hi.unsigned_abs())
    }

    /// `true` if `lo <= v <= hi`.
    pub fn contains(&self, v: i128) -> bool {
        self.lo <= v && v <= self.hi
    }

    fn validate(&self, index: usize) -> Result<(), QuantError> {
        if self.lo <= self.hi {
            Ok(())
        } else {
            Err(QuantError::InvalidInterval {
                index,
                lo: self.lo,
                hi: self.hi,
            })
        }
    }
}

/// Bounds of one layer's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerBound {
    /// Layer name.
    pub name: String,
    /// Largest absolute output value, `max_i intervals[i].max_abs()`.
    pub max_abs: u128,
    /// Interval of every output.
    pub intervals: Vec<Interval>,
}

/// Result of [`analyze_bounds`]: the interval of every value of the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundReport {
    /// The input intervals the analysis started from (named [`INPUT_LAYER_NAME`]).
    pub input: LayerBound,
    /// One entry per layer, in order.
    pub layers: Vec<LayerBound>,
}

impl BoundReport {
    /// Largest absolute value anywhere (input and every layer output).
    pub fn max_abs(&self) -> u128 {
        self.all().map(|l| l.max_abs).max().unwrap_or(0)
    }

    /// Intervals of the network output (the last layer, or the input if there
    /// are no layers).
    pub fn output(&self) -> &LayerBound {
        self.layers.last().unwrap_or(&self.input)
    }

    /// Smallest bit width `b` such that every prime `t >= 2^(b-1)` satisfies
    /// `t > 2 * max_abs` (centered decoding holds `[-(t-1)/2, (t-1)/2]`):
    /// `b = bitlen(2 * max_abs) + 1`.
    pub fn required_plaintext_bits(&self) -> u32 {
        let m = self.max_abs();
        match m.checked_mul(2) {
            Some(two_m) => (u128::BITS - two_m.leading_zeros()) + 1,
            None => u128::BITS + 1,
        }
    }

    /// Checks that the plaintext modulus `t` holds every value with centered
    /// decoding, i.e. `t > 2 * max_abs` for the input and every layer.
    ///
    /// # Errors
    /// [`QuantError::PlaintextModulusTooSmall`] naming the first entry (the
    /// input, named [`INPUT_LAYER_NAME`], then the layers in order) whose bound
    /// does not fit.
    pub fn check_plaintext_modulus(&self, t: u64) -> Result<(), QuantError> {
        for l in self.all() {
            let fits = l
                .max_abs
                .checked_mul(2)
                .is_some_and(|two_m| u128::from(t) > two_m);
            if !fits {
                return Err(QuantError::PlaintextModulusTooSmall {
                    layer: l.name.clone(),
                    bound: l.max_abs,
                    modulus: t,
                });
            }
        }
        Ok(())
    }

    fn all(&self) -> impl Iterator<Item = &LayerBound> {
        std::iter::once(&self.input).chain(&self.layers)
    }
}

/// Propagates integer intervals through the layers (exact interval
/// arithmetic in checked `i128`).
///
/// A linear layer maps `[lo_j, hi_j]` to
/// `bq[i] + Σ_j [min(w lo_j, w hi_j), max(w lo_j, w hi_j)]` with `w = Wq[i][j]`
/// (tight for independent inputs). A polynomial neuron's range is the exact
/// range of the integer quadratic over the integer interval (endpoints and
/// the integers next to the vertex).
///
/// # Errors
/// [`QuantError::InvalidInterval`] for `lo > hi`, and, wrapped in
/// [`QuantError::Layer`] with the layer name: [`QuantError::DimensionMismatch`]
/// (the widths do not chain) or [`QuantError::Overflow`] (`i128` overflow).
pub fn analyze_bounds(
    layers: &[NamedLayer],
    input: &[Interval],
) -> Result<BoundReport, QuantError> {
    for (k, i) in input.iter().enumerate() {
        i.validate(k)?;
    }
    let input = layer_bound(INPUT_LAYER_NAME, input.to_vec());
    let mut out: Vec<LayerBound> = Vec::with_capacity(layers.len());
    for l in layers {
        let prev = out.last().unwrap_or(&input);
        let intervals = match &l.layer {
            IntegerLayer::Linear(q) => linear_bounds(q, &prev.intervals),
            IntegerLayer::Polynomial(p) => polynomial_bounds(p, &prev.intervals),
        }
        .map_err(|e| e.in_layer(&l.name))?;
        out.push(layer_bound(&l.name, intervals));
    }
    Ok(BoundReport { input, layers: out })
}

fn layer_bound(name: &str, intervals: Vec<Interval>) -> LayerBound {
    LayerBound {
        name: name.to_string(),
        max_abs: intervals.iter().map(Interval::max_abs).max().unwrap_or(0),
        intervals,
    }
}

fn linear_bounds(l: &QuantizedLinear, x: &[Interval]) -> Result<Vec<Interval>, QuantError> {
    check_dim(
        "quantized linear weights",
        l.rows.saturating_mul(l.cols),
        l.weights.len(),
    )?;
    check_dim("quantized linear bias", l.rows, l.bias.len())?;
    check_dim("linear input", l.cols, x.len())?;
    (0..l.rows)
        .map(|i| {
            let row = &l.weights[i * l.cols..(i + 1) * l.cols];
            let b = i128::from(l.bias[i]);
            let (mut lo, mut hi) = (b, b);
            let err = || overflow(format!("interval of linear output {i}"));
            for (&w, r) in row.iter().zip(x) {
                let w = i128::from(w);
                let a = w.checked_mul(r.lo).ok_or_else(err)?;
                let c = w.checked_mul(r.hi).ok_or_else(err)?;
                lo = lo.checked_add(a.min(c)).ok_or_else(err)?;
                hi = hi.checked_add(a.max(c)).ok_or_else(err)?;
            }
            Ok(Interval { lo, hi })
        })
        .collect()
}

fn polynomial_bounds(p: &QuantizedPolynomial, x: &[Interval]) -> Result<Vec<Interval>, QuantError> {
    check_dim("polynomial input", p.width(), x.len())?;
    p.coefficients
        .iter()
        .zip(x)
        .enumerate()
        .map(|(i, (c, r))| {
            if c.len() > 3 {
                return Err(QuantError::UnsupportedDegree {
                    degree: c.len() - 1,
                });
            }
            quadratic_range(c, *r)
                .ok_or_else(|| overflow(format!("interval of polynomial neuron {i}")))
        })
        .collect()
}

/// Exact range of `c0 + c1 q + c2 q^2` over the integers of `r` (`None` on overflow).
fn quadratic_range(c: &[i64], r: Interval) -> Option<Interval> {
    let mut candidates = vec![r.lo, r.hi];
    let c1 = i128::from(c.get(1).copied().unwrap_or(0));
    let c2 = i128::from(c.get(2).copied().unwrap_or(0));
    if c2 != 0 {
        // Vertex at -c1 / (2 c2); the integer extremum is at its floor or ceiling.
        let (mut num, mut den) = (-c1, 2 * c2);
        if den < 0 {
            num = -num;
            den = -den;
        }
        let fl = num.div_euclid(den);
        for v in [fl, fl + 1] {
            candidates.push(v.clamp(r.lo, r.hi));
        }
    }
    let mut lo = i128::MAX;
    let mut hi = i128::MIN;
    for q in candidates {
        let v = eval_i128(c, q)?;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Some(Interval { lo, hi })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn quadratic_range_matches_brute_force(
            c0 in -50i64..50, c1 in -50i64..50, c2 in -5i64..5,
            lo in -40i128..40, len in 0i128..40,
        ) {
            let r = Interval { lo, hi: lo + len };
            let c = [c0, c1, c2];
            let got = quadratic_range(&c, r).expect("no overflow at this size");
            let vals: Vec<i128> = (r.lo..=r.hi).map(|q| eval_i128(&c, q).expect("small")).collect();
            prop_assert_eq!(got.lo, *vals.iter().min().expect("non-empty"));
            prop_assert_eq!(got.hi, *vals.iter().max().expect("non-empty"));
        }
    }

    #[test]
    fn quadratic_range_overflow_is_none() {
        let c = [0, 0, i64::MAX];
        let r = Interval {
            lo: 0,
            hi: i128::from(i64::MAX) * 4,
        };
        assert_eq!(quadratic_range(&c, r), None);
    }

    #[test]
    fn required_bits_edges() {
        let mk = |m: u128| BoundReport {
            input: LayerBound {
                name: INPUT_LAYER_NAME.into(),
                max_abs: m,
                intervals: vec![],
            },
            layers: vec![],
        };
        // M = 0: any prime works, b = 1.
        assert_eq!(mk(0).required_plaintext_bits(), 1);
        // M = 255: 2M = 510 < 512 = 2^9, so b = 10.
        assert_eq!(mk(255).required_plaintext_bits(), 10);
        // M = 256: 2M = 512 needs 2^(b-1) > 512, so b = 11.
        assert_eq!(mk(256).required_plaintext_bits(), 11);
        assert_eq!(mk(u128::MAX).required_plaintext_bits(), 129);
        assert!(mk(u128::MAX).check_plaintext_modulus(u64::MAX).is_err());
    }
}
