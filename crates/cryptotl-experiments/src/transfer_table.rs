//! The transfer table (`cryptotl experiment transfer`): every source ×
//! target pair of the catalog, CryptoTL-style.
//!
//! For each pretraining source the server's lower network is pretrained
//! **once** and the client opens **one** encrypted session (keys generated
//! once); every target of that source is then evaluated through it: the
//! client's head on float plaintext features, on quantized plaintext
//! features and on the decrypted features of the encrypted evaluation.
//! Pairs from one provenance family ([`check_disjoint_ids`]) are skipped and
//! listed.
//!
//! Two no-transfer baselines are computed per target on the same seeded
//! split: the client's head trained directly on the raw 384-d embeddings,
//! and a multinomial logistic regression on the raw embeddings
//! ([`LogisticHead`], λ = 10⁻³).
//!
//! [`TransferTable::to_markdown`] writes `docs/results.md`, including plain
//! statements computed from the numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cryptotl_data::{check_disjoint_ids, split, stratified_subsample, Dataset, DatasetId};
use cryptotl_embed::{Embedder, ModelSource};
use cryptotl_head::{ConfusionMatrix, HeadConfig, Metrics, TrainOptions};
use cryptotl_pretrain::PretrainConfig;

use cryptotl::Error;
use cryptotl_head::{largest_train, pooled, tested_rows, Fold, LogisticHead, LogisticOptions};

use cryptotl::pipeline::{
    load_dataset, pretrain_source, train_head_folds, transfer_folds, DataSource, EncryptedLink,
    HeadSpec, Progress, TargetData,
};

/// Settings of [`transfer_table`].
#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    /// Pretraining sources, in table order.
    pub sources: Vec<DatasetId>,
    /// Targets, in row order.
    pub targets: Vec<DatasetId>,
    /// Fraction of each target held out for testing (stratified, seeded).
    pub test_fraction: f64,
    /// `Some(k)`: evaluate every pair by stratified k-fold
    /// cross-validation over the whole (capped) target instead of the
    /// single split: every sample is tested once, by heads not trained on
    /// it, and the scores are over all samples. `None`: the single split.
    pub folds: Option<usize>,
    /// Seed of the target splits, subsamples and head training.
    pub seed: u64,
    /// Pretraining of the lower network.
    pub pretrain: PretrainConfig,
    /// Training of the client's head (also the head-on-raw baseline).
    pub head: TrainOptions,
    /// Hidden units of the head's first dense layer.
    pub head_hidden: usize,
    /// Members of each head's seed ensemble (1: single heads; also the
    /// head-on-raw baseline's).
    pub head_members: usize,
    /// The logistic-regression baseline.
    pub logistic: LogisticOptions,
    /// Cap on each source's samples (stratified, seeded subsample); `None`:
    /// all.
    pub max_source_samples: Option<usize>,
    /// Cap on each target's samples before splitting (stratified, seeded
    /// subsample); `None`: all.
    pub max_target_samples: Option<usize>,
    /// Cache directory for the embedding model, data sets and embeddings.
    pub cache: PathBuf,
    /// The embedding model: a built-in one (default all-MiniLM-L6-v2) or a
    /// local directory.
    pub embedding_model: ModelSource,
}

impl ExperimentOptions {
    /// The head part of these options.
    pub fn head_spec(&self) -> HeadSpec<'_> {
        HeadSpec {
            hidden: self.head_hidden,
            options: &self.head,
            members: self.head_members,
        }
    }

    /// Sources rotten-tomatoes and crowdflower; targets uci-imdb, uci-yelp,
    /// uci-amazon, vader-tweets, vader-amazon, sms-spam, spamassassin; 20 %
    /// test (no cross-validation), seed 0, default pretraining and head, no caps.
    pub fn new(cache: PathBuf) -> Self {
        Self {
            sources: vec![DatasetId::RottenTomatoes, DatasetId::CrowdFlower],
            targets: vec![
                DatasetId::UciImdb,
                DatasetId::UciYelp,
                DatasetId::UciAmazon,
                DatasetId::VaderTweets,
                DatasetId::VaderAmazon,
                DatasetId::SmsSpam,
                DatasetId::SpamAssassin,
            ],
            test_fraction: 0.2,
            folds: None,
            seed: 0,
            pretrain: PretrainConfig::default(),
            head: TrainOptions::default(),
            head_hidden: HeadConfig::new(1, 2).hidden,
            head_members: 1,
            logistic: LogisticOptions::default().with_l2(1e-3),
            max_source_samples: None,
            max_target_samples: None,
            cache,
            embedding_model: ModelSource::default(),
        }
    }
}

