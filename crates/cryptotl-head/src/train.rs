//! Training a head: minibatch Adam with seeded shuffling, initialization and
//! dropout, early stopping on validation loss with best-weight restoration,
//! and progress reports.

use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::config::HeadConfig;
use crate::data::{check_labelled, gather_rows, Standardizer};
use crate::dp::{dp_error, dp_rngs, DpOptions, DpSgd};
use crate::error::{HeadError, Result};
use crate::head::Head;
use crate::metrics::argmax;
use crate::network::{label_tensor, logits, per_example_loss, probabilities, Trainable, Weights};
use crate::record::TrainingRecord;
use crate::seed::{rng, Stream};
use crate::split::stratified_split;
use crate::step::{dropout_mask, Adam, Batch, GradientRule, MeanGradient, StepBatch};

/// Where the validation set for early stopping comes from when none is
/// given explicitly ([`Trainer::validation_set`] overrides it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ValidationSplit {
    /// No validation: train for `max_epochs` and keep the last weights.
    None,
    /// Hold out this fraction (in `(0, 1)`) of every class, chosen with the
    /// training seed.
    Fraction(f64),
}

/// Hyper-parameters of a training run.
///
/// ```
/// use cryptotl_head::{TrainOptions, ValidationSplit};
///
/// let options = TrainOptions { max_epochs: 50, seed: 42, ..TrainOptions::default() };
/// assert_eq!(options.batch_size, 32);
/// assert_eq!(options.validation, ValidationSplit::Fraction(0.2));
/// options.validate()?;
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Upper bound on epochs (default 100).
    pub max_epochs: usize,
    /// Minibatch size (default 32; the last batch of an epoch may be
    /// smaller).
    pub batch_size: usize,
    /// Adam step size (default 1e-3).
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW); 0 gives Adam (default 0).
    pub weight_decay: f64,
    /// Stop after this many consecutive epochs without improvement of the
    /// validation loss, as Keras' `EarlyStopping(patience)` (default 10).
    pub patience: usize,
    /// An epoch improves only if its validation loss is below the best one
    /// by more than this (default 1e-4).
    pub min_delta: f64,
    /// Validation set for early stopping (default: 20% stratified).
    pub validation: ValidationSplit,
    /// Seed of initialization, shuffling, dropout and the validation split
    /// (default 0). A seed fixes the result.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            max_epochs: 100,
            batch_size: 32,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            patience: 10,
            min_delta: 1e-4,
            validation: ValidationSplit::Fraction(0.2),
            seed: 0,
        }
    }
}

