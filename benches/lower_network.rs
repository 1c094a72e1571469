//! Criterion benchmarks of the CryptoTL lower network on one full encrypted
//! batch (N = 8192 samples): client encryption, server evaluation and client
//! decryption, at d = 384 and d = 768.
//!
//! ```text
//! cargo bench --bench lower_network                       # d = 384 and 768
//! CRYPTOTL_BENCH_DIMS=384 cargo bench --bench lower_network
//! ```
//!
//! Criterion reports time per batch and throughput in samples per second
//! (the reciprocal is the amortized time per sample). Sizes (bytes uploaded
//! and downloaded per sample, evaluation-key size) are printed once per
//! dimension before the timings.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cryptotl::he::{EncryptedBatch, Preset};
use cryptotl::{synthetic, LowerClient, LowerServer};

mod common;
use common::dims;

fn lower_network(c: &mut Criterion) {
    for d in dims() {
        let preset = Preset::N8192;
        let n = preset.degree();
        let train = synthetic::unit_vectors(2000, d, 1);
        let (_, model, (bx, bw)) =
            synthetic::lower_model(d, &train, preset, 1).expect("synthetic model");
        let server = LowerServer::new(model).expect("server");
        let client = LowerClient::new(server.card()).expect("client");
        let keys = client.evaluation_key_bytes().expect("keys");
        let session = server.open_session(&keys).expect("session");
        let xs = synthetic::unit_vectors(n, d, 2);
        let request = client.encrypt(&xs).expect("encrypt").remove(0);
        let response = session.evaluate(&request).expect("evaluate");
        // The client's batch, and the same batch as the server parses it (a
        // batch is bound to the parameter instance that created it).
        let batch = client.encrypt_batches(&xs).expect("encrypt").remove(0);
        let server_batch =
            EncryptedBatch::from_bytes(&request, server.params(), d).expect("parse request");
        let p = server.params();
        println!(
            "sizes d={d}: N={n} t={} bits log2q={} moduli={} output_level={} bits(x,w)=({bx},{bw}) \
             upload {:.2} KB/sample, download {:.2} KB/sample, evaluation keys {:.1} KB",
            p.plaintext_bits(),
            p.log_q(),
            p.moduli().len(),
            server.card().he.output_level,
            request.len() as f64 / n as f64 / 1024.0,
            response.len() as f64 / n as f64 / 1024.0,
            keys.len() as f64 / 1024.0,
        );

        let mut g = c.benchmark_group(format!("lower_network_d{d}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(10))
            .throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("client_encrypt", n), |b| {
            b.iter(|| client.encrypt_batches(&xs).expect("encrypt"))
        });
        g.bench_function(BenchmarkId::new("client_serialize", n), |b| {
            b.iter(|| batch.to_bytes())
        });
        g.bench_function(BenchmarkId::new("server_evaluate", n), |b| {
            b.iter(|| session.evaluate_batch(&server_batch).expect("evaluate"))
        });
        g.bench_function(BenchmarkId::new("server_parse_request", n), |b| {
            b.iter(|| EncryptedBatch::from_bytes(&request, server.params(), d).expect("parse"))
        });
        let evaluated = session.evaluate_batch(&server_batch).expect("evaluate");
        g.bench_function(BenchmarkId::new("server_serialize_response", n), |b| {
            b.iter(|| evaluated.to_bytes())
        });
        g.bench_function(BenchmarkId::new("client_decrypt", n), |b| {
            b.iter(|| client.decrypt_integers(&response).expect("decrypt"))
        });
        g.finish();
    }
}

criterion_group!(benches, lower_network);
criterion_main!(benches);
