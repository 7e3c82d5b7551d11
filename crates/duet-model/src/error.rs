//! The model's error types, one per boundary: ids, loading, editing, Markdown import.

use thiserror::Error;

use crate::ids::ItemId;

/// An id or actor that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("invalid item id {0:?}: expected 1-64 ASCII letters, digits, '_' or '-'")]
    InvalidItemId(String),
    #[error("invalid user id {0:?}: expected 1-64 ASCII letters, digits, '.', '_' or '-'")]
    InvalidUserId(String),
    #[error("unknown part {0:?}: expected title, problem, metrics, criteria, constraints, decisions, questions or story:<id>")]
    InvalidPart(String),
    #[error("the actor id is not a Duet author")]
    NotADuetActor,
}

/// Why bytes could not be opened as a Duet spec.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    #[error("not an Automerge document: {0}")]
    NotAutomerge(String),
    #[error("an Automerge document, but not a Duet spec: {0}")]
    NotASpec(String),
    #[error(
        "the spec uses schema version {found}, newer than this Duet understands ({supported})"
    )]
    NewerSchema { found: u64, supported: u64 },
}

/// Why an edit was refused. A refused edit changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EditError {
    #[error("no {kind} with id {id}")]
    NoSuchItem { kind: &'static str, id: ItemId },
    #[error("an item with id {0} already exists")]
    DuplicateId(ItemId),
    #[error("text range {start}..{end} is outside a field of length {len}")]
    OutOfRange {
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("position {0} splits a character (positions count UTF-16 code units)")]
    NotCharBoundary(usize),
    #[error("an anchor needs a non-empty span of the story's text")]
    EmptyAnchor,
    #[error("the spec is missing its {0} part")]
    MissingPart(&'static str),
    #[error("that version is not in this spec's history")]
    UnknownVersion,
    #[error("the story did not exist in that version")]
    NotInVersion,
    #[error("automerge refused the edit: {0}")]
    Automerge(String),
}

impl From<automerge::AutomergeError> for EditError {
    fn from(e: automerge::AutomergeError) -> Self {
        EditError::Automerge(e.to_string())
    }
}

/// Why Markdown could not be imported; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}
