//! Accounts in the page: the sign-in page (with sign-up) and the profile page (`/me`: display name, colour, discipline).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Account};
use crate::ui::{alert, fields, handler, options, value_of, Field};
use crate::{me, Auth};

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
    // Words that follow the choice between signing in and signing up (boxed: one copy of
    // the rendering code serves them all).
    let pick =
        move |up: &'static str, down: &'static str| -> Box<dyn FnMut() -> &'static str + Send> {
            Box::new(move || if new.get() { up } else { down })
        };
    view! {
        <main class="welcome">
            <form class="card" on:submit=handler(submit) aria-labelledby="welcome-h">
                <h1 id="welcome-h">{pick("Create your Duet account", "Sign in to Duet")}</h1>
                {note.map(|n| view! { <p class="notice" role="note">{n}</p> })}
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username"
                    autocapitalize="none" spellcheck="false" />
                <p class="hint">{pick("Letters, digits, dots, dashes and underscores: others add you to specs by it.", "")}</p>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password"
                    autocomplete=pick("new-password", "current-password") />
                <p class="hint">{pick("At least 8 characters.", "")}</p>
                <div class="field" hidden=move || !new.get()>
                    <label for="display_name">"Display name"</label>
                    <input id="display_name" name="display_name" type="text" autocomplete="name" maxlength="60" />
                    <p class="hint">"Others editing with you see it beside your cursor and your changes."</p>
                </div>
                {move || alert(error.get())}
                <button type="submit">{pick("Create account", "Sign in")}</button>
                <p class="switch muted">
                    {pick("Already have an account?", "New to Duet?")} " "
                    <button type="button" class="link" on:click=handler(toggle)>{pick("Sign in", "Create an account")}</button>
                </p>
            </form>
        </main>
    }
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
    let (saved, error) = (RwSignal::new(false), RwSignal::new(None::<String>));
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
            let result = api::update_me(&next).await;
            saved.set(result.is_ok());
            match result {
                Ok(a) => {
                    me::cache(&a);
                    auth.set(Auth::In(a));
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let list: Vec<Field> = vec![
        (
            "display_name",
            "Display name",
            "text",
            "name",
            start.display_name,
        ),
        ("colour", "Colour", "color", "off", colour),
    ];
    view! {
        <main class="list profile">
            <h1>"Your profile"</h1>
            <form class="card" on:submit=handler(submit)>
                <p class="muted">"Signed in as " <strong>{start.username}</strong></p>
                {fields(list)}
                <label for="discipline">"Discipline"</label>
                <select id="discipline" name="discipline">{options(&DISCIPLINES, &start.discipline)}</select>
                <p class="saved" aria-live="polite">{move || if saved.get() { "Saved." } else { "" }}</p>
                {move || alert(error.get())}
                <button type="submit">"Save"</button>
            </form>
        </main>
    }
    .into_any()
}
