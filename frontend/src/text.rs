//! One collaboratively edited text field: every input becomes one Automerge splice, remote changes land without moving the caret, and a mirror behind the text shows anchored spans and other people's carets.

use duet_model::{
    caret_at, caret_position, input_splice, rebase_splice, Caret, InputSplice, ItemId, Severity,
    TextField,
};
use duet_protocol::DocumentId;
use duet_protocol::Presence;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::net::Connection;

/// A span of the field to highlight: a constraint's anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight {
    pub start: usize,
    pub end: usize,
    pub constraint: ItemId,
    pub severity: Severity,
}

/// The constraint being pointed at (hovered or focused), anywhere on the page.
#[derive(Clone, Copy)]
pub struct ActiveConstraint(pub RwSignal<Option<ItemId>>);

/// A field to focus as soon as it is on the page (a just-added item's first field).
#[derive(Clone, Copy)]
pub struct FocusRequest(pub RwSignal<Option<String>>);

/// The other people in the spec, for carets in fields.
#[derive(Clone, Copy)]
pub struct People(pub RwSignal<Vec<Presence>>);

/// The spec is view only here (this person is a viewer): no field takes input.
#[derive(Clone, Copy)]
pub struct ReadOnly(pub bool);

/// Whether the editor around the caller is view only.
pub fn read_only() -> bool {
    use_context::<ReadOnly>().is_some_and(|r| r.0)
}

/// The key naming a field in presence messages and in the page (`data-field`).
pub fn field_key(field: &TextField) -> String {
    match field {
        TextField::Title => "title".into(),
        TextField::Problem => "problem".into(),
        TextField::Metric { metric, field } => format!("metric/{metric}/{}", field.as_stored()),
        TextField::Story { story, field } => format!("story/{story}/{}", field.as_stored()),
        TextField::Criterion { story, criterion } => format!("criterion/{story}/{criterion}"),
        TextField::Constraint { constraint } => format!("constraint/{constraint}"),
        TextField::Decision { decision, field } => {
            format!("decision/{decision}/{}", field.as_stored())
        }
        TextField::Question { question, field } => {
            format!("question/{question}/{}", field.as_stored())
        }
    }
}

/// Byte offset of UTF-16 position `pos` in `s` (clamped to the end).
fn byte_at(s: &str, pos: usize) -> usize {
    let mut units = 0;
    for (i, ch) in s.char_indices() {
        if units >= pos {
            return i;
        }
        units += ch.len_utf16();
    }
    s.len()
}

/// A piece of the mirror behind the text.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text {
        text: String,
        mark: Option<(ItemId, Severity)>,
        selected_by: Option<String>,
    },
    Caret {
        name: String,
        color: String,
    },
}

/// Cuts the text at every highlight and remote selection boundary, with each remote
/// caret where that person's caret is (the start of a selection made backwards).
fn pieces(text: &str, highlights: &[Highlight], people: &[Presence]) -> Vec<Piece> {
    let len: usize = text.encode_utf16().count();
    // (start, end, caret, person)
    let sels: Vec<(usize, usize, usize, &Presence)> = people
        .iter()
        .filter_map(|p| {
            let (s, e) = p.selection?;
            let (s, e) = ((s as usize).min(len), (e as usize).min(len));
            Some((s, e, if p.backward { s } else { e }, p))
        })
        .collect();
    let carets_at = |at: usize| {
        sels.iter()
            .filter(move |sel| sel.2 == at)
            .map(|(_, _, _, p)| Piece::Caret {
                name: p.name.clone(),
                color: p.color.clone(),
            })
    };
    let mut cuts: Vec<usize> = vec![0, len];
    for h in highlights {
        cuts.extend([h.start.min(len), h.end.min(len)]);
    }
    for (s, e, _, _) in &sels {
        cuts.extend([*s, *e]);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        out.extend(carets_at(a));
        let mark = highlights
            .iter()
            .filter(|h| h.start <= a && b <= h.end)
            .min_by_key(|h| h.severity)
            .map(|h| (h.constraint.clone(), h.severity));
        let selected_by = sels
            .iter()
            .find(|(s, e, _, _)| *s <= a && b <= *e && s < e)
            .map(|(_, _, _, p)| p.color.clone());
        out.push(Piece::Text {
            text: text[byte_at(text, a)..byte_at(text, b)].to_owned(),
            mark,
            selected_by,
        });
    }
    out.extend(carets_at(len));
    out
}

