//! Layer types and their shape rules.
//!
//! Documented on [`Layer`].

use std::fmt;

use cryptotl_quant::FloatPolynomial;

/// The shape of a tensor flowing through a graph: `channels` rows of
/// `length` values each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Number of channels.
    pub channels: usize,
    /// Number of positions per channel.
    pub length: usize,
}

impl Shape {
    /// The shape `(1, d)` of a flat vector of dimension `d`.
    pub fn flat(d: usize) -> Self {
        Shape {
            channels: 1,
            length: d,
        }
    }

    /// Total number of elements, `channels * length` (saturating).
    pub fn len(&self) -> usize {
        self.channels.saturating_mul(self.length)
    }

    /// Whether the shape holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.channels, self.length)
    }
}

/// One-dimensional convolution, stride 1, "same" zero padding (the output has
/// the input's length), odd kernel size. Cross-correlation as in PyTorch:
///
/// `y[o][t] = bias[o] + Σ_i Σ_u weights[o][i][u] · x[i][t + u − (kernel − 1)/2]`,
/// with `x` taken as zero outside `0..length`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1d {
    /// Number of input channels.
    pub in_channels: usize,
    /// Number of output channels (filters).
    pub out_channels: usize,
    /// Kernel size (odd).
    pub kernel: usize,
    /// Weights, shape `(out_channels, in_channels, kernel)`, row-major.
    pub weights: Vec<f32>,
    /// Optional bias, one per output channel.
    pub bias: Option<Vec<f32>>,
}

impl Conv1d {
    /// Builds a convolution after checking its parameters (odd non-zero kernel,
    /// non-zero channel counts, weight and bias lengths, finite values).
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> Result<Self, String> {
        let conv = Conv1d {
            in_channels,
            out_channels,
            kernel,
            weights,
            bias,
        };
        conv.check_parameters()?;
        Ok(conv)
    }

    /// The weight of output channel `o`, input channel `i`, tap `u`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn weight(&self, o: usize, i: usize, u: usize) -> f32 {
        self.weights[(o * self.in_channels + i) * self.kernel + u]
    }

    fn check_parameters(&self) -> Result<(), String> {
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err("channel counts must be non-zero".into());
        }
        if self.kernel == 0 || self.kernel.is_multiple_of(2) {
            return Err(format!(
                "kernel size must be odd (same padding), got {}",
                self.kernel
            ));
        }
        let expected = self
            .out_channels
            .checked_mul(self.in_channels)
            .and_then(|n| n.checked_mul(self.kernel))
            .ok_or("weight tensor size overflows")?;
        check_len("weights", self.weights.len(), expected)?;
        check_finite("weights", &self.weights)?;
        if let Some(bias) = &self.bias {
            check_len("bias", bias.len(), self.out_channels)?;
            check_finite("bias", bias)?;
        }
        Ok(())
    }

    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        self.check_parameters()?;
        if input.channels != self.in_channels {
            return Err(format!(
                "expects {} input channel(s), got input of shape {input}",
                self.in_channels
            ));
        }
        Ok(Shape {
            channels: self.out_channels,
            length: input.length,
        })
    }

    fn forward_linear(&self, input: Shape, x: &[f64]) -> Vec<f64> {
        let len = input.length;
        let pad = self.kernel / 2;
        let mut y = vec![0.0; self.out_channels * len];
        for o in 0..self.out_channels {
            let out = &mut y[o * len..(o + 1) * len];
            for i in 0..self.in_channels {
                let xi = &x[i * len..(i + 1) * len];
                for u in 0..self.kernel {
                    let w = f64::from(self.weight(o, i, u));
                    // Input position s = t + u - pad must lie in 0..len.
                    let t_lo = pad.saturating_sub(u);
                    let t_hi = (len + pad).saturating_sub(u).min(len);
                    for t in t_lo..t_hi {
                        out[t] += w * xi[t + u - pad];
                    }
                }
            }
        }
        y
    }

    fn transpose_linear(&self, input: Shape, y: &[f64]) -> Vec<f64> {
        let len = input.length;
        let pad = self.kernel / 2;
        let mut x = vec![0.0; self.in_channels * len];
        for o in 0..self.out_channels {
            let yo = &y[o * len..(o + 1) * len];
            for i in 0..self.in_channels {
                let xi = &mut x[i * len..(i + 1) * len];
                for u in 0..self.kernel {
                    let w = f64::from(self.weight(o, i, u));
                    let t_lo = pad.saturating_sub(u);
                    let t_hi = (len + pad).saturating_sub(u).min(len);
                    for t in t_lo..t_hi {
                        xi[t + u - pad] += w * yo[t];
                    }
                }
            }
        }
        x
    }

    fn add_bias(&self, length: usize, y: &mut [f64]) {
        if let Some(bias) = &self.bias {
            for (o, &b) in bias.iter().enumerate() {
                for v in &mut y[o * length..(o + 1) * length] {
                    *v += f64::from(b);
                }
            }
        }
    }
}

