//! Editing a text field from a page: the splice an input event made, and carets that follow concurrent edits (held as Automerge cursors).

use automerge::{AutoCommit, Cursor, MoveCursor, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::edit::text_obj;
use crate::read;
use crate::schema::TextField;

/// One splice of a text field, in UTF-16 code units (DOM offsets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSplice {
    pub index: usize,
    pub delete: usize,
    pub insert: String,
}

/// The splice that turned `old` into `new`, where `caret` (UTF-16, in `new`) is where the
/// caret ended up after the edit. `None` if nothing changed.
///
/// A text box reports only its new value; the common prefix and suffix find the edited
/// range, and the caret settles which of several equal answers the person made: typing
/// "a" at 1 in "aa" is an insertion at 1, not at 2. That matters because concurrent edits
/// and anchored constraints follow characters, not strings.
pub fn input_splice(old: &str, new: &str, caret: usize) -> Option<InputSplice> {
    if old == new {
        return None;
    }
    let old_chars: Vec<char> = old.chars().collect();
    let new_chars: Vec<char> = new.chars().collect();
    // The caret in characters of `new`, clamped to the text.
    let mut units = 0;
    let caret_chars = new_chars
        .iter()
        .take_while(|ch| {
            units += ch.len_utf16();
            units <= caret
        })
        .count();
    // Whatever follows the caret was not typed: the unchanged suffix may reach back to it.
    let max_suffix = (new_chars.len() - caret_chars).min(old_chars.len());
    let suffix = old_chars
        .iter()
        .rev()
        .zip(new_chars.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let max_prefix = (old_chars.len() - suffix).min(new_chars.len() - suffix);
    let prefix = old_chars
        .iter()
        .zip(new_chars.iter())
        .take(max_prefix)
        .take_while(|(a, b)| a == b)
        .count();
    let utf16 = |chars: &[char]| chars.iter().map(|c| c.len_utf16()).sum::<usize>();
    Some(InputSplice {
        index: utf16(&old_chars[..prefix]),
        delete: utf16(&old_chars[prefix..old_chars.len() - suffix]),
        insert: new_chars[prefix..new_chars.len() - suffix].iter().collect(),
    })
}

/// A caret position in a text field that follows concurrent edits: it stays after the
/// character before it (so text others insert at the same spot lands after the caret),
/// and if that character is deleted it stays before the character that followed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Caret {
    before: Option<Cursor>,
    after: Cursor,
}

/// The caret at UTF-16 position `pos` of `field`; `None` if the field or the position does
/// not exist (the position is clamped to the text's end).
pub fn caret_at(doc: &AutoCommit, field: &TextField, pos: usize) -> Option<Caret> {
    let obj = text_obj(doc, field).ok()?;
    let text = doc.text(&obj).ok()?;
    let pos = pos.min(read::utf16_len(&text));
    let byte = read::byte_offset(&text, pos)?;
    // At the very start the caret stays there, before anything others insert.
    let before = match text[..byte].chars().next_back() {
        None => Some(Cursor::Start),
        Some(ch) => doc
            .get_cursor_moving(&obj, pos - ch.len_utf16(), None, MoveCursor::Before)
            .ok(),
    };
    let after = if byte < text.len() {
        doc.get_cursor_moving(&obj, pos, None, MoveCursor::After)
            .ok()?
    } else {
        Cursor::End
    };
    Some(Caret { before, after })
}

/// Where `caret` is now (UTF-16); `None` if the field no longer exists.
pub fn caret_position(doc: &AutoCommit, field: &TextField, caret: &Caret) -> Option<usize> {
    let obj = text_obj(doc, field).ok()?;
    if caret.before == Some(Cursor::Start) {
        return Some(0);
    }
    if let Some(before) = &caret.before {
        if let Ok(index) = doc.get_cursor_position(&obj, before, None) {
            // The cursor reports a neighbour's index when its character is gone: check that
            // the character at `index` is still the one it was made on.
            let same = doc
                .get_cursor_moving(&obj, index, None, MoveCursor::Before)
                .is_ok_and(|c| &c == before);
            if same {
                let text = doc.text(&obj).ok()?;
                let width = read::byte_offset(&text, index)
                    .and_then(|b| text[b..].chars().next())
                    .map_or(1, char::len_utf16);
                return Some(index + width);
            }
        }
    }
    doc.get_cursor_position(&obj, &caret.after, None).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, s: &InputSplice) -> String {
        let units: Vec<u16> = old.encode_utf16().collect();
        let mut out: Vec<u16> = units[..s.index].to_vec();
        out.extend(s.insert.encode_utf16());
        out.extend_from_slice(&units[s.index + s.delete..]);
        String::from_utf16(&out).expect("splice on character boundaries")
    }

    #[test]
    fn typing_between_equal_letters_is_an_insertion_where_the_caret_was() {
        let s = input_splice("aa", "aaa", 2).expect("a change");
        assert_eq!((s.index, s.delete, s.insert.as_str()), (1, 0, "a"));
        let s = input_splice("aaa", "aa", 1).expect("a change");
        assert_eq!((s.index, s.delete, s.insert.as_str()), (1, 1, ""));
    }

    #[test]
    fn emoji_and_cjk_splices_are_counted_in_utf16_units() {
        let s = input_splice("a😀b", "a😀結b", 4).expect("a change");
        assert_eq!((s.index, s.delete, s.insert.as_str()), (3, 0, "結"));
        let s = input_splice("a😀b", "ab", 1).expect("a change");
        assert_eq!((s.index, s.delete, s.insert.as_str()), (1, 2, ""));
    }

    #[test]
    fn paste_over_a_selection_replaces_it() {
        let s = input_splice("hello world", "hello there", 11).expect("a change");
        assert_eq!(apply("hello world", &s), "hello there");
        assert_eq!((s.index, s.delete, s.insert.as_str()), (6, 5, "there"));
    }

    proptest::proptest! {
        #[test]
        fn an_input_splice_turns_the_old_text_into_the_new(
            old in "[ab😀結]{0,12}",
            at in 0usize..13,
            del in 0usize..5,
            ins in "[ab😀結]{0,4}",
        ) {
            let chars: Vec<char> = old.chars().collect();
            let at = at.min(chars.len());
            let del = del.min(chars.len() - at);
            let new: String = chars[..at].iter().chain(ins.chars().collect::<Vec<_>>().iter()).chain(chars[at + del..].iter()).collect();
            let caret: usize = chars[..at].iter().map(|c| c.len_utf16()).sum::<usize>() + ins.encode_utf16().count();
            match input_splice(&old, &new, caret) {
                None => proptest::prop_assert_eq!(&old, &new),
                Some(s) => {
                    proptest::prop_assert_eq!(apply(&old, &s), new);
                    // The splice lies inside what the person edited.
                    let start: usize = chars[..at].iter().map(|c| c.len_utf16()).sum();
                    proptest::prop_assert!(s.index >= start);
                    proptest::prop_assert!(s.index + s.insert.encode_utf16().count() <= caret);
                }
            }
        }
    }
}
