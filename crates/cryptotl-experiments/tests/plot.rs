//! Learning-curve SVGs: the document, its legend, determinism, invalid input
//! and the atomic file write. No network, no fonts.

use std::fs;
use std::path::PathBuf;

use cryptotl_experiments::{CurvePlot, CurvePoint, CurveSeries, PlotError};
use proptest::prelude::*;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 540;

/// Labels per class of the curves; the last one is "all" (per-class count
/// of the whole training set).
const XS: [f64; 7] = [8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1187.0];

fn curve(name: &str, start: f64, gain: f64, std: f64) -> CurveSeries {
    let points = XS
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let mean = (start + gain * (1.0 - (-(i as f64) / 2.5).exp())).min(99.0);
            CurvePoint::new(x, mean, std * (1.0 - i as f64 / 10.0))
        })
        .collect();
    CurveSeries::new(name, points)
}

fn plot() -> CurvePlot {
    CurvePlot {
        title: "sms-spam: accuracy against labels per class".into(),
        x_label: "labels per class".into(),
        y_label: "accuracy (%)".into(),
        series: vec![
            curve("CryptoTL (float head)", 72.0, 25.0, 4.0),
            curve("CryptoTL (quantized, encrypted)", 71.0, 24.5, 4.5),
            curve("head on raw embeddings", 62.0, 32.0, 6.0),
            curve("logistic regression", 66.0, 28.0, 5.0),
            curve("Tom & Jerry's <method>", 55.0, 20.0, 3.0),
        ],
    }
}

