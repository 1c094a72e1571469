//! Seed-to-seed variation of the transfer table (docs/results.md, "Seed
//! variation"): runs [`transfer_table`] once per seed and prints, per
//! source × target pair, the mean, standard deviation and range of the
//! float accuracy, the encrypted accuracy, Δ q−f and the two no-transfer
//! baselines.
//!
//! ```text
//! cargo run --release -p cryptotl-experiments --example seed_sweep -- MAX_TARGET MAX_SOURCE MODE SEED...
//! ```
//!
//! `MAX_TARGET` / `MAX_SOURCE` cap the samples per target / source as in
//! the `transfer_table` example (`all`: no cap). `MODE` says what a seed
//! changes:
//! - `model`: the pretraining seed (initialization, validation split,
//!   minibatch order of the lower network) and the client head's training
//!   seed; the target splits stay those of seed 0 (embeddings stay cached);
//! - `split`: the target subsamples and train/test splits only (new splits
//!   are embedded on first use);
//! - `both`: all of the above.
//!
//! With `SWEEP_FOLDS=K` in the environment every run evaluates by
//! stratified K-fold cross-validation over each whole target (as
//! `cryptotl experiment transfer --folds K`) instead of the single split;
//! the fold assignment follows the split seed. With `SWEEP_HEADS=K` every
//! head is a seed ensemble of K heads (as `--heads K`).
//!
//! Every run also checks that the encrypted features equal the quantized
//! model's (the run fails otherwise).

use std::collections::BTreeMap;
use std::time::Instant;

use cryptotl_experiments::{transfer_table, within_one_point, TransferTable};

/// Mean, population standard deviation, minimum and maximum.
mod common;
use common::capped_options;

fn stats(xs: &[f64]) -> (f64, f64, f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, var.sqrt(), min, max)
}

/// `mean ± std (min–max)` in percent or points.
fn cell(xs: &[f64], signed: bool) -> String {
    let (mean, std, min, max) = stats(xs);
    let p = |x: f64| {
        if signed {
            format!("{:+.2}", 100.0 * x)
        } else {
            format!("{:.1}", 100.0 * x)
        }
    };
    format!("{} ± {:.1} ({} … {})", p(mean), 100.0 * std, p(min), p(max))
}

#[derive(Default)]
struct Pair {
    test: usize,
    float: Vec<f64>,
    encrypted: Vec<f64>,
    delta: Vec<f64>,
    head_raw: Vec<f64>,
    logistic: Vec<f64>,
    identical: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: seed_sweep MAX_TARGET MAX_SOURCE model|split|both SEED...";
    let mode = args.get(2).ok_or(usage)?.clone();
    if !matches!(mode.as_str(), "model" | "split" | "both") {
        return Err(usage.into());
    }
    let seeds: Vec<u64> = args
        .iter()
        .skip(3)
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    if seeds.is_empty() {
        return Err(usage.into());
    }
    let start = Instant::now();
    let mut pairs: BTreeMap<(usize, usize), (String, Pair)> = BTreeMap::new();
    let mut runs: Vec<TransferTable> = Vec::new();
    for &seed in &seeds {
        let mut options = capped_options(&args)?;
        if mode != "split" {
            options.pretrain.seed = seed;
            options.head.seed = seed;
        }
        if mode != "model" {
            options.seed = seed;
        }
        if let Ok(k) = std::env::var("SWEEP_FOLDS") {
            options.folds = Some(k.parse()?);
        }
        if let Ok(k) = std::env::var("SWEEP_HEADS") {
            options.head_members = k.parse()?;
        }
        eprintln!("[{:7.1}s] seed {seed}", start.elapsed().as_secs_f64());
        let table = transfer_table(&options, &mut |_| {})?;
        for (si, source) in table.sources.iter().enumerate() {
            for (ti, r) in source.rows.iter().enumerate() {
                let name = format!("{} → {}", source.source, r.target);
                let entry = pairs.entry((si, ti)).or_insert_with(|| {
                    (
                        name,
                        Pair {
                            identical: true,
                            ..Pair::default()
                        },
                    )
                });
                let p = &mut entry.1;
                p.test = r.test;
                p.float.push(r.float.accuracy);
                p.encrypted.push(r.encrypted.accuracy);
                p.delta.push(r.quantized.accuracy - r.float.accuracy);
                p.head_raw.push(r.baselines.head_raw.accuracy);
                p.logistic.push(r.baselines.logistic.accuracy);
                p.identical &= r.identical_predictions && r.exact_features;
                eprintln!(
                    "  seed {seed} {}: float {:.2} enc {:.2} Δ {:+.2} head raw {:.2} LR raw {:.2}",
                    entry.0,
                    100.0 * r.float.accuracy,
                    100.0 * r.encrypted.accuracy,
                    100.0 * (r.quantized.accuracy - r.float.accuracy),
                    100.0 * r.baselines.head_raw.accuracy,
                    100.0 * r.baselines.logistic.accuracy
                );
            }
        }
        runs.push(table);
    }

    let seed_list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    println!(
        "Seeds {} (mode `{mode}`), {} runs, {:.0} s in all. Cells: mean ± standard \
         deviation (min … max) over the runs, accuracy in percent, Δ q−f in points.\n",
        seed_list.join(", "),
        runs.len(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "| Pair | Test | 1 sample (pts) | Float acc | Enc. acc | Δ q−f (pts) | mean abs Δ | runs with abs Δ > 1 | Head raw acc | LogReg raw acc | Enc. − best baseline (pts) | Identical |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|");
    for (name, p) in pairs.values() {
        let abs: Vec<f64> = p.delta.iter().map(|d| d.abs()).collect();
        let over = p
            .delta
            .iter()
            .filter(|&&d| !within_one_point(d, 0.0))
            .count();
        let margin: Vec<f64> = p
            .encrypted
            .iter()
            .zip(p.head_raw.iter().zip(&p.logistic))
            .map(|(e, (h, l))| e - h.max(*l))
            .collect();
        println!(
            "| {name} | {} | {:.2} | {} | {} | {} | {:.1} | {over} of {} | {} | {} | {} | {} |",
            p.test,
            100.0 / p.test.max(1) as f64,
            cell(&p.float, false),
            cell(&p.encrypted, false),
            cell(&p.delta, true),
            100.0 * stats(&abs).0,
            p.delta.len(),
            cell(&p.head_raw, false),
            cell(&p.logistic, false),
            cell(&margin, true),
            if p.identical { "✓" } else { "✗" },
        );
    }
    Ok(())
}
