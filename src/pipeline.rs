//! The transfer-learning pipeline on real text, in one process: embed,
//! pretrain the server's lower network, compute the client's features in
//! float, quantized and encrypted form, train the client's head on each and
//! compare. This is what `cryptotl demo` runs.
//!
//! Every stage is timed; the encrypted features are checked to equal the
//! quantized plaintext model's bit for bit, and the head trained on them to
//! predict exactly what the head trained on the quantized features predicts.
//!
//! The pieces are public for runs over many pairs (the transfer table of
//! `cryptotl-experiments`): [`pretrain_source`] once per source,
//! [`EncryptedLink::open`] once per source (keys generated once), then
//! [`transfer_to`] per target.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cryptotl_data::{check_disjoint_provenance, load_clean, split, Dataset, DatasetId};
use cryptotl_embed::{Embedder, ModelSource};
use cryptotl_graph::QuantizedModel;
use cryptotl_head::{
    argmax, pooled, select_head, tested_rows, train_ensemble, ClientHead, Ensemble, FeatureSet,
    Fold, HeadConfig, Metrics, SelectOptions, TrainOptions, Trainer,
};
use cryptotl_pretrain::{
    pretrain, pretrain_multi, EpochReport, PretrainConfig, PretrainReport, Pretrained, Source,
    SourceReport,
};
use cryptotl_protocol::{
    dequantize_features, encrypted_features, ExchangeStats, LowerClient, LowerServer, Session,
};

use crate::error::Error;

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

/// The name a data set is recorded under among a model's pretraining
/// sources: its built-in name as is; for a file, the file's stem,
/// lower-cased, with characters outside `a-z 0-9 . _ -` replaced by `-`, at
/// most 64 characters (`source` if nothing is left).
///
/// ```
/// use cryptotl::pipeline::source_name;
///
/// assert_eq!(source_name("rotten-tomatoes"), "rotten-tomatoes");
/// assert_eq!(source_name("/data/My Reviews.csv"), "my-reviews");
/// assert_eq!(source_name("???"), "---");
/// assert_eq!(source_name(""), "source");
/// ```
pub fn source_name(name: &str) -> String {
    let path = Path::new(name);
    let stem = match path.extension() {
        Some(_) => path.file_stem().and_then(|s| s.to_str()).unwrap_or(name),
        None => path.file_name().and_then(|s| s.to_str()).unwrap_or(name),
    };
    let cleaned: String = stem
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "source".into()
    } else {
        cleaned
    }
}

/// Refuses a server pretrained on a built-in data set of the target's
/// provenance family (`sources` as its model card lists them; names that
/// are not built-in data sets are not checked).
///
/// # Errors
/// [`cryptotl_data::DataError::ProvenanceConflict`] naming both.
pub fn check_server_provenance(sources: &[String], target: &DataSource) -> Result<(), Error> {
    let DataSource::Builtin(target) = target else {
        return Ok(());
    };
    let ids: Vec<DatasetId> = sources.iter().filter_map(|s| s.parse().ok()).collect();
    Ok(cryptotl_data::check_disjoint_ids(&ids, *target)?)
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
    /// The server's public pretraining sets (several: one lower network,
    /// one output head per set).
    pub sources: Vec<DataSource>,
    /// Cap on each source's samples (stratified, seeded subsample); `None`:
    /// all.
    pub max_source_samples: Option<usize>,
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
    /// Heads per trained head: a seed ensemble of this many members (seeds
    /// `head.seed`, `head.seed + 1`, …) whose probabilities are averaged;
    /// 1 (the default) is a single head.
    pub head_members: usize,
    /// `Some`: the client's head is chosen by cross-validation on its
    /// training data among these candidates (`--head auto`), the same
    /// choice then trained on the float and quantized features too, and
    /// the best no-transfer choice is reported beside it. `None`: the MLP
    /// head of `head`, `head_hidden`, `head_members` on the server's
    /// features.
    pub select: Option<SelectOptions>,
    /// Cache directory for the embedding model, data sets and embeddings.
    pub cache: PathBuf,
    /// The embedding model: a built-in one (default all-MiniLM-L6-v2) or a
    /// local directory.
    pub embedding_model: ModelSource,
}