fn many_series(n: usize) -> CurvePlot {
    let series = (0..n)
        .map(|i| {
            curve(
                &format!("method {i:02}"),
                50.0 + i as f64,
                30.0,
                2.0 + i as f64 / 4.0,
            )
        })
        .collect();
    CurvePlot { series, ..plot() }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cryptotl-plot-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Text with the five XML entities escaped, as the SVG holds it.
fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A rough well-formedness check: one `<svg ...>` root closed at the end,
/// balanced open and close tags, no stray `&` or `<` in text.
fn assert_xml_ish(svg: &str) {
    let body = svg.trim();
    assert!(body.starts_with("<svg"), "{}", &body[..body.len().min(200)]);
    assert!(body.ends_with("</svg>"));
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        assert!(
            !rest[..start].contains('<') && !rest[..start].contains('>'),
            "stray markup in text"
        );
        for (i, _) in rest[..start].match_indices('&') {
            let entity = &rest[i..start];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "unescaped & in text: {entity}"
            );
        }
        let end = start + rest[start..].find('>').expect("unclosed tag");
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched close tag");
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag.split_whitespace().next().unwrap();
            stack.push(name);
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

#[test]
fn svg_document_has_the_title_axes_and_every_series_in_the_legend() {
    let plot = plot();
    let svg = plot.to_svg(WIDTH, HEIGHT).unwrap();
    assert_xml_ish(&svg);
    assert!(svg.contains("<svg"));
    assert!(svg.contains(&format!("width=\"{WIDTH}\"")));
    assert!(svg.contains(&format!("height=\"{HEIGHT}\"")));
    for text in [&plot.title, &plot.x_label, &plot.y_label] {
        assert!(svg.contains(&xml_escaped(text)), "{text} missing");
    }
    for series in &plot.series {
        assert!(
            svg.contains(&xml_escaped(&series.name)),
            "{} missing from the legend",
            series.name
        );
    }
    // The x axis is ticked at the data's x values, the "all" point included.
    for tick in [">\n8\n", ">\n16\n", ">\n64\n", ">\n256\n", ">\n1187\n"] {
        assert!(svg.contains(tick), "x tick {tick:?} missing");
    }
    // No font file or system font is referenced; text stays text.
    assert!(svg.contains("<text"));
    assert!(!svg.contains("@font-face"));
}

#[test]
fn each_series_has_its_own_colour() {
    let plot = many_series(12);
    let svg = plot.to_svg(WIDTH, HEIGHT).unwrap();
    let colours: std::collections::BTreeSet<&str> = svg
        .match_indices("stroke=\"#")
        .map(|(i, _)| &svg[i + 8..i + 15])
        .collect();
    // 12 series colours, plus the axes' and the grid's.
    assert!(colours.len() >= 12, "{colours:?}");
    for series in &plot.series {
        assert!(svg.contains(&series.name));
    }
}

#[test]
fn output_is_deterministic() {
    let plot = plot();
    let first = plot.to_svg(WIDTH, HEIGHT).unwrap();
    for _ in 0..3 {
        assert_eq!(plot.clone().to_svg(WIDTH, HEIGHT).unwrap(), first);
    }
    assert_ne!(plot.to_svg(WIDTH + 100, HEIGHT).unwrap(), first);
}

#[test]
fn unusual_but_valid_data_renders() {
    let cases = [
        // One point, no spread.
        vec![CurveSeries::new(
            "one",
            vec![CurvePoint::new(8.0, 50.0, 0.0)],
        )],
        // Perfect and zero accuracy, error bars past [0, 100].
        vec![
            CurveSeries::new(
                "top",
                vec![
                    CurvePoint::new(8.0, 100.0, 5.0),
                    CurvePoint::new(16.0, 100.0, 0.0),
                ],
            ),
            CurveSeries::new(
                "bottom",
                vec![
                    CurvePoint::new(8.0, 0.0, 0.0),
                    CurvePoint::new(16.0, 0.0, 3.0),
                ],
            ),
        ],
        // Unsorted points, fractional x, "all" right next to 256.
        vec![CurveSeries::new(
            "unsorted",
            vec![
                CurvePoint::new(260.0, 91.0, 1.0),
                CurvePoint::new(0.5, 40.0, 9.0),
                CurvePoint::new(256.0, 90.5, 1.5),
                CurvePoint::new(2.5, 60.0, 7.0),
            ],
        )],
    ];
    for series in cases {
        let plot = CurvePlot {
            title: String::new(),
            series,
            ..plot()
        };
        let svg = plot.to_svg(320, 240).unwrap();
        assert_xml_ish(&svg);
        for series in &plot.series {
            assert!(svg.contains(&series.name));
        }
    }
}

#[test]
fn invalid_input_is_an_error() {
    let no_series = CurvePlot {
        series: vec![],
        ..plot()
    };
    assert!(matches!(
        no_series.to_svg(WIDTH, HEIGHT),
        Err(PlotError::NoSeries)
    ));

    let mut empty = plot();
    empty.series[2].points.clear();
    match empty.to_svg(WIDTH, HEIGHT) {
        Err(PlotError::EmptySeries { series }) => assert_eq!(series, "head on raw embeddings"),
        other => panic!("{other:?}"),
    }

    let bad_values = [
        (f64::NAN, 50.0, 1.0, "x"),
        (8.0, f64::NAN, 1.0, "mean"),
        (8.0, 50.0, f64::NAN, "std"),
        (f64::INFINITY, 50.0, 1.0, "x"),
        (8.0, f64::NEG_INFINITY, 1.0, "mean"),
        (8.0, 50.0, f64::INFINITY, "std"),
    ];
    for (x, mean, std, field) in bad_values {
        let mut plot = plot();
        plot.series[1].points[3] = CurvePoint::new(x, mean, std);
        match plot.to_svg(WIDTH, HEIGHT) {
            Err(PlotError::NonFinite {
                series,
                index,
                field: f,
                ..
            }) => {
                assert_eq!(
                    (series.as_str(), index, f),
                    (plot.series[1].name.as_str(), 3, field)
                );
            }
            other => panic!("{x} {mean} {std}: {other:?}"),
        }
    }

    let out_of_range = [
        (0.0, 50.0, 1.0, "x"),
        (-8.0, 50.0, 1.0, "x"),
        (8.0, 100.5, 1.0, "mean"),
        (8.0, -0.1, 1.0, "mean"),
        (8.0, 50.0, -1.0, "std"),
    ];
    for (x, mean, std, field) in out_of_range {
        let mut plot = plot();
        plot.series[0].points[0] = CurvePoint::new(x, mean, std);
        let error = plot.to_svg(WIDTH, HEIGHT).unwrap_err();
        assert!(
            matches!(&error, PlotError::OutOfRange { field: f, index: 0, .. } if *f == field),
            "{error:?}"
        );
        assert!(error.to_string().contains(field), "{error}");
    }

    for (width, height) in [(0, 0), (100, 540), (900, 10), (100_000, 540)] {
        assert!(matches!(
            plot().to_svg(width, height),
            Err(PlotError::InvalidSize { .. })
        ));
    }
}

#[test]
fn write_svg_writes_the_file_and_no_temporary_one() {
    let dir = temp_dir("write");
    let path = dir.join("curve.svg");
    let plot = plot();
    plot.write_svg(&path, WIDTH, HEIGHT).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        plot.to_svg(WIDTH, HEIGHT).unwrap()
    );
    // Overwriting replaces the file.
    let smaller = many_series(2);
    smaller.write_svg(&path, WIDTH, HEIGHT).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        smaller.to_svg(WIDTH, HEIGHT).unwrap()
    );
    assert_eq!(dir_entries(&dir), vec!["curve.svg".to_string()]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_svg_failures_are_io_errors_and_leave_nothing_behind() {
    let dir = temp_dir("fail");
    // The target is a directory: the rename fails.
    let target = dir.join("taken.svg");
    fs::create_dir(&target).unwrap();
    match plot().write_svg(&target, WIDTH, HEIGHT) {
        Err(PlotError::Io { path, source }) => {
            assert_eq!(path, target);
            let chained = std::error::Error::source(&PlotError::Io {
                path: path.clone(),
                source,
            })
            .map(ToString::to_string);
            assert!(chained.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dir_entries(&dir), vec!["taken.svg".to_string()]);

    // A missing directory.
    let missing = dir.join("no-such-dir").join("curve.svg");
    assert!(matches!(
        plot().write_svg(&missing, WIDTH, HEIGHT),
        Err(PlotError::Io { .. })
    ));

    // Invalid data: nothing is written.
    let path = dir.join("never.svg");
    let invalid = CurvePlot {
        series: vec![],
        ..plot()
    };
    assert!(matches!(
        invalid.write_svg(&path, WIDTH, HEIGHT),
        Err(PlotError::NoSeries)
    ));
    assert_eq!(dir_entries(&dir), vec!["taken.svg".to_string()]);
    fs::remove_dir_all(&dir).unwrap();
}

/// Renders the sample plot to `$CRYPTOTL_PLOT_SAMPLE` (e.g.
/// /tmp/curve-sample.svg) to look at; skipped when unset.
#[test]
fn sample_plot() {
    if let Some(path) = std::env::var_os("CRYPTOTL_PLOT_SAMPLE") {
        let path = PathBuf::from(path);
        plot().write_svg(&path, WIDTH, HEIGHT).unwrap();
        let many = path.with_extension("many.svg");
        many_series(12).write_svg(&many, WIDTH, HEIGHT).unwrap();
    }
}

fn point() -> impl Strategy<Value = CurvePoint> {
    (0.01f64..1e6, 0.0f64..=100.0, 0.0f64..60.0)
        .prop_map(|(x, mean, std)| CurvePoint::new(x, mean, std))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any valid data renders, with every name, at any allowed size.
    #[test]
    fn valid_data_never_panics(
        series in prop::collection::vec(prop::collection::vec(point(), 1..8), 1..14),
        width in 320u32..2000,
        height in 240u32..1500,
    ) {
        let plot = CurvePlot {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: series
                .into_iter()
                .enumerate()
                .map(|(i, points)| CurveSeries::new(format!("s{i}"), points))
                .collect(),
        };
        let svg = plot.to_svg(width, height).unwrap();
        prop_assert!(svg.starts_with("<svg"));
        for series in &plot.series {
            let legend_text = format!(">\n{}\n", series.name);
            prop_assert!(svg.contains(&legend_text), "{} missing", series.name);
        }
    }
}
