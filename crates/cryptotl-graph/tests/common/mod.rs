//! Helpers shared by the integration tests: random small graphs, input
//! samplers, magnitude bounds and temporary directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cryptotl_graph::{AvgPool1d, Conv1d, Dense, Graph, Layer, Shape};
use cryptotl_quant::FloatPolynomial;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A deterministic RNG.
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, limit: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-limit..=limit)).collect()
}

/// A random activation polynomial of degree 1 or 2 (the square half the time).
pub(crate) fn random_polynomial(rng: &mut ChaCha8Rng) -> FloatPolynomial {
    match rng.random_range(0..4) {
        0 | 1 => FloatPolynomial::square(),
        2 => FloatPolynomial::new(vec![
            rng.random_range(-0.5..0.5),
            rng.random_range(-1.0..1.0),
            rng.random_range(0.1..1.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 },
        ])
        .expect("degree 2"),
        _ => FloatPolynomial::new(vec![
            rng.random_range(-0.5..0.5),
            rng.random_range(0.2..1.5),
        ])
        .expect("degree 1"),
    }
}

/// A random valid graph: input dimension `3..=8`, then one layer per op code
/// (`0` conv1d, `1` dense, `2` activation, `3` avgpool1d, `4` flatten), with
/// a flatten inserted before a dense layer that follows a multi-channel one.
pub(crate) fn random_graph(seed: u64, ops: &[u8]) -> Graph {
    let mut rng = rng(seed);
    let input_dim = rng.random_range(3..=8);
    let mut shape = Shape::flat(input_dim);
    let mut layers = Vec::new();
    for &op in ops {
        match op % 5 {
            0 => {
                let out = rng.random_range(1..=3);
                let k = [1, 3, 5][rng.random_range(0..3)];
                let limit = (3.0 / (shape.channels * k) as f32).sqrt();
                let bias = rng.random_bool(0.5).then(|| uniform(&mut rng, out, 0.1));
                let weights = uniform(&mut rng, out * shape.channels * k, limit);
                layers.push(Layer::Conv1d(
                    Conv1d::new(shape.channels, out, k, weights, bias).expect("valid conv"),
                ));
            }
            1 => {
                if shape.channels != 1 {
                    layers.push(Layer::Flatten);
                    shape = Shape::flat(shape.len());
                }
                let out = rng.random_range(1..=6);
                let limit = (3.0 / shape.length as f32).sqrt();
                let weights = uniform(&mut rng, out * shape.length, limit);
                let bias = uniform(&mut rng, out, 0.1);
                layers.push(Layer::Dense(
                    Dense::new(shape.length, out, weights, bias).expect("valid dense"),
                ));
            }
            2 => layers.push(Layer::Activation(random_polynomial(&mut rng))),
            3 => {
                let window = rng.random_range(1..=shape.length.min(3));
                layers.push(Layer::AvgPool1d(AvgPool1d { window }));
            }
            _ => layers.push(Layer::Flatten),
        }
        shape = layers
            .last()
            .expect("just pushed")
            .output_shape(shape)
            .expect("generated to fit");
    }
    Graph::new(input_dim, layers).expect("generated graph is valid")
}

/// A random input in `[-1, 1]^d`.
pub(crate) fn random_input(rng: &mut ChaCha8Rng, d: usize) -> Vec<f32> {
    uniform(rng, d, 1.0)
}

/// A bound on the magnitude of every output of `graph` at `x`: the same
/// graph with absolute weights and coefficients evaluated at `|x|`. Rounding
/// errors of any evaluation order are small relative to it.
pub(crate) fn magnitude(graph: &Graph, x: &[f32]) -> Vec<f32> {
    let abs = |v: &[f32]| v.iter().map(|w| w.abs()).collect::<Vec<_>>();
    let layers = graph
        .layers
        .iter()
        .map(|l| match l {
            Layer::Conv1d(c) => Layer::Conv1d(Conv1d {
                weights: abs(&c.weights),
                bias: c.bias.as_deref().map(abs),
                ..c.clone()
            }),
            Layer::Dense(d) => Layer::Dense(Dense {
                weights: abs(&d.weights),
                bias: abs(&d.bias),
                ..d.clone()
            }),
            Layer::Activation(p) => Layer::Activation(FloatPolynomial {
                coefficients: p.coefficients.iter().map(|a| a.abs()).collect(),
            }),
            other => other.clone(),
        })
        .collect();
    let abs_graph = Graph {
        input_dim: graph.input_dim,
        layers,
    };
    abs_graph.evaluate(&abs(x)).expect("abs graph evaluates")
}

/// Largest absolute value.
pub(crate) fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// A temporary directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, not yet created, unique path under the system temp dir.
    pub(crate) fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "cryptotl-graph-test-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    /// The path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
