//! The accountant against `dp_accounting` 0.6.0 (fixtures written by
//! `tests/fixtures/generate_rdp_fixtures.py`).
//!
//! Tolerances: RDP values to 1e-6 relative (absolute floor 1e-12 for values
//! near 0), `ε` and `δ` to 1e-4 relative, calibrated `σ` to 1e-5 relative
//! (the reference stops Brent's method at an absolute 1e-7, this crate at a
//! relative 1e-7). Orders at which the reference's fractional series did not
//! converge (null) must be `+∞` here too.

use cryptotl_dp::accountant::{
    calibrate_noise, default_orders, epsilon_for, epsilon_for_fixed_size,
    rdp_poisson_subsampled_gaussian, rdp_sampled_without_replacement_gaussian, NeighboringRelation,
    RdpAccountant,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixtures {
    dp_accounting_version: String,
    orders: Vec<f64>,
    poisson: Vec<PoissonEntry>,
    delta: Vec<DeltaEntry>,
    sample_wor: Vec<WorEntry>,
    calibration: Vec<CalibrationEntry>,
}

#[derive(Deserialize)]
struct EpsilonEntry {
    steps: u64,
    delta: f64,
    epsilon: Option<f64>,
    optimal_order: f64,
}

#[derive(Deserialize)]
struct PoissonEntry {
    q: f64,
    sigma: f64,
    rdp_one_step: Vec<Option<f64>>,
    epsilon: Vec<EpsilonEntry>,
}

#[derive(Deserialize)]
struct DeltaEntry {
    q: f64,
    sigma: f64,
    steps: u64,
    epsilon: f64,
    delta: f64,
}

#[derive(Deserialize)]
struct WorEntry {
    dataset_size: u64,
    batch_size: u64,
    sigma: f64,
    rdp_one_step: Vec<Option<f64>>,
    epsilon: Vec<EpsilonEntry>,
}

#[derive(Deserialize)]
struct CalibrationEntry {
    target_epsilon: f64,
    delta: f64,
    q: f64,
    steps: u64,
    sigma: f64,
}

fn fixtures() -> Fixtures {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rdp_reference.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture file is present");
    serde_json::from_str(&text).expect("fixture file parses")
}

const RDP_RTOL: f64 = 1e-6;
const RDP_ATOL: f64 = 1e-12;
const EPS_RTOL: f64 = 1e-4;

/// Asserts closeness and returns the relative error (0 for matching infinities).
fn assert_rdp_close(got: f64, want: Option<f64>, what: &str) -> f64 {
    match want {
        None => {
            assert!(got.is_infinite(), "{what}: reference inf, got {got}");
            0.0
        }
        Some(w) => {
            assert!(
                (got - w).abs() <= RDP_RTOL * w.abs() + RDP_ATOL,
                "{what}: got {got}, reference {w}"
            );
            if w == 0.0 {
                0.0
            } else {
                (got - w).abs() / w.abs()
            }
        }
    }
}

/// Asserts closeness and returns the relative error (0 for matching infinities).
fn assert_eps_close(got: f64, want: Option<f64>, what: &str) -> f64 {
    match want {
        None => {
            assert!(got.is_infinite(), "{what}: reference inf, got {got}");
            0.0
        }
        Some(w) => {
            assert!(
                (got - w).abs() <= EPS_RTOL * w.abs() + 1e-12,
                "{what}: got {got}, reference {w}"
            );
            if w == 0.0 {
                0.0
            } else {
                (got - w).abs() / w.abs()
            }
        }
    }
}

#[test]
fn fixture_metadata() {
    let f = fixtures();
    assert_eq!(f.dp_accounting_version, "0.6.0");
    assert_eq!(f.orders, default_orders());
    assert_eq!(f.poisson.len(), 25);
}

#[test]
fn poisson_rdp_matches_reference() {
    let f = fixtures();
    let mut compared = 0;
    let mut worst = 0.0f64;
    let mut infinite = 0;
    for e in &f.poisson {
        assert_eq!(e.rdp_one_step.len(), f.orders.len());
        for (&a, &want) in f.orders.iter().zip(&e.rdp_one_step) {
            let got = rdp_poisson_subsampled_gaussian(e.q, e.sigma, a).unwrap();
            worst = worst.max(assert_rdp_close(
                got,
                want,
                &format!("q={} σ={} α={a}", e.q, e.sigma),
            ));
            infinite += usize::from(want.is_none());
            compared += 1;
        }
    }
    assert_eq!(compared, 25 * 156);
    // The grid contains non-converged fractional orders (small σ, q = 0.05, 0.1).
    assert!(infinite > 0);
    eprintln!("Poisson RDP: {compared} values ({infinite} infinite), max relative error {worst:e}");
}

#[test]
fn poisson_epsilon_matches_reference() {
    let f = fixtures();
    let mut compared = 0;
    let mut worst = 0.0f64;
    for e in &f.poisson {
        for x in &e.epsilon {
            let what = format!("q={} σ={} T={} δ={}", e.q, e.sigma, x.steps, x.delta);
            let mut acc = RdpAccountant::new();
            acc.compose_poisson_gaussian(e.q, e.sigma, x.steps).unwrap();
            let (eps, order) = acc.epsilon_and_order(x.delta).unwrap();
            worst = worst.max(assert_eps_close(eps, x.epsilon, &what));
            if x.epsilon.is_some_and(|v| v > 0.0) {
                assert_eq!(order, x.optimal_order, "{what}: optimal order");
            }
            let eps2 = epsilon_for(e.sigma, e.q, x.steps, x.delta).unwrap();
            assert_eq!(eps, eps2, "{what}: epsilon_for and the accountant agree");
            compared += 1;
        }
    }
    // 5 q × 5 σ × 4 step counts × 2 δ.
    assert_eq!(compared, 200);
    eprintln!("Poisson epsilon: {compared} values, max relative error {worst:e}");
}

#[test]
fn delta_matches_reference() {
    let f = fixtures();
    assert!(!f.delta.is_empty());
    for d in &f.delta {
        let mut acc = RdpAccountant::new();
        acc.compose_poisson_gaussian(d.q, d.sigma, d.steps).unwrap();
        let got = acc.delta(d.epsilon).unwrap();
        assert!(
            (got - d.delta).abs() <= EPS_RTOL * d.delta,
            "q={} σ={} T={} ε={}: {got} vs {}",
            d.q,
            d.sigma,
            d.steps,
            d.epsilon,
            d.delta
        );
    }
}

#[test]
fn sampling_without_replacement_matches_reference() {
    let f = fixtures();
    assert!(!f.sample_wor.is_empty());
    let mut worst = 0.0f64;
    for e in &f.sample_wor {
        for (&a, &want) in f.orders.iter().zip(&e.rdp_one_step) {
            let got =
                rdp_sampled_without_replacement_gaussian(e.dataset_size, e.batch_size, e.sigma, a)
                    .unwrap();
            let what = format!(
                "n={} m={} σ={} α={a}",
                e.dataset_size, e.batch_size, e.sigma
            );
            worst = worst.max(assert_rdp_close(got, want, &what));
        }
        for x in &e.epsilon {
            let mut acc =
                RdpAccountant::with_orders(default_orders(), NeighboringRelation::ReplaceOne)
                    .unwrap();
            acc.compose_sampled_without_replacement_gaussian(
                e.dataset_size,
                e.batch_size,
                e.sigma,
                x.steps,
            )
            .unwrap();
            let what = format!(
                "n={} m={} σ={} T={}",
                e.dataset_size, e.batch_size, e.sigma, x.steps
            );
            worst = worst.max(assert_eps_close(
                acc.epsilon(x.delta).unwrap(),
                x.epsilon,
                &what,
            ));
            let eps2 =
                epsilon_for_fixed_size(e.sigma, e.dataset_size, e.batch_size, x.steps, x.delta)
                    .unwrap();
            assert_eps_close(eps2, x.epsilon, &what);
        }
    }
    eprintln!("sampling without replacement: max relative error {worst:e}");
}

#[test]
fn calibration_matches_reference() {
    let f = fixtures();
    assert!(!f.calibration.is_empty());
    for c in &f.calibration {
        let sigma = calibrate_noise(c.target_epsilon, c.delta, c.q, c.steps).unwrap();
        assert!(
            (sigma - c.sigma).abs() <= 1e-5 * c.sigma,
            "ε*={} δ={} q={} T={}: {sigma} vs {}",
            c.target_epsilon,
            c.delta,
            c.q,
            c.steps,
            c.sigma
        );
    }
}
