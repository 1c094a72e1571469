//! The transfer table's pure parts: pair planning, subsampling, markdown
//! rendering and the statements computed from the numbers. No embedding
//! model or data download needed.

use cryptotl::data::{stratified_subsample, Dataset, DatasetId};
use cryptotl_experiments::{
    plan_pairs, utc_date, within_one_point, Baselines, Scores, SkippedPair, SourceTable, TargetRow,
    TransferTable,
};

fn scores(accuracy: f64) -> Scores {
    Scores {
        accuracy,
        macro_f1: accuracy - 0.01,
        kappa: 2.0 * accuracy - 1.0,
    }
}

fn row(target: &str, float: f64, quantized: f64, identical: bool, raw: f64, lr: f64) -> TargetRow {
    TargetRow {
        target: target.into(),
        train: 800,
        test: 200,
        float: scores(float),
        quantized: scores(quantized),
        encrypted: scores(quantized),
        exact_features: true,
        identical_predictions: identical,
        baselines: Baselines {
            head_raw: scores(raw),
            logistic: scores(lr),
        },
    }
}

fn table() -> TransferTable {
    TransferTable {
        machine: "2 cores, Test CPU".into(),
        date: "2026-11-25".into(),
        test_fraction: 0.2,
        folds: None,
        seed: 0,
        max_source_samples: Some(15000),
        max_target_samples: None,
        head_members: 1,
        sources: vec![SourceTable {
            source: "rotten-tomatoes".into(),
            samples: 12749,
            pretrain_seconds: 42.0,
            rows: vec![
                // within 1 point, beats both baselines
                row("uci-imdb", 0.800, 0.795, true, 0.70, 0.75),
                // 3 points below float, between the baselines
                row("uci-yelp", 0.800, 0.770, true, 0.80, 0.70),
                // exactly 1 point: within; beats neither; predictions differ
                row("sms-spam", 0.900, 0.910, false, 0.95, 0.91),
            ],
        }],
        skipped: vec![SkippedPair {
            source: "rotten-tomatoes".into(),
            target: "rotten-tomatoes".into(),
            reason: "same family pang-lee".into(),
        }],
        seconds: 100.0,
    }
}

#[test]
fn markdown_has_context_rows_and_skips() {
    let md = table().to_markdown("cargo run --example transfer_table -- 2000");
    assert!(md.contains("2 cores, Test CPU"));
    assert!(md.contains("2026-11-25"));
    assert!(md.contains("`cargo run --example transfer_table -- 2000`"));
    assert!(md.contains("Cap per source: 15000 samples"));
    assert!(md.contains("cap per target (before splitting): none (all samples)"));
    assert!(md.contains("## Source: rotten-tomatoes (12749 samples"));
    assert!(md.contains(
        "| uci-imdb | 800 | 200 | 80.0 | 79.0 | 60.0 | 79.5 | 78.5 | 59.0 | -0.50 | ✓ | 70.0 | 75.0 |"
    ));
    assert!(md.contains("| uci-yelp | 800 | 200 | 80.0 |"));
    assert!(md.contains("| -3.00 | ✓ | 80.0 | 70.0 |"));
    assert!(md.contains("| +1.00 | ✗ | 95.0 | 91.0 |"));
    assert!(md.contains("- rotten-tomatoes → rotten-tomatoes: same family pang-lee"));
    assert!(
        !md.contains("Client heads"),
        "single heads are not announced"
    );
    let mut t = table();
    t.head_members = 10;
    assert!(t
        .to_markdown("x")
        .contains("- Client heads: seed ensembles of 10 heads (seeds 0 … 9)"));
    assert!(md.contains("- Target split: 20 % test, stratified, seed 0"));
    assert!(!md.contains("cross-validation"));
}

#[test]
fn cross_validated_tables_say_so() {
    let mut t = table();
    t.folds = Some(5);
    let md = t.to_markdown("x");
    assert!(!md.contains("Target split"));
    assert!(md.contains(
        "- Evaluation: stratified 5-fold cross-validation over each capped target, seed 0: \
         every sample is tested once, by heads trained on the other 4 folds"
    ));
    let last = t.statements().pop().unwrap_or_default();
    assert!(last.contains("one seeded assignment of the samples to 5 folds"));
    assert!(table()
        .statements()
        .pop()
        .unwrap_or_default()
        .contains("one split seed"));
}

#[test]
fn statements_are_computed_from_the_numbers() {
    let s = table().statements();
    assert_eq!(
        s[0],
        "Quantized accuracy within 1 point of float (2 of 3 pairs): \
         rotten-tomatoes → uci-imdb (-0.50), rotten-tomatoes → sms-spam (+1.00)."
    );
    assert_eq!(
        s[1],
        "Quantized accuracy more than 1 point from float (1 of 3 pairs): \
         rotten-tomatoes → uci-yelp (-3.00)."
    );
    assert!(s[2].contains("differed") && s[2].contains("sms-spam") && !s[2].contains("imdb"));
    assert!(
        s[3].starts_with("Transfer (encrypted accuracy) above both no-transfer baselines (1 of 3)")
    );
    assert!(s[3].contains("uci-imdb (79.5 vs. head raw 70.0, LogReg raw 75.0)"));
    assert!(s[4].contains("(1 of 3)") && s[4].contains("uci-yelp"));
    assert!(s[5].contains("(1 of 3)") && s[5].contains("sms-spam"));
    assert!(s
        .iter()
        .any(|l| l.contains("seed_sweep") && l.contains("transfer_why")));
}

