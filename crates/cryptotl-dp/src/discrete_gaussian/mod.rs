//! The discrete Gaussian `N_ℤ(0, σ²)`: `P[X = x] ∝ exp(−x² / (2σ²))` on the
//! integers (Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for
//! Differential Privacy"), for integer noise added to quantized features.
//!
//! Documented on [`DiscreteGaussian`].

mod exact;

use crate::accountant::RdpAccountant;
use crate::error::{check, check_delta, check_positive, DpError, Result};
use rand::Rng;

/// Largest supported standard deviation, `2^20`.
pub const MAX_DISCRETE_GAUSSIAN_SIGMA: f64 = 1_048_576.0;
/// Largest supported denominator of `σ²` (and the one used by
/// [`DiscreteGaussian::new`]), `2^16`.
pub const MAX_DISCRETE_GAUSSIAN_DENOMINATOR: u64 = 1 << 16;
/// Largest supported `σ²`, `2^40`.
const MAX_VARIANCE_INT: u64 = 1 << 40;

/// An exact sampler for `N_ℤ(0, σ²)` with `σ² = num / den`.
///
/// # Sampling
/// [`DiscreteGaussian::sample`] is CKS 2020 Algorithm 3: with
/// `t = ⌊σ⌋ + 1`, draw `Y` from the discrete Laplace distribution
/// `P[Y = y] ∝ exp(−|y|/t)` (Algorithm 2) and accept it with probability
/// `exp(−(|Y| − σ²/t)² / (2σ²))` (a `Bernoulli(exp(−γ))` coin from
/// Algorithm 1); otherwise repeat. All arithmetic is on integers (`u128`)
/// with `σ²` a rational `num/den`, so the sampler is exact, with two
/// documented deviations:
///
/// * **Variance rounding.** [`DiscreteGaussian::new`] represents `σ²` as
///   `⌈σ² · 2^16⌉ / 2^16` (computed exactly from the bits of the `f64`), i.e.
///   rounded *up* by less than `2^-16`: the noise is never smaller than
///   requested, so the privacy statement for the requested `σ` holds.
///   [`DiscreteGaussian::from_variance_ratio`] takes `σ² = num/den` exactly.
/// * **Overflow.** Parameters are limited to `σ² ≤ 2^40` (`σ ≤ 2^20`) and
///   `den ≤ 2^16`, so `2·num·den·t² < 2^114`. The acceptance exponent is
///   `γ = (den·t·|Y| − num)² / (2·num·den·t²)`; if its numerator overflows
///   `u128` then `γ > 2^128 / 2^114 = 2^14`, and the candidate is rejected
///   instead of being accepted with probability `exp(−γ) < 2^−23000`. The
///   output distribution therefore differs from `N_ℤ(0, σ²)` by a total
///   variation distance below `2^−23000` (far below any `δ`).
///
/// # Tail bound
/// `N_ℤ(0, σ²)` is `σ²`-subgaussian (CKS 2020: `E[e^{λX}] ≤ e^{λ²σ²/2}`), so
/// `P[|X| ≥ λ] ≤ 2 exp(−λ² / (2σ²))`. [`discrete_gaussian_tail_bound`] returns
/// `B = ⌈σ sqrt(2 ln(2/p))⌉`, for which `P[|X| > B] ≤ p`. With `n`
/// coordinates, a union bound gives `P[max |X_i| > B] ≤ n p`: choose `p` as
/// the total failure probability divided by `n` when sizing a plaintext
/// modulus so that noisy values never wrap.
///
/// # Privacy
/// Adding independent `N_ℤ(0, σ²)` noise to each coordinate of an
/// integer-valued query whose ℓ2 sensitivity is `Δ` (for integer shifts `μ`,
/// `‖μ‖₂ ≤ Δ`) satisfies `½ Δ²/σ²`-concentrated DP (CKS 2020), i.e.
/// `(α, α Δ² / (2σ²))`-RDP for every `α > 1` — the same curve as the
/// continuous Gaussian mechanism (one coordinate:
/// `D_α(N_ℤ(μ, σ²) ‖ N_ℤ(0, σ²)) ≤ α μ² / (2σ²)`; independent coordinates add
/// their Rényi divergences). See [`discrete_gaussian_rdp`] and [`discrete_gaussian_epsilon`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteGaussian {
    num: u64,
    den: u64,
    /// `⌊σ⌋ + 1`, the discrete Laplace scale.
    t: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `⌈x² · 2^16⌉` computed exactly from the bits of a finite `x > 0`, or `None`
