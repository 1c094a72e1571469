//! Accuracy vs ε of DP-SGD heads on two targets, and the accuracy effect of
//! the server's output noise: the table of docs/privacy.md.
//!
//! ```text
//! cargo run --release -p cryptotl-experiments --example privacy_table [-- SEEDS]
//! ```
//!
//! The server pretrains its lower network on Rotten Tomatoes (public); for
//! each target (UCI IMDB, UCI Yelp: the client's private data, 80/20 split)
//! the client computes the quantized lower network's features — what it
//! decrypts from the encrypted evaluation, bit for bit (checked by the
//! pipeline and the `encrypted_exact` tests) — and trains heads with DP-SGD
//! at ε ∈ {1, 3, 8} (δ = 1e-5, C = 1, 40 epochs, batch 32) and without DP
//! (ε = ∞, same schedule). Features are standardized with statistics of the
//! server's *public* pretraining features, so standardization costs no
//! privacy. Each cell is the mean test accuracy over SEEDS seeds (default
//! 3). The last column adds discrete Gaussian noise of σ = 2^20 integer
//! units (the sampler's maximum) to the quantized features, as the server
//! does under encryption, before the (non-DP) head.
//!
//! Uses the cache of the CLI ($CRYPTOTL_CACHE, else the default); data sets
//! and the embedding model are fetched on first use.

use std::time::Instant;

use cryptotl::data::DatasetId;
use cryptotl::head::{DpOptions, HeadConfig, Standardizer, TrainOptions, Trainer, ValidationSplit};
use cryptotl::pipeline::{load_dataset, DataSource};
use cryptotl::pretrain::{pretrain, PretrainConfig};
use rand::SeedableRng;

const EPSILONS: [Option<f64>; 4] = [Some(1.0), Some(3.0), Some(8.0), None];
const DELTA: f64 = 1e-5;
const CLIP: f64 = 1.0;
const EPOCHS: usize = 40;
const BATCH: usize = 32;
const SERVER_SIGMA: f64 = 1_048_576.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3);
    let cache = cryptotl::embed::default_cache_dir()?;
    let started = Instant::now();
    let embedder = cryptotl::embed::ModelSource::default().load(&cache)?;
    let source = load_dataset(&DataSource::Builtin(DatasetId::RottenTomatoes), &cache)?;
    let xs = embedder.embed_cached(source.texts(), &cache)?;
    let config = PretrainConfig {
        classes: source.classes().len(),
        plan_he: false,
        ..PretrainConfig::default()
    };
    let pre = pretrain(&xs, source.labels(), &config, &mut |_| {})?;
    eprintln!(
        "pretrained on {} ({} samples) in {:.0} s",
        source.name(),
        source.len(),
        started.elapsed().as_secs_f64()
    );
    // Public statistics for standardization: the server's public features.
    let public = pre.quantized_features(&xs)?;
    let standardizer = Standardizer::fit(&public)?;
    let graph = &pre.model.graph;
    let scale = graph.output_scale();

    println!("| target | train / test | ε = 1 | ε = 3 | ε = 8 | ε = ∞ | ε = ∞, server σ = 2^20 |");
    println!("|---|---|---|---|---|---|---|");
    for id in [DatasetId::UciImdb, DatasetId::UciYelp] {
        let target = load_dataset(&DataSource::Builtin(id), &cache)?;
        let (train, test) = cryptotl::data::split(&target, 0.2, 0)?;
        let x_train = embedder.embed_cached(train.texts(), &cache)?;
        let x_test = embedder.embed_cached(test.texts(), &cache)?;
        let q = |x: &[Vec<f32>]| -> Result<Vec<Vec<i64>>, cryptotl::Error> {
            x.iter()
                .map(|v| Ok(graph.evaluate_integer(&graph.quantize_input(v)?)?))
                .collect()
        };
        let (qi_train, qi_test) = (q(&x_train)?, q(&x_test)?);
        let deq = |rows: &[Vec<i64>]| -> Result<Vec<Vec<f32>>, cryptotl::Error> {
            rows.iter()
                .map(|y| Ok(standardizer.transform(&scale.dequantize(y)?)))
                .collect()
        };
        let (f_train, f_test) = (deq(&qi_train)?, deq(&qi_test)?);
        // Server noise: every returned integer feature gets N_Z(0, σ²).
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let dg = cryptotl::dp::DiscreteGaussian::new(SERVER_SIGMA)?;
        let noisy = |rows: &[Vec<i64>], rng: &mut rand_chacha::ChaCha20Rng| {
            rows.iter()
                .map(|r| {
                    let mut r = r.clone();
                    dg.add_noise(&mut r, rng)?;
                    Ok(r)
                })
                .collect::<Result<Vec<_>, cryptotl::dp::DpError>>()
        };
        let (n_train, n_test) = (
            deq(&noisy(&qi_train, &mut rng)?)?,
            deq(&noisy(&qi_test, &mut rng)?)?,
        );

        let y_train = train.labels();
        let y_test = test.labels();
        let head_config = HeadConfig {
            standardize: false,
            ..HeadConfig::new(f_train[0].len(), target.classes().len())
        };
        let run = |eps: Option<f64>,
                   seed: u64,
                   xtr: &[Vec<f32>],
                   xte: &[Vec<f32>]|
         -> Result<(f64, f64), Box<dyn std::error::Error>> {
            let options = TrainOptions {
                max_epochs: EPOCHS,
                batch_size: BATCH,
                learning_rate: 1e-3,
                validation: ValidationSplit::None,
                seed,
                ..TrainOptions::default()
            };
            let mut trainer = Trainer::new(head_config.clone(), options);
            if let Some(e) = eps {
                trainer = trainer.differential_privacy(DpOptions::new(e, DELTA, CLIP));
            }
            let (head, _) = trainer.fit(xtr, y_train)?;
            let spent = head
                .training()
                .and_then(|r| r.dp)
                .map_or(f64::INFINITY, |d| d.epsilon);
            Ok((head.evaluate(xte, y_test)?.accuracy, spent))
        };
        let mut cells = Vec::new();
        for eps in EPSILONS {
            let mut acc = 0.0;
            let mut spent: f64 = 0.0;
            for seed in 0..seeds {
                let (a, s) = run(eps, seed, &f_train, &f_test)?;
                acc += a;
                spent = spent.max(s);
            }
            eprintln!("{}: target ε {eps:?}, spent ≤ {spent:.3}", target.name());
            cells.push(format!("{:.3}", acc / seeds as f64));
        }
        let mut acc = 0.0;
        for seed in 0..seeds {
            acc += run(None, seed, &n_train, &n_test)?.0;
        }
        cells.push(format!("{:.3}", acc / seeds as f64));
        println!(
            "| {} | {} / {} | {} |",
            target.name(),
            train.len(),
            test.len(),
            cells.join(" | ")
        );
    }
    eprintln!(
        "δ = {DELTA}, C = {CLIP}, {EPOCHS} epochs, batch {BATCH} (Poisson q = {BATCH}/N), \
         {seeds} seeds; {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
