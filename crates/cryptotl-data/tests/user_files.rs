//! The user-data loaders: CSV, TSV and JSON Lines.

use std::io::Cursor;

use cryptotl_data::{
    load_file, read_csv, read_jsonl, write_csv, write_jsonl, CsvOptions, DataError, JsonlOptions,
    TextEncoding,
};

fn csv(input: &str) -> Result<cryptotl_data::Dataset, DataError> {
    read_csv(input.as_bytes(), "in.csv", &CsvOptions::default())
}

#[test]
fn csv_with_quotes_extra_columns_and_string_labels() {
    let d = csv("id,text,label,score\n\
                 1,\"Hello, \"\"world\"\"\",pos,0.5\n\
                 2,\"two\nlines\",neg,1\n\
                 3,plain,mixed,2\n")
    .unwrap();
    assert_eq!(d.classes(), &["mixed", "neg", "pos"]);
    assert_eq!(d.labels(), &[2, 1, 0]);
    assert_eq!(d.texts()[0], "Hello, \"world\"");
    assert_eq!(d.texts()[1], "two\nlines");
    assert_eq!(d.family(), None);
}

#[test]
fn csv_numeric_labels_are_indices() {
    let d = csv("text,label\na,2\nb,0\nc,2\n").unwrap();
    assert_eq!(d.classes(), &["0", "1", "2"]);
    assert_eq!(d.labels(), &[2, 0, 2]);
    assert_eq!(d.class_counts(), vec![1, 0, 2]);
}

#[test]
fn csv_custom_columns_delimiter_and_encoding() {
    let options = CsvOptions {
        text_column: "review".into(),
        label_column: "stars".into(),
        delimiter: b';',
        encoding: TextEncoding::Latin1,
    };
    let d = read_csv(&b"stars;review\n5;tr\xe8s bien\n1;nul\n"[..], "x", &options).unwrap();
    assert_eq!(d.texts(), &["très bien".to_owned(), "nul".to_owned()]);
    assert_eq!(d.classes().len(), 6);
}

#[test]
fn csv_errors_name_the_line() {
    let cases = [
        ("text,label\na,x\n\"b\nc\",y\n   ,z\n", ":5: empty text"),
        ("text,label\na,x\nb,\n", ":3: empty label"),
        ("text,label\na,x\nb,y,z\n", ":3: record has 3 fields"),
        ("text,label\n", "no data rows"),
    ];
    for (input, expected) in cases {
        let err = csv(input).unwrap_err().to_string();
        assert!(err.contains(expected), "{input:?}: {err}");
        assert!(err.starts_with("in.csv"), "{err}");
    }
    let err = csv("txt,label\na,b\n").unwrap_err();
    assert!(
        matches!(&err, DataError::MissingColumn { column, .. } if column == "text"),
        "{err}"
    );
    let err = csv("").unwrap_err();
    assert!(matches!(
        err,
        DataError::Parse { .. } | DataError::MissingColumn { .. }
    ));
}

#[test]
fn jsonl_accepts_string_and_integer_labels() {
    let input = "{\"text\": \"good\", \"label\": \"pos\"}\n\n{\"text\": \"bad\", \"label\": \"neg\", \"id\": 3}\n";
    let d = read_jsonl(input.as_bytes(), "in.jsonl", &JsonlOptions::default()).unwrap();
    assert_eq!(d.classes(), &["neg", "pos"]);
    assert_eq!(d.labels(), &[1, 0]);
    let d = read_jsonl(
        "{\"text\":\"a\",\"label\":1}\n{\"text\":\"b\",\"label\":0}\n".as_bytes(),
        "n",
        &JsonlOptions::default(),
    )
    .unwrap();
    assert_eq!(d.labels(), &[1, 0]);
}

#[test]
fn jsonl_errors_name_the_line() {
    let cases = [
        (
            "{\"text\":\"a\",\"label\":\"x\"}\n{oops}\n",
            ":2: invalid JSON",
        ),
        ("[1,2]\n", ":1: line is not a JSON object"),
        ("{\"label\":\"x\"}\n", ":1: missing field \"text\""),
        ("{\"text\":\"a\"}\n", ":1: missing field \"label\""),
        (
            "{\"text\":3,\"label\":\"x\"}\n",
            ":1: field \"text\" must be a string",
        ),
        (
            "{\"text\":\"a\",\"label\":-1}\n",
            ":1: field \"label\" must be a string or",
        ),
        ("{\"text\":\"a\",\"label\":true}\n", "found a boolean"),
        ("\n{\"text\":\" \",\"label\":\"x\"}\n", ":2: empty text"),
    ];
    for (input, expected) in cases {
        let err = read_jsonl(input.as_bytes(), "in.jsonl", &JsonlOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{input:?}: {err}");
    }
}

#[test]
fn writers_round_trip_through_loaders() {
    let d = csv("text,label\n\"a, \"\"b\"\"\nc\",pos\nplain,neg\n").unwrap();
    let mut buffer = Vec::new();
    write_csv(&d, &mut buffer, &CsvOptions::default()).unwrap();
    let back = read_csv(Cursor::new(&buffer), "back", &CsvOptions::default()).unwrap();
    assert_eq!(back.texts(), d.texts());
    assert_eq!(back.labels(), d.labels());

    let mut buffer = Vec::new();
    write_jsonl(&d, &mut buffer, &JsonlOptions::default()).unwrap();
    let back = read_jsonl(Cursor::new(&buffer), "back", &JsonlOptions::default()).unwrap();
    assert_eq!(back.texts(), d.texts());
    assert_eq!(back.classes(), d.classes());
}

#[test]
fn load_file_dispatches_on_extension() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = dir.path().join("reviews.tsv");
    std::fs::write(&tsv, "label\ttext\npos\tgreat, really\n").unwrap();
    let d = load_file(&tsv).unwrap();
    assert_eq!(d.name(), "reviews");
    assert_eq!(d.texts(), &["great, really".to_owned()]);
    let jsonl = dir.path().join("x.jsonl");
    std::fs::write(&jsonl, "{\"text\":\"t\",\"label\":\"l\"}\n").unwrap();
    assert_eq!(load_file(&jsonl).unwrap().len(), 1);
    let err = load_file(&dir.path().join("x.parquet")).unwrap_err();
    assert!(matches!(err, DataError::InvalidArgument(_)), "{err}");
    let err = load_file(&dir.path().join("missing.csv")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}
