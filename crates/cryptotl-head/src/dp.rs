//! DP-SGD for the head (Abadi et al. 2016), on the [`GradientRule`] hook,
//! with the accounting of `cryptotl-dp`.
//!
//! Documented on [`DpSgd`].

use candle_core::backprop::GradStore;
use cryptotl_dp::{calibrate_noise, epsilon_for, DpSgdConfig};
use cryptotl_dp::{l2_norm, GradientAccumulator};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::{HeadError, Result};
use crate::record::DpRecord;
use crate::step::{GradientRule, StepBatch};

/// What the caller asks of a DP-SGD run: the target guarantee and the
/// clipping norm. The noise multiplier is derived (calibrated) from these,
/// the batch size and the number of epochs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpOptions {
    /// Target `ε > 0` (finite).
    pub epsilon: f64,
    /// Target `δ ∈ (0, 1)`; conventionally below `1 / N`.
    pub delta: f64,
    /// Per-example ℓ2 clipping norm `C > 0` of the flattened gradient of
    /// all head parameters.
    pub clip: f64,
    /// Seeds the sampling and noise generators (reproducible runs, **tests
    /// only**: the guarantee does not hold against anyone who knows the
    /// seed). `None` (the default) draws them from the OS.
    #[serde(default)]
    pub noise_seed: Option<u64>,
}

impl DpOptions {
    /// Target `(ε, δ)` with clipping norm `C`, noise from the OS.
    pub fn new(epsilon: f64, delta: f64, clip: f64) -> Self {
        Self {
            epsilon,
            delta,
            clip,
            noise_seed: None,
        }
    }

    /// Checks the values.
    ///
    /// # Errors
    /// [`HeadError::InvalidOptions`] unless `ε` is finite and `> 0`,
    /// `δ ∈ (0, 1)` and `C` is finite and `> 0`.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(HeadError::InvalidOptions(reason));
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return fail(format!(
                "DP epsilon must be positive and finite, got {}",
                self.epsilon
            ));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return fail(format!("DP delta must be in (0, 1), got {}", self.delta));
        }
        if !(self.clip.is_finite() && self.clip > 0.0 && self.clip <= f64::from(f32::MAX)) {
            return fail(format!(
                "DP clipping norm must be positive and finite, got {}",
                self.clip
            ));
        }
        Ok(())
    }

    /// The DP-SGD configuration for `dataset_size` examples, `batch_size`
    /// (expected) and `epochs`: `q = min(1, batch_size / N)`,
    /// `T = epochs · ⌈N / batch_size⌉` steps, and the smallest `σ` with
    /// `ε(σ, q, T, δ) ≤ ε_target` ([`calibrate_noise`]).
    ///
    /// # Errors
    /// Invalid options, zero sizes, or a target `ε` that needs a noise
    /// multiplier above `cryptotl-dp`'s search range.
    pub fn calibrate(
        &self,
        dataset_size: usize,
        batch_size: usize,
        epochs: usize,
    ) -> Result<DpSgdConfig> {
        self.validate()?;
        if dataset_size == 0 || batch_size == 0 || epochs == 0 {
            return Err(HeadError::InvalidOptions(format!(
                "DP-SGD needs a non-empty training set, batch size and epoch count \
                 (got N = {dataset_size}, batch {batch_size}, {epochs} epochs)"
            )));
        }
        let q = (batch_size as f64 / dataset_size as f64).min(1.0);
        let steps = (epochs as u64).saturating_mul(dataset_size.div_ceil(batch_size) as u64);
        let noise_multiplier =
            calibrate_noise(self.epsilon, self.delta, q, steps).map_err(dp_error)?;
        Ok(DpSgdConfig {
            clip: self.clip as f32,
            noise_multiplier,
            sampling_rate: q,
            steps,
            delta: self.delta,
        })
    }
}

/// Maps a `cryptotl-dp` error to this crate's.
pub(crate) fn dp_error(e: cryptotl_dp::DpError) -> HeadError {
    HeadError::Dp(e)
}

