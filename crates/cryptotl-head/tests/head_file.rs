//! Head files: round trips and rejection of corrupted or mismatched files.

mod common;

use std::collections::HashMap;

use common::{assemble, clusters, flipped, parts, Tensors};
use cryptotl_head::{
    train, DpRecord, Head, HeadConfig, HeadError, Preprocessing, TrainOptions, HEAD_FORMAT_VERSION,
    OLDEST_HEAD_FORMAT_VERSION,
};
use proptest::prelude::*;
use safetensors::Dtype;

fn trained(classes: usize, standardize: bool) -> (Head, Vec<Vec<f32>>) {
    let set = clusters(90, 5, classes, 21);
    let config = HeadConfig {
        hidden: 9,
        standardize,
        ..HeadConfig::new(5, classes)
    };
    let opts = TrainOptions {
        max_epochs: 5,
        ..TrainOptions::default()
    };
    let (head, _) = train(&config, &set.x, &set.y, &opts).unwrap();
    (head, set.x)
}

/// A change to a manifest.
type ManifestEdit = Box<dyn Fn(&mut serde_json::Value)>;

/// Applies `edit` to the manifest JSON of a head file.
fn edit_manifest(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let (tensors, mut metadata) = parts(bytes);
    let mut manifest: serde_json::Value = serde_json::from_str(&metadata["manifest"]).unwrap();
    edit(&mut manifest);
    metadata.insert("manifest".into(), manifest.to_string());
    assemble((tensors, metadata))
}

fn is_malformed(r: Result<Head, HeadError>) -> bool {
    matches!(
        r,
        Err(HeadError::MalformedFile(_)
            | HeadError::MalformedTensors { .. }
            | HeadError::MalformedManifest { .. })
    )
}

#[test]
fn round_trip_gives_identical_predictions() {
    for (classes, standardize) in [(2, true), (3, true), (4, false)] {
        let (mut head, x) = trained(classes, standardize);
        let names: Vec<String> = (0..classes).map(|c| format!("class {c}")).collect();
        head.set_class_names(names.clone()).unwrap();
        let back = Head::from_bytes(&head.to_bytes().unwrap()).unwrap();
        assert_eq!(
            back.predict_proba(&x).unwrap(),
            head.predict_proba(&x).unwrap()
        );
        assert_eq!(back.logits(&x).unwrap(), head.logits(&x).unwrap());
        assert_eq!(back.config(), head.config());
        assert_eq!(back.class_names(), names.as_slice());
        assert_eq!(back.training(), head.training());
        assert_eq!(back.standardizer(), head.standardizer());
        assert_eq!(back.standardizer().is_some(), standardize);
    }
}

#[test]
fn save_and_load_through_a_file() {
    let (mut head, x) = trained(2, true);
    let mut record = head.training().unwrap().clone();
    record.dp = Some(DpRecord {
        epsilon: 3.0,
        delta: 1e-5,
        clip: 1.0,
        noise_multiplier: 1.1,
    });
    head.set_training(record.clone());
    let path = std::env::temp_dir().join(format!(
        "cryptotl-head-test-{}.safetensors",
        std::process::id()
    ));
    head.save(&path).unwrap();
    let back = Head::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back.predict(&x).unwrap(), head.predict(&x).unwrap());
    assert_eq!(back.training(), Some(&record));
    assert!(matches!(Head::load(&path), Err(HeadError::Io { .. })));
}

