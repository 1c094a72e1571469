//! Settings for running the embedder.

/// How token sequences of one batch are padded.
///
/// Neither choice changes the embeddings beyond float rounding (padding
/// tokens are masked out of attention and pooling); they differ in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// Sort the inputs by token count and pad each batch to its longest
    /// sequence. Much faster for short sentences.
    #[default]
    Longest,
    /// Pad every sequence to the maximum token count, in input order.
    Fixed,
}

/// How [`Embedder::embed`](crate::Embedder::embed) runs.
///
/// None of these settings change the embeddings (beyond float rounding of
/// order 1e-7), so they are not part of the embedding-cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmbedOptions {
    /// Sentences per forward pass (default 32).
    pub batch_size: usize,
    /// Padding strategy (default [`Padding::Longest`]).
    pub padding: Padding,
    /// Show a progress bar on stderr (default true; it is hidden anyway when
    /// stderr is not a terminal).
    pub progress: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            batch_size: 32,
            padding: Padding::default(),
            progress: true,
        }
    }
}

impl EmbedOptions {
    /// Sets the batch size.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the padding strategy.
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Turns the progress bar on or off.
    pub fn with_progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }
}
