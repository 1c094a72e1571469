//! The facade end to end, in process: client → bytes → server session →
//! bytes → client, exact against the quantized model; hostile inputs give
//! errors while the session keeps working.

use std::sync::OnceLock;

use cryptotl_graph::QuantizedModel;
use cryptotl_he::{max_log_q_128, Preset};
use cryptotl_protocol::{synthetic, LowerClient, LowerServer, ModelCard, ProtocolError};

const D: usize = 16;

/// The served model and its server, built once.
fn fixture() -> &'static (QuantizedModel, LowerServer) {
    static S: OnceLock<(QuantizedModel, LowerServer)> = OnceLock::new();
    S.get_or_init(|| {
        let train = synthetic::unit_vectors(300, D, 11);
        let (_, model, _) = synthetic::lower_model(D, &train, Preset::N8192, 11).unwrap();
        let server = LowerServer::new(model.clone()).unwrap();
        (model, server)
    })
}

fn server() -> &'static LowerServer {
    &fixture().1
}

#[test]
fn requests_round_trip_exactly_over_several_batches() {
    let server = server();
    let client = LowerClient::new(server.card()).unwrap();
    let session = server
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    // More samples than one batch holds: two requests, the second partial.
    let n = server.params().degree() + 5;
    let xs = synthetic::unit_vectors(n, D, 12);
    let requests = client.encrypt(&xs).unwrap();
    assert_eq!(requests.len(), 2);
    let mut got = Vec::new();
    for r in &requests {
        got.extend(
            client
                .decrypt_integers(&session.evaluate(r).unwrap())
                .unwrap(),
        );
    }
    let q = client.quantize(&xs).unwrap();
    let expected = fixture().0.graph.evaluate_integer_batch(&q).unwrap();
    assert_eq!(got.len(), n);
    assert!(
        got == expected,
        "decrypted features differ from the quantized model"
    );
    // Dequantized features have the output dimension.
    let f = client
        .decrypt(&session.evaluate(&requests[1]).unwrap())
        .unwrap();
    assert_eq!(f.len(), 5);
    assert_eq!(f[0].len(), server.card().output_dim);
}

/// Sessions refer to the server's one copy of the model: a session costs
/// its keys, not another copy of the weights.
#[test]
fn sessions_share_the_servers_model() {
    let server = server();
    let a = LowerClient::new(server.card()).unwrap();
    let b = LowerClient::new(server.card()).unwrap();
    let sa = server
        .open_session(&a.evaluation_key_bytes().unwrap())
        .unwrap();
    let sb = server
        .open_session(&b.evaluation_key_bytes().unwrap())
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(sa.model(), sb.model()));
    assert!(std::sync::Arc::ptr_eq(sa.model(), server.model()));
    // Each session still evaluates with its own keys.
    let xs = synthetic::unit_vectors(2, D, 17);
    let expected = fixture()
        .0
        .graph
        .evaluate_integer_batch(&a.quantize(&xs).unwrap())
        .unwrap();
    for (client, session) in [(&a, &sa), (&b, &sb)] {
        let request = client.encrypt(&xs).unwrap().remove(0);
        let out = client
            .decrypt_integers(&session.evaluate(&request).unwrap())
            .unwrap();
        assert!(out == expected);
    }
    // A server made from a copy of the model holds another graph.
    let other = LowerServer::new(fixture().0.clone()).unwrap();
    assert!(!std::sync::Arc::ptr_eq(other.model(), server.model()));
}

#[test]
fn hostile_requests_are_refused_and_the_session_survives() {
    let server = server();
    let client = LowerClient::new(server.card()).unwrap();
    let session = server
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    let xs = synthetic::unit_vectors(3, D, 13);
    let good = client.encrypt(&xs).unwrap().remove(0);

    // Truncated, garbled header, empty, and trailing garbage.
    assert!(session.evaluate(&good[..good.len() / 2]).is_err());
    let mut bad = good.clone();
    bad[0] ^= 0xff;
    assert!(session.evaluate(&bad).is_err());
    assert!(session.evaluate(&[]).is_err());
    let mut long = good.clone();
    long.extend_from_slice(&[1, 2, 3]);
    assert!(session.evaluate(&long).is_err());

    // A request for another model (other dimension, other parameters).
    let train = synthetic::unit_vectors(300, D + 8, 14);
    let (_, other_model, _) = synthetic::lower_model(D + 8, &train, Preset::N8192, 14).unwrap();
    let other = LowerServer::new(other_model).unwrap();
    let other_client = LowerClient::new(other.card()).unwrap();
    let foreign = other_client
        .encrypt(&synthetic::unit_vectors(2, D + 8, 15))
        .unwrap()
        .remove(0);
    let err = session.evaluate(&foreign).unwrap_err();
    assert!(matches!(err, ProtocolError::He(_)), "{err}");

    // Malformed or foreign evaluation keys.
    let keys = client.evaluation_key_bytes().unwrap();
    assert!(server.open_session(&keys[..keys.len() - 1]).is_err());
    assert!(server.open_session(b"not keys").is_err());
    assert!(server
        .open_session(&other_client.evaluation_key_bytes().unwrap())
        .is_err());

    // The session still works.
    let out = client
        .decrypt_integers(&session.evaluate(&good).unwrap())
        .unwrap();
    assert_eq!(out.len(), 3);
}

