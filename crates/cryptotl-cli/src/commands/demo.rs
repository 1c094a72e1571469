//! `cryptotl demo`: the whole pipeline on the bundled default (pretrain on
//! Rotten Tomatoes, transfer to UCI IMDB), float vs quantized vs encrypted.

use clap::Args;
use cryptotl::pipeline::{self, DataSource, TransferOptions};
use cryptotl::Error;

use super::Context;
use crate::flags::{HeadFlags, PretrainFlags};
use crate::print::print_demo;

/// Flags of `cryptotl demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
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

pub(crate) fn run(args: &DemoArgs, ctx: &mut Context) -> Result<(), Error> {
    let options = TransferOptions {
        source: args.source.clone(),
        target: args.target.clone(),
        test_fraction: args.test_fraction,
        seed: args.head.seed,
        pretrain: args.pretrain.config(),
        head: args.head.options(),
        head_hidden: args.head.hidden,
        head_members: args.head.heads,
        cache: ctx.cache.clone(),
        embedding_model: ctx.embedding_model.clone(),
    };
    let reporter = &mut ctx.reporter;
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
    Ok(())
}
