//! Slot packing: decrypt(slot-packed evaluation) == quantized integer
//! evaluation, exactly, through the wire format (as over the network).

use std::time::Instant;

use cryptotl_graph::{
    plan_slots, widest_quantization, Graph, QuantizedGraph, SlotClient, SlotEvaluator,
};
use cryptotl_he::RotationKeys;
use cryptotl_he::{EncryptedBatch, EvaluationKeys, Preset};
use cryptotl_quant::{InputQuantizer, WeightQuantization};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_inputs(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

/// A random CryptoTL lower network of input dimension `d`, quantized at
/// `bx` input and `bw` weight bits (input range fitted on 50 random inputs).
fn small_network(rng: &mut ChaCha8Rng, d: usize, bx: u32, bw: u32) -> QuantizedGraph {
    let g = Graph::cryptotl_lower(d, rng).unwrap();
    let train = random_inputs(rng, 50, d);
    QuantizedGraph::fuse_and_quantize(
        &g,
        InputQuantizer::fit(&train, bx).unwrap(),
        &WeightQuantization::per_output_channel(bw).unwrap(),
    )
    .unwrap()
}

/// Plans, keys, encrypts, serializes everything the server receives, parses
/// it with the server's parameter instances, evaluates, serializes the
/// result back and compares the decryption with the integer evaluator.
fn assert_slot_exact(q: &QuantizedGraph, xs: &[Vec<f32>]) -> cryptotl_graph::SlotPlan {
    let t0 = Instant::now();
    let plan = plan_slots(q, Preset::N8192).unwrap();
    eprintln!(
        "plan: {:?} ({} pipelines, level {})",
        t0.elapsed(),
        plan.pipelines(),
        plan.output_level
    );
    let server = SlotEvaluator::new(q, &plan).unwrap();
    let client = SlotClient::generate(&plan).unwrap();
    let keys = client.keys().unwrap();
    // Over the wire: keys and ciphertexts parsed with the server's instances.
    let rot = RotationKeys::from_bytes(&keys.rotations.to_bytes(), &server.crt().members()[0], 512)
        .unwrap();
    let evk: Vec<EvaluationKeys> = keys
        .evaluation
        .iter()
        .zip(server.crt().members())
        .map(|(k, p)| EvaluationKeys::from_bytes(&k.to_bytes(), p).unwrap())
        .collect();
    let server_keys = cryptotl_graph::SlotKeys {
        evaluation: evk,
        rotations: rot,
    };
    let qx: Vec<Vec<i64>> = xs.iter().map(|x| q.quantize_input(x).unwrap()).collect();
    let expected = q.evaluate_integer_batch(&qx).unwrap();
    // Every layout of the plan: one sample per ciphertext, and two.
    for lanes in plan.layouts().map(|l| l.lanes) {
        let enc = client.encrypt(&qx, lanes).unwrap();
        assert_eq!(enc[0].features(), qx.len().div_ceil(lanes));
        let uploaded: Vec<EncryptedBatch> = enc
            .iter()
            .zip(server.crt().members())
            .map(|(b, p)| EncryptedBatch::from_bytes(&b.to_bytes(), p, 64).unwrap())
            .collect();
        let t1 = Instant::now();
        let out = server.evaluate(&uploaded, &server_keys).unwrap();
        eprintln!(
            "server: {:?} for {} samples, {lanes} per ciphertext",
            t1.elapsed(),
            xs.len()
        );
        let back: Vec<EncryptedBatch> = out
            .iter()
            .zip(client.crt().members())
            .map(|(b, p)| EncryptedBatch::from_bytes(&b.to_bytes(), p, 64).unwrap())
            .collect();
        for b in &back {
            assert_eq!(b.level(), plan.output_level);
        }
        assert_eq!(client.decrypt(&back).unwrap(), expected, "{lanes} lane(s)");
    }
    plan
}

#[test]
fn cryptotl_lower_network_d384_is_exact_with_slot_packing() {
    let mut rng = ChaCha8Rng::seed_from_u64(384);
    let d = 384;
    let g = Graph::cryptotl_lower(d, &mut rng).unwrap();
    let train = random_inputs(&mut rng, 200, d);
    let (q, _, _) = widest_quantization(&g, &train, Preset::N8192).unwrap();
    let mut xs = random_inputs(&mut rng, 2, d);
    xs.push(vec![5.0; d]);
    let plan = assert_slot_exact(&q, &xs);
    // Two samples side by side pay at d = 384: the plan offers them, and
    // the Galois keys cover exactly the steps of both layouts.
    let paired = plan.paired.as_ref().expect("a two-lane layout at d = 384");
    assert_eq!(paired.lanes, 2);
    let mut union = plan.layout.rotations();
    union.extend(paired.rotations());
    union.sort_unstable();
    union.dedup();
    assert_eq!(plan.rotations(), union);
}

/// The layout follows from the announced sample count; counts that match no
/// layout of the plan are refused, by the client and by the server.
#[test]
fn sample_counts_pick_the_layout_or_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let d = 16;
    let q = small_network(&mut rng, d, 4, 4);
    let mut plan = plan_slots(&q, Preset::N8192).unwrap();
    assert!(plan.paired.is_some());
    for (samples, ciphertexts, lanes) in [(1, 1, Some(1)), (2, 2, Some(1)), (2, 1, Some(2))] {
        assert_eq!(plan.lanes_of(samples, ciphertexts).ok(), lanes);
    }
    assert_eq!(plan.lanes_of(3, 2).ok(), Some(2));
    for (samples, ciphertexts) in [(3, 1), (1, 2), (5, 2), (0, 1), (1, 0)] {
        assert!(plan.lanes_of(samples, ciphertexts).is_err());
    }
    // A server whose plan has one lane refuses a paired request.
    let server = SlotEvaluator::new(&q, &plan).unwrap();
    let client = SlotClient::for_evaluator(&server).unwrap();
    let keys = client.keys().unwrap();
    let qx: Vec<Vec<i64>> = random_inputs(&mut rng, 3, d)
        .iter()
        .map(|x| q.quantize_input(x).unwrap())
        .collect();
    let paired = client.encrypt(&qx, 2).unwrap();
    assert!(client.encrypt(&qx, 3).is_err());
    // Announcing more samples than the ciphertexts carry.
    let inflated: Vec<EncryptedBatch> = paired
        .iter()
        .map(|b| b.clone().with_samples(5).unwrap())
        .collect();
    assert!(server.evaluate(&inflated, &keys).is_err());
    // Pipelines announcing different counts (when there are several).
    if paired.len() > 1 {
        let mut mixed = paired.clone();
        mixed[0] = mixed[0].clone().with_samples(4).unwrap();
        assert!(server.evaluate(&mixed, &keys).is_err());
    }
    assert_eq!(
        client
            .decrypt(&server.evaluate(&paired, &keys).unwrap())
            .unwrap(),
        q.evaluate_integer_batch(&qx).unwrap()
    );
    plan.paired = None;
    let single = SlotEvaluator::new(&q, &plan).unwrap();
    let single_client = SlotClient::for_evaluator(&single).unwrap();
    assert!(single_client.encrypt(&qx, 2).is_err());
    assert!(single
        .evaluate(&paired, &single_client.keys().unwrap())
        .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]
    #[test]
    fn random_small_lower_networks_are_exact(seed in any::<u64>(), d in 3usize..40, bx in 2u32..8, bw in 2u32..7) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let q = small_network(&mut rng, d, bx, bw);
        let xs = random_inputs(&mut rng, 2, d);
        assert_slot_exact(&q, &xs);
    }
}

/// The activation's other evaluation paths: a quadratic coefficient other
/// than ±1 (second layer on `u²` and `u`) and no quadratic term at all.
#[test]
fn general_and_linear_activations_are_exact() {
    use cryptotl_quant::IntegerLayer;
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let d = 12;
    let q = small_network(&mut rng, d, 4, 4);
    let xs = random_inputs(&mut rng, 2, d);
    for variant in 0..2 {
        let mut q = q.clone();
        let IntegerLayer::Polynomial(p) = &mut q.layers[1].layer else {
            panic!("the fused lower network has its activation second");
        };
        for (j, c) in p.coefficients.iter_mut().enumerate() {
            c.resize(3, 0);
            if variant == 0 {
                c[2] = if j % 2 == 0 { 2 } else { -1 };
                c[1] = j as i64 - 3;
            } else {
                c[2] = 0;
                c[1] = if j % 3 == 0 { -1 } else { 2 };
            }
        }
        assert_slot_exact(&q, &xs);
    }
}
