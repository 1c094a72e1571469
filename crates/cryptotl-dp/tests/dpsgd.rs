//! DP-SGD building blocks: clipping, noise statistics, Poisson sampling,
//! configuration and privacy records.
//!
//! Statistical tests are seeded (ChaCha20) and use a tolerance of 5 standard
//! errors, so a correct implementation fails them with probability below
//! ~6e-7 per check for an unlucky seed (and deterministically never, for the
//! fixed seeds used).

use cryptotl_dp::{
    clip_in_place, gaussian_noise, l2_norm, poisson_sample, private_gradient, DpSgdConfig,
    GradientAccumulator, PrivacySpent,
};
use cryptotl_dp::{epsilon_for, DpError};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

proptest! {
    #[test]
    fn clipped_norm_never_exceeds_clip(
        grad in prop::collection::vec(-1e6f32..1e6, 1..300),
        clip in 1e-3f32..1e3,
    ) {
        let mut g = grad.clone();
        let factor = clip_in_place(&mut g, clip).unwrap();
        let norm = l2_norm(&g);
        prop_assert!(norm <= f64::from(clip), "norm {norm} > clip {clip}");
        prop_assert!(norm <= f64::from(clip) + 1e-6);
        prop_assert!(factor > 0.0 && factor <= 1.0);
        // Direction is preserved and short gradients are untouched.
        for (a, b) in grad.iter().zip(&g) {
            prop_assert!(a.signum() == b.signum() || *b == 0.0);
        }
        if l2_norm(&grad) <= f64::from(clip) {
            prop_assert_eq!(&g, &grad);
            prop_assert_eq!(factor, 1.0);
        } else {
            // Long gradients land on the sphere (up to f32 rounding).
            prop_assert!(norm >= f64::from(clip) * (1.0 - 1e-5), "{norm} vs {clip}");
        }
    }

    #[test]
    fn accumulator_sum_of_clipped_rows_is_bounded(
        rows in prop::collection::vec(prop::collection::vec(-100f32..100.0, 8), 0..20),
    ) {
        // Without noise the per-example contribution is at most C in norm, so
        // the sum of n rows has norm at most n·C (triangle inequality). Check
        // through the public path with a negligible noise multiplier.
        let clip = 0.5f32;
        let mut acc = GradientAccumulator::new(8, clip).unwrap();
        for r in &rows {
            acc.add_example(r).unwrap();
        }
        prop_assert_eq!(acc.count(), rows.len());
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let out = acc.finish(1e-12, 1.0, &mut rng).unwrap();
        let bound = rows.len() as f64 * f64::from(clip) * (1.0 + 1e-6) + 1e-6;
        prop_assert!(l2_norm(&out) <= bound, "{} > {bound}", l2_norm(&out));
    }
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

#[test]
fn gaussian_noise_has_the_right_moments() {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let n = 200_000;
    for &std in &[0.1, 1.0, 3.7] {
        let z = gaussian_noise(n, std, &mut rng).unwrap();
        let (mean, var) = mean_var(&z);
        // SE(mean) = σ/√n; SE(var) = σ² √(2/(n−1)) for a Gaussian.
        let se_mean = std / (n as f64).sqrt();
        let se_var = std * std * (2.0 / (n as f64 - 1.0)).sqrt();
        assert!(mean.abs() < 5.0 * se_mean, "std {std}: mean {mean}");
        assert!(
            (var - std * std).abs() < 5.0 * se_var,
            "std {std}: var {var}"
        );
        // Fourth moment ≈ 3σ⁴ (a Gaussian, not just any unit-variance law);
        // 5 SE with Var(z⁴) = 96σ⁸ → SE = σ⁴ √(96/n).
        let m4 = z.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64;
        let s4 = std.powi(4);
        assert!(
            (m4 - 3.0 * s4).abs() < 5.0 * s4 * (96.0 / n as f64).sqrt(),
            "m4 {m4}"
        );
    }
    assert!(gaussian_noise(3, -1.0, &mut rng).is_err());
    assert!(gaussian_noise(3, f64::NAN, &mut rng).is_err());
}

#[test]
fn private_gradient_noise_and_scaling() {
    // Identical per-example gradients of norm 2, clip 1: each contributes
    // (0.6, 0.8) after clipping. With batch b and expected batch q·N the mean
    // of the output is b·(0.6, 0.8)/(qN), its std σC/(qN).
    let cfg = DpSgdConfig {
        clip: 1.0,
        noise_multiplier: 1.5,
        sampling_rate: 0.1,
        steps: 1,
        delta: 1e-5,
    };
    let n_data = 100;
    let b = 8;
    let grads: Vec<f32> = (0..b).flat_map(|_| [1.2f32, 1.6]).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let trials = 20_000;
    let mut xs = Vec::with_capacity(trials);
    let mut ys = Vec::with_capacity(trials);
    for _ in 0..trials {
        let g = private_gradient(&grads, 2, &cfg, n_data, &mut rng).unwrap();
        xs.push(f64::from(g[0]));
        ys.push(f64::from(g[1]));
    }
    let denom = 0.1 * n_data as f64;
    let std = 1.5 / denom;
    let se_mean = std / (trials as f64).sqrt();
    let se_var = std * std * (2.0 / (trials as f64 - 1.0)).sqrt();
    for (vals, unit) in [(&xs, 0.6), (&ys, 0.8)] {
        let (mean, var) = mean_var(vals);
        let want = b as f64 * unit / denom;
        assert!((mean - want).abs() < 5.0 * se_mean, "mean {mean} vs {want}");
        assert!(
            (var - std * std).abs() < 5.0 * se_var,
            "var {var} vs {}",
            std * std
        );
    }
}

#[test]
fn poisson_sampling_rate() {
    let mut rng = ChaCha20Rng::seed_from_u64(1234);
    let n = 100_000;
    for &q in &[0.001, 0.01, 0.3] {
        let idx = poisson_sample(n, q, &mut rng).unwrap();
        let expect = q * n as f64;
        let se = (n as f64 * q * (1.0 - q)).sqrt();
        assert!(
            (idx.len() as f64 - expect).abs() < 5.0 * se,
            "q={q}: {} vs {expect}",
            idx.len()
        );
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(idx.iter().all(|&i| i < n));
    }
    // Inclusion is uniform over indices: first and second halves get
    // similar counts (5 SE of the difference of two binomials).
    let q = 0.05;
    let (mut first, mut second) = (0usize, 0usize);
    for _ in 0..20 {
        for i in poisson_sample(n, q, &mut rng).unwrap() {
            if i < n / 2 {
                first += 1;
            } else {
                second += 1;
            }
        }
    }
    let se = (20.0 * n as f64 * q * (1.0 - q)).sqrt();
    assert!((first as f64 - second as f64).abs() < 5.0 * se);
    assert_eq!(
        poisson_sample(10, 1.0, &mut rng).unwrap(),
        (0..10).collect::<Vec<_>>()
    );
    assert!(poisson_sample(10, 0.0, &mut rng).is_err());
    assert!(poisson_sample(10, 1.1, &mut rng).is_err());
}

#[test]
fn config_privacy_and_serde() {
    let cfg = DpSgdConfig::calibrated(1.0, 3.0, 1e-5, 0.01, 1000).unwrap();
    cfg.validate().unwrap();
    let spent = cfg.privacy_spent().unwrap();
    assert!(spent.epsilon <= 3.0 && spent.epsilon > 2.99, "{spent:?}");
    assert_eq!(spent.delta, 1e-5);
    let half = cfg.privacy_spent_after(500).unwrap();
    assert!(half.epsilon < spent.epsilon);
    assert_eq!(
        half.epsilon,
        epsilon_for(cfg.noise_multiplier, cfg.sampling_rate, 500, cfg.delta).unwrap()
    );
    assert_eq!(cfg.noise_std(), cfg.noise_multiplier);
    assert_eq!(cfg.expected_batch_size(60_000), 600.0);

    let json = serde_json::to_string(&cfg).unwrap();
    let back: DpSgdConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    let json = serde_json::to_string(&spent).unwrap();
    assert!(json.contains("\"epsilon\"") && json.contains("\"delta\""));
    let back: PrivacySpent = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spent);
}

