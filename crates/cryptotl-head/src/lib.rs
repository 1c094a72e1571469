//! The client's head for cryptotl: the small plaintext network trained on
//! the features the client decrypts from the server's encrypted lower
//! network.
//!
//! * [`HeadConfig`]: the architecture (CryptoTL's upper network: dense +
//!   ReLU, max pooling, dropout, sigmoid or softmax output).
//! * [`train`] / [`Trainer`]: minibatch Adam on candle, seeded, with early
//!   stopping on validation loss (best weights restored), optional input
//!   standardization and per-epoch progress callbacks; [`k_fold`] for
//!   stratified cross-validation, [`Fold`] and [`pooled`] for scoring any
//!   model over a split or over folds.
//! * [`Head`]: predictions ([`Head::predict_proba`], [`Head::predict`]),
//!   evaluation ([`Head::evaluate`]) and head files ([`Head::save`],
//!   [`Head::load`], format in [`Head::to_bytes`]).
//! * [`Ensemble`] / [`train_ensemble`]: seed ensembles of heads whose
//!   probabilities are averaged, in one file ([`Ensemble::to_bytes`]).
//! * [`GradientRule`]: the hook for custom gradients ([`StepBatch`],
//!   [`MeanGradient`]).
//! * [`Trainer::differential_privacy`] / [`DpSgd`]: DP-SGD with Poisson
//!   sampling, per-example clipping, calibrated Gaussian noise and the spent
//!   `(ε, δ)` recorded in the head file ([`DpOptions`], [`DpRecord`]).
//! * [`Metrics`] / [`ConfusionMatrix`]: accuracy, per-class precision,
//!   recall and F1, macro F1, Cohen's kappa, log loss.
//!
//! ```
//! use cryptotl_head::{train, HeadConfig, TrainOptions};
//!
//! // Two well-separated clusters in 8 dimensions.
//! let x: Vec<Vec<f32>> = (0..60)
//!     .map(|i| {
//!         let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
//!         (0..8).map(|j| sign * 0.01 + 0.001 * ((i * 7 + j * 3) % 5) as f32).collect()
//!     })
//!     .collect();
//! let y: Vec<usize> = (0..60).map(|i| i % 2).collect();
//! let config = HeadConfig { hidden: 24, ..HeadConfig::new(8, 2) };
//! let options = TrainOptions { max_epochs: 30, batch_size: 8, seed: 1, ..TrainOptions::default() };
//! let (head, report) = train(&config, &x, &y, &options)?;
//! let metrics = head.evaluate(&x, &y)?;
//! assert!(metrics.accuracy > 0.9, "{metrics}");
//! assert!(report.epochs >= 1);
//! # Ok::<(), cryptotl_head::HeadError>(())
//! ```

/// The candle version this crate is built on (for [`GradientRule`]s, which
/// exchange candle tensors and gradient stores).
pub use candle_core;

mod client_head;
mod config;
mod confusion;
mod data;
mod dp;
mod ensemble;
mod error;
mod folds;
mod head;
mod head_file;
mod kfold;
mod logistic;
mod metrics;
mod network;
mod preprocess;
mod record;
mod seed;
mod select;
mod split;
mod step;
mod train;

pub use client_head::{
    CandidateScore, Classifier, ClientHead, Criterion, Family, FeatureSet, Selection,
    CLIENT_HEAD_FORMAT, CLIENT_HEAD_FORMAT_VERSION,
};
pub use config::{HeadConfig, MAX_PARAMETERS};
pub use confusion::{ClassMetrics, ConfusionMatrix};
pub use data::Standardizer;
pub use dp::{DpOptions, DpSgd};
pub use ensemble::{
    train_ensemble, Ensemble, ENSEMBLE_FORMAT, ENSEMBLE_FORMAT_VERSION, MAX_MEMBERS,
};
pub use error::{HeadError, Result};
pub use folds::{largest_train, pooled, tested_rows, Fold};
pub use head::Head;
pub use head_file::{
    HEAD_FORMAT, HEAD_FORMAT_VERSION, OLDEST_HEAD_FORMAT_VERSION, STANDARDIZE_MEAN, STANDARDIZE_STD,
};
pub use kfold::{k_fold, k_fold_with_progress};
pub use logistic::{LogisticHead, LogisticOptions, LOGISTIC_FORMAT, LOGISTIC_FORMAT_VERSION};
pub use metrics::{argmax, log_loss, Metrics, LOG_LOSS_EPSILON};
pub use network::{HIDDEN_BIAS, HIDDEN_WEIGHT, OUTPUT_BIAS, OUTPUT_WEIGHT};
pub use preprocess::Preprocessing;
pub use record::{DpRecord, TrainingRecord};
pub use select::{select_head, CandidateSearch, Choice, SelectOptions};
pub use split::stratified_folds;
pub use step::{GradientRule, MeanGradient, StepBatch};
pub use train::{train, EpochReport, TrainOptions, TrainReport, Trainer, ValidationSplit};
