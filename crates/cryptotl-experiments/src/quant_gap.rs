//! Where the quantized-vs-float accuracy gap of the transfer table comes
//! from (docs/results.md, "Quantization gap"): plaintext diagnostics, no
//! encryption (the encrypted features equal the quantized plaintext
//! model's bit for bit, which the transfer table checks on every run).
//!
//! For every source × target pair, on the transfer table's split and with
//! the table's pretraining and head seeds, it measures test accuracy of
//! - the table's two heads: one trained on the float lower network's
//!   features *F* and tested on *F* (the table's *Float*), one trained on
//!   the quantized model's dequantized features *Q* and tested on *Q* (the
//!   table's *Quantized* = *Encrypted*);
//! - the **float head tested on *Q*** (same head, only the features
//!   change): the quantization loss without head-training noise;
//! - the float head on the float network fed the **clamped** inputs (the
//!   input quantizer's fitted range, no rounding) and the
//!   **dequantized quantized** inputs (clamping and rounding): what the
//!   input quantization alone costs;
//! - the float head on *Q* of the same trained network re-quantized at
//!   other bit widths (plaintext only; wider widths need a larger BFV
//!   plaintext modulus than the served model);
//! - **seed ensembles**: `K` heads per feature kind (head seeds
//!   `seed + 1000 k`, `k = 0..K`; `k = 0` is the table's head), predicted
//!   probabilities averaged; float ensemble on *F* vs quantized ensemble on
//!   *Q*, and the float ensemble on *Q*.
//!
//! It also reports the relative feature error `‖Q − F‖ / ‖F‖` and the share
//! of target input coordinates outside the quantizer's fitted (source)
//! range.

use cryptotl_graph::{Graph, QuantizedGraph};
use cryptotl_he::HeParameters;
use cryptotl_head::{ConfusionMatrix, Ensemble, Head, TrainOptions};
use cryptotl_pretrain::QuantBits;
use cryptotl_quant::{InputQuantizer, WeightQuantization};

use cryptotl::pipeline::{pretrain_source, train_head, HeadSpec, Progress};
use cryptotl::Error;

use crate::transfer_table::{capped_dataset, embed_targets, plan_pairs, ExperimentOptions};

/// Settings of [`quantization_gap`] beyond the experiment's.
#[derive(Debug, Clone, PartialEq)]
pub struct GapOptions {
    /// Heads per seed ensemble (`>= 1`).
    pub ensemble: usize,
    /// Smaller ensemble sizes also reported (the first heads of the full
    /// ensembles; sizes not below `ensemble` are ignored).
    pub prefixes: Vec<usize>,
    /// Bit widths to re-quantize the trained network at (plaintext only).
    pub variants: Vec<QuantBits>,
}

impl Default for GapOptions {
    /// Five heads per ensemble (and three, as a prefix); variants (b_x, b_w) = (8, 8), (6, 12),
    /// (8, 12).
    fn default() -> Self {
        Self {
            ensemble: 5,
            prefixes: vec![3],
            variants: vec![
                QuantBits {
                    input: 8,
                    weight: 8,
                },
                QuantBits {
                    input: 6,
                    weight: 12,
                },
                QuantBits {
                    input: 8,
                    weight: 12,
                },
            ],
        }
    }
}

/// Test accuracy of the float head on one re-quantized variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VariantAccuracy {
    /// The variant's bit widths.
    pub bits: QuantBits,
    /// Float head (the table's) on the variant's dequantized features
    /// (NaN where the integer evaluation overflowed `i64`).
    pub float_head: f64,
    /// Float seed ensemble on the variant's dequantized features.
    pub float_ensemble: f64,
    /// Relative feature error `‖Q − F‖ / ‖F‖` on the test part.
    pub feature_error: f64,
    /// Plaintext modulus bits the variant would need under encryption
    /// (bound analysis; the served preset allows
    /// [`GapRow::allowed_plaintext_bits`]).
    pub plaintext_bits: u32,
}

