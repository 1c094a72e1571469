//! The server's output noise through the facade: the card advertises it
//! (and old cards still load), the client sends its public key, responses
//! decrypt to quantized features plus bounded noise, refusals.

use cryptotl_graph::OutputNoise;
use cryptotl_he::Preset;
use cryptotl_protocol::plan_model_for_noise;
use cryptotl_protocol::{synthetic, LowerClient, LowerServer, ModelCard};

const D: usize = 16;

fn model() -> (cryptotl_graph::QuantizedModel, Vec<Vec<f32>>) {
    let train = synthetic::unit_vectors(200, D, 21);
    let (_, model, _) = synthetic::lower_model(D, &train, Preset::N8192, 21).unwrap();
    (model, train)
}

#[test]
fn noisy_server_advertises_its_noise_and_responses_stay_within_the_bound() {
    let (mut model, xs) = model();
    // An invalid sigma is refused (the wrap-around refusal is tested in
    // cryptotl-graph, where t is small enough for the sampler's range).
    let bad = OutputNoise {
        sigma: -1.0,
        flooding_kappa: 0,
    };
    assert!(LowerServer::with_output_noise(model.clone(), bad).is_err());
    // Flooding at kappa = 40 needs more noise room than N = 8192 offers
    // with the widest quantization (measured; see docs/privacy.md).
    let err = LowerServer::with_output_noise(model.clone(), OutputNoise::new(8.0)).unwrap_err();
    assert!(err.to_string().contains("flooding"), "{err}");
    // kappa = 30 fits.
    let noise = OutputNoise {
        sigma: 8.0,
        flooding_kappa: 30,
    };
    plan_model_for_noise(&mut model, &noise).unwrap();
    let server = LowerServer::with_output_noise(model.clone(), noise).unwrap();
    let card = server.card();
    let advertised = card.output_noise.expect("the card advertises the noise");
    assert_eq!(advertised.sigma, 8.0);
    assert_eq!(advertised.flooding_kappa, 30);
    assert!(advertised.tail_bound > 0 && advertised.sensitivity > 0);
    // JSON round trip keeps it.
    let back = ModelCard::from_json(&card.to_json()).unwrap();
    assert_eq!(&back, card);

    let client = LowerClient::new(card).unwrap();
    assert!(client.evaluation_keys().public_key().is_some());
    let session = server
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    let xs = &xs[..10];
    let request = client.encrypt(xs).unwrap().remove(0);
    let got = client
        .decrypt_integers(&session.evaluate(&request).unwrap())
        .unwrap();
    let qx = client.quantize(xs).unwrap();
    let clean = model.graph.evaluate_integer_batch(&qx).unwrap();
    let diffs: Vec<i64> = got
        .iter()
        .flatten()
        .zip(clean.iter().flatten())
        .map(|(a, b)| a - b)
        .collect();
    assert!(diffs
        .iter()
        .all(|d| d.unsigned_abs() <= advertised.tail_bound));
    assert!(diffs.iter().any(|&d| d != 0));

    // A client that does not send its public key is refused at session
    // opening (the server floods).
    let keys = client.keys().evaluation_keys().unwrap();
    let err = server.open_session(&keys.to_bytes()).unwrap_err();
    assert!(err.to_string().contains("public key"), "{err}");
}

#[test]
fn cards_without_the_noise_field_still_load() {
    let (model, _) = model();
    let server = LowerServer::new(model).unwrap();
    let json = server.card().to_json();
    assert!(!json.contains("output_noise"));
    let card = ModelCard::from_json(&json).unwrap();
    assert!(card.output_noise.is_none());
    let client = LowerClient::new(&card).unwrap();
    assert!(client.evaluation_keys().public_key().is_none());
}

/// Measures the cost of flooding (noise budget, output level, response
/// size) on synthetic lower networks with the widest quantization; the
/// numbers in docs/privacy.md. `cargo test --test dp_output_noise -- --ignored --nocapture`
#[test]
#[ignore = "measurement, slow"]
fn flooding_costs() {
    for (preset, d) in [(Preset::N8192, 64), (Preset::N16384, 64)] {
        let train = synthetic::unit_vectors(200, d, 31);
        let (_, model, bits) = synthetic::lower_model(d, &train, preset, 31).unwrap();
        let server = LowerServer::new(model.clone()).unwrap();
        let client = LowerClient::new(server.card()).unwrap();
        let session = server
            .open_session(&client.evaluation_key_bytes().unwrap())
            .unwrap();
        let request = client.encrypt(&train[..8]).unwrap().remove(0);
        let plain = session.evaluate(&request).unwrap();
        let batch = cryptotl_he::EncryptedBatch::from_bytes(&plain, client.params(), d).unwrap();
        let plain_budget = client.keys().noise_budget(&batch).unwrap();
        for kappa in [30, 40] {
            let noise = OutputNoise {
                sigma: 0.0,
                flooding_kappa: kappa,
            };
            match LowerServer::with_output_noise(model.clone(), noise) {
                Err(e) => println!("{preset} d={d} bits={bits:?} kappa={kappa}: refused: {e}"),
                Ok(noisy) => {
                    let np = *noisy.output_noise().unwrap();
                    let c = LowerClient::new(noisy.card()).unwrap();
                    let s = noisy
                        .open_session(&c.evaluation_key_bytes().unwrap())
                        .unwrap();
                    let req = c.encrypt(&train[..8]).unwrap().remove(0);
                    let resp = s.evaluate(&req).unwrap();
                    let b = cryptotl_he::EncryptedBatch::from_bytes(&resp, c.params(), d).unwrap();
                    println!(
                        "{preset} d={d} bits={bits:?} kappa={kappa}: flood 2^{} (E = 2^{}), \
                         output level {} -> {}, budget {plain_budget} -> {}, response {} -> {} bytes, \
                         keys {} -> {} bytes",
                        np.flood_bits,
                        np.noise_bound_bits,
                        server.card().he.output_level,
                        np.output_level,
                        c.keys().noise_budget(&b).unwrap(),
                        plain.len(),
                        resp.len(),
                        client.evaluation_key_bytes().unwrap().len(),
                        c.evaluation_key_bytes().unwrap().len(),
                    );
                }
            }
        }
    }
}
