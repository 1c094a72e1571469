//! Choosing between batch packing (one slot per sample, [`crate::encrypted`])
//! and slot packing (one sample per ciphertext, [`crate::slot_eval`]).
//!
//! Documented on [`CostModel`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use cryptotl_quant::IntegerLayer;

use crate::error::GraphError;
use crate::quantize::QuantizedGraph;
use crate::slot_eval::SlotPlan;
use crate::slot_layout::SlotLayout;

/// How a request's samples are packed into ciphertexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Packing {
    /// One slot per sample, one ciphertext per feature (high throughput).
    Batch,
    /// One sample per ciphertext, rotations (low latency).
    Slots,
}

impl fmt::Display for Packing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Packing::Batch => "batch",
            Packing::Slots => "slots",
        })
    }
}

/// What the user asked for: a packing, or `auto` (the cost model decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackingChoice {
    /// Pick the cheaper packing for each request.
    #[default]
    Auto,
    /// Always this packing.
    Fixed(Packing),
}

impl FromStr for PackingChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(PackingChoice::Auto),
            "batch" => Ok(PackingChoice::Fixed(Packing::Batch)),
            "slots" => Ok(PackingChoice::Fixed(Packing::Slots)),
            other => Err(format!(
                "unknown packing '{other}' (expected auto, batch or slots)"
            )),
        }
    }
}

impl fmt::Display for PackingChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackingChoice::Auto => f.write_str("auto"),
            PackingChoice::Fixed(p) => p.fmt(f),
        }
    }
}

/// Per-operation server costs in seconds of wall time on the reference
/// machine (both cores busy), used to compare the packings.
///
/// It chooses between batch packing (one slot per sample,
/// [`EncryptedEvaluator`](crate::EncryptedEvaluator)) and slot packing (one
/// sample per ciphertext, [`SlotEvaluator`](crate::SlotEvaluator)). Batch
/// packing costs the same for 1 sample as for `N`: its price is paid
/// per batch. Slot packing costs a fixed amount per sample. [`CostModel`]
/// estimates both from operation counts (multiply–accumulates of the integer
/// kernel and ciphertext squares for batches; key switches, hoisted
/// rotations, plaintext products and one ciphertext product per CRT pipeline
/// for slots), with per-operation costs measured on the reference machine
/// (a 2-core AMD EPYC, see `docs/benchmarks.md`), and `auto` picks the
/// cheaper one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// One integer multiply–accumulate of the batch kernel (per weight, RNS
    /// coefficient and ciphertext part).
    pub batch_mac: f64,
    /// One ciphertext square with relinearization in batch mode.
    pub batch_square: f64,
    /// One full key switch (a rotation).
    pub key_switch: f64,
    /// One hoisted rotation (decomposition shared).
    pub hoisted_rotation: f64,
    /// One plaintext × ciphertext product and accumulation.
    pub plaintext_product: f64,
    /// One ciphertext × ciphertext product with relinearization.
    pub ciphertext_product: f64,
}

impl Default for CostModel {
    /// Costs fitted to the measurements in `docs/benchmarks.md`.
    fn default() -> Self {
        CostModel {
            batch_mac: 1.76e-10,
            batch_square: 6.5e-3,
            key_switch: 1.6e-3,
            hoisted_rotation: 0.45e-3,
            plaintext_product: 0.16e-3,
            ciphertext_product: 6.0e-3,
        }
    }
}

/// The shape of a batch-packed evaluation, for [`CostModel::batch_seconds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    /// Ring degree `N` (samples per batch).
    pub degree: usize,
    /// Ciphertext moduli at the fresh level.
    pub moduli: usize,
    /// Total weights of the linear layers.
    pub weights: usize,
    /// Ciphertext squares per batch (neurons of the activation).
    pub squares: usize,
}

impl BatchShape {
    /// The shape of `graph` evaluated with batch packing at ring degree
    /// `degree` with `moduli` fresh ciphertext moduli.
    pub fn of(graph: &QuantizedGraph, degree: usize, moduli: usize) -> Self {
        let mut weights = 0;
        let mut squares = 0;
        for layer in &graph.layers {
            match &layer.layer {
                IntegerLayer::Linear(l) => weights += l.rows * l.cols,
                IntegerLayer::Polynomial(p) => {
                    squares += p
                        .coefficients
                        .iter()
                        .filter(|c| c.get(2).is_some_and(|v| *v != 0))
                        .count()
                }
            }
        }
        BatchShape {
            degree,
            moduli,
            weights,
            squares,
        }
    }
}

/// Operation counts of one slot-packed ciphertext (per CRT pipeline) in one
/// layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotOperations {
    /// Samples per ciphertext (the layout's lanes).
    pub lanes: usize,
    /// Full key switches (giant steps, folds, row combination).
    pub key_switches: usize,
    /// Hoisted baby-step rotations.
    pub hoisted_rotations: usize,
    /// Plaintext products (diagonals).
    pub plaintext_products: usize,
    /// Ciphertext products.
    pub ciphertext_products: usize,
    /// CRT pipelines (each repeats all of the above).
    pub pipelines: usize,
}

