//! The model's integration tests in one binary (one link, not one per area): each module is an area, run one with `cargo test -p duet-model --test it <module>::`.

mod common;

mod automerge_clock;
mod carets;
mod convergence;
mod edits;
mod history;
mod hostile;
mod markdown;
mod merge_review;
mod restore_item;
mod signoff;
mod undo;
