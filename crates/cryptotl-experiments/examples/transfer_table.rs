//! The transfer table of docs/results.md: every source × target pair of the
//! catalog (sources rotten-tomatoes, crowdflower), float vs encrypted
//! features, with two no-transfer baselines per target.
//!
//! ```text
//! cargo run --release -p cryptotl-experiments --example transfer_table [-- MAX_TARGET MAX_SOURCE [OUT]]
//! ```
//!
//! `MAX_TARGET` / `MAX_SOURCE` cap the samples per target / source
//! (stratified, seeded subsamples; `all` or absent: no cap). The markdown is
//! written to `OUT` (default `docs/results.md`). Uses the cache of the CLI
//! ($CRYPTOTL_CACHE, else the default); data sets and the embedding model
//! are fetched on first use.

use std::io::Write as _;
use std::time::Instant;

use cryptotl::pipeline::Progress;
use cryptotl_experiments::transfer_table;

mod common;
use common::capped_options;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = capped_options(&args)?;
    let out = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "docs/results.md".into());

    let start = Instant::now();
    // `\r` progress lines are ended before the next stage's line.
    let mut open_line = false;
    let table = transfer_table(&options, &mut |p| match p {
        Progress::Stage(s) => {
            if std::mem::take(&mut open_line) {
                eprintln!();
            }
            eprintln!("[{:7.1}s] {s}", start.elapsed().as_secs_f64());
        }
        Progress::PretrainEpoch(e) => {
            open_line = true;
            eprint!("\r  pretraining epoch {}   ", e.epoch);
        }
        Progress::Encrypted { done, total } => {
            open_line = true;
            eprint!("\r  encrypted {done}/{total}   ");
        }
    })?;
    if open_line {
        eprintln!();
    }

    let mut command =
        String::from("cargo run --release -p cryptotl-experiments --example transfer_table");
    if !args.is_empty() {
        command.push_str(" --");
        for a in &args {
            command.push(' ');
            command.push_str(a);
        }
    }
    let markdown = table.to_markdown(&command);
    std::fs::File::create(&out)?.write_all(markdown.as_bytes())?;
    println!("{markdown}");
    eprintln!("wrote {out}");
    Ok(())
}
