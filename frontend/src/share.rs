//! Sharing a spec: who has access and with which role (owners add, change and remove people), share links with a role and an expiry, and the `/share/{token}` page that redeems one.

use duet_protocol::DocumentId;
use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};

use crate::api::{self, object, Link, Member, Role};
use crate::list::when;
use crate::me::colour_of;
use crate::route::navigate;
use crate::ui::{alert, avatar, handler, options, value_of};

/// Link lifetimes offered: hours, and words.
const EXPIRIES: [(&str, &str); 3] = [
    ("24", "Expires in 1 day"),
    ("168", "Expires in 7 days"),
    ("720", "Expires in 30 days"),
];

/// Roles to pick from: (stored, words).
const ROLES: [(&str, &str); 3] = [
    ("owner", "Owner"),
    ("editor", "Can edit"),
    ("viewer", "Can view"),
];

/// A change to sharing as the API takes it: method, path under the spec, body; and the
/// form to clear once it is done.
type Change = (&'static str, String, Option<JsValue>, Option<JsValue>);

/// What the panel shows.
#[derive(Debug, Clone, Default)]
struct Panel {
    people: Vec<Member>,
    links: Vec<Link>,
    error: Option<String>,
    /// The full URL of the link just made, to copy.
    fresh: Option<String>,
}

/// The panel's spec and state, cheap to copy into handlers.
#[derive(Clone, Copy)]
struct Share {
    doc: DocumentId,
    owner: bool,
    state: RwSignal<Panel>,
}

impl Share {
    /// Makes `change` (if any), then reads who has access and the links again; a refusal
    /// is shown in the server's words.
    fn run(self, change: Option<Change>) {
        spawn_local(async move {
            let base = format!("/api/specs/{}", self.doc);
            if let Some((method, path, body, form)) = change {
                let done = api::call(method, &format!("{base}{path}"), body).await;
                let link = done.as_ref().ok().and_then(api::link);
                self.state.update(|p| {
                    p.error = done.err().map(|e| e.message);
                    p.fresh = link.map(|l| full(&l.url)).or(p.fresh.take());
                });
                if let Some(f) = form.filter(|_| self.state.with_untracked(|p| p.error.is_none())) {
                    invoke(&f, "reset");
                }
                // The rows are built afresh from what the server says now: a select left
                // showing a refused choice, or rebuilt in place, could show a stale role.
                self.state.update(|p| p.people.clear());
            }
            let people = api::call("GET", &format!("{base}/roles"), None).await;
            let links = match self.owner {
                true => api::call("GET", &format!("{base}/links"), None).await.ok(),
                false => None,
            };
            self.state.update(|p| {
                match people {
                    Ok(v) => p.people = api::members(v),
                    Err(e) => p.error = Some(e.message),
                }
                if let Some(v) = links {
                    p.links = api::links(v);
                }
            });
        });
    }
}

/// A link's path as a full URL of this site.
fn full(path: &str) -> String {
    window().location().origin().unwrap_or_default() + path
}

/// Calls the DOM method `o.name()`.
fn invoke(o: &JsValue, name: &str) {
    if let Ok(f) = Reflect::get(o, &name.into()) {
        let _ = f.unchecked_into::<js_sys::Function>().call0(o);
    }
}

/// The element an event happened on.
fn target(ev: &web_sys::Event) -> Option<web_sys::Element> {
    ev.target()?.dyn_into().ok()
}

/// Who has access to spec `doc` and its share links; changes only for an owner. One
/// handler per kind of event serves the whole panel: each control says what it changes
/// in its `data-` attributes or form names.
#[component]
pub fn SharePanel(doc: DocumentId, owner: bool) -> impl IntoView {
    let s = Share {
        doc,
        owner,
        state: RwSignal::new(Panel::default()),
    };
    let state = s.state;
    s.run(None);
    let click = move |ev: web_sys::MouseEvent| {
        let Some(el) = target(&ev) else { return };
        if let Some(user) = el.get_attribute("data-remove") {
            s.run(Some(("DELETE", format!("/roles/{user}"), None, None)));
        } else if let Some(link) = el.get_attribute("data-revoke") {
            s.run(Some(("DELETE", format!("/links/{link}"), None, None)));
        }
    };
    let change = move |ev: web_sys::Event| {
        let Some(el) = target(&ev) else { return };
        if let Some(user) = el.get_attribute("data-user") {
            let body = object(&[("role", &value_of(&el, None))]);
            s.run(Some(("PUT", format!("/roles/{user}"), Some(body), None)));
        }
    };
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev.target() else { return };
        let role = value_of(&form, Some("role"));
        let hours = value_of(&form, Some("hours"));
        let body = object(&[("role", &role)]);
        let change = if let Ok(h) = hours.parse::<u32>() {
            let _ = Reflect::set(&body, &"expires_in_hours".into(), &h.into());
            ("POST", "/links".to_owned(), Some(body), None)
        } else {
            let user = value_of(&form, Some("username")).trim().to_owned();
            if user.is_empty() {
                return;
            }
            (
                "PUT",
                format!("/roles/{user}"),
                Some(body),
                Some(form.into()),
            )
        };
        s.run(Some(change));
    };
    // A link's field selects itself, ready to copy.
    let focus = move |ev: web_sys::FocusEvent| {
        if let Some(el) = target(&ev).filter(|el| el.has_attribute("readonly")) {
            invoke(&el, "select");
        }
    };
    let links = move || {
        view! {
            <h3>"Share links"</h3>
            <p class="muted small">"Anyone with an account who opens a link gets its role on this spec."</p>
            <form class="share-form">
                <select name="role" aria-label="Link role">{options(&ROLES[1..], "editor")}</select>
                <select name="hours" aria-label="Link expires after">{options(&EXPIRIES, "168")}</select>
                <button type="submit">"Create link"</button>
            </form>
            {move || state.with(|p| p.fresh.clone()).map(|url| view! {
                <label class="fresh">"New link — copy it and send it:"
                    <input type="text" readonly class="link-url" aria-label="New share link" prop:value=url />
                </label>
            }).into_any()}
            <ul class="links">{move || state.with(|p| p.links.iter().map(link_row).collect_view())}</ul>
        }
    };
    view! {
        <section class="share" aria-label="Sharing"
            on:click=handler(click) on:change=handler(change) on:submit=handler(submit) on:focusin=focus>
            <h3>"People with access"</h3>
            <ul class="members">
                {move || state.with(|p| p.people.iter().map(|m| member_row(owner, m)).collect_view())}
            </ul>
            {owner.then(|| view! {
                <form class="share-form">
                    <input type="text" name="username" aria-label="Username to add" placeholder="Username"
                        autocapitalize="none" spellcheck="false" />
                    <select name="role" aria-label="Their role">{options(&ROLES, "editor")}</select>
                    <button type="submit">"Add"</button>
                </form>
            })}
            {move || alert(state.with(|p| p.error.clone()))}
            {owner.then(links)}
        </section>
    }
}

