//! Server-side evaluation on encrypted batches.
//!
//! Documented on [`Evaluator`].

use fhe::bfv::{Ciphertext, Encoding, Plaintext};
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use fhe_traits::{FheEncoder, FheEncrypter};
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use crate::batch::EncryptedBatch;
use crate::error::{HeError, Result};
use crate::kernel::{self, CheckedWeights};
use crate::keys::EvaluationKeys;
use crate::params::HeParameters;

/// Largest flooding width `2^flood_bits` supported by [`Evaluator::flood`]
/// (beyond any modulus the presets use).
pub const MAX_FLOOD_BITS: u32 = 512;

/// `(x − 2^bits) mod q` for `x` given as little-endian 64-bit limbs.
fn centered_residue(limbs: &[u64], bits: u32, q: u64) -> u64 {
    let q128 = u128::from(q);
    let mut r: u128 = 0;
    for &l in limbs.iter().rev() {
        r = ((r << 64) | u128::from(l)) % q128;
    }
    // 2^bits mod q by square-and-multiply-free doubling.
    let mut p: u128 = 1 % q128;
    for _ in 0..bits {
        p = (p << 1) % q128;
    }
    ((r + q128 - p) % q128) as u64
}

/// Evaluates integer arithmetic on [`EncryptedBatch`]es. Holds no secret.
///
/// All operations act slot-wise, so on every sample of a batch at once:
/// integer-weighted sums ([`Evaluator::weighted_sums`], the inner loop of a
/// dense layer), constant additions, per-slot plaintext additions
/// ([`Evaluator::add_slot_values`]), polynomials of degree ≤ 2 via one
/// ciphertext multiplication and relinearization, modulus switching, and
/// noise flooding for circuit privacy ([`Evaluator::flood`]).
#[derive(Clone, Debug)]
pub struct Evaluator {
    params: HeParameters,
    keys: Option<EvaluationKeys>,
}

impl Evaluator {
    /// An evaluator for linear operations only (no multiplication key).
    pub fn new(params: &HeParameters) -> Self {
        Self {
            params: params.clone(),
            keys: None,
        }
    }

    /// An evaluator that can also multiply ciphertexts.
    pub fn with_keys(keys: EvaluationKeys) -> Self {
        Self {
            params: keys.params.clone(),
            keys: Some(keys),
        }
    }

    /// The parameters this evaluator works with.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// The evaluation keys, if any.
    pub fn keys(&self) -> Option<&EvaluationKeys> {
        self.keys.as_ref()
    }

    fn check_batch(&self, batch: &EncryptedBatch) -> Result<()> {
        self.params.ensure_same(batch.params.bfv(), "the batch")
    }

    /// Checks the batch and that `count` per-ciphertext items were given.
    fn check_batch_and_count(
        &self,
        batch: &EncryptedBatch,
        count: usize,
        what: &str,
    ) -> Result<()> {
        self.check_batch(batch)?;
        if count != batch.features() {
            return Err(HeError::InvalidInput(format!(
                "{count} {what} for {} ciphertexts",
                batch.features()
            )));
        }
        Ok(())
    }

