//! The training loop: Adam on minibatches drawn from the union of the
//! sources, each sample's loss through its source's head, early stopping on
//! the validation loss, then export ([`crate::export`]) and evaluation of
//! the exported artifacts.

use std::borrow::Cow;

use candle_core::{Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use cryptotl_graph::{FloatModel, Graph, LowerNetworkParams, QuantizedModel};
use cryptotl_quant::{FloatPolynomial, InputQuantizer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{PretrainConfig, QuantBits, SourceWeighting, TrainingMode};
use crate::data::{split, Labeled};
use crate::error::{PretrainError, Result};
use crate::export::{export, widest_bits, BitsSource};
use crate::head::Head;
use crate::model::{Decoder, Labels, Net, NetParams, QuantContext};
use crate::multi::{MultiPretrained, SourceReport};

/// Samples per forward pass when evaluating whole sets (bounds memory).
const EVAL_CHUNK: usize = 4096;

/// Progress after one epoch, passed to the caller's callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches (the objective:
    /// cross-entropy, plus the reconstruction term if on, sources weighted
    /// by [`PretrainConfig::source_weighting`]).
    pub train_loss: f64,
    /// Validation loss after the epoch (training-mode forward pass; the same
    /// objective and weighting), what early stopping watches.
    pub validation_loss: f64,
    /// Validation accuracy after the epoch (training-mode forward pass;
    /// with several sources, their accuracies combined with the same
    /// weighting).
    pub validation_accuracy: f64,
    /// Whether this epoch has the lowest validation loss so far.
    pub improved: bool,
    /// With two or more sources, each source's validation accuracy, in
    /// source order (empty for one source: `validation_accuracy` is its
    /// accuracy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_validation_accuracy: Vec<f64>,
}

/// What pretraining did and how good the exported model is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// Training mode used.
    pub mode: TrainingMode,
    /// Training samples (of all sources).
    pub train_samples: usize,
    /// Validation samples (of all sources).
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
    /// features ([`Graph::evaluate_batch`]); with several sources, each
    /// head's on its source, combined as
    /// [`PretrainConfig::source_weighting`] says
    /// ([`MultiPretrained::sources`] has each).
    pub float_validation_accuracy: f64,
    /// Validation accuracy of the head on the exported quantized model's
    /// dequantized features ([`cryptotl_graph::QuantizedGraph::evaluate_batch`]);
    /// combined over sources as `float_validation_accuracy`.
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
    /// The single-source result: the first head.
    fn from_multi(multi: MultiPretrained) -> Self {
        let MultiPretrained {
            float_model,
            model,
            heads,
            report,
            ..
        } = multi;
        let head = heads
            .into_iter()
            .next()
            .map(|(_, head)| head)
            .expect("one source, one head");
        Pretrained {
            float_model,
            model,
            head,
            report,
        }
    }

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
    single(train.view(), val.view(), config, &mut rng, progress)
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
/// This is [`pretrain_multi`](crate::pretrain_multi)'s trainer with one
/// source (of `config.classes` classes); the objective knobs of
/// [`PretrainConfig`] apply (`source_weighting` has no effect), and
/// [`QuantizedModel::sources`] is left empty for the caller to fill.
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
    single(train, validation, config, &mut rng, progress)
}

/// The single-source trainer: [`run`] with one part of `config.classes`
/// classes.
fn single(
    train: Labeled<'_>,
    validation: Labeled<'_>,
    config: &PretrainConfig,
    rng: &mut ChaCha8Rng,
    progress: &mut dyn FnMut(EpochReport),
) -> Result<Pretrained> {
    let d = train.check("training data", config.classes, None)?;
    validation.check("validation data", config.classes, Some(d))?;
    let part = Part {
        name: String::new(),
        classes: config.classes,
        train,
        validation,
    };
    run(&[part], config, rng, progress).map(Pretrained::from_multi)
}

