//! Choosing the client's head by cross-validation on its own training data
//! ([`select_head`]): model family × feature set, and the logistic
//! regression's L2 strength, scored by stratified k-fold cross-validation.

use crate::client_head::{
    CandidateScore, Classifier, ClientHead, Criterion, Family, FeatureSet, Selection,
};
use crate::config::HeadConfig;
use crate::ensemble::train_ensemble;
use crate::error::{HeadError, Result};
use crate::folds::{pooled, tested_rows, Fold};
use crate::logistic::{LogisticHead, LogisticOptions};
use crate::metrics::{argmax, log_loss, LOG_LOSS_EPSILON};
use crate::train::{TrainOptions, Trainer, ValidationSplit};

/// The candidates [`select_head`] tries and how it scores them.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectOptions {
    /// Model families to try.
    pub families: Vec<Family>,
    /// Feature sets to try (those needing the server are skipped when its
    /// features are not given).
    pub feature_sets: Vec<FeatureSet>,
    /// L2 penalties λ tried for logistic regression (each is a candidate).
    pub l2_grid: Vec<f64>,
    /// The logistic regression's other settings.
    pub logistic: LogisticOptions,
    /// Hidden units of the MLP head.
    pub mlp_hidden: usize,
    /// Heads per MLP seed ensemble.
    pub mlp_members: usize,
    /// The MLP head's training options (its seed seeds the folds too).
    pub mlp: TrainOptions,
    /// Folds (at most; fewer when a class has fewer samples, at least 2).
    pub folds: usize,
    /// Times the cross-validation is repeated with other folds (scores are
    /// averaged): smoother scores on small sets, at that many times the
    /// cost.
    pub repeats: usize,
    /// What the choice maximizes.
    pub criterion: Criterion,
    /// The guard against choices that do not pay: `Some(z)` keeps the
    /// reference — logistic regression on the raw embedding, with its best
    /// λ (else the best raw-embedding candidate) — unless the best-ranked
    /// candidate of another family or feature set beats it, per held-out
    /// sample, by more than `z` standard errors of the mean log-loss
    /// difference (a paired comparison on the same folds). `None`: no
    /// guard, the ranking alone decides.
    pub guard: Option<f64>,
}

impl Default for SelectOptions {
    /// Both families, every feature set, λ ∈ {10⁻⁴, 10⁻³, 10⁻², 10⁻¹, 1},
    /// the default MLP head (one member), 5 folds.
    fn default() -> Self {
        Self {
            families: vec![Family::Logistic, Family::Mlp],
            feature_sets: FeatureSet::ALL.to_vec(),
            l2_grid: vec![1e-4, 1e-3, 1e-2, 1e-1, 1.0],
            logistic: LogisticOptions::default(),
            mlp_hidden: HeadConfig::new(1, 2).hidden,
            mlp_members: 1,
            mlp: TrainOptions::default(),
            folds: 5,
            repeats: 1,
            criterion: Criterion::default(),
            guard: Some(1.0),
        }
    }
}

impl SelectOptions {
    /// These options restricted to one family and one feature set (the
    /// logistic regression's λ is still chosen by cross-validation).
    pub fn only(mut self, family: Family, features: FeatureSet) -> Self {
        self.families = vec![family];
        self.feature_sets = vec![features];
        self
    }
}

/// One candidate: a family on a feature set (with λ for logistic
/// regression).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    family: Family,
    features: FeatureSet,
    l2: Option<f64>,
}

