//! Slot-packed encrypted evaluation: one sample per ciphertext, for low
//! latency on small requests (the batch evaluator of [`crate::encrypted`]
//! costs as much for one sample as for `N`).
//!
//! Documented on [`SlotEvaluator`].

use cryptotl_he::{
    add_rotated_batch, fold_batch, transform_batch, Rotation, RotationKeys, SlotTransform,
};
use cryptotl_he::{ClientKeys, EncryptedBatch, EvaluationKeys, Evaluator, HeParameters, Preset};
use cryptotl_he::{CrtParameterSpec, CrtParameters};
use cryptotl_quant::IntegerLayer;
use rand::{CryptoRng, Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encrypted::MIN_OUTPUT_BUDGET_BITS;
use crate::error::{GraphError, Result};
use crate::packing::{CostModel, SlotOperations};
use crate::quantize::QuantizedGraph;
use crate::slot_layout::SlotLayout;

/// Ciphertext-modulus sizes of slot packing at N = 8192 (218 bits, the
/// 128-bit bound): four moduli keep key switching cheap.
pub(crate) const SLOT_MODULI_BITS_N8192: [u32; 4] = [54, 54, 55, 55];

/// Most CRT pipelines a plan may use.
pub(crate) const MAX_PIPELINES: usize = 4;

/// Smallest plaintext prime size (bits) a plan uses.
const MIN_PRIME_BITS: u32 = 17;

/// The two-lane layout joins a plan only if the cost model puts its
/// per-sample server time at least this fraction below one lane's: it
/// triples the diagonals the server keeps (at d = 384 it saves about a
/// third and joins; at d = 768 about a fifth, for ≈ 430 MB more diagonals,
/// and does not).
const MIN_PAIRED_SAVING: f64 = 0.25;

/// Everything a client needs to use slot packing with a model (advertised on
/// the model card): the CRT parameter family, the layouts and the level the
/// results come back at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotPlan {
    /// The parameter family (one member per plaintext prime).
    pub crt: CrtParameterSpec,
    /// Where one sample's values sit (one sample per ciphertext).
    pub layout: SlotLayout,
    /// The two-lane layout (two samples per ciphertext), when the plan
    /// offers it.
    #[serde(default)]
    pub paired: Option<SlotLayout>,
    /// Modulus-switching level of the results.
    pub output_level: usize,
}

impl SlotPlan {
    /// The Galois keys a client must upload: exactly the rotations the
    /// plan's layouts use.
    pub fn rotations(&self) -> Vec<Rotation> {
        let mut out: Vec<Rotation> = self.layouts().flat_map(SlotLayout::rotations).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The plan's layouts: one lane, then two lanes if offered.
    pub fn layouts(&self) -> impl Iterator<Item = &SlotLayout> {
        std::iter::once(&self.layout).chain(self.paired.as_ref())
    }

    /// Checks that the layouts are the ones their dimensions imply (one lane,
    /// and two lanes for `paired`), as [`SlotLayout::with_lanes`] derives
    /// them: a plan from the network (a model card) cannot smuggle in
    /// another data flow.
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] naming the mismatch.
    pub fn check_layouts(&self) -> Result<()> {
        let l = &self.layout;
        for (lanes, layout) in [(1, Some(l)), (2, self.paired.as_ref())] {
            let Some(layout) = layout else { continue };
            let expected =
                SlotLayout::with_lanes(l.degree, l.input_dim, l.hidden_dim, l.output_dim, lanes)?;
            if layout != &expected {
                return Err(GraphError::InvalidInput(format!(
                    "the {lanes}-lane slot layout is not the one its dimensions imply"
                )));
            }
        }
        Ok(())
    }

    /// The layout holding `lanes` samples per ciphertext, if the plan has it.
    pub fn layout_for(&self, lanes: usize) -> Option<&SlotLayout> {
        self.layouts().find(|l| l.lanes == lanes)
    }

