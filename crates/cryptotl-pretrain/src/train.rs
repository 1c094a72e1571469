//! The training loop: Adam on minibatches, early stopping on the validation
//! loss, then export ([`crate::export`]) and evaluation of the exported
//! artifacts.

use candle_core::{Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use cryptotl_graph::{FloatModel, Graph, LowerNetworkParams, QuantizedModel};
use cryptotl_quant::{FloatPolynomial, InputQuantizer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{PretrainConfig, QuantBits, TrainingMode};
use crate::data::{split, Labeled};
use crate::error::{PretrainError, Result};
use crate::export::{export, widest_bits, BitsSource};
use crate::head::Head;
use crate::model::{Labels, Net, QuantContext};

/// Samples per forward pass when evaluating whole sets (bounds memory).
const EVAL_CHUNK: usize = 4096;

/// Progress after one epoch, passed to the caller's callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches.
    pub train_loss: f64,
    /// Validation loss after the epoch (training-mode forward pass).
    pub validation_loss: f64,
    /// Validation accuracy after the epoch (training-mode forward pass).
    pub validation_accuracy: f64,
    /// Whether this epoch has the lowest validation loss so far.
    pub improved: bool,
}

/// What pretraining did and how good the exported model is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// Training mode used.
    pub mode: TrainingMode,
    /// Training samples.
    pub train_samples: usize,
    /// Validation samples.
    pub validation_samples: usize,
    /// Epochs run (early stopping may end before `max_epochs`).
    pub epochs_run: usize,
    /// Epoch whose weights were exported (`0`: the initial weights).
    pub best_epoch: usize,
    /// Training loss of the initial weights (training-mode forward pass).
    pub initial_train_loss: f64,
    /// Training loss of the exported weights (training-mode forward pass).
    pub best_train_loss: f64,
    /// Validation loss of the exported weights (training-mode forward pass).
    pub best_validation_loss: f64,
    /// Bit widths the forward pass used (QAT) or was meant for (float-only).
    pub training_bits: QuantBits,
    /// Bit widths of the exported model.
    pub export_bits: QuantBits,
    /// Where `export_bits` come from.
    pub bits_source: BitsSource,
    /// Plaintext modulus size the exported model needs.
    pub plaintext_bits: u32,
    /// The trained activation `[a0, a1, a2]`.
    pub activation: Vec<f64>,
    /// Validation accuracy of the head on the exported float graph's
    /// features ([`Graph::evaluate_batch`]).
    pub float_validation_accuracy: f64,
    /// Validation accuracy of the head on the exported quantized model's
    /// dequantized features ([`cryptotl_graph::QuantizedGraph::evaluate_batch`]).
    pub quantized_validation_accuracy: f64,
    /// Every epoch's report.
    pub history: Vec<EpochReport>,
}

/// The result of pretraining.
#[derive(Debug, Clone, PartialEq)]
pub struct Pretrained {
    /// The trained float graph (unfused `Conv1d → Dense → Activation →
    /// AvgPool1d → Dense`), with the input quantizer and HE plan: the
    /// client-side float baseline.
    pub float_model: FloatModel,
    /// The model the server serves: quantized graph and HE plan.
    pub model: QuantizedModel,
    /// The temporary head, trained on the lower network's features.
    pub head: Head,
    /// Training and evaluation summary.
    pub report: PretrainReport,
}

impl Pretrained {
    /// The float graph's features of `inputs` ([`Graph::evaluate_batch`]).
    ///
    /// # Errors
    /// Wrong dimension or non-finite inputs.
    pub fn float_features(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        float_features(&self.float_model.graph, inputs)
    }

    /// The quantized model's dequantized features of `inputs` (integer
    /// evaluation, [`cryptotl_graph::QuantizedGraph::evaluate_batch`]).
    ///
    /// # Errors
    /// Wrong dimension or non-finite inputs, integer overflow.
    pub fn quantized_features(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        quantized_features(&self.model, inputs)
    }
}

