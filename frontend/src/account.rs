//! Accounts in the page: the sign-in page (with sign-up) and the profile page (`/me`: display name, colour, discipline).

use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

use crate::api::{self, Account};
use crate::{me, Auth};

/// The value of a form control: `form[name]`, or `el` itself when `name` is `None`.
pub(crate) fn value_of(el: &JsValue, name: Option<&str>) -> String {
    let control = match name {
        Some(n) => Reflect::get(el, &n.into()).unwrap_or_default(),
        None => el.clone(),
    };
    Reflect::get(&control, &"value".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

/// One labelled input of a form: its name (and id), label, type, autocomplete, hint and
/// first value. Forms are built from these so they share one piece of view code.
pub(crate) type Field = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
);

pub(crate) fn fields(list: Vec<Field>) -> impl IntoView {
    list.into_iter()
        .map(|(name, label, kind, auto, hint, value)| {
            view! {
                <label for=name>{label}</label>
                <input id=name name=name type=kind autocomplete=auto value=value />
                <p class="hint">{hint}</p>
            }
        })
        .collect_view()
}

/// `<option>`s: (value, text) pairs, `selected` chosen.
pub(crate) fn options(list: &[(&'static str, &'static str)], selected: &str) -> impl IntoView {
    list.iter()
        .map(|&(v, t)| view! { <option value=v selected=v == selected>{t}</option> })
        .collect_view()
}

/// Signs in, or creates an account; the server's words when it says no.
#[component]
pub fn SignIn(note: Option<String>) -> impl IntoView {
    let auth = expect_context::<RwSignal<Auth>>();
    let new = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev.target() else { return };
        let value = |name| value_of(&form, Some(name));
        let (user, pass, name) = (value("username"), value("password"), value("display_name"));
        let new = new.get_untracked();
        spawn_local(async move {
            match api::sign_in(new, user.trim(), &pass, name.trim()).await {
                Ok(a) => {
                    me::cache(&a);
                    auth.set(Auth::In(a));
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let toggle = move |_| {
        new.update(|n| *n = !*n);
        error.set(None);
    };
    // The whole form follows the choice between signing in and signing up.
    let form = move || {
        let new = new.get();
        let pick = |up: &'static str, down: &'static str| if new { up } else { down };
        let mut list: Vec<Field> = vec![
            (
                "username",
                "Username",
                "text",
                "username",
                pick(
                    "Letters, digits, dots, dashes and underscores: others add you to specs by it.",
                    "",
                ),
                String::new(),
            ),
            (
                "password",
                "Password",
                "password",
                pick("new-password", "current-password"),
                pick("At least 8 characters.", ""),
                String::new(),
            ),
        ];
        if new {
            list.push((
                "display_name",
                "Display name",
                "text",
                "name",
                "Others editing with you see it beside your cursor and your changes.",
                String::new(),
            ));
        }
        view! {
            <form class="card" on:submit=submit aria-labelledby="welcome-h">
                <h1 id="welcome-h">{pick("Create your Duet account", "Sign in to Duet")}</h1>
                {note.clone().map(|n| view! { <p class="notice" role="note">{n}</p> })}
                {fields(list)}
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit">{pick("Create account", "Sign in")}</button>
                <p class="switch muted">
                    {pick("Already have an account?", "New to Duet?")} " "
                    <button type="button" class="link" on:click=toggle>{pick("Sign in", "Create an account")}</button>
                </p>
            </form>
        }
    };
    view! { <main class="welcome">{form}</main> }
}

const DISCIPLINES: [(&str, &str); 4] = [
    ("product", "Product"),
    ("engineering", "Engineering"),
    ("design", "Design"),
    ("other", "Other"),
];

/// The signed-in person's profile: what others see of them.
#[component]
pub fn Profile() -> impl IntoView {
    let auth = expect_context::<RwSignal<Auth>>();
    let Auth::In(start) = auth.get_untracked() else {
        return ().into_any();
    };
    let colour = me::Me::of(&start).map(|m| m.color).unwrap_or_default();
    let said = RwSignal::new(None::<Result<&'static str, String>>);
    let username = start.username.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev.target() else { return };
        let value = |name| value_of(&form, Some(name));
        let next = Account {
            username: username.clone(),
            display_name: value("display_name").trim().to_owned(),
            colour: value("colour"),
            discipline: value("discipline"),
        };
        spawn_local(async move {
            said.set(Some(match api::update_me(&next).await {
                Ok(a) => {
                    me::cache(&a);
                    auth.set(Auth::In(a));
                    Ok("Saved.")
                }
                Err(e) => Err(e.message),
            }));
        });
    };
    let list: Vec<Field> = vec![
        (
            "display_name",
            "Display name",
            "text",
            "name",
            "Shown to others beside your cursor and your changes.",
            start.display_name,
        ),
        ("colour", "Colour", "color", "off", "", colour),
    ];
    view! {
        <main class="list profile">
            <h1>"Your profile"</h1>
            <form class="card" on:submit=submit>
                <p class="muted">"Signed in as " <strong>{start.username}</strong></p>
                {fields(list)}
                <label for="discipline">"Discipline"</label>
                <select id="discipline" name="discipline">{options(&DISCIPLINES, &start.discipline)}</select>
                {move || said.get().map(|s| match s {
                    Ok(m) => view! { <p class="saved" aria-live="polite">{m}</p> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                })}
                <button type="submit">"Save"</button>
            </form>
        </main>
    }
    .into_any()
}