/// Accuracy, macro F1 and Cohen's kappa on a test set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// Cohen's kappa.
    pub kappa: f64,
}

impl From<&Metrics> for Scores {
    fn from(m: &Metrics) -> Self {
        Self {
            accuracy: m.accuracy,
            macro_f1: m.macro_f1,
            kappa: m.kappa,
        }
    }
}

impl From<&ConfusionMatrix> for Scores {
    fn from(m: &ConfusionMatrix) -> Self {
        Self {
            accuracy: m.accuracy(),
            macro_f1: m.macro_f1(),
            kappa: m.kappa(),
        }
    }
}

/// The no-transfer baselines of one target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baselines {
    /// The client's head trained directly on the raw embeddings.
    pub head_raw: Scores,
    /// Logistic regression on the raw embeddings.
    pub logistic: Scores,
}

/// One row of a source's table: one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    /// Target name.
    pub target: String,
    /// Training samples (with cross-validation: the largest fold's
    /// training part).
    pub train: usize,
    /// Test samples (with cross-validation: every sample, tested once).
    pub test: usize,
    /// Head on the float lower network's features.
    pub float: Scores,
    /// Head on the quantized lower network's features (plaintext).
    pub quantized: Scores,
    /// Head on the decrypted features of the encrypted evaluation.
    pub encrypted: Scores,
    /// Whether every decrypted feature equalled the quantized model's.
    pub exact_features: bool,
    /// Whether the encrypted head's predictions equalled the quantized one's.
    pub identical_predictions: bool,
    /// The no-transfer baselines (same split or folds).
    pub baselines: Baselines,
}

/// All targets of one pretraining source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTable {
    /// Source name.
    pub source: String,
    /// Samples the lower network was pretrained on.
    pub samples: usize,
    /// Pretraining time in seconds.
    pub pretrain_seconds: f64,
    /// One row per target.
    pub rows: Vec<TargetRow>,
}

/// A source / target pair that was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPair {
    /// Source name.
    pub source: String,
    /// Target name.
    pub target: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Everything [`transfer_table`] measured, plus its context.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferTable {
    /// The machine, e.g. `2 cores, AMD EPYC …`.
    pub machine: String,
    /// UTC date of the run, `YYYY-MM-DD`.
    pub date: String,
    /// Test fraction of the target splits.
    pub test_fraction: f64,
    /// Folds of the cross-validation, if the pairs were evaluated so
    /// (`None`: the single split).
    pub folds: Option<usize>,
    /// Seed of splits, subsamples and head training.
    pub seed: u64,
    /// Cap on source samples, if any.
    pub max_source_samples: Option<usize>,
    /// Cap on target samples, if any.
    pub max_target_samples: Option<usize>,
    /// Heads per seed ensemble (1: single heads).
    pub head_members: usize,
    /// One table per source that had at least one pair to run.
    pub sources: Vec<SourceTable>,
    /// Pairs refused by the provenance check.
    pub skipped: Vec<SkippedPair>,
    /// Wall time of the whole run in seconds.
    pub seconds: f64,
}

