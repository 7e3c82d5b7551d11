//! The editor's Export menu: the spec as a Markdown file (written here from this device's copy, so it works offline too, in the format "New spec from Markdown…" reads back) and print (the print stylesheet shows the spec as a clean document).

use duet_model::SpecView;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::ui::handler;

/// A file name from a title: letters, digits and dashes ("Spec" when nothing is left).
fn file_name(title: &str) -> String {
    let mut name = String::new();
    for c in title.trim().chars() {
        if c.is_alphanumeric() {
            name.extend(c.to_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name
        .trim_end_matches('-')
        .chars()
        .take(80)
        .collect::<String>();
    if name.is_empty() {
        "spec.md".to_owned()
    } else {
        format!("{name}.md")
    }
}

/// Offers `text` as a download named `name`.
fn download(name: &str, text: &str) -> Option<()> {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/markdown;charset=utf-8");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
    let document = web_sys::window()?.document()?;
    let a = document
        .create_element("a")
        .ok()?
        .dyn_into::<web_sys::HtmlElement>()
        .ok()?;
    a.set_attribute("href", &url).ok()?;
    a.set_attribute("download", name).ok()?;
    document.body()?.append_child(&a).ok()?;
    a.click();
    a.remove();
    web_sys::Url::revoke_object_url(&url).ok()
}

#[component]
pub fn ExportMenu(spec: Memo<Option<SpecView>>) -> impl IntoView {
    let open = RwSignal::new(false);
    let markdown = move |_| {
        open.set(false);
        if let Some(view) = spec.get_untracked() {
            let text = duet_model::markdown::export(&view);
            download(&file_name(&view.title), &text);
        }
    };
    let print = move |_| {
        open.set(false);
        if let Some(w) = web_sys::window() {
            let _ = w.print();
        }
    };
    view! {
        <div class="export-menu">
            <button type="button" class="quiet" aria-haspopup="true" aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)>"Export"</button>
            <div class="menu" role="group" aria-label="Export" hidden=move || !open.get()>
                <button type="button" class="quiet" on:click=handler(markdown)>"Download Markdown"</button>
                <button type="button" class="quiet" on:click=handler(print)>"Print…"</button>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn a_file_name_keeps_the_title_s_words() {
        assert_eq!(file_name("CSV exports: Q3 / Q4"), "csv-exports-q3-q4.md");
        assert_eq!(file_name("  "), "spec.md");
        assert_eq!(file_name("Über Café"), "über-café.md");
    }
}
