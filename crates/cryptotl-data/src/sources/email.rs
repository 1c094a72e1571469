//! Reducing a raw RFC 822 message to its subject and body.

/// The subject header (unfolded) and the body of a raw e-mail, separated by
/// a blank line; all other headers are dropped. MIME parts, HTML and
/// transfer encodings are left as they are.
pub(crate) fn subject_and_body(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = match raw.split_once("\n\n") {
        Some((headers, body)) => (headers, body),
        None => (raw.as_str(), ""),
    };
    let mut subject: Option<String> = None;
    let mut in_subject = false;
    for line in headers.lines() {
        if line.starts_with([' ', '\t']) {
            if in_subject {
                if let Some(s) = subject.as_mut() {
                    s.push(' ');
                    s.push_str(line.trim());
                }
            }
            continue;
        }
        in_subject = false;
        if subject.is_none() {
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("subject") {
                    subject = Some(value.trim().to_owned());
                    in_subject = true;
                }
            }
        }
    }
    match subject.filter(|s| !s.is_empty()) {
        Some(subject) => format!("{subject}\n\n{body}"),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_folded_subject_and_body() {
        let raw = "From x  Thu\r\nReceived: a\r\n\tb\r\nSubject: Cheap\r\n  meds\r\nTo: y\r\n\r\nBuy now.\r\nReally.";
        assert_eq!(subject_and_body(raw), "Cheap meds\n\nBuy now.\nReally.");
    }

    #[test]
    fn no_subject_or_no_body() {
        assert_eq!(subject_and_body("To: y\n\nbody"), "body");
        assert_eq!(subject_and_body("Subject: only"), "only\n\n");
    }
}