/// The DP-SGD [`GradientRule`]: clips every per-example gradient to `C`,
/// sums, adds `N(0, σ²C²)` to every coordinate and divides by the expected
/// batch size `q N`. It counts its steps, so that [`DpSgd::record`] reports
/// the `ε` actually spent.
///
/// One step on a training set of `N` examples:
///
/// 1. **Poisson sampling**: every example joins the batch independently with
///    probability `q = batch_size / N` (the batch may be empty);
/// 2. **clipping**: every per-example gradient `g_i` (all parameters,
///    flattened) is scaled to `ḡ_i = g_i · min(1, C / ‖g_i‖₂)`;
/// 3. **noise**: `g̃ = (Σ_i ḡ_i + N(0, σ² C² I)) / (q N)` — divided by the
///    *expected* batch size, as the accountant assumes;
/// 4. the Adam update with `g̃` (post-processing).
///
/// [`Trainer::differential_privacy`](crate::Trainer::differential_privacy)
/// runs exactly `T = max_epochs · ⌈N / batch_size⌉` such steps and
/// calibrates `σ` so that the Rényi-DP accountant for the Poisson-subsampled
/// Gaussian mechanism gives `(ε, δ)`-DP after `T` steps
/// ([`cryptotl_dp::calibrate_noise`]); the head's
/// [`TrainingRecord::dp`](crate::TrainingRecord::dp) records the `ε` the
/// accountant gives for the steps actually taken (never above the target).
/// The neighbouring relation is add-or-remove-one training example.
///
/// What is and is not covered:
///
/// * the **weights** of the head (and everything computed from them) are
///   `(ε, δ)`-DP with respect to the training set;
/// * there is **no early stopping** and no validation split under DP: a
///   validation set is private data too, and choosing the epoch by its loss
///   is not accounted. Training runs for exactly `max_epochs`;
/// * **input standardization is refused** under DP: the stored mean and
///   standard deviation are un-noised statistics of the private data;
/// * the per-epoch **training loss** reported to the progress callback and in
///   [`TrainReport`](crate::TrainReport) is an un-noised statistic for the
///   data owner's eyes only; it is not stored in the head file;
/// * dropout masks and the initialization are data-independent and may use
///   the (recorded) training seed;
/// * the sampling and noise randomness comes from the operating system
///   (ChaCha20 seeded from OS entropy) unless
///   [`DpOptions::noise_seed`] is set, which makes the run reproducible
///   and **voids the guarantee** (anyone who knows the seed can subtract the
///   noise): for tests only.
///
/// The batches it receives must be Poisson samples at rate `q` (as
/// [`Trainer::differential_privacy`](crate::Trainer::differential_privacy)
/// forms them) for the accounting to hold.
#[derive(Debug)]
pub struct DpSgd {
    config: DpSgdConfig,
    dataset_size: usize,
    rng: ChaCha20Rng,
    steps: u64,
    max_raw_norm: f64,
    max_clipped_norm: f64,
}

impl DpSgd {
    /// A rule for `config` on a training set of `dataset_size` examples,
    /// drawing noise from `rng` (use [`ChaCha20Rng::from_os_rng`] for real
    /// privacy).
    ///
    /// # Errors
    /// An invalid configuration or `dataset_size = 0`.
    pub fn new(config: DpSgdConfig, dataset_size: usize, rng: ChaCha20Rng) -> Result<Self> {
        config.validate().map_err(dp_error)?;
        if dataset_size == 0 {
            return Err(HeadError::InvalidOptions(
                "DP-SGD needs a non-empty training set".into(),
            ));
        }
        Ok(Self {
            config,
            dataset_size,
            rng,
            steps: 0,
            max_raw_norm: 0.0,
            max_clipped_norm: 0.0,
        })
    }

    /// The configuration (clip, noise multiplier, rate, planned steps, δ).
    pub fn config(&self) -> &DpSgdConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Largest ℓ2 norm of a per-example gradient before clipping, so far.
    pub fn max_raw_norm(&self) -> f64 {
        self.max_raw_norm
    }

