//! BFV parameter sets and their security check.
//!
//! Documented on [`HeParameters`].

use std::fmt;
use std::sync::Arc;

use fhe::bfv::{BfvParameters, BfvParametersBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{HeError, Result};

/// HomomorphicEncryption.org 128-bit classical bounds: `(N, max log2 q)`.
const HE_STANDARD_128: &[(usize, u32)] = &[
    (1024, 27),
    (2048, 54),
    (4096, 109),
    (8192, 218),
    (16384, 438),
    (32768, 881),
];

/// Largest plaintext modulus size fhe.rs 0.1.1 decrypts correctly.
pub const MAX_PLAINTEXT_BITS: u32 = 61;

/// Largest ciphertext modulus size supported by fhe.rs.
pub const MAX_MODULUS_BITS: u32 = 62;

/// Error variance used for fresh ciphertexts and the secret key (fhe.rs default).
const VARIANCE: usize = 10;

/// Largest `log2 q` allowed at 128-bit classical security for degree `n`, per
/// the HomomorphicEncryption.org standard, or `None` for degrees the table
/// does not cover.
///
/// ```
/// assert_eq!(cryptotl_he::max_log_q_128(8192), Some(218));
/// assert_eq!(cryptotl_he::max_log_q_128(16384), Some(438));
/// assert_eq!(cryptotl_he::max_log_q_128(1000), None);
/// ```
pub fn max_log_q_128(n: usize) -> Option<u32> {
    HE_STANDARD_128
        .iter()
        .find(|(d, _)| *d == n)
        .map(|(_, b)| *b)
}

/// Checks that ciphertext moduli of the given bit lengths meet 128-bit
/// classical security at degree `n`.
///
/// The modulus size is counted as the sum of the moduli bit lengths, which is
/// never below the true `log2 q` (a conservative count).
pub fn check_security(n: usize, moduli: &[u64]) -> Result<()> {
    let max = max_log_q_128(n).ok_or_else(|| {
        HeError::InvalidParameters(format!(
            "polynomial degree {n} is not covered by the HomomorphicEncryption.org table \
             (use 1024, 2048, 4096, 8192, 16384 or 32768)"
        ))
    })?;
    let log_q: u32 = moduli.iter().map(|q| bit_length(*q)).sum();
    if log_q > max {
        return Err(HeError::Insecure {
            degree: n,
            log_q,
            max_log_q: max,
        });
    }
    Ok(())
}

/// The polynomial degrees cryptotl ships presets for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Preset {
    /// N = 8192: 8192 samples per batch, log2 q ≤ 218.
    N8192,
    /// N = 16384: 16384 samples per batch, log2 q ≤ 438.
    N16384,
}

impl Preset {
    /// The polynomial degree (and number of SIMD slots).
    pub fn degree(self) -> usize {
        match self {
            Preset::N8192 => 8192,
            Preset::N16384 => 16384,
        }
    }

    /// All presets, smallest first.
    pub fn all() -> [Preset; 2] {
        [Preset::N8192, Preset::N16384]
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "N={}", self.degree())
    }
}

/// A serializable description of BFV parameters (what a model manifest or a
/// model card stores). Turn it into usable parameters with
/// [`HeParameters::new`], which validates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterSpec {
    /// Polynomial degree `N` (number of SIMD slots).
    pub degree: usize,
    /// Plaintext modulus `t` (a prime `≡ 1 mod 2N`).
    pub plaintext_modulus: u64,
    /// Ciphertext moduli `q_0, …, q_{L-1}`; modulus switching drops the last one first.
    pub moduli: Vec<u64>,
}

