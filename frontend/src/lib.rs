//! The Duet browser app: a Leptos client-side app compiled to wasm32 and served by `duet serve`.

mod api;
mod editor;
mod list;
mod me;
mod net;
mod review;
mod route;
mod store;
mod text;

use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;

pub use duet_model;

/// This tab's peer id: random per page load.
fn tab_peer_id() -> duet_protocol::PeerId {
    let n = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    duet_protocol::PeerId::new(&format!("browser-{n:08x}")).unwrap_or_else(|_| {
        duet_protocol::PeerId::new("browser").expect("a valid constant peer id")
    })
}

#[component]
fn App() -> impl IntoView {
    // The first visit asks for a name; after that the app starts at once.
    let (person, set_person) = signal(me::remembered());
    move || match person.get() {
        None => view! { <me::NamePrompt on_done=set_person /> }.into_any(),
        Some(me) => view! { <Shell me=me /> }.into_any(),
    }
}

#[component]
fn Shell(me: me::Me) -> impl IntoView {
    let (connection, status, pending) = net::Connection::start(tab_peer_id(), me);
    // Pages reach the connection through the context (the editor syncs its spec on it).
    provide_context(StoredValue::new_local(connection));
    view! {
        <nav class="top">
            <a class="brand" href="/">"Duet"</a>
            <span class="spacer"></span>
            <net::ConnectionStatus status=status pending=pending />
        </nav>
        <route::Pages
            list=|| view! { <list::SpecList /> }.into_any()
            spec=|id| view! { <editor::EditorPage id=id /> }.into_any()
            missing=|| view! { <main class="list"><p>"There is no such page."</p></main> }.into_any()
        />
    }
}

/// Entry point called by the wasm-bindgen glue when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    // A panic aborts the module (panic = "abort"); say why in the console first.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("Duet stopped: {info}").into());
    }));
    leptos::mount::mount_to_body(App);
}
