//! Model files: weights in [safetensors](https://docs.rs/safetensors) and a
//! JSON manifest, for float graphs ([`FloatModel`]) and quantized graphs
//! ([`QuantizedModel`]), with the optional HE plan ([`HePlan`]).
//!
//! Documented on [`Model`].

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use cryptotl_he::ParameterSpec;
use cryptotl_quant::{
    AffineScale, FloatPolynomial, InputQuantizer, IntegerLayer, NamedLayer, QuantError,
    QuantizedLinear, QuantizedPolynomial, WeightQuantization,
};
use safetensors::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{GraphError, Result};
use crate::graph::Graph;
use crate::layers::{AvgPool1d, Conv1d, Dense, Layer};
use crate::quantize::QuantizedGraph;

/// The model-file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The value of the manifest's `format` field.
pub const FORMAT_NAME: &str = "cryptotl-model";
/// File name of the manifest inside a model directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the weights written by [`Model::save`].
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// How a quantized model is to be evaluated under BFV: the encryption
/// parameters and the ciphertext level (number of moduli dropped by modulus
/// switching) of the network output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HePlan {
    /// The BFV parameters.
    pub params: ParameterSpec,
    /// Ciphertext level of the network output.
    pub output_level: usize,
}

/// A float model: the graph, optionally the input quantizer fitted for it,
/// and optionally an HE plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    /// The float graph.
    pub graph: Graph,
    /// The input quantizer fitted on training data, if any (its dimension
    /// must be the graph's input dimension).
    pub input: Option<InputQuantizer>,
    /// The HE plan, if any.
    pub he_plan: Option<HePlan>,
}

/// A quantized model: the integer graph (with its input quantizer),
/// optionally an HE plan, and the names of the data sets it was pretrained
/// on.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedModel {
    /// The quantized graph.
    pub graph: QuantizedGraph,
    /// The HE plan, if any.
    pub he_plan: Option<HePlan>,
    /// Names of the public labeled data sets the lower network was
    /// pretrained on, in training order (empty: not recorded). Saving and
    /// loading check them with [`QuantizedModel::validate_sources`]; an empty list is
    /// not written, so such a model file is the same as before the field
    /// existed.
    pub sources: Vec<String>,
}

