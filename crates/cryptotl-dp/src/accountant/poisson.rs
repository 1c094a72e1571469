//! RDP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang
//! 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism").
//!
//! Documented on [`rdp_poisson_subsampled_gaussian`].

use super::MAX_ORDER;
use crate::error::{check, check_positive, check_sampling_rate, Result};
use crate::math::{log_add, log_comb, log_erfc, log_sub_sign};

/// Largest number of series terms for a fractional order (as in the reference).
const MAX_STEPS_LOG_A_FRAC: u32 = 1000;

/// `log A_α` for integer `α` and `0 < q < 1`.
fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    let log1mq = (-q).ln_1p();
    let logq = q.ln();
    let a = alpha as f64;
    for i in 0..=alpha {
        let fi = i as f64;
        let log_coef = log_comb(a, fi) + fi * logq + (a - fi) * log1mq;
        let s = log_coef + (fi * fi - fi) / (2.0 * sigma * sigma);
        log_a = log_add(log_a, s);
    }
    log_a
}

/// Above this ratio of negative to positive terms the signed sum of
/// [`log_a_frac`] is too cancellation-prone to trust (its rounding error is
/// amplified by `1 / (1 − ratio)` > 10⁴), and the sum of absolute values — an
/// upper bound on `A_α` — is returned instead.
const MAX_CANCELLATION: f64 = 1.0 - 1e-4;

/// Whether `binom(α, i)` is negative, for fractional `α > 0`: the product
/// `α (α − 1) … (α − i + 1)` has `max(0, i − ⌈α⌉)` negative factors.
fn binom_is_negative(alpha: f64, i: u32) -> bool {
    let negative_factors = f64::from(i) - alpha.ceil();
    negative_factors > 0.0 && negative_factors % 2.0 == 1.0
}

/// `log(pos − neg)` of a signed sum kept as two log-space parts, or the
/// absolute sum `log(pos + neg)` (an upper bound) where the parts cancel to
/// within [`MAX_CANCELLATION`]. Clamped at 0 because `A_α ≥ 1` (a Rényi
/// divergence is non-negative).
fn signed_or_absolute(log_pos: f64, log_neg: f64) -> f64 {
    if log_neg - log_pos > MAX_CANCELLATION.ln() {
        log_add(log_pos, log_neg)
    } else {
        log_sub_sign(log_pos, log_neg).1.max(0.0)
    }
}