impl TransferOptions {
    /// The bundled default: pretrain on Rotten Tomatoes, transfer to UCI
    /// IMDB, the MLP head (see [`TransferOptions::demo_auto`] for the
    /// default of `cryptotl demo`).
    pub fn demo(cache: PathBuf) -> Self {
        Self {
            sources: vec![DataSource::Builtin(DatasetId::RottenTomatoes)],
            max_source_samples: None,
            select: None,
            target: DataSource::Builtin(DatasetId::UciImdb),
            test_fraction: 0.2,
            seed: 0,
            pretrain: PretrainConfig::default(),
            head: TrainOptions::default(),
            head_hidden: HeadConfig::new(1, 2).hidden,
            head_members: 1,
            cache,
            embedding_model: ModelSource::default(),
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
    /// Epochs trained (the most of any member of an ensemble).
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
    /// Per source of a multi-source server: its head's validation accuracy.
    pub sources: Vec<SourceReport>,
    /// With [`TransferOptions::select`]: the choice and the no-transfer
    /// baseline.
    pub auto: Option<AutoReport>,
}

/// What `--head auto` chose, and the best head without transfer.
#[derive(Debug, Clone)]
pub struct AutoReport {
    /// The head chosen on the encrypted features' training part (its
    /// family, feature set and cross-validation scores).
    pub head: ClientHead,
    /// The best no-transfer choice (the same selection over the raw
    /// embedding only), on the test part.
    pub baseline: HeadResult,
    /// That baseline's family and λ.
    pub baseline_choice: String,
}

/// How the client's head is trained.
#[derive(Debug, Clone, Copy)]
pub struct HeadSpec<'a> {
    /// Hidden units of the head's first dense layer.
    pub hidden: usize,
    /// Training options (the seed is member 0's).
    pub options: &'a TrainOptions,
    /// Members of the seed ensemble (1: a single head).
    pub members: usize,
}

impl TransferOptions {
    /// The head part of these options.
    pub fn head_spec(&self) -> HeadSpec<'_> {
        HeadSpec {
            hidden: self.head_hidden,
            options: &self.head,
            members: self.head_members,
        }
    }
}

/// Trains the client's head (an ensemble of `spec.members`) on `train`,
/// evaluates it on `test`, and returns it with the result.
///
/// # Errors
/// Training or evaluation failures of the head.
pub fn train_head(
    classes: &[String],
    spec: HeadSpec<'_>,
    train: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
) -> Result<(Ensemble, HeadResult), Error> {
    let (head, epochs) = fit_head(classes, spec, train)?;
    let metrics = head.evaluate(test.0, test.1)?;
    let predictions = head.predict(test.0)?;
    Ok((
        head,
        HeadResult {
            metrics,
            predictions,
            epochs,
        },
    ))
}

/// Trains the head `spec` describes on `train`; returns it and the most
/// epochs any member trained.
fn fit_head(
    classes: &[String],
    spec: HeadSpec<'_>,
    train: (&[Vec<f32>], &[usize]),
) -> Result<(Ensemble, usize), Error> {
    let dim = train.0.first().map_or(0, Vec::len);
    let config = HeadConfig {
        hidden: spec.hidden,
        ..HeadConfig::new(dim, classes.len())
    };
    let (head, reports) = train_ensemble(spec.members, spec.options, |options| {
        Trainer::new(config.clone(), options)
            .class_names(classes.to_vec())
            .fit(train.0, train.1)
    })?;
    let epochs = reports.iter().map(|r| r.epochs).max().unwrap_or(0);
    Ok((head, epochs))
}

/// The server's lower network pretrained on one source set, reusable for
/// any number of targets ([`transfer_to`]).
#[derive(Debug, Clone)]
pub struct SourceModel {
    /// Source set name.
    pub name: String,
    /// Samples the lower network was pretrained on.
    pub len: usize,
    /// The pretrained float and quantized lower network.
    pub pretrained: Pretrained,
    /// Time spent embedding the source texts (cached after the first run).
    pub embed: Duration,
    /// Time spent pretraining.
    pub pretrain: Duration,
    /// Per source, for a multi-source server: sizes and the validation
    /// accuracy of its head (empty for one source: see `pretrained.report`).
    pub sources: Vec<SourceReport>,
}