/// Fully connected layer on a flat vector: `y = W x + b`, `W` of shape
/// `(out_features, in_features)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Input dimension.
    pub in_features: usize,
    /// Output dimension.
    pub out_features: usize,
    /// Weights, `out_features x in_features`, row-major.
    pub weights: Vec<f32>,
    /// Bias, one per output.
    pub bias: Vec<f32>,
}

impl Dense {
    /// Builds a dense layer after checking its parameters (non-zero
    /// dimensions, weight and bias lengths, finite values).
    pub fn new(
        in_features: usize,
        out_features: usize,
        weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<Self, String> {
        let dense = Dense {
            in_features,
            out_features,
            weights,
            bias,
        };
        dense.check_parameters()?;
        Ok(dense)
    }

    /// Row `i` of the weight matrix.
    ///
    /// # Panics
    /// If `i >= out_features` or the weights are too short.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.weights[i * self.in_features..(i + 1) * self.in_features]
    }

    fn check_parameters(&self) -> Result<(), String> {
        if self.in_features == 0 || self.out_features == 0 {
            return Err("dimensions must be non-zero".into());
        }
        let expected = self
            .out_features
            .checked_mul(self.in_features)
            .ok_or("weight matrix size overflows")?;
        check_len("weights", self.weights.len(), expected)?;
        check_len("bias", self.bias.len(), self.out_features)?;
        check_finite("weights", &self.weights)?;
        check_finite("bias", &self.bias)
    }

    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        self.check_parameters()?;
        if input.channels != 1 {
            return Err(format!(
                "expects a flat input (1, {}), got shape {input}; insert a flatten layer",
                self.in_features
            ));
        }
        if input.length != self.in_features {
            return Err(format!(
                "expects input dimension {}, got {}",
                self.in_features, input.length
            ));
        }
        Ok(Shape::flat(self.out_features))
    }

    fn forward_linear(&self, x: &[f64]) -> Vec<f64> {
        (0..self.out_features)
            .map(|i| {
                self.row(i)
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| f64::from(w) * v)
                    .sum()
            })
            .collect()
    }

    fn transpose_linear(&self, y: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; self.in_features];
        for (i, &yi) in y.iter().enumerate() {
            if yi == 0.0 {
                continue;
            }
            for (xj, &w) in x.iter_mut().zip(self.row(i)) {
                *xj += f64::from(w) * yi;
            }
        }
        x
    }
}

/// Average pooling per channel, stride 1, no padding ("valid"): a channel of
/// length `L` becomes `L − window + 1` values,
/// `y[c][t] = (x[c][t] + … + x[c][t + window − 1]) / window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool1d {
    /// Pooling window (at least 1, at most the input length).
    pub window: usize,
}

impl AvgPool1d {
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        if self.window == 0 {
            return Err("window must be at least 1".into());
        }
        if self.window > input.length {
            return Err(format!(
                "window {} is longer than the input length {} (shape {input})",
                self.window, input.length
            ));
        }
        Ok(Shape {
            channels: input.channels,
            length: input.length - self.window + 1,
        })
    }

    fn forward_linear(&self, input: Shape, x: &[f64]) -> Vec<f64> {
        let len = input.length;
        let out_len = len - self.window + 1;
        let w = self.window as f64;
        let mut y = Vec::with_capacity(input.channels * out_len);
        for c in 0..input.channels {
            let xc = &x[c * len..(c + 1) * len];
            y.extend(
                xc.windows(self.window)
                    .map(|win| win.iter().sum::<f64>() / w),
            );
        }
        y
    }

    fn transpose_linear(&self, input: Shape, y: &[f64]) -> Vec<f64> {
        let len = input.length;
        let out_len = len - self.window + 1;
        let w = self.window as f64;
        let mut x = vec![0.0; input.channels * len];
        for c in 0..input.channels {
            for t in 0..out_len {
                let v = y[c * out_len + t] / w;
                for xs in &mut x[c * len + t..c * len + t + self.window] {
                    *xs += v;
                }
            }
        }
        x
    }
}

/// One layer of a [`Graph`](crate::Graph).
///
/// Tensors are `(channels, length)` arrays of `f32`, stored flat in
/// channel-major order: element `(c, t)` is at index `c * length + t`. A flat
/// vector of dimension `d` is the tensor `(1, d)`.
///
/// The affine layers ([`Conv1d`], [`Dense`], [`AvgPool1d`], [`Layer::Flatten`])
/// also provide their linear part and its transpose in `f64`, which the f32
/// evaluator and the fusion pass share.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// 1-D convolution (affine).
    Conv1d(Conv1d),
    /// Fully connected layer (affine).
    Dense(Dense),
    /// Element-wise polynomial activation (degree at most 2).
    Activation(FloatPolynomial),
    /// Average pooling (linear).
    AvgPool1d(AvgPool1d),
    /// Reshapes `(c, L)` into the flat `(1, c·L)` (channel-major; a no-op on
    /// the data).
    Flatten,
}

