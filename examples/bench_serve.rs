//! A bounded load test of `cryptotl serve` on loopback: a server on an
//! ephemeral 127.0.0.1 port, `--clients` concurrent HTTP clients each with
//! its own session, sending single-sample and full-batch requests. Prints
//! throughput and p50/p99 latency per request kind.
//!
//! ```text
//! cargo run --release --example bench_serve -- --d 64 --requests 20 --clients 4
//! ```
//!
//! Options: `--d N` input dimension of the synthetic model (16), `--requests
//! N` per client and kind (10), `--clients N` (2), `--slots N` server
//! evaluation slots (2), `--max-seconds S` stop each phase after S seconds
//! (60). Traffic only goes to the loopback server started here.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cryptotl::he::Preset;
use cryptotl::serve::{ClientOptions, Limits, RemoteServer, ServerConfig, ServerHandle};
use cryptotl::{synthetic, EncryptedEvaluation, LowerClient};

struct Options {
    d: usize,
    requests: usize,
    clients: usize,
    slots: usize,
    max_seconds: u64,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        d: 16,
        requests: 10,
        clients: 2,
        slots: 2,
        max_seconds: 60,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a number"))?;
        let n_usize = usize::try_from(n).map_err(|e| e.to_string())?.max(1);
        match flag.as_str() {
            "--d" => o.d = n_usize,
            "--requests" => o.requests = n_usize,
            "--clients" => o.clients = n_usize,
            "--slots" => o.slots = n_usize,
            "--max-seconds" => o.max_seconds = n.max(1),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs one phase: every client sends `requests` copies of its request.
fn phase(
    url: &str,
    name: &str,
    samples: usize,
    o: &Options,
    clients: &[(Arc<LowerClient>, Vec<u8>)],
) -> Result<(), cryptotl::Error> {
    let start = Arc::new(Barrier::new(clients.len()));
    let deadline = Instant::now() + Duration::from_secs(o.max_seconds);
    let t0 = Instant::now();
    let workers: Vec<_> = clients
        .iter()
        .map(|(client, keys)| {
            let (url, start, client, keys) =
                (url.to_owned(), start.clone(), client.clone(), keys.clone());
            let requests = o.requests;
            let d = o.d;
            std::thread::spawn(
                move || -> Result<(Vec<Duration>, usize, usize), cryptotl::Error> {
                    let remote = RemoteServer::connect(&url, ClientOptions::default())?;
                    let session = remote.open_session(&keys)?;
                    let xs = synthetic::unit_vectors(samples, d, 7);
                    let request = client.encrypt(&xs)?.remove(0);
                    start.wait();
                    let mut latencies = Vec::with_capacity(requests);
                    let mut down = 0;
                    for _ in 0..requests {
                        if Instant::now() > deadline {
                            break;
                        }
                        let t = Instant::now();
                        let response = session.evaluate_request(&request)?;
                        latencies.push(t.elapsed());
                        down = response.len();
                    }
                    Ok((latencies, request.len(), down))
                },
            )
        })
        .collect();
    let mut all = Vec::new();
    let (mut up, mut down) = (0, 0);
    for w in workers {
        let (l, u, d) = w
            .join()
            .map_err(|_| cryptotl::Error::InvalidInput("a client thread panicked".into()))??;
        all.extend(l);
        (up, down) = (u, d);
    }
    let wall = t0.elapsed().as_secs_f64();
    all.sort();
    let n = all.len();
    println!(
        "{name:>12}: {n} requests ({samples} samples each) by {} clients in {wall:.2} s: \
         {:.2} req/s, {:.1} samples/s; latency p50 {:.3} s, p99 {:.3} s; \
         request {:.2} MB, response {:.2} MB",
        clients.len(),
        n as f64 / wall,
        (n * samples) as f64 / wall,
        percentile(&all, 0.50).as_secs_f64(),
        percentile(&all, 0.99).as_secs_f64(),
        up as f64 / 1e6,
        down as f64 / 1e6,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options()?;
    let train = synthetic::unit_vectors(300, o.d, 11);
    let (_, model, _) = synthetic::lower_model(o.d, &train, Preset::N8192, 11)?;
    let model_for_baseline = model.clone();
    let server = ServerHandle::spawn(
        model,
        ServerConfig {
            limits: Limits {
                max_concurrent_evaluations: o.slots,
                max_queued_evaluations: o.clients,
                ..Limits::default()
            },
            ..ServerConfig::new("127.0.0.1:0".parse()?)
        },
    )?;
    let url = server.url();
    let remote = RemoteServer::connect(&url, ClientOptions::default())?;
    let n = remote.info().max_batch_samples;
    println!(
        "bench_serve: d = {}, N = 8192, {} clients, {} server slots, {} requests per client and kind, {} cores",
        o.d,
        o.clients,
        o.slots,
        o.requests,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let clients = (0..o.clients)
        .map(|_| {
            let c = LowerClient::new(remote.card())?;
            let keys = c.evaluation_key_bytes()?;
            Ok((Arc::new(c), keys))
        })
        .collect::<Result<Vec<_>, cryptotl::Error>>()?;
    // In-process baseline: the same evaluation without HTTP.
    let local = cryptotl::LowerServer::new(model_for_baseline)?;
    let (client, keys) = &clients[0];
    let session = local.open_session(keys)?;
    let request = client
        .encrypt(&synthetic::unit_vectors(n, o.d, 7))?
        .remove(0);
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            session.evaluate(&request).map(|_| t.elapsed())
        })
        .collect::<Result<_, _>>()?;
    times.sort();
    println!(
        "  in-process: one full-batch evaluation (parse + evaluate + serialize) takes {:.3} s (median of 3)",
        times[1].as_secs_f64()
    );
    phase(&url, "single", 1, &o, &clients)?;
    phase(&url, "full batch", n, &o, &clients)?;
    server.shutdown()?;
    Ok(())
}
