//! The candle mirror of CryptoTL's lower network plus the temporary heads
//! (one per source) and the optional reconstruction decoder.
//!
//! Parameters have exactly the shapes and meaning of the layers of
//! [`Graph::cryptotl_lower_with`](cryptotl_graph::Graph::cryptotl_lower_with)
//! (conv kernel, dense `d x d` + bias, quadratic activation, dense
//! `(d−2) x (d−2)` + bias), so export is lossless. The forward pass works on
//! the *fused* maps, as deployment does: `M0 = W1 · Conv` (`d x d`) and
//! `M2 = W2 · Pool` (`(d−2) x d`), both built from the parameters inside the
//! autograd graph.
//!
//! In quantization-aware mode the input is the integer input levels
//! (`InputQuantizer::quantize`) and the forward pass reproduces the integer
//! network's arithmetic in real units (see [`Net::forward`]).

use candle_core::{DType, Device, Tensor, Var, D};
use cryptotl_graph::LowerNetworkParams;
use cryptotl_graph::{LOWER_CONV_KERNEL, LOWER_POOL_WINDOW};
use cryptotl_quant::{FloatPolynomial, InputQuantizer};

use crate::error::Result;
use crate::fake_quant::{quantize_rows, ste};
use crate::head::Head;

/// What the quantization-aware forward pass needs besides the weights.
#[derive(Debug, Clone)]
pub(crate) struct QuantContext {
    /// Input steps `s` as a `(1, d)` row (`f32`, differentiable path).
    scale: Tensor,
    /// Input minima as a `(d, 1)` column (`f32`, differentiable path).
    offset: Tensor,
    /// `scale` in `f64` (the deployed values, for the grid decisions).
    scale64: Tensor,
    /// `offset` in `f64`.
    offset64: Tensor,
    /// Largest weight level `2^(b_w−1) − 1`.
    level: f64,
}

impl QuantContext {
    /// The context for inputs quantized by `input` and weights of
    /// `weight_bits` bits.
    pub(crate) fn new(input: &InputQuantizer, weight_bits: u32, device: &Device) -> Result<Self> {
        let s = input.input_scale();
        let d = s.len();
        let scale64 = Tensor::from_slice(&s.scale, (1, d), device)?;
        let offset64 = Tensor::from_slice(&s.offset, (d, 1), device)?;
        Ok(QuantContext {
            scale: scale64.to_dtype(DType::F32)?,
            offset: offset64.to_dtype(DType::F32)?,
            scale64,
            offset64,
            level: ((1i64 << (weight_bits.clamp(2, 32) - 1)) - 1) as f64,
        })
    }
}

/// The linear reconstruction decoder `ẑ = D f + c` from the lower network's
/// `d − 2` output features back to the `d` standardized input features
/// (training only; discarded at export).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoder {
    /// `D`, `d x (d − 2)`, row-major.
    pub(crate) weights: Vec<f32>,
    /// `c`, `d` values.
    pub(crate) bias: Vec<f32>,
}

impl Decoder {
    /// The all-zero decoder for input dimension `d` (no randomness, so
    /// switching the reconstruction term on does not move the seeded
    /// initialization of anything else).
    pub(crate) fn zeros(d: usize) -> Self {
        Decoder {
            weights: vec![0.0; d * (d + 1 - LOWER_POOL_WINDOW)],
            bias: vec![0.0; d],
        }
    }
}

/// Everything a [`Net`] is built from and [`Net::snapshot`] gives back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetParams {
    /// The lower network.
    pub(crate) lower: LowerNetworkParams,
    /// One head per source.
    pub(crate) heads: Vec<Head>,
    /// The reconstruction decoder, if the term is on.
    pub(crate) decoder: Option<Decoder>,
}

/// One head's variables.
#[derive(Debug)]
struct HeadVars {
    w: Var,
    b: Var,
    classes: usize,
}

/// The trainable network.
#[derive(Debug)]
pub(crate) struct Net {
    d: usize,
    conv: Var,
    w1: Var,
    b1: Var,
    act: Var,
    w2: Var,
    b2: Var,
    heads: Vec<HeadVars>,
    decoder: Option<(Var, Var)>,
}

