//! The spec's layout inside the Automerge document: keys, enumerations and field paths.
//!
//! ```text
//! ROOT
//! ├─ duet        { schema: uint, type: "spec" }
//! ├─ title       Text
//! ├─ problem     Text
//! ├─ metrics     { <id>: { rank, name: Text, target: Text } }
//! ├─ stories     { <id>: { rank, as_a: Text, i_want: Text, so_that: Text, status,
//! │                        criteria: { <id>: { rank, kind, text: Text, done: bool } } } }
//! ├─ constraints { <id>: { rank, story, kind, severity, status, text: Text, author,
//! │                        anchor?: { field, start: cursor, end: cursor, quote } } }
//! ├─ decisions   { <id>: { rank, title: Text, decision: Text, rationale: Text,
//! │                        stories: { <story id>: true }, decided_by, decided_at: ms,
//! │                        context: { <story id>: { digest, at: heads } } } }
//! └─ questions   { <id>: { rank, question: Text, answer: Text, asked_by, answered_by } }
//! ```
//!
//! Lists are maps keyed by item id and ordered by a fractional `rank`, so a reorder is one
//! write and concurrent reorders can never duplicate or lose an item.

use serde::{Deserialize, Serialize};

use crate::ids::ItemId;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u64 = 1;

pub(crate) mod key {
    pub const DUET: &str = "duet";
    pub const SCHEMA: &str = "schema";
    pub const TYPE: &str = "type";
    pub const TYPE_SPEC: &str = "spec";
    pub const TITLE: &str = "title";
    pub const PROBLEM: &str = "problem";
    pub const METRICS: &str = "metrics";
    pub const STORIES: &str = "stories";
    pub const CONSTRAINTS: &str = "constraints";
    pub const DECISIONS: &str = "decisions";
    pub const QUESTIONS: &str = "questions";
    pub const RANK: &str = "rank";
    pub const NAME: &str = "name";
    pub const TARGET: &str = "target";
    pub const AS_A: &str = "as_a";
    pub const I_WANT: &str = "i_want";
    pub const SO_THAT: &str = "so_that";
    pub const STATUS: &str = "status";
    pub const CRITERIA: &str = "criteria";
    pub const KIND: &str = "kind";
    pub const TEXT: &str = "text";
    pub const DONE: &str = "done";
    pub const STORY: &str = "story";
    pub const SEVERITY: &str = "severity";
    pub const AUTHOR: &str = "author";
    pub const ANCHOR: &str = "anchor";
    pub const FIELD: &str = "field";
    pub const START: &str = "start";
    pub const END: &str = "end";
    pub const QUOTE: &str = "quote";
    pub const DECISION: &str = "decision";
    pub const RATIONALE: &str = "rationale";
    pub const DECIDED_BY: &str = "decided_by";
    pub const DECIDED_AT: &str = "decided_at";
    pub const CONTEXT: &str = "context";
    pub const DIGEST: &str = "digest";
    pub const AT: &str = "at";
    pub const QUESTION: &str = "question";
    pub const ANSWER: &str = "answer";
    pub const ASKED_BY: &str = "asked_by";
    pub const ANSWERED_BY: &str = "answered_by";
}

/// Declares a closed set of values stored as strings, with a fallback for unknown strings
/// (a document is untrusted input: an unknown value renders as the default, never panics).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, default $default:ident, { $($variant:ident => $stored:literal, $label:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The value stored in the document.
            pub fn as_stored(self) -> &'static str {
                match self { $($name::$variant => $stored,)* }
            }

            /// Parses a stored value; `None` for anything else.
            pub fn from_stored(s: &str) -> Option<$name> {
                match s { $($stored => Some($name::$variant),)* _ => None }
            }

            /// Reads a stored value leniently: unknown values become the default.
            #[allow(dead_code)]
            pub(crate) fn read(s: &str) -> $name {
                $name::from_stored(s).unwrap_or($name::$default)
            }

            /// The label people read (Markdown export, UI).
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)* }
            }

            /// Parses a label back.
            pub fn from_label(s: &str) -> Option<$name> {
                match s { $($label => Some($name::$variant),)* _ => None }
            }
        }
    };
}

string_enum!(
    /// Where a user story stands.
    StoryStatus, default Draft, {
        Draft => "draft", "Draft";
        Ready => "ready", "Ready";
        InProgress => "in-progress", "In progress";
        Done => "done", "Done";
    }
);

string_enum!(
    /// What an acceptance criterion checks.
    CriterionKind, default Technical, {
        Technical => "technical", "Technical";
        Ux => "ux", "UX";
        Business => "business", "Business";
    }
);

string_enum!(
    /// What a technical constraint is about.
    ConstraintKind, default Other, {
        Performance => "performance", "Performance";
        Security => "security", "Security";
        Dependency => "dependency", "Dependency";
        Cost => "cost", "Cost";
        Feasibility => "feasibility", "Feasibility";
        Other => "other", "Other";
    }
);

string_enum!(
    /// How badly a constraint binds its story.
    Severity, default Major, {
        Blocker => "blocker", "Blocker";
        Major => "major", "Major";
        Minor => "minor", "Minor";
    }
);

string_enum!(
    /// Whether a constraint has been dealt with.
    ConstraintStatus, default Open, {
        Open => "open", "Open";
        Addressed => "addressed", "Addressed";
        Accepted => "accepted", "Accepted";
    }
);

string_enum!(
    /// The three prose fields of a user story.
    StoryField, default AsA, {
        AsA => "as_a", "As a";
        IWant => "i_want", "I want";
        SoThat => "so_that", "So that";
    }
);

string_enum!(
    /// The prose fields of a decision-log entry.
    DecisionField, default Title, {
        Title => "title", "Title";
        Decision => "decision", "Decision";
        Rationale => "rationale", "Why";
    }
);

string_enum!(
    /// The prose fields of an open question.
    QuestionField, default Question, {
        Question => "question", "Question";
        Answer => "answer", "Answer";
    }
);

string_enum!(
    /// The prose fields of a success metric.
    MetricField, default Name, {
        Name => "name", "Metric";
        Target => "target", "Target";
    }
);

/// One collaboratively edited text field of a spec: the address of every splice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "kebab-case")]
pub enum TextField {
    Title,
    Problem,
    Metric {
        metric: ItemId,
        field: MetricField,
    },
    Story {
        story: ItemId,
        field: StoryField,
    },
    Criterion {
        story: ItemId,
        criterion: ItemId,
    },
    Constraint {
        constraint: ItemId,
    },
    Decision {
        decision: ItemId,
        field: DecisionField,
    },
    Question {
        question: ItemId,
        field: QuestionField,
    },
}

impl TextField {
    /// A short name for change messages ("edit story").
    pub fn part_name(&self) -> &'static str {
        match self {
            TextField::Title => "title",
            TextField::Problem => "problem",
            TextField::Metric { .. } => "metric",
            TextField::Story { .. } => "story",
            TextField::Criterion { .. } => "criterion",
            TextField::Constraint { .. } => "constraint",
            TextField::Decision { .. } => "decision",
            TextField::Question { .. } => "question",
        }
    }
}
