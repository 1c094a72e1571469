//! DP-SGD through the trainer: clipping bound, learning at ε = 8, the
//! recorded ε, determinism for a noise seed, refusals.

mod common;

use common::separable_binary;
use cryptotl_head::DpSgd;
use cryptotl_head::{
    DpOptions, GradientRule, HeadConfig, HeadError, StepBatch, TrainOptions, Trainer,
};

fn config(dim: usize) -> HeadConfig {
    HeadConfig {
        hidden: 24,
        standardize: false,
        ..HeadConfig::new(dim, 2)
    }
}

fn options(epochs: usize) -> TrainOptions {
    TrainOptions {
        max_epochs: epochs,
        batch_size: 50,
        learning_rate: 1e-2,
        seed: 3,
        ..TrainOptions::default()
    }
}

fn dp(epsilon: f64, seed: u64) -> DpOptions {
    DpOptions {
        noise_seed: Some(seed),
        ..DpOptions::new(epsilon, 1e-5, 1.0)
    }
}

/// Wraps the DP rule to observe it after every step.
struct Watch<'a> {
    rule: &'a mut DpSgd,
    worst_clipped: f64,
    worst_raw: f64,
}

impl GradientRule for Watch<'_> {
    fn gradients(
        &mut self,
        batch: &StepBatch<'_>,
    ) -> cryptotl_head::Result<(f64, cryptotl_head::candle_core::backprop::GradStore)> {
        let out = self.rule.gradients(batch)?;
        self.worst_clipped = self.worst_clipped.max(self.rule.max_clipped_norm());
        self.worst_raw = self.worst_raw.max(self.rule.max_raw_norm());
        Ok(out)
    }
}

#[test]
fn per_example_gradients_never_exceed_the_clipping_norm() {
    let set = separable_binary(200, 8, 1.0, 5);
    let clip = 0.05f32;
    let cfg = cryptotl_dp::DpSgdConfig {
        clip,
        noise_multiplier: 1.0,
        sampling_rate: 0.25,
        steps: 40,
        delta: 1e-5,
    };
    let rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(9);
    let mut rule = DpSgd::new(cfg, 200, rng).unwrap();
    let watch = Watch {
        rule: &mut rule,
        worst_clipped: 0.0,
        worst_raw: 0.0,
    };
    let mut watch = watch;
    let opts = TrainOptions {
        validation: cryptotl_head::ValidationSplit::None,
        ..options(5)
    };
    Trainer::new(config(8), opts)
        .gradient_rule(&mut watch)
        .fit(&set.x, &set.y)
        .unwrap();
    assert!(watch.worst_raw > f64::from(clip), "clipping never engaged");
    assert!(
        watch.worst_clipped <= f64::from(clip),
        "clipped norm {} > C = {clip}",
        watch.worst_clipped
    );
    assert!(rule.steps() > 0);
}

#[test]
fn dp_training_learns_a_separable_set_at_epsilon_8() {
    let all = separable_binary(1500, 8, 1.0, 11);
    let (xt, yt) = (&all.x[..1000], &all.y[..1000]);
    let (xv, yv) = (&all.x[1000..], &all.y[1000..]);
    let (head, report) = Trainer::new(config(8), options(15))
        .differential_privacy(dp(8.0, 1))
        .fit(xt, yt)
        .unwrap();
    let metrics = head.evaluate(xv, yv).unwrap();
    // Threshold: 90% held-out accuracy (non-private training reaches ~99%).
    assert!(metrics.accuracy >= 0.90, "{metrics}");
    assert_eq!(report.epochs, 15, "no early stopping under DP");
    assert_eq!(report.validation_examples, 0);
    let record = head.training().unwrap();
    let spent = record.dp.expect("DP record");
    assert!(spent.epsilon <= 8.0 && spent.epsilon > 7.5, "{spent:?}");
    assert_eq!(spent.delta, 1e-5);
    assert_eq!(spent.clip, 1.0);
    assert!(spent.noise_multiplier > 0.3, "{spent:?}");
    assert_eq!(record.train_examples, 1000);
}

#[test]
fn dp_records_survive_a_head_file_round_trip_and_epsilon_stays_below_target() {
    let set = separable_binary(300, 4, 1.0, 2);
    for eps in [1.0, 3.0] {
        let (head, _) = Trainer::new(config(4), options(3))
            .differential_privacy(dp(eps, 4))
            .fit(&set.x, &set.y)
            .unwrap();
        let dir =
            std::env::temp_dir().join(format!("cryptotl-dp-head-{}-{eps}", std::process::id()));
        head.save(&dir).unwrap();
        let back = cryptotl_head::Head::load(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&dir);
        let rec = back.training().unwrap().dp.unwrap();
        assert!(rec.epsilon <= eps, "{rec:?}");
        assert_eq!(Some(rec), head.training().unwrap().dp);
    }
}

#[test]
fn a_noise_seed_makes_dp_training_deterministic() {
    let set = separable_binary(200, 4, 1.0, 6);
    let run = |seed| {
        let (head, _) = Trainer::new(config(4), options(3))
            .differential_privacy(dp(3.0, seed))
            .fit(&set.x, &set.y)
            .unwrap();
        head.predict_proba(&set.x).unwrap()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn dp_refuses_standardization_and_validation_sets() {
    let set = separable_binary(100, 4, 1.0, 6);
    let standardized = HeadConfig {
        standardize: true,
        ..config(4)
    };
    let err = Trainer::new(standardized, options(1))
        .differential_privacy(dp(3.0, 1))
        .fit(&set.x, &set.y)
        .unwrap_err();
    assert!(matches!(err, HeadError::InvalidConfig(_)), "{err}");
    let err = Trainer::new(config(4), options(1))
        .validation_set(&set.x, &set.y)
        .differential_privacy(dp(3.0, 1))
        .fit(&set.x, &set.y)
        .unwrap_err();
    assert!(matches!(err, HeadError::InvalidOptions(_)), "{err}");
    let err = Trainer::new(config(4), options(1))
        .differential_privacy(dp(-1.0, 1))
        .fit(&set.x, &set.y)
        .unwrap_err();
    assert!(matches!(err, HeadError::InvalidOptions(_)), "{err}");
}

#[test]
fn tiny_sampling_rates_give_empty_batches_without_failing() {
    // batch 1 of 100 examples: q = 0.01, many steps see an empty batch.
    let set = separable_binary(100, 4, 1.0, 8);
    let opts = TrainOptions {
        batch_size: 1,
        ..options(1)
    };
    let (head, report) = Trainer::new(config(4), opts)
        .differential_privacy(dp(8.0, 3))
        .fit(&set.x, &set.y)
        .unwrap();
    assert_eq!(report.epochs, 1);
    assert!(head.training().unwrap().dp.unwrap().epsilon <= 8.0);
}
