//! Measures training and inference speed of the default head on synthetic
//! 382-dimensional features (CryptoTL's lower-network output width).
//!
//! ```text
//! cargo run --release -p cryptotl-head --example head_speed [examples] [epochs]
//! ```

use std::time::Instant;

use cryptotl_head::{train, HeadConfig, HeadError, TrainOptions, ValidationSplit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), HeadError> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let epochs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let dim = 382;

    // Two classes whose means differ slightly, at the tiny scale decrypted
    // features can have.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let x: Vec<Vec<f32>> = y
        .iter()
        .map(|&label| {
            (0..dim)
                .map(|j| {
                    let shift = if label == 1 && j % 5 == 0 { 0.3 } else { 0.0 };
                    1e-3 * (rng.random_range(-1.0f32..1.0) + shift)
                })
                .collect()
        })
        .collect();

    let config = HeadConfig::new(dim, 2);
    for batch_size in [32, 128] {
        let options = TrainOptions {
            max_epochs: epochs,
            batch_size,
            validation: ValidationSplit::None,
            ..TrainOptions::default()
        };
        let (head, report) = train(&config, &x, &y, &options)?;
        let per_epoch = report.seconds / report.epochs as f64;
        println!(
            "train: {n} examples × {dim} features, batch {batch_size}: {:.3} s/epoch, {:.0} examples/s (final loss {:.4})",
            per_epoch,
            n as f64 / per_epoch,
            report.history.last().map_or(f64::NAN, |e| e.train_loss),
        );
        let started = Instant::now();
        let metrics = head.evaluate(&x, &y)?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "evaluate: {:.0} examples/s, training-set accuracy {:.4}",
            n as f64 / seconds,
            metrics.accuracy
        );
    }
    Ok(())
}
