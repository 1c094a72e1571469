//! Property tests: splits, de-duplication, CSV round trips.

use std::collections::HashSet;

use cryptotl_data::{
    clean, dedup_key, read_csv, split, split_three_way, write_csv, CsvOptions, Dataset,
};
use proptest::prelude::*;

/// Data sets with 2-4 classes, short texts drawn from a small alphabet so
/// that duplicates (up to case, spacing and edge punctuation) are common.
fn datasets() -> impl Strategy<Value = Dataset> {
    (2usize..5).prop_flat_map(|classes| {
        prop::collection::vec(("[a-cA-C ,.!]{1,6}", 0..classes), 1..120).prop_map(move |rows| {
            let (texts, labels): (Vec<String>, Vec<usize>) = rows.into_iter().unzip();
            Dataset::new(
                "p",
                texts,
                labels,
                (0..classes).map(|c| format!("c{c}")).collect(),
            )
            .unwrap()
        })
    })
}

fn keys(d: &Dataset) -> HashSet<String> {
    d.texts().iter().map(|t| dedup_key(t)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn split_is_deterministic(d in datasets(), f in 0.05f64..0.95, seed in any::<u64>()) {
        let a = split(&d, f, seed).unwrap();
        let b = split(&d, f, seed).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn split_is_a_partition_with_no_shared_text(
        d in datasets(), f in 0.05f64..0.95, seed in any::<u64>()
    ) {
        let (train, test) = split(&d, f, seed).unwrap();
        prop_assert_eq!(train.len() + test.len(), d.len());
        prop_assert!(keys(&train).is_disjoint(&keys(&test)));
        let mut all: Vec<(String, usize)> = train
            .iter()
            .chain(test.iter())
            .map(|(t, l)| (t.to_owned(), l))
            .collect();
        let mut original: Vec<(String, usize)> =
            d.iter().map(|(t, l)| (t.to_owned(), l)).collect();
        all.sort();
        original.sort();
        prop_assert_eq!(all, original);
    }

    #[test]
    fn split_of_clean_data_is_stratified(
        d in datasets(), f in 0.05f64..0.95, seed in any::<u64>()
    ) {
        let (c, _) = clean(&d);
        let (_, test) = split(&c, f, seed).unwrap();
        for (class, (&n, &t)) in c.class_counts().iter().zip(&test.class_counts()).enumerate() {
            let expected = if n < 2 {
                0
            } else {
                ((n as f64 * f).round() as usize).clamp(1, n - 1)
            };
            prop_assert_eq!(t, expected, "class {} of {}", class, n);
        }
    }

    #[test]
    fn three_way_split_is_a_partition(d in datasets(), seed in any::<u64>()) {
        let (c, _) = clean(&d);
        let s = split_three_way(&c, 0.15, 0.2, seed).unwrap();
        prop_assert_eq!(s.train.len() + s.validation.len() + s.test.len(), c.len());
        prop_assert!(keys(&s.train).is_disjoint(&keys(&s.test)));
        prop_assert!(keys(&s.train).is_disjoint(&keys(&s.validation)));
        prop_assert!(keys(&s.validation).is_disjoint(&keys(&s.test)));
    }

    #[test]
    fn clean_is_idempotent_and_leaves_unique_keys(d in datasets()) {
        let (once, report) = clean(&d);
        let (twice, again) = clean(&once);
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(again.output_rows, again.input_rows);
        prop_assert_eq!(keys(&once).len(), once.len());
        prop_assert_eq!(
            report.input_rows,
            report.output_rows
                + report.empty_removed
                + report.duplicates_removed
                + report.conflicting_removed
        );
    }

    #[test]
    fn csv_round_trips_arbitrary_text(
        rows in prop::collection::vec(
            ("\\PC*[^\\s]\\PC*|[a-z\",\\n\\r ]*[a-z][a-z\",\\n\\r ]*", "[a-z]{1,5}"),
            1..30,
        )
    ) {
        let mut classes: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
        classes.sort();
        classes.dedup();
        let labels = rows
            .iter()
            .map(|(_, l)| classes.binary_search(l).unwrap())
            .collect();
        let texts: Vec<String> = rows.iter().map(|(t, _)| t.clone()).collect();
        let d = Dataset::new("rt", texts, labels, classes).unwrap();
        let mut buffer = Vec::new();
        write_csv(&d, &mut buffer, &CsvOptions::default()).unwrap();
        let back = read_csv(buffer.as_slice(), "rt", &CsvOptions::default()).unwrap();
        prop_assert_eq!(back.texts(), d.texts());
        prop_assert_eq!(back.classes(), d.classes());
        prop_assert_eq!(back.labels(), d.labels());
    }
}
