//! Export: trained weights → float [`Graph`] → fused, quantized
//! [`QuantizedGraph`] → HE plan → [`QuantizedModel`].

use cryptotl_graph::{
    plan, widest_quantization, FloatModel, Graph, LowerNetworkParams, QuantizedGraph,
    QuantizedModel,
};
use cryptotl_he::{HeParameters, Preset};
use cryptotl_quant::{InputQuantizer, WeightQuantization};
use serde::{Deserialize, Serialize};

use crate::config::QuantBits;
use crate::error::{PretrainError, Result};

/// Where the bit widths of the exported model come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BitsSource {
    /// Given by the caller ([`PretrainConfig::bits`](crate::PretrainConfig::bits)).
    Caller,
    /// Chosen by [`widest_quantization`] for the initial network; the
    /// trained network still fits the preset with them (training and export
    /// use the same widths).
    Widest,
    /// The widths chosen for the initial network no longer fit the preset
    /// after training; the export uses what [`widest_quantization`] chooses
    /// for the trained network (QAT ran at other widths).
    WidestAfterTraining,
}

/// The exported artifacts.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The float graph (unfused), with the input quantizer and HE plan.
    pub float_model: FloatModel,
    /// The served model: the quantized graph and its HE plan.
    pub model: QuantizedModel,
    /// The bit widths of `model`.
    pub bits: QuantBits,
    /// Where `bits` come from.
    pub bits_source: BitsSource,
    /// Plaintext modulus size the bound analysis requires for `model`.
    pub plaintext_bits: u32,
}

/// The bit widths [`widest_quantization`] chooses for the lower network with
/// weights `lower` (input dimension `d`), its input quantizer fitted on
/// `train_inputs`, at `preset`.
///
/// # Errors
/// Graph errors (malformed weights, no widths fit the preset).
pub(crate) fn widest_bits(
    d: usize,
    lower: &LowerNetworkParams,
    train_inputs: &[Vec<f32>],
    preset: Preset,
) -> Result<QuantBits> {
    let graph = Graph::cryptotl_lower_with(d, lower.clone())?;
    let (_, input, weight) = widest_quantization(&graph, train_inputs, preset)?;
    Ok(QuantBits { input, weight })
}

/// Builds the float graph of `lower` (input dimension `input.dim()`) and
/// quantizes it (fused) with the input quantizer `input` (whose `bits` is
/// the input width) and `weight_bits`-bit per-output-channel weights.
///
/// # Errors
/// Graph and quantization errors.
pub(crate) fn quantize_lower(
    lower: &LowerNetworkParams,
    input: &InputQuantizer,
    weight_bits: u32,
) -> Result<(Graph, QuantizedGraph)> {
    let graph = Graph::cryptotl_lower_with(input.dim(), lower.clone())?;
    let scheme = WeightQuantization::per_output_channel(weight_bits)?;
    let q = QuantizedGraph::fuse_and_quantize(&graph, input.clone(), &scheme)?;
    Ok((graph, q))
}