    /// The lanes of a batch announcing `samples` samples in `ciphertexts`
    /// ciphertexts (see [`SlotEvaluator`]), if the plan has that layout.
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] for counts that match no layout of the
    /// plan.
    pub fn lanes_of(&self, samples: usize, ciphertexts: usize) -> Result<usize> {
        let lanes = if ciphertexts == 0 {
            0
        } else {
            samples.div_ceil(ciphertexts)
        };
        match self.layout_for(lanes) {
            Some(_) if samples.div_ceil(lanes) == ciphertexts => Ok(lanes),
            _ => Err(GraphError::InvalidInput(format!(
                "{samples} samples in {ciphertexts} ciphertexts match no slot layout of the \
                 model (one sample per ciphertext{})",
                if self.paired.is_some() {
                    ", or two"
                } else {
                    ""
                }
            ))),
        }
    }

    /// Number of CRT pipelines (ciphertexts per sample each way).
    pub fn pipelines(&self) -> usize {
        self.crt.plaintext_moduli.len()
    }
}

/// The integer network in the form slot packing evaluates.
#[derive(Debug, Clone)]
struct SlotNetwork {
    d: usize,
    h: usize,
    o: usize,
    w1: Vec<i64>,
    b1: Vec<i64>,
    w2: Vec<i64>,
    /// How the activation is evaluated.
    activation: Activation,
    /// `b2 + W2·C0`.
    b2: Vec<i64>,
}

impl SlotNetwork {
    fn from_graph(graph: &QuantizedGraph) -> Result<Self> {
        graph.validate()?;
        let unsupported = || {
            GraphError::InvalidGraph(
                "slot packing evaluates Dense → polynomial (degree ≤ 2) → Dense networks".into(),
            )
        };
        let [a, b, c] = graph.layers.as_slice() else {
            return Err(unsupported());
        };
        let (IntegerLayer::Linear(l1), IntegerLayer::Polynomial(p), IntegerLayer::Linear(l2)) =
            (&a.layer, &b.layer, &c.layer)
        else {
            return Err(unsupported());
        };
        let h = l1.rows;
        if p.coefficients.len() != h || l2.cols != h {
            return Err(unsupported());
        }
        let coef = |k: usize| -> Vec<i64> {
            p.coefficients
                .iter()
                .map(|c| c.get(k).copied().unwrap_or(0))
                .collect()
        };
        let (c0, c1, c2) = (coef(0), coef(1), coef(2));
        if p.coefficients.iter().any(|c| c.len() > 3) {
            return Err(unsupported());
        }
        let mut b2 = l2.bias.clone();
        for (i, b) in b2.iter_mut().enumerate() {
            let row = &l2.weights[i * h..(i + 1) * h];
            *b = row
                .iter()
                .zip(&c0)
                .fold(*b, |acc, (w, c)| acc.wrapping_add(w.wrapping_mul(*c)));
        }
        let activation = if c2.iter().all(|&v| v == 0) {
            Activation::Linear { linear: c1 }
        } else if c2.iter().all(|&v| v == 1 || v == -1) {
            let offset = c2.iter().zip(&c1).map(|(s, c)| s * c).collect();
            Activation::Product { sign: c2, offset }
        } else {
            let linear = c1.iter().any(|&v| v != 0).then_some(c1);
            Activation::TwoTerms { square: c2, linear }
        };
        Ok(Self {
            d: l1.cols,
            h,
            o: l2.rows,
            w1: l1.weights.clone(),
            b1: l1.bias.clone(),
            w2: l2.weights.clone(),
            activation,
            b2,
        })
    }
}

/// How `y = C2 ⊙ u² + C1 ⊙ u + C0` is evaluated (`C0` always goes into the
/// second layer's bias).
#[derive(Debug, Clone)]
enum Activation {
    /// Every `C2_j = ±1`: `y − C0 = s ⊙ (u ⊙ (u + s ⊙ C1))` with `s = C2`:
    /// one ciphertext product after a free plaintext addition; `s` is
    /// folded into the second layer.
    Product { sign: Vec<i64>, offset: Vec<i64> },
    /// General: the second layer runs on `u²` (scaled by `C2`) and on `u`
    /// (scaled by `C1`), sharing its giant steps.
    TwoTerms {
        square: Vec<i64>,
        linear: Option<Vec<i64>>,
    },
    /// No quadratic term: the second layer runs on `u` scaled by `C1`.
    Linear { linear: Vec<i64> },
}

