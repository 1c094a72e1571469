//! Differential-privacy primitives for cryptotl.
//!
//! Pure math on `f32`/`f64`/`i64` vectors; this crate depends on no other
//! cryptotl crate. It provides:
//!
//! - [`accountant`]: a Rényi-DP accountant (Mironov 2017) for the
//!   Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019) and
//!   for fixed-size sampling without replacement (Wang, Balle,
//!   Kasiviswanathan 2019), the improved RDP → `(ε, δ)` conversion, and noise
//!   calibration ([`calibrate_noise`], [`epsilon_for`]). It reproduces
//!   `dp_accounting` 0.6.0 (fixtures in `tests/fixtures/`), tighter at
//!   fractional orders where that package over-approximates.
//! - [`dpsgd`]: DP-SGD (Abadi et al. 2016) building blocks on flat slices:
//!   per-example clipping, noisy aggregation, Poisson batch sampling, the
//!   run configuration and its privacy record.
//! - [`discrete_gaussian`]: an exact sampler for the discrete Gaussian
//!   (Canonne, Kamath, Steinke 2020), its tail bound and its privacy, for
//!   integer noise on quantized features.
//!
//! ```
//! use cryptotl_dp::{calibrate_noise, epsilon_for};
//! let sigma = calibrate_noise(3.0, 1e-5, 0.01, 1000).unwrap();
//! assert!(epsilon_for(sigma, 0.01, 1000, 1e-5).unwrap() <= 3.0);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod accountant;
pub mod discrete_gaussian;
pub mod dpsgd;
pub mod error;
mod math;

pub use accountant::{calibrate_noise, epsilon_for, RdpAccountant};
pub use discrete_gaussian::DiscreteGaussian;
pub use dpsgd::{clip_in_place, DpSgdConfig, PrivacySpent};
pub use error::{DpError, Result};
