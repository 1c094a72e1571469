//! Serialization round-trips; truncated, garbled and foreign-parameter bytes
//! give errors, never panics.

use cryptotl_he::{
    wire, ClientKeys, EncryptedBatch, EvaluationKeys, Evaluator, HeError, HeParameters, Preset,
};
use proptest::prelude::*;
use std::sync::OnceLock;

struct Fixture {
    params: HeParameters,
    client: ClientKeys,
    fresh: Vec<u8>,
    evaluated: Vec<u8>,
    keys: Vec<u8>,
    samples: Vec<Vec<i64>>,
    evaluated_plain: Vec<Vec<i64>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let params = HeParameters::for_plaintext_bits(Preset::N8192, 36).unwrap();
        let client = ClientKeys::generate(&params);
        let keys = client.evaluation_keys().unwrap();
        let samples = vec![vec![1i64, -2, 3], vec![40, 50, -60]];
        let enc = client.encrypt_batch(&samples).unwrap();
        let eval = Evaluator::with_keys(keys.clone());
        let sq = eval
            .polynomials(&enc, &[vec![1, 0, 1], vec![0, 0, 1], vec![0, 2, 0]])
            .unwrap();
        let sq = eval.switch_to_level(&sq, 1).unwrap();
        let evaluated_plain = client.decrypt_batch(&sq).unwrap();
        Fixture {
            fresh: enc.to_bytes(),
            evaluated: sq.to_bytes(),
            keys: keys.to_bytes(),
            params,
            client,
            samples,
            evaluated_plain,
        }
    })
}

#[test]
fn batches_and_keys_round_trip() {
    let f = fixture();
    let back = EncryptedBatch::from_bytes(&f.fresh, &f.params, 16).unwrap();
    assert_eq!(f.client.decrypt_batch(&back).unwrap(), f.samples);
    // Fresh ciphertexts are sent seeded: one part of three 36+ bit moduli... per ciphertext.
    let part: usize = f
        .params
        .moduli()
        .iter()
        .map(|q| 8192 * (64 - q.leading_zeros() as usize) / 8)
        .sum();
    assert_eq!(f.fresh.len(), wire::HEADER_LEN + 12 + 3 * (1 + 32 + part));
    // Re-serializing a decoded fresh batch is byte-identical.
    assert!(back.to_bytes() == f.fresh);

    let back = EncryptedBatch::from_bytes(&f.evaluated, &f.params, 16).unwrap();
    assert_eq!(back.level(), 1);
    assert_eq!(f.client.decrypt_batch(&back).unwrap(), f.evaluated_plain);
    assert_eq!(f.evaluated_plain[0], vec![2, 4, 6]);

    let keys = EvaluationKeys::from_bytes(&f.keys, &f.params).unwrap();
    // In memory: 2L polynomials of L x N u64 coefficients, each with its
    // Shoup precomputation; several times the serialized size.
    let l = f.params.moduli().len();
    assert_eq!(keys.resident_bytes(), 32 * l * l * 8192);
    assert!(keys.resident_bytes() > 3 * f.keys.len());
    let eval = Evaluator::with_keys(keys);
    let enc = f.client.encrypt_batch(&[vec![7i64]]).unwrap();
    let sq = eval.polynomials(&enc, &[vec![0, 0, 1]]).unwrap();
    assert_eq!(f.client.decrypt_batch(&sq).unwrap(), vec![vec![49]]);
}

/// The prefix followed by every ciphertext's bytes is `to_bytes`, for seeded
/// (fresh) and unseeded (evaluated, switched) batches alike.
#[test]
fn incremental_serialization_equals_to_bytes() {
    let f = fixture();
    for bytes in [&f.fresh, &f.evaluated] {
        let batch = EncryptedBatch::from_bytes(bytes, &f.params, 16).unwrap();
        assert_eq!(batch.serialized_len(), bytes.len());
        let mut joined = batch.serialized_prefix();
        assert_eq!(joined.len(), wire::HEADER_LEN + 12);
        let mut i = 0;
        while let Some(ct) = batch.serialized_ciphertext(i) {
            joined.extend_from_slice(&ct);
            i += 1;
        }
        assert_eq!(i, batch.features());
        assert!(joined == *bytes, "incremental bytes differ from to_bytes");
    }
}

