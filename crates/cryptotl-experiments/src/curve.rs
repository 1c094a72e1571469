//! Learning curves (`cryptotl experiment curve`): test accuracy against the
//! number of labels per class, for every client choice (model family ×
//! feature set), the automatic choice and the no-transfer baselines, through
//! each server a target may use.
//!
//! For each target: one fixed stratified test split (the same for every
//! method, size and server); from the rest (the pool), `draws` seeded
//! stratified draws of `n` labels per class for each size `n`, and the whole
//! pool (`all`). For each server (a single pretraining source, or several
//! trained together, never of the target's provenance family), the server's
//! features of every pool and test sample are computed once through a real
//! encrypted session and checked bit-exact against the quantized model.
//! Every method trains on the draw only (its logistic regression's λ, and
//! `auto`'s choice, by cross-validation inside the draw) and is scored on
//! the test split; each point is the mean ± standard deviation over draws.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cryptotl::embed::ModelSource;
use cryptotl::pipeline::{load_dataset, pretrain_sources, DataSource, EncryptedLink, Progress};
use cryptotl::Error;
use cryptotl_data::{check_disjoint_ids, split, stratified_subsample, Dataset, DatasetId, Task};
use cryptotl_graph::QuantizedModel;
use cryptotl_head::{CandidateSearch, Choice, Family, FeatureSet, SelectOptions};
use cryptotl_pretrain::PretrainConfig;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::plot::{CurvePlot, CurvePoint, CurveSeries};
use crate::transfer_table::{machine_description, utc_date};

/// A client's way of training its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// One family on one feature set (logistic regression's λ chosen by
    /// cross-validation within the draw).
    Fixed(Family, FeatureSet),
    /// `--head auto`: family, feature set and λ chosen by cross-validation
    /// within the draw, with the guard of [`SelectOptions::guard`].
    Auto,
    /// `auto` with another guard: `Some(t)` is z = t / 10, `None` no guard
    /// (chosen from the same cross-validation scores as `auto`).
    AutoGuard(Option<u16>),
}

impl Method {
    /// Every fixed method on the server's features, and `auto`.
    pub const TRANSFER: [Method; 5] = [
        Method::Fixed(Family::Logistic, FeatureSet::Server),
        Method::Fixed(Family::Logistic, FeatureSet::Both),
        Method::Fixed(Family::Mlp, FeatureSet::Server),
        Method::Fixed(Family::Mlp, FeatureSet::Both),
        Method::Auto,
    ];
    /// The no-transfer baselines (raw embeddings only).
    pub const BASELINES: [Method; 2] = [
        Method::Fixed(Family::Logistic, FeatureSet::Raw),
        Method::Fixed(Family::Mlp, FeatureSet::Raw),
    ];

    /// Its name in tables and plots (`logistic/both`, `auto`, ...).
    pub fn name(&self) -> String {
        match self {
            Method::Fixed(f, s) => format!("{f}/{s}"),
            Method::Auto => "auto".into(),
            Method::AutoGuard(None) => "auto, no guard".into(),
            Method::AutoGuard(Some(t)) => format!("auto, z = {}", f64::from(*t) / 10.0),
        }
    }

    /// Whether the method chooses its head (`auto` and its guard variants).
    pub fn is_auto(&self) -> bool {
        !matches!(self, Method::Fixed(..))
    }

    /// Its choice among the scored candidates.
    fn choose(&self, search: &CandidateSearch<'_>, base: &SelectOptions) -> Option<Choice> {
        match *self {
            Method::Fixed(f, s) => search.choose(Some((f, s)), None),
            Method::Auto => search.choose(None, base.guard),
            Method::AutoGuard(t) => search.choose(None, t.map(|t| f64::from(t) / 10.0)),
        }
    }
}

/// A training-set size: `n` labels per class, or the whole pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// `n` samples of every class.
    PerClass(usize),
    /// Every pool sample.
    All,
}

