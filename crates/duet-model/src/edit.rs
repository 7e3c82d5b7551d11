//! The typed edit API: every user action on a spec is one method here and one Automerge change.

use automerge::{AutoCommit, MoveCursor, ObjId, ObjType, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::error::EditError;
use crate::ids::{ItemId, UnixMillis};
use crate::journal::Tx;
use crate::rank;
use crate::read::{self, Ranked};
use crate::schema::{
    key, ConstraintKind, ConstraintStatus, CriterionKind, DecisionField, MetricField,
    QuestionField, Severity, StoryField, StoryStatus, TextField,
};
use crate::signoff::signed_content;
use crate::spec::Spec;

/// A span of one of a story's text fields, in UTF-16 code units, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorSpan {
    pub field: StoryField,
    pub start: usize,
    pub end: usize,
}

/// What a new story starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStory {
    pub as_a: String,
    pub i_want: String,
    pub so_that: String,
}

/// What a new constraint starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConstraint {
    pub kind: ConstraintKind,
    pub severity: Severity,
    pub text: String,
    /// Anchor to a span of the story's text, or `None` for the story as a whole.
    pub anchor: Option<AnchorSpan>,
}

/// What a new decision-log entry starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDecision {
    pub title: String,
    pub decision: String,
    pub rationale: String,
    pub stories: Vec<ItemId>,
}

fn no_such(kind: &'static str, id: &ItemId) -> EditError {
    EditError::NoSuchItem {
        kind,
        id: id.clone(),
    }
}

fn part(doc: &AutoCommit, name: &'static str, typ: ObjType) -> Result<ObjId, EditError> {
    read::part(doc, name, typ).ok_or(EditError::MissingPart(name))
}

fn item(
    doc: &AutoCommit,
    list: &ObjId,
    kind: &'static str,
    id: &ItemId,
) -> Result<ObjId, EditError> {
    read::obj(doc, list, id.as_str(), ObjType::Map).ok_or_else(|| no_such(kind, id))
}

fn story_obj(doc: &AutoCommit, id: &ItemId) -> Result<ObjId, EditError> {
    let stories = part(doc, key::STORIES, ObjType::Map)?;
    item(doc, &stories, "story", id)
}

fn criteria_obj(doc: &AutoCommit, story: &ItemId) -> Result<ObjId, EditError> {
    let story_obj = story_obj(doc, story)?;
    read::obj(doc, &story_obj, key::CRITERIA, ObjType::Map)
        .ok_or(EditError::MissingPart("story criteria"))
}

fn list_of(kind: &'static str) -> (&'static str, &'static str) {
    match kind {
        "metric" => (key::METRICS, "metric"),
        "constraint" => (key::CONSTRAINTS, "constraint"),
        "decision" => (key::DECISIONS, "decision"),
        "question" => (key::QUESTIONS, "question"),
        _ => (key::STORIES, "story"),
    }
}

/// Creates the text object `parent[key]` holding `value`.
fn put_text(doc: &mut Tx, parent: &ObjId, name: &str, value: &str) -> Result<(), EditError> {
    let text = doc.put_object(parent, name, ObjType::Text)?;
    if !value.is_empty() {
        doc.splice_text(&text, 0, 0, value)?;
    }
    Ok(())
}

/// Fails unless `id` is free in `list`.
fn ensure_free(doc: &AutoCommit, list: &ObjId, id: &ItemId) -> Result<(), EditError> {
    match doc.get(list, id.as_str())? {
        Some(_) => Err(EditError::DuplicateId(id.clone())),
        None => Ok(()),
    }
}

/// Writes a rank on `target` that puts it at `index` among `others` (display order, without
/// `target`). When there is no room (equal neighbours from concurrent inserts, or ranks
/// not written by Duet) the whole list is re-spaced in the same change.
fn place(
    doc: &mut Tx,
    others: &[Ranked],
    index: usize,
    target: &ObjId,
    salt: &ItemId,
) -> Result<(), EditError> {
    let index = index.min(others.len());
    let lo = index.checked_sub(1).map(|i| others[i].rank.as_str());
    let hi = others.get(index).map(|r| r.rank.as_str());
    if let Some(rank) = rank::between(lo, hi, salt.as_str()) {
        doc.put(target, key::RANK, rank)?;
        return Ok(());
    }
    let mut ranks = rank::spread(others.len() + 1).into_iter();
    let mut objs: Vec<&ObjId> = others.iter().map(|r| &r.obj).collect();
    objs.insert(index, target);
    for obj in objs {
        if let Some(rank) = ranks.next() {
            doc.put(obj, key::RANK, rank)?;
        }
    }
    Ok(())
}

