//! Head files: one [safetensors](https://docs.rs/safetensors) file holding
//! the weights and standardization as `F32` tensors and a JSON manifest in
//! the safetensors metadata.
//!
//! Documented on [`Head::to_bytes`].

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::config::HeadConfig;
use crate::data::Standardizer;
use crate::error::{HeadError, Result};
use crate::head::Head;
use crate::network::Weights;
use crate::preprocess::Preprocessing;
use crate::record::TrainingRecord;

/// Value of the `format` metadata key.
pub const HEAD_FORMAT: &str = "cryptotl-head";
/// The head file format version this build writes. Version 2 records the
/// head's input preprocessing in its configuration; version 1 files (which
/// did not) are still read, a head with a DP record then using
/// [`Preprocessing::UnitNormSqrtDim`](crate::Preprocessing), the scaling
/// the CLI applied to DP heads' features at the time.
pub const HEAD_FORMAT_VERSION: u32 = 2;
/// The oldest head file format version this build reads.
pub const OLDEST_HEAD_FORMAT_VERSION: u32 = 1;
/// Name of the standardization mean tensor (`[input_dim]`).
pub const STANDARDIZE_MEAN: &str = "standardize.mean";
/// Name of the standardization standard-deviation tensor (`[input_dim]`).
pub const STANDARDIZE_STD: &str = "standardize.std";

pub(crate) const FORMAT_KEY: &str = "format";
pub(crate) const VERSION_KEY: &str = "format_version";
const MANIFEST_KEY: &str = "manifest";

/// The JSON manifest stored under the `manifest` metadata key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    config: HeadConfig,
    class_names: Vec<String>,
    training: Option<TrainingRecord>,
}