fn member_row(owner: bool, m: &Member) -> impl IntoView {
    let name = if m.display_name.trim().is_empty() {
        m.username.clone()
    } else {
        m.display_name.clone()
    };
    let colour = if m.colour.is_empty() {
        colour_of(&m.username).to_owned()
    } else {
        m.colour.clone()
    };
    let user = m.username.clone();
    let role = owner.then(|| m.role.map(Role::label));
    view! {
        <li class="member" data-username=user.clone()>
            {avatar(&name, &colour)}
            <span class="person-name">{name}</span>
            <span class="muted">"@" {user.clone()}</span>
            <span class="spacer"></span>
            {match role {
                None => view! { <span class="role">{m.role.map(Role::label)}</span> }.into_any(),
                Some(_) => view! {
                    <select data-user=user.clone() aria-label=format!("Role of {user}")>
                        {options(&ROLES, m.role.map_or("", Role::as_str))}
                    </select>
                    <button type="button" class="icon danger" data-remove=user.clone()
                        aria-label=format!("Remove {user}") title="Remove">"×"</button>
                }.into_any(),
            }}
        </li>
    }
}

fn link_row(l: &Link) -> impl IntoView {
    let now = js_sys::Date::now();
    let live = !l.revoked && l.expires_at >= now;
    let state = match (l.revoked, live) {
        (true, _) => "revoked".to_owned(),
        (false, true) => format!("expires {}", when(l.expires_at)),
        (false, false) => format!("expired {}", when(l.expires_at)),
    };
    view! {
        <li class="link" class:dead=!live>
            <input type="text" readonly class="link-url" aria-label="Share link" prop:value=full(&l.url) />
            <span class="muted small">{l.role.map(Role::label)} " · " {state}</span>
            {live.then(|| view! { <button type="button" class="small danger" data-revoke=l.id.clone()>"Revoke"</button> })}
        </li>
    }
}

/// `/share/{token}`: redeems the link, then opens its spec (the link leaves the history).
#[component]
pub fn Redeem(token: String) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    spawn_local(async move {
        match api::redeem(&token).await {
            Ok(spec) => navigate(&format!("/specs/{spec}"), true),
            Err(e) => error.set(Some(e.message)),
        }
    });
    view! {
        <main class="list">
            {move || match error.get() {
                None => view! { <p class="muted">"Opening the shared spec…"</p> }.into_any(),
                Some(e) => view! {
                    <h1>"This share link cannot be used"</h1>
                    <p class="error" role="alert">{e}</p>
                    <p>"Ask the spec's owner for a new link, or go back to " <a href="/">"your specs"</a> "."</p>
                }.into_any(),
            }}
        </main>
    }
}
