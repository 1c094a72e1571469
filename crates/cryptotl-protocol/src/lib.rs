//! The cryptotl protocol: what a client and a server exchange, and the code
//! on each side.
//!
//! A *server* holds a quantized lower network ([`cryptotl_graph::QuantizedModel`])
//! and publishes a [`ModelCard`]: the input quantizer, the output scale and
//! the HE plan, never a weight. A *client* builds a [`LowerClient`] from the
//! card (it generates and keeps the BFV secret key), uploads its evaluation
//! keys once to open a [`Session`], sends encrypted batches and decrypts the
//! features. Decrypted features equal the quantized plaintext model's bit
//! for bit.
//!
//! - [`ModelCard`]: what a client needs, validated on both sides,
//! - [`LowerServer`] / [`Session`]: bytes in, bytes out; sessions share the
//!   model and hold only their keys; optional output noise
//!   ([`LowerServer::with_output_noise_replanned`]),
//! - [`LowerClient`]: quantize, encrypt, decrypt, dequantize,
//! - [`EncryptedEvaluation`]: the one seam between the client and any
//!   transport (a [`Session`] in process; `cryptotl-serve`'s HTTP client),
//!   and [`encrypted_features`], one whole exchange with timings and bytes,
//! - slot packing (one sample across a ciphertext's slots, for latency):
//!   [`SlotCard`], [`SlotServer`], [`SlotLowerClient`],
//! - the packing choice: [`offer_packing`] (server), [`resolve_packing`]
//!   (client),
//! - [`synthetic`]: random embeddings and a random lower network, for demos,
//!   tests and benchmarks.
//!
//! ```
//! use cryptotl_protocol::{encrypted_features, synthetic, LowerClient, LowerServer};
//! use cryptotl_he::Preset;
//!
//! let train = synthetic::unit_vectors(200, 16, 1);
//! let (_, model, _) = synthetic::lower_model(16, &train, Preset::N8192, 1)?;
//! let expected = model.graph.evaluate_integer(&model.graph.quantize_input(&train[0])?)?;
//!
//! let server = LowerServer::new(model)?;                          // server
//! let client = LowerClient::new(server.card())?;                  // client: keys from the card
//! let session = server.open_session(&client.evaluation_key_bytes()?)?;
//! let (features, stats) = encrypted_features(&client, &session, &train[..3], &mut |_, _| {})?;
//! assert_eq!(features[0], expected);                              // bit-exact
//! assert_eq!(stats.samples, 3);
//! # Ok::<(), cryptotl_protocol::ProtocolError>(())
//! ```

mod card;
mod client;
mod error;
mod exchange;
mod packing;
mod server;
mod slots;
pub mod synthetic;

pub use card::{ModelCard, CARD_VERSION};
pub use client::LowerClient;
pub use error::ProtocolError;
pub use exchange::{
    dequantize_features, encrypted_features, encrypted_features_with_progress, EncryptedEvaluation,
    ExchangeProgress, ExchangeStats, Transfer,
};
pub use packing::{
    local_server_packing, offer_packing, resolve_packing, SlotOffer, SLOT_PACKING_MAX_AUTO,
};
pub use server::{plan_model_for_noise, LowerServer, Session};
pub use slots::{
    classify_slot_messages, SlotCard, SlotLowerClient, SlotServer, SlotSession, MAX_SLOT_SAMPLES,
};
