//! `cryptotl pretrain`: the server pretrains its lower network on a public
//! labeled set and writes the quantized model it serves.

use std::path::PathBuf;

use clap::Args;
use cryptotl::graph::FloatModel;
use cryptotl::pipeline::{self, DataSource, Progress};
use cryptotl::pretrain::PretrainConfig;
use cryptotl::Error;

use super::Context;
use crate::features::server_dir;
use crate::flags::PretrainFlags;

/// Flags of `cryptotl pretrain`.
#[derive(Debug, Args)]
pub(crate) struct PretrainArgs {
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

pub(crate) fn run(args: &PretrainArgs, ctx: &mut Context) -> Result<(), Error> {
    let cache = &ctx.cache;
    let data = pipeline::load_dataset(&args.source, cache)?;
    pipeline::check_trainable(&data)?;
    let embedder = ctx.embedding_model.load(cache)?;
    ctx.reporter.stage(&format!(
        "embedding {} texts of {}",
        data.len(),
        data.name()
    ));
    let x = embedder.embed_cached(data.texts(), cache)?;
    ctx.reporter.stage("pretraining the lower network");
    let config = PretrainConfig {
        classes: data.classes().len(),
        ..args.train.config()
    };
    let reporter = &mut ctx.reporter;
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
    Ok(())
}
