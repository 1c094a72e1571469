//! Turning raw label strings into class indices.

use std::collections::BTreeSet;

use crate::error::{DataError, Result};

/// Largest label accepted as a numeric class index; larger integers are
/// almost certainly ids or scores, not classes.
pub const MAX_NUMERIC_LABEL: usize = 1023;

/// Maps raw labels (each with the line it came from) to class indices.
///
/// - If every label is a non-negative integer written with ASCII digits
///   (`"0"`, `"1"`, `"007"`), the integer is the class index and the classes
///   are `"0"`, `"1"`, ... up to the largest label (classes in between that
///   never occur are kept, and stay empty).
/// - Otherwise the distinct label strings, sorted by byte order, are the
///   classes (`"neg" < "pos"`, `"-1" < "1"`).
///
/// # Errors
/// [`DataError::Parse`] for a numeric label above [`MAX_NUMERIC_LABEL`]
/// when all labels are numeric.
pub(crate) fn index_labels(
    origin: &str,
    raw: &[(u64, String)],
) -> Result<(Vec<usize>, Vec<String>)> {
    let numeric: Option<Vec<usize>> = raw.iter().map(|(_, label)| parse_index(label)).collect();
    if let Some(values) = numeric {
        if let Some(((line, label), _)) = raw
            .iter()
            .zip(&values)
            .find(|&(_, &v)| v > MAX_NUMERIC_LABEL)
        {
            return Err(DataError::parse(
                origin,
                *line,
                format!(
                    "numeric label {label} is above {MAX_NUMERIC_LABEL}; numeric labels are used \
                     as class indices"
                ),
            ));
        }
        let classes = match values.iter().max() {
            Some(&max) => (0..=max).map(|i| i.to_string()).collect(),
            None => Vec::new(),
        };
        return Ok((values, classes));
    }
    let classes: Vec<String> = raw
        .iter()
        .map(|(_, label)| label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let labels = raw
        .iter()
        .map(|(_, label)| classes.binary_search(label).unwrap_or_default())
        .collect();
    Ok((labels, classes))
}

/// Parses an all-ASCII-digit label; `None` for anything else.
fn parse_index(label: &str) -> Option<usize> {
    if label.is_empty() || !label.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Overlong digit strings do not fit usize: treat them as too large.
    Some(label.parse().unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(labels: &[&str]) -> Vec<(u64, String)> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64 + 2, (*l).to_owned()))
            .collect()
    }

    #[test]
    fn strings_are_sorted() {
        let (labels, classes) = index_labels("f", &raw(&["pos", "neg", "pos", "mixed"])).unwrap();
        assert_eq!(classes, vec!["mixed", "neg", "pos"]);
        assert_eq!(labels, vec![2, 1, 2, 0]);
    }

    #[test]
    fn integers_are_indices() {
        let (labels, classes) = index_labels("f", &raw(&["1", "0", "2", "1"])).unwrap();
        assert_eq!(classes, vec!["0", "1", "2"]);
        assert_eq!(labels, vec![1, 0, 2, 1]);
    }

    #[test]
    fn signed_numbers_are_strings() {
        let (labels, classes) = index_labels("f", &raw(&["-1", "1"])).unwrap();
        assert_eq!(classes, vec!["-1", "1"]);
        assert_eq!(labels, vec![0, 1]);
    }

    #[test]
    fn huge_numeric_label_names_its_line() {
        let err = index_labels("f.csv", &raw(&["0", "99999999999999999999999"])).unwrap_err();
        assert!(err.to_string().starts_with("f.csv:3:"), "{err}");
    }
}