impl Net {
    /// A network holding `params` (input dimension `d`).
    pub(crate) fn new(d: usize, params: &NetParams, device: &Device) -> Result<Self> {
        let lower = &params.lower;
        let p = d + 1 - LOWER_POOL_WINDOW;
        let (a0, a1, a2) = lower.activation.quadratic_coefficients();
        let heads = params
            .heads
            .iter()
            .map(|head| {
                Ok(HeadVars {
                    w: Var::from_slice(&head.weights, (head.outputs(), head.features), device)?,
                    b: Var::from_slice(&head.bias, head.outputs(), device)?,
                    classes: head.classes,
                })
            })
            .collect::<Result<_>>()?;
        let decoder = params
            .decoder
            .as_ref()
            .map(|dec| -> Result<(Var, Var)> {
                Ok((
                    Var::from_slice(&dec.weights, (d, p), device)?,
                    Var::from_slice(&dec.bias, d, device)?,
                ))
            })
            .transpose()?;
        Ok(Net {
            d,
            conv: Var::from_slice(&lower.conv_kernel, LOWER_CONV_KERNEL, device)?,
            w1: Var::from_slice(&lower.dense1_weights, (d, d), device)?,
            b1: Var::from_slice(&lower.dense1_bias, d, device)?,
            act: Var::from_vec(vec![a0 as f32, a1 as f32, a2 as f32], 3, device)?,
            w2: Var::from_slice(&lower.dense2_weights, (p, p), device)?,
            b2: Var::from_slice(&lower.dense2_bias, p, device)?,
            heads,
            decoder,
        })
    }

    /// The variables to optimize: the lower network's, each head's, the
    /// decoder's, and the activation's only if `train_activation`.
    pub(crate) fn vars(&self, train_activation: bool) -> Vec<Var> {
        let mut v = vec![
            self.conv.clone(),
            self.w1.clone(),
            self.b1.clone(),
            self.w2.clone(),
            self.b2.clone(),
        ];
        for head in &self.heads {
            v.push(head.w.clone());
            v.push(head.b.clone());
        }
        if let Some((w, b)) = &self.decoder {
            v.push(w.clone());
            v.push(b.clone());
        }
        if train_activation {
            v.push(self.act.clone());
        }
        v
    }

    /// The current parameters.
    pub(crate) fn snapshot(&self) -> Result<NetParams> {
        let flat = |v: &Var| -> Result<Vec<f32>> { Ok(v.as_tensor().flatten_all()?.to_vec1()?) };
        let act = flat(&self.act)?;
        let lower = LowerNetworkParams {
            conv_kernel: flat(&self.conv)?,
            dense1_weights: flat(&self.w1)?,
            dense1_bias: flat(&self.b1)?,
            activation: FloatPolynomial {
                coefficients: act.iter().map(|&c| f64::from(c)).collect(),
            },
            dense2_weights: flat(&self.w2)?,
            dense2_bias: flat(&self.b2)?,
        };
        let heads = self
            .heads
            .iter()
            .map(|h| {
                Ok(Head {
                    features: self.d + 1 - LOWER_POOL_WINDOW,
                    classes: h.classes,
                    weights: flat(&h.w)?,
                    bias: flat(&h.b)?,
                })
            })
            .collect::<Result<_>>()?;
        let decoder = self
            .decoder
            .as_ref()
            .map(|(w, b)| -> Result<Decoder> {
                Ok(Decoder {
                    weights: flat(w)?,
                    bias: flat(b)?,
                })
            })
            .transpose()?;
        Ok(NetParams {
            lower,
            heads,
            decoder,
        })
    }

    /// The fused first linear map `M0 = W1 · Conv` (`d x d`), differentiable.
    fn fused0(&self) -> Result<Tensor> {
        conv_fused(self.conv.as_tensor(), self.w1.as_tensor())
    }

    /// The fused second linear map `M2 = W2 · Pool` (`(d−2) x d`),
    /// differentiable.
    fn fused2(&self) -> Result<Tensor> {
        pool_fused(self.w2.as_tensor())
    }

