//! Loaders and writers for user data: CSV/TSV with a header, and JSON Lines.
//!
//! Documented on [`load_file`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use serde_json::Value;

use crate::csv_rows::{read_columns, CsvSpec, TextEncoding};
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::label_index::index_labels;

/// Options of the CSV loader and writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Header name of the text column (default `text`).
    pub text_column: String,
    /// Header name of the label column (default `label`).
    pub label_column: String,
    /// Field delimiter (default `b','`; `b'\t'` for TSV).
    pub delimiter: u8,
    /// Character encoding of the file (default UTF-8).
    pub encoding: TextEncoding,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            text_column: "text".to_owned(),
            label_column: "label".to_owned(),
            delimiter: b',',
            encoding: TextEncoding::Utf8,
        }
    }
}

/// Options of the JSON Lines loader and writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlOptions {
    /// Key of the text (default `text`).
    pub text_field: String,
    /// Key of the label (default `label`); its value is a string or a
    /// non-negative integer.
    pub label_field: String,
}

impl Default for JsonlOptions {
    fn default() -> Self {
        JsonlOptions {
            text_field: "text".to_owned(),
            label_field: "label".to_owned(),
        }
    }
}

/// Reads a labeled CSV file with a header line.
///
/// Fields follow RFC 4180: quoted fields may hold delimiters, newlines and
/// doubled quotes. Other columns are ignored.
///
/// # Errors
/// [`DataError::MissingColumn`] when the header lacks the text or label
/// column; [`DataError::Parse`] with the line number for a record with the
/// wrong number of fields, undecodable bytes, an empty (blank) text or
/// label, or no data rows at all.
pub fn read_csv<R: Read>(reader: R, name: &str, options: &CsvOptions) -> Result<Dataset> {
    let columns = [options.text_column.as_str(), options.label_column.as_str()];
    let spec = CsvSpec {
        delimiter: options.delimiter,
        quoting: true,
        encoding: options.encoding,
        columns: &columns,
    };
    let mut texts = Vec::new();
    let mut raw_labels = Vec::new();
    read_columns(reader, name, &spec, |line, fields| {
        let [text, label] = <[String; 2]>::try_from(fields)
            .map_err(|_| DataError::parse(name, line, "internal: wrong column count"))?;
        push_row(name, line, text, label, &mut texts, &mut raw_labels)
    })?;
    build(name, texts, &raw_labels)
}

/// Reads a labeled CSV file; the data set is named after the file stem.
///
/// # Errors
/// [`DataError::Io`] when the file cannot be opened, otherwise as
/// [`read_csv`].
pub fn load_csv(path: &Path, options: &CsvOptions) -> Result<Dataset> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    read_csv(BufReader::new(file), &origin_name(path), options)
        .map(|d| d.with_name(stem_name(path)))
}

/// Writes a data set as CSV with a `text,label` header (names from
/// `options`), labels written as class names, quoting where needed.
///
/// # Errors
/// [`DataError::WriteCsv`] when writing fails.
pub fn write_csv<W: Write>(dataset: &Dataset, writer: W, options: &CsvOptions) -> Result<()> {
    let io_error = |source: csv::Error| DataError::WriteCsv {
        path: dataset.name().into(),
        source,
    };
    let mut csv = csv::WriterBuilder::new()
        .delimiter(options.delimiter)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(writer);
    csv.write_record([&options.text_column, &options.label_column])
        .map_err(io_error)?;
    for (row, text) in dataset.texts().iter().enumerate() {
        let class = dataset.class_name_of(row).unwrap_or_default();
        csv.write_record([text.as_str(), class]).map_err(io_error)?;
    }
    csv.flush().map_err(|e| DataError::io(dataset.name(), e))
}