/// The prepared diagonals and vectors of one CRT pipeline.
struct Pipeline {
    params: HeParameters,
    first: SlotTransform,
    hidden_bias: Vec<i64>,
    /// `s ⊙ C1` (replicated) for [`Activation::Product`].
    product_offset: Option<Vec<i64>>,
    /// Second layer on the activation's quadratic part (or the product).
    second_square: Option<SlotTransform>,
    /// Second layer on `u`.
    second_linear: Option<SlotTransform>,
    output_bias: Vec<i64>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("t", &self.params.plaintext_modulus())
            .field("first", &self.first)
            .finish_non_exhaustive()
    }
}

/// `v mod t`, centered.
fn centered(v: i64, t: u64) -> i64 {
    let t = t as i128;
    let r = (v as i128).rem_euclid(t);
    (if r > t / 2 { r - t } else { r }) as i64
}

fn reduce_all(values: &[i64], t: u64) -> Vec<i64> {
    values.iter().map(|&v| centered(v, t)).collect()
}

/// One layout's diagonals, encoded for every pipeline.
#[derive(Debug)]
struct PreparedLayout {
    layout: SlotLayout,
    pipelines: Vec<Pipeline>,
}

impl PreparedLayout {
    /// Encodes `net`'s diagonals in `layout` for every member of `crt`.
    fn new(net: &SlotNetwork, layout: &SlotLayout, crt: &CrtParameters) -> Result<Self> {
        let first = layout.first_layer(&net.w1)?;
        let (second_square, second_linear, product_offset) = match &net.activation {
            Activation::Product { sign, offset } => (
                Some(layout.second_layer(&net.w2, sign)?),
                None,
                Some(layout.hidden_vector(offset)?),
            ),
            Activation::TwoTerms { square, linear } => (
                Some(layout.second_layer(&net.w2, square)?),
                linear
                    .as_ref()
                    .map(|l| layout.second_layer(&net.w2, l))
                    .transpose()?,
                None,
            ),
            Activation::Linear { linear } => {
                (None, Some(layout.second_layer(&net.w2, linear)?), None)
            }
        };
        let hidden = layout.hidden_vector(&net.b1)?;
        let output = layout.output_vector(&net.b2)?;
        let pipelines = crt
            .members()
            .iter()
            .map(|params| {
                let t = params.plaintext_modulus();
                let reduce_map = |m: &std::collections::BTreeMap<usize, Vec<i64>>| {
                    m.iter()
                        .map(|(r, d)| (*r, reduce_all(d, t)))
                        .collect::<std::collections::BTreeMap<_, _>>()
                };
                let transform = |m: &std::collections::BTreeMap<usize, Vec<i64>>| {
                    SlotTransform::new(params, &reduce_map(m), layout.baby)
                };
                Ok(Pipeline {
                    params: params.clone(),
                    first: transform(&first)?,
                    hidden_bias: reduce_all(&hidden, t),
                    product_offset: product_offset.as_ref().map(|o| reduce_all(o, t)),
                    second_square: second_square.as_ref().map(transform).transpose()?,
                    second_linear: second_linear.as_ref().map(transform).transpose()?,
                    output_bias: reduce_all(&output, t),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layout: layout.clone(),
            pipelines,
        })
    }
}

/// A model prepared for slot-packed evaluation: every diagonal of every
/// layout encoded once, for every pipeline. Holds no key; shared by all
/// sessions.
///
/// The network must be `Dense → quadratic → Dense` (the fused CryptoTL lower
/// network). [`SlotLayout`] places the sample; the first layer is one
/// baby-step/giant-step product plus a rotate-and-sum; the activation
/// `C2·u² + C1 ⊙ u + C0` (`C2 = ±1`) needs one ciphertext square, and its
/// per-neuron `C1`, `C0` and the sign are folded into the second layer's
/// diagonals and bias, so no plaintext multiplication is spent on them. The
/// second layer is one product (two inputs, `u²` and `u`, sharing the giant
/// steps) plus a rotate-and-sum.
///
/// Plaintext multiplications cost noise in proportion to the plaintext
/// modulus, so the integer network runs modulo several small primes at once
/// ([`cryptotl_he::CrtParameters`]): `K` independent pipelines whose outputs the client
/// recombines exactly. [`plan_slots`] picks the smallest `K` whose noise
/// budget holds, measured on a calibration run.
///
/// When it pays ([`plan_slots`] asks the [`CostModel`]), the plan also holds
/// a two-lane layout ([`SlotLayout::with_lanes`]): two samples side by side
/// in one ciphertext, one per row. A request announces its layout by its
/// sample count: `samples == ciphertexts` is one lane, `ciphertexts ==
/// ⌈samples / 2⌉ < samples` two.
///
/// Results are bit-exact against [`QuantizedGraph::evaluate_integer`].
#[derive(Debug)]
pub struct SlotEvaluator {
    plan: SlotPlan,
    crt: CrtParameters,
    /// One lane first, then two lanes if the plan has them.
    prepared: Vec<PreparedLayout>,
}

/// A client's keys for slot packing: the relinearization key of every
/// pipeline and the rotation keys (shared by all pipelines).
#[derive(Debug, Clone)]
pub struct SlotKeys {
    /// One per CRT member, in order.
    pub evaluation: Vec<EvaluationKeys>,
    /// Galois keys for [`SlotPlan::rotations`].
    pub rotations: RotationKeys,
}

impl SlotEvaluator {
    /// Encodes the graph's diagonals for every pipeline of `plan`.
    ///
    /// # Errors
    /// If the graph is not `Dense → quadratic → Dense`, does not match the
    /// plan's layout, or its outputs do not fit the plan's moduli product.
    pub fn new(graph: &QuantizedGraph, plan: &SlotPlan) -> Result<Self> {
        let net = SlotNetwork::from_graph(graph)?;
        let layout = &plan.layout;
        if (layout.input_dim, layout.hidden_dim, layout.output_dim) != (net.d, net.h, net.o) {
            return Err(GraphError::InvalidInput(
                "the slot plan was made for another network shape".into(),
            ));
        }
        plan.check_layouts()?;
        let crt = CrtParameters::new(&plan.crt)?;
        check_outputs_fit(graph, &crt)?;
        if crt.first().degree() != layout.degree {
            return Err(GraphError::InvalidInput(
                "the slot layout and the parameters have different degrees".into(),
            ));
        }
        if plan.output_level > crt.first().max_level() {
            return Err(GraphError::InvalidInput(format!(
                "output level {} exceeds the parameters' deepest level {}",
                plan.output_level,
                crt.first().max_level()
            )));
        }
        let prepared = plan
            .layouts()
            .map(|l| PreparedLayout::new(&net, l, &crt))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            plan: plan.clone(),
            crt,
            prepared,
        })
    }