    /// `M0` and `M2` exactly as the fusion pass makes them: accumulated in
    /// `f64` in the same order, rounded to `f32` once (returned as detached
    /// `f64` tensors).
    fn fused_deployed(&self) -> Result<(Tensor, Tensor)> {
        let f64of = |v: &Var| v.as_tensor().detach().to_dtype(DType::F64);
        let m0 = conv_fused(&f64of(&self.conv)?, &f64of(&self.w1)?)?;
        let m2 = pool_fused(&f64of(&self.w2)?)?;
        let through_f32 = |t: Tensor| t.to_dtype(DType::F32)?.to_dtype(DType::F64);
        Ok((through_f32(m0)?, through_f32(m2)?))
    }

    /// The lower network's features of a batch `x` (`n x d`).
    ///
    /// Float mode (`quant = None`): `x` is the embeddings and the network is
    /// evaluated as is. Quantization-aware mode: `x` holds the integer input
    /// levels `q` and the forward pass computes, in real units, what the
    /// integer network computes:
    ///
    /// - first layer: `W0' = M0 · diag(s)`, `b0' = b1 + M0 · min`, both
    ///   snapped to the per-row grid `S0 = max_j |W0'[i][j]| / L` (weights
    ///   clamped to `±L`), `y0 = W0' q + b0'`;
    /// - activation: `a2 y² + a1' y + a0'` with `a1'` snapped to `|a2| S0`
    ///   and `a0'` to `T = |a2| S0²` per neuron;
    /// - second layer: `M2 · diag(T)` snapped per row as above, then divided
    ///   back by `T` (the dequantized activation is `T z`), and the bias
    ///   snapped to the row scale.
    ///
    /// Every snap uses the straight-through estimator.
    pub(crate) fn features(&self, x: &Tensor, quant: Option<&QuantContext>) -> Result<Tensor> {
        let m0 = self.fused0()?;
        let m2 = self.fused2()?;
        let b1 = self.b1.as_tensor();
        let b2 = self.b2.as_tensor();
        let act = self.act.as_tensor();
        let a0 = act.narrow(0, 0, 1)?;
        let a1 = act.narrow(0, 1, 1)?;
        let a2 = act.narrow(0, 2, 1)?;
        let Some(qc) = quant else {
            let y0 = x.matmul(&m0.t()?)?.broadcast_add(b1)?;
            let h = y0
                .sqr()?
                .broadcast_mul(&a2)?
                .add(&y0.broadcast_mul(&a1)?)?
                .broadcast_add(&a0)?;
            return Ok(h.matmul(&m2.t()?)?.broadcast_add(b2)?);
        };
        let level = qc.level;
        let f32of = |t: &Tensor| t.to_dtype(DType::F32);
        let f64of = |t: &Tensor| t.detach().to_dtype(DType::F64);
        // The grid decisions are made in f64 on the deployed values, exactly
        // as `cryptotl-quant` makes them; the f32 path only carries the
        // straight-through gradients.
        let (m0d, m2d) = self.fused_deployed()?;

        // First layer, input scale folded in.
        let w0d = m0d.broadcast_mul(&qc.scale64)?;
        let b0d = m0d.matmul(&qc.offset64)?.squeeze(1)?.add(&f64of(b1)?)?;
        let (w0q, s0) = quantize_rows(&w0d, &b0d, level)?;
        let s0 = s0.squeeze(1)?;
        let b0q = snap(&b0d, &s0)?;
        let w0 = ste(&m0.broadcast_mul(&qc.scale)?, &f32of(&w0q)?)?;
        let b0 = m0.matmul(&qc.offset)?.squeeze(1)?.add(b1)?;
        let b0 = ste(&b0, &f32of(&b0q)?)?;
        let y0 = x.matmul(&w0.t()?)?.broadcast_add(&b0)?;

        // Activation: per-neuron integer coefficients (see
        // `QuantizedPolynomial::quantize`), dequantized.
        let (t, a1q, a0q) = activation_grid(&f64of(act)?.to_vec1::<f64>()?, &s0)?;
        let ones = b1.ones_like()?;
        let a1 = ste(&a1.broadcast_mul(&ones)?, &f32of(&a1q)?)?;
        let a0 = ste(&a0.broadcast_mul(&ones)?, &f32of(&a0q)?)?;
        let h = y0
            .sqr()?
            .broadcast_mul(&a2)?
            .add(&y0.broadcast_mul(&a1)?)?
            .broadcast_add(&a0)?;

        // Second layer, the activation's output scale T folded in.
        let t = t.unsqueeze(0)?;
        let (w2q, s2) = quantize_rows(&m2d.broadcast_mul(&t)?, &f64of(b2)?, level)?;
        let b2q = snap(&f64of(b2)?, &s2.squeeze(1)?)?;
        let m2 = ste(&m2, &f32of(&w2q.broadcast_div(&t)?)?)?;
        let b2 = ste(b2, &f32of(&b2q)?)?;
        Ok(h.matmul(&m2.t()?)?.broadcast_add(&b2)?)
    }