/// `log A_α` for fractional `α` and `0 < q < 1`; `+∞` when the series has
/// neither converged nor settled into a decreasing alternating tail within
/// [`MAX_STEPS_LOG_A_FRAC`] terms.
///
/// For `i > α` the binomial coefficients alternate in sign. `dp_accounting`
/// 0.6.0 adds their absolute values, which bounds `A_α` from above but can
/// overshoot it several-fold (q = 0.4, σ = 7.65, α = 1.78: ε(α) 0.0206
/// instead of 0.0049, more than the unsampled Gaussian's 0.0152, and larger
/// than at α = 1.88 although RDP is non-decreasing in α). Here the terms are
/// summed with their signs (positive and negative parts kept apart in log
/// space), which is the series of MTZ 2019 itself (checked against the
/// defining integral in `tests/accountant_quadrature.rs`); only where the two
/// parts cancel to within [`MAX_CANCELLATION`] is the absolute sum used.
///
/// Truncation follows the reference (stop once both parts decrease and are
/// `e^-30` below the running total). Where the reference gives up after
/// [`MAX_STEPS_LOG_A_FRAC`] terms (`+∞`) but the terms are still decreasing
/// in the alternating region (`i > α`, where the tail decays only
/// polynomially when `q` is large), the limit lies between the last two
/// partial sums (Leibniz), so the larger of the two is returned: an upper
/// bound within one term of the limit. Like the reference's truncation rule,
/// this assumes the tail keeps decreasing once it has started to (true
/// asymptotically: the terms decay like `|binom(α, i)| / i`); the quadrature
/// test checks such orders against the integral.
fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let log1mq = (-q).ln_1p();
    let logq = q.ln();
    let log_half = 0.5f64.ln();
    let sqrt2_sigma = std::f64::consts::SQRT_2 * sigma;
    let two_var = 2.0 * sigma * sigma;

    // log of the sums of the positive and of the negative terms (A₀ and A₁
    // share the coefficient's sign, so they are pooled).
    let mut log_pos = f64::NEG_INFINITY;
    let mut log_neg = f64::NEG_INFINITY;
    // The negative part before the latest negative term (for the Leibniz bound).
    let mut log_neg_before = f64::NEG_INFINITY;
    let mut last_s0 = f64::NEG_INFINITY;
    let mut last_s1 = f64::NEG_INFINITY;
    let mut decreasing = false;
    let mut last_negative = false;
    for i in 0..MAX_STEPS_LOG_A_FRAC {
        let fi = f64::from(i);
        let log_coef = log_comb(alpha, fi);
        let j = alpha - fi;

        let log_t0 = log_coef + fi * logq + j * log1mq;
        let log_t1 = log_coef + j * logq + fi * log1mq;

        let log_e0 = log_half + log_erfc((fi - z0) / sqrt2_sigma);
        let log_e1 = log_half + log_erfc((z0 - j) / sqrt2_sigma);

        let log_s0 = log_t0 + (fi * fi - fi) / two_var + log_e0;
        let log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
        let log_s = log_add(log_s0, log_s1);
        last_negative = binom_is_negative(alpha, i);
        if last_negative {
            log_neg_before = log_neg;
            log_neg = log_add(log_neg, log_s);
        } else {
            log_pos = log_add(log_pos, log_s);
        }
        let abs_total = log_add(log_pos, log_neg);

        decreasing = log_s0 < last_s0 && log_s1 < last_s1;
        if decreasing && log_s0.max(log_s1) < abs_total - 30.0 {
            return signed_or_absolute(log_pos, log_neg);
        }
        last_s0 = log_s0;
        last_s1 = log_s1;
    }
    let alternating = f64::from(MAX_STEPS_LOG_A_FRAC) > alpha.ceil() + 2.0;
    if decreasing && alternating {
        // Partial sums alternate around the limit: the one that ends on a
        // positive term is above it.
        let neg = if last_negative {
            log_neg_before
        } else {
            log_neg
        };
        return signed_or_absolute(log_pos, neg);
    }
    f64::INFINITY
}

/// Checks an RDP order: finite, `> 1` and at most [`MAX_ORDER`].
pub(crate) fn check_order(order: f64) -> Result<()> {
    check(
        order.is_finite() && order > 1.0 && order <= MAX_ORDER,
        "order",
        order,
        "finite, > 1 and <= 1e6",
    )
}

/// RDP `ε(α)` of ONE step of the Poisson-subsampled Gaussian mechanism.
///
/// The sampled Gaussian mechanism (SGM) with sampling rate `q` and noise
/// multiplier `σ` (noise standard deviation over ℓ2 sensitivity) satisfies
/// `(α, ε(α))`-RDP under the add-or-remove-one relation with
///
/// ```text
/// ε(α) = log(A_α) / (α − 1),
/// A_α  = E_{z ~ μ0} [ ((1 − q) + q · μ1(z)/μ0(z))^α ],   μ0 = N(0, σ²), μ1 = N(1, σ²).
/// ```
///
/// * Integer `α` (MTZ 2019 §3.3, eq. for integer orders):
///   `A_α = Σ_{i=0}^{α} binom(α, i) (1 − q)^{α−i} q^i exp((i² − i) / (2σ²))`.
/// * Fractional `α` (MTZ 2019 §3.3): `A_α = A_{α,0} + A_{α,1}` with
///   `z₀ = σ² log(1/q − 1) + 1/2` and
///   `A_{α,0} = Σ_i binom(α, i) (1−q)^{α−i} q^i exp((i² − i)/(2σ²)) · erfc((i − z₀)/(√2 σ)) / 2`,
///   `A_{α,1} = Σ_i binom(α, i) (1−q)^i q^{α−i} exp(((α−i)² − (α−i))/(2σ²)) · erfc((z₀ − (α−i))/(√2 σ)) / 2`,
///   the series truncated once both terms decrease and are `e^{-30}` below the
///   running total. For `i > α` the coefficients alternate in sign; they are
///   summed with their signs (see `log_a_frac` for why this departs from
///   `dp_accounting`, which sums absolute values, and for the Leibniz bound
///   used where 1000 terms do not reach the truncation rule).
/// * `q = 1` is the plain Gaussian mechanism: `ε(α) = α / (2σ²)` (Mironov 2017,
///   Proposition 7).
/// * Every `ε(α)` is capped by that unsampled value, which also bounds the
///   sampled mechanism.
///
/// All sums are accumulated in log space. Integer orders follow
/// `dp_accounting.rdp.rdp_privacy_accountant` step for step and match its
/// fixtures to ~1e-10 relative; fractional orders match the defining integral
/// (`tests/accountant_quadrature.rs`) and are never above `dp_accounting`'s.
///
/// `sampling_rate` is `q ∈ (0, 1]` (each record is included independently
/// with probability `q`), `noise_multiplier` is `σ > 0` (noise standard
/// deviation divided by the ℓ2 sensitivity), `order` is `α ∈ (1, 1e6]`. The
/// neighbouring relation is add-or-remove-one (formulas above). The result
/// is finite: at most the unsampled Gaussian's `α / (2σ²)`.
///
/// # Errors
/// [`crate::DpError::InvalidParameter`] for `q ∉ (0, 1]`, `σ ≤ 0` or not
/// finite, or an order outside `(1, 1e6]`.
pub fn rdp_poisson_subsampled_gaussian(
    sampling_rate: f64,
    noise_multiplier: f64,
    order: f64,
) -> Result<f64> {
    check_sampling_rate(sampling_rate)?;
    check_positive("noise_multiplier", noise_multiplier)?;
    check_order(order)?;
    Ok(rdp_unchecked(sampling_rate, noise_multiplier, order))
}