/// The gap diagnostics of one source × target pair (one seed).
#[derive(Debug, Clone, PartialEq)]
pub struct GapRow {
    /// Source name.
    pub source: String,
    /// Target name.
    pub target: String,
    /// Test samples.
    pub test: usize,
    /// Bit widths of the served (exported) model.
    pub bits: QuantBits,
    /// Plaintext modulus bits the served model needs.
    pub plaintext_bits: u32,
    /// Largest plaintext modulus the served preset allows.
    pub allowed_plaintext_bits: u32,
    /// Share of the target's test input coordinates outside the input
    /// quantizer's fitted range (clamped by quantization).
    pub clipped: f64,
    /// Relative feature error `‖Q − F‖ / ‖F‖` on the test part.
    pub feature_error: f64,
    /// Float head on float features (the table's *Float*).
    pub float: f64,
    /// Quantized head on quantized features (the table's *Quantized*).
    pub quantized: f64,
    /// Float head on quantized features.
    pub float_head_on_quantized: f64,
    /// Float head on the float network of clamped inputs.
    pub float_head_on_clamped: f64,
    /// Float head on the float network of dequantized quantized inputs.
    pub float_head_on_input_quantized: f64,
    /// Share of test samples whose float-head prediction changes between
    /// float and quantized features.
    pub flips: f64,
    /// Float seed ensemble on float features.
    pub float_ensemble: f64,
    /// Quantized seed ensemble on quantized features.
    pub quantized_ensemble: f64,
    /// Float seed ensemble on quantized features.
    pub float_ensemble_on_quantized: f64,
    /// Smaller ensembles (the first `k` heads of the full ones), for every
    /// `k` in [`GapOptions::prefixes`] below [`GapOptions::ensemble`]:
    /// `(k, float ensemble on F, quantized ensemble on Q)`.
    pub prefix_ensembles: Vec<(usize, f64, f64)>,
    /// Re-quantized variants.
    pub variants: Vec<VariantAccuracy>,
}

/// Argmax of averaged class probabilities (ties to the lower class).
fn ensemble_predict(heads: &[Head], x: &[Vec<f32>]) -> Result<Vec<usize>, Error> {
    Ok(Ensemble::new(heads.to_vec())?.predict(x)?)
}

fn accuracy(y: &[usize], pred: &[usize], classes: usize) -> Result<f64, Error> {
    Ok(ConfusionMatrix::from_labels(y, pred, classes)?.accuracy())
}

/// `‖a − b‖ / ‖b‖` over all coordinates.
fn relative_error(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (ra, rb) in a.iter().zip(b) {
        for (&x, &y) in ra.iter().zip(rb) {
            num += (f64::from(x) - f64::from(y)).powi(2);
            den += f64::from(y).powi(2);
        }
    }
    if den > 0.0 {
        (num / den).sqrt()
    } else {
        0.0
    }
}

/// Share of coordinates outside `[min, max]` of `input`.
fn clipped_share(input: &InputQuantizer, xs: &[Vec<f32>]) -> f64 {
    let (mut out, mut all) = (0usize, 0usize);
    for x in xs {
        for (j, &v) in x.iter().enumerate() {
            all += 1;
            if v < input.min[j] || v > input.max[j] {
                out += 1;
            }
        }
    }
    out as f64 / all.max(1) as f64
}

/// Inputs clamped to the quantizer's fitted range.
fn clamped(input: &InputQuantizer, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    xs.iter()
        .map(|x| {
            x.iter()
                .enumerate()
                .map(|(j, &v)| v.clamp(input.min[j], input.max[j]))
                .collect()
        })
        .collect()
}