/// Reads JSON Lines: one object per line with a text and a label.
///
/// Blank lines are skipped. A label is a JSON string or a non-negative
/// integer.
///
/// # Errors
/// [`DataError::Parse`] with the line number for invalid JSON, a line that
/// is not an object, a missing or non-string text, a missing label or one of
/// another type, an empty text or label, or no data rows at all;
/// [`DataError::Io`] when reading fails.
pub fn read_jsonl<R: Read>(reader: R, name: &str, options: &JsonlOptions) -> Result<Dataset> {
    let mut texts = Vec::new();
    let mut raw_labels = Vec::new();
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let number = index as u64 + 1;
        let line = line.map_err(|e| DataError::read(name, number, e))?;
        let line = if index == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            &line
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| DataError::json(name, number, e))?;
        let Value::Object(object) = value else {
            return Err(DataError::parse(name, number, "line is not a JSON object"));
        };
        let text = match object.get(&options.text_field) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => {
                return Err(DataError::parse(
                    name,
                    number,
                    format!(
                        "field {:?} must be a string, found {}",
                        options.text_field,
                        json_type(other)
                    ),
                ))
            }
            None => {
                return Err(DataError::parse(
                    name,
                    number,
                    format!("missing field {:?}", options.text_field),
                ))
            }
        };
        let label = match object.get(&options.label_field) {
            Some(Value::String(label)) => label.clone(),
            Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
            Some(other) => {
                return Err(DataError::parse(
                    name,
                    number,
                    format!(
                        "field {:?} must be a string or a non-negative integer, found {}",
                        options.label_field,
                        json_type(other)
                    ),
                ))
            }
            None => {
                return Err(DataError::parse(
                    name,
                    number,
                    format!("missing field {:?}", options.label_field),
                ))
            }
        };
        push_row(name, number, text, label, &mut texts, &mut raw_labels)?;
    }
    build(name, texts, &raw_labels)
}

/// Reads a JSON Lines file; the data set is named after the file stem.
///
/// # Errors
/// [`DataError::Io`] when the file cannot be opened, otherwise as
/// [`read_jsonl`].
pub fn load_jsonl(path: &Path, options: &JsonlOptions) -> Result<Dataset> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    read_jsonl(file, &origin_name(path), options).map(|d| d.with_name(stem_name(path)))
}

/// Writes a data set as JSON Lines, labels written as class names.
///
/// # Errors
/// [`DataError::Io`] when writing fails.
pub fn write_jsonl<W: Write>(
    dataset: &Dataset,
    mut writer: W,
    options: &JsonlOptions,
) -> Result<()> {
    for (row, text) in dataset.texts().iter().enumerate() {
        let mut object = serde_json::Map::new();
        object.insert(options.text_field.clone(), Value::String(text.clone()));
        let class = dataset.class_name_of(row).unwrap_or_default().to_owned();
        object.insert(options.label_field.clone(), Value::String(class));
        let line = Value::Object(object).to_string();
        writeln!(writer, "{line}").map_err(|e| DataError::io(dataset.name(), e))?;
    }
    writer.flush().map_err(|e| DataError::io(dataset.name(), e))
}

/// Loads a user file by extension with default options: `.csv` (comma),
/// `.tsv` (tab), `.jsonl` / `.ndjson` (JSON Lines).
///
/// Labels may be any strings (the classes are then the distinct labels in
/// sorted byte order, `"neg" < "pos"`) or all non-negative integers (used
/// directly as class indices, classes `"0"`, `"1"`, ... up to the largest,
/// at most [`MAX_NUMERIC_LABEL`](crate::MAX_NUMERIC_LABEL)). Texts are kept
/// as written; use [`clean`](crate::clean()) to normalize and de-duplicate.
///
/// # Errors
/// [`DataError::InvalidArgument`] for another extension, otherwise as the
/// matching loader.
pub fn load_file(path: &Path) -> Result<Dataset> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => load_csv(path, &CsvOptions::default()),
        Some("tsv") => load_csv(
            path,
            &CsvOptions {
                delimiter: b'\t',
                ..CsvOptions::default()
            },
        ),
        Some("jsonl" | "ndjson") => load_jsonl(path, &JsonlOptions::default()),
        _ => Err(DataError::InvalidArgument(format!(
            "{}: unknown extension; expected .csv, .tsv, .jsonl or .ndjson",
            path.display()
        ))),
    }
}

/// Checks and stores one row.
fn push_row(
    origin: &str,
    line: u64,
    text: String,
    label: String,
    texts: &mut Vec<String>,
    raw_labels: &mut Vec<(u64, String)>,
) -> Result<()> {
    if text.trim().is_empty() {
        return Err(DataError::parse(origin, line, "empty text"));
    }
    let label = label.trim();
    if label.is_empty() {
        return Err(DataError::parse(origin, line, "empty label"));
    }
    texts.push(text);
    raw_labels.push((line, label.to_owned()));
    Ok(())
}

/// Indexes the labels and builds the data set.
fn build(name: &str, texts: Vec<String>, raw_labels: &[(u64, String)]) -> Result<Dataset> {
    if texts.is_empty() {
        return Err(DataError::parse(name, 0, "no data rows"));
    }
    let (labels, classes) = index_labels(name, raw_labels)?;
    Dataset::new(name, texts, labels, classes)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn origin_name(path: &Path) -> String {
    path.display().to_string()
}

fn stem_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned())
}
