//! Where downloaded packages and everything derived from them live.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{FetchError, Result};

/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "CRYPTOTL_CACHE";

/// The cache directory: `$CRYPTOTL_CACHE`, else `$XDG_CACHE_HOME/cryptotl`,
/// else `$HOME/.cache/cryptotl`. Empty variables count as unset.
///
/// The users of this crate put models under `<cache>/models/`, data sets
/// under `<cache>/datasets/` and cached embeddings under
/// `<cache>/embeddings/`. The directory is not created here.
///
/// # Errors
///
/// [`FetchError::NoCacheDir`] when none of the three variables is set.
pub fn default_cache_dir() -> Result<PathBuf> {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`default_cache_dir`] with the environment passed in, for testing.
fn cache_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var(CACHE_ENV) {
        return Ok(dir);
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Ok(xdg.join("cryptotl"));
    }
    if let Some(home) = var("HOME") {
        return Ok(home.join(".cache").join("cryptotl"));
    }
    Err(FetchError::NoCacheDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn precedence() {
        let all = [
            ("CRYPTOTL_CACHE", "/c"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(cache_dir_from(env(&all)).unwrap(), PathBuf::from("/c"));
        assert_eq!(
            cache_dir_from(env(&all[1..])).unwrap(),
            PathBuf::from("/x/cryptotl")
        );
        assert_eq!(
            cache_dir_from(env(&all[2..])).unwrap(),
            PathBuf::from("/h/.cache/cryptotl")
        );
    }

    #[test]
    fn empty_variables_are_ignored() {
        let vars = [
            ("CRYPTOTL_CACHE", ""),
            ("XDG_CACHE_HOME", ""),
            ("HOME", "/h"),
        ];
        assert_eq!(
            cache_dir_from(env(&vars)).unwrap(),
            PathBuf::from("/h/.cache/cryptotl")
        );
    }

    #[test]
    fn nothing_set_is_an_error() {
        assert!(matches!(
            cache_dir_from(env(&[("HOME", "")])),
            Err(FetchError::NoCacheDir)
        ));
    }
}
