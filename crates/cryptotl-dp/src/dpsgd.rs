//! DP-SGD building blocks (Abadi et al. 2016, "Deep Learning with
//! Differential Privacy"), framework-agnostic on flat `f32` slices.
//!
//! Documented on [`DpSgdConfig`].

use crate::accountant::{calibrate_noise, epsilon_for};
use crate::error::{check, check_delta, check_positive, check_sampling_rate, DpError, Result};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// ℓ2 norm of `v`, accumulated in `f64`.
pub fn l2_norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// Clips `grad` in place to ℓ2 norm at most `clip`:
/// `g ← g · min(1, C / ‖g‖₂)`, and returns the factor that was applied
/// (`1.0` when the gradient was already inside the ball).
///
/// Guarantee: afterwards `l2_norm(grad) ≤ clip` holds exactly as computed in
/// `f64` (if rounding the scaled values to `f32` overshoots, the factor is
/// shrunk by a few ulps until it holds), because the privacy analysis relies
/// on the sensitivity bound `C`.
///
/// # Errors
/// [`DpError::InvalidParameter`] if `clip` is not finite and `> 0`;
/// [`DpError::InvalidInput`] if `grad` contains a NaN or infinity (such a
/// gradient cannot be clipped, and silently passing it on would break the
/// sensitivity bound).
pub fn clip_in_place(grad: &mut [f32], clip: f32) -> Result<f32> {
    check_positive("clip", f64::from(clip))?;
    if grad.iter().any(|x| !x.is_finite()) {
        return Err(DpError::InvalidInput(
            "gradient contains NaN or infinity".into(),
        ));
    }
    let c = f64::from(clip);
    let norm = l2_norm(grad);
    if norm <= c {
        return Ok(1.0);
    }
    let original: Vec<f32> = grad.to_vec();
    let mut factor = c / norm;
    loop {
        for (g, &o) in grad.iter_mut().zip(&original) {
            // |o · factor| < |o|, so no overflow.
            *g = (f64::from(o) * factor) as f32;
        }
        if l2_norm(grad) <= c {
            return Ok(factor as f32);
        }
        // Rounding to f32 overshot by at most ~2^-24 relative: back off.
        factor *= 1.0 - 4.0 * f64::from(f32::EPSILON);
    }
}

/// Appends `n` independent `N(0, std²)` samples (drawn in `f64`).
///
/// # Errors
/// [`DpError::InvalidParameter`] if `std` is negative or not finite.
pub fn gaussian_noise<R: Rng + ?Sized>(n: usize, std: f64, rng: &mut R) -> Result<Vec<f64>> {
    check(std.is_finite() && std >= 0.0, "std", std, "finite and >= 0")?;
    Ok((0..n)
        .map(|_| std * rng.sample::<f64, _>(StandardNormal))
        .collect())
}

/// Poisson sampling: the indices `i < dataset_size` each included
/// independently with probability `sampling_rate`, in increasing order.
///
/// # Errors
/// `sampling_rate ∉ (0, 1]`.
pub fn poisson_sample<R: Rng + ?Sized>(
    dataset_size: usize,
    sampling_rate: f64,
    rng: &mut R,
) -> Result<Vec<usize>> {
    check_sampling_rate(sampling_rate)?;
    Ok((0..dataset_size)
        .filter(|_| rng.random_bool(sampling_rate))
        .collect())
}

/// Parameters of a DP-SGD run.
///
/// One DP-SGD step on a dataset of `N` records:
///
/// 1. **Sample** a batch `B` by Poisson sampling: every index independently
///    with probability `q` ([`poisson_sample`]); the batch size is random.
/// 2. **Clip** every per-example gradient to ℓ2 norm at most `C`:
///    `ḡ_i = g_i · min(1, C / ‖g_i‖₂)` ([`clip_in_place`]).
/// 3. **Aggregate and noise**:
///    `g̃ = (Σ_{i∈B} ḡ_i + N(0, σ² C² I)) / (q N)` ([`private_gradient`],
///    [`GradientAccumulator`]). The divisor is the *expected* batch size
///    `q N`, not `|B|`: dividing by the realised size would make the output
///    depend on `|B|` beyond the noised sum, which the accounting does not
///    cover.
///
/// Each step is the Poisson-subsampled Gaussian mechanism with noise
/// multiplier `σ` on a sum of sensitivity `C` (add-or-remove-one), so `T`
/// steps are accounted by [`epsilon_for`](crate::epsilon_for) — see
/// [`DpSgdConfig::privacy_spent`].
///
/// # Floating-point noise
/// The Gaussian noise is drawn in `f64` with the ziggurat method
/// (`rand_distr::StandardNormal`) and added in `f64` before rounding to `f32`.
/// Floating-point samplers are not exactly Gaussian and their low-order bits
/// can leak information about the un-noised value (Mironov 2012, "On
/// Significance of the Least Significant Bits for Differential Privacy"); the
/// accounting here, like every mainstream DP-SGD library, treats the noise as
/// an exact Gaussian. Where exactness matters (integer data), use
/// [`DiscreteGaussian`](crate::DiscreteGaussian). For real privacy the RNG must be a
/// cryptographically secure generator seeded from the OS (e.g.
/// `rand_chacha::ChaCha20Rng::from_os_rng()`); seeded RNGs are for
/// reproducible tests only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DpSgdConfig {
    /// Per-example ℓ2 clipping norm `C > 0`.
    pub clip: f32,
    /// Noise multiplier `σ > 0`: the noise on the summed gradient has
    /// standard deviation `σ·C` per coordinate.
    pub noise_multiplier: f64,
    /// Poisson sampling rate `q ∈ (0, 1]` (expected batch size / dataset size).
    pub sampling_rate: f64,
    /// Number of training steps `T`.
    pub steps: u64,
    /// Target `δ ∈ (0, 1)`, conventionally below `1 / dataset_size`.
    pub delta: f64,
}

