//! The network service end to end: a real server on an ephemeral loopback
//! port, the HTTP client transport, hostile inputs, concurrency, overload,
//! TLS, bearer tokens, metrics and graceful shutdown.

use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use cryptotl_graph::QuantizedModel;
use cryptotl_he::Preset;
use cryptotl_protocol::{
    synthetic, EncryptedEvaluation, ExchangeProgress, LowerClient, LowerServer, Transfer,
};
use cryptotl_serve::ServeError as Error;
use cryptotl_serve::{self as protocol, ErrorBody, SessionCreated};
use cryptotl_serve::{
    ClientOptions, Limits, RemoteServer, RetryPolicy, ServerConfig, ServerHandle,
};

const D: usize = 16;

/// The served model, built once.
fn model() -> &'static QuantizedModel {
    static M: OnceLock<QuantizedModel> = OnceLock::new();
    M.get_or_init(|| {
        let train = synthetic::unit_vectors(300, D, 11);
        synthetic::lower_model(D, &train, Preset::N8192, 11)
            .unwrap()
            .1
    })
}

/// A model for other parameters (another dimension), built once.
fn foreign_model() -> &'static QuantizedModel {
    static M: OnceLock<QuantizedModel> = OnceLock::new();
    M.get_or_init(|| {
        let train = synthetic::unit_vectors(300, D + 8, 14);
        synthetic::lower_model(D + 8, &train, Preset::N8192, 14)
            .unwrap()
            .1
    })
}

fn config(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        ..ServerConfig::new("127.0.0.1:0".parse().unwrap())
    }
}

fn spawn(limits: Limits) -> ServerHandle {
    ServerHandle::spawn(model().clone(), config(limits)).unwrap()
}

fn fast_retries() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_retries: 20,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        },
        ..ClientOptions::default()
    }
}

/// The quantized plaintext model's integer features.
fn expected(client: &LowerClient, xs: &[Vec<f32>]) -> Vec<Vec<i64>> {
    model()
        .graph
        .evaluate_integer_batch(&client.quantize(xs).unwrap())
        .unwrap()
}

/// A raw HTTP agent that reports every status (no retries).
fn raw() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

