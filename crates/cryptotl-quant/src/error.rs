//! Errors returned by the quantization crate.

use thiserror::Error;

/// Everything that can go wrong in `cryptotl-quant`.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum QuantError {
    /// A bit width is outside its allowed range.
    #[error("invalid bit width {bits} for {what}: must be in {min}..={max}")]
    InvalidBits {
        /// What the bit width is for (`"input"`, `"weights"`).
        what: &'static str,
        /// The rejected bit width.
        bits: u32,
        /// Smallest allowed bit width.
        min: u32,
        /// Largest allowed bit width.
        max: u32,
    },
    /// Two sizes that must agree do not.
    #[error("dimension mismatch in {context}: expected {expected}, found {found}")]
    DimensionMismatch {
        /// Where the mismatch was detected.
        context: String,
        /// The expected size.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// Something that must not be empty is empty (no samples, zero features, no layers).
    #[error("empty {0}")]
    Empty(String),
    /// A NaN or infinite value where a finite one is required.
    #[error("non-finite value in {context}")]
    NonFinite {
        /// Where the value was found.
        context: String,
    },
    /// A per-feature range with `min > max`.
    #[error("invalid range for feature {index}: min {min} > max {max}")]
    InvalidRange {
        /// Feature index.
        index: usize,
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
    },
    /// An integer interval with `lo > hi`.
    #[error("invalid interval {index}: [{lo}, {hi}]")]
    InvalidInterval {
        /// Position of the interval.
        index: usize,
        /// Lower end.
        lo: i128,
        /// Upper end.
        hi: i128,
    },
    /// A scale that is not finite and strictly positive.
    #[error("invalid scale in {context}: {value} (must be finite and > 0)")]
    InvalidScale {
        /// Where the scale was found.
        context: String,
        /// The rejected value.
        value: f64,
    },
    /// A polynomial activation of degree > 2 (a cubic cannot be exact under
    /// BFV's 61-bit plaintext limit).
    #[error("polynomial degree {degree} is not supported (maximum 2)")]
    UnsupportedDegree {
        /// The degree of the rejected polynomial.
        degree: usize,
    },
    /// A constant activation polynomial (`a1 = a2 = 0`) cannot be quantized.
    #[error("constant activation polynomial cannot be quantized")]
    ConstantPolynomial,
    /// A polynomial layer's input scale has a non-zero offset.
    #[error("polynomial input must have zero offset (neuron {index} has offset {offset})")]
    NonZeroOffset {
        /// Neuron index.
        index: usize,
        /// The offending offset.
        offset: f64,
    },
    /// A real value cannot be rounded to an `i64` (too large or not finite).
    #[error("value {value} in {context} cannot be represented as a 64-bit integer")]
    OutOfRange {
        /// Where the value was produced.
        context: String,
        /// The value.
        value: f64,
    },
    /// Exact integer arithmetic overflowed (`i128` accumulation or `i64` result).
    #[error("integer overflow in {context}")]
    Overflow {
        /// Where the overflow happened.
        context: String,
    },
    /// A layer's kind differs from what was expected (e.g. float vs quantized layer lists).
    #[error("layer {index}: expected a {expected} layer, found a {found} layer")]
    LayerKindMismatch {
        /// Layer index.
        index: usize,
        /// Expected kind.
        expected: &'static str,
        /// Found kind.
        found: &'static str,
    },
    /// A layer's input scale is not the previous layer's output scale.
    #[error("layer `{layer}`: input scale does not match the previous layer's output scale")]
    ScaleMismatch {
        /// Name of the layer.
        layer: String,
    },
    /// An error that happened inside a named layer.
    #[error("layer `{layer}`: {source}")]
    Layer {
        /// Name of the layer.
        layer: String,
        /// The underlying error.
        #[source]
        source: Box<QuantError>,
    },
    /// The plaintext modulus cannot hold a layer's values with centered decoding.
    #[error(
        "plaintext modulus {modulus} is too small for layer `{layer}`: its values reach \
         +/-{bound}, which needs t > {}", bound.saturating_mul(2)
    )]
    PlaintextModulusTooSmall {
        /// Name of the first layer whose bound does not fit (`"<input>"` for the input).
        layer: String,
        /// Largest absolute value of that layer.
        bound: u128,
        /// The rejected plaintext modulus.
        modulus: u64,
    },
}

impl QuantError {
    /// Wraps `self` as having happened in the layer `name`.
    pub fn in_layer(self, name: &str) -> Self {
        QuantError::Layer {
            layer: name.to_string(),
            source: Box::new(self),
        }
    }
}
