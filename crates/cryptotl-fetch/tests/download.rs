//! Downloads through fake registry clients (shell scripts): the command
//! lines, pin verification, reuse of verified files, and the errors.
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::names;
use cryptotl_fetch::{download, fetch_pinned, FetchError, FetchOptions, PackageSpec, Sha256Digest};
use proptest::prelude::*;

/// A client that logs its arguments (one per line) to `<dir>/<name>.log`,
/// then runs `body`.
fn fake_client(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let log = dir.join(format!("{name}.log"));
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\" >> '{}'; done\n{body}\n",
            log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A pip that copies `source` into the directory after `-d`, as `file_name`.
fn fake_pip(dir: &Path, source: &Path, file_name: &str) -> PathBuf {
    fake_client(
        dir,
        "python",
        &format!(
            "while [ \"$#\" -gt 0 ]; do if [ \"$1\" = -d ]; then out=\"$2\"; fi; shift; done\n\
             cp '{}' \"$out/{file_name}\"",
            source.display()
        ),
    )
}

fn quiet() -> FetchOptions {
    FetchOptions::default().with_quiet(true)
}

fn log_lines(dir: &Path, name: &str) -> Vec<String> {
    fs::read_to_string(dir.join(format!("{name}.log")))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn pinned_download_is_verified_installed_and_reused() {
    let tools = tempfile::tempdir().unwrap();
    let source = common::write(tools.path(), "payload", b"wheel bytes");
    let pip = fake_pip(tools.path(), &source, "pkg-1.0-py3-none-any.whl");
    let pin = Sha256Digest::of_bytes(b"wheel bytes").to_hex();
    let cache = tempfile::tempdir().unwrap();
    let target = cache.path().join("archives").join("pkg.whl");
    let package = PackageSpec::pypi("pkg", "1.0");

    let got = fetch_pinned(package, &pin, &target, &quiet().with_python(&pip)).unwrap();
    assert_eq!(got, target);
    assert_eq!(fs::read(&target).unwrap(), b"wheel bytes");
    assert_eq!(names(&cache.path().join("archives")), vec!["pkg.whl"]);
    let args = log_lines(tools.path(), "python");
    assert_eq!(
        &args[..5],
        ["-m", "pip", "download", "pkg==1.0", "--no-deps"]
    );
    for flag in ["--only-binary=:all:", "--no-input", "-d"] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing in {args:?}");
    }

    // A verified file is reused without running the client.
    let again = fetch_pinned(
        package,
        &pin,
        &target,
        &quiet().with_python("/nonexistent/python3"),
    )
    .unwrap();
    assert_eq!(again, target);

    // A tampered file is downloaded again.
    fs::write(&target, b"tampered").unwrap();
    fetch_pinned(package, &pin, &target, &quiet().with_python(&pip)).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"wheel bytes");
}

#[test]
fn npm_pack_runs_in_the_download_directory() {
    let tools = tempfile::tempdir().unwrap();
    let npm = fake_client(
        tools.path(),
        "npm",
        "pwd > ../where; echo tarball > pkg-2.0.0.tgz",
    );
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("downloads");
    fs::create_dir(&dir).unwrap();
    let saved = download(
        PackageSpec::npm("@scope/pkg", "2.0.0"),
        &dir,
        &quiet().with_npm(&npm),
    )
    .unwrap();
    assert_eq!(saved, dir.join("pkg-2.0.0.tgz"));
    let args = log_lines(tools.path(), "npm");
    assert_eq!(&args[..2], ["pack", "@scope/pkg@2.0.0"]);
    let at = args.iter().position(|a| a == "--pack-destination").unwrap();
    assert_eq!(Path::new(&args[at + 1]), dir);
    assert!(args.iter().any(|a| a == "--ignore-scripts"));
}

#[test]
fn client_failures_are_typed_errors() {
    let tools = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let package = PackageSpec::pypi("pkg", "1.0");

    let no_pip = fake_client(
        tools.path(),
        "no-pip",
        "echo '/usr/bin/python3: No module named pip' >&2; exit 1",
    );
    let err = download(package, dir.path(), &quiet().with_python(&no_pip)).unwrap_err();
    assert!(matches!(err, FetchError::PipNotAvailable { .. }), "{err}");

    let failing = fake_client(
        tools.path(),
        "failing",
        "echo 'ERROR: No matching distribution found' >&2; exit 3",
    );
    match download(package, dir.path(), &quiet().with_python(&failing)).unwrap_err() {
        FetchError::ClientFailed {
            requirement,
            status,
            detail,
            ..
        } => {
            assert_eq!(requirement, "pkg==1.0");
            assert_eq!(status.code(), Some(3));
            assert!(detail.contains("No matching distribution"), "{detail}");
        }
        other => panic!("expected a failed client, got {other}"),
    }

    let silent = fake_client(tools.path(), "silent", "exit 0");
    match download(package, dir.path(), &quiet().with_python(&silent)).unwrap_err() {
        FetchError::UnexpectedDownload { found, .. } => assert!(found.is_empty()),
        other => panic!("expected no download, got {other}"),
    }
    let twice = fake_client(
        tools.path(),
        "twice",
        "while [ \"$#\" -gt 0 ]; do if [ \"$1\" = -d ]; then out=\"$2\"; fi; shift; done\n\
         touch \"$out/a.whl\" \"$out/b.whl\"",
    );
    match download(package, dir.path(), &quiet().with_python(&twice)).unwrap_err() {
        FetchError::UnexpectedDownload { mut found, .. } => {
            found.sort();
            assert_eq!(found, ["a.whl", "b.whl"]);
        }
        other => panic!("expected two files, got {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Bytes that do not have the pinned SHA-256 are refused, and nothing
    /// is installed or left behind.
    #[test]
    fn sha256_mismatch_installs_nothing(
        served in prop::collection::vec(any::<u8>(), 0..4096),
        pinned in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        prop_assume!(served != pinned);
        let tools = tempfile::tempdir().unwrap();
        let source = common::write(tools.path(), "payload", &served);
        let pip = fake_pip(tools.path(), &source, "pkg-1.0-py3-none-any.whl");
        let cache = tempfile::tempdir().unwrap();
        let target = cache.path().join("pkg.whl");
        let pin = Sha256Digest::of_bytes(&pinned).to_hex();
        let err = fetch_pinned(PackageSpec::pypi("pkg", "1.0"), &pin, &target, &quiet().with_python(&pip))
            .unwrap_err();
        match err {
            FetchError::ChecksumMismatch { expected, actual, .. } => {
                prop_assert_eq!(expected, pin);
                prop_assert_eq!(actual, Sha256Digest::of_bytes(&served).to_hex());
            }
            other => prop_assert!(false, "expected a mismatch, got {}", other),
        }
        prop_assert!(!target.exists());
        prop_assert!(names(cache.path()).is_empty(), "left behind: {:?}", names(cache.path()));
    }
}
