//! cryptotl-embed (work in progress).
#![deny(missing_docs)]
