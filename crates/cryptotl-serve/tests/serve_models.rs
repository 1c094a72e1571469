//! Several lower networks served at once (`cryptotl serve --model A
//! --model B`): a real server on an ephemeral loopback port with two models
//! of different weights, the model list, sessions opened by model name,
//! clear refusals of unknown and malformed names, and the single-model API
//! unchanged.

use std::sync::OnceLock;
use std::time::Duration;

use cryptotl_graph::QuantizedModel;
use cryptotl_he::Preset;
use cryptotl_protocol::{synthetic, EncryptedEvaluation, LowerClient, LowerServer};
use cryptotl_serve::ServeError as Error;
use cryptotl_serve::{self as protocol, ErrorBody, ModelInfo, ModelList, SessionCreated};
use cryptotl_serve::{ClientOptions, Limits, RemoteServer, ServerConfig, ServerHandle};

const D: usize = 16;

/// Two models of the same shape and different weights (different seeds);
/// the second names its pretraining sources.
fn models() -> &'static [QuantizedModel; 2] {
    static M: OnceLock<[QuantizedModel; 2]> = OnceLock::new();
    M.get_or_init(|| {
        let make = |seed: u64| {
            let train = synthetic::unit_vectors(300, D, seed);
            synthetic::lower_model(D, &train, Preset::N8192, seed)
                .unwrap()
                .1
        };
        let mut beta = make(12);
        beta.sources = vec!["rotten-tomatoes".into(), "sms-spam".into()];
        [make(11), beta]
    })
}

const NAMES: [&str; 2] = ["alpha", "beta.v2"];

fn config(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        ..ServerConfig::new("127.0.0.1:0".parse().unwrap())
    }
}

/// Both models, `alpha` the default.
fn spawn_two(limits: Limits) -> ServerHandle {
    let prepared = NAMES
        .iter()
        .zip(models())
        .map(|(name, m)| ((*name).to_owned(), LowerServer::new(m.clone()).unwrap()))
        .collect();
    ServerHandle::spawn_prepared_many(prepared, config(limits)).unwrap()
}

/// `model`'s integer features (the quantized plaintext evaluation).
fn expected(model: &QuantizedModel, client: &LowerClient, xs: &[Vec<f32>]) -> Vec<Vec<i64>> {
    model
        .graph
        .evaluate_integer_batch(&client.quantize(xs).unwrap())
        .unwrap()
}

/// A raw HTTP agent that reports every status (no retries).
fn raw() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> ureq::http::Response<ureq::Body> {
    agent.get(url).call().unwrap()
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> ureq::http::Response<ureq::Body> {
    agent
        .post(url)
        .content_type("application/octet-stream")
        .header("expect", "100-continue")
        .send(body)
        .unwrap()
}

fn json<T: serde::de::DeserializeOwned>(mut r: ureq::http::Response<ureq::Body>) -> T {
    assert!(r.status().is_success(), "status {}", r.status());
    serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap()
}

/// Asserts an error answer with the given status and code and a readable
/// message; returns the message.
fn assert_refused(mut r: ureq::http::Response<ureq::Body>, status: u16, code: &str) -> String {
    let got = r.status().as_u16();
    let bytes = r.body_mut().read_to_vec().unwrap();
    let body: ErrorBody = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("status {got}: no JSON error body"));
    assert_eq!(
        (got, body.error.as_str()),
        (status, code),
        "{}",
        body.message
    );
    assert!(body.message.len() > 10, "unclear message: {}", body.message);
    body.message
}

/// A client of `remote`'s model, its keys, some samples and their
/// features through a remote session.
fn features_over_http(remote: &RemoteServer, seed: u64) -> (LowerClient, Vec<Vec<i64>>) {
    let client = LowerClient::new(remote.card()).unwrap();
    let session = remote
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    let xs = synthetic::unit_vectors(9, D, seed);
    let (features, stats) =
        cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |_, _| {}).unwrap();
    assert_eq!(stats.samples, 9);
    (client, features)
}

