//! Plaintext diagnostics of the transfer table (docs/results.md, "Why
//! transfer does or does not help"): for every source × target pair, train
//! and test accuracy of a logistic regression and of the client head on the
//! raw embeddings and on the float lower network's features, averaged over
//! the given model seeds (pretraining and head seeds; the target splits are
//! the table's, seed 0).
//!
//! ```text
//! cargo run --release -p cryptotl-experiments --example transfer_why -- MAX_TARGET MAX_SOURCE SEED...
//! ```

use cryptotl::pipeline::Progress;
use cryptotl_experiments::{transfer_diagnostics, DiagnosticRow};

mod common;
use common::{capped_options, ByPair};

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: transfer_why MAX_TARGET MAX_SOURCE SEED...";
    if args.len() < 3 {
        return Err(usage.into());
    }
    let seeds: Vec<u64> = args[2..]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let mut all: ByPair<DiagnosticRow> = ByPair::default();
    for &seed in &seeds {
        let mut options = capped_options(&args)?;
        options.pretrain.seed = seed;
        options.head.seed = seed;
        eprintln!("seed {seed}");
        let rows = transfer_diagnostics(&options, &mut |p| {
            if let Progress::Stage(s) = p {
                eprintln!("  {s}");
            }
        })?;
        for r in rows {
            let (source, target) = (r.source.clone(), r.target.clone());
            all.push(&source, &target, r);
        }
    }
    let seed_list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    println!(
        "Means over model seeds {}; accuracy in percent, train / test.\n",
        seed_list.join(", ")
    );
    println!(
        "| Pair | Dims raw → lower | Source val. acc | LogReg raw | LogReg lower feats | Head raw | Head lower feats | LogReg lower − raw (test, pts) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (key, rows) in all.iter() {
        let m = |f: &dyn Fn(&DiagnosticRow) -> f64| {
            100.0 * mean(&rows.iter().map(f).collect::<Vec<_>>())
        };
        let Some(first) = rows.first() else {
            continue;
        };
        println!(
            "| {} → {} | {} → {} | {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:+.1} |",
            key.0,
            key.1,
            first.raw_dim,
            first.feature_dim,
            m(&|r| r.source_validation_accuracy),
            m(&|r| r.logistic_raw.train),
            m(&|r| r.logistic_raw.test),
            m(&|r| r.logistic_features.train),
            m(&|r| r.logistic_features.test),
            m(&|r| r.head_raw.train),
            m(&|r| r.head_raw.test),
            m(&|r| r.head_features.train),
            m(&|r| r.head_features.test),
            m(&|r| r.logistic_features.test - r.logistic_raw.test),
        );
    }
    Ok(())
}