/// Inputs quantized and dequantized by `input`.
fn input_quantized(input: &InputQuantizer, xs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, Error> {
    xs.iter()
        .map(|x| {
            let q = input.quantize(x)?;
            Ok(input
                .dequantize(&q)?
                .into_iter()
                .map(|v| v as f32)
                .collect())
        })
        .collect()
}

/// The float graph re-quantized at `bits` (input quantizer: the served
/// model's ranges at `bits.input` bits).
fn requantized(
    graph: &Graph,
    served: &InputQuantizer,
    bits: QuantBits,
) -> Result<QuantizedGraph, Error> {
    let input = InputQuantizer::new(bits.input, served.min.clone(), served.max.clone())?;
    let scheme = WeightQuantization::per_output_channel(bits.weight)?;
    Ok(QuantizedGraph::fuse_and_quantize(graph, input, &scheme)?)
}

/// Trains `k` heads on `train` with seeds `base.seed + 1000 i`.
fn heads(
    classes: &[String],
    hidden: usize,
    base: &TrainOptions,
    k: usize,
    train: (&[Vec<f32>], &[usize]),
) -> Result<Vec<Head>, Error> {
    (0..k)
        .map(|i| {
            let options = TrainOptions {
                seed: base.seed + 1000 * i as u64,
                ..base.clone()
            };
            let spec = HeadSpec {
                hidden,
                options: &options,
                members: 1,
            };
            let (ensemble, _) = train_head(classes, spec, train, train)?;
            Ok(ensemble.members()[0].clone())
        })
        .collect()
}

/// Runs the gap diagnostics on every non-conflicting source × target pair
/// of `options` (each source pretrained once, in plaintext).
///
/// # Errors
/// Any stage's failure (fetching, embedding, pretraining, quantization,
/// training); [`Error::InvalidInput`] for an empty ensemble.
pub fn quantization_gap(
    options: &ExperimentOptions,
    gap: &GapOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<GapRow>, Error> {
    if gap.ensemble == 0 {
        return Err(Error::InvalidInput(
            "the ensemble needs at least one head".into(),
        ));
    }
    let cache = options.cache.as_path();
    let (pairs, _) = plan_pairs(&options.sources, &options.targets);
    let embedder = options.embedding_model.load(cache)?;

    let targets = embed_targets(options, &pairs, &embedder, progress)?;

    let mut rows = Vec::new();
    for &source in &options.sources {
        if !pairs.iter().any(|&(s, _)| s == source) {
            continue;
        }
        let data = capped_dataset(source, options.max_source_samples, options)?;
        let model = pretrain_source(&embedder, &data, &options.pretrain, cache, progress)?;
        let float_graph = &model.pretrained.float_model.graph;
        let served = &model.pretrained.model.graph;
        let bits = model.pretrained.report.export_bits;
        let variant_graphs: Vec<(QuantBits, QuantizedGraph, u32)> = gap
            .variants
            .iter()
            .map(|&b| {
                let g = requantized(float_graph, &served.input, b)?;
                let t = g.bounds()?.required_plaintext_bits();
                Ok((b, g, t))
            })
            .collect::<Result<_, Error>>()?;
        for &(_, target) in pairs.iter().filter(|&&(s, _)| s == source) {
            let Some(t) = targets.get(&target) else {
                continue;
            };
            progress(Progress::Stage(format!("{source} → {target}: gap")));
            let n = t.classes.len();
            let y = t.y_test.as_slice();
            let f_train = float_graph.evaluate_batch(&t.x_train)?;
            let f_test = float_graph.evaluate_batch(&t.x_test)?;
            let q_train = served.evaluate_batch(&t.x_train)?;
            let q_test = served.evaluate_batch(&t.x_test)?;
            let c_test = float_graph.evaluate_batch(&clamped(&served.input, &t.x_test))?;
            let iq_test =
                float_graph.evaluate_batch(&input_quantized(&served.input, &t.x_test)?)?;
            let train_heads = |x: &[Vec<f32>]| {
                heads(
                    &t.classes,
                    options.head_hidden,
                    &options.head,
                    gap.ensemble,
                    (x, &t.y_train),
                )
            };
            let f_heads = train_heads(&f_train)?;
            let q_heads = train_heads(&q_train)?;
            let f_head = &f_heads[0];
            let f_on_f = f_head.predict(&f_test)?;
            let f_on_q = f_head.predict(&q_test)?;
            let flips = f_on_f.iter().zip(&f_on_q).filter(|(a, b)| a != b).count() as f64
                / y.len().max(1) as f64;
            let mut variants = Vec::new();
            for (b, g, t_bits) in &variant_graphs {
                let Ok(v_test) = g.evaluate_batch(&t.x_test) else {
                    variants.push(VariantAccuracy {
                        bits: *b,
                        float_head: f64::NAN,
                        float_ensemble: f64::NAN,
                        feature_error: f64::NAN,
                        plaintext_bits: *t_bits,
                    });
                    continue;
                };
                variants.push(VariantAccuracy {
                    bits: *b,
                    float_head: accuracy(y, &f_head.predict(&v_test)?, n)?,
                    float_ensemble: accuracy(y, &ensemble_predict(&f_heads, &v_test)?, n)?,
                    feature_error: relative_error(&v_test, &f_test),
                    plaintext_bits: *t_bits,
                });
            }
            rows.push(GapRow {
                source: model.name.clone(),
                target: target.name().to_owned(),
                test: y.len(),
                bits,
                plaintext_bits: model.pretrained.report.plaintext_bits,
                allowed_plaintext_bits: HeParameters::max_plaintext_bits(options.pretrain.preset),
                clipped: clipped_share(&served.input, &t.x_test),
                feature_error: relative_error(&q_test, &f_test),
                float: accuracy(y, &f_on_f, n)?,
                quantized: accuracy(y, &q_heads[0].predict(&q_test)?, n)?,
                float_head_on_quantized: accuracy(y, &f_on_q, n)?,
                float_head_on_clamped: accuracy(y, &f_head.predict(&c_test)?, n)?,
                float_head_on_input_quantized: accuracy(y, &f_head.predict(&iq_test)?, n)?,
                flips,
                float_ensemble: accuracy(y, &ensemble_predict(&f_heads, &f_test)?, n)?,
                quantized_ensemble: accuracy(y, &ensemble_predict(&q_heads, &q_test)?, n)?,
                float_ensemble_on_quantized: accuracy(y, &ensemble_predict(&f_heads, &q_test)?, n)?,
                prefix_ensembles: gap
                    .prefixes
                    .iter()
                    .filter(|&&k| k > 0 && k < gap.ensemble)
                    .map(|&k| {
                        Ok((
                            k,
                            accuracy(y, &ensemble_predict(&f_heads[..k], &f_test)?, n)?,
                            accuracy(y, &ensemble_predict(&q_heads[..k], &q_test)?, n)?,
                        ))
                    })
                    .collect::<Result<_, Error>>()?,
                variants,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_error_clipping_and_input_quantization() {
        let f = vec![vec![3.0f32, 4.0]];
        let q = vec![vec![3.0f32, 4.5]];
        assert!((relative_error(&q, &f) - 0.1).abs() < 1e-12);
        assert_eq!(relative_error(&f, &f), 0.0);

        let input = InputQuantizer::new(2, vec![0.0, -1.0], vec![3.0, 1.0]).expect("valid");
        let xs = vec![vec![-1.0f32, 0.0], vec![1.2, 2.0]];
        assert_eq!(clipped_share(&input, &xs), 0.5);
        assert_eq!(clamped(&input, &xs), vec![vec![0.0, 0.0], vec![1.2, 1.0]]);
        // Steps 1 and 2/3: 1.2 → level 1 → 1.0; 0.0 → level 2 (1.5 rounds
        // to 2) → 1/3.
        let iq = input_quantized(&input, &xs).expect("quantizes");
        assert_eq!(iq[1][0], 1.0);
        assert!((iq[0][1] - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iq[1][1], 1.0);
    }
}