impl Candidate {
    fn fit(
        &self,
        x: &[Vec<f32>],
        y: &[usize],
        class_names: &[String],
        options: &SelectOptions,
    ) -> Result<Classifier> {
        let classes = class_names.len();
        match self.family {
            Family::Logistic => {
                let l2 = self.l2.unwrap_or(options.logistic.l2);
                let mut head = LogisticHead::fit(x, y, classes, &options.logistic.with_l2(l2))?;
                head.set_class_names(class_names.to_vec())?;
                Ok(Classifier::Logistic(head))
            }
            Family::Mlp => {
                let config = HeadConfig {
                    hidden: options.mlp_hidden,
                    ..HeadConfig::new(x.first().map_or(0, Vec::len), classes)
                };
                // Early stopping needs a validation split with a sample of
                // every class on both sides: below 20 samples, train for
                // the fixed number of epochs instead.
                let mlp = if y.len() < 20 {
                    TrainOptions {
                        validation: ValidationSplit::None,
                        ..options.mlp.clone()
                    }
                } else {
                    options.mlp.clone()
                };
                let (ensemble, _) = train_ensemble(options.mlp_members, &mlp, |o| {
                    Trainer::new(config.clone(), o)
                        .class_names(class_names.to_vec())
                        .fit(x, y)
                })?;
                Ok(Classifier::Mlp(ensemble))
            }
        }
    }
}

/// Whether `candidate`'s per-sample losses are lower than `baseline`'s by
/// more than `z` standard errors of the mean paired difference.
fn pays(baseline: &[f64], candidate: &[f64], z: f64) -> bool {
    let n = baseline.len().min(candidate.len());
    if n < 2 {
        return false;
    }
    let d: Vec<f64> = baseline.iter().zip(candidate).map(|(b, c)| b - c).collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    mean > z * (var / n as f64).sqrt()
}

/// Chooses and trains the client's head on its training data only.
///
/// Every candidate — each family in `options.families` on each available
/// feature set, logistic regression once per λ of `options.l2_grid` — is
/// scored by stratified k-fold cross-validation over `(raw, server, y)`:
/// trained on k − 1 folds, tested on the held-out fold, its out-of-fold
/// predictions pooled, `options.repeats` times with different folds (the
/// scores averaged). The candidate best by `options.criterion` wins (the
/// highest accuracy by default; ties: the other score, then the earlier
/// candidate: logistic before MLP, raw before server before both, smaller λ
/// first). With `options.guard`, a winner other than logistic regression on
/// the raw embedding is kept only if it beats that reference clearly (see
/// [`SelectOptions::guard`]): the server should never make the client worse
/// off. The winner is then trained on all the data. The scores are kept in the head's
/// [`Selection`]. `progress` hears each candidate's score as it comes.
///
/// With one candidate no cross-validation is run. When a class has a
/// single sample, cross-validation is impossible: the first candidate is
/// taken.
///
/// # Errors
/// [`HeadError::InvalidInput`] for empty or mismatched data, server
/// features needed by every candidate but missing, and the training errors
/// of the candidates.
pub fn select_head(
    raw: &[Vec<f32>],
    server: Option<&[Vec<f32>]>,
    y: &[usize],
    class_names: &[String],
    options: &SelectOptions,
    progress: &mut dyn FnMut(&CandidateScore),
) -> Result<ClientHead> {
    let search = CandidateSearch::run(raw, server, y, class_names, options, progress)?;
    let choice = search
        .choose(None, options.guard)
        .ok_or_else(|| HeadError::InvalidInput("no candidate head".into()))?;
    search.fit(choice)
}

/// Every candidate of [`select_head`] scored once by cross-validation, so
/// that several rules can choose from the same scores (an experiment
/// comparing guards, or a fixed family and feature set, pays for one
/// cross-validation instead of one per rule).
#[derive(Debug, Clone)]
pub struct CandidateSearch<'a> {
    raw: &'a [Vec<f32>],
    server: Option<&'a [Vec<f32>]>,
    y: &'a [usize],
    class_names: &'a [String],
    options: SelectOptions,
    candidates: Vec<Candidate>,
    /// Empty when no cross-validation was run (one candidate, or a class
    /// too small for two folds).
    scores: Vec<CandidateScore>,
    /// Per candidate: each held-out sample's log loss, repeat after repeat
    /// (the same samples in the same order for every candidate).
    sample_losses: Vec<Vec<f64>>,
    folds: usize,
    repeats: usize,
}

