//! The head network itself: parameters, seeded initialization, the forward
//! pass and the per-example loss. Nothing here updates parameters; see
//! [`GradientRule`](crate::GradientRule) for that.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{Linear, Module};
use rand::Rng;

use crate::config::HeadConfig;
use crate::error::{HeadError, Result};
use crate::seed::{rng, Stream};

/// Name of the hidden layer's weight tensor (`[hidden, input_dim]`).
pub const HIDDEN_WEIGHT: &str = "hidden.weight";
/// Name of the hidden layer's bias tensor (`[hidden]`).
pub const HIDDEN_BIAS: &str = "hidden.bias";
/// Name of the output layer's weight tensor (`[output_dim, pooled_dim]`).
pub const OUTPUT_WEIGHT: &str = "output.weight";
/// Name of the output layer's bias tensor (`[output_dim]`).
pub const OUTPUT_BIAS: &str = "output.bias";

/// The four parameter tensors, in the order [`HIDDEN_WEIGHT`],
/// [`HIDDEN_BIAS`], [`OUTPUT_WEIGHT`], [`OUTPUT_BIAS`]. Weight matrices are
/// `[out, in]` as in candle's and PyTorch's `Linear`.
#[derive(Clone, Debug)]
pub(crate) struct Weights {
    pub(crate) tensors: [Tensor; 4],
}

impl Weights {
    /// Parameter names, in storage order.
    pub(crate) const NAMES: [&'static str; 4] =
        [HIDDEN_WEIGHT, HIDDEN_BIAS, OUTPUT_WEIGHT, OUTPUT_BIAS];

    /// The shape every parameter must have under `config`.
    pub(crate) fn shapes(config: &HeadConfig) -> [Vec<usize>; 4] {
        [
            vec![config.hidden, config.input_dim],
            vec![config.hidden],
            vec![config.output_dim(), config.pooled_dim()],
            vec![config.output_dim()],
        ]
    }

    /// Keras' defaults, seeded: Glorot-uniform weights
    /// (`U(±sqrt(6 / (fan_in + fan_out)))`) and zero biases.
    pub(crate) fn init(config: &HeadConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = rng(seed, Stream::Init);
        let [hw, hb, ow, ob] = Self::shapes(config);
        let mut glorot = |shape: &[usize]| -> Result<Tensor> {
            let (fan_out, fan_in) = (shape[0], shape[1]);
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            let values: Vec<f32> = (0..fan_out * fan_in)
                .map(|_| rng.random_range(-limit..=limit))
                .collect();
            Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
        };
        Ok(Self {
            tensors: [
                glorot(hw.as_slice())?,
                Tensor::zeros(hb.as_slice(), DType::F32, &Device::Cpu)?,
                glorot(ow.as_slice())?,
                Tensor::zeros(ob.as_slice(), DType::F32, &Device::Cpu)?,
            ],
        })
    }

    /// Builds weights from flat row-major values, checking each against the
    /// shape `config` requires and against non-finite values.
    pub(crate) fn from_values(config: &HeadConfig, values: [Vec<f32>; 4]) -> Result<Self> {
        let shapes = Self::shapes(config);
        let mut tensors = Vec::with_capacity(4);
        for ((name, shape), data) in Self::NAMES.iter().zip(shapes).zip(values) {
            let expected: usize = shape.iter().product();
            if data.len() != expected {
                return Err(HeadError::InvalidInput(format!(
                    "{name}: {} values for shape {shape:?}",
                    data.len()
                )));
            }
            if data.iter().any(|v| !v.is_finite()) {
                return Err(HeadError::InvalidInput(format!(
                    "{name} holds non-finite values"
                )));
            }
            tensors.push(Tensor::from_vec(data, shape.as_slice(), &Device::Cpu)?);
        }
        let tensors: [Tensor; 4] = tensors
            .try_into()
            .map_err(|_| HeadError::InvalidInput("expected four parameter tensors".into()))?;
        Ok(Self { tensors })
    }

    /// Flat row-major values of every parameter, in storage order.
    pub(crate) fn to_values(&self) -> Result<[Vec<f32>; 4]> {
        let [a, b, c, d] = &self.tensors;
        Ok([
            a.flatten_all()?.to_vec1()?,
            b.flatten_all()?.to_vec1()?,
            c.flatten_all()?.to_vec1()?,
            d.flatten_all()?.to_vec1()?,
        ])
    }

    /// Deep copies detached from any autodiff graph (a snapshot that later
    /// optimizer steps do not change).
    pub(crate) fn snapshot(&self) -> Result<Self> {
        let [a, b, c, d] = &self.tensors;
        Ok(Self {
            tensors: [
                a.copy()?.detach(),
                b.copy()?.detach(),
                c.copy()?.detach(),
                d.copy()?.detach(),
            ],
        })
    }
}

/// Trainable parameters: candle [`Var`]s, plus [`Weights`] views that share
/// their storage, so a forward pass on [`Trainable::weights`] is recorded
/// for backpropagation to the variables.
#[derive(Debug)]
pub(crate) struct Trainable {
    vars: Vec<Var>,
    weights: Weights,
}

impl Trainable {
    /// Variables initialized with copies of `weights`.
    pub(crate) fn new(weights: &Weights) -> Result<Self> {
        let vars = weights
            .tensors
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let tensors: [Tensor; 4] = [
            vars[0].as_tensor().clone(),
            vars[1].as_tensor().clone(),
            vars[2].as_tensor().clone(),
            vars[3].as_tensor().clone(),
        ];
        Ok(Self {
            vars,
            weights: Weights { tensors },
        })
    }

