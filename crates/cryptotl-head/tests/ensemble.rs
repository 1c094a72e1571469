//! Seed ensembles: averaging, training, files and rejection of bad files.

mod common;

use common::{assemble, clusters, flipped, parts};
use cryptotl_head::{
    train, train_ensemble, Ensemble, Head, HeadConfig, HeadError, TrainOptions, Trainer,
    HEAD_FORMAT,
};
use cryptotl_head::{ENSEMBLE_FORMAT, MAX_MEMBERS};
use proptest::prelude::*;
use safetensors::Dtype;

fn config() -> HeadConfig {
    HeadConfig {
        hidden: 9,
        ..HeadConfig::new(5, 3)
    }
}

fn options() -> TrainOptions {
    TrainOptions {
        max_epochs: 5,
        seed: 11,
        ..TrainOptions::default()
    }
}

/// Three members trained on three-class clusters, and the inputs.
fn trained() -> (Ensemble, Vec<Vec<f32>>, Vec<usize>) {
    let set = clusters(90, 5, 3, 4);
    let (ensemble, reports) = train_ensemble(3, &options(), |o| {
        Trainer::new(config(), o)
            .class_names(vec!["a".into(), "b".into(), "c".into()])
            .fit(&set.x, &set.y)
    })
    .unwrap();
    assert_eq!(reports.len(), 3);
    (ensemble, set.x, set.y)
}

#[test]
fn probabilities_are_the_members_mean() {
    let (ensemble, x, _) = trained();
    let got = ensemble.predict_proba(&x).unwrap();
    let each: Vec<_> = ensemble
        .members()
        .iter()
        .map(|m| m.predict_proba(&x).unwrap())
        .collect();
    for (r, row) in got.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let mean = each.iter().map(|p| p[r][c]).sum::<f32>() / 3.0;
            assert!((v - mean).abs() < 1e-6, "row {r} class {c}: {v} vs {mean}");
        }
    }
    let predicted = ensemble.predict(&x).unwrap();
    for (row, p) in got.iter().zip(&predicted) {
        assert_eq!(*p, cryptotl_head::argmax(row));
    }
}

#[test]
fn members_follow_the_seeds_and_member_zero_is_the_single_head() {
    let (ensemble, x, y) = trained();
    let set_options = options();
    let (single, _) = Trainer::new(config(), set_options)
        .class_names(vec!["a".into(), "b".into(), "c".into()])
        .fit(&x, &y)
        .unwrap();
    let m = ensemble.members();
    assert_eq!(
        m[0].predict_proba(&x).unwrap(),
        single.predict_proba(&x).unwrap()
    );
    assert_ne!(
        m[0].predict_proba(&x).unwrap(),
        m[1].predict_proba(&x).unwrap(),
        "members trained with different seeds differ"
    );
    // Evaluation uses the averaged probabilities.
    let metrics = ensemble.evaluate(&x, &y).unwrap();
    let predicted = ensemble.predict(&x).unwrap();
    let correct = predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
    assert!((metrics.accuracy - correct as f64 / y.len() as f64).abs() < 1e-12);
    assert_eq!(ensemble.class_names(), ["a", "b", "c"]);
}

#[test]
fn files_round_trip_and_one_member_is_a_plain_head_file() {
    let (ensemble, x, _) = trained();
    let bytes = ensemble.to_bytes().unwrap();
    let back = Ensemble::from_bytes(&bytes).unwrap();
    assert_eq!(back.len(), 3);
    assert_eq!(
        back.predict_proba(&x).unwrap(),
        ensemble.predict_proba(&x).unwrap()
    );
    // A multi-head file is not a head file.
    assert!(matches!(
        Head::from_bytes(&bytes),
        Err(HeadError::MalformedFile(_))
    ));

    let one = Ensemble::from(ensemble.members()[1].clone());
    let one_bytes = one.to_bytes().unwrap();
    assert_eq!(parts(&one_bytes).1["format"], HEAD_FORMAT);
    let head = Head::from_bytes(&one_bytes).unwrap();
    assert_eq!(
        head.predict_proba(&x).unwrap(),
        one.predict_proba(&x).unwrap()
    );
    assert_eq!(Ensemble::from_bytes(&one_bytes).unwrap().len(), 1);

    let path = std::env::temp_dir().join(format!("cryptotl-ensemble-{}.st", std::process::id()));
    ensemble.save(&path).unwrap();
    let loaded = Ensemble::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(loaded.predict(&x).unwrap(), ensemble.predict(&x).unwrap());
}

