//! Synthetic stand-ins for the engine demo and benchmarks: random unit-norm
//! "embeddings" (sentence embeddings are L2-normalized) and a randomly
//! initialized CryptoTL lower network, quantized with the widest bit widths
//! the bound analysis allows and planned for a preset.

use cryptotl_graph::{plan, widest_quantization, Graph, QuantizedModel};
use cryptotl_he::Preset;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::ProtocolError;

/// `n` random unit vectors of dimension `d` (Gaussian directions), seeded.
pub fn unit_vectors(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Box–Muller Gaussians give uniformly distributed directions.
            let v: Vec<f32> = (0..d)
                .map(|_| {
                    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                    let u2: f64 = rng.random();
                    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
                })
                .collect();
            let norm = v
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::MIN_POSITIVE);
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// A synthetic served model: the CryptoTL lower network at dimension `d`
/// with seeded random weights, its input quantizer fitted on `train`, the
/// widest bit widths that fit `preset`, and an HE plan. Returns the float
/// graph, the quantized model and the chosen `(input bits, weight bits)`.
pub fn lower_model(
    d: usize,
    train: &[Vec<f32>],
    preset: Preset,
    seed: u64,
) -> Result<(Graph, QuantizedModel, (u32, u32)), ProtocolError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let graph = Graph::cryptotl_lower(d, &mut rng)?;
    let (q, bx, bw) = widest_quantization(&graph, train, preset)?;
    let he = plan(&q, preset)?;
    let mut model = QuantizedModel::new(q);
    model.he_plan = Some(he);
    Ok((graph, model, (bx, bw)))
}
