//! SpamAssassin: `package/data/<group>/<number>.<md5>.json` of the npm package.
//!
//! Each file is `{"id", "group", "checksum", "text"}` with the raw message
//! (headers included). Groups `easy-ham-1`, `easy-ham-2`, `hard-ham-1` are
//! ham, `spam-1`, `spam-2` spam. The text is reduced to subject and body.

use std::fs;
use std::path::Path;

use serde_json::Value;

use super::email::subject_and_body;
use super::{open, SourceRows};
use crate::error::{DataError, Result};
use crate::fetch::SPAM_ASSASSIN_GROUPS;

pub(crate) fn read(dir: &Path) -> Result<SourceRows> {
    let mut rows = SourceRows::default();
    let mut files = Vec::new();
    for group in SPAM_ASSASSIN_GROUPS {
        let group_dir = dir.join("package").join("data").join(group);
        if !group_dir.is_dir() {
            continue;
        }
        let entries = fs::read_dir(&group_dir).map_err(|e| DataError::io(&group_dir, e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        names.sort();
        files.extend(
            names
                .into_iter()
                .map(|name| format!("package/data/{group}/{name}")),
        );
    }
    if files.is_empty() {
        let data = dir.join("package").join("data");
        return Err(DataError::io(
            &data,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no <group>/*.json message files",
            ),
        ));
    }
    for relative in files {
        rows.record();
        let (path, reader) = open(dir, &relative)?;
        let origin = path.display().to_string();
        let value: Value = serde_json::from_reader(reader)
            .map_err(|e| DataError::json(&origin, e.line() as u64, e))?;
        let bad = |message: &str| DataError::parse(&origin, 1, message.to_owned());
        let group = value
            .get("group")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing string \"group\""))?;
        let label = if group.starts_with("spam") {
            1
        } else if group.contains("ham") {
            0
        } else {
            return Err(bad(&format!("unknown group {group:?}")));
        };
        let raw = value
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing string \"text\""))?;
        let text = subject_and_body(raw);
        if text.trim().is_empty() {
            rows.skip("empty subject and body");
        } else {
            rows.push(text, label);
        }
    }
    Ok(rows)
}
