//! `cryptotl finetune`: the client trains its head on a private labeled set
//! through the server's encrypted lower network.

use std::path::PathBuf;

use clap::Args;
use cryptotl::head::{train_ensemble, DpOptions, HeadConfig, Preprocessing, Trainer};
use cryptotl::pipeline::{self, DataSource};
use cryptotl::Error;

use super::Context;
use crate::features::{encrypted_client_features, load_local_model};
use crate::flags::{ClientFlags, HeadFlags, ServerFlags};

/// Flags of `cryptotl finetune`.
#[derive(Debug, Args)]
pub(crate) struct FinetuneArgs {
    #[command(flatten)]
    server: ServerFlags,
    #[command(flatten)]
    client: ClientFlags,
    /// Private labeled data: a built-in name or a .csv/.tsv/.jsonl file.
    #[arg(long)]
    target: DataSource,
    /// Where to write the head (safetensors).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Fraction of the data held out and reported as the test score.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    #[command(flatten)]
    head: HeadFlags,
    /// Train the head with DP-SGD to this ε (with --dp-delta, --dp-clip):
    /// Poisson-sampled batches, per-example clipping, Gaussian noise, a
    /// fixed number of epochs (--epochs) and no early stopping. The head
    /// file records the ε spent. See docs/privacy.md.
    #[arg(long, value_name = "EPSILON")]
    dp_epsilon: Option<f64>,
    /// δ of the DP guarantee (should be below 1 / training-set size).
    #[arg(long, default_value_t = 1e-5, requires = "dp_epsilon")]
    dp_delta: f64,
    /// Per-example gradient clipping norm C.
    #[arg(long, default_value_t = 1.0, requires = "dp_epsilon")]
    dp_clip: f64,
}

pub(crate) fn run(args: &FinetuneArgs, ctx: &mut Context) -> Result<(), Error> {
    if args.dp_epsilon.is_some() && args.head.heads > 1 {
        let k = args.head.heads;
        return Err(Error::InvalidInput(format!(
            "--heads {k} with --dp-epsilon: every head would spend the privacy budget \
             again ({k} heads spend {k} × ε); train one head under DP"
        )));
    }
    let cache = &ctx.cache;
    let reporter = &mut ctx.reporter;
    let data = pipeline::load_dataset(&args.target, cache)?;
    pipeline::check_trainable(&data)?;
    let embedder = ctx.embedding_model.load(cache)?;
    let local_model = load_local_model(&args.server, embedder.dim())?;
    let (train, test) = cryptotl::data::split(&data, args.test_fraction, args.head.seed)?;
    reporter.stage(&format!(
        "embedding {} texts of {}",
        data.len(),
        data.name()
    ));
    let x_train = embedder.embed_cached(train.texts(), cache)?;
    let x_test = embedder.embed_cached(test.texts(), cache)?;
    let all: Vec<Vec<f32>> = x_train.iter().chain(&x_test).cloned().collect();
    let features =
        encrypted_client_features(local_model, &args.server, &args.client, &all, reporter)?;
    let dp = args
        .dp_epsilon
        .map(|e| DpOptions::new(e, args.dp_delta, args.dp_clip));
    let (f_train, f_test) = features.split_at(x_train.len());
    reporter.stage(if dp.is_some() {
        "training the head with DP-SGD"
    } else {
        "training the head"
    });
    let config = HeadConfig {
        hidden: args.head.hidden,
        // Standardization statistics would be computed from the private
        // data without noise: off under DP, where each feature vector is
        // scaled on its own instead (recorded in the head file).
        standardize: dp.is_none(),
        preprocessing: if dp.is_some() {
            Preprocessing::UnitNormSqrtDim
        } else {
            Preprocessing::None
        },
        ..HeadConfig::new(f_train.first().map_or(0, Vec::len), data.classes().len())
    };
    let (head, reports) = train_ensemble(args.head.heads, &args.head.options(), |options| {
        let mut trainer =
            Trainer::new(config.clone(), options).class_names(data.classes().to_vec());
        if let Some(dp) = dp {
            trainer = trainer.differential_privacy(dp);
        }
        trainer.fit(f_train, train.labels())
    })?;
    let epochs = reports.iter().map(|r| r.epochs).max().unwrap_or(0);
    if let Some(spent) = head.training().flatten().find_map(|t| t.dp.as_ref()) {
        println!(
            "differential privacy spent: ε = {:.3}, δ = {:e} (clip {}, noise multiplier {:.3})",
            spent.epsilon, spent.delta, spent.clip, spent.noise_multiplier
        );
    }
    head.save(&args.out)?;
    let metrics = head.evaluate(f_test, test.labels())?;
    let heads = match head.len() {
        1 => String::new(),
        k => format!(", {k} heads averaged"),
    };
    println!(
        "fine-tuned on {} ({} train, {epochs} epochs{heads}); test ({} samples):\n{metrics}\nhead written to {}",
        data.name(),
        train.len(),
        test.len(),
        args.out.display()
    );
    Ok(())
}