    /// Computes `out_i = Σ_j weights[i·cols + j] · in_j + bias_i` for every
    /// output `i`, where `cols` is the number of ciphertexts in `input`.
    ///
    /// Weights are small signed integers (`|w| < 2^31`, row L1 norm ≤ 2^32);
    /// the bias is added as a plaintext. Noise grows by the row's L1 norm.
    pub fn weighted_sums(
        &self,
        input: &EncryptedBatch,
        weights: &[i64],
        rows: usize,
        bias: Option<&[i64]>,
    ) -> Result<EncryptedBatch> {
        self.check_batch(input)?;
        let cols = input.features();
        if rows == 0 || weights.len() != rows * cols {
            return Err(HeError::InvalidInput(format!(
                "{} weights do not form {rows} rows over {cols} input ciphertexts",
                weights.len()
            )));
        }
        if let Some(b) = bias {
            if b.len() != rows {
                return Err(HeError::InvalidInput(format!(
                    "bias has {} entries, expected {rows}",
                    b.len()
                )));
            }
        }
        let checked = CheckedWeights::new(weights, rows, cols)?;
        let level = input.level;
        let ctx = self.params.bfv().context_at_level(level)?.clone();
        let moduli = ctx.moduli().to_vec();
        let views: Vec<Vec<_>> = input
            .ciphertexts
            .iter()
            .map(|ct| ct.iter().map(|p| p.coefficients()).collect())
            .collect();
        let sums = kernel::weighted_sums(&checked, &views, 2, &moduli, self.params.degree());
        debug_assert_eq!(sums.len(), checked.rows());
        debug_assert_eq!(views.len(), checked.cols());
        let mut ciphertexts = sums
            .into_par_iter()
            .map(|parts| {
                let polys = parts
                    .into_iter()
                    .map(|a| Ok(Poly::try_convert_from(a, &ctx, true, Representation::Ntt)?))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Ciphertext::new(polys, self.params.bfv())?)
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(b) = bias {
            self.add_constants_in_place(&mut ciphertexts, b, level)?;
        }
        Ok(EncryptedBatch::new(
            &self.params,
            ciphertexts,
            input.samples,
            level,
        ))
    }

    /// Adds `constants[i]` to every slot of ciphertext `i`.
    pub fn add_constants(
        &self,
        input: &EncryptedBatch,
        constants: &[i64],
    ) -> Result<EncryptedBatch> {
        self.check_batch_and_count(input, constants.len(), "constants")?;
        let mut out = input.clone();
        out.seeds = None;
        self.add_constants_in_place(&mut out.ciphertexts, constants, input.level)?;
        Ok(out)
    }

    fn add_constants_in_place(
        &self,
        cts: &mut [Ciphertext],
        constants: &[i64],
        level: usize,
    ) -> Result<()> {
        let n = self.params.degree();
        cts.par_iter_mut()
            .zip(constants.par_iter())
            .try_for_each(|(ct, &c)| {
                if c != 0 {
                    let pt = self.constant_plaintext(c, n, level)?;
                    *ct += &pt;
                }
                Ok(())
            })
    }

    fn constant_plaintext(&self, c: i64, n: usize, level: usize) -> Result<Plaintext> {
        let slots = vec![c; n];
        Ok(Plaintext::try_encode(
            &slots,
            Encoding::simd_at_level(level),
            self.params.bfv(),
        )?)
    }

    /// Adds `values[i][s]` to slot `s` of ciphertext `i` (slots past
    /// `values[i].len()` get 0): a different plaintext integer per sample and
    /// feature, e.g. noise. Values must lie in `[-(t-1)/2, (t-1)/2]`; the sum
    /// is taken mod `t` like every BFV addition (the caller keeps it in
    /// range). Noise is unchanged (a plaintext addition adds no noise beyond
    /// the rounding of `Δ·m`).
    ///
    /// # Errors
    /// A count other than one vector per ciphertext, a vector longer than
    /// the `N` slots, or a value outside the plaintext range.
    pub fn add_slot_values(
        &self,
        input: &EncryptedBatch,
        values: &[Vec<i64>],
    ) -> Result<EncryptedBatch> {
        self.check_batch_and_count(input, values.len(), "slot vectors")?;
        let n = self.params.degree();
        let max = self.params.max_abs_value() as i128;
        for (i, v) in values.iter().enumerate() {
            if v.len() > n {
                return Err(HeError::InvalidInput(format!(
                    "slot vector {i} has {} values for {n} slots",
                    v.len()
                )));
            }
            if v.iter().any(|x| i128::from(*x).abs() > max) {
                return Err(HeError::InvalidInput(format!(
                    "slot vector {i} holds a value outside the plaintext range ±{max}"
                )));
            }
        }
        let level = input.level;
        let mut out = input.clone();
        out.seeds = None;
        out.ciphertexts
            .par_iter_mut()
            .zip(values.par_iter())
            .try_for_each(|(ct, v)| {
                let pt = Plaintext::try_encode(
                    v.as_slice(),
                    Encoding::simd_at_level(level),
                    self.params.bfv(),
                )?;
                *ct += &pt;
                Ok::<_, HeError>(())
            })?;
        Ok(out)
    }

    /// Noise flooding (circuit privacy): adds to every ciphertext a fresh
    /// public-key encryption of zero whose first part also carries a flooding
    /// polynomial `e_f` with coefficients drawn independently and uniformly
    /// from `[−2^flood_bits, 2^flood_bits)` (`flood_bits + 1` random bits,
    /// shifted):
    ///
    /// `ct' = ct + (u·p0 + e1 + e_f, u·p1 + e2)`, with `(p0, p1)` the client's
    /// public key and `u, e1, e2` fhe.rs's small fresh randomness.
    ///
    /// The message is unchanged and the noise becomes `e + e_pk + e_f`. The
    /// mask `(c0', c1')` is a fresh RLWE sample (re-randomization), and by
    /// the smudging lemma, if every coefficient of the evaluation noise obeys
    /// `|e| ≤ E`, the noise's distribution is within statistical distance
    /// `N·E / 2^(flood_bits+1)` per ciphertext of `e_pk + e_f` alone,
    /// which does not depend on the computation. Choosing
    /// `flood_bits ≥ κ + log2(N·E·count)` gives distance `≤ 2^−κ` for a batch
    /// of `count` ciphertexts; the caller does this bound bookkeeping.
    ///
    /// Costs `flood_bits + 1` bits of noise budget (the flooding term
    /// dominates). `rng` must be a CSPRNG (the server's secret randomness);
    /// from it one ChaCha20 seed per ciphertext is drawn in order, so a
    /// seeded `rng` gives reproducible output.
    ///
    /// # Errors
    /// [`HeError::MissingKey`] without the client's public key;
    /// [`HeError::InvalidInput`] if `flood_bits > MAX_FLOOD_BITS` or if `2^flood_bits`
    /// alone already exceeds the decryption bound `q_level / (2t)`.
    pub fn flood<R: RngCore + CryptoRng>(
        &self,
        input: &EncryptedBatch,
        flood_bits: u32,
        rng: &mut R,
    ) -> Result<EncryptedBatch> {
        self.check_batch(input)?;
        let pk = self
            .keys
            .as_ref()
            .and_then(|k| k.public.as_ref())
            .ok_or(HeError::MissingKey("public key (noise flooding)"))?;
        let level = input.level;
        let headroom = i64::from(self.params.log_q_at_level(level))
            - i64::from(self.params.plaintext_bits())
            - 1;
        if flood_bits > MAX_FLOOD_BITS || i64::from(flood_bits) >= headroom {
            return Err(HeError::InvalidInput(format!(
                "flooding with 2^{flood_bits} exceeds the noise room of level {level} \
                 (about 2^{headroom}, and at most 2^{MAX_FLOOD_BITS} is supported)"
            )));
        }
        let ctx = self.params.bfv().context_at_level(level)?.clone();
        let moduli = ctx.moduli().to_vec();
        let n = self.params.degree();
        let limbs = (flood_bits as usize + 1).div_ceil(64);
        let top_bits = (flood_bits + 1) % 64;
        let top_mask = if top_bits == 0 {
            u64::MAX
        } else {
            (1u64 << top_bits) - 1
        };
        let seeds: Vec<[u8; 32]> = input
            .ciphertexts
            .iter()
            .map(|_| {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                seed
            })
            .collect();
        let zero = Plaintext::zero(Encoding::simd_at_level(level), self.params.bfv())?;
        let ciphertexts = input
            .ciphertexts
            .par_iter()
            .zip(seeds.par_iter())
            .map(|(ct, seed)| {
                let mut rng = ChaCha20Rng::from_seed(*seed);
                let mut z = pk.key.try_encrypt(&zero, &mut rng)?;
                // e_f = x − 2^flood_bits with x uniform on flood_bits + 1
                // bits, in RNS form: row m holds e_f mod q_m.
                let e: Vec<Vec<u64>> = (0..n)
                    .map(|_| {
                        let mut x: Vec<u64> = (0..limbs).map(|_| rng.next_u64()).collect();
                        if let Some(top) = x.last_mut() {
                            *top &= top_mask;
                        }
                        x
                    })
                    .collect();
                let mut residues = Vec::with_capacity(moduli.len() * n);
                for &q in &moduli {
                    residues.extend(e.iter().map(|x| centered_residue(x, flood_bits, q)));
                }
                let mut flood =
                    Poly::try_convert_from(residues, &ctx, false, Representation::PowerBasis)?;
                flood.change_representation(Representation::Ntt);
                let mut parts: Vec<Poly> = z.iter().cloned().collect();
                parts[0] += &flood;
                z = Ciphertext::new(parts, self.params.bfv())?;
                if z.len() != ct.len() {
                    return Err(HeError::InvalidInput(format!(
                        "cannot flood a ciphertext of {} parts (relinearize first)",
                        ct.len()
                    )));
                }
                Ok(ct + &z)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EncryptedBatch::new(
            &self.params,
            ciphertexts,
            input.samples,
            level,
        ))
    }

    /// Evaluates, on ciphertext `i`, the polynomial with integer coefficients
    /// `coefficients[i]` (ascending: `c0 + c1·x + c2·x²`, degree ≤ 2).
    ///
    /// A degree-2 term costs one ciphertext multiplication and one
    /// relinearization and needs [`EvaluationKeys`]; it is only available on
    /// fresh-level batches (the relinearization key is generated there).
    pub fn polynomials(
        &self,
        input: &EncryptedBatch,
        coefficients: &[Vec<i64>],
    ) -> Result<EncryptedBatch> {
        self.check_batch_and_count(input, coefficients.len(), "polynomials")?;
        let needs_square = coefficients
            .iter()
            .any(|c| c.get(2).is_some_and(|v| *v != 0));
        if let Some(c) = coefficients
            .iter()
            .find(|c| c.iter().skip(3).any(|v| *v != 0))
        {
            return Err(HeError::InvalidInput(format!(
                "polynomial of degree {} requested; at most 2 is supported (one multiplication)",
                c.iter().rposition(|v| *v != 0).unwrap_or(0)
            )));
        }
        let relin = if needs_square {
            if input.level != 0 {
                return Err(HeError::InvalidInput(
                    "squaring is only supported at the fresh level".into(),
                ));
            }
            Some(
                self.keys
                    .as_ref()
                    .ok_or(HeError::MissingKey("relinearization key (squaring)"))?
                    .relinearization_key(),
            )
        } else {
            None
        };
        let level = input.level;
        let n = self.params.degree();
        let ciphertexts = input
            .ciphertexts
            .par_iter()
            .zip(coefficients.par_iter())
            .map(|(ct, c)| {
                let coef = |k: usize| c.get(k).copied().unwrap_or(0);
                let mut acc = if coef(2) != 0 {
                    let mut sq = ct * ct;
                    if let Some(rk) = relin {
                        rk.relinearizes(&mut sq)?;
                    }
                    if coef(2) != 1 {
                        sq = self.scale(&sq, coef(2), level)?;
                    }
                    sq
                } else {
                    self.scale(ct, 0, level)?
                };
                if coef(1) != 0 {
                    acc += &self.scale(ct, coef(1), level)?;
                }
                if coef(0) != 0 {
                    acc += &self.constant_plaintext(coef(0), n, level)?;
                }
                Ok(acc)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EncryptedBatch::new(
            &self.params,
            ciphertexts,
            input.samples,
            level,
        ))
    }

    /// Multiplies a ciphertext by a signed integer, coefficient-wise.
    fn scale(&self, ct: &Ciphertext, w: i64, level: usize) -> Result<Ciphertext> {
        let ctx = self.params.bfv().context_at_level(level)?;
        let polys = ct
            .iter()
            .map(|p| {
                let a = kernel::scale(&p.coefficients(), w, ctx.moduli());
                Ok(Poly::try_convert_from(a, ctx, true, Representation::Ntt)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Ciphertext::new(polys, self.params.bfv())?)
    }

    /// Multiplies two batches ciphertext by ciphertext (slot-wise products)
    /// and relinearizes: `out_i = a_i ⊙ b_i`. Both must be fresh (level 0)
    /// batches of the same shape under this evaluator's parameters.
    ///
    /// # Errors
    /// [`HeError::InvalidInput`] for mismatched shapes or levels,
    /// [`HeError::MissingKey`] without a relinearization key.
    pub fn multiply(&self, a: &EncryptedBatch, b: &EncryptedBatch) -> Result<EncryptedBatch> {
        self.check_batch(a)?;
        self.check_batch(b)?;
        if a.features() != b.features() || a.level != 0 || b.level != 0 {
            return Err(HeError::InvalidInput(format!(
                "multiplying batches of {} and {} ciphertexts at levels {} and {} \
                 (same shape at level 0 needed)",
                a.features(),
                b.features(),
                a.level,
                b.level
            )));
        }
        let relin = self
            .keys
            .as_ref()
            .ok_or(HeError::MissingKey("relinearization key (multiplication)"))?
            .relinearization_key();
        let ciphertexts = a
            .ciphertexts
            .par_iter()
            .zip(b.ciphertexts.par_iter())
            .map(|(x, y)| {
                let mut p = x * y;
                relin.relinearizes(&mut p)?;
                Ok(p)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EncryptedBatch::new(&self.params, ciphertexts, a.samples, 0))
    }

    /// Switches every ciphertext down to `level` (dropping the last moduli):
    /// responses get smaller; noise shrinks with the modulus plus a small
    /// rounding term. `level` must be between the batch's level and
    /// [`HeParameters::max_level`].
    pub fn switch_to_level(&self, input: &EncryptedBatch, level: usize) -> Result<EncryptedBatch> {
        self.check_batch(input)?;
        if level < input.level || level > self.params.max_level() {
            return Err(HeError::InvalidInput(format!(
                "cannot switch from level {} to level {level} (max {})",
                input.level,
                self.params.max_level()
            )));
        }
        let ciphertexts = input
            .ciphertexts
            .par_iter()
            .map(|ct| {
                let mut ct = ct.clone();
                ct.switch_to_level(level)?;
                Ok(ct)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EncryptedBatch::new(
            &self.params,
            ciphertexts,
            input.samples,
            level,
        ))
    }
}

#[cfg(test)]
mod flood_tests {
    use super::centered_residue;

    #[test]
    fn centered_residues_match_i128_arithmetic() {
        let q = 0xffff_ffff_0000_0001u64;
        for (x, bits) in [
            (0u128, 3u32),
            (5, 3),
            (15, 3),
            (1 << 100, 100),
            (u128::MAX >> 1, 126),
        ] {
            let limbs = [x as u64, (x >> 64) as u64];
            let v = x as i128 - (1i128 << bits);
            assert_eq!(
                centered_residue(&limbs, bits, q),
                v.rem_euclid(i128::from(q)) as u64
            );
        }
    }
}