/// One source's training and validation parts, checked (same dimension,
/// labels below `classes`, at least one sample each).
pub(crate) struct Part<'a> {
    /// The source's name (messages and the report; empty for
    /// [`pretrain`]).
    pub(crate) name: String,
    /// Its class count (`>= 2`).
    pub(crate) classes: usize,
    /// Its training samples.
    pub(crate) train: Labeled<'a>,
    /// Its validation samples.
    pub(crate) validation: Labeled<'a>,
}

/// The samples of all sources (one split: training or validation) as
/// tensors, in the form the training mode wants: the union, source after
/// source, with each source's labels kept apart (each head has its own
/// class count).
struct TensorSet {
    /// Inputs of the union (`n x d`): embeddings, or integer input levels
    /// under QAT.
    x: Tensor,
    /// Standardized embeddings of the union (`n x d`), the reconstruction
    /// target; only with the reconstruction term.
    target: Option<Tensor>,
    /// Per source: where its samples start in the union, how many, labels.
    parts: Vec<PartTensors>,
    /// Samples in the union.
    n: usize,
}

/// One source's slice of a [`TensorSet`].
struct PartTensors {
    start: usize,
    n: usize,
    y: Labels,
}

/// Per-feature mean and standard deviation of the reconstruction target.
struct Standardizer {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Standardizer {
    /// Mean and population standard deviation of every feature over the
    /// samples of `sets`.
    fn fit<'a>(sets: impl Iterator<Item = &'a [Vec<f32>]> + Clone, d: usize) -> Self {
        let n: usize = sets.clone().map(<[_]>::len).sum();
        let mut mean = vec![0.0f64; d];
        for x in sets.clone().flatten() {
            for (m, &v) in mean.iter_mut().zip(x) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0f64; d];
        for x in sets.flatten() {
            for ((s, &v), m) in var.iter_mut().zip(x).zip(&mean) {
                *s += (f64::from(v) - m).powi(2);
            }
        }
        let std = var.into_iter().map(|s| (s / n as f64).sqrt()).collect();
        Standardizer { mean, std }
    }

    /// `(x − μ) / σ` per feature (`0` where `σ = 0`).
    fn apply<'a>(&'a self, x: &'a [f32]) -> impl Iterator<Item = f32> + 'a {
        x.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(&v, (&m, &s))| {
                if s > 0.0 {
                    ((f64::from(v) - m) / s) as f32
                } else {
                    0.0
                }
            })
    }
}

impl TensorSet {
    /// The training (`validation = false`) or validation parts of `parts`.
    fn new(
        parts: &[Part<'_>],
        validation: bool,
        quantizer: Option<&InputQuantizer>,
        standardizer: Option<&Standardizer>,
        d: usize,
        device: &Device,
    ) -> Result<Self> {
        let mut flat: Vec<f32> = Vec::new();
        let mut target: Vec<f32> = Vec::new();
        let mut tensors = Vec::with_capacity(parts.len());
        let mut start = 0;
        for part in parts {
            let data = if validation {
                part.validation
            } else {
                part.train
            };
            match quantizer {
                Some(q) => flat.extend(
                    q.quantize_batch(data.inputs)?
                        .into_iter()
                        .flatten()
                        .map(|v| v as f32),
                ),
                None => flat.extend(data.inputs.iter().flatten().copied()),
            }
            if let Some(st) = standardizer {
                for x in data.inputs {
                    target.extend(st.apply(x));
                }
            }
            tensors.push(PartTensors {
                start,
                n: data.len(),
                y: Labels::new(data.labels, part.classes, device)?,
            });
            start += data.len();
        }
        let n = start;
        let target = match standardizer {
            Some(_) => Some(Tensor::from_vec(target, (n, d), device)?),
            None => None,
        };
        Ok(TensorSet {
            x: Tensor::from_vec(flat, (n, d), device)?,
            target,
            parts: tensors,
            n,
        })
    }
}

/// The objective's settings the loss needs.
#[derive(Clone, Copy)]
struct Objective {
    smoothing: f64,
    reconstruction: f64,
    weighting: SourceWeighting,
}

impl Objective {
    fn new(config: &PretrainConfig) -> Self {
        Objective {
            smoothing: config.label_smoothing,
            reconstruction: config.reconstruction,
            weighting: config.source_weighting,
        }
    }

