//! Where the history panel goes in the spec page, and how the page drives it: the panel itself (timeline, versions, blame, restore, "since you last looked") is its own wasm module, `frontend/history`, loaded when a spec opens, so that the app people open first stays small.

use duet_model::SpecView;
use duet_protocol::DocumentId;
use js_sys::{Array, Function, Reflect};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::me;
use crate::net::Connection;
use crate::text::FocusRequest;
use crate::ui::scroll_to_item;

/// The history panel's state, shared by the editor's bar (its button) and the page.
#[derive(Clone, Copy)]
pub struct HistoryUi {
    pub open: RwSignal<bool>,
    /// A past version or the blame view is chosen, to show in place of the live editor
    /// while the panel is open.
    pub viewing: RwSignal<bool>,
}

impl HistoryUi {
    /// Whether a past version or the blame covers the live editor.
    pub fn covering(self) -> bool {
        self.open.get() && self.viewing.get()
    }
}

// The module, imported once per page (again after a failed attempt, e.g. offline before
// it was ever cached), with its wasm instantiated.
#[wasm_bindgen(inline_js = "let m;
export function history_module() {
  m ??= import('/history/duet_history.js')
    .then(async (x) => { await x.default(); return x; })
    .catch((e) => { m = undefined; throw e; });
  return m;
}")]
extern "C" {
    fn history_module() -> js_sys::Promise;
}

/// The history module, or `None` when it cannot be loaded.
async fn module() -> Option<JsValue> {
    wasm_bindgen_futures::JsFuture::from(history_module())
        .await
        .ok()
}

/// Calls the module's exported function `name`.
fn call(module: &JsValue, name: &str, args: &[JsValue]) {
    let f = Reflect::get(module, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    if let Some(f) = f {
        let args: Array = args.iter().collect();
        if let Err(e) = f.apply(&JsValue::NULL, &args) {
            web_sys::console::error_2(&format!("history: {name} failed").into(), &e);
        }
    }
}

/// The part filter's choices as `[value, label]` arrays: the whole spec, each part, each
/// story by name.
fn parts(spec: Option<&SpecView>) -> JsValue {
    let out = Array::new();
    let push = |v: &str, l: &str| {
        out.push(&Array::of2(&v.into(), &l.into()));
    };
    for (v, l) in [
        ("", "Whole spec"),
        ("title", "Title"),
        ("problem", "Problem"),
        ("metrics", "Success metrics"),
    ] {
        push(v, l);
    }
    for (i, s) in spec.iter().flat_map(|s| &s.stories).enumerate() {
        let name: String = s.i_want.chars().take(32).collect();
        let label = if name.is_empty() {
            format!("Story {}", i + 1)
        } else {
            format!("Story {}: {name}", i + 1)
        };
        push(&format!("story:{}", s.id), &label);
    }
    for (v, l) in [
        ("criteria", "Acceptance criteria"),
        ("constraints", "Constraints"),
        ("decisions", "Decision log"),
        ("questions", "Open questions"),
    ] {
        push(v, l);
    }
    out.into()
}

/// The history panel (beside the page) and the version or blame it shows in place of the
/// live editor. Both are empty, which the style hides, until the panel opens.
#[component]
pub fn Panel(
    doc: DocumentId,
    spec: Memo<Option<SpecView>>,
    can_restore: Signal<bool>,
) -> impl IntoView {
    let ui = expect_context::<HistoryUi>();
    let aside = NodeRef::<leptos::html::Aside>::new();
    let cover = NodeRef::<leptos::html::Div>::new();
    let on_viewing = Closure::<dyn Fn(bool)>::new(move |v| {
        ui.viewing.try_set(v);
    })
    .into_js_value();
    let on_close = Closure::<dyn Fn()>::new(move || {
        ui.open.try_set(false);
    })
    .into_js_value();
    // Whether the module was told to show the panel.
    let shown = StoredValue::new(false);
    Effect::new(move |_| {
        let open = ui.open.get();
        // The timeline follows every change of the spec while the panel is open.
        spec.track();
        let can = JsValue::from_bool(can_restore.get());
        let (Some(a), Some(c)) = (aside.get(), cover.get()) else {
            return;
        };
        let was = shown.get_value();
        shown.set_value(open);
        if !open && !was {
            return;
        }
        let parts = spec.with_untracked(|s| parts(s.as_ref()));
        let (on_viewing, on_close) = (on_viewing.clone(), on_close.clone());
        spawn_local(async move {
            let Some(m) = module().await else {
                if open {
                    a.set_inner_html(
                        "<p class=\"error\" role=\"alert\">The history cannot be loaded: the server cannot be reached.</p>",
                    );
                }
                return;
            };
            if !open {
                call(&m, "close_history", &[]);
            } else if was {
                call(&m, "spec_changed", &[parts, can]);
            } else {
                let doc = JsValue::from_str(&doc.to_string());
                call(
                    &m,
                    "open_history",
                    &[a.into(), c.into(), doc, parts, can, on_viewing, on_close],
                );
            }
        });
    });
    on_cleanup(move || {
        if shown.try_get_value() == Some(true) {
            spawn_local(async move {
                if let Some(m) = module().await {
                    call(&m, "close_history", &[]);
                }
            });
        }
    });
    view! {
        <div class="version-view" node_ref=cover></div>
        <aside class="history" aria-label="History" node_ref=aside></aside>
    }
}

/// Tells the server this person has now seen the spec, even from a page being unloaded
/// (`keepalive`).
fn seen_now(doc: DocumentId) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let _ = Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
    if let Some(w) = web_sys::window() {
        let sent = w.fetch_with_str_and_init(&format!("/api/specs/{doc}/seen"), &init);
        // Awaited so that a failure (offline) is not an unhandled rejection.
        spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(sent).await;
        });
    }
}

