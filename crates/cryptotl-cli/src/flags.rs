//! Flags shared by several subcommands: pretraining, the head, where the
//! server is, how the client talks to it, and the count parsers.

use std::path::PathBuf;

use clap::Args;
use cryptotl::graph::PackingChoice;
use cryptotl::head::{Criterion, HeadConfig, SelectOptions, TrainOptions, MAX_MEMBERS};
use cryptotl::pretrain::{PretrainConfig, QuantBits, SourceWeighting, TrainingMode};

/// How the server's lower network is pretrained.
#[derive(Debug, Clone, Args)]
pub(crate) struct PretrainFlags {
    /// Maximum pretraining epochs (early stopping on a validation split).
    #[arg(long, default_value_t = 50)]
    pub(crate) pretrain_epochs: usize,
    /// Input bits b_x [default: widest the 128-bit parameters allow].
    #[arg(long, requires = "weight_bits")]
    pub(crate) input_bits: Option<u32>,
    /// Weight bits b_w [default: widest the 128-bit parameters allow].
    #[arg(long, requires = "input_bits")]
    pub(crate) weight_bits: Option<u32>,
    /// Train in float and quantize afterwards (default: quantization-aware).
    #[arg(long)]
    pub(crate) float_training: bool,
    /// Seed of pretraining.
    #[arg(long, default_value_t = 0)]
    pub(crate) pretrain_seed: u64,
    /// Label smoothing ε of the pretraining heads' cross-entropy (0 to
    /// below 1; 0 = off).
    #[arg(long, default_value_t = 0.0, value_name = "EPSILON")]
    pub(crate) label_smoothing: f64,
    /// Weight of the reconstruction term (a linear decoder from the lower
    /// network's features back to the standardized input, trained along and
    /// discarded; keeps information the heads do not need; 0 = off).
    #[arg(long, default_value_t = 0.0, value_name = "WEIGHT")]
    pub(crate) reconstruction: f64,
    /// Decoupled weight decay of pretraining (AdamW).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) pretrain_weight_decay: f64,
    /// With several sources, weight each source equally in the loss
    /// (default: each sample equally).
    #[arg(long)]
    pub(crate) equal_sources: bool,
}

impl PretrainFlags {
    pub(crate) fn config(&self) -> PretrainConfig {
        PretrainConfig {
            max_epochs: self.pretrain_epochs,
            bits: self
                .input_bits
                .zip(self.weight_bits)
                .map(|(input, weight)| QuantBits { input, weight }),
            mode: if self.float_training {
                TrainingMode::FloatOnly
            } else {
                TrainingMode::QuantizationAware
            },
            seed: self.pretrain_seed,
            label_smoothing: self.label_smoothing,
            reconstruction: self.reconstruction,
            weight_decay: self.pretrain_weight_decay,
            source_weighting: if self.equal_sources {
                SourceWeighting::EqualSources
            } else {
                SourceWeighting::PerSample
            },
            ..PretrainConfig::default()
        }
    }
}

/// How the client's MLP head is trained.
#[derive(Debug, Clone, Args)]
pub(crate) struct HeadFlags {
    /// Maximum head epochs (early stopping on a validation split).
    #[arg(long, default_value_t = 100)]
    pub(crate) epochs: usize,
    /// Hidden units of the head's first dense layer.
    #[arg(long, default_value_t = HeadConfig::new(1, 2).hidden)]
    pub(crate) hidden: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) learning_rate: f64,
    /// Seed of the head's initialization, shuffling and splits.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Heads in a seed ensemble (seeds SEED, SEED+1, ...; their class
    /// probabilities are averaged; 1 to 64). More heads average out
    /// head-training noise, at one training run each; under --dp-epsilon
    /// only 1 (every head would spend the privacy budget again).
    #[arg(long, default_value_t = 1, value_parser = heads_in_range)]
    pub(crate) heads: usize,
}

/// Parses `--heads`: 1 to [`MAX_MEMBERS`].
pub(crate) fn heads_in_range(s: &str) -> Result<usize, String> {
    count_in_range(s, 1, MAX_MEMBERS, "heads")
}

/// Parses a count of `what` from `lo` to `hi`, or says what was expected.
fn count_in_range(s: &str, lo: usize, hi: usize, what: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(k) if (lo..=hi).contains(&k) => Ok(k),
        _ => Err(format!("expected {lo} to {hi} {what}, got {s:?}")),
    }
}

impl HeadFlags {
    pub(crate) fn options(&self) -> TrainOptions {
        TrainOptions {
            max_epochs: self.epochs,
            learning_rate: self.learning_rate,
            seed: self.seed,
            ..TrainOptions::default()
        }
    }
}

