//! Accounts in the page: the sign-in page (with sign-up) and the profile page (`/me`: display name, colour, discipline).

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::api::{self, Account};
use crate::list::when;
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
        let discipline = value("discipline");
        let new = new.get_untracked();
        spawn_local(async move {
            match api::sign_in(new, user.trim(), &pass, name.trim(), &discipline).await {
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
                    <label for="signup-discipline">"Discipline"</label>
                    <select id="signup-discipline" name="discipline" aria-describedby="discipline-why">
                        {options(&DISCIPLINES, "product")}
                    </select>
                    <p class="hint" id="discipline-why">{DISCIPLINE_WHY}</p>
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

/// Why the profile asks for a discipline.
const DISCIPLINE_WHY: &str = "Decides which sign-off you can give: product and engineering sign every story, design may; other gives none.";

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
                <p class="muted">"Signed in as " <strong>{format!("@{}", start.username)}</strong>
                    " — others add you to specs by it; everywhere else you are your display name."</p>
                {fields(list)}
                <label for="discipline">"Discipline"</label>
                <select id="discipline" name="discipline" aria-describedby="discipline-why">{options(&DISCIPLINES, &start.discipline)}</select>
                <p class="hint" id="discipline-why">{DISCIPLINE_WHY}</p>
                <p class="saved" aria-live="polite">{move || if saved.get() { "Saved." } else { "" }}</p>
                {move || alert(error.get())}
                <button type="submit">"Save"</button>
            </form>
            <Password />
            <Tokens />
        </main>
    }
    .into_any()
}

/// Changing one's password: every other session ends.
#[component]
fn Password() -> impl IntoView {
    let (done, error) = (RwSignal::new(false), RwSignal::new(None::<String>));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev.target() else { return };
        let value = |name| value_of(&form, Some(name));
        let (current, new, again) = (value("current"), value("new"), value("again"));
        done.set(false);
        if new != again {
            error.set(Some("The two new passwords differ.".into()));
            return;
        }
        let form = form.dyn_into::<web_sys::HtmlFormElement>().ok();
        spawn_local(async move {
            match api::change_password(&current, &new).await {
                Ok(()) => {
                    error.set(None);
                    done.set(true);
                    if let Some(f) = form {
                        f.reset();
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="card password" on:submit=handler(submit) aria-labelledby="password-h">
            <h2 id="password-h">"Password"</h2>
            <label for="current-password">"Current password"</label>
            <input id="current-password" name="current" type="password" autocomplete="current-password" />
            <label for="new-password">"New password"</label>
            <input id="new-password" name="new" type="password" autocomplete="new-password" />
            <label for="again-password">"New password again"</label>
            <input id="again-password" name="again" type="password" autocomplete="new-password" />
            <p class="hint">"At least 8 characters. Every other browser signed in as you is signed out."</p>
            <p class="saved" aria-live="polite">{move || if done.get() { "Password changed." } else { "" }}</p>
            {move || alert(error.get())}
            <button type="submit">"Change password"</button>
        </form>
    }
}

/// One's API tokens (for scripts): listed by name, made (shown once), revoked.
#[component]
fn Tokens() -> impl IntoView {
    let list = LocalResource::new(api::tokens);
    let made = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev.target() else { return };
        let name = value_of(&form, Some("token_name"));
        spawn_local(async move {
            match api::create_token(name.trim()).await {
                Ok(token) => {
                    made.set(Some(token));
                    error.set(None);
                    list.refetch();
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let revoke = move |id: String| {
        spawn_local(async move {
            match api::revoke_token(&id).await {
                Ok(()) => list.refetch(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section class="card tokens" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"API tokens"</h2>
            <p class="hint">"For scripts: send one as " <code>"Authorization: Bearer …"</code> ". Anyone holding it acts as you."</p>
            {move || match list.get() {
                None => view! { <p class="muted">"Reading your tokens…"</p> }.into_any(),
                Some(Err(e)) => alert(Some(e.message)).into_any(),
                Some(Ok(tokens)) if tokens.is_empty() => view! { <p class="muted">"No tokens."</p> }.into_any(),
                Some(Ok(tokens)) => view! {
                    <ul class="token-list">
                        {tokens.into_iter().map(|t| {
                            let name = if t.name.is_empty() { "Unnamed token".to_owned() } else { t.name.clone() };
                            let made = if t.created_at > 0.0 { format!("made {}, ", when(t.created_at)) } else { String::new() };
                            let label = format!("Revoke {name}");
                            let id = t.id.clone();
                            view! {
                                <li>
                                    <strong>{name}</strong>
                                    <span class="muted">{format!(" — {made}expires {}", when(t.expires_at))}</span>
                                    " "
                                    <button type="button" class="quiet" aria-label=label
                                        on:click=handler(move |_| revoke(id.clone()))>"Revoke"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            {move || made.get().map(|token| view! {
                <p class="notice" aria-live="polite">"Your new token (copy it now, it is not shown again): "
                    <code class="new-token">{token}</code></p>
            })}
            <form class="new-token-form" on:submit=handler(create)>
                <label for="token-name">"Name of a new token"</label>
                <input id="token-name" name="token_name" type="text" maxlength="60" placeholder="CI export" />
                <button type="submit">"Make token"</button>
            </form>
            {move || alert(error.get())}
        </section>
    }
}
