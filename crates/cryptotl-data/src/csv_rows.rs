//! Reading selected columns of a delimited file, with line numbers.

use std::io::Read;

use crate::error::{DataError, Result};

/// Character encoding of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// UTF-8 (a leading byte-order mark is ignored). Invalid bytes are an error.
    #[default]
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value. Never fails.
    Latin1,
}

impl TextEncoding {
    /// Decodes `bytes`; the error names the problem without the line.
    pub(crate) fn decode(self, bytes: &[u8]) -> std::result::Result<String, String> {
        match self {
            TextEncoding::Utf8 => std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|e| format!("invalid UTF-8 ({e})")),
            TextEncoding::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        }
    }
}

/// How to read a delimited file.
#[derive(Debug, Clone)]
pub(crate) struct CsvSpec<'a> {
    /// Field delimiter (`b','`, `b'\t'`).
    pub delimiter: u8,
    /// Whether `"` quotes fields (RFC 4180). Off for tab-separated files
    /// whose texts contain stray quotes.
    pub quoting: bool,
    /// Character encoding.
    pub encoding: TextEncoding,
    /// Header names of the columns to extract, in the order wanted.
    pub columns: &'a [&'a str],
}

/// Reads a delimited file with a header, calling `row(line, fields)` for
/// every record with the wanted columns (in `spec.columns` order). `line` is
/// the 1-based line on which the record starts.
///
/// The input is read into memory first: the csv crate reports a record's
/// position as the end of the previous one (before a CRLF's `\n` and any
/// blank lines), so the real line is computed from the bytes.
///
/// # Errors
/// [`DataError::MissingColumn`] when the header lacks a wanted column;
/// [`DataError::Parse`] with the line for records with the wrong number of
/// fields or undecodable bytes, [`DataError::Csv`] for other CSV errors,
/// [`DataError::Read`] when reading fails; whatever `row` returns.
pub(crate) fn read_columns<R: Read>(
    mut reader: R,
    origin: &str,
    spec: &CsvSpec<'_>,
    mut row: impl FnMut(u64, Vec<String>) -> Result<()>,
) -> Result<()> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::read(origin, 0, e))?;
    let mut lines = LineIndex::new(&bytes);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(spec.delimiter)
        .quoting(spec.quoting)
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes.as_slice());
    let header = csv
        .byte_headers()
        .map_err(|e| csv_error(origin, e, &bytes))?
        .clone();
    let names: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let name = spec.encoding.decode(raw).unwrap_or_default();
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}').to_owned()
            } else {
                name
            };
            name.trim().to_owned()
        })
        .collect();
    if names.iter().all(String::is_empty) {
        return Err(DataError::parse(origin, 1, "empty header line"));
    }
    let mut indices = Vec::with_capacity(spec.columns.len());
    for &column in spec.columns {
        match names.iter().position(|name| name == column) {
            Some(index) => indices.push(index),
            None => {
                return Err(DataError::MissingColumn {
                    origin: origin.to_owned(),
                    column: column.to_owned(),
                    available: names.clone(),
                })
            }
        }
    }

    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(origin, e, &bytes)),
        }
        let line = record
            .position()
            .map_or(0, |position| lines.line_at(position.byte()));
        let mut fields = Vec::with_capacity(indices.len());
        for (&index, &column) in indices.iter().zip(spec.columns) {
            let raw = record.get(index).unwrap_or_default();
            let field = spec
                .encoding
                .decode(raw)
                .map_err(|e| DataError::parse(origin, line, format!("column {column:?}: {e}")))?;
            fields.push(field);
        }
        row(line, fields)?;
    }
    Ok(())
}

/// Line numbers of byte offsets, for offsets visited in increasing order.
struct LineIndex<'a> {
    bytes: &'a [u8],
    cursor: usize,
    line: u64,
}

impl<'a> LineIndex<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineIndex {
            bytes,
            cursor: 0,
            line: 1,
        }
    }

    /// The line of the first byte at or after `offset` that is not a line
    /// break (where a record reported at `offset` really starts).
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.cursor {
            self.cursor = 0;
            self.line = 1;
        }
        let newlines = self.bytes[self.cursor..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines as u64;
        self.cursor = start;
        self.line
    }
}

/// Converts a csv error into a [`DataError::Parse`] (records of the wrong
/// length) or a [`DataError::Csv`] naming the line.
fn csv_error(origin: &str, error: csv::Error, bytes: &[u8]) -> DataError {
    let line = error
        .position()
        .map_or(0, |position| LineIndex::new(bytes).line_at(position.byte()));
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DataError::parse(
            origin,
            line,
            format!("record has {len} fields but the header has {expected_len}"),
        ),
        _ => DataError::Csv {
            origin: origin.to_owned(),
            line,
            source: error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(columns: &'static [&'static str]) -> CsvSpec<'static> {
        CsvSpec {
            delimiter: b',',
            quoting: true,
            encoding: TextEncoding::Utf8,
            columns,
        }
    }

    fn collect(input: &[u8], spec: &CsvSpec<'_>) -> Result<Vec<(u64, Vec<String>)>> {
        let mut rows = Vec::new();
        read_columns(input, "in.csv", spec, |line, fields| {
            rows.push((line, fields));
            Ok(())
        })?;
        Ok(rows)
    }

    #[test]
    fn picks_columns_in_requested_order_with_lines() {
        let rows = collect(
            b"\xef\xbb\xbfid,label,text\n1,pos,\"multi\nline, \"\"quoted\"\"\"\n2,neg,plain\n",
            &spec(&["text", "label"]),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1, vec!["multi\nline, \"quoted\"", "pos"]);
        assert_eq!(rows[1].0, 4);
    }

    #[test]
    fn lines_are_right_with_crlf_and_blank_lines() {
        let rows = collect(
            b"text,label\r\na,1\r\n\r\n\"b\r\nc\",2\r\nd,3",
            &spec(&["text", "label"]),
        )
        .unwrap();
        let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, vec![2, 4, 6]);
        let err = collect(b"text,label\r\na,1\r\n\r\nb\r\n", &spec(&["text"])).unwrap_err();
        assert!(err.to_string().starts_with("in.csv:4:"), "{err}");
    }

    #[test]
    fn missing_column_lists_header() {
        let err = collect(b"a,b\n1,2\n", &spec(&["text"])).unwrap_err();
        assert!(
            matches!(&err, DataError::MissingColumn { available, .. } if available == &["a", "b"]),
            "{err}"
        );
    }

    #[test]
    fn ragged_record_names_line() {
        let err = collect(b"text,label\na,b\nc\n", &spec(&["text", "label"])).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("in.csv:3:"), "{message}");
        assert!(message.contains("1 fields"), "{message}");
    }

    #[test]
    fn invalid_utf8_names_line_and_latin1_decodes() {
        let input = b"text,label\nok,a\ncaf\xe9,b\n";
        let err = collect(input, &spec(&["text"])).unwrap_err();
        assert!(err.to_string().starts_with("in.csv:3:"), "{err}");
        let latin = CsvSpec {
            encoding: TextEncoding::Latin1,
            ..spec(&["text"])
        };
        let rows = collect(input, &latin).unwrap();
        assert_eq!(rows[1].1[0], "café");
    }
}