/// A model file's content, float or quantized.
///
/// # Layout
///
/// A model is a directory holding [`MANIFEST_FILE`] (`manifest.json`) and the
/// weights file it names ([`WEIGHTS_FILE`], `weights.safetensors`). The same
/// two byte strings can be produced and read in memory with
/// [`Model::to_bytes`] and [`Model::from_bytes`].
///
/// # Manifest (format version 1)
///
/// ```json
/// {
///   "format": "cryptotl-model",
///   "format_version": 1,
///   "kind": "float",                       // or "quantized"
///   "weights": { "file": "weights.safetensors", "bytes": 1234, "sha256": "<hex>" },
///   "input_dim": 16,
///   "input_quantizer": { "bits": 8, "min": [..], "max": [..] },   // or null (float only)
///   "layers": [
///     // float models:
///     { "kind": "conv1d", "in_channels": 1, "out_channels": 1, "kernel": 9,
///       "weight": { "tensor": "layers.0.weight", "dtype": "F32", "shape": [1, 1, 9] },
///       "bias": null },
///     { "kind": "dense", "in_features": 16, "out_features": 16,
///       "weight": { "tensor": "layers.1.weight", "dtype": "F32", "shape": [16, 16] },
///       "bias": { "tensor": "layers.1.bias", "dtype": "F32", "shape": [16] } },
///     { "kind": "activation", "coefficients": [0.0, 0.0, 1.0] },
///     { "kind": "avgpool1d", "window": 3 },
///     { "kind": "flatten" },
///     // quantized models:
///     { "kind": "linear", "name": "dense0", "rows": 16, "cols": 16,
///       "weight": { "tensor": "layers.0.weight", "dtype": "I64", "shape": [16, 16] },
///       "bias": { "tensor": "layers.0.bias", "dtype": "I64", "shape": [16] },
///       "scheme": { "bits": 8, "granularity": "PerOutputChannel" },
///       "input_scale": { "scale": [..], "offset": [..] },
///       "output_scale": { "scale": [..], "offset": [..] } },
///     { "kind": "polynomial", "name": "activation1", "polynomial": [0.0, 0.0, 1.0],
///       "coefficients": { "tensor": "layers.1.coefficients", "dtype": "I64", "shape": [16, 3] },
///       "input_scale": { .. }, "output_scale": { .. } }
///   ],
///   "he_plan": { "params": { "degree": 8192, "plaintext_modulus": .., "moduli": [..] },
///                "output_level": 1 },                              // or null
///   "sources": ["rotten-tomatoes", "sms-spam"]    // quantized only; omitted when empty
/// }
/// ```
///
/// `sources` ([`QuantizedModel::sources`]) names the data sets the network
/// was pretrained on; it is left out when there are none, so models without
/// sources are written exactly as before the field existed (builds older
/// than the field refuse files that have it, as any unknown field).
///
/// Float weights are `F32` tensors, integer weights `I64` tensors (a
/// polynomial layer's per-neuron coefficients form a `[width, degree + 1]`
/// matrix, shorter lists padded with zeros). Scales and input ranges are
/// JSON numbers written with the shortest representation that parses back to
/// the same `f64` (input ranges are `f32` values widened to `f64`), so a
/// model loads back bit for bit.
///
/// # Validation
///
/// Loading never panics on hostile input. It checks, in order: that the
/// manifest is JSON with `"format": "cryptotl-model"` (else
/// [`GraphError::MalformedModel`]), the format version (else
/// [`GraphError::UnsupportedVersion`]), the full manifest structure, that the
/// weights file name is a plain file name, the weights' length and SHA-256,
/// the safetensors structure, that every referenced tensor is present with
/// the dtype and shape the manifest and the layer parameters require, that no
/// tensor is unreferenced or referenced twice, and finally the graph itself
/// ([`Graph::validate`], [`QuantizedGraph::validate`]) and the source names
/// ([`QuantizedModel::validate_sources`]; a float model has none).
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// A float model.
    Float(FloatModel),
    /// A quantized model.
    Quantized(QuantizedModel),
}

/// The two byte strings of a model: the JSON manifest and the safetensors
/// weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelBytes {
    /// The JSON manifest ([`MANIFEST_FILE`]).
    pub manifest: Vec<u8>,
    /// The safetensors weights (the file named by the manifest).
    pub weights: Vec<u8>,
}

impl FloatModel {
    /// A float model without input quantizer and HE plan.
    pub fn new(graph: Graph) -> Self {
        FloatModel {
            graph,
            input: None,
            he_plan: None,
        }
    }

    /// Writes the model to the directory `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_dir(dir, &encode_float(self)?)
    }

    /// Loads a float model from `dir`; errors if it holds a quantized model.
    pub fn load(dir: &Path) -> Result<Self> {
        Model::load(dir)?.into_float()
    }
}

impl QuantizedModel {
    /// A quantized model without HE plan and sources.
    pub fn new(graph: QuantizedGraph) -> Self {
        QuantizedModel {
            graph,
            he_plan: None,
            sources: Vec::new(),
        }
    }