    /// The plan in use.
    pub fn plan(&self) -> &SlotPlan {
        &self.plan
    }

    /// The parameter family; uploads must be parsed with its member
    /// instances (`crt().members()[k]` for pipeline `k`).
    pub fn crt(&self) -> &CrtParameters {
        &self.crt
    }

    /// Evaluates every pipeline on the client's inputs (`inputs[k]`: the
    /// level-0 slot batch of pipeline `k`, one ciphertext per sample) and
    /// returns one batch per pipeline at the output level. Slots other than
    /// the outputs are overwritten with uniformly random values (from an OS
    /// seeded ChaCha20), so the client learns only the features.
    ///
    /// # Errors
    /// For inputs of other parameters, levels or sizes, or missing keys.
    pub fn evaluate(
        &self,
        inputs: &[EncryptedBatch],
        keys: &SlotKeys,
    ) -> Result<Vec<EncryptedBatch>> {
        self.evaluate_with_rng(inputs, keys, &mut ChaCha20Rng::from_os_rng())
    }

    /// [`SlotEvaluator::evaluate`] with the masks drawn from `rng`.
    pub fn evaluate_with_rng<R: RngCore + CryptoRng>(
        &self,
        inputs: &[EncryptedBatch],
        keys: &SlotKeys,
        rng: &mut R,
    ) -> Result<Vec<EncryptedBatch>> {
        let outs = self.evaluate_unswitched(inputs, keys, Some(rng))?;
        outs.into_par_iter()
            .zip(self.prepared[0].pipelines.par_iter())
            .map(|(z, p)| {
                if z.level() == self.plan.output_level {
                    Ok(z)
                } else {
                    Ok(Evaluator::new(&p.params).switch_to_level(&z, self.plan.output_level)?)
                }
            })
            .collect()
    }

