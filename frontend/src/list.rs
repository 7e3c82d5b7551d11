//! The spec list: every spec the person has a role on, with its title, last update, who edited it and their role, plus the specs kept on this device that the server does not have yet; create a new one (here first, then on the server).

use duet_model::signoff::SignCounts;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api::{self, Role, SpecSummary};
use crate::net::Connection;
use crate::store::{self, Record};
use crate::ui::{alert, handler};

/// One row of the list.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: String,
    title: String,
    updated: f64,
    authors: Vec<String>,
    /// Kept on this device, not (yet) known to be on the server.
    here_only: bool,
    role: Option<Role>,
    /// Stories signed, partly signed, stale, done, of how many.
    signs: SignCounts,
}

/// What the list shows: the server's specs and this device's, or this device's alone (with
/// the reason) when the server cannot be reached.
fn rows(
    server: Result<Vec<SpecSummary>, String>,
    kept: Vec<Record>,
) -> Result<(Vec<Row>, Option<String>), String> {
    let kept_row = |r: Record| Row {
        id: r.doc,
        title: r.title,
        updated: r.updated,
        authors: Vec::new(),
        here_only: true,
        role: None,
        signs: SignCounts::default(),
    };
    let (mut list, note) = match server {
        Ok(specs) => {
            let mut list: Vec<Row> = specs
                .into_iter()
                .map(|s| Row {
                    id: s.id,
                    title: s.title,
                    updated: s.updated_at,
                    authors: s.authors,
                    here_only: false,
                    role: s.role,
                    signs: s.signs,
                })
                .collect();
            // Created here and not yet acknowledged: the server may not list it yet.
            let extra: Vec<Row> = kept
                .into_iter()
                .filter(|r| r.local && !list.iter().any(|s| s.id == r.doc))
                .map(kept_row)
                .collect();
            list.extend(extra);
            (list, None)
        }
        Err(_) if !kept.is_empty() => (
            kept.into_iter().map(kept_row).collect(),
            Some(
                "The server cannot be reached: these are the specs kept on this device.".to_owned(),
            ),
        ),
        Err(e) => return Err(e),
    };
    // Newest first (unstable: the smaller sort, and ties need no order).
    list.sort_unstable_by(|a, b| b.updated.total_cmp(&a.updated));
    Ok((list, note))
}

/// "25 Nov 2026, 09:12" in the reader's locale.
pub(crate) fn when(ms: f64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

#[component]
pub fn SpecList() -> impl IntoView {
    let conn = expect_context::<StoredValue<Connection, LocalStorage>>();
    // Read again whenever a spec kept here changes (created, acknowledged by the server).
    let kept = conn.get_value().kept();
    let specs = LocalResource::new(move || {
        kept.track();
        async {
            // The device first: a spec created here is either still marked as not on the
            // server, or the server has it by the time the list is asked for.
            let kept = store::records().await.unwrap_or_default();
            let server = api::list_specs().await.map_err(|e| e.message);
            rows(server, kept)
        }
    });
    // Read again when the server says a spec on the list changed (an edit, a sign-off, a
    // share): the counts stay live while the list is open.
    live(move || specs.refetch());
    let (title, set_title) = signal(String::new());
    let create = Action::new_local(move |title: &String| {
        let title = match title.trim() {
            "" => "Untitled spec".to_owned(),
            t => t.to_owned(),
        };
        let conn = conn.get_value();
        async move { conn.create(&title).await }
    });
    // A created spec opens at once (it is kept here first, then sent).
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            set_title.set(String::new());
            crate::route::navigate(&format!("/specs/{id}"), false);
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
                <form class="new-spec" on:submit=handler(submit)>
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
                Some(Err(e)) => alert(Some(e)).into_any(),
                _ => ().into_any(),
            }}
            // Read again in place: the rows stay while the list is being read again.
            {move || match specs.get() {
                None => view! { <p class="muted">"Loading specs…"</p> }.into_any(),
                Some(Err(e)) => alert(Some(e)).into_any(),
                Some(Ok((list, _))) if list.is_empty() => view! {
                    <p class="muted">"No specs yet. Give the first one a title above."</p>
                }.into_any(),
                Some(Ok((list, note))) => view! {
                    {note.map(|n| view! { <p class="notice" role="note">{n}</p> })}
                    <SpecRows specs=list />
                }.into_any(),
            }}
        </main>
    }
}

/// Calls `changed` on each `changed` event of `GET /api/specs/events` while the list is
/// shown; the browser's `EventSource` reconnects by itself after a drop.
fn live(changed: impl Fn() + 'static) {
    let Ok(source) = web_sys::EventSource::new("/api/specs/events") else {
        return;
    };
    let on_changed = Closure::<dyn Fn()>::new(changed);
    let _ = source.add_event_listener_with_callback("changed", on_changed.as_ref().unchecked_ref());
    let kept = StoredValue::new_local((source, on_changed));
    on_cleanup(move || kept.with_value(|(source, _)| source.close()));
}

