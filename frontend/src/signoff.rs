//! Sign-off beside each story: a product and an engineering slot (design optional), each signed by a person of that discipline; a badge that turns stale the moment what was signed changes, and one click to see exactly what changed since, coloured by author.

use std::collections::BTreeMap;

use duet_model::signoff::{SignedContent, Slot};
use duet_model::{ItemId, StoryView};
use duet_protocol::DocumentId;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

use crate::api::{self, field, list_of, text, SignOff};
use crate::list::when;
use crate::me::colour_of;
use crate::net::{Connection, Status};
use crate::text::{People, ReadOnly};
use crate::ui::{alert, handler};
use crate::Auth;

type Conn = StoredValue<Connection, LocalStorage>;

/// A spec's sign-offs by story, fetched on opening, after each signing here, when the
/// server says someone signed, and after a reconnection.
#[derive(Clone, Copy)]
pub struct SignOffs(pub RwSignal<BTreeMap<String, Vec<SignOff>>>);

/// Fetches the sign-offs of `doc` whenever `notices` moves or the connection comes back,
/// and provides them to the stories.
pub fn provide(doc: DocumentId, notices: RwSignal<u64>) {
    let all = SignOffs(RwSignal::new(BTreeMap::new()));
    provide_context(all);
    let status = expect_context::<ReadSignal<Status>>();
    Effect::new(move |_| {
        notices.track();
        if status.get() != Status::Live {
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
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let diff_of = RwSignal::new(None::<String>);
    let sid = story_id.to_string();
    let sign = Callback::new(move |slot: Slot| {
        let seen = conn.get_value().heads(doc);
        let sid = sid.clone();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let done = api::sign(&doc.to_string(), &sid, slot.as_str(), &seen).await;
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
                format!("✓ {} — {}, {}", slot.label(), g.name, when(g.signed_at))
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
                        on:click=handler(move |_| sign.run(slot))>
                        {move || if state() == "stale" { format!("Sign again as {}", slot.label()) } else { format!("Sign as {}", slot.label()) }}
                    </button>
                })}
            </span>
        }
    };
    let sid = story_id.to_string();
    view! {
        <div class="signoffs" aria-label="Sign-off">
            {Slot::ALL.into_iter().map(slot_view).collect_view()}
            {move || alert(error.get())}
            {move || diff_of.get().map(|from| view! { <StoryDiff doc=doc story=sid.clone() from=from label="What changed since it was signed" /> })}
        </div>
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
    // Each author in the colour and name they are shown in elsewhere: as a signer, as
    // someone here now, or by their stable colour.
    let SignOffs(all) = expect_context::<SignOffs>();
    let People(here) = expect_context::<People>();
    let person = move |user: &str| -> (String, String) {
        let signer = all.with_untracked(|a| {
            a.values()
                .flatten()
                .find(|s| s.user == user && !s.colour.is_empty())
                .map(|s| (s.name.clone(), s.colour.clone()))
        });
        signer
            .or_else(|| {
                here.with_untracked(|ps| {
                    ps.iter()
                        .find(|p| p.user == user)
                        .map(|p| (p.name.clone(), p.color.clone()))
                })
            })
            .unwrap_or_else(|| (user.to_owned(), colour_of(user).to_owned()))
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
