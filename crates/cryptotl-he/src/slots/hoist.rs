//! Key switching for rotations, with the decomposition hoisted out.
//!
//! Rotating a ciphertext `(c0, c1)` by the automorphism `σ_g` is
//! `(σ_g(c0) + Σ_i D_i·k0_i, Σ_i D_i·k1_i)` where `D_i` is the RNS digit
//! `[σ_g(c1)]_{q_i}` lifted to every modulus and `(k0_i, k1_i)` the Galois
//! key. fhe.rs decomposes per rotation (an inverse NTT and `L²` forward NTTs).
//! The automorphism commutes with the decomposition (it permutes and negates
//! coefficients, and any representative of a digit is valid because
//! `Σ_i D_i·g_i ≡ c1 (mod Q)` only needs `D_i ≡ c1 (mod q_i)`), so
//! [`Decomposed`] computes the NTT-domain digits of `c1` once and every
//! rotation of the same ciphertext then costs only NTT-domain permutations
//! and `2L²` pointwise products: the baby steps of a baby-step/giant-step
//! matrix product share one decomposition.

use std::sync::Arc;

use fhe::bfv::Ciphertext;
use fhe_math::rq::{traits::TryConvertFrom, Context, Poly, Representation};
use ndarray::Array2;

use crate::error::{HeError, Result};
use crate::params::HeParameters;
use crate::slots::keys::{RotationKeys, SwitchingKey};
use crate::slots::rotation::Rotation;

/// A ciphertext with its key-switching digits precomputed.
pub(crate) struct Decomposed<'a> {
    ct: &'a Ciphertext,
    params: &'a HeParameters,
    /// `D_i` in NTT form over the keys' context.
    digits: Vec<Poly>,
}

/// Copies a polynomial into another (equal) context instance, keeping its
/// representation: fhe-math compares contexts by value, which is slow for
/// distinct instances, so polynomials are re-homed once instead.
fn rehome(p: &Poly, ctx: &Arc<Context>) -> Result<Poly> {
    if Arc::ptr_eq(p.ctx(), ctx) {
        return Ok(p.clone());
    }
    let mut out =
        Poly::try_convert_from(p.coefficients().to_owned(), ctx, true, Representation::Ntt)?;
    if p.representation() != &Representation::Ntt {
        out.change_representation(*p.representation());
    }
    Ok(out)
}

impl<'a> Decomposed<'a> {
    /// Decomposes `ct` (two parts, level 0, created under exactly the
    /// `params` instance — callers hold both together, as
    /// [`crate::EncryptedBatch`] does) for
    /// rotations with `keys`.
    ///
    /// # Errors
    /// If the ciphertext is not a two-part level-0 ciphertext of `params`
    /// over the keys' moduli.
    pub(crate) fn new(
        ct: &'a Ciphertext,
        params: &'a HeParameters,
        keys: &RotationKeys,
    ) -> Result<Self> {
        if ct.len() != 2 {
            return Err(HeError::InvalidInput(format!(
                "rotation needs a two-part ciphertext, got {} parts",
                ct.len()
            )));
        }
        let key_ctx = keys.params.bfv().context_at_level(0)?;
        if ct[0].ctx().moduli() != key_ctx.moduli() {
            return Err(HeError::InvalidInput(
                "rotations need level-0 ciphertexts over the keys' moduli".into(),
            ));
        }
        let mut c1 = ct[1].clone();
        c1.change_representation(Representation::PowerBasis);
        let coeffs = c1.coefficients();
        let moduli = key_ctx.moduli();
        let digits = (0..moduli.len())
            .map(|i| {
                let row = coeffs.row(i);
                let mut a = Array2::<u64>::zeros((moduli.len(), row.len()));
                for (mut dst, &q) in a.rows_mut().into_iter().zip(moduli) {
                    for (d, &v) in dst.iter_mut().zip(row.iter()) {
                        *d = if v >= q { v % q } else { v };
                    }
                }
                let mut p = Poly::try_convert_from(a, key_ctx, true, Representation::PowerBasis)?;
                p.change_representation(Representation::Ntt);
                Ok(p)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { ct, params, digits })
    }

    /// The ciphertext rotated by `rotation` (key switching with the
    /// precomputed digits).
    ///
    /// # Errors
    /// [`HeError::MissingKey`] without a key for `rotation`.
    pub(crate) fn rotate(&self, rotation: Rotation, keys: &RotationKeys) -> Result<Ciphertext> {
        let key = keys.key(rotation)?;
        self.rotate_with(key)
    }

    #[allow(unsafe_code)] // variable-time arithmetic on public digits; see the SAFETY comment
    fn rotate_with(&self, key: &SwitchingKey) -> Result<Ciphertext> {
        let key_ctx = key.c0[0].ctx().clone();
        let mut acc0 = Poly::zero(&key_ctx, Representation::Ntt);
        let mut acc1 = Poly::zero(&key_ctx, Representation::Ntt);
        for ((d, k0), k1) in self.digits.iter().zip(&key.c0).zip(&key.c1) {
            let mut s = d.substitute(&key.exponent)?;
            // SAFETY: the digits come from a ciphertext (public data).
            unsafe { s.allow_variable_time_computations() };
            acc0 += &(&s * k0);
            s *= k1;
            acc1 += &s;
        }
        let ct_ctx = self.ct[0].ctx();
        let mut c0 = rehome(&acc0, ct_ctx)?;
        c0 += &self.ct[0].substitute(&key.exponent)?;
        let c1 = rehome(&acc1, ct_ctx)?;
        Ok(Ciphertext::new(vec![c0, c1], self.params.bfv())?)
    }
}

/// Rotates one ciphertext (a decomposition used once).
///
/// # Errors
/// As [`Decomposed::new`] and [`Decomposed::rotate`].
pub(crate) fn rotate(
    ct: &Ciphertext,
    params: &HeParameters,
    rotation: Rotation,
    keys: &RotationKeys,
) -> Result<Ciphertext> {
    Decomposed::new(ct, params, keys)?.rotate(rotation, keys)
}