    /// Checks a request and returns its layout (by the announced sample
    /// count, see [`SlotEvaluator`]).
    fn check_inputs(&self, inputs: &[EncryptedBatch], keys: &SlotKeys) -> Result<&PreparedLayout> {
        let k = self.crt.members().len();
        if inputs.len() != k || keys.evaluation.len() != k {
            return Err(GraphError::InvalidInput(format!(
                "slot packing needs {k} ciphertext batches and {k} evaluation keys (one per \
                 pipeline), got {} and {}",
                inputs.len(),
                keys.evaluation.len()
            )));
        }
        let (samples, count) = (inputs[0].samples(), inputs[0].features());
        for (i, (batch, p)) in inputs.iter().zip(self.crt.members()).enumerate() {
            if batch.params() != p || keys.evaluation[i].params() != p {
                return Err(GraphError::InvalidInput(format!(
                    "pipeline {i}: ciphertexts or keys of other parameters"
                )));
            }
            if batch.level() != 0
                || batch.features() != count
                || batch.samples() != samples
                || count == 0
            {
                return Err(GraphError::InvalidInput(format!(
                    "pipeline {i}: expected {count} fresh ciphertexts carrying {samples} \
                     samples, got {} at level {} carrying {}",
                    batch.features(),
                    batch.level(),
                    batch.samples()
                )));
            }
        }
        if keys.rotations.params().moduli() != self.crt.first().moduli() {
            return Err(GraphError::InvalidInput(
                "rotation keys for other ciphertext moduli".into(),
            ));
        }
        let lanes = self.plan.lanes_of(samples, count)?;
        self.prepared
            .iter()
            .find(|p| p.layout.lanes == lanes)
            .ok_or_else(|| GraphError::InvalidInput(format!("no {lanes}-lane layout prepared")))
    }

    fn evaluate_unswitched<R: RngCore + CryptoRng>(
        &self,
        inputs: &[EncryptedBatch],
        keys: &SlotKeys,
        rng: Option<&mut R>,
    ) -> Result<Vec<EncryptedBatch>> {
        let prepared = self.check_inputs(inputs, keys)?;
        let layout = &prepared.layout;
        let count = inputs[0].features();
        // Masks: one seed per pipeline and ciphertext, drawn up front.
        let seeds: Option<Vec<[u8; 32]>> = rng.map(|rng| {
            (0..prepared.pipelines.len() * count)
                .map(|_| {
                    let mut s = [0u8; 32];
                    rng.fill_bytes(&mut s);
                    s
                })
                .collect()
        });
        let combine = layout.second_combine();
        prepared
            .pipelines
            .par_iter()
            .enumerate()
            .map(|(k, p)| {
                let he = Evaluator::with_keys(keys.evaluation[k].clone());
                let rot = &keys.rotations;
                let x = &inputs[k];
                let u = transform_batch(&[(x, &p.first)], rot)?;
                let u = fold_batch(&u, &layout.first_fold(), rot)?;
                let u = he.add_slot_values(&u, &vec![p.hidden_bias.clone(); count])?;
                let v = match (&p.second_square, &p.product_offset) {
                    (Some(_), Some(offset)) => {
                        let shifted = he.add_slot_values(&u, &vec![offset.clone(); count])?;
                        Some(he.multiply(&u, &shifted)?)
                    }
                    (Some(_), None) => Some(he.polynomials(&u, &vec![vec![0, 0, 1]; count])?),
                    (None, _) => None,
                };
                let mut terms: Vec<(&EncryptedBatch, &SlotTransform)> = Vec::with_capacity(2);
                if let (Some(v), Some(t)) = (&v, &p.second_square) {
                    terms.push((v, t));
                }
                if let Some(t) = &p.second_linear {
                    terms.push((&u, t));
                }
                let z = transform_batch(&terms, rot)?;
                let mut z = fold_batch(&z, &layout.second_fold(), rot)?;
                if !combine.is_empty() {
                    z = add_rotated_batch(&z, &combine, rot)?;
                }
                let t = p.params.plaintext_modulus();
                let half = (t / 2) as i64;
                let additions: Vec<Vec<i64>> = (0..count)
                    .map(|c| {
                        let mut mask_rng = seeds
                            .as_ref()
                            .map(|seeds| ChaCha20Rng::from_seed(seeds[k * count + c]));
                        (0..layout.degree)
                            .map(|slot| {
                                if layout.is_output_slot(slot) {
                                    p.output_bias[slot]
                                } else if let Some(r) = mask_rng.as_mut() {
                                    r.random_range(-half..=half)
                                } else {
                                    0
                                }
                            })
                            .collect()
                    })
                    .collect();
                Ok(he.add_slot_values(&z, &additions)?)
            })
            .collect()
    }
}