impl Head {
    /// Encodes the head as the bytes of a head file.
    ///
    /// A head file is one [safetensors](https://docs.rs/safetensors) file
    /// holding the weights and standardization as `F32` tensors and a JSON
    /// manifest in the safetensors metadata.
    ///
    /// # Layout (format version 2)
    ///
    /// Tensors:
    ///
    /// | name                | shape                       | present                 |
    /// |---------------------|-----------------------------|-------------------------|
    /// | `hidden.weight`     | `[hidden, input_dim]`       | always                  |
    /// | `hidden.bias`       | `[hidden]`                  | always                  |
    /// | `output.weight`     | `[output_dim, pooled_dim]`  | always                  |
    /// | `output.bias`       | `[output_dim]`              | always                  |
    /// | `standardize.mean`  | `[input_dim]`               | iff `config.standardize`|
    /// | `standardize.std`   | `[input_dim]`               | iff `config.standardize`|
    ///
    /// Metadata (string → string):
    ///
    /// ```json
    /// {
    ///   "format": "cryptotl-head",
    ///   "format_version": "2",
    ///   "manifest": "{\"config\":{\"input_dim\":382,\"hidden\":128,\"pool\":3,\"dropout\":0.2,\"classes\":2,\"standardize\":true,\"preprocessing\":\"none\"},\"class_names\":[\"0\",\"1\"],\"training\":{\"epochs\":31,\"best_epoch\":21,\"best_validation_loss\":0.21,...,\"dp\":null}}"
    /// }
    /// ```
    ///
    /// # Validation
    ///
    /// Loading never panics on hostile input. It checks the safetensors
    /// structure, the `format` tag (else [`HeadError::MalformedFile`]), the
    /// version (else [`HeadError::UnsupportedVersion`]), the manifest JSON, the
    /// configuration, the class-name count, that exactly the expected tensors
    /// are present with dtype `F32` and the shapes the configuration implies,
    /// that every value is finite, and that standard deviations are positive.
    ///
    /// # Errors
    ///
    /// [`HeadError::Candle`] if the weights cannot be read back from their
    /// tensors, [`HeadError::MalformedFile`] if serialization fails (for
    /// example a non-finite number in the training record).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let manifest = Manifest {
            config: self.config.clone(),
            class_names: self.class_names.clone(),
            training: self.training.clone(),
        };
        if manifest.training.as_ref().is_some_and(|t| !t.is_finite()) {
            return Err(HeadError::MalformedFile(
                "the training record holds non-finite numbers".into(),
            ));
        }
        let manifest = serde_json::to_string(&manifest)
            .map_err(HeadError::manifest("cannot encode the manifest"))?;
        let metadata = HashMap::from([
            (FORMAT_KEY.to_string(), HEAD_FORMAT.to_string()),
            (VERSION_KEY.to_string(), HEAD_FORMAT_VERSION.to_string()),
            (MANIFEST_KEY.to_string(), manifest),
        ]);

        let mut named: Vec<(&str, Vec<usize>, Vec<u8>)> = Vec::new();
        let values = self.weights.to_values()?;
        for ((name, shape), data) in Weights::NAMES
            .iter()
            .zip(Weights::shapes(&self.config))
            .zip(&values)
        {
            named.push((*name, shape, le_bytes(data)));
        }
        if let Some(s) = &self.standardizer {
            named.push((STANDARDIZE_MEAN, vec![s.dim()], le_bytes(s.mean())));
            named.push((STANDARDIZE_STD, vec![s.dim()], le_bytes(s.std())));
        }
        let views = named
            .iter()
            .map(|(name, shape, bytes)| {
                Ok((*name, TensorView::new(Dtype::F32, shape.clone(), bytes)?))
            })
            .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(HeadError::tensors("cannot encode tensors"))?;
        safetensors::serialize(views, Some(metadata))
            .map_err(HeadError::tensors("cannot encode tensors"))
    }

    /// Decodes a head from the bytes of a head file, validating everything
    /// (see [`Head::to_bytes`]).
    ///
    /// # Errors
    ///
    /// [`HeadError::UnsupportedVersion`] for another format version,
    /// [`HeadError::MalformedFile`] for anything else that is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let malformed = HeadError::MalformedFile;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(HeadError::tensors("not a safetensors file"))?;
        let metadata = header
            .metadata()
            .as_ref()
            .ok_or_else(|| malformed("no metadata: not a cryptotl head file".into()))?;
        if metadata.get(FORMAT_KEY).map(String::as_str) != Some(HEAD_FORMAT) {
            return Err(malformed(format!(
                "metadata key {FORMAT_KEY:?} is not {HEAD_FORMAT:?}: not a cryptotl head file"
            )));
        }
        let version = check_version(metadata, OLDEST_HEAD_FORMAT_VERSION..=HEAD_FORMAT_VERSION)?;
        let manifest: Manifest = metadata
            .get(MANIFEST_KEY)
            .ok_or_else(|| malformed(format!("missing {MANIFEST_KEY:?}")))
            .and_then(|m| {
                serde_json::from_str(m).map_err(HeadError::manifest("invalid manifest"))
            })?;
        let mut config = manifest.config;
        if version == 1 && manifest.training.as_ref().is_some_and(|t| t.dp.is_some()) {
            // Version 1 did not record preprocessing; its DP heads were
            // trained on unit-norm × √dim features.
            config.preprocessing = Preprocessing::UnitNormSqrtDim;
        }
        config
            .validate()
            .map_err(|e| malformed(format!("manifest: {e}")))?;
        if manifest.class_names.len() != config.classes {
            return Err(malformed(format!(
                "{} class names for {} classes",
                manifest.class_names.len(),
                config.classes
            )));
        }
        if manifest.training.as_ref().is_some_and(|t| !t.is_finite()) {
            return Err(malformed(
                "the training record holds non-finite numbers".into(),
            ));
        }

        let mut expected: Vec<(&str, Vec<usize>)> = Weights::NAMES
            .iter()
            .copied()
            .zip(Weights::shapes(&config))
            .collect();
        if config.standardize {
            expected.push((STANDARDIZE_MEAN, vec![config.input_dim]));
            expected.push((STANDARDIZE_STD, vec![config.input_dim]));
        }
        let present: BTreeSet<&str> = tensors.names().into_iter().collect();
        let wanted: BTreeSet<&str> = expected.iter().map(|(n, _)| *n).collect();
        if present != wanted {
            return Err(malformed(format!(
                "tensors {present:?} do not match the expected {wanted:?}"
            )));
        }
        let mut values = HashMap::new();
        for (name, shape) in &expected {
            let view = tensors.tensor(name).map_err(HeadError::tensors(*name))?;
            if view.dtype() != Dtype::F32 {
                return Err(malformed(format!(
                    "{name} has dtype {:?}, expected F32",
                    view.dtype()
                )));
            }
            if view.shape() != shape.as_slice() {
                return Err(malformed(format!(
                    "{name} has shape {:?}, the configuration implies {shape:?}",
                    view.shape()
                )));
            }
            let data = from_le_bytes(view.data())
                .ok_or_else(|| malformed(format!("{name}: data is not a whole number of f32")))?;
            if data.iter().any(|v| !v.is_finite()) {
                return Err(malformed(format!("{name} holds non-finite values")));
            }
            values.insert(*name, data);
        }
        let mut take = |name: &str| values.remove(name).unwrap_or_default();
        let weights = Weights::from_values(
            &config,
            [
                take(Weights::NAMES[0]),
                take(Weights::NAMES[1]),
                take(Weights::NAMES[2]),
                take(Weights::NAMES[3]),
            ],
        )
        .map_err(|e| malformed(e.to_string()))?;
        let standardizer = if config.standardize {
            Some(
                Standardizer::new(take(STANDARDIZE_MEAN), take(STANDARDIZE_STD))
                    .map_err(|e| malformed(e.to_string()))?,
            )
        } else {
            None
        };
        let mut head = Head::from_parts(config, standardizer, weights, manifest.training);
        head.set_class_names(manifest.class_names)?;
        Ok(head)
    }

    /// Writes the head file to `path`.
    ///
    /// # Errors
    ///
    /// [`HeadError::Io`] when writing fails, and the errors of
    /// [`Head::to_bytes`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path.as_ref(), &self.to_bytes()?)
    }

    /// Reads and validates the head file at `path`.
    ///
    /// ```
    /// use cryptotl_head::{Head, HeadConfig};
    ///
    /// let head = Head::init(&HeadConfig::new(6, 2), 3)?;
    /// let path = std::env::temp_dir().join("cryptotl-head-doc-example.safetensors");
    /// head.save(&path)?;
    /// let loaded = Head::load(&path)?;
    /// let x = vec![vec![0.5; 6]];
    /// assert_eq!(loaded.predict_proba(&x)?, head.predict_proba(&x)?);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), cryptotl_head::HeadError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`HeadError::Io`] when reading fails, and the errors of
    /// [`Head::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(&read_file(path.as_ref())?)
    }
}

/// Checks the `format_version` metadata and returns it:
/// [`HeadError::MalformedFile`] when missing or not a number,
/// [`HeadError::UnsupportedVersion`] when not in `supported` (whose end is
/// the version this build writes).
pub(crate) fn check_version(
    metadata: &HashMap<String, String>,
    supported: std::ops::RangeInclusive<u32>,
) -> Result<u32> {
    let found: u32 = metadata
        .get(VERSION_KEY)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| HeadError::MalformedFile(format!("missing or invalid {VERSION_KEY:?}")))?;
    if supported.contains(&found) {
        Ok(found)
    } else {
        Err(HeadError::UnsupportedVersion {
            found,
            supported: *supported.end(),
        })
    }
}

/// Writes `bytes` to `path` ([`HeadError::Io`] on failure).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|source| HeadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the file at `path` ([`HeadError::Io`] on failure).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| HeadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Little-endian bytes of `values`.
fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `f32` values from little-endian bytes (`None` if the length is not a
/// multiple of 4).
fn from_le_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}
