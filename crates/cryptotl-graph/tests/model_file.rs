//! Model files: round trips and refusal of truncated, garbled, foreign,
//! inconsistent or future-version files.

mod common;

use std::collections::HashMap;

use cryptotl_graph::{
    FloatModel, Graph, GraphError, HePlan, Model, QuantizedGraph, QuantizedModel, FORMAT_VERSION,
};
use cryptotl_graph::{ModelBytes, MANIFEST_FILE, WEIGHTS_FILE};
use cryptotl_he::ParameterSpec;
use cryptotl_quant::{InputQuantizer, WeightQuantization};
use proptest::prelude::*;
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn plan() -> HePlan {
    HePlan {
        params: ParameterSpec {
            degree: 8192,
            plaintext_modulus: 1_152_921_504_606_748_673,
            moduli: vec![0x3fff_ffff_0000_0001, 0x3fff_fffe_f400_0001],
        },
        output_level: 1,
    }
}

fn quantizer(seed: u64, d: usize) -> InputQuantizer {
    let mut rng = common::rng(seed);
    let samples: Vec<Vec<f32>> = (0..8).map(|_| common::random_input(&mut rng, d)).collect();
    InputQuantizer::fit(&samples, 8).expect("fits")
}

fn float_model(seed: u64, d: usize) -> FloatModel {
    FloatModel {
        graph: Graph::cryptotl_lower(d, &mut common::rng(seed)).expect("valid"),
        input: Some(quantizer(seed, d)),
        he_plan: None,
    }
}

fn quantized_model(seed: u64, d: usize) -> QuantizedModel {
    let graph = Graph::cryptotl_lower(d, &mut common::rng(seed)).expect("valid");
    let q = QuantizedGraph::fuse_and_quantize(
        &graph,
        quantizer(seed, d),
        &WeightQuantization::default(),
    )
    .expect("quantizes");
    QuantizedModel {
        graph: q,
        he_plan: Some(plan()),
        sources: Vec::new(),
    }
}

fn manifest_json(bytes: &ModelBytes) -> Value {
    serde_json::from_slice(&bytes.manifest).expect("manifest is JSON")
}

/// Rewrites the manifest's weights length and SHA-256 for new weights, so
/// that the deeper checks (dtype, shape, presence) are reached.
fn reseal(mut manifest: Value, weights: &[u8]) -> Vec<u8> {
    let sha: String = Sha256::digest(weights)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    manifest["weights"]["bytes"] = json!(weights.len());
    manifest["weights"]["sha256"] = json!(sha);
    serde_json::to_vec(&manifest).expect("encodes")
}

/// Re-encodes the weights after `edit` changed the tensor list.
fn rewrite_weights(
    weights: &[u8],
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(weights).expect("valid weights");
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).expect("consistent"),
            )
        })
        .collect();
    safetensors::serialize(views, None::<HashMap<String, String>>).expect("encodes")
}

/// The message of a malformed-model error (without the common prefix).
fn malformed(r: Result<Model, GraphError>) -> String {
    match r {
        Err(
            e @ (GraphError::MalformedModel(_)
            | GraphError::ModelJson { .. }
            | GraphError::ModelTensors { .. }
            | GraphError::ModelQuant { .. }),
        ) => e
            .to_string()
            .trim_start_matches("malformed model file: ")
            .to_owned(),
        other => panic!("expected a malformed model, got {other:?}"),
    }
}

#[test]
fn float_model_round_trips_through_a_directory() {
    let dir = common::TempDir::new("float");
    let mut model = float_model(1, 10);
    model.he_plan = Some(plan());
    model.save(dir.path()).expect("saves");
    assert!(dir.path().join(MANIFEST_FILE).is_file());
    assert!(dir.path().join(WEIGHTS_FILE).is_file());
    assert_eq!(FloatModel::load(dir.path()).expect("loads"), model);
    // Loading as the other kind is refused.
    assert!(matches!(
        QuantizedModel::load(dir.path()),
        Err(GraphError::MalformedModel(_))
    ));
    // Without quantizer and plan, overwriting the same directory.
    let bare = FloatModel::new(model.graph.clone());
    bare.save(dir.path()).expect("saves");
    assert_eq!(Model::load(dir.path()).expect("loads"), Model::Float(bare));
}