    /// Writes the model to the directory `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_dir(dir, &encode_quantized(self)?)
    }

    /// Loads a quantized model from `dir`; errors if it holds a float model.
    pub fn load(dir: &Path) -> Result<Self> {
        Model::load(dir)?.into_quantized()
    }

    /// Most source names a model records ([`QuantizedModel::sources`]).
    pub const MAX_SOURCES: usize = 64;
    /// Longest source name, in bytes ([`QuantizedModel::sources`]).
    pub const MAX_SOURCE_NAME_LEN: usize = 64;

    /// Checks source names as [`QuantizedModel::sources`] records them: at most
    /// [`QuantizedModel::MAX_SOURCES`] names, each 1 to [`QuantizedModel::MAX_SOURCE_NAME_LEN`] characters of
    /// `a-z`, `0-9`, `.`, `_` and `-`, no name twice.
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] naming the first bad name (loading reports it
    /// as [`GraphError::MalformedModel`]).
    pub fn validate_sources(names: &[String]) -> Result<()> {
        let bad = |msg: String| Err(GraphError::InvalidInput(format!("sources: {msg}")));
        let (max_names, max_len) = (Self::MAX_SOURCES, Self::MAX_SOURCE_NAME_LEN);
        if names.len() > max_names {
            return bad(format!(
                "{} names, at most {max_names} are allowed",
                names.len()
            ));
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        let mut seen = BTreeSet::new();
        for name in names {
            if name.is_empty() || name.len() > max_len || !name.chars().all(allowed) {
                return bad(format!(
                    "{name:?} is not a source name (1 to {max_len} characters of a-z, 0-9, \
                     '.', '_', '-')"
                ));
            }
            if !seen.insert(name.as_str()) {
                return bad(format!("{name:?} is named twice"));
            }
        }
        Ok(())
    }
}

impl Model {
    /// `"float"` or `"quantized"` (the manifest's `kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Model::Float(_) => "float",
            Model::Quantized(_) => "quantized",
        }
    }

    /// The HE plan, if any.
    pub fn he_plan(&self) -> Option<&HePlan> {
        match self {
            Model::Float(m) => m.he_plan.as_ref(),
            Model::Quantized(m) => m.he_plan.as_ref(),
        }
    }

    /// The float model; errors if this is a quantized model.
    pub fn into_float(self) -> Result<FloatModel> {
        match self {
            Model::Float(m) => Ok(m),
            Model::Quantized(_) => Err(GraphError::MalformedModel(
                "expected a float model, found a quantized model".into(),
            )),
        }
    }

    /// The quantized model; errors if this is a float model.
    pub fn into_quantized(self) -> Result<QuantizedModel> {
        match self {
            Model::Quantized(m) => Ok(m),
            Model::Float(_) => Err(GraphError::MalformedModel(
                "expected a quantized model, found a float model".into(),
            )),
        }
    }

    /// Encodes the model as a manifest and a safetensors weights file (after
    /// validating it).
    pub fn to_bytes(&self) -> Result<ModelBytes> {
        match self {
            Model::Float(m) => encode_float(m),
            Model::Quantized(m) => encode_quantized(m),
        }
    }

    /// Decodes and validates a model from its manifest and weights (see
    /// [`Model`] for the checks).
    pub fn from_bytes(manifest: &[u8], weights: &[u8]) -> Result<Self> {
        let manifest = parse_manifest(manifest)?;
        decode(&manifest, weights)
    }

    /// Writes the model to the directory `dir` (created if needed): the
    /// weights first, then the manifest, each through a temporary file that
    /// is renamed into place.
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_dir(dir, &self.to_bytes()?)
    }

    /// Loads and validates a model from the directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest_bytes = read_file(&manifest_path)?;
        let manifest = parse_manifest(&manifest_bytes)?;
        let weights = read_file(&dir.join(&manifest.weights.file))?;
        decode(&manifest, &weights)
    }
}

// ---------------------------------------------------------------------------
// Manifest structures
// ---------------------------------------------------------------------------

