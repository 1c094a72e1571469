//! The labeled text data set type.

use crate::error::{DataError, Result};

/// A labeled text data set: one class index per text.
///
/// The invariants (as many labels as texts, every label below
/// `classes.len()`, at least one class, distinct class names) are checked on
/// construction, so every `Dataset` value is consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    name: String,
    texts: Vec<String>,
    labels: Vec<usize>,
    classes: Vec<String>,
    family: Option<String>,
}

impl Dataset {
    /// Builds a data set after checking its invariants.
    ///
    /// # Errors
    /// [`DataError::InvalidDataset`] when `texts` and `labels` differ in
    /// length, a label is not below `classes.len()`, `classes` is empty or
    /// holds a name twice.
    pub fn new(
        name: impl Into<String>,
        texts: Vec<String>,
        labels: Vec<usize>,
        classes: Vec<String>,
    ) -> Result<Self> {
        let name = name.into();
        let invalid = |message: String| DataError::InvalidDataset {
            name: name.clone(),
            message,
        };
        if texts.len() != labels.len() {
            return Err(invalid(format!(
                "{} texts but {} labels",
                texts.len(),
                labels.len()
            )));
        }
        if classes.is_empty() {
            return Err(invalid("no classes".to_owned()));
        }
        let mut sorted: Vec<&String> = classes.iter().collect();
        sorted.sort();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(invalid(format!("class {:?} listed twice", pair[0])));
        }
        if let Some((row, &label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &label)| label >= classes.len())
        {
            return Err(invalid(format!(
                "row {row} has label {label} but there are only {} classes",
                classes.len()
            )));
        }
        Ok(Dataset {
            name,
            texts,
            labels,
            classes,
            family: None,
        })
    }

    /// Returns the data set with its provenance family set (see
    /// [`crate::check_disjoint_provenance`]).
    #[must_use]
    pub fn with_family(mut self, family: Option<String>) -> Self {
        self.family = family;
        self
    }

    /// Returns the data set renamed.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The data-set name (a catalog name such as `uci-imdb`, or the file name
    /// for user data; splits append `/train`, `/test`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The texts, in data-set order.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// The class index of each text.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The class names; label `i` means `classes()[i]`.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The provenance family, when known (catalog data sets always have one).
    pub fn family(&self) -> Option<&str> {
        self.family.as_deref()
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether the data set has no examples.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Number of examples per class, indexed like [`Dataset::classes`].
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }

    /// The `(text, label)` pairs in data-set order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.texts
            .iter()
            .map(String::as_str)
            .zip(self.labels.iter().copied())
    }

    /// The name of the class of row `row`, if the row exists.
    pub fn class_name_of(&self, row: usize) -> Option<&str> {
        self.labels
            .get(row)
            .map(|&label| self.classes[label].as_str())
    }

    /// A new data set with the rows at `rows` (in that order), keeping the
    /// name, classes and family.
    ///
    /// # Errors
    /// [`DataError::InvalidArgument`] when a row index is out of range.
    pub fn select(&self, rows: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = rows.iter().find(|&&row| row >= self.len()) {
            return Err(DataError::InvalidArgument(format!(
                "row {bad} out of range for {} rows",
                self.len()
            )));
        }
        Ok(self.select_unchecked(rows))
    }

    /// [`Dataset::select`] for indices known to be in range.
    pub(crate) fn select_unchecked(&self, rows: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            texts: rows.iter().map(|&row| self.texts[row].clone()).collect(),
            labels: rows.iter().map(|&row| self.labels[row]).collect(),
            classes: self.classes.clone(),
            family: self.family.clone(),
        }
    }

    /// Replaces the texts (same length, same order); used by cleaning.
    pub(crate) fn map_texts(mut self, f: impl Fn(&str) -> String) -> Dataset {
        for text in &mut self.texts {
            *text = f(text);
        }
        self
    }

    /// Takes the data set apart: `(name, texts, labels, classes, family)`.
    pub fn into_parts(self) -> (String, Vec<String>, Vec<usize>, Vec<String>, Option<String>) {
        (
            self.name,
            self.texts,
            self.labels,
            self.classes,
            self.family,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn rejects_length_mismatch() {
        let err = Dataset::new("d", strings(&["a", "b"]), vec![0], strings(&["x"])).unwrap_err();
        assert!(err.to_string().contains("2 texts but 1 labels"), "{err}");
    }

    #[test]
    fn rejects_label_out_of_range() {
        let err = Dataset::new("d", strings(&["a"]), vec![2], strings(&["x", "y"])).unwrap_err();
        assert!(err.to_string().contains("label 2"), "{err}");
    }

    #[test]
    fn rejects_duplicate_or_missing_classes() {
        assert!(Dataset::new("d", vec![], vec![], vec![]).is_err());
        assert!(Dataset::new("d", vec![], vec![], strings(&["x", "x"])).is_err());
    }

    #[test]
    fn counts_classes_and_selects_rows() {
        let d = Dataset::new(
            "d",
            strings(&["a", "b", "c"]),
            vec![1, 0, 1],
            strings(&["neg", "pos"]),
        )
        .unwrap();
        assert_eq!(d.class_counts(), vec![1, 2]);
        assert_eq!(d.class_name_of(1), Some("neg"));
        let picked = d.select(&[2, 1]).unwrap();
        assert_eq!(picked.texts(), strings(&["c", "b"]).as_slice());
        assert_eq!(picked.labels(), &[1, 0]);
        assert!(d.select(&[3]).is_err());
    }
}
