//! [`QuantizedGraph`]: the integer network built from a fused graph with
//! `cryptotl-quant`, its exact integer evaluator, the plaintext-modulus bound
//! analysis and the float-vs-quantized error bound.
//!
//! Documented on [`QuantizedGraph`].

use cryptotl_quant::{
    analyze_bounds, error_bound, quantize_layers, validate_scale_chain, AffineScale, BoundReport,
    ErrorBoundReport, FloatInterval, FloatLayer, FloatLinear, InputQuantizer, NamedLayer,
    WeightQuantization,
};
use rayon::prelude::*;

use crate::error::{GraphError, Result};
use crate::float_eval::check_input;
use crate::graph::Graph;
use crate::layers::Layer;

/// An integer network: the input quantizer and the integer layers.
///
/// Quantization follows the conventions of `cryptotl-quant`: the input is
/// quantized by the stored [`InputQuantizer`] (fitted on training data, never
/// refitted), each dense layer folds its input scale into its weights and is
/// quantized symmetrically ([`WeightQuantization`]), each activation becomes a
/// per-neuron integer polynomial, and the output is dequantized with the last
/// layer's [`AffineScale`].
///
/// The fields are public so that the encrypted evaluator can walk the layers;
/// every method validates the graph first ([`QuantizedGraph::validate`]), so
/// a hand-modified inconsistent graph gives an error, never a panic.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedGraph {
    /// The input quantizer (per-feature min/max fitted on training data).
    pub input: InputQuantizer,
    /// The integer layers, applied in order. Layer `k`'s input scale is the
    /// output scale of layer `k − 1` (the input quantizer's scale for `k = 0`).
    pub layers: Vec<NamedLayer>,
}

/// The name given to layer `index` of a fused graph when it is quantized:
/// `dense<index>` or `activation<index>` (for example `dense0`,
/// `activation1`, `dense2`).
pub(crate) fn layer_name(index: usize, layer: &Layer) -> String {
    format!("{}{index}", layer.kind())
}

/// Converts a fused graph (only `Dense` and `Activation` layers) into the
/// named float layers of `cryptotl-quant`, named by [`layer_name`].
///
/// # Errors
/// [`GraphError::NotFused`] for any other layer kind, or a validation error
/// if the graph is invalid.
pub(crate) fn float_layers(graph: &Graph) -> Result<Vec<(String, FloatLayer)>> {
    graph.validate()?;
    graph
        .layers
        .iter()
        .enumerate()
        .map(|(index, layer)| {
            let float = match layer {
                Layer::Dense(d) => FloatLayer::Linear(FloatLinear {
                    rows: d.out_features,
                    cols: d.in_features,
                    weights: d.weights.clone(),
                    bias: d.bias.clone(),
                }),
                Layer::Activation(p) => FloatLayer::Polynomial(p.clone()),
                other => {
                    return Err(GraphError::NotFused {
                        index,
                        kind: other.kind(),
                    })
                }
            };
            Ok((layer_name(index, layer), float))
        })
        .collect()
}

impl QuantizedGraph {
    /// A quantized graph from its parts, after [`QuantizedGraph::validate`].
    pub fn new(input: InputQuantizer, layers: Vec<NamedLayer>) -> Result<Self> {
        let graph = QuantizedGraph { input, layers };
        graph.validate()?;
        Ok(graph)
    }

    /// Quantizes a fused graph (see [`fuse`](crate::fuse)): the input with
    /// `input`, every dense layer with `scheme`, every activation as a
    /// per-neuron integer polynomial.
    ///
    /// # Errors
    /// [`GraphError::NotFused`] if the graph has a layer other than `Dense`
    /// or `Activation`, [`GraphError::InvalidInput`] if the quantizer's
    /// dimension is not the graph's input dimension, [`GraphError::InvalidGraph`]
    /// for a graph without layers, and quantization errors (for example an
    /// activation directly on the input, whose scale has an offset).
    pub fn from_fused(
        graph: &Graph,
        input: InputQuantizer,
        scheme: &WeightQuantization,
    ) -> Result<Self> {
        let layers = float_layers(graph)?;
        if layers.is_empty() {
            return Err(GraphError::InvalidGraph(
                "cannot quantize a graph without layers".into(),
            ));
        }
        input.validate()?;
        scheme.validate()?;
        if input.dim() != graph.input_dim {
            return Err(GraphError::InvalidInput(format!(
                "input quantizer has {} features, the graph's input dimension is {}",
                input.dim(),
                graph.input_dim
            )));
        }
        let layers = quantize_layers(&layers, &input, scheme)?;
        Self::new(input, layers)
    }

    /// Fuses `graph` ([`crate::fuse`]) and quantizes the result
    /// ([`QuantizedGraph::from_fused`]).
    pub fn fuse_and_quantize(
        graph: &Graph,
        input: InputQuantizer,
        scheme: &WeightQuantization,
    ) -> Result<Self> {
        Self::from_fused(&graph.fused()?, input, scheme)
    }

    /// Checks the graph: a valid input quantizer, at least one layer, every
    /// layer internally consistent, and the scale chain (layer 0 quantized for
    /// the input quantizer's scale, each later layer for its predecessor's
    /// output scale; this also makes the widths chain).
    pub fn validate(&self) -> Result<()> {
        self.input.validate()?;
        if self.layers.is_empty() {
            return Err(GraphError::InvalidGraph(
                "a quantized graph needs at least one layer".into(),
            ));
        }
        validate_scale_chain(&self.input.input_scale(), &self.layers)?;
        Ok(())
    }

    /// Input dimension (number of features).
    pub fn input_dim(&self) -> usize {
        self.input.dim()
    }