    /// Logits of head `head` for a feature batch (`n x outputs`).
    pub(crate) fn logits(&self, head: usize, features: &Tensor) -> Result<Tensor> {
        let h = &self.heads[head];
        Ok(features
            .matmul(&h.w.as_tensor().t()?)?
            .broadcast_add(h.b.as_tensor())?)
    }

    /// Mean squared error of the decoder's reconstruction of `target`
    /// (`n x d`, the standardized inputs) from `features` (`n x (d − 2)`),
    /// over samples and input features. `None` without a decoder.
    pub(crate) fn reconstruction_loss(
        &self,
        features: &Tensor,
        target: &Tensor,
    ) -> Result<Option<Tensor>> {
        let Some((w, b)) = &self.decoder else {
            return Ok(None);
        };
        let z = features
            .matmul(&w.as_tensor().t()?)?
            .broadcast_add(b.as_tensor())?;
        Ok(Some(z.sub(target)?.sqr()?.mean_all()?))
    }

    /// Mean loss of logits against labels: binary cross-entropy with logits
    /// for one logit (labels as `f32` 0/1), else softmax cross-entropy
    /// (labels as `u32`), with label smoothing `smoothing` (`0`: none; the
    /// computation is then exactly the unsmoothed one).
    pub(crate) fn loss(&self, logits: &Tensor, labels: &Labels, smoothing: f64) -> Result<Tensor> {
        match labels {
            Labels::Binary(y) => {
                let z = logits.squeeze(1)?;
                // Target y (1 − ε) + ε / 2.
                let smoothed;
                let y = if smoothing > 0.0 {
                    smoothed = y.affine(1.0 - smoothing, 0.5 * smoothing)?;
                    &smoothed
                } else {
                    y
                };
                // max(z, 0) − z y + log(1 + exp(−|z|)), stable for any z.
                let softplus = z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
                Ok(z.relu()?.sub(&z.mul(y)?)?.add(&softplus)?.mean_all()?)
            }
            Labels::Classes(y) if smoothing > 0.0 => {
                // (1 − ε) · NLL(y) + ε · mean over classes of −log p_k.
                let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
                let nll = candle_nn::loss::nll(&log_p, y)?;
                let uniform = log_p.mean_all()?.neg()?;
                Ok(nll
                    .affine(1.0 - smoothing, 0.0)?
                    .add(&uniform.affine(smoothing, 0.0)?)?)
            }
            Labels::Classes(y) => Ok(candle_nn::loss::cross_entropy(logits, y)?),
        }
    }
}

/// Labels as the loss wants them.
#[derive(Debug, Clone)]
pub(crate) enum Labels {
    /// 0/1 as `f32` (`n`), for one logit.
    Binary(Tensor),
    /// Class indices as `u32` (`n`).
    Classes(Tensor),
}

impl Labels {
    /// Labels of `classes` classes on `device`.
    pub(crate) fn new(labels: &[usize], classes: usize, device: &Device) -> Result<Self> {
        if classes == 2 {
            let y: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
            Ok(Labels::Binary(Tensor::from_vec(y, labels.len(), device)?))
        } else {
            let y: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
            Ok(Labels::Classes(Tensor::from_vec(y, labels.len(), device)?))
        }
    }

