//! Several small plaintext moduli instead of one large one (Chinese
//! remaindering).
//!
//! Documented on [`CrtParameters`].

use serde::{Deserialize, Serialize};

use crate::error::{HeError, Result};
use crate::params::{bit_length, HeParameters, ParameterSpec, Preset};

/// Largest product of the plaintext moduli (so that centered results fit `i64`).
pub const MAX_PRODUCT_BITS: u32 = 62;

/// Serializable description of a [`CrtParameters`] family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrtParameterSpec {
    /// Polynomial degree `N`.
    pub degree: usize,
    /// The plaintext primes `t_1 … t_K` (distinct, each `≡ 1 mod 2N`).
    pub plaintext_moduli: Vec<u64>,
    /// The shared ciphertext moduli.
    pub moduli: Vec<u64>,
}

/// A family of BFV parameter sets differing only in the plaintext prime.
///
/// Noise grows with the plaintext modulus `t` in every plaintext
/// multiplication, so a circuit that multiplies by many plaintexts (the
/// diagonal method of [`SlotTransform`](crate::SlotTransform)) fits a given ciphertext modulus only
/// with a small `t`. [`CrtParameters`] holds `K` parameter sets that share the
/// degree and the ciphertext moduli and differ only in their plaintext prime
/// `t_k`; the same integer circuit runs once per member, exactly modulo each
/// `t_k`, and [`CrtParameters::recombine`] rebuilds the exact integer modulo
/// `T = Π t_k` (centered). The results are bit-exact as long as the final
/// integer values satisfy `|v| < T / 2` — intermediate values may wrap around
/// any `t_k`, because reduction modulo `t_k` is a ring homomorphism.
///
/// Every member is an ordinary [`HeParameters`], so each is checked against
/// the HomomorphicEncryption.org 128-bit bound (they share `q`). Key
/// switching does not depend on `t`: one secret key, one relinearization key
/// and one set of rotation keys serve every member (see
/// [`crate::ClientKeys::for_parameters`]).
#[derive(Clone, Debug)]
pub struct CrtParameters {
    spec: CrtParameterSpec,
    members: Vec<HeParameters>,
}

