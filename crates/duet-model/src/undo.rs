//! Per-author undo and redo: a step reverts exactly what this person did, on top of whatever others did since, as a new change by the same person.
//!
//! Every edit made through [`UndoStack::record`] keeps a journal of how to revert each of
//! its writes (`journal.rs`): characters by their element ids, map entries by path and by
//! the op that wrote them. Undoing a step applies those inverses in reverse order as one
//! new change; what the undo itself wrote is journaled the same way and becomes the redo
//! step. Others' work is never touched: an undo deletes only characters this step
//! inserted, puts back only what it deleted, and reverts a map entry only while the value
//! this step wrote still holds (an item removed since, a setting someone changed since, an
//! item others wrote inside are skipped, never forced). Characters and values an undo
//! writes again get new ids; the stack remembers which new id stands for which old one,
//! so older steps still find them.
//!
//! Steps group like Yjs's UndoManager: a burst of typing in one field, each keystroke
//! within 500 ms of the last, is one step; any other edit is a step of its own; moving
//! focus ([`UndoStack::seal`]) ends a step. Within a burst, switching between inserting
//! and deleting starts a new step, and a paste or a replaced selection is a step of its
//! own (as in most editors: delete-word after typing undoes on its own).

use std::collections::HashMap;

use automerge::{ActorId, AutoCommit, Cursor, ObjId, ObjType, ReadDoc, Value};

use crate::error::{EditError, LoadError};
use crate::ids::{Author, ItemId, UnixMillis};
use crate::journal::{self, cursor_key, op_actor, op_key, resolve, Inverse, Journal, OpKey, Path};
use crate::journal::{Snap, Tx};
use crate::read;
use crate::schema::{key, DecisionField, MetricField, QuestionField, StoryField, TextField};
use crate::spec::Spec;

/// Keystrokes further apart than this start a new typing step.
pub const TYPING_PAUSE_MS: i64 = 500;
/// Steps kept; the oldest go first.
const MAX_STEPS: usize = 500;

/// One person's undo and redo for one spec (in the browser: per tab).
#[derive(Debug, Default)]
pub struct UndoStack {
    undo: Vec<Step>,
    redo: Vec<Step>,
    /// New ids of characters and values an undo or redo wrote again, by their old id.
    moved: HashMap<OpKey, OpKey>,
    /// Anchor ends written again on the character a deleted one resolved to (by the
    /// anchor map's path and end), with the deleted character they stand in for.
    stand_ins: HashMap<(Path, &'static str), OpKey>,
    /// The next edit starts a new step.
    sealed: bool,
}

#[derive(Debug, Clone)]
struct Step {
    label: String,
    /// The text field when the step is typing in one field (it may grow).
    typing: Option<Path>,
    /// What its keystrokes do, when the step may grow.
    kind: Option<Keystroke>,
    last: UnixMillis,
    inverse: Vec<Inverse>,
}

/// What an undo or redo changed, for the page to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// The step, as in "Undo typing in Problem".
    pub label: String,
    /// Where it changed the spec, when that place is still there.
    pub spot: Option<Spot>,
}

/// A place in a text field, in UTF-16 units: the text an undo or redo put back (or where
/// it deleted), or the whole field of an item whose settings it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub field: TextField,
    pub start: usize,
    pub end: usize,
}

impl UndoStack {
    pub fn new() -> UndoStack {
        UndoStack::default()
    }

    /// Runs typed edits on `doc` as `author`, remembering how to undo them. An edit of
    /// one's own clears what could be redone. Fails, leaving `doc` untouched, if it is not
    /// a Duet spec.
    pub fn record<R>(
        &mut self,
        doc: &mut AutoCommit,
        author: &Author,
        now: UnixMillis,
        f: impl FnOnce(&mut Spec) -> Result<R, EditError>,
    ) -> Result<Result<R, EditError>, LoadError> {
        let heads = doc.get_heads();
        let (result, journal) = Spec::in_place(doc, author, Some(Journal::default()), f)?;
        let journal = journal.unwrap_or_default();
        // A write that changed nothing (automerge made no change) is no step.
        if result.is_ok() && !journal.entries.is_empty() && doc.get_heads() != heads {
            self.push(doc, journal, now);
        }
        Ok(result)
    }