#[test]
fn two_models_are_served_at_once_each_exactly() {
    let server = spawn_two(Limits::default());
    let base = server.url();
    let agent = raw();
    let cards: Vec<_> = models()
        .iter()
        .map(|m| LowerServer::new(m.clone()).unwrap().card().clone())
        .collect();
    assert_ne!(cards[0].model_fingerprint, cards[1].model_fingerprint);

    // The list: both models, the default first, with their cards' facts.
    let list: ModelList = json(get(&agent, &format!("{base}{}", protocol::MODELS_PATH)));
    assert_eq!(list.default, NAMES[0]);
    let names: Vec<&str> = list.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, NAMES);
    for (summary, card) in list.models.iter().zip(&cards) {
        assert_eq!(summary.model_fingerprint, card.model_fingerprint);
        assert_eq!(
            (summary.input_dim, summary.output_dim),
            (card.input_dim, card.output_dim)
        );
        assert_eq!(summary.input_dim, D);
        assert_eq!(summary.sources, card.sources);
    }
    assert_eq!(list.models[1].sources, ["rotten-tomatoes", "sms-spam"]);
    assert!(list.models[0].sources.is_empty());

    // `/v1/model` is the default model's description, naming all models.
    let info: ModelInfo = json(get(&agent, &format!("{base}{}", protocol::MODEL_PATH)));
    assert_eq!(info.name.as_deref(), Some(NAMES[0]));
    assert_eq!(info.models, NAMES);
    assert_eq!(info.card, cards[0]);
    // `/v1/models/{name}` each model's.
    for (name, card) in NAMES.iter().zip(&cards) {
        let info: ModelInfo = json(get(
            &agent,
            &format!("{base}{}", protocol::model_path(name)),
        ));
        assert_eq!(info.name.as_deref(), Some(*name));
        assert_eq!(&info.card, card);
        assert_eq!(info.models, NAMES);
    }

    // The client: the default model by `connect`, each by name.
    let default = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    assert_eq!(default.model_name(), Some(NAMES[0]));
    assert_eq!(default.models(), NAMES);
    assert_eq!(default.card(), &cards[0]);
    assert_eq!(default.list_models().unwrap(), list);
    let mut all = Vec::new();
    for ((name, card), model) in NAMES.iter().zip(&cards).zip(models()) {
        let remote = RemoteServer::connect_model(&base, name, ClientOptions::default()).unwrap();
        assert_eq!(remote.model_name(), Some(*name));
        assert_eq!(remote.models(), NAMES);
        assert_eq!(remote.card(), card);
        // Bit-exact against this model's integer evaluation.
        let (client, features) = features_over_http(&remote, 21);
        let xs = synthetic::unit_vectors(9, D, 21);
        assert!(
            features == expected(model, &client, &xs),
            "{name}: not exact against its model"
        );
        all.push(features);
    }
    assert!(all[0] != all[1], "two models gave the same features");
    // The default session is the first model's.
    let (client, features) = features_over_http(&default, 21);
    let xs = synthetic::unit_vectors(9, D, 21);
    assert!(features == expected(&models()[0], &client, &xs));
    server.shutdown().unwrap();
}

#[test]
fn unknown_and_malformed_model_names_are_refused_clearly() {
    let server = spawn_two(Limits::default());
    let base = server.url();
    let agent = raw();
    let remote = RemoteServer::connect_model(&base, NAMES[1], ClientOptions::default()).unwrap();
    let client = LowerClient::new(remote.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let long = "a".repeat(200);

    // Describing a model.
    let url = |name: &str| format!("{base}{}/{name}", protocol::MODELS_PATH);
    let m = assert_refused(get(&agent, &url("gamma")), 404, "unknown_model");
    assert!(m.contains("gamma") && m.contains("/v1/models"), "{m}");
    for bad in ["Alpha", "a%20b", "-a", "%FF", "a%2Fb", &long] {
        let m = assert_refused(get(&agent, &url(bad)), 400, "malformed_request");
        assert!(!m.contains(&long), "the name was echoed: {m}");
    }

    // Opening a session.
    let open = |query: &str| post(&agent, &format!("{base}/v1/sessions?{query}"), &keys);
    assert_refused(open("model=gamma"), 404, "unknown_model");
    for bad in [
        "model=",
        "model=Alpha",
        "model=a%20b",
        "model=.",
        "model",
        "foo=bar",
        "model=alpha&model=beta.v2",
        "model=alpha&x=1",
        &format!("model={long}"),
    ] {
        let m = assert_refused(open(bad), 400, "malformed_request");
        assert!(!m.contains(&long), "the query was echoed: {m}");
    }
    // A good name opens a session; an empty query is the default model's.
    let created: SessionCreated = json(open("model=beta.v2"));
    assert_eq!(created.session_id.len(), 32);
    let alpha = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    let alpha_keys = LowerClient::new(alpha.card())
        .unwrap()
        .evaluation_key_bytes()
        .unwrap();
    let url = format!("{base}/v1/sessions?");
    let created: SessionCreated = json(post(&agent, &url, &alpha_keys));
    assert_eq!(created.session_id.len(), 32);

    // The client checks names before asking.
    let err = RemoteServer::connect_model("http://127.0.0.1:9", "Bad Name", Default::default())
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidModelName { .. }),
        "{err}: not refused locally"
    );
    let err =
        RemoteServer::connect_model("http://127.0.0.1:9", &long, Default::default()).unwrap_err();
    assert!(!err.to_string().contains(&long), "{err}");
    let err = RemoteServer::connect_model(&base, "gamma", ClientOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Remote { status: 404, ref code, .. } if code == "unknown_model"),
        "{err}"
    );

    // Counted by code and route pattern, never by name.
    let text = agent
        .get(&format!("{base}{}", protocol::METRICS_PATH))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        text.contains("cryptotl_rejections_total{reason=\"unknown_model\"} 3"),
        "{text}"
    );
    assert!(text.contains("endpoint=\"/v1/models/{name}\",status=\"404\""));
    assert!(text.contains("endpoint=\"/v1/models/{name}\",status=\"400\""));
    assert!(!text.contains("gamma") && !text.contains("beta.v2"));

    // The server keeps serving.
    let (client, features) = features_over_http(&remote, 5);
    let xs = synthetic::unit_vectors(9, D, 5);
    assert!(features == expected(&models()[1], &client, &xs));
    server.shutdown().unwrap();
}

