//! A spec, live: opened over the connection and re-rendered whenever a change arrives (read-only until the editor lands).

use duet_model::{view_of, Anchor, ConstraintView, SpecView, StoryView};
use duet_protocol::DocumentId;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::net::{Connection, DocState};

#[component]
pub fn SpecPage() -> impl IntoView {
    let params = use_params_map();
    let id = params.with_untracked(|p| p.get("id").and_then(|s| DocumentId::parse(&s).ok()));
    let Some(id) = id else {
        return view! { <main class="spec"><p class="error" role="alert">"This is not a link to a spec."</p></main> }
            .into_any();
    };
    let conn = expect_context::<StoredValue<Connection, LocalStorage>>();
    let (version, state) = conn.with_value(|c| c.open(id));
    let spec = Memo::new(move |_| {
        version.track();
        conn.with_value(|c| c.read(id, view_of))
    });
    view! {
        <main class="spec" data-id=id.to_string()>
            {move || match state.get() {
                DocState::Loading => view! { <p class="muted">"Loading the spec…"</p> }.into_any(),
                DocState::Unavailable => view! {
                    <p class="error" role="alert">"There is no such spec on the server."</p>
                }.into_any(),
                DocState::Ready => view! { <SpecBody spec=spec /> }.into_any(),
            }}
        </main>
    }
    .into_any()
}

#[component]
fn SpecBody(spec: Memo<Option<SpecView>>) -> impl IntoView {
    let title = move || {
        spec.with(|s| {
            s.as_ref()
                .map(|s| s.title.clone())
                .filter(|t| !t.trim().is_empty())
        })
        .unwrap_or_else(|| "Untitled spec".to_owned())
    };
    let problem = move || spec.with(|s| s.as_ref().map(|s| s.problem.clone()).unwrap_or_default());
    let stories = move || spec.with(|s| s.as_ref().map(|s| s.stories.clone()).unwrap_or_default());
    view! {
        <h1 class="spec-title-field">{title}</h1>
        <section aria-labelledby="problem-h">
            <h2 id="problem-h">"Problem"</h2>
            {move || {
                let text = problem();
                if text.trim().is_empty() {
                    view! { <p class="muted">"No problem statement yet."</p> }.into_any()
                } else {
                    view! { <p class="problem">{text}</p> }.into_any()
                }
            }}
        </section>
        <section aria-labelledby="stories-h">
            <h2 id="stories-h">"User stories"</h2>
            {move || stories().is_empty().then(|| view! { <p class="muted">"No stories yet."</p> })}
            // Rows are rebuilt when the spec changes (a keyed <For> would keep a changed
            // story's old text); the editor replaces this with one memo per item.
            {move || stories().into_iter().map(|story| view! { <StoryRow story=story /> }).collect_view()}
        </section>
    }
}

#[component]
fn StoryRow(story: StoryView) -> impl IntoView {
    let constraints = story.constraints.clone();
    view! {
        <article class="story" data-id=story.id.to_string()>
            <div class="story-main">
                <p><strong>"As a "</strong>{story.as_a.clone()}</p>
                <p><strong>"I want "</strong>{story.i_want.clone()}</p>
                <p><strong>"So that "</strong>{story.so_that.clone()}</p>
                <ul class="criteria">
                    {story.criteria.iter().map(|c| view! {
                        <li class:done=c.done>
                            <span class="kind">{c.kind.label()}</span> " " {c.text.clone()}
                        </li>
                    }).collect_view()}
                </ul>
            </div>
            <aside class="track" aria-label="Constraints">
                {constraints.into_iter().map(|c| view! { <ConstraintCard c=c /> }).collect_view()}
            </aside>
        </article>
    }
}

#[component]
fn ConstraintCard(c: ConstraintView) -> impl IntoView {
    let anchor = match &c.anchor {
        Anchor::Story => String::new(),
        Anchor::Span { text, .. } => format!("“{text}”"),
        Anchor::Orphaned { quote, .. } => format!("“{quote}” (deleted)"),
    };
    view! {
        <div class=format!("constraint severity-{}", c.severity.label().to_lowercase())>
            <span class="constraint-meta">
                {c.severity.label()} " · " {c.kind.label()} " · " {c.status.label()}
            </span>
            <p>{c.text.clone()}</p>
            {(!anchor.is_empty()).then(|| view! { <p class="anchor">{anchor}</p> })}
        </div>
    }
}
