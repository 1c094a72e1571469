//! The encrypted evaluator: a [`QuantizedGraph`] run on BFV ciphertexts with
//! `cryptotl-he`, bit-exact against [`QuantizedGraph::evaluate_integer`].
//!
//! Documented on [`EncryptedEvaluator`].

use std::sync::Arc;

use cryptotl_dp::DiscreteGaussian;
use cryptotl_he::{ClientKeys, EncryptedBatch, EvaluationKeys, Evaluator, HeParameters, Preset};
use cryptotl_quant::{InputQuantizer, IntegerLayer, WeightQuantization};
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use crate::error::{GraphError, Result};
use crate::graph::Graph;
use crate::model_file::HePlan;
use crate::output_noise::{check_noise_fits, NoisePlan};
use crate::quantize::QuantizedGraph;

/// Noise budget (bits) the output must keep after modulus switching, as
/// measured at planning time. Noise after switching is dominated by a
/// rounding term that does not depend on the data; 16 bits leave a margin of
/// a factor 65 536 on top of the measured noise.
pub const MIN_OUTPUT_BUDGET_BITS: u32 = 16;

/// Output ciphertexts whose noise is measured during calibration.
const CALIBRATION_ROWS: usize = 8;

/// Smallest plaintext modulus size a plan uses (tiny networks get this).
const MIN_PLAINTEXT_BITS: u32 = 20;

/// Runs a quantized graph on encrypted batches. Holds no secret.
///
/// Samples are packed one per slot ([`cryptotl_he::EncryptedBatch`]), so every layer
/// acts on a whole batch at once:
///
/// - a dense layer is [`Evaluator::weighted_sums`] with the integer weights
///   and a plaintext bias,
/// - an activation is [`Evaluator::polynomials`] with each neuron's integer
///   coefficients (one ciphertext multiplication for a quadratic),
/// - finally the features are switched down to [`HePlan::output_level`] so
///   that responses are small.
///
/// [`plan`] chooses the parameters for a graph: the plaintext modulus from the
/// interval bound analysis (so evaluation can never wrap around) and the
/// output level from a calibration run with a throwaway key.
///
/// The graph is held behind an [`Arc`]: evaluators made with
/// [`EncryptedEvaluator::shared`] or [`EncryptedEvaluator::from_shared_plan`]
/// for many clients share one copy of the weights, and each costs only its
/// keys.
#[derive(Debug, Clone)]
pub struct EncryptedEvaluator {
    graph: Arc<QuantizedGraph>,
    evaluator: Evaluator,
    output_level: usize,
    noise: Option<NoisePlan>,
}

impl EncryptedEvaluator {
    /// Prepares encrypted evaluation of `graph` with the client's evaluation
    /// keys, switching outputs down to `output_level`.
    ///
    /// # Errors
    /// Refuses a plaintext modulus too small for the graph's bound analysis
    /// (the error names the first layer that could wrap around), graphs that
    /// need more than one ciphertext multiplication or a square after the
    /// first layer's level, and an output level beyond the parameters.
    pub fn new(graph: &QuantizedGraph, keys: EvaluationKeys, output_level: usize) -> Result<Self> {
        Self::shared(Arc::new(graph.clone()), keys, output_level)
    }

    /// [`EncryptedEvaluator::new`] on a shared graph: the evaluator keeps a
    /// reference to `graph` instead of a copy.
    ///
    /// # Errors
    /// As [`EncryptedEvaluator::new`].
    pub fn shared(
        graph: Arc<QuantizedGraph>,
        keys: EvaluationKeys,
        output_level: usize,
    ) -> Result<Self> {
        graph.validate()?;
        let params = keys.params().clone();
        graph.check_plaintext_modulus(params.plaintext_modulus())?;
        let depth = graph.multiplicative_depth();
        if depth > 1 {
            return Err(GraphError::InvalidGraph(format!(
                "the graph needs {depth} ciphertext multiplications; encrypted evaluation \
                 supports one (fuse linear layers and use a single quadratic activation)"
            )));
        }
        if output_level > params.max_level() {
            return Err(GraphError::InvalidInput(format!(
                "output level {output_level} exceeds the parameters' deepest level {}",
                params.max_level()
            )));
        }
        Ok(Self {
            graph,
            evaluator: Evaluator::with_keys(keys),
            output_level,
            noise: None,
        })
    }

