//! Slot permutations reachable with one Galois key.
//!
//! Documented on [`Rotation`].

use serde::{Deserialize, Serialize};

use crate::error::{HeError, Result};

/// A slot permutation. `Columns(k)` moves the value of column `c + k` to
/// column `c` (a left rotation of each row by `k`); `SwapRows` exchanges the
/// two rows.
///
/// fhe.rs's SIMD encoding arranges the `N` slots as a `2 × N/2` matrix:
/// slots `0..N/2` are row 0, slots `N/2..N` row 1. The ring automorphisms
/// `X ↦ X^g` permute the slots: `g = 3^k` rotates both rows cyclically by `k`
/// columns and `g = 2N − 1` swaps the rows (the two kinds fhe.rs 0.1.1 can
/// generate keys for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rotation {
    /// Left rotation of both rows by `k` columns (`0 < k < N/2`).
    Columns(usize),
    /// Exchange of the two rows.
    SwapRows,
}

impl Rotation {
    /// Checks that the rotation is meaningful for `n` slots.
    ///
    /// # Errors
    /// [`HeError::InvalidInput`] for a column step of 0 or `≥ N/2`.
    pub fn validate(self, n: usize) -> Result<()> {
        let half = n / 2;
        match self {
            Rotation::Columns(k) if k == 0 || k >= half => Err(HeError::InvalidInput(format!(
                "column rotation by {k} outside 1..{half}"
            ))),
            _ => Ok(()),
        }
    }

    /// The Galois exponent `g` of the automorphism `X ↦ X^g` (mod `2N`).
    pub fn exponent(self, n: usize) -> usize {
        let two_n = 2 * n as u64;
        let columns = |k: usize| -> u64 {
            let mut r = 1u64;
            let mut b = 3u64;
            let mut e = k as u64;
            while e > 0 {
                if e & 1 == 1 {
                    r = r * b % two_n;
                }
                b = b * b % two_n;
                e >>= 1;
            }
            r
        };
        let g = match self {
            Rotation::Columns(k) => columns(k),
            Rotation::SwapRows => two_n - 1,
        };
        g as usize
    }

    /// The permutation applied to plain slot values (the reference the
    /// encrypted rotation is tested against): `out[i] = slots[source(i)]`.
    pub fn apply(self, slots: &[i64]) -> Vec<i64> {
        let n = slots.len();
        let half = n / 2;
        (0..n)
            .map(|i| {
                let (row, col) = (i / half, i % half);
                let (src_row, shift) = match self {
                    Rotation::Columns(k) => (row, k),
                    Rotation::SwapRows => (1 - row, 0),
                };
                slots[src_row * half + (col + shift) % half]
            })
            .collect()
    }

    /// A compact tag for the wire format: `(kind, step)`.
    pub(crate) fn tag(self) -> (u8, u32) {
        match self {
            Rotation::Columns(k) => (1, k as u32),
            Rotation::SwapRows => (2, 0),
        }
    }

    /// Inverse of [`Rotation::tag`].
    pub(crate) fn from_tag(kind: u8, step: u32) -> Result<Self> {
        match (kind, step) {
            (1, k) => Ok(Rotation::Columns(k as usize)),
            (2, 0) => Ok(Rotation::SwapRows),
            _ => Err(HeError::Malformed(format!(
                "unknown rotation tag ({kind}, {step})"
            ))),
        }
    }
}

/// Rotates each row of a plain slot vector right by `k` columns: the inverse
/// of `Rotation::Columns(k).apply` (`out[c] = slots[c − k]`).
pub fn rotate_columns_right(slots: &[i64], k: usize) -> Vec<i64> {
    let n = slots.len();
    let half = n / 2;
    let k = k % half;
    (0..n)
        .map(|i| {
            let (row, col) = (i / half, i % half);
            slots[row * half + (col + half - k) % half]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_permutations() {
        let v: Vec<i64> = (0..8).collect();
        assert_eq!(Rotation::Columns(1).apply(&v), vec![1, 2, 3, 0, 5, 6, 7, 4]);
        assert_eq!(Rotation::SwapRows.apply(&v), vec![4, 5, 6, 7, 0, 1, 2, 3]);
        assert_eq!(rotate_columns_right(&Rotation::Columns(3).apply(&v), 3), v);
    }

    #[test]
    fn exponents_are_odd_and_distinct() {
        let n = 8192;
        let g: Vec<usize> = [
            Rotation::Columns(1),
            Rotation::Columns(2),
            Rotation::SwapRows,
        ]
        .iter()
        .map(|r| r.exponent(n))
        .collect();
        assert!(g.iter().all(|e| e % 2 == 1 && *e < 2 * n));
        assert_eq!(g[0], 3);
        assert_eq!(g[1], 9);
        assert_eq!(g[2], 2 * n - 1);
        assert!(Rotation::Columns(0).validate(n).is_err());
        assert!(Rotation::Columns(n / 2).validate(n).is_err());
        assert!(Rotation::SwapRows.validate(n).is_ok());
    }
}
