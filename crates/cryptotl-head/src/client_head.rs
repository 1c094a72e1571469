//! The client's whole head: which features it reads ([`FeatureSet`]), the
//! model family that reads them ([`Classifier`]), and how it was chosen
//! ([`Selection`]), in one file ([`ClientHead`]).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::ensemble::{Ensemble, ENSEMBLE_FORMAT};
use crate::error::{HeadError, Result};
use crate::head_file::{
    check_version, read_file, write_file, FORMAT_KEY, HEAD_FORMAT, VERSION_KEY,
};
use crate::logistic::{LogisticHead, LOGISTIC_FORMAT};
use crate::metrics::{argmax, Metrics};
use crate::record::TrainingRecord;

/// Value of the `format` metadata key of a client head file.
pub const CLIENT_HEAD_FORMAT: &str = "cryptotl-client-head";
/// The client head file format version this build reads and writes.
pub const CLIENT_HEAD_FORMAT_VERSION: u32 = 1;

const MANIFEST_KEY: &str = "manifest";
const CLASSIFIER_TENSOR: &str = "classifier";

/// Which features a head reads: the server's (decrypted from the encrypted
/// evaluation), the raw embedding the client holds anyway, or both side by
/// side (raw first). Only `server` and `both` need the server at prediction
/// time; `both` costs no privacy beyond `server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    /// The raw embedding only (no transfer).
    Raw,
    /// The server's features only.
    Server,
    /// Raw embedding ⊕ server features.
    Both,
}

impl FeatureSet {
    /// Every feature set.
    pub const ALL: [FeatureSet; 3] = [FeatureSet::Raw, FeatureSet::Server, FeatureSet::Both];

    /// Whether computing these features needs the server.
    pub fn needs_server(self) -> bool {
        self != FeatureSet::Raw
    }

    /// Its name (`raw`, `server`, `both`).
    pub fn name(self) -> &'static str {
        match self {
            FeatureSet::Raw => "raw",
            FeatureSet::Server => "server",
            FeatureSet::Both => "both",
        }
    }

    /// The rows this feature set reads, from the raw embeddings and (where
    /// needed) the server's features of the same samples.
    ///
    /// ```
    /// use cryptotl_head::FeatureSet;
    ///
    /// let raw = vec![vec![1.0, 2.0]];
    /// let server = vec![vec![9.0]];
    /// assert_eq!(FeatureSet::Both.compose(&raw, Some(&server))?, vec![vec![1.0, 2.0, 9.0]]);
    /// assert!(FeatureSet::Server.compose(&raw, None).is_err());
    /// # Ok::<(), cryptotl_head::HeadError>(())
    /// ```
    ///
    /// # Errors
    /// [`HeadError::InvalidInput`] when the server's features are needed and
    /// missing, or their count differs from the raw rows'.
    pub fn compose(self, raw: &[Vec<f32>], server: Option<&[Vec<f32>]>) -> Result<Vec<Vec<f32>>> {
        let server = || {
            let s = server.ok_or_else(|| {
                HeadError::InvalidInput(format!(
                    "the {} feature set needs the server's features",
                    self.name()
                ))
            })?;
            if s.len() != raw.len() {
                return Err(HeadError::InvalidInput(format!(
                    "{} server feature rows for {} samples",
                    s.len(),
                    raw.len()
                )));
            }
            Ok(s)
        };
        Ok(match self {
            FeatureSet::Raw => raw.to_vec(),
            FeatureSet::Server => server()?.to_vec(),
            FeatureSet::Both => raw
                .iter()
                .zip(server()?)
                .map(|(r, s)| r.iter().chain(s).copied().collect())
                .collect(),
        })
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FeatureSet {
    type Err = HeadError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "raw" => Ok(FeatureSet::Raw),
            "server" => Ok(FeatureSet::Server),
            "both" => Ok(FeatureSet::Both),
            other => Err(HeadError::InvalidInput(format!(
                "unknown feature set {other:?}: expected server, raw or both"
            ))),
        }
    }
}

/// A model family of the client's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// L2-regularized logistic regression ([`LogisticHead`]).
    Logistic,
    /// CryptoTL's MLP head ([`crate::Head`], as an [`Ensemble`]).
    Mlp,
}