/// Where the server's features are computed: a model served in this
/// process, or a `cryptotl serve` over the network. Needed when the head
/// reads the server's features (refused with a message otherwise).
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerFlags {
    /// A model directory from `cryptotl pretrain`, served in this process.
    #[arg(long, value_name = "DIR", conflicts_with = "server")]
    pub(crate) model: Option<PathBuf>,
    /// URL of a `cryptotl serve` (http:// or https://).
    #[arg(long, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// Which of the server's models to use, by name, when it serves several
    /// (`cryptotl serve --model A --model B`; default: its first). Each
    /// model a client uses costs one session and one evaluation-key upload.
    #[arg(
        long,
        value_name = "NAME",
        requires = "server",
        conflicts_with = "model"
    )]
    pub(crate) server_model: Option<String>,
}

impl ServerFlags {
    /// Whether `--model` or `--server` was given.
    pub(crate) fn is_given(&self) -> bool {
        self.model.is_some() || self.server.is_some()
    }
}

/// How the client reaches the server.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientFlags {
    /// File holding the server's bearer token.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust for an https:// server.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// How samples are packed into ciphertexts: `batch` (one slot per
    /// sample; cheapest for many samples), `slots` (one sample per
    /// ciphertext, or two side by side when the server's plan has that
    /// layout; lowest latency for a few), or `auto` (the cost model picks
    /// per request; the choice is printed). `slots` and `auto` upload
    /// the slot-packing keys (about 25 MB at d = 384) once per session when
    /// the server offers slot packing.
    #[arg(long, default_value = "auto", value_name = "auto|batch|slots")]
    pub(crate) packing: PackingChoice,
}

/// Most folds `--folds` accepts.
pub(crate) const MAX_FOLDS: usize = 20;

/// Parses `--folds`: 2 to [`MAX_FOLDS`].
pub(crate) fn folds_in_range(s: &str) -> Result<usize, String> {
    count_in_range(s, 2, MAX_FOLDS, "folds")
}

/// How `--head auto` cross-validates its candidates.
#[derive(Debug, Clone, Args)]
pub(crate) struct CvFlags {
    /// Folds of the cross-validation that chooses the head (2 to 20; fewer
    /// when a class has fewer samples).
    #[arg(long, default_value_t = 5, value_parser = folds_in_range)]
    pub(crate) cv_folds: usize,
    /// Repetitions of that cross-validation with other folds (scores
    /// averaged; 1 to 10): steadier choices on small sets, at that many
    /// times the cost.
    #[arg(long, default_value_t = 1, value_parser = repeats_in_range)]
    pub(crate) cv_repeats: usize,
    /// What the choice ranks candidates by: `accuracy` (ties: the lower
    /// log loss) or `log-loss`.
    #[arg(long, default_value = "accuracy", value_parser = parse_criterion)]
    pub(crate) cv_criterion: Criterion,
    /// The guard against choices that do not pay: a head other than
    /// logistic regression on the raw embedding is kept only if it beats
    /// that reference by more than Z standard errors of the paired,
    /// per-sample log-loss difference on the held-out folds; otherwise the
    /// reference is kept (0 = no guard).
    #[arg(long, default_value_t = 1.0, value_name = "Z", value_parser = parse_guard)]
    pub(crate) cv_guard: f64,
}

/// Parses `--cv-repeats`: 1 to 10.
fn repeats_in_range(s: &str) -> Result<usize, String> {
    count_in_range(s, 1, 10, "repetitions")
}

/// Parses `--cv-guard`: a finite z of 0 or more.
fn parse_guard(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(z) if z.is_finite() && z >= 0.0 => Ok(z),
        _ => Err(format!(
            "expected a number of standard errors, 0 or more, got {s:?}"
        )),
    }
}

/// Parses `--cv-criterion`.
fn parse_criterion(s: &str) -> Result<Criterion, String> {
    match s {
        "log-loss" => Ok(Criterion::LogLoss),
        "accuracy" => Ok(Criterion::Accuracy),
        other => Err(format!(
            "unknown criterion {other:?}: expected log-loss or accuracy"
        )),
    }
}

impl CvFlags {
    /// These flags applied to `options`.
    pub(crate) fn apply(&self, options: SelectOptions) -> SelectOptions {
        SelectOptions {
            folds: self.cv_folds,
            repeats: self.cv_repeats,
            criterion: self.cv_criterion,
            guard: (self.cv_guard > 0.0).then_some(self.cv_guard),
            ..options
        }
    }
}