impl Layer {
    /// A short lowercase name of the layer kind (`conv1d`, `dense`,
    /// `activation`, `avgpool1d`, `flatten`), used in errors and manifests.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv1d(_) => "conv1d",
            Layer::Dense(_) => "dense",
            Layer::Activation(_) => "activation",
            Layer::AvgPool1d(_) => "avgpool1d",
            Layer::Flatten => "flatten",
        }
    }

    /// Whether the layer is an affine map (everything but activations); runs
    /// of affine layers are what the fusion pass merges.
    pub fn is_affine(&self) -> bool {
        !matches!(self, Layer::Activation(_))
    }

    /// The output shape for the given input shape, or why the layer does not
    /// accept it (or is malformed).
    pub fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        match self {
            Layer::Conv1d(c) => c.output_shape(input),
            Layer::Dense(d) => d.output_shape(input),
            Layer::Activation(p) => {
                check_polynomial(p)?;
                Ok(input)
            }
            Layer::AvgPool1d(p) => p.output_shape(input),
            Layer::Flatten => Ok(Shape::flat(input.len())),
        }
    }

    /// Applies the layer in `f64` to `x` of shape `input` (which must have
    /// been accepted by [`Layer::output_shape`]). Activations are evaluated
    /// with Horner's rule.
    pub(crate) fn forward_f64(&self, input: Shape, x: &[f64]) -> Vec<f64> {
        match self {
            Layer::Activation(p) => p.evaluate_vec(x),
            _ => {
                let mut y = self.linear_f64(input, x);
                self.add_bias_f64(input, &mut y);
                y
            }
        }
    }

    /// The linear part (no bias) of an affine layer. Activations are not
    /// linear: they return `x` unchanged (never called on them).
    pub(crate) fn linear_f64(&self, input: Shape, x: &[f64]) -> Vec<f64> {
        match self {
            Layer::Conv1d(c) => c.forward_linear(input, x),
            Layer::Dense(d) => d.forward_linear(x),
            Layer::AvgPool1d(p) => p.forward_linear(input, x),
            Layer::Flatten | Layer::Activation(_) => x.to_vec(),
        }
    }

    /// The transpose of the linear part of an affine layer: maps a vector of
    /// the output space to the input space.
    pub(crate) fn linear_transpose_f64(&self, input: Shape, y: &[f64]) -> Vec<f64> {
        match self {
            Layer::Conv1d(c) => c.transpose_linear(input, y),
            Layer::Dense(d) => d.transpose_linear(y),
            Layer::AvgPool1d(p) => p.transpose_linear(input, y),
            Layer::Flatten | Layer::Activation(_) => y.to_vec(),
        }
    }

    /// Adds the bias of an affine layer (if any) to its linear output.
    pub(crate) fn add_bias_f64(&self, input: Shape, y: &mut [f64]) {
        match self {
            Layer::Conv1d(c) => c.add_bias(input.length, y),
            Layer::Dense(d) => {
                for (v, &b) in y.iter_mut().zip(&d.bias) {
                    *v += f64::from(b);
                }
            }
            Layer::AvgPool1d(_) | Layer::Flatten | Layer::Activation(_) => {}
        }
    }
}

fn check_polynomial(p: &FloatPolynomial) -> Result<(), String> {
    p.validate()
        .map_err(|e| format!("invalid activation polynomial: {e}"))
}

fn check_len(what: &str, found: usize, expected: usize) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{what} has {found} values, expected {expected}"))
    }
}

