//! Loading the built-in data sets from their extracted files.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::DatasetId;
use crate::clean::{clean, CleaningReport};
use crate::dataset::Dataset;
use crate::error::Result;
use crate::fetch::fetch;
use crate::sources;

/// Records of the published file that a data-set definition leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Why (e.g. `plot summary, not a review`).
    pub reason: String,
    /// How many records.
    pub count: usize,
}

/// How the published records became the rows of a built-in data set
/// (before [`clean`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    /// Records in the published file(s).
    pub raw_records: usize,
    /// Records left out, by reason.
    pub skipped: Vec<Skipped>,
    /// Rows recovered by repairing malformed records (SMS spam: messages
    /// swallowed by a mis-quoted record).
    pub recovered: usize,
    /// Rows of the loaded data set
    /// (`raw_records - skipped + recovered`).
    pub rows: usize,
}

impl SourceReport {
    /// Total number of skipped records.
    pub fn skipped_total(&self) -> usize {
        self.skipped.iter().map(|s| s.count).sum()
    }
}

/// Fetches (if needed) and loads a built-in data set, as published: rows the
/// data-set definition excludes are left out (see [`SourceReport`]), texts
/// are otherwise unchanged. Apply [`clean`] (or use [`load_clean`]) before
/// training.
///
/// # Errors
/// Whatever [`fetch`] or [`load_from_dir`] returns.
pub fn load(id: DatasetId, cache: &Path) -> Result<Dataset> {
    load_with_report(id, cache).map(|(dataset, _)| dataset)
}

/// [`load`], also returning what was left out.
///
/// # Errors
/// As [`load`].
pub fn load_with_report(id: DatasetId, cache: &Path) -> Result<(Dataset, SourceReport)> {
    let dir = fetch(id, cache)?;
    load_from_dir_with_report(id, &dir)
}

/// [`load`] followed by [`clean`].
///
/// # Errors
/// As [`load`].
pub fn load_clean(id: DatasetId, cache: &Path) -> Result<(Dataset, CleaningReport)> {
    let dataset = load(id, cache)?;
    Ok(clean(&dataset))
}

/// Loads a built-in data set from an extracted directory laid out as the
/// package archive (`dir/<path inside the archive>`, see
/// [`DatasetId::archive_paths`]), without any network access.
///
/// # Errors
/// [`DataError::Io`](crate::DataError::Io) when a file is missing,
/// [`DataError::Parse`](crate::DataError::Parse) (with the line or record)
/// when a file is malformed.
pub fn load_from_dir(id: DatasetId, dir: &Path) -> Result<Dataset> {
    load_from_dir_with_report(id, dir).map(|(dataset, _)| dataset)
}

/// [`load_from_dir`], also returning what was left out.
///
/// # Errors
/// As [`load_from_dir`].
pub fn load_from_dir_with_report(id: DatasetId, dir: &Path) -> Result<(Dataset, SourceReport)> {
    let rows = match id {
        DatasetId::RottenTomatoes => sources::rotten_tomatoes::read(dir)?,
        DatasetId::CrowdFlower => sources::crowdflower::read(dir)?,
        DatasetId::UciImdb | DatasetId::UciYelp | DatasetId::UciAmazon => {
            sources::uci::read(id, dir)?
        }
        DatasetId::VaderTweets | DatasetId::VaderAmazon => sources::vader::read(id, dir)?,
        DatasetId::SmsSpam => sources::sms_spam::read(dir)?,
        DatasetId::SpamAssassin => sources::spam_assassin::read(dir)?,
    };
    let report = rows.report();
    let classes = id.classes().iter().map(|c| (*c).to_owned()).collect();
    let dataset = Dataset::new(id.name(), rows.texts, rows.labels, classes)?
        .with_family(Some(id.family().to_owned()));
    Ok((dataset, report))
}