/// Status, `Retry-After` and the parsed error body of an answer.
fn refusal(mut r: ureq::http::Response<ureq::Body>) -> (u16, Option<String>, Option<ErrorBody>) {
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.body_mut().read_to_vec().unwrap();
    (status, retry, serde_json::from_slice(&body).ok())
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> ureq::http::Response<ureq::Body> {
    agent
        .post(url)
        .content_type("application/octet-stream")
        .header("expect", "100-continue")
        .send(body)
        .unwrap()
}

fn open_raw(agent: &ureq::Agent, base: &str, keys: &[u8]) -> String {
    let mut r = post(agent, &format!("{base}{}", protocol::SESSIONS_PATH), keys);
    assert_eq!(r.status().as_u16(), 201);
    let created: SessionCreated =
        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    created.session_id
}

/// Asserts a 4xx with the given code and a readable message.
fn assert_refused(r: ureq::http::Response<ureq::Body>, status: u16, code: &str) -> String {
    let (got, _, body) = refusal(r);
    let body = body.unwrap_or_else(|| panic!("status {got}: no JSON error body"));
    assert_eq!(
        (got, body.error.as_str()),
        (status, code),
        "{}",
        body.message
    );
    assert!(body.message.len() > 10, "unclear message: {}", body.message);
    body.message
}

#[test]
fn features_over_http_equal_the_in_process_session() {
    let server = spawn(Limits::default());
    let remote = RemoteServer::connect(&server.url(), ClientOptions::default()).unwrap();
    let local = LowerServer::new(model().clone()).unwrap();
    assert_eq!(remote.card(), local.card());
    assert!(!remote.card().to_json().contains("weight"));

    let client = LowerClient::new(remote.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let session = remote.open_session(&keys).unwrap();
    let in_process = local.open_session(&keys).unwrap();

    let xs = synthetic::unit_vectors(37, D, 21);
    let (over_http, stats) =
        cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {}).unwrap();
    let (local_features, _) =
        cryptotl_protocol::encrypted_features(&client, &in_process, &xs, &mut |_, _| {}).unwrap();
    assert!(
        over_http == local_features,
        "HTTP and in-process features differ"
    );
    assert!(
        over_http == expected(&client, &xs),
        "not exact against the model"
    );
    assert_eq!((stats.samples, stats.batches), (37, 1));

    // The same request gives the same bytes either way (the default limits
    // stream this response: see the streaming test).
    let request = client.encrypt(&xs).unwrap().remove(0);
    let a = session.evaluate_request(&request).unwrap();
    let b = in_process.evaluate(&request).unwrap();
    assert!(a == b, "HTTP and in-process response bytes differ");

    let health = remote.health().unwrap();
    assert_eq!((health.status.as_str(), health.sessions), ("ok", 1));
    session.close().unwrap();
    assert_eq!(remote.health().unwrap().sessions, 0);
    server.shutdown().unwrap();
}

/// The text of `GET /metrics`.
fn metrics_text(agent: &ureq::Agent, base: &str) -> String {
    agent
        .get(&format!("{base}{}", protocol::METRICS_PATH))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Large responses are streamed ciphertext by ciphertext; streamed or
/// built whole, the bytes on the wire are exactly the in-process session's,
/// with their length announced.
#[test]
fn streamed_responses_are_byte_identical_to_the_in_process_path() {
    let local = LowerServer::new(model().clone()).unwrap();
    let client = LowerClient::new(local.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let request = client
        .encrypt(&synthetic::unit_vectors(5, D, 23))
        .unwrap()
        .remove(0);
    let expected = local
        .open_session(&keys)
        .unwrap()
        .evaluate(&request)
        .unwrap();
    let (_, ciphertexts) = protocol::peek_batch_shape(&expected).unwrap();
    assert!(ciphertexts > 1, "a one-ciphertext response tests little");
    // The default threshold streams this model's responses.
    assert!(expected.len() >= Limits::default().stream_response_bytes);

    for (threshold, streamed) in [
        (0, 1),
        (usize::MAX, 0),
        (Limits::default().stream_response_bytes, 1),
    ] {
        let server = spawn(Limits {
            stream_response_bytes: threshold,
            ..Limits::default()
        });
        let base = server.url();
        let agent = raw();
        let id = open_raw(&agent, &base, &keys);
        let mut r = post(
            &agent,
            &format!("{base}{}", protocol::evaluate_path(&id)),
            &request,
        );
        assert_eq!(r.status().as_u16(), 200);
        let announced: usize = r
            .headers()
            .get("content-length")
            .expect("the length is announced")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(announced, expected.len());
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap();
        assert!(body == expected, "threshold {threshold}: bytes differ");
        let m = metrics_text(&agent, &base);
        assert_eq!(
            metric(&m, "cryptotl_responses_streamed_total"),
            streamed,
            "threshold {threshold}"
        );
        assert!(metric(&m, "cryptotl_response_bytes_total") >= expected.len() as u64);
        server.shutdown().unwrap();
    }
}

/// The HTTP client reports uploads and downloads by bytes, as they move,
/// through the exchange's progress.
#[test]
fn the_client_reports_progress_by_bytes() {
    let server = spawn(Limits::default());
    let remote = RemoteServer::connect(&server.url(), ClientOptions::default()).unwrap();
    let client = LowerClient::new(remote.card()).unwrap();
    let session = remote
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    let xs = synthetic::unit_vectors(6, D, 29);
    let mut events = Vec::new();
    let (features, stats) =
        cryptotl_protocol::encrypted_features_with_progress(&client, &session, &xs, &mut |p| {
            events.push(p)
        })
        .unwrap();
    assert!(features == expected(&client, &xs));
    assert_eq!(
        events.first(),
        Some(&ExchangeProgress::Started {
            samples: 6,
            batches: 1
        })
    );
    assert_eq!(
        events.last(),
        Some(&ExchangeProgress::Samples { done: 6, total: 6 })
    );
    let uploads: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            ExchangeProgress::Transfer {
                batch: 0,
                transfer: Transfer::Upload { sent, total },
            } => Some((*sent, *total)),
            _ => None,
        })
        .collect();
    let downloads: Vec<(u64, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            ExchangeProgress::Transfer {
                batch: 0,
                transfer: Transfer::Download { received, total },
            } => Some((*received, *total)),
            _ => None,
        })
        .collect();
    // Several reports per request, increasing, ending at the full size.
    assert!(uploads.len() > 1, "upload reported {} times", uploads.len());
    assert!(
        downloads.len() > 1,
        "download reported {} times",
        downloads.len()
    );
    assert!(uploads.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(downloads.windows(2).all(|w| w[0].0 < w[1].0));
    let up = stats.upload_bytes as u64;
    let down = stats.download_bytes as u64;
    assert_eq!(uploads.last(), Some(&(up, up)));
    assert_eq!(downloads.last(), Some(&(down, Some(down))));
    // Uploads come before downloads.
    let first_download = events
        .iter()
        .position(|e| {
            matches!(
                e,
                ExchangeProgress::Transfer {
                    transfer: Transfer::Download { .. },
                    ..
                }
            )
        })
        .unwrap();
    assert!(events[first_download..].iter().all(|e| !matches!(
        e,
        ExchangeProgress::Transfer {
            transfer: Transfer::Upload { .. },
            ..
        }
    )));
}

#[test]
fn hostile_inputs_get_clear_4xx_answers_and_the_server_keeps_serving() {
    let server = spawn(Limits {
        max_body_bytes: 8 << 20,
        max_batch_samples: 4,
        ..Limits::default()
    });
    let base = server.url();
    let agent = raw();
    let client =
        LowerClient::new(&LowerServer::new(model().clone()).unwrap().card().clone()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let id = open_raw(&agent, &base, &keys);
    let eval_url = format!("{base}{}", protocol::evaluate_path(&id));
    let good = client
        .encrypt(&synthetic::unit_vectors(3, D, 13))
        .unwrap()
        .remove(0);

    // Truncated, garbled, empty, trailing garbage.
    let m = assert_refused(
        post(&agent, &eval_url, &good[..good.len() / 2]),
        400,
        "malformed_request",
    );
    assert!(m.contains("batch"), "{m}");
    let mut bad = good.clone();
    bad[0] ^= 0xff;
    assert_refused(post(&agent, &eval_url, &bad), 400, "malformed_request");
    assert_refused(post(&agent, &eval_url, &[]), 400, "malformed_request");
    assert_refused(
        post(&agent, &eval_url, b"garbage garbage garbage"),
        400,
        "malformed_request",
    );
    let mut long = good.clone();
    long.extend_from_slice(&[1, 2, 3]);
    assert_refused(post(&agent, &eval_url, &long), 400, "malformed_request");

    // Wrong parameter fingerprint: a request made for another model.
    let other = LowerClient::new(
        &LowerServer::new(foreign_model().clone())
            .unwrap()
            .card()
            .clone(),
    )
    .unwrap();
    let foreign = other
        .encrypt(&synthetic::unit_vectors(2, D + 8, 15))
        .unwrap()
        .remove(0);
    let m = assert_refused(post(&agent, &eval_url, &foreign), 400, "foreign_parameters");
    assert!(m.contains("fingerprint"), "{m}");

    // Oversized body.
    let m = assert_refused(
        post(&agent, &eval_url, &vec![0u8; (8 << 20) + 1]),
        413,
        "body_too_large",
    );
    assert!(m.contains("at most"), "{m}");

    // Too many samples in one batch.
    let five = client
        .encrypt(&synthetic::unit_vectors(5, D, 16))
        .unwrap()
        .remove(0);
    let m = assert_refused(post(&agent, &eval_url, &five), 413, "batch_too_large");
    assert!(m.contains("5 samples"), "{m}");

    // Unknown sessions: well-formed but never opened, and junk ids.
    let unknown = format!("{base}{}", protocol::evaluate_path(&"0".repeat(32)));
    assert_refused(post(&agent, &unknown, &good), 404, "unknown_session");
    let junk = format!("{base}/v1/sessions/..%2F..%2Fetc/evaluate");
    assert_refused(post(&agent, &junk, &good), 404, "unknown_session");
    let deleted = open_raw(&agent, &base, &keys);
    let r = agent
        .delete(&format!("{base}{}", protocol::session_path(&deleted)))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let gone = format!("{base}{}", protocol::evaluate_path(&deleted));
    assert_refused(post(&agent, &gone, &good), 404, "unknown_session");

    // Malformed, truncated and foreign keys.
    let sessions = format!("{base}{}", protocol::SESSIONS_PATH);
    assert_refused(
        post(&agent, &sessions, &keys[..keys.len() - 1]),
        400,
        "malformed_keys",
    );
    assert_refused(post(&agent, &sessions, b"not keys"), 400, "malformed_keys");
    let m = assert_refused(
        post(&agent, &sessions, &other.evaluation_key_bytes().unwrap()),
        400,
        "foreign_parameters",
    );
    assert!(m.contains("keys"), "{m}");

    // Wrong content type, wrong method, unknown endpoint.
    let r = agent
        .post(&eval_url)
        .content_type("application/json")
        .send(&good[..])
        .unwrap();
    assert_refused(r, 415, "unsupported_media_type");
    assert_refused(
        agent.get(&eval_url).call().unwrap(),
        405,
        "method_not_allowed",
    );
    assert_refused(
        agent.get(&format!("{base}/v2/model")).call().unwrap(),
        404,
        "not_found",
    );

    // The session still works, exactly.
    let mut r = post(&agent, &eval_url, &good);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/octet-stream"
    );
    assert_eq!(r.headers().get(protocol::PROTOCOL_HEADER).unwrap(), "1");
    let features = client
        .decrypt_integers(
            &r.body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_vec()
                .unwrap(),
        )
        .unwrap();
    assert!(features == expected(&client, &synthetic::unit_vectors(3, D, 13)));

    // Rejections are counted by reason; ids never appear in the metrics.
    let text = agent
        .get(&format!("{base}{}", protocol::METRICS_PATH))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        text.contains("cryptotl_rejections_total{reason=\"malformed_request\"} 5"),
        "{text}"
    );
    assert!(text.contains("cryptotl_rejections_total{reason=\"batch_too_large\"} 1"));
    assert!(text.contains("endpoint=\"/v1/sessions/{id}/evaluate\",status=\"200\"} 1"));
    assert!(text.contains("cryptotl_evaluation_seconds_count"));
    assert!(!text.contains(&id));
}

