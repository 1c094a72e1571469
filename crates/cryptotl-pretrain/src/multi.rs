//! Multi-source (multi-task) pretraining: one lower network, one head per
//! labeled source ([`pretrain_multi`]).

use cryptotl_graph::{FloatModel, GraphError, QuantizedModel};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::PretrainConfig;
use crate::data::{split_indices, Labeled, LabeledSet};
use crate::error::{PretrainError, Result};
use crate::head::Head;
use crate::train::{float_features, quantized_features, run, EpochReport, Part, PretrainReport};

/// One labeled source of multi-task pretraining ([`pretrain_multi`]):
/// `inputs[i]` (an embedding) has class `labels[i] < classes`.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The source's name, recorded in the exported model
    /// ([`QuantizedModel::sources`]): 1 to 64 characters of `a-z`, `0-9`,
    /// `.`, `_`, `-`, distinct across sources
    /// ([`QuantizedModel::validate_sources`]).
    pub name: String,
    /// The embeddings; every source has the same dimension.
    pub inputs: &'a [Vec<f32>],
    /// Class indices, one per input.
    pub labels: &'a [usize],
    /// Number of classes of this source's head (`>= 2`).
    pub classes: usize,
}

/// One source's part of a [`MultiPretrained`] result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The source's name.
    pub name: String,
    /// Its class count (its head's).
    pub classes: usize,
    /// Its training samples.
    pub train_samples: usize,
    /// Its held-out validation samples.
    pub validation_samples: usize,
    /// Its head's accuracy on its validation samples, on the exported float
    /// graph's features.
    pub float_validation_accuracy: f64,
    /// Its head's accuracy on its validation samples, on the exported
    /// quantized model's dequantized features (exact integer evaluation).
    pub quantized_validation_accuracy: f64,
}

/// The result of multi-source pretraining.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiPretrained {
    /// The trained float graph, with the input quantizer and HE plan (as
    /// [`Pretrained::float_model`](crate::Pretrained::float_model)).
    pub float_model: FloatModel,
    /// The model the server serves: quantized graph, HE plan, and the
    /// source names ([`QuantizedModel::sources`], filled by
    /// [`pretrain_multi`]).
    pub model: QuantizedModel,
    /// One temporary head per source, in source order, with the source's
    /// name.
    pub heads: Vec<(String, Head)>,
    /// Training and evaluation summary; sample counts are totals over the
    /// sources and accuracies combined as
    /// [`PretrainConfig::source_weighting`] says.
    pub report: PretrainReport,
    /// Per source, in source order: sizes and the validation accuracies of
    /// its head on the exported artifacts.
    pub sources: Vec<SourceReport>,
    /// Per source, in source order: the indices into its `inputs` that were
    /// held out for validation (in the order they were drawn).
    pub validation_indices: Vec<Vec<usize>>,
}

impl MultiPretrained {
    /// The head of the source named `name`.
    pub fn head(&self, name: &str) -> Option<&Head> {
        self.heads.iter().find(|(n, _)| n == name).map(|(_, h)| h)
    }

    /// The float graph's features of `inputs`
    /// ([`cryptotl_graph::Graph::evaluate_batch`]).
    ///
    /// # Errors
    /// Wrong dimension or non-finite inputs.
    pub fn float_features(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        float_features(&self.float_model.graph, inputs)
    }

    /// The quantized model's dequantized features of `inputs` (exact integer
    /// evaluation, [`cryptotl_graph::QuantizedGraph::evaluate_batch`]).
    ///
    /// # Errors
    /// Wrong dimension or non-finite inputs, integer overflow.
    pub fn quantized_features(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        quantized_features(&self.model, inputs)
    }
}

