//! Times Dense(d→d) → x² → Dense(d→d−2) on one full encrypted batch and prints
//! the noise budget after each stage.
//!
//! `cargo run --release -p cryptotl-he --example dense_square_dense -- [d] [t_bits] [n]`

use std::time::Instant;

use cryptotl_he::{ClientKeys, Evaluator, HeParameters, Preset};
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let d: usize = args.get(1).map_or(Ok(384), |s| s.parse())?;
    let t_bits: u32 = args.get(2).map_or(Ok(52), |s| s.parse())?;
    let preset = match args.get(3).map(String::as_str) {
        Some("16384") => Preset::N16384,
        _ => Preset::N8192,
    };
    let params = HeParameters::for_plaintext_bits(preset, t_bits)?;
    println!(
        "{params:?} moduli bits {:?}",
        params
            .moduli()
            .iter()
            .map(|q| 64 - q.leading_zeros())
            .collect::<Vec<_>>()
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let n = params.degree();
    let x: Vec<Vec<i64>> = (0..n)
        .map(|_| (0..d).map(|_| rng.random_range(0..64)).collect())
        .collect();
    let w1: Vec<i64> = (0..d * d).map(|_| rng.random_range(-15..=15)).collect();
    let w2: Vec<i64> = (0..(d - 2) * d)
        .map(|_| rng.random_range(-15..=15))
        .collect();
    let client = ClientKeys::generate(&params);
    let t = Instant::now();
    let keys = client.evaluation_keys()?;
    println!(
        "keygen {:?}, evaluation keys {} bytes",
        t.elapsed(),
        keys.to_bytes().len()
    );
    let eval = Evaluator::with_keys(keys);
    let t = Instant::now();
    let enc = client.encrypt_batch(&x)?;
    println!("encrypt {:?}", t.elapsed());
    let t = Instant::now();
    let bytes = enc.to_bytes();
    println!(
        "serialize {:?}: {} bytes, {:.1} KB/sample",
        t.elapsed(),
        bytes.len(),
        bytes.len() as f64 / n as f64 / 1024.0
    );
    println!("budget fresh {}", client.noise_budget(&enc)?);
    let t0 = Instant::now();
    let y = eval.weighted_sums(&enc, &w1, d, None)?;
    println!("dense1 {:?}", t0.elapsed());
    let t = Instant::now();
    let z = eval.polynomials(&y, &vec![vec![0, 0, 1]; d])?;
    println!("square {:?}", t.elapsed());
    let t = Instant::now();
    let o = eval.weighted_sums(&z, &w2, d - 2, None)?;
    println!("dense2 {:?}", t.elapsed());
    println!(
        "server total {:?} = {:.3} ms/sample",
        t0.elapsed(),
        t0.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    println!(
        "budget after dense1 {} square {} dense2 {}",
        client.noise_budget(&y)?,
        client.noise_budget(&z)?,
        client.noise_budget(&o)?
    );
    for level in 1..=params.max_level() {
        let s = eval.switch_to_level(&o, level)?;
        let b = s.to_bytes();
        println!(
            "level {level}: budget {} bytes {} ({:.1} KB/sample)",
            client.noise_budget(&s)?,
            b.len(),
            b.len() as f64 / n as f64 / 1024.0
        );
    }
    Ok(())
}
