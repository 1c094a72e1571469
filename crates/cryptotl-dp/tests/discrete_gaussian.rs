//! The exact discrete Gaussian sampler: distribution, moments, symmetry, tail
//! bound and privacy helpers.
//!
//! Statistical checks are seeded (ChaCha20) with a tolerance of 5 standard
//! errors each.

use cryptotl_dp::{
    discrete_gaussian_epsilon, discrete_gaussian_rdp, discrete_gaussian_samples,
    discrete_gaussian_tail_bound, DiscreteGaussian,
};
use cryptotl_dp::{epsilon_for, DpError};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn moments(xs: &[i64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

#[test]
fn mean_and_variance_match_sigma() {
    let mut rng = ChaCha20Rng::seed_from_u64(2020);
    for &sigma in &[2.0f64, 10.0, 100.0] {
        let n = 100_000;
        let xs = discrete_gaussian_samples(n, sigma, &mut rng).unwrap();
        assert_eq!(xs.len(), n);
        let (mean, var) = moments(&xs);
        // For σ ≥ 1, Var[N_ℤ(0, σ²)] = σ² up to a relative e^{-2π²σ²}
        // (< 1e-17 here), and E[X⁴] ≈ 3σ⁴, so SE(var) ≈ σ² √(2/n).
        let s2 = sigma * sigma;
        let se_mean = sigma / (n as f64).sqrt();
        let se_var = s2 * (2.0 / (n as f64 - 1.0)).sqrt();
        assert!(mean.abs() < 5.0 * se_mean, "σ={sigma}: mean {mean}");
        assert!(
            (var - s2).abs() < 5.0 * se_var,
            "σ={sigma}: var {var} vs {s2}"
        );
    }
}

#[test]
fn pmf_matches_exp_minus_x2_over_2sigma2() {
    // σ = 2: P[X = k] = e^{−k²/8} / Σ_j e^{−j²/8}. Every bin |k| ≤ 8 within
    // 5 binomial standard errors.
    let sigma = 2.0f64;
    let n = 200_000usize;
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let xs = discrete_gaussian_samples(n, sigma, &mut rng).unwrap();
    let z: f64 = (-60i64..=60).map(|j| (-((j * j) as f64) / 8.0).exp()).sum();
    for k in -8i64..=8 {
        let p = (-((k * k) as f64) / 8.0).exp() / z;
        let count = xs.iter().filter(|&&x| x == k).count() as f64;
        let expect = n as f64 * p;
        let se = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (count - expect).abs() < 5.0 * se,
            "k={k}: {count} vs {expect}"
        );
    }
}

#[test]
fn distribution_is_symmetric() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for &sigma in &[0.5f64, 3.0, 50.0] {
        let xs = discrete_gaussian_samples(100_000, sigma, &mut rng).unwrap();
        let pos = xs.iter().filter(|&&x| x > 0).count() as f64;
        let neg = xs.iter().filter(|&&x| x < 0).count() as f64;
        // Under symmetry pos − neg has mean 0 and variance ≈ pos + neg.
        assert!(
            (pos - neg).abs() < 5.0 * (pos + neg).sqrt(),
            "σ={sigma}: {pos} vs {neg}"
        );
        // And for each magnitude 1..3 separately.
        for k in 1..=3i64 {
            let a = xs.iter().filter(|&&x| x == k).count() as f64;
            let b = xs.iter().filter(|&&x| x == -k).count() as f64;
            assert!(
                (a - b).abs() < 5.0 * (a + b).sqrt().max(1.0),
                "σ={sigma} k={k}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn tail_bound_is_respected() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for &sigma in &[2.0f64, 10.0, 100.0] {
        // A tight failure probability: no sample may exceed the bound
        // (expected exceedances ≤ n·p = 0.2; the true tail is far smaller).
        let n = 200_000;
        let b = discrete_gaussian_tail_bound(sigma, 1e-6).unwrap();
        let xs = discrete_gaussian_samples(n, sigma, &mut rng).unwrap();
        let worst = xs.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
        assert!(worst <= b, "σ={sigma}: max |x| = {worst} > B = {b}");
        // The bound is the stated formula, not something looser.
        let lambda = sigma * (2.0 * (2.0f64 / 1e-6).ln()).sqrt();
        assert!(
            (b as f64) >= lambda && (b as f64) < lambda + 1.0,
            "σ={sigma}: B={b}, λ={lambda}"
        );
        // Loose failure probabilities: the empirical exceedance frequency is
        // at most p (plus 5 SE).
        for &p in &[0.3, 0.1, 0.01] {
            let b = discrete_gaussian_tail_bound(sigma, p).unwrap();
            let freq = xs.iter().filter(|x| x.unsigned_abs() > b).count() as f64 / n as f64;
            assert!(
                freq <= p + 5.0 * (p * (1.0 - p) / n as f64).sqrt(),
                "σ={sigma} p={p}: {freq}"
            );
        }
    }
    assert!(discrete_gaussian_tail_bound(1.0, 0.0).is_err());
    assert!(discrete_gaussian_tail_bound(1.0, 1.0).is_err());
    assert!(discrete_gaussian_tail_bound(-1.0, 0.1).is_err());
}

#[test]
fn add_noise_and_struct_api() {
    let d = DiscreteGaussian::new(3.0).unwrap();
    assert_eq!(d.variance_ratio(), (9, 1));
    assert_eq!(d.sigma(), 3.0);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut v = vec![1000i64; 1000];
    d.add_noise(&mut v, &mut rng).unwrap();
    assert!(v.iter().any(|&x| x != 1000));
    let b = d.tail_bound(1e-9).unwrap() as i64;
    assert!(v.iter().all(|&x| (x - 1000).abs() <= b));
    let mut edge = vec![i64::MAX; 64];
    assert!(matches!(
        d.add_noise(&mut edge, &mut rng),
        Err(DpError::InvalidInput(_))
    ));
    // Same seed, same samples.
    let a = d.sample_vec(50, &mut ChaCha20Rng::seed_from_u64(3));
    let b2 = d.sample_vec(50, &mut ChaCha20Rng::seed_from_u64(3));
    assert_eq!(a, b2);
    // Exact rational variance 5/2.
    let r = DiscreteGaussian::from_variance_ratio(10, 4).unwrap();
    assert_eq!(r.variance_ratio(), (5, 2));
}

#[test]
fn privacy_of_the_discrete_gaussian_mechanism() {
    // (α, αΔ²/(2σ²))-RDP.
    assert!((discrete_gaussian_rdp(2.0, 4.0, 3.0).unwrap() - 3.0 * 4.0 / 32.0).abs() < 1e-15);
    // Same curve as the Gaussian mechanism with noise multiplier σ/Δ.
    let e = discrete_gaussian_epsilon(3.0, 30.0, 1, 1e-5).unwrap();
    let g = epsilon_for(10.0, 1.0, 1, 1e-5).unwrap();
    assert_eq!(e, g);
    // Composition and monotonicity.
    let e10 = discrete_gaussian_epsilon(3.0, 30.0, 10, 1e-5).unwrap();
    assert!(e10 > e);
    assert!(discrete_gaussian_epsilon(3.0, 60.0, 10, 1e-5).unwrap() < e10);
    assert!(discrete_gaussian_epsilon(1.0, 30.0, 10, 1e-5).unwrap() < e10);
    // Invalid parameters.
    assert!(discrete_gaussian_rdp(0.0, 1.0, 2.0).is_err());
    assert!(discrete_gaussian_rdp(1.0, -1.0, 2.0).is_err());
    assert!(discrete_gaussian_rdp(1.0, 1.0, 1.0).is_err());
    assert!(discrete_gaussian_epsilon(1.0, 1.0, 1, 0.0).is_err());
    assert!(discrete_gaussian_epsilon(1.0, 1.0, 1, 1.0).is_err());
    assert!(discrete_gaussian_samples(3, -2.0, &mut ChaCha20Rng::seed_from_u64(0)).is_err());
    assert!(discrete_gaussian_samples(3, f64::NAN, &mut ChaCha20Rng::seed_from_u64(0)).is_err());
}
