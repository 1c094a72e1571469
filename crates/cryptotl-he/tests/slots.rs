//! Slot packing: rotations (hoisted key switching with fhe.rs's Galois keys)
//! and baby-step/giant-step transforms decrypt to exactly the plain
//! permutation / matrix product, for every member of a CRT family.

use std::collections::BTreeMap;

use cryptotl_he::CrtParameters;
use cryptotl_he::{fold_batch, transform_batch, Rotation, SlotTransform};
use cryptotl_he::{ClientKeys, Preset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn family() -> CrtParameters {
    CrtParameters::generate(Preset::N8192, 18, 2, &[54, 54, 55, 55]).unwrap()
}

fn reduce(v: i64, t: u64) -> i64 {
    let t = t as i64;
    let r = v.rem_euclid(t);
    if r > t / 2 {
        r - t
    } else {
        r
    }
}

#[test]
fn rotations_and_folds_match_the_plain_permutation_on_every_member() {
    let crt = family();
    let base = ClientKeys::generate(crt.first());
    let rotations = [
        Rotation::Columns(1),
        Rotation::Columns(5),
        Rotation::Columns(512),
        Rotation::SwapRows,
    ];
    let keys = base.rotation_keys(&rotations).unwrap();
    assert_eq!(keys.rotations().len(), 4);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for member in crt.members() {
        let client = base.for_parameters(member).unwrap();
        let n = member.degree();
        let t = member.plaintext_modulus();
        let x: Vec<i64> = (0..n).map(|_| rng.random_range(-1000..1000)).collect();
        let enc = client.encrypt_slots(std::slice::from_ref(&x)).unwrap();
        for &r in &rotations {
            let got = fold_batch(&enc, &[r], &keys).unwrap();
            let plain = r.apply(&x);
            let expect: Vec<i64> = x
                .iter()
                .zip(&plain)
                .map(|(a, b)| reduce(a + b, t))
                .collect();
            assert_eq!(
                client.decrypt_slot_vectors(&got).unwrap()[0],
                expect,
                "{r:?}"
            );
        }
    }
    // A key the set lacks is a clear error, not a panic.
    let client = base.for_parameters(&crt.members()[1]).unwrap();
    let enc = client.encrypt_slots(&[vec![1i64; 8]]).unwrap();
    assert!(fold_batch(&enc, &[Rotation::Columns(2)], &keys).is_err());
}

#[test]
fn bsgs_transform_is_exact() {
    let crt = family();
    let base = ClientKeys::generate(crt.first());
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let member = &crt.members()[1];
    let n = member.degree();
    let t = member.plaintext_modulus();
    // 11 diagonals at scattered shifts, baby size 4.
    let shifts = [0usize, 1, 2, 3, 5, 6, 9, 13, 14, 100, 4095];
    let diagonals: BTreeMap<usize, Vec<i64>> = shifts
        .iter()
        .map(|&r| (r, (0..n).map(|_| rng.random_range(-128..128)).collect()))
        .collect();
    let tr = SlotTransform::new(member, &diagonals, 4).unwrap();
    let keys = base
        .rotation_keys(&tr.rotations().into_iter().collect::<Vec<_>>())
        .unwrap();
    let client = base.for_parameters(member).unwrap();
    let x: Vec<i64> = (0..n).map(|_| rng.random_range(-100..100)).collect();
    let y: Vec<i64> = (0..n).map(|_| rng.random_range(-100..100)).collect();
    let ex = client.encrypt_slots(std::slice::from_ref(&x)).unwrap();
    let ey = client.encrypt_slots(std::slice::from_ref(&y)).unwrap();
    let start = std::time::Instant::now();
    let out = transform_batch(&[(&ex, &tr), (&ey, &tr)], &keys).unwrap();
    eprintln!(
        "transform of 2 inputs x {} diagonals: {:?}",
        shifts.len(),
        start.elapsed()
    );
    let mut expect = vec![0i64; n];
    for (r, d) in &diagonals {
        let rx = Rotation::Columns(*r).apply(&x);
        let ry = Rotation::Columns(*r).apply(&y);
        let rx = if *r == 0 { x.clone() } else { rx };
        let ry = if *r == 0 { y.clone() } else { ry };
        for s in 0..n {
            expect[s] += d[s] * (rx[s] + ry[s]);
        }
    }
    let expect: Vec<i64> = expect.into_iter().map(|v| reduce(v, t)).collect();
    assert_eq!(client.decrypt_slot_vectors(&out).unwrap()[0], expect);
}

#[test]
fn rotation_keys_round_trip_and_hostile_bytes_are_refused() {
    let crt = family();
    let base = ClientKeys::generate(crt.first());
    let keys = base
        .rotation_keys(&[Rotation::Columns(3), Rotation::SwapRows])
        .unwrap();
    let bytes = keys.to_bytes();
    // Any member's parameters read them (same moduli, fingerprint of member 0
    // is what the header carries, so read with member 0).
    let back = cryptotl_he::RotationKeys::from_bytes(&bytes, crt.first(), 64).unwrap();
    assert_eq!(back.rotations(), keys.rotations());
    // No encoding is kept: the parsed keys re-encode to the very same bytes
    // (from c0 and the seed of c1), and hold only the NTT-Shoup tables.
    assert_eq!(back.to_bytes(), bytes);
    let n = crt.first().degree();
    let l = crt.first().moduli().len();
    assert_eq!(back.resident_bytes(), 2 * (2 * l * 2 * l * n * 8 + 32));
    // The parsed keys rotate correctly.
    let client = base.for_parameters(&crt.members()[1]).unwrap();
    let x: Vec<i64> = (0..8192).map(|i| i % 97).collect();
    let enc = client.encrypt_slots(std::slice::from_ref(&x)).unwrap();
    let got = fold_batch(&enc, &[Rotation::Columns(3)], &back).unwrap();
    let rx = Rotation::Columns(3).apply(&x);
    let expect: Vec<i64> = x.iter().zip(&rx).map(|(a, b)| a + b).collect();
    assert_eq!(client.decrypt_slot_vectors(&got).unwrap()[0], expect);
    // Truncation, a flipped exponent tag, too many keys, other parameters.
    for cut in [10, 40, bytes.len() / 2, bytes.len() - 1] {
        assert!(cryptotl_he::RotationKeys::from_bytes(&bytes[..cut], crt.first(), 64).is_err());
    }
    let mut lied = bytes.clone();
    lied[32 + 4 + 1] ^= 1; // step of the first key
    assert!(cryptotl_he::RotationKeys::from_bytes(&lied, crt.first(), 64).is_err());
    assert!(cryptotl_he::RotationKeys::from_bytes(&bytes, crt.first(), 1).is_err());
    assert!(cryptotl_he::RotationKeys::from_bytes(&bytes, &crt.members()[1], 64).is_err());
    // The first key's encoding replaced by 0xff bytes of the same length.
    let mut garbled = bytes.clone();
    let len = u32::from_le_bytes(garbled[41..45].try_into().unwrap()) as usize;
    garbled[45..45 + len].fill(0xff);
    assert!(cryptotl_he::RotationKeys::from_bytes(&garbled, crt.first(), 64).is_err());
}