#[test]
fn one_point_is_exact_not_rounded() {
    // 21 of 2,000 samples: 1.05 points, which 0.1-point rounding of the
    // float difference (0.010499…) would have called 1.0.
    assert!(!within_one_point(1634.0 / 2000.0, 1613.0 / 2000.0));
    assert!(within_one_point(1633.0 / 2000.0, 1613.0 / 2000.0));
    assert!(within_one_point(0.80, 0.81));
    assert!(!within_one_point(0.80, 0.8101));
    let mut t = table();
    t.sources[0].rows[0].float = scores(1613.0 / 2000.0);
    t.sources[0].rows[0].quantized = scores(1634.0 / 2000.0);
    assert!(t.statements()[1].contains("rotten-tomatoes → uci-imdb (+1.05)"));
}

#[test]
fn all_identical_and_empty_tables_render() {
    let mut t = table();
    for r in &mut t.sources[0].rows {
        r.identical_predictions = true;
    }
    assert!(t.statements()[2].contains("identical"));
    t.sources.clear();
    t.skipped.clear();
    let md = t.to_markdown("x");
    assert!(md.contains("No pair was run."));
    assert!(md.contains("None: no source shares a provenance family"));
}

#[test]
fn pairs_of_one_family_are_skipped() {
    let (run, skipped) = plan_pairs(
        &[DatasetId::RottenTomatoes, DatasetId::CrowdFlower],
        &[
            DatasetId::UciImdb,
            DatasetId::VaderTweets,
            DatasetId::CrowdFlower,
        ],
    );
    assert_eq!(
        run,
        vec![
            (DatasetId::RottenTomatoes, DatasetId::UciImdb),
            (DatasetId::RottenTomatoes, DatasetId::VaderTweets),
            (DatasetId::RottenTomatoes, DatasetId::CrowdFlower),
            (DatasetId::CrowdFlower, DatasetId::UciImdb),
            (DatasetId::CrowdFlower, DatasetId::VaderTweets),
        ]
    );
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].source, "crowdflower");
    assert_eq!(skipped[0].target, "crowdflower");
    assert!(skipped[0].reason.contains("crowdflower"));

    // VADER tweets and VADER Amazon share a family.
    let (run, skipped) = plan_pairs(&[DatasetId::VaderTweets], &[DatasetId::VaderAmazon]);
    assert!(run.is_empty());
    assert_eq!(skipped.len(), 1);
}

#[test]
fn the_default_plan_runs_all_fourteen_pairs() {
    let o = cryptotl_experiments::ExperimentOptions::new(std::env::temp_dir());
    let (run, skipped) = plan_pairs(&o.sources, &o.targets);
    assert_eq!(run.len(), 14);
    assert!(skipped.is_empty());
}

fn toy(n0: usize, n1: usize) -> Dataset {
    let texts: Vec<String> = (0..n0 + n1).map(|i| format!("text {i}")).collect();
    let labels: Vec<usize> = (0..n0 + n1).map(|i| usize::from(i >= n0)).collect();
    Dataset::new("toy", texts, labels, vec!["a".into(), "b".into()]).expect("valid toy set")
}

#[test]
fn subsample_is_stratified_seeded_and_ordered() {
    let d = toy(900, 100);
    let s = stratified_subsample(&d, 200, 7).expect("subsample");
    assert_eq!(s.len(), 200);
    assert_eq!(s.class_counts(), vec![180, 20]);
    let again = stratified_subsample(&d, 200, 7).expect("subsample");
    assert_eq!(s.texts(), again.texts());
    let other = stratified_subsample(&d, 200, 8).expect("subsample");
    assert_ne!(s.texts(), other.texts());
    let index = |t: &String| t[5..].parse::<usize>().unwrap_or(usize::MAX);
    assert!(s.texts().windows(2).all(|w| index(&w[0]) < index(&w[1])));
    // No cap needed: unchanged.
    assert_eq!(stratified_subsample(&d, 5000, 0).expect("subsample"), d);
    // A rare class keeps at least one row.
    let rare = stratified_subsample(&toy(999, 1), 10, 0).expect("subsample");
    assert_eq!(rare.class_counts(), vec![9, 1]);
}

#[test]
fn utc_dates() {
    use std::time::{Duration, UNIX_EPOCH};
    assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01");
    assert_eq!(
        utc_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "2000-02-29"
    );
    assert_eq!(
        utc_date(UNIX_EPOCH + Duration::from_secs(1_795_615_909)),
        "2026-11-25"
    );
}