/// Validated BFV parameters, shared by keys, ciphertexts and evaluators.
///
/// Every [`HeParameters`] value is checked at construction against the
/// HomomorphicEncryption.org security standard (Albrecht et al., 2018,
/// Table 1, uniform/ternary secret, classical 128-bit column): for a
/// polynomial degree `N` the ciphertext modulus `q` may have at most
/// [`max_log_q_128`]`(N)` bits (218 at N = 8192, 438 at N = 16384). fhe.rs's
/// own builder checks nothing about security; this crate refuses weaker
/// parameters with [`HeError::Insecure`].
///
/// The secret key of fhe.rs is sampled from a centered binomial distribution
/// of variance 10, which is at least as hard as the ternary distribution the
/// table assumes (a wider secret only increases the attack cost).
///
/// Beyond security, fhe.rs 0.1.1 has correctness preconditions it does not
/// check itself; [`HeParameters::new`] validates them up front:
///
/// - the plaintext modulus `t` is a prime `≡ 1 (mod 2N)` (SIMD batching),
/// - `t` has at most 61 bits and is smaller than every ciphertext modulus
///   (otherwise decryption is silently wrong, or `build()` panics when `t`
///   equals a modulus),
/// - the ciphertext moduli are distinct primes `≡ 1 (mod 2N)` of 10–62 bits,
///   and there are at least two of them (relinearization needs key switching).
///
/// Cloning is cheap (the fhe.rs parameters live behind an `Arc`), and all
/// objects built from clones of one `HeParameters` are compatible.
#[derive(Clone)]
pub struct HeParameters {
    spec: ParameterSpec,
    bfv: Arc<BfvParameters>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for HeParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeParameters")
            .field("degree", &self.spec.degree)
            .field("plaintext_bits", &self.plaintext_bits())
            .field("log_q", &self.log_q())
            .field("moduli", &self.spec.moduli.len())
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl PartialEq for HeParameters {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for HeParameters {}

/// A 16-byte digest identifying a parameter set; stored in every serialized
/// ciphertext and key so that data from other parameters is refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 16]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl HeParameters {
    /// Validates a [`ParameterSpec`] (security, primality, congruences, the
    /// fhe.rs correctness preconditions) and builds the parameters.
    pub fn new(spec: &ParameterSpec) -> Result<Self> {
        let n = spec.degree;
        if n < 8 || !n.is_power_of_two() {
            return Err(HeError::InvalidParameters(format!(
                "polynomial degree {n} is not a power of two"
            )));
        }
        check_security(n, &spec.moduli)?;
        let two_n = 2 * n as u64;
        let t = spec.plaintext_modulus;
        if t < 2 || bit_length(t) > MAX_PLAINTEXT_BITS {
            return Err(HeError::InvalidParameters(format!(
                "plaintext modulus must have 2..={MAX_PLAINTEXT_BITS} bits, got {} bits",
                bit_length(t)
            )));
        }
        if !fhe_util::is_prime(t) || t % two_n != 1 {
            return Err(HeError::InvalidParameters(format!(
                "plaintext modulus {t} must be a prime congruent to 1 mod 2N = {two_n} \
                 (needed for one-sample-per-slot batching)"
            )));
        }
        if spec.moduli.len() < 2 {
            return Err(HeError::InvalidParameters(
                "at least two ciphertext moduli are needed (relinearization uses key switching)"
                    .into(),
            ));
        }
        for (i, &q) in spec.moduli.iter().enumerate() {
            let bits = bit_length(q);
            if !(10..=MAX_MODULUS_BITS).contains(&bits) {
                return Err(HeError::InvalidParameters(format!(
                    "ciphertext modulus #{i} has {bits} bits; fhe.rs supports 10..=62"
                )));
            }
            if !fhe_util::is_prime(q) || q % two_n != 1 {
                return Err(HeError::InvalidParameters(format!(
                    "ciphertext modulus #{i} ({q}) must be a prime congruent to 1 mod 2N"
                )));
            }
            if q <= t {
                return Err(HeError::InvalidParameters(format!(
                    "ciphertext modulus #{i} ({q}) must exceed the plaintext modulus {t}; \
                     fhe.rs decrypts silently wrong otherwise"
                )));
            }
            if spec.moduli[..i].contains(&q) {
                return Err(HeError::InvalidParameters(format!(
                    "ciphertext modulus #{i} ({q}) is repeated"
                )));
            }
        }
        let bfv = BfvParametersBuilder::new()
            .set_degree(n)
            .set_plaintext_modulus(t)
            .set_moduli(&spec.moduli)
            .set_variance(VARIANCE)
            .build_arc()?;
        Ok(Self {
            fingerprint: fingerprint_of(spec),
            spec: spec.clone(),
            bfv,
        })
    }

    /// Parameters for a preset with a plaintext modulus of exactly `t_bits`
    /// bits (the smallest such prime `≡ 1 mod 2N`, about `2^(t_bits−1)`: the
    /// bound analysis only needs `t > 2·max|value|`) and ciphertext moduli
    /// that use the whole 128-bit-secure modulus budget: first two moduli of
    /// `t_bits` bits, the largest such primes, so above `t` (what results are
    /// switched down to before they leave the server), then as few moduli as
    /// possible for the rest.
    ///
    /// ```
    /// use cryptotl_he::{HeParameters, Preset};
    /// let p = HeParameters::for_plaintext_bits(Preset::N8192, 40).unwrap();
    /// assert_eq!(p.plaintext_bits(), 40);
    /// assert!(p.log_q() <= 218);
    /// ```
    pub fn for_plaintext_bits(preset: Preset, t_bits: u32) -> Result<Self> {
        let n = preset.degree();
        let budget = max_log_q_128(n).unwrap_or(0);
        if !(12..=MAX_PLAINTEXT_BITS).contains(&t_bits) {
            return Err(HeError::NoParameters(format!(
                "plaintext modulus of {t_bits} bits requested; supported: 12..={MAX_PLAINTEXT_BITS}"
            )));
        }
        // t is the smallest t_bits-bit prime, so the two moduli kept by
        // modulus switching before results leave the server can have t's bit
        // length and still exceed it: responses shrink. The rest of the
        // budget goes to as few moduli as possible (fewer moduli make the
        // linear layers cheaper).
        // (At least 30 bits: there are too few small primes ≡ 1 mod 2N.)
        let small = t_bits.max(30);
        if budget < 2 * small + 10 {
            return Err(HeError::NoParameters(format!(
                "a {t_bits}-bit plaintext modulus leaves no room for ciphertext moduli \
                 within {budget} bits at {preset}"
            )));
        }
        let rest = budget - 2 * small;
        // As few moduli as possible, but each at least t's bit length.
        let mut count = rest.div_ceil(MAX_MODULUS_BITS);
        if rest / count < t_bits {
            count = rest / t_bits;
        }
        let mut sizes = vec![small, small];
        if count > 0 {
            sizes.extend((0..count).map(|i| {
                (rest / count + u32::from(i >= count - rest % count)).min(MAX_MODULUS_BITS)
            }));
        }
        Self::with_moduli_sizes(preset, t_bits, &sizes)
    }

    /// The largest plaintext modulus size for which
    /// [`HeParameters::for_plaintext_bits`] still uses the preset's modulus
    /// budget up to 16 bits (54 bits at N = 8192, 61 at N = 16384). Larger
    /// `t` give valid parameters with a much smaller `q`: too little noise
    /// budget for a multiplication.
    pub fn max_plaintext_bits(preset: Preset) -> u32 {
        let budget = max_log_q_128(preset.degree()).unwrap_or(0);
        (12..=MAX_PLAINTEXT_BITS)
            .rev()
            .find(|b| Self::for_plaintext_bits(preset, *b).is_ok_and(|p| p.log_q() + 16 >= budget))
            .unwrap_or(0)
    }

    /// Parameters for a preset with a `t_bits`-bit plaintext modulus and
    /// ciphertext moduli of the given bit sizes (first is kept longest by
    /// modulus switching). Fails with [`HeError::Insecure`] if the sizes add
    /// up to more than the 128-bit bound.
    pub fn with_moduli_sizes(preset: Preset, t_bits: u32, sizes: &[u32]) -> Result<Self> {
        let n = preset.degree();
        let two_n = 2 * n as u64;
        if !(12..=MAX_PLAINTEXT_BITS).contains(&t_bits) {
            return Err(HeError::NoParameters(format!(
                "plaintext modulus of {t_bits} bits requested; supported: 12..={MAX_PLAINTEXT_BITS}"
            )));
        }
        let t = smallest_prime_from(1u64 << (t_bits - 1), two_n)
            .filter(|t| bit_length(*t) == t_bits)
            .ok_or_else(|| {
                HeError::NoParameters(format!("no {t_bits}-bit prime congruent to 1 mod {two_n}"))
            })?;
        let mut moduli: Vec<u64> = Vec::with_capacity(sizes.len());
        for &size in sizes {
            if !(10..=MAX_MODULUS_BITS).contains(&size) {
                return Err(HeError::InvalidParameters(format!(
                    "ciphertext modulus size {size} outside 10..=62 bits"
                )));
            }
            let mut upper = 1u64 << size;
            let q = loop {
                let q = fhe_math::zq::primes::generate_prime(size as usize, two_n, upper)
                    .ok_or_else(|| {
                        HeError::NoParameters(format!(
                            "not enough {size}-bit primes congruent to 1 mod {two_n}"
                        ))
                    })?;
                if q != t && !moduli.contains(&q) {
                    break q;
                }
                upper = q;
            };
            moduli.push(q);
        }
        Self::new(&ParameterSpec {
            degree: n,
            plaintext_modulus: t,
            moduli,
        })
    }

    /// The serializable description of these parameters.
    pub fn spec(&self) -> &ParameterSpec {
        &self.spec
    }

    /// Polynomial degree `N`, also the number of samples per batch.
    pub fn degree(&self) -> usize {
        self.spec.degree
    }

    /// Plaintext modulus `t`.
    pub fn plaintext_modulus(&self) -> u64 {
        self.spec.plaintext_modulus
    }

    /// Bit length of `t`.
    pub fn plaintext_bits(&self) -> u32 {
        bit_length(self.spec.plaintext_modulus)
    }

    /// Largest value `v` such that every integer in `[-v, v]` decodes
    /// correctly (centered decoding): `(t - 1) / 2`.
    pub fn max_abs_value(&self) -> u64 {
        (self.spec.plaintext_modulus - 1) / 2
    }

    /// Ciphertext moduli.
    pub fn moduli(&self) -> &[u64] {
        &self.spec.moduli
    }

    /// Total ciphertext modulus size in bits (sum of the moduli bit lengths).
    pub fn log_q(&self) -> u32 {
        self.spec.moduli.iter().map(|q| bit_length(*q)).sum()
    }

    /// Modulus size in bits at a level (level `l` keeps the first `L - l` moduli).
    pub fn log_q_at_level(&self, level: usize) -> u32 {
        let keep = self.spec.moduli.len().saturating_sub(level);
        self.spec.moduli[..keep]
            .iter()
            .map(|q| bit_length(*q))
            .sum()
    }

    /// Deepest level reachable by modulus switching (`L - 1`).
    pub fn max_level(&self) -> usize {
        self.spec.moduli.len() - 1
    }

    /// The parameters' fingerprint, stored in every serialized object.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The underlying fhe.rs parameters.
    pub fn bfv(&self) -> &Arc<BfvParameters> {
        &self.bfv
    }

    /// Returns an error unless `other` is the very same parameter instance
    /// (fhe.rs panics when objects from distinct instances are mixed).
    pub(crate) fn ensure_same(&self, other: &Arc<BfvParameters>, what: &str) -> Result<()> {
        if Arc::ptr_eq(&self.bfv, other) {
            Ok(())
        } else {
            Err(HeError::ParameterMismatch(format!(
                "{what} was created under another parameter instance; load it with these parameters"
            )))
        }
    }
}

/// The smallest prime `p ≥ lower` with `p ≡ 1 (mod modulo)`, if one fits in 62 bits.
fn smallest_prime_from(lower: u64, modulo: u64) -> Option<u64> {
    let mut p = lower.div_ceil(modulo) * modulo + 1;
    while p < 1 << MAX_MODULUS_BITS {
        if fhe_util::is_prime(p) {
            return Some(p);
        }
        p += modulo;
    }
    None
}

/// Bit length of a non-zero integer (`⌊log2 x⌋ + 1`).
pub(crate) fn bit_length(x: u64) -> u32 {
    64 - x.leading_zeros()
}

fn fingerprint_of(spec: &ParameterSpec) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(b"cryptotl-he/bfv-parameters/v1");
    h.update((spec.degree as u64).to_le_bytes());
    h.update(spec.plaintext_modulus.to_le_bytes());
    h.update((VARIANCE as u64).to_le_bytes());
    h.update((spec.moduli.len() as u64).to_le_bytes());
    for q in &spec.moduli {
        h.update(q.to_le_bytes());
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    Fingerprint(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_secure_and_valid() {
        for preset in Preset::all() {
            let max = HeParameters::max_plaintext_bits(preset);
            for bits in (20..=max).step_by(3).chain([max]) {
                let p = HeParameters::for_plaintext_bits(preset, bits).unwrap();
                assert_eq!(p.plaintext_bits(), bits);
                assert!(p.log_q() <= max_log_q_128(preset.degree()).unwrap());
                assert!(p.moduli().iter().all(|&q| q > p.plaintext_modulus()));
                assert_eq!(p.plaintext_modulus() % (2 * preset.degree() as u64), 1);
            }
        }
    }

    #[test]
    fn fhe_default_128_sets_pass_and_larger_fail() {
        // fhe.rs's own default N=8192 set: 43,43,44,44,44 bits = 218.
        let ok = [
            0x7fffffd8001u64,
            0x7fffffc8001,
            0xfffffffc001,
            0xffffff6c001,
            0xfffffebc001,
        ];
        check_security(8192, &ok).unwrap();
        let too_big = [ok.to_vec(), vec![0x7fffffd8001u64]].concat();
        match check_security(8192, &too_big) {
            Err(HeError::Insecure {
                log_q, max_log_q, ..
            }) => {
                assert_eq!(max_log_q, 218);
                assert!(log_q > 218);
            }
            other => panic!("expected Insecure, got {other:?}"),
        }
    }

    #[test]
    fn largest_plaintext_modulus_per_preset() {
        assert_eq!(HeParameters::max_plaintext_bits(Preset::N8192), 54);
        assert_eq!(HeParameters::max_plaintext_bits(Preset::N16384), 61);
        // 55 bits still gives valid (secure) parameters, but a much smaller q.
        let p = HeParameters::for_plaintext_bits(Preset::N8192, 55).unwrap();
        assert!(p.log_q() + 16 < 218, "{}", p.log_q());
    }

    #[test]
    fn weak_parameters_are_refused() {
        // Five 54-bit moduli at N = 8192 is 270 bits > 218.
        let err = HeParameters::with_moduli_sizes(Preset::N8192, 40, &[54; 5]).unwrap_err();
        assert!(matches!(err, HeError::Insecure { .. }), "{err}");
        // At N = 16384 the same is fine.
        HeParameters::with_moduli_sizes(Preset::N16384, 40, &[54; 5]).unwrap();
    }

    #[test]
    fn fhe_preconditions_are_checked() {
        let good = HeParameters::for_plaintext_bits(Preset::N8192, 40).unwrap();
        let mut spec = good.spec().clone();
        // t larger than a modulus.
        spec.plaintext_modulus = HeParameters::for_plaintext_bits(Preset::N8192, 54)
            .unwrap()
            .plaintext_modulus();
        assert!(HeParameters::new(&spec).is_err());
        // t not ≡ 1 mod 2N.
        let mut spec = good.spec().clone();
        spec.plaintext_modulus = 1_000_003;
        assert!(HeParameters::new(&spec).is_err());
        // t equal to a modulus.
        let mut spec = good.spec().clone();
        spec.plaintext_modulus = spec.moduli[0];
        assert!(HeParameters::new(&spec).is_err());
        // repeated modulus.
        let mut spec = good.spec().clone();
        spec.moduli[1] = spec.moduli[0];
        assert!(HeParameters::new(&spec).is_err());
        // single modulus.
        let mut spec = good.spec().clone();
        spec.moduli.truncate(1);
        assert!(HeParameters::new(&spec).is_err());
        // unknown degree.
        let mut spec = good.spec().clone();
        spec.degree = 3000;
        assert!(HeParameters::new(&spec).is_err());
    }

    #[test]
    fn fingerprint_distinguishes_parameters() {
        let a = HeParameters::for_plaintext_bits(Preset::N8192, 40).unwrap();
        let b = HeParameters::for_plaintext_bits(Preset::N8192, 41).unwrap();
        let a2 = HeParameters::new(a.spec()).unwrap();
        assert_eq!(a.fingerprint(), a2.fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
