//! The engine end to end: a client encrypts a batch of embeddings, the server
//! evaluates its quantized CryptoTL lower network on the ciphertexts, and the
//! client decrypts the features. Checks that the decrypted features equal the
//! quantized plaintext model's exactly, compares them with the float model,
//! and prints timings and sizes.
//!
//! Until pretrained models land, the network has seeded random weights and
//! the embeddings are random unit vectors (sentence embeddings are
//! L2-normalized too).
//!
//! ```text
//! cargo run --release --example encrypted_inference -- [--dim D] [--samples S] [--n 8192|16384] [--save-model DIR]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cryptotl::graph::{Model, QuantizedModel};
use cryptotl::he::Preset;
use cryptotl::{synthetic, LowerClient, LowerServer};

const HELP: &str = "\
encrypted_inference — encrypt a batch, evaluate the CryptoTL lower network on it
under BFV encryption, decrypt, and check the result against the quantized model.

USAGE:
    cargo run --release --example encrypted_inference -- [OPTIONS]

OPTIONS:
    --dim D            embedding dimension d (default 384; 768 for all-mpnet-base-v2)
    --samples S        number of samples to classify (default: one full batch, N)
    --n N              polynomial degree preset: 8192 (default) or 16384
    --seed SEED        seed of the synthetic weights and inputs (default 1)
    --save-model DIR   also write the quantized model (manifest + safetensors) to DIR
    -h, --help         print this help
";

struct Options {
    dim: usize,
    samples: Option<usize>,
    preset: Preset,
    seed: u64,
    save: Option<PathBuf>,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut o = Options {
        dim: 384,
        samples: None,
        preset: Preset::N8192,
        seed: 1,
        save: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--dim" => o.dim = parse(&value("--dim")?, "--dim")?,
            "--samples" => o.samples = Some(parse(&value("--samples")?, "--samples")?),
            "--seed" => o.seed = parse(&value("--seed")?, "--seed")?,
            "--save-model" => o.save = Some(PathBuf::from(value("--save-model")?)),
            "--n" => {
                o.preset = match value("--n")?.as_str() {
                    "8192" => Preset::N8192,
                    "16384" => Preset::N16384,
                    other => return Err(format!("--n must be 8192 or 16384, got {other}")),
                }
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    if o.dim < 3 {
        return Err("--dim must be at least 3 (the average pool has window 3)".into());
    }
    if o.samples == Some(0) {
        return Err("--samples must be at least 1".into());
    }
    Ok(Some(o))
}

fn parse<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{name}: cannot parse {s:?} as a number"))
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

fn run(o: Options) -> Result<(), Box<dyn std::error::Error>> {
    let n = o.preset.degree();
    let samples = o.samples.unwrap_or(n);
    let d = o.dim;
    eprintln!("[1/6] building the synthetic lower network (d = {d}) and planning HE parameters…");
    let t = Instant::now();
    let train = synthetic::unit_vectors(2000, d, o.seed);
    let (float_graph, model, (bx, bw)) = synthetic::lower_model(d, &train, o.preset, o.seed)?;
    let bounds = model.graph.bounds()?;
    println!(
        "model: CryptoTL lower network, d = {d} → {} features, {} input bits, {} weight bits",
        model.graph.output_dim(),
        bx,
        bw
    );
    println!(
        "bound analysis: |value| ≤ {} → plaintext modulus ≥ {} bits",
        bounds.max_abs(),
        bounds.required_plaintext_bits()
    );
    if let Some(dir) = &o.save {
        Model::Quantized(model.clone()).save(dir)?;
        QuantizedModel::load(dir)?;
        println!("model written to {}", dir.display());
    }
    let server = LowerServer::new(model.clone())?;
    let p = server.params();
    println!(
        "HE: BFV N = {}, t = {} bits, log2 q = {} ({} moduli, ≤ {} allowed for 128-bit security), output level {}",
        p.degree(),
        p.plaintext_bits(),
        p.log_q(),
        p.moduli().len(),
        cryptotl::he::max_log_q_128(p.degree()).unwrap_or(0),
        server.card().he.output_level
    );
    println!("setup: {:.2?}", t.elapsed());

    eprintln!("[2/6] client: generating keys…");
    let t = Instant::now();
    let client = LowerClient::new(server.card())?;
    let key_bytes = client.evaluation_key_bytes()?;
    println!(
        "client keys: {:.2?}, evaluation keys {}",
        t.elapsed(),
        kb(key_bytes.len())
    );
    let session = server.open_session(&key_bytes)?;

    let xs = synthetic::unit_vectors(samples, d, o.seed.wrapping_add(1));
    eprintln!("[3/6] client: quantizing and encrypting {samples} samples…");
    let t = Instant::now();
    let requests = client.encrypt(&xs)?;
    let t_enc = t.elapsed();
    let up: usize = requests.iter().map(Vec::len).sum();

    eprintln!(
        "[4/6] server: evaluating {} batch(es) under encryption…",
        requests.len()
    );
    let t = Instant::now();
    let responses = requests
        .iter()
        .map(|r| session.evaluate(r))
        .collect::<Result<Vec<_>, _>>()?;
    let t_eval = t.elapsed();
    let down: usize = responses.iter().map(Vec::len).sum();

    eprintln!("[5/6] client: decrypting…");
    let t = Instant::now();
    let mut decrypted = Vec::with_capacity(samples);
    for r in &responses {
        decrypted.extend(client.decrypt_integers(r)?);
    }
    let t_dec = t.elapsed();

    eprintln!("[6/6] checking against the quantized and float models…");
    let q = client.quantize(&xs)?;
    let expected = model.graph.evaluate_integer_batch(&q)?;
    let mismatches = decrypted
        .iter()
        .zip(&expected)
        .filter(|(a, b)| a != b)
        .count();
    let float_out = float_graph.evaluate_batch(&xs)?;
    let mut max_err = 0f64;
    let mut max_abs = 0f64;
    for (yi, fi) in decrypted.iter().zip(&float_out) {
        let deq = model.graph.dequantize(yi)?;
        for (a, b) in deq.iter().zip(fi) {
            max_err = max_err.max((*a as f64 - *b as f64).abs());
            max_abs = max_abs.max((*b as f64).abs());
        }
    }
    let per = |x: std::time::Duration| x.as_secs_f64() * 1e3 / samples as f64;
    println!("client encrypt: {t_enc:.2?} ({:.3} ms/sample)", per(t_enc));
    println!(
        "server evaluate: {t_eval:.2?} ({:.3} ms/sample)",
        per(t_eval)
    );
    println!("client decrypt: {t_dec:.2?} ({:.3} ms/sample)", per(t_dec));
    println!(
        "upload: {} ({}/sample), download: {} ({}/sample)",
        kb(up),
        kb(up / samples),
        kb(down),
        kb(down / samples)
    );
    println!(
        "float vs decrypted features: max |error| = {max_err:.3e} (features up to {max_abs:.3e})"
    );
    if mismatches == 0 {
        println!(
            "EXACT: all {samples} × {} decrypted features equal the quantized model's",
            model.graph.output_dim()
        );
        Ok(())
    } else {
        Err(format!("{mismatches} of {samples} samples differ from the quantized model").into())
    }
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(None) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Some(o)) => match run(o) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
