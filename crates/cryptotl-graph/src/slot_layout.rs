//! Where one sample's values sit in the slots, for the slot-packed
//! evaluation of `Dense → quadratic → Dense` ([`crate::slot_eval`]).
//!
//! Documented on [`SlotLayout`].

use std::collections::BTreeMap;

use cryptotl_he::Rotation;
use serde::{Deserialize, Serialize};

use crate::error::{GraphError, Result};

/// The slot layout of one network shape at one ring degree.
///
/// The `N` slots form two rows of `R = N/2` columns; a rotation moves both
/// rows together. With a period `P` (a power of two dividing `R`) every row
/// holds `R/P` blocks, so there are `C = 2R/P` blocks in all.
///
/// **First layer** (`u = W1·x + b1`, `W1` is `h × d`). The client encrypts
/// block `c` as `x` rotated by `c·m1` and extended: slot `k` of block `c`
/// holds `x[(c·m1 + k) mod d]` for `k < h + m1 − 1` (zeros after), where
/// `m1 = ⌈d / C⌉`. A column rotation by `r < m1` then shows block `c` the
/// inputs `x[(c·m1 + k + r) mod d]`, so with diagonals
/// `D_r[c, k] = W1[k][(c·m1 + k + r) mod d]` (for `k < h` and each offset
/// `c·m1 + r < d` counted once) block `c` accumulates the part of every dot
/// product over its `m1` offsets: the first layer needs only `m1`
/// diagonals. Summing the blocks (rotate-and-sum by `P, 2P, …, R/2`, then a
/// row swap) leaves `u` in **every** block: `u[k]` at offset `k < h`, exact
/// zeros at offsets `h..P`. The square keeps that layout (`0² = 0`).
///
/// **Second layer** (`z = W2·v`, `W2` is `o × h`, `v` replicated with period
/// `P`). Any slot `s` sees `v[(s + r) mod P]` after a rotation by `r`.
/// Output copy `q` (of `2·B2`, `B2` per row) computes `z[i]` at slot
/// `β_q + i` and covers the offsets `j − i ≡ β_q + r (mod P)` for its `m2`
/// rotations `r`; bases spaced `σ = P − m2` apart shift every copy's offsets
/// by `m2`, so `2·B2·m2 ≥ P` copies-times-diagonals cover every offset once.
/// Row 1's copies start at `ρ ≡ −B2·m2 (mod P)`. Rotate-and-sum by
/// `σ, 2σ, …` gathers each row's copies, and one rotation by `ρ` plus a row
/// swap adds row 1's sum to row 0's: `z[i]` ends at row 0, column `i`.
///
/// Every other slot of the result holds a meaningless partial sum; the
/// server masks them with random values before replying.
///
/// **Two samples side by side** ([`SlotLayout::with_lanes`], `lanes = 2`):
/// each row holds its own sample (row `r` is lane `r`). The first layer
/// spreads a sample over its row's `R/P` blocks only (twice the diagonals
/// of one lane, `m1 = ⌈d / (R/P)⌉`), the block sum stops before the row
/// swap, the second layer's copies cover every offset within each row
/// (`B2·m2 ≥ P`, both rows at the same bases) and there is no row
/// combination: lane `r`'s `z[i]` ends at row `r`, column `i`. The same
/// work (rotations are shared by both rows) then serves two samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotLayout {
    /// Ring degree `N` (slots per ciphertext).
    pub degree: usize,
    /// Input dimension `d`.
    pub input_dim: usize,
    /// Hidden width `h` (first layer's outputs).
    pub hidden_dim: usize,
    /// Output dimension `o`.
    pub output_dim: usize,
    /// Block period `P`.
    pub period: usize,
    /// First-layer diagonals `m1`.
    pub first_diagonals: usize,
    /// Second-layer output copies per row `B2`.
    pub second_copies: usize,
    /// Second-layer diagonals `m2`.
    pub second_diagonals: usize,
    /// Second-layer copy spacing `σ = P − m2`.
    pub spacing: usize,
    /// Column of row 1's first output copy, `ρ`.
    pub row_offset: usize,
    /// Baby-step size of both layers' baby-step/giant-step products.
    pub baby: usize,
    /// Samples per ciphertext: 1 (one sample over both rows) or 2 (one
    /// sample per row).
    #[serde(default = "one_lane")]
    pub lanes: usize,
}

fn one_lane() -> usize {
    1
}

impl SlotLayout {
    /// The one-sample layout for a `d → h → o` network at degree `degree`.
    ///
    /// # Errors
    /// [`GraphError::InvalidGraph`] if one sample does not fit one ciphertext.
    pub fn new(degree: usize, d: usize, h: usize, o: usize) -> Result<Self> {
        Self::with_lanes(degree, d, h, o, 1)
    }

