//! The `f32` reference evaluator.
//!
//! Documented on [`Graph`].

use rayon::prelude::*;

use crate::error::{GraphError, Result};
use crate::graph::Graph;
use crate::layers::Shape;

impl Graph {
    /// Evaluates the graph on one input vector of dimension `input_dim`; the
    /// output is the flattened output tensor (channel-major).
    ///
    /// Errors if the graph is invalid or the input has the wrong dimension
    /// or a non-finite value.
    pub fn evaluate(&self, input: &[f32]) -> Result<Vec<f32>> {
        let shapes = self.shapes()?;
        self.evaluate_with_shapes(&shapes, input)
    }

    /// Evaluates the graph on a batch of inputs, in parallel over samples.
    /// Errors if any sample is invalid (the first one found is reported, with
    /// its index).
    pub fn evaluate_batch(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let shapes = self.shapes()?;
        inputs
            .par_iter()
            .enumerate()
            .map(|(i, x)| {
                self.evaluate_with_shapes(&shapes, x).map_err(|e| match e {
                    GraphError::InvalidInput(msg) => {
                        GraphError::InvalidInput(format!("sample {i}: {msg}"))
                    }
                    other => other,
                })
            })
            .collect()
    }

    /// Evaluates the graph entirely in `f64` (weights widened exactly, no
    /// rounding to `f32` between layers): the reference that the
    /// float-vs-quantized error bound
    /// ([`QuantizedGraph::error_bound`](crate::QuantizedGraph::error_bound))
    /// is stated against, up to `f64` rounding.
    pub fn evaluate_f64(&self, input: &[f64]) -> Result<Vec<f64>> {
        let shapes = self.shapes()?;
        if input.len() != self.input_dim {
            return Err(GraphError::InvalidInput(format!(
                "expected dimension {}, got {}",
                self.input_dim,
                input.len()
            )));
        }
        if let Some(i) = input.iter().position(|v| !v.is_finite()) {
            return Err(GraphError::InvalidInput(format!("value {i} is not finite")));
        }
        let mut x = input.to_vec();
        for (layer, &shape) in self.layers.iter().zip(&shapes) {
            x = layer.forward_f64(shape, &x);
        }
        Ok(x)
    }

    /// Evaluates a graph whose shapes ([`Graph::shapes`]) are `shapes`.
    fn evaluate_with_shapes(&self, shapes: &[Shape], input: &[f32]) -> Result<Vec<f32>> {
        check_input(self.input_dim, input)?;
        let mut x: Vec<f64> = input.iter().map(|&v| f64::from(v)).collect();
        for (layer, &shape) in self.layers.iter().zip(shapes) {
            x = layer.forward_f64(shape, &x);
            // Tensors between layers are f32.
            for v in &mut x {
                *v = f64::from(*v as f32);
            }
        }
        Ok(x.into_iter().map(|v| v as f32).collect())
    }
}

/// Checks that an input has dimension `dim` and finite values.
pub(crate) fn check_input(dim: usize, input: &[f32]) -> Result<()> {
    if input.len() != dim {
        return Err(GraphError::InvalidInput(format!(
            "expected dimension {dim}, got {}",
            input.len()
        )));
    }
    if let Some(i) = input.iter().position(|v| !v.is_finite()) {
        return Err(GraphError::InvalidInput(format!("value {i} is not finite")));
    }
    Ok(())
}
