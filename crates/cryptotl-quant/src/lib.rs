//! Integer quantization for cryptotl.
//!
//! BFV encrypts integers modulo a plaintext modulus `t`, so the network that is
//! evaluated under encryption must be an *integer* network whose every
//! intermediate value stays inside the centered range `(-t/2, t/2)`. This
//! crate provides:
//!
//! - [`AffineScale`], the map from integer vectors back to real vectors
//!   (`x[j] ≈ scale[j] * q[j] + offset[j]`),
//! - [`InputQuantizer`], per-feature min/max fitted on training data and
//!   stored with the model (it never refits),
//! - [`WeightQuantization`] (bit width and [`Granularity`]),
//! - [`FloatLinear`] and its exact integer counterpart [`QuantizedLinear`],
//! - [`FloatPolynomial`] activations (degree <= 2) and per-neuron integer
//!   [`QuantizedPolynomial`]s,
//! - [`IntegerLayer`], [`NamedLayer`] and whole-network helpers
//!   ([`quantize_layers`], [`evaluate_layers`]),
//! - integer interval analysis ([`analyze_bounds`], [`BoundReport`]) that
//!   sizes and checks the plaintext modulus,
//! - a rigorous worst-case bound on the difference between the float network
//!   and the dequantized integer network ([`error_bound()`],
//!   [`ErrorBoundReport`]).
//!
//! All integer arithmetic is exact: accumulations are done in `i128` with
//! checked operations and a result that does not fit `i64` is reported as
//! [`QuantError::Overflow`], never wrapped.
//!
//! # Example
//!
//! ```
//! use cryptotl_quant::{
//!     analyze_bounds, error_bound, evaluate_layers, quantize_layers, FloatLayer, FloatLinear,
//!     FloatPolynomial, InputQuantizer, WeightQuantization,
//! };
//!
//! # fn main() -> Result<(), cryptotl_quant::QuantError> {
//! let train = vec![vec![0.0f32, 1.0], vec![2.0, -1.0], vec![1.0, 0.5]];
//! let input = InputQuantizer::fit(&train, 8)?;
//! let layers = vec![
//!     ("dense0".to_string(), FloatLayer::Linear(FloatLinear::new(vec![0.5, -0.25, 1.0, 0.75], vec![0.1, 0.0], 2, 2)?)),
//!     ("act".to_string(), FloatLayer::Polynomial(FloatPolynomial::square())),
//!     ("dense1".to_string(), FloatLayer::Linear(FloatLinear::new(vec![1.0, -1.0], vec![0.0], 1, 2)?)),
//! ];
//! let quantized = quantize_layers(&layers, &input, &WeightQuantization::per_output_channel(8)?)?;
//!
//! // Integer evaluation and dequantization of the output.
//! let q = input.quantize(&[1.0, 0.0])?;
//! let y = evaluate_layers(&quantized, &q)?;
//! let real = quantized[2].layer.output_scale().dequantize(&y)?;
//!
//! // Which plaintext modulus holds every value?
//! let bounds = analyze_bounds(&quantized, &input.interval())?;
//! let bits = bounds.required_plaintext_bits(); // any prime t >= 2^(bits-1) works
//! assert!(bounds.check_plaintext_modulus((1u64 << (bits - 1)) + 1).is_ok());
//! assert!(bounds.check_plaintext_modulus(255).is_err()); // the 8-bit input alone needs t > 510
//!
//! // How far can the dequantized output be from the float network?
//! let floats: Vec<FloatLayer> = layers.iter().map(|(_, l)| l.clone()).collect();
//! let err = error_bound(&floats, &quantized, &input, &input.fitted_range())?;
//! let exact = 1.0f64 * (0.5f64 * 1.0 + 0.1).powi(2) - (1.0f64 * 1.0).powi(2);
//! assert!((f64::from(real[0]) - exact).abs() <= err.max_output_error() + 1e-6);
//! # Ok(())
//! # }
//! ```

mod bounds;
mod error;
mod error_bound;
mod input;
mod layer;
mod linear;
mod polynomial;
mod scale;
mod scheme;
mod util;

pub use bounds::{analyze_bounds, BoundReport, Interval, LayerBound, INPUT_LAYER_NAME};
pub use error::QuantError;
pub use error_bound::{error_bound, ErrorBoundReport, FloatInterval, LayerErrorBound};
pub use input::{InputQuantizer, MIN_INPUT_BITS};
pub use layer::{
    evaluate_float_layers, evaluate_layers, evaluate_layers_trace, quantize_layers,
    validate_scale_chain, FloatLayer, IntegerLayer, NamedLayer, SCALE_CHAIN_TOLERANCE,
};
pub use linear::{FloatLinear, QuantizedLinear};
pub use polynomial::{FloatPolynomial, QuantizedPolynomial, MAX_POLYNOMIAL_DEGREE};
pub use scale::AffineScale;
pub use scheme::{Granularity, WeightQuantization, MAX_BITS, MIN_WEIGHT_BITS};
