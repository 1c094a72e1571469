//! One client, one server, in one process: the server publishes its card,
//! the client makes keys from it, opens a session, encrypts a few samples,
//! and checks that the decrypted features equal the quantized plaintext
//! model's, bit for bit.
//!
//! `cargo run --release -p cryptotl-protocol --example round_trip [-- D]`
//! (D = input dimension, default 64).

use std::process::ExitCode;
use std::time::Instant;

use cryptotl_he::Preset;
use cryptotl_protocol::{encrypted_features, synthetic, LowerClient, LowerServer, ProtocolError};

fn run(d: usize) -> Result<bool, ProtocolError> {
    let train = synthetic::unit_vectors(500, d, 1);
    let (_, model, (bx, bw)) = synthetic::lower_model(d, &train, Preset::N8192, 1)?;
    let expected = train[..8]
        .iter()
        .map(|x| {
            model
                .graph
                .evaluate_integer(&model.graph.quantize_input(x)?)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let server = LowerServer::new(model)?;
    println!(
        "server: d = {d}, bits (input {bx}, weight {bw}); card {} bytes of JSON, no weights",
        server.card().to_json().len()
    );
    let t = Instant::now();
    let client = LowerClient::new(server.card())?;
    let keys = client.evaluation_key_bytes()?;
    println!(
        "client: keys in {:.2} s; evaluation keys {} KB (the secret key stays here)",
        t.elapsed().as_secs_f64(),
        keys.len() / 1024
    );
    let session = server.open_session(&keys)?;
    let (features, stats) = encrypted_features(&client, &session, &train[..8], &mut |_, _| {})?;
    println!(
        "exchange: {} samples, upload {} KB, download {} KB, server {:.2} s",
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
    let d = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 64,
        Some(Ok(d)) if (8..=768).contains(&d) => d,
        Some(_) => {
            eprintln!("usage: round_trip [D], D from 8 to 768");
            return ExitCode::FAILURE;
        }
    };
    match run(d) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