impl SlotOperations {
    /// The counts of one ciphertext in `layout` with `pipelines` CRT
    /// pipelines (product activation path).
    pub fn of_layout(l: &SlotLayout, pipelines: usize) -> Self {
        let giants = |m: usize| m.div_ceil(l.baby).saturating_sub(1);
        let babies = |m: usize| m.min(l.baby).saturating_sub(1);
        SlotOperations {
            lanes: l.lanes,
            key_switches: giants(l.first_diagonals)
                + giants(l.second_diagonals)
                + l.first_fold().len()
                + l.second_fold().len()
                + l.second_combine().len(),
            hoisted_rotations: babies(l.first_diagonals) + babies(l.second_diagonals),
            plaintext_products: l.first_diagonals + l.second_diagonals,
            ciphertext_products: 1,
            pipelines,
        }
    }

    /// The counts of every layout of a plan (one lane first).
    pub fn of_plan(plan: &SlotPlan) -> Vec<Self> {
        plan.layouts()
            .map(|l| Self::of_layout(l, plan.pipelines()))
            .collect()
    }
}

impl CostModel {
    /// Estimated server seconds for `samples` samples with batch packing.
    pub fn batch_seconds(&self, shape: &BatchShape, samples: usize) -> f64 {
        let batches = samples.div_ceil(shape.degree.max(1)).max(1) as f64;
        let macs = 2.0 * shape.moduli as f64 * shape.degree as f64 * shape.weights as f64;
        batches * (macs * self.batch_mac + shape.squares as f64 * self.batch_square)
    }

    /// Estimated server seconds for `samples` samples with slot packing in
    /// the layout of `ops` (`⌈samples / lanes⌉` ciphertexts).
    pub fn slot_seconds(&self, ops: &SlotOperations, samples: usize) -> f64 {
        let per_pipeline = ops.key_switches as f64 * self.key_switch
            + ops.hoisted_rotations as f64 * self.hoisted_rotation
            + ops.plaintext_products as f64 * self.plaintext_product
            + ops.ciphertext_products as f64 * self.ciphertext_product;
        let ciphertexts = samples.max(1).div_ceil(ops.lanes.max(1));
        ciphertexts as f64 * ops.pipelines as f64 * per_pipeline
    }