/// Features of `inputs` under a float graph (thin wrapper over
/// [`Graph::evaluate_batch`]).
///
/// # Errors
/// Wrong dimension or non-finite inputs.
pub fn float_features(graph: &Graph, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    Ok(graph.evaluate_batch(inputs)?)
}

/// Dequantized features of `inputs` under a quantized model: quantize with
/// its input quantizer, evaluate the integer network exactly, dequantize
/// (thin wrapper over [`cryptotl_graph::QuantizedGraph::evaluate_batch`]).
///
/// # Errors
/// Wrong dimension or non-finite inputs, integer overflow.
pub fn quantized_features(model: &QuantizedModel, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    Ok(model.graph.evaluate_batch(inputs)?)
}

/// The input quantizer at `bits` bits, its range per feature the
/// `[clip, 1 − clip]` quantiles of `inputs` (nearest rank; `clip = 0`:
/// min-max, as [`InputQuantizer::fit`]).
///
/// # Errors
/// As [`InputQuantizer::fit`]; [`PretrainError::InvalidConfig`] for `clip`
/// outside `[0, 0.5)`.
pub fn fit_input_quantizer(inputs: &[Vec<f32>], bits: u32, clip: f64) -> Result<InputQuantizer> {
    if !(clip.is_finite() && (0.0..0.5).contains(&clip)) {
        return Err(PretrainError::InvalidConfig(format!(
            "input clip must be in [0, 0.5), got {clip}"
        )));
    }
    let fitted = InputQuantizer::fit(inputs, bits)?;
    if clip == 0.0 {
        return Ok(fitted);
    }
    let n = inputs.len();
    let lo_rank = (clip * (n - 1) as f64).round() as usize;
    let hi_rank = (n - 1) - lo_rank;
    let mut column = vec![0.0f32; n];
    let (mut min, mut max) = (fitted.min, fitted.max);
    for j in 0..min.len() {
        for (c, x) in column.iter_mut().zip(inputs) {
            *c = x[j];
        }
        column.sort_unstable_by(f32::total_cmp);
        min[j] = column[lo_rank];
        max[j] = column[hi_rank];
    }
    Ok(InputQuantizer::new(bits, min, max)?)
}

/// Pretrains the lower network on labeled embeddings, holding out
/// `config.validation_fraction` of them (seeded shuffle) for early stopping
/// and the reported accuracies; see [`pretrain_with_validation`].
///
/// # Errors
/// [`PretrainError::InvalidConfig`], [`PretrainError::InvalidData`] (empty
/// set, fewer than two samples, ragged or non-finite embeddings, labels
/// `>= classes`, dimension below 3), and the errors of
/// [`pretrain_with_validation`].
pub fn pretrain(
    inputs: &[Vec<f32>],
    labels: &[usize],
    config: &PretrainConfig,
    progress: &mut dyn FnMut(EpochReport),
) -> Result<Pretrained> {
    config.validate()?;
    let data = Labeled::new(inputs, labels);
    data.check("training data", config.classes, None)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let (train, val) = split(data, config.validation_fraction, &mut rng)?;
    run(train.view(), val.view(), config, &mut rng, progress)
}

/// Pretrains the lower network on `train`, early-stopping on `validation`.
///
/// 1. Initializes the lower network with Glorot weights
///    ([`LowerNetworkParams::random`]) and `config.activation`, and a
///    Glorot head; chooses the bit widths (`config.bits` or
///    [`cryptotl_graph::widest_quantization`] of the initial network) and
///    fits the input quantizer on `train`.
/// 2. Trains with Adam on seeded minibatches, in quantization-aware or
///    float mode, calling `progress` after every epoch; stops after
///    `config.patience` epochs without a lower validation loss and keeps the
///    best weights.
/// 3. Exports them (as an [`Exported`](crate::Exported)) and measures the head's
///    validation accuracy on the exported float graph and on the exported
///    quantized model.
///
/// # Errors
/// Invalid configuration or data (as [`pretrain`]), a validation set of
/// another dimension, [`PretrainError::Diverged`],
/// [`PretrainError::PlaintextTooWide`], and graph, quantization and candle
/// errors.
pub fn pretrain_with_validation(
    train: Labeled<'_>,
    validation: Labeled<'_>,
    config: &PretrainConfig,
    progress: &mut dyn FnMut(EpochReport),
) -> Result<Pretrained> {
    config.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    run(train, validation, config, &mut rng, progress)
}

