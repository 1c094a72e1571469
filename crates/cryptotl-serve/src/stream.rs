//! Streamed evaluate responses: the encrypted features are serialized one
//! ciphertext at a time (on the blocking pool) into a bounded channel that
//! feeds the response body, so that the server never holds a whole
//! serialized response (about 81 MB at d = 384) next to the evaluated batch.
//! The bytes are exactly [`EncryptedBatch::to_bytes`]; the body announces
//! its exact length, so HTTP/1.1 sends it with `Content-Length`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use cryptotl_he::EncryptedBatch;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// Serialized pieces buffered between the serializer and the connection
/// (the one being written, the next one ready).
const AHEAD: usize = 2;

/// A response body fed by [`stream_batch`]'s serializer task.
#[derive(Debug)]
pub(crate) struct StreamedBatch {
    pieces: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl Body for StreamedBatch {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.pieces.poll_recv(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                self.remaining = self.remaining.saturating_sub(piece.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(piece))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) if self.remaining > 0 => Poll::Ready(Some(Err(io::Error::other(
                "the streamed response ended early",
            )))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Starts serializing `batch` into a response body: its prefix, then one
/// ciphertext per piece, each serialized on the blocking pool while the
/// previous one is sent. `hold` (an admission permit) is released once the
/// last piece has been handed to the connection, or when the client goes
/// away, or when it stops reading for `stall_timeout` (the response is then
/// aborted). Must run inside a tokio runtime.
pub(crate) fn stream_batch<H: Send + 'static>(
    batch: EncryptedBatch,
    hold: H,
    stall_timeout: Duration,
) -> StreamedBatch {
    let (tx, rx) = mpsc::channel(AHEAD);
    let remaining = batch.serialized_len() as u64;
    tokio::spawn(async move {
        let _hold = hold;
        let batch = Arc::new(batch);
        let mut next = Some(batch.serialized_prefix());
        let mut index = 0;
        while let Some(piece) = next.take() {
            let serializer = {
                let batch = Arc::clone(&batch);
                let i = index;
                tokio::task::spawn_blocking(move || batch.serialized_ciphertext(i))
            };
            match tokio::time::timeout(stall_timeout, tx.send(Ok(Bytes::from(piece)))).await {
                Ok(Ok(())) => {}
                // The connection is gone: nobody reads the rest.
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::warn!(
                        target: "cryptotl::serve",
                        secs = stall_timeout.as_secs(),
                        "client stopped reading a streamed response: aborting it"
                    );
                    return;
                }
            }
            next = match serializer.await {
                Ok(piece) => piece,
                Err(e) => {
                    tracing::error!(target: "cryptotl::serve", "response serialization failed: {e}");
                    let _ = tx
                        .send(Err(io::Error::other("response serialization failed")))
                        .await;
                    return;
                }
            };
            index += 1;
        }
    });
    StreamedBatch {
        pieces: rx,
        remaining,
    }
}
