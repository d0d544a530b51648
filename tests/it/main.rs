//! End-to-end scenarios of the diff engine on real files.

#![expect(clippy::unwrap_used, reason = "helper functions of this test binary unwrap like the tests they serve")]

mod errors;
mod fixtures;
mod inventory;
mod properties;
mod scale;
mod scan;
mod semantics;
mod storage;
