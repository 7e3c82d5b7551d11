//! Sign-off beside each story: a product and an engineering slot (design optional), each signed by a person of that discipline; a badge that turns stale the moment what was signed changes, and one click to see exactly what changed since, coloured by author.

use std::collections::BTreeMap;

use duet_model::done::{definition_of_done, StoryFacts};
use duet_model::signoff::{SignedContent, Slot};
use duet_model::{ItemId, StoryStatus, StoryView};
use duet_protocol::DocumentId;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

use crate::api::{self, field, list_of, text, SignOff};
use crate::list::when;
use crate::net::{Connection, Status};
use crate::people::Directory;
use crate::text::ReadOnly;
use crate::ui::{alert, handler};
use crate::Auth;

type Conn = StoredValue<Connection, LocalStorage>;

/// A spec's sign-offs by story, fetched on opening, after each signing here, when the
/// server says someone signed, and after a reconnection.
#[derive(Clone, Copy)]
pub struct SignOffs(pub RwSignal<BTreeMap<String, Vec<SignOff>>>);

/// Fetches the sign-offs of `doc` whenever `notices` moves or the connection comes back,
/// and provides them to the stories.
pub fn provide(doc: DocumentId, notices: RwSignal<u64>, on_server: RwSignal<bool>) {
    let all = SignOffs(RwSignal::new(BTreeMap::new()));
    provide_context(all);
    let status = expect_context::<ReadSignal<Status>>();
    Effect::new(move |_| {
        notices.track();
        if status.get() != Status::Live || !on_server.get() {
            return;
        }
        spawn_local(async move {
            if let Ok(list) = api::signoffs(&doc.to_string()).await {
                let mut by_story: BTreeMap<String, Vec<SignOff>> = BTreeMap::new();
                for s in list {
                    by_story.entry(s.story.clone()).or_default().push(s);
                }
                all.0.try_set(by_story);
            }
        });
    });
}

/// The signed-in person's discipline, as their profile says.
fn my_discipline() -> String {
    match expect_context::<RwSignal<Auth>>().get_untracked() {
        Auth::In(a) => a.discipline,
        _ => String::new(),
    }
}

