//! What an edit did, noted as it happens so it can be undone: every write of a change goes through `Tx`, which records how to revert it (characters by their Automerge element ids, map entries by path and op id).
//!
//! A spec holds only maps and texts, so every object is named by the map keys leading to
//! it from the root (`Path`). That name survives an item being removed and brought back
//! under its id, where an object id would not. Characters and map values are named by the
//! id of the operation that made them (`OpKey`, the text of an Automerge cursor); when an
//! undo writes them anew, the undo stack remembers which new id stands for which old one.

use std::collections::HashSet;
use std::ops::Deref;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, AutomergeError, ObjId, ObjType, Prop, ReadDoc, ScalarValue};
use automerge::{Value, ROOT};

use crate::read;

/// An element or operation of the document, named as its cursor text ("counter@actor").
pub(crate) type OpKey = String;

/// The cursor text of an operation id (`None` for the root).
pub(crate) fn op_key(id: &ObjId) -> Option<OpKey> {
    match id {
        ObjId::Id(ctr, actor, _) => Some(format!("{ctr}@{actor}")),
        ObjId::Root => None,
    }
}

/// The author part of an op key's actor (its hex text), to tell whose it is.
pub(crate) fn op_actor(key: &str) -> &str {
    key.split_once('@').map_or("", |(_, actor)| actor)
}

/// Where an object is: the map keys from the root.
pub(crate) type Path = Vec<String>;

/// A value as it was, deep, with the ids of what made it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Snap {
    Scalar {
        value: ScalarValue,
        op: OpKey,
    },
    Map {
        op: OpKey,
        entries: Vec<(String, Snap)>,
    },
    Text {
        op: OpKey,
        chars: Vec<(OpKey, String)>,
    },
}

/// How to revert one write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inverse {
    /// Characters the write inserted: reverting deletes those still there.
    Inserted { text: Path, elems: Vec<OpKey> },
    /// Characters the write deleted, in order, and their neighbours then: reverting puts
    /// them back where they were.
    Deleted {
        text: Path,
        left: Option<OpKey>,
        right: Option<OpKey>,
        chars: Vec<(OpKey, String)>,
    },
    /// A map entry the write set (`new`, its op) or removed (`new` is `None`): reverting
    /// puts `old` back (or removes the key) while `new` still holds.
    Entry {
        map: Path,
        key: String,
        old: Option<Snap>,
        new: Option<OpKey>,
    },
}

/// The writes of one step, in order, and the change messages that carried them.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub(crate) entries: Vec<Inverse>,
    pub(crate) messages: Vec<String>,
    /// Objects made during this step: writes inside them need no record, since reverting
    /// removes the object whole.
    created: HashSet<ObjId>,
}

/// A document being written, noting how to revert each write when a journal is kept.
/// Reads go straight to the document (`Deref`); writes only through the methods here.
pub(crate) struct Tx<'a> {
    doc: &'a mut AutoCommit,
    journal: Option<&'a mut Journal>,
}

impl Deref for Tx<'_> {
    type Target = AutoCommit;
    fn deref(&self) -> &AutoCommit {
        self.doc
    }
}

