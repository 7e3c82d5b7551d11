//! The server's integration tests in one binary (one link, not one per area): each module is an area, run one with `cargo test -p duet-server --test it <module>::`.

mod common;

mod auth;
mod backup;
mod convergence;
mod crash;
mod crash_drill;
mod flood_drill;
mod fuzzing;
mod history;
mod hostile;
mod interop;
mod lifecycle;
mod operations;
mod serving;
mod signoff;
mod spec_list;
mod storage;
mod sync;