    fn push(&mut self, doc: &AutoCommit, journal: Journal, now: UnixMillis) {
        self.redo.clear();
        let typing = typing_field(&journal);
        let kind = Keystroke::of(&journal);
        let sealed = std::mem::replace(&mut self.sealed, false);
        if let (Some(path), Some(top)) = (&typing, self.undo.last_mut()) {
            let burst = now.0.saturating_sub(top.last.0) <= TYPING_PAUSE_MS;
            let same_kind = kind.is_some() && kind == top.kind;
            if !sealed && burst && same_kind && top.typing.as_ref() == Some(path) {
                top.inverse.extend(journal.entries);
                top.last = now;
                top.label = format!("typing in {}", field_name(doc, path));
                return;
            }
        }
        let label = match &typing {
            Some(path) => format!("typing in {}", field_name(doc, path)),
            None => step_label(doc, &journal),
        };
        self.undo.push(Step {
            label,
            typing,
            kind,
            last: now,
            inverse: journal.entries,
        });
        if self.undo.len() > MAX_STEPS {
            self.undo.remove(0);
        }
    }

    /// Ends the current step: the next edit starts a new one (focus moved).
    pub fn seal(&mut self) {
        self.sealed = true;
    }

    /// What the next undo would revert ("typing in Problem").
    pub fn undo_label(&self) -> Option<&str> {
        self.undo.last().map(|s| s.label.as_str())
    }

    /// What the next redo would do again.
    pub fn redo_label(&self) -> Option<&str> {
        self.redo.last().map(|s| s.label.as_str())
    }

    /// Reverts this person's last step that still has something to revert, as one new
    /// change by `author`. Steps whose every part others have since removed are dropped.
    pub fn undo(
        &mut self,
        doc: &mut AutoCommit,
        author: &Author,
        now: UnixMillis,
    ) -> Result<Option<Undone>, LoadError> {
        self.take_back(doc, author, now, false)
    }

    /// Does again what the last undo reverted, as one new change by `author`.
    pub fn redo(
        &mut self,
        doc: &mut AutoCommit,
        author: &Author,
        now: UnixMillis,
    ) -> Result<Option<Undone>, LoadError> {
        self.take_back(doc, author, now, true)
    }

    /// Undo (or redo): reverts the top step of one stack and pushes what that wrote onto
    /// the other, so it can be taken back in turn.
    fn take_back(
        &mut self,
        doc: &mut AutoCommit,
        author: &Author,
        now: UnixMillis,
        redo: bool,
    ) -> Result<Option<Undone>, LoadError> {
        self.sealed = true;
        let message = if redo { "redo" } else { "undo" };
        loop {
            let popped = if redo {
                self.redo.pop()
            } else {
                self.undo.pop()
            };
            let Some(step) = popped else {
                return Ok(None);
            };
            let (spot, journal) = self.revert(doc, author, now, &step, message)?;
            if journal.entries.is_empty() {
                continue;
            }
            let back = Step {
                label: step.label.clone(),
                typing: None,
                kind: None,
                last: now,
                inverse: journal.entries,
            };
            if redo {
                self.undo.push(back);
            } else {
                self.redo.push(back);
            }
            return Ok(Some(Undone {
                label: step.label,
                spot,
            }));
        }
    }