/// Server: embeds every source and pretrains one lower network on them, one
/// output head per source ([`pretrain_multi`]); one source is
/// [`pretrain_source`]. The served model records the sources' names
/// ([`source_name`]). The model's name is the names joined by `+`, and
/// `pretrained.head` the first source's head.
///
/// # Errors
/// Embedding or pretraining failures; no sources.
pub fn pretrain_sources(
    embedder: &Embedder,
    sources: &[Dataset],
    config: &PretrainConfig,
    cache: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<SourceModel, Error> {
    let names: Vec<String> = sources.iter().map(|d| source_name(d.name())).collect();
    if let [source] = sources {
        let mut model = pretrain_source(embedder, source, config, cache, progress)?;
        model.pretrained.model.sources = names;
        return Ok(model);
    }
    if sources.is_empty() {
        return Err(Error::InvalidInput("no pretraining source".into()));
    }
    let t = Instant::now();
    let mut inputs = Vec::with_capacity(sources.len());
    for source in sources {
        progress(Progress::Stage(format!(
            "embedding {} texts of {} (cached after the first run)",
            source.len(),
            source.name()
        )));
        inputs.push(embedder.embed_cached(source.texts(), cache)?);
    }
    let embed = t.elapsed();
    let len = sources.iter().map(Dataset::len).sum();
    progress(Progress::Stage(format!(
        "server: pretraining the lower network on {} ({len} samples, one head per source)",
        names.join(", ")
    )));
    let t = Instant::now();
    let labeled: Vec<Source<'_>> = sources
        .iter()
        .zip(&inputs)
        .zip(&names)
        .map(|((data, x), name)| Source {
            name: name.clone(),
            inputs: x,
            labels: data.labels(),
            classes: data.classes().len(),
        })
        .collect();
    let multi = pretrain_multi(&labeled, config, &mut |e| {
        progress(Progress::PretrainEpoch(e))
    })?;
    let head = multi
        .heads
        .first()
        .map(|(_, h)| h.clone())
        .ok_or_else(|| Error::InvalidInput("no pretraining head".into()))?;
    Ok(SourceModel {
        name: names.join("+"),
        len,
        pretrained: Pretrained {
            float_model: multi.float_model,
            model: multi.model,
            head,
            report: multi.report,
        },
        embed,
        pretrain: t.elapsed(),
        sources: multi.sources,
    })
}

/// Server: embeds `source` and pretrains the lower network on it.
///
/// `config.classes` is overridden with the source's number of classes.
///
/// # Errors
/// Embedding or pretraining failures.
pub fn pretrain_source(
    embedder: &Embedder,
    source: &Dataset,
    config: &PretrainConfig,
    cache: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<SourceModel, Error> {
    progress(Progress::Stage(format!(
        "embedding {} source texts (cached after the first run)",
        source.len()
    )));
    let t = Instant::now();
    let xs = embedder.embed_cached(source.texts(), cache)?;
    let embed = t.elapsed();
    progress(Progress::Stage(format!(
        "server: pretraining the lower network on {} ({} samples)",
        source.name(),
        source.len()
    )));
    let t = Instant::now();
    let config = PretrainConfig {
        classes: source.classes().len(),
        ..config.clone()
    };
    let pretrained: Pretrained = pretrain(&xs, source.labels(), &config, &mut |e| {
        progress(Progress::PretrainEpoch(e))
    })?;
    Ok(SourceModel {
        name: source.name().to_owned(),
        len: source.len(),
        pretrained,
        embed,
        pretrain: t.elapsed(),
        sources: Vec::new(),
    })
}

/// One client's encrypted link to a server that serves a [`SourceModel`]:
/// keys generated once, one session, reusable for any number of targets.
#[derive(Debug)]
pub struct EncryptedLink {
    client: LowerClient,
    session: Session,
    /// Size of the evaluation keys sent once.
    pub evaluation_key_bytes: usize,
    /// Client key generation time.
    pub keygen: Duration,
}

impl EncryptedLink {
    /// Starts a server for `source`'s quantized model, generates the
    /// client's keys and opens a session.
    ///
    /// # Errors
    /// Model card, key generation or session failures.
    pub fn open(source: &SourceModel) -> Result<Self, Error> {
        Self::for_model(&source.pretrained.model)
    }

    /// Like [`EncryptedLink::open`], for any quantized model.
    ///
    /// # Errors
    /// Model card, key generation or session failures.
    pub fn for_model(model: &QuantizedModel) -> Result<Self, Error> {
        let server = LowerServer::new(model.clone())?;
        let t = Instant::now();
        let client = LowerClient::new(server.card())?;
        let key_bytes = client.evaluation_key_bytes()?;
        let keygen = t.elapsed();
        let session = server.open_session(&key_bytes)?;
        Ok(Self {
            client,
            session,
            evaluation_key_bytes: key_bytes.len(),
            keygen,
        })
    }
}

impl EncryptedLink {
    /// The server's features of `rows` through the encrypted session,
    /// decrypted and dequantized, after checking that the decrypted integers
    /// equal `model`'s quantized plaintext evaluation bit for bit.
    ///
    /// # Errors
    /// [`Error::NotExact`] if they differ; exchange failures.
    pub fn exact_features(
        &self,
        model: &QuantizedModel,
        rows: &[Vec<f32>],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Vec<Vec<f32>>, ExchangeStats), Error> {
        let (decrypted, stats) =
            encrypted_features(&self.client, &self.session, rows, &mut |done, total| {
                progress(Progress::Encrypted { done, total })
            })?;
        let quantized = model
            .graph
            .evaluate_integer_batch(&self.client.quantize(rows)?)?;
        if decrypted != quantized {
            return Err(Error::NotExact(
                "decrypted features differ from the quantized model's".into(),
            ));
        }
        Ok((dequantize_features(&self.client, &decrypted)?, stats))
    }
}

/// A target's embedded, labeled train and test parts.
#[derive(Debug, Clone, Copy)]
pub struct TargetData<'a> {
    /// Class names.
    pub classes: &'a [String],
    /// Embeddings of the training part.
    pub x_train: &'a [Vec<f32>],
    /// Labels of the training part.
    pub y_train: &'a [usize],
    /// Embeddings of the test part.
    pub x_test: &'a [Vec<f32>],
    /// Labels of the test part.
    pub y_test: &'a [usize],
}

impl TargetData<'_> {
    /// All rows' embeddings, training part first: the rows a [`Fold`]
    /// indexes.
    pub fn rows(&self) -> Vec<Vec<f32>> {
        self.x_train.iter().chain(self.x_test).cloned().collect()
    }

    /// All rows' labels, in the order of [`TargetData::rows`].
    pub fn labels(&self) -> Vec<usize> {
        self.y_train.iter().chain(self.y_test).copied().collect()
    }
}

