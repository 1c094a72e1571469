//! # cryptotl — privacy-preserving transfer learning with homomorphic encryption
//!
//! A *client* holds private samples (text embeddings); a *server* holds a
//! pretrained network whose weights it will not hand out. The client
//! quantizes and encrypts its samples with BFV (fhe.rs), the server evaluates
//! its frozen quantized lower layers on the ciphertexts, and the client
//! decrypts the features and trains its own head on them. Encrypted
//! evaluation is bit-exact against the quantized plaintext model.
//!
//! This facade puts the layered crates together. The protocol is always
//! there; the rest comes with cargo features (all on by default):
//!
//! | path | crate | feature |
//! |---|---|---|
//! | [`LowerClient`], [`LowerServer`], [`ModelCard`], [`encrypted_features`], [`synthetic`], … | `cryptotl-protocol` | always |
//! | [`he`], [`quant`], [`graph`], [`dp`] | `cryptotl-he`, `-quant`, `-graph`, `-dp` | always |
//! | `serve` | `cryptotl-serve` (HTTP service, remote client) | `serve` |
//! | `embed` | `cryptotl-embed` (sentence embeddings) | `embed` |
//! | `data` | `cryptotl-data` (data sets, loaders) | `data` |
//! | `head`, `pretrain` | `cryptotl-head`, `cryptotl-pretrain` | `train` |
//! | `pipeline` | the text pipeline of `cryptotl demo` | `pipeline` (= `embed` + `data` + `train`) |
//!
//! A program that only runs the protocol depends on
//! `cryptotl = { version = "0.1", default-features = false }`.
//!
//! ```no_run
//! use cryptotl::{LowerClient, LowerServer};
//! # fn run(model: cryptotl::graph::QuantizedModel, samples: Vec<Vec<f32>>) -> Result<(), cryptotl::Error> {
//! let server = LowerServer::new(model)?;
//! let client = LowerClient::new(server.card())?;
//! let session = server.open_session(&client.evaluation_key_bytes()?)?;
//! for request in client.encrypt(&samples)? {
//!     let response = session.evaluate(&request)?;
//!     let features: Vec<Vec<f32>> = client.decrypt(&response)?;
//! }
//! # Ok(()) }
//! ```

mod error;
#[cfg(feature = "pipeline")]
pub mod pipeline;

pub use cryptotl_protocol::{
    classify_slot_messages, dequantize_features, encrypted_features,
    encrypted_features_with_progress, local_server_packing, offer_packing, plan_model_for_noise,
    resolve_packing, synthetic, EncryptedEvaluation, ExchangeProgress, ExchangeStats, LowerClient,
    LowerServer, ModelCard, ProtocolError, Session, SlotCard, SlotLowerClient, SlotOffer,
    SlotServer, SlotSession, Transfer, CARD_VERSION, MAX_SLOT_SAMPLES, SLOT_PACKING_MAX_AUTO,
};
pub use error::Error;

/// Data sets (`cryptotl-data`).
#[cfg(feature = "data")]
pub use cryptotl_data as data;
/// Differential privacy: accountant, DP-SGD primitives, discrete Gaussian
/// (`cryptotl-dp`).
pub use cryptotl_dp as dp;
/// Sentence embeddings (`cryptotl-embed`).
#[cfg(feature = "embed")]
pub use cryptotl_embed as embed;
/// Network graphs, evaluators and model files (`cryptotl-graph`).
pub use cryptotl_graph as graph;
/// HE primitives (`cryptotl-he`).
pub use cryptotl_he as he;
/// The client's head (`cryptotl-head`).
#[cfg(feature = "train")]
pub use cryptotl_head as head;
/// Server pretraining (`cryptotl-pretrain`).
#[cfg(feature = "train")]
pub use cryptotl_pretrain as pretrain;
/// Quantized-layer encoding (`cryptotl-quant`).
pub use cryptotl_quant as quant;
/// The HTTP service and its remote client transport (`cryptotl-serve`).
#[cfg(feature = "serve")]
pub use cryptotl_serve as serve;