/// The privacy guarantee of a (partial) DP-SGD run: `(ε, δ)`-DP under the
/// add-or-remove-one relation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrivacySpent {
    /// `ε` (may be `+∞` if no RDP order gives a finite bound).
    pub epsilon: f64,
    /// `δ`.
    pub delta: f64,
}

impl DpSgdConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`DpError::InvalidParameter`] naming the first invalid field.
    pub fn validate(&self) -> Result<()> {
        check_positive("clip", f64::from(self.clip))?;
        check_positive("noise_multiplier", self.noise_multiplier)?;
        check_sampling_rate(self.sampling_rate)?;
        check_delta(self.delta)
    }

    /// A configuration whose noise multiplier is the smallest that makes
    /// `steps` steps `(target_epsilon, delta)`-DP ([`calibrate_noise`]).
    ///
    /// # Errors
    /// As [`calibrate_noise`], plus an invalid `clip`.
    pub fn calibrated(
        clip: f32,
        target_epsilon: f64,
        delta: f64,
        sampling_rate: f64,
        steps: u64,
    ) -> Result<Self> {
        check_positive("clip", f64::from(clip))?;
        let noise_multiplier = calibrate_noise(target_epsilon, delta, sampling_rate, steps)?;
        Ok(Self {
            clip,
            noise_multiplier,
            sampling_rate,
            steps,
            delta,
        })
    }

    /// Standard deviation of the noise added to the summed gradient, `σ·C`.
    pub fn noise_std(&self) -> f64 {
        self.noise_multiplier * f64::from(self.clip)
    }

    /// Expected batch size `q · N` for a dataset of `N` records.
    pub fn expected_batch_size(&self, dataset_size: usize) -> f64 {
        self.sampling_rate * dataset_size as f64
    }

    /// The guarantee after all `self.steps` steps.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn privacy_spent(&self) -> Result<PrivacySpent> {
        self.privacy_spent_after(self.steps)
    }

    /// The guarantee after `steps` steps (for reporting during training).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn privacy_spent_after(&self, steps: u64) -> Result<PrivacySpent> {
        self.validate()?;
        let epsilon = epsilon_for(self.noise_multiplier, self.sampling_rate, steps, self.delta)?;
        Ok(PrivacySpent {
            epsilon,
            delta: self.delta,
        })
    }
}

/// Sums clipped per-example gradients in `f64`, then adds the Gaussian noise
/// and divides by the expected batch size.
#[derive(Debug, Clone)]
pub struct GradientAccumulator {
    sum: Vec<f64>,
    scratch: Vec<f32>,
    clip: f32,
    count: usize,
}

impl GradientAccumulator {
    /// An empty accumulator for gradients of `dim` coordinates, clipping to
    /// `clip`.
    ///
    /// # Errors
    /// `dim = 0` or an invalid `clip`.
    pub fn new(dim: usize, clip: f32) -> Result<Self> {
        check_positive("clip", f64::from(clip))?;
        if dim == 0 {
            return Err(DpError::InvalidInput(
                "gradient dimension must be > 0".into(),
            ));
        }
        Ok(Self {
            sum: vec![0.0; dim],
            scratch: vec![0.0; dim],
            clip,
            count: 0,
        })
    }

    /// Number of examples added.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Clips a copy of one per-example gradient and adds it to the sum;
    /// returns the clipping factor.
    ///
    /// # Errors
    /// Wrong length or non-finite values (nothing is added then).
    pub fn add_example(&mut self, grad: &[f32]) -> Result<f32> {
        if grad.len() != self.sum.len() {
            return Err(DpError::InvalidInput(format!(
                "gradient has {} coordinates, expected {}",
                grad.len(),
                self.sum.len()
            )));
        }
        self.scratch.copy_from_slice(grad);
        let factor = clip_in_place(&mut self.scratch, self.clip)?;
        for (s, &g) in self.sum.iter_mut().zip(&self.scratch) {
            *s += f64::from(g);
        }
        self.count += 1;
        Ok(factor)
    }