    /// Applies `step`'s inverses, newest first, as one change named `message`.
    fn revert(
        &mut self,
        doc: &mut AutoCommit,
        author: &Author,
        now: UnixMillis,
        step: &Step,
        message: &str,
    ) -> Result<(Option<Spot>, Journal), LoadError> {
        let moved = &mut self.moved;
        let stand_ins = &mut self.stand_ins;
        let user = author.user().as_str().to_owned();
        let heads = doc.get_heads();
        let (result, journal) = Spec::in_place(doc, author, Some(Journal::default()), |spec| {
            spec.change(message, now, |tx| {
                let mut reverter = Reverter {
                    tx,
                    moved,
                    stand_ins,
                    user: &user,
                    spot: None,
                    anchors: Vec::new(),
                    texts: HashMap::new(),
                };
                for inverse in step.inverse.iter().rev() {
                    reverter.apply(inverse)?;
                }
                reverter.fix_anchors()?;
                Ok(reverter.spot)
            })
        })?;
        let journal = journal.unwrap_or_default();
        if doc.get_heads() == heads {
            return Ok((None, Journal::default()));
        }
        match result {
            Ok(spot) => Ok((spot, journal)),
            // A write the document refused: nothing of the step was kept.
            Err(_) => Ok((None, Journal::default())),
        }
    }
}

/// Applies inverses to a document being written.
struct Reverter<'r, 'a> {
    tx: &'r mut Tx<'a>,
    moved: &'r mut HashMap<OpKey, OpKey>,
    stand_ins: &'r mut HashMap<(Path, &'static str), OpKey>,
    user: &'r str,
    spot: Option<Spot>,
    /// Anchor maps written again, whose cursors may name characters written again too.
    anchors: Vec<ObjId>,
    /// Texts written again: the op key of the text object each replaces, by path.
    texts: HashMap<Path, OpKey>,
}

impl Reverter<'_, '_> {
    /// The id standing for `key` now (after undos that wrote it again).
    fn follow(&self, key: &str) -> OpKey {
        let mut key = key.to_owned();
        for _ in 0..64 {
            match self.moved.get(&key) {
                Some(next) => key = next.clone(),
                None => break,
            }
        }
        key
    }

    /// Remembers where a write went; the last one applied (the step's first) wins.
    fn note_spot(&mut self, path: &[String], start: usize, end: usize) {
        if let Some(field) = field_of(path) {
            self.spot = Some(Spot { field, start, end });
        }
    }

    fn apply(&mut self, inverse: &Inverse) -> Result<(), EditError> {
        match inverse {
            Inverse::Inserted { text, elems } => self.remove_chars(text, elems),
            Inverse::Deleted {
                text,
                left,
                right,
                chars,
            } => self.put_back_chars(text, left.as_deref(), right.as_deref(), chars),
            Inverse::Entry { map, key, old, new } => {
                self.revert_entry(map, key, old.as_ref(), new.as_deref())
            }
        }
    }

    /// Where `key`'s character is in `obj`: its index and whether it is still there.
    fn locate(&self, obj: &ObjId, key: &str) -> Option<(usize, bool)> {
        let key = self.follow(key);
        let cursor = Cursor::try_from(key.as_str()).ok()?;
        let index = self.tx.get_cursor_position(obj, &cursor, None).ok()?;
        let visible = cursor_key(self.tx, obj, index).as_deref() == Some(key.as_str());
        Some((index, visible))
    }

