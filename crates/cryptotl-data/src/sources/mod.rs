//! Readers for the published file formats of the built-in data sets.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::builtin::{Skipped, SourceReport};
use crate::error::{DataError, Result};

pub(crate) mod crowdflower;
pub(crate) mod email;
pub(crate) mod rotten_tomatoes;
pub(crate) mod sms_spam;
pub(crate) mod spam_assassin;
pub(crate) mod uci;
pub(crate) mod vader;

/// Rows read from a published file, with the tally of what was left out.
#[derive(Debug, Default)]
pub(crate) struct SourceRows {
    pub texts: Vec<String>,
    pub labels: Vec<usize>,
    raw_records: usize,
    skipped: BTreeMap<&'static str, usize>,
    recovered: usize,
}

impl SourceRows {
    /// Counts one published record.
    pub(crate) fn record(&mut self) {
        self.raw_records += 1;
    }

    /// Adds a row.
    pub(crate) fn push(&mut self, text: String, label: usize) {
        self.texts.push(text);
        self.labels.push(label);
    }

    /// Adds a row recovered from inside a malformed record.
    pub(crate) fn push_recovered(&mut self, text: String, label: usize) {
        self.push(text, label);
        self.recovered += 1;
    }

    /// Leaves a record out for `reason`.
    pub(crate) fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// The report of what happened.
    pub(crate) fn report(&self) -> SourceReport {
        SourceReport {
            raw_records: self.raw_records,
            skipped: self
                .skipped
                .iter()
                .map(|(reason, &count)| Skipped {
                    reason: (*reason).to_owned(),
                    count,
                })
                .collect(),
            recovered: self.recovered,
            rows: self.texts.len(),
        }
    }
}

/// `dir/relative`, opened for buffered reading.
pub(crate) fn open(dir: &Path, relative: &str) -> Result<(PathBuf, BufReader<File>)> {
    let path = dir.join(relative);
    let file = File::open(&path).map_err(|e| DataError::io(&path, e))?;
    Ok((path, BufReader::new(file)))
}
