//! The spec list: every spec with its title, last update and who edited it; create a new one.

use leptos::prelude::*;

use crate::api::{self, SpecSummary};

/// "25 Nov 2026, 09:12" in the reader's locale.
fn when(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

#[component]
pub fn SpecList() -> impl IntoView {
    let specs = LocalResource::new(api::list_specs);
    let (title, set_title) = signal(String::new());
    let create = Action::new_local(|title: &String| {
        let title = title.trim().to_owned();
        async move { api::create_spec(&title).await }
    });
    // A created spec shows up at once.
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            set_title.set(String::new());
            specs.refetch();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(title.get_untracked());
    };
    view! {
        <main class="list">
            <header class="list-head">
                <h1>"Specs"</h1>
                <form class="new-spec" on:submit=submit>
                    <label for="new-title" class="visually-hidden">"Title of the new spec"</label>
                    <input
                        id="new-title"
                        type="text"
                        placeholder="Title of a new spec"
                        maxlength="1000"
                        prop:value=title
                        on:input=move |ev| set_title.set(event_target_value(&ev))
                    />
                    <button type="submit" disabled=move || create.pending().get()>"New spec"</button>
                </form>
            </header>
            {move || match create.value().get() {
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                _ => ().into_any(),
            }}
            <Suspense fallback=|| view! { <p class="muted">"Loading specs…"</p> }>
                {move || specs.get().map(|result| match result {
                    Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted">"No specs yet. Give the first one a title above."</p>
                    }.into_any(),
                    Ok(list) => view! { <SpecRows specs=list /> }.into_any(),
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn SpecRows(specs: Vec<SpecSummary>) -> impl IntoView {
    view! {
        <ul class="specs">
            {specs.into_iter().map(|spec| {
                let title = if spec.title.trim().is_empty() {
                    "Untitled spec".to_owned()
                } else {
                    spec.title.clone()
                };
                let authors = spec.authors.join(", ");
                view! {
                    <li class="spec" data-id=spec.id.clone()>
                        <a class="spec-title" href=format!("/specs/{}", spec.id)>{title}</a>
                        <span class="spec-meta">
                            "Updated " <time>{when(spec.updated_at)}</time>
                            {(!authors.is_empty()).then(|| view! { " · by " <span class="authors">{authors}</span> })}
                        </span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