/// What [`transfer_to`] measured on one target.
#[derive(Debug, Clone)]
pub struct TargetTransfer {
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
    /// Client head training time, all three heads.
    pub heads: Duration,
}

/// Client: computes float, quantized and encrypted features of a target
/// through `source`'s lower network (encrypted over `link`) and trains a
/// head on each, on the target's own split (train on `x_train`, test on
/// `x_test`). [`transfer_folds`] with [`Fold::split`].
///
/// # Errors
/// Any stage's failure; also [`Error::NotExact`] if the decrypted features
/// differ from the quantized model's (a bug, never expected).
pub fn transfer_to(
    target: &TargetData<'_>,
    source: &SourceModel,
    link: &EncryptedLink,
    head: HeadSpec<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<TargetTransfer, Error> {
    let folds = Fold::split(target.x_train.len(), target.x_test.len());
    transfer_folds(target, &folds, source, link, head, progress)
}

/// [`transfer_to`] over any [`Fold`]s of the target's rows (`x_train`
/// then `x_test`), for example k-fold cross-validation
/// ([`Fold::cross_validation`]): every row is encrypted once, and for each
/// fold a float, a quantized and an encrypted head are trained on its
/// training rows and tested on its test rows. The results' metrics and
/// predictions are over all folds' test rows, in fold order
/// ([`tested_rows`]).
///
/// # Errors
/// As [`transfer_to`]; [`Error::InvalidInput`] for a fold naming a row
/// that does not exist.
pub fn transfer_folds(
    target: &TargetData<'_>,
    folds: &[Fold],
    source: &SourceModel,
    link: &EncryptedLink,
    head: HeadSpec<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<TargetTransfer, Error> {
    let pretrained = &source.pretrained;
    let all = target.rows();
    let labels = target.labels();
    Fold::check_rows(folds, all.len())?;
    let float = pretrained.float_features(&all)?;

    progress(Progress::Stage(
        "client: encryption; server: encrypted evaluation".into(),
    ));
    let client = &link.client;
    let (decrypted, exchange) =
        encrypted_features(client, &link.session, &all, &mut |done, total| {
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
    let enc = dequantize_features(client, &decrypted)?;
    let quant = dequantize_features(client, &quantized)?;

    progress(Progress::Stage(
        "client: training heads (float, quantized, encrypted)".into(),
    ));
    let t = Instant::now();
    let run =
        |features: &[Vec<f32>]| train_head_folds(target.classes, head, (features, &labels), folds);
    let float = run(&float)?;
    let quantized_result = run(&quant)?;
    let encrypted = run(&enc)?;
    let heads = t.elapsed();
    let identical_predictions = encrypted.predictions == quantized_result.predictions;
    Ok(TargetTransfer {
        float,
        quantized: quantized_result,
        encrypted,
        exact_features,
        identical_predictions,
        exchange,
        heads,
    })
}

/// Client, with `--head auto`: computes float, quantized and encrypted
/// features of a target through `source`'s lower network (encrypted over
/// `link`, checked bit-exact), chooses the head by cross-validation on the
/// encrypted features' training part ([`select_head`] over `select`'s
/// candidates), trains the same choice (family, feature set, λ) on the float
/// and quantized features, and tests all three on the test part; also the
/// best no-transfer choice over the raw embedding.
///
/// # Errors
/// [`Error::NotExact`] if decrypted features differ from the quantized
/// model's; exchange and training failures.
pub fn transfer_auto(
    target: &TargetData<'_>,
    source: &SourceModel,
    link: &EncryptedLink,
    select: &SelectOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<(TargetTransfer, AutoReport), Error> {
    let pretrained = &source.pretrained;
    let all = target.rows();
    let float = pretrained.float_features(&all)?;
    progress(Progress::Stage(
        "client: encryption; server: encrypted evaluation".into(),
    ));
    let (encrypted, exchange) = link.exact_features(&pretrained.model, &all, progress)?;
    let quantized = pretrained.quantized_features(&all)?;
    let n = target.x_train.len();
    let (y_train, y_test) = (target.y_train, target.y_test);
    let t = Instant::now();
    progress(Progress::Stage(
        "client: choosing the head by cross-validation on the training part".into(),
    ));
    let head = select_head(
        target.x_train,
        Some(&encrypted[..n]),
        y_train,
        target.classes,
        select,
        &mut |_| {},
    )?;
    let chosen = head
        .selection()
        .and_then(|s| s.chosen())
        .map(|c| (c.family, c.features, c.l2));
    let same_choice = match chosen {
        Some((family, features, l2)) => SelectOptions {
            l2_grid: l2.map_or_else(|| select.l2_grid.clone(), |l2| vec![l2]),
            ..select.clone().only(family, features)
        },
        None => select
            .clone()
            .only(head.classifier().family(), head.features()),
    };
    let result = |features: &[Vec<f32>], head: Option<&ClientHead>| -> Result<HeadResult, Error> {
        let trained;
        let head = match head {
            Some(h) => h,
            None => {
                trained = select_head(
                    target.x_train,
                    Some(&features[..n]),
                    y_train,
                    target.classes,
                    &same_choice,
                    &mut |_| {},
                )?;
                &trained
            }
        };
        let metrics = head.evaluate(target.x_test, Some(&features[n..]), y_test)?;
        let predictions = head.predict(target.x_test, Some(&features[n..]))?;
        Ok(HeadResult {
            metrics,
            predictions,
            epochs: 0,
        })
    };
    let encrypted_result = result(&encrypted, Some(&head))?;
    let quantized_result = result(&quantized, None)?;
    let float_result = result(&float, None)?;
    progress(Progress::Stage("client: the no-transfer baseline".into()));
    let raw_only = SelectOptions {
        feature_sets: vec![FeatureSet::Raw],
        ..select.clone()
    };
    let baseline_head = select_head(
        target.x_train,
        None,
        y_train,
        target.classes,
        &raw_only,
        &mut |_| {},
    )?;
    let baseline_choice = baseline_head
        .selection()
        .and_then(|s| s.chosen())
        .map_or_else(
            || baseline_head.classifier().family().to_string(),
            ToString::to_string,
        );
    let baseline = HeadResult {
        metrics: baseline_head.evaluate(target.x_test, None, y_test)?,
        predictions: baseline_head.predict(target.x_test, None)?,
        epochs: 0,
    };
    let identical_predictions = encrypted_result.predictions == quantized_result.predictions;
    Ok((
        TargetTransfer {
            float: float_result,
            quantized: quantized_result,
            encrypted: encrypted_result,
            exact_features: true,
            identical_predictions,
            exchange,
            heads: t.elapsed(),
        },
        AutoReport {
            head,
            baseline,
            baseline_choice,
        },
    ))
}

/// Trains the client's head on `train` and evaluates it on `test`: the
/// same head and options as in [`transfer_to`], on any features (e.g. raw
/// embeddings, for a no-transfer baseline).
///
/// # Errors
/// Training or evaluation failures.
pub fn train_head_on(
    classes: &[String],
    spec: HeadSpec<'_>,
    train: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
) -> Result<HeadResult, Error> {
    Ok(train_head(classes, spec, train, test)?.1)
}

/// [`train_head_on`] over folds of `(x, y)`: one head (or seed ensemble)
/// per fold, trained on the fold's training rows; metrics over the pooled
/// class probabilities of every fold's test rows, in fold order
/// ([`tested_rows`]). With one fold ([`Fold::split`]) this is
/// exactly [`train_head_on`].
///
/// # Errors
/// Training or evaluation failures; [`Error::InvalidInput`] for folds
/// naming rows outside `x`.
pub fn train_head_folds(
    classes: &[String],
    spec: HeadSpec<'_>,
    (x, y): (&[Vec<f32>], &[usize]),
    folds: &[Fold],
) -> Result<HeadResult, Error> {
    Fold::check_rows(folds, x.len().min(y.len()))?;
    let mut epochs = 0;
    let probabilities = pooled::<_, Error>(folds, |fold| {
        let train_x = Fold::gather(x, &fold.train);
        let train_y = Fold::gather(y, &fold.train);
        let (head, reports) = fit_head(classes, spec, (&train_x, &train_y))?;
        epochs = epochs.max(reports);
        Ok(head.predict_proba(&Fold::gather(x, &fold.test))?)
    })?;
    let tested = Fold::gather(y, &tested_rows(folds));
    let metrics =
        Metrics::from_probabilities(&tested, &probabilities)?.with_class_names(classes)?;
    let predictions = probabilities.iter().map(|p| argmax(p)).collect();
    Ok(HeadResult {
        metrics,
        predictions,
        epochs,
    })
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
    let embedder = options.embedding_model.load(cache)?;
    let target = load_dataset(&options.target, cache)?;
    let mut sources = Vec::with_capacity(options.sources.len());
    for source in &options.sources {
        let data = load_dataset(source, cache)?;
        check_disjoint_provenance(&data, &target)?;
        sources.push(match options.max_source_samples {
            Some(max) => cryptotl_data::stratified_subsample(&data, max, options.seed)?,
            None => data,
        });
    }
    if target.classes().len() < 2 {
        return Err(Error::InvalidInput(format!(
            "the target {} has fewer than two classes",
            target.name()
        )));
    }
    let (target_train, target_test) = split(&target, options.test_fraction, options.seed)?;
    times.setup = t.elapsed();

    let model = pretrain_sources(&embedder, &sources, &options.pretrain, cache, progress)?;
    times.pretrain = model.pretrain;

    progress(Progress::Stage(format!(
        "embedding {} target texts (cached after the first run)",
        target.len()
    )));
    let t = Instant::now();
    let x_train = embedder.embed_cached(target_train.texts(), cache)?;
    let x_test = embedder.embed_cached(target_test.texts(), cache)?;
    times.embed = model.embed + t.elapsed();

    progress(Progress::Stage("client: key generation".into()));
    let link = EncryptedLink::open(&model)?;
    times.keygen = link.keygen;

    let classes = target.classes().to_vec();
    let data = TargetData {
        classes: &classes,
        x_train: &x_train,
        y_train: target_train.labels(),
        x_test: &x_test,
        y_test: target_test.labels(),
    };
    let (result, auto) = match &options.select {
        Some(select) => {
            let (result, auto) = transfer_auto(&data, &model, &link, select, progress)?;
            (result, Some(auto))
        }
        None => (
            transfer_to(&data, &model, &link, options.head_spec(), progress)?,
            None,
        ),
    };
    times.heads = result.heads;

    Ok(TransferReport {
        source: (model.name.clone(), model.len),
        target: (
            target.name().to_owned(),
            target_train.len(),
            target_test.len(),
        ),
        classes,
        pretrain: model.pretrained.report,
        float: result.float,
        quantized: result.quantized,
        encrypted: result.encrypted,
        exact_features: result.exact_features,
        identical_predictions: result.identical_predictions,
        exchange: result.exchange,
        evaluation_key_bytes: link.evaluation_key_bytes,
        times,
        sources: model.sources,
        auto,
    })
}
