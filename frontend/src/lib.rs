//! The Duet browser app. Not built yet: this crate only links the spec model, which already
//! compiles for wasm32-unknown-unknown (checked by `cargo xtask test`).

pub use duet_model;