    /// Mean loss of `features` of samples of one source: its head's
    /// (smoothed) cross-entropy, plus `λ ·` the reconstruction error of
    /// `target` when the term is on. Also returns the logits.
    fn loss(
        &self,
        net: &Net,
        head: usize,
        features: &Tensor,
        labels: &Labels,
        target: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let logits = net.logits(head, features)?;
        let mut loss = net.loss(&logits, labels, self.smoothing)?;
        if let Some(target) = target {
            if let Some(mse) = net.reconstruction_loss(features, target)? {
                loss = loss.add(&mse.affine(self.reconstruction, 0.0)?)?;
            }
        }
        Ok((loss, logits))
    }

    /// The weights of the sources' means in the combined loss and accuracy
    /// of a set with `counts[s]` samples of source `s`.
    fn source_weights(&self, counts: &[usize]) -> Vec<f64> {
        let n: usize = counts.iter().sum();
        match self.weighting {
            SourceWeighting::PerSample => counts.iter().map(|&c| c as f64 / n as f64).collect(),
            SourceWeighting::EqualSources => vec![1.0 / counts.len() as f64; counts.len()],
        }
    }

    /// `Σ_s w_s v_s`; with one source, `v_0` itself.
    fn combine(&self, values: &[f64], counts: &[usize]) -> f64 {
        if let [v] = values {
            return *v;
        }
        self.source_weights(counts)
            .iter()
            .zip(values)
            .map(|(w, v)| w * v)
            .sum()
    }
}

/// Loss and accuracy of `net` on a set, per source and combined.
struct Evaluation {
    loss: f64,
    accuracy: f64,
    source_accuracy: Vec<f64>,
}

/// Mean loss and accuracy of `net` on each source of a set, in chunks, and
/// their combination ([`Objective::combine`]).
fn evaluate(
    net: &Net,
    set: &TensorSet,
    quant: Option<&QuantContext>,
    objective: &Objective,
) -> Result<Evaluation> {
    let mut losses = Vec::with_capacity(set.parts.len());
    let mut accuracies = Vec::with_capacity(set.parts.len());
    for (s, part) in set.parts.iter().enumerate() {
        let (mut loss, mut correct) = (0.0f64, 0usize);
        let mut start = 0;
        while start < part.n {
            let len = EVAL_CHUNK.min(part.n - start);
            let x = set.x.narrow(0, part.start + start, len)?;
            let y = part.y.narrow(start, len)?;
            let features = net.features(&x, quant)?.detach();
            let target = match &set.target {
                Some(t) => Some(t.narrow(0, part.start + start, len)?),
                None => None,
            };
            let (chunk_loss, logits) = objective.loss(net, s, &features, &y, target.as_ref())?;
            let logits = logits.detach();
            loss += f64::from(chunk_loss.to_scalar::<f32>()?) * len as f64;
            correct += y.correct(&logits)?;
            start += len;
        }
        losses.push(loss / part.n as f64);
        accuracies.push(correct as f64 / part.n as f64);
    }
    let counts: Vec<usize> = set.parts.iter().map(|p| p.n).collect();
    Ok(Evaluation {
        loss: objective.combine(&losses, &counts),
        accuracy: objective.combine(&accuracies, &counts),
        source_accuracy: accuracies,
    })
}

/// The training loss of one minibatch `batch` (indices into the union).
///
/// Each sample's loss goes through its own source's head. With one source
/// in the batch and weight 1 this is exactly that source's mean loss (the
/// single-source computation); otherwise the batch is split by source and
/// the sources' mean losses are added with weights `B_s / B` (per sample)
/// or `(B_s / B) · N / (K · N_s)` (equal sources).
fn batch_loss(
    net: &Net,
    set: &TensorSet,
    source_of: &[u32],
    batch: &[u32],
    quant: Option<&QuantContext>,
    objective: &Objective,
    device: &Device,
) -> Result<Tensor> {
    let idx = Tensor::from_slice(batch, batch.len(), device)?;
    let x = set.x.index_select(&idx, 0)?;
    let features = net.features(&x, quant)?;
    let target = match &set.target {
        Some(t) => Some(t.index_select(&idx, 0)?),
        None => None,
    };
    // Positions in the batch and indices within the source, per source.
    let k = set.parts.len();
    let mut positions: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut local: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (pos, &i) in batch.iter().enumerate() {
        let s = source_of[i as usize] as usize;
        positions[s].push(pos as u32);
        local[s].push(i - set.parts[s].start as u32);
    }
    let present = positions.iter().filter(|p| !p.is_empty()).count();
    let b = batch.len() as f64;
    let mut total: Option<Tensor> = None;
    for s in 0..k {
        if positions[s].is_empty() {
            continue;
        }
        let part = &set.parts[s];
        let y = part
            .y
            .select(&Tensor::from_slice(&local[s], local[s].len(), device)?)?;
        let (loss, _) = if present == 1 {
            objective.loss(net, s, &features, &y, target.as_ref())?
        } else {
            let pos = Tensor::from_slice(&positions[s], positions[s].len(), device)?;
            let target = match &target {
                Some(t) => Some(t.index_select(&pos, 0)?),
                None => None,
            };
            objective.loss(
                net,
                s,
                &features.index_select(&pos, 0)?,
                &y,
                target.as_ref(),
            )?
        };
        let share = positions[s].len() as f64 / b;
        let weight = match objective.weighting {
            SourceWeighting::PerSample => share,
            SourceWeighting::EqualSources => share * set.n as f64 / (k as f64 * part.n as f64),
        };
        let weighted = if weight == 1.0 {
            loss
        } else {
            loss.affine(weight, 0.0)?
        };
        total = Some(match total {
            None => weighted,
            Some(t) => t.add(&weighted)?,
        });
    }
    total.ok_or_else(|| PretrainError::InvalidData("empty minibatch".into()))
}

/// Trains one lower network with one head per part (see [`pretrain_multi`]
/// and [`pretrain_with_validation`]); `parts` are checked by the caller.
/// With one part this is exactly the single-source trainer: the same random
/// draws in the same order, the same tensor operations.
pub(crate) fn run(
    parts: &[Part<'_>],
    config: &PretrainConfig,
    rng: &mut ChaCha8Rng,
    progress: &mut dyn FnMut(EpochReport),
) -> Result<MultiPretrained> {
    let d = parts[0].train.inputs[0].len();
    let device = Device::Cpu;
    let objective = Objective::new(config);
    let multi = parts.len() > 1;

    // Initial weights: the lower network, then the heads in source order.
    let mut lower = LowerNetworkParams::random(d, rng)?;
    let [a0, a1, a2] = config.activation.coefficients()?;
    lower.activation = FloatPolynomial {
        coefficients: vec![f64::from(a0), f64::from(a1), f64::from(a2)],
    };
    let features = d + 1 - cryptotl_graph::LOWER_POOL_WINDOW;
    let heads = parts
        .iter()
        .map(|p| Head::random(features, p.classes, rng))
        .collect();
    let decoder = (config.reconstruction > 0.0).then(|| Decoder::zeros(d));
    let init = NetParams {
        lower,
        heads,
        decoder,
    };

    // The union of the training parts: bit widths and the input quantizer
    // are fitted on it.
    let train_inputs: Cow<'_, [Vec<f32>]> = if multi {
        Cow::Owned(parts.iter().flat_map(|p| p.train.inputs).cloned().collect())
    } else {
        Cow::Borrowed(parts[0].train.inputs)
    };
    let (bits, source) = match config.bits {
        Some(b) => (b, BitsSource::Caller),
        None => (
            widest_bits(d, &init.lower, &train_inputs, config.preset)?,
            BitsSource::Widest,
        ),
    };
    let input = fit_input_quantizer(&train_inputs, bits.input, config.input_clip)?;
    let qat = config.mode == TrainingMode::QuantizationAware;
    let quant = if qat {
        Some(QuantContext::new(&input, bits.weight, &device)?)
    } else {
        None
    };
    let tensor_quantizer = if qat { Some(&input) } else { None };
    let standardizer = init
        .decoder
        .as_ref()
        .map(|_| Standardizer::fit(parts.iter().map(|p| p.train.inputs), d));
    let train_set = TensorSet::new(
        parts,
        false,
        tensor_quantizer,
        standardizer.as_ref(),
        d,
        &device,
    )?;
    let val_set = TensorSet::new(
        parts,
        true,
        tensor_quantizer,
        standardizer.as_ref(),
        d,
        &device,
    )?;
    let source_of: Vec<u32> = train_set
        .parts
        .iter()
        .enumerate()
        .flat_map(|(s, p)| std::iter::repeat_n(s as u32, p.n))
        .collect();

    // Training.
    let net = Net::new(d, &init, &device)?;
    let mut opt = AdamW::new(
        net.vars(config.train_activation),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: config.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let initial_train_loss = evaluate(&net, &train_set, quant.as_ref(), &objective)?.loss;
    let mut best_loss = evaluate(&net, &val_set, quant.as_ref(), &objective)?.loss;
    let mut best = init;
    let mut best_epoch = 0;
    let mut history = Vec::new();
    let mut order: Vec<u32> = (0..train_set.n as u32).collect();
    for epoch in 1..=config.max_epochs {
        order.shuffle(rng);
        let mut sum = 0.0f64;
        for batch in order.chunks(config.batch_size) {
            let loss = batch_loss(
                &net,
                &train_set,
                &source_of,
                batch,
                quant.as_ref(),
                &objective,
                &device,
            )?;
            sum += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
            opt.backward_step(&loss)?;
        }
        let train_loss = sum / train_set.n as f64;
        if !train_loss.is_finite() {
            return Err(PretrainError::Diverged { epoch });
        }
        let validation = evaluate(&net, &val_set, quant.as_ref(), &objective)?;
        let validation_loss = validation.loss;
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
            validation_accuracy: validation.accuracy,
            improved,
            source_validation_accuracy: if multi {
                validation.source_accuracy
            } else {
                Vec::new()
            },
        });
        progress(history[history.len() - 1].clone());
        if epoch - best_epoch >= config.patience {
            break;
        }
    }
    let best_train_loss = {
        let net = Net::new(d, &best, &device)?;
        evaluate(&net, &train_set, quant.as_ref(), &objective)?.loss
    };
    let NetParams { lower, heads, .. } = best;

