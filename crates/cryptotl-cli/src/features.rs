//! Where the client's features come from: a model served in this process
//! (`--model DIR`) or a `cryptotl serve` over the network (`--server URL`).
//! Keys, encryption, the server's evaluation, decryption and
//! dequantization are the protocol's; this module picks the transport and
//! reports progress.

use std::path::{Path, PathBuf};

use cryptotl::graph::QuantizedModel;
use cryptotl::head::ClientHead;
use cryptotl::pipeline::{check_server_provenance, DataSource};
use cryptotl::serve::{ClientOptions, RemoteServer};
use cryptotl::{
    dequantize_features, encrypted_features_with_progress, local_server_packing, offer_packing,
    resolve_packing, EncryptedEvaluation, Error, LowerClient, LowerServer, ModelCard, SlotOffer,
};

use crate::commands::Context;
use crate::flags::{ClientFlags, ServerFlags};
use crate::print::print_exchange;
use crate::progress::Reporter;

/// The served part of a model directory from `cryptotl pretrain`.
pub(crate) fn server_dir(model: &Path) -> PathBuf {
    model.join("server")
}

/// Loads the model to serve in this process (`--model`), if any, and
/// refuses, before any embedding work, one whose input dimension is not the
/// embedder's (a remote server's card is checked on connect).
pub(crate) fn load_local_model(
    server: &ServerFlags,
    embedding_dim: usize,
) -> Result<Option<QuantizedModel>, Error> {
    let Some(dir) = &server.model else {
        return Ok(None);
    };
    let served = QuantizedModel::load(&server_dir(dir))?;
    let d = served.graph.input_dim();
    if d != embedding_dim {
        return Err(Error::InvalidInput(format!(
            "the model in {} takes {d}-dimensional inputs, but the embedding model \
             produces {embedding_dim}-dimensional embeddings",
            dir.display()
        )));
    }
    Ok(Some(served))
}

/// The bearer token in `path` (trimmed; an empty file is refused).
pub(crate) fn read_token(path: &Path) -> Result<String, Error> {
    let token = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("reading the token file {}", path.display()),
        source: e,
    })?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the token file {} is empty",
            path.display()
        )));
    }
    Ok(token)
}

/// Says what [`offer_packing`] did, where it matters.
pub(crate) fn report_offer(offer: &SlotOffer, reporter: &mut Reporter) {
    match offer {
        SlotOffer::NotWithOutputNoise | SlotOffer::Unavailable(_) => {
            reporter.stage(&offer.to_string());
        }
        _ => {}
    }
}

/// A client for `samples` samples against `card`, with the packing the
/// cost model picks (printed).
fn client_for(
    card: &ModelCard,
    flags: &ClientFlags,
    samples: usize,
    reporter: &mut Reporter,
) -> Result<LowerClient, Error> {
    let (choice, decision) = resolve_packing(card, flags.packing, samples)?;
    reporter.stage(&decision.to_string());
    Ok(LowerClient::new(card)?.with_packing(choice)?)
}

/// The client side of the encrypted feature exchange, against a model
/// served in this process or a remote `cryptotl serve`: keys, encryption,
/// evaluation by the server, decryption, dequantization.
///
/// With `target`, a server pretrained on the target's provenance family is
/// refused before any sample is encrypted.
pub(crate) fn encrypted_client_features(
    local_model: Option<QuantizedModel>,
    server: &ServerFlags,
    client_flags: &ClientFlags,
    embeddings: &[Vec<f32>],
    target: Option<&DataSource>,
    reporter: &mut Reporter,
) -> Result<Vec<Vec<f32>>, Error> {
    let local;
    let remote;
    let local_session;
    let remote_session;
    let (client, keys, session): (LowerClient, Vec<u8>, &dyn EncryptedEvaluation) =
        match (local_model, &server.server) {
            (Some(model), _) => {
                let choice = local_server_packing(client_flags.packing, embeddings.len());
                if let Some(target) = target {
                    check_server_provenance(&model.sources, target)?;
                }
                let (offered, offer) = offer_packing(LowerServer::new(model)?, choice, || {
                    reporter.stage("planning slot packing (calibration run)");
                })?;
                report_offer(&offer, reporter);
                local = offered;
                let client = client_for(local.card(), client_flags, embeddings.len(), reporter)?;
                let keys = client.evaluation_key_bytes()?;
                local_session = local.open_session(&keys)?;
                (client, keys, &local_session)
            }
            (None, Some(url)) => {
                let options = ClientOptions {
                    bearer_token: client_flags
                        .token_file
                        .as_deref()
                        .map(read_token)
                        .transpose()?,
                    ca_cert: client_flags.ca_cert.clone(),
                    ..ClientOptions::default()
                };
                remote = match &server.server_model {
                    Some(name) => {
                        reporter.stage(&format!("connecting to {url} (model `{name}`)"));
                        RemoteServer::connect_model(url, name, options)?
                    }
                    None => {
                        reporter.stage(&format!("connecting to {url}"));
                        RemoteServer::connect(url, options)?
                    }
                };
                if let Some(target) = target {
                    check_server_provenance(&remote.card().sources, target)?;
                }
                let client = client_for(remote.card(), client_flags, embeddings.len(), reporter)?;
                let keys = client.evaluation_key_bytes()?;
                reporter.stage("uploading evaluation keys (once per session)");
                remote_session = remote.open_session(&keys)?;
                (client, keys, &remote_session)
            }
            (None, None) => {
                return Err(Error::InvalidInput(
                    "the server's features are needed: give --model DIR or --server URL".into(),
                ))
            }
        };
    reporter.stage(&format!(
        "encrypting {} samples, evaluating under encryption, decrypting",
        embeddings.len()
    ));
    let (features, stats) =
        encrypted_features_with_progress(&client, session, embeddings, &mut |p| {
            reporter.exchange(p)
        })?;
    if !reporter.quiet {
        print_exchange(&stats, keys.len());
    }
    Ok(dequantize_features(&client, &features)?)
}

/// Raw embeddings, and the server's features when the head reads them.
pub(crate) type HeadInputs = (Vec<Vec<f32>>, Option<Vec<Vec<f32>>>);

/// What `head` reads for `texts`: their raw embeddings (cached on disk when
/// they are a labeled `target`'s, which is also checked against the
/// server's provenance), and the server's features when the head reads them (then
/// `--model` or `--server` is required; otherwise the server is not
/// contacted).
pub(crate) fn head_inputs<S: AsRef<str>>(
    head: &ClientHead,
    server: &ServerFlags,
    client: &ClientFlags,
    texts: &[S],
    target: Option<&DataSource>,
    ctx: &mut Context,
) -> Result<HeadInputs, Error> {
    if head.needs_server() && !server.is_given() {
        return Err(Error::InvalidInput(format!(
            "this head reads the server's features ({}): give --model DIR or --server URL",
            head.features()
        )));
    }
    let embedder = ctx.embedding_model.load(&ctx.cache)?;
    let local_model = if head.needs_server() {
        load_local_model(server, embedder.dim())?
    } else {
        None
    };
    let raw = if target.is_some() {
        embedder.embed_cached(texts, &ctx.cache)?
    } else {
        embedder.embed(texts)?
    };
    if !head.needs_server() {
        ctx.reporter
            .stage("the head reads the raw embeddings only: the server is not contacted");
        return Ok((raw, None));
    }
    let features =
        encrypted_client_features(local_model, server, client, &raw, target, &mut ctx.reporter)?;
    Ok((raw, Some(features)))
}
