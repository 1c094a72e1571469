//! Tests that need the real all-MiniLM-L6-v2 model.
//!
//! They share one test binary so the model is fetched (into the default
//! cache, see `default_cache_dir`) and loaded once. A failed fetch fails the
//! tests with the error; nothing is skipped.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use cryptotl_embed::vector::{cosine, l2_norm};
use cryptotl_embed::{default_cache_dir, EmbedOptions, Embedder, ModelDir, Padding};

fn model_dir() -> &'static ModelDir {
    static DIR: OnceLock<ModelDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let cache = default_cache_dir().expect("a cache directory");
        ModelDir::ensure_default(&cache)
            .unwrap_or_else(|e| panic!("fetching the default model failed: {e}"))
    })
}

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        Embedder::load(model_dir())
            .unwrap_or_else(|e| panic!("loading the default model failed: {e}"))
            .with_options(EmbedOptions::default().with_progress(false))
            .expect("valid options")
    })
}

/// Sentences of very different token counts, including one beyond 128.
fn sentences() -> Vec<String> {
    vec![
        "A man is eating food.".into(),
        "A man is eating a piece of bread.".into(),
        "The girl is carrying a baby.".into(),
        "".into(),
        "Homomorphic encryption lets a server compute on data it cannot read, \
         which makes private transfer learning possible."
            .into(),
        "Ünïcödé, emoji 🦀 and CJK 数据 survive tokenization.".into(),
        "word ".repeat(200),
        "Short.".into(),
    ]
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn default_model_is_verified_384_dimensional() {
    assert!(model_dir().is_verified());
    assert_eq!(model_dir().hidden_size(), 384);
    assert_eq!(embedder().dim(), 384);
    assert_eq!(embedder().max_tokens(), 128);
}

#[test]
fn matches_sentence_transformers_reference_similarity() {
    let e = embedder()
        .embed(&["A man is eating food.", "A man is eating a piece of bread."])
        .expect("embeds");
    let similarity = cosine(&e[0], &e[1]).expect("same length");
    eprintln!("cos = {similarity}");
    assert!(
        (similarity - 0.7553).abs() <= 0.002,
        "cosine similarity {similarity}, sentence-transformers gives 0.7553"
    );
}

#[test]
fn related_sentences_are_closer_than_unrelated_ones() {
    let e = embedder()
        .embed(&[
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The new movie is awesome.",
        ])
        .expect("embeds");
    let related = cosine(&e[0], &e[1]).unwrap();
    let unrelated = cosine(&e[0], &e[2]).unwrap();
    assert!(related > unrelated + 0.3, "{related} vs {unrelated}");
}

#[test]
fn embeddings_have_unit_norm_and_model_dimension() {
    let texts = sentences();
    let embeddings = embedder().embed(&texts).expect("embeds");
    assert_eq!(embeddings.len(), texts.len());
    for (text, e) in texts.iter().zip(&embeddings) {
        assert_eq!(e.len(), 384, "{text:?}");
        assert!(e.iter().all(|x| x.is_finite()), "{text:?}");
        let norm = l2_norm(e);
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm} for {text:?}");
    }
}

#[test]
fn batching_and_padding_do_not_change_results() {
    let texts = sentences();
    let quiet = EmbedOptions::default().with_progress(false);
    let one_by_one: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| embedder().embed(&[t]).expect("embeds").remove(0))
        .collect();
    for options in [
        quiet.clone().with_batch_size(3),
        quiet.clone().with_batch_size(32),
        quiet
            .clone()
            .with_batch_size(3)
            .with_padding(Padding::Fixed),
        quiet
            .clone()
            .with_batch_size(1)
            .with_padding(Padding::Fixed),
    ] {
        let batched = embedder().embed_with(&texts, &options).expect("embeds");
        let diff = max_abs_diff(&batched, &one_by_one);
        eprintln!("{options:?}: max |batched - single| = {diff:e}");
        assert!(diff <= 1e-5, "{options:?}: max difference {diff}");
    }
}

#[test]
fn empty_input_and_empty_string() {
    let none: &[&str] = &[];
    assert!(embedder().embed(none).expect("embeds").is_empty());
    let e = embedder().embed(&[""]).expect("embeds the empty string");
    assert_eq!(e.len(), 1);
    assert!((l2_norm(&e[0]) - 1.0).abs() < 1e-5);
    // An empty string is a text like any other, not a duplicate of another.
    let other = embedder()
        .embed(&["A man is eating food."])
        .expect("embeds");
    assert!(cosine(&e[0], &other[0]).unwrap() < 0.99);
}

#[test]
fn long_texts_are_truncated_to_128_tokens() {
    let long = "word ".repeat(200);
    let longer = format!("{long} and then something entirely different about encryption");
    let e = embedder().embed(&[&long, &longer]).expect("embeds");
    assert!(max_abs_diff(&e[..1], &e[1..]) <= 1e-5);
}

#[test]
fn zero_batch_size_is_rejected() {
    let options = EmbedOptions::default().with_batch_size(0);
    assert!(embedder().embed_with(&["x"], &options).is_err());
}

#[test]
fn opened_and_verified_directories_have_the_same_fingerprint() {
    let opened = ModelDir::open(model_dir().path()).expect("opens");
    assert!(!opened.is_verified());
    let reloaded = Embedder::load(&opened).expect("loads");
    assert_eq!(reloaded.model_fingerprint(), embedder().model_fingerprint());
    assert_eq!(
        reloaded.cache_key(&["a"]),
        embedder().cache_key(&["a"]),
        "cache keys must not depend on how the model was opened"
    );
}

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cryptotl-embed-model-test-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn embedding_cache_round_trip_and_corruption_recovery() {
    let scratch = Scratch::new("cache");
    let texts = ["A man is eating food.", "", "Short."];
    let direct = embedder().embed(&texts).expect("embeds");

    let first = embedder()
        .embed_cached(&texts, &scratch.0)
        .expect("computes");
    assert!(max_abs_diff(&first, &direct) <= 1e-6);
    let file = scratch
        .0
        .join("embeddings")
        .join(format!("{}.bin", embedder().cache_key(&texts).to_hex()));
    assert!(file.is_file(), "no cache file at {}", file.display());

    // A second run reads the file: make the stored values recognizable.
    let marker = vec![vec![0.5f32; 384]; texts.len()];
    cryptotl_embed::EmbeddingCache::new(&scratch.0)
        .store(&embedder().cache_key(&texts), 384, &marker)
        .expect("stores");
    assert_eq!(embedder().embed_cached(&texts, &scratch.0).unwrap(), marker);

    // A truncated file is recomputed and rewritten.
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let recomputed = embedder()
        .embed_cached(&texts, &scratch.0)
        .expect("recomputes");
    assert!(max_abs_diff(&recomputed, &direct) <= 1e-6);
    assert_eq!(
        embedder().embed_cached(&texts, &scratch.0).unwrap(),
        recomputed,
        "rewritten file must be read back"
    );

    // Other texts get another file.
    let other = embedder().embed_cached(&["Short."], &scratch.0).unwrap();
    assert!(max_abs_diff(&other, &direct[2..]) <= 1e-5);
    assert_eq!(
        fs::read_dir(scratch.0.join("embeddings")).unwrap().count(),
        2
    );
}
