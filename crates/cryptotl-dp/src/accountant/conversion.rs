//! Conversion from Rényi DP to `(ε, δ)`-DP.
//!
//! Documented on [`epsilon_from_rdp`].

use crate::error::{check, check_delta, DpError, Result};

/// Validates a pair of order/RDP slices.
fn check_curve(orders: &[f64], rdp: &[f64]) -> Result<()> {
    if orders.is_empty() || orders.len() != rdp.len() {
        return Err(DpError::InvalidInput(format!(
            "orders ({}) and rdp ({}) must be non-empty and of equal length",
            orders.len(),
            rdp.len()
        )));
    }
    for &a in orders {
        check(a >= 1.0 && !a.is_nan(), "order", a, ">= 1")?;
    }
    if rdp.iter().any(|r| r.is_nan()) {
        return Err(DpError::InvalidInput("rdp contains NaN".into()));
    }
    Ok(())
}

/// The smallest `ε` such that the RDP curve `(orders[i], rdp[i])` implies
/// `(ε, δ)`-DP, and the order attaining it.
///
/// For a mechanism that is `(α, r_α)`-RDP at every order `α` of a grid, the
/// improved conversion (Balle, Barthe, Gaboardi, Hsu, Sato 2020, "Hypothesis
/// testing interpretations and Rényi differential privacy"; in the form of
/// Canonne, Kamath, Steinke 2020, arXiv:2004.00010v4 Proposition 12, and
/// Asoodeh et al. 2020, arXiv:2001.05990 eq. 20, which `dp_accounting`
/// implements) gives, for every `α > 1`,
///
/// ```text
/// ε = r_α + log(1 − 1/α) − (log δ + log α) / (α − 1),
/// ```
///
/// and the accountant reports the minimum over the grid. This is never worse
/// than Mironov 2017, Proposition 3 (`ε = r_α + log(1/δ)/(α − 1)`). As in
/// `dp_accounting` (whose numbers the fixtures pin):
///
/// * the bound is only used for `α > 1.01` (it is numerically unstable as
///   `α → 1`);
/// * if `δ² > 1 − e^{−r_α}` the KL bound `δ ≤ sqrt(1 − e^{−KL})` already gives
///   `ε = 0` for that order;
/// * a negative `r_α` (numerical noise) is treated as `ε = 0`.
///
/// The dual conversion (`δ` for a given `ε`) uses
/// `log δ = min( ½ log(1 − e^{−r_α}), (α − 1)(r_α − ε + log(1 − 1/α)) − log α )`.
///
/// Returns `ε = +∞` when no order gives a finite bound.
///
/// # Errors
/// [`DpError::InvalidParameter`] for `δ ∉ (0, 1)` or an order below 1;
/// [`DpError::InvalidInput`] for empty or mismatched slices or NaN RDP values.
pub fn epsilon_from_rdp(orders: &[f64], rdp: &[f64], delta: f64) -> Result<(f64, f64)> {
    check_delta(delta)?;
    check_curve(orders, rdp)?;
    let mut best = (f64::INFINITY, orders[0]);
    let mut first = true;
    for (&a, &r) in orders.iter().zip(rdp) {
        let eps = if r < 0.0 || delta * delta + (-r).exp_m1() > 0.0 {
            0.0
        } else if a > 1.01 {
            r + (-1.0 / a).ln_1p() - (delta * a).ln() / (a - 1.0)
        } else {
            f64::INFINITY
        };
        // First minimum wins, like numpy's argmin.
        if first || eps < best.0 {
            best = (eps, a);
            first = false;
        }
    }
    Ok((best.0.max(0.0), best.1))
}

/// The smallest `δ` such that the RDP curve implies `(ε, δ)`-DP, and the
/// order attaining it. `δ` is capped at 1.
///
/// # Errors
/// [`DpError::InvalidParameter`] for a negative or NaN `ε` or an order below
/// 1; [`DpError::InvalidInput`] for empty or mismatched slices or NaN RDP
/// values.
pub fn delta_from_rdp(orders: &[f64], rdp: &[f64], epsilon: f64) -> Result<(f64, f64)> {
    check(epsilon >= 0.0, "epsilon", epsilon, ">= 0")?;
    check_curve(orders, rdp)?;
    let mut best = (f64::INFINITY, orders[0]);
    let mut first = true;
    for (&a, &r) in orders.iter().zip(rdp) {
        let mut log_delta = if r <= 0.0 {
            f64::NEG_INFINITY
        } else {
            0.5 * (-(-r).exp()).ln_1p()
        };
        if a > 1.01 {
            let bound = (a - 1.0) * (r - epsilon + (-1.0 / a).ln_1p()) - a.ln();
            log_delta = log_delta.min(bound);
        }
        if first || log_delta < best.0 {
            best = (log_delta, a);
            first = false;
        }
    }
    Ok((best.0.exp().min(1.0), best.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_mechanism_single_order() {
        // r = α / (2σ²) at α = 10, σ = 1: ε = 5 + ln(0.9) − ln(1e-5 · 10)/9.
        let (eps, order) = epsilon_from_rdp(&[10.0], &[5.0], 1e-5).unwrap();
        let want = 5.0 + 0.9f64.ln() - (1e-4f64).ln() / 9.0;
        assert!((eps - want).abs() < 1e-12);
        assert_eq!(order, 10.0);
    }

    #[test]
    fn improved_bound_beats_mironov() {
        let (eps, _) = epsilon_from_rdp(&[8.0], &[1.0], 1e-6).unwrap();
        let classic = 1.0 + (1e6f64).ln() / 7.0;
        assert!(eps < classic);
    }

    #[test]
    fn delta_and_epsilon_are_inverse() {
        let orders = [2.0, 4.0, 8.0, 16.0, 32.0];
        let rdp: Vec<f64> = orders.iter().map(|a| a / (2.0 * 4.0)).collect();
        let (eps, order) = epsilon_from_rdp(&orders, &rdp, 1e-5).unwrap();
        let (delta, order2) = delta_from_rdp(&orders, &rdp, eps).unwrap();
        assert_eq!(order, order2);
        assert!((delta - 1e-5).abs() < 1e-12, "{delta}");
    }

    #[test]
    fn tiny_rdp_gives_zero_epsilon() {
        let (eps, _) = epsilon_from_rdp(&[2.0], &[1e-12], 1e-5).unwrap();
        assert_eq!(eps, 0.0);
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(epsilon_from_rdp(&[2.0], &[1.0], 0.0).is_err());
        assert!(epsilon_from_rdp(&[2.0], &[1.0], 1.0).is_err());
        assert!(epsilon_from_rdp(&[2.0, 3.0], &[1.0], 1e-5).is_err());
        assert!(epsilon_from_rdp(&[], &[], 1e-5).is_err());
        assert!(epsilon_from_rdp(&[0.5], &[1.0], 1e-5).is_err());
        assert!(epsilon_from_rdp(&[2.0], &[f64::NAN], 1e-5).is_err());
        assert!(delta_from_rdp(&[2.0], &[1.0], -1.0).is_err());
    }
}