impl Size {
    /// The sizes of the issue: 8, 16, 32, 64, 128, 256 per class and all.
    pub fn standard() -> Vec<Size> {
        [8, 16, 32, 64, 128, 256]
            .into_iter()
            .map(Size::PerClass)
            .chain([Size::All])
            .collect()
    }

    fn label(&self) -> String {
        match self {
            Size::PerClass(n) => n.to_string(),
            Size::All => "all".into(),
        }
    }
}

/// A server for the curves: the lower network pretrained on these sources
/// (one, or several at once with one output head each).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerSpec {
    /// The pretraining sources.
    pub sources: Vec<DatasetId>,
}

impl ServerSpec {
    /// Its name: the sources joined by `+`.
    pub fn name(&self) -> String {
        self.sources
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// Which servers each target is evaluated through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerChoice {
    /// Each single pretraining source the provenance check allows.
    Single,
    /// One multi-source server per target: every source of
    /// [`CurveOptions::multi_sources`] not of the target's family (leave one
    /// family out).
    Multi,
    /// Both.
    Both,
}

/// Settings of [`learning_curves`].
#[derive(Debug, Clone)]
pub struct CurveOptions {
    /// Targets.
    pub targets: Vec<DatasetId>,
    /// Single pretraining sources ([`ServerChoice::Single`]).
    pub single_sources: Vec<DatasetId>,
    /// The sources of the multi-source servers, before leaving the target's
    /// family out ([`ServerChoice::Multi`]).
    pub multi_sources: Vec<DatasetId>,
    /// Which servers.
    pub servers: ServerChoice,
    /// Training-set sizes.
    pub sizes: Vec<Size>,
    /// Seeded draws per size.
    pub draws: usize,
    /// Fraction of each (capped) target held out as the fixed test split.
    pub test_fraction: f64,
    /// Cap on each target's samples before splitting (stratified, seeded).
    pub max_target_samples: Option<usize>,
    /// Cap on each source's samples (stratified, seeded).
    pub max_source_samples: Option<usize>,
    /// Pretraining of the servers.
    pub pretrain: PretrainConfig,
    /// The client's candidates and their training (families, λ grid, MLP).
    pub select: SelectOptions,
    /// Other guards `auto` is also scored with, from the same
    /// cross-validation ([`Method::AutoGuard`]): z in tenths, `None` for no
    /// guard.
    pub guard_variants: Vec<Option<u16>>,
    /// Seed of splits, draws and training.
    pub seed: u64,
    /// Cache directory.
    pub cache: PathBuf,
    /// The embedding model.
    pub embedding_model: ModelSource,
}

impl CurveOptions {
    /// All seven built-in targets; single sources rotten-tomatoes and
    /// crowdflower; multi-source servers from rotten-tomatoes, crowdflower,
    /// sms-spam and spamassassin; both kinds of server; the standard sizes;
    /// 5 draws; 30 % test; targets capped at 2,000 and sources at 15,000
    /// samples; default pretraining; the default candidates; `auto` also
    /// without a guard and with z = 0.5 and 2 (tables only).
    pub fn new(cache: PathBuf) -> Self {
        Self {
            targets: vec![
                DatasetId::UciImdb,
                DatasetId::UciYelp,
                DatasetId::UciAmazon,
                DatasetId::VaderTweets,
                DatasetId::VaderAmazon,
                DatasetId::SmsSpam,
                DatasetId::SpamAssassin,
            ],
            single_sources: vec![DatasetId::RottenTomatoes, DatasetId::CrowdFlower],
            multi_sources: vec![
                DatasetId::RottenTomatoes,
                DatasetId::CrowdFlower,
                DatasetId::SmsSpam,
                DatasetId::SpamAssassin,
            ],
            servers: ServerChoice::Both,
            sizes: Size::standard(),
            draws: 5,
            test_fraction: 0.3,
            max_target_samples: Some(2000),
            max_source_samples: Some(15000),
            pretrain: PretrainConfig::default(),
            select: SelectOptions::default(),
            guard_variants: vec![None, Some(5), Some(20)],
            seed: 0,
            cache,
            embedding_model: ModelSource::default(),
        }
    }

