//! Fetches the built-in data sets and prints their counts as a Markdown
//! table (used for docs/datasets.md).
//!
//! ```text
//! cargo run -p cryptotl-data --example dataset_stats -- <cache dir> [name ...]
//! ```

use std::path::PathBuf;

use cryptotl_data::{clean, load_with_report, shared_text_count, Dataset, DatasetId, Result};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cache = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/cryptotl-cache".to_owned()),
    );
    let ids: Vec<DatasetId> = args.map(|a| a.parse()).collect::<Result<_>>()?;
    let ids = if ids.is_empty() {
        DatasetId::all().to_vec()
    } else {
        ids
    };
    println!("| data set | raw records | skipped | recovered | loaded | duplicates | conflicting (texts/rows) | empty | after cleaning | classes after cleaning |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut loaded: Vec<(DatasetId, Dataset)> = Vec::new();
    for id in ids {
        let (dataset, source) = load_with_report(id, &cache)?;
        let (cleaned, report) = clean(&dataset);
        let skipped: Vec<String> = source
            .skipped
            .iter()
            .map(|s| format!("{} {}", s.count, s.reason))
            .collect();
        let balance = |d: &Dataset| {
            d.classes()
                .iter()
                .zip(d.class_counts())
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "| {id} | {} | {} | {} | {} ({}) | {} | {}/{} | {} | {} | {} |",
            source.raw_records,
            if skipped.is_empty() {
                "0".to_owned()
            } else {
                skipped.join(", ")
            },
            source.recovered,
            dataset.len(),
            balance(&dataset),
            report.duplicates_removed,
            report.conflicting_texts,
            report.conflicting_removed,
            report.empty_removed,
            cleaned.len(),
            balance(&cleaned),
        );
        loaded.push((id, cleaned));
    }
    println!();
    println!("Texts shared between cleaned data sets (by dedup key):");
    for (i, (a, da)) in loaded.iter().enumerate() {
        for (b, db) in &loaded[i + 1..] {
            let shared = shared_text_count(da, db);
            if shared > 0 {
                println!("- {a} / {b}: {shared}");
            }
        }
    }
    Ok(())
}
