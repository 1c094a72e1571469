//! `cryptotl serve`: serve one or more pretrained models' lower networks
//! over HTTP(S).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use cryptotl::graph::{OutputNoise, PackingChoice, QuantizedModel};
use cryptotl::serve::{
    check_model_name, sanitize_model_name, Limits, ServerConfig, TlsPaths, MAX_MODEL_NAME_LEN,
};
use cryptotl::{offer_packing, Error};

use super::Context;
use crate::features::{read_token, report_offer, server_dir};

/// One `--model [NAME=]DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelSpec {
    /// The name given explicitly (`NAME=DIR`), checked.
    name: Option<String>,
    /// The model directory.
    dir: PathBuf,
}

/// Parses `--model [NAME=]DIR`: `NAME=DIR` when the text before the first
/// `=` holds no path separator (a directory whose name holds `=` can be
/// written `./a=b`), then NAME must be a valid model name; else a
/// directory.
fn parse_model_spec(value: &str) -> Result<ModelSpec, String> {
    let is_separator = |c: char| c == '/' || std::path::is_separator(c);
    match value.split_once('=') {
        Some((name, dir)) if !name.contains(is_separator) => {
            check_model_name(name).map_err(|reason| {
                format!("{reason} (in `NAME=DIR`; write a directory whose name holds `=` as ./DIR)")
            })?;
            if dir.is_empty() {
                return Err(format!("no directory after `{name}=`"));
            }
            Ok(ModelSpec {
                name: Some(name.to_owned()),
                dir: PathBuf::from(dir),
            })
        }
        _ if value.is_empty() => Err("the model directory must not be empty".into()),
        _ => Ok(ModelSpec {
            name: None,
            dir: PathBuf::from(value),
        }),
    }
}

/// The last component of `dir` (resolving `.` and `..` through the file
/// system), or `model`.
fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            let full = dir.canonicalize().ok()?;
            full.file_name().map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "model".to_owned())
}

/// The served name of every `--model`, in order: explicit names as given
/// (unique), the others their directory's last component sanitized to
/// `[a-z0-9._-]` (at most 64 characters), with `-2`, `-3`, … appended to
/// names already taken.
fn model_names(specs: &[ModelSpec]) -> Result<Vec<String>, Error> {
    let mut taken = HashSet::new();
    for name in specs.iter().filter_map(|s| s.name.as_deref()) {
        if !taken.insert(name.to_owned()) {
            return Err(Error::InvalidInput(format!(
                "two --model flags are named `{name}`: model names must be unique"
            )));
        }
    }
    let mut names = Vec::with_capacity(specs.len());
    for spec in specs {
        let name = match &spec.name {
            Some(name) => name.clone(),
            None => {
                let base = sanitize_model_name(&dir_name(&spec.dir));
                let mut name = base.clone();
                let mut k = 2usize;
                while taken.contains(&name) {
                    let suffix = format!("-{k}");
                    let keep = base.len().min(MAX_MODEL_NAME_LEN - suffix.len());
                    // Sanitized names are ASCII: any cut is a character
                    // boundary.
                    name = format!("{}{suffix}", &base[..keep]);
                    k += 1;
                }
                taken.insert(name.clone());
                name
            }
        };
        names.push(name);
    }
    Ok(names)
}

/// Flags of `cryptotl serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// A model directory from `cryptotl pretrain` to serve (its `server/`
    /// part; weights never leave the server). Repeat to serve several lower
    /// networks at once; the first is the default (`GET /v1/model`). Each is
    /// served under a name: its directory's last component, lower-cased,
    /// other characters than a-z 0-9 . _ - made `-`, at most 64 characters,
    /// `-2`, `-3`, … added to repeats; or NAME, given as `NAME=DIR`.
    /// Clients pick a model by name (`GET /v1/models` lists them); each
    /// model a client uses costs it one session and one upload of its
    /// evaluation keys.
    #[arg(long, value_name = "[NAME=]DIR", required = true, value_parser = parse_model_spec)]
    model: Vec<ModelSpec>,
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
    /// Packings to offer, for every model: `auto` (batch, and slot packing
    /// when the model supports it — planned at start-up, a few seconds per
    /// model), `batch` only, or `slots` (fail at start-up if a model cannot
    /// be slot-packed). Slot packing is not combined with --output-noise.
    #[arg(long, default_value = "auto", value_name = "auto|batch|slots")]
    packing: PackingChoice,
    /// Log each request (never keys or ciphertexts).
    #[arg(long, short)]
    verbose: bool,
}