#[component]
pub fn SignOffBar(
    doc: DocumentId,
    story_id: ItemId,
    story: Memo<Option<StoryView>>,
    notices: RwSignal<u64>,
) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let SignOffs(all) = expect_context::<SignOffs>();
    let ReadOnly(ro) = expect_context::<ReadOnly>();
    let mine = Slot::for_discipline(&my_discipline());
    // What a sign-off would cover now, from this device's copy of the story: a badge turns
    // stale as soon as an edit arrives, without asking the server.
    let now = Memo::new(move |_| {
        story.with(|s| {
            s.as_ref()
                .map(|s| SignedContent::of(s).digest().as_str().to_owned())
        })
    });
    let key = story_id.to_string();
    let signs = Memo::new(move |_| all.with(|a| a.get(&key).cloned().unwrap_or_default()));
    // The open blockers beside the story, as this device reads them.
    let blockers = Memo::new(move |_| {
        story.with(|s| {
            s.as_ref()
                .map(|s| StoryFacts::of(s).open_blockers)
                .unwrap_or_default()
        })
    });
    // Each signed slot and whether its sign-off still covers what the story reads.
    let slots = Memo::new(move |_| {
        signs.with(|given| {
            given
                .iter()
                .filter_map(|g| {
                    let slot = Slot::parse(&g.slot)?;
                    Some((slot, now.with(|n| n.as_deref() == Some(g.digest.as_str()))))
                })
                .collect::<Vec<_>>()
        })
    });
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let diff_of = RwSignal::new(None::<String>);
    // The slot whose signer is being asked whether to sign over the open blockers.
    let confirm = RwSignal::new(None::<Slot>);
    let sid = story_id.to_string();
    let sign = Callback::new(move |(slot, over): (Slot, Vec<String>)| {
        let seen = conn.get_value().heads(doc);
        let sid = sid.clone();
        busy.set(true);
        error.set(None);
        confirm.set(None);
        spawn_local(async move {
            let done = api::sign(&doc.to_string(), &sid, slot.as_str(), &seen, &over).await;
            busy.try_set(false);
            match done {
                Ok(()) => {
                    diff_of.try_set(None);
                    notices.try_update(|n| *n += 1);
                }
                Err(e) => {
                    error.try_set(Some(e.message));
                }
            }
        });
    });
    let slot_view = move |slot: Slot| {
        let given = move || signs.with(|s| s.iter().find(|g| g.slot == slot.as_str()).cloned());
        let state = move || match given() {
            None => "unsigned",
            Some(g) if now.with(|n| n.as_deref() == Some(g.digest.as_str())) => "signed",
            Some(_) => "stale",
        };
        let can_sign = move || !ro && mine == Some(slot) && state() != "signed";
        let label = move || match (state(), given()) {
            ("signed", Some(g)) => {
                let over = match g.open_blockers.len() {
                    0 => String::new(),
                    1 => " · signed with 1 open blocker".to_owned(),
                    n => format!(" · signed with {n} open blockers"),
                };
                format!(
                    "✓ {} — {}, {}{over}",
                    slot.label(),
                    g.name,
                    when(g.signed_at)
                )
            }
            ("stale", Some(g)) => {
                format!("⚠ {} — signed by {}, changed since", slot.label(), g.name)
            }
            _ => format!("{}: not signed", slot.label()),
        };
        let shown = move || slot != Slot::Design || given().is_some() || mine == Some(Slot::Design);
        let heads = move || given().map(|g| g.heads).unwrap_or_default();
        view! {
            <span class="signoff" data-slot=slot.as_str() data-state=state hidden=move || !shown()>
                <span class="signoff-badge" title=move || match state() {
                    "signed" => "Covers the story's text, criteria and constraints as they read when signed".to_owned(),
                    "stale" => "Something it covers changed since it was signed".to_owned(),
                    _ => format!("Signed by someone whose profile discipline is {}", slot.as_str()),
                }>{label}</span>
                {move || (state() == "stale").then(|| view! {
                    <button type="button" class="quiet what-changed"
                        aria-expanded=move || (diff_of.get().as_deref() == Some(heads().as_str())).to_string()
                        on:click=handler(move |_| {
                            let h = heads();
                            diff_of.update(|d| *d = if d.as_deref() == Some(h.as_str()) { None } else { Some(h) });
                        })>"What changed"</button>
                })}
                {move || can_sign().then(|| view! {
                    <button type="button" class="sign" disabled=move || busy.get()
                        on:click=handler(move |_| {
                            if blockers.with(Vec::is_empty) {
                                sign.run((slot, Vec::new()));
                            } else {
                                confirm.set(Some(slot));
                            }
                        })>
                        {move || if state() == "stale" { format!("Sign again as {}", slot.label()) } else { format!("Sign as {}", slot.label()) }}
                    </button>
                })}
            </span>
        }
    };
    let sid = story_id.to_string();
    // Asked before signing over open blockers: the choice is recorded with the sign-off.
    let ask = move || {
        confirm.get().map(|slot| {
            let list = blockers.get();
            let n = list.len();
            let named = list
                .iter()
                .map(|(_, text)| format!("“{}”", text.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            let ids: Vec<String> = list.iter().map(|(id, _)| id.to_string()).collect();
            let plural = if n == 1 { "" } else { "s" };
            view! {
                <div class="confirm sign-over" role="group" aria-label="Sign over open blockers">
                    <p>{format!("This story has {n} open blocker{plural}: {named}. Sign anyway? The sign-off will say it was given with {n} open blocker{plural}.")}</p>
                    <button type="button" class="sign"
                        on:click=handler(move |_| sign.run((slot, ids.clone())))>
                        {format!("Sign as {} with {n} open blocker{plural}", slot.label())}
                    </button>
                    <button type="button" class="quiet" on:click=handler(move |_| confirm.set(None))>"Cancel"</button>
                </div>
            }
        })
    };
    // Why there is no "Sign as …" button for this person.
    let no_slot = (!ro && mine.is_none()).then(|| {
        view! {
            <p class="muted why-no-sign">
                "You give no sign-off here: your profile's discipline is "
                {match my_discipline().as_str() { "" => "not set".to_owned(), d => d.to_owned() }}
                ", and only product, engineering and design sign. "
                <a href="/me">"Change it in your profile"</a>
            </p>
        }
    });
    view! {
        <div class="signoffs" aria-label="Sign-off">
            <DoneLine story=story slots=slots />
            {Slot::ALL.into_iter().map(slot_view).collect_view()}
            {ask}
            {no_slot}
            {move || alert(error.get())}
            {move || diff_of.get().map(|from| view! { <StoryDiff doc=doc story=sid.clone() from=from label="What changed since it was signed" /> })}
        </div>
    }
}

/// The story's definition of done in one line: "Done", or what it lacks; and, when the
/// story's status disagrees, why.
#[component]
fn DoneLine(story: Memo<Option<StoryView>>, slots: Memo<Vec<(Slot, bool)>>) -> impl IntoView {
    let done = Memo::new(move |_| {
        story.with(|s| {
            s.as_ref().map(|s| {
                let done = slots.with(|signs| definition_of_done(&StoryFacts::of(s), signs));
                (done, s.status)
            })
        })
    });
    move || {
        done.get().map(|(done, status)| {
            let met = done.is_done();
            let line = match (met, status) {
                (true, StoryStatus::Done) => "Done".to_owned(),
                (true, other) => format!("Done: meets the definition (its status still says {})", other.label()),
                (false, StoryStatus::Done) => format!("Marked Done, but not done: {}", done.line()),
                (false, _) => format!("Not done: {}", done.line()),
            };
            view! {
                <p class="done-line" data-done=met.to_string()
                    title="Done: a technical, a UX and a business criterion, every criterion done, no open blocker, and current product and engineering sign-offs">
                    {line}
                </p>
            }
        })
    }
}

/// What changed in a story since version `from`: each text with its insertions and
/// deletions in their authors' colours, items added or removed, settings changed.
#[component]
pub(crate) fn StoryDiff(
    doc: DocumentId,
    story: String,
    from: String,
    /// What the region is called: since it was signed, decided…
    label: &'static str,
) -> impl IntoView {
    let diff = LocalResource::new(move || {
        let (story, from) = (story.clone(), from.clone());
        async move { api::story_diff(&doc.to_string(), &story, &from).await }
    });
    // Each author in the colour and name they are shown in everywhere.
    let directory = expect_context::<Directory>();
    let person = move |user: &str| -> (String, String) {
        let p = directory.person(user);
        (p.name, p.colour)
    };
    let run = move |r: JsValue| {
        let who = text(&r, "author");
        let (name, colour) = if who.is_empty() {
            ("someone".to_owned(), "#666".to_owned())
        } else {
            person(&who)
        };
        let style = format!("--who: {colour}");
        let title = format!("by {name}");
        let t = text(&r, "text");
        match text(&r, "kind").as_str() {
            "inserted" => view! { <ins style=style title=title>{t}</ins> }.into_any(),
            "deleted" => view! { <del style=style title=title>{t}</del> }.into_any(),
            _ => view! { <span>{t}</span> }.into_any(),
        }
    };
    move || match diff.get() {
        None => view! { <p class="muted">"Reading what changed…"</p> }.into_any(),
        Some(Err(e)) => alert(Some(e.message)).into_any(),
        Some(Ok(d)) => {
            let texts = list_of(field(&d, "texts"), |t| Some(t.clone()));
            let items = list_of(field(&d, "items"), |i| {
                Some(format!("{} {}", text(i, "label"), text(i, "change")))
            });
            let settings = list_of(field(&d, "settings"), |s| {
                Some(format!(
                    "{}: {} {} → {}",
                    text(s, "label"),
                    text(s, "setting"),
                    text(s, "from"),
                    text(s, "to")
                ))
            });
            let empty = texts.is_empty() && items.is_empty() && settings.is_empty();
            view! {
                <div class="signoff-diff" role="region" aria-label=label>
                    {empty.then(|| view! { <p class="muted">"Nothing left to show: the story reads as it did."</p> })}
                    {texts.into_iter().map(|t| {
                        let runs = list_of(field(&t, "runs"), |r| Some(r.clone()));
                        view! {
                            <p class="diff-text"><strong>{text(&t, "label")} ": "</strong>
                                {runs.into_iter().map(run).collect_view()}</p>
                        }
                    }).collect_view()}
                    {items.into_iter().chain(settings).map(|line| view! { <p class="diff-item">{line}</p> }).collect_view()}
                </div>
            }
            .into_any()
        }
    }
}
