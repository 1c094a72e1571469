//! Per-slot plaintext additions, the public key and noise flooding.

use cryptotl_he::{
    ClientKeys, EvaluationKeys, Evaluator, HeError, HeParameters, Preset, PublicKey,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn setup(bits: u32) -> (HeParameters, ClientKeys) {
    let params = HeParameters::for_plaintext_bits(Preset::N8192, bits).unwrap();
    let keys = ClientKeys::generate(&params);
    (params, keys)
}

#[test]
fn slot_values_add_per_sample_and_feature() {
    let (params, keys) = setup(30);
    let samples = vec![vec![1i64, -2, 3], vec![10, 20, -30]];
    let batch = keys.encrypt_batch(&samples).unwrap();
    let ev = Evaluator::new(&params);
    let noise = vec![vec![5i64, -7], vec![-1, 100], vec![0, -1000]];
    let out = ev.add_slot_values(&batch, &noise).unwrap();
    assert_eq!(
        keys.decrypt_batch(&out).unwrap(),
        vec![vec![6, -3, 3], vec![3, 120, -1030]]
    );
    // Wrong count, too long, out of range.
    assert!(ev.add_slot_values(&batch, &noise[..2]).is_err());
    assert!(ev
        .add_slot_values(&batch, &[vec![0; 8193], vec![], vec![]])
        .is_err());
    let big = params.max_abs_value() as i64 + 1;
    assert!(ev
        .add_slot_values(&batch, &[vec![big], vec![], vec![]])
        .is_err());
}

#[test]
fn public_keys_travel_with_the_evaluation_keys() {
    let (params, keys) = setup(30);
    let pk = keys.public_key();
    let bytes = pk.to_bytes();
    assert!(PublicKey::from_bytes(&bytes, &params).is_ok());
    let ek = keys.evaluation_keys().unwrap();
    let plain = ek.to_bytes();
    let ek = ek.with_public_key(pk).unwrap();
    let both = ek.to_bytes();
    assert_eq!(&both[..plain.len()], &plain[..plain.len()]);
    let back = EvaluationKeys::from_bytes(&both, &params).unwrap();
    assert!(back.public_key().is_some());
    assert!(EvaluationKeys::from_bytes(&plain, &params)
        .unwrap()
        .public_key()
        .is_none());
    // Trailing garbage, a truncated public key, a flipped coefficient byte.
    let mut junk = plain.clone();
    junk.extend_from_slice(b"junk");
    assert!(EvaluationKeys::from_bytes(&junk, &params).is_err());
    assert!(EvaluationKeys::from_bytes(&both[..both.len() - 1], &params).is_err());
    let mut bad = bytes.clone();
    let k = bad.len() - 40;
    bad[k] ^= 0xff;
    let _ = PublicKey::from_bytes(&bad, &params); // must not panic
                                                  // Foreign parameters.
    let (other, _) = setup(31);
    assert!(matches!(
        PublicKey::from_bytes(&bytes, &other),
        Err(HeError::ForeignParameters { .. })
    ));
}

#[test]
fn flooded_ciphertexts_decrypt_exactly_and_cost_the_flooding_width() {
    let (params, keys) = setup(30);
    let ek = keys
        .evaluation_keys()
        .unwrap()
        .with_public_key(keys.public_key())
        .unwrap();
    let ev = Evaluator::with_keys(ek);
    let samples: Vec<Vec<i64>> = (0..50).map(|i| vec![i, -i, 7 * i]).collect();
    let batch = keys.encrypt_batch(&samples).unwrap();
    let x = ev
        .weighted_sums(&batch, &[3, -1, 2, 1, 1, 1], 2, Some(&[5, -5]))
        .unwrap();
    let before = keys.noise_budget(&x).unwrap();
    let expected = keys.decrypt_batch(&x).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let flood_bits = 100;
    let flooded = ev.flood(&x, flood_bits, &mut rng).unwrap();
    assert_eq!(keys.decrypt_batch(&flooded).unwrap(), expected);
    let after = keys.noise_budget(&flooded).unwrap();
    // The flooding term (about 2^flood_bits) dominates the noise.
    let log_q = params.log_q_at_level(0);
    let room = log_q - params.plaintext_bits() - 1;
    assert!(
        after + flood_bits <= room + 1,
        "budget {after} after 2^{flood_bits}"
    );
    assert!(
        after + flood_bits + 2 >= room,
        "budget {after} after 2^{flood_bits}"
    );
    assert!(before > after);
    // Deterministic for a seeded rng.
    let again = ev
        .flood(&x, flood_bits, &mut ChaCha20Rng::seed_from_u64(1))
        .unwrap();
    assert_eq!(again.to_bytes(), flooded.to_bytes());
    // Still decrypts after switching to the deepest level that keeps a margin.
    let switched = ev.switch_to_level(&flooded, 1).unwrap();
    assert_eq!(keys.decrypt_batch(&switched).unwrap(), expected);
    eprintln!(
        "noise budget: before flooding {before}, after 2^{flood_bits} flooding {after}, \
         after switching to level 1 {}",
        keys.noise_budget(&switched).unwrap()
    );
    // Too wide, or no public key.
    assert!(ev.flood(&x, room, &mut rng).is_err());
    let no_pk = Evaluator::with_keys(keys.evaluation_keys().unwrap());
    assert!(matches!(
        no_pk.flood(&x, 10, &mut rng),
        Err(HeError::MissingKey(_))
    ));
}
