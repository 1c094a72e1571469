//! `cryptotl demo`: the whole pipeline on the bundled default — a server
//! pretrained on several public sets (sentiment and spam), a client with
//! UCI IMDB that picks its head by cross-validation — float vs quantized vs
//! encrypted, and the best head without the server.

use clap::Args;
use cryptotl::head::SelectOptions;
use cryptotl::pipeline::{self, DataSource, TransferOptions};
use cryptotl::Error;

use super::Context;
use crate::flags::{CvFlags, HeadFlags, PretrainFlags};
use crate::print::print_demo;

/// Flags of `cryptotl demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The server's public pretraining sets (comma-separated; several train
    /// one lower network with one output head each).
    #[arg(
        long = "source",
        value_name = "NAME|FILE,...",
        value_delimiter = ',',
        default_value = "rotten-tomatoes,crowdflower,sms-spam,spamassassin"
    )]
    sources: Vec<DataSource>,
    /// Cap on each pretraining set's samples (stratified, seeded
    /// subsample; 0 = no cap). Bounds the first run's embedding time.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    max_source_samples: usize,
    /// The client's private target set.
    #[arg(long, default_value = "uci-imdb")]
    target: DataSource,
    /// Fraction of the target held out for testing.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// The client's head: `auto` (family, feature set and λ chosen by
    /// cross-validation on the training part) or `mlp` (CryptoTL's head on
    /// the server's features, as in the paper).
    #[arg(long, default_value = "auto", value_name = "auto|mlp", value_parser = parse_head)]
    head: bool,
    #[command(flatten)]
    cv: CvFlags,
    #[command(flatten)]
    pretrain: PretrainFlags,
    #[command(flatten)]
    train: HeadFlags,
}

/// Parses `--head`: `auto` is true.
fn parse_head(s: &str) -> Result<bool, String> {
    match s {
        "auto" => Ok(true),
        "mlp" => Ok(false),
        other => Err(format!("unknown head {other:?}: expected auto or mlp")),
    }
}

pub(crate) fn run(args: &DemoArgs, ctx: &mut Context) -> Result<(), Error> {
    let select = args.head.then(|| {
        args.cv.apply(SelectOptions {
            mlp_hidden: args.train.hidden,
            mlp_members: args.train.heads,
            mlp: args.train.options(),
            ..SelectOptions::default()
        })
    });
    let options = TransferOptions {
        sources: args.sources.clone(),
        max_source_samples: (args.max_source_samples > 0).then_some(args.max_source_samples),
        target: args.target.clone(),
        test_fraction: args.test_fraction,
        seed: args.train.seed,
        pretrain: args.pretrain.config(),
        head: args.train.options(),
        head_hidden: args.train.hidden,
        head_members: args.train.heads,
        select,
        cache: ctx.cache.clone(),
        embedding_model: ctx.embedding_model.clone(),
    };
    let reporter = &mut ctx.reporter;
    let report = pipeline::run_transfer(&options, &mut |p| reporter.progress(p))?;
    reporter.finish_bar();
    print_demo(&report);
    if options.head_members > 1 {
        println!(
            "  heads: every MLP head is a seed ensemble of {} heads (probabilities averaged)",
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