/// Refuses a family whose product cannot hold the graph's outputs.
fn check_outputs_fit(graph: &QuantizedGraph, crt: &CrtParameters) -> Result<()> {
    let max = graph.bounds()?.output().max_abs;
    if max > crt.max_abs_value() {
        return Err(GraphError::InvalidInput(format!(
            "the outputs reach ±{max}, beyond what the plaintext moduli recover (±{})",
            crt.max_abs_value()
        )));
    }
    Ok(())
}

/// The client side of slot packing: one secret key shared by all pipelines.
pub struct SlotClient {
    plan: SlotPlan,
    crt: CrtParameters,
    members: Vec<ClientKeys>,
}

impl std::fmt::Debug for SlotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotClient")
            .field("pipelines", &self.members.len())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SlotClient {
    /// Generates a fresh secret key for the plan's parameter family.
    ///
    /// # Errors
    /// If the plan's parameters are invalid.
    pub fn generate(plan: &SlotPlan) -> Result<Self> {
        Self::with_parameters(plan, CrtParameters::new(&plan.crt)?)
    }

    /// A client sharing the evaluator's parameter instances, for in-process
    /// use (ciphertexts then need no serialization round trip).
    ///
    /// # Errors
    /// From key generation.
    pub fn for_evaluator(evaluator: &SlotEvaluator) -> Result<Self> {
        Self::with_parameters(evaluator.plan(), evaluator.crt().clone())
    }

    fn with_parameters(plan: &SlotPlan, crt: CrtParameters) -> Result<Self> {
        if crt.spec() != &plan.crt {
            return Err(GraphError::InvalidInput(
                "parameters do not match the slot plan".into(),
            ));
        }
        let base = ClientKeys::generate(crt.first());
        let members = crt
            .members()
            .iter()
            .map(|p| base.for_parameters(p))
            .collect::<cryptotl_he::Result<Vec<_>>>()?;
        Ok(Self {
            plan: plan.clone(),
            crt,
            members,
        })
    }

    /// The parameter family (responses are parsed with its members).
    pub fn crt(&self) -> &CrtParameters {
        &self.crt
    }

    /// The per-pipeline client keys (for noise inspection).
    pub fn members(&self) -> &[ClientKeys] {
        &self.members
    }

    /// The keys the server needs: a relinearization key per pipeline and
    /// Galois keys for exactly [`SlotPlan::rotations`].
    ///
    /// # Errors
    /// From key generation.
    pub fn keys(&self) -> Result<SlotKeys> {
        let evaluation = self
            .members
            .iter()
            .map(|m| m.evaluation_keys())
            .collect::<cryptotl_he::Result<Vec<_>>>()?;
        let rotations = self.members[0].rotation_keys(&self.plan.rotations())?;
        Ok(SlotKeys {
            evaluation,
            rotations,
        })
    }

    /// Encrypts quantized inputs (each of length `d`, values in the input
    /// quantizer's range), `lanes` samples per ciphertext (1, or 2 when the
    /// plan has the two-lane layout): one batch per pipeline, announcing
    /// `inputs.len()` samples.
    ///
    /// # Errors
    /// For no inputs, inputs of the wrong length or out of range, or a lane
    /// count the plan does not offer.
    pub fn encrypt(&self, inputs: &[Vec<i64>], lanes: usize) -> Result<Vec<EncryptedBatch>> {
        let layout = self.plan.layout_for(lanes).ok_or_else(|| {
            GraphError::InvalidInput(format!(
                "the slot plan has no layout with {lanes} sample(s) per ciphertext"
            ))
        })?;
        if inputs.is_empty() {
            return Err(GraphError::InvalidInput("no samples to encrypt".into()));
        }
        let slots = inputs
            .chunks(lanes)
            .map(|chunk| {
                let refs: Vec<&[i64]> = chunk.iter().map(Vec::as_slice).collect();
                layout.encode_inputs(&refs)
            })
            .collect::<Result<Vec<_>>>()?;
        self.members
            .par_iter()
            .map(|m| {
                let t = m.params().plaintext_modulus();
                let reduced: Vec<Vec<i64>> = slots.iter().map(|s| reduce_all(s, t)).collect();
                Ok(m.encrypt_slots(&reduced)?.with_samples(inputs.len())?)
            })
            .collect()
    }

    /// Decrypts the per-pipeline results and recombines the exact integer
    /// outputs, one vector of `o` values per sample (the layout follows
    /// from the batches' sample count).
    ///
    /// # Errors
    /// For results of other parameters or mismatched counts.
    pub fn decrypt(&self, outputs: &[EncryptedBatch]) -> Result<Vec<Vec<i64>>> {
        if outputs.len() != self.members.len() {
            return Err(GraphError::InvalidInput(format!(
                "{} result batches for {} pipelines",
                outputs.len(),
                self.members.len()
            )));
        }
        let (samples, count) = (outputs[0].samples(), outputs[0].features());
        if outputs
            .iter()
            .any(|b| b.samples() != samples || b.features() != count)
        {
            return Err(GraphError::InvalidInput(
                "result batches hold different sample counts".into(),
            ));
        }
        let lanes = self.plan.lanes_of(samples, count)?;
        let layout = self
            .plan
            .layout_for(lanes)
            .ok_or_else(|| GraphError::InvalidInput(format!("no {lanes}-lane layout")))?;
        let residues = self
            .members
            .par_iter()
            .zip(outputs.par_iter())
            .map(|(m, b)| {
                let mut per_sample = Vec::with_capacity(count * lanes);
                for slots in m.decrypt_slot_vectors(b)? {
                    per_sample.extend(layout.decode_outputs(&slots)?);
                }
                per_sample.truncate(samples);
                Ok(per_sample)
            })
            .collect::<Result<Vec<_>>>()?;
        (0..samples)
            .map(|s| {
                (0..layout.output_dim)
                    .map(|i| {
                        let r: Vec<i64> = residues.iter().map(|p| p[s][i]).collect();
                        Ok(self.crt.recombine(&r)?)
                    })
                    .collect()
            })
            .collect()
    }

    /// The smallest noise budget over the pipelines' results (diagnostics).
    ///
    /// # Errors
    /// For results of other parameters.
    pub fn noise_budget(&self, outputs: &[EncryptedBatch]) -> Result<u32> {
        let mut min = u32::MAX;
        for (m, b) in self.members.iter().zip(outputs) {
            min = min.min(m.noise_budget(b)?);
        }
        Ok(min)
    }
}