    /// The layout holding `lanes` samples per ciphertext (1, or 2: one per
    /// row).
    ///
    /// # Errors
    /// [`GraphError::InvalidGraph`] for other lane counts or if `lanes`
    /// samples do not fit one ciphertext.
    pub fn with_lanes(degree: usize, d: usize, h: usize, o: usize, lanes: usize) -> Result<Self> {
        let half = degree / 2;
        if !(1..=2).contains(&lanes) {
            return Err(GraphError::InvalidGraph(format!(
                "slot layouts hold 1 or 2 samples per ciphertext, not {lanes}"
            )));
        }
        if d == 0 || h == 0 || o == 0 || !degree.is_power_of_two() || degree < 16 {
            return Err(GraphError::InvalidGraph(format!(
                "no slot layout for dimensions {d} → {h} → {o} at N = {degree}"
            )));
        }
        // The smallest period at which both layers fit.
        let mut period = h.next_power_of_two();
        let found = loop {
            if period > half {
                break None;
            }
            let m1 = d.div_ceil(2 * half / period / lanes);
            if h + m1 - 1 <= period {
                if let Some(second) = second_layer_fit(period, half, o, lanes) {
                    break Some((period, m1, second));
                }
            }
            period *= 2;
        };
        let (period, m1, (second_copies, second_diagonals, spacing, row_offset)) = found
            .ok_or_else(|| {
                GraphError::InvalidGraph(format!(
                    "{lanes} sample(s) of a {d} → {h} → {o} network do not fit one ciphertext \
                     of {degree} slots"
                ))
            })?;
        let m = m1.max(second_diagonals);
        let baby = ((m as f64).sqrt().ceil() as usize)
            .next_power_of_two()
            .max(1);
        Ok(Self {
            degree,
            input_dim: d,
            hidden_dim: h,
            output_dim: o,
            period,
            first_diagonals: m1,
            second_copies,
            second_diagonals,
            spacing,
            row_offset,
            baby,
            lanes,
        })
    }

    fn half(&self) -> usize {
        self.degree / 2
    }

    /// Blocks per row, `R / P`.
    pub fn blocks_per_row(&self) -> usize {
        self.half() / self.period
    }

    /// Slot index of `(row, column)`.
    fn slot(&self, row: usize, col: usize) -> usize {
        row * self.half() + col
    }

    /// Index of block `blk` of `row` among its sample's blocks (a sample
    /// spans both rows with one lane, one row with two).
    fn sample_block(&self, row: usize, blk: usize) -> usize {
        if self.lanes == 1 {
            row * self.blocks_per_row() + blk
        } else {
            blk
        }
    }

