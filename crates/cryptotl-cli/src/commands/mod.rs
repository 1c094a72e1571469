//! One module per subcommand: its flags and its `run`.

use std::path::PathBuf;

use cryptotl::embed::ModelSource;

use crate::progress::Reporter;

pub(crate) mod classify;
pub(crate) mod datasets;
pub(crate) mod demo;
pub(crate) mod evaluate;
pub(crate) mod experiment;
pub(crate) mod finetune;
pub(crate) mod pretrain;
pub(crate) mod serve;
pub(crate) mod setup;

/// What every subcommand gets from the global flags.
pub(crate) struct Context {
    /// The cache directory (model, data sets, embeddings).
    pub(crate) cache: PathBuf,
    /// The embedding model.
    pub(crate) embedding_model: ModelSource,
    /// `--quiet`: results only.
    pub(crate) quiet: bool,
    /// Progress on stderr.
    pub(crate) reporter: Reporter,
}