impl Family {
    /// Its name (`logistic`, `mlp`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Logistic => "logistic",
            Family::Mlp => "mlp",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Family {
    type Err = HeadError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "logistic" => Ok(Family::Logistic),
            "mlp" => Ok(Family::Mlp),
            other => Err(HeadError::InvalidInput(format!(
                "unknown head family {other:?}: expected mlp or logistic"
            ))),
        }
    }
}

/// A trained model of either family.
#[derive(Debug, Clone)]
pub enum Classifier {
    /// CryptoTL's MLP head (one head or a seed ensemble).
    Mlp(Ensemble),
    /// Logistic regression.
    Logistic(LogisticHead),
}

impl Classifier {
    /// Its family.
    pub fn family(&self) -> Family {
        match self {
            Classifier::Mlp(_) => Family::Mlp,
            Classifier::Logistic(_) => Family::Logistic,
        }
    }

    /// Input dimension.
    pub fn dim(&self) -> usize {
        match self {
            Classifier::Mlp(e) => e.config().input_dim,
            Classifier::Logistic(l) => l.dim(),
        }
    }

    /// Display names of the classes.
    pub fn class_names(&self) -> &[String] {
        match self {
            Classifier::Mlp(e) => e.class_names(),
            Classifier::Logistic(l) => l.class_names(),
        }
    }

    /// The training records of an MLP head's members (none for logistic
    /// regression).
    pub fn training(&self) -> Vec<Option<&TrainingRecord>> {
        match self {
            Classifier::Mlp(e) => e.training().collect(),
            Classifier::Logistic(_) => Vec::new(),
        }
    }

    /// Class probabilities.
    ///
    /// # Errors
    /// Rows of the wrong dimension or non-finite values.
    pub fn predict_proba(&self, x: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        match self {
            Classifier::Mlp(e) => e.predict_proba(x),
            Classifier::Logistic(l) => l.predict_proba(x),
        }
    }

    /// Predicted classes.
    ///
    /// # Errors
    /// As [`Classifier::predict_proba`].
    pub fn predict(&self, x: &[Vec<f32>]) -> Result<Vec<usize>> {
        match self {
            Classifier::Mlp(e) => e.predict(x),
            Classifier::Logistic(l) => l.predict(x),
        }
    }

    /// The bytes of its file (a head, ensemble or logistic head file).
    ///
    /// # Errors
    /// Encoding failures.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        match self {
            Classifier::Mlp(e) => e.to_bytes(),
            Classifier::Logistic(l) => l.to_bytes(),
        }
    }

    /// Decodes a head, ensemble or logistic head file, by its `format`
    /// metadata.
    ///
    /// # Errors
    /// [`HeadError::MalformedFile`] for anything else, and those of the
    /// format's own decoder.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match file_format(bytes)?.as_deref() {
            Some(HEAD_FORMAT) | Some(ENSEMBLE_FORMAT) => {
                Ok(Classifier::Mlp(Ensemble::from_bytes(bytes)?))
            }
            Some(LOGISTIC_FORMAT) => Ok(Classifier::Logistic(LogisticHead::from_bytes(bytes)?)),
            other => Err(HeadError::MalformedFile(format!(
                "format {other:?} is not a cryptotl head: expected {HEAD_FORMAT:?}, \
                 {ENSEMBLE_FORMAT:?} or {LOGISTIC_FORMAT:?}"
            ))),
        }
    }
}

/// The `format` metadata value of a safetensors file, if any.
fn file_format(bytes: &[u8]) -> Result<Option<String>> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(HeadError::tensors("not a safetensors file"))?;
    Ok(header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(FORMAT_KEY))
        .cloned())
}

/// One candidate's cross-validation score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// The model family.
    pub family: Family,
    /// The features it read.
    pub features: FeatureSet,
    /// The L2 penalty λ (logistic regression only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// Accuracy over the pooled out-of-fold predictions.
    pub accuracy: f64,
    /// Log loss over the pooled out-of-fold predictions.
    pub log_loss: f64,
}

impl fmt::Display for CandidateScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.family, self.features)?;
        if let Some(l2) = self.l2 {
            write!(f, " (λ = {l2:e})")?;
        }
        write!(
            f,
            ": CV accuracy {:.4}, log loss {:.4}",
            self.accuracy, self.log_loss
        )
    }
}

