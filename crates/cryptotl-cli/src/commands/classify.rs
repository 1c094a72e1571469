//! `cryptotl classify`: classify texts with a fine-tuned head; the server's
//! features are computed under encryption when the head reads them.

use std::path::PathBuf;

use clap::Args;
use cryptotl::head::ClientHead;
use cryptotl::Error;

use super::Context;
use crate::features::head_inputs;
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
    let head = ClientHead::load(&args.head)?;
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
    let (raw, server) = head_inputs(&head, &args.server, &args.client, &texts, None, ctx)?;
    // The head composes its features and applies the preprocessing it was
    // trained with.
    let proba = head.predict_proba(&raw, server.as_deref())?;
    for (text, p) in texts.iter().zip(&proba) {
        let c = cryptotl::head::argmax(p);
        let name = head.class_names().get(c).map_or("?", String::as_str);
        let confidence = p.get(c).copied().unwrap_or(f32::NAN);
        println!("{name}\t{confidence:.3}\t{text}");
    }
    Ok(())
}
