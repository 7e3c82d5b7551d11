//! Lenient readers over the Automerge document: a document is untrusted, so a missing or mistyped value reads as a default.

use automerge::{ObjId, Prop};
use automerge::{ObjType, ScalarValue, Value, ROOT};

use crate::at::Read;

use crate::ids::ItemId;
use crate::schema::key;

/// The object at `parent[prop]` if it is of type `want`.
pub(crate) fn obj<P: Into<Prop>>(
    doc: &impl Read,
    parent: &ObjId,
    prop: P,
    want: ObjType,
) -> Option<ObjId> {
    match doc.value(parent, prop) {
        Ok(Some((Value::Object(t), id))) if t == want => Some(id),
        _ => None,
    }
}

/// A root part (`stories`, `title`…) of the expected type.
pub(crate) fn part(doc: &impl Read, name: &str, want: ObjType) -> Option<ObjId> {
    obj(doc, &ROOT, name, want)
}

/// A story's object and its criteria in display order; `None` if there is no such story.
pub(crate) fn story_criteria(doc: &impl Read, story: &ItemId) -> Option<(ObjId, Vec<Ranked>)> {
    let stories = part(doc, key::STORIES, ObjType::Map)?;
    let found = obj(doc, &stories, story.as_str(), ObjType::Map)?;
    let criteria = obj(doc, &found, key::CRITERIA, ObjType::Map)
        .map(|l| ranked(doc, &l))
        .unwrap_or_default();
    Some((found, criteria))
}

/// The text of the Text object at `parent[key]`, or "" when absent.
pub(crate) fn text(doc: &impl Read, parent: &ObjId, key: &str) -> String {
    obj(doc, parent, key, ObjType::Text)
        .and_then(|t| doc.text_of(&t).ok())
        .unwrap_or_default()
}

fn scalar(doc: &impl Read, parent: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.value(parent, key) {
        Ok(Some((Value::Scalar(s), _))) => Some(s.into_owned()),
        _ => None,
    }
}

/// A string scalar, or "" when absent or of another type.
pub(crate) fn string(doc: &impl Read, parent: &ObjId, key: &str) -> String {
    match scalar(doc, parent, key) {
        Some(ScalarValue::Str(s)) => s.to_string(),
        _ => String::new(),
    }
}

pub(crate) fn boolean(doc: &impl Read, parent: &ObjId, key: &str) -> bool {
    matches!(scalar(doc, parent, key), Some(ScalarValue::Boolean(true)))
}

/// An integer scalar of any integer-like type.
pub(crate) fn integer(doc: &impl Read, parent: &ObjId, key: &str) -> Option<i64> {
    match scalar(doc, parent, key)? {
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(i),
        ScalarValue::Uint(u) => i64::try_from(u).ok(),
        ScalarValue::Counter(c) => Some(i64::from(&c)),
        _ => None,
    }
}

/// An item of a keyed list: its id, rank and object.
#[derive(Debug, Clone)]
pub(crate) struct Ranked {
    pub id: ItemId,
    pub rank: String,
    pub obj: ObjId,
}

/// The items of a keyed list in display order: by rank, then id. Keys that are not valid
/// ids or values that are not maps are skipped (they cannot have come from Duet).
pub(crate) fn ranked(doc: &impl Read, list: &ObjId) -> Vec<Ranked> {
    let mut items: Vec<Ranked> = doc
        .entries(list)
        .filter_map(|item| {
            let id = ItemId::parse(item.key).ok()?;
            match item.value {
                Value::Object(ObjType::Map) => Some(Ranked {
                    id,
                    rank: String::new(),
                    obj: item.id.clone(),
                }),
                _ => None,
            }
        })
        .collect();
    for item in &mut items {
        item.rank = string(doc, &item.obj, key::RANK);
    }
    items.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.id.cmp(&b.id)));
    items
}

/// UTF-16 length of `s`.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Byte offset of UTF-16 offset `pos` in `s`, if `pos` is a character boundary within `s`.
pub(crate) fn byte_offset(s: &str, pos: usize) -> Option<usize> {
    let mut units = 0;
    for (byte, ch) in s.char_indices() {
        if units == pos {
            return Some(byte);
        }
        if units > pos {
            return None;
        }
        units += ch.len_utf16();
    }
    (units == pos).then_some(s.len())
}

/// The substring between two UTF-16 offsets, if both are character boundaries.
pub(crate) fn utf16_slice(s: &str, start: usize, end: usize) -> Option<&str> {
    let a = byte_offset(s, start)?;
    let b = byte_offset(s, end)?;
    s.get(a..b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_offsets_respect_surrogate_pairs() {
        let s = "a😀b";
        assert_eq!(utf16_len(s), 4);
        assert_eq!(byte_offset(s, 1), Some(1));
        assert_eq!(byte_offset(s, 2), None);
        assert_eq!(byte_offset(s, 3), Some(5));
        assert_eq!(byte_offset(s, 4), Some(6));
        assert_eq!(byte_offset(s, 5), None);
        assert_eq!(utf16_slice(s, 1, 3), Some("😀"));
    }
}
