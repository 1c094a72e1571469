//! The modular matrix product behind encrypted linear layers.
//!
//! An integer-weighted sum of BFV ciphertexts `Σ_j w_j·ct_j` is computed on
//! the ciphertexts' RNS coefficients: for every part `p ∈ {0, 1}`, modulus
//! `q_m` and coefficient `k`,
//! `out_i[p][m][k] = Σ_j w_ij · in_j[p][m][k] mod q_m`.
//! Multiplying by a small signed integer this way adds only `Σ|w|` times the
//! input noise (encoding a negative weight as a plaintext `t − |w|` would cost
//! about `log2 t` bits instead).
//!
//! The product is evaluated exactly with 64-bit integer SIMD: every
//! coefficient `x < 2^62` is split into two 31-bit limbs `x = lo + 2^31·hi`,
//! and each limb is accumulated as `Σ_j w_ij·limb_j` in an `i64`. With
//! `|w_ij| < 2^31` and `Σ_j |w_ij| ≤ 2^32` no accumulator can overflow
//! (`|acc| < 2^31·2^32 = 2^63`), so reduction modulo `q_m` happens once per
//! output coefficient. Work is split into independent tiles of
//! [`TILE`] coefficients of one (part, modulus) pair, processed in parallel
//! with rayon; each tile's input slab (`cols × TILE` limbs) stays in cache
//! while all output rows are computed from it.

use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{HeError, Result};

/// Coefficients per tile.
pub(crate) const TILE: usize = 64;
/// Output rows computed together (register/cache blocking).
const ROWS: usize = 4;
/// Largest row L1 norm the limb accumulators can take without overflow.
pub(crate) const MAX_ROW_L1: u64 = 1 << 32;
const LIMB_BITS: u32 = 31;
const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;

/// Integer weights, checked for the kernel's overflow bounds.
pub(crate) struct CheckedWeights {
    rows: usize,
    cols: usize,
    data: Vec<i32>,
}

impl CheckedWeights {
    /// Validates a row-major `rows × cols` weight matrix.
    pub(crate) fn new(weights: &[i64], rows: usize, cols: usize) -> Result<Self> {
        if rows == 0 || cols == 0 || weights.len() != rows * cols {
            return Err(HeError::InvalidInput(format!(
                "weight matrix of {} entries does not match {rows} rows × {cols} columns",
                weights.len()
            )));
        }
        let mut data = Vec::with_capacity(weights.len());
        for (i, row) in weights.chunks(cols).enumerate() {
            let mut l1: u64 = 0;
            for &w in row {
                let a = w.unsigned_abs();
                if a >= 1 << LIMB_BITS {
                    return Err(HeError::InvalidInput(format!(
                        "weight {w} in row {i} exceeds ±2^31"
                    )));
                }
                l1 += a;
                data.push(w as i32);
            }
            if l1 > MAX_ROW_L1 {
                return Err(HeError::InvalidInput(format!(
                    "row {i} has L1 norm {l1} > 2^32; split the layer"
                )));
            }
        }
        Ok(Self { rows, cols, data })
    }

    /// Number of output rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Number of input columns.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }
}