#[test]
fn foreign_parameters_are_refused() {
    let f = fixture();
    let other = HeParameters::for_plaintext_bits(Preset::N8192, 37).unwrap();
    assert!(matches!(
        EncryptedBatch::from_bytes(&f.fresh, &other, 16),
        Err(HeError::ForeignParameters { .. })
    ));
    assert!(matches!(
        EvaluationKeys::from_bytes(&f.keys, &other),
        Err(HeError::ForeignParameters { .. })
    ));
}

#[test]
fn wrong_kind_version_magic_and_limits_are_refused() {
    let f = fixture();
    assert!(EvaluationKeys::from_bytes(&f.fresh, &f.params).is_err());
    assert!(EncryptedBatch::from_bytes(&f.keys, &f.params, 16).is_err());
    let mut v = f.fresh.clone();
    v[4] = 9;
    assert!(EncryptedBatch::from_bytes(&v, &f.params, 16).is_err());
    let mut m = f.fresh.clone();
    m[0] = b'X';
    assert!(EncryptedBatch::from_bytes(&m, &f.params, 16).is_err());
    // More ciphertexts than the caller allows.
    assert!(EncryptedBatch::from_bytes(&f.fresh, &f.params, 2).is_err());
    // Trailing garbage (with a consistent header length).
    let mut t = f.fresh.clone();
    t.extend_from_slice(&[0u8; 5]);
    let len = (t.len() - wire::HEADER_LEN) as u64;
    t[24..32].copy_from_slice(&len.to_le_bytes());
    assert!(EncryptedBatch::from_bytes(&t, &f.params, 16).is_err());
}

#[test]
fn every_truncation_is_an_error() {
    let f = fixture();
    for data in [&f.fresh, &f.evaluated, &f.keys] {
        let mut cuts: Vec<usize> = (0..64).collect();
        cuts.extend((64..data.len()).step_by(data.len() / 97 + 1));
        cuts.push(data.len() - 1);
        for cut in cuts {
            let d = &data[..cut];
            assert!(EncryptedBatch::from_bytes(d, &f.params, 16).is_err());
            assert!(EvaluationKeys::from_bytes(d, &f.params).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Flipping bytes anywhere never panics; in the header it is always caught.
    #[test]
    fn garbled_bytes_never_panic(which in 0usize..3, pos in any::<prop::sample::Index>(), byte in any::<u8>(), header in any::<bool>()) {
        let f = fixture();
        let src = [&f.fresh, &f.evaluated, &f.keys][which];
        let mut data = src.clone();
        let i = if header { pos.index(wire::HEADER_LEN) } else { pos.index(data.len()) };
        prop_assume!(data[i] != byte);
        data[i] = byte;
        let batch = EncryptedBatch::from_bytes(&data, &f.params, 16);
        let keys = EvaluationKeys::from_bytes(&data, &f.params);
        if header && i != 7 {
            prop_assert!(batch.is_err());
            prop_assert!(keys.is_err());
        }
        if let Ok(b) = batch {
            // Well-formed garbage decrypts to something, without panicking.
            let _ = f.client.decrypt_batch(&b);
        }
    }

    /// Random bytes with a valid header never panic.
    #[test]
    fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..3000), kind in 1u8..3) {
        let f = fixture();
        let mut data = f.fresh[..wire::HEADER_LEN].to_vec();
        data[6] = kind;
        data[24..32].copy_from_slice(&(body.len() as u64).to_le_bytes());
        data.extend_from_slice(&body);
        let _ = EncryptedBatch::from_bytes(&data, &f.params, 16);
        let _ = EvaluationKeys::from_bytes(&data, &f.params);
    }
}