pub(crate) fn run(args: &ServeArgs, ctx: &mut Context) -> Result<(), Error> {
    let names = model_names(&args.model)?;
    let mut config = ServerConfig::new(args.listen);
    config.output_noise = args.output_noise.map(|sigma| OutputNoise {
        sigma,
        flooding_kappa: args.flooding_kappa,
    });
    let several = args.model.len() > 1;
    let mut models = Vec::with_capacity(names.len());
    for (name, spec) in names.iter().zip(&args.model) {
        let reporter = &mut ctx.reporter;
        if several {
            reporter.stage(&format!(
                "preparing model `{name}` ({})",
                spec.dir.display()
            ));
        }
        let model = QuantizedModel::load(&server_dir(&spec.dir))?;
        // Each server is prepared (its noise planned, re-planning the model
        // if its plaintext modulus has no room) once, here.
        let server = cryptotl::serve::prepare(model, &config)?;
        let (server, offer) = offer_packing(server, args.packing, || {
            reporter.stage("planning slot packing (calibration run)");
        })?;
        report_offer(&offer, reporter);
        models.push((name.clone(), server));
    }
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
    cryptotl::serve::run_prepared_many_until_signal(models, config, |addr| {
        if quiet {
            return;
        }
        match args.model.as_slice() {
            [only] => eprintln!(
                "serving {} as `{}` on {scheme}://{addr} (Ctrl-C to stop)",
                only.dir.display(),
                names[0]
            ),
            specs => {
                eprintln!(
                    "serving {} models on {scheme}://{addr} (Ctrl-C to stop):",
                    specs.len()
                );
                for (i, (name, spec)) in names.iter().zip(specs).enumerate() {
                    let default = if i == 0 { " (default)" } else { "" };
                    eprintln!("  {name}  {}{default}", spec.dir.display());
                }
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: &str) -> ModelSpec {
        parse_model_spec(value).unwrap()
    }

    #[test]
    fn model_flags_parse_as_name_and_directory() {
        assert_eq!(
            spec("models/minilm"),
            ModelSpec {
                name: None,
                dir: "models/minilm".into()
            }
        );
        assert_eq!(
            spec("mini=models/minilm"),
            ModelSpec {
                name: Some("mini".into()),
                dir: "models/minilm".into()
            }
        );
        // A directory with `=` in its name, written with a path separator.
        assert_eq!(spec("./a=b").name, None);
        assert_eq!(spec("x/a=b").dir, PathBuf::from("x/a=b"));
        for bad in [
            "",
            "=dir",
            "Mini=dir",
            "a b=dir",
            "a=",
            &format!("{}=d", "a".repeat(65)),
        ] {
            assert!(parse_model_spec(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn models_are_named_after_their_directories_uniquely() {
        let specs: Vec<ModelSpec> = [
            "runs/MiniLM L6",
            "other/minilm-l6/",
            "b=x/b",
            "y/b",
            "z/minilm-l6",
            &format!("w/{}", "q".repeat(80)),
            &format!("v/{}", "q".repeat(70)),
        ]
        .iter()
        .map(|v| spec(v))
        .collect();
        let names = model_names(&specs).unwrap();
        let long = "q".repeat(64);
        let long2 = format!("{}-2", "q".repeat(62));
        assert_eq!(
            names,
            [
                "minilm-l6",
                "minilm-l6-2",
                "b",
                "b-2",
                "minilm-l6-3",
                long.as_str(),
                long2.as_str()
            ]
        );
        for name in &names {
            check_model_name(name).unwrap();
        }
        let twice = [spec("a=x"), spec("a=y")];
        assert!(model_names(&twice).is_err());
    }
}
