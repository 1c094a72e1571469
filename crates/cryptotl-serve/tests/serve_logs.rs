//! The server's logs never contain key material, ciphertext bytes or full
//! session ids: everything logged while serving (at DEBUG level, hostile
//! requests included) is captured and searched for them.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cryptotl_he::Preset;
use cryptotl_protocol::{synthetic, EncryptedEvaluation, LowerClient};
use cryptotl_serve::{self as protocol, SessionCreated};
use cryptotl_serve::{ClientOptions, Limits, RemoteServer, ServerConfig, ServerHandle};

const D: usize = 16;

/// A writer appending to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Every way a run of secret bytes could show up in text.
fn renderings(bytes: &[u8]) -> Vec<String> {
    vec![
        hex(bytes),
        hex_upper(bytes),
        base64(bytes),
        format!("{bytes:?}"),
        bytes
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    ]
}

#[test]
fn logs_carry_no_keys_ciphertexts_or_session_ids() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let train = synthetic::unit_vectors(300, D, 11);
    let (_, model, _) = synthetic::lower_model(D, &train, Preset::N8192, 11).unwrap();
    let server = ServerHandle::spawn(
        model,
        ServerConfig {
            limits: Limits {
                max_batch_samples: 8,
                ..Limits::default()
            },
            ..ServerConfig::new("127.0.0.1:0".parse().unwrap())
        },
    )
    .unwrap();
    let base = server.url();
    let remote = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    let client = LowerClient::new(remote.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let session = remote.open_session(&keys).unwrap();
    let request = client
        .encrypt(&synthetic::unit_vectors(5, D, 3))
        .unwrap()
        .remove(0);
    let response = session.evaluate_request(&request).unwrap();

    // Hostile requests too: their bytes must not be echoed in logs or errors.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{base}{}", protocol::evaluate_path(&session.id()));
    let mut garbled = request.clone();
    garbled[40] ^= 0x55;
    garbled.truncate(garbled.len() - 7);
    let mut errors = String::new();
    for body in [&garbled[..], &keys[..]] {
        let mut r = agent
            .post(&url)
            .content_type("application/octet-stream")
            .send(body)
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        errors.push_str(&r.body_mut().read_to_string().unwrap());
    }
    let mut r = agent
        .post(&format!("{base}{}", protocol::SESSIONS_PATH))
        .content_type("application/octet-stream")
        .send(&keys[..keys.len() - 100])
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    errors.push_str(&r.body_mut().read_to_string().unwrap());
    let mut r = agent
        .post(&format!("{base}{}", protocol::SESSIONS_PATH))
        .content_type("application/octet-stream")
        .send(&keys[..])
        .unwrap();
    let second: SessionCreated =
        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    let session_id = session.id();
    drop(session);
    server.shutdown().unwrap();
    std::thread::sleep(Duration::from_millis(50));

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("batch evaluated"), "{logs}");
    assert!(logs.contains("session opened"), "{logs}");
    assert!(
        logs.contains(&session_id[..8]),
        "session prefixes are logged"
    );
    for id in [&session_id, &second.session_id] {
        assert!(!logs.contains(id.as_str()), "a full session id was logged");
    }
    // Runs of bytes from the bodies (past their public headers), in every
    // common rendering, appear neither in logs nor in error answers.
    let mut secrets = Vec::new();
    for body in [&keys, &request, &response, &garbled] {
        for at in [40, body.len() / 2, body.len() - 24] {
            secrets.push(&body[at..at + 12]);
        }
    }
    for s in secrets {
        for r in renderings(s) {
            assert!(!logs.contains(&r), "logs contain body bytes ({r})");
            assert!(
                !errors.contains(&r),
                "error answers contain body bytes ({r})"
            );
        }
    }
}