    /// The cheapest slot layout for `samples` samples: its lanes and
    /// estimated seconds (`None` without layouts).
    pub fn best_slots(&self, slots: &[SlotOperations], samples: usize) -> Option<(usize, f64)> {
        slots
            .iter()
            .map(|ops| (ops.lanes, self.slot_seconds(ops, samples)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The packing for a request of `samples` samples. `slots` holds the
    /// model's slot layouts ([`SlotOperations::of_plan`]); empty when the
    /// model has no slot plan (then batch packing is the only choice, and
    /// asking for `slots` is an error).
    ///
    /// # Errors
    /// [`GraphError::SlotPackingUnavailable`] when `Fixed(Slots)` is asked
    /// for without a slot plan.
    pub fn choose(
        &self,
        choice: PackingChoice,
        samples: usize,
        batch: &BatchShape,
        slots: &[SlotOperations],
    ) -> crate::Result<PackingDecision> {
        let batch_s = self.batch_seconds(batch, samples);
        let best = self.best_slots(slots, samples);
        let slot_s = best.map(|(_, s)| s);
        let packing = match (choice, slot_s) {
            (PackingChoice::Fixed(Packing::Slots), None) => {
                return Err(GraphError::SlotPackingUnavailable)
            }
            (PackingChoice::Fixed(p), _) => p,
            (PackingChoice::Auto, Some(s)) if s < batch_s => Packing::Slots,
            (PackingChoice::Auto, _) => Packing::Batch,
        };
        Ok(PackingDecision {
            packing,
            choice,
            samples,
            batch_seconds: batch_s,
            slot_seconds: slot_s,
            slot_lanes: best.map_or(1, |(lanes, _)| lanes),
        })
    }

    /// The smallest number of samples for which batch packing is estimated
    /// to be cheaper than the cheapest slot layout (the crossover), up to
    /// one batch.
    pub fn crossover(&self, batch: &BatchShape, slots: &[SlotOperations]) -> usize {
        let batch_s = self.batch_seconds(batch, 1);
        (1..=batch.degree)
            .find(|&n| {
                self.best_slots(slots, n)
                    .is_none_or(|(_, slot_s)| slot_s >= batch_s)
            })
            .unwrap_or(batch.degree)
    }
}

/// A packing decision with the estimates behind it (printed by the CLI).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PackingDecision {
    /// The packing used.
    pub packing: Packing,
    /// What was asked for.
    pub choice: PackingChoice,
    /// Samples in the request.
    pub samples: usize,
    /// Estimated server seconds with batch packing.
    pub batch_seconds: f64,
    /// Estimated server seconds with slot packing (its cheapest layout), if
    /// available.
    pub slot_seconds: Option<f64>,
    /// Samples per ciphertext of that layout (what slot packing uses).
    pub slot_lanes: usize,
}

impl fmt::Display for PackingDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "packing: {}", self.packing)?;
        if self.packing == Packing::Slots && self.slot_lanes > 1 {
            write!(f, ", {} samples per ciphertext", self.slot_lanes)?;
        }
        write!(f, " ({}", self.choice)?;
        write!(
            f,
            "; {} sample(s), estimated server time batch {:.2} s",
            self.samples, self.batch_seconds
        )?;
        if let Some(s) = self.slot_seconds {
            write!(f, ", slots {s:.2} s")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch shape and the slot layouts (one lane, and two when
    /// `paired`) of a `d → d → d−2` network.
    fn shapes_with(d: usize, paired: bool) -> (BatchShape, Vec<SlotOperations>) {
        let layout = SlotLayout::new(8192, d, d, d - 2).unwrap();
        let paired = paired.then(|| SlotLayout::with_lanes(8192, d, d, d - 2, 2).unwrap());
        let plan = SlotPlan {
            crt: cryptotl_he::CrtParameterSpec {
                degree: 8192,
                plaintext_moduli: vec![65537, 114689, 147457],
                moduli: vec![],
            },
            layout,
            paired,
            output_level: 3,
        };
        let batch = BatchShape {
            degree: 8192,
            moduli: 4,
            weights: d * d + (d - 2) * d,
            squares: d,
        };
        (batch, SlotOperations::of_plan(&plan))
    }

    fn shapes(d: usize) -> (BatchShape, Vec<SlotOperations>) {
        shapes_with(d, false)
    }

    #[test]
    fn auto_picks_slots_for_one_sample_and_batches_for_many() {
        let model = CostModel::default();
        for d in [384, 768] {
            let (batch, slots) = shapes(d);
            let one = model
                .choose(PackingChoice::Auto, 1, &batch, &slots)
                .unwrap();
            assert_eq!(one.packing, Packing::Slots, "{one}");
            let many = model
                .choose(PackingChoice::Auto, 4096, &batch, &slots)
                .unwrap();
            assert_eq!(many.packing, Packing::Batch, "{many}");
            let x = model.crossover(&batch, &slots);
            assert!(x > 1 && x < 4096, "crossover {x}");
            let below = model
                .choose(PackingChoice::Auto, x - 1, &batch, &slots)
                .unwrap();
            assert_eq!(below.packing, Packing::Slots);
            let at = model
                .choose(PackingChoice::Auto, x, &batch, &slots)
                .unwrap();
            assert_eq!(at.packing, Packing::Batch);
        }
    }

    #[test]
    fn fixed_choices_are_honoured_and_slots_need_a_plan() {
        let model = CostModel::default();
        let (batch, slots) = shapes(384);
        let fixed = PackingChoice::Fixed(Packing::Batch);
        assert_eq!(
            model.choose(fixed, 1, &batch, &slots).unwrap().packing,
            Packing::Batch
        );
        let want_slots = PackingChoice::Fixed(Packing::Slots);
        assert!(matches!(
            model.choose(want_slots, 1, &batch, &[]),
            Err(GraphError::SlotPackingUnavailable)
        ));
        assert_eq!(
            model
                .choose(PackingChoice::Auto, 1, &batch, &[])
                .unwrap()
                .packing,
            Packing::Batch
        );
        assert_eq!("SLOTS".parse::<PackingChoice>().unwrap(), want_slots);
        assert!("rows".parse::<PackingChoice>().is_err());
    }

    #[test]
    fn slot_operation_counts_of_the_paper_sizes() {
        let (_, ops) = shapes(384);
        let ops = ops[0];
        // Baby steps 1..8 for both layers; giants 8, 16 and 8, 16, 24; folds
        // 512, 1024, 2048, swap and 480, 960, 1920; combine ρ, swap.
        assert_eq!(ops.hoisted_rotations, 14);
        assert_eq!(ops.key_switches, 2 + 3 + 4 + 3 + 2);
        assert_eq!(ops.plaintext_products, 24 + 32);
    }

    #[test]
    fn two_lanes_serve_two_or_more_samples_and_one_lane_serves_one() {
        let model = CostModel::default();
        let (batch, slots) = shapes_with(384, true);
        assert_eq!(slots.len(), 2);
        assert_eq!((slots[0].lanes, slots[1].lanes), (1, 2));
        let one = model
            .choose(PackingChoice::Auto, 1, &batch, &slots)
            .unwrap();
        assert_eq!((one.packing, one.slot_lanes), (Packing::Slots, 1));
        for n in [2, 3, 10] {
            let d = model
                .choose(PackingChoice::Auto, n, &batch, &slots)
                .unwrap();
            assert_eq!((d.packing, d.slot_lanes), (Packing::Slots, 2), "{d}");
            assert!(d.to_string().contains("2 samples per ciphertext"), "{d}");
            // Three samples take two ciphertexts.
            assert_eq!(
                model.slot_seconds(&slots[1], n),
                model.slot_seconds(&slots[1], 2 * n.div_ceil(2))
            );
        }
        // Pairing moves the crossover up.
        let (_, single) = shapes(384);
        assert!(model.crossover(&batch, &slots) > model.crossover(&batch, &single));
    }
}
