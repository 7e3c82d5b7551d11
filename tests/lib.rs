//! End-to-end tests of Duet. The model's own tests live in `crates/duet-model/tests`; this
//! crate will hold tests that cross parts (server + browsers + other Automerge clients).
