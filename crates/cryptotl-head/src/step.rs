//! One optimization step, split into its three parts so that each can be
//! replaced on its own:
//!
//! Documented on [`GradientRule`].

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::config::HeadConfig;
use crate::error::{HeadError, Result};
use crate::network::{label_tensor, logits, per_example_loss, Trainable, Weights};

/// A minibatch: standardized features `(size, input_dim)` and labels in the
/// form [`per_example_loss`] expects.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) x: Tensor,
    pub(crate) labels: Tensor,
}

impl Batch {
    /// A batch from row-major standardized features and their labels.
    pub(crate) fn new(config: &HeadConfig, rows: Vec<f32>, labels: &[usize]) -> Result<Self> {
        Ok(Self {
            x: Tensor::from_vec(rows, (labels.len(), config.input_dim), &Device::Cpu)?,
            labels: label_tensor(config, labels)?,
        })
    }

    /// Number of examples.
    pub(crate) fn len(&self) -> Result<usize> {
        Ok(self.x.dim(0)?)
    }

    /// The one-example batch of example `i` (for per-example gradients).
    pub(crate) fn example(&self, i: usize) -> Result<Self> {
        Ok(Self {
            x: self.x.narrow(0, i, 1)?,
            labels: self.labels.narrow(0, i, 1)?,
        })
    }
}

/// Mean loss of `batch` (a scalar tensor that can be backpropagated to the
/// variables behind `weights`).
pub(crate) fn batch_loss(
    config: &HeadConfig,
    weights: &Weights,
    batch: &Batch,
    dropout_mask: Option<&Tensor>,
) -> Result<Tensor> {
    let z = logits(config, weights, &batch.x, dropout_mask)?;
    Ok(per_example_loss(config, &z, &batch.labels)?.mean_all()?)
}

/// One minibatch of a training step, as a [`GradientRule`] sees it: the
/// trainable parameters and differentiable losses (with the step's dropout
/// mask applied).
pub struct StepBatch<'a> {
    config: &'a HeadConfig,
    trainable: &'a Trainable,
    batch: &'a Batch,
    dropout_mask: Option<&'a Tensor>,
    size: usize,
}

impl<'a> StepBatch<'a> {
    pub(crate) fn new(
        config: &'a HeadConfig,
        trainable: &'a Trainable,
        batch: &'a Batch,
        dropout_mask: Option<&'a Tensor>,
    ) -> Result<Self> {
        Ok(Self {
            config,
            trainable,
            batch,
            dropout_mask,
            size: batch.len()?,
        })
    }

    /// Number of examples in the batch.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the batch is empty (only with DP-SGD's Poisson sampling).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The head's architecture.
    pub fn config(&self) -> &HeadConfig {
        self.config
    }

    /// The trainable parameters, in the order [`HIDDEN_WEIGHT`](crate::HIDDEN_WEIGHT),
    /// [`HIDDEN_BIAS`](crate::HIDDEN_BIAS), [`OUTPUT_WEIGHT`](crate::OUTPUT_WEIGHT),
    /// [`OUTPUT_BIAS`](crate::OUTPUT_BIAS). Gradients returned by a
    /// [`GradientRule`] are keyed by these.
    pub fn vars(&self) -> &[Var] {
        self.trainable.vars()
    }

    /// Number of trainable parameters: the length of flat gradients.
    pub fn parameter_count(&self) -> usize {
        self.vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Gradient of example `i`'s loss, flattened: every variable's gradient
    /// in row-major order, concatenated in [`StepBatch::vars`] order (the
    /// form `cryptotl-dp`'s slice-based clipping and noising works on).
    ///
    /// # Errors
    ///
    /// As [`StepBatch::example_loss`].
    pub fn example_gradient(&self, i: usize) -> Result<Vec<f32>> {
        let grads = self.example_loss(i)?.backward()?;
        let mut flat = Vec::with_capacity(self.parameter_count());
        for var in self.vars() {
            match grads.get(var) {
                Some(g) => flat.extend(g.flatten_all()?.to_vec1::<f32>()?),
                None => flat.extend(std::iter::repeat_n(0.0, var.elem_count())),
            }
        }
        Ok(flat)
    }

    /// The inverse of the flattening of [`StepBatch::example_gradient`]:
    /// splits `flat` into one gradient per variable.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when `flat` does not have
    /// [`StepBatch::parameter_count`] values.
    pub fn grad_store_from_flat(&self, flat: &[f32]) -> Result<GradStore> {
        if flat.len() != self.parameter_count() {
            return Err(HeadError::InvalidInput(format!(
                "{} gradient values for {} parameters",
                flat.len(),
                self.parameter_count()
            )));
        }
        let mut store = GradStore::default();
        let mut offset = 0;
        for var in self.vars() {
            let n = var.elem_count();
            let grad = Tensor::from_slice(&flat[offset..offset + n], var.shape(), &Device::Cpu)?;
            store.insert(var, grad);
            offset += n;
        }
        Ok(store)
    }

    /// Mean loss over the batch, a scalar that can be backpropagated.
    ///
    /// # Errors
    ///
    /// [`HeadError::Candle`] on a tensor error.
    pub fn mean_loss(&self) -> Result<Tensor> {
        batch_loss(
            self.config,
            self.trainable.weights(),
            self.batch,
            self.dropout_mask,
        )
    }

    /// Loss of example `i` alone (with its row of the dropout mask), a
    /// scalar that can be backpropagated: the per-example gradients of
    /// DP-SGD.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when `i >= len()`, [`HeadError::Candle`]
    /// on a tensor error.
    pub fn example_loss(&self, i: usize) -> Result<Tensor> {
        if i >= self.size {
            return Err(HeadError::InvalidInput(format!(
                "example {i} of a batch of {}",
                self.size
            )));
        }
        let mask = self.dropout_mask.map(|m| m.narrow(0, i, 1)).transpose()?;
        batch_loss(
            self.config,
            self.trainable.weights(),
            &self.batch.example(i)?,
            mask.as_ref(),
        )
    }
}

impl std::fmt::Debug for StepBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepBatch")
            .field("len", &self.size)
            .field("dropout", &self.dropout_mask.is_some())
            .finish()
    }
}

