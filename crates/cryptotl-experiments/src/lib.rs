//! cryptotl's research experiments, on top of the facade's text pipeline
//! (`cryptotl::pipeline`): what `cryptotl experiment` runs and the numbers
//! in docs/results.md come from.
//!
//! - [`transfer_table`]: every source × target pair of the catalog,
//!   CryptoTL-style: float, quantized and encrypted heads, two no-transfer
//!   baselines, by one split or by K-fold cross-validation; written as
//!   markdown ([`TransferTable::to_markdown`]),
//! - [`transfer_diagnostics`]: why transfer helps or not (train/test
//!   accuracy of each head and baseline),
//! - [`quantization_gap`]: where the quantized network loses accuracy
//!   against the float one,
//! - [`learning_curves`]: accuracy against labels per class for every
//!   client choice, `--head auto` and the baselines, with SVG plots
//!   ([`CurvePlot`]).
//!
//! The examples of this crate (`transfer_table`, `seed_sweep`, `quant_gap`,
//! `transfer_why`, `privacy_table`) run them at full size; see each one's
//! header for its command.

mod curve;
mod diagnostics;
mod plot;
mod quant_gap;
mod transfer_table;

pub use curve::{
    curves_on, draw_rows, in_domain, learning_curves, sizes_for, CurveData, CurveOptions,
    CurveTable, Method, MethodCurve, PointStats, ServerChoice, ServerCurves, ServerSpec, Size,
    TargetCurves,
};
pub use diagnostics::{transfer_diagnostics, DiagnosticRow, TrainTest};
pub use plot::{CurvePlot, CurvePoint, CurveSeries, PlotError};
pub use quant_gap::{quantization_gap, GapOptions, GapRow, VariantAccuracy};
pub use transfer_table::{
    machine_description, plan_pairs, transfer_table, utc_date, within_one_point, Baselines,
    ExperimentOptions, Scores, SkippedPair, SourceTable, TargetRow, TransferTable,
};