    /// Adds the server's output noise ([`OutputNoise`](crate::OutputNoise)) to every
    /// evaluation: discrete Gaussian noise on the outputs and/or flooding,
    /// then the switch to the plan's output level.
    ///
    /// # Errors
    /// [`GraphError::NoiseDoesNotFit`] if the noise's tail bound does not fit
    /// the plaintext modulus next to the output bound; a missing public key
    /// when the plan floods; an output level beyond the parameters.
    pub fn with_output_noise(mut self, plan: &NoisePlan) -> Result<Self> {
        let params = self.evaluator.params();
        if plan.has_noise() {
            DiscreteGaussian::new(plan.sigma).map_err(|source| GraphError::Dp {
                context: "output noise",
                source,
            })?;
            check_noise_fits(&self.graph, params.plaintext_modulus(), plan.tail_bound)?;
        }
        if plan.output_level > params.max_level() {
            return Err(GraphError::InvalidInput(format!(
                "output level {} exceeds the parameters' deepest level {}",
                plan.output_level,
                params.max_level()
            )));
        }
        if plan.has_flooding() && self.evaluator.keys().and_then(|k| k.public_key()).is_none() {
            return Err(GraphError::He(cryptotl_he::HeError::MissingKey(
                "public key (the server floods its responses; the client must send it)",
            )));
        }
        self.output_level = plan.output_level;
        self.noise = Some(*plan);
        Ok(self)
    }

    /// The output noise in use, if any.
    pub fn output_noise(&self) -> Option<&NoisePlan> {
        self.noise.as_ref()
    }

    /// The HE evaluator (for planning).
    pub(crate) fn he(&self) -> &Evaluator {
        &self.evaluator
    }

    /// Prepares encrypted evaluation following a stored [`HePlan`]; the keys
    /// must belong to the plan's parameters.
    pub fn from_plan(graph: &QuantizedGraph, plan: &HePlan, keys: EvaluationKeys) -> Result<Self> {
        Self::from_shared_plan(Arc::new(graph.clone()), plan, keys)
    }

    /// [`EncryptedEvaluator::from_plan`] on a shared graph (no copy of the
    /// weights).
    ///
    /// # Errors
    /// Keys for other parameters than the plan's, and as
    /// [`EncryptedEvaluator::new`].
    pub fn from_shared_plan(
        graph: Arc<QuantizedGraph>,
        plan: &HePlan,
        keys: EvaluationKeys,
    ) -> Result<Self> {
        if keys.params().spec() != &plan.params {
            return Err(GraphError::InvalidInput(
                "the evaluation keys were made for other HE parameters than the model's plan"
                    .into(),
            ));
        }
        Self::shared(graph, keys, plan.output_level)
    }

    /// The parameters in use.
    pub fn params(&self) -> &HeParameters {
        self.evaluator.params()
    }

    /// The graph being evaluated.
    pub fn graph(&self) -> &QuantizedGraph {
        &self.graph
    }

    /// The shared graph (compare with [`Arc::ptr_eq`] to check that two
    /// evaluators share one copy).
    pub fn shared_graph(&self) -> &Arc<QuantizedGraph> {
        &self.graph
    }

    /// Evaluates the graph on a fresh batch of encrypted quantized inputs and
    /// returns the encrypted integer outputs at the output level — with the
    /// output noise, if configured, drawn from a ChaCha20 generator seeded
    /// from the operating system.
    pub fn evaluate(&self, batch: &EncryptedBatch) -> Result<EncryptedBatch> {
        if self.noise.is_some() {
            return self.evaluate_with_rng(batch, &mut ChaCha20Rng::from_os_rng());
        }
        let mut x = self.evaluate_unswitched(batch)?;
        if x.level() != self.output_level {
            x = self.evaluator.switch_to_level(&x, self.output_level)?;
        }
        Ok(x)
    }

    /// [`EncryptedEvaluator::evaluate`] with the noise drawn from `rng`
    /// (discrete Gaussian noise first, [`EncryptedEvaluator::draw_output_noise`],
    /// then the flooding seeds). A seeded `rng` is for tests: anyone who
    /// knows the seed can remove the noise.
    pub fn evaluate_with_rng<R: RngCore + CryptoRng>(
        &self,
        batch: &EncryptedBatch,
        rng: &mut R,
    ) -> Result<EncryptedBatch> {
        let noise = self.draw_output_noise(rng)?;
        self.evaluate_with_noise(batch, noise.as_deref(), rng)
    }