#[test]
fn bad_client_input_is_an_error() {
    let client = LowerClient::new(server().card()).unwrap();
    assert!(matches!(
        client.encrypt(&[vec![0.0; D - 1]]),
        Err(ProtocolError::SampleDimension { sample: 0, got, expected }) if got == D - 1 && expected == D
    ));
    assert!(client.encrypt(&[]).is_err());
    assert!(client.encrypt(&[vec![f32::NAN; D]]).is_err());
}

#[test]
fn model_cards_round_trip_and_weak_cards_are_refused() {
    let card = server().card().clone();
    let back = ModelCard::from_json(&card.to_json()).unwrap();
    assert_eq!(back, card);
    let json = card.to_json();
    assert!(!json.contains("weight"), "the card must not carry weights");

    // Parameters beyond the 128-bit bound are refused.
    // (The security check runs before any other parameter check.)
    let mut weak = card.clone();
    let bound = max_log_q_128(weak.he.params.degree).unwrap();
    while weak
        .he
        .params
        .moduli
        .iter()
        .map(|m| 64 - m.leading_zeros())
        .sum::<u32>()
        <= bound
    {
        weak.he.params.moduli.push((1 << 61) + 1);
    }
    let err = ModelCard::from_json(&weak.to_json()).unwrap_err();
    assert!(err.to_string().contains("insecure"), "{err}");

    let mut wrong_version = card.clone();
    wrong_version.version = 99;
    assert!(ModelCard::from_json(&wrong_version.to_json()).is_err());
    let mut wrong_dim = card;
    wrong_dim.input_dim += 1;
    assert!(LowerClient::new(&wrong_dim).is_err());
    assert!(ModelCard::from_json("{\"version\": 1}").is_err());
}

/// A transport that corrupts every response: the exchange must fail with an
/// error, not return features.
struct Truncating<'a>(&'a cryptotl_protocol::Session);

impl cryptotl_protocol::EncryptedEvaluation for Truncating<'_> {
    fn evaluate_request(&self, request: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let mut r = self.0.evaluate(request)?;
        r.truncate(r.len() / 2);
        Ok(r)
    }
}

#[test]
fn feature_exchange_is_exact_and_counts_bytes() {
    let server = server();
    let client = LowerClient::new(server.card()).unwrap();
    let keys = client.evaluation_key_bytes().unwrap();
    let session = server.open_session(&keys).unwrap();
    let xs = synthetic::unit_vectors(37, D, 21);
    let mut calls = Vec::new();
    let (features, stats) =
        cryptotl_protocol::encrypted_features(&client, &session, &xs, &mut |d, t| {
            calls.push((d, t))
        })
        .unwrap();
    let expected = fixture()
        .0
        .graph
        .evaluate_integer_batch(&client.quantize(&xs).unwrap())
        .unwrap();
    assert!(features == expected, "exchange is not exact");
    assert_eq!(calls, vec![(37, 37)]);
    assert_eq!((stats.samples, stats.batches), (37, 1));
    // One request of D ciphertexts, one response of output_dim ciphertexts.
    let request = client.encrypt(&xs).unwrap().remove(0);
    assert_eq!(stats.upload_bytes, request.len());
    assert_eq!(
        stats.download_bytes,
        session.evaluate(&request).unwrap().len()
    );

    let err =
        cryptotl_protocol::encrypted_features(&client, &Truncating(&session), &xs, &mut |_, _| {})
            .unwrap_err();
    assert!(
        matches!(err, ProtocolError::He(_)),
        "unexpected error {err}"
    );
}