    /// Largest ℓ2 norm of a per-example gradient after clipping, so far
    /// (never above `C`).
    pub fn max_clipped_norm(&self) -> f64 {
        self.max_clipped_norm
    }

    /// `ε` spent by the steps taken so far, at the configured `δ`.
    ///
    /// # Errors
    /// Accountant errors (invalid configuration).
    pub fn epsilon_spent(&self) -> Result<f64> {
        epsilon_for(
            self.config.noise_multiplier,
            self.config.sampling_rate,
            self.steps,
            self.config.delta,
        )
        .map_err(dp_error)
    }

    /// The record for the head file: `ε` spent so far, `δ`, `C`, `σ`.
    ///
    /// # Errors
    /// As [`DpSgd::epsilon_spent`].
    pub fn record(&self) -> Result<DpRecord> {
        Ok(DpRecord {
            epsilon: self.epsilon_spent()?,
            delta: self.config.delta,
            clip: f64::from(self.config.clip),
            noise_multiplier: self.config.noise_multiplier,
        })
    }
}

impl GradientRule for DpSgd {
    /// Returns the batch's mean loss (0 for an empty batch; an un-noised
    /// diagnostic) and the private gradient.
    fn gradients(&mut self, batch: &StepBatch<'_>) -> Result<(f64, GradStore)> {
        let dim = batch.parameter_count();
        let clip = self.config.clip;
        let mut acc = GradientAccumulator::new(dim, clip).map_err(dp_error)?;
        for i in 0..batch.len() {
            let mut g = batch.example_gradient(i)?;
            self.max_raw_norm = self.max_raw_norm.max(l2_norm(&g));
            cryptotl_dp::clip_in_place(&mut g, clip)
                .map_err(|source| HeadError::ExampleGradient { index: i, source })?;
            self.max_clipped_norm = self.max_clipped_norm.max(l2_norm(&g));
            // Already inside the ball: the accumulator's clipping is a no-op.
            acc.add_example(&g).map_err(dp_error)?;
        }
        let loss = if batch.is_empty() {
            0.0
        } else {
            f64::from(batch.mean_loss()?.to_scalar::<f32>()?)
        };
        let noisy = acc
            .finish(
                self.config.noise_multiplier,
                self.config.expected_batch_size(self.dataset_size),
                &mut self.rng,
            )
            .map_err(dp_error)?;
        self.steps += 1;
        Ok((loss, batch.grad_store_from_flat(&noisy)?))
    }
}

/// The sampling and noise generators of a run: OS entropy, or the test seed.
pub(crate) fn dp_rngs(options: &DpOptions) -> (ChaCha20Rng, ChaCha20Rng) {
    use crate::seed::{dp_rng, Stream};
    match options.noise_seed {
        Some(seed) => (
            dp_rng(seed, Stream::DpSampling),
            dp_rng(seed, Stream::DpNoise),
        ),
        None => (ChaCha20Rng::from_os_rng(), ChaCha20Rng::from_os_rng()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_meets_the_target() {
        let dp = DpOptions::new(3.0, 1e-5, 1.0);
        let cfg = dp.calibrate(1000, 50, 10).unwrap();
        assert_eq!(cfg.steps, 200);
        assert!((cfg.sampling_rate - 0.05).abs() < 1e-12);
        let eps = epsilon_for(cfg.noise_multiplier, 0.05, 200, 1e-5).unwrap();
        assert!(eps <= 3.0 && eps > 2.9, "{eps}");
    }

    #[test]
    fn invalid_options_are_refused() {
        assert!(DpOptions::new(0.0, 1e-5, 1.0).validate().is_err());
        assert!(DpOptions::new(f64::INFINITY, 1e-5, 1.0).validate().is_err());
        assert!(DpOptions::new(1.0, 1.0, 1.0).validate().is_err());
        assert!(DpOptions::new(1.0, 1e-5, 0.0).validate().is_err());
        assert!(DpOptions::new(1.0, 1e-5, 1.0).calibrate(0, 1, 1).is_err());
    }
}
