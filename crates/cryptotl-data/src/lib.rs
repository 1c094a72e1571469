//! cryptotl-data (work in progress).
#![deny(missing_docs)]
