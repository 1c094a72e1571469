//! Atomic installs: an interrupted or failed build never leaves a
//! complete-looking destination, and a complete one is never disturbed.

mod common;

use std::fs;
use std::path::Path;

use common::names;
use cryptotl_fetch::{Committed, StagingDir};
use proptest::prelude::*;

/// A destination is complete when its `DONE` marker lists every file.
fn complete(dir: &Path) -> Option<Vec<String>> {
    let listed = fs::read_to_string(dir.join("DONE")).ok()?;
    let files: Vec<String> = listed.lines().map(str::to_owned).collect();
    files.iter().all(|f| dir.join(f).is_file()).then_some(files)
}

/// Builds `files` into the staging directory, failing before file
/// `fail_at` (when in range); writes the marker last.
fn build(staging: &StagingDir, files: &[(String, Vec<u8>)], fail_at: usize) -> Result<(), String> {
    for (i, (name, data)) in files.iter().enumerate() {
        if i == fail_at {
            return Err(format!("failed before {name}"));
        }
        fs::write(staging.dir().join(name), data).map_err(|e| e.to_string())?;
    }
    if fail_at == files.len() {
        return Err("failed before the marker".into());
    }
    let list: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    fs::write(staging.dir().join("DONE"), list.join("\n")).map_err(|e| e.to_string())
}

fn files_strategy() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::btree_map(
        "[a-z]{1,6}",
        prop::collection::vec(any::<u8>(), 0..64),
        1..6,
    )
    .prop_map(|m| m.into_iter().filter(|(n, _)| n != "DONE").collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A build that fails at any step leaves no destination and no
    /// staging directory; a build that succeeds installs exactly its files.
    #[test]
    fn failed_builds_leave_nothing(
        files in files_strategy(),
        fail_at in 0usize..8,
    ) {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("thing");
        let staging = StagingDir::create(parent.path(), "thing").unwrap();
        let built = build(&staging, &files, fail_at);
        if built.is_ok() {
            let done = staging.commit(&target, complete).unwrap();
            prop_assert_eq!(done, Committed::Installed);
            for (name, data) in &files {
                prop_assert_eq!(&fs::read(target.join(name)).unwrap(), data);
            }
            prop_assert!(complete(&target).is_some());
            prop_assert_eq!(names(parent.path()), vec!["thing".to_owned()]);
        } else {
            drop(staging);
            prop_assert!(!target.exists());
            prop_assert!(names(parent.path()).is_empty(), "{:?}", names(parent.path()));
        }
    }

    /// A complete destination survives failed rebuilds untouched, and a
    /// successful rebuild keeps it (the completeness check says so).
    #[test]
    fn complete_destinations_are_kept(
        old in files_strategy(),
        new in files_strategy(),
        fail_at in 0usize..8,
    ) {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("thing");
        let staging = StagingDir::create(parent.path(), "thing").unwrap();
        build(&staging, &old, usize::MAX).unwrap();
        staging.commit(&target, complete).unwrap();

        let staging = StagingDir::create(parent.path(), "thing").unwrap();
        if build(&staging, &new, fail_at).is_ok() {
            let done = staging.commit(&target, complete).unwrap();
            let names_old: Vec<String> = old.iter().map(|(n, _)| n.clone()).collect();
            prop_assert_eq!(done, Committed::Kept(names_old));
        } else {
            drop(staging);
        }
        for (name, data) in &old {
            prop_assert_eq!(&fs::read(target.join(name)).unwrap(), data);
        }
        prop_assert_eq!(names(parent.path()), vec!["thing".to_owned()]);
    }
}

#[test]
fn an_incomplete_destination_is_replaced() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("thing");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("half"), b"written before a crash").unwrap();
    let staging = StagingDir::create(parent.path(), "thing").unwrap();
    build(&staging, &[("a".into(), b"1".to_vec())], usize::MAX).unwrap();
    assert_eq!(
        staging.commit(&target, complete).unwrap(),
        Committed::Installed
    );
    assert_eq!(names(&target), vec!["DONE", "a"]);
    assert_eq!(names(parent.path()), vec!["thing"]);
}
