//! `ε` for a DP-SGD run, and the inverse: the smallest noise multiplier that
//! meets a target `ε`.
//!
//! Documented on [`calibrate_noise`].

use super::{default_orders, epsilon_from_rdp, poisson, sample_wor};
use crate::error::{check, check_delta, check_positive, check_sampling_rate, DpError, Result};

/// Relative tolerance of [`calibrate_noise`] on `σ` (1e-7).
pub const CALIBRATION_RTOL: f64 = 1e-7;
/// Smallest noise multiplier the calibration considers.
pub const CALIBRATION_MIN_SIGMA: f64 = 0.05;
/// Largest noise multiplier the calibration considers.
pub const CALIBRATION_MAX_SIGMA: f64 = 1e4;

/// `ε` after `steps` compositions of a mechanism whose one-step RDP at order
/// `α` is `one_step(α)`, on [`default_orders`].
fn epsilon_of(one_step: impl Fn(f64) -> f64, steps: u64, delta: f64) -> Result<f64> {
    let orders = default_orders();
    let c = steps as f64;
    let rdp: Vec<f64> = orders
        .iter()
        .map(|&a| if steps == 0 { 0.0 } else { c * one_step(a) })
        .collect();
    Ok(epsilon_from_rdp(&orders, &rdp, delta)?.0)
}

/// `ε` of `steps` steps of DP-SGD with Poisson sampling at rate `q` and noise
/// multiplier `σ` (noise standard deviation `σ·C` for clipping norm `C`), at
/// the given `δ`, on the default orders:
/// `ε = min_α [ steps · ε_SGM(q, σ, α) + log(1 − 1/α) − (log δ + log α)/(α − 1) ]`.
///
/// # Errors
/// `σ ≤ 0` or not finite, `q ∉ (0, 1]`, `δ ∉ (0, 1)`.
pub fn epsilon_for(
    noise_multiplier: f64,
    sampling_rate: f64,
    steps: u64,
    delta: f64,
) -> Result<f64> {
    check_positive("noise_multiplier", noise_multiplier)?;
    check_sampling_rate(sampling_rate)?;
    check_delta(delta)?;
    epsilon_of(
        |a| poisson::rdp_unchecked(sampling_rate, noise_multiplier, a),
        steps,
        delta,
    )
}

/// `ε` of `steps` steps on fixed-size batches of `batch_size` out of
/// `dataset_size` records sampled without replacement (replace-one relation).
///
/// # Errors
/// Invalid sizes, `σ` or `δ`.
pub fn epsilon_for_fixed_size(
    noise_multiplier: f64,
    dataset_size: u64,
    batch_size: u64,
    steps: u64,
    delta: f64,
) -> Result<f64> {
    check_positive("noise_multiplier", noise_multiplier)?;
    sample_wor::check_sizes(dataset_size, batch_size)?;
    check_delta(delta)?;
    let q = batch_size as f64 / dataset_size as f64;
    epsilon_of(
        |a| sample_wor::rdp_unchecked(q, noise_multiplier, a),
        steps,
        delta,
    )
}

/// Bisection on `σ ∈ [CALIBRATION_MIN_SIGMA, CALIBRATION_MAX_SIGMA]` for the
/// smallest `σ` with `eps(σ) ≤ target`.
fn bisect(target: f64, eps: impl Fn(f64) -> Result<f64>) -> Result<f64> {
    let mut hi = 1.0;
    while eps(hi)? > target {
        hi *= 2.0;
        if hi > CALIBRATION_MAX_SIGMA {
            return Err(DpError::CalibrationFailed(format!(
                "epsilon {target} is not reached with noise multiplier <= {CALIBRATION_MAX_SIGMA}"
            )));
        }
    }
    let mut lo = hi / 2.0;
    while eps(lo)? <= target {
        hi = lo;
        if lo <= CALIBRATION_MIN_SIGMA {
            // Even the smallest noise considered meets the target.
            return Ok(CALIBRATION_MIN_SIGMA);
        }
        lo = (lo / 2.0).max(CALIBRATION_MIN_SIGMA);
    }
    // Invariant: eps(lo) > target >= eps(hi).
    while hi - lo > CALIBRATION_RTOL * hi {
        let mid = 0.5 * (lo + hi);
        if eps(mid)? <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

fn check_target(target_epsilon: f64, steps: u64) -> Result<()> {
    check(
        target_epsilon.is_finite() && target_epsilon > 0.0,
        "target_epsilon",
        target_epsilon,
        "finite and > 0",
    )?;
    check(steps >= 1, "steps", steps as f64, ">= 1")
}

/// The smallest noise multiplier `σ` (up to a relative [`CALIBRATION_RTOL`])
/// such that `steps` steps of Poisson-sampled DP-SGD at rate `q` are
/// `(target_epsilon, δ)`-DP according to [`epsilon_for`].
///
/// `ε(σ)` is non-increasing in `σ`: every `ε_SGM(q, σ, α)` decreases with `σ`
/// and the conversion of [`epsilon_from_rdp`](crate::epsilon_from_rdp) is increasing in each
/// `r_α`. The calibration is therefore a bisection on `σ` (geometric
/// bracketing from `σ = 1`, then halving the bracket), stopped when the
/// bracket `[lo, hi]` satisfies `hi − lo ≤ CALIBRATION_RTOL · hi`. It returns
/// `hi`, so the result always meets the target exactly as computed by
/// [`epsilon_for`] — `epsilon_for(calibrate_noise(ε*, …), …) ≤ ε*` — and lies
/// within a relative `CALIBRATION_RTOL` of the smallest such `σ`.
///
/// The result satisfies `epsilon_for(σ, q, steps, δ) ≤ target_epsilon`. The
/// search range is `[CALIBRATION_MIN_SIGMA, CALIBRATION_MAX_SIGMA]`; if even
/// the smallest value meets the target it is returned.
///
/// # Errors
/// Invalid parameters (`target_epsilon` not finite and `> 0`, `q ∉ (0, 1]`,
/// `δ ∉ (0, 1)`, `steps = 0`); [`DpError::CalibrationFailed`] when
/// `σ = CALIBRATION_MAX_SIGMA` does not meet the target.
pub fn calibrate_noise(
    target_epsilon: f64,
    delta: f64,
    sampling_rate: f64,
    steps: u64,
) -> Result<f64> {
    check_target(target_epsilon, steps)?;
    check_delta(delta)?;
    check_sampling_rate(sampling_rate)?;
    bisect(target_epsilon, |s| {
        epsilon_for(s, sampling_rate, steps, delta)
    })
}

/// [`calibrate_noise`] for fixed-size batches sampled without replacement
/// (see [`epsilon_for_fixed_size`]).
///
/// # Errors
/// As [`calibrate_noise`], plus invalid sizes.
pub fn calibrate_noise_fixed_size(
    target_epsilon: f64,
    delta: f64,
    dataset_size: u64,
    batch_size: u64,
    steps: u64,
) -> Result<f64> {
    check_target(target_epsilon, steps)?;
    check_delta(delta)?;
    sample_wor::check_sizes(dataset_size, batch_size)?;
    bisect(target_epsilon, |s| {
        epsilon_for_fixed_size(s, dataset_size, batch_size, steps, delta)
    })
}