    /// The client's slot vector for one quantized input `x` (length `d`).
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] for a wrong length.
    pub fn encode_input(&self, x: &[i64]) -> Result<Vec<i64>> {
        self.encode_inputs(&[x])
    }

    /// The client's slot vector for up to [`SlotLayout::lanes`] quantized
    /// inputs (each of length `d`); sample `l` goes to lane `l`, missing
    /// lanes stay zero.
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] for a wrong length or count.
    pub fn encode_inputs(&self, xs: &[&[i64]]) -> Result<Vec<i64>> {
        let d = self.input_dim;
        if xs.is_empty() || xs.len() > self.lanes {
            return Err(GraphError::InvalidInput(format!(
                "{} inputs for a layout of {} lane(s)",
                xs.len(),
                self.lanes
            )));
        }
        if let Some(x) = xs.iter().find(|x| x.len() != d) {
            return Err(GraphError::InvalidInput(format!(
                "input has {} values, the layout expects {d}",
                x.len()
            )));
        }
        let mut slots = vec![0i64; self.degree];
        let extent = self.hidden_dim + self.first_diagonals - 1;
        for row in 0..2 {
            let Some(x) = xs.get(if self.lanes == 1 { 0 } else { row }) else {
                continue;
            };
            for blk in 0..self.blocks_per_row() {
                let c = self.sample_block(row, blk);
                for k in 0..extent {
                    slots[self.slot(row, blk * self.period + k)] =
                        x[(c * self.first_diagonals + k) % d];
                }
            }
        }
        Ok(slots)
    }

    /// First-layer diagonals for the row-major `h × d` weights.
    pub fn first_layer(&self, weights: &[i64]) -> Result<BTreeMap<usize, Vec<i64>>> {
        let (d, h, m1) = (self.input_dim, self.hidden_dim, self.first_diagonals);
        check_len(weights, h * d, "first-layer weights")?;
        let mut out = BTreeMap::new();
        for r in 0..m1 {
            let mut diag = vec![0i64; self.degree];
            for row in 0..2 {
                for blk in 0..self.blocks_per_row() {
                    let c = self.sample_block(row, blk);
                    let offset = c * m1 + r;
                    if offset >= d {
                        continue;
                    }
                    for k in 0..h {
                        diag[self.slot(row, blk * self.period + k)] =
                            weights[k * d + (offset + k) % d];
                    }
                }
            }
            if diag.iter().any(|&v| v != 0) {
                out.insert(r, diag);
            }
        }
        Ok(out)
    }

    /// A per-neuron vector of the hidden layer (`h` values) replicated in
    /// every block, zero at offsets `≥ h` (the first layer's bias).
    pub fn hidden_vector(&self, values: &[i64]) -> Result<Vec<i64>> {
        check_len(values, self.hidden_dim, "hidden-layer vector")?;
        let mut slots = vec![0i64; self.degree];
        for row in 0..2 {
            for blk in 0..self.blocks_per_row() {
                for (k, &v) in values.iter().enumerate() {
                    slots[self.slot(row, blk * self.period + k)] = v;
                }
            }
        }
        Ok(slots)
    }

    /// Rotate-and-sum that adds up the first layer's blocks.
    pub fn first_fold(&self) -> Vec<Rotation> {
        let mut out = Vec::new();
        let mut stride = self.period;
        while stride < self.half() {
            out.push(Rotation::Columns(stride));
            stride *= 2;
        }
        if self.lanes == 1 {
            out.push(Rotation::SwapRows);
        }
        out
    }

    /// Base column of second-layer output copy `c` in `row`.
    fn copy_base(&self, row: usize, c: usize) -> usize {
        if row == 0 || self.lanes == 2 {
            c * self.spacing
        } else {
            self.row_offset + c * self.spacing
        }
    }

    /// Second-layer diagonals for the row-major `o × h` weights, each column
    /// `j` scaled by `column_scale[j]` (the activation's coefficient).
    pub fn second_layer(
        &self,
        weights: &[i64],
        column_scale: &[i64],
    ) -> Result<BTreeMap<usize, Vec<i64>>> {
        let (h, o, p, m2) = (
            self.hidden_dim,
            self.output_dim,
            self.period,
            self.second_diagonals,
        );
        check_len(weights, o * h, "second-layer weights")?;
        check_len(column_scale, h, "second-layer column scales")?;
        let mut seen = vec![false; p];
        let mut diags: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for row in 0..2 {
            if self.lanes == 2 {
                // Each row covers every offset for its own sample.
                seen.fill(false);
            }
            for c in 0..self.second_copies {
                let base = self.copy_base(row, c);
                for r in 0..m2 {
                    let residue = (base + r) % p;
                    if seen[residue] {
                        continue;
                    }
                    seen[residue] = true;
                    let diag = diags.entry(r).or_insert_with(|| vec![0i64; self.degree]);
                    for i in 0..o {
                        let j = (base + i + r) % p;
                        if j < h {
                            diag[self.slot(row, base + i)] =
                                weights[i * h + j].wrapping_mul(column_scale[j]);
                        }
                    }
                }
            }
        }
        diags.retain(|_, d| d.iter().any(|&v| v != 0));
        Ok(diags)
    }

    /// Rotate-and-sum that gathers each row's second-layer copies.
    pub fn second_fold(&self) -> Vec<Rotation> {
        let mut out = Vec::new();
        let mut stride = self.spacing;
        let mut gathered = 1;
        while gathered < self.second_copies {
            out.push(Rotation::Columns(stride));
            stride *= 2;
            gathered *= 2;
        }
        out
    }

    /// The rotations moving row 1's sum onto row 0's (then added); none
    /// with two lanes.
    pub fn second_combine(&self) -> Vec<Rotation> {
        if self.lanes == 2 {
            Vec::new()
        } else if self.row_offset == 0 {
            vec![Rotation::SwapRows]
        } else {
            vec![Rotation::Columns(self.row_offset), Rotation::SwapRows]
        }
    }

    /// An output-sized vector (`o` values) at every lane's output slots.
    pub fn output_vector(&self, values: &[i64]) -> Result<Vec<i64>> {
        check_len(values, self.output_dim, "output vector")?;
        let mut slots = vec![0i64; self.degree];
        for lane in 0..self.lanes {
            let start = self.slot(lane, 0);
            slots[start..start + values.len()].copy_from_slice(values);
        }
        Ok(slots)
    }

    /// Whether slot `s` holds an output value (of any lane).
    pub fn is_output_slot(&self, s: usize) -> bool {
        s / self.half() < self.lanes && s % self.half() < self.output_dim
    }

    /// The `o` outputs of lane 0 from a decrypted result's slots.
    pub fn decode_output(&self, slots: &[i64]) -> Result<Vec<i64>> {
        Ok(self.decode_outputs(slots)?.swap_remove(0))
    }

    /// The `o` outputs of every lane from a decrypted result's slots.
    pub fn decode_outputs(&self, slots: &[i64]) -> Result<Vec<Vec<i64>>> {
        if slots.len() != self.degree {
            return Err(GraphError::InvalidInput(format!(
                "{} slots for a layout of {}",
                slots.len(),
                self.degree
            )));
        }
        Ok((0..self.lanes)
            .map(|lane| {
                let start = self.slot(lane, 0);
                slots[start..start + self.output_dim].to_vec()
            })
            .collect())
    }

    /// Every rotation the evaluation uses (the Galois keys a client makes).
    pub fn rotations(&self) -> Vec<Rotation> {
        let mut out: Vec<Rotation> = (1..self.baby).map(Rotation::Columns).collect();
        let giants = self
            .first_diagonals
            .max(self.second_diagonals)
            .div_ceil(self.baby);
        out.extend((1..giants).map(|g| Rotation::Columns(g * self.baby)));
        out.extend(self.first_fold());
        out.extend(self.second_fold());
        out.extend(self.second_combine());
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The second layer's `(B2, m2, σ, ρ)` at period `p`: the most output copies
/// per row (a power of two) whose spacing holds `o` outputs and whose two
/// rows of copies fit `half` columns. With one lane the two rows share the
/// offsets; with two each row covers all of them.
fn second_layer_fit(
    p: usize,
    half: usize,
    o: usize,
    lanes: usize,
) -> Option<(usize, usize, usize, usize)> {
    let mut b2 = (half / o).max(1);
    b2 = 1 << (usize::BITS - 1 - b2.leading_zeros());
    let sharing_rows = 2 / lanes;
    while b2 >= 1 {
        let m2 = p.div_ceil(sharing_rows * b2);
        if m2 < p && p - m2 >= o {
            let sigma = p - m2;
            let rho = if lanes == 2 {
                0
            } else {
                (p - (b2 * m2) % p) % p
            };
            if rho + (b2 - 1) * sigma + o <= half {
                return Some((b2, m2, sigma, rho));
            }
        }
        b2 /= 2;
    }
    None
}

fn check_len(v: &[i64], expected: usize, what: &str) -> Result<()> {
    if v.len() == expected {
        Ok(())
    } else {
        Err(GraphError::InvalidInput(format!(
            "{what}: {} values, expected {expected}",
            v.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Plain simulation of the encrypted data flow (rotations on plain slot
    /// vectors), so the layout logic is checked without encryption.
    fn simulate_dense(input: &[i64], diags: &BTreeMap<usize, Vec<i64>>) -> Vec<i64> {
        let mut out = vec![0i64; input.len()];
        for (&r, d) in diags {
            let rotated = if r == 0 {
                input.to_vec()
            } else {
                Rotation::Columns(r).apply(input)
            };
            for s in 0..out.len() {
                out[s] += d[s] * rotated[s];
            }
        }
        out
    }

    fn simulate_fold(x: &[i64], rotations: &[Rotation]) -> Vec<i64> {
        let mut acc = x.to_vec();
        for r in rotations {
            let moved = r.apply(&acc);
            acc = acc.iter().zip(&moved).map(|(a, b)| a + b).collect();
        }
        acc
    }

    fn simulate_combine(x: &[i64], rotations: &[Rotation]) -> Vec<i64> {
        if rotations.is_empty() {
            // No combination step (two lanes): the evaluator skips it.
            return x.to_vec();
        }
        let mut moved = x.to_vec();
        for r in rotations {
            moved = r.apply(&moved);
        }
        x.iter().zip(&moved).map(|(a, b)| a + b).collect()
    }

    fn check_shape(n: usize, d: usize, h: usize, o: usize, lanes: usize, seed: u64) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let Ok(layout) = SlotLayout::with_lanes(n, d, h, o, lanes) else {
            assert!(d.max(h).max(o) > 40, "{d} → {h} → {o} should fit {n} slots");
            return;
        };
        let w1: Vec<i64> = (0..h * d).map(|_| rng.random_range(-9..10)).collect();
        let w2: Vec<i64> = (0..o * h).map(|_| rng.random_range(-9..10)).collect();
        let scale: Vec<i64> = (0..h).map(|_| rng.random_range(-3..4)).collect();
        // One distinct sample per lane.
        let xs: Vec<Vec<i64>> = (0..lanes)
            .map(|_| (0..d).map(|_| rng.random_range(0..16)).collect())
            .collect();
        let refs: Vec<&[i64]> = xs.iter().map(Vec::as_slice).collect();
        // First layer and fold: each lane's u replicated in its blocks.
        let slots = layout.encode_inputs(&refs).unwrap();
        let u_slots = simulate_fold(
            &simulate_dense(&slots, &layout.first_layer(&w1).unwrap()),
            &layout.first_fold(),
        );
        let us: Vec<Vec<i64>> = xs
            .iter()
            .map(|x| {
                (0..h)
                    .map(|k| (0..d).map(|j| w1[k * d + j] * x[j]).sum())
                    .collect()
            })
            .collect();
        let period = layout.period;
        for (s, got) in u_slots.iter().enumerate() {
            let lane = if lanes == 1 { 0 } else { s / (n / 2) };
            let k = (s % (n / 2)) % period;
            let expect = if k < h { us[lane][k] } else { 0 };
            assert_eq!(*got, expect, "slot {s} of the first layer");
        }
        // Second layer from the replicated u.
        let z_slots = simulate_combine(
            &simulate_fold(
                &simulate_dense(&u_slots, &layout.second_layer(&w2, &scale).unwrap()),
                &layout.second_fold(),
            ),
            &layout.second_combine(),
        );
        let zs: Vec<Vec<i64>> = us
            .iter()
            .map(|u| {
                (0..o)
                    .map(|i| (0..h).map(|j| w2[i * h + j] * scale[j] * u[j]).sum())
                    .collect()
            })
            .collect();
        assert_eq!(layout.decode_outputs(&z_slots).unwrap(), zs);
        assert_eq!(layout.decode_output(&z_slots).unwrap(), zs[0]);
        let outputs = (0..n).filter(|&s| layout.is_output_slot(s)).count();
        assert_eq!(outputs, lanes * o);
        // Every rotation used is in the key list.
        let keys = layout.rotations();
        for r in layout
            .first_fold()
            .iter()
            .chain(&layout.second_fold())
            .chain(&layout.second_combine())
        {
            assert!(keys.contains(r));
        }
    }

    #[test]
    fn the_paper_sizes_fit_one_ciphertext() {
        let l = SlotLayout::new(8192, 384, 384, 382).unwrap();
        assert_eq!(
            (l.period, l.first_diagonals, l.second_diagonals),
            (512, 24, 32)
        );
        assert_eq!(l.second_copies, 8);
        let l = SlotLayout::new(8192, 768, 768, 766).unwrap();
        assert_eq!(
            (l.period, l.first_diagonals, l.second_diagonals),
            (1024, 96, 128)
        );
        assert!(SlotLayout::new(8192, 4000, 4000, 10).is_err());
        // Two lanes: one row per sample, twice the diagonals.
        let l = SlotLayout::with_lanes(8192, 384, 384, 382, 2).unwrap();
        assert_eq!(
            (l.period, l.first_diagonals, l.second_diagonals, l.lanes),
            (512, 48, 64, 2)
        );
        assert!(!l.rotations().contains(&Rotation::SwapRows));
        assert!(SlotLayout::with_lanes(8192, 384, 384, 382, 3).is_err());
    }

    #[test]
    fn paper_sized_layouts_compute_the_network() {
        SlotLayout::new(8192, 384, 384, 382).unwrap();
        SlotLayout::new(8192, 768, 768, 766).unwrap();
        check_shape(8192, 384, 384, 382, 1, 1);
        check_shape(8192, 768, 768, 766, 1, 2);
        check_shape(8192, 384, 384, 382, 2, 3);
        check_shape(8192, 768, 768, 766, 2, 4);
    }

    #[test]
    fn a_two_lane_layout_with_one_sample_leaves_lane_one_zero() {
        let layout = SlotLayout::with_lanes(256, 20, 12, 7, 2).unwrap();
        let x: Vec<i64> = (1..=20).collect();
        let slots = layout.encode_inputs(&[&x]).unwrap();
        assert!(slots[128..].iter().all(|&v| v == 0));
        assert!(layout.encode_inputs(&[&x, &x, &x]).is_err());
        assert!(layout.encode_inputs(&[&x[..19]]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn layouts_compute_the_network(d in 1usize..80, h in 1usize..80, o in 1usize..80, lanes in 1usize..=2, seed in any::<u64>()) {
            check_shape(256, d, h, o, lanes, seed);
        }
    }
}
