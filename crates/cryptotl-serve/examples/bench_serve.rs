//! A bounded load test of `cryptotl serve` on loopback: a server on an
//! ephemeral 127.0.0.1 port, `--clients` concurrent HTTP clients each with
//! its own session, sending single-sample and full-batch requests. Prints
//! throughput and p50/p99 latency per request kind.
//!
//! ```text
//! cargo run --release -p cryptotl-serve --example bench_serve -- --d 64 --requests 20 --clients 4
//! ```
//!
//! Options: `--d N` input dimension of the synthetic model (16), `--requests
//! N` per client and kind (10), `--clients N` (2), `--slots N` server
//! evaluation slots (2), `--max-seconds S` stop each phase after S seconds
//! (60), `--sessions K` extra idle sessions opened before the load (0).
//!
//! With `--server-bin PATH` (a built `cryptotl` binary, e.g.
//! `target/release/cryptotl`) the server is not run in this process: the
//! synthetic model is written to a temporary directory and served by a
//! separate `PATH serve` process, whose memory (VmRSS, and the peak VmHWM,
//! from `/proc/PID/status`, Linux) is printed idle, with the sessions open,
//! and after each load phase. That server keeps the CLI's default queue (2
//! waiting requests): with more clients than slots + 2, some requests are
//! refused with 503 and retried, and their latency includes the retries.
//! Traffic only goes to the loopback server started here.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cryptotl_graph::QuantizedModel;
use cryptotl_he::Preset;
use cryptotl_protocol::{synthetic, EncryptedEvaluation, LowerClient};
use cryptotl_serve::{
    ClientOptions, Limits, RemoteServer, RemoteSession, ServerConfig, ServerHandle,
};