/// if it exceeds `u64`.
fn ceil_square_times_2_16(x: f64) -> Option<u64> {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, exp) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    // x = mant · 2^exp, x² · 2^16 = mant² · 2^(2 exp + 16), mant² < 2^106.
    let m2 = u128::from(mant) * u128::from(mant);
    let shift = 2 * exp + 16;
    let v = if shift >= 0 {
        if shift >= 128 || m2.leading_zeros() < shift as u32 {
            return None;
        }
        m2 << shift
    } else {
        let k = (-shift) as u32;
        if k >= 128 {
            1 // 0 < value < 1 rounds up to 1
        } else {
            (m2 >> k) + u128::from(m2 & ((1u128 << k) - 1) != 0)
        }
    };
    u64::try_from(v).ok()
}

impl DiscreteGaussian {
    /// A sampler with standard deviation parameter at least `sigma`:
    /// `σ² = ⌈sigma² · 2^16⌉ / 2^16` (see [`DiscreteGaussian`]).
    ///
    /// # Errors
    /// [`DpError::InvalidParameter`] unless `0 < sigma ≤ 2^20`.
    pub fn new(sigma: f64) -> Result<Self> {
        check(
            sigma.is_finite() && sigma > 0.0 && sigma <= MAX_DISCRETE_GAUSSIAN_SIGMA,
            "sigma",
            sigma,
            "finite, > 0 and <= 2^20",
        )?;
        let num = ceil_square_times_2_16(sigma).ok_or(DpError::InvalidParameter {
            name: "sigma",
            value: sigma,
            expected: "<= 2^20",
        })?;
        Self::from_variance_ratio(num, MAX_DISCRETE_GAUSSIAN_DENOMINATOR)
    }

    /// A sampler with `σ² = num / den` exactly.
    ///
    /// # Errors
    /// [`DpError::InvalidParameter`] unless `num ≥ 1`, `1 ≤ den ≤ 2^16` and
    /// `num / den ≤ 2^40`.
    pub fn from_variance_ratio(num: u64, den: u64) -> Result<Self> {
        check(
            (1..=MAX_DISCRETE_GAUSSIAN_DENOMINATOR).contains(&den),
            "den",
            den as f64,
            "in [1, 2^16]",
        )?;
        check(num >= 1, "num", num as f64, ">= 1")?;
        check(
            num / den < MAX_VARIANCE_INT
                || (num / den == MAX_VARIANCE_INT && num.is_multiple_of(den)),
            "variance",
            num as f64 / den as f64,
            "<= 2^40",
        )?;
        let g = gcd(num, den);
        let (num, den) = (num / g, den / g);
        // ⌊σ⌋ = ⌊sqrt(⌊num/den⌋)⌋.
        let t = (num / den).isqrt() + 1;
        Ok(Self { num, den, t })
    }

    /// `σ²` as the reduced fraction `(num, den)`.
    pub fn variance_ratio(&self) -> (u64, u64) {
        (self.num, self.den)
    }