fn check_finite(what: &str, values: &[f32]) -> Result<(), String> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(format!("{what}[{i}] is not finite")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn conv(
        in_c: usize,
        out_c: usize,
        k: usize,
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> Layer {
        Layer::Conv1d(Conv1d::new(in_c, out_c, k, weights, bias).expect("valid conv"))
    }

    #[test]
    fn conv1d_same_padding_cross_correlation() {
        // Kernel [1, 2, 3] on [1, 10, 100, 1000]: y[t] = x[t-1] + 2 x[t] + 3 x[t+1].
        let layer = conv(1, 1, 3, vec![1.0, 2.0, 3.0], Some(vec![0.5]));
        let shape = Shape::flat(4);
        assert_eq!(layer.output_shape(shape), Ok(shape));
        let y = layer.forward_f64(shape, &[1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(y, vec![32.5, 321.5, 3210.5, 2100.5]);
    }

    #[test]
    fn conv1d_multi_channel() {
        // Two inputs channels, two filters, kernel 1: a per-position 2x2 matrix.
        let layer = conv(2, 2, 1, vec![1.0, 2.0, 3.0, 4.0], None);
        let shape = Shape {
            channels: 2,
            length: 2,
        };
        let y = layer.forward_f64(shape, &[1.0, 2.0, 10.0, 20.0]);
        assert_eq!(y, vec![21.0, 42.0, 43.0, 86.0]);
    }

    #[test]
    fn avgpool_valid_window() {
        let layer = Layer::AvgPool1d(AvgPool1d { window: 3 });
        let shape = Shape {
            channels: 2,
            length: 4,
        };
        let out = layer.output_shape(shape).expect("fits");
        assert_eq!(
            out,
            Shape {
                channels: 2,
                length: 2
            }
        );
        let y = layer.forward_f64(shape, &[3.0, 6.0, 9.0, 0.0, 1.0, 1.0, 1.0, 4.0]);
        assert_eq!(y, vec![6.0, 5.0, 1.0, 2.0]);
    }

    #[test]
    fn malformed_layers_are_refused() {
        assert!(Conv1d::new(1, 1, 2, vec![0.0; 2], None).is_err());
        assert!(Conv1d::new(1, 1, 3, vec![0.0; 2], None).is_err());
        assert!(Conv1d::new(1, 2, 3, vec![0.0; 6], Some(vec![0.0])).is_err());
        assert!(Conv1d::new(1, 1, 3, vec![0.0, f32::NAN, 0.0], None).is_err());
        assert!(Dense::new(2, 2, vec![0.0; 3], vec![0.0; 2]).is_err());
        assert!(Dense::new(2, 2, vec![0.0; 4], vec![0.0; 3]).is_err());
        assert!(Dense::new(0, 2, vec![], vec![0.0; 2]).is_err());
        assert!(Dense::new(1, 1, vec![f32::INFINITY], vec![0.0]).is_err());
        let pool = Layer::AvgPool1d(AvgPool1d { window: 0 });
        assert!(pool.output_shape(Shape::flat(3)).is_err());
        let cubic = Layer::Activation(FloatPolynomial {
            coefficients: vec![0.0, 0.0, 0.0, 1.0],
        });
        assert!(cubic.output_shape(Shape::flat(3)).is_err());
    }

    fn affine_layer() -> impl Strategy<Value = (Layer, Shape)> {
        let conv =
            (1usize..3, 1usize..3, 0usize..3, 1usize..6).prop_flat_map(|(ic, oc, kh, len)| {
                let k = 2 * kh + 1;
                (
                    proptest::collection::vec(-2.0f32..2.0, ic * oc * k),
                    Just((ic, oc, k, len)),
                )
                    .prop_map(|(w, (ic, oc, k, len))| {
                        (
                            conv(ic, oc, k, w, None),
                            Shape {
                                channels: ic,
                                length: len,
                            },
                        )
                    })
            });
        let dense = (1usize..5, 1usize..5).prop_flat_map(|(i, o)| {
            proptest::collection::vec(-2.0f32..2.0, i * o).prop_map(move |w| {
                (
                    Layer::Dense(Dense::new(i, o, w, vec![0.0; o]).expect("valid")),
                    Shape::flat(i),
                )
            })
        });
        let pool = (1usize..3, 1usize..4, 0usize..3).prop_map(|(c, w, extra)| {
            (
                Layer::AvgPool1d(AvgPool1d { window: w }),
                Shape {
                    channels: c,
                    length: w + extra,
                },
            )
        });
        prop_oneof![conv, dense, pool]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The transpose is the adjoint of the linear part:
        /// `<A x, y> = <x, Aᵀ y>`.
        #[test]
        fn transpose_is_adjoint((layer, shape) in affine_layer(), seed in any::<u64>()) {
            let out = layer.output_shape(shape).expect("generated to fit");
            let val = |i: usize, salt: u64| {
                let h = (seed ^ salt).wrapping_add(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                ((h >> 40) as f64 / (1u64 << 24) as f64) - 0.5
            };
            let x: Vec<f64> = (0..shape.len()).map(|i| val(i, 1)).collect();
            let y: Vec<f64> = (0..out.len()).map(|i| val(i, 2)).collect();
            let ax = layer.linear_f64(shape, &x);
            let aty = layer.linear_transpose_f64(shape, &y);
            prop_assert_eq!(ax.len(), out.len());
            prop_assert_eq!(aty.len(), shape.len());
            let lhs: f64 = ax.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&aty).map(|(a, b)| a * b).sum();
            prop_assert!((lhs - rhs).abs() <= 1e-9 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
        }
    }
}
