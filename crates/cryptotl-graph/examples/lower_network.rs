//! Builds CryptoTL's lower network for a small input dimension, fuses and
//! quantizes it, then compares the integer network (dequantized) with the
//! float network on random inputs against the rigorous error bound, and
//! prints the plaintext modulus the encrypted evaluation would need.
//!
//! `cargo run --release -p cryptotl-graph --example lower_network -- [d]`

use cryptotl_graph::{fuse, Graph, QuantizedGraph};
use cryptotl_quant::{InputQuantizer, WeightQuantization};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let d: usize = std::env::args().nth(1).map_or(Ok(32), |s| s.parse())?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);

    // Conv1d → Dense → x² → AvgPool1d → Dense, random Glorot weights.
    let graph = Graph::cryptotl_lower(d, &mut rng)?;
    let fusion = fuse(&graph)?;
    println!(
        "lower network: {} layers for d = {d}, {} after fusion (merged: {:?})",
        graph.layers.len(),
        fusion.graph.layers.len(),
        fusion.sources
    );
    let fused = fusion.graph;

    // Inputs: unit vectors, like L2-normalized sentence embeddings.
    let unit = |rng: &mut ChaCha8Rng| {
        let v: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let train: Vec<Vec<f32>> = (0..200).map(|_| unit(&mut rng)).collect();

    // 8-bit inputs fitted on the training samples, 8-bit weights per row.
    let input = InputQuantizer::fit(&train, 8)?;
    let quantized =
        QuantizedGraph::from_fused(&fused, input, &WeightQuantization::per_output_channel(8)?)?;
    let bounds = quantized.bounds()?;
    println!(
        "integer network: multiplicative depth {}, needs a {}-bit plaintext modulus",
        quantized.multiplicative_depth(),
        bounds.required_plaintext_bits()
    );

    // Float vs dequantized integer outputs, against the stated bound over
    // the quantizer's fitted range (the training samples lie inside it).
    let report = quantized.error_bound_fitted(&fused)?;
    let mut worst = 0.0f64;
    let mut largest = 0.0f32;
    for x in &train {
        let float = graph.evaluate(x)?;
        let integer = quantized.evaluate(x)?;
        for (f, q) in float.iter().zip(&integer) {
            worst = worst.max(f64::from((f - q).abs()));
        }
        largest = float.iter().fold(largest, |m, v| m.max(v.abs()));
    }
    println!("largest |float output|: {largest:.4}");
    println!(
        "float vs quantized on {} samples: measured {worst:.3e}, bound {:.3e}",
        train.len(),
        report.max_output_error()
    );
    // The bound covers exact arithmetic; the f32 evaluations add their own
    // rounding (tiny next to the quantization error).
    assert!(worst <= report.max_output_error() + 1e-4);
    Ok(())
}