struct Options {
    d: usize,
    requests: usize,
    clients: usize,
    slots: usize,
    max_seconds: u64,
    sessions: usize,
    server_bin: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        d: 16,
        requests: 10,
        clients: 2,
        slots: 2,
        max_seconds: 60,
        sessions: 0,
        server_bin: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--server-bin" {
            o.server_bin = Some(PathBuf::from(value));
            continue;
        }
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a number"))?;
        let n_usize = usize::try_from(n).map_err(|e| e.to_string())?;
        match flag.as_str() {
            "--d" => o.d = n_usize.max(1),
            "--requests" => o.requests = n_usize.max(1),
            "--clients" => o.clients = n_usize.max(1),
            "--slots" => o.slots = n_usize.max(1),
            "--max-seconds" => o.max_seconds = n.max(1),
            "--sessions" => o.sessions = n_usize,
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

/// One load client: its keys and its open session.
struct Client {
    client: LowerClient,
    session: RemoteSession,
}

/// Runs one phase: every client sends `requests` copies of its request.
fn phase(
    name: &str,
    samples: usize,
    o: &Options,
    clients: &[Client],
) -> Result<(), cryptotl_serve::ServeError> {
    let start = Arc::new(Barrier::new(clients.len()));
    let deadline = Instant::now() + Duration::from_secs(o.max_seconds);
    let t0 = Instant::now();
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = clients
            .iter()
            .map(|c| {
                let start = Arc::clone(&start);
                scope.spawn(
                    move || -> Result<(Vec<Duration>, usize, usize), cryptotl_serve::ServeError> {
                        let xs = synthetic::unit_vectors(samples, o.d, 7);
                        let request = c.client.encrypt(&xs)?.remove(0);
                        start.wait();
                        let mut latencies = Vec::with_capacity(o.requests);
                        let mut down = 0;
                        for _ in 0..o.requests {
                            if Instant::now() > deadline {
                                break;
                            }
                            let t = Instant::now();
                            let response = c.session.evaluate_request(&request)?;
                            latencies.push(t.elapsed());
                            down = response.len();
                        }
                        Ok((latencies, request.len(), down))
                    },
                )
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| cryptotl_serve::ServeError::ThreadPanicked)?
            })
            .collect::<Result<Vec<_>, cryptotl_serve::ServeError>>()
    })?;
    let mut all = Vec::new();
    let (mut up, mut down) = (0, 0);
    for (l, u, d) in results {
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

/// A `cryptotl serve` child process serving a model from a temporary
/// directory.
struct ServerProcess {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl ServerProcess {
    /// Writes `model` under a temporary directory and starts `bin serve` on
    /// an ephemeral loopback port; returns once it listens.
    fn start(
        bin: &Path,
        model: &QuantizedModel,
        slots: usize,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("cryptotl-bench-serve-{}", std::process::id()));
        model.save(&dir.join("server"))?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--model")
            .arg(&dir)
            .arg("--cache")
            .arg(dir.join("cache"))
            .args(["--listen", "127.0.0.1:0", "--max-concurrent"])
            .arg(slots.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the announcement, then keeps draining the server's log.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line
                    .split_once(" on http://")
                    .map(|(_, rest)| rest.split_whitespace().next().unwrap_or_default())
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(format!("http://{url}"));
                    }
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                return Err("the server did not announce its address".into());
            }
        };
        Ok(Self { child, dir, url })
    }

    /// `(VmRSS, VmHWM)` in bytes.
    fn memory(&self) -> Result<(u64, u64), Box<dyn std::error::Error>> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> Result<u64, Box<dyn std::error::Error>> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .ok_or_else(|| format!("no {name} in /proc/PID/status"))?;
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .ok_or("malformed status line")?
                .parse()?;
            Ok(kib * 1024)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Prints the server's memory now.
    fn report(&self, when: &str) -> Result<u64, Box<dyn std::error::Error>> {
        let (rss, hwm) = self.memory()?;
        println!(
            "  server memory {when}: VmRSS {:.1} MiB, peak VmHWM {:.1} MiB",
            mib(rss),
            mib(hwm)
        );
        Ok(rss)
    }

    /// Stops the server (SIGTERM: a graceful drain) and removes the model.
    fn stop(mut self) {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !terminated {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options()?;
    let train = synthetic::unit_vectors(300, o.d, 11);
    let (_, model, _) = synthetic::lower_model(o.d, &train, Preset::N8192, 11)?;
    let (in_process, external, url) = match &o.server_bin {
        Some(bin) => {
            let p = ServerProcess::start(bin, &model, o.slots)?;
            let url = p.url.clone();
            (None, Some(p), url)
        }
        None => {
            let server = ServerHandle::spawn(
                model.clone(),
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
            (Some(server), None, url)
        }
    };
    let remote = RemoteServer::connect(&url, ClientOptions::default())?;
    let n = remote.info().max_batch_samples;
    println!(
        "bench_serve: d = {}, N = 8192, {} clients, {} server slots, {} requests per client and kind, {} extra sessions, {} cores, server {}",
        o.d,
        o.clients,
        o.slots,
        o.requests,
        o.sessions,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if external.is_some() { "in a separate process" } else { "in this process" }
    );
    let idle = match &external {
        Some(p) => Some(p.report("idle (model loaded, no session)")?),
        None => None,
    };
    let clients = (0..o.clients)
        .map(|_| {
            let client = LowerClient::new(remote.card())?;
            let session = remote.open_session(&client.evaluation_key_bytes()?)?;
            Ok(Client { client, session })
        })
        .collect::<Result<Vec<_>, cryptotl_serve::ServeError>>()?;
    let keys = clients[0].client.evaluation_key_bytes()?;
    let resident = cryptotl_he::EvaluationKeys::from_bytes(&keys, clients[0].client.params())?
        .resident_bytes();
    // Idle sessions: one client's keys, opened K more times.
    let extra = (0..o.sessions)
        .map(|_| remote.open_session(&clients[0].client.evaluation_key_bytes()?))
        .collect::<Result<Vec<_>, cryptotl_serve::ServeError>>()?;
    if let (Some(p), Some(idle)) = (&external, idle) {
        let open = o.clients + extra.len();
        let rss = p.report(&format!("with {open} sessions open"))?;
        println!(
            "  per session: {:.2} MiB resident measured; keys {} bytes uploaded, {} bytes ({:.2} MiB) in memory by EvaluationKeys::resident_bytes",
            mib(rss.saturating_sub(idle)) / open as f64,
            keys.len(),
            resident,
            mib(resident as u64)
        );
    }
    // In-process baseline: the same evaluation without HTTP.
    let local = cryptotl_protocol::LowerServer::new(model)?;
    let client = &clients[0].client;
    let session = local.open_session(&client.evaluation_key_bytes()?)?;
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
    drop((session, local));
    phase("single", 1, &o, &clients)?;
    if let Some(p) = &external {
        p.report("after the single-sample phase")?;
    }
    phase("full batch", n, &o, &clients)?;
    if let Some(p) = &external {
        p.report("after the full-batch phase")?;
    }
    drop(extra);
    drop(clients);
    if let Some(server) = in_process {
        server.shutdown()?;
    }
    if let Some(p) = external {
        p.stop();
    }
    Ok(())
}
