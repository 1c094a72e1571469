//! Linear maps on slot vectors: the diagonal method with baby-step/giant-step.
//!
//! Documented on [`SlotTransform`].

use std::collections::{BTreeMap, BTreeSet};

use fhe::bfv::{Ciphertext, Encoding, Plaintext};
use fhe_traits::FheEncoder;
use rayon::prelude::*;

use crate::batch::EncryptedBatch;
use crate::error::{HeError, Result};
use crate::params::HeParameters;
use crate::slots::hoist::{rotate, Decomposed};
use crate::slots::keys::RotationKeys;
use crate::slots::rotation::{rotate_columns_right, Rotation};

/// A linear map on slot vectors, prepared for one parameter set.
///
/// A linear map on the slots is written as a sum of generalized diagonals,
/// `y = Σ_r D_r ⊙ rot(x, r)`, where `rot(x, r)` is [`Rotation::Columns`]`(r)`
/// (both rows rotate together) and each `D_r` is an arbitrary plaintext slot
/// vector. With a baby-step size `B`, `r = g·B + b` and
///
/// `y = Σ_g rot( Σ_b rot(D_{gB+b}, −gB) ⊙ rot(x, b), gB )`,
///
/// so only the baby steps `b < B` rotate the input (hoisted: one
/// decomposition) and one rotation per giant step
/// `g·B` rotates a partial sum. The pre-rotated diagonals are encoded once,
/// when the transform is built (the server does it when it loads a model),
/// never per request.
pub struct SlotTransform {
    params: HeParameters,
    baby: usize,
    /// Giant step `g` → its baby steps `b` with the pre-rotated diagonal.
    giants: BTreeMap<usize, Vec<(usize, Plaintext)>>,
}

impl std::fmt::Debug for SlotTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotTransform")
            .field("baby", &self.baby)
            .field("diagonals", &self.diagonal_count())
            .field("giants", &self.giants.len())
            .finish()
    }
}

/// Encodes `N` slot values (any integers; reduced modulo `t`) as a plaintext.
///
/// # Errors
/// If `values` has more than `N` entries or fhe.rs refuses the encoding.
pub fn encode_slots(params: &HeParameters, values: &[i64]) -> Result<Plaintext> {
    if values.len() > params.degree() {
        return Err(HeError::InvalidInput(format!(
            "{} slot values for {} slots",
            values.len(),
            params.degree()
        )));
    }
    Ok(Plaintext::try_encode(
        values,
        Encoding::simd(),
        params.bfv(),
    )?)
}

