//! Log-space helpers shared by the accountants.
//!
//! Everything here mirrors the helpers of `dp_accounting.rdp` so that the
//! Rust accountant reproduces the reference numbers to floating-point
//! accuracy.

use std::f64::consts::{LN_2, PI};

/// `log(exp(x) + exp(y))` without overflow.
pub(crate) fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = if x < y { (x, y) } else { (y, x) };
    if a == f64::NEG_INFINITY {
        return b;
    }
    // exp(a) + exp(b) = (exp(a - b) + 1) exp(b)
    (a - b).exp().ln_1p() + b
}

/// `(sign, log|exp(x) - exp(y)|)`, `sign` true for a non-negative difference.
pub(crate) fn log_sub_sign(x: f64, y: f64) -> (bool, f64) {
    if x > y {
        (true, x + (-(y - x).exp()).ln_1p())
    } else if x < y {
        (false, y + (-(x - y).exp()).ln_1p())
    } else {
        (true, f64::NEG_INFINITY)
    }
}

/// `log |binom(n, k)|` for real `n`, `k` via `lgamma` (which returns `log |Γ|`).
pub(crate) fn log_comb(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// `log(erfc(x))`, accurate also far in the right tail where `erfc`
/// underflows.
///
/// For `erfc(x) > 1e-300` the value is `ln(erfc(x))` (libm's `erfc` keeps full
/// relative precision in the tail). Beyond, the asymptotic expansion
/// `erfc(x) = exp(-x²)/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸)
/// − 945/(32x¹⁰) + …)` is used; there `x > 26`, so the truncation error is
/// below 1e-15 relative.
pub(crate) fn log_erfc(x: f64) -> f64 {
    let r = libm::erfc(x);
    if r > 1e-300 {
        return r.ln();
    }
    let z = 1.0 / (2.0 * x * x);
    // Terms (2k-1)!! (-z)^k, k = 0..5.
    let mut series = 1.0;
    let mut term = 1.0;
    for k in 1..=6u32 {
        term *= -z * f64::from(2 * k - 1);
        series += term;
    }
    -x * x - x.ln() - 0.5 * PI.ln() + series.ln()
}

/// `ln 2`, re-exported for the accountants.
pub(crate) const LOG_2: f64 = LN_2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_add_matches_direct() {
        let v = log_add(1.0f64.ln(), 2.0f64.ln());
        assert!((v - 3.0f64.ln()).abs() < 1e-15);
        assert_eq!(log_add(f64::NEG_INFINITY, 0.5), 0.5);
    }

    #[test]
    fn log_sub_sign_signs() {
        let (s, m) = log_sub_sign(3.0f64.ln(), 1.0f64.ln());
        assert!(s && (m - 2.0f64.ln()).abs() < 1e-15);
        let (s, m) = log_sub_sign(1.0f64.ln(), 3.0f64.ln());
        assert!(!s && (m - 2.0f64.ln()).abs() < 1e-15);
        assert_eq!(log_sub_sign(0.3, 0.3), (true, f64::NEG_INFINITY));
    }

    #[test]
    fn log_comb_integer_and_fractional() {
        assert!((log_comb(10.0, 3.0) - 120.0f64.ln()).abs() < 1e-12);
        // binom(1.5, 3) = 1.5 * 0.5 * (-0.5) / 6 = -0.0625
        assert!((log_comb(1.5, 3.0) - 0.0625f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn log_erfc_matches_high_precision_values() {
        // log(erfc(x)) from mpmath at 40 digits. 26.0 takes the direct
        // branch, the others the asymptotic series.
        assert!(libm::erfc(26.0) > 1e-300 && libm::erfc(26.55) < 1e-300);
        for (x, want) in [
            (26.0, -679.831_199_763_194_3),
            (26.55, -708.754_602_755_117_4),
            (30.0, -903.974_117_110_643_9),
            (100.0, -10_005.177_585_122_665),
            (1e4, -100_000_009.782_705_32),
        ] {
            let got = log_erfc(x);
            assert!(
                (got - want).abs() <= 1e-14 * want.abs(),
                "x = {x}: {got} vs {want}"
            );
        }
        // Large negative arguments: erfc -> 2.
        assert!((log_erfc(-40.0) - LOG_2).abs() < 1e-15);
        assert!((log_erfc(0.0)).abs() < 1e-15);
    }
}