    /// `(Σ ḡ_i + N(0, σ²C² I)) / denominator`, rounded to `f32`.
    ///
    /// `denominator` should be the expected batch size `q N` (see the module
    /// documentation).
    ///
    /// # Errors
    /// Invalid `noise_multiplier` or a `denominator` that is not finite and
    /// `> 0`.
    pub fn finish<R: Rng + ?Sized>(
        self,
        noise_multiplier: f64,
        denominator: f64,
        rng: &mut R,
    ) -> Result<Vec<f32>> {
        check_positive("noise_multiplier", noise_multiplier)?;
        check_positive("denominator", denominator)?;
        let std = noise_multiplier * f64::from(self.clip);
        let noise = gaussian_noise(self.sum.len(), std, rng)?;
        Ok(self
            .sum
            .iter()
            .zip(&noise)
            .map(|(&s, &z)| ((s + z) / denominator) as f32)
            .collect())
    }
}

/// One DP-SGD gradient from the per-example gradients of a (Poisson-sampled)
/// batch, laid out row-major as `batch × dim` in `per_example_grads`:
/// clip each row to `config.clip`, sum, add `N(0, (σC)²)` per coordinate and
/// divide by the expected batch size `config.sampling_rate · dataset_size`.
/// An empty batch is valid (the result is pure noise).
///
/// # Errors
/// An invalid configuration, `dim = 0`, a length that is not a multiple of
/// `dim`, `dataset_size = 0`, or non-finite gradient values.
pub fn private_gradient<R: Rng + ?Sized>(
    per_example_grads: &[f32],
    dim: usize,
    config: &DpSgdConfig,
    dataset_size: usize,
    rng: &mut R,
) -> Result<Vec<f32>> {
    config.validate()?;
    if dim == 0 || !per_example_grads.len().is_multiple_of(dim) {
        return Err(DpError::InvalidInput(format!(
            "{} gradient values do not form rows of dimension {dim}",
            per_example_grads.len()
        )));
    }
    check(dataset_size > 0, "dataset_size", dataset_size as f64, "> 0")?;
    let mut acc = GradientAccumulator::new(dim, config.clip)?;
    for row in per_example_grads.chunks_exact(dim) {
        acc.add_example(row)?;
    }
    acc.finish(
        config.noise_multiplier,
        config.expected_batch_size(dataset_size),
        rng,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn clip_scales_long_vectors_only() {
        let mut g = [3.0f32, 4.0];
        let f = clip_in_place(&mut g, 1.0).unwrap();
        assert!((f - 0.2).abs() < 1e-6);
        assert!((l2_norm(&g) - 1.0).abs() < 1e-6);
        let mut h = [0.3f32, 0.4];
        assert_eq!(clip_in_place(&mut h, 1.0).unwrap(), 1.0);
        assert_eq!(h, [0.3, 0.4]);
        let mut z = [0.0f32; 4];
        assert_eq!(clip_in_place(&mut z, 1.0).unwrap(), 1.0);
    }

    #[test]
    fn clip_rejects_bad_input() {
        assert!(clip_in_place(&mut [1.0, f32::NAN], 1.0).is_err());
        assert!(clip_in_place(&mut [1.0, f32::INFINITY], 1.0).is_err());
        assert!(clip_in_place(&mut [1.0], 0.0).is_err());
        assert!(clip_in_place(&mut [1.0], -1.0).is_err());
    }

    #[test]
    fn private_gradient_without_examples_is_scaled_noise() {
        let cfg = DpSgdConfig {
            clip: 1.0,
            noise_multiplier: 1.0,
            sampling_rate: 0.5,
            steps: 1,
            delta: 1e-5,
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let g = private_gradient(&[], 3, &cfg, 10, &mut rng).unwrap();
        assert_eq!(g.len(), 3);
        assert!(g.iter().all(|x| x.is_finite() && *x != 0.0));
    }

    #[test]
    fn private_gradient_checks_shapes() {
        let cfg = DpSgdConfig {
            clip: 1.0,
            noise_multiplier: 1.0,
            sampling_rate: 0.5,
            steps: 1,
            delta: 1e-5,
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(private_gradient(&[1.0; 5], 2, &cfg, 10, &mut rng).is_err());
        assert!(private_gradient(&[1.0; 4], 0, &cfg, 10, &mut rng).is_err());
        assert!(private_gradient(&[1.0; 4], 2, &cfg, 0, &mut rng).is_err());
    }
}
