//! The client's side of one feature exchange: quantize, encrypt, send each
//! batch to the server, decrypt the answers — with timings and byte counts.
//!
//! The server is reached through [`EncryptedEvaluation`], one trait for
//! "evaluate my ciphertexts" whatever the transport: a [`Session`] in this
//! process implements it directly; a network transport implements the same
//! trait, so fine-tuning and classification code does not change.

use std::time::{Duration, Instant};

use cryptotl_graph::{Packing, PackingDecision};

use crate::client::LowerClient;
use crate::error::ProtocolError;
use crate::server::Session;
use crate::slots::MAX_SLOT_SAMPLES;

/// Progress of one request over a network transport, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Request bytes handed to the connection so far, of `total`.
    Upload {
        /// Bytes sent.
        sent: u64,
        /// The request's size.
        total: u64,
    },
    /// Response bytes received so far, of `total` when the server announced
    /// the length.
    Download {
        /// Bytes received.
        received: u64,
        /// The response's size, if known.
        total: Option<u64>,
    },
}

/// Evaluates serialized encrypted batches: the server's half of the
/// protocol, as seen by a client.
pub trait EncryptedEvaluation {
    /// Sends one serialized request (one batch of ciphertexts) and returns
    /// the serialized encrypted features.
    fn evaluate_request(&self, request: &[u8]) -> Result<Vec<u8>, ProtocolError>;

    /// [`EncryptedEvaluation::evaluate_request`], reporting the request's
    /// upload and the response's download byte by byte (as the transport
    /// moves them) to `progress`. Transports without a network (the default)
    /// report nothing.
    fn evaluate_request_with_progress(
        &self,
        request: &[u8],
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<Vec<u8>, ProtocolError> {
        let _ = progress;
        self.evaluate_request(request)
    }

    /// The most samples the server accepts in one request, if it limits
    /// them below the N slots of a ciphertext.
    fn max_batch_samples(&self) -> Option<usize> {
        None
    }
}

impl EncryptedEvaluation for Session {
    fn evaluate_request(&self, request: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        self.evaluate(request)
    }
}

/// Progress of [`encrypted_features_with_progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeProgress {
    /// The exchange begins: `samples` in `batches` requests.
    Started {
        /// Samples to send.
        samples: usize,
        /// Requests (batches) to send.
        batches: usize,
    },
    /// Bytes of batch `batch` (0-based) moved by the transport.
    Transfer {
        /// The batch being sent or received.
        batch: usize,
        /// How far its transfer is.
        transfer: Transfer,
    },
    /// A batch's features came back: `done` samples of `total`.
    Samples {
        /// Samples whose features came back.
        done: usize,
        /// All samples.
        total: usize,
    },
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
    /// The packing used, with the cost model's estimates (the last
    /// exchange's, after [`ExchangeStats::add`]).
    pub packing: Option<PackingDecision>,
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
        if other.packing.is_some() {
            self.packing = other.packing;
        }
    }
}

/// Computes the server's lower-network features for `samples` under
/// encryption: one batch of at most N samples (or the server's
/// [`EncryptedEvaluation::max_batch_samples`]) at a time is quantized,
/// encrypted, evaluated by `server` and decrypted. Returns the exact integer
/// features (equal to the quantized plaintext model's) in sample order.
/// `progress(done, total)` is called after each batch; for byte-level
/// progress of uploads and downloads use [`encrypted_features_with_progress`].
///
/// # Errors
/// Samples of the wrong dimension, a server error, or a response that does
/// not parse or does not hold one feature vector per sample.
pub fn encrypted_features(
    client: &LowerClient,
    server: &dyn EncryptedEvaluation,
    samples: &[Vec<f32>],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<Vec<i64>>, ExchangeStats), ProtocolError> {
    encrypted_features_with_progress(client, server, samples, &mut |p| {
        if let ExchangeProgress::Samples { done, total } = p {
            progress(done, total);
        }
    })
}

