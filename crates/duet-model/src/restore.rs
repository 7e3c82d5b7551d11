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
use crate::schema::{key, TextField};
use crate::spec::Spec;
use crate::view::{view_of, Anchor, SpecView};

/// What to bring back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreScope {
    /// Everything: title, problem, every list.
    Spec,
    /// One story: its text, status and criteria, and the constraints beside it.
    Story(ItemId),
    /// One criterion of a story that exists now.
    Criterion { story: ItemId, criterion: ItemId },
    /// One constraint, with its anchor.
    Constraint(ItemId),
    /// One decision-log entry.
    Decision(ItemId),
    /// One open question.
    Question(ItemId),
    /// One success metric.
    Metric(ItemId),
    /// The text of one field of an item that exists now.
    Field(TextField),
}

impl RestoreScope {
    /// Where the part restored lies: the map keys from the root (`None` for the whole
    /// spec and a story, which are reconciled their own way).
    fn path(&self) -> Option<Vec<String>> {
        let at = |list: &str, id: &ItemId| vec![list.to_owned(), id.to_string()];
        Some(match self {
            RestoreScope::Spec | RestoreScope::Story(_) => return None,
            RestoreScope::Criterion { story, criterion } => vec![
                key::STORIES.to_owned(),
                story.to_string(),
                key::CRITERIA.to_owned(),
                criterion.to_string(),
            ],
            RestoreScope::Constraint(id) => at(key::CONSTRAINTS, id),
            RestoreScope::Decision(id) => at(key::DECISIONS, id),
            RestoreScope::Question(id) => at(key::QUESTIONS, id),
            RestoreScope::Metric(id) => at(key::METRICS, id),
            RestoreScope::Field(field) => field_path(field),
        })
    }
}

/// The map keys leading to a text field.
fn field_path(field: &TextField) -> Vec<String> {
    let at = |list: &str, id: &ItemId, name: &str| {
        vec![list.to_owned(), id.to_string(), name.to_owned()]
    };
    match field {
        TextField::Title => vec![key::TITLE.to_owned()],
        TextField::Problem => vec![key::PROBLEM.to_owned()],
        TextField::Metric { metric, field } => at(key::METRICS, metric, field.as_stored()),
        TextField::Story { story, field } => at(key::STORIES, story, field.as_stored()),
        TextField::Criterion { story, criterion } => vec![
            key::STORIES.to_owned(),
            story.to_string(),
            key::CRITERIA.to_owned(),
            criterion.to_string(),
            key::TEXT.to_owned(),
        ],
        TextField::Constraint { constraint } => at(key::CONSTRAINTS, constraint, key::TEXT),
        TextField::Decision { decision, field } => at(key::DECISIONS, decision, field.as_stored()),
        TextField::Question { question, field } => at(key::QUESTIONS, question, field.as_stored()),
    }
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
            _ => crate::history::RESTORE_ITEM,
        };
        self.change(message, now, |doc| {
            match (scope, scope.path()) {
                (RestoreScope::Spec, _) => reconcile_map(doc, &ROOT, &then)?,
                (RestoreScope::Story(id), _) => restore_story(doc, &then, id)?,
                (_, Some(path)) => restore_at(doc, &then, &path)?,
                (_, None) => return Err(EditError::NotInVersion),
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

/// Makes the part at `path` hold what it held in `then`: an item comes back whole (also
/// one removed since), a text field by its smallest splice. The map holding it must exist
/// now (restore a removed story before one of its criteria).
fn restore_at(doc: &mut Tx, then: &Map, path: &[String]) -> Result<(), EditError> {
    let Some((name, parents)) = path.split_last() else {
        return Err(EditError::NotInVersion);
    };
    let mut then_map = then;
    for key in parents {
        then_map = child(then_map, key).ok_or(EditError::NotInVersion)?;
    }
    let value = then_map.get(name.as_str()).ok_or(EditError::NotInVersion)?;
    let parent = crate::journal::resolve(doc, parents, ObjType::Map).ok_or(
        EditError::MissingPart("the item that holds it (restore that first)"),
    )?;
    put_value(doc, &parent, name, value)
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
        let story_in_scope = match scope {
            RestoreScope::Spec => true,
            RestoreScope::Story(id) => &story.id == id,
            RestoreScope::Field(TextField::Story { story: id, .. }) => &story.id == id,
            RestoreScope::Constraint(_) => true,
            _ => false,
        };
        if !story_in_scope {
            continue;
        }
        for c in &story.constraints {
            if matches!(scope, RestoreScope::Constraint(id) if &c.id != id) {
                continue;
            }
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