/// How a training step turns a minibatch into the gradients Adam applies.
///
/// The default, [`MeanGradient`], backpropagates the mean loss; a DP-SGD
/// rule clips and noises per-example gradients.
///
/// One optimization step is split into three parts so that each can be
/// replaced on its own:
///
/// 1. the loss of a batch ([`StepBatch::mean_loss`], or
///    [`StepBatch::example_loss`] per example);
/// 2. the gradients: a [`GradientRule`] turns the batch into a
///    [`GradStore`] ([`MeanGradient`], the default, is one backward pass of
///    the mean loss);
/// 3. the update (Adam: candle-nn's `AdamW`, consuming the [`GradStore`]).
///
/// # Adding DP-SGD
///
/// Differentially private SGD is implemented in [`DpSgd`](crate::DpSgd) and enabled
/// with [`Trainer::differential_privacy`](crate::Trainer::differential_privacy);
/// what follows describes the mechanics of such a [`GradientRule`]: for each
/// example `i` of the batch, call `backward()` on
/// [`StepBatch::example_loss`]`(i)` to get that example's gradients for
/// [`StepBatch::vars`]; clip their joint L2 norm to `C`; sum over the
/// batch; add `N(0, (σ·C)²)` noise to every coordinate (from a seeded
/// stream); divide by [`StepBatch::len`]; and return them in a
/// `GradStore::default()` filled with `insert(var, grad)`
/// ([`StepBatch::example_gradient`] and [`StepBatch::grad_store_from_flat`]
/// do the conversions to and from flat `f32` vectors). The optimizer
/// step is unchanged. Record the guarantee with
/// [`Head::set_training`](crate::Head::set_training) and a
/// [`DpRecord`](crate::DpRecord).
///
/// Without DP the trainer forms batches as fixed-size chunks of a seeded
/// shuffle; under DP it Poisson-samples them (every example independently
/// with probability `q`, possibly empty), as the accounting of the
/// Poisson-subsampled Gaussian mechanism in `cryptotl-dp` assumes, and the
/// rule divides by the *expected* batch size `qN`.
pub trait GradientRule {
    /// Returns the batch's mean loss (for progress reports) and the
    /// gradients, keyed by [`StepBatch::vars`]; parameters without a
    /// gradient are not updated.
    ///
    /// # Errors
    ///
    /// Any error stops training and is returned by
    /// [`Trainer::fit`](crate::Trainer::fit).
    fn gradients(&mut self, batch: &StepBatch<'_>) -> Result<(f64, GradStore)>;
}

/// A borrowed rule works too, so the caller can inspect its state (for
/// example a privacy accountant) after training.
impl<R: GradientRule + ?Sized> GradientRule for &mut R {
    fn gradients(&mut self, batch: &StepBatch<'_>) -> Result<(f64, GradStore)> {
        (**self).gradients(batch)
    }
}

/// The ordinary gradient: one backward pass of the batch's mean loss.
#[derive(Clone, Copy, Debug, Default)]
pub struct MeanGradient;

impl GradientRule for MeanGradient {
    fn gradients(&mut self, batch: &StepBatch<'_>) -> Result<(f64, GradStore)> {
        let loss = batch.mean_loss()?;
        let value = f64::from(loss.to_scalar::<f32>()?);
        Ok((value, loss.backward()?))
    }
}

/// A fresh inverted-dropout mask of shape `(batch, pooled_dim)`: each entry
/// is 0 with probability `p` and `1 / (1 − p)` otherwise. `None` when the
/// configuration has no dropout.
pub(crate) fn dropout_mask(
    config: &HeadConfig,
    batch: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Tensor>> {
    let p = config.dropout;
    if p <= 0.0 {
        return Ok(None);
    }
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..batch * config.pooled_dim())
        .map(|_| if rng.random::<f32>() < p { 0.0 } else { keep })
        .collect();
    Ok(Some(Tensor::from_vec(
        mask,
        (batch, config.pooled_dim()),
        &Device::Cpu,
    )?))
}

/// Adam (candle-nn's `AdamW`; plain Adam when the weight decay is 0) over
/// the variables of a [`Trainable`].
#[derive(Debug)]
pub(crate) struct Adam {
    inner: AdamW,
}

impl Adam {
    /// An optimizer for `trainable` with zeroed moments.
    pub(crate) fn new(
        trainable: &Trainable,
        learning_rate: f64,
        weight_decay: f64,
    ) -> Result<Self> {
        let params = ParamsAdamW {
            lr: learning_rate,
            weight_decay,
            ..ParamsAdamW::default()
        };
        Ok(Self {
            inner: AdamW::new(trainable.vars().to_vec(), params)?,
        })
    }

