//! Cargo resolves `[build-dependencies]` only for a package with a build script: this one makes
//! the host side of the hack (proc macros, build scripts) count.

fn main() {}
