//! Server-side output noise: the noise *policy* on top of `cryptotl-he`'s
//! primitives ([`Evaluator::add_slot_values`](cryptotl_he::Evaluator::add_slot_values),
//! [`Evaluator::flood`](cryptotl_he::Evaluator::flood)).
//!
//! Documented on [`OutputNoise`].

use cryptotl_he::{ClientKeys, HeParameters, Preset};
use cryptotl_quant::IntegerLayer;
use serde::{Deserialize, Serialize};

use crate::encrypted::{
    calibration_outputs, plan_with_plaintext_bits, EncryptedEvaluator, MIN_OUTPUT_BUDGET_BITS,
};
use crate::error::{GraphError, Result};
use crate::model_file::HePlan;
use crate::quantize::QuantizedGraph;

/// Probability, per response, that some slot's discrete Gaussian noise
/// exceeds the tail bound `B` (and could wrap around): `2^−40`.
pub const NOISE_FAILURE_PROBABILITY: f64 = 9.094_947_017_729_282e-13;

/// Default statistical security parameter `κ` of noise flooding: the
/// response's noise is within statistical distance `2^−κ` of a distribution
/// that does not depend on the weights (given the noise bound, see
/// [`plan_output_noise`]).
pub const DEFAULT_FLOODING_KAPPA: u32 = 40;

/// What noise a server adds to its outputs.
///
/// Server-side output noise: the noise *policy* on top of `cryptotl-he`'s
/// primitives ([`Evaluator::add_slot_values`](cryptotl_he::Evaluator::add_slot_values),
/// [`Evaluator::flood`](cryptotl_he::Evaluator::flood)).
///
/// Two independent mechanisms, both applied to the network output *under
/// encryption* before the final modulus switch:
///
/// 1. **Discrete Gaussian noise** `N_ℤ(0, σ²)` (exact sampler of
///    `cryptotl-dp`) added to every slot of every output ciphertext — all
///    `N` slots, not only the declared samples, since the client controls
///    what every slot of its request holds. The client decrypts
///    `y + η` instead of the quantized feature `y`. With the
///    neighbouring relation "two models whose last-layer integer weights
///    differ in one entry by one quantization step (±1)", one output value
///    changes by at most `Δ = max_j |x_j|` (the bound analysis's largest
///    input to the last layer), so one response of `N` slots has ℓ2
///    sensitivity at most `Δ·√N` and is `(α, α Δ² N / (2σ²))`-RDP; `k`
///    responses compose to `k` times that (see [`NoisePlan::epsilon`]).
/// 2. **Noise flooding** with statistical parameter `κ`: see
///    [`plan_output_noise`] for how the flooding width is chosen.
///
/// # Wrap-around
/// Decryption is exact only while `|y + η| < t/2`. With the per-slot failure
/// probability `p = 2^−40 / (N · d)` ([`NOISE_FAILURE_PROBABILITY`] over the
/// `N·d` slots of a response), the tail bound
/// `B = ⌈σ √(2 ln(2/p))⌉` gives `P[∃ slot: |η| > B] ≤ 2^−40` per response; the
/// plan refuses parameters unless `2 (max|y| + B) < t` for the output layer,
/// naming it. Inside the network nothing changes (the noise is added after
/// the last layer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OutputNoise {
    /// Standard deviation `σ` of the discrete Gaussian added to every
    /// quantized output value (`0` = none).
    pub sigma: f64,
    /// Statistical security parameter `κ` of noise flooding (`0` = no
    /// flooding).
    pub flooding_kappa: u32,
}

impl OutputNoise {
    /// Discrete Gaussian noise `σ` and flooding at
    /// [`DEFAULT_FLOODING_KAPPA`].
    pub fn new(sigma: f64) -> Self {
        Self {
            sigma,
            flooding_kappa: DEFAULT_FLOODING_KAPPA,
        }
    }
}

/// The server's noise, planned for a graph and its HE parameters: what the
/// evaluator applies and what the model card advertises.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoisePlan {
    /// Discrete Gaussian `σ` (0 = none).
    pub sigma: f64,
    /// Tail bound `B`: `P[∃ slot of a response: |η| > B] ≤ failure_probability`.
    pub tail_bound: u64,
    /// Per-response probability that the noise exceeds `B`.
    pub failure_probability: f64,
    /// ℓ2 sensitivity of one output value when one last-layer integer weight
    /// changes by ±1: `Δ = max_j |x_j|` over the last layer's inputs.
    pub sensitivity: u64,
    /// Slots per response (`N`): the sensitivity of a response is `Δ·√N`.
    pub slots: usize,
    /// Flooding security parameter `κ` (0 = no flooding).
    pub flooding_kappa: u32,
    /// `log2` of the flooding width (coefficients uniform in
    /// `[−2^flood_bits, 2^flood_bits]`); 0 without flooding.
    pub flood_bits: u32,
    /// `log2` of the evaluation-noise bound `E` the flooding width covers
    /// (the noise measured at planning time plus a margin of
    /// [`MIN_OUTPUT_BUDGET_BITS`] bits).
    pub noise_bound_bits: u32,
    /// Output level with the noise (flooding costs noise budget, so it may
    /// be shallower than without).
    pub output_level: usize,
}

