//! The "merged while you were offline" panel: each place changed both here while offline and elsewhere meanwhile, both sides' characters highlighted, a jump to it, and "mark reviewed".

use duet_model::{Contribution, Overlap, Place, Side, SpecView, UserId};
use duet_protocol::DocumentId;
use leptos::prelude::*;

use crate::editor::place_of;
use crate::net::Connection;
use crate::people::Directory;
use crate::text::{field_key, FocusRequest};
use crate::ui::{handler, scroll_to_item};

/// Words for a place: "the title", "story 2 · I want", "a criterion of story 1"…
fn label(place: &Place, spec: &SpecView) -> String {
    match place {
        Place::Text(field) => place_of(&field_key(field), spec),
        Place::Item(id) => {
            let story_no = |sid: &duet_model::ItemId| {
                spec.stories
                    .iter()
                    .position(|s| &s.id == sid)
                    .map(|i| format!("story {}", i + 1))
            };
            if let Some(n) = story_no(id) {
                return n;
            }
            for story in &spec.stories {
                if story.criteria.iter().any(|c| &c.id == id) {
                    return format!("a criterion of {}", story_no(&story.id).unwrap_or_default());
                }
                if story.constraints.iter().any(|c| &c.id == id) {
                    return format!(
                        "a constraint on {}",
                        story_no(&story.id).unwrap_or_default()
                    );
                }
            }
            if spec.detached.iter().any(|c| &c.id == id) {
                return "a constraint in triage".into();
            }
            if spec.decisions.iter().any(|d| &d.id == id) {
                return "a decision".into();
            }
            if spec.questions.iter().any(|q| &q.id == id) {
                return "an open question".into();
            }
            if spec.metrics.iter().any(|m| &m.id == id) {
                return "a success metric".into();
            }
            "an item that was removed".into()
        }
    }
}

/// The text split into plain runs and each side's runs.
fn segments(text: &str, runs: &[Contribution]) -> Vec<(String, Option<Contribution>)> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let piece = |a: usize, b: usize| {
        String::from_utf16_lossy(&units[a.min(units.len())..b.min(units.len())])
    };
    let mut out = Vec::new();
    let mut at = 0;
    for run in runs {
        if run.start > at {
            out.push((piece(at, run.start), None));
        }
        out.push((piece(run.start, run.end), Some(run.clone())));
        at = run.end;
    }
    if at < units.len() {
        out.push((piece(at, units.len()), None));
    }
    out
}

#[component]
pub fn MergeReview(
    doc: DocumentId,
    spec: Memo<Option<SpecView>>,
    review: RwSignal<Vec<Overlap>>,
) -> impl IntoView {
    let conn = expect_context::<StoredValue<Connection, LocalStorage>>();
    let FocusRequest(focus) = expect_context::<FocusRequest>();
    let me = StoredValue::new(conn.get_value().person());
    let directory = expect_context::<Directory>();
    // A person's display name ("… (you)" for me).
    let name_of = move |user: &UserId| -> String {
        if let Some(name) = me.with_value(|me| (me.user == *user).then(|| me.name.clone())) {
            return format!("{name} (you)");
        }
        directory.name(user.as_str())
    };
    let names = move |users: &[UserId]| users.iter().map(name_of).collect::<Vec<_>>().join(", ");
    let entry = move |o: Overlap| {
        let place = o.place.clone();
        let what =
            spec.with_untracked(|s| s.as_ref().map(|s| label(&place, s)).unwrap_or_default());
        let who = format!("{} here, {} elsewhere", names(&o.ours), names(&o.theirs));
        let key = match &place {
            Place::Text(field) => field_key(field),
            Place::Item(id) => id.as_str().to_owned(),
        };
        let text = (!o.text.is_empty()).then(|| {
            segments(&o.text, &o.contributions)
                .into_iter()
                .map(|(s, run)| match run {
                    None => view! { <span>{s}</span> }.into_any(),
                    Some(run) => {
                        let colour = run.author.as_ref().map_or_else(
                            || "#666".to_owned(),
                            |u| directory.person(u.as_str()).colour,
                        );
                        let side = if run.side == Side::Ours {
                            "ours"
                        } else {
                            "theirs"
                        };
                        let by = run.author.as_ref().map(name_of).unwrap_or_default();
                        view! {
                            <mark class=format!("contribution {side}") title=format!("by {by}")
                                style=format!("--who: {colour}")>{s}</mark>
                        }
                        .into_any()
                    }
                })
                .collect_view()
        });
        let jump = {
            let place = place.clone();
            move |_| match &place {
                Place::Text(field) => focus.set(Some(field_key(field))),
                Place::Item(id) => scroll_to_item(id.as_str()),
            }
        };
        let reviewed = move |_| conn.get_value().mark_reviewed(doc, &place);
        view! {
            <li class="overlap" data-place=key>
                <div class="overlap-head">
                    <strong class="overlap-what">{what}</strong>
                    <span class="muted">" — " {who}</span>
                </div>
                {text.map(|t| view! { <p class="merged">{t}</p> })}
                <div class="overlap-actions">
                    <button type="button" on:click=handler(jump)>"Jump to it"</button>
                    <button type="button" on:click=handler(reviewed)>"Mark reviewed"</button>
                </div>
            </li>
        }
    };
    move || {
        let list = review.get();
        (!list.is_empty()).then(|| {
            view! {
                <section class="review" aria-labelledby="review-h">
                    <h2 id="review-h">"Merged while you were offline"</h2>
                    <p class="muted">
                        "These places were changed here while you were offline and by others meanwhile. "
                        "Both versions are kept, merged; read them through."
                    </p>
                    <ul class="overlaps">{list.into_iter().map(entry).collect_view()}</ul>
                </section>
            }
        })
    }
}