impl TrainOptions {
    /// Checks the options.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidOptions`] when `max_epochs` or `batch_size` is 0,
    /// the learning rate is not positive and finite, the weight decay or
    /// `min_delta` is negative or not finite, or the validation fraction is
    /// not in `(0, 1)`.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(HeadError::InvalidOptions(reason));
        if self.max_epochs == 0 {
            return fail("max_epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return fail("batch_size must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return fail(format!(
                "learning rate must be positive and finite, got {}",
                self.learning_rate
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return fail(format!(
                "weight decay must be non-negative and finite, got {}",
                self.weight_decay
            ));
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return fail(format!(
                "min_delta must be non-negative and finite, got {}",
                self.min_delta
            ));
        }
        if let ValidationSplit::Fraction(f) = self.validation {
            if !(f > 0.0 && f < 1.0) {
                return fail(format!("validation fraction must be in (0, 1), got {f}"));
            }
        }
        Ok(())
    }
}

/// Progress of one epoch, passed to the [`Trainer::on_epoch`] callback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (with dropout active,
    /// weighted by batch size).
    pub train_loss: f64,
    /// Mean loss on the validation set after the epoch (no dropout).
    pub validation_loss: Option<f64>,
    /// Accuracy on the validation set after the epoch.
    pub validation_accuracy: Option<f64>,
    /// Whether the validation loss improved on the best so far by more than
    /// `min_delta` (always `false` without validation).
    pub improved: bool,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

/// Summary of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Epochs run.
    pub epochs: usize,
    /// Epoch whose weights the head holds (the best validation loss, or the
    /// last epoch without validation).
    pub best_epoch: usize,
    /// Validation loss of those weights.
    pub best_validation_loss: Option<f64>,
    /// Whether early stopping ended the run before `max_epochs`.
    pub stopped_early: bool,
    /// Examples used for gradient steps.
    pub train_examples: usize,
    /// Examples used for early stopping.
    pub validation_examples: usize,
    /// Every epoch's report, in order.
    pub history: Vec<EpochReport>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Trains a head on `(x, y)` with `options` (validation per
/// `options.validation`, no progress reports). Shorthand for
/// [`Trainer::new`]`(config, options).fit(x, y)`.
///
/// ```
/// use cryptotl_head::{train, HeadConfig, TrainOptions};
///
/// // Class = whether the first feature is positive.
/// let x: Vec<Vec<f32>> = (0..40).map(|i| vec![i as f32 - 19.5, (i % 7) as f32]).collect();
/// let y: Vec<usize> = x.iter().map(|r| usize::from(r[0] > 0.0)).collect();
/// let config = HeadConfig { hidden: 12, ..HeadConfig::new(2, 2) };
/// let options = TrainOptions { max_epochs: 5, batch_size: 8, ..TrainOptions::default() };
/// let (head, report) = train(&config, &x, &y, &options)?;
/// assert!(report.epochs <= 5);
/// assert_eq!(head.predict(&x)?.len(), 40);
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
///
/// # Errors
///
/// See [`Trainer::fit`].
pub fn train(
    config: &HeadConfig,
    x: &[Vec<f32>],
    y: &[usize],
    options: &TrainOptions,
) -> Result<(Head, TrainReport)> {
    Trainer::new(config.clone(), options.clone()).fit(x, y)
}

/// A boxed per-epoch progress callback.
type ProgressFn<'a> = Box<dyn FnMut(&EpochReport) + 'a>;

/// Configures and runs a training: an explicit validation set, a progress
/// callback, class names.
///
/// ```
/// use cryptotl_head::{HeadConfig, TrainOptions, Trainer};
///
/// let x: Vec<Vec<f32>> = (0..30).map(|i| vec![(i % 3) as f32, 1.0]).collect();
/// let y: Vec<usize> = (0..30).map(|i| i % 3).collect();
/// let mut seen = Vec::new();
/// let (head, _) = Trainer::new(HeadConfig { hidden: 9, ..HeadConfig::new(2, 3) },
///                              TrainOptions { max_epochs: 3, ..TrainOptions::default() })
///     .validation_set(&x, &y)
///     .class_names(vec!["a".into(), "b".into(), "c".into()])
///     .on_epoch(|e| seen.push(e.epoch))
///     .fit(&x, &y)?;
/// assert_eq!(seen, [1, 2, 3]);
/// assert_eq!(head.class_names()[2], "c");
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
pub struct Trainer<'a> {
    config: HeadConfig,
    options: TrainOptions,
    validation: Option<(&'a [Vec<f32>], &'a [usize])>,
    class_names: Option<Vec<String>>,
    progress: Option<ProgressFn<'a>>,
    gradient_rule: Box<dyn GradientRule + 'a>,
    dp: Option<DpOptions>,
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("options", &self.options)
            .field(
                "validation_examples",
                &self.validation.map(|(_, y)| y.len()),
            )
            .field("class_names", &self.class_names)
            .field("progress", &self.progress.is_some())
            .field("dp", &self.dp)
            .finish()
    }
}

impl<'a> Trainer<'a> {
    /// A trainer for `config` with `options`.
    pub fn new(config: HeadConfig, options: TrainOptions) -> Self {
        Self {
            config,
            options,
            validation: None,
            class_names: None,
            progress: None,
            gradient_rule: Box::new(MeanGradient),
            dp: None,
        }
    }