#[test]
fn invalid_configs_are_rejected() {
    let ok = DpSgdConfig {
        clip: 1.0,
        noise_multiplier: 1.0,
        sampling_rate: 0.01,
        steps: 10,
        delta: 1e-5,
    };
    ok.validate().unwrap();
    let bad = [
        (DpSgdConfig { clip: 0.0, ..ok }, "clip"),
        (
            DpSgdConfig {
                clip: f32::NAN,
                ..ok
            },
            "clip",
        ),
        (
            DpSgdConfig {
                noise_multiplier: -1.0,
                ..ok
            },
            "noise_multiplier",
        ),
        (
            DpSgdConfig {
                sampling_rate: 0.0,
                ..ok
            },
            "sampling_rate",
        ),
        (
            DpSgdConfig {
                sampling_rate: 2.0,
                ..ok
            },
            "sampling_rate",
        ),
        (DpSgdConfig { delta: 0.0, ..ok }, "delta"),
        (DpSgdConfig { delta: 1.0, ..ok }, "delta"),
    ];
    for (cfg, name) in bad {
        match cfg.validate() {
            Err(DpError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{cfg:?}: expected InvalidParameter({name}), got {other:?}"),
        }
        assert!(cfg.privacy_spent().is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        assert!(private_gradient(&[1.0, 2.0], 2, &cfg, 10, &mut rng).is_err());
    }
    assert!(GradientAccumulator::new(0, 1.0).is_err());
    let mut acc = GradientAccumulator::new(2, 1.0).unwrap();
    assert!(acc.add_example(&[1.0]).is_err());
    assert!(acc.add_example(&[1.0, f32::NAN]).is_err());
    assert_eq!(acc.count(), 0);
}