    /// `σ²` as `f64`.
    pub fn variance(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// `σ` as `f64`.
    pub fn sigma(&self) -> f64 {
        self.variance().sqrt()
    }

    /// One exact sample of `N_ℤ(0, σ²)` (CKS 2020, Algorithm 3).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> i64 {
        let num = u128::from(self.num);
        let den = u128::from(self.den);
        let t = u128::from(self.t);
        // 2·num·den·t² < 2 · 2^56 · 2^16 · (2^20 + 1)² < 2^114: no overflow.
        let denom = 2 * num * den * t * t;
        let dt = den * t;
        loop {
            let Some(y) = exact::discrete_laplace(self.t, rng) else {
                continue;
            };
            // γ = (|Y| − σ²/t)² / (2σ²) = (den·t·|Y| − num)² / (2·num·den·t²).
            let a = dt.checked_mul(u128::from(y.unsigned_abs()));
            let Some(numer) = a.map(|a| a.abs_diff(num)).and_then(|d| d.checked_mul(d)) else {
                // γ > 2^14: accepting has probability < 2^-23000 (see the
                // type documentation); reject.
                continue;
            };
            if exact::bernoulli_exp_neg(numer, denom, rng) {
                return y;
            }
        }
    }

    /// `n` independent samples.
    pub fn sample_vec<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<i64> {
        (0..n).map(|_| self.sample(rng)).collect()
    }

    /// Adds independent samples to `values` in place.
    ///
    /// # Errors
    /// [`DpError::InvalidInput`] if a sum overflows `i64` (then `values` is
    /// left partially noised and must be discarded).
    pub fn add_noise<R: Rng + ?Sized>(&self, values: &mut [i64], rng: &mut R) -> Result<()> {
        for v in values.iter_mut() {
            *v = v
                .checked_add(self.sample(rng))
                .ok_or_else(|| DpError::InvalidInput("noisy value overflows i64".into()))?;
        }
        Ok(())
    }

    /// The bound `B = ⌈σ sqrt(2 ln(2/p))⌉`, which satisfies
    /// `P[|X| > B] ≤ failure_prob` for one sample by the subgaussian tail (see
    /// [`DiscreteGaussian`]; union-bound over coordinates yourself).
    ///
    /// # Errors
    /// `failure_prob ∉ (0, 1)`.
    pub fn tail_bound(&self, failure_prob: f64) -> Result<u64> {
        check(
            failure_prob > 0.0 && failure_prob < 1.0,
            "failure_prob",
            failure_prob,
            "in (0, 1)",
        )?;
        let lambda = (2.0 * self.variance() * (2.0 / failure_prob).ln()).sqrt();
        // lambda ≤ 2^20 · sqrt(2 ln(2/p)) ≤ 2^20 · 38.6 for p ≥ 1e-323: fits.
        // Float error in lambda is ≪ 1; P[|X| > B] = P[|X| ≥ B + 1] and
        // B + 1 exceeds the exact λ, so the bound holds despite rounding.
        Ok(lambda.ceil() as u64)
    }
}

/// `n` independent samples of `N_ℤ(0, σ²)` (with `σ²` rounded up as in
/// [`DiscreteGaussian::new`]).
///
/// # Errors
/// Invalid `sigma` (see [`DiscreteGaussian::new`]).
pub fn discrete_gaussian_samples<R: Rng + ?Sized>(
    n: usize,
    sigma: f64,
    rng: &mut R,
) -> Result<Vec<i64>> {
    Ok(DiscreteGaussian::new(sigma)?.sample_vec(n, rng))
}

/// `B` such that `P[|X| > B] ≤ failure_prob` for `X ~ N_ℤ(0, σ²)` as sampled
/// by [`discrete_gaussian_samples`]`(…, sigma, …)`: `B = ⌈σ sqrt(2 ln(2/p))⌉`.
///
/// # Errors
/// Invalid `sigma` or `failure_prob ∉ (0, 1)`.
pub fn discrete_gaussian_tail_bound(sigma: f64, failure_prob: f64) -> Result<u64> {
    DiscreteGaussian::new(sigma)?.tail_bound(failure_prob)
}