/// A labeled set as tensors, in the form the training mode wants.
struct TensorSet {
    x: Tensor,
    y: Labels,
    n: usize,
}

impl TensorSet {
    fn new(
        data: Labeled<'_>,
        quantizer: Option<&InputQuantizer>,
        classes: usize,
        d: usize,
        device: &Device,
    ) -> Result<Self> {
        let n = data.len();
        let flat: Vec<f32> = match quantizer {
            Some(q) => q
                .quantize_batch(data.inputs)?
                .into_iter()
                .flatten()
                .map(|v| v as f32)
                .collect(),
            None => data.inputs.iter().flatten().copied().collect(),
        };
        Ok(TensorSet {
            x: Tensor::from_vec(flat, (n, d), device)?,
            y: Labels::new(data.labels, classes, device)?,
            n,
        })
    }
}

/// Mean loss and accuracy of `net` on a whole set, in chunks.
fn evaluate(net: &Net, set: &TensorSet, quant: Option<&QuantContext>) -> Result<(f64, f64)> {
    let (mut loss, mut correct) = (0.0f64, 0usize);
    let mut start = 0;
    while start < set.n {
        let len = EVAL_CHUNK.min(set.n - start);
        let x = set.x.narrow(0, start, len)?;
        let y = set.y.narrow(start, len)?;
        let logits = net.logits(&net.features(&x, quant)?.detach())?.detach();
        loss += f64::from(net.loss(&logits, &y)?.to_scalar::<f32>()?) * len as f64;
        correct += y.correct(&logits)?;
        start += len;
    }
    Ok((loss / set.n as f64, correct as f64 / set.n as f64))
}

