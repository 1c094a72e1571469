//! Text normalization: whitespace cleanup and the de-duplication key.

/// Trims `text` and collapses every run of Unicode whitespace (spaces, tabs,
/// newlines, non-breaking spaces, ...) into one ASCII space.
///
/// ```
/// assert_eq!(cryptotl_data::collapse_whitespace("  a \t b\r\n\nc "), "a b c");
/// ```
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether `c` counts as punctuation when stripping the ends of a
/// de-duplication key: ASCII punctuation plus common typographic quotes,
/// dashes, ellipses and inverted marks.
fn is_edge_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '\u{2018}'..='\u{201F}' // ‘ ’ ‚ ‛ “ ” „ ‟
                | '\u{2010}'..='\u{2015}' // hyphens and dashes
                | '\u{2026}' // …
                | '\u{00AB}' | '\u{00BB}' // « »
                | '\u{00A1}' | '\u{00BF}' // ¡ ¿
        )
}

/// The key under which two texts count as duplicates.
///
/// The key is the text lowercased (Unicode lowercase), with whitespace
/// collapsed as in [`collapse_whitespace`], and with punctuation and
/// whitespace stripped from both ends (ASCII punctuation and typographic
/// quotes, dashes, ellipses, « » ¡ ¿). Inner punctuation is kept, so
/// `"Great movie!!"` and `"great movie."` share a key but `"great, movie"`
/// does not. A text made only of punctuation (`":)"`) keeps its collapsed
/// lowercase form as key, so it is not merged with other punctuation-only
/// texts.
///
/// ```
/// use cryptotl_data::dedup_key;
/// assert_eq!(dedup_key("  Great   MOVIE!! "), dedup_key("\"great movie.\""));
/// assert_ne!(dedup_key(":)"), dedup_key(":("));
/// ```
pub fn dedup_key(text: &str) -> String {
    let collapsed = collapse_whitespace(&text.to_lowercase());
    let stripped = collapsed.trim_matches(|c: char| is_edge_punctuation(c) || c.is_whitespace());
    if stripped.is_empty() {
        collapsed
    } else {
        stripped.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_all_whitespace_kinds() {
        assert_eq!(collapse_whitespace("\u{a0}x\u{2003}\ty\n"), "x y");
        assert_eq!(collapse_whitespace(" \n\t "), "");
    }

    #[test]
    fn key_strips_edge_punctuation_only() {
        assert_eq!(dedup_key("“Wow…”"), "wow");
        assert_eq!(dedup_key("a-b"), "a-b");
        assert_ne!(dedup_key("a, b"), dedup_key("a b"));
    }

    #[test]
    fn key_keeps_punctuation_only_texts_apart() {
        assert_eq!(dedup_key(" :) "), ":)");
        assert_ne!(dedup_key("!!"), dedup_key("?"));
    }
}