/// Exports trained weights.
///
/// Quantizes with `input` and `bits.weight`; if the bound analysis then needs
/// a larger plaintext modulus than `preset` allows (or the integers do not
/// even fit `i64`), falls back to [`widest_quantization`] of the trained
/// network when `source` is not [`BitsSource::Caller`], and errors
/// otherwise. With `plan_he` the model
/// gets its HE plan ([`plan`]).
///
/// # Errors
/// [`PretrainError::PlaintextTooWide`], graph and quantization errors.
pub(crate) fn export(
    lower: &LowerNetworkParams,
    input: &InputQuantizer,
    bits: QuantBits,
    source: BitsSource,
    train_inputs: &[Vec<f32>],
    preset: Preset,
    plan_he: bool,
) -> Result<Exported> {
    let allowed = HeParameters::max_plaintext_bits(preset);
    let attempt = quantize_lower(lower, input, bits.weight).and_then(|(graph, q)| {
        let required = q.bounds()?.required_plaintext_bits();
        Ok((graph, q, required))
    });
    let (graph, q, required, bits, source) = match attempt {
        Ok((graph, q, required)) if required <= allowed => (graph, q, required, bits, source),
        Ok((_, _, required)) if source == BitsSource::Caller => {
            return Err(PretrainError::PlaintextTooWide {
                input_bits: bits.input,
                weight_bits: bits.weight,
                required,
                allowed,
            })
        }
        Err(e) if source == BitsSource::Caller => return Err(e),
        // Too wide (or not even representable): the widest widths that fit.
        _ => {
            let graph = Graph::cryptotl_lower_with(input.dim(), lower.clone())?;
            let (q, bx, bw) = widest_quantization(&graph, train_inputs, preset)?;
            let required = q.bounds()?.required_plaintext_bits();
            let bits = QuantBits {
                input: bx,
                weight: bw,
            };
            (graph, q, required, bits, BitsSource::WidestAfterTraining)
        }
    };
    let he_plan = if plan_he {
        Some(plan(&q, preset)?)
    } else {
        None
    };
    let float_model = FloatModel {
        graph,
        input: Some(q.input.clone()),
        he_plan: he_plan.clone(),
    };
    Ok(Exported {
        float_model,
        model: QuantizedModel {
            graph: q,
            he_plan,
            sources: Vec::new(),
        },
        bits,
        bits_source: source,
        plaintext_bits: required,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn setup(d: usize) -> (LowerNetworkParams, Vec<Vec<f32>>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let lower = LowerNetworkParams::random(d, &mut rng).expect("d >= 3");
        let xs = (0..50)
            .map(|_| (0..d).map(|_| rng.random_range(-0.5f32..0.5)).collect())
            .collect();
        (lower, xs)
    }

    #[test]
    fn too_wide_default_bits_fall_back_to_the_widest_that_fit() {
        let (lower, xs) = setup(16);
        let preset = Preset::N8192;
        let widest = widest_bits(16, &lower, &xs, preset).expect("fits");
        // 10 bits: representable but too wide; 16 bits: the integers
        // overflow i64 already.
        for b in [10, 16] {
            let wide = QuantBits {
                input: b,
                weight: b,
            };
            let input = InputQuantizer::fit(&xs, wide.input).expect("fits");
            let e = export(&lower, &input, wide, BitsSource::Widest, &xs, preset, false)
                .expect("falls back");
            assert_eq!(e.bits_source, BitsSource::WidestAfterTraining);
            assert_eq!(e.bits, widest);
            assert!(e.plaintext_bits <= HeParameters::max_plaintext_bits(preset));
            assert_eq!(e.model.graph.input.bits, e.bits.input);
            assert!(e.model.he_plan.is_none());
        }

        let wide = QuantBits {
            input: 10,
            weight: 10,
        };
        let input = InputQuantizer::fit(&xs, wide.input).expect("fits");

        match export(&lower, &input, wide, BitsSource::Caller, &xs, preset, false) {
            Err(PretrainError::PlaintextTooWide {
                required, allowed, ..
            }) => {
                assert!(required > allowed)
            }
            other => panic!("expected PlaintextTooWide, got {other:?}"),
        }
    }

    #[test]
    fn fitting_bits_are_kept() {
        let (lower, xs) = setup(12);
        let bits = QuantBits {
            input: 4,
            weight: 5,
        };
        let input = InputQuantizer::fit(&xs, bits.input).expect("fits");
        let e = export(
            &lower,
            &input,
            bits,
            BitsSource::Caller,
            &xs,
            Preset::N8192,
            false,
        )
        .expect("exports");
        assert_eq!((e.bits, e.bits_source), (bits, BitsSource::Caller));
        assert_eq!(e.float_model.graph.layers.len(), 5);
        assert_eq!(e.model.graph.layers.len(), 3);
        let scheme = match &e.model.graph.layers[0].layer {
            cryptotl_quant::IntegerLayer::Linear(l) => l.scheme,
            other => panic!("expected a linear layer, got {}", other.kind()),
        };
        assert_eq!(
            scheme,
            WeightQuantization::per_output_channel(5).expect("valid")
        );
    }
}
