//! A `cryptotl serve` on a loopback port and a remote client in one
//! process: the client fetches the card over HTTP, uploads its evaluation
//! keys, sends one encrypted batch and checks the features are exact.
//!
//! `cargo run --release -p cryptotl-serve --example loopback`

use std::process::ExitCode;

use cryptotl_he::Preset;
use cryptotl_protocol::{encrypted_features, synthetic, LowerClient};
use cryptotl_serve::{ClientOptions, RemoteServer, ServeError, ServerConfig, ServerHandle};

fn run() -> Result<bool, ServeError> {
    let d = 32;
    let train = synthetic::unit_vectors(300, d, 7);
    let (_, model, _) = synthetic::lower_model(d, &train, Preset::N8192, 7)?;
    let expected = train[..4]
        .iter()
        .map(|x| {
            model
                .graph
                .evaluate_integer(&model.graph.quantize_input(x)?)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(cryptotl_protocol::ProtocolError::from)?;
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = ServerHandle::spawn(model, ServerConfig::new(listen))?;
    println!("serving on {}", server.url());

    let remote = RemoteServer::connect(&server.url(), ClientOptions::default())?;
    let client = LowerClient::new(remote.card())?;
    let session = remote.open_session(&client.evaluation_key_bytes()?)?;
    let (features, stats) = encrypted_features(&client, &session, &train[..4], &mut |_, _| {})?;
    println!(
        "{} samples over HTTP: upload {} KB, download {} KB, {:.2} s at the server",
        stats.samples,
        stats.upload_bytes / 1024,
        stats.download_bytes / 1024,
        stats.server.as_secs_f64()
    );
    let exact = features == expected;
    println!("decrypted == quantized plaintext model: {exact}");
    Ok(exact)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
