//! Choosing the client's head by cross-validation ([`select_head`]) and the
//! client head file.

mod common;

use common::{assemble, parts, separable_binary};
use cryptotl_head::{
    select_head, CandidateSearch, ClientHead, Criterion, Family, FeatureSet, Head, HeadConfig,
    HeadError, SelectOptions, TrainOptions,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn names() -> Vec<String> {
    vec!["neg".into(), "pos".into()]
}

/// `n` samples: an informative block and a block of pure noise.
fn blocks(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>) {
    let informative = separable_binary(n, 4, 1.0, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1000);
    let noise = (0..n)
        .map(|_| (0..6).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    (informative.x, noise, informative.y)
}

fn quick() -> SelectOptions {
    SelectOptions {
        mlp: TrainOptions {
            max_epochs: 15,
            ..TrainOptions::default()
        },
        mlp_hidden: 12,
        l2_grid: vec![1e-3, 1e-1],
        ..SelectOptions::default()
    }
}

#[test]
fn selection_follows_the_informative_features() {
    // Server features informative, raw embedding noise.
    let (informative, noise, y) = blocks(80, 3);
    let head = select_head(
        &noise,
        Some(&informative),
        &y,
        &names(),
        &quick(),
        &mut |_| {},
    )
    .unwrap();
    assert!(head.features().needs_server(), "{:?}", head.selection());
    let s = head.selection().unwrap();
    assert_eq!(s.candidates.len(), 3 * 2 + 3);
    assert_eq!(s.samples, 80);
    assert!(s.chosen().unwrap().accuracy > 0.9);
    assert!(s
        .candidates
        .iter()
        .all(|c| (0.0..=1.0).contains(&c.accuracy)));
    let best = s
        .candidates
        .iter()
        .map(|c| c.log_loss)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(s.chosen().unwrap().log_loss, best);
    // Ranked by accuracy instead, with repeated folds.
    let by_accuracy = SelectOptions {
        criterion: Criterion::Accuracy,
        repeats: 2,
        ..quick()
    };
    let head = select_head(
        &noise,
        Some(&informative),
        &y,
        &names(),
        &by_accuracy,
        &mut |_| {},
    )
    .unwrap();
    let s = head.selection().unwrap();
    assert_eq!((s.repeats, s.criterion), (2, Criterion::Accuracy));
    let best = s.candidates.iter().map(|c| c.accuracy).fold(0.0, f64::max);
    assert_eq!(s.chosen().unwrap().accuracy, best);

    // Raw informative, server features noise.
    let head = select_head(
        &informative,
        Some(&noise),
        &y,
        &names(),
        &quick(),
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(head.features(), FeatureSet::Server);
    let acc = head
        .evaluate(&informative, Some(&noise), &y)
        .unwrap()
        .accuracy;
    assert!(acc > 0.9);
}

/// When the server's features are as informative as the raw embedding (a
/// noisy copy of it), the guard keeps the raw candidate unless the server
/// clearly wins; without the guard the ranking alone decides.
#[test]
fn the_guard_keeps_raw_unless_the_server_clearly_pays() {
    let (informative, _, y) = blocks(40, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let copy: Vec<Vec<f32>> = informative
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v + rng.random_range(-0.05..0.05))
                .collect()
        })
        .collect();
    let guarded = select_head(
        &informative,
        Some(&copy),
        &y,
        &names(),
        &quick(),
        &mut |_| {},
    )
    .unwrap();
    let s = guarded.selection().unwrap();
    assert_eq!(s.guard, Some(1.0));
    if s.guarded {
        assert_eq!(guarded.features(), FeatureSet::Raw);
    }
    let open = SelectOptions {
        guard: None,
        ..quick()
    };
    let unguarded =
        select_head(&informative, Some(&copy), &y, &names(), &open, &mut |_| {}).unwrap();
    let s = unguarded.selection().unwrap();
    assert!(!s.guarded);
    let best = s.candidates.iter().map(|c| c.accuracy).fold(0.0, f64::max);
    assert_eq!(s.chosen().unwrap().accuracy, best);
    // A very strict guard always falls back to raw when the winner reads the server.
    let strict = SelectOptions {
        guard: Some(1e6),
        ..quick()
    };
    let head = select_head(
        &informative,
        Some(&copy),
        &y,
        &names(),
        &strict,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(head.features(), FeatureSet::Raw);
}

#[test]
fn without_server_features_only_raw_candidates_are_tried() {
    let (informative, _, y) = blocks(40, 5);
    let mut heard = 0;
    let head = select_head(&informative, None, &y, &names(), &quick(), &mut |_| {
        heard += 1
    })
    .unwrap();
    assert_eq!(head.features(), FeatureSet::Raw);
    assert!(!head.needs_server());
    assert_eq!(heard, 3);
    assert!(head.predict(&informative, None).is_ok());
    let only_server = quick().only(Family::Logistic, FeatureSet::Server);
    assert!(matches!(
        select_head(&informative, None, &y, &names(), &only_server, &mut |_| {}),
        Err(HeadError::InvalidInput(_))
    ));
}

#[test]
fn forced_choices_and_tiny_sets() {
    let (informative, noise, y) = blocks(16, 7);
    let forced = quick().only(Family::Mlp, FeatureSet::Both);
    let head = select_head(
        &informative,
        Some(&noise),
        &y,
        &names(),
        &forced,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        (head.classifier().family(), head.features()),
        (Family::Mlp, FeatureSet::Both)
    );
    assert!(
        head.selection().is_none(),
        "one candidate: no cross-validation"
    );
    // Two samples per class: still a choice (2 folds).
    let idx: Vec<usize> = (0..16)
        .filter(|&i| y[..=i].iter().filter(|&&c| c == y[i]).count() <= 2)
        .collect();
    let x2: Vec<Vec<f32>> = idx.iter().map(|&i| informative[i].clone()).collect();
    let y2: Vec<usize> = idx.iter().map(|&i| y[i]).collect();
    let head = select_head(&x2, None, &y2, &names(), &quick(), &mut |_| {}).unwrap();
    assert_eq!(head.selection().map(|s| s.folds), Some(2));
}

#[test]
fn client_head_files_round_trip_and_read_plain_heads() {
    let (informative, noise, y) = blocks(60, 9);
    let head = select_head(
        &informative,
        Some(&noise),
        &y,
        &names(),
        &quick(),
        &mut |_| {},
    )
    .unwrap();
    let back = ClientHead::from_bytes(&head.to_bytes().unwrap()).unwrap();
    assert_eq!(back.features(), head.features());
    assert_eq!(back.selection(), head.selection());
    assert_eq!(back.class_names(), names().as_slice());
    assert_eq!(
        back.predict_proba(&informative, Some(&noise)).unwrap(),
        head.predict_proba(&informative, Some(&noise)).unwrap()
    );
    // A plain head file is a head on the server's features.
    let plain = Head::init(&HeadConfig::new(6, 2), 1).unwrap();
    let as_client = ClientHead::from_bytes(&plain.to_bytes().unwrap()).unwrap();
    assert_eq!(as_client.features(), FeatureSet::Server);
    assert_eq!(as_client.classifier().family(), Family::Mlp);
    assert!(
        as_client.predict(&informative, None).is_err(),
        "needs the server's features"
    );
    // A manifest that disagrees with its classifier is refused.
    let (tensors, mut metadata) = parts(&head.to_bytes().unwrap());
    let family = head.classifier().family();
    let other = if family == Family::Mlp {
        "logistic"
    } else {
        "mlp"
    };
    let manifest = metadata["manifest"].replace(
        &format!("\"family\":\"{family}\""),
        &format!("\"family\":\"{other}\""),
    );
    metadata.insert("manifest".into(), manifest);
    assert!(ClientHead::from_bytes(&assemble((tensors, metadata))).is_err());
    assert!(ClientHead::from_bytes(b"not a head").is_err());
}

#[test]
fn one_search_gives_the_choices_of_separate_selections() {
    // Server features informative, raw embedding noise: the rules differ.
    let (informative, noise, y) = blocks(60, 11);
    let options = quick();
    let classes = names();
    let search = CandidateSearch::run(
        &noise,
        Some(&informative),
        &y,
        &classes,
        &options,
        &mut |_| {},
    )
    .unwrap();
    let predict = |h: &ClientHead| h.predict(&noise, Some(&informative)).unwrap();
    // The default rule is select_head's.
    let default = search
        .fit(search.choose(None, options.guard).unwrap())
        .unwrap();
    let direct = select_head(
        &noise,
        Some(&informative),
        &y,
        &names(),
        &options,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(predict(&default), predict(&direct));
    assert_eq!(default.selection(), direct.selection());
    // A fixed family and feature set is select_head restricted to it.
    for (family, features) in [
        (Family::Logistic, FeatureSet::Server),
        (Family::Logistic, FeatureSet::Raw),
        (Family::Mlp, FeatureSet::Both),
    ] {
        let choice = search.choose(Some((family, features)), None).unwrap();
        let (f, s, _) = search.describe(choice);
        assert_eq!((f, s), (family, features));
        let only = select_head(
            &noise,
            Some(&informative),
            &y,
            &names(),
            &options.clone().only(family, features),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(predict(&search.fit(choice).unwrap()), predict(&only));
    }
    // An impossible guard (z huge) keeps the reference; no guard follows
    // the ranking, here towards the informative server features.
    let kept = search.choose(None, Some(1e9)).unwrap();
    assert_eq!(
        (search.describe(kept).0, search.describe(kept).1),
        (Family::Logistic, FeatureSet::Raw)
    );
    let free = search.choose(None, None).unwrap();
    assert!(search.describe(free).1.needs_server());
}
