//! # cryptotl — privacy-preserving transfer learning with homomorphic encryption
//!
//! A *client* holds private samples (text embeddings); a *server* holds a
//! pretrained network whose weights it will not hand out. The client
//! quantizes and encrypts its samples with BFV (fhe.rs), the server evaluates
//! its frozen quantized lower layers on the ciphertexts, and the client
//! decrypts the features and trains its own head on them. Encrypted
//! evaluation is bit-exact against the quantized plaintext model.
//!
//! This facade puts the layered crates together:
//!
//! - [`he`] (`cryptotl-he`): BFV parameters, keys, packing, evaluation, wire format,
//! - [`quant`] (`cryptotl-quant`): quantized-layer encoding and bound analysis,
//! - [`graph`] (`cryptotl-graph`): network graphs, fusion, evaluators, model files,
//! - [`card`]: the [`ModelCard`] a server publishes (never weights),
//! - [`server`]: [`LowerServer`] and its per-client [`Session`]s,
//! - [`client`]: [`LowerClient`], which keeps the secret key,
//! - [`synthetic`]: random embeddings and a random lower network for demos
//!   and benchmarks (until pretrained models land).
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
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod card;
pub mod client;
pub mod error;
pub mod exchange;
pub mod experiment;
pub mod folds;
pub mod pipeline;
pub mod serve;
pub mod server;
pub mod slots;
pub mod synthetic;

pub use card::ModelCard;
pub use client::LowerClient;
pub use error::Error;
pub use exchange::{
    encrypted_features, encrypted_features_with_progress, EncryptedEvaluation, ExchangeProgress,
    ExchangeStats, Transfer,
};
pub use server::{LowerServer, Session};

/// Data sets (`cryptotl-data`).
pub use cryptotl_data as data;
/// Sentence embeddings (`cryptotl-embed`).
pub use cryptotl_embed as embed;
/// Network graphs, evaluators and model files (`cryptotl-graph`).
pub use cryptotl_graph as graph;
/// HE primitives (`cryptotl-he`).
pub use cryptotl_he as he;
/// The client's head (`cryptotl-head`).
pub use cryptotl_head as head;
/// Server pretraining (`cryptotl-pretrain`).
pub use cryptotl_pretrain as pretrain;
/// Quantized-layer encoding (`cryptotl-quant`).
pub use cryptotl_quant as quant;
