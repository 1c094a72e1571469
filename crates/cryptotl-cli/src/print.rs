//! Printing results on stdout: the exchange's timings and bytes, the demo's
//! report.

use std::time::Duration;

use cryptotl::head::ClientHead;
use cryptotl::pipeline::TransferReport;
use cryptotl::ExchangeStats;

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub(crate) fn kib(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

pub(crate) fn print_exchange(stats: &ExchangeStats, key_bytes: usize) {
    let n = stats.samples.max(1) as f64;
    if let Some(decision) = &stats.packing {
        println!("  {decision}");
    }
    println!(
        "  encrypted exchange: {} samples in {} batch(es); client encrypt {}, server {}, client decrypt {}",
        stats.samples,
        stats.batches,
        secs(stats.encrypt),
        secs(stats.server),
        secs(stats.decrypt)
    );
    println!(
        "  bytes: evaluation keys {} (once), upload {} ({:.1} KB/sample), download {} ({:.1} KB/sample)",
        kib(key_bytes),
        kib(stats.upload_bytes),
        stats.upload_bytes as f64 / n / 1024.0,
        kib(stats.download_bytes),
        stats.download_bytes as f64 / n / 1024.0
    );
}

pub(crate) fn print_demo(r: &TransferReport) {
    println!(
        "cryptotl demo: transfer from {} to {}",
        r.source.0, r.target.0
    );
    println!(
        "  data: {} source samples; target {} train / {} test; classes {:?}",
        r.source.1, r.target.1, r.target.2, r.classes
    );
    let p = &r.pretrain;
    println!(
        "  server model: {} epochs ({:?}), bits (input {}, weight {}), plaintext modulus {} bits; \
         pretraining validation accuracy float {:.3}, quantized {:.3}",
        p.epochs_run,
        p.mode,
        p.export_bits.input,
        p.export_bits.weight,
        p.plaintext_bits,
        p.float_validation_accuracy,
        p.quantized_validation_accuracy
    );
    for src in &r.sources {
        println!(
            "    source {}: {} train / {} validation samples, validation accuracy float {:.3}, quantized {:.3}",
            src.name,
            src.train_samples,
            src.validation_samples,
            src.float_validation_accuracy,
            src.quantized_validation_accuracy
        );
    }
    if let Some(auto) = &r.auto {
        println!(
            "  client head, chosen by cross-validation on the encrypted features' training part:"
        );
        print_selection(&auto.head);
    }
    println!("  target test results (head trained on each kind of feature):");
    println!(
        "    {:<28} {:>8} {:>9} {:>7} {:>8}",
        "features", "accuracy", "macro F1", "kappa", "log loss"
    );
    for (name, h) in [
        ("float (plaintext)", &r.float),
        ("quantized (plaintext)", &r.quantized),
        ("encrypted (BFV, decrypted)", &r.encrypted),
    ] {
        println!(
            "    {:<28} {:>8.4} {:>9.4} {:>7.4} {:>8}",
            name,
            h.metrics.accuracy,
            h.metrics.macro_f1,
            h.metrics.kappa,
            h.metrics.log_loss.map_or("-".into(), |l| format!("{l:.4}"))
        );
    }
    if let Some(auto) = &r.auto {
        let m = &auto.baseline.metrics;
        println!(
            "    {:<28} {:>8.4} {:>9.4} {:>7.4} {:>8}",
            "no transfer (raw embedding)",
            m.accuracy,
            m.macro_f1,
            m.kappa,
            m.log_loss.map_or("-".into(), |l| format!("{l:.4}"))
        );
        println!(
            "    (no transfer: the same cross-validated choice over the raw embedding only: {})",
            auto.baseline_choice
        );
    }
    println!(
        "  exactness: decrypted features == quantized model features: {}; encrypted predictions == quantized predictions: {}",
        if r.exact_features { "yes (bit-exact)" } else { "NO" },
        if r.identical_predictions { "yes" } else { "NO" }
    );
    print_exchange(&r.exchange, r.evaluation_key_bytes);
    let t = &r.times;
    println!(
        "  timings: setup {}, embeddings {}, pretraining {}, client keys {}, heads {}",
        secs(t.setup),
        secs(t.embed),
        secs(t.pretrain),
        secs(t.keygen),
        secs(t.heads)
    );
}

/// The head's family and features, and how they were chosen.
pub(crate) fn print_selection(head: &ClientHead) {
    let members = match head.classifier() {
        cryptotl::head::Classifier::Mlp(e) if e.len() > 1 => {
            format!(", {} heads averaged", e.len())
        }
        _ => String::new(),
    };
    match head.selection() {
        Some(s) => {
            println!(
                "head: {} on {} features{members}, chosen by {}-fold cross-validation on {} training samples:",
                head.classifier().family(),
                head.features(),
                s.folds,
                s.samples
            );
            for (i, c) in s.candidates.iter().enumerate() {
                let mark = if i == s.chosen { "*" } else { " " };
                println!("  {mark} {c}");
            }
            if s.guarded {
                println!(
                    "  (another head ranked first, but did not beat logistic regression on the raw \
                     embedding by more than {} standard errors: that is kept)",
                    s.guard.unwrap_or(0.0)
                );
            }
        }
        None => println!(
            "head: {} on {} features{members}",
            head.classifier().family(),
            head.features()
        ),
    }
    let server = if head.needs_server() {
        "classify and evaluate will ask the server for its features"
    } else {
        "classify and evaluate will not contact the server"
    };
    println!("  ({server})");
}
