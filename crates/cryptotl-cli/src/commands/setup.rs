//! `cryptotl setup`: fetch the embedding model and data sets into the cache.

use clap::Args;
use cryptotl::data::DatasetId;
use cryptotl::Error;

use super::Context;

/// Flags of `cryptotl setup`.
#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    /// Data sets to fetch [default: rotten-tomatoes, uci-imdb].
    #[arg(long = "dataset", value_name = "NAME")]
    datasets: Vec<DatasetId>,
    /// Fetch every built-in data set.
    #[arg(long, conflicts_with = "datasets")]
    all: bool,
}

pub(crate) fn run(args: &SetupArgs, ctx: &mut Context) -> Result<(), Error> {
    let ids: Vec<DatasetId> = if args.all {
        DatasetId::all().to_vec()
    } else if args.datasets.is_empty() {
        vec![DatasetId::RottenTomatoes, DatasetId::UciImdb]
    } else {
        args.datasets.clone()
    };
    let cache = &ctx.cache;
    ctx.reporter.stage(&format!("cache: {}", cache.display()));
    ctx.reporter.stage("embedding model");
    let embedder = ctx.embedding_model.load(cache)?;
    println!(
        "embedding model {} ready ({} dimensions)",
        ctx.embedding_model,
        embedder.dim()
    );
    for id in ids {
        ctx.reporter.stage(&format!("data set {id}"));
        let (d, report) = cryptotl::data::load_clean(id, cache)?;
        println!(
            "{id}: {} samples after cleaning ({} removed), classes {:?} {:?}",
            d.len(),
            report.input_rows - report.output_rows,
            d.classes(),
            d.class_counts()
        );
    }
    Ok(())
}