#[test]
fn quantized_model_round_trips_through_a_directory() {
    let dir = common::TempDir::new("quantized");
    let model = quantized_model(2, 9);
    model.save(dir.path()).expect("saves");
    let loaded = QuantizedModel::load(dir.path()).expect("loads");
    assert_eq!(loaded, model);
    assert_eq!(loaded.he_plan, Some(plan()));
    // The loaded graph computes the same outputs.
    let x = common::random_input(&mut common::rng(5), 9);
    assert_eq!(
        loaded.graph.evaluate(&x).expect("ok"),
        model.graph.evaluate(&x).expect("ok")
    );
    assert!(matches!(
        FloatModel::load(dir.path()),
        Err(GraphError::MalformedModel(_))
    ));
}

#[test]
fn manifest_has_the_documented_fields() {
    let bytes = Model::Quantized(quantized_model(3, 6))
        .to_bytes()
        .expect("encodes");
    let m = manifest_json(&bytes);
    assert_eq!(m["format"], "cryptotl-model");
    assert_eq!(m["format_version"], FORMAT_VERSION);
    assert_eq!(m["kind"], "quantized");
    assert_eq!(m["input_dim"], 6);
    assert_eq!(m["input_quantizer"]["bits"], 8);
    assert_eq!(m["he_plan"]["output_level"], 1);
    assert_eq!(m["he_plan"]["params"]["degree"], 8192);
    let kinds: Vec<_> = m["layers"]
        .as_array()
        .expect("array")
        .iter()
        .map(|l| l["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["linear", "polynomial", "linear"]);
    assert_eq!(m["layers"][0]["weight"]["dtype"], "I64");
    assert_eq!(m["layers"][0]["weight"]["shape"], json!([6, 6]));
    assert_eq!(m["layers"][1]["coefficients"]["shape"], json!([6, 3]));
    assert!(m["layers"][2]["output_scale"]["scale"].is_array());

    let fbytes = Model::Float(float_model(3, 6)).to_bytes().expect("encodes");
    let f = manifest_json(&fbytes);
    assert_eq!(f["kind"], "float");
    assert_eq!(f["he_plan"], Value::Null);
    let kinds: Vec<_> = f["layers"]
        .as_array()
        .expect("array")
        .iter()
        .map(|l| l["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds,
        ["conv1d", "dense", "activation", "avgpool1d", "dense"]
    );
    assert_eq!(f["layers"][0]["weight"]["shape"], json!([1, 1, 9]));
    assert_eq!(f["layers"][0]["bias"], Value::Null);
}

#[test]
fn garbled_foreign_and_future_manifests_are_refused() {
    let bytes = Model::Float(float_model(4, 5)).to_bytes().expect("encodes");
    let w = &bytes.weights;
    malformed(Model::from_bytes(b"not json at all", w));
    malformed(Model::from_bytes(b"", w));
    malformed(Model::from_bytes(br#"{"name": "some other file"}"#, w));
    malformed(Model::from_bytes(
        br#"{"format": "onnx", "format_version": 1}"#,
        w,
    ));
    // A weights file given as the manifest.
    malformed(Model::from_bytes(w, w));

    let mut m = manifest_json(&bytes);
    m["format_version"] = json!(FORMAT_VERSION + 1);
    let future = serde_json::to_vec(&m).expect("encodes");
    match Model::from_bytes(&future, w) {
        Err(GraphError::UnsupportedVersion { found, supported }) => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    m["format_version"] = json!(0);
    assert!(matches!(
        Model::from_bytes(&serde_json::to_vec(&m).expect("encodes"), w),
        Err(GraphError::UnsupportedVersion { found: 0, .. })
    ));

    let edit = |f: &dyn Fn(&mut Value)| {
        let mut m = manifest_json(&bytes);
        f(&mut m);
        serde_json::to_vec(&m).expect("encodes")
    };
    malformed(Model::from_bytes(&edit(&|m| m["unexpected"] = json!(1)), w));
    malformed(Model::from_bytes(
        &edit(&|m| m["kind"] = json!("mystery")),
        w,
    ));
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][3]["kind"] = json!("maxpool")),
        w,
    ));
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][0]["kernel"] = json!(-1)),
        w,
    ));
    let msg = malformed(Model::from_bytes(
        &edit(&|m| m["weights"]["file"] = json!("../../etc/passwd")),
        w,
    ));
    assert!(msg.contains("plain file name"), "{msg}");
    // Shapes in the manifest that disagree with the layer parameters.
    let msg = malformed(Model::from_bytes(
        &edit(&|m| m["layers"][1]["in_features"] = json!(4)),
        w,
    ));
    assert!(msg.contains("shape"), "{msg}");
    // A declared dtype that is not the one the layer needs.
    let msg = malformed(Model::from_bytes(
        &edit(&|m| m["layers"][1]["weight"]["dtype"] = json!("F64")),
        w,
    ));
    assert!(msg.contains("dtype"), "{msg}");
    // A graph that does not validate (pool window too long).
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][3]["window"] = json!(100)),
        w,
    ));
    // An activation of degree 3.
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][2]["coefficients"] = json!([0.0, 0.0, 0.0, 1.0])),
        w,
    ));
    // Input quantizer of the wrong dimension / not an f32.
    malformed(Model::from_bytes(
        &edit(&|m| {
            m["input_quantizer"]["min"]
                .as_array_mut()
                .expect("array")
                .pop();
        }),
        w,
    ));
    malformed(Model::from_bytes(
        &edit(&|m| m["input_quantizer"]["min"][0] = json!(0.1f64)),
        w,
    ));
}