/// A head trained with a preprocessing records it, applies it to raw
/// features at prediction, and predicts what a head trained without it on
/// features preprocessed by hand predicts.
#[test]
fn preprocessing_is_recorded_and_applied() {
    let set = clusters(90, 5, 2, 21);
    let opts = TrainOptions {
        max_epochs: 5,
        ..TrainOptions::default()
    };
    let base = HeadConfig {
        hidden: 9,
        standardize: false,
        ..HeadConfig::new(5, 2)
    };
    let recorded = HeadConfig {
        preprocessing: Preprocessing::UnitNormSqrtDim,
        ..base.clone()
    };
    let (head, _) = train(&recorded, &set.x, &set.y, &opts).unwrap();
    let by_hand = Preprocessing::UnitNormSqrtDim.apply(&set.x).into_owned();
    let (plain, _) = train(&base, &by_hand, &set.y, &opts).unwrap();
    assert_eq!(
        head.predict_proba(&set.x).unwrap(),
        plain.predict_proba(&by_hand).unwrap()
    );
    // Raw features differ from preprocessed ones: the plain head on raw
    // features is not the same model.
    assert_ne!(
        plain.predict_proba(&set.x).unwrap(),
        head.predict_proba(&set.x).unwrap()
    );
    let back = Head::from_bytes(&head.to_bytes().unwrap()).unwrap();
    assert_eq!(back.config().preprocessing, Preprocessing::UnitNormSqrtDim);
    assert_eq!(
        back.predict_proba(&set.x).unwrap(),
        head.predict_proba(&set.x).unwrap()
    );
}

/// Version 1 files did not record preprocessing: a DP head among them was
/// trained on unit-norm × √dim features (the CLI's rule), any other on the
/// features as given.
#[test]
fn version_1_files_get_the_preprocessing_of_their_time() {
    assert_eq!(OLDEST_HEAD_FORMAT_VERSION, 1);
    let as_version_1 = |head: &Head| {
        let bytes = edit_manifest(&head.to_bytes().unwrap(), |m| {
            m["config"].as_object_mut().unwrap().remove("preprocessing");
        });
        let (tensors, mut metadata) = parts(&bytes);
        metadata.insert("format_version".into(), "1".into());
        Head::from_bytes(&assemble((tensors, metadata))).unwrap()
    };
    let (mut head, _) = trained(2, false);
    assert_eq!(
        as_version_1(&head).config().preprocessing,
        Preprocessing::None
    );
    let mut record = head.training().unwrap().clone();
    record.dp = Some(DpRecord {
        epsilon: 3.0,
        delta: 1e-5,
        clip: 1.0,
        noise_multiplier: 1.1,
    });
    head.set_training(record);
    assert_eq!(
        as_version_1(&head).config().preprocessing,
        Preprocessing::UnitNormSqrtDim
    );
    // A version-2 DP head keeps what it recorded.
    let back = Head::from_bytes(&head.to_bytes().unwrap()).unwrap();
    assert_eq!(back.config().preprocessing, Preprocessing::None);
    let (tensors, mut metadata) = parts(&head.to_bytes().unwrap());
    metadata.insert("format_version".into(), "0".into());
    assert!(matches!(
        Head::from_bytes(&assemble((tensors, metadata))),
        Err(HeadError::UnsupportedVersion { found: 0, .. })
    ));
}