/// RDP of adding `N_ℤ(0, σ²)` noise to every coordinate of an integer query
/// with ℓ2 sensitivity `Δ`: `ε(α) = α Δ² / (2σ²)`.
///
/// # Errors
/// `Δ` or `σ` not finite and `> 0`, or `order ≤ 1` / not finite.
pub fn discrete_gaussian_rdp(sensitivity: f64, sigma: f64, order: f64) -> Result<f64> {
    check_positive("sensitivity", sensitivity)?;
    check_positive("sigma", sigma)?;
    check(
        order.is_finite() && order > 1.0,
        "order",
        order,
        "finite and > 1",
    )?;
    Ok(order * sensitivity * sensitivity / (2.0 * sigma * sigma))
}

/// `ε` at `δ` after `compositions` independent releases with the discrete
/// Gaussian mechanism (sensitivity `Δ`, noise `σ`): the RDP curve
/// `compositions · α Δ² / (2σ²)` on the default orders, converted with
/// [`epsilon_from_rdp`](crate::epsilon_from_rdp).
///
/// # Errors
/// Invalid `Δ`, `σ` or `δ ∉ (0, 1)`.
pub fn discrete_gaussian_epsilon(
    sensitivity: f64,
    sigma: f64,
    compositions: u64,
    delta: f64,
) -> Result<f64> {
    check_positive("sensitivity", sensitivity)?;
    check_positive("sigma", sigma)?;
    check_delta(delta)?;
    let mut acc = RdpAccountant::new();
    acc.compose_gaussian(sigma / sensitivity, compositions)?;
    acc.epsilon(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variance_rounding_is_exact_for_dyadic_sigmas_and_rounds_up_otherwise() {
        assert_eq!(DiscreteGaussian::new(2.0).unwrap().variance_ratio(), (4, 1));
        assert_eq!(DiscreteGaussian::new(0.5).unwrap().variance_ratio(), (1, 4));
        assert_eq!(
            DiscreteGaussian::new(100.0).unwrap().variance_ratio(),
            (10_000, 1)
        );
        let d = DiscreteGaussian::new(1.3).unwrap();
        assert!(d.variance() >= 1.69 && d.variance() < 1.69 + 1.0 / 65536.0);
        // A tiny sigma rounds up to 2^-16.
        assert_eq!(
            DiscreteGaussian::new(1e-300).unwrap().variance_ratio(),
            (1, 65536)
        );
    }

    #[test]
    fn laplace_scale() {
        assert_eq!(DiscreteGaussian::new(2.0).unwrap().t, 3);
        assert_eq!(DiscreteGaussian::new(0.5).unwrap().t, 1);
        assert_eq!(DiscreteGaussian::new(10.0).unwrap().t, 11);
        assert_eq!(DiscreteGaussian::new(9.99).unwrap().t, 10);
    }

    #[test]
    fn parameter_limits() {
        assert!(DiscreteGaussian::new(0.0).is_err());
        assert!(DiscreteGaussian::new(-1.0).is_err());
        assert!(DiscreteGaussian::new(f64::NAN).is_err());
        assert!(DiscreteGaussian::new(MAX_DISCRETE_GAUSSIAN_SIGMA).is_ok());
        assert!(DiscreteGaussian::new(MAX_DISCRETE_GAUSSIAN_SIGMA * 1.0001).is_err());
        assert!(DiscreteGaussian::from_variance_ratio(0, 1).is_err());
        assert!(DiscreteGaussian::from_variance_ratio(1, 0).is_err());
        assert!(
            DiscreteGaussian::from_variance_ratio(1, MAX_DISCRETE_GAUSSIAN_DENOMINATOR + 1)
                .is_err()
        );
        assert!(DiscreteGaussian::from_variance_ratio(MAX_VARIANCE_INT + 1, 1).is_err());
        assert!(DiscreteGaussian::from_variance_ratio(MAX_VARIANCE_INT, 1).is_ok());
    }

    #[test]
    fn largest_sigma_samples_without_overflow() {
        use rand::SeedableRng;
        let d = DiscreteGaussian::new(MAX_DISCRETE_GAUSSIAN_SIGMA).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let b = d.tail_bound(1e-12).unwrap() as i64;
        for _ in 0..200 {
            assert!(d.sample(&mut rng).abs() <= b);
        }
    }
}