#[test]
fn garbled_quantized_manifests_are_refused() {
    let bytes = Model::Quantized(quantized_model(5, 6))
        .to_bytes()
        .expect("encodes");
    let w = &bytes.weights;
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut m = manifest_json(&bytes);
        f(&mut m);
        serde_json::to_vec(&m).expect("encodes")
    };
    malformed(Model::from_bytes(
        &edit(&|m| m["input_quantizer"] = Value::Null),
        w,
    ));
    // The scale chain is broken.
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][0]["output_scale"]["scale"][0] = json!(123.0)),
        w,
    ));
    // Invalid scale and invalid weight scheme.
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][2]["output_scale"]["scale"][0] = json!(-1.0)),
        w,
    ));
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][0]["scheme"]["bits"] = json!(40)),
        w,
    ));
    // A float layer in a quantized model.
    malformed(Model::from_bytes(
        &edit(&|m| m["layers"][1] = json!({"kind": "flatten"})),
        w,
    ));
    // Kind switched to float: integer layers in a float model.
    malformed(Model::from_bytes(&edit(&|m| m["kind"] = json!("float")), w));
}

#[test]
fn truncated_garbled_and_inconsistent_weights_are_refused() {
    let bytes = Model::Float(float_model(6, 7)).to_bytes().expect("encodes");
    let (m, w) = (&bytes.manifest, &bytes.weights);
    assert!(Model::from_bytes(m, w).is_ok());
    let msg = malformed(Model::from_bytes(m, &w[..w.len() - 1]));
    assert!(msg.contains("bytes"), "{msg}");
    malformed(Model::from_bytes(m, &[]));
    let mut flipped = w.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let msg = malformed(Model::from_bytes(m, &flipped));
    assert!(msg.contains("SHA-256"), "{msg}");

    // Consistent checksums but inconsistent content.
    let base = manifest_json(&bytes);
    let check = |weights: Vec<u8>, needle: &str| {
        let manifest = reseal(base.clone(), &weights);
        let msg = malformed(Model::from_bytes(&manifest, &weights));
        assert!(msg.contains(needle), "{msg} (expected {needle:?})");
    };
    // Not a safetensors file at all.
    check(b"garbage that is not safetensors".to_vec(), "weights file");
    // Truncated safetensors (resealed).
    check(w[..w.len() - 4].to_vec(), "weights file");
    // A missing tensor.
    check(
        rewrite_weights(w, |t| t.retain(|(n, ..)| n != "layers.1.bias")),
        "missing",
    );
    // An unreferenced extra tensor.
    check(
        rewrite_weights(w, |t| {
            t.push(("extra".into(), Dtype::F32, vec![1], vec![0; 4]))
        }),
        "does not reference",
    );
    // Wrong dtype in the file (I32 has the same size as F32).
    check(
        rewrite_weights(w, |t| {
            for (n, d, ..) in t.iter_mut() {
                if n == "layers.1.weight" {
                    *d = Dtype::I32;
                }
            }
        }),
        "dtype",
    );
    // Wrong shape in the file (same number of elements).
    check(
        rewrite_weights(w, |t| {
            for (n, _, s, _) in t.iter_mut() {
                if n == "layers.1.weight" {
                    *s = vec![s[0] * s[1]];
                }
            }
        }),
        "shape",
    );
    // A NaN weight.
    check(
        rewrite_weights(w, |t| {
            for (n, _, _, b) in t.iter_mut() {
                if n == "layers.4.bias" {
                    b[..4].copy_from_slice(&f32::NAN.to_le_bytes());
                }
            }
        }),
        "not finite",
    );
}