/// Chooses the slot-packing plan for `graph` at `preset` (only N = 8192 is
/// supported): the smallest number of CRT pipelines `K` whose primes hold the
/// outputs and whose noise budget, measured on a calibration run with a
/// throwaway key on extreme inputs, keeps [`MIN_OUTPUT_BUDGET_BITS`]; then
/// the deepest output level that still does. The two-lane layout joins the
/// plan when it fits, keeps the budget at the same `K` and the
/// [`CostModel`] puts its per-sample time at least 25 % below one lane's.
///
/// # Errors
/// If the graph is not `Dense → quadratic → Dense`, a sample does not fit
/// one ciphertext, or no `K ≤ 4` keeps the budget.
pub fn plan_slots(graph: &QuantizedGraph, preset: Preset) -> Result<SlotPlan> {
    Ok(prepare_slots(graph, preset)?.plan)
}

/// [`plan_slots`], returning the evaluator the calibration run prepared
/// (its diagonals already encoded), so a server need not encode them again.
///
/// # Errors
/// As [`plan_slots`].
pub fn prepare_slots(graph: &QuantizedGraph, preset: Preset) -> Result<SlotEvaluator> {
    if preset != Preset::N8192 {
        return Err(GraphError::InvalidInput(
            "slot packing is planned at N = 8192 only".into(),
        ));
    }
    let net = SlotNetwork::from_graph(graph)?;
    let layout = SlotLayout::new(preset.degree(), net.d, net.h, net.o)?;
    let paired = SlotLayout::with_lanes(preset.degree(), net.d, net.h, net.o, 2)
        .ok()
        .filter(|p| paired_pays(&layout, p));
    let max = graph.bounds()?.output().max_abs;
    let needed = u128::BITS - (2 * max + 1).leading_zeros();
    let mut errors: Vec<String> = Vec::new();
    for k in 1..=MAX_PIPELINES {
        let bits = (needed.div_ceil(k as u32) + 1).max(MIN_PRIME_BITS);
        let crt = match CrtParameters::generate(preset, bits, k, &SLOT_MODULI_BITS_N8192) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("K = {k}: {e}"));
                continue;
            }
        };
        if crt.max_abs_value() < max {
            continue;
        }
        let plan = SlotPlan {
            crt: crt.spec().clone(),
            layout: layout.clone(),
            paired: paired.clone(),
            output_level: 0,
        };
        match calibrate(graph, &plan) {
            Ok(evaluator) => return Ok(evaluator),
            Err(e) => errors.push(format!("K = {k}: {e}")),
        }
    }
    Err(GraphError::InvalidGraph(format!(
        "no slot-packing plan with up to {MAX_PIPELINES} pipelines fits the outputs \
         ({needed} bits) and the noise budget: {}",
        errors.join("; ")
    )))
}

