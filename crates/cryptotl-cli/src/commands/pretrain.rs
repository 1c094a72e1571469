//! `cryptotl pretrain`: the server pretrains its lower network on one or
//! several public labeled sets (one output head per set) and writes the
//! quantized model it serves.

use std::path::PathBuf;

use clap::Args;
use cryptotl::graph::FloatModel;
use cryptotl::pipeline::{self, DataSource, Progress};
use cryptotl::pretrain::{pretrain_multi, PretrainConfig, Source};
use cryptotl::Error;

use super::Context;
use crate::features::server_dir;
use crate::flags::PretrainFlags;

/// Flags of `cryptotl pretrain`.
#[derive(Debug, Args)]
pub(crate) struct PretrainArgs {
    /// Public labeled data: built-in names (see `cryptotl datasets`) or
    /// .csv/.tsv/.jsonl files with text and label columns, comma-separated.
    /// Several sources train one lower network with one output head each
    /// (multi-task), so that its features serve all their tasks; the model
    /// and its card list them.
    #[arg(
        long = "source",
        value_name = "NAME|FILE,...",
        value_delimiter = ',',
        default_value = "rotten-tomatoes"
    )]
    sources: Vec<DataSource>,
    /// Output directory: `server/` (the quantized model to serve) and
    /// `float/` (the float reference model).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    train: PretrainFlags,
}

pub(crate) fn run(args: &PretrainArgs, ctx: &mut Context) -> Result<(), Error> {
    let cache = &ctx.cache;
    let mut sets = Vec::with_capacity(args.sources.len());
    for source in &args.sources {
        let data = pipeline::load_dataset(source, cache)?;
        pipeline::check_trainable(&data)?;
        sets.push(data);
    }
    let names: Vec<String> = sets
        .iter()
        .map(|d| pipeline::source_name(d.name()))
        .collect();
    let embedder = ctx.embedding_model.load(cache)?;
    let mut inputs = Vec::with_capacity(sets.len());
    for data in &sets {
        ctx.reporter.stage(&format!(
            "embedding {} texts of {}",
            data.len(),
            data.name()
        ));
        inputs.push(embedder.embed_cached(data.texts(), cache)?);
    }
    ctx.reporter.stage("pretraining the lower network");
    let reporter = &mut ctx.reporter;
    let mut on_epoch = |e| reporter.progress(Progress::PretrainEpoch(e));
    let (mut model, float_model, accuracy) = match (sets.as_slice(), inputs.as_slice()) {
        ([data], [x]) => {
            let config = PretrainConfig {
                classes: data.classes().len(),
                ..args.train.config()
            };
            let pre = cryptotl::pretrain::pretrain(x, data.labels(), &config, &mut on_epoch)?;
            let accuracy = format!(
                "validation accuracy float {:.4}, quantized {:.4}",
                pre.report.float_validation_accuracy, pre.report.quantized_validation_accuracy
            );
            (pre.model, pre.float_model, accuracy)
        }
        _ => {
            let sources: Vec<Source<'_>> = sets
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
            let pre = pretrain_multi(&sources, &args.train.config(), &mut on_epoch)?;
            let accuracy = pre
                .sources
                .iter()
                .map(|s| {
                    format!(
                        "{} float {:.4} / quantized {:.4}",
                        s.name, s.float_validation_accuracy, s.quantized_validation_accuracy
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            (
                pre.model,
                pre.float_model,
                format!("validation accuracy {accuracy}"),
            )
        }
    };
    model.sources = names.clone();
    model.save(&server_dir(&args.out))?;
    FloatModel::save(&float_model, &args.out.join("float"))?;
    println!(
        "pretrained on {} ({} samples): {accuracy}; model written to {}",
        names.join(", "),
        sets.iter().map(|d| d.len()).sum::<usize>(),
        args.out.display()
    );
    Ok(())
}
