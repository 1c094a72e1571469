//! `cryptotl evaluate`: score a fine-tuned head on a labeled set.

use std::path::PathBuf;

use clap::Args;
use cryptotl::head::ClientHead;
use cryptotl::pipeline::{self, DataSource};
use cryptotl::Error;

use super::Context;
use crate::features::head_inputs;
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
    let head = ClientHead::load(&args.head)?;
    let data = pipeline::load_dataset(&args.target, &ctx.cache)?;
    if data.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the data set {} is empty",
            data.name()
        )));
    }
    let (raw, server) = head_inputs(
        &head,
        &args.server,
        &args.client,
        data.texts(),
        Some(&args.target),
        ctx,
    )?;
    let metrics = head.evaluate(&raw, server.as_deref(), data.labels())?;
    println!("{} ({} samples):\n{metrics}", data.name(), data.len());
    match head
        .classifier()
        .training()
        .into_iter()
        .flatten()
        .find_map(|t| t.dp.as_ref())
    {
        Some(dp) => println!(
            "differential privacy of the head's training: ε = {:.3}, δ = {:e}",
            dp.epsilon, dp.delta
        ),
        None => println!("differential privacy of the head's training: none (ε = ∞)"),
    }
    Ok(())
}
