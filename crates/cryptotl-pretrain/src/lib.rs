//! cryptotl-pretrain (work in progress).
#![deny(missing_docs)]
