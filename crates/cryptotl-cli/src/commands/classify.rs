//! `cryptotl classify`: classify texts with a fine-tuned head, the features
//! computed under encryption.

use std::path::PathBuf;

use clap::Args;
use cryptotl::head::Ensemble;
use cryptotl::Error;

use super::Context;
use crate::features::{encrypted_client_features, load_local_model};
use crate::flags::{ClientFlags, ServerFlags};

/// Flags of `cryptotl classify`.
#[derive(Debug, Args)]
pub(crate) struct ClassifyArgs {
    #[command(flatten)]
    server: ServerFlags,
    #[command(flatten)]
    client: ClientFlags,
    /// The head file from `cryptotl finetune`.
    #[arg(long, value_name = "FILE")]
    head: PathBuf,
    /// Texts to classify.
    #[arg(long = "text", value_name = "TEXT", required_unless_present = "input")]
    texts: Vec<String>,
    /// A file with one text per line.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
}

pub(crate) fn run(args: &ClassifyArgs, ctx: &mut Context) -> Result<(), Error> {
    let head = Ensemble::load(&args.head)?;
    let mut texts = args.texts.clone();
    if let Some(path) = &args.input {
        let content = std::fs::read_to_string(path).map_err(|e| Error::Io {
            context: format!("reading {}", path.display()),
            source: e,
        })?;
        texts.extend(
            content
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned),
        );
    }
    if texts.is_empty() {
        return Err(Error::InvalidInput("no texts to classify".into()));
    }
    let embedder = ctx.embedding_model.load(&ctx.cache)?;
    let local_model = load_local_model(&args.server, embedder.dim())?;
    let x = embedder.embed(&texts)?;
    let features = encrypted_client_features(
        local_model,
        &args.server,
        &args.client,
        &x,
        &mut ctx.reporter,
    )?;
    // The head applies the preprocessing it was trained with.
    let proba = head.predict_proba(&features)?;
    let predictions = head.predict(&features)?;
    for ((text, p), c) in texts.iter().zip(&proba).zip(&predictions) {
        let name = head.class_names().get(*c).map_or("?", String::as_str);
        let confidence = p.get(*c).copied().unwrap_or(f32::NAN);
        println!("{name}\t{confidence:.3}\t{text}");
    }
    Ok(())
}