/// A candidate picked by [`CandidateSearch::choose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    index: usize,
    guarded: bool,
}

impl<'a> CandidateSearch<'a> {
    /// Builds the candidates of `options` and scores each by
    /// cross-validation (see [`select_head`]); `progress` hears each score.
    ///
    /// # Errors
    /// As [`select_head`].
    pub fn run(
        raw: &'a [Vec<f32>],
        server: Option<&'a [Vec<f32>]>,
        y: &'a [usize],
        class_names: &'a [String],
        options: &SelectOptions,
        progress: &mut dyn FnMut(&CandidateScore),
    ) -> Result<Self> {
        if raw.is_empty() || raw.len() != y.len() {
            return Err(HeadError::InvalidInput(format!(
                "{} samples and {} labels",
                raw.len(),
                y.len()
            )));
        }
        let classes = class_names.len();
        let mut candidates = Vec::new();
        for &family in &options.families {
            for &features in &options.feature_sets {
                if features.needs_server() && server.is_none() {
                    continue;
                }
                match family {
                    Family::Logistic => {
                        candidates.extend(options.l2_grid.iter().map(|&l2| Candidate {
                            family,
                            features,
                            l2: Some(l2),
                        }))
                    }
                    Family::Mlp => candidates.push(Candidate {
                        family,
                        features,
                        l2: None,
                    }),
                }
            }
        }
        candidates.sort_by(|a, b| {
            (a.family, a.features)
                .cmp(&(b.family, b.features))
                .then(a.l2.unwrap_or(0.0).total_cmp(&b.l2.unwrap_or(0.0)))
        });
        candidates.dedup();
        if candidates.is_empty() {
            return Err(HeadError::InvalidInput(
                "no candidate head: the chosen feature sets need the server's features".into(),
            ));
        }
        let smallest_class = (0..classes)
            .map(|c| y.iter().filter(|&&l| l == c).count())
            .filter(|&n| n > 0)
            .min()
            .unwrap_or(0);
        let k = options.folds.min(smallest_class);
        let repeats = options.repeats.max(1);
        let mut search = Self {
            raw,
            server,
            y,
            class_names,
            options: options.clone(),
            candidates,
            scores: Vec::new(),
            sample_losses: Vec::new(),
            folds: k,
            repeats,
        };
        if search.candidates.len() == 1 || k < 2 {
            return Ok(search);
        }
        let splits = (0..repeats)
            .map(|r| {
                let seed = options
                    .mlp
                    .seed
                    .wrapping_add((r as u64).wrapping_mul(0x5851_F42D_4C95_7F2D));
                let folds = Fold::cross_validation(y, k, seed)?;
                let tested = Fold::gather(y, &tested_rows(&folds));
                Ok((folds, tested))
            })
            .collect::<Result<Vec<_>>>()?;
        for c in &search.candidates {
            let x = c.features.compose(raw, server)?;
            let (mut accuracy, mut loss) = (0.0, 0.0);
            let mut losses = Vec::with_capacity(repeats * y.len());
            for (folds, tested) in &splits {
                let probabilities = pooled::<_, HeadError>(folds, |fold| {
                    let model = c.fit(
                        &Fold::gather(&x, &fold.train),
                        &Fold::gather(y, &fold.train),
                        class_names,
                        options,
                    )?;
                    model.predict_proba(&Fold::gather(&x, &fold.test))
                })?;
                let correct = probabilities
                    .iter()
                    .zip(tested)
                    .filter(|(p, &t)| argmax(p) == t)
                    .count();
                accuracy += correct as f64 / tested.len() as f64 / repeats as f64;
                loss += log_loss(tested, &probabilities)? / repeats as f64;
                losses.extend(tested.iter().zip(&probabilities).map(|(&t, p)| {
                    -f64::from(p.get(t).copied().unwrap_or(0.0))
                        .max(LOG_LOSS_EPSILON)
                        .ln()
                }));
            }
            search.sample_losses.push(losses);
            let score = CandidateScore {
                family: c.family,
                features: c.features,
                l2: c.l2,
                accuracy,
                log_loss: loss,
            };
            progress(&score);
            search.scores.push(score);
        }
        Ok(search)
    }