    /// Trains with DP-SGD (see [`DpSgd`]): Poisson-sampled batches at
    /// rate `q = batch_size / N`, per-example clipping to `dp.clip`,
    /// Gaussian noise with the multiplier calibrated so that
    /// `T = max_epochs · ⌈N / batch_size⌉` steps are `(dp.epsilon,
    /// dp.delta)`-DP, and the spent `ε` recorded in the head's
    /// [`TrainingRecord::dp`](crate::TrainingRecord::dp).
    ///
    /// Under DP the run has no early stopping and no validation: it trains
    /// on every example for exactly `max_epochs` epochs and ignores
    /// `options.validation` (and `patience`, `min_delta`); an explicit
    /// [`Trainer::validation_set`] is refused, and so is
    /// [`HeadConfig::standardize`] (the stored statistics would not be
    /// private). This replaces any [`Trainer::gradient_rule`].
    ///
    /// ```
    /// use cryptotl_head::{DpOptions, HeadConfig, TrainOptions, Trainer};
    ///
    /// let x: Vec<Vec<f32>> = (0..40).map(|i| vec![if i % 2 == 0 { 1.0 } else { -1.0 }]).collect();
    /// let y: Vec<usize> = (0..40).map(|i| i % 2).collect();
    /// let config = HeadConfig { hidden: 6, standardize: false, ..HeadConfig::new(1, 2) };
    /// let options = TrainOptions { max_epochs: 2, batch_size: 10, ..TrainOptions::default() };
    /// let (head, _) = Trainer::new(config, options)
    ///     .differential_privacy(DpOptions::new(8.0, 1e-3, 1.0))
    ///     .fit(&x, &y)?;
    /// let dp = head.training().unwrap().dp.unwrap();
    /// assert!(dp.epsilon <= 8.0);
    /// # Ok::<(), cryptotl_head::HeadError>(())
    /// ```
    pub fn differential_privacy(mut self, dp: DpOptions) -> Self {
        self.dp = Some(dp);
        self
    }

    /// Uses `(x, y)` for early stopping instead of splitting the training
    /// set; all training examples are then used for gradient steps.
    pub fn validation_set(mut self, x: &'a [Vec<f32>], y: &'a [usize]) -> Self {
        self.validation = Some((x, y));
        self
    }

    /// Names the classes of the trained head (checked by [`Trainer::fit`]).
    pub fn class_names(mut self, names: Vec<String>) -> Self {
        self.class_names = Some(names);
        self
    }

    /// Replaces the default [`MeanGradient`] rule, for example with a
    /// DP-SGD rule (see [`GradientRule`]).
    pub fn gradient_rule(mut self, rule: impl GradientRule + 'a) -> Self {
        self.gradient_rule = Box::new(rule);
        self
    }