impl PartialEq for CrtParameters {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl CrtParameters {
    /// Validates a spec: every member must be valid, secure parameters, the
    /// primes distinct and their product at most [`MAX_PRODUCT_BITS`] bits.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] (or [`HeError::Insecure`]) naming the
    /// problem.
    pub fn new(spec: &CrtParameterSpec) -> Result<Self> {
        if spec.plaintext_moduli.is_empty() {
            return Err(HeError::InvalidParameters(
                "a CRT family needs at least one plaintext modulus".into(),
            ));
        }
        for (i, t) in spec.plaintext_moduli.iter().enumerate() {
            if spec.plaintext_moduli[..i].contains(t) {
                return Err(HeError::InvalidParameters(format!(
                    "plaintext modulus {t} is repeated"
                )));
            }
        }
        let bits: u32 = spec.plaintext_moduli.iter().map(|t| bit_length(*t)).sum();
        if bits > MAX_PRODUCT_BITS {
            return Err(HeError::InvalidParameters(format!(
                "the plaintext moduli multiply to up to {bits} bits; at most {MAX_PRODUCT_BITS} supported"
            )));
        }
        let members = spec
            .plaintext_moduli
            .iter()
            .map(|&t| {
                HeParameters::new(&ParameterSpec {
                    degree: spec.degree,
                    plaintext_modulus: t,
                    moduli: spec.moduli.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            spec: spec.clone(),
            members,
        })
    }

    /// `count` members whose plaintext moduli are the smallest primes
    /// `≡ 1 mod 2N` of at least `prime_bits` bits, with ciphertext moduli of
    /// the given bit sizes.
    ///
    /// ```
    /// use cryptotl_he::{CrtParameters, Preset};
    /// let p = CrtParameters::generate(Preset::N8192, 18, 3, &[54, 54, 55, 55]).unwrap();
    /// assert_eq!(p.members().len(), 3);
    /// assert!(p.product_bits() >= 51);
    /// ```
    ///
    /// # Errors
    /// If the primes would exceed [`MAX_PRODUCT_BITS`] together, or the
    /// parameters are invalid or insecure.
    pub fn generate(
        preset: Preset,
        prime_bits: u32,
        count: usize,
        moduli_bits: &[u32],
    ) -> Result<Self> {
        if !(2..=MAX_PRODUCT_BITS).contains(&prime_bits) || count == 0 {
            return Err(HeError::NoParameters(format!(
                "{count} plaintext primes of {prime_bits} bits requested"
            )));
        }
        // The moduli do not depend on t (30 bits is only the search start).
        let base = HeParameters::with_moduli_sizes(preset, 30, moduli_bits)?;
        let two_n = 2 * preset.degree() as u64;
        let mut primes = Vec::with_capacity(count);
        let mut next = (1u64 << (prime_bits - 1)).div_ceil(two_n) * two_n + 1;
        while primes.len() < count {
            if bit_length(next) > MAX_PRODUCT_BITS {
                return Err(HeError::NoParameters(format!(
                    "not enough primes congruent to 1 mod {two_n} from {prime_bits} bits"
                )));
            }
            if fhe_util::is_prime(next) {
                primes.push(next);
            }
            next += two_n;
        }
        Self::new(&CrtParameterSpec {
            degree: preset.degree(),
            plaintext_moduli: primes,
            moduli: base.moduli().to_vec(),
        })
    }

    /// The serializable description.
    pub fn spec(&self) -> &CrtParameterSpec {
        &self.spec
    }

    /// The member parameter sets, one per plaintext prime.
    pub fn members(&self) -> &[HeParameters] {
        &self.members
    }

    /// The first member (whose instance owns shared keys).
    pub fn first(&self) -> &HeParameters {
        &self.members[0]
    }

    /// The product `T` of the plaintext moduli.
    pub fn product(&self) -> u128 {
        self.spec
            .plaintext_moduli
            .iter()
            .map(|&t| u128::from(t))
            .product()
    }

    /// `⌊log2 T⌋`: results `|v| < 2^(product_bits − 1)` are recovered exactly.
    pub fn product_bits(&self) -> u32 {
        u128::BITS - 1 - self.product().leading_zeros()
    }

    /// Largest `|v|` recovered exactly: `(T − 1) / 2`.
    pub fn max_abs_value(&self) -> u128 {
        (self.product() - 1) / 2
    }

    /// Rebuilds the centered integer `v` with `v ≡ residues[k] (mod t_k)`
    /// for every member (residues may be given centered or not).
    ///
    /// ```
    /// use cryptotl_he::{CrtParameters, Preset};
    /// let p = CrtParameters::generate(Preset::N8192, 18, 3, &[54, 54, 55, 55]).unwrap();
    /// let v: i64 = -123_456_789_012;
    /// let residues: Vec<i64> = p.spec().plaintext_moduli.iter()
    ///     .map(|&t| v.rem_euclid(t as i64)).collect();
    /// assert_eq!(p.recombine(&residues).unwrap(), v);
    /// ```
    ///
    /// # Errors
    /// [`HeError::InvalidInput`] if the number of residues is not `K`.
    pub fn recombine(&self, residues: &[i64]) -> Result<i64> {
        let moduli = &self.spec.plaintext_moduli;
        if residues.len() != moduli.len() {
            return Err(HeError::InvalidInput(format!(
                "{} residues for {} plaintext moduli",
                residues.len(),
                moduli.len()
            )));
        }
        // Garner's mixed-radix reconstruction (all values < 2^62, so every
        // product below fits u128).
        let mut value: u128 = 0;
        let mut radix: u128 = 1;
        for (&r, &t) in residues.iter().zip(moduli) {
            let t128 = u128::from(t);
            let r = (i128::from(r)).rem_euclid(t as i128) as u128;
            let current = value % t128;
            let diff = (r + t128 - current) % t128;
            let inv = mod_inverse(radix % t128, t128);
            let digit = diff * inv % t128;
            value += digit * radix;
            radix *= t128;
        }
        let half = radix / 2;
        Ok(if value > half {
            -((radix - value) as i64)
        } else {
            value as i64
        })
    }
}

/// `a^{-1} mod m` for a prime `m` and `a` not divisible by it (Fermat).
fn mod_inverse(a: u128, m: u128) -> u128 {
    let mut result: u128 = 1;
    let mut base = a % m;
    let mut e = m - 2;
    while e > 0 {
        if e & 1 == 1 {
            result = result * base % m;
        }
        base = base * base % m;
        e >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn family() -> CrtParameters {
        CrtParameters::generate(Preset::N8192, 18, 3, &[54, 54, 55, 55]).unwrap()
    }

    #[test]
    fn members_share_moduli_and_are_secure() {
        let p = family();
        for m in p.members() {
            assert_eq!(m.moduli(), p.spec().moduli.as_slice());
            assert!(m.log_q() <= 218);
            assert!(m.plaintext_bits() >= 18);
        }
        assert!(p.product_bits() >= 51);
    }

    #[test]
    fn bad_families_are_refused() {
        let p = family();
        let mut spec = p.spec().clone();
        spec.plaintext_moduli[1] = spec.plaintext_moduli[0];
        assert!(CrtParameters::new(&spec).is_err());
        let mut spec = p.spec().clone();
        spec.plaintext_moduli.clear();
        assert!(CrtParameters::new(&spec).is_err());
        let mut spec = p.spec().clone();
        spec.plaintext_moduli.push(1_000_003);
        assert!(CrtParameters::new(&spec).is_err());
        assert!(p.recombine(&[1, 2]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn recombination_inverts_reduction(v in -(1i64 << 50)..(1i64 << 50)) {
            static FAMILY: std::sync::OnceLock<CrtParameters> = std::sync::OnceLock::new();
            let p = FAMILY.get_or_init(family);
            let residues: Vec<i64> = p.spec().plaintext_moduli.iter()
                .map(|&t| v.rem_euclid(t as i64)).collect();
            prop_assert_eq!(p.recombine(&residues).unwrap(), v);
            // Centered residues work too.
            let centered: Vec<i64> = residues.iter().zip(&p.spec().plaintext_moduli)
                .map(|(&r, &t)| if r > (t / 2) as i64 { r - t as i64 } else { r }).collect();
            prop_assert_eq!(p.recombine(&centered).unwrap(), v);
        }
    }
}
