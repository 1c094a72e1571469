//! The fusion pass: every maximal run of adjacent affine layers (`Conv1d`,
//! `Dense`, `AvgPool1d`, `Flatten`) becomes ONE [`Dense`] layer.
//!
//! Documented on [`fuse`].

use std::ops::Range;

use rayon::prelude::*;

use crate::error::Result;
use crate::graph::{invalid, Graph};
use crate::layers::{Dense, Layer, Shape};

/// A fused graph with, for each of its layers, the range of layers of the
/// original graph it was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedGraph {
    /// The fused graph (only `Dense` and `Activation` layers).
    pub graph: Graph,
    /// `sources[i]`: indices of the original layers merged into layer `i`.
    pub sources: Vec<Range<usize>>,
}

/// Fuses every maximal run of adjacent affine layers of `graph` (`Conv1d`,
/// `Dense`, `AvgPool1d`, `Flatten`) into ONE [`Dense`] layer. Errors if
/// `graph` is invalid.
///
/// A run `A_k(…A_1(x) + b_1…) + b_k` is the affine map `M x + v` with
/// `M = A_k ⋯ A_1` and `v = A_k(⋯A_2(b_1) + b_2⋯) + b_k`. Both are computed
/// exactly as matrix products in `f64` from the `f32` weights (row `i` of `M`
/// is `A_1ᵀ ⋯ A_kᵀ e_i`, using each layer's transpose, which keeps the
/// convolution and the pooling sparse), then rounded to `f32` once.
///
/// CryptoTL's lower network `Conv1d → Dense → Activation → AvgPool1d → Dense`
/// thus becomes `Dense → Activation → Dense`: a single ciphertext ×
/// ciphertext multiplication under encryption. A run made only of `Flatten`
/// layers is dropped (it does not change the data). After fusion every tensor
/// is flat, and the output is the flattened output of the original graph.
pub fn fuse(graph: &Graph) -> Result<FusedGraph> {
    let shapes = graph.shapes()?;
    let mut layers = Vec::new();
    let mut sources = Vec::new();
    let mut start = 0;
    while start < graph.layers.len() {
        if let Layer::Activation(p) = &graph.layers[start] {
            layers.push(Layer::Activation(p.clone()));
            sources.push(start..start + 1);
            start += 1;
            continue;
        }
        let end = graph.layers[start..]
            .iter()
            .position(|l| !l.is_affine())
            .map_or(graph.layers.len(), |n| start + n);
        let run = &graph.layers[start..end];
        if run.iter().any(|l| !matches!(l, Layer::Flatten)) {
            layers.push(Layer::Dense(fuse_run(run, &shapes[start..=end], start)?));
            sources.push(start..end);
        }
        start = end;
    }
    Ok(FusedGraph {
        graph: Graph {
            input_dim: graph.input_dim,
            layers,
        },
        sources,
    })
}

/// Whether `graph` consists only of `Dense` and `Activation` layers with no
/// two `Dense` layers adjacent (what [`fuse`] produces).
pub fn is_fused(graph: &Graph) -> bool {
    graph
        .layers
        .iter()
        .all(|l| matches!(l, Layer::Dense(_) | Layer::Activation(_)))
        && !graph
            .layers
            .windows(2)
            .any(|w| matches!(w, [Layer::Dense(_), Layer::Dense(_)]))
}

impl Graph {
    /// The fused graph ([`fuse`] without the provenance).
    pub fn fused(&self) -> Result<Graph> {
        fuse(self).map(|f| f.graph)
    }
}

/// Fuses the affine layers `run` (with `shapes[k]` the input shape of
/// `run[k]` and `shapes[run.len()]` the output shape) into one dense layer.
fn fuse_run(run: &[Layer], shapes: &[Shape], first_index: usize) -> Result<Dense> {
    if let [Layer::Dense(d)] = run {
        return Ok(d.clone());
    }
    let in_dim = shapes[0].len();
    let out_dim = shapes[run.len()].len();

    // Bias: the run applied to the zero vector.
    let mut bias = vec![0.0f64; in_dim];
    for (layer, &shape) in run.iter().zip(shapes) {
        bias = layer.linear_f64(shape, &bias);
        layer.add_bias_f64(shape, &mut bias);
    }

    // Rows of M = A_k ⋯ A_1: row i = A_1ᵀ ⋯ A_kᵀ e_i. When the last layer is
    // dense, A_kᵀ e_i is its row i.
    let (last_dense, transposed) = match run.split_last() {
        Some((Layer::Dense(d), rest)) => (Some(d), rest),
        _ => (None, run),
    };
    let rows: Vec<Vec<f64>> = (0..out_dim)
        .into_par_iter()
        .map(|i| {
            let mut r: Vec<f64> = match last_dense {
                Some(d) => d.row(i).iter().map(|&w| f64::from(w)).collect(),
                None => {
                    let mut e = vec![0.0; out_dim];
                    e[i] = 1.0;
                    e
                }
            };
            for (layer, &shape) in transposed.iter().zip(&shapes[..transposed.len()]).rev() {
                r = layer.linear_transpose_f64(shape, &r);
            }
            r
        })
        .collect();

    let weights = rows.into_iter().flatten().map(|w| w as f32).collect();
    let bias = bias.into_iter().map(|b| b as f32).collect();
    Dense::new(in_dim, out_dim, weights, bias).map_err(|reason| {
        invalid(
            first_index,
            "dense",
            format!("fusing layers from here on: {reason}"),
        )
    })
}
