//! duet-model: a Duet spec as an Automerge document — schema, typed view, typed edits, authorship, Markdown. Sans-IO.
//!
//! Nothing here touches sockets, files or clocks: time and randomness are passed in, so the
//! same code runs in the server, in the browser (wasm32) and in tests.

mod at;
mod caret;
mod concurrent;
mod diff;
pub mod done;
mod edit;
mod error;
pub mod history;
mod ids;
mod journal;
pub mod markdown;
mod rank;
mod read;
mod restore;
mod schema;
pub mod signoff;
mod spec;
mod undo;
mod view;

pub use at::view_at;
pub use automerge;
pub use caret::{caret_at, caret_position, input_splice, rebase_splice, Caret, InputSplice};
pub use concurrent::{overlaps, Contribution, Overlap, Place, Side};
pub use diff::{
    blame, blame_of, diff, keep_author, place_label, restore_preview, story_diff, BlameRun,
    DiffRun, FieldBlame, ItemChange, RunKind, SettingChange, SpecDiff, TextDiff,
};
pub use edit::{AnchorSpan, NewConstraint, NewDecision, NewStory};
pub use error::{EditError, IdError, ImportError, LoadError};
pub use ids::{Author, ItemId, UnixMillis, UserId, ACTOR_MAGIC};
pub use restore::RestoreScope;
pub use schema::{
    ConstraintKind, ConstraintStatus, CriterionKind, DecisionField, MetricField, QuestionField,
    Severity, StoryField, StoryStatus, TextField, SCHEMA_VERSION,
};
pub use spec::{load_doc, skeleton_hash, Spec};
pub use undo::{Spot, UndoStack, Undone, TYPING_PAUSE_MS};
pub use view::{
    view_of, Anchor, ChangedContext, ConstraintView, CriterionView, DecisionView, MetricView,
    QuestionView, SpecView, StoryView,
};

/// The title of a document if it is a Duet spec (`None` for other Automerge documents).
/// Cheap: reads the marker and the title only.
pub fn spec_title(doc: &impl automerge::ReadDoc) -> Option<String> {
    spec::check_is_spec(doc).ok()?;
    Some(view::root_text(doc, schema::key::TITLE))
}

/// Who made a change, read from its actor id (`None` for actors that are not Duet authors).
pub fn change_author(change: &automerge::Change) -> Option<Author> {
    Author::from_actor(change.actor_id()).ok()
}
