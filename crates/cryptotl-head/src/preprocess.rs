//! Per-sample preprocessing of a head's inputs ([`Preprocessing`]),
//! recorded in the head file so that predictions see the features exactly
//! as training did.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// What a head does to each feature vector before anything else (before
/// standardization). It uses no statistics of other samples, so it is
/// allowed under differential privacy, where standardization is not.
///
/// ```
/// use cryptotl_head::Preprocessing;
///
/// let x = vec![vec![3.0, 4.0], vec![0.0, 0.0]];
/// let y = Preprocessing::UnitNormSqrtDim.apply(&x);
/// // Norm √2 = √dim, direction kept; the zero vector stays zero.
/// assert!((y[0][0] - 0.6 * 2f32.sqrt()).abs() < 1e-6);
/// assert_eq!(y[1], [0.0, 0.0]);
/// assert_eq!(Preprocessing::None.apply(&x)[0], [3.0, 4.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Preprocessing {
    /// The features as given.
    #[default]
    None,
    /// Each vector L2-normalized and multiplied by √dim, so coordinates are
    /// O(1) whatever the features' scale (a zero vector stays zero). The
    /// scaling of heads trained with DP-SGD.
    UnitNormSqrtDim,
}

impl Preprocessing {
    /// The rows of `x` preprocessed (borrowed as they are for
    /// [`Preprocessing::None`]).
    pub fn apply<'a>(&self, x: &'a [Vec<f32>]) -> Cow<'a, [Vec<f32>]> {
        match self {
            Self::None => Cow::Borrowed(x),
            Self::UnitNormSqrtDim => Cow::Owned(x.iter().map(|v| unit_norm_sqrt_dim(v)).collect()),
        }
    }

    /// Whether this is [`Preprocessing::None`].
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
}

/// `v / ‖v‖ · √dim`, or `v` when its norm is 0.
fn unit_norm_sqrt_dim(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        let k = (v.len() as f32).sqrt() / norm;
        v.iter().map(|x| x * k).collect()
    } else {
        v.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Non-zero vectors come out with norm √dim and the same direction;
        /// the scaling of a sample does not depend on any other sample.
        #[test]
        fn unit_norm_sqrt_dim_scales_each_row_alone(
            rows in proptest::collection::vec(
                proptest::collection::vec(-100.0f32..100.0, 3), 1..8),
        ) {
            let out = Preprocessing::UnitNormSqrtDim.apply(&rows);
            for (i, (v, w)) in rows.iter().zip(out.iter()).enumerate() {
                let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 1e-3 {
                    let n: f32 = w.iter().map(|x| x * x).sum::<f32>().sqrt();
                    prop_assert!((n - 3f32.sqrt()).abs() < 1e-4, "norm {n}");
                    for (a, b) in v.iter().zip(w) {
                        prop_assert!((a / norm - b / 3f32.sqrt()).abs() < 1e-4);
                    }
                }
                let alone = Preprocessing::UnitNormSqrtDim.apply(&rows[i..=i]);
                prop_assert_eq!(&alone[0], w);
            }
        }
    }
}
