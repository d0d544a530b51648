//! End-to-end scenarios of the diff engine on real files.

mod errors;
mod fixtures;
mod properties;
mod scan;
mod semantics;