/// Splits `sources × targets` into pairs to run and pairs refused by
/// [`check_disjoint_ids`] (same provenance family), in the given order.
pub fn plan_pairs(
    sources: &[DatasetId],
    targets: &[DatasetId],
) -> (Vec<(DatasetId, DatasetId)>, Vec<SkippedPair>) {
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for &source in sources {
        for &target in targets {
            match check_disjoint_ids(&[source], target) {
                Ok(()) => run.push((source, target)),
                Err(e) => skipped.push(SkippedPair {
                    source: source.name().to_owned(),
                    target: target.name().to_owned(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    (run, skipped)
}

/// A target as the experiment uses it: loaded from the cache, capped at
/// `options.max_target_samples` (stratified, seeded), refused with fewer
/// than two classes, and split into train and test. Returns the class
/// names, the training part and the test part.
pub(crate) fn target_split(
    target: DatasetId,
    options: &ExperimentOptions,
) -> Result<(Vec<String>, Dataset, Dataset), Error> {
    let data = capped_dataset(target, options.max_target_samples, options)?;
    if data.classes().len() < 2 {
        return Err(Error::InvalidInput(format!(
            "the target {} has fewer than two classes",
            data.name()
        )));
    }
    let (train, test) = split(&data, options.test_fraction, options.seed)?;
    Ok((data.classes().to_vec(), train, test))
}

/// A built-in data set from the cache, capped at `cap` samples by a
/// stratified subsample seeded with `options.seed` (`None`: all).
pub(crate) fn capped_dataset(
    id: DatasetId,
    cap: Option<usize>,
    options: &ExperimentOptions,
) -> Result<Dataset, Error> {
    let full = load_dataset(&DataSource::Builtin(id), &options.cache)?;
    match cap {
        Some(max) => Ok(stratified_subsample(&full, max, options.seed)?),
        None => Ok(full),
    }
}

/// A target split ([`target_split`]) and embedded once, shared by every
/// source of a run.
pub(crate) struct EmbeddedTarget {
    pub(crate) classes: Vec<String>,
    pub(crate) x_train: Vec<Vec<f32>>,
    pub(crate) y_train: Vec<usize>,
    pub(crate) x_test: Vec<Vec<f32>>,
    pub(crate) y_test: Vec<usize>,
}

impl EmbeddedTarget {
    /// The borrowed form [`transfer_to`] takes.
    fn data(&self) -> TargetData<'_> {
        TargetData {
            classes: &self.classes,
            x_train: &self.x_train,
            y_train: &self.y_train,
            x_test: &self.x_test,
            y_test: &self.y_test,
        }
    }
}

/// Splits and embeds (cached per input file) every target that one of
/// `pairs` uses, once.
pub(crate) fn embed_targets(
    options: &ExperimentOptions,
    pairs: &[(DatasetId, DatasetId)],
    embedder: &Embedder,
    progress: &mut dyn FnMut(Progress),
) -> Result<BTreeMap<DatasetId, EmbeddedTarget>, Error> {
    let cache = options.cache.as_path();
    let mut targets = BTreeMap::new();
    for &target in &options.targets {
        if !pairs.iter().any(|&(_, t)| t == target) {
            continue;
        }
        let (classes, train, test) = target_split(target, options)?;
        progress(Progress::Stage(format!(
            "target {}: embedding {} + {} texts (cached after the first run)",
            target,
            train.len(),
            test.len()
        )));
        let x_train = embedder.embed_cached(train.texts(), cache)?;
        let x_test = embedder.embed_cached(test.texts(), cache)?;
        targets.insert(
            target,
            EmbeddedTarget {
                classes,
                x_train,
                y_train: train.labels().to_vec(),
                x_test,
                y_test: test.labels().to_vec(),
            },
        );
    }
    Ok(targets)
}

/// A target prepared once for all sources: split, embedded, its folds,
/// baselines.
struct PreparedTarget {
    data: EmbeddedTarget,
    folds: Vec<Fold>,
    baselines: Baselines,
}

impl EmbeddedTarget {
    /// The folds the options ask for over this target's rows (training
    /// part first, labels `y`): the split itself, or k-fold
    /// cross-validation.
    fn folds(&self, y: &[usize], options: &ExperimentOptions) -> Result<Vec<Fold>, Error> {
        match options.folds {
            None => Ok(Fold::split(self.y_train.len(), self.y_test.len())),
            Some(k) => Ok(Fold::cross_validation(y, k, options.seed)?),
        }
    }
}

/// Runs the transfer table: every non-conflicting source × target pair,
/// pretraining each source once and opening one encrypted session per
/// source, plus the no-transfer baselines per target.
///
/// # Errors
/// Any stage's failure (fetching, embedding, pretraining, encryption,
/// training); [`Error::NotExact`] if decrypted features ever differ from the
/// quantized model's.
pub fn transfer_table(
    options: &ExperimentOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<TransferTable, Error> {
    let started = Instant::now();
    let cache = options.cache.as_path();
    let (pairs, skipped) = plan_pairs(&options.sources, &options.targets);
    for s in &skipped {
        progress(Progress::Stage(format!(
            "skipping {} → {}: {}",
            s.source, s.target, s.reason
        )));
    }
    progress(Progress::Stage("loading the embedding model".into()));
    let embedder = options.embedding_model.load(cache)?;

    // Targets: split, embed and baselines once, shared by all sources.
    let mut prepared: BTreeMap<DatasetId, PreparedTarget> = BTreeMap::new();
    for (target, data) in embed_targets(options, &pairs, &embedder, progress)? {
        progress(Progress::Stage(format!(
            "target {target}: no-transfer baselines (head and logistic regression on raw embeddings)"
        )));
        let (x, y) = (data.data().rows(), data.data().labels());
        let folds = data.folds(&y, options)?;
        let head_raw = train_head_folds(&data.classes, options.head_spec(), (&x, &y), &folds)?;
        let classes = data.classes.len();
        let lr_pred = pooled::<_, Error>(&folds, |fold| {
            let train_x = Fold::gather(&x, &fold.train);
            let train_y = Fold::gather(&y, &fold.train);
            let lr = LogisticHead::fit(&train_x, &train_y, classes, &options.logistic)?;
            Ok(lr.predict(&Fold::gather(&x, &fold.test))?)
        })?;
        let lr_scores = Scores::from(&ConfusionMatrix::from_labels(
            &Fold::gather(&y, &tested_rows(&folds)),
            &lr_pred,
            classes,
        )?);
        prepared.insert(
            target,
            PreparedTarget {
                data,
                folds,
                baselines: Baselines {
                    head_raw: Scores::from(&head_raw.metrics),
                    logistic: lr_scores,
                },
            },
        );
    }

    let mut tables = Vec::new();
    for &source in &options.sources {
        let targets: Vec<DatasetId> = pairs
            .iter()
            .filter(|&&(s, _)| s == source)
            .map(|&(_, t)| t)
            .collect();
        if targets.is_empty() {
            continue;
        }
        let data = capped_dataset(source, options.max_source_samples, options)?;
        let model = pretrain_source(&embedder, &data, &options.pretrain, cache, progress)?;
        progress(Progress::Stage(format!(
            "source {source}: client key generation (one session for all targets)"
        )));
        let link = EncryptedLink::open(&model)?;
        let mut rows = Vec::new();
        for target in targets {
            let Some(t) = prepared.get(&target) else {
                continue;
            };
            progress(Progress::Stage(format!("{source} → {target}")));
            let r = transfer_folds(
                &t.data.data(),
                &t.folds,
                &model,
                &link,
                options.head_spec(),
                progress,
            )?;
            rows.push(TargetRow {
                target: target.name().to_owned(),
                train: largest_train(&t.folds),
                test: tested_rows(&t.folds).len(),
                float: Scores::from(&r.float.metrics),
                quantized: Scores::from(&r.quantized.metrics),
                encrypted: Scores::from(&r.encrypted.metrics),
                exact_features: r.exact_features,
                identical_predictions: r.identical_predictions,
                baselines: t.baselines,
            });
        }
        tables.push(SourceTable {
            source: model.name.clone(),
            samples: model.len,
            pretrain_seconds: model.pretrain.as_secs_f64(),
            rows,
        });
    }

    Ok(TransferTable {
        machine: machine_description(),
        date: utc_date(SystemTime::now()),
        test_fraction: options.test_fraction,
        folds: options.folds,
        seed: options.seed,
        max_source_samples: options.max_source_samples,
        max_target_samples: options.max_target_samples,
        head_members: options.head_members,
        sources: tables,
        skipped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `N cores, <CPU model name>` from the OS (Linux `/proc/cpuinfo`; the
/// model is `unknown CPU` elsewhere).
pub fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

/// The UTC calendar date of `time`, `YYYY-MM-DD`.
pub fn utc_date(time: SystemTime) -> String {
    let days = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
        / 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// A difference of accuracies in points, to 0.01 point: one sample of a
/// 2,000-sample test set is 0.05 points.
fn points(x: f64) -> String {
    format!("{:+.2}", 100.0 * x)
}

/// Whether two accuracies differ by at most one point. Exact up to
/// floating-point noise (1e-9), not rounded: 21 of 2,000 samples (1.05
/// points) is more than one point.
pub fn within_one_point(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.01 + 1e-9
}

fn cap(c: Option<usize>) -> String {
    c.map_or_else(|| "none (all samples)".into(), |c| format!("{c} samples"))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl TransferTable {
    /// Renders the table as `docs/results.md`: context (machine, date,
    /// `command`, caps), one table per source, the skipped pairs and plain
    /// statements computed from the numbers.
    pub fn to_markdown(&self, command: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Transfer results\n");
        let _ = writeln!(
            s,
            "Measured, not estimated: every number below was produced by one run of\n\
             the command shown, on the machine shown. Single run, one seed; no\n\
             confidence intervals were computed.\n"
        );
        let _ = writeln!(s, "- Machine: {}", self.machine);
        let _ = writeln!(s, "- Date (UTC): {}", self.date);
        let _ = writeln!(s, "- Command: `{command}`");
        match self.folds {
            None => {
                let _ = writeln!(
                    s,
                    "- Target split: {:.0} % test, stratified, seed {}",
                    100.0 * self.test_fraction,
                    self.seed
                );
            }
            Some(k) => {
                let _ = writeln!(
                    s,
                    "- Evaluation: stratified {k}-fold cross-validation over each capped \
                     target, seed {}: every sample is tested once, by heads trained on the \
                     other {} folds; scores over all samples' pooled predictions \
                     (*Train*: the largest fold's training part)",
                    self.seed,
                    k.saturating_sub(1)
                );
            }
        }
        let _ = writeln!(
            s,
            "- Cap per source: {}; cap per target (before splitting): {} \
             (stratified, seeded subsamples)",
            cap(self.max_source_samples),
            cap(self.max_target_samples)
        );
        if self.head_members > 1 {
            let _ = writeln!(
                s,
                "- Client heads: seed ensembles of {} heads (seeds {} … {}), class \
                 probabilities averaged, for every head in the tables",
                self.head_members,
                self.seed,
                self.seed + self.head_members as u64 - 1
            );
        }
        let _ = writeln!(s, "- Wall time of the run: {:.0} s\n", self.seconds);
        let _ = writeln!(
            s,
            "Accuracy (acc), macro F1 and Cohen's κ on the target's test samples, in\n\
             percent (κ × 100). *Float*: the client's head on the float lower\n\
             network's features (plaintext). *Encrypted*: the head on the decrypted\n\
             features of the BFV evaluation, which equal the quantized plaintext\n\
             model's bit for bit. *Δ q−f*: quantized minus float accuracy, in points.\n\
             *Identical*: the encrypted head's predictions equal the quantized\n\
             plaintext head's. *Head raw* and *LogReg raw*: no-transfer baselines on\n\
             the raw 384-d embeddings (same split or folds): the same client head without\n\
             the server's layers, and an L2-regularized logistic regression.\n"
        );
        for table in &self.sources {
            let _ = writeln!(
                s,
                "## Source: {} ({} samples, pretrained once in {:.0} s)\n",
                table.source, table.samples, table.pretrain_seconds
            );
            let _ = writeln!(
                s,
                "| Target | Train | Test | Float acc | Float F1 | Float κ | Enc. acc | Enc. F1 | Enc. κ | Δ q−f (pts) | Identical | Head raw acc | LogReg raw acc |"
            );
            let _ = writeln!(
                s,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|"
            );
            for r in &table.rows {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.target,
                    r.train,
                    r.test,
                    pct(r.float.accuracy),
                    pct(r.float.macro_f1),
                    pct(r.float.kappa),
                    pct(r.encrypted.accuracy),
                    pct(r.encrypted.macro_f1),
                    pct(r.encrypted.kappa),
                    points(r.quantized.accuracy - r.float.accuracy),
                    if r.identical_predictions {
                        "✓"
                    } else {
                        "✗"
                    },
                    pct(r.baselines.head_raw.accuracy),
                    pct(r.baselines.logistic.accuracy),
                );
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## Skipped pairs\n");
        if self.skipped.is_empty() {
            let _ = writeln!(
                s,
                "None: no source shares a provenance family with any target.\n"
            );
        } else {
            for p in &self.skipped {
                let _ = writeln!(s, "- {} → {}: {}", p.source, p.target, p.reason);
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## What the numbers say\n");
        for line in self.statements() {
            let _ = writeln!(s, "- {line}");
        }
        s
    }

    /// Plain statements computed from the numbers (no explanations):
    /// quantization within 1 point of float or not, encrypted predictions
    /// identical to quantized or not, transfer (encrypted accuracy) against
    /// the better and the worse no-transfer baseline.
    pub fn statements(&self) -> Vec<String> {
        let mut within = Vec::new();
        let mut outside = Vec::new();
        let mut not_identical = Vec::new();
        let mut beats_both = Vec::new();
        let mut between = Vec::new();
        let mut beats_neither = Vec::new();
        for table in &self.sources {
            for r in &table.rows {
                let pair = format!("{} → {}", table.source, r.target);
                let delta = r.quantized.accuracy - r.float.accuracy;
                if within_one_point(r.quantized.accuracy, r.float.accuracy) {
                    within.push(format!("{pair} ({})", points(delta)));
                } else {
                    outside.push(format!("{pair} ({})", points(delta)));
                }
                if !r.identical_predictions {
                    not_identical.push(pair.clone());
                }
                let acc = r.encrypted.accuracy;
                let (lo, hi) = {
                    let (a, b) = (r.baselines.head_raw.accuracy, r.baselines.logistic.accuracy);
                    (a.min(b), a.max(b))
                };
                let vs = format!(
                    "{pair} ({} vs. head raw {}, LogReg raw {})",
                    pct(acc),
                    pct(r.baselines.head_raw.accuracy),
                    pct(r.baselines.logistic.accuracy)
                );
                if acc > hi {
                    beats_both.push(vs);
                } else if acc > lo {
                    between.push(vs);
                } else {
                    beats_neither.push(vs);
                }
            }
        }
        let total = within.len() + outside.len();
        let mut out = Vec::new();
        if total == 0 {
            out.push("No pair was run.".into());
            return out;
        }
        out.push(format!(
            "Quantized accuracy within 1 point of float ({} of {total} pairs): {}.",
            within.len(),
            list(&within)
        ));
        out.push(format!(
            "Quantized accuracy more than 1 point from float ({} of {total} pairs): {}.",
            outside.len(),
            list(&outside)
        ));
        if not_identical.is_empty() {
            out.push(format!(
                "The encrypted head's predictions were identical to the quantized \
                 plaintext head's on all {total} pairs (encrypted accuracy = quantized \
                 accuracy)."
            ));
        } else {
            out.push(format!(
                "The encrypted head's predictions differed from the quantized plaintext \
                 head's on: {}.",
                list(&not_identical)
            ));
        }
        out.push(format!(
            "Transfer (encrypted accuracy) above both no-transfer baselines ({} of {total}): {}.",
            beats_both.len(),
            list(&beats_both)
        ));
        out.push(format!(
            "Transfer above one baseline but not the other ({} of {total}): {}.",
            between.len(),
            list(&between)
        ));
        out.push(format!(
            "Transfer not above either baseline ({} of {total}): {}.",
            beats_neither.len(),
            list(&beats_neither)
        ));
        let division = match self.folds {
            None => "one split seed".to_owned(),
            Some(k) => format!("one seeded assignment of the samples to {k} folds"),
        };
        out.push(format!(
            "This table is one run ({division}, one pretraining and head seed). \
             Seed-to-seed variation, where Δ q−f comes from, and why transfer helps \
             or hurts are measured separately: the `seed_sweep`, `quant_gap` and \
             `transfer_why` examples (sections \"Seed variation\", \"Quantization \
             gap\" and \"Why transfer does or does not help\" of docs/results.md)."
        ));
        out
    }
}
