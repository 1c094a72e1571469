//! Criterion benchmarks of single-sample latency with slot packing (issue 6):
//! one text's embedding through the CryptoTL lower network under encryption,
//! end to end (quantize + encrypt, serialize, server parse + evaluate +
//! serialize, client parse + decrypt + dequantize, head), and each stage on
//! its own, at d = 384 and d = 768.
//!
//! ```text
//! cargo bench --bench single_sample                       # d = 384 and 768
//! CRYPTOTL_BENCH_DIMS=384 cargo bench --bench single_sample
//! ```
//!
//! Before the timings it prints, per dimension: the slot plan (CRT
//! pipelines, layout), the evaluation-key upload (rotation + relinearization
//! keys), request and response sizes, and the crossover batch size where
//! batch packing becomes cheaper — estimated by the cost model and measured
//! (one full batch-packed batch timed against the single-sample time and,
//! where the plan has the two-lane layout, two samples side by side in one
//! ciphertext).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use cryptotl::graph::{plan_slots, CostModel, SlotClient, SlotEvaluator, SlotKeys};
use cryptotl::graph::{BatchShape, SlotOperations};
use cryptotl::he::RotationKeys;
use cryptotl::he::{EncryptedBatch, EvaluationKeys, Preset};
use cryptotl::head::{Head, HeadConfig};
use cryptotl::{synthetic, LowerClient, LowerServer};

mod common;
use common::dims;

/// Serializes the client's keys and parses them as the server does.
fn server_keys(keys: &SlotKeys, server: &SlotEvaluator) -> (SlotKeys, usize) {
    let rot_bytes = keys.rotations.to_bytes();
    let evk_bytes: Vec<Vec<u8>> = keys.evaluation.iter().map(|k| k.to_bytes()).collect();
    let size = rot_bytes.len() + evk_bytes.iter().map(Vec::len).sum::<usize>();
    let members = server.crt().members();
    let rotations = RotationKeys::from_bytes(&rot_bytes, &members[0], 512).expect("rotation keys");
    let evaluation = evk_bytes
        .iter()
        .zip(members)
        .map(|(b, p)| EvaluationKeys::from_bytes(b, p).expect("evaluation keys"))
        .collect();
    (
        SlotKeys {
            evaluation,
            rotations,
        },
        size,
    )
}