/// [`encrypted_features`], reporting [`ExchangeProgress`]: the start, every
/// batch's bytes as the transport sends and receives them (network
/// transports only), and the samples done after each batch.
///
/// # Errors
/// As [`encrypted_features`].
pub fn encrypted_features_with_progress(
    client: &LowerClient,
    server: &dyn EncryptedEvaluation,
    samples: &[Vec<f32>],
    progress: &mut dyn FnMut(ExchangeProgress),
) -> Result<(Vec<Vec<i64>>, ExchangeStats), ProtocolError> {
    let mut stats = ExchangeStats::default();
    let decision = client.decide(samples.len())?;
    stats.packing = Some(decision);
    if decision.packing == Packing::Slots {
        let slots = client.slot_client().ok_or_else(|| {
            ProtocolError::InvalidRequest(
                "slot packing was chosen but is not enabled on this client".into(),
            )
        })?;
        // One ciphertext per CRT pipeline and sample (or pair of samples,
        // in the two-lane layout), at most MAX_SLOT_SAMPLES samples per
        // request.
        let per_request = server
            .max_batch_samples()
            .map_or(MAX_SLOT_SAMPLES, |m| m.clamp(1, MAX_SLOT_SAMPLES));
        let lanes = decision.slot_lanes;
        return exchange_requests(
            server,
            samples,
            per_request,
            &|chunk| slots.encrypt(&client.quantize(chunk)?, lanes),
            &|response| slots.decrypt(response),
            progress,
            stats,
        );
    }
    let n = client.params().degree();
    let n = server.max_batch_samples().map_or(n, |m| m.clamp(1, n));
    exchange_requests(
        server,
        samples,
        n,
        &|chunk| {
            let request = client.encrypt(chunk)?;
            <[Vec<u8>; 1]>::try_from(request).map(|[r]| r).map_err(|r| {
                ProtocolError::InvalidRequest(format!(
                    "expected one request per batch, got {}",
                    r.len()
                ))
            })
        },
        &|response| client.decrypt_integers(response),
        progress,
        stats,
    )
}

/// Samples → one serialized request.
type EncryptRequest<'a> = dyn Fn(&[Vec<f32>]) -> Result<Vec<u8>, ProtocolError> + 'a;
/// One serialized response → integer features, one vector per sample.
type DecryptResponse<'a> = dyn Fn(&[u8]) -> Result<Vec<Vec<i64>>, ProtocolError> + 'a;

/// The request loop shared by both packings: `samples` in requests of at
/// most `per_request`, each encrypted by `encrypt`, evaluated by `server`
/// and decrypted by `decrypt`, with timings, byte counts and progress.
fn exchange_requests(
    server: &dyn EncryptedEvaluation,
    samples: &[Vec<f32>],
    per_request: usize,
    encrypt: &EncryptRequest<'_>,
    decrypt: &DecryptResponse<'_>,
    progress: &mut dyn FnMut(ExchangeProgress),
    mut stats: ExchangeStats,
) -> Result<(Vec<Vec<i64>>, ExchangeStats), ProtocolError> {
    let mut features = Vec::with_capacity(samples.len());
    progress(ExchangeProgress::Started {
        samples: samples.len(),
        batches: samples.len().div_ceil(per_request),
    });
    for (batch, chunk) in samples.chunks(per_request).enumerate() {
        let t = Instant::now();
        let request = encrypt(chunk)?;
        stats.encrypt += t.elapsed();

        let t = Instant::now();
        let response = server.evaluate_request_with_progress(&request, &mut |transfer| {
            progress(ExchangeProgress::Transfer { batch, transfer })
        })?;
        stats.server += t.elapsed();

        let t = Instant::now();
        let decrypted = decrypt(&response)?;
        stats.decrypt += t.elapsed();
        if decrypted.len() != chunk.len() {
            return Err(ProtocolError::InvalidRequest(format!(
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
        progress(ExchangeProgress::Samples {
            done: features.len(),
            total: samples.len(),
        });
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
) -> Result<Vec<Vec<f32>>, ProtocolError> {
    features
        .iter()
        .map(|y| Ok(client.card().output_scale.dequantize(y)?))
        .collect()
}