    /// Deletes the characters of `elems` still in the text.
    fn remove_chars(&mut self, path: &Path, elems: &[OpKey]) -> Result<(), EditError> {
        let Some(obj) = resolve(self.tx, path, ObjType::Text) else {
            return Ok(());
        };
        let text = self.tx.text(&obj)?;
        let mut at: Vec<usize> = elems
            .iter()
            .filter_map(|k| self.locate(&obj, k))
            .filter(|(_, visible)| *visible)
            .map(|(i, _)| i)
            .collect();
        at.sort_unstable();
        at.dedup();
        // Runs of adjacent characters, deleted from the last so indexes stay true.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for i in at {
            let width = read::byte_offset(&text, i)
                .and_then(|b| text[b..].chars().next())
                .map_or(1, char::len_utf16);
            match runs.last_mut() {
                Some((start, len)) if *start + *len == i => *len += width,
                _ => runs.push((i, width)),
            }
        }
        for &(start, len) in runs.iter().rev() {
            self.tx.splice_text(&obj, start, len, "")?;
        }
        if let Some(&(start, _)) = runs.first() {
            self.note_spot(path, start, start);
        }
        Ok(())
    }

    /// Inserts `chars` again where they were: just after the character that preceded
    /// them (at the start if none did), else just before the one that followed them (at
    /// the end if none did), else where the first of them lies deleted. Neighbours come
    /// first because a deleted character's place counts only visible characters: text
    /// written again just before it would otherwise end up on its far side.
    fn put_back_chars(
        &mut self,
        path: &Path,
        left: Option<&str>,
        right: Option<&str>,
        chars: &[(OpKey, String)],
    ) -> Result<(), EditError> {
        let Some(obj) = resolve(self.tx, path, ObjType::Text) else {
            return Ok(());
        };
        let Some((first, _)) = chars.first() else {
            return Ok(());
        };
        let own = self.locate(&obj, first);
        if matches!(own, Some((_, true))) {
            // Already back (written again by an undo): nothing to do.
            return Ok(());
        }
        let Some(at) = self.beside(&obj, left, right, own.map(|(i, _)| i)) else {
            return Ok(());
        };
        let value: String = chars.iter().map(|(_, c)| c.as_str()).collect();
        self.tx.splice_text(&obj, at, 0, &value)?;
        let mut pos = at;
        let mut again = HashMap::new();
        for (old, ch) in chars {
            if let Some(new) = cursor_key(self.tx, &obj, pos) {
                self.moved.insert(old.clone(), new.clone());
                again.insert(old.clone(), new);
            }
            pos += ch.encode_utf16().count();
        }
        self.repoint_anchors(path, &again)?;
        self.note_spot(path, at, pos);
        Ok(())
    }

    /// Where to put back a run that lay between `left` and `right` (`None`: the text's
    /// start or end), whose first character lies deleted at `own` if that is known.
    fn beside(
        &self,
        obj: &ObjId,
        left: Option<&str>,
        right: Option<&str>,
        own: Option<usize>,
    ) -> Option<usize> {
        let left_at = left.map(|k| self.locate(obj, k));
        let right_at = right.map(|k| self.locate(obj, k));
        match left_at {
            None => return Some(0),
            Some(Some((index, true))) => {
                let text = self.tx.text(obj).ok()?;
                let width = read::byte_offset(&text, index)
                    .and_then(|b| text[b..].chars().next())
                    .map_or(1, char::len_utf16);
                return Some(index + width);
            }
            _ => {}
        }
        match right_at {
            None => return Some(self.tx.length(obj)),
            Some(Some((index, true))) => return Some(index),
            _ => {}
        }
        own.or(left_at.flatten().map(|(i, _)| i))
            .or(right_at.flatten().map(|(i, _)| i))
    }

    /// Anchors on the story text at `path` whose ends sat on characters written again
    /// (or stood in for them) now sit on the new ones, so a span comes back whole.
    fn repoint_anchors(
        &mut self,
        path: &Path,
        again: &HashMap<OpKey, OpKey>,
    ) -> Result<(), EditError> {
        let [stories, story, field] = path.as_slice() else {
            return Ok(());
        };
        if stories != key::STORIES || again.is_empty() {
            return Ok(());
        }
        let list_path = vec![key::CONSTRAINTS.to_owned()];
        let Some(list) = resolve(self.tx, &list_path, ObjType::Map) else {
            return Ok(());
        };
        let constraints: Vec<(String, ObjId)> = self
            .tx
            .map_range(&list, ..)
            .filter(|item| matches!(item.value, Value::Object(ObjType::Map)))
            .map(|item| (item.key.to_owned(), item.id))
            .collect();
        for (id, constraint) in constraints {
            if read::string(&**self.tx, &constraint, key::STORY) != *story {
                continue;
            }
            let Some(anchor) = read::obj(&**self.tx, &constraint, key::ANCHOR, ObjType::Map) else {
                continue;
            };
            if read::string(&**self.tx, &anchor, key::FIELD) != *field {
                continue;
            }
            let anchor_path = vec![key::CONSTRAINTS.to_owned(), id, key::ANCHOR.to_owned()];
            for end in [key::START, key::END] {
                let was = read::string(&**self.tx, &anchor, end);
                let stood_for = self.stand_ins.get(&(anchor_path.clone(), end));
                let now = [Some(&was), stood_for]
                    .into_iter()
                    .flatten()
                    .map(|k| self.follow(k))
                    .find(|k| again.values().any(|new| new == k));
                if let Some(now) = now.filter(|n| *n != was) {
                    self.tx.put(&anchor, end, now)?;
                }
            }
        }
        Ok(())
    }

    fn revert_entry(
        &mut self,
        map: &Path,
        key: &str,
        old: Option<&Snap>,
        new: Option<&str>,
    ) -> Result<(), EditError> {
        let Some(obj) = resolve(self.tx, map, ObjType::Map) else {
            return Ok(());
        };
        let current = self.tx.get(&obj, key)?;
        let current_key = current.as_ref().and_then(|(_, id)| op_key(id));
        let expected = new.map(|n| self.follow(n));
        if current_key != expected {
            // Someone wrote this entry since (or removed it): theirs stands.
            return Ok(());
        }
        if let Some((Value::Object(_), id)) = &current {
            if old.is_none() && (self.others_inside(id) || self.others_beside(map, key)) {
                // An item this step added that others have written in (or beside) since:
                // kept.
                return Ok(());
            }
        }
        let mut full = map.clone();
        full.push(key.to_owned());
        match old {
            None => self.tx.delete(&obj, key)?,
            Some(snap) => self.write(&obj, key, snap)?,
        }
        let len = resolve_any_text(self.tx, &full);
        self.note_spot(&full, 0, len);
        Ok(())
    }

    /// Whether anything inside object `id` was written by someone other than this person.
    fn others_inside(&self, id: &ObjId) -> bool {
        let foreign = |item_id: &ObjId| op_key(item_id).is_none_or(|k| !self.is_mine(&k));
        match self.tx.object_type(id) {
            Ok(ObjType::Map) => self.tx.map_range(id, ..).any(|item| {
                foreign(&item.id)
                    || matches!(item.value, Value::Object(_)) && self.others_inside(&item.id)
            }),
            Ok(ObjType::Text) => self.tx.list_range(id, ..).any(|item| foreign(&item.id)),
            _ => false,
        }
    }

    /// Whether others raised constraints beside story `key` (when `map` is the stories).
    fn others_beside(&self, map: &Path, key: &str) -> bool {
        if map.as_slice() != [key::STORIES] {
            return false;
        }
        let Some(list) = resolve(self.tx, &[key::CONSTRAINTS.to_owned()], ObjType::Map) else {
            return false;
        };
        self.tx.map_range(&list, ..).any(|item| {
            matches!(item.value, Value::Object(ObjType::Map))
                && read::string(&**self.tx, &item.id, key::STORY) == key
                && (op_key(&item.id).is_none_or(|k| !self.is_mine(&k))
                    || self.others_inside(&item.id))
        })
    }

    fn is_mine(&self, key: &str) -> bool {
        hex_actor(op_actor(key))
            .and_then(|actor| Author::from_actor(&actor).ok())
            .is_some_and(|a| a.user().as_str() == self.user)
    }

    /// Writes `snap` as `parent[key]` again, remembering the new ids of what it holds.
    fn write(&mut self, parent: &ObjId, key: &str, snap: &Snap) -> Result<(), EditError> {
        let made = match snap {
            Snap::Scalar { value, op } => {
                self.tx.put(parent, key, value.clone())?;
                (op, None)
            }
            Snap::Map { op, entries } => {
                let obj = self.tx.put_object(parent, key, ObjType::Map)?;
                for (k, child) in entries {
                    self.write(&obj, k, child)?;
                }
                if key == key::ANCHOR {
                    self.anchors.push(obj.clone());
                }
                (op, Some(obj))
            }
            Snap::Text { op, chars } => {
                let obj = self.tx.put_object(parent, key, ObjType::Text)?;
                let value: String = chars.iter().map(|(_, c)| c.as_str()).collect();
                self.tx.splice_text(&obj, 0, 0, &value)?;
                let fresh: Vec<OpKey> = self
                    .tx
                    .list_range(&obj, ..)
                    .filter_map(|item| op_key(&item.id))
                    .collect();
                for ((old, _), new) in chars.iter().zip(fresh) {
                    self.moved.insert(old.clone(), new);
                }
                if let Some(path) = journal::path_of(self.tx, &obj) {
                    self.texts.insert(path, op.clone());
                }
                (op, Some(obj))
            }
        };
        if let Ok(Some((_, id))) = self.tx.get(parent, key) {
            if let Some(new) = op_key(&id) {
                self.moved.insert(made.0.clone(), new);
            }
        }
        Ok(())
    }

    /// Points anchors written again at the characters their story's text now has. An
    /// end on a character deleted before the text was removed is read in the removed
    /// text (which the document still holds) as the character it resolved to there.
    fn fix_anchors(&mut self) -> Result<(), EditError> {
        for anchor in std::mem::take(&mut self.anchors) {
            let text_path = journal::path_of(self.tx, &anchor).and_then(|p| {
                let [constraints, _, _] = p.as_slice() else {
                    return None;
                };
                let constraint = resolve(self.tx, &p[..2], ObjType::Map)?;
                let story = read::string(&**self.tx, &constraint, key::STORY);
                let field = read::string(&**self.tx, &anchor, key::FIELD);
                (constraints == key::CONSTRAINTS)
                    .then(|| vec![key::STORIES.to_owned(), story, field])
            });
            let old_text = text_path
                .and_then(|p| self.texts.get(&p).cloned())
                .and_then(|k| self.tx.import_obj(&k).ok());
            for end in [key::START, key::END] {
                let was = read::string(&**self.tx, &anchor, end);
                if was.is_empty() {
                    continue;
                }
                let mut now = self.follow(&was);
                if now == was {
                    if let Some(old) = &old_text {
                        // A deleted start reads as the character after it; a deleted
                        // end closes the span before that character, i.e. on the one
                        // before it (see `view::resolve_anchor`).
                        let resolved = Cursor::try_from(was.as_str())
                            .ok()
                            .and_then(|c| self.tx.get_cursor_position(old, &c, None).ok())
                            .and_then(|i| match end {
                                key::START => cursor_key(self.tx, old, i),
                                _ => self.before(old, i),
                            });
                        if let Some(resolved) = resolved {
                            now = self.follow(&resolved);
                            if let Some(path) = journal::path_of(self.tx, &anchor) {
                                self.stand_ins.insert((path, end), was.clone());
                            }
                        }
                    }
                }
                if now != was {
                    self.tx.put(&anchor, end, now)?;
                }
            }
        }
        Ok(())
    }
}