fn single_sample(c: &mut Criterion) {
    for d in dims() {
        let preset = Preset::N8192;
        let train = synthetic::unit_vectors(2000, d, 1);
        let (_, model, _) = synthetic::lower_model(d, &train, preset, 1).expect("synthetic model");
        let q = model.graph.clone();
        let plan = plan_slots(&q, preset).expect("slot plan");
        let server = SlotEvaluator::new(&q, &plan).expect("prepare");
        let client = SlotClient::generate(&plan).expect("client");
        let keys = client.keys().expect("keys");
        let (skeys, key_bytes) = server_keys(&keys, &server);
        let mut head_config = HeadConfig::new(q.output_dim(), 2);
        head_config.standardize = false;
        let head = Head::init(&head_config, 7).expect("head");
        let scale = q.output_scale();
        let x = synthetic::unit_vectors(1, d, 9).remove(0);

        let members = server.crt().members().to_vec();
        let client_members = client.crt().members().to_vec();
        let end_to_end = || {
            let qx = q.quantize_input(&x).expect("quantize");
            let up: Vec<Vec<u8>> = client
                .encrypt(&[qx], 1)
                .expect("encrypt")
                .iter()
                .map(|b| b.to_bytes())
                .collect();
            let parsed: Vec<EncryptedBatch> = up
                .iter()
                .zip(&members)
                .map(|(b, p)| EncryptedBatch::from_bytes(b, p, 1).expect("parse"))
                .collect();
            let down: Vec<Vec<u8>> = server
                .evaluate(&parsed, &skeys)
                .expect("evaluate")
                .iter()
                .map(|b| b.to_bytes())
                .collect();
            let back: Vec<EncryptedBatch> = down
                .iter()
                .zip(&client_members)
                .map(|(b, p)| EncryptedBatch::from_bytes(b, p, 1).expect("parse"))
                .collect();
            let y = client.decrypt(&back).expect("decrypt").remove(0);
            let f = scale.dequantize(&y).expect("dequantize");
            (
                up.iter().map(Vec::len).sum::<usize>(),
                down.iter().map(Vec::len).sum::<usize>(),
                head.predict_proba(&[f]).expect("head"),
            )
        };
        let (up, down, _) = end_to_end();

        // Crossover: cost model and measurement (one batch-packed batch).
        let bserver = LowerServer::new(model.clone()).expect("batch server");
        let bclient = LowerClient::new(bserver.card()).expect("batch client");
        let session = bserver
            .open_session(&bclient.evaluation_key_bytes().expect("keys"))
            .expect("session");
        let n = preset.degree();
        let xs = synthetic::unit_vectors(n, d, 2);
        let request = bclient.encrypt(&xs).expect("encrypt").remove(0);
        let batch = EncryptedBatch::from_bytes(&request, bserver.params(), d).expect("parse");
        let start = Instant::now();
        session.evaluate_batch(&batch).expect("evaluate batch");
        let batch_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let parsed: Vec<EncryptedBatch> = client
            .encrypt(&[q.quantize_input(&x).expect("quantize")], 1)
            .expect("encrypt")
            .iter()
            .zip(&members)
            .map(|(b, p)| EncryptedBatch::from_bytes(&b.to_bytes(), p, 1).expect("parse"))
            .collect();
        let t_parse = start.elapsed().as_secs_f64();
        let start = Instant::now();
        server.evaluate(&parsed, &skeys).expect("evaluate");
        let slot_s = start.elapsed().as_secs_f64();
        // Two samples side by side in one ciphertext, when the plan has it.
        let pair_x = synthetic::unit_vectors(2, d, 10);
        let paired: Option<Vec<EncryptedBatch>> = plan.paired.as_ref().map(|_| {
            let qp: Vec<Vec<i64>> = pair_x
                .iter()
                .map(|x| q.quantize_input(x).expect("quantize"))
                .collect();
            client
                .encrypt(&qp, 2)
                .expect("encrypt pair")
                .iter()
                .zip(&members)
                .map(|(b, p)| EncryptedBatch::from_bytes(&b.to_bytes(), p, 1).expect("parse"))
                .collect()
        });
        let pair_s = paired.as_ref().map(|p| {
            let start = Instant::now();
            server.evaluate(p, &skeys).expect("evaluate pair");
            start.elapsed().as_secs_f64()
        });
        let model_cost = CostModel::default();
        let shape = BatchShape::of(&q, n, bserver.params().moduli().len());
        let ops = SlotOperations::of_plan(&plan);
        println!(
            "slots d={d}: {} CRT pipelines (t = {:?}), layouts {}, output level {}; \
             {} rotation keys; evaluation keys uploaded {:.1} MB; request {:.1} KB, response {:.1} KB",
            plan.pipelines(),
            plan.crt.plaintext_moduli,
            plan.layouts()
                .map(|l| format!(
                    "[{} lane(s): P={} m1={} m2={} baby={}]",
                    l.lanes, l.period, l.first_diagonals, l.second_diagonals, l.baby
                ))
                .collect::<Vec<_>>()
                .join(" "),
            plan.output_level,
            plan.rotations().len(),
            key_bytes as f64 / 1e6,
            up as f64 / 1024.0,
            down as f64 / 1024.0,
        );
        println!(
            "crossover d={d}: one batch-packed batch {batch_s:.2} s, one slot-packed sample {slot_s:.3} s \
             (+{t_parse:.3} s client encrypt/parse), two samples in one ciphertext {} -> measured crossover \
             {} samples; cost model {} samples (estimates {:.2} s / {:.3} s per sample / {} per pair)",
            pair_s.map_or("(no two-lane layout)".into(), |s| format!("{s:.3} s")),
            // The measured per-request cost of n samples: the cheaper of n
            // one-lane ciphertexts and ⌈n/2⌉ two-lane ones.
            (1..=n)
                .find(|&k| {
                    let one = k as f64 * slot_s;
                    let two = pair_s.map_or(f64::INFINITY, |p| k.div_ceil(2) as f64 * p);
                    one.min(two) >= batch_s
                })
                .unwrap_or(n),
            model_cost.crossover(&shape, &ops),
            model_cost.batch_seconds(&shape, 1),
            model_cost.slot_seconds(&ops[0], 1),
            ops.get(1)
                .map_or("-".into(), |o| format!("{:.3} s", model_cost.slot_seconds(o, 2))),
        );

        let qx = q.quantize_input(&x).expect("quantize");
        let encrypted = client
            .encrypt(std::slice::from_ref(&qx), 1)
            .expect("encrypt");
        let response = server.evaluate(&parsed, &skeys).expect("evaluate");
        let back: Vec<EncryptedBatch> = response
            .iter()
            .zip(&client_members)
            .map(|(b, p)| EncryptedBatch::from_bytes(&b.to_bytes(), p, 1).expect("parse"))
            .collect();
        let features = scale
            .dequantize(&client.decrypt(&back).expect("decrypt").remove(0))
            .expect("dequantize");

        let mut g = c.benchmark_group(format!("single_sample_d{d}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(8));
        g.bench_function(BenchmarkId::new("end_to_end", 1), |b| b.iter(end_to_end));
        g.bench_function(BenchmarkId::new("client_encrypt", 1), |b| {
            b.iter(|| {
                client
                    .encrypt(std::slice::from_ref(&qx), 1)
                    .expect("encrypt")
            })
        });
        g.bench_function(BenchmarkId::new("server_evaluate", 1), |b| {
            b.iter(|| server.evaluate(&parsed, &skeys).expect("evaluate"))
        });
        if let Some(paired) = &paired {
            g.bench_function(BenchmarkId::new("server_evaluate_side_by_side", 2), |b| {
                b.iter(|| server.evaluate(paired, &skeys).expect("evaluate pair"))
            });
        }
        g.bench_function(BenchmarkId::new("client_decrypt", 1), |b| {
            b.iter(|| client.decrypt(&back).expect("decrypt"))
        });
        g.bench_function(BenchmarkId::new("client_head", 1), |b| {
            b.iter(|| {
                head.predict_proba(std::slice::from_ref(&features))
                    .expect("head")
            })
        });
        g.bench_function(BenchmarkId::new("client_keygen", 1), |b| {
            b.iter(|| client.keys().expect("keys"))
        });
        drop(encrypted);
        g.finish();
    }
}

criterion_group!(benches, single_sample);
criterion_main!(benches);