impl NoisePlan {
    /// Whether discrete Gaussian noise is added.
    pub fn has_noise(&self) -> bool {
        self.sigma > 0.0
    }

    /// Whether responses are flooded.
    pub fn has_flooding(&self) -> bool {
        self.flooding_kappa > 0
    }

    /// `ε` at `δ` after `responses` responses, each the discrete Gaussian
    /// mechanism with ℓ2 sensitivity `Δ·√N` and noise `σ`, composed in RDP
    /// ([`cryptotl_dp::discrete_gaussian_epsilon`]). Neighbouring models
    /// differ in one last-layer integer weight by ±1.
    ///
    /// # Errors
    /// No noise (`σ = 0`), or invalid `δ`.
    pub fn epsilon(&self, responses: u64, delta: f64) -> Result<f64> {
        if !self.has_noise() {
            return Err(GraphError::InvalidInput(
                "no output noise: the outputs are not differentially private".into(),
            ));
        }
        let sens = (self.sensitivity.max(1) as f64) * (self.slots as f64).sqrt();
        cryptotl_dp::discrete_gaussian_epsilon(sens, self.sigma, responses, delta).map_err(
            |source| GraphError::Dp {
                context: "privacy accounting",
                source,
            },
        )
    }
}

/// `⌈log2 x⌉` for `x ≥ 1`.
fn ceil_log2(x: u128) -> u32 {
    if x <= 1 {
        0
    } else {
        u128::BITS - (x - 1).leading_zeros()
    }
}

/// Checks that the output values plus noise of magnitude `tail_bound` fit
/// the plaintext modulus: `2 (max|y| + B) < t`.
///
/// # Errors
/// [`GraphError::NoiseDoesNotFit`] naming the output layer.
pub(crate) fn check_noise_fits(graph: &QuantizedGraph, t: u64, tail_bound: u64) -> Result<()> {
    let bounds = graph.bounds()?;
    let out = bounds.output();
    let fits = out
        .max_abs
        .checked_add(u128::from(tail_bound))
        .and_then(|v| v.checked_mul(2))
        .is_some_and(|v| v < u128::from(t));
    if fits {
        Ok(())
    } else {
        Err(GraphError::NoiseDoesNotFit {
            layer: out.name.clone(),
            bound: out.max_abs,
            noise_bound: tail_bound,
            modulus: t,
        })
    }
}