#[test]
fn expired_sessions_are_refused_and_the_client_reopens_them() {
    let server = spawn(Limits {
        session_idle_ttl: Duration::from_millis(300),
        ..Limits::default()
    });
    let base = server.url();
    let agent = raw();
    let remote = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    let client = LowerClient::new(remote.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let xs = synthetic::unit_vectors(2, D, 31);
    let request = client.encrypt(&xs).unwrap().remove(0);

    let id = open_raw(&agent, &base, &keys);
    let session = remote.open_session(&keys).unwrap();
    let first = session.id();
    std::thread::sleep(Duration::from_millis(700));
    let url = format!("{base}{}", protocol::evaluate_path(&id));
    let m = assert_refused(post(&agent, &url, &request), 410, "session_expired");
    assert!(m.contains("expired"), "{m}");

    // The HTTP transport opens a new session with the same keys, once.
    let out = session.evaluate_request(&request).unwrap();
    assert_ne!(session.id(), first);
    assert!(client.decrypt_integers(&out).unwrap() == expected(&client, &xs));
}

#[test]
fn the_session_memory_cap_evicts_the_least_recently_used() {
    let local = LowerServer::new(model().clone()).unwrap();
    let probe = LowerClient::new(local.card()).unwrap();
    let key_len = probe.evaluation_key_bytes().unwrap().len();
    // A session costs its keys as held in memory (the model is shared),
    // several times their upload.
    let resident = local
        .open_session(&probe.evaluation_key_bytes().unwrap())
        .unwrap()
        .key_bytes();
    assert!(resident > 2 * key_len, "{resident} vs {key_len}");
    let server = spawn(Limits {
        // Room for two sessions.
        max_session_bytes: 2 * resident + resident / 2,
        ..Limits::default()
    });
    let base = server.url();
    let agent = raw();
    let keys = probe.evaluation_key_bytes().unwrap();
    let request = probe
        .encrypt(&synthetic::unit_vectors(1, D, 3))
        .unwrap()
        .remove(0);
    let ids: Vec<String> = (0..4).map(|_| open_raw(&agent, &base, &keys)).collect();
    let health: protocol::Health = serde_json::from_slice(
        &agent
            .get(&format!("{base}{}", protocol::HEALTH_PATH))
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        health.sessions, 2,
        "two sessions fit, the others were evicted"
    );
    // Sessions are accounted by their keys alone: no copy of the model.
    let m = metrics_text(&agent, &base);
    assert_eq!(
        metric(&m, "cryptotl_session_key_bytes"),
        2 * resident as u64
    );
    let url = format!("{base}{}", protocol::evaluate_path(&ids[0]));
    assert_refused(post(&agent, &url, &request), 410, "session_evicted");
    let url = format!("{base}{}", protocol::evaluate_path(&ids[3]));
    assert_eq!(post(&agent, &url, &request).status().as_u16(), 200);
}

#[test]
fn eight_concurrent_clients_all_complete_exactly() {
    let server = spawn(Limits {
        max_concurrent_evaluations: 2,
        max_queued_evaluations: 2,
        ..Limits::default()
    });
    let url = server.url();
    let start = Arc::new(Barrier::new(8));
    let workers: Vec<_> = (0..8u64)
        .map(|i| {
            let url = url.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let remote = RemoteServer::connect(&url, fast_retries()).unwrap();
                let client = LowerClient::new(remote.card()).unwrap();
                let session = remote
                    .open_session(&client.evaluation_key_bytes().unwrap())
                    .unwrap();
                let xs = synthetic::unit_vectors(3 + i as usize, D, 100 + i);
                start.wait();
                let (features, _) =
                    cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {})
                        .unwrap();
                features == expected(&client, &xs)
            })
        })
        .collect();
    for (i, w) in workers.into_iter().enumerate() {
        assert!(w.join().unwrap(), "client {i} got wrong features");
    }
}