#[test]
fn the_single_model_api_is_unchanged_and_serves_default() {
    let model = models()[0].clone();
    let server = ServerHandle::spawn(model.clone(), config(Limits::default())).unwrap();
    let base = server.url();
    let agent = raw();

    let text = get(&agent, &format!("{base}{}", protocol::MODEL_PATH))
        .body_mut()
        .read_to_string()
        .unwrap();
    let info: ModelInfo = serde_json::from_str(&text).unwrap();
    assert_eq!(info.name.as_deref(), Some(protocol::DEFAULT_MODEL_NAME));
    assert_eq!(info.models, [protocol::DEFAULT_MODEL_NAME]);
    // An older server's answer (no names) still parses: no model list.
    let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fields = old.as_object_mut().unwrap();
    fields.remove("name");
    fields.remove("models");
    let old: ModelInfo = serde_json::from_value(old).unwrap();
    assert!(old.models.is_empty() && old.name.is_none());
    assert_eq!(old.card, info.card);

    let list: ModelList = json(get(&agent, &format!("{base}{}", protocol::MODELS_PATH)));
    assert_eq!(list.default, "default");
    assert_eq!(list.models.len(), 1);

    let remote = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    assert_eq!(remote.model_name(), Some("default"));
    assert_eq!(remote.models(), ["default"]);
    let (client, features) = features_over_http(&remote, 7);
    let xs = synthetic::unit_vectors(9, D, 7);
    assert!(features == expected(&model, &client, &xs));
    let named = RemoteServer::connect_model(&base, "default", ClientOptions::default()).unwrap();
    assert_eq!(named.card(), remote.card());
    server.shutdown().unwrap();

    // Names are checked before anything is bound.
    let server = || LowerServer::new(model.clone()).unwrap();
    let many = |names: &[&str]| {
        let models = names.iter().map(|n| ((*n).to_owned(), server())).collect();
        ServerHandle::spawn_prepared_many(models, config(Limits::default())).unwrap_err()
    };
    assert!(matches!(many(&[]), Error::NoModel));
    assert!(matches!(
        many(&["ok", "Not OK"]),
        Error::InvalidModelName { .. }
    ));
    assert!(matches!(many(&["a", "b", "a"]), Error::DuplicateModelName(ref n) if n == "a"));
    let err = many(&[&"x".repeat(1000)]);
    assert!(err.to_string().len() < 200, "{err}");
}

#[test]
fn a_reopened_session_stays_on_its_model() {
    // One session at a time: opening a second evicts the first.
    let server = spawn_two(Limits {
        max_sessions: 1,
        ..Limits::default()
    });
    let base = server.url();
    let beta = RemoteServer::connect_model(&base, NAMES[1], ClientOptions::default()).unwrap();
    let client = LowerClient::new(beta.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let session = beta.open_session(&keys).unwrap();
    let first = session.id();
    let xs = synthetic::unit_vectors(3, D, 17);
    let request = client.encrypt(&xs).unwrap().remove(0);

    // A session on the default model evicts it.
    let alpha = RemoteServer::connect(&base, ClientOptions::default()).unwrap();
    let alpha_client = LowerClient::new(alpha.card()).unwrap();
    let other = alpha
        .open_session(&alpha_client.evaluation_key_bytes().unwrap())
        .unwrap();
    let on_alpha = alpha_client
        .decrypt_integers(
            &other
                .evaluate_request(&alpha_client.encrypt(&xs).unwrap().remove(0))
                .unwrap(),
        )
        .unwrap();
    assert!(on_alpha == expected(&models()[0], &alpha_client, &xs));
    // The two models tell apart on these samples.
    assert!(expected(&models()[0], &client, &xs) != expected(&models()[1], &client, &xs));

    // The beta session was evicted: the client re-opens it, on beta.
    let out = session.evaluate_request(&request).unwrap();
    assert_ne!(session.id(), first);
    let got = client.decrypt_integers(&out).unwrap();
    assert!(
        got == expected(&models()[1], &client, &xs),
        "the re-opened session is not on its model"
    );
    let health = beta.health().unwrap();
    assert_eq!(health.sessions, 1, "the cap is shared by both models");
    server.shutdown().unwrap();
}
