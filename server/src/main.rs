//! The `duet` command line. `duet serve` is not implemented yet; the binary says so plainly.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "duet: the sync server is not implemented yet (schema version {}); \
         run `cargo xtask test` to exercise the spec model",
        duet_server::duet_model::SCHEMA_VERSION
    );
    ExitCode::FAILURE
}