#[test]
fn overload_gets_503_with_retry_after_and_retrying_clients_succeed() {
    let server = spawn(Limits {
        max_concurrent_evaluations: 1,
        max_queued_evaluations: 0,
        ..Limits::default()
    });
    let base = server.url();
    let remote = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    let client = Arc::new(LowerClient::new(remote.card()).unwrap());
    let keys = client.evaluation_key_bytes().unwrap();
    let id = open_raw(&raw(), &base, &keys);
    let xs = synthetic::unit_vectors(4, D, 41);
    let request = Arc::new(client.encrypt(&xs).unwrap().remove(0));

    // Without retries: with one slot, simultaneous requests are refused.
    let n = 6;
    let start = Arc::new(Barrier::new(n));
    let url = format!("{base}{}", protocol::evaluate_path(&id));
    let answers: Vec<_> = (0..n)
        .map(|_| {
            let (url, start, request) = (url.clone(), Arc::clone(&start), Arc::clone(&request));
            std::thread::spawn(move || {
                let agent = raw();
                start.wait();
                refusal(post(&agent, &url, &request))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(answers.iter().any(|(s, _, _)| *s == 200), "{answers:?}");
    assert!(!busy.is_empty(), "no request was refused: {answers:?}");
    for (_, retry_after, body) in &busy {
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body.as_ref().unwrap().error.as_str(), "server_busy");
    }

    // With retries (honouring Retry-After): every client gets its features.
    let n = 3;
    let start = Arc::new(Barrier::new(n));
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (base, start, client, keys) = (
                base.clone(),
                Arc::clone(&start),
                Arc::clone(&client),
                keys.clone(),
            );
            let xs = xs.clone();
            std::thread::spawn(move || {
                let remote = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
                let session = remote.open_session(&keys).unwrap();
                start.wait();
                let (f, _) =
                    cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {})
                        .unwrap();
                f
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().unwrap() == expected(&client, &xs));
    }
    let text = raw()
        .get(&format!("{base}{}", protocol::METRICS_PATH))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        text.contains("cryptotl_rejections_total{reason=\"server_busy\"}"),
        "{text}"
    );
}

#[test]
fn bearer_tokens_are_required_and_checked() {
    let server = ServerHandle::spawn(
        model().clone(),
        ServerConfig {
            bearer_token: Some("s3cret-token".into()),
            ..config(Limits::default())
        },
    )
    .unwrap();
    let base = server.url();
    let agent = raw();
    let model_url = format!("{base}{}", protocol::MODEL_PATH);
    let m = assert_refused(agent.get(&model_url).call().unwrap(), 401, "unauthorized");
    assert!(m.contains("Bearer"), "{m}");
    let r = agent
        .get(&model_url)
        .header("authorization", "Bearer s3cret-tokeN")
        .call()
        .unwrap();
    assert_refused(r, 401, "unauthorized");
    let r = agent
        .post(&format!("{base}{}", protocol::SESSIONS_PATH))
        .send(&b"x"[..])
        .unwrap();
    assert_refused(r, 401, "unauthorized");
    // Health stays open for load balancers.
    let r = agent
        .get(&format!("{base}{}", protocol::HEALTH_PATH))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let wrong = ClientOptions {
        bearer_token: Some("nope".into()),
        ..ClientOptions::default()
    };
    let err = RemoteServer::connect(&base, wrong).unwrap_err();
    assert!(matches!(err, Error::Remote { status: 401, .. }), "{err}");
    let right = ClientOptions {
        bearer_token: Some("s3cret-token".into()),
        ..ClientOptions::default()
    };
    let remote = RemoteServer::connect(&base, right).unwrap();
    let client = LowerClient::new(remote.card()).unwrap();
    let session = remote
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    let xs = synthetic::unit_vectors(2, D, 51);
    let (f, _) =
        cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {}).unwrap();
    assert!(f == expected(&client, &xs));
}

