//! Learning curves as SVG: accuracy (%) against labels per class, one line
//! per method, each point a mean ± standard deviation over seeded draws.
//!
//! The drawing is done by `plotters`' SVG backend, which writes `<text>`
//! elements and needs no fonts: the layout uses a fixed estimate of the text
//! widths, the viewer picks the actual (sans-serif) font.
//!
//! The picture: the title on top; the x axis (labels per class) on a log
//! scale, ticked at the data's x values (ticks that would collide with a
//! neighbour's label are left out, the largest x value always kept); the y
//! axis from a little below the lowest `mean − std` to a little above the
//! highest `mean + std`, within `[0, 100]`; one coloured line per method
//! with markers and vertical error bars (± std), the methods' points dodged
//! a little sideways so that bars at the same x don't hide each other; the
//! legend to the right of the chart, so that it never covers the data.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Smallest image width and height accepted by [`CurvePlot::to_svg`], in pixels.
const MIN_PLOT_SIZE: (u32, u32) = (320, 240);
/// Largest image width and height accepted by [`CurvePlot::to_svg`], in pixels.
const MAX_PLOT_SIZE: u32 = 16_384;

/// Range of x values (labels per class) a [`CurvePoint`] may have.
const X_RANGE: (f64, f64) = (1e-6, 1e12);

/// One method's curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveSeries {
    /// The method's name, shown in the legend.
    pub name: String,
    /// The curve's points, in any order (they are drawn sorted by x).
    pub points: Vec<CurvePoint>,
}

impl CurveSeries {
    /// A series named `name` with `points`.
    pub fn new(name: impl Into<String>, points: Vec<CurvePoint>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// One point: x = labels per class (> 0), mean and standard deviation of
/// accuracy in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Labels per class (the "all" point at its actual per-class count);
    /// finite, in `[1e-6, 1e12]`.
    pub x: f64,
    /// Mean accuracy over the draws, in percent: finite, in `[0, 100]`.
    pub mean: f64,
    /// Standard deviation of the accuracy over the draws, in percentage
    /// points: finite, `>= 0`.
    pub std: f64,
}

impl CurvePoint {
    /// The point `(x, mean ± std)`.
    pub fn new(x: f64, mean: f64, std: f64) -> Self {
        Self { x, mean, std }
    }
}

/// A plot: title, axis labels, series.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePlot {
    /// Shown centred above the chart (nothing when empty).
    pub title: String,
    /// The x axis' description, e.g. "labels per class".
    pub x_label: String,
    /// The y axis' description, e.g. "accuracy (%)".
    pub y_label: String,
    /// One curve per method, drawn and listed in the legend in this order.
    pub series: Vec<CurveSeries>,
}

