//! Layers of an integer network ([`IntegerLayer`], [`NamedLayer`]), their float
//! counterparts ([`FloatLayer`]) and whole-network helpers.

use serde::{Deserialize, Serialize};

use crate::error::QuantError;
use crate::error_bound::FloatInterval;
use crate::input::InputQuantizer;
use crate::linear::{FloatLinear, QuantizedLinear};
use crate::polynomial::{FloatPolynomial, QuantizedPolynomial};
use crate::scale::AffineScale;
use crate::scheme::WeightQuantization;
use crate::util::check_dim;

/// Relative tolerance used by [`validate_scale_chain`].
pub const SCALE_CHAIN_TOLERANCE: f64 = 1e-12;

/// One layer of an integer network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IntegerLayer {
    /// Dense layer `Wq x + bq`.
    Linear(QuantizedLinear),
    /// Per-neuron integer polynomial activation.
    Polynomial(QuantizedPolynomial),
}

impl IntegerLayer {
    /// `"linear"` or `"polynomial"`.
    pub fn kind(&self) -> &'static str {
        match self {
            IntegerLayer::Linear(_) => "linear",
            IntegerLayer::Polynomial(_) => "polynomial",
        }
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        match self {
            IntegerLayer::Linear(l) => l.cols,
            IntegerLayer::Polynomial(p) => p.width(),
        }
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        match self {
            IntegerLayer::Linear(l) => l.rows,
            IntegerLayer::Polynomial(p) => p.width(),
        }
    }

    /// Scale of the input the layer was quantized for.
    pub fn input_scale(&self) -> &AffineScale {
        match self {
            IntegerLayer::Linear(l) => &l.input,
            IntegerLayer::Polynomial(p) => &p.input,
        }
    }

    /// Scale of the layer's output.
    pub fn output_scale(&self) -> &AffineScale {
        match self {
            IntegerLayer::Linear(l) => &l.output,
            IntegerLayer::Polynomial(p) => &p.output,
        }
    }

    /// Ciphertext-ciphertext multiplicative depth of the layer: 1 for a
    /// degree-2 polynomial, 0 otherwise.
    pub fn multiplicative_depth(&self) -> usize {
        match self {
            IntegerLayer::Linear(_) => 0,
            IntegerLayer::Polynomial(p) => usize::from(p.degree() >= 2),
        }
    }

    /// Checks internal consistency.
    ///
    /// # Errors
    /// As [`QuantizedLinear::validate`] / [`QuantizedPolynomial::validate`].
    pub fn validate(&self) -> Result<(), QuantError> {
        match self {
            IntegerLayer::Linear(l) => l.validate(),
            IntegerLayer::Polynomial(p) => p.validate(),
        }
    }

    /// Exact integer evaluation.
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`], [`QuantError::Overflow`].
    pub fn evaluate(&self, x: &[i64]) -> Result<Vec<i64>, QuantError> {
        match self {
            IntegerLayer::Linear(l) => l.evaluate(x),
            IntegerLayer::Polynomial(p) => p.evaluate(x),
        }
    }
}

/// A layer with a name; the name appears in errors and bound reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedLayer {
    /// Layer name (e.g. `"dense0"`).
    pub name: String,
    /// The layer.
    pub layer: IntegerLayer,
}

impl NamedLayer {
    /// Names a layer.
    pub fn new(name: impl Into<String>, layer: IntegerLayer) -> Self {
        NamedLayer {
            name: name.into(),
            layer,
        }
    }

    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Exact integer evaluation; errors are wrapped in [`QuantError::Layer`]
    /// with this layer's name.
    ///
    /// # Errors
    /// As [`IntegerLayer::evaluate`], wrapped.
    pub fn evaluate(&self, x: &[i64]) -> Result<Vec<i64>, QuantError> {
        self.layer.evaluate(x).map_err(|e| e.in_layer(&self.name))
    }
}

/// Evaluates a chain of integer layers on one integer input.
///
/// # Errors
/// As [`NamedLayer::evaluate`] for the first failing layer.
pub fn evaluate_layers(layers: &[NamedLayer], x: &[i64]) -> Result<Vec<i64>, QuantError> {
    let mut cur = x.to_vec();
    for l in layers {
        cur = l.evaluate(&cur)?;
    }
    Ok(cur)
}

/// Evaluates a chain of integer layers and returns every layer's output
/// (`result[k]` is the output of `layers[k]`).
///
/// # Errors
/// As [`NamedLayer::evaluate`] for the first failing layer.
pub fn evaluate_layers_trace(
    layers: &[NamedLayer],
    x: &[i64],
) -> Result<Vec<Vec<i64>>, QuantError> {
    let mut out: Vec<Vec<i64>> = Vec::with_capacity(layers.len());
    for l in layers {
        let y = l.evaluate(out.last().map_or(x, |v| v.as_slice()))?;
        out.push(y);
    }
    Ok(out)
}

/// Checks that every layer is internally valid, that the first layer's input
/// scale is `input` and that each later layer's input scale is the previous
/// layer's output scale (within a relative [`SCALE_CHAIN_TOLERANCE`]).
///
/// # Errors
/// [`QuantError::ScaleMismatch`] or a [`QuantError::Layer`]-wrapped validation error.
pub fn validate_scale_chain(input: &AffineScale, layers: &[NamedLayer]) -> Result<(), QuantError> {
    let mut prev = input;
    for l in layers {
        l.layer.validate().map_err(|e| e.in_layer(&l.name))?;
        if !l.layer.input_scale().approx_eq(prev, SCALE_CHAIN_TOLERANCE) {
            return Err(QuantError::ScaleMismatch {
                layer: l.name.clone(),
            });
        }
        prev = l.layer.output_scale();
    }
    Ok(())
}

/// A float layer, the counterpart of [`IntegerLayer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FloatLayer {
    /// Dense layer `W x + b`.
    Linear(FloatLinear),
    /// Element-wise polynomial activation.
    Polynomial(FloatPolynomial),
}

