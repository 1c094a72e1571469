//! `cryptotl serve`: serve a pretrained model's lower network over HTTP(S).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use cryptotl::graph::{OutputNoise, PackingChoice, QuantizedModel};
use cryptotl::serve::{Limits, ServerConfig, TlsPaths};
use cryptotl::{offer_packing, Error};

use super::Context;
use crate::features::{read_token, report_offer, server_dir};

/// Flags of `cryptotl serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The model directory from `cryptotl pretrain` (its `server/` part is
    /// served; weights never leave the server).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key, serves HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// File holding a bearer token that clients must send.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Evaluations run at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().max_concurrent_evaluations)]
    max_concurrent: usize,
    /// Largest batch (samples) per request.
    #[arg(long, default_value_t = Limits::default().max_batch_samples)]
    max_batch: usize,
    /// Seconds an idle session's keys are kept.
    #[arg(long, default_value_t = Limits::default().session_idle_ttl.as_secs())]
    session_ttl: u64,
    /// Add discrete Gaussian noise of this standard deviation (in integer
    /// feature units) to every returned feature, under encryption, and
    /// flood the responses' noise (see docs/privacy.md). Re-plans the
    /// plaintext modulus if the model has no room for it.
    #[arg(long, value_name = "SIGMA")]
    output_noise: Option<f64>,
    /// Statistical security parameter κ of noise flooding with
    /// --output-noise (0 = no flooding; 40 does not fit N = 8192 at the
    /// widest quantization, 30 does).
    #[arg(long, default_value_t = 30, requires = "output_noise")]
    flooding_kappa: u32,
    /// Packings to offer: `auto` (batch, and slot packing when the model
    /// supports it — planned at start-up, a few seconds), `batch` only, or
    /// `slots` (fail at start-up if the model cannot be slot-packed). Slot
    /// packing is not combined with --output-noise.
    #[arg(long, default_value = "auto", value_name = "auto|batch|slots")]
    packing: PackingChoice,
    /// Log each request (never keys or ciphertexts).
    #[arg(long, short)]
    verbose: bool,
}

pub(crate) fn run(args: &ServeArgs, ctx: &mut Context) -> Result<(), Error> {
    let model = QuantizedModel::load(&server_dir(&args.model))?;
    let mut config = ServerConfig::new(args.listen);
    config.output_noise = args.output_noise.map(|sigma| OutputNoise {
        sigma,
        flooding_kappa: args.flooding_kappa,
    });
    // The server is prepared (its noise planned, re-planning the model if
    // its plaintext modulus has no room) once, here.
    let server = cryptotl::serve::prepare(model, &config)?;
    let reporter = &mut ctx.reporter;
    let (server, offer) = offer_packing(server, args.packing, || {
        reporter.stage("planning slot packing (calibration run)");
    })?;
    report_offer(&offer, reporter);
    config.limits.max_concurrent_evaluations = args.max_concurrent.max(1);
    config.limits.max_batch_samples = args.max_batch.max(1);
    config.limits.session_idle_ttl = Duration::from_secs(args.session_ttl.max(1));
    config.bearer_token = args.token_file.as_deref().map(read_token).transpose()?;
    config.tls =
        args.tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(cert_chain, private_key)| TlsPaths {
                cert_chain,
                private_key,
            });
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    cryptotl::serve::install_stderr_logger(args.verbose);
    let quiet = ctx.quiet;
    cryptotl::serve::run_prepared_until_signal(server, config, |addr| {
        if !quiet {
            eprintln!(
                "serving {} on {scheme}://{addr} (Ctrl-C to stop)",
                args.model.display()
            );
        }
    })?;
    Ok(())
}
