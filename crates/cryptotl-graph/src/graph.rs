//! [`Graph`]: a sequence of layers with shape inference and validation, and
//! the default CryptoTL architecture ([`Graph::cryptotl_lower`]).

use cryptotl_quant::FloatPolynomial;
use rand::Rng;

use crate::error::{GraphError, Result};
use crate::layers::{AvgPool1d, Conv1d, Dense, Layer, Shape};

/// Kernel size of the convolution of the default architecture.
pub const LOWER_CONV_KERNEL: usize = 9;
/// Window of the average pooling of the default architecture.
pub const LOWER_POOL_WINDOW: usize = 3;

/// A feed-forward network: a flat input of dimension `input_dim` (the tensor
/// `(1, input_dim)`) followed by `layers`, applied in order.
///
/// Tensors between layers are `f32`; inside a layer, products are accumulated
/// in `f64` and the layer's output is rounded to `f32` once, so the result
/// does not depend on the summation order and is as close to the exact
/// network as `f32` activations allow.
///
/// The fields are public so that graphs can be built and inspected freely;
/// every consumer (evaluators, fusion, quantization, model files) validates
/// the graph first, so a malformed graph gives an error, never a panic.
/// [`Graph::new`] validates on construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Dimension of the (flat) input vector.
    pub input_dim: usize,
    /// The layers, applied in order.
    pub layers: Vec<Layer>,
}

/// The weights of the default architecture ([`Graph::cryptotl_lower_with`]),
/// for input dimension `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct LowerNetworkParams {
    /// The single convolution filter (`LOWER_CONV_KERNEL` taps, no bias).
    pub conv_kernel: Vec<f32>,
    /// First dense layer, `d x d` row-major.
    pub dense1_weights: Vec<f32>,
    /// First dense layer bias, length `d`.
    pub dense1_bias: Vec<f32>,
    /// The activation (the plain square `y²` by default).
    pub activation: FloatPolynomial,
    /// Second dense layer, `(d-2) x (d-2)` row-major.
    pub dense2_weights: Vec<f32>,
    /// Second dense layer bias, length `d-2`.
    pub dense2_bias: Vec<f32>,
}

impl LowerNetworkParams {
    /// Random Glorot-uniform weights for input dimension `d` (`d >= 3`):
    /// each weight uniform in `±sqrt(6 / (fan_in + fan_out))`, biases uniform
    /// in `±0.01`, square activation.
    pub fn random<R: Rng + ?Sized>(d: usize, rng: &mut R) -> Result<Self> {
        check_lower_dim(d)?;
        let k = LOWER_CONV_KERNEL;
        let p = d - (LOWER_POOL_WINDOW - 1);
        Ok(LowerNetworkParams {
            conv_kernel: glorot(rng, k, k, k),
            dense1_weights: glorot(rng, d * d, d, d),
            dense1_bias: uniform(rng, d, 0.01),
            activation: FloatPolynomial::square(),
            dense2_weights: glorot(rng, p * p, p, p),
            dense2_bias: uniform(rng, p, 0.01),
        })
    }
}

fn glorot<R: Rng + ?Sized>(rng: &mut R, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    uniform(rng, n, limit)
}

fn uniform<R: Rng + ?Sized>(rng: &mut R, n: usize, limit: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-limit..=limit)).collect()
}

fn check_lower_dim(d: usize) -> Result<()> {
    if d < LOWER_POOL_WINDOW {
        return Err(GraphError::InvalidGraph(format!(
            "the default architecture needs input dimension >= {LOWER_POOL_WINDOW}, got {d}"
        )));
    }
    Ok(())
}

impl Graph {
    /// Builds a graph and validates it ([`Graph::validate`]).
    pub fn new(input_dim: usize, layers: Vec<Layer>) -> Result<Self> {
        let graph = Graph { input_dim, layers };
        graph.validate()?;
        Ok(graph)
    }

    /// The default architecture, CryptoTL's lower network generalized to input
    /// dimension `d` (`d >= 3`), with random Glorot-uniform weights:
    ///
    /// `Conv1d(1 → 1 filter, kernel 9, same padding, no bias) → Dense(d → d)
    /// → Activation(y²) → AvgPool1d(3) → Dense(d−2 → d−2)`.
    pub fn cryptotl_lower<R: Rng + ?Sized>(d: usize, rng: &mut R) -> Result<Self> {
        Self::cryptotl_lower_with(d, LowerNetworkParams::random(d, rng)?)
    }

    /// The default architecture (see [`Graph::cryptotl_lower`]) with the given
    /// weights; errors if their sizes do not fit `d`.
    pub fn cryptotl_lower_with(d: usize, params: LowerNetworkParams) -> Result<Self> {
        check_lower_dim(d)?;
        let p = d - (LOWER_POOL_WINDOW - 1);
        let conv = Conv1d::new(1, 1, LOWER_CONV_KERNEL, params.conv_kernel, None)
            .map_err(|reason| invalid(0, "conv1d", reason))?;
        let dense1 = Dense::new(d, d, params.dense1_weights, params.dense1_bias)
            .map_err(|reason| invalid(1, "dense", reason))?;
        let dense2 = Dense::new(p, p, params.dense2_weights, params.dense2_bias)
            .map_err(|reason| invalid(4, "dense", reason))?;
        Graph::new(
            d,
            vec![
                Layer::Conv1d(conv),
                Layer::Dense(dense1),
                Layer::Activation(params.activation),
                Layer::AvgPool1d(AvgPool1d {
                    window: LOWER_POOL_WINDOW,
                }),
                Layer::Dense(dense2),
            ],
        )
    }

    /// The input shape `(1, input_dim)`.
    pub fn input_shape(&self) -> Shape {
        Shape::flat(self.input_dim)
    }

    /// Shape inference: the input shape followed by the output shape of every
    /// layer (`layers.len() + 1` entries). Errors name the first layer that is
    /// malformed or does not accept its input shape.
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        if self.input_dim == 0 {
            return Err(GraphError::InvalidGraph(
                "input dimension must be non-zero".into(),
            ));
        }
        let mut shapes = Vec::with_capacity(self.layers.len() + 1);
        let mut shape = self.input_shape();
        shapes.push(shape);
        for (index, layer) in self.layers.iter().enumerate() {
            shape = layer
                .output_shape(shape)
                .map_err(|reason| invalid(index, layer.kind(), reason))?;
            shapes.push(shape);
        }
        Ok(shapes)
    }

    /// Checks every layer's parameters and that each layer accepts the shape
    /// produced by the previous one.
    pub fn validate(&self) -> Result<()> {
        self.shapes().map(|_| ())
    }

    /// The output shape of the graph.
    pub fn output_shape(&self) -> Result<Shape> {
        let shapes = self.shapes()?;
        // `shapes` always holds at least the input shape.
        Ok(shapes[shapes.len() - 1])
    }

    /// The number of output values (`channels * length` of the output shape).
    pub fn output_dim(&self) -> Result<usize> {
        Ok(self.output_shape()?.len())
    }
}

pub(crate) fn invalid(index: usize, kind: &'static str, reason: String) -> GraphError {
    GraphError::InvalidLayer {
        index,
        kind,
        reason,
    }
}
