//! Deterministic random streams: every random choice of training (weight
//! initialization, shuffling, dropout, splits) draws from its own ChaCha8
//! stream of one seed, so a seed fixes the whole run and adding draws to one
//! purpose does not shift the others.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The purposes that draw random numbers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// Initial weights.
    Init = 1,
    /// Minibatch order.
    Shuffle = 2,
    /// Dropout masks.
    Dropout = 3,
    /// Train/validation split.
    ValidationSplit = 4,
    /// k-fold assignment.
    Folds = 5,
    /// DP-SGD Poisson batch sampling (seeded runs only).
    DpSampling = 6,
    /// DP-SGD gradient noise (seeded runs only).
    DpNoise = 7,
}

/// The generator for `purpose` under `seed`.
pub(crate) fn rng(seed: u64, purpose: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose as u64);
    rng
}

/// The ChaCha20 generator for a DP-SGD purpose under `seed` (reproducible
/// runs for tests only: a known seed lets anyone regenerate the noise).
pub(crate) fn dp_rng(seed: u64, purpose: Stream) -> rand_chacha::ChaCha20Rng {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(purpose as u64);
    rng
}
