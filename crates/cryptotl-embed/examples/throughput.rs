//! Measures embedding throughput on this machine.
//!
//! ```text
//! cargo run -p cryptotl-embed --example throughput -- [minilm|mpnet] [sentences] [longest|fixed|both] [batch sizes...]
//! ```
//!
//! The model defaults to all-MiniLM-L6-v2; `mpnet` measures all-mpnet-base-v2.
//!
//! Prints wall time and, on Linux, the process CPU time, so that runs on a
//! busy machine can still be compared.
//!
//! Sentences are synthetic, 5 to 40 words long (roughly the length of
//! review or news-title datasets). The model is fetched into the default
//! cache if needed.

use std::time::Instant;

use cryptotl_embed::{default_cache_dir, EmbedOptions, Embedder, EmbeddingModel, Padding};

const WORDS: &[&str] = &[
    "the",
    "model",
    "encrypts",
    "private",
    "data",
    "before",
    "sending",
    "it",
    "to",
    "a",
    "server",
    "which",
    "computes",
    "on",
    "ciphertexts",
    "and",
    "returns",
    "an",
    "answer",
    "that",
    "only",
    "client",
    "can",
    "read",
    "transfer",
    "learning",
    "reuses",
    "features",
    "from",
    "pretrained",
    "network",
    "movie",
    "was",
    "great",
    "terrible",
    "food",
];

fn sentence(i: usize) -> String {
    // A small linear congruential generator keeps the corpus deterministic.
    let mut state = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let words = 5 + next() % 36;
    let mut s: Vec<&str> = (0..words).map(|_| WORDS[next() % WORDS.len()]).collect();
    s.push(".");
    s.join(" ")
}

/// User plus system CPU time of this process (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks
    // (100 per second on Linux).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() -> cryptotl_embed::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let model = match args.first().map(|a| a.parse::<EmbeddingModel>()) {
        Some(Ok(model)) => {
            args.remove(0);
            model
        }
        _ => EmbeddingModel::default(),
    };
    let count = args.first().and_then(|a| a.parse().ok()).unwrap_or(512);
    let paddings = match args.get(1).map(String::as_str) {
        Some("longest") => vec![Padding::Longest],
        Some("fixed") => vec![Padding::Fixed],
        _ => vec![Padding::Longest, Padding::Fixed],
    };
    let mut batch_sizes: Vec<usize> = args.iter().skip(2).filter_map(|a| a.parse().ok()).collect();
    if batch_sizes.is_empty() {
        batch_sizes = vec![8, 32, 64];
    }

    let load = Instant::now();
    let embedder = Embedder::load_builtin(&default_cache_dir()?, model)?;
    println!(
        "{model} ({} dimensions, {} tokens) loaded in {:.2} s",
        embedder.dim(),
        embedder.max_tokens(),
        load.elapsed().as_secs_f64()
    );
    let texts: Vec<String> = (0..count).map(sentence).collect();
    // Warm-up (first-touch allocations, thread pool start).
    embedder.embed_with(
        &texts[..count.min(32)],
        &EmbedOptions::default().with_progress(false),
    )?;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{count} sentences, {threads} threads");
    for &padding in &paddings {
        for &batch_size in &batch_sizes {
            let options = EmbedOptions::default()
                .with_batch_size(batch_size)
                .with_padding(padding)
                .with_progress(false);
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            let embeddings = embedder.embed_with(&texts, &options)?;
            let seconds = start.elapsed().as_secs_f64();
            assert_eq!(embeddings.len(), count);
            let cpu = match (cpu_start, cpu_seconds()) {
                (Some(a), Some(b)) => format!(", {:.2} CPU s", b - a),
                _ => String::new(),
            };
            println!(
                "padding {padding:?}, batch {batch_size:>3}: {:.2} s{cpu}, {:.1} sentences/s",
                seconds,
                count as f64 / seconds
            );
        }
    }

    // The embedding cache: a second run reads the file instead of computing.
    let cache =
        std::env::temp_dir().join(format!("cryptotl-embed-throughput-{}", std::process::id()));
    let start = Instant::now();
    let first = embedder.embed_cached(&texts, &cache)?;
    let computed = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let second = embedder.embed_cached(&texts, &cache)?;
    let cached = start.elapsed().as_secs_f64();
    assert_eq!(first, second);
    println!(
        "embed_cached: {computed:.2} s computing, {:.1} ms from the cache",
        cached * 1e3
    );
    std::fs::remove_dir_all(&cache).ok();
    Ok(())
}