    /// The servers `target` is evaluated through.
    pub fn servers_for(&self, target: DatasetId) -> Vec<ServerSpec> {
        let mut out = Vec::new();
        if self.servers != ServerChoice::Multi {
            out.extend(
                self.single_sources
                    .iter()
                    .filter(|&&s| check_disjoint_ids(&[s], target).is_ok())
                    .map(|&s| ServerSpec { sources: vec![s] }),
            );
        }
        if self.servers != ServerChoice::Single {
            let sources: Vec<DatasetId> = self
                .multi_sources
                .iter()
                .copied()
                .filter(|&s| s != target && check_disjoint_ids(&[s], target).is_ok())
                .collect();
            if sources.len() > 1 {
                let spec = ServerSpec { sources };
                if !out.contains(&spec) {
                    out.push(spec);
                }
            }
        }
        out
    }
}

/// One point of a curve.
#[derive(Debug, Clone, PartialEq)]
pub struct PointStats {
    /// The size.
    pub size: Size,
    /// Mean labels per class of the draws (the x value).
    pub per_class: f64,
    /// Test accuracy (%) of each draw.
    pub runs: Vec<f64>,
}

impl PointStats {
    /// Mean accuracy (%).
    pub fn mean(&self) -> f64 {
        self.runs.iter().sum::<f64>() / self.runs.len().max(1) as f64
    }

    /// Sample standard deviation (%), 0 for one run.
    pub fn std(&self) -> f64 {
        let n = self.runs.len();
        if n < 2 {
            return 0.0;
        }
        let m = self.mean();
        (self.runs.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    }
}

/// One method's curve.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCurve {
    /// The method.
    pub method: Method,
    /// Its points, by size.
    pub points: Vec<PointStats>,
    /// For `auto`: how often each `family/features` was chosen, per size.
    pub choices: BTreeMap<Size, BTreeMap<String, usize>>,
}

impl MethodCurve {
    /// The point of `size`, if measured.
    pub fn at(&self, size: Size) -> Option<&PointStats> {
        self.points.iter().find(|p| p.size == size)
    }
}

/// A target's data for [`curves_on`]: the pool and the fixed test split, as
/// raw embeddings and (where a server is used) the server's features.
#[derive(Debug, Clone, Copy)]
pub struct CurveData<'a> {
    /// Class names.
    pub classes: &'a [String],
    /// Pool embeddings.
    pub raw_pool: &'a [Vec<f32>],
    /// Pool server features.
    pub server_pool: Option<&'a [Vec<f32>]>,
    /// Pool labels.
    pub y_pool: &'a [usize],
    /// Test embeddings.
    pub raw_test: &'a [Vec<f32>],
    /// Test server features.
    pub server_test: Option<&'a [Vec<f32>]>,
    /// Test labels.
    pub y_test: &'a [usize],
}

/// The sizes that fit a pool: `n` per class below the smallest class's
/// count, and `All`.
pub fn sizes_for(sizes: &[Size], y_pool: &[usize], classes: usize) -> Vec<Size> {
    let smallest = (0..classes)
        .map(|c| y_pool.iter().filter(|&&y| y == c).count())
        .min()
        .unwrap_or(0);
    sizes
        .iter()
        .copied()
        .filter(|s| match s {
            Size::PerClass(n) => *n < smallest,
            Size::All => true,
        })
        .collect()
}

/// The pool rows of draw `draw` at `size` (seeded by `seed`, the size and
/// the draw; sorted).
pub fn draw_rows(
    y_pool: &[usize],
    classes: usize,
    size: Size,
    draw: usize,
    seed: u64,
) -> Vec<usize> {
    match size {
        Size::All => (0..y_pool.len()).collect(),
        Size::PerClass(n) => {
            let mut rng = ChaCha8Rng::seed_from_u64(
                seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (draw as u64) << 48,
            );
            let mut rows = Vec::with_capacity(n * classes);
            for c in 0..classes {
                let mut of_class: Vec<usize> =
                    (0..y_pool.len()).filter(|&i| y_pool[i] == c).collect();
                of_class.shuffle(&mut rng);
                rows.extend(of_class.into_iter().take(n));
            }
            rows.sort_unstable();
            rows
        }
    }
}