    /// Applies one update with `grads` (variables without a gradient are
    /// left alone).
    pub(crate) fn step(&mut self, grads: &GradStore) -> Result<()> {
        Ok(self.inner.step(grads)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{rng, Stream};

    #[test]
    fn dropout_mask_zeroes_about_p_and_scales_the_rest() {
        let config = HeadConfig {
            dropout: 0.25,
            ..HeadConfig::new(4, 2)
        };
        let mut r = rng(1, Stream::Dropout);
        let mask = dropout_mask(&config, 200, &mut r).unwrap().unwrap();
        assert_eq!(mask.dims(), &[200, 42]);
        let values = mask.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let zeros = values.iter().filter(|&&v| v == 0.0).count() as f64 / values.len() as f64;
        assert!((zeros - 0.25).abs() < 0.03, "zero share {zeros}");
        assert!(values
            .iter()
            .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        let none = HeadConfig {
            dropout: 0.0,
            ..config
        };
        assert!(dropout_mask(&none, 3, &mut r).unwrap().is_none());
    }

    #[test]
    fn an_adam_step_lowers_the_batch_loss() {
        let config = HeadConfig {
            hidden: 6,
            dropout: 0.0,
            ..HeadConfig::new(3, 3)
        };
        let trainable = Trainable::new(&Weights::init(&config, 2).unwrap()).unwrap();
        let mut adam = Adam::new(&trainable, 0.01, 0.0).unwrap();
        let rows = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let batch = Batch::new(&config, rows, &[0, 1, 2]).unwrap();
        let step = |adam: &mut Adam| {
            let view = StepBatch::new(&config, &trainable, &batch, None).unwrap();
            let (loss, grads) = MeanGradient.gradients(&view).unwrap();
            adam.step(&grads).unwrap();
            loss
        };
        let first = step(&mut adam);
        let mut last = first;
        for _ in 0..20 {
            last = step(&mut adam);
        }
        assert!(last < first, "loss {first} -> {last}");
    }

    #[test]
    fn per_example_losses_average_to_the_batch_loss() {
        // The DP-SGD path relies on this: one-example losses, each with its
        // row of the dropout mask, average to the batch loss.
        let config = HeadConfig {
            hidden: 6,
            dropout: 0.5,
            ..HeadConfig::new(2, 3)
        };
        let trainable = Trainable::new(&Weights::init(&config, 9).unwrap()).unwrap();
        let batch = Batch::new(&config, vec![0.5, -1.0, 2.0, 0.25, 1.0, 1.0], &[1, 0, 2]).unwrap();
        let mask = dropout_mask(&config, 3, &mut rng(4, Stream::Dropout)).unwrap();
        let view = StepBatch::new(&config, &trainable, &batch, mask.as_ref()).unwrap();
        assert_eq!(view.len(), 3);
        assert_eq!(view.vars().len(), 4);
        let mean = view.mean_loss().unwrap().to_scalar::<f32>().unwrap();
        let parts: f32 = (0..3)
            .map(|i| view.example_loss(i).unwrap().to_scalar::<f32>().unwrap())
            .sum();
        assert!(
            (mean - parts / 3.0).abs() < 1e-6,
            "{mean} vs {}",
            parts / 3.0
        );
        assert!(matches!(
            view.example_loss(3),
            Err(HeadError::InvalidInput(_))
        ));
        // And so do their gradients (what DP-SGD clips and sums).
        let mean_grads = view.mean_loss().unwrap().backward().unwrap();
        let var = &view.vars()[0];
        let mut summed = var.zeros_like().unwrap();
        for i in 0..3 {
            let g = view.example_loss(i).unwrap().backward().unwrap();
            summed = (summed + g.get(var).unwrap()).unwrap();
        }
        let diff = ((summed / 3.0).unwrap() - mean_grads.get(var).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-6, "gradient difference {diff}");

        // Flat gradients: (6 + 1)·… parameters = (2+1)·6 + (2+1)·3 = 27.
        assert_eq!(view.parameter_count(), 27);
        let flat = view.example_gradient(1).unwrap();
        assert_eq!(flat.len(), 27);
        let store = view.grad_store_from_flat(&flat).unwrap();
        let direct = view.example_loss(1).unwrap().backward().unwrap();
        for v in view.vars() {
            assert_eq!(
                store
                    .get(v)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
                direct
                    .get(v)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            );
        }
        assert!(view.grad_store_from_flat(&flat[1..]).is_err());
    }
}
