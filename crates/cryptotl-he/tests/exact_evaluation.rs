//! Encrypted evaluation is bit-exact against the same integer arithmetic in
//! the clear, for both parameter presets.

use cryptotl_he::{ClientKeys, Evaluator, HeParameters, Preset};
use proptest::prelude::*;

/// Plaintext reference: `y = W x + b`, then `p(y)`, then `V z + c`.
fn reference(x: &[i64], w: &[i64], b: &[i64], poly: &[Vec<i64>], v: &[i64], c: &[i64]) -> Vec<i64> {
    let d = x.len();
    let h = b.len();
    let y: Vec<i64> = (0..h)
        .map(|i| (0..d).map(|j| w[i * d + j] * x[j]).sum::<i64>() + b[i])
        .collect();
    let z: Vec<i64> = y
        .iter()
        .zip(poly)
        .map(|(y, p)| p[0] + p[1] * y + p[2] * y * y)
        .collect();
    let o = c.len();
    (0..o)
        .map(|i| (0..h).map(|j| v[i * h + j] * z[j]).sum::<i64>() + c[i])
        .collect()
}

fn case_strategy() -> impl Strategy<Value = (usize, usize, usize, usize, u64)> {
    // (features, hidden, outputs, samples, seed)
    (1usize..5, 1usize..5, 1usize..4, 1usize..40, any::<u64>())
}

fn run_case(preset: Preset, d: usize, h: usize, o: usize, samples: usize, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<Vec<i64>> = (0..samples)
        .map(|_| (0..d).map(|_| rng.random_range(0..64)).collect())
        .collect();
    let w: Vec<i64> = (0..h * d).map(|_| rng.random_range(-15..=15)).collect();
    let b: Vec<i64> = (0..h).map(|_| rng.random_range(-500..=500)).collect();
    let poly: Vec<Vec<i64>> = (0..h)
        .map(|_| {
            vec![
                rng.random_range(-50..=50),
                rng.random_range(-9..=9),
                rng.random_range(-2..=2),
            ]
        })
        .collect();
    let v: Vec<i64> = (0..o * h).map(|_| rng.random_range(-15..=15)).collect();
    let c: Vec<i64> = (0..o).map(|_| rng.random_range(-1000..=1000)).collect();

    let params = HeParameters::for_plaintext_bits(preset, 40).unwrap();
    let client = ClientKeys::generate(&params);
    let eval = Evaluator::with_keys(client.evaluation_keys().unwrap());
    let enc = client.encrypt_batch(&x).unwrap();
    let y = eval.weighted_sums(&enc, &w, h, Some(&b)).unwrap();
    let z = eval.polynomials(&y, &poly).unwrap();
    let out = eval.weighted_sums(&z, &v, o, Some(&c)).unwrap();
    let out = eval.switch_to_level(&out, params.max_level() - 1).unwrap();
    let got = client.decrypt_batch(&out).unwrap();
    assert_eq!(got.len(), samples);
    for (s, xs) in x.iter().enumerate() {
        assert_eq!(got[s], reference(xs, &w, &b, &poly, &v, &c), "sample {s}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn encrypted_equals_plaintext_n8192((d, h, o, samples, seed) in case_strategy()) {
        run_case(Preset::N8192, d, h, o, samples, seed);
    }

    #[test]
    fn encrypted_equals_plaintext_n16384((d, h, o, samples, seed) in case_strategy()) {
        run_case(Preset::N16384, d, h, o, samples, seed);
    }
}

#[test]
fn full_and_partial_batches_round_trip() {
    let params = HeParameters::for_plaintext_bits(Preset::N8192, 30).unwrap();
    let client = ClientKeys::generate(&params);
    let n = params.degree();
    let max = params.max_abs_value() as i64;
    let full: Vec<Vec<i64>> = (0..n as i64)
        .map(|s| vec![s - 4096, max - s, -max + s])
        .collect();
    let enc = client.encrypt_batch(&full).unwrap();
    assert_eq!(client.decrypt_batch(&enc).unwrap(), full);
    let partial = &full[..3];
    let enc = client.encrypt_batch(partial).unwrap();
    assert_eq!(enc.samples(), 3);
    assert_eq!(client.decrypt_batch(&enc).unwrap(), partial);
}

#[test]
fn bad_batches_are_refused() {
    let params = HeParameters::for_plaintext_bits(Preset::N8192, 30).unwrap();
    let client = ClientKeys::generate(&params);
    let empty: Vec<Vec<i64>> = vec![];
    assert!(client.encrypt_batch(&empty).is_err());
    assert!(client.encrypt_batch(&[vec![1, 2], vec![3]]).is_err());
    assert!(client
        .encrypt_batch(&[vec![params.max_abs_value() as i64 + 1]])
        .is_err());
    let too_many = vec![vec![0i64]; params.degree() + 1];
    assert!(client.encrypt_batch(&too_many).is_err());
}

#[test]
fn squaring_without_keys_or_mismatched_params_is_an_error() {
    let params = HeParameters::for_plaintext_bits(Preset::N8192, 30).unwrap();
    let client = ClientKeys::generate(&params);
    let enc = client.encrypt_batch(&[vec![3i64, 4]]).unwrap();
    let linear_only = Evaluator::new(&params);
    assert!(linear_only
        .polynomials(&enc, &[vec![0, 0, 1], vec![0, 0, 1]])
        .is_err());
    // A linear polynomial needs no key.
    let lin = linear_only
        .polynomials(&enc, &[vec![1, 2], vec![0, -1]])
        .unwrap();
    assert_eq!(client.decrypt_batch(&lin).unwrap(), vec![vec![7, -4]]);
    // Another parameter instance (even with equal values) is refused, not a panic.
    let other = HeParameters::new(params.spec()).unwrap();
    assert!(Evaluator::new(&other)
        .weighted_sums(&enc, &[1, 1], 1, None)
        .is_err());
    // Degree 3 is refused.
    let eval = Evaluator::with_keys(client.evaluation_keys().unwrap());
    assert!(eval
        .polynomials(&enc, &[vec![0, 0, 0, 1], vec![0]])
        .is_err());
}

#[test]
fn noise_budget_shrinks_and_client_debug_is_redacted() {
    let params = HeParameters::for_plaintext_bits(Preset::N8192, 40).unwrap();
    let client = ClientKeys::generate(&params);
    let eval = Evaluator::with_keys(client.evaluation_keys().unwrap());
    let enc = client.encrypt_batch(&[vec![5i64]]).unwrap();
    let fresh = client.noise_budget(&enc).unwrap();
    let sq = eval.polynomials(&enc, &[vec![0, 0, 1]]).unwrap();
    let after = client.noise_budget(&sq).unwrap();
    assert!(fresh > after + 20, "fresh {fresh}, after square {after}");
    assert_eq!(client.decrypt_batch(&sq).unwrap(), vec![vec![25]]);
    let shown = format!("{client:?}");
    assert!(shown.contains("<redacted>"));
}