/// What [`select_head`](crate::select_head) ranks candidates by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// The cross-validated accuracy (ties: the lower log loss).
    #[default]
    Accuracy,
    /// The cross-validated log loss (lower is better; ties: the higher
    /// accuracy). Smoother than accuracy on small sets.
    LogLoss,
}

/// How a head was chosen: stratified k-fold cross-validation on the
/// client's training data, every candidate's score, and the chosen one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Number of folds.
    pub folds: usize,
    /// Repetitions of the cross-validation with other folds.
    #[serde(default = "one")]
    pub repeats: usize,
    /// What the choice ranked by.
    #[serde(default)]
    pub criterion: Criterion,
    /// The guard's `z`, if one was used (see
    /// [`SelectOptions::guard`](crate::SelectOptions::guard)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<f64>,
    /// Whether the guard kept the reference (logistic regression on the
    /// raw embedding) over a better-ranked candidate.
    #[serde(default)]
    pub guarded: bool,
    /// Training samples the folds were drawn from.
    pub samples: usize,
    /// Every candidate, in the order tried.
    pub candidates: Vec<CandidateScore>,
    /// Index of the chosen candidate.
    pub chosen: usize,
}

fn one() -> usize {
    1
}

impl Selection {
    /// The chosen candidate's score.
    pub fn chosen(&self) -> Option<&CandidateScore> {
        self.candidates.get(self.chosen)
    }
}

/// What the client head file records besides the classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    features: FeatureSet,
    family: Family,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    selection: Option<Selection>,
}

/// The client's head as a whole: a [`Classifier`] and the [`FeatureSet`] it
/// reads, with the [`Selection`] that chose them (for `--head auto`).
///
/// # File format
///
/// A safetensors file with metadata `format = "cryptotl-client-head"`,
/// `format_version = "1"` and a JSON `manifest` (`features`, `family`,
/// `selection`), and one `U8` tensor `classifier` holding the bytes of the
/// classifier's own file (a head, ensemble or logistic head file), which is
/// validated as such. [`ClientHead::from_bytes`] also reads those files on
/// their own, as heads on the server's features (what `cryptotl finetune`
/// wrote before feature sets existed).
#[derive(Debug, Clone)]
pub struct ClientHead {
    features: FeatureSet,
    classifier: Classifier,
    selection: Option<Selection>,
}

impl ClientHead {
    /// A head reading `features` with `classifier`.
    pub fn new(features: FeatureSet, classifier: Classifier) -> Self {
        Self {
            features,
            classifier,
            selection: None,
        }
    }

    /// Records how it was chosen.
    pub fn with_selection(mut self, selection: Selection) -> Self {
        self.selection = Some(selection);
        self
    }

    /// The features it reads.
    pub fn features(&self) -> FeatureSet {
        self.features
    }

    /// The classifier.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// How it was chosen, if by selection.
    pub fn selection(&self) -> Option<&Selection> {
        self.selection.as_ref()
    }

    /// Whether predicting needs the server's features.
    pub fn needs_server(&self) -> bool {
        self.features.needs_server()
    }

    /// Class names.
    pub fn class_names(&self) -> &[String] {
        self.classifier.class_names()
    }

    /// Class probabilities for samples given by their raw embeddings and,
    /// when [`ClientHead::needs_server`], the server's features.
    ///
    /// # Errors
    /// Missing or mismatched server features, wrong dimensions, non-finite
    /// values.
    pub fn predict_proba(
        &self,
        raw: &[Vec<f32>],
        server: Option<&[Vec<f32>]>,
    ) -> Result<Vec<Vec<f32>>> {
        self.classifier
            .predict_proba(&self.features.compose(raw, server)?)
    }

    /// Predicted classes.
    ///
    /// # Errors
    /// As [`ClientHead::predict_proba`].
    pub fn predict(&self, raw: &[Vec<f32>], server: Option<&[Vec<f32>]>) -> Result<Vec<usize>> {
        Ok(self
            .predict_proba(raw, server)?
            .iter()
            .map(|p| argmax(p))
            .collect())
    }