impl Reverter<'_, '_> {
    /// The op key of the character just before UTF-16 position `i` of text `obj`.
    fn before(&self, obj: &ObjId, i: usize) -> Option<OpKey> {
        let text = self.tx.text(obj).ok()?;
        let byte = read::byte_offset(&text, i)?;
        let ch = text[..byte].chars().next_back()?;
        cursor_key(self.tx, obj, i - ch.len_utf16())
    }
}

/// An actor id from its hex text.
fn hex_actor(hex: &str) -> Option<ActorId> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.map(ActorId::from)
}

/// The length of the text field at `path` (an item's first field), 0 if there is none.
fn resolve_any_text(doc: &AutoCommit, path: &[String]) -> usize {
    field_of(path)
        .and_then(|f| crate::edit::text_obj(doc, &f).ok())
        .map_or(0, |obj| doc.length(&obj))
}

/// What a keystroke does to its field: a run of one kind is one step, so deleting a word
/// just typed, or pasting, can be undone on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keystroke {
    /// Inserts a character (or two UTF-16 units' worth: one emoji, one composed letter).
    Insert,
    /// Deletes, inserting nothing.
    Delete,
}

impl Keystroke {
    fn of(journal: &Journal) -> Option<Keystroke> {
        let mut inserted = 0;
        let mut deleted = false;
        for entry in &journal.entries {
            match entry {
                Inverse::Inserted { elems, .. } => inserted += elems.len(),
                Inverse::Deleted { .. } => deleted = true,
                Inverse::Entry { .. } => return None,
            }
        }
        match (inserted, deleted) {
            (0, true) => Some(Keystroke::Delete),
            (1..=2, false) => Some(Keystroke::Insert),
            _ => None,
        }
    }
}