    /// Draws the discrete Gaussian output noise of one response: for every
    /// output ciphertext, `N` independent samples of `N_ℤ(0, σ²)` (one per
    /// slot), from one ChaCha20 seed per ciphertext drawn from `rng` in
    /// order. `None` without discrete Gaussian noise.
    pub fn draw_output_noise<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
    ) -> Result<Option<Vec<Vec<i64>>>> {
        let Some(plan) = self.noise.filter(NoisePlan::has_noise) else {
            return Ok(None);
        };
        let dg = DiscreteGaussian::new(plan.sigma).map_err(|source| GraphError::Dp {
            context: "output noise",
            source,
        })?;
        let n = self.evaluator.params().degree();
        let seeds: Vec<[u8; 32]> = (0..self.graph.output_dim())
            .map(|_| {
                let mut s = [0u8; 32];
                rng.fill_bytes(&mut s);
                s
            })
            .collect();
        Ok(Some(
            seeds
                .par_iter()
                .map(|s| dg.sample_vec(n, &mut ChaCha20Rng::from_seed(*s)))
                .collect(),
        ))
    }

    /// Evaluates, adds the given per-slot `noise` (one vector of at most `N`
    /// values per output) to the outputs, floods if the noise plan says so
    /// (seeds from `rng`) and switches to the output level. The caller
    /// guarantees that `noise` stays within the plan's tail bound (values
    /// beyond it are refused, as they could wrap around).
    pub fn evaluate_with_noise<R: RngCore + CryptoRng>(
        &self,
        batch: &EncryptedBatch,
        noise: Option<&[Vec<i64>]>,
        rng: &mut R,
    ) -> Result<EncryptedBatch> {
        let mut x = self.evaluate_unswitched(batch)?;
        if let Some(noise) = noise {
            let bound = self.noise.map_or(0, |p| p.tail_bound);
            if noise.iter().flatten().any(|v| v.unsigned_abs() > bound) {
                return Err(GraphError::InvalidInput(format!(
                    "output noise beyond the tail bound {bound} could wrap around"
                )));
            }
            x = self.evaluator.add_slot_values(&x, noise)?;
        }
        if let Some(plan) = self.noise.filter(NoisePlan::has_flooding) {
            x = self.evaluator.flood(&x, plan.flood_bits, rng)?;
        }
        if x.level() != self.output_level {
            x = self.evaluator.switch_to_level(&x, self.output_level)?;
        }
        Ok(x)
    }

    /// Evaluates the layers without the final modulus switch (for noise
    /// calibration).
    fn evaluate_unswitched(&self, batch: &EncryptedBatch) -> Result<EncryptedBatch> {
        if batch.features() != self.graph.input_dim() {
            return Err(GraphError::InvalidInput(format!(
                "the batch holds {} features per sample, the model expects {}",
                batch.features(),
                self.graph.input_dim()
            )));
        }
        if batch.level() != 0 {
            return Err(GraphError::InvalidInput(
                "inputs must be fresh ciphertexts (level 0)".into(),
            ));
        }
        let mut x = batch.clone();
        for layer in &self.graph.layers {
            x = match &layer.layer {
                IntegerLayer::Linear(l) => {
                    self.evaluator
                        .weighted_sums(&x, &l.weights, l.rows, Some(&l.bias))?
                }
                IntegerLayer::Polynomial(p) => self.evaluator.polynomials(&x, &p.coefficients)?,
            };
        }
        Ok(x)
    }
}

/// Chooses HE parameters and the output level for `graph` at a preset.
///
/// 1. The interval bound analysis gives the largest `|value|` at any layer;
///    the plaintext modulus gets enough bits that no value can wrap around.
/// 2. [`HeParameters::for_plaintext_bits`] picks 128-bit-secure moduli.
/// 3. A calibration run with a throwaway key encrypts inputs at the extremes
///    of the input range, evaluates the graph and measures the noise budget
///    at every level; the output level is the deepest (smallest responses)
///    that keeps [`MIN_OUTPUT_BUDGET_BITS`].
///
/// # Errors
/// If the graph's values need more than 61 bits, or if no level keeps the
/// required budget (the network is too deep or too wide for the preset).
pub fn plan(graph: &QuantizedGraph, preset: Preset) -> Result<HePlan> {
    plan_with_plaintext_bits(graph, preset, 0)
}