impl<'a> Tx<'a> {
    pub(crate) fn new(doc: &'a mut AutoCommit, journal: Option<&'a mut Journal>) -> Tx<'a> {
        Tx { doc, journal }
    }

    /// The path of `obj` when writes to it are to be recorded.
    fn recorded_path(&self, obj: &ObjId) -> Option<Path> {
        let journal = self.journal.as_deref()?;
        if journal.created.contains(obj) {
            return None;
        }
        path_of(self.doc, obj)
    }

    fn entry_before(&self, obj: &ObjId, key: &str) -> Option<(Path, Option<Snap>)> {
        let path = self.recorded_path(obj)?;
        let old = match self.doc.get(obj, key) {
            Ok(Some((value, id))) => snap(self.doc, &value, &id),
            _ => None,
        };
        Some((path, old))
    }

    fn entry_after(&mut self, obj: &ObjId, key: &str, before: Option<(Path, Option<Snap>)>) {
        let Some((map, old)) = before else {
            return;
        };
        let new = match self.doc.get(obj, key) {
            Ok(Some((_, id))) => op_key(&id),
            _ => None,
        };
        if let Some(journal) = self.journal.as_deref_mut() {
            journal.entries.push(Inverse::Entry {
                map,
                key: key.to_owned(),
                old,
                new,
            });
        }
    }

    pub(crate) fn put(
        &mut self,
        obj: &ObjId,
        key: &str,
        value: impl Into<ScalarValue>,
    ) -> Result<(), AutomergeError> {
        let before = self.entry_before(obj, key);
        self.doc.put(obj, key, value)?;
        self.entry_after(obj, key, before);
        Ok(())
    }

    pub(crate) fn put_object(
        &mut self,
        obj: &ObjId,
        key: &str,
        typ: ObjType,
    ) -> Result<ObjId, AutomergeError> {
        let before = self.entry_before(obj, key);
        let made = self.doc.put_object(obj, key, typ)?;
        self.entry_after(obj, key, before);
        if let Some(journal) = self.journal.as_deref_mut() {
            journal.created.insert(made.clone());
        }
        Ok(made)
    }

    pub(crate) fn delete(&mut self, obj: &ObjId, key: &str) -> Result<(), AutomergeError> {
        let before = self.entry_before(obj, key);
        self.doc.delete(obj, key)?;
        self.entry_after(obj, key, before);
        Ok(())
    }

    /// Inserts into a list. Specs hold no lists; only a restore writes a foreign one back,
    /// into a list it has just made, so there is nothing to record.
    pub(crate) fn insert(
        &mut self,
        obj: &ObjId,
        index: usize,
        value: impl Into<ScalarValue>,
    ) -> Result<(), AutomergeError> {
        self.doc.insert(obj, index, value)
    }

    /// Splices a text: delete `del` UTF-16 units at `index`, then insert `text`.
    pub(crate) fn splice_text(
        &mut self,
        obj: &ObjId,
        index: usize,
        del: usize,
        text: &str,
    ) -> Result<(), AutomergeError> {
        let Some(path) = self.recorded_path(obj) else {
            return self.doc.splice_text(obj, index, del as isize, text);
        };
        let deleted = if del > 0 {
            Some(self.deleted(obj, &path, index, del)?)
        } else {
            None
        };
        self.doc.splice_text(obj, index, del as isize, text)?;
        let mut elems = Vec::new();
        let mut pos = index;
        for ch in text.chars() {
            if let Some(key) = cursor_key(self.doc, obj, pos) {
                elems.push(key);
            }
            pos += ch.len_utf16();
        }
        if let Some(journal) = self.journal.as_deref_mut() {
            journal.entries.extend(deleted);
            if !elems.is_empty() {
                journal
                    .entries
                    .push(Inverse::Inserted { text: path, elems });
            }
        }
        Ok(())
    }

    /// What deleting `del` units at `index` of `obj` will remove, and its neighbours.
    fn deleted(
        &self,
        obj: &ObjId,
        path: &Path,
        index: usize,
        del: usize,
    ) -> Result<Inverse, AutomergeError> {
        let text = self.doc.text(obj)?;
        let start = read::byte_offset(&text, index).unwrap_or(text.len());
        let mut chars = Vec::new();
        let mut pos = index;
        for ch in text[start..].chars() {
            if pos >= index + del {
                break;
            }
            if let Some(key) = cursor_key(self.doc, obj, pos) {
                chars.push((key, ch.to_string()));
            }
            pos += ch.len_utf16();
        }
        let left = text[..start]
            .chars()
            .next_back()
            .and_then(|ch| cursor_key(self.doc, obj, index - ch.len_utf16()));
        let right = if pos < read::utf16_len(&text) {
            cursor_key(self.doc, obj, pos)
        } else {
            None
        };
        Ok(Inverse::Deleted {
            text: path.clone(),
            left,
            right,
            chars,
        })
    }

    /// Notes the message of a change this journal's writes went into.
    pub(crate) fn note_message(&mut self, message: &str) {
        if let Some(journal) = self.journal.as_deref_mut() {
            if journal.messages.last().map(String::as_str) != Some(message) {
                journal.messages.push(message.to_owned());
            }
        }
    }
}

/// The op key of the character at UTF-16 position `pos` of text `obj`.
pub(crate) fn cursor_key(doc: &AutoCommit, obj: &ObjId, pos: usize) -> Option<OpKey> {
    doc.get_cursor(obj, pos, None).ok().map(|c| c.to_string())
}

/// The map keys leading from the root to `obj`; `None` for an object inside a list.
pub(crate) fn path_of(doc: &AutoCommit, obj: &ObjId) -> Option<Path> {
    if *obj == ROOT {
        return Some(Vec::new());
    }
    doc.parents(obj)
        .ok()?
        .path()
        .into_iter()
        .map(|(_, prop)| match prop {
            Prop::Map(key) => Some(key),
            Prop::Seq(_) => None,
        })
        .collect()
}

/// The object at `path` now, if it is there with type `typ`.
pub(crate) fn resolve(doc: &AutoCommit, path: &[String], typ: ObjType) -> Option<ObjId> {
    let mut obj = ROOT;
    for (i, key) in path.iter().enumerate() {
        let want = if i + 1 == path.len() {
            typ
        } else {
            ObjType::Map
        };
        obj = read::obj(doc, &obj, key, want)?;
    }
    Some(obj)
}

/// A deep copy of `value` (made by `id`), with the ids of every part of it.
pub(crate) fn snap(doc: &AutoCommit, value: &Value<'_>, id: &ObjId) -> Option<Snap> {
    let op = op_key(id)?;
    match value {
        Value::Scalar(s) => Some(Snap::Scalar {
            value: s.clone().into_owned(),
            op,
        }),
        Value::Object(ObjType::Map) => Some(Snap::Map {
            op,
            entries: doc
                .map_range(id, ..)
                .filter_map(|item| Some((item.key.to_owned(), snap(doc, &item.value, &item.id)?)))
                .collect(),
        }),
        Value::Object(ObjType::Text) => Some(Snap::Text {
            op,
            chars: doc
                .list_range(id, ..)
                .filter_map(|item| {
                    let ch = match &item.value {
                        Value::Scalar(s) => s.to_str()?.to_owned(),
                        Value::Object(_) => return None,
                    };
                    Some((op_key(&item.id)?, ch))
                })
                .collect(),
        }),
        // Not part of a spec's layout: nothing to bring back.
        Value::Object(_) => None,
    }
}