/// [`rdp_poisson_subsampled_gaussian`] without validation (parameters already
/// checked by the caller).
pub(crate) fn rdp_unchecked(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    let log_a = if alpha.fract() == 0.0 {
        // alpha <= MAX_ORDER = 1e6, so the cast is exact.
        log_a_int(q, sigma, alpha as u64)
    } else {
        log_a_frac(q, sigma, alpha)
    };
    // Subsampling never hurts: the sampled mechanism's output distributions
    // are mixtures of the full Gaussian mechanism's, and Rényi divergence is
    // quasi-convex, so the unsampled ε(α) = α / (2σ²) is an upper bound too.
    (log_a / (alpha - 1.0)).min(alpha / (2.0 * sigma * sigma))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_batch_is_the_gaussian_mechanism() {
        let r = rdp_poisson_subsampled_gaussian(1.0, 2.0, 3.0).unwrap();
        assert!((r - 3.0 / 8.0).abs() < 1e-15);
    }

    #[test]
    fn order_two_has_closed_form() {
        // A_2 = (1-q)^2 + 2q(1-q) + q^2 e^{1/σ²} = 1 + q² (e^{1/σ²} − 1).
        let (q, s) = (0.05f64, 1.3f64);
        let expect = (q * q * ((1.0 / (s * s)).exp() - 1.0)).ln_1p();
        let r = rdp_poisson_subsampled_gaussian(q, s, 2.0).unwrap();
        assert!(
            (r - expect).abs() < 1e-13 * expect.abs().max(1.0),
            "{r} vs {expect}"
        );
    }

    #[test]
    fn fractional_order_lies_between_integer_neighbours() {
        // RDP is non-decreasing in the order (Mironov 2017, Proposition 9).
        let (q, s) = (0.01, 1.0);
        let r2 = rdp_unchecked(q, s, 2.0);
        let r25 = rdp_unchecked(q, s, 2.5);
        let r3 = rdp_unchecked(q, s, 3.0);
        assert!(r2 <= r25 && r25 <= r3, "{r2} {r25} {r3}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(rdp_poisson_subsampled_gaussian(0.0, 1.0, 2.0).is_err());
        assert!(rdp_poisson_subsampled_gaussian(1.5, 1.0, 2.0).is_err());
        assert!(rdp_poisson_subsampled_gaussian(0.1, -1.0, 2.0).is_err());
        assert!(rdp_poisson_subsampled_gaussian(0.1, f64::NAN, 2.0).is_err());
        assert!(rdp_poisson_subsampled_gaussian(0.1, 1.0, 1.0).is_err());
        assert!(rdp_poisson_subsampled_gaussian(0.1, 1.0, f64::INFINITY).is_err());
    }
}