    /// The labels at `indices` (a `u32` tensor).
    pub(crate) fn select(&self, indices: &Tensor) -> Result<Self> {
        Ok(match self {
            Labels::Binary(y) => Labels::Binary(y.index_select(indices, 0)?),
            Labels::Classes(y) => Labels::Classes(y.index_select(indices, 0)?),
        })
    }

    /// The labels `start..start + len`.
    pub(crate) fn narrow(&self, start: usize, len: usize) -> Result<Self> {
        Ok(match self {
            Labels::Binary(y) => Labels::Binary(y.narrow(0, start, len)?),
            Labels::Classes(y) => Labels::Classes(y.narrow(0, start, len)?),
        })
    }

    /// Number of correct predictions of `logits`.
    pub(crate) fn correct(&self, logits: &Tensor) -> Result<usize> {
        let hits = match self {
            Labels::Binary(y) => logits.squeeze(1)?.gt(0.0)?.to_dtype(DType::F32)?.eq(y)?,
            Labels::Classes(y) => logits.argmax(D::Minus1)?.to_dtype(DType::U32)?.eq(y)?,
        };
        Ok(hits.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as usize)
    }
}

/// `M0 = W1 · Conv` for the same-padding convolution with kernel `conv`
/// (`k` taps), in `O(k d²)`: `M0[i][j] = Σ_u k[u] W1[i][j + pad − u]`
/// (zero outside `0..d`), accumulated over ascending `u` as the fusion pass
/// does (any float dtype).
fn conv_fused(conv: &Tensor, w1: &Tensor) -> Result<Tensor> {
    let d = w1.dim(1)?;
    let k = conv.dim(0)?;
    let pad = k / 2;
    let mut m0 = w1.zeros_like()?;
    for u in 0..k {
        // Column j takes column j + o of W1, o = pad − u.
        let shifted = if u <= pad {
            let o = pad - u;
            if o >= d {
                continue;
            }
            w1.narrow(1, o, d - o)?.pad_with_zeros(1, 0, o)?
        } else {
            let o = u - pad;
            if o >= d {
                continue;
            }
            w1.narrow(1, 0, d - o)?.pad_with_zeros(1, o, 0)?
        };
        m0 = m0.add(&shifted.broadcast_mul(&conv.narrow(0, u, 1)?)?)?;
    }
    Ok(m0)
}

/// `M2 = W2 · Pool` for the average pooling (window `w`, stride 1, valid),
/// in `O(w d²)`: `M2[i][j] = Σ_t W2[i][t] / w` over `t ∈ j−w+1..=j`, summed in
/// ascending `t` as the fusion pass does (any float dtype).
fn pool_fused(w2: &Tensor) -> Result<Tensor> {
    let w = LOWER_POOL_WINDOW;
    // A true division, as the pooling layer's transpose.
    let scaled = w2.div(&(w2.ones_like()? * w as f64)?)?;
    let mut m2 = scaled.pad_with_zeros(1, w - 1, 0)?;
    for left in (0..w - 1).rev() {
        m2 = m2.add(&scaled.pad_with_zeros(1, left, w - 1 - left)?)?;
    }
    Ok(m2)
}

/// The activation's output scale `T` and dequantized per-neuron
/// coefficients `(a1', a0')` for a first layer with output scales `s`, as
/// `QuantizedPolynomial::quantize` makes them (all `f64`, `d` values):
///
/// - `a2 != 0`: `T = |a2| s²`, `C1 = round(a1 s / T)`, `C0 = round(a0 / T)`,
///   `a1' = T C1 / s`, `a0' = T C0`;
/// - `a2 == 0`: `T = |a1| s`, `a1' = a1`, `a0' = T round(a0 / T)`;
/// - constant activation: `T = 1`, unchanged (the export refuses it).
fn activation_grid(coefficients: &[f64], s: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let c = |k: usize| coefficients.get(k).copied().unwrap_or(0.0);
    let (a0, a1, a2) = (c(0), c(1), c(2));
    let ones = s.ones_like()?;
    if a2 != 0.0 {
        let t = ((s * a2.abs())? * s)?;
        let c1 = ((s * a1)? / &t)?.round()?;
        let c0 = ((&ones * a0)? / &t)?.round()?;
        let a1q = (&c1 * &t)?.div(s)?;
        let a0q = (&c0 * &t)?;
        Ok((t, a1q, a0q))
    } else if a1 != 0.0 {
        let t = (s * a1.abs())?;
        let a0q = (((&ones * a0)? / &t)?.round()? * &t)?;
        Ok((t, (ones * a1)?, a0q))
    } else {
        Ok((ones.clone(), (&ones * a1)?, (ones * a0)?))
    }
}