    // Export and evaluation of the exported artifacts, per source.
    let exported = export(
        &lower,
        &input,
        bits,
        source,
        &train_inputs,
        config.preset,
        config.plan_he,
    )?;
    let mut sources = Vec::with_capacity(parts.len());
    for (part, head) in parts.iter().zip(&heads) {
        let validation = part.validation;
        let f_features = float_features(&exported.float_model.graph, validation.inputs)?;
        let q_features = quantized_features(&exported.model, validation.inputs)?;
        sources.push(SourceReport {
            name: part.name.clone(),
            classes: part.classes,
            train_samples: part.train.len(),
            validation_samples: validation.len(),
            float_validation_accuracy: head.accuracy(&f_features, validation.labels)?,
            quantized_validation_accuracy: head.accuracy(&q_features, validation.labels)?,
        });
    }
    let counts: Vec<usize> = sources.iter().map(|s| s.validation_samples).collect();
    let float_accuracies: Vec<f64> = sources
        .iter()
        .map(|s| s.float_validation_accuracy)
        .collect();
    let quantized_accuracies: Vec<f64> = sources
        .iter()
        .map(|s| s.quantized_validation_accuracy)
        .collect();
    let report = PretrainReport {
        mode: config.mode,
        train_samples: train_set.n,
        validation_samples: val_set.n,
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
        float_validation_accuracy: objective.combine(&float_accuracies, &counts),
        quantized_validation_accuracy: objective.combine(&quantized_accuracies, &counts),
        history,
    };
    Ok(MultiPretrained {
        float_model: exported.float_model,
        model: exported.model,
        heads: parts.iter().map(|p| p.name.clone()).zip(heads).collect(),
        report,
        sources,
        validation_indices: Vec::new(),
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