/// The curves of `methods` on one target's data: every size of `sizes`
/// that fits the pool, `draws` draws each (in parallel), each method
/// trained on the draw and scored on the test split.
///
/// # Errors
/// Training failures; methods needing server features when none are given.
pub fn curves_on(
    data: &CurveData<'_>,
    methods: &[Method],
    sizes: &[Size],
    draws: usize,
    select: &SelectOptions,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<MethodCurve>, Error> {
    let classes = data.classes.len();
    let mut curves: Vec<MethodCurve> = methods
        .iter()
        .map(|&method| MethodCurve {
            method,
            points: Vec::new(),
            choices: BTreeMap::new(),
        })
        .collect();
    for size in sizes_for(sizes, data.y_pool, classes) {
        let started = Instant::now();
        // Per draw: its per-class count, and per method (accuracy %, choice).
        type DrawResult = (f64, Vec<(f64, String)>);
        let results: Vec<Result<DrawResult, Error>> = (0..draws)
            .into_par_iter()
            .map(|draw| {
                let rows = draw_rows(data.y_pool, classes, size, draw, seed);
                let pick = |x: &[Vec<f32>]| -> Vec<Vec<f32>> {
                    rows.iter().map(|&i| x[i].clone()).collect()
                };
                let raw = pick(data.raw_pool);
                let server = data.server_pool.map(pick);
                let y: Vec<usize> = rows.iter().map(|&i| data.y_pool[i]).collect();
                let per_class = rows.len() as f64 / classes as f64;
                // One cross-validation per draw: every method chooses from
                // its scores (a lone fixed method needs only its own).
                let mut options = match methods {
                    [m @ Method::Fixed(f, s)] if !m.is_auto() => select.clone().only(*f, *s),
                    _ => select.clone(),
                };
                options.mlp.seed = select.mlp.seed.wrapping_add(draw as u64);
                let search = CandidateSearch::run(
                    &raw,
                    server.as_deref(),
                    &y,
                    data.classes,
                    &options,
                    &mut |_| {},
                )?;
                let mut fitted: Vec<(Choice, f64, String)> = Vec::new();
                let scores = methods
                    .iter()
                    .map(|m| {
                        let choice = m.choose(&search, select).ok_or_else(|| {
                            Error::InvalidInput(format!("{} needs the server's features", m.name()))
                        })?;
                        if let Some((_, accuracy, name)) =
                            fitted.iter().find(|(c, _, _)| *c == choice)
                        {
                            return Ok((*accuracy, name.clone()));
                        }
                        let head = search.fit(choice)?;
                        let metrics =
                            head.evaluate(data.raw_test, data.server_test, data.y_test)?;
                        let name = format!("{}/{}", head.classifier().family(), head.features());
                        fitted.push((choice, metrics.accuracy * 100.0, name.clone()));
                        Ok((metrics.accuracy * 100.0, name))
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                Ok((per_class, scores))
            })
            .collect();
        let results = results.into_iter().collect::<Result<Vec<_>, Error>>()?;
        let per_class = results.iter().map(|r| r.0).sum::<f64>() / results.len().max(1) as f64;
        for (m, curve) in curves.iter_mut().enumerate() {
            curve.points.push(PointStats {
                size,
                per_class,
                runs: results.iter().map(|r| r.1[m].0).collect(),
            });
            if curve.method.is_auto() {
                let counts = curve.choices.entry(size).or_default();
                for r in &results {
                    *counts.entry(r.1[m].1.clone()).or_default() += 1;
                }
            }
        }
        progress(Progress::Stage(format!(
            "  {} per class: {} ({:.0} s)",
            size.label(),
            curves
                .iter()
                .filter_map(|c| c.points.last().map(|p| format!(
                    "{} {:.1}",
                    c.method.name(),
                    p.mean()
                )))
                .collect::<Vec<_>>()
                .join(", "),
            started.elapsed().as_secs_f64()
        )));
    }
    Ok(curves)
}

/// One server's curves on one target.
#[derive(Debug, Clone)]
pub struct ServerCurves {
    /// The server.
    pub server: ServerSpec,
    /// Its curves (transfer methods).
    pub curves: Vec<MethodCurve>,
    /// Pretraining validation accuracy per source (quantized model).
    pub pretrain_accuracy: Vec<(String, f64)>,
    /// Whether every decrypted feature equalled the quantized model's.
    pub exact: bool,
}

/// One target's curves.
#[derive(Debug, Clone)]
pub struct TargetCurves {
    /// The target.
    pub target: DatasetId,
    /// Class names.
    pub classes: Vec<String>,
    /// Pool and test sizes.
    pub pool: usize,
    /// Test samples.
    pub test: usize,
    /// The no-transfer baselines.
    pub baselines: Vec<MethodCurve>,
    /// Each server's curves.
    pub servers: Vec<ServerCurves>,
}

impl TargetCurves {
    /// The best baseline's mean at `size`.
    pub fn best_baseline(&self, size: Size) -> Option<f64> {
        self.baselines
            .iter()
            .filter_map(|c| c.at(size).map(PointStats::mean))
            .reduce(f64::max)
    }
}

/// The whole experiment.
#[derive(Debug, Clone)]
pub struct CurveTable {
    /// Per target.
    pub targets: Vec<TargetCurves>,
    /// The embedding model.
    pub embedding_model: String,
    /// Draws per size.
    pub draws: usize,
    /// Wall time.
    pub duration: Duration,
    /// When and where.
    pub date: String,
    /// The machine.
    pub machine: String,
}

/// A pretrained server: its quantized model and the per-source validation
/// accuracies of pretraining.
struct Server {
    model: QuantizedModel,
    accuracy: Vec<(String, f64)>,
}

/// Pretrains a server on its sources (capped).
fn pretrain_server(
    spec: &ServerSpec,
    options: &CurveOptions,
    embedder: &cryptotl::embed::Embedder,
    progress: &mut dyn FnMut(Progress),
) -> Result<Server, Error> {
    let sets = spec
        .sources
        .iter()
        .map(|&id| capped(id, options.max_source_samples, options))
        .collect::<Result<Vec<_>, Error>>()?;
    let source = pretrain_sources(embedder, &sets, &options.pretrain, &options.cache, progress)?;
    let accuracy = if source.sources.is_empty() {
        vec![(
            source.name.clone(),
            source.pretrained.report.quantized_validation_accuracy,
        )]
    } else {
        source
            .sources
            .iter()
            .map(|s| (s.name.clone(), s.quantized_validation_accuracy))
            .collect()
    };
    Ok(Server {
        model: source.pretrained.model,
        accuracy,
    })
}

/// A built-in data set, capped by a stratified seeded subsample.
fn capped(id: DatasetId, cap: Option<usize>, options: &CurveOptions) -> Result<Dataset, Error> {
    let full = load_dataset(&DataSource::Builtin(id), &options.cache)?;
    match cap {
        Some(max) => Ok(stratified_subsample(&full, max, options.seed)?),
        None => Ok(full),
    }
}

/// Runs the learning curves of every target through every server the
/// options give it, with the baselines.
///
/// # Errors
/// Any stage's failure; [`Error::NotExact`] if decrypted features ever
/// differ from the quantized model's.
pub fn learning_curves(
    options: &CurveOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CurveTable, Error> {
    let started = Instant::now();
    let embedder = options.embedding_model.load(&options.cache)?;
    let mut servers: BTreeMap<ServerSpec, Server> = BTreeMap::new();
    let mut out = Vec::new();
    for &target in &options.targets {
        let data = capped(target, options.max_target_samples, options)?;
        let classes = data.classes().to_vec();
        if classes.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "the target {target} has fewer than two classes"
            )));
        }
        let (pool, test) = split(&data, options.test_fraction, options.seed)?;
        progress(Progress::Stage(format!(
            "target {target}: embedding {} + {} texts (cached after the first run)",
            pool.len(),
            test.len()
        )));
        let raw_pool = embedder.embed_cached(pool.texts(), &options.cache)?;
        let raw_test = embedder.embed_cached(test.texts(), &options.cache)?;
        let base = CurveData {
            classes: &classes,
            raw_pool: &raw_pool,
            server_pool: None,
            y_pool: pool.labels(),
            raw_test: &raw_test,
            server_test: None,
            y_test: test.labels(),
        };
        progress(Progress::Stage(format!(
            "target {target}: no-transfer baselines"
        )));
        let baselines = curves_on(
            &base,
            &Method::BASELINES,
            &options.sizes,
            options.draws,
            &options.select,
            options.seed,
            progress,
        )?;
        let mut server_curves = Vec::new();
        for spec in options.servers_for(target) {
            if !servers.contains_key(&spec) {
                let server = pretrain_server(&spec, options, &embedder, progress)?;
                servers.insert(spec.clone(), server);
            }
            let server = &servers[&spec];
            progress(Progress::Stage(format!(
                "target {target} through {}: encrypted features of {} samples",
                spec.name(),
                pool.len() + test.len()
            )));
            let link = EncryptedLink::for_model(&server.model)?;
            let all: Vec<Vec<f32>> = raw_pool.iter().chain(&raw_test).cloned().collect();
            let (features, _) = link.exact_features(&server.model, &all, progress)?;
            let (f_pool, f_test) = features.split_at(raw_pool.len());
            let data = CurveData {
                server_pool: Some(f_pool),
                server_test: Some(f_test),
                ..base
            };
            progress(Progress::Stage(format!(
                "target {target} through {}: curves",
                spec.name()
            )));
            let methods: Vec<Method> = Method::TRANSFER
                .into_iter()
                .chain(options.guard_variants.iter().map(|&g| Method::AutoGuard(g)))
                .collect();
            let curves = curves_on(
                &data,
                &methods,
                &options.sizes,
                options.draws,
                &options.select,
                options.seed,
                progress,
            )?;
            server_curves.push(ServerCurves {
                server: spec,
                curves,
                pretrain_accuracy: server.accuracy.clone(),
                exact: true,
            });
        }
        out.push(TargetCurves {
            target,
            classes,
            pool: pool.len(),
            test: test.len(),
            baselines,
            servers: server_curves,
        });
    }
    Ok(CurveTable {
        targets: out,
        embedding_model: options.embedding_model.to_string(),
        draws: options.draws,
        duration: started.elapsed(),
        date: utc_date(std::time::SystemTime::now()),
        machine: machine_description(),
    })
}