/// Plans the server's output noise for `graph` under its HE `plan`.
///
/// * Discrete Gaussian: `B = tail_bound(σ, 2^−40 / (N·d))`; refuses unless
///   `2 (max|y| + B) < t` for the output layer.
/// * Flooding: a calibration run (throwaway keys, inputs at the extremes of
///   the input range, the largest rows of the last layer) measures the
///   evaluation noise at level 0; `E = 2^(measured + 16)` (the same 16-bit
///   margin as [`MIN_OUTPUT_BUDGET_BITS`]), and the flooding width is
///   `2^flood_bits` with `flood_bits = κ + ⌈log2(N · d)⌉ + log2 E`, so that
///   the smudging bound `d · N · E / 2^(flood_bits+1)` (per response
///   of `d` ciphertexts of `N` coefficients, each coefficient's flooding
///   term uniform on `2^(flood_bits+1)` integers) is `≤ 2^−κ`: the
///   response's noise is then within statistical distance `2^−κ` of the
///   flooding distribution alone, which does not depend on the weights;
///   the ciphertext mask is re-randomized by the fresh public-key
///   encryption of zero (computationally, under RLWE). Refuses when flooding
///   would leave less than [`MIN_OUTPUT_BUDGET_BITS`] of budget at level 0.
///   The output level is then re-chosen on the flooded calibration outputs
///   (deepest level keeping [`MIN_OUTPUT_BUDGET_BITS`]).
///
/// The noise bound `E` is measured, not proven: like the output level of
/// [`crate::plan`], it relies on the calibration inputs being worst cases
/// up to the 16-bit margin.
///
/// # Errors
/// As described, plus HE errors and an invalid `σ` (negative, not finite,
/// above `2^20`).
pub fn plan_output_noise(
    graph: &QuantizedGraph,
    plan: &HePlan,
    noise: &OutputNoise,
) -> Result<NoisePlan> {
    let params = HeParameters::new(&plan.params)?;
    let n = params.degree();
    let d = graph.output_dim();
    let t = params.plaintext_modulus();
    if !(noise.sigma.is_finite() && noise.sigma >= 0.0) {
        return Err(GraphError::InvalidInput(format!(
            "output noise sigma must be finite and >= 0, got {}",
            noise.sigma
        )));
    }
    let (tail_bound, failure_probability) = if noise.sigma > 0.0 {
        let p = NOISE_FAILURE_PROBABILITY / (n * d) as f64;
        let b = cryptotl_dp::discrete_gaussian_tail_bound(noise.sigma, p).map_err(|source| {
            GraphError::Dp {
                context: "output noise",
                source,
            }
        })?;
        check_noise_fits(graph, t, b)?;
        (b, NOISE_FAILURE_PROBABILITY)
    } else {
        (0, 0.0)
    };
    let bounds = graph.bounds()?;
    let sensitivity = match graph.layers.last().map(|l| &l.layer) {
        Some(IntegerLayer::Linear(_)) => {
            let k = bounds.layers.len();
            let prev = if k >= 2 {
                &bounds.layers[k - 2]
            } else {
                &bounds.input
            };
            u64::try_from(prev.max_abs.max(1)).unwrap_or(u64::MAX)
        }
        _ => 1,
    };
    let mut out = NoisePlan {
        sigma: noise.sigma,
        tail_bound,
        failure_probability,
        sensitivity,
        slots: n,
        flooding_kappa: noise.flooding_kappa,
        flood_bits: 0,
        noise_bound_bits: 0,
        output_level: plan.output_level,
    };
    if noise.flooding_kappa == 0 {
        return Ok(out);
    }
    let client = ClientKeys::generate(&params);
    let keys = client
        .evaluation_keys()?
        .with_public_key(client.public_key())?;
    let evaluator = EncryptedEvaluator::new(graph, keys, 0)?;
    let calib = calibration_outputs(&evaluator, &client)?;
    let room = params.log_q_at_level(0) - params.plaintext_bits() - 1;
    let measured = room - client.noise_budget(&calib)?;
    let noise_bound_bits = measured + MIN_OUTPUT_BUDGET_BITS;
    // d·N·E / 2^(flood_bits+1) ≤ 2^−κ.
    let flood_bits = noise.flooding_kappa + ceil_log2((n as u128) * d as u128) + noise_bound_bits;
    if flood_bits > cryptotl_he::MAX_FLOOD_BITS || flood_bits + 1 + MIN_OUTPUT_BUDGET_BITS > room {
        return Err(GraphError::InvalidGraph(format!(
            "flooding at kappa = {} needs 2^{flood_bits} of noise room on top of a {}-bit margin; \
             level 0 has 2^{room} (use the larger preset or a smaller kappa)",
            noise.flooding_kappa, MIN_OUTPUT_BUDGET_BITS
        )));
    }
    let mut rng = rand::rng();
    let flooded = evaluator.he().flood(&calib, flood_bits, &mut rng)?;
    let mut output_level = 0;
    for level in 1..=params.max_level() {
        let switched = evaluator.he().switch_to_level(&flooded, level)?;
        if client.noise_budget(&switched)? < MIN_OUTPUT_BUDGET_BITS {
            break;
        }
        output_level = level;
    }
    out.flood_bits = flood_bits;
    out.noise_bound_bits = noise_bound_bits;
    out.output_level = output_level;
    Ok(out)
}

/// Plans HE parameters *and* output noise together: the plaintext modulus
/// gets enough bits for the output bound plus the noise's tail bound
/// (`2 (max|y| + B) < t` for every prime `t ≥ 2^(bits−1)`), then
/// [`plan_output_noise`] runs on that plan.
///
/// # Errors
/// As [`crate::plan`] and [`plan_output_noise`].
pub fn plan_with_output_noise(
    graph: &QuantizedGraph,
    preset: Preset,
    noise: &OutputNoise,
) -> Result<(HePlan, NoisePlan)> {
    let mut min_bits = 0;
    if noise.sigma > 0.0 {
        // The per-slot failure probability depends on N; the tail bound only
        // grows with it, so use the preset's N.
        let p = NOISE_FAILURE_PROBABILITY / (preset.degree() * graph.output_dim()) as f64;
        let b = cryptotl_dp::discrete_gaussian_tail_bound(noise.sigma, p).map_err(|source| {
            GraphError::Dp {
                context: "output noise",
                source,
            }
        })?;
        let m = graph
            .bounds()?
            .output()
            .max_abs
            .saturating_add(u128::from(b))
            .saturating_mul(2);
        min_bits = (u128::BITS - m.leading_zeros()) + 1;
    }
    let plan = plan_with_plaintext_bits(graph, preset, min_bits)?;
    let noise_plan = plan_output_noise(graph, &plan, noise)?;
    Ok((plan, noise_plan))
}
