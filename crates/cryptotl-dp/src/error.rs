//! Errors returned by the differential-privacy primitives.

use thiserror::Error;

/// Everything that can go wrong in `cryptotl-dp`.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DpError {
    /// A privacy or noise parameter is outside its domain (for example a
    /// negative noise multiplier, a sampling rate outside `(0, 1]` or a
    /// `delta` outside `(0, 1)`).
    #[error("invalid parameter {name} = {value}: must be {expected}")]
    InvalidParameter {
        /// Name of the parameter.
        name: &'static str,
        /// The rejected value (as `f64`; integers are converted).
        value: f64,
        /// The domain the parameter must lie in, in words.
        expected: &'static str,
    },
    /// Input data does not fit the operation (dimensions, non-finite values).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A calibration search could not reach its target inside its search range.
    #[error("calibration failed: {0}")]
    CalibrationFailed(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, DpError>;

/// Returns `Ok(())` when `ok`, else [`DpError::InvalidParameter`].
pub(crate) fn check(
    ok: bool,
    name: &'static str,
    value: f64,
    expected: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(DpError::InvalidParameter {
            name,
            value,
            expected,
        })
    }
}

/// Checks a Poisson sampling rate `q ∈ (0, 1]`.
pub(crate) fn check_sampling_rate(q: f64) -> Result<()> {
    check(q > 0.0 && q <= 1.0, "sampling_rate", q, "in (0, 1]")
}

/// Checks a noise multiplier or standard deviation: finite and `> 0`.
pub(crate) fn check_positive(name: &'static str, x: f64) -> Result<()> {
    check(x.is_finite() && x > 0.0, name, x, "finite and > 0")
}

/// Checks `delta ∈ (0, 1)`.
pub(crate) fn check_delta(delta: f64) -> Result<()> {
    check(delta > 0.0 && delta < 1.0, "delta", delta, "in (0, 1)")
}
