//! The app's pages by path, without a router crate: the path as a signal, same-origin link clicks turned into history entries, back and forward followed, `navigate` for the app itself.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The pages of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `/`: every spec.
    List,
    /// `/specs/{id}`: one spec's editor (the id is checked by the editor).
    Spec(String),
    /// `/me`: the signed-in person's profile.
    Profile,
    /// `/share/{token}`: a share link, redeemed then followed to its spec.
    Share(String),
    /// Any other path.
    Missing,
}

impl Page {
    /// The page a path names (`path` without query or fragment).
    pub fn of(path: &str) -> Page {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let tail = |prefix: &str| {
            path.strip_prefix(prefix)
                .filter(|t| !t.is_empty() && !t.contains('/'))
                .map(str::to_owned)
        };
        match path {
            "/" => Page::List,
            "/me" => Page::Profile,
            _ => tail("/specs/")
                .map(Page::Spec)
                .or_else(|| tail("/share/").map(Page::Share))
                .unwrap_or(Page::Missing),
        }
    }
}

fn current_path() -> String {
    window()
        .location()
        .pathname()
        .unwrap_or_else(|_| "/".into())
}

/// Whether a click on `a` is one the app follows itself: a plain primary-button click on
/// a same-origin link that opens in this tab. Returns the path to show.
fn followed_here(e: &web_sys::MouseEvent) -> Option<String> {
    if e.default_prevented()
        || e.button() != 0
        || e.meta_key()
        || e.ctrl_key()
        || e.shift_key()
        || e.alt_key()
    {
        return None;
    }
    let target = e.target()?.dyn_into::<web_sys::Element>().ok()?;
    let link = target.closest("a[href]").ok()??;
    let opens_elsewhere = link
        .get_attribute("target")
        .is_some_and(|t| !t.is_empty() && t != "_self");
    if opens_elsewhere || link.has_attribute("download") {
        return None;
    }
    let href = js_sys::Reflect::get(&link, &"href".into())
        .ok()?
        .as_string()?;
    let url = web_sys::Url::new(&href).ok()?;
    let here = window().location();
    (url.origin() == here.origin().ok()?).then(|| url.pathname() + &url.search() + &url.hash())
}

/// Shows `to` (a path of this app): a new history entry, or in place of the current one
/// when `replace`.
pub fn navigate(to: &str, replace: bool) {
    if let Ok(history) = window().history() {
        let null = wasm_bindgen::JsValue::NULL;
        let _ = if replace {
            history.replace_state_with_url(&null, "", Some(to))
        } else {
            history.push_state_with_url(&null, "", Some(to))
        };
    }
    // `Pages` follows the path on popstate.
    if let Ok(e) = web_sys::Event::new("popstate") {
        let _ = window().dispatch_event(&e);
    }
}

/// The page for the current path, kept in step with link clicks and the history.
#[component]
pub fn Pages(render: fn(Page) -> AnyView) -> impl IntoView {
    let path = RwSignal::new(current_path());
    let click = window_event_listener(ev::click, move |e| {
        let Some(to) = followed_here(&e) else {
            return;
        };
        e.prevent_default();
        if let Ok(history) = window().history() {
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&to));
        }
        path.set(current_path());
        window().scroll_to_with_x_and_y(0.0, 0.0);
    });
    let back = window_event_listener(ev::popstate, move |_| path.set(current_path()));
    on_cleanup(move || {
        click.remove();
        back.remove();
    });
    let page = Memo::new(move |_| Page::of(&path.get()));
    move || render(page.get())
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn paths_name_their_pages() {
        assert_eq!(Page::of("/"), Page::List);
        assert_eq!(Page::of(""), Page::Missing);
        assert_eq!(Page::of("/specs/abc"), Page::Spec("abc".into()));
        assert_eq!(Page::of("/specs/abc/"), Page::Spec("abc".into()));
        assert_eq!(Page::of("/specs/"), Page::Missing);
        assert_eq!(Page::of("/specs/a/b"), Page::Missing);
        assert_eq!(Page::of("/nowhere"), Page::Missing);
        assert_eq!(Page::of("/me"), Page::Profile);
        assert_eq!(Page::of("/share/tok.en"), Page::Share("tok.en".into()));
        assert_eq!(Page::of("/share/"), Page::Missing);
    }
}
