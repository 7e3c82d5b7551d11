//! The spec list: every spec the person has a role on, with its title, last update, who edited it and their role, plus the specs kept on this device that the server does not have yet; create a new one (here first, then on the server).

use duet_model::signoff::SignCounts;
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;
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
    archived: bool,
    /// When its owner deleted it (Unix ms), 0 if not.
    deleted_at: f64,
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
        archived: false,
        deleted_at: 0.0,
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
                    archived: s.archived,
                    deleted_at: s.deleted_at,
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

/// The device's own specs that belong in the list being shown: none under a filter, and
/// those whose title holds the search.
fn narrow(kept: Vec<Record>, q: &str, filter: &str) -> Vec<Record> {
    if !filter.is_empty() {
        return Vec::new();
    }
    let q = q.trim().to_lowercase();
    kept.into_iter()
        .filter(|r| q.is_empty() || r.title.to_lowercase().contains(&q))
        .collect()
}

const FILTERS: [(&str, &str); 5] = [
    ("", "All specs"),
    ("mine", "Mine"),
    ("shared", "Shared with me"),
    ("archived", "Archived"),
    ("deleted", "Deleted (30 days)"),
];

/// What the list says after an owner's action, with the id to undelete if it was one.
#[derive(Clone, PartialEq)]
struct Note {
    text: String,
    undo: Option<String>,
}

