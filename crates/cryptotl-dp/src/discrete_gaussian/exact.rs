//! Exact samplers on rational parameters (Canonne, Kamath, Steinke 2020,
//! "The Discrete Gaussian for Differential Privacy", §5).
//!
//! Only uniform integers and fair coins are drawn from the RNG; every
//! comparison is on integers, so the output distribution is exact (no
//! floating point is involved).

use rand::Rng;

/// `Bernoulli(n / d)` for integers `0 ≤ n ≤ d`, `d ≥ 1`: a uniform integer in
/// `[0, d)` is below `n`.
fn bernoulli_ratio<R: Rng + ?Sized>(n: u128, d: u128, rng: &mut R) -> bool {
    rng.random_range(0..d) < n
}

/// `Bernoulli(exp(−γ))` for `γ = n / d ∈ [0, 1]` (CKS 2020, Algorithm 1,
/// first case): draw `A_k ~ Bernoulli(γ / k)` for `k = 1, 2, …` until the
/// first `A_k = 0`; return whether that `k` is odd. Indeed
/// `P[K > k] = γ^k / k!`, so `P[K odd] = Σ_j (−γ)^j / j! = e^{−γ}`.
/// `Bernoulli(γ / k)` is drawn as `Bernoulli(n/d) ∧ Bernoulli(1/k)` so that no
/// product `d · k` can overflow.
fn bernoulli_exp_neg_le1<R: Rng + ?Sized>(n: u128, d: u128, rng: &mut R) -> bool {
    let mut k: u128 = 1;
    loop {
        let a = bernoulli_ratio(n, d, rng) && bernoulli_ratio(1, k, rng);
        if !a {
            return k % 2 == 1;
        }
        k += 1;
    }
}

/// `Bernoulli(exp(−γ))` for `γ = n / d ≥ 0`, `d ≥ 1` (CKS 2020, Algorithm 1):
/// `exp(−γ) = exp(−1)^{⌊γ⌋} · exp(−(γ − ⌊γ⌋))`, i.e. `⌊γ⌋` independent
/// `Bernoulli(exp(−1))` coins and one `Bernoulli(exp(−frac(γ)))` must all
/// succeed (stopping at the first failure).
pub(crate) fn bernoulli_exp_neg<R: Rng + ?Sized>(n: u128, d: u128, rng: &mut R) -> bool {
    let whole = n / d;
    let frac = n % d;
    let mut i: u128 = 0;
    while i < whole {
        if !bernoulli_exp_neg_le1(1, 1, rng) {
            return false;
        }
        i += 1;
    }
    bernoulli_exp_neg_le1(frac, d, rng)
}

/// Discrete Laplace with scale `t ≥ 1`: `P[Y = y] ∝ exp(−|y| / t)` on ℤ
/// (CKS 2020, Algorithm 2 with `s = 1`). Returns `None` only if the magnitude
/// would not fit in an `i64` (probability below `exp(−2^62 / t)`), which the
/// caller treats as a rejection.
pub(crate) fn discrete_laplace<R: Rng + ?Sized>(t: u64, rng: &mut R) -> Option<i64> {
    loop {
        let u = rng.random_range(0..t);
        if !bernoulli_exp_neg(u128::from(u), u128::from(t), rng) {
            continue;
        }
        // V ~ Geometric(1 − e^{−1}) on {0, 1, …}.
        let mut v: u64 = 0;
        while bernoulli_exp_neg_le1(1, 1, rng) {
            v = v.checked_add(1)?;
        }
        let x = t.checked_mul(v)?.checked_add(u)?;
        let x = i64::try_from(x).ok()?;
        let negative: bool = rng.random();
        if negative && x == 0 {
            continue;
        }
        return Some(if negative { -x } else { x });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Empirical frequency of `bernoulli_exp_neg(n, d)` against `exp(−n/d)`,
    /// within 5 standard errors.
    fn check_rate(n: u128, d: u128) {
        let mut rng = ChaCha20Rng::seed_from_u64(7 + (n as u64) * 31 + d as u64);
        let trials = 200_000u32;
        let hits = (0..trials)
            .filter(|_| bernoulli_exp_neg(n, d, &mut rng))
            .count();
        let p = (-(n as f64) / (d as f64)).exp();
        let se = (p * (1.0 - p) / f64::from(trials)).sqrt();
        let got = hits as f64 / f64::from(trials);
        assert!(
            (got - p).abs() <= 5.0 * se + 1e-9,
            "γ = {n}/{d}: {got} vs {p}"
        );
    }

    #[test]
    fn bernoulli_exp_rates() {
        check_rate(0, 1);
        check_rate(1, 3);
        check_rate(1, 1);
        check_rate(5, 2);
        check_rate(7, 3);
    }

    #[test]
    fn discrete_laplace_ratio() {
        // P[Y = 1] / P[Y = 0] = e^{-1/t}.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let t = 2u64;
        let n = 200_000;
        let (mut zero, mut one) = (0u32, 0u32);
        for _ in 0..n {
            match discrete_laplace(t, &mut rng) {
                Some(0) => zero += 1,
                Some(1) => one += 1,
                _ => {}
            }
        }
        let ratio = f64::from(one) / f64::from(zero);
        let want = (-0.5f64).exp();
        // Relative SE of a ratio of counts ≈ sqrt(1/a + 1/b).
        let rel = (1.0 / f64::from(one) + 1.0 / f64::from(zero)).sqrt();
        assert!((ratio / want - 1.0).abs() < 5.0 * rel, "{ratio} vs {want}");
    }
}