/// Whether a target is in the domain of a server: one of its sources has
/// the target's task (sentiment, spam).
pub fn in_domain(target: DatasetId, server: &ServerSpec) -> bool {
    server.sources.iter().any(|s| s.task() == target.task())
}

/// The table of `auto` − best no-transfer baseline under each guard
/// (`auto` and its [`Method::AutoGuard`] variants), empty without variants.
fn guard_table(t: &TargetCurves, s: &ServerCurves, sizes: &[Size]) -> String {
    let autos: Vec<&MethodCurve> = s.curves.iter().filter(|c| c.method.is_auto()).collect();
    if autos.len() < 2 {
        return String::new();
    }
    let mut md = String::from("\nauto − best no-transfer baseline, by guard:\n\n| labels/class |");
    for c in &autos {
        let _ = write!(md, " {} |", c.method.name());
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(autos.len()));
    md.push('\n');
    for &size in sizes {
        let _ = write!(md, "| {} |", size.label());
        for c in &autos {
            match (c.at(size), t.best_baseline(size)) {
                (Some(a), Some(b)) => {
                    let _ = write!(md, " {:+.1} |", a.mean() - b);
                }
                _ => md.push_str(" – |"),
            }
        }
        md.push('\n');
    }
    md
}

fn fmt_point(p: Option<&PointStats>) -> String {
    p.map_or("–".into(), |p| {
        format!("{:.1} ± {:.1}", p.mean(), p.std())
    })
}

