//! `cryptotl experiment`: the research experiments of
//! `cryptotl-experiments`, written as markdown.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use cryptotl::data::DatasetId;
use cryptotl::embed::ModelSource;
use cryptotl::Error;
use cryptotl_experiments::{
    learning_curves, transfer_table, CurveOptions, ExperimentOptions, ServerChoice, Size,
};

use super::Context;
use crate::flags::{folds_in_range, heads_in_range, CvFlags};

/// The experiments.
#[derive(Debug, Subcommand)]
pub(crate) enum ExperimentCommand {
    /// Transfer table: each source (rotten-tomatoes, crowdflower) × each
    /// target, float vs encrypted accuracy / macro F1 / kappa, plus two
    /// no-transfer baselines (head and logistic regression on raw
    /// embeddings); written as markdown.
    Transfer(TransferArgs),
    /// Learning curves: test accuracy against labels per class (8 … 256
    /// and all, seeded draws, one fixed test split per target) for every
    /// client choice (logistic regression or the MLP head on the server's
    /// features, the raw embedding or both), `auto`, and the no-transfer
    /// baselines, through single-source and multi-source servers; written
    /// as markdown with one SVG plot per target.
    Curve(CurveArgs),
}

/// Flags of `cryptotl experiment curve`.
#[derive(Debug, Args)]
pub(crate) struct CurveArgs {
    /// Targets (comma-separated built-in names) [default: the seven
    /// built-in targets].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    targets: Vec<DatasetId>,
    /// Servers: `single` (each pretraining source the provenance check
    /// allows), `multi` (one server per target pretrained on
    /// rotten-tomatoes, crowdflower, sms-spam and spamassassin minus the
    /// target's family) or `both`.
    #[arg(long, default_value = "both", value_parser = parse_servers)]
    servers: ServerChoice,
    /// The single pretraining sources of `--servers single|both`
    /// (comma-separated) [default: rotten-tomatoes, crowdflower].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    single_sources: Vec<DatasetId>,
    /// The sources of the multi-source servers, before the target's family
    /// is left out (comma-separated) [default: rotten-tomatoes,
    /// crowdflower, sms-spam, spamassassin].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    multi_sources: Vec<DatasetId>,
    /// Labels per class (comma-separated; `all` for the whole pool).
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_value = "8,16,32,64,128,256,all", value_parser = parse_size)]
    sizes: Vec<Size>,
    /// Seeded draws per size.
    #[arg(long, default_value_t = 5, value_parser = draws_in_range)]
    draws: usize,
    /// Fraction of each target held out as its fixed test split.
    #[arg(long, default_value_t = 0.3)]
    test_fraction: f64,
    /// Cap samples per target (stratified, seeded subsample).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    max_target_samples: usize,
    /// Cap samples per pretraining source.
    #[arg(long, value_name = "N", default_value_t = 15000)]
    max_source_samples: usize,
    #[command(flatten)]
    cv: CvFlags,
    /// Where to write the markdown [default: docs/curves/<embedding model>.md].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Parses `--servers`.
fn parse_servers(s: &str) -> Result<ServerChoice, String> {
    match s {
        "single" => Ok(ServerChoice::Single),
        "multi" => Ok(ServerChoice::Multi),
        "both" => Ok(ServerChoice::Both),
        other => Err(format!(
            "unknown servers {other:?}: expected single, multi or both"
        )),
    }
}

/// Parses one `--sizes` entry.
fn parse_size(s: &str) -> Result<Size, String> {
    match s {
        "all" => Ok(Size::All),
        n => match n.parse::<usize>() {
            Ok(k) if (2..=100_000).contains(&k) => Ok(Size::PerClass(k)),
            _ => Err(format!(
                "expected a count of labels per class (2 or more) or all, got {n:?}"
            )),
        },
    }
}

/// Parses `--draws`: 1 to 50.
fn draws_in_range(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(k) if (1..=50).contains(&k) => Ok(k),
        _ => Err(format!("expected 1 to 50 draws, got {s:?}")),
    }
}

#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
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

pub(crate) fn run(command: &ExperimentCommand, ctx: &mut Context) -> Result<(), Error> {
    match command {
        ExperimentCommand::Transfer(args) => transfer(args, ctx),
        ExperimentCommand::Curve(args) => curve(args, ctx),
    }
}

/// `cryptotl experiment curve`.
fn curve(args: &CurveArgs, ctx: &mut Context) -> Result<(), Error> {
    let mut options = CurveOptions::new(ctx.cache.clone());
    if !args.targets.is_empty() {
        options.targets = args.targets.clone();
    }
    options.servers = args.servers;
    if !args.single_sources.is_empty() {
        options.single_sources = args.single_sources.clone();
    }
    if !args.multi_sources.is_empty() {
        options.multi_sources = args.multi_sources.clone();
    }
    options.sizes = args.sizes.clone();
    options.draws = args.draws;
    options.test_fraction = args.test_fraction;
    options.max_target_samples = Some(args.max_target_samples);
    options.max_source_samples = Some(args.max_source_samples);
    options.select = args.cv.apply(options.select);
    options.embedding_model = ctx.embedding_model.clone();
    let model_name = ctx.embedding_model.to_string().replace(['/', '\\'], "_");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("docs/curves/{model_name}.md")));
    let dir = out.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        context: format!("creating {}", dir.display()),
        source: e,
    })?;
    let reporter = &mut ctx.reporter;
    let table = learning_curves(&options, &mut |p| reporter.progress(p))?;
    reporter.finish_bar();
    let mut plots = std::collections::BTreeMap::new();
    for t in &table.targets {
        let file = format!("{model_name}-{}.svg", t.target);
        table
            .plot(t)
            .write_svg(&dir.join(&file), 900, 560)
            .map_err(|e| Error::InvalidInput(format!("plotting {}: {e}", t.target)))?;
        plots.insert(t.target, file);
    }
    let command = std::iter::once("cryptotl".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let markdown = table.to_markdown(&command, &plots);
    std::fs::write(&out, &markdown).map_err(|e| Error::Io {
        context: format!("writing {}", out.display()),
        source: e,
    })?;
    println!("{markdown}");
    eprintln!(
        "wrote {} and {} plots in {}",
        out.display(),
        plots.len(),
        dir.display()
    );
    Ok(())
}

/// `cryptotl experiment transfer`.
fn transfer(args: &TransferArgs, ctx: &mut Context) -> Result<(), Error> {
    let mut options = ExperimentOptions::new(ctx.cache.clone());
    options.max_target_samples = args.max_target_samples;
    options.max_source_samples = args.max_source_samples;
    options.head_members = args.heads;
    options.folds = args.folds;
    options.embedding_model = ctx.embedding_model.clone();
    let reporter = &mut ctx.reporter;
    let table = transfer_table(&options, &mut |p| reporter.progress(p))?;
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
    if ctx.embedding_model != ModelSource::default() {
        command.push_str(&format!(" --embedding-model {}", ctx.embedding_model));
    }
    let markdown = table.to_markdown(&command);
    std::fs::write(&args.out, &markdown).map_err(|e| Error::Io {
        context: format!("writing {}", args.out.display()),
        source: e,
    })?;
    println!("{markdown}");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