/// Computes `out[i] = Σ_j w[i][j]·inputs[j] mod moduli` for arrays of shape
/// `(moduli.len(), n)`, one array per input. Returns one array per output row.
///
/// `inputs[j][p]` is part `p` of input `j`; every input has `parts` parts.
pub(crate) fn weighted_sums(
    weights: &CheckedWeights,
    inputs: &[Vec<ndarray::ArrayView2<'_, u64>>],
    parts: usize,
    moduli: &[u64],
    n: usize,
) -> Vec<Vec<Array2<u64>>> {
    let rows = weights.rows;
    let cols = weights.cols;
    debug_assert_eq!(inputs.len(), cols);
    let l = moduli.len();
    let tiles_per_row = n / TILE;
    let tasks = parts * l * tiles_per_row;

    // Each task computes `rows × TILE` output coefficients.
    let results: Vec<Vec<u64>> = (0..tasks)
        .into_par_iter()
        .map_init(
            || (vec![0i32; cols * TILE], vec![0i32; cols * TILE]),
            |(lo, hi), task| {
                let p = task / (l * tiles_per_row);
                let m = (task / tiles_per_row) % l;
                let k0 = (task % tiles_per_row) * TILE;
                for (j, input) in inputs.iter().enumerate() {
                    let row = input[p].row(m);
                    let src = &row.as_slice().unwrap_or(&[])[k0..k0 + TILE];
                    let dst_lo = &mut lo[j * TILE..(j + 1) * TILE];
                    let dst_hi = &mut hi[j * TILE..(j + 1) * TILE];
                    for ((x, a), b) in src.iter().zip(dst_lo).zip(dst_hi) {
                        *a = (x & LIMB_MASK) as i32;
                        *b = (x >> LIMB_BITS) as i32;
                    }
                }
                let mut out = vec![0u64; rows * TILE];
                tile(&weights.data, rows, cols, lo, hi, moduli[m], &mut out);
                out
            },
        )
        .collect();

    // Scatter the tiles into one array per (output row, part).
    (0..rows)
        .into_par_iter()
        .map(|i| {
            (0..parts)
                .map(|p| {
                    let mut a = Array2::<u64>::zeros((l, n));
                    for m in 0..l {
                        let mut dst = a.row_mut(m);
                        for t in 0..tiles_per_row {
                            let src = &results[(p * l + m) * tiles_per_row + t];
                            for (b, v) in src[i * TILE..(i + 1) * TILE].iter().enumerate() {
                                dst[t * TILE + b] = *v;
                            }
                        }
                    }
                    a
                })
                .collect()
        })
        .collect()
}

/// One tile: all output rows for `TILE` coefficients of one modulus.
#[allow(unsafe_code)] // the AVX2 call; see the SAFETY comment
fn tile(w: &[i32], rows: usize, cols: usize, lo: &[i32], hi: &[i32], q: u64, out: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), which is
            // the only precondition of calling a `#[target_feature(enable =
            // "avx2")]` function; `tile_avx2` itself is safe code with no
            // other precondition.
            unsafe { tile_avx2(w, rows, cols, lo, hi, q, out) };
            return;
        }
    }
    tile_portable(w, rows, cols, lo, hi, q, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tile_avx2(w: &[i32], rows: usize, cols: usize, lo: &[i32], hi: &[i32], q: u64, out: &mut [u64]) {
    tile_portable(w, rows, cols, lo, hi, q, out)
}

#[inline(always)]
fn tile_portable(
    w: &[i32],
    rows: usize,
    cols: usize,
    lo: &[i32],
    hi: &[i32],
    q: u64,
    out: &mut [u64],
) {
    let mut acc_lo = [[0i64; TILE]; ROWS];
    let mut acc_hi = [[0i64; TILE]; ROWS];
    let mut i0 = 0;
    while i0 < rows {
        let block = ROWS.min(rows - i0);
        for r in 0..ROWS {
            acc_lo[r] = [0; TILE];
            acc_hi[r] = [0; TILE];
        }
        for j in 0..cols {
            let xl: &[i32; TILE] = lo[j * TILE..(j + 1) * TILE]
                .try_into()
                .unwrap_or(&[0; TILE]);
            let xh: &[i32; TILE] = hi[j * TILE..(j + 1) * TILE]
                .try_into()
                .unwrap_or(&[0; TILE]);
            for r in 0..block {
                let wr = w[(i0 + r) * cols + j] as i64;
                if wr == 0 {
                    continue;
                }
                let al = &mut acc_lo[r];
                let ah = &mut acc_hi[r];
                for b in 0..TILE {
                    al[b] += wr * xl[b] as i64;
                    ah[b] += wr * xh[b] as i64;
                }
            }
        }
        for r in 0..block {
            let dst = &mut out[(i0 + r) * TILE..(i0 + r + 1) * TILE];
            for b in 0..TILE {
                let v = acc_lo[r][b] as i128 + ((acc_hi[r][b] as i128) << LIMB_BITS);
                dst[b] = v.rem_euclid(q as i128) as u64;
            }
        }
        i0 += ROWS;
    }
}

/// Multiplies every coefficient of an RNS array by a signed integer.
pub(crate) fn scale(a: &ndarray::ArrayView2<'_, u64>, w: i64, moduli: &[u64]) -> Array2<u64> {
    let mut out = a.to_owned();
    for (mut row, &q) in out.rows_mut().into_iter().zip(moduli) {
        let wm = (w as i128).rem_euclid(q as i128) as u128;
        for v in row.iter_mut() {
            *v = ((*v as u128 * wm) % q as u128) as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(w: &[i64], x: &[Vec<u64>], q: u64) -> Vec<u64> {
        let n = x[0].len();
        (0..n)
            .map(|k| {
                let mut s: i128 = 0;
                for (j, xj) in x.iter().enumerate() {
                    s += w[j] as i128 * xj[k] as i128;
                }
                s.rem_euclid(q as i128) as u64
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn kernel_matches_bigint_reference(
            rows in 1usize..7,
            cols in 1usize..9,
            seed in any::<u64>(),
            big in any::<bool>(),
        ) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let moduli = [(1u64 << 62) - 57, 0xfffffffc001u64];
            let n = 2 * TILE;
            let wmax: i64 = if big { (1 << 31) - 1 } else { 16 };
            let cols_eff = if big { cols.min(2) } else { cols };
            let w: Vec<i64> = (0..rows * cols_eff).map(|_| rng.random_range(-wmax..=wmax)).collect();
            let inputs: Vec<Vec<Array2<u64>>> = (0..cols_eff)
                .map(|_| {
                    (0..2).map(|_| {
                        let mut a = Array2::<u64>::zeros((2, n));
                        for (m, mut r) in a.rows_mut().into_iter().enumerate() {
                            for v in r.iter_mut() { *v = rng.random_range(0..moduli[m]); }
                        }
                        a
                    }).collect()
                })
                .collect();
            let views: Vec<Vec<_>> = inputs.iter().map(|i| i.iter().map(|a| a.view()).collect()).collect();
            let cw = CheckedWeights::new(&w, rows, cols_eff).unwrap();
            let out = weighted_sums(&cw, &views, 2, &moduli, n);
            for i in 0..rows {
                for p in 0..2 {
                    for (m, &q) in moduli.iter().enumerate() {
                        let x: Vec<Vec<u64>> = inputs.iter().map(|inp| inp[p].row(m).to_vec()).collect();
                        let expect = reference(&w[i * cols_eff..(i + 1) * cols_eff], &x, q);
                        prop_assert_eq!(out[i][p].row(m).to_vec(), expect);
                    }
                }
            }
        }
    }

    #[test]
    fn oversized_weights_are_refused() {
        assert!(CheckedWeights::new(&[1 << 31], 1, 1).is_err());
        assert!(CheckedWeights::new(&[(1 << 31) - 1; 4], 1, 4).is_err());
        assert!(CheckedWeights::new(&[1, 2, 3], 2, 2).is_err());
        assert!(CheckedWeights::new(&[(1 << 31) - 1, 1 << 30], 1, 2).is_ok());
    }
}
