//! Seed ensembles of heads: several heads of one configuration, trained on
//! the same data with different seeds, whose class probabilities are
//! averaged (soft voting).
//!
//! Documented on [`Ensemble`].

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{HeadError, Result};
use crate::head::Head;
use crate::head_file::{
    check_version, read_file, write_file, FORMAT_KEY, HEAD_FORMAT, VERSION_KEY,
};
use crate::metrics::{argmax, Metrics};
use crate::{HeadConfig, TrainOptions, TrainReport, TrainingRecord};

/// Value of the `format` metadata key of a multi-head file.
pub const ENSEMBLE_FORMAT: &str = "cryptotl-head-ensemble";
/// The ensemble format version this build reads and writes.
pub const ENSEMBLE_FORMAT_VERSION: u32 = 1;
/// Most members an ensemble may have (bounds what a hostile file can ask).
pub const MAX_MEMBERS: usize = 64;

const MEMBERS_KEY: &str = "members";

/// Heads of one configuration whose probabilities are averaged.
///
/// A single head trained on a few hundred examples moves by a point or two
/// of accuracy from one training seed to the next; averaging `K` heads
/// shrinks that noise, which is what makes two pipelines that differ only
/// slightly in their features (float and quantized) comparable run by run.
///
/// # File format
///
/// An ensemble of one head is written as a plain head file
/// ([`Head::to_bytes`]), so one-head files and one-member ensembles are
/// interchangeable. An ensemble of `K > 1` heads is one safetensors file with
/// `format = "cryptotl-head-ensemble"`, `format_version = "1"` and
/// `members = "K"` in its metadata and `K` tensors `member.0` … `member.{K−1}`
/// of dtype `U8`, each holding the bytes of that member's head file. Loading
/// validates every member as a head file and checks that all members share
/// the configuration and the class names; at most [`MAX_MEMBERS`] members.
///
/// ```
/// use cryptotl_head::{Ensemble, Head, HeadConfig};
///
/// let config = HeadConfig::new(4, 2);
/// let members = (0..3).map(|seed| Head::init(&config, seed)).collect::<Result<Vec<_>, _>>()?;
/// let ensemble = Ensemble::new(members)?;
/// let x = vec![vec![0.1, 0.2, 0.3, 0.4]];
/// let p = ensemble.predict_proba(&x)?;
/// assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// let bytes = ensemble.to_bytes()?;
/// assert_eq!(Ensemble::from_bytes(&bytes)?.predict_proba(&x)?, p);
/// # Ok::<(), cryptotl_head::HeadError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ensemble {
    members: Vec<Head>,
}

impl From<Head> for Ensemble {
    fn from(head: Head) -> Self {
        Self {
            members: vec![head],
        }
    }
}

impl Ensemble {
    /// An ensemble of `members`.
    ///
    /// # Errors
    ///
    /// [`HeadError::InvalidConfig`] when there are no members, more than
    /// [`MAX_MEMBERS`], or members that differ in configuration or class
    /// names.
    pub fn new(members: Vec<Head>) -> Result<Self> {
        let Some(first) = members.first() else {
            return Err(HeadError::InvalidConfig(
                "an ensemble needs at least one head".into(),
            ));
        };
        if members.len() > MAX_MEMBERS {
            return Err(HeadError::InvalidConfig(format!(
                "{} heads in an ensemble, at most {MAX_MEMBERS}",
                members.len()
            )));
        }
        for (i, m) in members.iter().enumerate().skip(1) {
            if m.config() != first.config() {
                return Err(HeadError::InvalidConfig(format!(
                    "head {i} has configuration {:?}, head 0 {:?}",
                    m.config(),
                    first.config()
                )));
            }
            if m.class_names() != first.class_names() {
                return Err(HeadError::InvalidConfig(format!(
                    "head {i} has class names {:?}, head 0 {:?}",
                    m.class_names(),
                    first.class_names()
                )));
            }
        }
        Ok(Self { members })
    }

    /// The members, in training order.
    pub fn members(&self) -> &[Head] {
        &self.members
    }

    /// Number of members (at least 1).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always `false`: an ensemble has at least one member.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first member (every member has its configuration and class names).
    fn first(&self) -> &Head {
        &self.members[0]
    }

    /// The shared configuration.
    pub fn config(&self) -> &HeadConfig {
        self.first().config()
    }

    /// The shared class names.
    pub fn class_names(&self) -> &[String] {
        self.first().class_names()
    }

    /// The members' training records (`None` for an untrained member).
    pub fn training(&self) -> impl Iterator<Item = Option<&TrainingRecord>> {
        self.members.iter().map(Head::training)
    }

    /// The mean of the members' class probabilities.
    ///
    /// # Errors
    ///
    /// As [`Head::predict_proba`].
    pub fn predict_proba(&self, x: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let mut sum = self.first().predict_proba(x)?;
        for m in &self.members[1..] {
            for (acc, p) in sum.iter_mut().zip(m.predict_proba(x)?) {
                for (a, v) in acc.iter_mut().zip(p) {
                    *a += v;
                }
            }
        }
        let k = self.members.len() as f32;
        for row in &mut sum {
            for v in row.iter_mut() {
                *v /= k;
            }
        }
        Ok(sum)
    }

    /// The most probable class under the averaged probabilities (ties go
    /// to the lower class).
    ///
    /// # Errors
    ///
    /// As [`Head::predict_proba`].
    pub fn predict(&self, x: &[Vec<f32>]) -> Result<Vec<usize>> {
        Ok(self.predict_proba(x)?.iter().map(|p| argmax(p)).collect())
    }