#[component]
pub fn SpecList() -> impl IntoView {
    let conn = expect_context::<StoredValue<Connection, LocalStorage>>();
    // Read again whenever a spec kept here changes (created, acknowledged by the server).
    let kept = conn.get_value().kept();
    let query = RwSignal::new(String::new());
    let filter = RwSignal::new(String::new());
    let specs = LocalResource::new(move || {
        kept.track();
        let (q, f) = (query.get(), filter.get());
        async move {
            // The device first: a spec created here is either still marked as not on the
            // server, or the server has it by the time the list is asked for.
            let kept = narrow(store::records().await.unwrap_or_default(), &q, &f);
            let server = api::list_specs(q.trim(), &f).await.map_err(|e| e.message);
            rows(server, kept)
        }
    });
    // Read again when the server says a spec on the list changed (an edit, a sign-off, a
    // share): the counts stay live while the list is open.
    live(move || specs.refetch());
    let note = RwSignal::new(None::<Note>);
    provide_context(Editing {
        which: RwSignal::new(None),
        draft: RwSignal::new(String::new()),
    });
    // Drawn again only when what the list shows changed (a refetch with the same answer
    // leaves the rows, their focus and what is being typed, alone).
    let shown = Memo::new(move |_| specs.get());
    let (title, set_title) = signal(String::new());
    let create = Action::new_local(move |title: &String| {
        let title = match title.trim() {
            "" => "Untitled spec".to_owned(),
            t => t.to_owned(),
        };
        let conn = conn.get_value();
        async move { conn.create(&title).await }
    });
    let import = Action::new_local(move |file: &SendWrapper<web_sys::File>| {
        let text = file.text();
        let conn = conn.get_value();
        async move {
            let text = wasm_bindgen_futures::JsFuture::from(text)
                .await
                .ok()
                .and_then(|t| t.as_string())
                .ok_or_else(|| "This file cannot be read.".to_owned())?;
            conn.import_markdown(&text).await
        }
    });
    // A created or imported spec opens at once (it is kept here first, then sent).
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            set_title.set(String::new());
            crate::route::navigate(&format!("/specs/{id}"), false);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(id)) = import.value().get() {
            crate::route::navigate(&format!("/specs/{id}"), false);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(title.get_untracked());
    };
    let picked = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            import.dispatch(SendWrapper::new(file));
        }
        // The same file can be picked again after fixing it.
        input.set_value("");
    };
    let undo = move |id: String| {
        spawn_local(async move {
            match api::undelete_spec(&id).await {
                Ok(()) => note.set(Some(Note {
                    text: "Brought back.".into(),
                    undo: None,
                })),
                Err(e) => note.set(Some(Note {
                    text: e.message,
                    undo: None,
                })),
            }
            specs.refetch();
        });
    };
    let changed = Callback::new(move |n: Note| {
        note.set(Some(n));
        specs.refetch();
    });
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
                    <input id="import-md" class="visually-hidden" type="file"
                        accept=".md,.markdown,text/markdown,text/plain" on:change=handler(picked) />
                    <label class="button quiet" for="import-md">"New spec from Markdown…"</label>
                </form>
            </header>
            <div class="list-tools" role="search">
                <label for="spec-search" class="visually-hidden">"Search specs"</label>
                <input id="spec-search" type="search" placeholder="Search titles and text"
                    prop:value=query on:input=move |ev| query.set(event_target_value(&ev)) />
                <label for="spec-filter" class="visually-hidden">"Show"</label>
                <select id="spec-filter" on:change=move |ev| filter.set(event_target_value(&ev))>
                    {FILTERS.into_iter().map(|(v, l)| view! { <option value=v>{l}</option> }).collect_view()}
                </select>
            </div>
            {move || match create.value().get().or(import.value().get()) {
                Some(Err(e)) => alert(Some(e)).into_any(),
                _ => ().into_any(),
            }}
            {move || note.get().map(|n| {
                let undo_id = n.undo.clone();
                view! {
                    <p class="notice" aria-live="polite">{n.text}
                        {undo_id.map(|id| view! {
                            " " <button type="button" class="link" on:click=handler(move |_| undo(id.clone()))>"Undo"</button>
                        })}
                    </p>
                }
            })}
            // Read again in place: the rows stay while the list is being read again.
            {move || match shown.get() {
                None => view! { <p class="muted">"Loading specs…"</p> }.into_any(),
                Some(Err(e)) => alert(Some(e)).into_any(),
                Some(Ok((list, _))) if list.is_empty() => view! {
                    <p class="muted">{
                        if !query.get().trim().is_empty() {
                            "No spec holds these words."
                        } else if filter.get().is_empty() {
                            "No specs yet. Give the first one a title above."
                        } else {
                            "None here."
                        }
                    }</p>
                }.into_any(),
                Some(Ok((list, note))) => view! {
                    {note.map(|n| view! { <p class="notice" role="note">{n}</p> })}
                    <SpecRows specs=list changed=changed />
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

/// Which row an owner is renaming or being asked about, and the title being typed: kept
/// by the list, so that a row drawn again (the list read again on a change) keeps them.
#[derive(Clone, Copy)]
struct Editing {
    which: RwSignal<Option<(String, Mode)>>,
    draft: RwSignal<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rename,
    Delete,
}

/// What an owner does to a spec from its row.
enum Act {
    Rename(String),
    Archive(bool),
    Delete,
    Undelete,
}

/// An owner's actions on one row: rename in place, archive, delete (asked first), or for
/// a deleted spec, bring it back.
#[component]
fn OwnerActions(
    id: String,
    title: String,
    archived: bool,
    deleted: bool,
    changed: Callback<Note>,
) -> impl IntoView {
    let Editing { which, draft } = expect_context::<Editing>();
    let error = RwSignal::new(None::<String>);
    let name = StoredValue::new(format!("“{title}”"));
    let (id, title) = (StoredValue::new(id), StoredValue::new(title));
    let is = move |mode: Mode| {
        which.with(|w| {
            w.as_ref()
                .is_some_and(|(i, m)| id.with_value(|id| i == id) && *m == mode)
        })
    };
    let renaming = move || is(Mode::Rename);
    let asking = move || is(Mode::Delete);
    let busy = move || renaming() || asking();
    let edit = move |mode: Mode| which.set(Some((id.get_value(), mode)));
    // Runs one call; says what happened, or why not.
    let run = move |act: Act| {
        let (id, name) = (id.get_value(), name.get_value());
        spawn_local(async move {
            let (done, said) = match act {
                Act::Rename(new) => (
                    api::rename_spec(&id, &new).await,
                    Note {
                        text: format!("Renamed to “{new}”."),
                        undo: None,
                    },
                ),
                Act::Archive(archived) => (
                    api::archive_spec(&id, archived).await,
                    Note {
                        text: if archived {
                            format!("Archived {name}: find it under Archived.")
                        } else {
                            format!("{name} is back in the list.")
                        },
                        undo: None,
                    },
                ),
                Act::Delete => (
                    api::delete_spec(&id).await,
                    Note {
                        text: format!("Deleted {name}."),
                        undo: Some(id.clone()),
                    },
                ),
                Act::Undelete => (
                    api::undelete_spec(&id).await,
                    Note {
                        text: format!("Brought back {name}."),
                        undo: None,
                    },
                ),
            };
            match done {
                Ok(()) => changed.run(said),
                Err(e) => {
                    error.try_set(Some(e.message));
                }
            }
        });
    };
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let new = draft.get_untracked().trim().to_owned();
        if new.is_empty() {
            error.set(Some("A spec needs a title.".into()));
            return;
        }
        which.set(None);
        run(Act::Rename(new));
    };
    let field = move || format!("rename-{}", id.get_value());
    view! {
        <span class="owner-actions">
            {move || renaming().then(|| view! {
                <form class="rename" on:submit=handler(rename)>
                    <label class="visually-hidden" for=field>"New title"</label>
                    <input id=field name="title" type="text" maxlength="1000"
                        prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev))
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { which.set(None) } />
                    <button type="submit">"Save"</button>
                    <button type="button" class="quiet" on:click=move |_| which.set(None)>"Cancel"</button>
                </form>
            })}
            {move || asking().then(|| view! {
                <span class="confirm-delete" role="group" aria-label="Delete this spec?">
                    {format!("Delete {}? Nobody can open it afterwards; you can bring it back for 30 days. ", name.get_value())}
                    <button type="button" class="danger" on:click=handler(move |_| {
                        which.set(None);
                        run(Act::Delete);
                    })>"Delete spec"</button>
                    <button type="button" class="quiet" on:click=move |_| which.set(None)>"Cancel"</button>
                </span>
            })}
            {if deleted {
                view! {
                    <button type="button" class="small" on:click=handler(move |_| run(Act::Undelete))>"Bring back"</button>
                }.into_any()
            } else {
                view! {
                    <button type="button" class="small quiet" hidden=busy
                        on:click=move |_| {
                            draft.set(title.get_value());
                            edit(Mode::Rename);
                        }>"Rename"</button>
                    <button type="button" class="small quiet" hidden=busy
                        on:click=handler(move |_| run(Act::Archive(!archived)))>
                        {if archived { "Unarchive" } else { "Archive" }}</button>
                    <button type="button" class="small quiet" hidden=busy
                        on:click=move |_| edit(Mode::Delete)>"Delete…"</button>
                }.into_any()
            }}
            {move || alert(error.get())}
        </span>
    }
}

