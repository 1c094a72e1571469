//! `cryptotl finetune`: the client trains its head on a private labeled set,
//! on the server's features (computed under encryption), its own raw
//! embeddings, or both — by default the combination that cross-validates
//! best on its training data (`--head auto`).

use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use cryptotl::head::{
    select_head, train_ensemble, Classifier, ClientHead, DpOptions, Family, FeatureSet, HeadConfig,
    Preprocessing, SelectOptions, Trainer,
};
use cryptotl::pipeline::{self, DataSource};
use cryptotl::Error;

use super::Context;
use crate::features::{encrypted_client_features, load_local_model};
use crate::flags::{ClientFlags, CvFlags, HeadFlags, ServerFlags};
use crate::print::print_selection;

/// `--head`: a family, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadChoice {
    /// Chosen by cross-validation.
    Auto,
    /// Forced.
    Family(Family),
}

impl FromStr for HeadChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(HeadChoice::Auto),
            other => other
                .parse::<Family>()
                .map(HeadChoice::Family)
                .map_err(|_| format!("unknown head {other:?}: expected auto, mlp or logistic")),
        }
    }
}

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
    /// The head's model family: `auto` (the default: logistic regression
    /// with its L2 strength, or the MLP head, whichever cross-validates
    /// best on the training data, on whichever feature set does), `mlp`
    /// (CryptoTL's head) or `logistic`. Under --dp-epsilon: `mlp`.
    #[arg(long, value_name = "auto|mlp|logistic")]
    head: Option<HeadChoice>,
    /// The features the head reads: `server` (decrypted from the server's
    /// encrypted evaluation), `raw` (the embedding itself: no server
    /// needed), or `both` side by side. Default: every set is tried with
    /// `--head auto`; `server` with a forced family.
    #[arg(long, value_name = "server|raw|both")]
    features: Option<FeatureSet>,
    #[command(flatten)]
    cv: CvFlags,
    #[command(flatten)]
    train: HeadFlags,
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
    let dp = args
        .dp_epsilon
        .map(|e| DpOptions::new(e, args.dp_delta, args.dp_clip));
    if dp.is_some() {
        if args.train.heads > 1 {
            let k = args.train.heads;
            return Err(Error::InvalidInput(format!(
                "--heads {k} with --dp-epsilon: every head would spend the privacy budget \
                 again ({k} heads spend {k} × ε); train one head under DP"
            )));
        }
        if let Some(choice @ (HeadChoice::Auto | HeadChoice::Family(Family::Logistic))) = args.head
        {
            let name = match choice {
                HeadChoice::Auto => "auto",
                HeadChoice::Family(_) => "logistic",
            };
            return Err(Error::InvalidInput(format!(
                "--head {name} with --dp-epsilon: only the MLP head trains under DP-SGD \
                 (choosing by cross-validation would look at the private data without \
                 noise); use --head mlp"
            )));
        }
    }
    let choice = match (args.head, dp) {
        (Some(c), _) => c,
        (None, Some(_)) => HeadChoice::Family(Family::Mlp),
        (None, None) => HeadChoice::Auto,
    };
    let feature_sets: Vec<FeatureSet> = match (args.features, choice) {
        (Some(f), _) => vec![f],
        (None, HeadChoice::Auto) if args.server.is_given() => FeatureSet::ALL.to_vec(),
        (None, HeadChoice::Auto) => vec![FeatureSet::Raw],
        (None, HeadChoice::Family(_)) => vec![FeatureSet::Server],
    };
    let needs_server = feature_sets.iter().any(|f| f.needs_server());
    if needs_server && !args.server.is_given() {
        return Err(Error::InvalidInput(format!(
            "--features {}: the server's features are needed: give --model DIR or --server \
             URL (or --features raw)",
            feature_sets[0]
        )));
    }

    let cache = &ctx.cache;
    let reporter = &mut ctx.reporter;
    let data = pipeline::load_dataset(&args.target, cache)?;
    pipeline::check_trainable(&data)?;
    let embedder = ctx.embedding_model.load(cache)?;
    let local_model = load_local_model(&args.server, embedder.dim())?;
    let (train, test) = cryptotl::data::split(&data, args.test_fraction, args.train.seed)?;
    reporter.stage(&format!(
        "embedding {} texts of {}",
        data.len(),
        data.name()
    ));
    let x_train = embedder.embed_cached(train.texts(), cache)?;
    let x_test = embedder.embed_cached(test.texts(), cache)?;
    let server_features = if needs_server {
        let all: Vec<Vec<f32>> = x_train.iter().chain(&x_test).cloned().collect();
        Some(encrypted_client_features(
            local_model,
            &args.server,
            &args.client,
            &all,
            Some(&args.target),
            reporter,
        )?)
    } else {
        None
    };
    let (s_train, s_test) = match &server_features {
        Some(f) => {
            let (a, b) = f.split_at(x_train.len());
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    let classes = data.classes().to_vec();
    let head = match dp {
        Some(dp) => {
            reporter.stage("training the head with DP-SGD");
            let features = feature_sets[0];
            let x = features.compose(&x_train, s_train)?;
            let config = HeadConfig {
                hidden: args.train.hidden,
                // Standardization statistics would be computed from the
                // private data without noise: off under DP, where each
                // feature vector is scaled on its own instead (recorded in
                // the head file).
                standardize: false,
                preprocessing: Preprocessing::UnitNormSqrtDim,
                ..HeadConfig::new(x.first().map_or(0, Vec::len), classes.len())
            };
            let (ensemble, _) = train_ensemble(1, &args.train.options(), |options| {
                Trainer::new(config.clone(), options)
                    .class_names(classes.clone())
                    .differential_privacy(dp)
                    .fit(&x, train.labels())
            })?;
            ClientHead::new(features, Classifier::Mlp(ensemble))
        }
        None => {
            let families = match choice {
                HeadChoice::Auto => vec![Family::Logistic, Family::Mlp],
                HeadChoice::Family(f) => vec![f],
            };
            let options = args.cv.apply(SelectOptions {
                families,
                feature_sets,
                mlp_hidden: args.train.hidden,
                mlp_members: args.train.heads,
                mlp: args.train.options(),
                ..SelectOptions::default()
            });
            reporter.stage("choosing the head by cross-validation on the training data");
            let quiet = ctx.quiet;
            select_head(
                &x_train,
                s_train,
                train.labels(),
                &classes,
                &options,
                &mut |c| {
                    if !quiet {
                        eprintln!("          {c}");
                    }
                },
            )?
        }
    };
    print_selection(&head);
    if let Some(spent) = head
        .classifier()
        .training()
        .into_iter()
        .flatten()
        .find_map(|t| t.dp.as_ref())
    {
        println!(
            "differential privacy spent: ε = {:.3}, δ = {:e} (clip {}, noise multiplier {:.3})",
            spent.epsilon, spent.delta, spent.clip, spent.noise_multiplier
        );
    }
    head.save(&args.out)?;
    let metrics = head.evaluate(&x_test, s_test, test.labels())?;
    println!(
        "fine-tuned on {} ({} train); test ({} samples):\n{metrics}\nhead written to {}",
        data.name(),
        train.len(),
        test.len(),
        args.out.display()
    );
    Ok(())
}