/// Plot errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The plot has no series.
    #[error("the plot has no series")]
    NoSeries,
    /// A series has no points.
    #[error("series {series:?} has no points")]
    EmptySeries {
        /// The series' name.
        series: String,
    },
    /// A point has a NaN or infinite value.
    #[error("series {series:?}, point {index}: {field} is {value}, not a finite number")]
    NonFinite {
        /// The series' name.
        series: String,
        /// The point's index in the series.
        index: usize,
        /// `"x"`, `"mean"` or `"std"`.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// A point has a finite value outside what it may be (x outside
    /// `[1e-6, 1e12]`, a mean outside `[0, 100]`, a negative std).
    #[error("series {series:?}, point {index}: {field} = {value} is outside [{min}, {max}]")]
    OutOfRange {
        /// The series' name.
        series: String,
        /// The point's index in the series.
        index: usize,
        /// `"x"`, `"mean"` or `"std"`.
        field: &'static str,
        /// The value.
        value: f64,
        /// The smallest value allowed.
        min: f64,
        /// The largest value allowed.
        max: f64,
    },
    /// The image size is too small to lay the chart out, or absurdly large.
    #[error(
        "image size {width}x{height} is outside {}x{}..={MAX_PLOT_SIZE}x{MAX_PLOT_SIZE} pixels",
        MIN_PLOT_SIZE.0,
        MIN_PLOT_SIZE.1
    )]
    InvalidSize {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// The plotting backend failed.
    #[error("rendering the plot failed")]
    Render {
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// Writing the SVG file failed.
    #[error("cannot write the plot to {}", path.display())]
    Io {
        /// The file that was to be written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

fn render_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> PlotError {
    PlotError::Render {
        source: Box::new(error),
    }
}

impl CurvePlot {
    /// The SVG document (width × height pixels).
    ///
    /// Deterministic: the same plot and size give the same bytes.
    ///
    /// # Errors
    ///
    /// [`PlotError::NoSeries`], [`PlotError::EmptySeries`],
    /// [`PlotError::NonFinite`] or [`PlotError::OutOfRange`] for invalid
    /// data, [`PlotError::InvalidSize`] for a size outside 320×240 to
    /// 16384×16384, [`PlotError::Render`] if the backend fails.
    pub fn to_svg(&self, width: u32, height: u32) -> Result<String, PlotError> {
        if width < MIN_PLOT_SIZE.0
            || height < MIN_PLOT_SIZE.1
            || width > MAX_PLOT_SIZE
            || height > MAX_PLOT_SIZE
        {
            return Err(PlotError::InvalidSize { width, height });
        }
        self.validate()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            self.draw(&root, width)?;
            root.present().map_err(render_error)?;
        }
        Ok(svg)
    }

    /// Writes the SVG to `path` (atomically: temp file in the same
    /// directory, then rename).
    ///
    /// # Errors
    ///
    /// Those of [`CurvePlot::to_svg`], and [`PlotError::Io`] when the file
    /// cannot be written (the temporary file is then removed).
    pub fn write_svg(&self, path: &Path, width: u32, height: u32) -> Result<(), PlotError> {
        let svg = self.to_svg(width, height)?;
        write_atomically(path, svg.as_bytes()).map_err(|source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    fn validate(&self) -> Result<(), PlotError> {
        if self.series.is_empty() {
            return Err(PlotError::NoSeries);
        }
        for series in &self.series {
            if series.points.is_empty() {
                return Err(PlotError::EmptySeries {
                    series: series.name.clone(),
                });
            }
            for (index, point) in series.points.iter().enumerate() {
                let fields = [
                    ("x", point.x, X_RANGE.0, X_RANGE.1),
                    ("mean", point.mean, 0.0, 100.0),
                    ("std", point.std, 0.0, f64::INFINITY),
                ];
                for (field, value, min, max) in fields {
                    if !value.is_finite() {
                        return Err(PlotError::NonFinite {
                            series: series.name.clone(),
                            index,
                            field,
                            value,
                        });
                    }
                    if !(min..=max).contains(&value) {
                        return Err(PlotError::OutOfRange {
                            series: series.name.clone(),
                            index,
                            field,
                            value,
                            min,
                            max,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Draws the validated plot on `root`, `width` pixels wide.
    fn draw<DB>(&self, root: &DrawingArea<DB, Shift>, width: u32) -> Result<(), PlotError>
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(render_error)?;
        let area = if self.title.is_empty() {
            root.clone()
        } else {
            root.titled(
                &self.title,
                (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
            )
            .map_err(render_error)?
        };

        // The legend: a column right of the chart when it fits in 2/5 of
        // the width, else rows below the chart.
        let legend_font = TextStyle::from((FONT, LEGEND_SIZE).into_font());
        let mut name_width = 0;
        for series in &self.series {
            let (w, _) = root
                .estimate_text_size(&series.name, &legend_font)
                .map_err(render_error)?;
            name_width = name_width.max(w);
        }
        let (chart_area, legend_area, legend) = self.split_for_legend(&area, width, name_width);

        let x = XAxis::new(&self.series);
        let (y_lo, y_hi) = y_range(&self.series);

        // Ticks at the data's x values, thinned where the labels would collide.
        let tick_font = TextStyle::from((FONT, TICK_SIZE).into_font());
        let mut labels = Vec::with_capacity(x.values.len());
        for &value in &x.values {
            let label = format_x(value);
            let (w, _) = root
                .estimate_text_size(&label, &tick_font)
                .map_err(render_error)?;
            labels.push((value, w));
        }
        let (chart_width, chart_height) = chart_area.dim_in_pixel();
        let axis_pixels = f64::from((chart_width as i32 - 2 * CHART_MARGIN - Y_LABEL_AREA).max(1));
        let y_labels = ((chart_height as i32 - 2 * CHART_MARGIN - X_LABEL_AREA) / 24).clamp(3, 11);
        let ticks = thin_ticks(&labels, |v| x.fraction(v) * axis_pixels);

        let mut chart = ChartBuilder::on(&chart_area)
            .margin(CHART_MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d((x.lo..x.hi).log_scale().with_key_points(ticks), y_lo..y_hi)
            .map_err(render_error)?;

        let y_decimals = if y_hi - y_lo > 10.0 { 0 } else { 1 };
        let x_formatter = |v: &f64| format_x(*v);
        let y_formatter = |v: &f64| format!("{v:.y_decimals$}");
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&x_formatter)
            .y_label_formatter(&y_formatter)
            .y_labels(y_labels as usize)
            .label_style((FONT, TICK_SIZE))
            .axis_desc_style((FONT, AXIS_DESC_SIZE))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .max_light_lines(4)
            .draw()
            .map_err(render_error)?;

        let dodge = x.dodge_step(self.series.len());
        let centre = (self.series.len() as f64 - 1.0) / 2.0;
        for (i, series) in self.series.iter().enumerate() {
            let look = Look::of(i);
            let shift = (dodge * (i as f64 - centre)).exp();
            let mut points = series.points.clone();
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            let at = |p: &CurvePoint| p.x * shift;

            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (at(p), p.mean)),
                    look.color.stroke_width(LINE_WIDTH),
                ))
                .map_err(render_error)?;
            // Error bars: mean ± std, cut at the chart's edges (no cap where
            // cut).
            let bar_style = look.color.stroke_width(1);
            let bars = points.iter().filter(|p| p.std > 0.0).map(|p| {
                let (lo, hi) = (p.mean - p.std, p.mean + p.std);
                PathElement::new(
                    vec![(at(p), lo.max(y_lo)), (at(p), hi.min(y_hi))],
                    bar_style,
                )
            });
            chart.draw_series(bars).map_err(render_error)?;
            let cap = ERROR_CAP;
            let caps = points.iter().filter(|p| p.std > 0.0).flat_map(|p| {
                [p.mean - p.std, p.mean + p.std]
                    .into_iter()
                    .filter(|y| (y_lo..=y_hi).contains(y))
                    .map(move |y| {
                        EmptyElement::at((at(p), y))
                            + PathElement::new(vec![(-cap, 0), (cap, 0)], bar_style)
                    })
            });
            chart.draw_series(caps).map_err(render_error)?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| EmptyElement::at((at(p), p.mean)) + look.marker((0, 0))),
                )
                .map_err(render_error)?;
        }

        legend.draw(&legend_area, &self.series, &legend_font)
    }

    /// Splits `area` into the chart's and the legend's, the longest name
    /// being `name_width` pixels wide.
    fn split_for_legend<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        width: u32,
        name_width: u32,
    ) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>, Legend) {
        let n = self.series.len() as i32;
        let entry_width = LEGEND_SAMPLE + 3 * LEGEND_PAD + name_width.min(100_000) as i32;
        let (area_width, area_height) = area.dim_in_pixel();
        let (area_width, area_height) = (area_width as i32, area_height as i32);
        let row_height = |available: i32, rows: i32| {
            LEGEND_ROW
                .min((available - 2 * LEGEND_PAD) / rows)
                .max(LEGEND_MIN_ROW)
        };
        let column_width = entry_width + LEGEND_PAD;
        if column_width <= width as i32 * 2 / 5 {
            let (chart, legend_area) = area.split_horizontally(area_width - column_width);
            let available = area_height - 2 * CHART_MARGIN - X_LABEL_AREA;
            let legend = Legend {
                left: 0,
                top: CHART_MARGIN,
                columns: 1,
                entry_width,
                row_height: row_height(available, n),
            };
            (chart, legend_area, legend)
        } else {
            let columns = ((area_width - 2 * CHART_MARGIN) / entry_width).clamp(1, n);
            let rows = (n + columns - 1) / columns;
            let row_height = row_height(area_height / 2, rows);
            let legend_height = rows * row_height + 2 * LEGEND_PAD + CHART_MARGIN;
            let (chart, legend_area) = area.split_vertically(area_height - legend_height);
            let legend = Legend {
                left: ((area_width - columns * entry_width) / 2).max(0),
                top: 0,
                columns,
                entry_width,
                row_height,
            };
            (chart, legend_area, legend)
        }
    }
}

/// Where the legend's entries go in its area, in pixels: a grid of
/// `columns`, filled row by row, inside a thin frame.
#[derive(Debug, Clone, Copy)]
struct Legend {
    left: i32,
    top: i32,
    columns: i32,
    entry_width: i32,
    row_height: i32,
}

impl Legend {
    /// Draws one entry per series (line, marker, name).
    fn draw<DB>(
        &self,
        area: &DrawingArea<DB, Shift>,
        series: &[CurveSeries],
        font: &TextStyle<'_>,
    ) -> Result<(), PlotError>
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
    {
        let rows = (series.len() as i32 + self.columns - 1) / self.columns;
        let columns = self.columns.min(series.len() as i32);
        let right = self.left + columns * self.entry_width;
        let bottom = self.top + 2 * LEGEND_PAD + rows * self.row_height;
        area.draw(&Rectangle::new(
            [(self.left, self.top), (right, bottom)],
            BLACK.mix(0.3).stroke_width(1),
        ))
        .map_err(render_error)?;
        let text_style = font.color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, series) in series.iter().enumerate() {
            let look = Look::of(i);
            let (row, column) = (i as i32 / self.columns, i as i32 % self.columns);
            let x = self.left + LEGEND_PAD + column * self.entry_width;
            let y = self.top + LEGEND_PAD + self.row_height / 2 + row * self.row_height;
            let entry = EmptyElement::at((x, y))
                + PathElement::new(
                    vec![(0, 0), (LEGEND_SAMPLE, 0)],
                    look.color.stroke_width(LINE_WIDTH),
                )
                + look.marker((LEGEND_SAMPLE / 2, 0))
                + Text::new(
                    series.name.clone(),
                    (LEGEND_SAMPLE + LEGEND_PAD, 0),
                    text_style.clone(),
                );
            area.draw(&entry).map_err(render_error)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Layout and style
// ---------------------------------------------------------------------------

const FONT: &str = "sans-serif";
const TITLE_SIZE: f64 = 24.0;
const AXIS_DESC_SIZE: f64 = 18.0;
const TICK_SIZE: f64 = 15.0;
const LEGEND_SIZE: f64 = 16.0;
const CHART_MARGIN: i32 = 12;
const X_LABEL_AREA: i32 = 50;
const Y_LABEL_AREA: i32 = 60;
const LEGEND_SAMPLE: i32 = 28;
const LEGEND_PAD: i32 = 8;
const LEGEND_ROW: i32 = 22;
const LEGEND_MIN_ROW: i32 = 8;
const LINE_WIDTH: u32 = 2;
const ERROR_CAP: i32 = 5;
const MARKER_SIZE: i32 = 4;

/// Twelve distinguishable colours: matplotlib's "tab10", black and a dark
/// teal; with four marker shapes cycled alongside.
const PALETTE: [RGBColor; 12] = [
    RGBColor(0x1f, 0x77, 0xb4), // blue
    RGBColor(0xff, 0x7f, 0x0e), // orange
    RGBColor(0x2c, 0xa0, 0x2c), // green
    RGBColor(0xd6, 0x27, 0x28), // red
    RGBColor(0x94, 0x67, 0xbd), // purple
    RGBColor(0x8c, 0x56, 0x4b), // brown
    RGBColor(0xe3, 0x77, 0xc2), // pink
    RGBColor(0x7f, 0x7f, 0x7f), // grey
    RGBColor(0xbc, 0xbd, 0x22), // olive
    RGBColor(0x17, 0xbe, 0xcf), // cyan
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0x00, 0x5f, 0x5f), // dark teal
];

/// How series `i` is drawn: its colour and marker shape.
struct Look {
    color: RGBColor,
    shape: usize,
}

impl Look {
    fn of(i: usize) -> Self {
        Self {
            color: PALETTE[i % PALETTE.len()],
            // Past the palette the shapes shift, so no two of the first 48
            // series look the same.
            shape: (i + i / PALETTE.len()) % 4,
        }
    }

    /// The marker, centred on `(x, y)` in pixels.
    fn marker<DB: DrawingBackend>(
        &self,
        (x, y): (i32, i32),
    ) -> DynElement<'static, DB, (i32, i32)> {
        let style = self.color.filled();
        let s = MARKER_SIZE;
        let at = |points: &[(i32, i32)]| {
            points
                .iter()
                .map(|&(dx, dy)| (x + dx, y + dy))
                .collect::<Vec<_>>()
        };
        match self.shape {
            0 => Circle::new((x, y), s, style).into_dyn(),
            1 => Rectangle::new([(x - s, y - s), (x + s, y + s)], style).into_dyn(),
            2 => Polygon::new(at(&[(0, -s - 2), (s + 1, s), (-s - 1, s)]), style).into_dyn(),
            _ => Polygon::new(
                at(&[(0, -s - 1), (s + 1, 0), (0, s + 1), (-s - 1, 0)]),
                style,
            )
            .into_dyn(),
        }
    }
}

/// The log-scaled x axis: its range and the data's distinct x values.
struct XAxis {
    lo: f64,
    hi: f64,
    /// The distinct x values, ascending.
    values: Vec<f64>,
}

impl XAxis {
    fn new(series: &[CurveSeries]) -> Self {
        let mut values: Vec<f64> = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.x))
            .collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let (min, max) = (values[0], values[values.len() - 1]);
        let (lo, hi) = if max / min < 1.5 {
            (min / 2.0, max * 2.0)
        } else {
            (min / 1.35, max * 1.35)
        };
        Self { lo, hi, values }
    }

    /// Where `value` lies along the axis, 0 at `lo`, 1 at `hi`.
    fn fraction(&self, value: f64) -> f64 {
        (value / self.lo).ln() / (self.hi / self.lo).ln()
    }

    /// The sideways shift between neighbouring series, as a factor's
    /// logarithm: at most 1.2 % of the axis, and the series together span
    /// at most half the narrowest gap between x values and half the room
    /// left at either end of the axis (so every point stays on the chart).
    fn dodge_step(&self, series: usize) -> f64 {
        if series < 2 {
            return 0.0;
        }
        let axis = (self.hi / self.lo).ln();
        let end_room = (self.values[0] / self.lo).ln();
        let narrowest = self
            .values
            .windows(2)
            .map(|w| (w[1] / w[0]).ln())
            .fold(end_room, f64::min);
        (0.012 * axis).min(0.5 * narrowest / (series - 1) as f64)
    }
}

/// The y range: a little around `[min(mean − std), max(mean + std)]`, within
/// `[0, 100]`. Always non-empty for validated data.
fn y_range(series: &[CurveSeries]) -> (f64, f64) {
    let points = || series.iter().flat_map(|s| s.points.iter());
    let lo = points()
        .map(|p| p.mean - p.std)
        .fold(f64::INFINITY, f64::min);
    let hi = points()
        .map(|p| p.mean + p.std)
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = (0.05 * (hi - lo)).max(1.0);
    ((lo - pad).max(0.0), (hi + pad).min(100.0))
}

/// An x tick's label: whole numbers without decimals, others with up to
/// three significant digits.
fn format_x(value: f64) -> String {
    if value == value.round() && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let digits = (2 - value.abs().log10().floor() as i32).max(0) as usize;
        let text = format!("{value:.digits$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    }
}

/// The ticks among `labels` (value, label width in pixels; ascending) whose
/// labels don't overlap, `position` giving a value's pixel along the axis:
/// from the largest down, a tick is kept when its label clears the last one
/// kept.
fn thin_ticks(labels: &[(f64, u32)], position: impl Fn(f64) -> f64) -> Vec<f64> {
    const GAP: f64 = 6.0;
    let mut kept: Vec<(f64, u32)> = Vec::new();
    for &(value, width) in labels.iter().rev() {
        let clears = kept.last().is_none_or(|&(last, last_width)| {
            position(last) - position(value) >= f64::from(width + last_width) / 2.0 + GAP
        });
        if clears {
            kept.push((value, width));
        }
    }
    kept.into_iter().rev().map(|(value, _)| value).collect()
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// Writes `bytes` to `path` through a hidden temporary file in the same
/// directory, synced and renamed into place; removed on failure.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    loop {
        let tmp = dir.join(format!(
            ".{}.tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = match File::create_new(&tmp) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let result = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| {
                drop(file);
                fs::rename(&tmp, path)
            });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        return result;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_labels() {
        assert_eq!(format_x(8.0), "8");
        assert_eq!(format_x(1234.0), "1234");
        assert_eq!(format_x(2.5), "2.5");
        assert_eq!(format_x(0.125), "0.125");
        assert_eq!(format_x(12.345), "12.3");
    }

    #[test]
    fn colliding_ticks_are_thinned_keeping_the_largest() {
        let labels = [(8.0, 10), (16.0, 10), (250.0, 20), (256.0, 20)];
        let ticks = thin_ticks(&labels, |v: f64| v.ln() * 100.0);
        assert_eq!(ticks, vec![8.0, 16.0, 256.0]);
    }

    #[test]
    fn dodged_points_stay_on_the_axis() {
        for xs in [&[8.0, 1e6][..], &[8.0, 16.0, 256.0, 257.0], &[5.0]] {
            for n in 2..20 {
                let series: Vec<CurveSeries> = (0..n)
                    .map(|i| {
                        let points = xs.iter().map(|&x| CurvePoint::new(x, 50.0, 1.0)).collect();
                        CurveSeries::new(format!("s{i}"), points)
                    })
                    .collect();
                let axis = XAxis::new(&series);
                let half_spread = axis.dodge_step(n) * (n - 1) as f64 / 2.0;
                let (min, max) = (xs[0], xs[xs.len() - 1]);
                assert!(min / half_spread.exp() > axis.lo, "{xs:?} {n}");
                assert!(max * half_spread.exp() < axis.hi, "{xs:?} {n}");
            }
        }
    }

    #[test]
    fn y_range_is_padded_and_clamped() {
        let series = vec![CurveSeries::new(
            "a",
            vec![
                CurvePoint::new(8.0, 50.0, 5.0),
                CurvePoint::new(16.0, 99.0, 3.0),
            ],
        )];
        let (lo, hi) = y_range(&series);
        assert!((lo - (45.0 - 2.85)).abs() < 1e-9, "{lo}");
        assert_eq!(hi, 100.0);
    }
}