/// The text field a step typed in, when all its writes are text in one field.
fn typing_field(journal: &Journal) -> Option<Path> {
    if !journal.messages.iter().all(|m| m.starts_with("edit ")) {
        return None;
    }
    let mut field: Option<&Path> = None;
    for entry in &journal.entries {
        let path = match entry {
            Inverse::Inserted { text, .. } | Inverse::Deleted { text, .. } => text,
            Inverse::Entry { .. } => return None,
        };
        match field {
            Some(f) if f != path => return None,
            _ => field = Some(path),
        }
    }
    field.cloned()
}

/// The text field a path leads to (or the main field of the item it leads into).
pub(crate) fn field_of(path: &[String]) -> Option<TextField> {
    let id = |i: usize| path.get(i).and_then(|s| ItemId::parse(s).ok());
    let sub = path.get(2).map(String::as_str).unwrap_or("");
    Some(match path.first()?.as_str() {
        key::TITLE => TextField::Title,
        key::PROBLEM => TextField::Problem,
        key::METRICS => TextField::Metric {
            metric: id(1)?,
            field: MetricField::from_stored(sub).unwrap_or(MetricField::Name),
        },
        key::STORIES if sub == key::CRITERIA && path.len() >= 4 => TextField::Criterion {
            story: id(1)?,
            criterion: id(3)?,
        },
        key::STORIES => TextField::Story {
            story: id(1)?,
            field: StoryField::from_stored(sub).unwrap_or(StoryField::IWant),
        },
        key::CONSTRAINTS => TextField::Constraint { constraint: id(1)? },
        key::DECISIONS => TextField::Decision {
            decision: id(1)?,
            field: DecisionField::from_stored(sub).unwrap_or(DecisionField::Title),
        },
        key::QUESTIONS => TextField::Question {
            question: id(1)?,
            field: QuestionField::from_stored(sub).unwrap_or(QuestionField::Question),
        },
        _ => return None,
    })
}

