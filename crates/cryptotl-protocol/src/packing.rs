//! The packing choice, on both sides: which packings a server offers
//! ([`offer_packing`]) and which one a client uses for a number of samples
//! ([`resolve_packing`]).
//!
//! Batch packing (one sample per slot) is always offered. Slot packing (one
//! sample across the slots of a ciphertext) needs a calibration run at
//! start-up and the client's rotation keys (about 25 MB at d = 384); it only
//! wins for a few dozen samples, so `auto` skips it where it cannot win.

use cryptotl_graph::{Packing, PackingChoice, PackingDecision};

use crate::card::ModelCard;
use crate::client::LowerClient;
use crate::error::ProtocolError;
use crate::server::LowerServer;

/// Above this many samples `auto` never picks slot packing at the sizes
/// cryptotl serves (the crossover is a few dozen samples), so a server run
/// in the client's own process for that many samples skips planning it.
pub const SLOT_PACKING_MAX_AUTO: usize = 256;

/// What [`offer_packing`] did about slot packing.
#[derive(Debug)]
#[non_exhaustive]
pub enum SlotOffer {
    /// Not asked for (`batch`): the server offers batch packing only.
    NotRequested,
    /// Planned: the server offers slot packing too.
    Planned,
    /// `auto` with server output noise: slot packing is not combined with
    /// it, the server offers batch packing only.
    NotWithOutputNoise,
    /// `auto`, but the model cannot be slot-packed (the reason is kept):
    /// the server offers batch packing only.
    Unavailable(ProtocolError),
}

impl std::fmt::Display for SlotOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRequested => write!(f, "slot packing: not requested; batch packing only"),
            Self::Planned => write!(f, "slot packing: offered"),
            Self::NotWithOutputNoise => {
                write!(
                    f,
                    "slot packing: not offered with output noise; batch packing only"
                )
            }
            Self::Unavailable(e) => {
                write!(f, "slot packing unavailable ({e}); batch packing only")
            }
        }
    }
}

/// Adds slot packing to `server` as `choice` asks: `slots` requires it,
/// `auto` uses it when the model supports it (and says why not otherwise),
/// `batch` skips the planning. `on_planning` is called right before the
/// calibration run (a few seconds), so a caller can say so.
///
/// ```
/// use cryptotl_protocol::{offer_packing, synthetic, LowerServer, SlotOffer};
/// use cryptotl_graph::{Packing, PackingChoice};
/// use cryptotl_he::Preset;
///
/// let train = synthetic::unit_vectors(64, 16, 1);
/// let (_, model, _) = synthetic::lower_model(16, &train, Preset::N8192, 1)?;
/// let server = LowerServer::new(model)?;
/// let (server, offer) = offer_packing(server, PackingChoice::Fixed(Packing::Batch), || {})?;
/// assert!(matches!(offer, SlotOffer::NotRequested));
/// assert!(server.card().slots.is_none());
/// # Ok::<(), cryptotl_protocol::ProtocolError>(())
/// ```
///
/// # Errors
/// `slots` for a model that cannot be slot-packed (or with output noise).
pub fn offer_packing(
    server: LowerServer,
    choice: PackingChoice,
    on_planning: impl FnOnce(),
) -> Result<(LowerServer, SlotOffer), ProtocolError> {
    match choice {
        PackingChoice::Fixed(Packing::Batch) => Ok((server, SlotOffer::NotRequested)),
        PackingChoice::Fixed(Packing::Slots) => {
            on_planning();
            Ok((server.with_slot_packing()?, SlotOffer::Planned))
        }
        PackingChoice::Auto => {
            if server.output_noise().is_some() {
                return Ok((server, SlotOffer::NotWithOutputNoise));
            }
            on_planning();
            let fallback = server.clone();
            match server.with_slot_packing() {
                Ok(s) => Ok((s, SlotOffer::Planned)),
                Err(e) => Ok((fallback, SlotOffer::Unavailable(e))),
            }
        }
    }
}

/// What the client should ask for `samples` samples against `card`, and the
/// cost model's decision: `auto` becomes `batch` when the cost model would
/// not use slots, so that no slot keys are made or uploaded.
///
/// # Errors
/// An invalid card, or a decision the cost model cannot make.
pub fn resolve_packing(
    card: &ModelCard,
    choice: PackingChoice,
    samples: usize,
) -> Result<(PackingChoice, PackingDecision), ProtocolError> {
    let decision = LowerClient::estimate(card, choice, samples)?;
    let resolved = match (choice, decision.packing) {
        // Batch packing needs no slot keys: do not make or upload them.
        (PackingChoice::Auto, Packing::Batch) => PackingChoice::Fixed(Packing::Batch),
        (choice, _) => choice,
    };
    Ok((resolved, decision))
}

/// The packing a server in the client's own process should offer for
/// `samples` samples: `auto` above [`SLOT_PACKING_MAX_AUTO`] samples is
/// `batch` (slot packing cannot win, so its planning is skipped).
pub fn local_server_packing(choice: PackingChoice, samples: usize) -> PackingChoice {
    if choice == PackingChoice::Auto && samples > SLOT_PACKING_MAX_AUTO {
        PackingChoice::Fixed(Packing::Batch)
    } else {
        choice
    }
}
