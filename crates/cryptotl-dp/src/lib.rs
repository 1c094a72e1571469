//! cryptotl-dp (work in progress).
#![deny(missing_docs)]