/// The item a path leads into: its kind's noun and the path of the item.
fn item_of(path: &[String]) -> Option<(&'static str, &[String])> {
    let noun = match path.first()?.as_str() {
        key::METRICS => "metric",
        key::STORIES if path.get(2).map(String::as_str) == Some(key::CRITERIA) => {
            return (path.len() >= 4).then(|| ("criterion", &path[..4]));
        }
        key::STORIES => "story",
        key::CONSTRAINTS => "constraint",
        key::DECISIONS => "decision",
        key::QUESTIONS => "question",
        _ => return None,
    };
    (path.len() >= 2).then(|| (noun, &path[..2]))
}

/// The field holding an item's name, by its kind.
fn name_key(noun: &str) -> &'static str {
    match noun {
        "metric" => key::NAME,
        "story" => key::I_WANT,
        "decision" => key::TITLE,
        "question" => key::QUESTION,
        _ => key::TEXT,
    }
}

/// An item's name as people read it: its main text, cut short.
fn quoted(name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        return String::new();
    }
    let short: String = name.chars().take(40).collect();
    let more = if name.chars().count() > 40 { "…" } else { "" };
    format!(" “{short}{more}”")
}

fn item_name_now(doc: &AutoCommit, noun: &str, item: &[String]) -> String {
    let mut path = item.to_vec();
    path.push(name_key(noun).to_owned());
    resolve(doc, &path, ObjType::Text)
        .and_then(|obj| doc.text(&obj).ok())
        .unwrap_or_default()
}

