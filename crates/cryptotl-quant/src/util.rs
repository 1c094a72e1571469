//! Small numeric helpers shared by the modules.

use crate::error::QuantError;

/// `2^63` as an `f64` (exact).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Rounds `v` to the nearest integer (half away from zero) and converts it to `i64`.
pub(crate) fn round_to_i64(v: f64, context: impl FnOnce() -> String) -> Result<i64, QuantError> {
    let r = v.round();
    if !r.is_finite() || !(-TWO_POW_63..TWO_POW_63).contains(&r) {
        return Err(QuantError::OutOfRange {
            context: context(),
            value: v,
        });
    }
    // In range and integral: the cast is exact.
    Ok(r as i64)
}

/// Errors if any value is NaN or infinite.
pub(crate) fn check_finite_f32(values: &[f32], context: &str) -> Result<(), QuantError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(QuantError::NonFinite {
            context: context.to_string(),
        })
    }
}

/// Errors if any value is NaN or infinite.
pub(crate) fn check_finite_f64(values: &[f64], context: &str) -> Result<(), QuantError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(QuantError::NonFinite {
            context: context.to_string(),
        })
    }
}

/// Errors unless `found == expected`.
pub(crate) fn check_dim(context: &str, expected: usize, found: usize) -> Result<(), QuantError> {
    if expected == found {
        Ok(())
    } else {
        Err(QuantError::DimensionMismatch {
            context: context.to_string(),
            expected,
            found,
        })
    }
}

/// Converts an exact `i128` result to `i64`, reporting overflow.
pub(crate) fn to_i64(v: i128, context: impl FnOnce() -> String) -> Result<i64, QuantError> {
    i64::try_from(v).map_err(|_| QuantError::Overflow { context: context() })
}

/// An overflow error for `context`.
pub(crate) fn overflow(context: impl Into<String>) -> QuantError {
    QuantError::Overflow {
        context: context.into(),
    }
}
