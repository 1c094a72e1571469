//! Cleaning: whitespace normalization, empty-text removal and
//! de-duplication by [`dedup_key`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::text::{collapse_whitespace, dedup_key};

/// What [`clean`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CleaningReport {
    /// Rows before cleaning.
    pub input_rows: usize,
    /// Rows dropped because their text was empty after whitespace cleanup.
    pub empty_removed: usize,
    /// Later copies of a text already seen with the same label.
    pub duplicates_removed: usize,
    /// Distinct texts (by [`dedup_key`]) that appeared with more than one label.
    pub conflicting_texts: usize,
    /// Rows dropped because their text appeared with more than one label
    /// (every copy of such a text is dropped).
    pub conflicting_removed: usize,
    /// Rows after cleaning.
    pub output_rows: usize,
}

/// Cleans a data set.
///
/// 1. Every text is trimmed and its whitespace runs collapsed to one space
///    ([`collapse_whitespace`]).
/// 2. Rows whose text is then empty are dropped.
/// 3. Rows are grouped by [`dedup_key`] (lowercase, collapsed whitespace,
///    punctuation stripped at both ends). A group whose rows all have the
///    same label keeps its first row; a group with conflicting labels is
///    dropped entirely, since no label is trustworthy.
///
/// Row order is otherwise kept, as are the name, classes (even if one ends
/// up empty) and family. Cleaning is idempotent: cleaning a cleaned data set
/// changes nothing.
pub fn clean(dataset: &Dataset) -> (Dataset, CleaningReport) {
    let mut report = CleaningReport {
        input_rows: dataset.len(),
        ..CleaningReport::default()
    };
    let collapsed: Vec<String> = dataset
        .texts()
        .iter()
        .map(|t| collapse_whitespace(t))
        .collect();

    // Every distinct key, in order of first appearance.
    struct Group {
        first_row: usize,
        label: usize,
        rows: usize,
        conflicting: bool,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of_key: HashMap<String, usize> = HashMap::new();
    for (row, text) in collapsed.iter().enumerate() {
        if text.is_empty() {
            report.empty_removed += 1;
            continue;
        }
        let label = dataset.labels()[row];
        let key = dedup_key(text);
        match group_of_key.get(&key) {
            Some(&g) => {
                let group = &mut groups[g];
                group.rows += 1;
                group.conflicting |= group.label != label;
            }
            None => {
                group_of_key.insert(key, groups.len());
                groups.push(Group {
                    first_row: row,
                    label,
                    rows: 1,
                    conflicting: false,
                });
            }
        }
    }

    let mut keep = Vec::with_capacity(groups.len());
    for group in &groups {
        if group.conflicting {
            report.conflicting_texts += 1;
            report.conflicting_removed += group.rows;
        } else {
            report.duplicates_removed += group.rows - 1;
            keep.push(group.first_row);
        }
    }
    let cleaned = dataset
        .select_unchecked(&keep)
        .map_texts(collapse_whitespace);
    report.output_rows = cleaned.len();
    (cleaned, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(rows: &[(&str, usize)]) -> Dataset {
        Dataset::new(
            "t",
            rows.iter().map(|(t, _)| (*t).to_owned()).collect(),
            rows.iter().map(|(_, l)| *l).collect(),
            vec!["neg".to_owned(), "pos".to_owned()],
        )
        .unwrap()
    }

    #[test]
    fn drops_duplicates_conflicts_and_empties() {
        let d = dataset(&[
            ("Great  movie!", 1),
            ("great movie", 1),
            ("  ", 0),
            ("meh", 0),
            ("MEH.", 1),
            ("bad", 0),
            ("meh!", 0),
        ]);
        let (c, report) = clean(&d);
        assert_eq!(c.texts(), &["Great movie!".to_owned(), "bad".to_owned()]);
        assert_eq!(c.labels(), &[1, 0]);
        assert_eq!(
            report,
            CleaningReport {
                input_rows: 7,
                empty_removed: 1,
                duplicates_removed: 1,
                conflicting_texts: 1,
                conflicting_removed: 3,
                output_rows: 2,
            }
        );
    }

    #[test]
    fn report_adds_up() {
        let d = dataset(&[("a", 0), ("a", 0), ("a", 0), ("b", 1), ("B", 0), ("", 1)]);
        let (_, r) = clean(&d);
        assert_eq!(
            r.input_rows,
            r.output_rows + r.empty_removed + r.duplicates_removed + r.conflicting_removed
        );
    }
}