#[test]
fn missing_files_give_io_errors() {
    let dir = common::TempDir::new("missing");
    assert!(matches!(
        Model::load(dir.path()),
        Err(GraphError::Io { .. })
    ));
    float_model(7, 4).save(dir.path()).expect("saves");
    std::fs::remove_file(dir.path().join(WEIGHTS_FILE)).expect("removes");
    assert!(matches!(
        Model::load(dir.path()),
        Err(GraphError::Io { .. })
    ));
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

#[test]
fn sources_round_trip_and_are_left_out_when_empty() {
    let plain = quantized_model(9, 6);
    let with = QuantizedModel {
        sources: names(&["rotten-tomatoes", "sms_spam", "imdb.v2"]),
        ..plain.clone()
    };
    let dir = common::TempDir::new("sources");
    with.save(dir.path()).expect("saves");
    assert_eq!(QuantizedModel::load(dir.path()).expect("loads"), with);

    // Recorded in the manifest, in order.
    let bytes = Model::Quantized(with.clone()).to_bytes().expect("encodes");
    let m = manifest_json(&bytes);
    assert_eq!(
        m["sources"],
        json!(["rotten-tomatoes", "sms_spam", "imdb.v2"])
    );

    // Without sources the key is absent, and the manifest is the one with
    // sources minus that key: byte for byte what the format wrote before the
    // field existed (same weights, same key order, same formatting).
    let plain_bytes = Model::Quantized(plain.clone()).to_bytes().expect("encodes");
    assert_eq!(plain_bytes.weights, bytes.weights);
    let plain_manifest = manifest_json(&plain_bytes);
    assert!(plain_manifest.get("sources").is_none());
    let text = String::from_utf8(plain_bytes.manifest.clone()).expect("UTF-8");
    assert!(!text.contains("sources"));
    let mut stripped = m.clone();
    stripped.as_object_mut().expect("object").remove("sources");
    assert_eq!(stripped, plain_manifest);
    // The key comes last; cutting it out of the text gives the bytes of the
    // manifest without sources.
    let with_text = String::from_utf8(bytes.manifest.clone()).expect("UTF-8");
    let cut = with_text.find(",\n  \"sources\": [").expect("sources last");
    assert!(with_text[cut..].ends_with("]\n}"));
    assert_eq!(format!("{}\n}}", &with_text[..cut]), text);
    let stripped = plain_bytes.manifest.clone();

    // An old manifest (no key) loads with no sources; so does an explicit
    // empty list.
    let old = Model::from_bytes(&stripped, &bytes.weights).expect("decodes");
    assert_eq!(old, Model::Quantized(plain.clone()));
    let mut empty = m.clone();
    empty["sources"] = json!([]);
    let empty = serde_json::to_vec(&empty).expect("encodes");
    assert_eq!(
        Model::from_bytes(&empty, &bytes.weights).expect("decodes"),
        Model::Quantized(plain)
    );
}

#[test]
fn invalid_sources_are_refused_on_save_and_on_load() {
    let model = quantized_model(10, 5);
    let good = QuantizedModel {
        sources: names(&["a"]),
        ..model.clone()
    };
    let bytes = Model::Quantized(good).to_bytes().expect("encodes");
    let m = manifest_json(&bytes);
    let too_long = "x".repeat(QuantizedModel::MAX_SOURCE_NAME_LEN + 1);
    let too_many: Vec<String> = (0..=QuantizedModel::MAX_SOURCES)
        .map(|i| format!("s{i}"))
        .collect();
    let longest = "x".repeat(QuantizedModel::MAX_SOURCE_NAME_LEN);
    let most: Vec<String> = (0..QuantizedModel::MAX_SOURCES)
        .map(|i| format!("s{i}"))
        .collect();
    assert!(QuantizedModel::validate_sources(&[longest]).is_ok());
    assert!(QuantizedModel::validate_sources(&most).is_ok());
    assert!(QuantizedModel::validate_sources(&[]).is_ok());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (names(&[""]), "is not a source name"),
        (names(&["Rotten"]), "is not a source name"),
        (names(&["a b"]), "is not a source name"),
        (names(&["a/b"]), "is not a source name"),
        (names(&["caf\u{e9}"]), "is not a source name"),
        (vec![too_long], "is not a source name"),
        (names(&["a", "b", "a"]), "\"a\" is named twice"),
        (too_many, "65 names, at most 64"),
    ];
    let dir = common::TempDir::new("bad-sources");
    for (sources, message) in cases {
        // Refused by the check and by save (nothing written) ...
        let err = QuantizedModel::validate_sources(&sources).expect_err("invalid");
        assert!(matches!(err, GraphError::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains(message), "{err}");
        let bad = QuantizedModel {
            sources: sources.clone(),
            ..model.clone()
        };
        assert!(matches!(
            bad.save(dir.path()),
            Err(GraphError::InvalidInput(_))
        ));
        assert!(!dir.path().join(MANIFEST_FILE).exists());
        // ... and on load, as a malformed model.
        let mut edited = m.clone();
        edited["sources"] = json!(sources);
        let edited = serde_json::to_vec(&edited).expect("encodes");
        let msg = malformed(Model::from_bytes(&edited, &bytes.weights));
        assert!(msg.starts_with("sources: "), "{msg}");
        assert!(msg.contains(message), "{msg}");
    }
    // Not a list of strings.
    let mut edited = m.clone();
    edited["sources"] = json!("a");
    let edited = serde_json::to_vec(&edited).expect("encodes");
    assert!(malformed(Model::from_bytes(&edited, &bytes.weights)).contains("manifest"));

    // A float model records no sources.
    let fbytes = Model::Float(float_model(10, 5))
        .to_bytes()
        .expect("encodes");
    let mut f = manifest_json(&fbytes);
    assert!(f.get("sources").is_none());
    f["sources"] = json!(["a"]);
    let f = serde_json::to_vec(&f).expect("encodes");
    assert!(malformed(Model::from_bytes(&f, &fbytes.weights)).contains("quantized models only"));
}

#[test]
fn invalid_models_are_not_saved() {
    let dir = common::TempDir::new("invalid");
    let mut model = float_model(8, 5);
    model.input = Some(quantizer(8, 6));
    assert!(model.save(dir.path()).is_err());
    assert!(!dir.path().join(MANIFEST_FILE).exists());
    let mut q = quantized_model(8, 5);
    q.graph.layers.clear();
    assert!(q.save(dir.path()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random float graphs (every layer kind) round trip bit for bit.
    #[test]
    fn random_float_graphs_round_trip(
        seed in any::<u64>(),
        ops in proptest::collection::vec(0u8..5, 0..6),
        with_plan in any::<bool>(),
    ) {
        let graph = common::random_graph(seed, &ops);
        let model = Model::Float(FloatModel {
            input: Some(quantizer(seed, graph.input_dim)),
            graph,
            he_plan: with_plan.then(plan),
        });
        let bytes = model.to_bytes().expect("encodes");
        prop_assert_eq!(Model::from_bytes(&bytes.manifest, &bytes.weights).expect("decodes"), model);
    }

    /// Quantized graphs with random bit widths round trip bit for bit
    /// (scales included).
    #[test]
    fn random_quantized_graphs_round_trip(
        seed in any::<u64>(),
        d in 3usize..12,
        bits in 2u32..16,
        per_channel in any::<bool>(),
        sources in proptest::collection::btree_set("[a-z0-9._-]{1,64}", 0..4),
    ) {
        let sources: Vec<String> = sources.into_iter().collect();
        let graph = Graph::cryptotl_lower(d, &mut common::rng(seed)).expect("valid");
        let scheme = if per_channel {
            WeightQuantization::per_output_channel(bits)
        } else {
            WeightQuantization::per_tensor(bits)
        }
        .expect("valid");
        let q = QuantizedGraph::fuse_and_quantize(&graph, quantizer(seed, d), &scheme)
            .expect("quantizes");
        let model = Model::Quantized(QuantizedModel { graph: q, he_plan: None, sources });
        let bytes = model.to_bytes().expect("encodes");
        prop_assert_eq!(Model::from_bytes(&bytes.manifest, &bytes.weights).expect("decodes"), model);
    }

    /// Truncation anywhere and corruption of the weights are always errors;
    /// random overwrites of manifest bytes never panic, and whatever loads is
    /// a valid model.
    #[test]
    fn corruption_is_detected_or_harmless(
        seed in any::<u64>(),
        quantized in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let model = if quantized {
            Model::Quantized(quantized_model(seed, 5))
        } else {
            Model::Float(float_model(seed, 5))
        };
        let ModelBytes { manifest, weights } = model.to_bytes().expect("encodes");
        // Truncated manifest (a strict prefix of a JSON object is not JSON).
        let n = cut.index(manifest.len());
        prop_assert!(Model::from_bytes(&manifest[..n], &weights).is_err());
        // Truncated weights.
        let n = cut.index(weights.len());
        prop_assert!(Model::from_bytes(&manifest, &weights[..n]).is_err());
        // Any changed weights byte.
        let mut w = weights.clone();
        let i = pos.index(w.len());
        w[i] = w[i].wrapping_add(byte.max(1));
        prop_assert!(Model::from_bytes(&manifest, &w).is_err());
        // A changed manifest byte.
        let mut m = manifest.clone();
        let i = pos.index(m.len());
        m[i] = byte;
        if let Ok(loaded) = Model::from_bytes(&m, &weights) {
            prop_assert!(loaded.to_bytes().is_ok());
        }
    }
}