/// [`plan`] with a plaintext modulus of at least `min_bits` bits (for
/// headroom above the bound analysis, e.g. for output noise).
pub(crate) fn plan_with_plaintext_bits(
    graph: &QuantizedGraph,
    preset: Preset,
    min_bits: u32,
) -> Result<HePlan> {
    let bits = graph
        .bounds()?
        .required_plaintext_bits()
        .max(MIN_PLAINTEXT_BITS)
        .max(min_bits);
    let params = HeParameters::for_plaintext_bits(preset, bits)?;
    let client = ClientKeys::generate(&params);
    let evaluator = EncryptedEvaluator::new(graph, client.evaluation_keys()?, 0)?;
    let out = calibration_outputs(&evaluator, &client)?;
    if client.noise_budget(&out)? < MIN_OUTPUT_BUDGET_BITS {
        return Err(GraphError::InvalidGraph(format!(
            "the network exhausts the noise budget at {preset} (t of {bits} bits); \
             use the larger preset or smaller bit widths"
        )));
    }
    let mut output_level = 0;
    for level in 1..=params.max_level() {
        let switched = evaluator.evaluator.switch_to_level(&out, level)?;
        if client.noise_budget(&switched)? < MIN_OUTPUT_BUDGET_BITS {
            break;
        }
        output_level = level;
    }
    Ok(HePlan {
        params: params.spec().clone(),
        output_level,
    })
}

/// The calibration outputs of [`plan`]: the graph evaluated (unswitched) on
/// inputs at the extremes of the input range (all-minimum, all-maximum,
/// alternating) under `client`'s keys, restricted to the
/// [`CALIBRATION_ROWS`] largest rows of a final linear layer.
pub(crate) fn calibration_outputs(
    evaluator: &EncryptedEvaluator,
    client: &ClientKeys,
) -> Result<EncryptedBatch> {
    let graph = &evaluator.graph;
    let d = graph.input_dim();
    let hi = graph.input.max_level();
    // Extreme inputs: all-minimum, all-maximum and alternating.
    let samples: Vec<Vec<i64>> = vec![
        vec![0; d],
        vec![hi; d],
        (0..d).map(|j| if j % 2 == 0 { hi } else { 0 }).collect(),
    ];
    let enc = client.encrypt_batch(&samples)?;
    let out = evaluator.evaluate_unswitched(&enc)?;
    // Noise grows with a linear layer's row L1 norm: measuring the outputs
    // of the largest rows covers the worst case and keeps calibration fast.
    let out = match graph.layers.last().map(|l| &l.layer) {
        Some(IntegerLayer::Linear(l)) => {
            let mut rows: Vec<(u64, usize)> = (0..l.rows)
                .map(|i| {
                    let row = &l.weights[i * l.cols..(i + 1) * l.cols];
                    (row.iter().map(|w| w.unsigned_abs()).sum::<u64>(), i)
                })
                .collect();
            rows.sort_unstable_by(|a, b| b.cmp(a));
            let worst: Vec<usize> = rows.iter().take(CALIBRATION_ROWS).map(|r| r.1).collect();
            out.select(&worst)?
        }
        _ => out,
    };
    Ok(out)
}

/// Quantizes `graph` (fusing it first) with the bit widths the bound
/// analysis allows at `preset` that minimize the stated float-vs-quantized
/// error bound: input bits `b_x` and weight bits `b_w` in `2..=8` (weights
/// per output channel) whose required plaintext modulus fits the preset's
/// largest, and among those the smallest worst-case output error over the
/// fitted input range. The input quantizer is fitted on `training_inputs`.
/// Returns the graph and `(b_x, b_w)`.
///
/// # Errors
/// If even 2-bit inputs and weights need too large a plaintext modulus, or if
/// fitting or quantization fails.
pub fn widest_quantization(
    graph: &Graph,
    training_inputs: &[Vec<f32>],
    preset: Preset,
) -> Result<(QuantizedGraph, u32, u32)> {
    let fused = graph.fused()?;
    let max_bits = HeParameters::max_plaintext_bits(preset);
    let mut best: Option<(f64, QuantizedGraph, u32, u32)> = None;
    for bx in 2..=8u32 {
        let input = InputQuantizer::fit(training_inputs, bx)?;
        for bw in 2..=8u32 {
            let scheme = WeightQuantization::per_output_channel(bw)?;
            let q = QuantizedGraph::from_fused(&fused, input.clone(), &scheme)?;
            if q.bounds()?.required_plaintext_bits() > max_bits {
                // Wider weights only need more bits.
                break;
            }
            let err = q.error_bound_fitted(&fused)?.max_output_error();
            if best.as_ref().is_none_or(|(e, ..)| err < *e) {
                best = Some((err, q, bx, bw));
            }
        }
    }
    best.map(|(_, q, bx, bw)| (q, bx, bw)).ok_or_else(|| {
        GraphError::InvalidGraph(format!(
            "even 2-bit inputs and weights need a plaintext modulus above {max_bits} bits at {preset}"
        ))
    })
}