impl FloatLayer {
    /// `"linear"` or `"polynomial"`.
    pub fn kind(&self) -> &'static str {
        match self {
            FloatLayer::Linear(_) => "linear",
            FloatLayer::Polynomial(_) => "polynomial",
        }
    }

    /// Evaluates the layer in `f64`.
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] for a wrong input width.
    pub fn evaluate(&self, x: &[f64]) -> Result<Vec<f64>, QuantError> {
        match self {
            FloatLayer::Linear(l) => l.evaluate(x),
            FloatLayer::Polynomial(p) => Ok(p.evaluate_vec(x)),
        }
    }

    /// Interval image of a box of inputs (f64 interval arithmetic).
    ///
    /// # Errors
    /// [`QuantError::DimensionMismatch`] for a wrong input width.
    pub fn evaluate_interval(&self, x: &[FloatInterval]) -> Result<Vec<FloatInterval>, QuantError> {
        match self {
            FloatLayer::Linear(l) => l.evaluate_interval(x),
            FloatLayer::Polynomial(p) => Ok(x.iter().map(|&r| p.range_over(r)).collect()),
        }
    }
}

/// Evaluates a chain of float layers in `f64`.
///
/// # Errors
/// As [`FloatLayer::evaluate`], wrapped with the layer index.
pub fn evaluate_float_layers(layers: &[FloatLayer], x: &[f64]) -> Result<Vec<f64>, QuantError> {
    let mut cur = x.to_vec();
    for (k, l) in layers.iter().enumerate() {
        cur = l.evaluate(&cur).map_err(|e| e.in_layer(&format!("#{k}")))?;
    }
    Ok(cur)
}

/// Quantizes a chain of named float layers: the first layer gets the input
/// quantizer's scale, each later layer the previous layer's output scale.
///
/// # Errors
/// As [`QuantizedLinear::quantize`] / [`QuantizedPolynomial::quantize`],
/// wrapped in [`QuantError::Layer`]; [`QuantError::DimensionMismatch`] if
/// consecutive widths do not chain; [`QuantError::Empty`] for no layers.
pub fn quantize_layers(
    layers: &[(String, FloatLayer)],
    input: &InputQuantizer,
    scheme: &WeightQuantization,
) -> Result<Vec<NamedLayer>, QuantError> {
    if layers.is_empty() {
        return Err(QuantError::Empty("layer list".into()));
    }
    input.validate()?;
    let mut scale = input.input_scale();
    let mut out = Vec::with_capacity(layers.len());
    for (name, layer) in layers {
        let q = match layer {
            FloatLayer::Linear(l) => check_dim("linear input width", l.cols, scale.len())
                .and_then(|()| l.quantize(&scale, scheme))
                .map(IntegerLayer::Linear),
            FloatLayer::Polynomial(p) => {
                QuantizedPolynomial::quantize(p, &scale).map(IntegerLayer::Polynomial)
            }
        }
        .map_err(|e| e.in_layer(name))?;
        scale = q.output_scale().clone();
        out.push(NamedLayer::new(name.clone(), q));
    }
    Ok(out)
}
