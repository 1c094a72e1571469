//! `cryptotl evaluate`: score a fine-tuned head on a labeled set.

use std::path::PathBuf;

use clap::Args;
use cryptotl::head::Ensemble;
use cryptotl::pipeline::{self, DataSource};
use cryptotl::Error;

use super::Context;
use crate::features::{encrypted_client_features, load_local_model};
use crate::flags::{ClientFlags, ServerFlags};

/// Flags of `cryptotl evaluate`.
#[derive(Debug, Args)]
pub(crate) struct EvaluateArgs {
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

pub(crate) fn run(args: &EvaluateArgs, ctx: &mut Context) -> Result<(), Error> {
    let head = Ensemble::load(&args.head)?;
    let data = pipeline::load_dataset(&args.target, &ctx.cache)?;
    if data.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the data set {} is empty",
            data.name()
        )));
    }
    let embedder = ctx.embedding_model.load(&ctx.cache)?;
    let local_model = load_local_model(&args.server, embedder.dim())?;
    let x = embedder.embed_cached(data.texts(), &ctx.cache)?;
    let features = encrypted_client_features(
        local_model,
        &args.server,
        &args.client,
        &x,
        &mut ctx.reporter,
    )?;
    // The head applies the preprocessing it was trained with.
    let metrics = head.evaluate(&features, data.labels())?;
    println!("{} ({} samples):\n{metrics}", data.name(), data.len());
    match head.training().flatten().find_map(|t| t.dp.as_ref()) {
        Some(dp) => println!(
            "differential privacy of the head's training: ε = {:.3}, δ = {:e}",
            dp.epsilon, dp.delta
        ),
        None => println!("differential privacy of the head's training: none (ε = ∞)"),
    }
    Ok(())
}
