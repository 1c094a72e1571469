//! Calibrates the DP-SGD noise multiplier for a target `(ε, δ)`: the
//! smallest `σ` such that `T` Poisson-subsampled Gaussian steps at rate
//! `q = batch / N` are `(ε, δ)`-DP under the Rényi-DP accountant, then
//! reports the `ε` spent along the way and the noise a batch receives.
//!
//! `cargo run --release -p cryptotl-dp --example calibrate_dpsgd -- [epsilon] [delta]`

use cryptotl_dp::{DpError, DpSgdConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let epsilon: f64 = args.next().map_or(Ok(3.0), |s| s.parse())?;
    let delta: f64 = args.next().map_or(Ok(1e-5), |s| s.parse())?;

    // A training set of 10 000 examples, expected batches of 64, 20 epochs.
    let (dataset, batch, epochs) = (10_000usize, 64usize, 20u64);
    let sampling_rate = batch as f64 / dataset as f64;
    let steps = epochs * dataset.div_ceil(batch) as u64;
    let clip = 1.0f32;

    let config = DpSgdConfig::calibrated(clip, epsilon, delta, sampling_rate, steps)?;
    println!(
        "target (ε, δ) = ({epsilon}, {delta:e}); N = {dataset}, expected batch {}, \
         q = {sampling_rate:.4}, T = {steps} steps",
        config.expected_batch_size(dataset)
    );
    println!(
        "noise multiplier σ = {:.4} (noise std σ·C = {:.4} on the summed clipped gradients)",
        config.noise_multiplier,
        config.noise_std()
    );
    for fraction in [4, 2, 1] {
        let after = steps / fraction;
        let spent = config.privacy_spent_after(after)?;
        println!(
            "  after {after:>5} steps: ε = {:.4} at δ = {:e}",
            spent.epsilon, spent.delta
        );
    }
    let spent = config.privacy_spent()?;
    assert!(spent.epsilon <= epsilon);

    // A smaller noise multiplier would overshoot the target.
    let weaker = DpSgdConfig {
        noise_multiplier: config.noise_multiplier * 0.95,
        ..config
    };
    println!(
        "with 5 % less noise: ε = {:.4} (over the target)",
        weaker.privacy_spent()?.epsilon
    );

    // Invalid targets are refused with a typed error.
    match DpSgdConfig::calibrated(clip, -1.0, delta, sampling_rate, steps) {
        Err(e @ DpError::InvalidParameter { .. }) => println!("ε = -1 is refused: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