fn textarea(ev: &web_sys::Event) -> Option<web_sys::HtmlTextAreaElement> {
    ev.target()?.dyn_into().ok()
}

#[component]
pub fn TextBox(
    doc: DocumentId,
    field: TextField,
    #[prop(into)] text: Signal<String>,
    #[prop(into)] label: String,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] single_line: bool,
    #[prop(optional)] class: &'static str,
    #[prop(optional, into)] highlights: Option<Signal<Vec<Highlight>>>,
    /// Told the selection (UTF-16) whenever it changes.
    #[prop(optional)]
    on_select: Option<Callback<(usize, usize)>>,
    /// Runs after each local edit of this field.
    #[prop(optional)]
    after_edit: Option<Callback<()>>,
) -> impl IntoView {
    let conn = expect_context::<StoredValue<Connection, LocalStorage>>();
    let People(people) = expect_context::<People>();
    let ActiveConstraint(active) = expect_context::<ActiveConstraint>();
    let key = field_key(&field);
    let field = StoredValue::new(field);
    let node = NodeRef::<leptos::html::Textarea>::new();
    // What the textarea held after the last sync, i.e. before the person's next input.
    let last = StoredValue::new(String::new());
    // The selection as carets that follow others' edits, and its direction.
    let carets = StoredValue::new(None::<(Caret, Caret, String)>);
    let composing = StoredValue::new(false);
    let highlights = highlights.unwrap_or_else(|| Signal::stored(Vec::new()));

    // Puts the model's text into the textarea, keeping the caret on the same characters.
    let sync_in = move |t: &str| {
        let Some(el) = node.get_untracked() else {
            return;
        };
        if el.value() != t {
            let focused = document().active_element().is_some_and(|a| a == **el);
            let selection = if focused {
                carets.with_value(|c| {
                    let (a, b, dir) = c.as_ref()?;
                    conn.get_value()
                        .read(doc, |d| {
                            field.with_value(|f| {
                                Some((caret_position(d, f, a)?, caret_position(d, f, b)?))
                            })
                        })
                        .flatten()
                        .map(|(s, e)| (s, e, dir.clone()))
                })
            } else {
                None
            };
            el.set_value(t);
            if let Some((s, e, dir)) = selection {
                let _ = el.set_selection_range_with_direction(s as u32, e as u32, &dir);
            }
        }
        last.set_value(t.to_owned());
    };
    Effect::new(move |_| {
        let t = text.get();
        // Never rewrite a field under an IME composition: it resumes at compositionend.
        if !composing.get_value() {
            sync_in(&t);
        }
    });

    if let Some(FocusRequest(request)) = use_context::<FocusRequest>() {
        let key = key.clone();
        Effect::new(move |_| {
            if request.get().as_deref() == Some(key.as_str()) {
                if let Some(el) = node.get() {
                    let _ = el.focus();
                    request.set(None);
                }
            }
        });
    }

    // Keeps the selection as carets on the spec's characters (positions given in the
    // spec's text).
    let keep_carets = move |s: usize, e: usize, dir: String| {
        let pair = conn.get_value().read(doc, |d| {
            field.with_value(|f| Some((caret_at(d, f, s)?, caret_at(d, f, e)?)))
        });
        carets.set_value(pair.flatten().map(|(a, b)| (a, b, dir)));
    };
    let key_for_select = StoredValue::new(key.clone());
    let remember = move |el: &web_sys::HtmlTextAreaElement| {
        let mut s = el.selection_start().ok().flatten().unwrap_or(0) as usize;
        let mut e = el.selection_end().ok().flatten().unwrap_or(0) as usize;
        let dir = el
            .selection_direction()
            .ok()
            .flatten()
            .unwrap_or_else(|| "none".into());
        // The box may lag the spec (others' edits not shown yet, or an IME composition):
        // find the same places in the spec's text.
        let shown = el.value();
        let model = text.get_untracked();
        if shown != model {
            let at = |pos: usize| {
                rebase_splice(
                    &shown,
                    &model,
                    &InputSplice {
                        index: pos,
                        delete: 0,
                        insert: String::new(),
                    },
                )
                .index
            };
            (s, e) = (at(s), at(e));
        }
        let backward = dir == "backward";
        keep_carets(s, e, dir);
        conn.get_value().announce(
            doc,
            Some(key_for_select.get_value()),
            Some((s as u32, e as u32)),
            backward,
        );
        if let Some(cb) = on_select {
            cb.run((s, e));
        }
        // A caret inside an anchored span points at its constraint.
        let inside = highlights.with_untracked(|hs| {
            hs.iter()
                .find(|h| h.start <= s && s < h.end)
                .map(|h| h.constraint.clone())
        });
        if let Some(id) = inside {
            if active.get_untracked().as_ref() != Some(&id) {
                active.set(Some(id));
            }
        }
    };

    let on_input = move |ev: web_sys::Event| {
        let Some(el) = textarea(&ev) else {
            return;
        };
        let new = el.value();
        let caret = el.selection_end().ok().flatten().unwrap_or(0) as usize;
        let old = last.get_value();
        if let Some(sp) = input_splice(&old, &new, caret) {
            // Others' edits may have reached the spec before this box showed them: the
            // splice goes on the characters the person saw, beside their own left
            // neighbour, and the caret follows what they typed.
            let model = text.get_untracked();
            let sp = rebase_splice(&old, &model, &sp);
            let edited = conn.get_value().edit(
                doc,
                Box::new(|spec, now| {
                    field.with_value(|f| spec.splice(f, sp.index, sp.delete, &sp.insert, now))
                }),
            );
            if edited.is_some() && model != old {
                let at = sp.index + sp.insert.encode_utf16().count();
                keep_carets(at, at, "none".into());
            }
            if let Some(cb) = after_edit {
                cb.run(());
            }
        }
        last.set_value(new.clone());
        // If the edit could not be applied, show what the spec really holds.
        let model = text.get_untracked();
        if model != new && !composing.get_value() {
            sync_in(&model);
        }
        remember(&el);
    };
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        if single_line && ev.key() == "Enter" {
            ev.prevent_default();
        }
    };
    let on_compositionend = move |_: web_sys::CompositionEvent| {
        composing.set_value(false);
        sync_in(&text.get_untracked());
    };
    // Blur also fires when a focused field is taken off the page, after its owner is gone.
    let on_blur = move |_: web_sys::FocusEvent| {
        if let Some(c) = conn.try_get_value() {
            c.announce(doc, None, None, false);
        }
    };
    // The mirror sits under the textarea: find a mark under the pointer there.
    let on_mousemove = move |ev: web_sys::MouseEvent| {
        let under = document().elements_from_point(ev.client_x() as f32, ev.client_y() as f32);
        let id = under
            .iter()
            .filter_map(|e| e.dyn_into::<web_sys::Element>().ok())
            .find_map(|e| e.get_attribute("data-constraint"))
            .and_then(|s| ItemId::parse(&s).ok());
        if id.is_some() && active.get_untracked() != id {
            active.set(id);
        }
    };
    let on_mouseleave = move |_: web_sys::MouseEvent| {
        let mine = highlights.try_with_untracked(|hs| {
            active.try_with_untracked(|a| hs.iter().any(|h| Some(&h.constraint) == a.as_ref()))
        });
        if mine.flatten() == Some(true) {
            active.try_set(None);
        }
    };

    let key_here = key.clone();
    let mirror = move || {
        let t = text.get();
        let here: Vec<Presence> = people.with(|ps| {
            ps.iter()
                .filter(|p| p.field.as_deref() == Some(key_here.as_str()))
                .cloned()
                .collect()
        });
        let hs = highlights.get();
        let pointed = active.get();
        pieces(&t, &hs, &here)
            .into_iter()
            .map(|piece| match piece {
                Piece::Text {
                    text,
                    mark: Some((id, severity)),
                    selected_by,
                } => {
                    let on = pointed.as_ref() == Some(&id);
                    let style = selected_by.map(|c| format!("box-shadow: inset 0 -2px 0 {c}"));
                    view! {
                        <mark
                            data-constraint=id.to_string()
                            class=format!("anchor severity-{}", severity.as_stored())
                            class:active=on
                            style=style
                        >{text}</mark>
                    }
                    .into_any()
                }
                Piece::Text {
                    text,
                    mark: None,
                    selected_by: Some(c),
                } => view! { <span class="rsel" style=format!("background: {c}33")>{text}</span> }
                    .into_any(),
                Piece::Text { text, .. } => text.into_any(),
                Piece::Caret { name, color } => view! {
                    <span class="rcaret" style=format!("border-color: {color}")>
                        <span class="rflag" style=format!("background: {color}")>{name}</span>
                    </span>
                }
                .into_any(),
            })
            .collect_view()
    };

    view! {
        <div class=format!("tb {class}") data-field=key.clone()>
            <div class="mirror" aria-hidden="true">{mirror}"\u{200b}"</div>
            <textarea
                node_ref=node
                rows="1"
                spellcheck="true"
                aria-label=label
                placeholder=placeholder
                readonly=read_only()
                on:input=on_input
                on:keydown=on_keydown
                on:keyup=move |ev: web_sys::KeyboardEvent| {
                    if let Some(el) = ev.target().and_then(|t| t.dyn_into().ok()) { remember(&el) }
                }
                on:mouseup=move |ev: web_sys::MouseEvent| {
                    if let Some(el) = ev.target().and_then(|t| t.dyn_into().ok()) { remember(&el) }
                }
                on:focus=move |ev: web_sys::FocusEvent| {
                    // Moving to another field ends the undo step being typed.
                    conn.get_value().seal_undo_step(doc);
                    if let Some(el) = ev.target().and_then(|t| t.dyn_into().ok()) { remember(&el) }
                }
                on:select=move |ev: web_sys::Event| {
                    if let Some(el) = textarea(&ev) { remember(&el) }
                }
                on:compositionstart=move |_| composing.set_value(true)
                on:compositionend=on_compositionend
                on:blur=on_blur
                on:mousemove=on_mousemove
                on:mouseleave=on_mouseleave
            ></textarea>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone(selection: (u32, u32), backward: bool) -> Presence {
        Presence {
            user: "bo".into(),
            name: "Bo".into(),
            color: "#3153d4".into(),
            field: Some("title".into()),
            selection: Some(selection),
            backward,
            leaving: false,
        }
    }

    fn caret_index(pieces: &[Piece]) -> Option<usize> {
        pieces.iter().position(|p| matches!(p, Piece::Caret { .. }))
    }

    #[test]
    fn a_remote_caret_is_drawn_where_that_persons_caret_is() {
        let forward = pieces("a😀bc", &[], &[someone((1, 3), false)]);
        // "a", caret-less "😀" (selected), then the caret, then "bc".
        assert_eq!(caret_index(&forward), Some(2));
        let backward = pieces("a😀bc", &[], &[someone((1, 3), true)]);
        assert_eq!(caret_index(&backward), Some(1));
        let at_end = pieces("ab", &[], &[someone((2, 2), false)]);
        assert_eq!(caret_index(&at_end), Some(1));
        let empty = pieces("", &[], &[someone((0, 0), false)]);
        assert_eq!(caret_index(&empty), Some(0));
    }

    #[test]
    fn byte_offsets_follow_utf16_positions() {
        let s = "a😀結b";
        assert_eq!(byte_at(s, 0), 0);
        assert_eq!(byte_at(s, 1), 1);
        assert_eq!(byte_at(s, 3), 5);
        assert_eq!(byte_at(s, 4), 8);
        assert_eq!(byte_at(s, 99), s.len());
    }
}