/// Just enough of a manifest to recognize it and check its version before
/// parsing the rest (whose structure may differ in other versions).
#[derive(Deserialize)]
struct ManifestHeader {
    format: String,
    format_version: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    format_version: u32,
    kind: ModelKind,
    weights: WeightsRef,
    input_dim: usize,
    input_quantizer: Option<InputQuantizerEntry>,
    layers: Vec<LayerEntry>,
    he_plan: Option<HePlan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ModelKind {
    Float,
    Quantized,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightsRef {
    file: String,
    bytes: u64,
    sha256: String,
}

/// The input quantizer with its `f32` ranges widened (exactly) to `f64`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputQuantizerEntry {
    bits: u32,
    min: Vec<f64>,
    max: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorRef {
    tensor: String,
    dtype: Dtype,
    shape: Vec<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum LayerEntry {
    #[serde(rename = "conv1d")]
    Conv1d {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        weight: TensorRef,
        bias: Option<TensorRef>,
    },
    #[serde(rename = "dense")]
    Dense {
        in_features: usize,
        out_features: usize,
        weight: TensorRef,
        bias: TensorRef,
    },
    #[serde(rename = "activation")]
    Activation { coefficients: Vec<f64> },
    #[serde(rename = "avgpool1d")]
    AvgPool1d { window: usize },
    #[serde(rename = "flatten")]
    Flatten,
    #[serde(rename = "linear")]
    Linear {
        name: String,
        rows: usize,
        cols: usize,
        weight: TensorRef,
        bias: TensorRef,
        scheme: WeightQuantization,
        input_scale: AffineScale,
        output_scale: AffineScale,
    },
    #[serde(rename = "polynomial")]
    Polynomial {
        name: String,
        polynomial: Vec<f64>,
        coefficients: TensorRef,
        input_scale: AffineScale,
        output_scale: AffineScale,
    },
}

impl LayerEntry {
    fn kind(&self) -> &'static str {
        match self {
            LayerEntry::Conv1d { .. } => "conv1d",
            LayerEntry::Dense { .. } => "dense",
            LayerEntry::Activation { .. } => "activation",
            LayerEntry::AvgPool1d { .. } => "avgpool1d",
            LayerEntry::Flatten => "flatten",
            LayerEntry::Linear { .. } => "linear",
            LayerEntry::Polynomial { .. } => "polynomial",
        }
    }
}

fn malformed(msg: impl Into<String>) -> GraphError {
    GraphError::MalformedModel(msg.into())
}

/// A JSON error on the manifest, with what was being done.
fn json(context: &'static str) -> impl FnOnce(serde_json::Error) -> GraphError {
    move |source| GraphError::ModelJson { context, source }
}

/// A safetensors error on the weights, with what was being done.
fn tensors(context: &'static str) -> impl FnOnce(safetensors::SafeTensorError) -> GraphError {
    move |source| GraphError::ModelTensors { context, source }
}

/// A quantization error in the layer `index` of kind `kind`.
fn layer_quant_error(index: usize, kind: &str) -> impl FnOnce(QuantError) -> GraphError {
    let context = format!("layer {index} ({kind})");
    move |source| GraphError::ModelQuant {
        context,
        source: Box::new(source),
    }
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest> {
    let header: ManifestHeader =
        serde_json::from_slice(bytes).map_err(json("not a cryptotl model manifest"))?;
    if header.format != FORMAT_NAME {
        return Err(malformed(format!(
            "not a cryptotl model manifest: format is {:?}, expected {FORMAT_NAME:?}",
            header.format
        )));
    }
    if header.format_version != FORMAT_VERSION {
        return Err(GraphError::UnsupportedVersion {
            found: header.format_version,
            supported: FORMAT_VERSION,
        });
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(json("manifest"))?;
    check_file_name(&manifest.weights.file)?;
    Ok(manifest)
}

/// The weights file must be a plain file name inside the model directory.
fn check_file_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':'])
        && !name.chars().any(char::is_control);
    if plain {
        Ok(())
    } else {
        Err(malformed(format!(
            "weights file name {name:?} is not a plain file name"
        )))
    }
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// A tensor to be written: dtype, shape and little-endian bytes.
struct OwnedTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &OwnedTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

#[derive(Default)]
struct TensorWriter {
    tensors: Vec<(String, OwnedTensor)>,
}

impl TensorWriter {
    fn f32(&mut self, name: String, shape: Vec<usize>, values: &[f32]) -> TensorRef {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push(name, Dtype::F32, shape, data)
    }

    fn i64(&mut self, name: String, shape: Vec<usize>, values: &[i64]) -> TensorRef {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push(name, Dtype::I64, shape, data)
    }

    fn push(&mut self, name: String, dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> TensorRef {
        let r = TensorRef {
            tensor: name.clone(),
            dtype,
            shape: shape.clone(),
        };
        self.tensors
            .push((name, OwnedTensor { dtype, shape, data }));
        r
    }

    fn serialize(&self) -> Result<Vec<u8>> {
        safetensors::serialize(self.tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
            .map_err(tensors("cannot encode the weights"))
    }
}

fn finish(
    kind: ModelKind,
    input_dim: usize,
    input: Option<&InputQuantizer>,
    layers: Vec<LayerEntry>,
    he_plan: Option<&HePlan>,
    sources: &[String],
    writer: &TensorWriter,
) -> Result<ModelBytes> {
    let weights = writer.serialize()?;
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        kind,
        weights: WeightsRef {
            file: WEIGHTS_FILE.into(),
            bytes: weights.len() as u64,
            sha256: sha256_hex(&weights),
        },
        input_dim,
        input_quantizer: input.map(|q| InputQuantizerEntry {
            bits: q.bits,
            min: q.min.iter().map(|&v| f64::from(v)).collect(),
            max: q.max.iter().map(|&v| f64::from(v)).collect(),
        }),
        layers,
        he_plan: he_plan.cloned(),
        sources: sources.to_vec(),
    };
    let manifest =
        serde_json::to_vec_pretty(&manifest).map_err(json("cannot encode the manifest"))?;
    Ok(ModelBytes { manifest, weights })
}

fn encode_float(model: &FloatModel) -> Result<ModelBytes> {
    let graph = &model.graph;
    graph.validate()?;
    if let Some(q) = &model.input {
        check_quantizer(q, graph.input_dim)?;
    }
    let mut w = TensorWriter::default();
    let layers = graph
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| match layer {
            Layer::Conv1d(c) => LayerEntry::Conv1d {
                in_channels: c.in_channels,
                out_channels: c.out_channels,
                kernel: c.kernel,
                weight: w.f32(
                    format!("layers.{i}.weight"),
                    vec![c.out_channels, c.in_channels, c.kernel],
                    &c.weights,
                ),
                bias: c
                    .bias
                    .as_ref()
                    .map(|b| w.f32(format!("layers.{i}.bias"), vec![c.out_channels], b)),
            },
            Layer::Dense(d) => LayerEntry::Dense {
                in_features: d.in_features,
                out_features: d.out_features,
                weight: w.f32(
                    format!("layers.{i}.weight"),
                    vec![d.out_features, d.in_features],
                    &d.weights,
                ),
                bias: w.f32(format!("layers.{i}.bias"), vec![d.out_features], &d.bias),
            },
            Layer::Activation(p) => LayerEntry::Activation {
                coefficients: p.coefficients.clone(),
            },
            Layer::AvgPool1d(p) => LayerEntry::AvgPool1d { window: p.window },
            Layer::Flatten => LayerEntry::Flatten,
        })
        .collect();
    finish(
        ModelKind::Float,
        graph.input_dim,
        model.input.as_ref(),
        layers,
        model.he_plan.as_ref(),
        &[],
        &w,
    )
}

fn encode_quantized(model: &QuantizedModel) -> Result<ModelBytes> {
    let graph = &model.graph;
    graph.validate()?;
    QuantizedModel::validate_sources(&model.sources)?;
    let mut w = TensorWriter::default();
    let layers = graph
        .layers
        .iter()
        .enumerate()
        .map(|(i, named)| match &named.layer {
            IntegerLayer::Linear(l) => LayerEntry::Linear {
                name: named.name.clone(),
                rows: l.rows,
                cols: l.cols,
                weight: w.i64(
                    format!("layers.{i}.weight"),
                    vec![l.rows, l.cols],
                    &l.weights,
                ),
                bias: w.i64(format!("layers.{i}.bias"), vec![l.rows], &l.bias),
                scheme: l.scheme,
                input_scale: l.input.clone(),
                output_scale: l.output.clone(),
            },
            IntegerLayer::Polynomial(p) => {
                let width = p.width();
                let n = p.degree() + 1;
                let flat: Vec<i64> = p
                    .coefficients
                    .iter()
                    .flat_map(|c| (0..n).map(move |k| c.get(k).copied().unwrap_or(0)))
                    .collect();
                LayerEntry::Polynomial {
                    name: named.name.clone(),
                    polynomial: p.polynomial.coefficients.clone(),
                    coefficients: w.i64(format!("layers.{i}.coefficients"), vec![width, n], &flat),
                    input_scale: p.input.clone(),
                    output_scale: p.output.clone(),
                }
            }
        })
        .collect();
    finish(
        ModelKind::Quantized,
        graph.input_dim(),
        Some(&graph.input),
        layers,
        model.he_plan.as_ref(),
        &model.sources,
        &w,
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Reads the tensors a manifest references, tracking which were used.
struct TensorReader<'a> {
    tensors: SafeTensors<'a>,
    used: BTreeSet<String>,
}

impl<'a> TensorReader<'a> {
    /// Checks `r` against the shape the layer parameters require and against
    /// the file, and returns the tensor's bytes.
    fn bytes(&mut self, r: &TensorRef, dtype: Dtype, shape: &[usize]) -> Result<&'a [u8]> {
        if r.dtype != dtype {
            return Err(malformed(format!(
                "tensor {:?}: manifest dtype {:?}, expected {dtype:?}",
                r.tensor, r.dtype
            )));
        }
        if r.shape != shape {
            return Err(malformed(format!(
                "tensor {:?}: manifest shape {:?} does not match the layer parameters {shape:?}",
                r.tensor, r.shape
            )));
        }
        if !self.used.insert(r.tensor.clone()) {
            return Err(malformed(format!(
                "tensor {:?} is referenced twice",
                r.tensor
            )));
        }
        let view = self
            .tensors
            .tensor(&r.tensor)
            .map_err(|_| malformed(format!("tensor {:?} is missing", r.tensor)))?;
        if view.dtype() != dtype {
            return Err(malformed(format!(
                "tensor {:?} has dtype {:?} in the weights file, expected {dtype:?}",
                r.tensor,
                view.dtype()
            )));
        }
        if view.shape() != shape {
            return Err(malformed(format!(
                "tensor {:?} has shape {:?} in the weights file, expected {shape:?}",
                r.tensor,
                view.shape()
            )));
        }
        Ok(view.data())
    }

    fn f32(&mut self, r: &TensorRef, shape: &[usize]) -> Result<Vec<f32>> {
        let data = self.bytes(r, Dtype::F32, shape)?;
        Ok(data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn i64(&mut self, r: &TensorRef, shape: &[usize]) -> Result<Vec<i64>> {
        let data = self.bytes(r, Dtype::I64, shape)?;
        Ok(data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    /// Errors if the file holds a tensor the manifest does not reference.
    fn finish(&self) -> Result<()> {
        match self
            .tensors
            .names()
            .into_iter()
            .find(|n| !self.used.contains(*n))
        {
            Some(name) => Err(malformed(format!(
                "the weights file holds tensor {name:?}, which the manifest does not reference"
            ))),
            None => Ok(()),
        }
    }
}

fn decode(manifest: &Manifest, weights: &[u8]) -> Result<Model> {
    if weights.len() as u64 != manifest.weights.bytes {
        return Err(malformed(format!(
            "weights are {} bytes, the manifest says {} (truncated or replaced file)",
            weights.len(),
            manifest.weights.bytes
        )));
    }
    let digest = sha256_hex(weights);
    if !digest.eq_ignore_ascii_case(&manifest.weights.sha256) {
        return Err(malformed(
            "weights SHA-256 does not match the manifest (corrupted or replaced file)",
        ));
    }
    let tensors = SafeTensors::deserialize(weights).map_err(tensors("weights file"))?;
    let mut reader = TensorReader {
        tensors,
        used: BTreeSet::new(),
    };
    let input = manifest
        .input_quantizer
        .as_ref()
        .map(|q| decode_quantizer(q, manifest.input_dim))
        .transpose()?;
    let model = match manifest.kind {
        ModelKind::Float if !manifest.sources.is_empty() => {
            return Err(malformed(
                "sources are recorded for quantized models only, found them in a float model",
            ))
        }
        ModelKind::Float => Model::Float(FloatModel {
            graph: decode_float_graph(manifest, &mut reader)?,
            input,
            he_plan: manifest.he_plan.clone(),
        }),
        ModelKind::Quantized => {
            let input = input.ok_or_else(|| {
                malformed("a quantized model needs an input quantizer (input_quantizer is null)")
            })?;
            QuantizedModel::validate_sources(&manifest.sources).map_err(|e| match e {
                GraphError::InvalidInput(msg) => malformed(msg),
                other => other,
            })?;
            Model::Quantized(QuantizedModel {
                graph: decode_quantized_graph(manifest, input, &mut reader)?,
                he_plan: manifest.he_plan.clone(),
                sources: manifest.sources.clone(),
            })
        }
    };
    reader.finish()?;
    Ok(model)
}

fn check_quantizer(q: &InputQuantizer, input_dim: usize) -> Result<()> {
    q.validate()?;
    if q.dim() != input_dim {
        return Err(GraphError::InvalidInput(format!(
            "input quantizer has {} features, the graph's input dimension is {input_dim}",
            q.dim()
        )));
    }
    Ok(())
}

fn decode_quantizer(q: &InputQuantizerEntry, input_dim: usize) -> Result<InputQuantizer> {
    let narrow = |values: &[f64], what: &str| -> Result<Vec<f32>> {
        values
            .iter()
            .map(|&v| {
                let f = v as f32;
                if f64::from(f) == v {
                    Ok(f)
                } else {
                    Err(malformed(format!(
                        "input quantizer {what} value {v} is not an f32"
                    )))
                }
            })
            .collect()
    };
    let quantizer = InputQuantizer {
        bits: q.bits,
        min: narrow(&q.min, "min")?,
        max: narrow(&q.max, "max")?,
    };
    check_quantizer(&quantizer, input_dim)
        .map_err(|e| malformed(format!("input quantizer: {e}")))?;
    Ok(quantizer)
}

/// `a * b * ...` or an error naming `what` on overflow.
fn product(dims: &[usize], what: &str) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| malformed(format!("{what}: size overflows")))
}

fn layer_error(index: usize, kind: &str, e: impl std::fmt::Display) -> GraphError {
    malformed(format!("layer {index} ({kind}): {e}"))
}

fn decode_float_graph(manifest: &Manifest, reader: &mut TensorReader<'_>) -> Result<Graph> {
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (i, entry) in manifest.layers.iter().enumerate() {
        let err = |e: String| layer_error(i, entry.kind(), e);
        let layer = match entry {
            LayerEntry::Conv1d {
                in_channels,
                out_channels,
                kernel,
                weight,
                bias,
            } => {
                let shape = [*out_channels, *in_channels, *kernel];
                product(&shape, "conv1d weights")?;
                let weights = reader.f32(weight, &shape)?;
                let bias = bias
                    .as_ref()
                    .map(|b| reader.f32(b, &[*out_channels]))
                    .transpose()?;
                Layer::Conv1d(
                    Conv1d::new(*in_channels, *out_channels, *kernel, weights, bias)
                        .map_err(err)?,
                )
            }
            LayerEntry::Dense {
                in_features,
                out_features,
                weight,
                bias,
            } => {
                let shape = [*out_features, *in_features];
                product(&shape, "dense weights")?;
                let weights = reader.f32(weight, &shape)?;
                let bias = reader.f32(bias, &[*out_features])?;
                Layer::Dense(Dense::new(*in_features, *out_features, weights, bias).map_err(err)?)
            }
            LayerEntry::Activation { coefficients } => Layer::Activation(
                FloatPolynomial::new(coefficients.clone())
                    .map_err(layer_quant_error(i, entry.kind()))?,
            ),
            LayerEntry::AvgPool1d { window } => Layer::AvgPool1d(AvgPool1d { window: *window }),
            LayerEntry::Flatten => Layer::Flatten,
            LayerEntry::Linear { .. } | LayerEntry::Polynomial { .. } => {
                return Err(err("integer layer in a float model".into()))
            }
        };
        layers.push(layer);
    }
    Graph::new(manifest.input_dim, layers).map_err(|e| malformed(format!("graph: {e}")))
}

fn decode_quantized_graph(
    manifest: &Manifest,
    input: InputQuantizer,
    reader: &mut TensorReader<'_>,
) -> Result<QuantizedGraph> {
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (i, entry) in manifest.layers.iter().enumerate() {
        let err = |e: String| layer_error(i, entry.kind(), e);
        let named = match entry {
            LayerEntry::Linear {
                name,
                rows,
                cols,
                weight,
                bias,
                scheme,
                input_scale,
                output_scale,
            } => {
                let shape = [*rows, *cols];
                product(&shape, "linear weights")?;
                let layer = QuantizedLinear {
                    rows: *rows,
                    cols: *cols,
                    weights: reader.i64(weight, &shape)?,
                    bias: reader.i64(bias, &[*rows])?,
                    input: input_scale.clone(),
                    output: output_scale.clone(),
                    scheme: *scheme,
                };
                scheme
                    .validate()
                    .map_err(layer_quant_error(i, entry.kind()))?;
                layer
                    .validate()
                    .map_err(layer_quant_error(i, entry.kind()))?;
                NamedLayer::new(name.clone(), IntegerLayer::Linear(layer))
            }
            LayerEntry::Polynomial {
                name,
                polynomial,
                coefficients,
                input_scale,
                output_scale,
            } => {
                let shape = match coefficients.shape.as_slice() {
                    &[width, n] if (1..=3).contains(&n) => [width, n],
                    other => {
                        return Err(err(format!(
                            "coefficient tensor shape {other:?} is not [width, 1..=3]"
                        )))
                    }
                };
                product(&shape, "polynomial coefficients")?;
                let flat = reader.i64(coefficients, &shape)?;
                let coefficients = flat.chunks(shape[1]).map(<[i64]>::to_vec).collect();
                let layer = QuantizedPolynomial {
                    coefficients,
                    input: input_scale.clone(),
                    output: output_scale.clone(),
                    polynomial: FloatPolynomial::new(polynomial.clone())
                        .map_err(layer_quant_error(i, entry.kind()))?,
                };
                layer
                    .validate()
                    .map_err(layer_quant_error(i, entry.kind()))?;
                NamedLayer::new(name.clone(), IntegerLayer::Polynomial(layer))
            }
            _ => return Err(err("float layer in a quantized model".into())),
        };
        layers.push(named);
    }
    let graph = QuantizedGraph::new(input, layers).map_err(|e| malformed(format!("graph: {e}")))?;
    if graph.input_dim() != manifest.input_dim {
        return Err(malformed(format!(
            "input_dim is {}, the input quantizer has {} features",
            manifest.input_dim,
            graph.input_dim()
        )));
    }
    Ok(graph)
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

fn io_error(path: &Path, source: std::io::Error) -> GraphError {
    GraphError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_error(path, e))
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    fs::write(tmp, bytes).map_err(|e| io_error(tmp, e))?;
    fs::rename(tmp, path).map_err(|e| io_error(path, e))
}

fn write_dir(dir: &Path, bytes: &ModelBytes) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    write_file(&dir.join(WEIGHTS_FILE), &bytes.weights)?;
    write_file(&dir.join(MANIFEST_FILE), &bytes.manifest)
}
