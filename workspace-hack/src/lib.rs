//! No code: this crate is its `Cargo.toml`, the union of the features that dqc's members switch
//! on, so that every command compiles each dependency once. `tests/unified.rs` keeps it true.
