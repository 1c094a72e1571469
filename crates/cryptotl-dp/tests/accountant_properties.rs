//! Properties of the accountant: monotonicity, calibration round trip,
//! parameter validation.

use cryptotl_dp::DpError;
use cryptotl_dp::{
    calibrate_noise, calibrate_noise_fixed_size, epsilon_for, epsilon_for_fixed_size,
    rdp_poisson_subsampled_gaussian, CALIBRATION_RTOL,
};
use proptest::prelude::*;

/// Monotonicity is checked up to this relative slack (float noise in the
/// log-space sums; the reported ε values differ by orders of magnitude more
/// than this whenever the parameters differ by the amounts generated).
const SLACK: f64 = 1e-9;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn epsilon_decreases_in_sigma(
        q in 0.001f64..1.0,
        sigma in 0.6f64..8.0,
        bump in 1.05f64..2.0,
        steps in 1u64..5000,
    ) {
        let lo = epsilon_for(sigma, q, steps, 1e-5).unwrap();
        let hi = epsilon_for(sigma * bump, q, steps, 1e-5).unwrap();
        prop_assert!(hi <= lo * (1.0 + SLACK), "σ={sigma} → {lo}, σ·{bump} → {hi}");
    }

    #[test]
    fn epsilon_increases_in_steps(
        q in 0.001f64..1.0,
        sigma in 0.6f64..8.0,
        steps in 1u64..5000,
        more in 1u64..5000,
    ) {
        let a = epsilon_for(sigma, q, steps, 1e-5).unwrap();
        let b = epsilon_for(sigma, q, steps + more, 1e-5).unwrap();
        prop_assert!(b >= a * (1.0 - SLACK), "T={steps} → {a}, T+{more} → {b}");
    }

    #[test]
    fn epsilon_increases_in_sampling_rate(
        q in 0.001f64..0.5,
        bump in 1.05f64..2.0,
        sigma in 0.6f64..8.0,
        steps in 1u64..5000,
    ) {
        let a = epsilon_for(sigma, q, steps, 1e-5).unwrap();
        let b = epsilon_for(sigma, q * bump, steps, 1e-5).unwrap();
        prop_assert!(b >= a * (1.0 - SLACK), "q={q} → {a}, q·{bump} → {b}");
    }

    #[test]
    fn rdp_increases_in_order(
        q in 0.001f64..1.0,
        sigma in 0.6f64..8.0,
        a in 1.5f64..60.0,
        da in 0.1f64..5.0,
    ) {
        // Mironov 2017, Proposition 9: RDP is non-decreasing in α.
        let r1 = rdp_poisson_subsampled_gaussian(q, sigma, a).unwrap();
        let r2 = rdp_poisson_subsampled_gaussian(q, sigma, a + da).unwrap();
        prop_assert!(r1.is_finite() && r2.is_finite(), "α={a} → {r1}, α+{da} → {r2}");
        prop_assert!(r2 >= r1 * (1.0 - 1e-7), "α={a} → {r1}, α+{da} → {r2}");
    }

    #[test]
    fn subsampling_never_hurts(q in 0.001f64..1.0, sigma in 0.6f64..8.0, a in 1.5f64..64.0) {
        // The subsampled mechanism is at least as private as the full one.
        let sub = rdp_poisson_subsampled_gaussian(q, sigma, a).unwrap();
        let full = a / (2.0 * sigma * sigma);
        prop_assert!(sub.is_finite(), "α={a}: ε(α) = {sub}");
        prop_assert!(sub <= full, "{sub} > {full}");
    }
}

#[test]
fn calibration_round_trip() {
    for &(eps, delta, q, steps) in &[
        (1.0, 1e-5, 0.01, 1000u64),
        (3.0, 1e-5, 0.01, 1000),
        (8.0, 1e-6, 0.004, 10_000),
        (0.5, 1e-5, 0.05, 100),
        (2.0, 1e-5, 1.0, 5),
    ] {
        let sigma = calibrate_noise(eps, delta, q, steps).unwrap();
        let got = epsilon_for(sigma, q, steps, delta).unwrap();
        assert!(got <= eps, "ε(σ={sigma}) = {got} > target {eps}");
        // Tight: a slightly smaller σ overshoots the target...
        let below = epsilon_for(sigma * (1.0 - 2.0 * CALIBRATION_RTOL), q, steps, delta).unwrap();
        assert!(below > eps, "σ not minimal: ε(σ(1−2tol)) = {below} ≤ {eps}");
        // ...and the achieved ε is close to the target.
        assert!(got >= eps * (1.0 - 1e-4), "ε(σ) = {got} is far below {eps}");
    }
}

#[test]
fn fixed_size_calibration_round_trip() {
    let sigma = calibrate_noise_fixed_size(2.0, 1e-5, 60_000, 256, 2000).unwrap();
    let got = epsilon_for_fixed_size(sigma, 60_000, 256, 2000, 1e-5).unwrap();
    assert!((2.0 * (1.0 - 1e-4)..=2.0).contains(&got), "{got}");
}

#[test]
fn zero_steps_cost_nothing() {
    assert_eq!(epsilon_for(1.0, 0.01, 0, 1e-5).unwrap(), 0.0);
}

#[test]
fn unreachable_target_fails_cleanly() {
    // One full-batch Gaussian release cannot reach ε = 1e-6 with σ ≤ 1e4.
    match calibrate_noise(1e-6, 1e-5, 1.0, 1) {
        Err(DpError::CalibrationFailed(_)) => {}
        other => panic!("expected CalibrationFailed, got {other:?}"),
    }
}

fn is_invalid_param<T: std::fmt::Debug>(r: Result<T, DpError>, name: &str) {
    match r {
        Err(DpError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("expected InvalidParameter({name}), got {other:?}"),
    }
}

#[test]
fn invalid_parameters_are_rejected() {
    is_invalid_param(epsilon_for(-1.0, 0.01, 10, 1e-5), "noise_multiplier");
    is_invalid_param(epsilon_for(0.0, 0.01, 10, 1e-5), "noise_multiplier");
    is_invalid_param(epsilon_for(f64::NAN, 0.01, 10, 1e-5), "noise_multiplier");
    is_invalid_param(epsilon_for(1.0, 0.0, 10, 1e-5), "sampling_rate");
    is_invalid_param(epsilon_for(1.0, -0.1, 10, 1e-5), "sampling_rate");
    is_invalid_param(epsilon_for(1.0, 1.5, 10, 1e-5), "sampling_rate");
    is_invalid_param(epsilon_for(1.0, f64::NAN, 10, 1e-5), "sampling_rate");
    is_invalid_param(epsilon_for(1.0, 0.01, 10, 0.0), "delta");
    is_invalid_param(epsilon_for(1.0, 0.01, 10, 1.0), "delta");
    is_invalid_param(epsilon_for(1.0, 0.01, 10, -1e-5), "delta");
    is_invalid_param(calibrate_noise(0.0, 1e-5, 0.01, 10), "target_epsilon");
    is_invalid_param(
        calibrate_noise(f64::INFINITY, 1e-5, 0.01, 10),
        "target_epsilon",
    );
    is_invalid_param(calibrate_noise(1.0, 1e-5, 0.01, 0), "steps");
    is_invalid_param(calibrate_noise(1.0, 2.0, 0.01, 10), "delta");
    is_invalid_param(calibrate_noise(1.0, 1e-5, 0.0, 10), "sampling_rate");
    is_invalid_param(
        epsilon_for_fixed_size(1.0, 100, 200, 10, 1e-5),
        "batch_size",
    );
}
