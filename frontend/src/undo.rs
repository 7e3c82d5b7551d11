//! Undo and redo on the page: the page's own per-person stack (never the browser's), reached by Ctrl/Cmd+Z, Ctrl/Cmd+Shift+Z, Ctrl+Y, the Edit menu and two buttons; each step scrolls to and highlights what it changed.

use std::time::Duration;

use duet_model::Undone;
use duet_protocol::DocumentId;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::net::{Connection, UndoLabels};
use crate::text::field_key;

type Conn = StoredValue<Connection, LocalStorage>;

/// What the page says about undo: the labels for the buttons and the last step taken.
#[derive(Clone, Copy)]
pub struct UndoUi {
    pub labels: RwSignal<UndoLabels>,
    /// "Undid typing in Problem", for a moment.
    pub note: RwSignal<Option<String>>,
}

/// Whether a key or input event on `target` is the page's to undo: a spec field, or
/// anything that is not a text control of its own (a plain input keeps its native undo).
fn ours(target: Option<web_sys::EventTarget>) -> bool {
    let Some(el) = target.and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else {
        return true;
    };
    if el.closest(".tb").ok().flatten().is_some() {
        return true;
    }
    !matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        && el.get_attribute("contenteditable").is_none()
}

/// Takes over undo and redo for spec `doc` while the page is open; `paused` when the
/// page shows something else over the spec (an old version).
pub fn listen(doc: DocumentId, ui: UndoUi, paused: Signal<bool>) {
    let conn = expect_context::<Conn>();
    let run = move |redo: bool| {
        if paused.get_untracked() {
            return;
        }
        let Some(c) = conn.try_get_value() else {
            return;
        };
        match c.undo(doc, redo) {
            Some(undone) => show(ui, undone, redo),
            None => ui.note.set(Some(
                if redo {
                    "Nothing to redo"
                } else {
                    "Nothing to undo"
                }
                .into(),
            )),
        }
    };
    let keys = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
        if !(ev.ctrl_key() || ev.meta_key()) || ev.alt_key() || !ours(ev.target()) {
            return;
        }
        // ASCII only: Unicode lowercasing would bring its tables into the app.
        let key = ev.key();
        let redo = match key.as_str() {
            "z" | "Z" => ev.shift_key(),
            "y" | "Y" if ev.ctrl_key() && !ev.shift_key() => true,
            _ => return,
        };
        ev.prevent_default();
        run(redo);
    });
    // The Edit menu and the text field's context menu undo through `beforeinput`.
    let inputs = window_event_listener_untyped("beforeinput", move |ev: web_sys::Event| {
        let Some(input) = ev.dyn_ref::<web_sys::InputEvent>() else {
            return;
        };
        let redo = match input.input_type().as_str() {
            "historyUndo" => false,
            "historyRedo" => true,
            _ => return,
        };
        if ours(ev.target()) {
            ev.prevent_default();
            run(redo);
        }
    });
    on_cleanup(move || {
        keys.remove();
        inputs.remove();
    });
}

/// Shows what an undo or redo changed: scrolls to it, selects it and flashes its field.
fn show(ui: UndoUi, undone: Undone, redo: bool) {
    let verb = if redo { "Redid" } else { "Undid" };
    ui.note.set(Some(format!("{verb} {}", undone.label)));
    let note = ui.note;
    set_timeout(
        move || {
            note.try_update(|n| {
                if n.as_deref().is_some_and(|n| n.starts_with(verb)) {
                    *n = None;
                }
            });
        },
        Duration::from_secs(4),
    );
    let Some(spot) = undone.spot else {
        return;
    };
    let key = field_key(&spot.field);
    // After the fields have caught up with the change.
    request_animation_frame(move || {
        let found = document()
            .query_selector(&format!(".live [data-field=\"{key}\"]"))
            .ok()
            .flatten();
        let Some(tb) = found else {
            return;
        };
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Center);
        tb.scroll_into_view_with_scroll_into_view_options(&options);
        let _ = tb.class_list().add_1("flash");
        let flashed = tb.clone();
        set_timeout(
            move || {
                let _ = flashed.class_list().remove_1("flash");
            },
            Duration::from_millis(1600),
        );
        let area = tb
            .query_selector("textarea")
            .ok()
            .flatten()
            .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok());
        if let Some(area) = area {
            let focused = document().active_element().is_some_and(|a| a == **area);
            let _ = area.set_selection_range(spot.start as u32, spot.end as u32);
            if focused {
                // The field keeps its caret from selection events (focusing tells it too).
                if let Ok(ev) = web_sys::Event::new("select") {
                    let _ = area.dispatch_event(&ev);
                }
            } else {
                let _ = area.focus();
            }
        }
    });
}

/// The Undo and Redo buttons, each naming its step.
#[component]
pub fn UndoButtons(doc: DocumentId) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let ui = expect_context::<UndoUi>();
    let labels = ui.labels;
    let click = move |redo: bool| {
        move |_| {
            if let Some(undone) = conn.get_value().undo(doc, redo) {
                show(ui, undone, redo);
            }
        }
    };
    let title = move |redo: bool| {
        move || {
            let l = labels.get();
            let (verb, step) = if redo {
                ("Redo", l.redo)
            } else {
                ("Undo", l.undo)
            };
            match step {
                Some(s) => format!("{verb} {s}"),
                None if redo => "Nothing to redo".to_owned(),
                None => "Nothing to undo".to_owned(),
            }
        }
    };
    view! {
        <span class="undo-redo">
            <button type="button" class="quiet undo" title=title(false)
                aria-label=title(false)
                disabled=move || labels.get().undo.is_none() on:click=click(false)>"↶ Undo"</button>
            <button type="button" class="quiet redo" title=title(true)
                aria-label=title(true)
                disabled=move || labels.get().redo.is_none() on:click=click(true)>"↷ Redo"</button>
            <span class="undo-note muted" aria-live="polite">
                {move || ui.note.get()}
            </span>
        </span>
    }
}
