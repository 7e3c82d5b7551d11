//! Restore: the edits that bring the whole spec, or one story, back to a chosen version, made as one new change by the person restoring. History is never rewritten.
//!
//! The version is read whole (`hydrate` at its heads) and the live document is reconciled
//! with it key by key: values that differ are written, keys that were not there are
//! deleted, removed items come back under their old ids, and each text field gets its
//! smallest splice (so text nobody changed keeps its authors). Anchors are written afresh
//! where the restored text no longer holds the cursors they had.

use automerge::hydrate::{Map, Value as Hydrated};
use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, Value, ROOT};

use crate::edit::{minimal_splice, write_anchor, AnchorSpan};
use crate::error::EditError;
use crate::ids::{ItemId, UnixMillis};
use crate::journal::Tx;
use crate::read;
use crate::schema::key;
use crate::spec::Spec;
use crate::view::{view_of, Anchor, SpecView};

/// What to bring back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreScope {
    /// Everything: title, problem, every list.
    Spec,
    /// One story: its text, status and criteria, and the constraints beside it.
    Story(ItemId),
}

impl Spec {
    /// Makes the spec (or one story) read as it did at `heads`, as one new change by this
    /// spec's author. Fails, changing nothing, when `heads` are not all in the history or
    /// the story did not exist then.
    pub fn restore(
        &mut self,
        heads: &[ChangeHash],
        scope: &RestoreScope,
        now: UnixMillis,
    ) -> Result<(), EditError> {
        let doc = self.doc();
        if heads.is_empty() || !heads.iter().all(|h| doc.get_change_by_hash(h).is_some()) {
            return Err(EditError::UnknownVersion);
        }
        let Hydrated::Map(then) = doc.hydrate(ROOT, Some(heads))? else {
            return Err(EditError::MissingPart("root"));
        };
        let then_view = crate::at::view_at(doc, heads).ok_or(EditError::UnknownVersion)?;
        let message = match scope {
            RestoreScope::Spec => crate::history::RESTORE_VERSION,
            RestoreScope::Story(_) => crate::history::RESTORE_STORY,
        };
        self.change(message, now, |doc| {
            match scope {
                RestoreScope::Spec => reconcile_map(doc, &ROOT, &then)?,
                RestoreScope::Story(id) => restore_story(doc, &then, id)?,
            }
            reanchor(doc, &then_view, scope)
        })
    }
}

fn child<'a>(map: &'a Map, name: &str) -> Option<&'a Map> {
    match map.get(name) {
        Some(Hydrated::Map(m)) => Some(m),
        _ => None,
    }
}

fn restore_story(doc: &mut Tx, then: &Map, id: &ItemId) -> Result<(), EditError> {
    let story = child(then, key::STORIES)
        .and_then(|s| s.get(id.as_str()))
        .ok_or(EditError::NotInVersion)?;
    let stories =
        read::part(&**doc, key::STORIES, ObjType::Map).ok_or(EditError::MissingPart("stories"))?;
    put_value(doc, &stories, id.as_str(), story)?;
    let constraints = read::part(&**doc, key::CONSTRAINTS, ObjType::Map)
        .ok_or(EditError::MissingPart("constraints"))?;
    let on_story = |m: &Map| matches!(m.get(key::STORY), Some(Hydrated::Scalar(s)) if s.to_str() == Some(id.as_str()));
    let then_track: Vec<(String, &Hydrated)> = child(then, key::CONSTRAINTS)
        .map(|c| {
            c.iter()
                .filter(|(_, v)| matches!(&v.value, Hydrated::Map(m) if on_story(m)))
                .map(|(k, v)| (k.clone(), &v.value))
                .collect()
        })
        .unwrap_or_default();
    let now_track: Vec<String> = read::ranked(&**doc, &constraints)
        .into_iter()
        .filter(|c| read::string(&**doc, &c.obj, key::STORY) == id.as_str())
        .map(|c| c.id.as_str().to_owned())
        .collect();
    for gone in now_track
        .iter()
        .filter(|k| !then_track.iter().any(|(t, _)| t == *k))
    {
        doc.delete(&constraints, gone.as_str())?;
    }
    for (k, v) in then_track {
        put_value(doc, &constraints, &k, v)?;
    }
    Ok(())
}