/// Moves `id` of `list` to `index` of the display order given by `siblings` (which include it).
fn move_within(
    doc: &mut Tx,
    siblings: Vec<Ranked>,
    kind: &'static str,
    id: &ItemId,
    index: usize,
) -> Result<(), EditError> {
    let target = siblings
        .iter()
        .find(|r| &r.id == id)
        .map(|r| r.obj.clone())
        .ok_or_else(|| no_such(kind, id))?;
    let others: Vec<Ranked> = siblings.into_iter().filter(|r| &r.id != id).collect();
    place(doc, &others, index, &target, id)
}

/// The constraints beside `story`, in track order.
fn track(doc: &AutoCommit, constraints: &ObjId, story: &str) -> Vec<Ranked> {
    read::ranked(doc, constraints)
        .into_iter()
        .filter(|c| read::string(doc, &c.obj, key::STORY) == story)
        .collect()
}

/// Creates constraint `id` at `index` of `story`'s track (the story is not checked), Open.
fn insert_constraint(
    doc: &mut Tx,
    story: &ItemId,
    id: &ItemId,
    index: usize,
    kind: ConstraintKind,
    severity: Severity,
    text: &str,
) -> Result<ObjId, EditError> {
    let list = part(doc, key::CONSTRAINTS, ObjType::Map)?;
    ensure_free(doc, &list, id)?;
    let track = track(doc, &list, story.as_str());
    let obj = doc.put_object(&list, id.as_str(), ObjType::Map)?;
    place(doc, &track, index, &obj, id)?;
    doc.put(&obj, key::STORY, story.as_str())?;
    doc.put(&obj, key::KIND, kind.as_stored())?;
    doc.put(&obj, key::SEVERITY, severity.as_stored())?;
    doc.put(&obj, key::STATUS, ConstraintStatus::Open.as_stored())?;
    put_text(doc, &obj, key::TEXT, text)?;
    Ok(obj)
}

/// The Text object addressed by `field`.
pub(crate) fn text_obj(doc: &AutoCommit, field: &TextField) -> Result<ObjId, EditError> {
    let (parent, name): (ObjId, &str) = match field {
        TextField::Title => return part(doc, key::TITLE, ObjType::Text),
        TextField::Problem => return part(doc, key::PROBLEM, ObjType::Text),
        TextField::Metric { metric, field } => {
            let list = part(doc, key::METRICS, ObjType::Map)?;
            (item(doc, &list, "metric", metric)?, field.as_stored())
        }
        TextField::Story { story, field } => (story_obj(doc, story)?, field.as_stored()),
        TextField::Criterion { story, criterion } => {
            let criteria = criteria_obj(doc, story)?;
            (item(doc, &criteria, "criterion", criterion)?, key::TEXT)
        }
        TextField::Constraint { constraint } => {
            let list = part(doc, key::CONSTRAINTS, ObjType::Map)?;
            (item(doc, &list, "constraint", constraint)?, key::TEXT)
        }
        TextField::Decision { decision, field } => {
            let list = part(doc, key::DECISIONS, ObjType::Map)?;
            (item(doc, &list, "decision", decision)?, field.as_stored())
        }
        TextField::Question { question, field } => {
            let list = part(doc, key::QUESTIONS, ObjType::Map)?;
            (item(doc, &list, "question", question)?, field.as_stored())
        }
    };
    read::obj(doc, &parent, name, ObjType::Text).ok_or(EditError::MissingPart("text field"))
}

/// Checks `start..end` against `text` (UTF-16 units, on character boundaries).
fn check_range(text: &str, start: usize, end: usize) -> Result<(), EditError> {
    let len = read::utf16_len(text);
    if start > end || end > len {
        return Err(EditError::OutOfRange { start, end, len });
    }
    for pos in [start, end] {
        if read::byte_offset(text, pos).is_none() {
            return Err(EditError::NotCharBoundary(pos));
        }
    }
    Ok(())
}