fn run(
    train: Labeled<'_>,
    validation: Labeled<'_>,
    config: &PretrainConfig,
    rng: &mut ChaCha8Rng,
    progress: &mut dyn FnMut(EpochReport),
) -> Result<Pretrained> {
    let classes = config.classes;
    let d = train.check("training data", classes, None)?;
    validation.check("validation data", classes, Some(d))?;
    let device = Device::Cpu;

    // Initial weights.
    let mut lower = LowerNetworkParams::random(d, rng)?;
    let [a0, a1, a2] = config.activation.coefficients()?;
    lower.activation = FloatPolynomial {
        coefficients: vec![f64::from(a0), f64::from(a1), f64::from(a2)],
    };
    let head = Head::random(d + 1 - cryptotl_graph::LOWER_POOL_WINDOW, classes, rng);

    // Bit widths and the input quantizer.
    let (bits, source) = match config.bits {
        Some(b) => (b, BitsSource::Caller),
        None => (
            widest_bits(d, &lower, train.inputs, config.preset)?,
            BitsSource::Widest,
        ),
    };
    let input = fit_input_quantizer(train.inputs, bits.input, config.input_clip)?;
    let qat = config.mode == TrainingMode::QuantizationAware;
    let quant = if qat {
        Some(QuantContext::new(&input, bits.weight, &device)?)
    } else {
        None
    };
    let tensor_quantizer = if qat { Some(&input) } else { None };
    let train_set = TensorSet::new(train, tensor_quantizer, classes, d, &device)?;
    let val_set = TensorSet::new(validation, tensor_quantizer, classes, d, &device)?;

    // Training.
    let net = Net::new(d, &lower, &head, &device)?;
    let mut opt = AdamW::new(
        net.vars(config.train_activation),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: config.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let (initial_train_loss, _) = evaluate(&net, &train_set, quant.as_ref())?;
    let (mut best_loss, _) = evaluate(&net, &val_set, quant.as_ref())?;
    let mut best = (lower, head);
    let mut best_epoch = 0;
    let mut history = Vec::new();
    let mut order: Vec<u32> = (0..train_set.n as u32).collect();
    for epoch in 1..=config.max_epochs {
        order.shuffle(rng);
        let mut sum = 0.0f64;
        for batch in order.chunks(config.batch_size) {
            let idx = Tensor::from_slice(batch, batch.len(), &device)?;
            let x = train_set.x.index_select(&idx, 0)?;
            let y = train_set.y.select(&idx)?;
            let logits = net.logits(&net.features(&x, quant.as_ref())?)?;
            let loss = net.loss(&logits, &y)?;
            sum += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
            opt.backward_step(&loss)?;
        }
        let train_loss = sum / train_set.n as f64;
        if !train_loss.is_finite() {
            return Err(PretrainError::Diverged { epoch });
        }
        let (validation_loss, validation_accuracy) = evaluate(&net, &val_set, quant.as_ref())?;
        let improved =
            validation_loss.is_finite() && (validation_loss < best_loss || !best_loss.is_finite());
        if improved {
            best_loss = validation_loss;
            best = net.snapshot()?;
            best_epoch = epoch;
        }
        history.push(EpochReport {
            epoch,
            train_loss,
            validation_loss,
            validation_accuracy,
            improved,
        });
        progress(history[history.len() - 1].clone());
        if epoch - best_epoch >= config.patience {
            break;
        }
    }
    let (lower, head) = best;
    let best_train_loss = {
        let net = Net::new(d, &lower, &head, &device)?;
        evaluate(&net, &train_set, quant.as_ref())?.0
    };

    // Export and evaluation of the exported artifacts.
    let exported = export(
        &lower,
        &input,
        bits,
        source,
        train.inputs,
        config.preset,
        config.plan_he,
    )?;
    let f_features = float_features(&exported.float_model.graph, validation.inputs)?;
    let float_validation_accuracy = head.accuracy(&f_features, validation.labels)?;
    let q_features = quantized_features(&exported.model, validation.inputs)?;
    let quantized_validation_accuracy = head.accuracy(&q_features, validation.labels)?;
    let report = PretrainReport {
        mode: config.mode,
        train_samples: train.len(),
        validation_samples: validation.len(),
        epochs_run: history.len(),
        best_epoch,
        initial_train_loss,
        best_train_loss,
        best_validation_loss: best_loss,
        training_bits: bits,
        export_bits: exported.bits,
        bits_source: exported.bits_source,
        plaintext_bits: exported.plaintext_bits,
        activation: lower.activation.coefficients.clone(),
        float_validation_accuracy,
        quantized_validation_accuracy,
        history,
    };
    Ok(Pretrained {
        float_model: exported.float_model,
        model: exported.model,
        head,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_clip_zero_is_min_max_and_a_share_takes_quantiles() {
        // Feature 0: 0, 1, …, 10; feature 1: constant 5.
        let xs: Vec<Vec<f32>> = (0..=10).map(|i| vec![i as f32, 5.0]).collect();
        let minmax = fit_input_quantizer(&xs, 4, 0.0).expect("fits");
        assert_eq!(minmax, InputQuantizer::fit(&xs, 4).expect("fits"));
        let clipped = fit_input_quantizer(&xs, 4, 0.1).expect("fits");
        assert_eq!(clipped.min, vec![1.0, 5.0]);
        assert_eq!(clipped.max, vec![9.0, 5.0]);
        assert_eq!(clipped.bits, 4);
        // Outliers are clamped to the ends of the range.
        assert_eq!(clipped.quantize(&[0.0, 5.0]).expect("quantizes")[0], 0);
        assert_eq!(clipped.quantize(&[10.0, 5.0]).expect("quantizes")[0], 15);
        for bad in [-0.1, 0.5, f64::NAN] {
            assert!(matches!(
                fit_input_quantizer(&xs, 4, bad),
                Err(PretrainError::InvalidConfig(_))
            ));
        }
    }
}