/// "Since you last looked": what others changed since this person's last visit, by author
/// and place, each a jump to the place (written by the history module). Opening the spec,
/// and leaving it, marks it seen.
#[component]
pub fn SinceSeen(doc: DocumentId, on_server: RwSignal<bool>) -> impl IntoView {
    let conn = expect_context::<StoredValue<Connection, LocalStorage>>();
    let user = conn.get_value().person().user.to_string();
    let FocusRequest(focus) = expect_context::<FocusRequest>();
    let ui = expect_context::<HistoryUi>();
    let boxel = NodeRef::<leptos::html::Div>::new();
    let on_focus = Closure::<dyn Fn(String)>::new(move |target: String| {
        ui.viewing.try_set(false);
        if let Some(key) = target.strip_prefix("f:") {
            focus.try_set(Some(key.to_owned()));
        } else if let Some(id) = target.strip_prefix("i:") {
            scroll_to_item(id);
        }
    })
    .into_js_value();
    // Asked once, leaving out what this browser showed when the person last left the
    // spec: what they watched live is not news, even if the server never heard they saw it.
    let shown = me::shown(&user, &doc.to_string());
    Effect::new(move |asked: Option<bool>| {
        if asked == Some(true) {
            return true;
        }
        let (Some(el), true) = (boxel.get(), on_server.get()) else {
            return false;
        };
        let (on_focus, shown) = (on_focus.clone(), shown.clone());
        spawn_local(async move {
            if let Some(m) = module().await {
                let doc = JsValue::from_str(&doc.to_string());
                call(&m, "since_seen", &[el.into(), doc, on_focus, shown.into()]);
            }
        });
        true
    });
    // On leaving: what the page showed is kept here, and the server marks it seen.
    let left = move || {
        if let Some(c) = conn.try_get_value() {
            me::remember_shown(&user, &doc.to_string(), &c.heads(doc).join(","));
        }
        if on_server.try_get_untracked() == Some(true) {
            seen_now(doc);
        }
    };
    let leave = window_event_listener_untyped("pagehide", {
        let left = left.clone();
        move |_| left()
    });
    on_cleanup(move || {
        leave.remove();
        left();
    });
    view! { <div class="since-box" node_ref=boxel></div> }
}