impl CurveTable {
    /// The plot of one target: the baselines and, for each method, its
    /// curve through the target's multi-source server (else its first
    /// server); `auto`'s guard variants are left to the tables.
    pub fn plot(&self, target: &TargetCurves) -> CurvePlot {
        let server = target
            .servers
            .iter()
            .find(|s| s.server.sources.len() > 1)
            .or_else(|| target.servers.first());
        let series = |curve: &MethodCurve, suffix: &str| CurveSeries {
            name: format!("{}{suffix}", curve.method.name()),
            points: curve
                .points
                .iter()
                .map(|p| CurvePoint {
                    x: p.per_class,
                    mean: p.mean(),
                    std: p.std(),
                })
                .collect(),
        };
        let mut all: Vec<CurveSeries> = target
            .baselines
            .iter()
            .map(|c| series(c, " (no transfer)"))
            .collect();
        let mut title = format!("{} ({})", target.target, self.embedding_model);
        if let Some(s) = server {
            all.extend(
                s.curves
                    .iter()
                    .filter(|c| !matches!(c.method, Method::AutoGuard(_)))
                    .map(|c| series(c, "")),
            );
            title.push_str(&format!(" — server: {}", s.server.name()));
        }
        CurvePlot {
            title,
            x_label: "labels per class (log scale)".into(),
            y_label: "test accuracy (%)".into(),
            series: all,
        }
    }