/// Pretrains one lower network on several labeled sources at once
/// (multi-task), so that its features serve all of their tasks.
///
/// - Each source gets its own temporary [`Head`] with its own class count
///   (`config.classes` is ignored).
/// - Validation: `config.validation_fraction` of *each* source is held out
///   (a seeded shuffle per source, in source order), so every source is in
///   the validation set in proportion.
/// - Training: minibatches are drawn from the union of the training parts
///   (one seeded shuffle per epoch); each sample's loss goes through its own
///   source's head (cross-entropy with `config.label_smoothing`, plus the
///   `config.reconstruction` term), and the sources are weighted as
///   `config.source_weighting` says. Early stopping watches the validation
///   loss weighted the same way.
/// - The bit widths and the input quantizer are fitted on the union of the
///   training parts; the export is the single-source one (the served model
///   has the same shape, bit widths and 128-bit HE plan), with the source
///   names in [`QuantizedModel::sources`].
/// - The reported accuracies are measured per source on the exported float
///   graph and the exported quantized model.
///
/// With one source this trains exactly what [`pretrain`](crate::pretrain)
/// trains with `config.classes = source.classes` (the same random draws,
/// operations and results), and records the source's name.
///
/// # Errors
/// [`PretrainError::InvalidConfig`] for an invalid configuration (but
/// `classes`), no sources, more than 64, invalid or duplicate names, or a
/// source with fewer than two classes; [`PretrainError::InvalidData`] for a
/// source with fewer than two samples, mismatched lengths, ragged or
/// non-finite embeddings, labels `>= classes`, a dimension below 3 or one
/// that differs from the first source's; and the training and export errors
/// of [`pretrain_with_validation`](crate::pretrain_with_validation).
pub fn pretrain_multi(
    sources: &[Source<'_>],
    config: &PretrainConfig,
    progress: &mut dyn FnMut(EpochReport),
) -> Result<MultiPretrained> {
    config.validate_shared()?;
    check_sources(sources)?;
    // A stratified hold-out: each source split in turn, as `pretrain`
    // splits its one source.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut splits: Vec<(LabeledSet, LabeledSet)> = Vec::with_capacity(sources.len());
    let mut validation_indices = Vec::with_capacity(sources.len());
    for source in sources {
        let data = Labeled::new(source.inputs, source.labels);
        let (train, val) = split_indices(data.len(), config.validation_fraction, &mut rng);
        splits.push((LabeledSet::pick(data, &train), LabeledSet::pick(data, &val)));
        validation_indices.push(val);
    }
    let parts: Vec<Part<'_>> = sources
        .iter()
        .zip(&splits)
        .map(|(source, (train, val))| Part {
            name: source.name.clone(),
            classes: source.classes,
            train: train.view(),
            validation: val.view(),
        })
        .collect();
    let mut trained = run(&parts, config, &mut rng, progress)?;
    trained.model.sources = sources.iter().map(|s| s.name.clone()).collect();
    trained.validation_indices = validation_indices;
    Ok(trained)
}

/// Checks the sources: count, names, class counts, data, one dimension.
fn check_sources(sources: &[Source<'_>]) -> Result<()> {
    let config = |msg: String| Err(PretrainError::InvalidConfig(msg));
    if sources.is_empty() {
        return config("multi-source pretraining needs at least one source, got none".into());
    }
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    match QuantizedModel::validate_sources(&names) {
        Ok(()) => {}
        Err(GraphError::InvalidInput(msg)) => return config(msg),
        Err(e) => return Err(e.into()),
    }
    let mut dim: Option<(usize, &str)> = None;
    for source in sources {
        if source.classes < 2 {
            return config(format!(
                "source {}: needs at least 2 classes, got {}",
                source.name, source.classes
            ));
        }
        let data = Labeled::new(source.inputs, source.labels);
        let d = data.check(&format!("source {}", source.name), source.classes, None)?;
        if data.len() < 2 {
            return Err(PretrainError::InvalidData(format!(
                "source {}: needs at least 2 samples to hold out a validation set, got {}",
                source.name,
                data.len()
            )));
        }
        match dim {
            None => dim = Some((d, &source.name)),
            Some((first, first_name)) if first != d => {
                return Err(PretrainError::InvalidData(format!(
                    "source {}: input dimension {d} differs from source {first_name}'s {first}",
                    source.name
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}
