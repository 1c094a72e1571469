//! UCI Sentiment Labelled Sentences: `package/test/fixtures/{imdb,yelp,amazon}.json`.
//!
//! A JSON array of `{"text": string, "class": 0 | 1 | null}`; each file ends
//! with an empty record whose class is `null` (left out).

use std::path::Path;

use serde_json::Value;

use super::{open, SourceRows};
use crate::catalog::DatasetId;
use crate::error::{DataError, Result};

pub(crate) fn read(id: DatasetId, dir: &Path) -> Result<SourceRows> {
    let relative = id.archive_paths().first().copied().unwrap_or_default();
    let (path, reader) = open(dir, relative)?;
    let origin = path.display().to_string();
    let value: Value = serde_json::from_reader(reader)
        .map_err(|e| DataError::json(&origin, e.line() as u64, e))?;
    let Value::Array(records) = value else {
        return Err(DataError::parse(
            &origin,
            1,
            "expected a JSON array of records",
        ));
    };
    let mut rows = SourceRows::default();
    for (index, record) in records.iter().enumerate() {
        rows.record();
        let bad =
            |message: &str| DataError::parse(&origin, 0, format!("record {index}: {message}"));
        let Value::Object(object) = record else {
            return Err(bad("not an object"));
        };
        let text = match object.get("text") {
            Some(Value::String(text)) => text,
            _ => return Err(bad("\"text\" must be a string")),
        };
        let label = match object.get("class") {
            Some(Value::Number(n)) if n.as_u64() == Some(0) => 0,
            Some(Value::Number(n)) if n.as_u64() == Some(1) => 1,
            Some(Value::Null) | None => {
                rows.skip("no class (empty trailing record)");
                continue;
            }
            Some(_) => return Err(bad("\"class\" must be 0, 1 or null")),
        };
        if text.trim().is_empty() {
            rows.skip("empty text");
        } else {
            rows.push(text.clone(), label);
        }
    }
    Ok(rows)
}
