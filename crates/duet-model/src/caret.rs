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

/// Moves a splice made on `seen` (what a text box showed) onto `now` (what the spec holds:
/// `seen` plus others' edits that arrived before the box caught up), so the person's edit
/// lands on the characters they saw. An insertion where others also inserted goes right
/// after its own left neighbour, before their text: the characters a person types stay
/// together, never split by someone else's word.
pub fn rebase_splice(seen: &str, now: &str, splice: &InputSplice) -> InputSplice {
    if seen == now {
        return splice.clone();
    }
    let seen_chars: Vec<char> = seen.chars().collect();
    let now_chars: Vec<char> = now.chars().collect();
    let hunks = char_hunks(&seen_chars, &now_chars);
    let start = char_index(&seen_chars, splice.index);
    let end = char_index(&seen_chars, splice.index + splice.delete);
    // A position maps past every hunk that ends before it. At a hunk's start (others'
    // text inserted exactly there) it stays put; inside text others deleted it goes to
    // the end of what replaced it.
    let map = |pos: usize| {
        let mut shift: isize = 0;
        for h in &hunks {
            if h.start + h.deleted <= pos && !(h.start == pos && h.deleted == 0) {
                shift += h.inserted as isize - h.deleted as isize;
            } else if h.start < pos {
                return (h.start as isize + shift) as usize + h.inserted;
            }
        }
        (pos as isize + shift) as usize
    };
    let (new_start, new_end) = (map(start), map(end).max(map(start)));
    let units = |chars: &[char]| chars.iter().map(|c| c.len_utf16()).sum::<usize>();
    InputSplice {
        index: units(&now_chars[..new_start]),
        delete: units(&now_chars[new_start..new_end]),
        insert: splice.insert.clone(),
    }
}

/// The character index at UTF-16 position `units` of `chars` (clamped).
fn char_index(chars: &[char], units: usize) -> usize {
    let mut seen = 0;
    chars
        .iter()
        .take_while(|c| {
            seen += c.len_utf16();
            seen <= units
        })
        .count()
}

/// One place where two texts differ, in characters of the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hunk {
    start: usize,
    deleted: usize,
    inserted: usize,
}

/// Where `b` differs from `a`: the common prefix and suffix trimmed, then (when the rest
/// is small, as between two keystrokes) a longest-common-subsequence walk so separate
/// edits stay separate; a large rest is one hunk.
fn char_hunks(a: &[char], b: &[char]) -> Vec<Hunk> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    if a_mid.is_empty() && b_mid.is_empty() {
        return Vec::new();
    }
    if a_mid.len().saturating_mul(b_mid.len()) > 65_536 {
        return vec![Hunk {
            start: prefix,
            deleted: a_mid.len(),
            inserted: b_mid.len(),
        }];
    }
    let (n, m) = (a_mid.len(), b_mid.len());
    // lcs[i][j]: the longest common subsequence of a_mid[i..] and b_mid[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a_mid[i] == b_mid[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut hunks: Vec<Hunk> = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut open: Option<Hunk> = None;
    while i < n || j < m {
        if i < n && j < m && a_mid[i] == b_mid[j] {
            hunks.extend(open.take());
            i += 1;
            j += 1;
            continue;
        }
        let h = open.get_or_insert(Hunk {
            start: prefix + i,
            deleted: 0,
            inserted: 0,
        });
        if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            h.inserted += 1;
            j += 1;
        } else {
            h.deleted += 1;
            i += 1;
        }
    }
    hunks.extend(open);
    hunks
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

    fn splice(index: usize, delete: usize, insert: &str) -> InputSplice {
        InputSplice {
            index,
            delete,
            insert: insert.into(),
        }
    }

    #[test]
    fn a_keystroke_rebased_over_others_word_at_the_same_place_stays_with_its_own_letters() {
        // Pam saw "ab w" and typed "o" after "w"; Eli's " hi" arrived right there first.
        let s = rebase_splice("ab w", "ab w hi", &splice(4, 0, "o"));
        assert_eq!(apply("ab w hi", &s), "ab wo hi");
        // Eli's word arrived before Pam's "w": Pam's letter still follows her "w".
        let s = rebase_splice("ab w", "ab hi w", &splice(4, 0, "o"));
        assert_eq!(apply("ab hi w", &s), "ab hi wo");
        // At the very start and end of a field.
        let s = rebase_splice("", "hi", &splice(0, 0, "w"));
        assert_eq!(apply("hi", &s), "whi");
        let s = rebase_splice("x", "Ex", &splice(1, 0, "y"));
        assert_eq!(apply("Ex", &s), "Exy");
    }

    #[test]
    fn a_deletion_rebased_over_separate_edits_removes_what_the_person_saw() {
        let s = rebase_splice("one two three", "ONE one two three!", &splice(4, 4, ""));
        assert_eq!(apply("ONE one two three!", &s), "ONE one three!");
        let s = rebase_splice("a😀b", "Xa😀bY", &splice(1, 2, ""));
        assert_eq!(apply("Xa😀bY", &s), "XabY");
    }

    proptest::proptest! {
        /// Others' edits never split what a person types, and what they deleted is what
        /// they saw (when others did not touch it).
        #[test]
        fn rebased_typing_lands_beside_its_left_neighbour(
            seen in "[ab😀]{0,8}",
            at in 0usize..9,
            typed in "[XY]{1,3}",
            theirs_at in 0usize..9,
            theirs in "[cd]{0,3}",
        ) {
            let chars: Vec<char> = seen.chars().collect();
            let at = at.min(chars.len());
            let theirs_at = theirs_at.min(chars.len());
            let now: String = chars[..theirs_at].iter().chain(theirs.chars().collect::<Vec<_>>().iter()).chain(chars[theirs_at..].iter()).collect();
            let index: usize = chars[..at].iter().map(|c| c.len_utf16()).sum();
            let s = rebase_splice(&seen, &now, &splice(index, 0, &typed));
            let out = apply(&now, &s);
            proptest::prop_assert!(out.contains(&typed), "{} in {}", typed, out);
            // Removing the typed text gives back what the spec held.
            proptest::prop_assert_eq!(out.replacen(&typed, "", 1), now.clone());
            // What preceded the caret in `seen` still precedes the typed text.
            let before: String = chars[..at].iter().filter(|c| !"cd".contains(**c)).collect();
            let out_before: String = out[..out.find(&typed).unwrap_or(0)].chars().filter(|c| !"cd".contains(*c)).collect();
            proptest::prop_assert_eq!(out_before, before);
        }
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