    /// The candidate the rule picks: among those of `only` (a family and
    /// feature set; `None`: every candidate), the best by the options'
    /// criterion, then, with `guard = Some(z)`, the guard of
    /// [`SelectOptions::guard`]. Without scores, the first candidate;
    /// `None` when no candidate is of `only`.
    pub fn choose(&self, only: Option<(Family, FeatureSet)>, guard: Option<f64>) -> Option<Choice> {
        let allowed = |c: &Candidate| only.is_none_or(|o| (c.family, c.features) == o);
        let first = self.candidates.iter().position(allowed)?;
        if self.scores.is_empty() {
            return Some(Choice {
                index: first,
                guarded: false,
            });
        }
        let better = |a: &CandidateScore, b: &CandidateScore| match self.options.criterion {
            Criterion::Accuracy => {
                a.accuracy > b.accuracy || (a.accuracy == b.accuracy && a.log_loss < b.log_loss)
            }
            Criterion::LogLoss => {
                a.log_loss < b.log_loss || (a.log_loss == b.log_loss && a.accuracy > b.accuracy)
            }
        };
        let best_of = |keep: &dyn Fn(&Candidate) -> bool| {
            (0..self.scores.len())
                .filter(|&i| keep(&self.candidates[i]))
                .reduce(|best, i| {
                    if better(&self.scores[i], &self.scores[best]) {
                        i
                    } else {
                        best
                    }
                })
        };
        let mut chosen = best_of(&|c| allowed(c)).unwrap_or(first);
        let mut guarded = false;
        // The reference the guard protects: logistic regression on the raw
        // embedding (its best λ), else the best raw-embedding candidate.
        let reference = best_of(&|c| {
            allowed(c) && c.family == Family::Logistic && c.features == FeatureSet::Raw
        })
        .or_else(|| best_of(&|c| allowed(c) && !c.features.needs_server()));
        if let (Some(z), Some(reference)) = (guard, reference) {
            let (a, b) = (self.candidates[chosen], self.candidates[reference]);
            if (a.family, a.features) != (b.family, b.features)
                && !pays(
                    &self.sample_losses[reference],
                    &self.sample_losses[chosen],
                    z,
                )
            {
                chosen = reference;
                guarded = true;
            }
        }
        Some(Choice {
            index: chosen,
            guarded,
        })
    }

    /// The chosen candidate's family, feature set and λ.
    pub fn describe(&self, choice: Choice) -> (Family, FeatureSet, Option<f64>) {
        let c = self.candidates[choice.index];
        (c.family, c.features, c.l2)
    }

    /// Trains the chosen candidate on all the data; the head records the
    /// scores (when cross-validation ran) in its [`Selection`].
    ///
    /// # Errors
    /// The candidate's training errors.
    pub fn fit(&self, choice: Choice) -> Result<ClientHead> {
        let c = self.candidates[choice.index];
        let x = c.features.compose(self.raw, self.server)?;
        let classifier = c.fit(&x, self.y, self.class_names, &self.options)?;
        let head = ClientHead::new(c.features, classifier);
        if self.scores.is_empty() {
            return Ok(head);
        }
        Ok(head.with_selection(Selection {
            folds: self.folds,
            repeats: self.repeats,
            criterion: self.options.criterion,
            guard: self.options.guard,
            guarded: choice.guarded,
            samples: self.y.len(),
            candidates: self.scores.clone(),
            chosen: choice.index,
        }))
    }
}