impl SlotTransform {
    /// Prepares `y = Σ_r diagonals[r] ⊙ rot(x, r)` with baby-step size
    /// `baby`. Each diagonal has `N` slot values; shifts are `0 ≤ r < N/2`.
    ///
    /// # Errors
    /// [`HeError::InvalidInput`] for an empty map, a shift out of range, a
    /// diagonal of the wrong length or `baby == 0`.
    pub fn new(
        params: &HeParameters,
        diagonals: &BTreeMap<usize, Vec<i64>>,
        baby: usize,
    ) -> Result<Self> {
        let n = params.degree();
        let half = n / 2;
        if baby == 0 || baby >= half {
            return Err(HeError::InvalidInput(format!(
                "baby-step size {baby} outside 1..{half}"
            )));
        }
        if diagonals.is_empty() {
            return Err(HeError::InvalidInput("a transform needs a diagonal".into()));
        }
        for (&r, d) in diagonals {
            if r >= half || d.len() != n {
                return Err(HeError::InvalidInput(format!(
                    "diagonal {r}: shift must be < {half} and hold {n} values (has {})",
                    d.len()
                )));
            }
        }
        let encoded = diagonals
            .par_iter()
            .filter(|(_, d)| d.iter().any(|&v| v != 0))
            .map(|(&r, d)| {
                let (g, b) = (r / baby, r % baby);
                let shifted = rotate_columns_right(d, g * baby);
                Ok((g, b, encode_slots(params, &shifted)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut giants: BTreeMap<usize, Vec<(usize, Plaintext)>> = BTreeMap::new();
        for (g, b, pt) in encoded {
            giants.entry(g).or_default().push((b, pt));
        }
        Ok(Self {
            params: params.clone(),
            baby,
            giants,
        })
    }

    /// The parameters the diagonals are encoded for.
    pub fn params(&self) -> &HeParameters {
        &self.params
    }

    /// Baby-step size.
    pub fn baby(&self) -> usize {
        self.baby
    }

    /// Number of non-zero diagonals (plaintext multiplications per use).
    pub fn diagonal_count(&self) -> usize {
        self.giants.values().map(Vec::len).sum()
    }

    /// The baby-step rotations of the input this transform uses.
    pub fn baby_rotations(&self) -> BTreeSet<usize> {
        self.giants
            .values()
            .flatten()
            .map(|(b, _)| *b)
            .filter(|&b| b > 0)
            .collect()
    }

    /// Every rotation this transform needs a key for.
    pub fn rotations(&self) -> BTreeSet<Rotation> {
        let mut out: BTreeSet<Rotation> = self
            .baby_rotations()
            .into_iter()
            .map(Rotation::Columns)
            .collect();
        out.extend(
            self.giants
                .keys()
                .filter(|&&g| g > 0)
                .map(|&g| Rotation::Columns(g * self.baby)),
        );
        out
    }
}

/// Computes `Σ_t transform_t(x_t)` over terms that share the parameters and
/// the baby-step size: the inputs' baby steps are hoisted per input, and
/// every giant step rotates one partial sum holding all terms.
///
/// Every ciphertext must be a two-part level-0 ciphertext created under
/// exactly the transforms' `params` instance.
///
/// # Errors
/// [`HeError::InvalidInput`] for no terms or mismatched terms,
/// [`HeError::MissingKey`] for a rotation the keys lack.
pub(crate) fn apply_sum(
    terms: &[(&Ciphertext, &SlotTransform)],
    keys: &RotationKeys,
) -> Result<Ciphertext> {
    let (_, first) = terms
        .first()
        .ok_or_else(|| HeError::InvalidInput("no transform to apply".into()))?;
    let params = &first.params;
    let baby = first.baby;
    for (_, t) in terms {
        if t.baby != baby || t.params != *params {
            return Err(HeError::InvalidInput(
                "summed transforms must share parameters and baby-step size".into(),
            ));
        }
        params.ensure_same(t.params.bfv(), "a transform")?;
    }
    // Baby steps: rotations of every input, hoisted per input.
    let rotated: Vec<BTreeMap<usize, Ciphertext>> = terms
        .iter()
        .map(|(x, t)| {
            let steps: Vec<usize> = t.baby_rotations().into_iter().collect();
            let dec = Decomposed::new(x, params, keys)?;
            let mut map: BTreeMap<usize, Ciphertext> = steps
                .par_iter()
                .map(|&b| Ok((b, dec.rotate(Rotation::Columns(b), keys)?)))
                .collect::<Result<_>>()?;
            map.insert(0, (*x).clone());
            Ok(map)
        })
        .collect::<Result<_>>()?;
    let giants: BTreeSet<usize> = terms
        .iter()
        .flat_map(|(_, t)| t.giants.keys().copied())
        .collect();
    let partials = giants
        .par_iter()
        .map(|&g| {
            let mut acc: Option<Ciphertext> = None;
            for ((_, t), rots) in terms.iter().zip(&rotated) {
                for (b, pt) in t.giants.get(&g).into_iter().flatten() {
                    let x = rots.get(b).ok_or_else(|| {
                        HeError::InvalidInput(format!("baby step {b} was not computed"))
                    })?;
                    let prod = x * pt;
                    match acc.as_mut() {
                        Some(a) => *a += &prod,
                        None => acc = Some(prod),
                    }
                }
            }
            let acc = acc.ok_or_else(|| HeError::InvalidInput(format!("empty giant step {g}")))?;
            if g == 0 {
                Ok(acc)
            } else {
                rotate(&acc, params, Rotation::Columns(g * baby), keys)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let mut iter = partials.into_iter();
    let mut sum = iter
        .next()
        .ok_or_else(|| HeError::InvalidInput("the transforms have no diagonal".into()))?;
    for p in iter {
        sum += &p;
    }
    Ok(sum)
}

/// Rotate-and-sum: for each rotation in order, `x ← x + rot(x)`. With
/// column steps `s, 2s, 4s, …` this sums `2^k` blocks spaced `s` apart.
///
/// # Errors
/// [`HeError::MissingKey`] for a rotation the keys lack.
pub(crate) fn fold(
    x: &Ciphertext,
    params: &HeParameters,
    rotations: &[Rotation],
    keys: &RotationKeys,
) -> Result<Ciphertext> {
    let mut acc = x.clone();
    for &r in rotations {
        let rotated = rotate(&acc, params, r, keys)?;
        acc += &rotated;
    }
    Ok(acc)
}

/// Checks that a batch is a level-0 slot batch of the transform's parameters.
fn check_slot_batch(batch: &EncryptedBatch, params: &HeParameters) -> Result<()> {
    params.ensure_same(batch.params().bfv(), "the batch")?;
    if batch.level() != 0 {
        return Err(HeError::InvalidInput(
            "slot transforms need fresh (level 0) ciphertexts".into(),
        ));
    }
    Ok(())
}

/// [`SlotTransform`]s applied to batches of slot-packed ciphertexts: output
/// ciphertext `i` is `Σ_t transform_t(batch_t[i])` (see [`SlotTransform`]).
/// All batches must hold the same number of ciphertexts, at level 0, under
/// the transforms' parameter instance. Ciphertexts run in parallel.
///
/// # Errors
/// [`HeError::InvalidInput`] / [`HeError::ParameterMismatch`] for
/// inconsistent inputs, [`HeError::MissingKey`] for a missing rotation key.
pub fn transform_batch(
    terms: &[(&EncryptedBatch, &SlotTransform)],
    keys: &RotationKeys,
) -> Result<EncryptedBatch> {
    let (first, t0) = terms
        .first()
        .ok_or_else(|| HeError::InvalidInput("no transform to apply".into()))?;
    let params = t0.params();
    let count = first.features();
    for (b, t) in terms {
        check_slot_batch(b, t.params())?;
        if b.features() != count {
            return Err(HeError::InvalidInput(format!(
                "summed batches hold {} and {count} ciphertexts",
                b.features()
            )));
        }
    }
    let out = (0..count)
        .into_par_iter()
        .map(|i| {
            let row: Vec<(&Ciphertext, &SlotTransform)> = terms
                .iter()
                .map(|(b, t)| (&b.ciphertexts()[i], *t))
                .collect();
            apply_sum(&row, keys)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EncryptedBatch::new(params, out, first.samples(), 0))
}

/// Rotate-and-sum ([`Rotation`]s in order, `x ← x + rot(x)`) on every
/// ciphertext of a level-0 slot batch.
///
/// # Errors
/// As [`transform_batch`].
pub fn fold_batch(
    batch: &EncryptedBatch,
    rotations: &[Rotation],
    keys: &RotationKeys,
) -> Result<EncryptedBatch> {
    map_fresh(batch, |ct| fold(ct, batch.params(), rotations, keys))
}

/// `x + R_k(…R_1(x))` on every ciphertext of a level-0 slot batch: the
/// rotations are applied in order to one copy, which is then added.
///
/// # Errors
/// As [`transform_batch`].
pub fn add_rotated_batch(
    batch: &EncryptedBatch,
    rotations: &[Rotation],
    keys: &RotationKeys,
) -> Result<EncryptedBatch> {
    map_fresh(batch, |ct| {
        let mut moved = ct.clone();
        for &r in rotations {
            moved = rotate(&moved, batch.params(), r, keys)?;
        }
        moved += ct;
        Ok(moved)
    })
}

/// Applies `f` to every ciphertext of a level-0 batch, in parallel, keeping
/// its parameters and sample count.
fn map_fresh(
    batch: &EncryptedBatch,
    f: impl Fn(&Ciphertext) -> Result<Ciphertext> + Sync + Send,
) -> Result<EncryptedBatch> {
    if batch.level() != 0 {
        return Err(HeError::InvalidInput(
            "rotations need fresh (level 0) ciphertexts".into(),
        ));
    }
    let out = batch
        .ciphertexts()
        .par_iter()
        .map(f)
        .collect::<Result<Vec<_>>>()?;
    Ok(EncryptedBatch::new(batch.params(), out, batch.samples(), 0))
}