#[test]
fn members_must_agree() {
    let a = Head::init(&config(), 1).unwrap();
    let other_dim = Head::init(&HeadConfig::new(6, 3), 2).unwrap();
    assert!(matches!(
        Ensemble::new(vec![a.clone(), other_dim]),
        Err(HeadError::InvalidConfig(_))
    ));
    let mut renamed = Head::init(&config(), 3).unwrap();
    renamed
        .set_class_names(vec!["x".into(), "y".into(), "z".into()])
        .unwrap();
    assert!(matches!(
        Ensemble::new(vec![a.clone(), renamed]),
        Err(HeadError::InvalidConfig(_))
    ));
    assert!(matches!(
        Ensemble::new(Vec::new()),
        Err(HeadError::InvalidConfig(_))
    ));
    assert!(matches!(
        Ensemble::new(vec![a; MAX_MEMBERS + 1]),
        Err(HeadError::InvalidConfig(_))
    ));
    let set = clusters(30, 5, 3, 1);
    for k in [0, MAX_MEMBERS + 1] {
        let r = train_ensemble(k, &options(), |o| train(&config(), &set.x, &set.y, &o));
        assert!(matches!(r, Err(HeadError::InvalidConfig(_))), "k = {k}");
    }
}

#[test]
fn tampered_files_are_rejected() {
    let (ensemble, _, _) = trained();
    let bytes = ensemble.to_bytes().unwrap();
    let malformed = |b: Vec<u8>| {
        let r = Ensemble::from_bytes(&b);
        assert!(
            matches!(
                r,
                Err(HeadError::MalformedFile(_)
                    | HeadError::MalformedTensors { .. }
                    | HeadError::MalformedManifest { .. })
            ),
            "{r:?}"
        );
    };
    let edit = |f: &dyn Fn(&mut common::Parts)| {
        let mut p = parts(&bytes);
        f(&mut p);
        assemble(p)
    };
    // Member count that does not match the tensors, out of range, missing.
    for members in ["2", "4", "1", "0", "1000", "x"] {
        malformed(edit(&|p| {
            p.1.insert("members".into(), members.into());
        }));
    }
    malformed(edit(&|p| {
        p.1.remove("members");
    }));
    // Unknown format; other version.
    malformed(edit(&|p| {
        p.1.insert("format".into(), "something-else".into());
    }));
    let version = Ensemble::from_bytes(&edit(&|p| {
        p.1.insert("format_version".into(), "2".into());
    }));
    assert!(
        matches!(version, Err(HeadError::UnsupportedVersion { found: 2, .. })),
        "{version:?}"
    );
    // A member renamed, retyped, truncated or of another configuration.
    malformed(edit(&|p| p.0[1].0 = "member.7".into()));
    malformed(edit(&|p| p.0[0].1 = Dtype::I8));
    malformed(edit(&|p| {
        let t = &mut p.0[2];
        t.3.truncate(t.3.len() / 2);
        t.2 = vec![t.3.len()];
    }));
    let stranger = Head::init(&HeadConfig::new(6, 3), 5)
        .unwrap()
        .to_bytes()
        .unwrap();
    malformed(edit(&|p| {
        let t = &mut p.0[1];
        t.3 = stranger.clone();
        t.2 = vec![t.3.len()];
    }));
    assert_eq!(parts(&bytes).1["format"], ENSEMBLE_FORMAT);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn corrupted_ensembles_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let small = HeadConfig { hidden: 6, ..HeadConfig::new(3, 2) };
        let members = (0..2).map(|s| Head::init(&small, s).unwrap()).collect();
        let clean = Ensemble::new(members).unwrap().to_bytes().unwrap();
        // Any outcome but a panic is fine, and an ensemble that loads can be used.
        if let Ok(e) = Ensemble::from_bytes(&flipped(&clean, &flips)) {
            let _ = e.predict_proba(&[vec![0.1; e.config().input_dim]]);
        }
        let len = cut.index(clean.len());
        prop_assert!(Ensemble::from_bytes(&clean[..len]).is_err());
    }
}