    /// Calls `progress` after every epoch.
    pub fn on_epoch(mut self, progress: impl FnMut(&EpochReport) + 'a) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Trains on `(x, y)`.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidConfig`], [`HeadError::InvalidOptions`] (including
    /// a validation fraction that leaves one side empty),
    /// [`HeadError::InvalidInput`] for malformed features or labels (either
    /// set) or class names of the wrong count, [`HeadError::Diverged`] when
    /// a loss becomes non-finite.
    pub fn fit(mut self, x: &[Vec<f32>], y: &[usize]) -> Result<(Head, TrainReport)> {
        let started = Instant::now();
        let config = self.config.clone();
        let options = self.options.clone();
        config.validate()?;
        options.validate()?;
        check_labelled(x, y, config.input_dim, config.classes)?;
        if let Some(names) = &self.class_names {
            if names.len() != config.classes {
                return Err(HeadError::InvalidInput(format!(
                    "{} class names for {} classes",
                    names.len(),
                    config.classes
                )));
            }
        }

        if let Some(dp) = &self.dp {
            dp.validate()?;
            if self.validation.is_some() {
                return Err(HeadError::InvalidOptions(
                    "early stopping on a validation set is not covered by the DP accounting; \
                     under DP the head trains for exactly max_epochs without validation"
                        .into(),
                ));
            }
            if config.standardize {
                return Err(HeadError::InvalidConfig(
                    "input standardization stores un-noised statistics of the training set; \
                     set standardize = false for DP-SGD"
                        .into(),
                ));
            }
        }
        let split = if self.dp.is_some() {
            ValidationSplit::None
        } else {
            options.validation
        };
        // The head sees every input preprocessed (it records how, and
        // applies the same at prediction).
        let x_preprocessed = config.preprocessing.apply(x);
        let x: &[Vec<f32>] = &x_preprocessed;
        let given_validation = self
            .validation
            .map(|(vx, vy)| (config.preprocessing.apply(vx), vy));
        // Which rows train and which validate.
        let given_validation = given_validation.as_ref().map(|(vx, vy)| (&vx[..], *vy));
        let (train_idx, validation) = match (given_validation, split) {
            (Some((vx, vy)), _) => {
                check_labelled(vx, vy, config.input_dim, config.classes)?;
                let all: Vec<usize> = (0..vx.len()).collect();
                ((0..x.len()).collect::<Vec<_>>(), Some((vx, vy, all)))
            }
            (None, ValidationSplit::Fraction(f)) => {
                let (train, val) = stratified_split(y, config.classes, f, options.seed)?;
                (train, Some((x, y, val)))
            }
            (None, ValidationSplit::None) => ((0..x.len()).collect(), None),
        };

        let standardizer = if config.standardize {
            Some(Standardizer::fit_indices(x, &train_idx)?)
        } else {
            None
        };
        let train_rows = gather_rows(x, &train_idx, standardizer.as_ref());
        let train_labels: Vec<usize> = train_idx.iter().map(|&i| y[i]).collect();
        let validation = validation
            .map(|(vx, vy, idx)| ValidationSet::new(&config, vx, vy, &idx, standardizer.as_ref()))
            .transpose()?;

        let trainable = Trainable::new(&Weights::init(&config, options.seed)?)?;
        let mut adam = Adam::new(&trainable, options.learning_rate, options.weight_decay)?;
        let mut shuffle_rng = rng(options.seed, Stream::Shuffle);
        let mut dropout_rng = rng(options.seed, Stream::Dropout);
        let n_train = train_labels.len();
        let mut dp_run = match &self.dp {
            Some(dp) => {
                let cfg = dp.calibrate(n_train, options.batch_size, options.max_epochs)?;
                let (sampling, noise) = dp_rngs(dp);
                Some((DpSgd::new(cfg, n_train, noise)?, sampling))
            }
            None => None,
        };
        let steps_per_epoch = n_train.div_ceil(options.batch_size);

        let dim = config.input_dim;
        let mut order: Vec<usize> = (0..train_labels.len()).collect();
        let mut history = Vec::new();
        let mut best: Option<(f64, usize, Weights)> = None;
        let mut since_best = 0usize;
        let mut stopped_early = false;
        for epoch in 1..=options.max_epochs {
            let epoch_started = Instant::now();
            let batches: Vec<Vec<usize>> = match dp_run.as_mut() {
                Some((rule, sampling)) => (0..steps_per_epoch)
                    .map(|_| {
                        cryptotl_dp::poisson_sample(n_train, rule.config().sampling_rate, sampling)
                            .map_err(dp_error)
                    })
                    .collect::<Result<_>>()?,
                None => {
                    order.shuffle(&mut shuffle_rng);
                    order
                        .chunks(options.batch_size)
                        .map(<[usize]>::to_vec)
                        .collect()
                }
            };
            let mut loss_sum = 0.0;
            let mut seen = 0usize;
            for chunk in &batches {
                let mut rows = Vec::with_capacity(chunk.len() * dim);
                for &i in chunk {
                    rows.extend_from_slice(&train_rows[i * dim..(i + 1) * dim]);
                }
                let labels: Vec<usize> = chunk.iter().map(|&i| train_labels[i]).collect();
                let batch = Batch::new(&config, rows, &labels)?;
                let mask = dropout_mask(&config, batch.len()?, &mut dropout_rng)?;
                let step = StepBatch::new(&config, &trainable, &batch, mask.as_ref())?;
                let (loss, grads) = match dp_run.as_mut() {
                    Some((rule, _)) => rule.gradients(&step)?,
                    None => self.gradient_rule.gradients(&step)?,
                };
                adam.step(&grads)?;
                loss_sum += loss * chunk.len() as f64;
                seen += chunk.len();
            }
            let train_loss = if seen == 0 {
                0.0
            } else {
                loss_sum / seen as f64
            };
            if !train_loss.is_finite() {
                return Err(HeadError::Diverged {
                    epoch,
                    which: "training",
                });
            }

            let scored = validation
                .as_ref()
                .map(|v| v.score(&config, trainable.weights()))
                .transpose()?;
            let mut improved = false;
            if let Some((loss, _)) = scored {
                if !loss.is_finite() {
                    return Err(HeadError::Diverged {
                        epoch,
                        which: "validation",
                    });
                }
                improved = best
                    .as_ref()
                    .is_none_or(|(best_loss, _, _)| loss < best_loss - options.min_delta);
                if improved {
                    best = Some((loss, epoch, trainable.weights().snapshot()?));
                    since_best = 0;
                } else {
                    since_best += 1;
                }
            }
            let report = EpochReport {
                epoch,
                train_loss,
                validation_loss: scored.map(|(l, _)| l),
                validation_accuracy: scored.map(|(_, a)| a),
                improved,
                seconds: epoch_started.elapsed().as_secs_f64(),
            };
            if let Some(progress) = self.progress.as_mut() {
                progress(&report);
            }
            history.push(report);
            if scored.is_some() && !improved && since_best >= options.patience {
                stopped_early = epoch < options.max_epochs;
                break;
            }
        }

        let epochs = history.len();
        let (best_validation_loss, best_epoch, weights) = match best {
            Some((loss, epoch, weights)) => (Some(loss), epoch, weights),
            None => (None, epochs, trainable.weights().snapshot()?),
        };
        let validation_examples = validation.as_ref().map_or(0, |v| v.labels.len());
        let record = TrainingRecord {
            epochs,
            best_epoch,
            best_validation_loss,
            train_examples: train_labels.len(),
            validation_examples,
            batch_size: options.batch_size,
            learning_rate: options.learning_rate,
            seed: options.seed,
            dp: dp_run.as_ref().map(|(rule, _)| rule.record()).transpose()?,
        };
        let mut head = Head::from_parts(config, standardizer, weights, Some(record));
        if let Some(names) = self.class_names.take() {
            head.set_class_names(names)?;
        }
        let report = TrainReport {
            epochs,
            best_epoch,
            best_validation_loss,
            stopped_early,
            train_examples: train_labels.len(),
            validation_examples,
            history,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((head, report))
    }
}

/// The validation set, standardized once, as tensors.
struct ValidationSet {
    x: Tensor,
    label_tensor: Tensor,
    labels: Vec<usize>,
}

impl ValidationSet {
    fn new(
        config: &HeadConfig,
        x: &[Vec<f32>],
        y: &[usize],
        indices: &[usize],
        standardizer: Option<&Standardizer>,
    ) -> Result<Self> {
        let rows = gather_rows(x, indices, standardizer);
        let labels: Vec<usize> = indices.iter().map(|&i| y[i]).collect();
        Ok(Self {
            x: Tensor::from_vec(rows, (indices.len(), config.input_dim), &Device::Cpu)?,
            label_tensor: label_tensor(config, &labels)?,
            labels,
        })
    }

    /// Mean loss and accuracy of `weights` (no dropout, no gradients kept).
    fn score(&self, config: &HeadConfig, weights: &Weights) -> Result<(f64, f64)> {
        let z = logits(config, weights, &self.x, None)?.detach();
        let loss = per_example_loss(config, &z, &self.label_tensor)?
            .mean_all()?
            .to_scalar::<f32>()?;
        let correct = z
            .to_vec2::<f32>()?
            .iter()
            .zip(&self.labels)
            .filter(|(row, &label)| argmax(&probabilities(config, row)) == label)
            .count();
        Ok((f64::from(loss), correct as f64 / self.labels.len() as f64))
    }
}