/// Makes the live map `obj` hold exactly what `then` held.
fn reconcile_map(doc: &mut Tx, obj: &ObjId, then: &Map) -> Result<(), EditError> {
    let now_keys: Vec<String> = doc.keys(obj).collect();
    for k in now_keys.iter().filter(|k| !then.contains_key(k.as_str())) {
        doc.delete(obj, k.as_str())?;
    }
    let mut keys: Vec<&String> = then.keys().collect();
    keys.sort();
    for k in keys {
        if let Some(v) = then.get(k.as_str()) {
            put_value(doc, obj, k, v)?;
        }
    }
    Ok(())
}

/// Makes `parent[name]` hold `then`, writing only what differs.
fn put_value(doc: &mut Tx, parent: &ObjId, name: &str, then: &Hydrated) -> Result<(), EditError> {
    let now = doc.get(parent, name)?.map(|(v, id)| (v.to_owned(), id));
    match then {
        Hydrated::Scalar(s) => {
            if !matches!(&now, Some((Value::Scalar(cur), _)) if cur.as_ref() == s) {
                doc.put(parent, name, s.clone())?;
            }
        }
        Hydrated::Text(t) => {
            let wanted = t.to_string();
            let obj = match now {
                Some((Value::Object(ObjType::Text), id)) => id,
                _ => doc.put_object(parent, name, ObjType::Text)?,
            };
            let old = doc.text(&obj)?;
            let (start, deleted, inserted) = minimal_splice(&old, &wanted);
            if deleted > 0 || !inserted.is_empty() {
                doc.splice_text(&obj, start, deleted, inserted)?;
            }
        }
        Hydrated::Map(m) => {
            let obj = match now {
                Some((Value::Object(ObjType::Map), id)) => id,
                _ => doc.put_object(parent, name, ObjType::Map)?,
            };
            reconcile_map(doc, &obj, m)?;
        }
        Hydrated::List(l) => {
            // Duet specs hold no lists; a foreign one is written back whole.
            let obj = doc.put_object(parent, name, ObjType::List)?;
            for (i, item) in l.iter().enumerate() {
                if let Hydrated::Scalar(s) = &item.value {
                    doc.insert(&obj, i, s.clone())?;
                }
            }
        }
    }
    Ok(())
}

/// Rewrites the anchors the restored text no longer resolves as the version did.
fn reanchor(doc: &mut Tx, then: &SpecView, scope: &RestoreScope) -> Result<(), EditError> {
    let now: SpecView = view_of(&**doc);
    for story in &then.stories {
        if let RestoreScope::Story(id) = scope {
            if &story.id != id {
                continue;
            }
        }
        for c in &story.constraints {
            let Anchor::Span {
                field, start, end, ..
            } = &c.anchor
            else {
                continue;
            };
            let current = now
                .story(&story.id)
                .and_then(|s| s.constraints.iter().find(|x| x.id == c.id))
                .map(|x| &x.anchor);
            if current == Some(&c.anchor) {
                continue;
            }
            let story_obj = read::part(&**doc, key::STORIES, ObjType::Map)
                .and_then(|l| read::obj(&**doc, &l, story.id.as_str(), ObjType::Map));
            let constraint_obj = read::part(&**doc, key::CONSTRAINTS, ObjType::Map)
                .and_then(|l| read::obj(&**doc, &l, c.id.as_str(), ObjType::Map));
            if let (Some(s), Some(o)) = (story_obj, constraint_obj) {
                let span = AnchorSpan {
                    field: *field,
                    start: *start,
                    end: *end,
                };
                write_anchor(doc, &s, &o, span)?;
            }
        }
    }
    Ok(())
}
