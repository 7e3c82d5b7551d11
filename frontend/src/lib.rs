//! The Duet browser app: a Leptos client-side app compiled to wasm32 and served by `duet serve`.

mod api;
mod list;

use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;

pub use duet_model;

#[component]
fn App() -> impl IntoView {
    view! {
        <nav class="top">
            <a class="brand" href="/">"Duet"</a>
        </nav>
        <list::SpecList />
    }
}

/// Entry point called by the wasm-bindgen glue when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(App);
}