#[component]
fn SpecRows(specs: Vec<Row>, changed: Callback<Note>) -> impl IntoView {
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
                let deleted = spec.deleted_at > 0.0;
                let owner = spec.role == Some(Role::Owner) && !spec.here_only;
                let gone = deleted.then(|| {
                    let purge = spec.deleted_at + 30.0 * 24.0 * 3600.0 * 1000.0;
                    view! { " · " <span class="deleted">{format!("deleted {}, gone for good {}", when(spec.deleted_at), when(purge))}</span> }
                });
                let link = if deleted {
                    view! { <span class="spec-title">{title.clone()}</span> }.into_any()
                } else {
                    view! { <a class="spec-title" href=format!("/specs/{}", spec.id)>{title.clone()}</a> }.into_any()
                };
                view! {
                    <li class="spec" data-id=spec.id.clone()>
                        {link}
                        <span class="spec-meta">
                            "Updated " <time>{when(spec.updated)}</time>
                            {(!authors.is_empty()).then(|| view! { " · by " <span class="authors">{authors}</span> })}
                            {spec.here_only.then(|| view! { " · " <span class="here-only">"on this device"</span> })}
                            {spec.role.filter(|r| *r != Role::Owner).map(|r| view! { " · " <span class="role">{r.label()}</span> })}
                            {spec.archived.then(|| view! { " · " <span class="archived">"archived"</span> })}
                            {signs}
                            {gone}
                        </span>
                        {owner.then(|| view! {
                            <OwnerActions id=spec.id.clone() title=title archived=spec.archived deleted=deleted changed=changed />
                        })}
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
            archived: false,
            deleted_at: 0.0,
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