    /// The variables, in storage order.
    pub(crate) fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// Live views of the variables, for forward passes that backpropagate.
    pub(crate) fn weights(&self) -> &Weights {
        &self.weights
    }
}

/// Forward pass: logits of shape `(batch, output_dim)` for standardized
/// inputs `x` of shape `(batch, input_dim)`.
///
/// `dropout_mask`, of shape `(batch, pooled_dim)`, multiplies the pooled
/// activations (inverted dropout: kept units are scaled by `1 / (1 - p)`);
/// pass `None` at inference.
pub(crate) fn logits(
    config: &HeadConfig,
    weights: &Weights,
    x: &Tensor,
    dropout_mask: Option<&Tensor>,
) -> Result<Tensor> {
    let [hw, hb, ow, ob] = &weights.tensors;
    let batch = x.dim(0)?;
    let pooled = config.pooled_dim();
    let hidden = Linear::new(hw.clone(), Some(hb.clone()))
        .forward(x)?
        .relu()?;
    // Keras MaxPooling1D(pool_size = pool): stride = pool, "valid" padding.
    let used = pooled * config.pool;
    let hidden = if used == config.hidden {
        hidden
    } else {
        hidden.narrow(1, 0, used)?.contiguous()?
    };
    let mut pooled_units = hidden
        .reshape((batch, pooled, config.pool))?
        .max(D::Minus1)?;
    if let Some(mask) = dropout_mask {
        pooled_units = pooled_units.mul(mask)?;
    }
    Ok(Linear::new(ow.clone(), Some(ob.clone())).forward(&pooled_units)?)
}

/// Labels of a batch in the tensor form the loss needs: `f32` 0/1 targets
/// of shape `(batch,)` for two classes, `u32` class indices of shape
/// `(batch,)` otherwise.
pub(crate) fn label_tensor(config: &HeadConfig, labels: &[usize]) -> Result<Tensor> {
    Ok(if config.classes == 2 {
        let targets: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        Tensor::from_vec(targets, labels.len(), &Device::Cpu)?
    } else {
        let targets: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        Tensor::from_vec(targets, labels.len(), &Device::Cpu)?
    })
}

/// Per-example negative log-likelihood, shape `(batch,)`.
///
/// Two classes: binary cross-entropy on the logit `z`, in the stable form
/// `max(z, 0) − z·y + ln(1 + e^{−|z|})` (candle-nn's
/// `binary_cross_entropy_with_logit` takes `ln(sigmoid(z))`, which
/// overflows to infinity for confident predictions). More classes:
/// `−log_softmax(z)[y]`.
pub(crate) fn per_example_loss(
    config: &HeadConfig,
    logits: &Tensor,
    labels: &Tensor,
) -> Result<Tensor> {
    if config.classes == 2 {
        let z = logits.squeeze(1)?;
        let softplus = z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
        Ok(((z.relu()? - z.mul(labels)?)? + softplus)?)
    } else {
        let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        Ok(log_p.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?)
    }
}

/// Class probabilities from one row of logits: `[1 − σ(z), σ(z)]` for two
/// classes, the softmax otherwise (computed in `f64`, stably).
pub(crate) fn probabilities(config: &HeadConfig, logits: &[f32]) -> Vec<f32> {
    if config.classes == 2 {
        let z = f64::from(logits.first().copied().unwrap_or(0.0));
        vec![sigmoid(-z) as f32, sigmoid(z) as f32]
    } else {
        let max = logits
            .iter()
            .map(|&v| f64::from(v))
            .fold(f64::NEG_INFINITY, f64::max);
        if max == f64::INFINITY {
            // Overflowed logits: share the mass among the infinite ones.
            let top = logits.iter().filter(|&&v| v == f32::INFINITY).count() as f32;
            return logits
                .iter()
                .map(|&v| if v == f32::INFINITY { 1.0 / top } else { 0.0 })
                .collect();
        }
        let exps: Vec<f64> = logits.iter().map(|&v| (f64::from(v) - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        exps.iter().map(|e| (e / sum) as f32).collect()
    }
}

/// The logistic function, without overflow for large `|z|`.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// input 1 → hidden 7 → pool 3 (2 windows; unit 7 dropped) → 1 logit.
    fn toy() -> (HeadConfig, Weights) {
        let config = HeadConfig {
            hidden: 7,
            standardize: false,
            ..HeadConfig::new(1, 2)
        };
        let weights = Weights::from_values(
            &config,
            [
                vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0],
                vec![0.0; 7],
                vec![1.0, 10.0],
                vec![0.5],
            ],
        )
        .unwrap();
        (config, weights)
    }

    fn logit(config: &HeadConfig, weights: &Weights, x: f32) -> f32 {
        let x = Tensor::from_vec(vec![x], (1, 1), &Device::Cpu).unwrap();
        logits(config, weights, &x, None)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()[0][0]
    }

    #[test]
    fn forward_pools_windows_of_three_and_drops_the_remainder() {
        let (config, weights) = toy();
        // h = relu([1, 2, 3, 4, 5, 6, 100]); pooled = [max(1,2,3), max(4,5,6)]
        // = [3, 6] (the 7th unit does not fill a window); 3·1 + 6·10 + 0.5.
        assert_eq!(logit(&config, &weights, 1.0), 63.5);
        // x = 2 doubles every unit: 6 + 120 + 0.5.
        assert_eq!(logit(&config, &weights, 2.0), 126.5);
        // ReLU zeroes everything for negative input: only the bias remains.
        assert_eq!(logit(&config, &weights, -1.0), 0.5);
    }

    #[test]
    fn dropout_mask_multiplies_pooled_units() {
        let (config, weights) = toy();
        let x = Tensor::from_vec(vec![1f32], (1, 1), &Device::Cpu).unwrap();
        let mask = Tensor::from_vec(vec![0f32, 2.0], (1, 2), &Device::Cpu).unwrap();
        let z = logits(&config, &weights, &x, Some(&mask)).unwrap();
        // pooled [3, 6] · mask [0, 2] = [0, 12]; 12·10 + 0.5.
        assert_eq!(z.to_vec2::<f32>().unwrap()[0][0], 120.5);
    }

    #[test]
    fn binary_loss_is_stable_for_confident_logits() {
        let config = HeadConfig::new(1, 2);
        let z = Tensor::from_vec(vec![100f32, 100.0, -3.0, 0.0], (4, 1), &Device::Cpu).unwrap();
        let y = label_tensor(&config, &[0, 1, 1, 0]).unwrap();
        let loss = per_example_loss(&config, &z, &y)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // -ln(1 - σ(100)) ≈ 100; -ln σ(100) ≈ e^-100 ≈ 0; -ln σ(-3) = ln(1 + e^3)
        // = 3.04859; -ln(1 - σ(0)) = ln 2.
        assert!((loss[0] - 100.0).abs() < 1e-4, "{loss:?}");
        assert!(loss[1].abs() < 1e-6, "{loss:?}");
        assert!((loss[2] - 3.048_587).abs() < 1e-5, "{loss:?}");
        assert!((loss[3] - std::f32::consts::LN_2).abs() < 1e-6, "{loss:?}");
    }

    #[test]
    fn multiclass_loss_is_negative_log_softmax() {
        let config = HeadConfig::new(1, 3);
        let z =
            Tensor::from_vec(vec![0f32, 0.0, 0.0, 2.0, 0.0, 0.0], (2, 3), &Device::Cpu).unwrap();
        let y = label_tensor(&config, &[1, 0]).unwrap();
        let loss = per_example_loss(&config, &z, &y)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // Uniform logits: ln 3. Second row: -ln(e² / (e² + 2)) = ln(1 + 2e^-2).
        assert!((loss[0] - 3f32.ln()).abs() < 1e-6);
        assert!((loss[1] - (1.0 + 2.0 * (-2f32).exp()).ln()).abs() < 1e-6);
    }

    #[test]
    fn probabilities_sum_to_one_and_match_the_logits() {
        let binary = HeadConfig::new(1, 2);
        let p = probabilities(&binary, &[0.0]);
        assert_eq!(p, vec![0.5, 0.5]);
        let p = probabilities(&binary, &[2.0]);
        assert!((p[1] - 0.880_797).abs() < 1e-6 && (p[0] + p[1] - 1.0).abs() < 1e-6);
        let p = probabilities(&HeadConfig::new(1, 3), &[1000.0, 0.0, 1000.0]);
        assert_eq!(p, vec![0.5, 0.0, 0.5]);
        let p = probabilities(&HeadConfig::new(1, 3), &[f32::INFINITY, 0.0, 1.0]);
        assert_eq!(p, vec![1.0, 0.0, 0.0]);
    }

    #[test]
    fn init_is_seeded_and_within_the_glorot_limit() {
        let config = HeadConfig::new(10, 2);
        let a = Weights::init(&config, 5).unwrap().to_values().unwrap();
        let b = Weights::init(&config, 5).unwrap().to_values().unwrap();
        let c = Weights::init(&config, 6).unwrap().to_values().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let limit = (6.0f32 / (10.0 + 128.0)).sqrt();
        assert!(a[0].iter().all(|w| w.abs() <= limit));
        assert!(a[1].iter().all(|&b| b == 0.0));
    }

    #[test]
    fn from_values_rejects_wrong_lengths_and_non_finite_values() {
        let config = HeadConfig::new(1, 2);
        let ok = || [vec![0.0; 128], vec![0.0; 128], vec![0.0; 42], vec![0.0]];
        assert!(Weights::from_values(&config, ok()).is_ok());
        let mut short = ok();
        short[2].pop();
        assert!(Weights::from_values(&config, short).is_err());
        let mut nan = ok();
        nan[3][0] = f32::NAN;
        assert!(Weights::from_values(&config, nan).is_err());
    }
}