    /// Output dimension (width of the last layer; the input dimension if
    /// there is no layer).
    pub fn output_dim(&self) -> usize {
        self.layers
            .last()
            .map_or(self.input.dim(), |l| l.layer.output_dim())
    }

    /// The scale that dequantizes the network output (the last layer's
    /// output scale; the input scale if there is no layer).
    pub fn output_scale(&self) -> AffineScale {
        self.layers.last().map_or_else(
            || self.input.input_scale(),
            |l| l.layer.output_scale().clone(),
        )
    }

    /// Number of ciphertext × ciphertext multiplications along the network
    /// (one per degree-2 activation).
    pub fn multiplicative_depth(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.layer.multiplicative_depth())
            .sum()
    }

    /// Quantizes one input with the stored quantizer (clamping values outside
    /// the fitted range; it never refits).
    pub fn quantize_input(&self, x: &[f32]) -> Result<Vec<i64>> {
        check_input(self.input.dim(), x)?;
        Ok(self.input.quantize(x)?)
    }

    /// Exact integer evaluation of one quantized input. Errors if the input
    /// has the wrong dimension or a value outside the quantizer's range
    /// `[0, 2^bits − 1]` (the bound analysis assumes it), or on `i64`
    /// overflow (naming the layer).
    pub fn evaluate_integer(&self, q: &[i64]) -> Result<Vec<i64>> {
        self.validate()?;
        self.evaluate_integer_validated(q)
    }

    /// [`QuantizedGraph::evaluate_integer`] on a batch, in parallel.
    pub fn evaluate_integer_batch(&self, qs: &[Vec<i64>]) -> Result<Vec<Vec<i64>>> {
        self.validate()?;
        qs.par_iter()
            .enumerate()
            .map(|(i, q)| {
                self.evaluate_integer_validated(q)
                    .map_err(|e| sample_error(i, e))
            })
            .collect()
    }

    /// Dequantizes an integer network output with [`QuantizedGraph::output_scale`].
    pub fn dequantize(&self, y: &[i64]) -> Result<Vec<f32>> {
        Ok(self.output_scale().dequantize(y)?)
    }

    /// Quantizes `x`, evaluates the integer network and dequantizes the
    /// output.
    pub fn evaluate(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.validate()?;
        self.evaluate_validated(x)
    }

    /// [`QuantizedGraph::evaluate`] on a batch, in parallel over samples.
    pub fn evaluate_batch(&self, xs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.validate()?;
        xs.par_iter()
            .enumerate()
            .map(|(i, x)| self.evaluate_validated(x).map_err(|e| sample_error(i, e)))
            .collect()
    }

    /// Interval analysis of every integer value of the network over all
    /// quantized inputs (`[0, 2^bits − 1]` per feature); its
    /// [`BoundReport::required_plaintext_bits`] and
    /// [`BoundReport::check_plaintext_modulus`] size the BFV plaintext
    /// modulus.
    pub fn bounds(&self) -> Result<BoundReport> {
        self.validate()?;
        Ok(analyze_bounds(&self.layers, &self.input.interval())?)
    }

    /// Checks that the plaintext modulus `t` holds every value of the
    /// network with centered decoding; the error names the first layer that
    /// does not fit.
    pub fn check_plaintext_modulus(&self, t: u64) -> Result<()> {
        Ok(self.bounds()?.check_plaintext_modulus(t)?)
    }

    /// The stated float-vs-quantized error bound ([`cryptotl_quant::error_bound()`],
    /// whose rustdoc gives the formula): for every layer and neuron, a
    /// rigorous bound on `|float − dequantized integer|` over all real inputs
    /// in the box `input_range`, where "float" is `float_graph` (the fused
    /// graph this was quantized from) evaluated in exact arithmetic.
    ///
    /// # Errors
    /// [`GraphError::NotFused`] if `float_graph` is not fused, and errors if
    /// its layers do not correspond to this graph's layers.
    pub fn error_bound(
        &self,
        float_graph: &Graph,
        input_range: &[FloatInterval],
    ) -> Result<ErrorBoundReport> {
        self.validate()?;
        let float: Vec<FloatLayer> = float_layers(float_graph)?
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        Ok(error_bound(&float, &self.layers, &self.input, input_range)?)
    }

    /// [`QuantizedGraph::error_bound`] over the input quantizer's fitted range.
    pub fn error_bound_fitted(&self, float_graph: &Graph) -> Result<ErrorBoundReport> {
        self.error_bound(float_graph, &self.input.fitted_range())
    }

    fn evaluate_integer_validated(&self, q: &[i64]) -> Result<Vec<i64>> {
        if q.len() != self.input.dim() {
            return Err(GraphError::InvalidInput(format!(
                "expected {} quantized features, got {}",
                self.input.dim(),
                q.len()
            )));
        }
        let top = self.input.max_level();
        if let Some(j) = q.iter().position(|&v| !(0..=top).contains(&v)) {
            return Err(GraphError::InvalidInput(format!(
                "quantized feature {j} is {}, outside the input range [0, {top}]",
                q[j]
            )));
        }
        let mut cur = q.to_vec();
        for layer in &self.layers {
            cur = layer.evaluate(&cur)?;
        }
        Ok(cur)
    }

    fn evaluate_validated(&self, x: &[f32]) -> Result<Vec<f32>> {
        let q = self.quantize_input(x)?;
        let y = self.evaluate_integer_validated(&q)?;
        self.dequantize(&y)
    }
}

fn sample_error(i: usize, e: GraphError) -> GraphError {
    match e {
        GraphError::InvalidInput(msg) => GraphError::InvalidInput(format!("sample {i}: {msg}")),
        other => other,
    }
}
