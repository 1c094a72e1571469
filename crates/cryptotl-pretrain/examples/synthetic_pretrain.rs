//! Pretrains the lower network on a synthetic separable task at a chosen
//! dimension and prints progress, timings and the exported model's
//! accuracies.
//!
//! ```sh
//! cargo run --release -p cryptotl-pretrain --example synthetic_pretrain -- 384 5000 qat
//! ```
//! Arguments: dimension (default 384), samples (default 5000), `qat` or
//! `float` (default `qat`), and `plan` to also make the HE plan (a
//! calibration run under encryption).

use std::time::Instant;

use cryptotl_pretrain::{pretrain, PretrainConfig, TrainingMode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn unit_vectors(n: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..d)
                .map(|_| {
                    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                    let u2: f64 = rng.random();
                    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
                })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let d: usize = args.first().map_or(Ok(384), |a| a.parse())?;
    let n: usize = args.get(1).map_or(Ok(5000), |a| a.parse())?;
    let mode = match args.get(2).map(String::as_str) {
        Some("float") => TrainingMode::FloatOnly,
        _ => TrainingMode::QuantizationAware,
    };

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let w = unit_vectors(1, d, &mut rng).remove(0);
    let xs = unit_vectors(n, d, &mut rng);
    let ys: Vec<usize> = xs
        .iter()
        .map(|x| usize::from(w.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() > 0.0))
        .collect();

    let plan_he = args.get(3).is_some_and(|a| a == "plan");
    let config = PretrainConfig {
        mode,
        plan_he,
        max_epochs: 20,
        ..PretrainConfig::default()
    };
    let start = Instant::now();
    let mut last = Instant::now();
    let trained = pretrain(&xs, &ys, &config, &mut |e| {
        println!(
            "epoch {:3}  train {:.4}  val {:.4}  acc {:.3}{}  ({:.2?})",
            e.epoch,
            e.train_loss,
            e.validation_loss,
            e.validation_accuracy,
            if e.improved { " *" } else { "" },
            last.elapsed()
        );
        last = Instant::now();
    })?;
    let r = &trained.report;
    println!(
        "{mode:?} d={d} n={n}: {:.2?} total, {} epochs (best {}), bits {}/{} ({:?}), t {} bits, \
         activation {:?}",
        start.elapsed(),
        r.epochs_run,
        r.best_epoch,
        r.export_bits.input,
        r.export_bits.weight,
        r.bits_source,
        r.plaintext_bits,
        r.activation
    );
    println!(
        "validation accuracy: float {:.4}, quantized {:.4}",
        r.float_validation_accuracy, r.quantized_validation_accuracy
    );
    Ok(())
}