fn item_name_in(snap: &Snap, noun: &str) -> String {
    let Snap::Map { entries, .. } = snap else {
        return String::new();
    };
    entries
        .iter()
        .find(|(k, _)| k == name_key(noun))
        .and_then(|(_, v)| match v {
            Snap::Text { chars, .. } => Some(chars.iter().map(|(_, c)| c.as_str()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// How people read a text field in a step's name: "Problem", "criterion “…”".
fn field_name(doc: &AutoCommit, path: &[String]) -> String {
    match path.first().map(String::as_str) {
        Some(key::TITLE) => return "the title".to_owned(),
        Some(key::PROBLEM) => return "Problem".to_owned(),
        _ => {}
    }
    let Some((noun, item)) = item_of(path) else {
        return "a field".to_owned();
    };
    let name = quoted(&item_name_now(doc, noun, item));
    let part = match (noun, path.last().map(String::as_str)) {
        ("story", Some(f)) => StoryField::from_stored(f).map(|f| f.label()),
        ("metric", Some(key::TARGET)) => Some("Target"),
        ("decision", Some(f)) => DecisionField::from_stored(f)
            .filter(|f| *f != DecisionField::Title)
            .map(|f| f.label()),
        ("question", Some(key::ANSWER)) => Some("Answer"),
        _ => None,
    };
    match part {
        Some(part) => format!("{noun}{name} · {part}"),
        None => format!("{noun}{name}"),
    }
}

/// A structural step's name: "removing criterion “UTF-8 with BOM”".
fn step_label(doc: &AutoCommit, journal: &Journal) -> String {
    let message = journal.messages.first().map_or("edit", String::as_str);
    let (verb, rest) = message.split_once(' ').unwrap_or((message, ""));
    let verb = match verb {
        "add" => "adding",
        "remove" => "removing",
        "move" => "moving",
        "set" => "changing",
        "check" => "checking",
        "uncheck" => "unchecking",
        "anchor" => "anchoring",
        "unanchor" => "unanchoring",
        "link" => "linking",
        "confirm" => "confirming",
        "ask" => "asking",
        "answer" => "answering",
        "restore" => "restoring",
        "import" => "importing",
        _ => "editing",
    };
    let name = journal.entries.iter().find_map(|e| {
        let Inverse::Entry { map, key, old, .. } = e else {
            return None;
        };
        let mut full = map.clone();
        full.push(key.clone());
        let (noun, item) = item_of(&full)?;
        let name = match old {
            Some(snap) if item.len() == full.len() => item_name_in(snap, noun),
            _ => item_name_now(doc, noun, item),
        };
        Some(quoted(&name))
    });
    let rest = if rest.is_empty() { "" } else { rest };
    format!("{verb} {rest}{}", name.unwrap_or_default())
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_fields() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(field_of(&s(&["problem"])), Some(TextField::Problem));
        let story = ItemId::parse("s1").expect("an id");
        let crit = ItemId::parse("c1").expect("an id");
        assert_eq!(
            field_of(&s(&["stories", "s1", "criteria", "c1", "text"])),
            Some(TextField::Criterion {
                story: story.clone(),
                criterion: crit
            })
        );
        assert_eq!(
            field_of(&s(&["stories", "s1", "so_that"])),
            Some(TextField::Story {
                story,
                field: StoryField::SoThat
            })
        );
        assert_eq!(field_of(&s(&["duet"])), None);
    }

    #[test]
    fn actors_read_back_from_their_hex() {
        let actor = ActorId::from(vec![1u8, 0xab, 0xff]);
        assert_eq!(hex_actor(&actor.to_string()), Some(actor));
        assert_eq!(hex_actor("abc"), None);
        assert_eq!(hex_actor("zz"), None);
    }
}
