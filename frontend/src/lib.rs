//! The Duet browser app: a Leptos client-side app compiled to wasm32 and served by `duet serve`.

mod account;
pub mod api;
mod editor;
mod export;
mod history;
mod list;
pub mod me;
mod net;
mod people;
mod review;
mod route;
mod share;
mod signoff;
mod store;
mod text;
mod ui;
mod undo;

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

pub use duet_model;

use crate::api::Account;
use crate::route::Page;
use crate::ui::handler;

/// This tab's peer id: random per page load.
fn tab_peer_id() -> duet_protocol::PeerId {
    let n = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    duet_protocol::PeerId::new(&format!("browser-{n:08x}")).unwrap_or_else(|_| {
        duet_protocol::PeerId::new("browser").expect("a valid constant peer id")
    })
}

/// Who is signed in, as the app knows it (provided as context).
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// Asking the server, with no account kept in this browser.
    Checking,
    /// Nobody: the sign-in page, with a note on why (session ended, server unreachable).
    Out(Option<String>),
    /// Signed in (or, offline, the account last signed in here).
    In(Account),
}

#[component]
fn App() -> impl IntoView {
    // The account kept here starts the app at once (offline too); the server has the last word.
    let cached = me::cached();
    let auth = RwSignal::new(cached.clone().map_or(Auth::Checking, Auth::In));
    provide_context(auth);
    spawn_local(async move {
        match api::me().await {
            Ok(a) => {
                me::cache(&a);
                auth.set(Auth::In(a));
            }
            Err(e) if e.status == 401 => {
                me::forget();
                let note = cached.map(|_| "Your session has ended. Please sign in again.".into());
                auth.set(Auth::Out(note));
            }
            // Unreachable: go on as the account kept here, if any.
            Err(e) if cached.is_none() => auth.set(Auth::Out(Some(e.message))),
            Err(_) => {}
        }
    });
    // The page changes only when the person does (not when their name does).
    let gate = Memo::new(move |_| match auth.get() {
        Auth::Checking => None,
        Auth::Out(note) => Some(Err(note)),
        Auth::In(a) => Some(Ok(a.username)),
    });
    move || match gate.get() {
        None => {
            view! { <main class="welcome"><p class="muted">"Opening Duet…"</p></main> }.into_any()
        }
        Some(Err(note)) => view! { <account::SignIn note=note /> }.into_any(),
        Some(Ok(_)) => view! { <Shell /> }.into_any(),
    }
}

#[component]
fn Shell() -> impl IntoView {
    let auth = expect_context::<RwSignal<Auth>>();
    let account = move || match auth.get() {
        Auth::In(a) => Some(a),
        _ => None,
    };
    // The app shows the shell only to someone signed in (see `App`).
    let Some(person) = account().as_ref().and_then(me::Me::of) else {
        return view! { <main class="welcome"><p class="error" role="alert">"This account cannot be used here."</p></main> }.into_any();
    };
    store::use_account(person.user.as_str());
    let problem = RwSignal::new(None::<String>);
    let signed_out: Rc<dyn Fn()> = Rc::new(move || {
        me::forget();
        auth.try_set(Auth::Out(Some(
            "Your session has ended. Please sign in again.".into(),
        )));
    });
    let (connection, status, pending) =
        net::Connection::start(tab_peer_id(), person, signed_out, problem);
    // Pages reach the connection through the context (the editor syncs its spec on it).
    let conn = StoredValue::new_local(connection);
    provide_context(conn);
    provide_context(status);
    on_cleanup(move || conn.get_value().stop());
    // A new display name or colour: what this tab announces from now on.
    Effect::new(move |_| {
        if let Some(p) = account().as_ref().and_then(me::Me::of) {
            conn.get_value().set_person(p);
        }
    });
    let sign_out = move |_| {
        spawn_local(async move {
            let kept = store::records().await.unwrap_or_default();
            let unsent = pending.get_untracked() > 0 || kept.iter().any(|r| r.pending || r.local);
            let sure = || {
                window()
                    .confirm_with_message(
                        "Some of your edits have not reached the server yet. Signing out deletes them from this browser. Sign out anyway?",
                    )
                    .unwrap_or(false)
            };
            if unsent && !sure() {
                return;
            }
            match api::sign_out().await {
                Err(e) if e.status != 401 => {
                    problem.set(Some(format!("Could not sign out: {e}")));
                }
                _ => {
                    conn.get_value().stop();
                    store::wipe().await;
                    me::forget();
                    // Start afresh: nothing of this person stays in memory either.
                    let _ = window().location().assign("/");
                }
            }
        });
    };
    view! {
        <nav class="top">
            <a class="brand" href="/">"Duet"</a>
            <span class="spacer"></span>
            <net::ConnectionStatus status=status pending=pending places=conn.get_value().unsent_places() />
            <a class="account" href="/me" title="Your profile">
                {move || account().map(|a| a.name().to_owned())}
            </a>
            <button type="button" class="quiet" on:click=handler(sign_out)>"Sign out"</button>
        </nav>
        <p class="banner error" role="alert" hidden=move || problem.with(Option::is_none)>
            {move || problem.get()}
            <button type="button" class="icon" aria-label="Dismiss" on:click=handler(move |_| problem.set(None))>"×"</button>
        </p>
        <route::Pages render=page />
    }
    .into_any()
}

fn page(p: Page) -> AnyView {
    match p {
        Page::List => view! { <list::SpecList /> }.into_any(),
        Page::Spec(id) => view! { <editor::EditorPage id=id /> }.into_any(),
        Page::Profile => view! { <account::Profile /> }.into_any(),
        Page::Share(token) => view! { <share::Redeem token=token /> }.into_any(),
        Page::Missing => {
            view! { <main class="list"><p>"There is no such page."</p></main> }.into_any()
        }
    }
}

/// Entry point called by the wasm-bindgen glue when the module loads.
#[cfg(feature = "app")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    // A panic aborts the module (panic = "abort"); say why in the console first.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("Duet stopped: {info}").into());
    }));
    leptos::mount::mount_to_body(App);
}
