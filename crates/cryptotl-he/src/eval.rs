//! Server-side evaluation on encrypted batches.
//!
//! All operations act slot-wise, so on every sample of a batch at once:
//! integer-weighted sums ([`Evaluator::weighted_sums`], the inner loop of a
//! dense layer), constant additions, polynomials of degree ≤ 2 via one
//! ciphertext multiplication and relinearization, and modulus switching.

use fhe::bfv::{Ciphertext, Encoding, Plaintext};
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use fhe_traits::FheEncoder;
use rayon::prelude::*;

use crate::batch::EncryptedBatch;
use crate::error::{HeError, Result};
use crate::kernel::{self, CheckedWeights};
use crate::keys::EvaluationKeys;
use crate::params::HeParameters;

/// Evaluates integer arithmetic on [`EncryptedBatch`]es. Holds no secret.
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
