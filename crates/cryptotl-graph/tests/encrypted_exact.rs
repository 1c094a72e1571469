//! decrypt(encrypted evaluation) == quantized integer evaluation, exactly.

use cryptotl_graph::{
    plan, widest_quantization, EncryptedEvaluator, Graph, GraphError, QuantizedGraph,
};
use cryptotl_he::{ClientKeys, HeParameters, Preset};
use cryptotl_quant::{FloatPolynomial, InputQuantizer, WeightQuantization};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_inputs(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

/// Encrypts `xs`, evaluates under encryption with the graph's plan, decrypts,
/// and compares with the integer evaluator.
fn assert_exact(q: &QuantizedGraph, xs: &[Vec<f32>], preset: Preset) {
    let plan = plan(q, preset).unwrap();
    let params = HeParameters::new(&plan.params).unwrap();
    let client = ClientKeys::generate(&params);
    let eval = EncryptedEvaluator::from_plan(q, &plan, client.evaluation_keys().unwrap()).unwrap();
    let qx: Vec<Vec<i64>> = xs.iter().map(|x| q.quantize_input(x).unwrap()).collect();
    let enc = client.encrypt_batch(&qx).unwrap();
    let out = eval.evaluate(&enc).unwrap();
    assert_eq!(out.level(), plan.output_level);
    let got = client.decrypt_batch(&out).unwrap();
    let expected = q.evaluate_integer_batch(&qx).unwrap();
    assert_eq!(got, expected);
}

fn random_graph(rng: &mut ChaCha8Rng, d: usize, lower: bool) -> Graph {
    if lower {
        return Graph::cryptotl_lower(d, rng).unwrap();
    }
    // Dense → quadratic activation → Dense with random shapes.
    use cryptotl_graph::{Dense, Layer};
    let h = rng.random_range(1..6);
    let o = rng.random_range(1..4);
    let dense = |rng: &mut ChaCha8Rng, i: usize, o: usize| {
        Layer::Dense(
            Dense::new(
                i,
                o,
                (0..i * o).map(|_| rng.random_range(-1.0f32..1.0)).collect(),
                (0..o).map(|_| rng.random_range(-0.5f32..0.5)).collect(),
            )
            .unwrap(),
        )
    };
    let act = FloatPolynomial::new(vec![
        rng.random_range(-0.5..0.5),
        rng.random_range(-1.0..1.0),
        rng.random_range(0.1..1.0),
    ])
    .unwrap();
    let l1 = dense(rng, d, h);
    let l3 = dense(rng, h, o);
    Graph::new(d, vec![l1, Layer::Activation(act), l3]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]
    #[test]
    fn random_small_graphs_are_exact_n8192(seed in any::<u64>(), d in 3usize..12, bx in 2u32..8, bw in 2u32..7, lower in any::<bool>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = random_graph(&mut rng, d, lower);
        let train = random_inputs(&mut rng, 20, d);
        let q = QuantizedGraph::fuse_and_quantize(&g, InputQuantizer::fit(&train, bx).unwrap(), &WeightQuantization::per_output_channel(bw).unwrap()).unwrap();
        let n = rng.random_range(1..30);
        let xs = random_inputs(&mut rng, n, d);
        assert_exact(&q, &xs, Preset::N8192);
    }

    #[test]
    fn random_small_graphs_are_exact_n16384(seed in any::<u64>(), d in 3usize..8, bx in 2u32..8, bw in 2u32..7, lower in any::<bool>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = random_graph(&mut rng, d, lower);
        let train = random_inputs(&mut rng, 20, d);
        let q = QuantizedGraph::fuse_and_quantize(&g, InputQuantizer::fit(&train, bx).unwrap(), &WeightQuantization::per_tensor(bw).unwrap()).unwrap();
        let n = rng.random_range(1..30);
        let xs = random_inputs(&mut rng, n, d);
        assert_exact(&q, &xs, Preset::N16384);
    }
}

/// The CryptoTL-shaped lower network at d = 384 with the widest bit widths
/// the bound analysis allows at N = 8192, on a small batch (the full batch is
/// in the benchmark). Out-of-range inputs (clamped) are included.
#[test]
fn cryptotl_lower_network_d384_is_exact() {
    let mut rng = ChaCha8Rng::seed_from_u64(384);
    let d = 384;
    let g = Graph::cryptotl_lower(d, &mut rng).unwrap();
    let train = random_inputs(&mut rng, 200, d);
    let (q, bx, bw) = widest_quantization(&g, &train, Preset::N8192).unwrap();
    assert!(bx >= 2 && bw >= 2);
    assert_eq!(q.output_dim(), d - 2);
    let mut xs = random_inputs(&mut rng, 24, d);
    xs.push(vec![5.0; d]);
    xs.push(vec![-5.0; d]);
    assert_exact(&q, &xs, Preset::N8192);
}

#[test]
fn undersized_plaintext_modulus_is_refused_naming_the_layer() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let d = 16;
    let g = Graph::cryptotl_lower(d, &mut rng).unwrap();
    let train = random_inputs(&mut rng, 30, d);
    let q = QuantizedGraph::fuse_and_quantize(
        &g,
        InputQuantizer::fit(&train, 6).unwrap(),
        &WeightQuantization::per_output_channel(6).unwrap(),
    )
    .unwrap();
    let need = q.bounds().unwrap().required_plaintext_bits();
    assert!(need > 21, "{need}");
    let params = HeParameters::for_plaintext_bits(Preset::N8192, 20).unwrap();
    let client = ClientKeys::generate(&params);
    let err = EncryptedEvaluator::new(&q, client.evaluation_keys().unwrap(), 0).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, GraphError::Quant(_)), "{msg}");
    assert!(msg.contains("dense") || msg.contains("activation"), "{msg}");
    // A big enough modulus is accepted.
    let params = HeParameters::for_plaintext_bits(Preset::N8192, need).unwrap();
    let client = ClientKeys::generate(&params);
    EncryptedEvaluator::new(&q, client.evaluation_keys().unwrap(), 0).unwrap();
}

#[test]
fn wrong_dimension_and_foreign_keys_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let g = Graph::cryptotl_lower(12, &mut rng).unwrap();
    let train = random_inputs(&mut rng, 30, 12);
    let q = QuantizedGraph::fuse_and_quantize(
        &g,
        InputQuantizer::fit(&train, 4).unwrap(),
        &WeightQuantization::per_output_channel(4).unwrap(),
    )
    .unwrap();
    let plan = plan(&q, Preset::N8192).unwrap();
    let params = HeParameters::new(&plan.params).unwrap();
    let client = ClientKeys::generate(&params);
    let eval = EncryptedEvaluator::from_plan(&q, &plan, client.evaluation_keys().unwrap()).unwrap();
    let enc = client.encrypt_batch(&[vec![1i64; 11]]).unwrap();
    assert!(matches!(
        eval.evaluate(&enc),
        Err(GraphError::InvalidInput(_))
    ));
    let other = HeParameters::for_plaintext_bits(Preset::N8192, 50).unwrap();
    let other_client = ClientKeys::generate(&other);
    assert!(
        EncryptedEvaluator::from_plan(&q, &plan, other_client.evaluation_keys().unwrap()).is_err()
    );
}