    /// The markdown report: per target and server, a table of mean ± std
    /// per size and method, auto's choices, and the statements of the
    /// targets; `plots` maps targets to their plot's relative path.
    pub fn to_markdown(&self, command: &str, plots: &BTreeMap<DatasetId, String>) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "Command: `{command}`  ");
        let _ = writeln!(
            md,
            "Embedding model: {}; {} draws per size; {} on {}; {:.0} s.\n",
            self.embedding_model,
            self.draws,
            self.date,
            self.machine,
            self.duration.as_secs_f64()
        );
        for t in &self.targets {
            let _ = writeln!(
                md,
                "### {} ({} classes; pool {}, test {})\n",
                t.target,
                t.classes.len(),
                t.pool,
                t.test
            );
            if let Some(p) = plots.get(&t.target) {
                let _ = writeln!(md, "![{} learning curves]({p})\n", t.target);
            }
            let sizes: Vec<Size> = t
                .baselines
                .first()
                .map_or_else(Vec::new, |c| c.points.iter().map(|p| p.size).collect());
            for s in &t.servers {
                let accuracy = s
                    .pretrain_accuracy
                    .iter()
                    .map(|(n, a)| format!("{n} {:.1} %", a * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(
                    md,
                    "Server **{}** (pretraining validation accuracy, quantized: {accuracy}; \
                     encrypted features bit-exact: {}):\n",
                    s.server.name(),
                    if s.exact { "yes" } else { "NO" }
                );
                let mut header = String::from("| labels/class |");
                let mut rule = String::from("|---|");
                let main: Vec<&MethodCurve> = t
                    .baselines
                    .iter()
                    .chain(&s.curves)
                    .filter(|c| !matches!(c.method, Method::AutoGuard(_)))
                    .collect();
                for c in &main {
                    let suffix = if Method::BASELINES.contains(&c.method) {
                        " (no transfer)"
                    } else {
                        ""
                    };
                    let _ = write!(header, " {}{suffix} |", c.method.name());
                    rule.push_str("---|");
                }
                header.push_str(" auto − best baseline |");
                rule.push_str("---|");
                let _ = writeln!(md, "{header}\n{rule}");
                for &size in &sizes {
                    let x = t.baselines[0].at(size).map_or(0.0, |p| p.per_class);
                    let mut row = match size {
                        Size::All => format!("| all ({x:.0}) |"),
                        Size::PerClass(n) => format!("| {n} |"),
                    };
                    for c in &main {
                        let _ = write!(row, " {} |", fmt_point(c.at(size)));
                    }
                    let auto = s
                        .curves
                        .iter()
                        .find(|c| c.method == Method::Auto)
                        .and_then(|c| c.at(size));
                    match (auto, t.best_baseline(size)) {
                        (Some(a), Some(b)) => {
                            let _ = write!(row, " {:+.1} |", a.mean() - b);
                        }
                        _ => row.push_str(" – |"),
                    }
                    let _ = writeln!(md, "{row}");
                }
                md.push_str(&guard_table(t, s, &sizes));
                if let Some(auto) = s.curves.iter().find(|c| c.method == Method::Auto) {
                    let choices: Vec<String> = auto
                        .choices
                        .iter()
                        .map(|(size, counts)| {
                            let picks = counts
                                .iter()
                                .map(|(k, v)| format!("{k} ×{v}"))
                                .collect::<Vec<_>>()
                                .join(", ");
                            format!("{}: {picks}", size.label())
                        })
                        .collect();
                    let _ = writeln!(md, "\nauto chose — {}.\n", choices.join("; "));
                }
            }
        }
        md.push_str(&self.statements_markdown());
        md
    }

    /// The targets, checked on these curves.
    pub fn statements_markdown(&self) -> String {
        let mut md = String::from("### Targets\n\n");
        // (a): auto never more than 0.5 point below the best baseline.
        let mut worst: Option<(f64, String)> = None;
        let mut misses = Vec::new();
        let mut cells = 0;
        for t in &self.targets {
            for s in &t.servers {
                let Some(auto) = s.curves.iter().find(|c| c.method == Method::Auto) else {
                    continue;
                };
                for p in &auto.points {
                    let Some(best) = t.best_baseline(p.size) else {
                        continue;
                    };
                    cells += 1;
                    let d = p.mean() - best;
                    let at = format!("{} via {} at {}", t.target, s.server.name(), p.size.label());
                    if d < -0.5 {
                        misses.push(format!("{at} ({d:+.2})"));
                    }
                    if worst.as_ref().is_none_or(|(w, _)| d < *w) {
                        worst = Some((d, at));
                    }
                }
            }
        }
        let _ = writeln!(
            md,
            "- (a) auto within 0.5 point of the best no-transfer baseline: {} of {cells} cells{}{}.",
            cells - misses.len(),
            worst.map_or(String::new(), |(d, at)| format!("; worst {d:+.2} ({at})")),
            if misses.is_empty() { String::new() } else { format!("; misses: {}", misses.join(", ")) }
        );
        // (b) and (c): gains at ≤ 32 labels per class.
        for (label, multi_only) in [
            ("(b) in the server's domain, any server", false),
            ("(c) multi-source server (leave one family out)", true),
        ] {
            let mut lines = Vec::new();
            for t in &self.targets {
                for s in &t.servers {
                    let multi = s.server.sources.len() > 1;
                    let counted = if multi_only {
                        multi
                    } else {
                        in_domain(t.target, &s.server)
                    };
                    if !counted {
                        continue;
                    }
                    let Some(auto) = s.curves.iter().find(|c| c.method == Method::Auto) else {
                        continue;
                    };
                    let gains: Vec<String> = auto
                        .points
                        .iter()
                        .filter(|p| matches!(p.size, Size::PerClass(n) if n <= 32))
                        .filter_map(|p| {
                            t.best_baseline(p.size)
                                .map(|b| format!("{}: {:+.1}", p.size.label(), p.mean() - b))
                        })
                        .collect();
                    let domain = if t.target.task() == Task::Spam {
                        "spam"
                    } else {
                        "sentiment"
                    };
                    lines.push(format!(
                        "{} ({domain}) via {}: {}",
                        t.target,
                        s.server.name(),
                        gains.join(", ")
                    ));
                }
            }
            let _ = writeln!(
                md,
                "- {label}, auto − best baseline at ≤ 32 labels per class: {}.",
                lines.join("; ")
            );
        }
        let exact = self
            .targets
            .iter()
            .all(|t| t.servers.iter().all(|s| s.exact));
        let _ = writeln!(
            md,
            "- (d) encrypted features bit-exact against the quantized model on every target and server: {}.",
            if exact { "yes" } else { "NO" }
        );
        md
    }
}
