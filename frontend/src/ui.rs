//! Small view pieces the pages share (forms read on submit, options, alerts): one copy of their code serves every page.

use js_sys::Reflect;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

use crate::me::initials;

/// The value of a form control: `form[name]`, or `el` itself when `name` is `None`.
pub fn value_of(el: &JsValue, name: Option<&str>) -> String {
    let control = match name {
        Some(n) => Reflect::get(el, &n.into()).unwrap_or_default(),
        None => el.clone(),
    };
    Reflect::get(&control, &"value".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

/// One labelled input of a form: its name (and id), label, type, autocomplete and first
/// value.
pub type Field = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
);

pub fn fields(list: Vec<Field>) -> impl IntoView {
    list.into_iter()
        .map(|(name, label, kind, auto, value)| {
            view! {
                <label for=name>{label}</label>
                <input id=name name=name type=kind autocomplete=auto value=value />
            }
        })
        .collect_view()
}

/// `<option>`s: (value, text) pairs, `selected` chosen.
pub fn options(list: &[(&'static str, &'static str)], selected: &str) -> impl IntoView {
    list.iter()
        .map(|&(v, t)| view! { <option value=v selected=v == selected>{t}</option> })
        .collect_view()
}

/// An error to show, in words (`None`: nothing).
pub fn alert(message: Option<String>) -> impl IntoView {
    message.map(|e| view! { <p class="error" role="alert">{e}</p> })
}

/// An event handler, boxed: every handler of one event then shares one copy of the code
/// that attaches and runs it (each closure type would get its own).
pub fn handler<E: 'static>(f: impl FnMut(E) + 'static) -> Box<dyn FnMut(E)> {
    Box::new(f)
}

/// A person's round avatar: their initials on their colour.
pub fn avatar(name: &str, colour: &str) -> impl IntoView {
    view! {
        <span class="avatar" style=format!("background: {colour}") aria-hidden="true">
            {initials(name)}
        </span>
    }
}

/// A button that opens and closes a panel (`aria-expanded` says which).
pub fn toggle(label: &'static str, open: RwSignal<bool>) -> impl IntoView {
    view! {
        <button type="button" class="quiet" aria-expanded=move || open.get().to_string()
            on:click=handler(move |_| open.update(|o| *o = !*o))>
            {label}
        </button>
    }
}

/// Scrolls the item whose `data-id` is `id` into view.
pub fn scroll_to_item(id: &str) {
    let found = document()
        .query_selector(&format!("[data-id='{id}']"))
        .ok()
        .flatten();
    if let Some(el) = found {
        el.scroll_into_view();
    }
}
