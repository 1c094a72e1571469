//! RDP of the Gaussian mechanism on a fixed-size batch sampled without
//! replacement (Wang, Balle, Kasiviswanathan 2019, "Subsampled Rényi
//! Differential Privacy and Analytical Moments Accountant", Theorem 27).
//!
//! Documented on [`rdp_sampled_without_replacement_gaussian`].

use super::poisson::check_order;
use crate::error::{check, check_positive, Result};
use crate::math::{log_add, log_comb, log_sub_sign, LOG_2};

/// Orders above this use the cheap branch (as in the reference).
const MAX_ALPHA_EXACT: u64 = 256;

/// Replaces `vec[0..n]` by the log-magnitudes (and `signs`) of the forward
/// differences `vec[j + 1] − vec[j]` of the numbers `±exp(vec[j])`.
fn inplace_diff_in_log(vec: &mut [f64], signs: &mut [bool], n: usize) {
    for j in 0..n {
        if signs[j] == signs[j + 1] {
            let (s, m) = log_sub_sign(vec[j + 1], vec[j]);
            signs[j] = if signs[j + 1] { s } else { !s };
            vec[j] = m;
        } else {
            vec[j] = log_add(vec[j], vec[j + 1]);
            signs[j] = signs[j + 1];
        }
    }
}

/// Log-magnitudes of the forward differences of order `0..=n+1` of
/// `exp(f(·))` at 0, as computed by the reference (`_get_forward_diffs`).
fn forward_diffs(f: impl Fn(f64) -> f64, n: usize) -> Vec<f64> {
    let mut func_vec = vec![0.0; n + 3];
    let mut signs = vec![true; n + 3];
    let mut deltas = vec![0.0; n + 2];
    for (i, v) in func_vec.iter_mut().enumerate().skip(1) {
        *v = f((i - 1) as f64);
    }
    for (i, d) in deltas.iter_mut().enumerate() {
        inplace_diff_in_log(&mut func_vec, &mut signs, n + 2 - i);
        *d = func_vec[0];
    }
    deltas
}

/// `log A_α` for integer `α` (see [`rdp_sampled_without_replacement_gaussian`]).
fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    if alpha <= 1 {
        return 0.0;
    }
    let two_var = 2.0 * sigma * sigma;
    let cgf = |x: f64| x * (x + 1.0) / two_var;
    let func = |x: f64| x / two_var;
    let a = alpha as f64;
    let logq = q.ln();
    let log4 = 4.0f64.ln();
    let log_f2m1 = func(2.0) + (-(-func(2.0)).exp()).ln_1p();
    let first = 2.0 * logq + log_comb(a, 2.0) + (log4 + log_f2m1).min(func(2.0) + LOG_2);

    let mut log_a = log_add(0.0, first);
    if alpha <= MAX_ALPHA_EXACT {
        // alpha <= 256: the cast is exact.
        let deltas = forward_diffs(cgf, alpha as usize);
        for i in 3..=alpha as usize {
            let lo = deltas[2 * (i / 2) - 1];
            let hi = deltas[2 * i.div_ceil(2) - 1];
            let fi = i as f64;
            let s = (log4 + 0.5 * (lo + hi)).min(LOG_2 + cgf(fi - 1.0));
            log_a = log_add(log_a, s + fi * logq + log_comb(a, fi));
        }
    } else {
        for i in 3..=alpha {
            let fi = i as f64;
            let s = LOG_2 + cgf(fi - 1.0) + fi * logq + log_comb(a, fi);
            log_a = log_add(log_a, s);
        }
    }
    log_a
}

