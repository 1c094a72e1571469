//! cryptotl-head (work in progress).
#![deny(missing_docs)]