/// `x` snapped to multiples of `step` (no gradient; `f64` grid decisions).
fn snap(x: &Tensor, step: &Tensor) -> Result<Tensor> {
    Ok(x.div(step)?.round()?.mul(step)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::quantize_lower;
    use cryptotl_graph::Graph;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn unit_vectors(n: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| {
                let v: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect()
    }

    fn params(d: usize, activation: [f64; 3], rng: &mut ChaCha8Rng) -> NetParams {
        let mut lower = LowerNetworkParams::random(d, rng).expect("d >= 3");
        lower.activation = FloatPolynomial {
            coefficients: activation.to_vec(),
        };
        let head = Head::random(d - 2, 3, rng);
        NetParams {
            lower,
            heads: vec![head],
            decoder: None,
        }
    }

    fn rows(t: &Tensor) -> Vec<Vec<f32>> {
        t.to_vec2::<f32>().expect("matrix")
    }

    /// `max |a − b| / max(max |b|, 1e-12)` over all entries.
    fn rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
        let mut diff = 0.0f64;
        let mut scale = 1e-12f64;
        for (ra, rb) in a.iter().zip(b) {
            assert_eq!(ra.len(), rb.len());
            for (&x, &y) in ra.iter().zip(rb) {
                diff = diff.max((f64::from(x) - f64::from(y)).abs());
                scale = scale.max(f64::from(y).abs());
            }
        }
        diff / scale
    }

    fn float_forward(net: &Net, xs: &[Vec<f32>], d: usize) -> Vec<Vec<f32>> {
        let flat: Vec<f32> = xs.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (xs.len(), d), &Device::Cpu).expect("tensor");
        rows(&net.features(&x, None).expect("forward"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Export is lossless: the float-mode forward pass equals the
        /// exported graph's f32 evaluation.
        #[test]
        fn float_forward_equals_graph(d in 3usize..24, seed in any::<u64>(),
                                      a0 in -0.5f64..0.5, a1 in -1.0f64..1.0, a2 in 0.1f64..2.0) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let params = params(d, [a0, a1, a2], &mut rng);
            let xs = unit_vectors(20, d, &mut rng);
            let net = Net::new(d, &params, &Device::Cpu).expect("net");
            let ours = float_forward(&net, &xs, d);
            let graph = Graph::cryptotl_lower_with(d, params.lower).expect("graph");
            let reference = graph.evaluate_batch(&xs).expect("evaluates");
            let rel = rel_diff(&ours, &reference);
            prop_assert!(rel <= 1e-4, "relative difference {}", rel);
        }
    }

    /// The fused maps the quantization-aware pass snaps are bit for bit
    /// those of the fusion pass (same f64 accumulation order).
    #[test]
    fn deployed_fused_maps_are_bit_exact() {
        for d in [3usize, 5, 9, 16, 33] {
            let mut rng = ChaCha8Rng::seed_from_u64(100 + d as u64);
            let params = params(d, [0.0, 0.0, 1.0], &mut rng);
            let net = Net::new(d, &params, &Device::Cpu).expect("net");
            let (m0, m2) = net.fused_deployed().expect("fuses");
            let as_f32 = |t: Tensor| -> Vec<f32> {
                t.flatten_all()
                    .and_then(|t| t.to_dtype(DType::F32))
                    .and_then(|t| t.to_vec1())
                    .expect("values")
            };
            let fused = Graph::cryptotl_lower_with(d, params.lower)
                .and_then(|g| g.fused())
                .expect("fuses");
            let dense = |k: usize| match &fused.layers[k] {
                cryptotl_graph::Layer::Dense(l) => l.weights.clone(),
                other => panic!("expected dense, got {}", other.kind()),
            };
            assert_eq!(as_f32(m0), dense(0), "d = {d}");
            assert_eq!(as_f32(m2), dense(2), "d = {d}");
        }
    }

    /// The snapshot gives back the parameters the net was built from.
    #[test]
    fn snapshot_round_trips() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut params = params(11, [0.25, 0.5, 0.125], &mut rng);
        let net = Net::new(11, &params, &Device::Cpu).expect("net");
        assert_eq!(net.snapshot().expect("snapshot"), params);
        // Several heads (binary and multi-class) and a decoder.
        params.heads.push(Head::random(9, 2, &mut rng));
        params.decoder = Some(Decoder {
            weights: (0..11 * 9).map(|i| i as f32 * 0.01).collect(),
            bias: (0..11).map(|i| -(i as f32)).collect(),
        });
        let net = Net::new(11, &params, &Device::Cpu).expect("net");
        assert_eq!(net.snapshot().expect("snapshot"), params);
        assert_eq!(net.vars(true).len(), 5 + 2 * 2 + 2 + 1);
        assert_eq!(net.vars(false).len(), 5 + 2 * 2 + 2);
    }

    /// One feature vector per sample.
    type Features = Vec<Vec<f32>>;

    /// The quantization-aware, exported-integer (dequantized) and float
    /// features of random test inputs.
    fn qat_and_reference(
        d: usize,
        bx: u32,
        bw: u32,
        activation: [f64; 3],
        seed: u64,
    ) -> (Features, Features, Features) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let params = params(d, activation, &mut rng);
        let lower = &params.lower;
        let train = unit_vectors(200, d, &mut rng);
        let test = unit_vectors(50, d, &mut rng);
        let input = InputQuantizer::fit(&train, bx).expect("fits");
        let (_, q) = quantize_lower(lower, &input, bw).expect("quantizes");
        let reference = q.evaluate_batch(&test).expect("evaluates");

        let levels: Vec<f32> = input
            .quantize_batch(&test)
            .expect("quantizes")
            .into_iter()
            .flatten()
            .map(|v| v as f32)
            .collect();
        let x = Tensor::from_vec(levels, (test.len(), d), &Device::Cpu).expect("tensor");
        let net = Net::new(d, &params, &Device::Cpu).expect("net");
        let ctx = QuantContext::new(&input, bw, &Device::Cpu).expect("context");
        let ours = rows(&net.features(&x, Some(&ctx)).expect("forward"));
        let float = float_forward(&net, &test, d);
        (ours, reference, float)
    }

    /// What is trained is what is deployed: the quantization-aware forward
    /// pass matches the exported integer network's dequantized output (only
    /// f32 arithmetic differs; every rounding decision is the same).
    #[test]
    fn qat_forward_matches_quantized_graph() {
        for (d, bx, bw, activation) in [
            (16usize, 8u32, 8u32, [0.0, 0.0, 1.0]),
            (24, 6, 8, [0.25, 0.5, 0.125]),
            (32, 4, 5, [-0.1, 0.7, -0.6]),
            (32, 8, 5, [0.0, 0.0, 1.0]),
            (20, 3, 3, [0.3, 0.9, 0.0]),
        ] {
            let (ours, reference, float) = qat_and_reference(d, bx, bw, activation, d as u64);
            let rel = rel_diff(&ours, &reference);
            assert!(rel <= 1e-4, "d = {d}: relative difference {rel}");
            // And the float network differs by the quantization error.
            assert!(rel_diff(&float, &reference) > rel, "d = {d}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// As `qat_forward_matches_quantized_graph`, on random sizes, bit
        /// widths and activations.
        #[test]
        fn qat_forward_matches_quantized_graph_random(
            d in 3usize..40, bx in 2u32..9, bw in 2u32..9, seed in any::<u64>(),
            a0 in -0.5f64..0.5, a1 in -1.0f64..1.0, a2 in prop_oneof![-2.0f64..-0.1, 0.1f64..2.0],
        ) {
            let (ours, reference, _) = qat_and_reference(d, bx, bw, [a0, a1, a2], seed);
            let rel = rel_diff(&ours, &reference);
            prop_assert!(rel <= 1e-4, "relative difference {}", rel);
        }
    }

    fn scalar(t: &Tensor) -> f64 {
        f64::from(t.to_scalar::<f32>().expect("scalar"))
    }

    /// Label smoothing matches the cross-entropy against the smoothed
    /// target distribution, written out per sample.
    #[test]
    fn label_smoothing_is_cross_entropy_against_the_smoothed_targets() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = Net::new(5, &params(5, [0.0, 0.0, 1.0], &mut rng), &Device::Cpu).expect("net");
        let eps = 0.2;
        // Binary: one logit.
        let z = [1.5f32, -0.5, 0.25, -2.0];
        let y = [1usize, 0, 0, 1];
        let logits = Tensor::from_slice(&z, (4, 1), &Device::Cpu).expect("tensor");
        let labels = Labels::new(&y, 2, &Device::Cpu).expect("labels");
        let expected: f64 = z
            .iter()
            .zip(&y)
            .map(|(&z, &y)| {
                let t = y as f64 * (1.0 - eps) + eps / 2.0;
                let p = 1.0 / (1.0 + (-f64::from(z)).exp());
                -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / 4.0;
        let got = scalar(&net.loss(&logits, &labels, eps).expect("loss"));
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        // Three classes.
        let z3 = [[1.0f32, 0.0, -1.0], [0.5, 2.0, 0.1]];
        let y3 = [0usize, 2];
        let logits = Tensor::new(&z3, &Device::Cpu).expect("tensor");
        let labels = Labels::new(&y3, 3, &Device::Cpu).expect("labels");
        let expected: f64 = z3
            .iter()
            .zip(&y3)
            .map(|(row, &y)| {
                let lse = row.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
                (0..3)
                    .map(|k| {
                        let t = if k == y { 1.0 - eps } else { 0.0 } + eps / 3.0;
                        -t * (f64::from(row[k]) - lse)
                    })
                    .sum::<f64>()
            })
            .sum::<f64>()
            / 2.0;
        let got = scalar(&net.loss(&logits, &labels, eps).expect("loss"));
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        // ε = 0 is plain cross-entropy.
        let plain = scalar(
            &candle_nn::loss::cross_entropy(
                &logits,
                match &labels {
                    Labels::Classes(y) => y,
                    Labels::Binary(_) => unreachable!(),
                },
            )
            .expect("loss"),
        );
        assert_eq!(
            scalar(&net.loss(&logits, &labels, 0.0).expect("loss")),
            plain
        );
    }

    /// The reconstruction loss is the decoder's mean squared error.
    #[test]
    fn reconstruction_loss_is_the_decoders_mean_squared_error() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut p = params(4, [0.0, 0.0, 1.0], &mut rng);
        let f = Tensor::new(&[[1.0f32, 2.0], [0.0, -1.0]], &Device::Cpu).expect("tensor");
        let target = Tensor::new(&[[0.0f32; 4], [1.0; 4]], &Device::Cpu).expect("tensor");
        let net = Net::new(4, &p, &Device::Cpu).expect("net");
        assert!(net.reconstruction_loss(&f, &target).expect("ok").is_none());
        p.decoder = Some(Decoder::zeros(4));
        let net = Net::new(4, &p, &Device::Cpu).expect("net");
        // Zero decoder: the mean of the squared targets.
        let mse = net
            .reconstruction_loss(&f, &target)
            .expect("ok")
            .expect("on");
        assert!((scalar(&mse) - 0.5).abs() < 1e-7);
        // D = [[1, 0], [0, 1], [1, 1], [0, 0]], c = 0: rows (1, 2, 3, 0), (0, −1, −1, 0).
        p.decoder = Some(Decoder {
            weights: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0],
            bias: vec![0.0; 4],
        });
        let net = Net::new(4, &p, &Device::Cpu).expect("net");
        let mse = net
            .reconstruction_loss(&f, &target)
            .expect("ok")
            .expect("on");
        let expected = ((1.0 + 4.0 + 9.0) + (1.0 + 4.0 + 4.0 + 1.0)) / 8.0;
        assert!((scalar(&mse) - expected).abs() < 1e-6);
    }
}