    /// Metrics on a labelled set.
    ///
    /// # Errors
    /// As [`ClientHead::predict_proba`], and labels out of range.
    pub fn evaluate(
        &self,
        raw: &[Vec<f32>],
        server: Option<&[Vec<f32>]>,
        y: &[usize],
    ) -> Result<Metrics> {
        Metrics::from_probabilities(y, &self.predict_proba(raw, server)?)?
            .with_class_names(self.class_names())
    }

    /// The bytes of its file (see [`ClientHead`]).
    ///
    /// # Errors
    /// Encoding failures.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let classifier = self.classifier.to_bytes()?;
        let manifest = Manifest {
            features: self.features,
            family: self.classifier.family(),
            selection: self.selection.clone(),
        };
        let manifest =
            serde_json::to_string(&manifest).map_err(HeadError::manifest("cannot encode"))?;
        let metadata = HashMap::from([
            (FORMAT_KEY.to_string(), CLIENT_HEAD_FORMAT.to_string()),
            (
                VERSION_KEY.to_string(),
                CLIENT_HEAD_FORMAT_VERSION.to_string(),
            ),
            (MANIFEST_KEY.to_string(), manifest),
        ]);
        let view = TensorView::new(Dtype::U8, vec![classifier.len()], &classifier)
            .map_err(HeadError::tensors("cannot encode the classifier"))?;
        safetensors::serialize([(CLASSIFIER_TENSOR, view)], Some(metadata))
            .map_err(HeadError::tensors("cannot encode the client head"))
    }

    /// Decodes a client head file, or a head, ensemble or logistic head
    /// file on its own (then a head on the server's features).
    ///
    /// # Errors
    /// [`HeadError::UnsupportedVersion`], [`HeadError::MalformedFile`] and
    /// its tensor / manifest variants, and the classifier's own errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let malformed = HeadError::MalformedFile;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        let metadata = header
            .metadata()
            .as_ref()
            .ok_or_else(|| malformed("no metadata: not a cryptotl head file".into()))?;
        if metadata.get(FORMAT_KEY).map(String::as_str) != Some(CLIENT_HEAD_FORMAT) {
            return Ok(Self::new(
                FeatureSet::Server,
                Classifier::from_bytes(bytes)?,
            ));
        }
        check_version(
            metadata,
            CLIENT_HEAD_FORMAT_VERSION..=CLIENT_HEAD_FORMAT_VERSION,
        )?;
        let manifest: Manifest = metadata
            .get(MANIFEST_KEY)
            .ok_or_else(|| malformed(format!("missing {MANIFEST_KEY:?}")))
            .and_then(|m| {
                serde_json::from_str(m).map_err(HeadError::manifest("invalid manifest"))
            })?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        if tensors.len() != 1 {
            return Err(malformed(format!("{} tensors, expected 1", tensors.len())));
        }
        let view = tensors
            .tensor(CLASSIFIER_TENSOR)
            .map_err(HeadError::tensors(CLASSIFIER_TENSOR))?;
        if view.dtype() != Dtype::U8 || view.shape().len() != 1 {
            return Err(malformed(format!(
                "{CLASSIFIER_TENSOR} must be a one-dimensional U8 tensor"
            )));
        }
        let classifier =
            Classifier::from_bytes(view.data()).map_err(|e| e.in_member(CLASSIFIER_TENSOR))?;
        if classifier.family() != manifest.family {
            return Err(malformed(format!(
                "the manifest says {}, the classifier is {}",
                manifest.family,
                classifier.family()
            )));
        }
        if let Some(s) = &manifest.selection {
            let finite = s
                .candidates
                .iter()
                .all(|c| c.accuracy.is_finite() && !c.log_loss.is_nan());
            if s.chosen >= s.candidates.len() || !finite {
                return Err(malformed("invalid selection record".into()));
            }
        }
        Ok(Self {
            features: manifest.features,
            classifier,
            selection: manifest.selection,
        })
    }

    /// Writes its file to `path`.
    ///
    /// # Errors
    /// [`HeadError::Io`], and those of [`ClientHead::to_bytes`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path.as_ref(), &self.to_bytes()?)
    }

    /// Reads and validates the file at `path` (any head file; see
    /// [`ClientHead::from_bytes`]).
    ///
    /// # Errors
    /// [`HeadError::Io`], and those of [`ClientHead::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(&read_file(path.as_ref())?)
    }
}
