//! Where the quantized-vs-float accuracy gap comes from (docs/results.md,
//! "Quantization gap"): runs [`quantization_gap`] once per model seed
//! (pretraining and head seed; the target splits stay the table's, seed 0)
//! and prints per-pair means over the seeds.
//!
//! ```text
//! cargo run --release --example quant_gap -- MAX_TARGET MAX_SOURCE ENSEMBLE SEED...
//! ```
//!
//! Environment (optional, for pretraining variants): `QG_WEIGHT_DECAY`
//! (AdamW decay of the lower network), `QG_INPUT_CLIP` (share clipped at
//! each end when fitting the input quantizer), `QG_PATIENCE`, `QG_MAX_EPOCHS`,
//! `QG_BITS=BX,BW` (served bit widths).

use std::collections::BTreeMap;

use cryptotl::experiment::quant_gap::{quantization_gap, GapOptions, GapRow};
use cryptotl::experiment::ExperimentOptions;
use cryptotl::pipeline::Progress;
use cryptotl::pretrain::QuantBits;

fn parse_cap(arg: Option<&String>) -> Result<Option<usize>, Box<dyn std::error::Error>> {
    match arg.map(String::as_str) {
        None | Some("all") => Ok(None),
        Some(s) => Ok(Some(s.parse()?)),
    }
}

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
        ..GapOptions::default()
    };
    let mut all: BTreeMap<(String, String), Vec<GapRow>> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let start = std::time::Instant::now();
    for &seed in &seeds {
        let mut options = ExperimentOptions::new(cryptotl::embed::default_cache_dir()?);
        options.max_target_samples = parse_cap(args.first())?;
        options.max_source_samples = parse_cap(args.get(1))?;
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
                "  seed {seed} {} → {} bits ({},{}) t {}/{} clip {:.4} ferr {:.4} | F {:.1} Q {:.1} Δ {:+.1} | Fhead@Q {:.1} @clamp {:.1} @inq {:.1} flips {:.1} | ens F {:.1} Q {:.1} Δ {:+.1} F@Q {:.1} | {}",
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
            let key = (r.source.clone(), r.target.clone());
            if !all.contains_key(&key) {
                order.push(key.clone());
            }
            all.entry(key).or_default().push(r);
        }
    }
    let seed_list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    println!(
        "Model seeds {} ({} s); ensemble of {ensemble} heads. Cells: mean over the seeds \
         (± standard deviation for the Δ columns); accuracy in percent, Δ in points.\n",
        seed_list.join(", "),
        start.elapsed().as_secs_f64().round()
    );
    let variant_names: Vec<String> = gap
        .variants
        .iter()
        .map(|b| format!("F head on Q({},{})", b.input, b.weight))
        .collect();
    println!(
        "| Pair | Bits | Clipped inputs (%) | Feature err. (%) | Float | Δ q−f single heads | F head on Q − F | F head on input-quantized − F | Flips (%) | Float ens. | Δ q−f ensembles | F ens. on Q − F ens. | {} |",
        variant_names.join(" − F | ") + " − F"
    );
    println!(
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|{}",
        "---:|".repeat(gap.variants.len())
    );
    for key in &order {
        let rows = &all[key];
        let Some(first) = rows.first() else {
            continue;
        };
        let col = |f: &dyn Fn(&GapRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
        let pm = |xs: Vec<f64>| format!("{:+.1} ± {:.1}", 100.0 * mean(&xs), 100.0 * std(&xs));
        let variants: Vec<String> = (0..gap.variants.len())
            .map(|i| pm(col(&|r| r.variants[i].float_head - r.float)))
            .collect();
        println!(
            "| {} → {} | ({}, {}) | {:.2} | {:.2} | {:.1} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} |",
            key.0,
            key.1,
            first.bits.input,
            first.bits.weight,
            100.0 * mean(&col(&|r| r.clipped)),
            100.0 * mean(&col(&|r| r.feature_error)),
            100.0 * mean(&col(&|r| r.float)),
            pm(col(&|r| r.quantized - r.float)),
            pm(col(&|r| r.float_head_on_quantized - r.float)),
            pm(col(&|r| r.float_head_on_input_quantized - r.float)),
            100.0 * mean(&col(&|r| r.flips)),
            100.0 * mean(&col(&|r| r.float_ensemble)),
            pm(col(&|r| r.quantized_ensemble - r.float_ensemble)),
            pm(col(&|r| r.float_ensemble_on_quantized - r.float_ensemble)),
            variants.join(" | "),
        );
    }
    Ok(())
}