    /// Metrics of the averaged probabilities on a labelled set.
    ///
    /// # Errors
    ///
    /// As [`Head::evaluate`].
    pub fn evaluate(&self, x: &[Vec<f32>], y: &[usize]) -> Result<Metrics> {
        // The first member validates the set (dimensions, labels) exactly as
        // a single head does.
        self.first().evaluate(x, y)?;
        Metrics::from_probabilities(y, &self.predict_proba(x)?)?
            .with_class_names(self.class_names())
    }

    /// The bytes of the ensemble's file (see [`Ensemble`]).
    ///
    /// # Errors
    ///
    /// As [`Head::to_bytes`].
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.members.len() == 1 {
            return self.first().to_bytes();
        }
        let files = self
            .members
            .iter()
            .map(Head::to_bytes)
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<String> = (0..files.len()).map(|i| format!("member.{i}")).collect();
        let views = names
            .iter()
            .zip(&files)
            .map(|(name, bytes)| {
                Ok((
                    name.as_str(),
                    TensorView::new(Dtype::U8, vec![bytes.len()], bytes)?,
                ))
            })
            .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(HeadError::tensors("cannot encode the ensemble"))?;
        let metadata = HashMap::from([
            (FORMAT_KEY.to_string(), ENSEMBLE_FORMAT.to_string()),
            (VERSION_KEY.to_string(), ENSEMBLE_FORMAT_VERSION.to_string()),
            (MEMBERS_KEY.to_string(), files.len().to_string()),
        ]);
        safetensors::serialize(views, Some(metadata))
            .map_err(HeadError::tensors("cannot encode the ensemble"))
    }

    /// Decodes an ensemble file or a plain head file (one member),
    /// validating every member.
    ///
    /// # Errors
    ///
    /// [`HeadError::UnsupportedVersion`] for another ensemble format version,
    /// [`HeadError::MalformedFile`] for anything else that is wrong, and the
    /// errors of [`Head::from_bytes`] for a member.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let malformed = HeadError::MalformedFile;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        let format = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(FORMAT_KEY))
            .map(String::as_str);
        if format == Some(HEAD_FORMAT) {
            return Ok(Head::from_bytes(bytes)?.into());
        }
        if format != Some(ENSEMBLE_FORMAT) {
            return Err(malformed(format!(
                "metadata key {FORMAT_KEY:?} is neither {HEAD_FORMAT:?} nor {ENSEMBLE_FORMAT:?}: \
                 not a cryptotl head file"
            )));
        }
        let metadata = header
            .metadata()
            .as_ref()
            .map_or_else(HashMap::new, Clone::clone);
        check_version(&metadata, ENSEMBLE_FORMAT_VERSION..=ENSEMBLE_FORMAT_VERSION)?;
        let count: usize = metadata
            .get(MEMBERS_KEY)
            .and_then(|v| v.parse().ok())
            .filter(|&k| (2..=MAX_MEMBERS).contains(&k))
            .ok_or_else(|| {
                malformed(format!(
                    "missing or invalid {MEMBERS_KEY:?} (2 to {MAX_MEMBERS} heads)"
                ))
            })?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        if tensors.len() != count {
            return Err(malformed(format!(
                "{} tensors for {count} members",
                tensors.len()
            )));
        }
        let members = (0..count)
            .map(|i| {
                let name = format!("member.{i}");
                let view = tensors
                    .tensor(&name)
                    .map_err(HeadError::tensors(name.as_str()))?;
                if view.dtype() != Dtype::U8 || view.shape().len() != 1 {
                    return Err(malformed(format!(
                        "{name} must be a one-dimensional U8 tensor"
                    )));
                }
                Head::from_bytes(view.data()).map_err(|e| e.in_member(&name))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(members).map_err(|e| malformed(e.to_string()))
    }

    /// Writes the ensemble's file to `path`.
    ///
    /// # Errors
    ///
    /// [`HeadError::Io`] when writing fails, and the errors of
    /// [`Ensemble::to_bytes`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path.as_ref(), &self.to_bytes()?)
    }

    /// Reads and validates an ensemble file or a plain head file at `path`.
    ///
    /// # Errors
    ///
    /// [`HeadError::Io`] when reading fails, and the errors of
    /// [`Ensemble::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(&read_file(path.as_ref())?)
    }
}

/// Trains `k` members, the `i`-th by `fit` with `options.seed + i` as its
/// seed (so member 0 is the head a single training run with `options`
/// gives), and returns the ensemble and each member's report.
///
/// `fit` builds and runs a [`crate::Trainer`] however the caller needs
/// (class names, validation set, progress, DP-SGD — under DP each member
/// spends the budget again: `k` members of `(ε, δ)` are `(kε, kδ)` together).
///
/// # Errors
///
/// [`HeadError::InvalidConfig`] for `k = 0` or `k > MAX_MEMBERS`, and the
/// errors of `fit`.
pub fn train_ensemble(
    k: usize,
    options: &TrainOptions,
    mut fit: impl FnMut(TrainOptions) -> Result<(Head, TrainReport)>,
) -> Result<(Ensemble, Vec<TrainReport>)> {
    if k == 0 || k > MAX_MEMBERS {
        return Err(HeadError::InvalidConfig(format!(
            "{k} heads in an ensemble: use 1 to {MAX_MEMBERS}"
        )));
    }
    let mut members = Vec::with_capacity(k);
    let mut reports = Vec::with_capacity(k);
    for i in 0..k as u64 {
        let (head, report) = fit(TrainOptions {
            seed: options.seed.wrapping_add(i),
            ..options.clone()
        })?;
        members.push(head);
        reports.push(report);
    }
    Ok((Ensemble::new(members)?, reports))
}
