//! Server-side output noise: exact decryption to quantized + drawn noise,
//! noise statistics and tail bound, the wrap-around refusal, flooding.

use cryptotl_graph::MIN_OUTPUT_BUDGET_BITS as MIN_FLOODED_BUDGET_CHECK;
use cryptotl_graph::{
    plan, plan_output_noise, plan_with_output_noise, EncryptedEvaluator, Graph, GraphError,
    OutputNoise, QuantizedGraph,
};
use cryptotl_he::{ClientKeys, HeParameters, Preset};
use cryptotl_quant::{InputQuantizer, WeightQuantization};
use rand::{Rng, SeedableRng};
use rand_chacha::{ChaCha20Rng, ChaCha8Rng};

fn small_graph(seed: u64) -> (QuantizedGraph, Vec<Vec<i64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = 10;
    let g = Graph::cryptotl_lower(d, &mut rng).unwrap();
    let train: Vec<Vec<f32>> = (0..40)
        .map(|_| (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    let q = QuantizedGraph::fuse_and_quantize(
        &g,
        InputQuantizer::fit(&train, 4).unwrap(),
        &WeightQuantization::per_output_channel(4).unwrap(),
    )
    .unwrap();
    let qx = train[..20]
        .iter()
        .map(|x| q.quantize_input(x).unwrap())
        .collect();
    (q, qx)
}

fn client_for(plan: &cryptotl_graph::HePlan) -> (ClientKeys, cryptotl_he::EvaluationKeys) {
    let params = HeParameters::new(&plan.params).unwrap();
    let client = ClientKeys::generate(&params);
    let keys = client
        .evaluation_keys()
        .unwrap()
        .with_public_key(client.public_key())
        .unwrap();
    (client, keys)
}

#[test]
fn noisy_features_decrypt_to_quantized_plus_the_drawn_noise() {
    let (q, qx) = small_graph(1);
    let sigma = 20.0;
    let (hp, np) = plan_with_output_noise(&q, Preset::N8192, &OutputNoise::new(sigma)).unwrap();
    assert!(np.has_noise() && np.has_flooding());
    let (client, keys) = client_for(&hp);
    let eval = EncryptedEvaluator::from_plan(&q, &hp, keys)
        .unwrap()
        .with_output_noise(&np)
        .unwrap();
    let enc = client.encrypt_batch(&qx).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let noise = eval.draw_output_noise(&mut rng).unwrap().unwrap();
    let out = eval
        .evaluate_with_noise(&enc, Some(&noise), &mut rng)
        .unwrap();
    assert_eq!(out.level(), np.output_level);
    let got = client.decrypt_batch(&out).unwrap();
    let clean = q.evaluate_integer_batch(&qx).unwrap();
    for (s, (g, c)) in got.iter().zip(&clean).enumerate() {
        for (j, (gv, cv)) in g.iter().zip(c).enumerate() {
            assert_eq!(*gv, cv + noise[j][s], "sample {s}, feature {j}");
        }
    }
    // Flooded responses keep the required margin.
    let budget = client.noise_budget(&out).unwrap();
    assert!(budget >= MIN_FLOODED_BUDGET_CHECK, "budget {budget}");

    // Statistics of the drawn noise: all N·d slots.
    let all: Vec<f64> = noise.iter().flatten().map(|&v| v as f64).collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se_mean = sigma / n.sqrt();
    let se_var = sigma * sigma * (2.0 / n).sqrt();
    assert!(mean.abs() < 5.0 * se_mean, "mean {mean}");
    assert!((var - sigma * sigma).abs() < 5.0 * se_var, "variance {var}");
    assert!(noise
        .iter()
        .flatten()
        .all(|v| v.unsigned_abs() <= np.tail_bound));
    eprintln!(
        "sigma {sigma}: tail bound {}, flood 2^{} (E = 2^{}), output level {} (plain plan {}), \
         budget after flooding {budget}, sensitivity {}",
        np.tail_bound,
        np.flood_bits,
        np.noise_bound_bits,
        np.output_level,
        hp.output_level,
        np.sensitivity
    );
}

#[test]
fn os_noise_stays_within_the_tail_bound_and_is_not_zero() {
    let (q, qx) = small_graph(2);
    let (hp, np) = plan_with_output_noise(
        &q,
        Preset::N8192,
        &OutputNoise {
            sigma: 5.0,
            flooding_kappa: 0,
        },
    )
    .unwrap();
    assert_eq!(np.flood_bits, 0);
    let (client, keys) = client_for(&hp);
    let eval = EncryptedEvaluator::from_plan(&q, &hp, keys)
        .unwrap()
        .with_output_noise(&np)
        .unwrap();
    let enc = client.encrypt_batch(&qx).unwrap();
    let got = client.decrypt_batch(&eval.evaluate(&enc).unwrap()).unwrap();
    let clean = q.evaluate_integer_batch(&qx).unwrap();
    let diffs: Vec<i64> = got
        .iter()
        .flatten()
        .zip(clean.iter().flatten())
        .map(|(a, b)| a - b)
        .collect();
    assert!(diffs.iter().all(|d| d.unsigned_abs() <= np.tail_bound));
    assert!(diffs.iter().any(|&d| d != 0));
}

#[test]
fn noise_that_could_wrap_around_is_refused_naming_the_output_layer() {
    let (q, _) = small_graph(3);
    let hp = plan(&q, Preset::N8192).unwrap();
    let t = HeParameters::new(&hp.params).unwrap().plaintext_modulus();
    // The plan's t is the smallest that holds the bound: noise of about t/4
    // cannot fit.
    let sigma = (t as f64 / 4.0).min(1_000_000.0);
    let err = plan_output_noise(
        &q,
        &hp,
        &OutputNoise {
            sigma,
            flooding_kappa: 0,
        },
    )
    .unwrap_err();
    let last = q.layers.last().unwrap().name.clone();
    assert!(matches!(err, GraphError::NoiseDoesNotFit { .. }), "{err}");
    assert!(err.to_string().contains(&last), "{err}");
    // The evaluator refuses such a plan too.
    let (hp2, mut np) = plan_with_output_noise(
        &q,
        Preset::N8192,
        &OutputNoise {
            sigma: 2.0,
            flooding_kappa: 0,
        },
    )
    .unwrap();
    let (_, keys) = client_for(&hp2);
    np.tail_bound = u64::MAX / 4;
    let err = EncryptedEvaluator::from_plan(&q, &hp2, keys)
        .unwrap()
        .with_output_noise(&np)
        .unwrap_err();
    assert!(matches!(err, GraphError::NoiseDoesNotFit { .. }), "{err}");
}

#[test]
fn flooding_without_the_public_key_is_refused_and_flooded_outputs_are_exact() {
    let (q, qx) = small_graph(4);
    let hp = plan(&q, Preset::N8192).unwrap();
    let np = plan_output_noise(
        &q,
        &hp,
        &OutputNoise {
            sigma: 0.0,
            flooding_kappa: 40,
        },
    )
    .unwrap();
    assert!(np.has_flooding() && !np.has_noise());
    let params = HeParameters::new(&hp.params).unwrap();
    let client = ClientKeys::generate(&params);
    let err = EncryptedEvaluator::from_plan(&q, &hp, client.evaluation_keys().unwrap())
        .unwrap()
        .with_output_noise(&np)
        .unwrap_err();
    assert!(err.to_string().contains("public key"), "{err}");
    let keys = client
        .evaluation_keys()
        .unwrap()
        .with_public_key(client.public_key())
        .unwrap();
    let plain = EncryptedEvaluator::from_plan(&q, &hp, keys.clone()).unwrap();
    let eval = plain.clone().with_output_noise(&np).unwrap();
    let enc = client.encrypt_batch(&qx).unwrap();
    let out = eval.evaluate(&enc).unwrap();
    assert_eq!(
        client.decrypt_batch(&out).unwrap(),
        q.evaluate_integer_batch(&qx).unwrap()
    );
    let unflooded = plain.evaluate(&enc).unwrap();
    eprintln!(
        "flooding kappa 40: 2^{} (E = 2^{}); output level {} -> {}; budget {} -> {}; \
         response {} -> {} bytes",
        np.flood_bits,
        np.noise_bound_bits,
        hp.output_level,
        np.output_level,
        client.noise_budget(&unflooded).unwrap(),
        client.noise_budget(&out).unwrap(),
        unflooded.to_bytes().len(),
        out.to_bytes().len()
    );
}