/// RDP `ε(α)` of ONE step of the Gaussian mechanism (noise multiplier `σ`) on
/// a batch of `batch_size` records drawn without replacement from
/// `dataset_size` records, under the replace-one relation.
///
/// A batch of exactly `m` distinct records is drawn uniformly from a dataset
/// of `n` records (`q = m / n`), under the **replace-one** neighbouring
/// relation (`n` public). For integer `α ≥ 2` and the Gaussian mechanism's
/// cumulant generating function `K(λ) = λ(λ + 1) / (2σ²)`:
///
/// ```text
/// A_α = 1 + q² binom(α, 2) min(4 (e^{ε(2)} − 1), 2 e^{ε(2)})
///         + Σ_{j=3}^{α} q^j binom(α, j) min( 4 sqrt(Δ_lo Δ_hi), 2 e^{K(j − 1)} ),
/// ε(α) = log(A_α) / (α − 1),
/// ```
///
/// where `ε(2) = 1/σ²` and `Δ_lo`, `Δ_hi` are the `2⌊j/2⌋`-th and `2⌈j/2⌉`-th
/// forward differences of `exp(K(·))` at 0. For `α > 256` only the second
/// argument of each `min` is used (cheaper, still an upper bound). Fractional
/// orders interpolate the CGF `(α − 1) ε(α)` linearly between `⌊α⌋` and `⌈α⌉`
/// (WBK 2019, Corollary 10), which is again an upper bound. `q = 1` gives the
/// Gaussian mechanism `α / (2σ²)`.
///
/// The computation follows `dp_accounting.rdp` step for step (including the
/// log-space forward differences), so its fixtures are matched.
///
/// # Errors
/// [`crate::DpError::InvalidParameter`] when `batch_size` is 0 or exceeds
/// `dataset_size`, `σ ≤ 0` or not finite, or the order is outside `(1, 1e6]`.
pub fn rdp_sampled_without_replacement_gaussian(
    dataset_size: u64,
    batch_size: u64,
    noise_multiplier: f64,
    order: f64,
) -> Result<f64> {
    check_sizes(dataset_size, batch_size)?;
    check_positive("noise_multiplier", noise_multiplier)?;
    check_order(order)?;
    Ok(rdp_unchecked(
        batch_size as f64 / dataset_size as f64,
        noise_multiplier,
        order,
    ))
}

/// Checks `0 < batch_size <= dataset_size`.
pub(crate) fn check_sizes(dataset_size: u64, batch_size: u64) -> Result<()> {
    check(dataset_size > 0, "dataset_size", dataset_size as f64, "> 0")?;
    check(
        batch_size > 0 && batch_size <= dataset_size,
        "batch_size",
        batch_size as f64,
        "in [1, dataset_size]",
    )
}

/// Unchecked version (`q = m / n ∈ (0, 1]`, valid `σ` and order).
pub(crate) fn rdp_unchecked(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    if alpha.fract() == 0.0 {
        // alpha <= 1e6: exact cast.
        log_a_int(q, sigma, alpha as u64) / (alpha - 1.0)
    } else {
        let lo = alpha.floor();
        let hi = alpha.ceil();
        let x = log_a_int(q, sigma, lo as u64);
        let y = log_a_int(q, sigma, hi as u64);
        let t = alpha - lo;
        ((1.0 - t) * x + t * y) / (alpha - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_differences_match_direct_computation() {
        // The reference lays out (1, e^{f(0)}, e^{f(1)}, ...) and deltas[i] is
        // log |Δ^{i+1}| of that sequence at 0. Recompute directly in f64.
        let f = |x: f64| 0.3 * x * x;
        let n = 4;
        let d = forward_diffs(f, n);
        let mut v: Vec<f64> = std::iter::once(1.0)
            .chain((0..n + 2).map(|i| f(i as f64).exp()))
            .collect();
        for (i, got) in d.iter().enumerate() {
            v = v.windows(2).map(|w| w[1] - w[0]).collect();
            let want = v[0].abs().ln();
            if want.is_finite() {
                assert!((got - want).abs() < 1e-9, "delta {i}: {got} vs {want}");
            } else {
                assert_eq!(*got, f64::NEG_INFINITY, "delta {i}");
            }
        }
        // Values printed by dp_accounting 0.6.0 for the same input.
        assert!((d[1] - (-1.0502256128148466)).abs() < 1e-12);
        assert!((d[5] - 7.1317156397172115).abs() < 1e-12);
    }

    #[test]
    fn matches_reference_scalars() {
        // dp_accounting 0.6.0 `_compute_rdp_sample_wor_gaussian_scalar(0.01, 1.0, α)`.
        for (alpha, want) in [
            (7.0, 0.002197092036787071),
            (300.0, 145.38174612503053),
            (2.5, 0.0007377513360060864),
        ] {
            let got = rdp_unchecked(0.01, 1.0, alpha);
            assert!(
                (got - want).abs() <= 1e-9 * want,
                "α = {alpha}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn full_batch_is_gaussian() {
        let r = rdp_sampled_without_replacement_gaussian(100, 100, 2.0, 5.0).unwrap();
        assert!((r - 5.0 / 8.0).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(rdp_sampled_without_replacement_gaussian(0, 0, 1.0, 2.0).is_err());
        assert!(rdp_sampled_without_replacement_gaussian(10, 0, 1.0, 2.0).is_err());
        assert!(rdp_sampled_without_replacement_gaussian(10, 11, 1.0, 2.0).is_err());
    }
}
