//! Where the quantized-vs-float accuracy gap comes from (docs/results.md,
//! "Quantization gap"): runs [`quantization_gap`] once per model seed
//! (pretraining and head seed; the target splits stay the table's, seed 0)
//! and prints per-pair means over the seeds.
//!
//! ```text
//! cargo run --release -p cryptotl-experiments --example quant_gap -- MAX_TARGET MAX_SOURCE ENSEMBLE SEED...
//! ```
//!
//! Environment (optional, for pretraining variants): `QG_WEIGHT_DECAY`
//! (AdamW decay of the lower network), `QG_INPUT_CLIP` (share clipped at
//! each end when fitting the input quantizer), `QG_PATIENCE`, `QG_MAX_EPOCHS`,
//! `QG_BITS=BX,BW` (served bit widths).

use cryptotl::pipeline::Progress;
use cryptotl::pretrain::QuantBits;
use cryptotl_experiments::within_one_point;
use cryptotl_experiments::{quantization_gap, GapOptions, GapRow};

mod common;
use common::{capped_options, ByPair};

fn env<T: std::str::FromStr>(name: &str) -> Result<Option<T>, Box<dyn std::error::Error>>
where
    T::Err: std::error::Error + 'static,
{
    match std::env::var(name) {
        Ok(v) => Ok(Some(v.parse::<T>()?)),
        Err(_) => Ok(None),
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn std(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len().max(1) as f64).sqrt()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: quant_gap MAX_TARGET MAX_SOURCE ENSEMBLE SEED...";
    if args.len() < 4 {
        return Err(usage.into());
    }
    let ensemble: usize = args[2].parse()?;
    let seeds: Vec<u64> = args[3..]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let gap = GapOptions {
        ensemble,
        prefixes: [3, 5].into_iter().filter(|&k| k < ensemble).collect(),
        ..GapOptions::default()
    };
    let mut all: ByPair<GapRow> = ByPair::default();
    let start = std::time::Instant::now();
    for &seed in &seeds {
        let mut options = capped_options(&args)?;
        options.pretrain.seed = seed;
        options.head.seed = seed;
        if let Some(wd) = env::<f64>("QG_WEIGHT_DECAY")? {
            options.pretrain.weight_decay = wd;
        }
        if let Some(c) = env::<f64>("QG_INPUT_CLIP")? {
            options.pretrain.input_clip = c;
        }
        if let Some(p) = env::<usize>("QG_PATIENCE")? {
            options.pretrain.patience = p;
        }
        if let Some(e) = env::<usize>("QG_MAX_EPOCHS")? {
            options.pretrain.max_epochs = e;
        }
        if let Ok(b) = std::env::var("QG_BITS") {
            let (x, w) = b.split_once(',').ok_or("QG_BITS=BX,BW")?;
            options.pretrain.bits = Some(QuantBits {
                input: x.parse()?,
                weight: w.parse()?,
            });
        }
        eprintln!("[{:6.0}s] seed {seed}", start.elapsed().as_secs_f64());
        let rows = quantization_gap(&options, &gap, &mut |p| {
            if let Progress::Stage(s) = p {
                eprintln!("  [{:6.0}s] {s}", start.elapsed().as_secs_f64());
            }
        })?;
        for r in rows {
            eprintln!(
                "  seed {seed} {} → {} bits ({},{}) t {}/{} clip {:.4} ferr {:.4} | F {:.1} Q {:.1} Δ {:+.1} | Fhead@Q {:.1} @clamp {:.1} @inq {:.1} flips {:.1} | ens F {:.1} Q {:.1} Δ {:+.1} F@Q {:.1} | {} | {}",
                r.source,
                r.target,
                r.bits.input,
                r.bits.weight,
                r.plaintext_bits,
                r.allowed_plaintext_bits,
                r.clipped,
                r.feature_error,
                100.0 * r.float,
                100.0 * r.quantized,
                100.0 * (r.quantized - r.float),
                100.0 * r.float_head_on_quantized,
                100.0 * r.float_head_on_clamped,
                100.0 * r.float_head_on_input_quantized,
                100.0 * r.flips,
                100.0 * r.float_ensemble,
                100.0 * r.quantized_ensemble,
                100.0 * (r.quantized_ensemble - r.float_ensemble),
                100.0 * r.float_ensemble_on_quantized,
                r.prefix_ensembles
                    .iter()
                    .map(|(k, f, q)| format!("ens{k} F {:.1} Q {:.1} Δ {:+.1}", 100.0 * f, 100.0 * q, 100.0 * (q - f)))
                    .collect::<Vec<_>>()
                    .join(" "),
                r.variants
                    .iter()
                    .map(|v| format!(
                        "({},{}) t{} {:.1}/{:.1} e{:.4}",
                        v.bits.input,
                        v.bits.weight,
                        v.plaintext_bits,
                        100.0 * v.float_head,
                        100.0 * v.float_ensemble,
                        v.feature_error
                    ))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let (source, target) = (r.source.clone(), r.target.clone());
            all.push(&source, &target, r);
        }
    }
    let seed_list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    println!(
        "Model seeds {} ({} s); ensembles of up to {ensemble} heads; accuracy in percent, \
         Δ in points.\n",
        seed_list.join(", "),
        start.elapsed().as_secs_f64().round()
    );
    let pm = |xs: &[f64]| {
        let max = xs.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        format!(
            "{:+.1} ± {:.1} [{:.1}]",
            100.0 * mean(xs),
            100.0 * std(xs),
            100.0 * max
        )
    };
    let prefixes: Vec<usize> = all
        .rows()
        .next()
        .map(|r| r.prefix_ensembles.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    let ens_header: String = prefixes
        .iter()
        .map(|k| format!(" Δ q−f, {k}-head ensembles |"))
        .collect();
    println!(
        "Δ q−f: quantized-pipeline minus float-pipeline test accuracy, each pipeline's \
         head(s) trained on its own features. Cells: mean ± std [max |·|] over the seeds.\n"
    );
    println!(
        "| Pair | Test | Δ q−f, single heads |{ens_header} Δ q−f, {ensemble}-head ensembles | float head on Q − on F | float {ensemble}-ens. on Q − on F |"
    );
    println!(
        "|---|---:|---:|{}---:|---:|---:|",
        "---:|".repeat(prefixes.len())
    );
    for (key, rows) in all.iter() {
        let Some(first) = rows.first() else {
            continue;
        };
        let col = |f: &dyn Fn(&GapRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
        let ens: String = (0..prefixes.len())
            .map(|i| {
                format!(
                    " {} |",
                    pm(&col(&|r| r.prefix_ensembles[i].2 - r.prefix_ensembles[i].1))
                )
            })
            .collect();
        println!(
            "| {} → {} | {} | {} |{ens} {} | {} | {} |",
            key.0,
            key.1,
            first.test,
            pm(&col(&|r| r.quantized - r.float)),
            pm(&col(&|r| r.quantized_ensemble - r.float_ensemble)),
            pm(&col(&|r| r.float_head_on_quantized - r.float)),
            pm(&col(&|r| r.float_ensemble_on_quantized - r.float_ensemble)),
        );
    }
    let all_rows: Vec<&GapRow> = all.rows().collect();
    let over = |f: &dyn Fn(&GapRow) -> f64| {
        let xs: Vec<f64> = all_rows.iter().map(|r| f(r)).collect();
        let n_over = xs.iter().filter(|&&x| !within_one_point(x, 0.0)).count();
        format!("{} ({n_over} of {} runs above 1 point)", pm(&xs), xs.len())
    };
    println!();
    println!(
        "All runs: Δ q−f single heads {}",
        over(&|r| r.quantized - r.float)
    );
    for (i, k) in prefixes.iter().enumerate() {
        println!(
            "All runs: Δ q−f {k}-head ensembles {}",
            over(&|r| r.prefix_ensembles[i].2 - r.prefix_ensembles[i].1)
        );
    }
    println!(
        "All runs: Δ q−f {ensemble}-head ensembles {}",
        over(&|r| r.quantized_ensemble - r.float_ensemble)
    );
    println!(
        "All runs: float head on Q − on F {}",
        over(&|r| r.float_head_on_quantized - r.float)
    );
    println!(
        "All runs: float {ensemble}-ensemble on Q − on F {}",
        over(&|r| r.float_ensemble_on_quantized - r.float_ensemble)
    );

    println!("\nWhere the feature error comes from (means over the seeds):\n");
    let variant_names: String = gap
        .variants
        .iter()
        .map(|b| {
            format!(
                " float head on Q({}, {}) − on F (t bits) |",
                b.input, b.weight
            )
        })
        .collect();
    println!(
        "| Pair | Bits (t bits / allowed) | Target inputs outside the fitted range (%) | Feature error ‖Q − F‖/‖F‖ (%) | Flipped float-head predictions (%) | float head on input-quantized − on F |{variant_names}"
    );
    println!(
        "|---|---|---:|---:|---:|---:|{}",
        "---:|".repeat(gap.variants.len())
    );
    for (key, rows) in all.iter() {
        let Some(first) = rows.first() else {
            continue;
        };
        let col = |f: &dyn Fn(&GapRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
        let variants: String = (0..gap.variants.len())
            .map(|i| {
                format!(
                    " {:+.1} (e {:.2} %, t {}) |",
                    100.0 * mean(&col(&|r| r.variants[i].float_head - r.float)),
                    100.0 * mean(&col(&|r| r.variants[i].feature_error)),
                    first.variants[i].plaintext_bits
                )
            })
            .collect();
        println!(
            "| {} → {} | ({}, {}) ({} / {}) | {:.2} | {:.2} | {:.1} | {:+.1} |{variants}",
            key.0,
            key.1,
            first.bits.input,
            first.bits.weight,
            first.plaintext_bits,
            first.allowed_plaintext_bits,
            100.0 * mean(&col(&|r| r.clipped)),
            100.0 * mean(&col(&|r| r.feature_error)),
            100.0 * mean(&col(&|r| r.flips)),
            100.0 * mean(&col(&|r| r.float_head_on_input_quantized - r.float)),
        );
    }
    Ok(())
}