#[test]
fn truncated_files_are_rejected() {
    let (head, _) = trained(2, true);
    let bytes = head.to_bytes().unwrap();
    for len in [0, 1, 7, 8, 9, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            is_malformed(Head::from_bytes(&bytes[..len])),
            "length {len}"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    assert!(is_malformed(Head::from_bytes(&longer)));
}

#[test]
fn other_versions_and_foreign_files_are_rejected() {
    let (head, _) = trained(2, true);
    let bytes = head.to_bytes().unwrap();

    let (tensors, mut metadata) = parts(&bytes);
    metadata.insert(
        "format_version".into(),
        (HEAD_FORMAT_VERSION + 1).to_string(),
    );
    let r = Head::from_bytes(&assemble((tensors.clone(), metadata.clone())));
    assert!(matches!(
        r,
        Err(HeadError::UnsupportedVersion { found, supported })
            if found == HEAD_FORMAT_VERSION + 1 && supported == HEAD_FORMAT_VERSION
    ));
    metadata.insert("format_version".into(), "one".into());
    assert!(is_malformed(Head::from_bytes(&assemble((
        tensors.clone(),
        metadata.clone()
    )))));
    metadata.insert("format".into(), "cryptotl-model".into());
    assert!(is_malformed(Head::from_bytes(&assemble((
        tensors.clone(),
        metadata
    )))));
    // A plain safetensors file without metadata.
    assert!(is_malformed(Head::from_bytes(&assemble((
        tensors,
        HashMap::new()
    )))));
}

#[test]
fn manifests_that_do_not_match_the_tensors_are_rejected() {
    let (head, _) = trained(3, true);
    let bytes = head.to_bytes().unwrap();
    let edits: Vec<ManifestEdit> = vec![
        Box::new(|m| m["config"]["hidden"] = 12.into()),
        Box::new(|m| m["config"]["input_dim"] = 6.into()),
        Box::new(|m| m["config"]["classes"] = 2.into()),
        Box::new(|m| m["config"]["pool"] = 2.into()),
        Box::new(|m| m["config"]["standardize"] = false.into()),
        Box::new(|m| m["config"]["classes"] = 1.into()),
        Box::new(|m| m["config"]["dropout"] = 1.5.into()),
        Box::new(|m| m["class_names"] = serde_json::json!(["a", "b"])),
        Box::new(|m| m["surprise"] = 1.into()),
        Box::new(|m| *m = serde_json::json!("not an object")),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let r = Head::from_bytes(&edit_manifest(&bytes, edit));
        assert!(is_malformed(r), "edit {i}");
    }
    let (tensors, mut metadata) = parts(&bytes);
    metadata.insert("manifest".into(), "{ truncated".into());
    assert!(is_malformed(Head::from_bytes(&assemble((
        tensors, metadata
    )))));
}

#[test]
fn bad_tensors_are_rejected() {
    let (head, _) = trained(2, true);
    let bytes = head.to_bytes().unwrap();
    let (tensors, metadata) = parts(&bytes);
    let with = |f: &dyn Fn(&mut Tensors)| {
        let mut t = tensors.clone();
        f(&mut t);
        Head::from_bytes(&assemble((t, metadata.clone())))
    };
    let index = |name: &str| tensors.iter().position(|t| t.0 == name).unwrap();

    // Missing tensor.
    assert!(is_malformed(with(&|t| {
        t.retain(|x| x.0 != "output.bias");
    })));
    // Extra tensor.
    assert!(is_malformed(with(&|t| {
        t.push(("extra".into(), Dtype::F32, vec![1], vec![0; 4]));
    })));
    // Wrong shape (same element count).
    let i = index("hidden.weight");
    assert!(is_malformed(with(&|t| {
        let s = t[i].2.clone();
        t[i].2 = vec![s[1], s[0]];
    })));
    // Wrong dtype.
    let j = index("output.bias");
    assert!(is_malformed(with(&|t| {
        t[j].1 = Dtype::I32;
    })));
    // Non-finite weight.
    assert!(is_malformed(with(&|t| {
        t[i].3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    })));
    // Zero standard deviation.
    let k = index("standardize.std");
    assert!(is_malformed(with(&|t| {
        t[k].3[..4].copy_from_slice(&0f32.to_le_bytes());
    })));
    // The untouched parts still load.
    assert!(with(&|_| {}).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn corrupted_bytes_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let head = Head::init(&HeadConfig { hidden: 6, ..HeadConfig::new(3, 2) }, 1).unwrap();
        let clean = head.to_bytes().unwrap();
        // Any outcome but a panic is fine, and a head that loads can be used.
        if let Ok(h) = Head::from_bytes(&flipped(&clean, &flips)) {
            let _ = h.predict_proba(&[vec![0.1; h.config().input_dim]]);
        }
        let len = cut.index(clean.len());
        prop_assert!(Head::from_bytes(&clean[..len]).is_err());
    }
}
