//! Differential-privacy primitives for cryptotl.
//!
//! Pure math on `f32`/`f64`/`i64` vectors; this crate depends on no other
//! cryptotl crate. It provides:
//!
//! - [`RdpAccountant`]: a Rényi-DP accountant (Mironov 2017) for the
//!   Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019) and
//!   for fixed-size sampling without replacement (Wang, Balle,
//!   Kasiviswanathan 2019), the improved RDP → `(ε, δ)` conversion, and noise
//!   calibration ([`calibrate_noise`], [`epsilon_for`]). It reproduces
//!   `dp_accounting` 0.6.0 (fixtures in `tests/fixtures/`), tighter at
//!   fractional orders where that package over-approximates.
//! - DP-SGD (Abadi et al. 2016) building blocks on flat slices:
//!   per-example clipping ([`clip_in_place`]), noisy aggregation
//!   ([`private_gradient`], [`GradientAccumulator`]), Poisson batch sampling
//!   ([`poisson_sample`]), the run configuration ([`DpSgdConfig`]) and its
//!   privacy record ([`PrivacySpent`]).
//! - [`DiscreteGaussian`]: an exact sampler for the discrete Gaussian
//!   (Canonne, Kamath, Steinke 2020), its tail bound and its privacy, for
//!   integer noise on quantized features.
//!
//! ```
//! use cryptotl_dp::{calibrate_noise, epsilon_for};
//! let sigma = calibrate_noise(3.0, 1e-5, 0.01, 1000).unwrap();
//! assert!(epsilon_for(sigma, 0.01, 1000, 1e-5).unwrap() <= 3.0);
//! ```

mod accountant;
mod discrete_gaussian;
mod dpsgd;
mod error;
mod math;

pub use accountant::{
    calibrate_noise, calibrate_noise_fixed_size, default_orders, delta_from_rdp, epsilon_for,
    epsilon_for_fixed_size, epsilon_from_rdp, rdp_poisson_subsampled_gaussian,
    rdp_sampled_without_replacement_gaussian, NeighboringRelation, RdpAccountant,
    CALIBRATION_MAX_SIGMA, CALIBRATION_MIN_SIGMA, CALIBRATION_RTOL, MAX_ORDER,
};
pub use discrete_gaussian::{
    discrete_gaussian_epsilon, discrete_gaussian_rdp, discrete_gaussian_samples,
    discrete_gaussian_tail_bound, DiscreteGaussian, MAX_DISCRETE_GAUSSIAN_DENOMINATOR,
    MAX_DISCRETE_GAUSSIAN_SIGMA,
};
pub use dpsgd::{
    clip_in_place, gaussian_noise, l2_norm, poisson_sample, private_gradient, DpSgdConfig,
    GradientAccumulator, PrivacySpent,
};
pub use error::{DpError, Result};
