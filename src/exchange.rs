//! The client's side of one feature exchange: quantize, encrypt, send each
//! batch to the server, decrypt the answers — with timings and byte counts.
//!
//! The server is reached through [`EncryptedEvaluation`], one trait for
//! "evaluate my ciphertexts" whatever the transport: a [`Session`] in this
//! process implements it directly; a network transport implements the same
//! trait, so fine-tuning and classification code does not change.

use std::time::{Duration, Instant};

use crate::client::LowerClient;
use crate::error::Error;
use crate::server::Session;

/// Evaluates serialized encrypted batches: the server's half of the
/// protocol, as seen by a client.
pub trait EncryptedEvaluation {
    /// Sends one serialized request (one batch of ciphertexts) and returns
    /// the serialized encrypted features.
    fn evaluate_request(&self, request: &[u8]) -> Result<Vec<u8>, Error>;

    /// The most samples the server accepts in one request, if it limits
    /// them below the N slots of a ciphertext.
    fn max_batch_samples(&self) -> Option<usize> {
        None
    }
}

impl EncryptedEvaluation for Session {
    fn evaluate_request(&self, request: &[u8]) -> Result<Vec<u8>, Error> {
        self.evaluate(request)
    }
}

/// What one exchange cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeStats {
    /// Samples sent.
    pub samples: usize,
    /// Batches (requests) sent.
    pub batches: usize,
    /// Bytes uploaded (requests).
    pub upload_bytes: usize,
    /// Bytes downloaded (responses).
    pub download_bytes: usize,
    /// Client time quantizing, encrypting and serializing.
    pub encrypt: Duration,
    /// Time from sending a request to holding its response (the server's
    /// work, plus the transport's).
    pub server: Duration,
    /// Client time parsing and decrypting responses.
    pub decrypt: Duration,
}

impl ExchangeStats {
    /// Adds another exchange's counts and times to these.
    pub fn add(&mut self, other: &ExchangeStats) {
        self.samples += other.samples;
        self.batches += other.batches;
        self.upload_bytes += other.upload_bytes;
        self.download_bytes += other.download_bytes;
        self.encrypt += other.encrypt;
        self.server += other.server;
        self.decrypt += other.decrypt;
    }
}

/// Computes the server's lower-network features for `samples` under
/// encryption: one batch of at most N samples (or the server's
/// [`EncryptedEvaluation::max_batch_samples`]) at a time is quantized,
/// encrypted, evaluated by `server` and decrypted. Returns the exact integer
/// features (equal to the quantized plaintext model's) in sample order.
/// `progress(done, total)` is called after each batch.
///
/// # Errors
/// Samples of the wrong dimension, a server error, or a response that does
/// not parse or does not hold one feature vector per sample.
pub fn encrypted_features(
    client: &LowerClient,
    server: &dyn EncryptedEvaluation,
    samples: &[Vec<f32>],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<Vec<i64>>, ExchangeStats), Error> {
    let mut stats = ExchangeStats::default();
    let mut features = Vec::with_capacity(samples.len());
    let n = client.params().degree();
    let n = server.max_batch_samples().map_or(n, |m| m.clamp(1, n));
    for chunk in samples.chunks(n) {
        let t = Instant::now();
        let request = client.encrypt(chunk)?;
        let [request] = <[Vec<u8>; 1]>::try_from(request).map_err(|r| {
            Error::InvalidInput(format!("expected one request per batch, got {}", r.len()))
        })?;
        stats.encrypt += t.elapsed();

        let t = Instant::now();
        let response = server.evaluate_request(&request)?;
        stats.server += t.elapsed();

        let t = Instant::now();
        let decrypted = client.decrypt_integers(&response)?;
        stats.decrypt += t.elapsed();
        if decrypted.len() != chunk.len() {
            return Err(Error::InvalidInput(format!(
                "the server answered {} samples for a batch of {}",
                decrypted.len(),
                chunk.len()
            )));
        }
        stats.samples += chunk.len();
        stats.batches += 1;
        stats.upload_bytes += request.len();
        stats.download_bytes += response.len();
        features.extend(decrypted);
        progress(features.len(), samples.len());
    }
    Ok((features, stats))
}

/// Dequantizes integer features with the model card's output scale.
///
/// # Errors
/// If a vector does not have the card's output dimension.
pub fn dequantize_features(
    client: &LowerClient,
    features: &[Vec<i64>],
) -> Result<Vec<Vec<f32>>, Error> {
    features
        .iter()
        .map(|y| Ok(client.card().output_scale.dequantize(y)?))
        .collect()
}