#[test]
fn tls_with_a_private_ca_works_end_to_end() {
    let dir = std::env::temp_dir().join(format!("cryptotl-serve-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let server = ServerHandle::spawn(
        model().clone(),
        ServerConfig {
            tls: Some(cryptotl_serve::TlsPaths {
                cert_chain: cert.clone(),
                private_key: key,
            }),
            ..config(Limits::default())
        },
    )
    .unwrap();
    let url = format!("https://localhost:{}", server.local_addr().port());
    let options = ClientOptions {
        ca_cert: Some(cert),
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    let remote = RemoteServer::connect(&url, options).unwrap();
    let client = LowerClient::new(remote.card()).unwrap();
    let session = remote
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    let xs = synthetic::unit_vectors(2, D, 61);
    let (f, _) =
        cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {}).unwrap();
    assert!(f == expected(&client, &xs));

    // Without the CA the certificate is refused; plain HTTP gets nowhere.
    let no_ca = ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    assert!(RemoteServer::connect(&url, no_ca.clone()).is_err());
    let plain = format!("http://127.0.0.1:{}", server.local_addr().port());
    assert!(RemoteServer::connect(&plain, no_ca).is_err());
    drop(session);
    server.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_drains_in_flight_requests() {
    use std::io::{Read, Write};

    let server = spawn(Limits::default());
    let base = server.url();
    let remote = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    let client = LowerClient::new(remote.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let id = open_raw(&raw(), &base, &keys);
    let xs = synthetic::unit_vectors(8, D, 71);
    let request = client.encrypt(&xs).unwrap().remove(0);

    // A slow upload: headers and half the body, then (after the shutdown
    // began) the rest. The request must still be answered in full.
    let mut tcp = std::net::TcpStream::connect(server.local_addr()).unwrap();
    write!(
        tcp,
        "POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        protocol::evaluate_path(&id),
        request.len()
    )
    .unwrap();
    let half = request.len() / 2;
    tcp.write_all(&request[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stopper = std::thread::spawn(move || server.shutdown());
    std::thread::sleep(Duration::from_millis(300));
    tcp.write_all(&request[half..]).unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).unwrap();
    stopper.join().unwrap().unwrap();

    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body = &answer[split + 4..];
    assert!(client.decrypt_integers(body).unwrap() == expected(&client, &xs));
    // The server is gone.
    assert!(raw()
        .get(&format!("{base}{}", protocol::HEALTH_PATH))
        .call()
        .is_err());
}

#[test]
fn output_noise_over_http_stays_within_the_advertised_bound() {
    let noise = cryptotl_graph::OutputNoise {
        sigma: 8.0,
        flooding_kappa: 30,
    };
    let mut model = model().clone();
    cryptotl_protocol::plan_model_for_noise(&mut model, &noise).unwrap();
    let noisy_config = ServerConfig {
        output_noise: Some(noise),
        ..config(Limits::default())
    };
    // A prepared server must add the noise the configuration asks for.
    let plain = LowerServer::new(model.clone()).unwrap();
    let err = ServerHandle::spawn_prepared(plain, noisy_config.clone()).unwrap_err();
    assert!(err.to_string().contains("output noise"), "{err}");
    // Prepared once (noise planned once), then served as is.
    let prepared = LowerServer::with_output_noise(model.clone(), noise).unwrap();
    let server = ServerHandle::spawn_prepared(prepared, noisy_config).unwrap();
    let remote = RemoteServer::connect(&server.url(), fast_retries()).unwrap();
    let advertised = remote
        .card()
        .output_noise
        .expect("the card advertises the noise");
    assert_eq!(advertised.sigma, 8.0);
    let client = LowerClient::new(remote.card()).unwrap();
    let session = remote
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    let xs = synthetic::unit_vectors(12, D, 31);
    let (got, _) =
        cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {}).unwrap();
    let clean = model
        .graph
        .evaluate_integer_batch(&client.quantize(&xs).unwrap())
        .unwrap();
    let diffs: Vec<i64> = got
        .iter()
        .flatten()
        .zip(clean.iter().flatten())
        .map(|(a, b)| a - b)
        .collect();
    assert_eq!(diffs.len(), 12 * model.graph.output_dim());
    assert!(diffs
        .iter()
        .all(|d| d.unsigned_abs() <= advertised.tail_bound));
    assert!(diffs.iter().any(|&d| d != 0), "no noise was added");
}

/// Slot packing over HTTP: the card advertises the plan and rotation steps,
/// a session uploads the slot keys once, one sample goes slot-packed and
/// many go batch-packed (`auto`), both exact; slot keys the card does not
/// list are refused with a 4xx and the server keeps serving.
#[test]
fn slot_packing_over_http_is_exact_and_chosen_by_the_cost_model() {
    use cryptotl_graph::{Packing, PackingChoice};
    let prepared = LowerServer::new(model().clone())
        .unwrap()
        .with_slot_packing()
        .unwrap();
    let server = ServerHandle::spawn_prepared(prepared, config(Limits::default())).unwrap();
    let remote = RemoteServer::connect(&server.url(), ClientOptions::default()).unwrap();
    let slots = remote
        .card()
        .slots
        .clone()
        .expect("the card offers slot packing");
    assert_eq!(slots.rotations, slots.plan.layout.rotations());
    let client = LowerClient::new(remote.card())
        .unwrap()
        .with_packing(PackingChoice::Auto)
        .unwrap();
    let session = remote
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    for (n, packing) in [(1, Packing::Slots), (200, Packing::Batch)] {
        let xs = synthetic::unit_vectors(n, D, 40 + n as u64);
        let (features, stats) =
            cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {}).unwrap();
        assert_eq!(stats.packing.unwrap().packing, packing, "{n} samples");
        assert!(features == expected(&client, &xs), "{n} samples not exact");
    }
    // Slot keys that are not the card's rotations: a clear 4xx.
    let agent = raw();
    let mut keys = client.evaluation_key_bytes().unwrap();
    let batch_len = LowerClient::new(remote.card())
        .unwrap()
        .evaluation_key_bytes()
        .unwrap()
        .len();
    keys.truncate(batch_len + 40);
    let r = post(
        &agent,
        &format!("{}{}", server.url(), protocol::SESSIONS_PATH),
        &keys,
    );
    assert!((400..500).contains(&r.status().as_u16()), "{}", r.status());
    // Still serving.
    let x = synthetic::unit_vectors(1, D, 9);
    let (again, _) =
        cryptotl_protocol::encrypted_features(&client, &session, &x, &mut |_, _| {}).unwrap();
    assert!(again == expected(&client, &x));
    server.shutdown().unwrap();
}