/// Checks `start..end` against a Text object without reading its whole text, so a
/// keystroke costs O(log n) in the field's length: a position is a character boundary
/// exactly when the character found at it starts there.
fn check_range_in_doc(
    doc: &AutoCommit,
    obj: &ObjId,
    len: usize,
    start: usize,
    end: usize,
) -> Result<(), EditError> {
    if start > end || end > len {
        return Err(EditError::OutOfRange { start, end, len });
    }
    for pos in [start, end] {
        if pos < len {
            let cursor = doc.get_cursor(obj, pos, None)?;
            if doc.get_cursor_position(obj, &cursor, None)? != pos {
                return Err(EditError::NotCharBoundary(pos));
            }
        }
    }
    Ok(())
}

/// The smallest splice turning `old` into `new`: (start, deleted, inserted), UTF-16 units.
pub(crate) fn minimal_splice<'a>(old: &str, new: &'a str) -> (usize, usize, &'a str) {
    let prefix_bytes: usize = old
        .chars()
        .zip(new.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let old_rest = &old[prefix_bytes..];
    let new_rest = &new[prefix_bytes..];
    let suffix_bytes: usize = old_rest
        .chars()
        .rev()
        .zip(new_rest.chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let deleted = &old_rest[..old_rest.len() - suffix_bytes];
    let inserted = &new_rest[..new_rest.len() - suffix_bytes];
    (
        read::utf16_len(&old[..prefix_bytes]),
        read::utf16_len(deleted),
        inserted,
    )
}

/// Writes an anchor map on `constraint` for `span` of the story's text.
pub(crate) fn write_anchor(
    doc: &mut Tx,
    story: &ObjId,
    constraint: &ObjId,
    span: AnchorSpan,
) -> Result<(), EditError> {
    let text_obj = read::obj(&**doc, story, span.field.as_stored(), ObjType::Text)
        .ok_or(EditError::MissingPart("story text"))?;
    let text = doc.text(&text_obj)?;
    if span.start >= span.end {
        return Err(EditError::EmptyAnchor);
    }
    check_range(&text, span.start, span.end)?;
    let quote = read::utf16_slice(&text, span.start, span.end)
        .unwrap_or_default()
        .to_owned();
    // Both cursors sit on characters of the span (its first and its last) and move forward
    // when their character is deleted; see `view::resolve_anchor` for how they are read.
    let last_char_len = quote.chars().next_back().map_or(1, char::len_utf16);
    let start = doc.get_cursor_moving(&text_obj, span.start, None, MoveCursor::After)?;
    let end =
        doc.get_cursor_moving(&text_obj, span.end - last_char_len, None, MoveCursor::After)?;
    let anchor = doc.put_object(constraint, key::ANCHOR, ObjType::Map)?;
    doc.put(&anchor, key::FIELD, span.field.as_stored())?;
    doc.put(&anchor, key::START, start.to_string())?;
    doc.put(&anchor, key::END, end.to_string())?;
    doc.put(&anchor, key::QUOTE, quote)?;
    Ok(())
}

/// Records in a decision's `context` what `story` reads now (its sign-off digest) and the
/// version `at` it was read at.
fn record_context(
    doc: &mut Tx,
    context: &ObjId,
    story: &ItemId,
    at: &str,
) -> Result<(), EditError> {
    let digest = signed_content(&**doc, story)
        .map(|c| c.digest().as_str().to_owned())
        .unwrap_or_default();
    let entry = doc.put_object(context, story.as_str(), ObjType::Map)?;
    doc.put(&entry, key::DIGEST, digest)?;
    doc.put(&entry, key::AT, at)?;
    Ok(())
}

impl Spec {
    /// Splices one text field: delete `delete` units at `index`, then insert `insert`.
    /// Positions are UTF-16 code units, as in the DOM.
    pub fn splice(
        &mut self,
        field: &TextField,
        index: usize,
        delete: usize,
        insert: &str,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let message = format!("edit {}", field.part_name());
        self.change(&message, now, |doc| {
            let obj = text_obj(doc, field)?;
            let len = doc.length(&obj);
            let end = index.checked_add(delete).ok_or(EditError::OutOfRange {
                start: index,
                end: usize::MAX,
                len,
            })?;
            check_range_in_doc(doc, &obj, len, index, end)?;
            if delete > 0 || !insert.is_empty() {
                doc.splice_text(&obj, index, delete, insert)?;
            }
            Ok(())
        })
    }

    /// Replaces a text field's content with `value` by its smallest splice, so concurrent
    /// edits elsewhere in the field survive.
    pub fn set_text(
        &mut self,
        field: &TextField,
        value: &str,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let message = format!("edit {}", field.part_name());
        self.change(&message, now, |doc| {
            let obj = text_obj(doc, field)?;
            let old = doc.text(&obj)?;
            let (start, deleted, inserted) = minimal_splice(&old, value);
            if deleted > 0 || !inserted.is_empty() {
                doc.splice_text(&obj, start, deleted, inserted)?;
            }
            Ok(())
        })
    }

    fn ranked_part(
        doc: &AutoCommit,
        name: &'static str,
    ) -> Result<(ObjId, Vec<Ranked>), EditError> {
        let list = part(doc, name, ObjType::Map)?;
        let items = read::ranked(doc, &list);
        Ok((list, items))
    }

    /// Removes an item of a root list (`kind` names which).
    fn remove_item(
        &mut self,
        kind: &'static str,
        id: &ItemId,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let (list_key, kind) = list_of(kind);
        self.change(&format!("remove {kind}"), now, |doc| {
            let list = part(doc, list_key, ObjType::Map)?;
            item(doc, &list, kind, id)?;
            doc.delete(&list, id.as_str())?;
            Ok(())
        })
    }

    /// Moves an item of a root list to `index` in display order.
    fn move_item(
        &mut self,
        kind: &'static str,
        id: &ItemId,
        index: usize,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let (list_key, kind) = list_of(kind);
        self.change(&format!("move {kind}"), now, |doc| {
            let (_, items) = Self::ranked_part(doc, list_key)?;
            move_within(doc, items, kind, id, index)
        })
    }

    // ---- success metrics ----

    /// Adds a success metric at `index`.
    pub fn add_metric(
        &mut self,
        id: &ItemId,
        index: usize,
        name: &str,
        target: &str,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("add metric", now, |doc| {
            let (list, items) = Self::ranked_part(doc, key::METRICS)?;
            ensure_free(doc, &list, id)?;
            let obj = doc.put_object(&list, id.as_str(), ObjType::Map)?;
            place(doc, &items, index, &obj, id)?;
            put_text(doc, &obj, MetricField::Name.as_stored(), name)?;
            put_text(doc, &obj, MetricField::Target.as_stored(), target)
        })
    }

    pub fn remove_metric(&mut self, id: &ItemId, now: UnixMillis) -> Result<(), EditError> {
        self.remove_item("metric", id, now)
    }

    pub fn move_metric(
        &mut self,
        id: &ItemId,
        index: usize,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.move_item("metric", id, index, now)
    }

    // ---- user stories ----

    /// Adds a user story at `index`, with status Draft.
    pub fn add_story(
        &mut self,
        id: &ItemId,
        index: usize,
        story: &NewStory,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("add story", now, |doc| {
            let (list, items) = Self::ranked_part(doc, key::STORIES)?;
            ensure_free(doc, &list, id)?;
            let obj = doc.put_object(&list, id.as_str(), ObjType::Map)?;
            place(doc, &items, index, &obj, id)?;
            put_text(doc, &obj, key::AS_A, &story.as_a)?;
            put_text(doc, &obj, key::I_WANT, &story.i_want)?;
            put_text(doc, &obj, key::SO_THAT, &story.so_that)?;
            doc.put(&obj, key::STATUS, StoryStatus::Draft.as_stored())?;
            doc.put_object(&obj, key::CRITERIA, ObjType::Map)?;
            Ok(())
        })
    }

    /// Removes a story with its criteria and the constraints beside it. Decisions keep
    /// their text; their link to the story is dropped.
    pub fn remove_story(&mut self, id: &ItemId, now: UnixMillis) -> Result<(), EditError> {
        self.change("remove story", now, |doc| {
            let stories = part(doc, key::STORIES, ObjType::Map)?;
            item(doc, &stories, "story", id)?;
            doc.delete(&stories, id.as_str())?;
            let (constraints, items) = Self::ranked_part(doc, key::CONSTRAINTS)?;
            for c in items {
                if read::string(&**doc, &c.obj, key::STORY) == id.as_str() {
                    doc.delete(&constraints, c.id.as_str())?;
                }
            }
            let (_, decisions) = Self::ranked_part(doc, key::DECISIONS)?;
            for d in decisions {
                if let Some(links) = read::obj(&**doc, &d.obj, key::STORIES, ObjType::Map) {
                    if doc.get(&links, id.as_str())?.is_some() {
                        doc.delete(&links, id.as_str())?;
                    }
                }
            }
            Ok(())
        })
    }

    pub fn move_story(
        &mut self,
        id: &ItemId,
        index: usize,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.move_item("story", id, index, now)
    }

    pub fn set_story_status(
        &mut self,
        id: &ItemId,
        status: StoryStatus,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("set story status", now, |doc| {
            let obj = story_obj(doc, id)?;
            doc.put(&obj, key::STATUS, status.as_stored())?;
            Ok(())
        })
    }

    // ---- acceptance criteria ----

    /// Adds an acceptance criterion to `story` at `index` of its criteria, not done.
    pub fn add_criterion(
        &mut self,
        story: &ItemId,
        id: &ItemId,
        index: usize,
        kind: CriterionKind,
        text: &str,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("add criterion", now, |doc| {
            let list = criteria_obj(doc, story)?;
            ensure_free(doc, &list, id)?;
            let items = read::ranked(&**doc, &list);
            let obj = doc.put_object(&list, id.as_str(), ObjType::Map)?;
            place(doc, &items, index, &obj, id)?;
            doc.put(&obj, key::KIND, kind.as_stored())?;
            put_text(doc, &obj, key::TEXT, text)?;
            doc.put(&obj, key::DONE, false)?;
            Ok(())
        })
    }

    pub fn remove_criterion(
        &mut self,
        story: &ItemId,
        id: &ItemId,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("remove criterion", now, |doc| {
            let list = criteria_obj(doc, story)?;
            item(doc, &list, "criterion", id)?;
            doc.delete(&list, id.as_str())?;
            Ok(())
        })
    }

    pub fn move_criterion(
        &mut self,
        story: &ItemId,
        id: &ItemId,
        index: usize,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("move criterion", now, |doc| {
            let list = criteria_obj(doc, story)?;
            let items = read::ranked(&**doc, &list);
            move_within(doc, items, "criterion", id, index)
        })
    }

    pub fn set_criterion_done(
        &mut self,
        story: &ItemId,
        id: &ItemId,
        done: bool,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change(
            if done {
                "check criterion"
            } else {
                "uncheck criterion"
            },
            now,
            |doc| {
                let list = criteria_obj(doc, story)?;
                let obj = item(doc, &list, "criterion", id)?;
                doc.put(&obj, key::DONE, done)?;
                Ok(())
            },
        )
    }

    pub fn set_criterion_kind(
        &mut self,
        story: &ItemId,
        id: &ItemId,
        kind: CriterionKind,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("set criterion kind", now, |doc| {
            let list = criteria_obj(doc, story)?;
            let obj = item(doc, &list, "criterion", id)?;
            doc.put(&obj, key::KIND, kind.as_stored())?;
            Ok(())
        })
    }

    // ---- constraints ----

    /// Adds a constraint beside `story`, at `index` of that story's track, raised by the
    /// local author, status Open.
    pub fn add_constraint(
        &mut self,
        story: &ItemId,
        id: &ItemId,
        index: usize,
        new: &NewConstraint,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let author = self.author.user().as_str().to_owned();
        self.change("add constraint", now, |doc| {
            let story_obj = story_obj(doc, story)?;
            let obj = insert_constraint(doc, story, id, index, new.kind, new.severity, &new.text)?;
            doc.put(&obj, key::AUTHOR, author)?;
            if let Some(span) = new.anchor {
                write_anchor(doc, &story_obj, &obj, span)?;
            }
            Ok(())
        })
    }

    pub fn remove_constraint(&mut self, id: &ItemId, now: UnixMillis) -> Result<(), EditError> {
        self.remove_item("constraint", id, now)
    }

    /// Moves a constraint to `index` within its story's track.
    pub fn move_constraint(
        &mut self,
        id: &ItemId,
        index: usize,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("move constraint", now, |doc| {
            let list = part(doc, key::CONSTRAINTS, ObjType::Map)?;
            let obj = item(doc, &list, "constraint", id)?;
            let story = read::string(&**doc, &obj, key::STORY);
            let track = track(doc, &list, &story);
            move_within(doc, track, "constraint", id, index)
        })
    }

    fn constraint_obj(doc: &AutoCommit, id: &ItemId) -> Result<ObjId, EditError> {
        let list = part(doc, key::CONSTRAINTS, ObjType::Map)?;
        item(doc, &list, "constraint", id)
    }

    pub fn set_constraint_kind(
        &mut self,
        id: &ItemId,
        kind: ConstraintKind,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("set constraint kind", now, |doc| {
            let obj = Self::constraint_obj(doc, id)?;
            doc.put(&obj, key::KIND, kind.as_stored())?;
            Ok(())
        })
    }

    pub fn set_constraint_severity(
        &mut self,
        id: &ItemId,
        severity: Severity,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("set constraint severity", now, |doc| {
            let obj = Self::constraint_obj(doc, id)?;
            doc.put(&obj, key::SEVERITY, severity.as_stored())?;
            Ok(())
        })
    }

    pub fn set_constraint_status(
        &mut self,
        id: &ItemId,
        status: ConstraintStatus,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("set constraint status", now, |doc| {
            let obj = Self::constraint_obj(doc, id)?;
            doc.put(&obj, key::STATUS, status.as_stored())?;
            Ok(())
        })
    }

    /// Anchors (or re-anchors) a constraint to a span of its story's text. A constraint
    /// whose story was removed can be re-attached by passing that new `story`.
    pub fn anchor_constraint(
        &mut self,
        id: &ItemId,
        story: &ItemId,
        span: AnchorSpan,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("anchor constraint", now, |doc| {
            let obj = Self::constraint_obj(doc, id)?;
            let story_obj = story_obj(doc, story)?;
            if read::string(&**doc, &obj, key::STORY) != story.as_str() {
                doc.put(&obj, key::STORY, story.as_str())?;
            }
            write_anchor(doc, &story_obj, &obj, span)
        })
    }

    /// Attaches a constraint to the story as a whole (drops its anchor), optionally moving
    /// it to another story — how a constraint leaves the triage list.
    pub fn unanchor_constraint(
        &mut self,
        id: &ItemId,
        story: &ItemId,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("unanchor constraint", now, |doc| {
            let obj = Self::constraint_obj(doc, id)?;
            story_obj(doc, story)?;
            if read::string(&**doc, &obj, key::STORY) != story.as_str() {
                doc.put(&obj, key::STORY, story.as_str())?;
            }
            if doc.get(&obj, key::ANCHOR)?.is_some() {
                doc.delete(&obj, key::ANCHOR)?;
            }
            Ok(())
        })
    }

    // ---- decision log ----

    /// The version a context is recorded at: the heads before this change (unknown inside
    /// a batch, whose change is still open).
    fn context_heads(&mut self) -> String {
        if self.batching {
            return String::new();
        }
        let heads: Vec<String> = self
            .doc
            .get_heads()
            .iter()
            .map(ToString::to_string)
            .collect();
        heads.join(",")
    }

    /// Records a decision at `index` of the log, decided by the local author at `now`.
    pub fn add_decision(
        &mut self,
        id: &ItemId,
        index: usize,
        new: &NewDecision,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let author = self.author.user().as_str().to_owned();
        let at = self.context_heads();
        self.change("add decision", now, |doc| {
            let (list, items) = Self::ranked_part(doc, key::DECISIONS)?;
            ensure_free(doc, &list, id)?;
            for story in &new.stories {
                story_obj(doc, story)?;
            }
            let obj = doc.put_object(&list, id.as_str(), ObjType::Map)?;
            place(doc, &items, index, &obj, id)?;
            put_text(doc, &obj, DecisionField::Title.as_stored(), &new.title)?;
            put_text(
                doc,
                &obj,
                DecisionField::Decision.as_stored(),
                &new.decision,
            )?;
            put_text(
                doc,
                &obj,
                DecisionField::Rationale.as_stored(),
                &new.rationale,
            )?;
            let links = doc.put_object(&obj, key::STORIES, ObjType::Map)?;
            for story in &new.stories {
                doc.put(&links, story.as_str(), true)?;
            }
            doc.put(&obj, key::DECIDED_BY, author)?;
            doc.put(&obj, key::DECIDED_AT, now.0)?;
            let context = doc.put_object(&obj, key::CONTEXT, ObjType::Map)?;
            for story in &new.stories {
                record_context(doc, &context, story, &at)?;
            }
            Ok(())
        })
    }

    /// Says a decision still holds for the stories it concerns as they read now: their
    /// context is recorded again, so "context changed" clears.
    pub fn confirm_decision(&mut self, id: &ItemId, now: UnixMillis) -> Result<(), EditError> {
        let at = self.context_heads();
        self.change("confirm decision", now, |doc| {
            let list = part(doc, key::DECISIONS, ObjType::Map)?;
            let obj = item(doc, &list, "decision", id)?;
            let linked: Vec<ItemId> = read::obj(&**doc, &obj, key::STORIES, ObjType::Map)
                .map(|l| {
                    doc.keys(&l)
                        .filter_map(|k| ItemId::parse(&k).ok())
                        .collect()
                })
                .unwrap_or_default();
            // A linked story deleted since leaves the context (its link goes with it).
            let stories = part(doc, key::STORIES, ObjType::Map)?;
            let linked: Vec<ItemId> = linked
                .into_iter()
                .filter(|s| read::obj(&**doc, &stories, s.as_str(), ObjType::Map).is_some())
                .collect();
            let context = doc.put_object(&obj, key::CONTEXT, ObjType::Map)?;
            for story in &linked {
                record_context(doc, &context, story, &at)?;
            }
            Ok(())
        })
    }

    /// Sets which stories a decision concerns.
    pub fn set_decision_stories(
        &mut self,
        id: &ItemId,
        stories: &[ItemId],
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let at = self.context_heads();
        self.change("link decision", now, |doc| {
            let list = part(doc, key::DECISIONS, ObjType::Map)?;
            let obj = item(doc, &list, "decision", id)?;
            for story in stories {
                story_obj(doc, story)?;
            }
            let links = match read::obj(&**doc, &obj, key::STORIES, ObjType::Map) {
                Some(links) => links,
                None => doc.put_object(&obj, key::STORIES, ObjType::Map)?,
            };
            let current: Vec<String> = doc.keys(&links).collect();
            for old in current {
                if !stories.iter().any(|s| s.as_str() == old) {
                    doc.delete(&links, old.as_str())?;
                }
            }
            for story in stories {
                if doc.get(&links, story.as_str())?.is_none() {
                    doc.put(&links, story.as_str(), true)?;
                }
            }
            // A story newly linked is decided on as it reads now; one unlinked leaves the
            // context; the others keep the version they were decided at.
            let context = match read::obj(&**doc, &obj, key::CONTEXT, ObjType::Map) {
                Some(c) => c,
                None => doc.put_object(&obj, key::CONTEXT, ObjType::Map)?,
            };
            let recorded: Vec<String> = doc.keys(&context).collect();
            for old in &recorded {
                if !stories.iter().any(|s| s.as_str() == old) {
                    doc.delete(&context, old.as_str())?;
                }
            }
            for story in stories {
                if !recorded.iter().any(|r| r == story.as_str()) {
                    record_context(doc, &context, story, &at)?;
                }
            }
            Ok(())
        })
    }

    pub fn remove_decision(&mut self, id: &ItemId, now: UnixMillis) -> Result<(), EditError> {
        self.remove_item("decision", id, now)
    }

    pub fn move_decision(
        &mut self,
        id: &ItemId,
        index: usize,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.move_item("decision", id, index, now)
    }

    // ---- open questions ----

    /// Asks a question (at `index` of the list) as the local author.
    pub fn add_question(
        &mut self,
        id: &ItemId,
        index: usize,
        question: &str,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let author = self.author.user().as_str().to_owned();
        self.change("ask question", now, |doc| {
            let (list, items) = Self::ranked_part(doc, key::QUESTIONS)?;
            ensure_free(doc, &list, id)?;
            let obj = doc.put_object(&list, id.as_str(), ObjType::Map)?;
            place(doc, &items, index, &obj, id)?;
            put_text(doc, &obj, QuestionField::Question.as_stored(), question)?;
            put_text(doc, &obj, QuestionField::Answer.as_stored(), "")?;
            doc.put(&obj, key::ASKED_BY, author)?;
            doc.put(&obj, key::ANSWERED_BY, "")?;
            Ok(())
        })
    }

    /// Answers (or re-answers) a question as the local author: sets the answer text by its
    /// smallest splice and records who answered.
    pub fn answer_question(
        &mut self,
        id: &ItemId,
        answer: &str,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let author = self.author.user().as_str().to_owned();
        self.change("answer question", now, |doc| {
            let list = part(doc, key::QUESTIONS, ObjType::Map)?;
            let obj = item(doc, &list, "question", id)?;
            let text = read::obj(&**doc, &obj, key::ANSWER, ObjType::Text)
                .ok_or(EditError::MissingPart("answer"))?;
            let old = doc.text(&text)?;
            let (start, deleted, inserted) = minimal_splice(&old, answer);
            if deleted > 0 || !inserted.is_empty() {
                doc.splice_text(&text, start, deleted, inserted)?;
            }
            let answered_by = if answer.is_empty() {
                String::new()
            } else {
                author
            };
            if read::string(&**doc, &obj, key::ANSWERED_BY) != answered_by {
                doc.put(&obj, key::ANSWERED_BY, answered_by)?;
            }
            Ok(())
        })
    }

    pub fn remove_question(&mut self, id: &ItemId, now: UnixMillis) -> Result<(), EditError> {
        self.remove_item("question", id, now)
    }

    pub fn move_question(
        &mut self,
        id: &ItemId,
        index: usize,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.move_item("question", id, index, now)
    }
}

/// Writes used only by Markdown import, to reproduce what an export recorded.
impl Spec {
    /// Sets who raised / decided / asked / answered an item, as recorded in an import.
    pub(crate) fn set_attribution(
        &mut self,
        kind: &'static str,
        id: &ItemId,
        values: &[(&'static str, &str)],
        decided_at: Option<UnixMillis>,
    ) -> Result<(), EditError> {
        let (list_key, kind) = list_of(kind);
        self.change(
            "import attribution",
            decided_at.unwrap_or(UnixMillis(0)),
            |doc| {
                let list = part(doc, list_key, ObjType::Map)?;
                let obj = item(doc, &list, kind, id)?;
                for (name, value) in values {
                    doc.put(&obj, name, *value)?;
                }
                if let Some(at) = decided_at {
                    doc.put(&obj, key::DECIDED_AT, at.0)?;
                }
                Ok(())
            },
        )
    }

    /// Adds a constraint whose story does not exist (it was removed before the export).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_detached_constraint(
        &mut self,
        story: &ItemId,
        id: &ItemId,
        index: usize,
        kind: ConstraintKind,
        severity: Severity,
        text: &str,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        self.change("add constraint", now, |doc| {
            insert_constraint(doc, story, id, index, kind, severity, text).map(|_| ())
        })
    }

    /// Records an anchor whose text is gone: the field and the quote, no position.
    pub(crate) fn set_orphaned_anchor(
        &mut self,
        id: &ItemId,
        field: StoryField,
        quote: &str,
    ) -> Result<(), EditError> {
        self.change("import anchor", UnixMillis(0), |doc| {
            let obj = Self::constraint_obj(doc, id)?;
            let anchor = doc.put_object(&obj, key::ANCHOR, ObjType::Map)?;
            doc.put(&anchor, key::FIELD, field.as_stored())?;
            doc.put(&anchor, key::QUOTE, quote)?;
            Ok(())
        })
    }
}
