//! Seeded toy data sets shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// A labelled set.
pub(crate) struct Set {
    pub(crate) x: Vec<Vec<f32>>,
    pub(crate) y: Vec<usize>,
}

/// Linearly separable two-class data in `dim` dimensions: label = sign of
/// `w·x` for a random `w`, keeping only points with margin `|w·x| / |w| >
/// 0.3`, then scaled by `scale` (decrypted features can be tiny).
pub(crate) fn separable_binary(n: usize, dim: usize, scale: f32, seed: u64) -> Set {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let norm = w.iter().map(|v| v * v).sum::<f32>().sqrt();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    while x.len() < n {
        let p: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dot: f32 = p.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() / norm;
        if dot.abs() > 0.3 {
            y.push(usize::from(dot > 0.0));
            x.push(p.iter().map(|v| v * scale).collect());
        }
    }
    Set { x, y }
}

/// `k` Gaussian-ish clusters (uniform noise of half-width 0.5 around
/// centers drawn in `[-3, 3]^dim`, at least 2 apart), `n` points.
pub(crate) fn clusters(n: usize, dim: usize, k: usize, seed: u64) -> Set {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centers: Vec<Vec<f32>> = Vec::new();
    while centers.len() < k {
        let c: Vec<f32> = (0..dim).map(|_| rng.random_range(-3.0..3.0)).collect();
        let far = centers.iter().all(|o| {
            o.iter()
                .zip(&c)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f32>()
                .sqrt()
                > 2.0
        });
        if far {
            centers.push(c);
        }
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let label = i % k;
        x.push(
            centers[label]
                .iter()
                .map(|c| c + rng.random_range(-0.5..0.5))
                .collect(),
        );
        y.push(label);
    }
    Set { x, y }
}

/// Features with labels independent of them: nothing to learn.
pub(crate) fn noise(n: usize, dim: usize, seed: u64) -> Set {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let y = (0..n).map(|_| rng.random_range(0..2)).collect();
    Set { x, y }
}

/// A head file's tensors: (name, dtype, shape, bytes).
pub(crate) type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;
/// A head file's tensors and metadata.
pub(crate) type Parts = (Tensors, HashMap<String, String>);

pub(crate) fn parts(bytes: &[u8]) -> Parts {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    (tensors, header.metadata().clone().unwrap_or_default())
}

pub(crate) fn assemble((tensors, metadata): Parts) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, Some(metadata)).unwrap()
}

/// `clean` with the byte at each index XOR-ed with its value.
pub(crate) fn flipped(clean: &[u8], flips: &[(proptest::sample::Index, u8)]) -> Vec<u8> {
    let mut bytes = clean.to_vec();
    for (at, value) in flips {
        let i = at.index(bytes.len());
        bytes[i] ^= value;
    }
    bytes
}