/// Whether two samples per ciphertext cost at least [`MIN_PAIRED_SAVING`]
/// less per sample than one (by the default cost model; the pipeline count
/// scales both alike).
fn paired_pays(single: &SlotLayout, paired: &SlotLayout) -> bool {
    let model = CostModel::default();
    let one = model.slot_seconds(&SlotOperations::of_layout(single, 1), 2);
    let two = model.slot_seconds(&SlotOperations::of_layout(paired, 1), 2);
    two <= (1.0 - MIN_PAIRED_SAVING) * one
}

/// Runs the plan on extreme inputs with a throwaway key and returns its
/// evaluator with the deepest output level keeping
/// [`MIN_OUTPUT_BUDGET_BITS`] for every layout. A two-lane layout that
/// breaks the budget is dropped from the plan (one lane always works when
/// the plan is kept).
fn calibrate(graph: &QuantizedGraph, plan: &SlotPlan) -> Result<SlotEvaluator> {
    let mut evaluator = SlotEvaluator::new(graph, plan)?;
    let client = SlotClient::for_evaluator(&evaluator)?;
    let keys = client.keys()?;
    let d = graph.input_dim();
    let hi = graph.input.max_level();
    let samples = vec![
        vec![hi; d],
        (0..d).map(|j| if j % 2 == 0 { hi } else { 0 }).collect(),
    ];
    let mut level = evaluator.crt.first().max_level();
    for lanes in [1, 2] {
        if plan.layout_for(lanes).is_none() {
            continue;
        }
        let enc = client.encrypt(&samples, lanes)?;
        let out = evaluator.evaluate_unswitched::<ChaCha20Rng>(&enc, &keys, None)?;
        match deepest_level(&client, &evaluator.crt, &out)? {
            Some(l) => level = level.min(l),
            None if lanes == 2 => {
                // Two lanes sum twice the diagonals: drop them, keep one lane.
                evaluator.plan.paired = None;
                evaluator.prepared.truncate(1);
            }
            None => {
                return Err(GraphError::InvalidGraph(format!(
                    "{} pipelines leave {} bits of noise budget (< {MIN_OUTPUT_BUDGET_BITS})",
                    plan.pipelines(),
                    client.noise_budget(&out)?
                )))
            }
        }
    }
    evaluator.plan.output_level = level;
    Ok(evaluator)
}

/// The deepest level at which every pipeline's results keep
/// [`MIN_OUTPUT_BUDGET_BITS`], or `None` if even level 0 does not.
fn deepest_level(
    client: &SlotClient,
    crt: &CrtParameters,
    out: &[EncryptedBatch],
) -> Result<Option<usize>> {
    if client.noise_budget(out)? < MIN_OUTPUT_BUDGET_BITS {
        return Ok(None);
    }
    let mut level = 0;
    for next in 1..=crt.first().max_level() {
        for ((m, b), p) in client.members().iter().zip(out).zip(crt.members()) {
            let switched = Evaluator::new(p).switch_to_level(b, next)?;
            if m.noise_budget(&switched)? < MIN_OUTPUT_BUDGET_BITS {
                return Ok(Some(level));
            }
        }
        level = next;
    }
    Ok(Some(level))
}
