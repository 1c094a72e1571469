//! A trained head and its predictions.

use candle_core::{Device, Tensor};

use crate::config::HeadConfig;
use crate::data::{check_features, check_labelled, gather_rows, Standardizer};
use crate::error::{HeadError, Result};
use crate::metrics::{argmax, Metrics};
use crate::network::{logits, probabilities, Weights};
use crate::record::TrainingRecord;

/// Rows per forward pass at inference (bounds memory on large sets).
const INFERENCE_CHUNK: usize = 4096;

/// The client's upper network: configuration, input standardization,
/// weights, class names and the record of its training.
///
/// Obtain one from [`train`](crate::train) / [`Trainer`](crate::Trainer),
/// [`Head::load`], or [`Head::init`] (untrained).
///
/// ```
/// use cryptotl_head::{Head, HeadConfig};
///
/// let head = Head::init(&HeadConfig::new(4, 3), 7)?;
/// let p = head.predict_proba(&[vec![0.1, 0.2, 0.3, 0.4]])?;
/// assert_eq!(p[0].len(), 3);
/// assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// // A vector of the wrong dimension is an error, not a panic.
/// assert!(head.predict(&[vec![0.0; 5]]).is_err());
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Head {
    pub(crate) config: HeadConfig,
    pub(crate) class_names: Vec<String>,
    pub(crate) standardizer: Option<Standardizer>,
    pub(crate) weights: Weights,
    pub(crate) training: Option<TrainingRecord>,
}

impl Head {
    /// An untrained head with seeded Glorot-uniform weights and zero biases
    /// (Keras' defaults); with `config.standardize`, the standardizer is the
    /// identity until training fits one.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidConfig`] when `config` does not validate.
    pub fn init(config: &HeadConfig, seed: u64) -> Result<Self> {
        let weights = Weights::init(config, seed)?;
        let standardizer = if config.standardize {
            Some(Standardizer::new(
                vec![0.0; config.input_dim],
                vec![1.0; config.input_dim],
            )?)
        } else {
            None
        };
        Ok(Self::from_parts(
            config.clone(),
            standardizer,
            weights,
            None,
        ))
    }

    /// Assembles a head with default class names.
    pub(crate) fn from_parts(
        config: HeadConfig,
        standardizer: Option<Standardizer>,
        weights: Weights,
        training: Option<TrainingRecord>,
    ) -> Self {
        Self {
            class_names: default_class_names(config.classes),
            config,
            standardizer,
            weights,
            training,
        }
    }

    /// The architecture.
    pub fn config(&self) -> &HeadConfig {
        &self.config
    }

    /// Display names of the classes, indexed by class (`"0"`, `"1"`, ... by
    /// default).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Sets the class names.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when the number of names differs from the
    /// number of classes.
    pub fn set_class_names(&mut self, names: Vec<String>) -> Result<()> {
        if names.len() != self.config.classes {
            return Err(HeadError::InvalidInput(format!(
                "{} class names for {} classes",
                names.len(),
                self.config.classes
            )));
        }
        self.class_names = names;
        Ok(())
    }

    /// The input standardization (present iff `config().standardize`).
    pub fn standardizer(&self) -> Option<&Standardizer> {
        self.standardizer.as_ref()
    }

    /// How the head was trained (`None` for [`Head::init`]).
    pub fn training(&self) -> Option<&TrainingRecord> {
        self.training.as_ref()
    }

    /// Replaces the training record (for example to attach a
    /// [`DpRecord`](crate::DpRecord)).
    pub fn set_training(&mut self, record: TrainingRecord) {
        self.training = Some(record);
    }

    /// Raw output-layer values: one logit per example for two classes,
    /// one per class otherwise.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] when a row does not have `input_dim`
    /// finite values.
    pub fn logits(&self, x: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        check_features(x, self.config.input_dim)?;
        let x = self.config.preprocessing.apply(x);
        let mut out = Vec::with_capacity(x.len());
        let indices: Vec<usize> = (0..x.len()).collect();
        for chunk in indices.chunks(INFERENCE_CHUNK) {
            let rows = gather_rows(&x, chunk, self.standardizer.as_ref());
            let input = Tensor::from_vec(rows, (chunk.len(), self.config.input_dim), &Device::Cpu)?;
            out.extend(logits(&self.config, &self.weights, &input, None)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// Class probabilities, one row per example and one column per class
    /// (`[1 − p, p]` for two classes, where `p` is the sigmoid output).
    ///
    /// # Errors
    ///
    /// As [`Head::logits`].
    pub fn predict_proba(&self, x: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .logits(x)?
            .iter()
            .map(|z| probabilities(&self.config, z))
            .collect())
    }

    /// Predicted classes: the most probable class (ties go to the lower
    /// class; for two classes, class 1 iff its probability exceeds 0.5).
    ///
    /// # Errors
    ///
    /// As [`Head::logits`].
    pub fn predict(&self, x: &[Vec<f32>]) -> Result<Vec<usize>> {
        Ok(self.predict_proba(x)?.iter().map(|p| argmax(p)).collect())
    }

    /// Metrics of the head on a labelled set, with log loss and class names.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidInput`] for an empty set, mismatched lengths,
    /// wrong dimensions, non-finite features or out-of-range labels.
    pub fn evaluate(&self, x: &[Vec<f32>], y: &[usize]) -> Result<Metrics> {
        check_labelled(x, y, self.config.input_dim, self.config.classes)?;
        Metrics::from_probabilities(y, &self.predict_proba(x)?)?.with_class_names(&self.class_names)
    }
}

/// `"0"`, `"1"`, ..., `"k-1"`.
pub(crate) fn default_class_names(classes: usize) -> Vec<String> {
    (0..classes).map(|c| c.to_string()).collect()
}