/// "3 of 5 stories done · 1 signed, 1 stale", or nothing for a spec without stories.
fn counts_line(c: &SignCounts) -> Option<String> {
    if c.stories == 0 {
        return None;
    }
    let story = if c.stories == 1 { "story" } else { "stories" };
    let mut parts = vec![format!("{} of {} {story} done", c.done, c.stories)];
    if c.signed > 0 {
        parts.push(format!("{} signed", c.signed));
    }
    if c.partly > 0 {
        parts.push(format!("{} partly signed", c.partly));
    }
    if c.stale > 0 {
        parts.push(format!("{} stale", c.stale));
    }
    Some(parts.join(", "))
}

#[component]
fn SpecRows(specs: Vec<Row>) -> impl IntoView {
    view! {
        <ul class="specs">
            {specs.into_iter().map(|spec| {
                let title = if spec.title.trim().is_empty() {
                    "Untitled spec".to_owned()
                } else {
                    spec.title.clone()
                };
                let authors = spec.authors.join(", ");
                let has_stale = spec.signs.stale > 0;
                let signs = counts_line(&spec.signs).map(|line| {
                    view! { " · " <span class="signs" class:has-stale=has_stale>{line}</span> }
                });
                view! {
                    <li class="spec" data-id=spec.id.clone()>
                        <a class="spec-title" href=format!("/specs/{}", spec.id)>{title}</a>
                        <span class="spec-meta">
                            "Updated " <time>{when(spec.updated)}</time>
                            {(!authors.is_empty()).then(|| view! { " · by " <span class="authors">{authors}</span> })}
                            {spec.here_only.then(|| view! { " · " <span class="here-only">"on this device"</span> })}
                            {spec.role.filter(|r| *r != Role::Owner).map(|r| view! { " · " <span class="role">{r.label()}</span> })}
                            {signs}
                        </span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[cfg(test)]
mod tests {
    use super::{counts_line, rows, Record, SignCounts, SpecSummary};

    fn summary(id: &str, updated_at: f64) -> SpecSummary {
        SpecSummary {
            id: id.into(),
            title: id.into(),
            updated_at,
            authors: vec!["ada".into()],
            role: None,
            signs: SignCounts::default(),
        }
    }

    fn kept(doc: &str, local: bool, updated: f64) -> Record {
        Record {
            doc: doc.into(),
            title: doc.into(),
            updated,
            local,
            ..Record::default()
        }
    }

    fn ids(r: Result<(Vec<super::Row>, Option<String>), String>) -> Vec<(String, bool)> {
        let (list, _) = r.expect("a list");
        list.into_iter().map(|r| (r.id, r.here_only)).collect()
    }

    #[test]
    fn a_spec_created_here_is_listed_whether_or_not_the_server_lists_it_yet() {
        // The server has not got it yet: listed as on this device.
        let early = rows(Ok(vec![summary("a", 1.0)]), vec![kept("new", true, 5.0)]);
        assert_eq!(ids(early), [("new".into(), true), ("a".into(), false)]);
        // The server has it: listed once, as the server's.
        let later = rows(
            Ok(vec![summary("a", 1.0), summary("new", 6.0)]),
            vec![kept("new", true, 5.0)],
        );
        assert_eq!(ids(later), [("new".into(), false), ("a".into(), false)]);
        // Specs merely kept here (opened before) come from the server's list only.
        let opened = rows(Ok(vec![]), vec![kept("old", false, 2.0)]);
        assert_eq!(ids(opened), []);
    }

    #[test]
    fn without_the_server_the_device_s_specs_are_listed_with_the_reason() {
        let (list, note) = rows(Err("down".into()), vec![kept("old", false, 2.0)]).expect("a list");
        assert_eq!(list.len(), 1);
        assert!(note.is_some_and(|n| n.contains("cannot be reached")));
        assert_eq!(rows(Err("down".into()), vec![]), Err("down".into()));
    }

    #[test]
    fn the_list_says_how_many_stories_are_done_of_how_many() {
        let counts = SignCounts {
            signed: 2,
            stale: 1,
            done: 1,
            stories: 5,
            ..SignCounts::default()
        };
        assert_eq!(
            counts_line(&counts).as_deref(),
            Some("1 of 5 stories done, 2 signed, 1 stale")
        );
        let one = SignCounts {
            stories: 1,
            ..SignCounts::default()
        };
        assert_eq!(counts_line(&one).as_deref(), Some("0 of 1 story done"));
        assert_eq!(counts_line(&SignCounts::default()), None);
    }
}
