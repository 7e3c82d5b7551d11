//! The spec editor: every part of a spec editable live, one memo per item so a keystroke re-renders only its own field; the constraints track beside each story; the triage list; who is here; view only for viewers; sharing.

use duet_model::{
    Anchor, AnchorSpan, ConstraintKind, ConstraintStatus, ConstraintView, CriterionKind,
    DecisionField, ItemId, MetricField, NewConstraint, NewDecision, NewStory, QuestionField,
    Severity, SpecView, StoryField, StoryStatus, StoryView, TextField,
};
use duet_protocol::DocumentId;
use duet_protocol::Presence;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::sync::Arc;
use wasm_bindgen::JsCast;

use crate::api::{self, Role};
use crate::export::ExportMenu;
use crate::history::{self, HistoryUi};
use crate::me::BrowserRng;
use crate::net::{Connection, DocState, Edit, Status};
use crate::people::{name_tag, Directory};
use crate::review::MergeReview;
use crate::share::SharePanel;
use crate::signoff::{SignOffBar, StoryDiff};
use crate::text::{
    field_key, read_only, ActiveConstraint, FocusRequest, Highlight, People, ReadOnly, TextBox,
};
use crate::ui::{avatar, handler, scroll_to_item, toggle};
use crate::undo::{self, UndoButtons, UndoUi};

type Conn = StoredValue<Connection, LocalStorage>;

/// Bumped when the spec's sign-offs are worth fetching again.
#[derive(Clone, Copy)]
struct SignOffNotices(RwSignal<u64>);
type SpecMemo = Memo<Option<SpecView>>;

/// Draws one item of a list from its id.
type Row = Arc<dyn Fn(ItemId) -> AnyView + Send + Sync>;

/// The items whose ids are `ids`, each drawn by `row` and kept (with its focus and caret)
/// while its id stays in the list. Every list of the editor goes through this one function,
/// so the app carries one copy of Leptos's keyed-list code instead of one per list.
fn each_id(ids: Memo<Vec<ItemId>>, row: Row) -> impl IntoView {
    view! { <For each=move || ids.get() key=|id| id.clone() children=move |id| row(id) /> }
}

fn new_id() -> ItemId {
    ItemId::random(&mut BrowserRng)
}

#[component]
pub fn EditorPage(id: String) -> impl IntoView {
    let Ok(id) = DocumentId::parse(&id) else {
        return view! { <main class="spec"><p class="error" role="alert">"This is not a link to a spec."</p></main> }
            .into_any();
    };
    let conn = expect_context::<Conn>();
    let signals = conn.get_value().open(id);
    provide_context(People(signals.people));
    Directory::provide(id, signals.on_server);
    provide_context(ActiveConstraint(RwSignal::new(None)));
    provide_context(FocusRequest(RwSignal::new(None)));
    crate::signoff::provide(id, signals.signoffs, signals.on_server);
    provide_context(SignOffNotices(signals.signoffs));
    let history_ui = HistoryUi {
        open: RwSignal::new(false),
        viewing: RwSignal::new(false),
    };
    provide_context(history_ui);
    let undo_ui = UndoUi {
        labels: signals.undo_labels,
        note: RwSignal::new(None),
    };
    provide_context(undo_ui);
    undo::listen(id, undo_ui, Signal::derive(move || history_ui.covering()));
    let spec: SpecMemo = Memo::new(move |_| {
        signals.version.track();
        conn.get_value().read(id, duet_model::view_of)
    });
    // Say we are here as soon as the spec is open; say goodbye when the page goes.
    Effect::new(move |_| {
        if signals.state.get() == DocState::Ready {
            conn.get_value().announce(id, None, None, false);
        }
    });
    on_cleanup(move || conn.get_value().depart(id));
    // The role decides what may be changed: asked on opening and after each reconnection
    // (the device remembers the last answer for offline use).
    let role = signals.role;
    let checked = RwSignal::new(false);
    let status = expect_context::<ReadSignal<Status>>();
    Effect::new(move |first: Option<()>| {
        // A spec made here is asked about once the server has it.
        let on_server = signals.on_server.get();
        if on_server && (first.is_none() || status.get() == Status::Live) {
            spawn_local(async move {
                if let Ok(Some(r)) = api::spec(&id.to_string()).await.map(|s| s.role) {
                    if let Some(c) = conn.try_get_value() {
                        c.set_role(id, r);
                    }
                }
                checked.try_set(true);
            });
        }
    });
    let editor = move || {
        let ro = !matches!(role.get(), Some(Role::Owner | Role::Editor));
        provide_context(ReadOnly(ro));
        let owner = role.get() == Some(Role::Owner);
        view! { <Editor doc=id spec=spec ro=ro owner=owner /> }
    };
    let state = signals.state;
    view! {
        // View only: the controls that change the spec are hidden (and edits refused).
        <main class="spec" data-id=id.to_string()
            class:view-only=move || !matches!(role.get(), Some(Role::Owner | Role::Editor))
            class:with-history=move || history_ui.open.get()>
            <history::SinceSeen doc=id on_server=signals.on_server />
            <div class="live" hidden=move || history_ui.covering()>
            {move || match state.get() {
                DocState::Loading => view! { <p class="muted">"Loading the spec…"</p> }.into_any(),
                DocState::NotHere => view! {
                    <p class="muted">
                        "This spec is not kept on this device yet: it opens as soon as the server can be reached."
                    </p>
                }.into_any(),
                DocState::Unavailable => view! {
                    <p class="error" role="alert">"There is no such spec on the server."</p>
                }.into_any(),
                DocState::Ready if role.get().is_none() && !checked.get() => {
                    view! { <p class="muted">"Loading the spec…"</p> }.into_any()
                }
                DocState::Ready => view! {
                    <MergeReview doc=id spec=spec review=signals.review />
                    {editor}
                }.into_any(),
            }}
            </div>
            <history::Panel doc=id spec=spec
                can_restore=Signal::derive(move || matches!(role.get(), Some(Role::Owner | Role::Editor))) />
        </main>
    }
    .into_any()
}

#[component]
fn Editor(doc: DocumentId, spec: SpecMemo, ro: bool, owner: bool) -> impl IntoView {
    let title = from_spec(spec, |s| s.title.clone());
    let problem = from_spec(spec, |s| s.problem.clone());
    let sharing = RwSignal::new(false);
    view! {
        <header class="spec-head">
            <TextBox doc=doc field=TextField::Title text=title label="Spec title"
                placeholder="Untitled spec" single_line=true class="title" />
            <div class="spec-bar">
                <PresenceBar spec=spec />
                {ro.then(|| view! {
                    <span class="badge view-only" title="You can read this spec and follow edits live, not change it.">"View only"</span>
                })}
                {(!ro).then(|| view! { <UndoButtons doc=doc /> })}
                {toggle("History", expect_context::<HistoryUi>().open)}
                <ExportMenu spec=spec />
                {toggle(if owner { "Share" } else { "Who has access" }, sharing)}
            </div>
            {move || sharing.get().then(|| view! { <SharePanel doc=doc owner=owner /> })}
        </header>
        <section aria-labelledby="problem-h">
            <h2 id="problem-h">"Problem"</h2>
            <TextBox doc=doc field=TextField::Problem text=problem label="Problem"
                placeholder="Users are struggling with…" class="prose" />
        </section>
        <Metrics doc=doc spec=spec />
        <Stories doc=doc spec=spec />
        <Triage doc=doc spec=spec />
        <Decisions doc=doc spec=spec />
        <Questions doc=doc spec=spec />
    }
}

/// Words for where someone is, from their field key.
pub(crate) fn place_of(key: &str, spec: &SpecView) -> String {
    let story_no = |id: &str| {
        spec.stories
            .iter()
            .position(|s| s.id.as_str() == id)
            .map_or_else(|| "a story".to_owned(), |i| format!("story {}", i + 1))
    };
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["title"] => "the title".into(),
        ["problem"] => "the problem".into(),
        ["metric", ..] => "success metrics".into(),
        ["story", id, field] => {
            let label = StoryField::from_stored(field).map_or("", StoryField::label);
            format!("{} · {label}", story_no(id))
        }
        ["criterion", story, _] => format!("{} · criteria", story_no(story)),
        ["constraint", _] => "a constraint".into(),
        ["decision", ..] => "the decision log".into(),
        ["question", ..] => "open questions".into(),
        _ => "the spec".into(),
    }
}

#[component]
fn PresenceBar(spec: SpecMemo) -> impl IntoView {
    let People(people) = expect_context::<People>();
    let conn = expect_context::<Conn>();
    let me = conn.get_value().person();
    let me_user = me.user.to_string();
    // One entry per person: another tab of someone (or of me) is not another person.
    let others = move || {
        let mut seen: Vec<Presence> = Vec::new();
        for p in people.get() {
            if p.user == me_user {
                continue;
            }
            match seen.iter_mut().find(|s| s.user == p.user) {
                // Where they are: the tab that is in a field.
                Some(s) if s.field.is_none() => *s = p,
                Some(_) => {}
                None => seen.push(p),
            }
        }
        seen.into_iter()
            .map(|p: Presence| {
                let place = p
                    .field
                    .as_deref()
                    .map(|k| spec.with(|s| s.as_ref().map(|s| place_of(k, s)).unwrap_or_default()));
                view! {
                    <li class="person" data-user=p.user.clone()>
                        {avatar(&p.name, &p.color)}
                        <span class="person-name">{p.name.clone()}</span>
                        {place.map(|w| view! { <span class="where">" in " {w}</span> })}
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <ul class="people" aria-label="People here">
            <li class="person me">
                {avatar(&me.name, &me.color)}
                <span class="person-name">{me.name.clone()} " (you)"</span>
            </li>
            {others}
        </ul>
    }
}

/// A `<select>` over one of the spec's closed sets of values.
#[component]
fn Choice(
    #[prop(into)] label: String,
    options: Vec<(&'static str, &'static str)>,
    #[prop(into)] value: Signal<&'static str>,
    on_pick: Callback<String>,
    #[prop(optional)] class: &'static str,
) -> impl IntoView {
    view! {
        <select class=class aria-label=label prop:value=value disabled=read_only()
            on:change=handler(move |ev| on_pick.run(event_target_value(&ev)))>
            {options.into_iter().map(|(stored, text)| view! { <option value=stored>{text}</option> }).collect_view()}
        </select>
    }
}

/// Where an item of `ids` can move one step up and one step down (the `index` argument of
/// the model's move edits: a position among the other items).
fn list_moves(
    ids: Memo<Vec<ItemId>>,
    id: ItemId,
) -> (Signal<Option<usize>>, Signal<Option<usize>>) {
    let id2 = id.clone();
    let up = Signal::derive(move || {
        ids.with(|ids| ids.iter().position(|i| *i == id))
            .and_then(|i| i.checked_sub(1))
    });
    let down = Signal::derive(move || {
        ids.with(|ids| {
            ids.iter()
                .position(|i| *i == id2)
                .map(|i| i + 1)
                .filter(|to| *to < ids.len())
        })
    });
    (up, down)
}

/// Up, down and remove buttons for an item of a list; `up`/`down` are the move targets.
#[component]
fn ItemTools(
    #[prop(into)] noun: String,
    #[prop(into)] up: Signal<Option<usize>>,
    #[prop(into)] down: Signal<Option<usize>>,
    on_move: Callback<usize>,
    on_remove: Callback<()>,
) -> impl IntoView {
    let up = move || up.get();
    let down = move || down.get();
    view! {
        <span class="tools">
            <button type="button" class="icon" aria-label=format!("Move {noun} up") title="Move up"
                disabled=move || up().is_none()
                on:click=handler(move |_| if let Some(to) = up() { on_move.run(to) })>"↑"</button>
            <button type="button" class="icon" aria-label=format!("Move {noun} down") title="Move down"
                disabled=move || down().is_none()
                on:click=handler(move |_| if let Some(to) = down() { on_move.run(to) })>"↓"</button>
            <button type="button" class="icon danger" aria-label=format!("Remove {noun}") title="Remove"
                on:click=handler(move |_| on_remove.run(()))>"×"</button>
        </span>
    }
}

/// A memo of something read from the spec (the default until the spec is loaded); it
/// notifies only when that thing changes.
fn from_spec<T>(spec: SpecMemo, read: impl Fn(&SpecView) -> T + Send + Sync + 'static) -> Memo<T>
where
    T: Clone + PartialEq + Default + Send + Sync + 'static,
{
    Memo::new(move |_| spec.with(|s| s.as_ref().map(&read).unwrap_or_default()))
}

/// The click handler of an "Add …" button: adds an item at the end of the list whose ids
/// are `ids`, then focuses the new item's field that `first` names.
fn adder(
    doc: DocumentId,
    ids: Memo<Vec<ItemId>>,
    first: impl Fn(ItemId) -> TextField + 'static,
    add: impl Fn(
            &mut duet_model::Spec,
            &ItemId,
            usize,
            duet_model::UnixMillis,
        ) -> Result<(), duet_model::EditError>
        + 'static,
) -> impl Fn(leptos::ev::MouseEvent) + 'static {
    let conn = expect_context::<Conn>();
    let FocusRequest(focus) = expect_context::<FocusRequest>();
    move |_| {
        let id = new_id();
        let at = ids.with_untracked(Vec::len);
        focus.set(Some(field_key(&first(id.clone()))));
        edit(conn, doc, Box::new(|s, now| add(s, &id, at, now)));
    }
}

fn edit(conn: Conn, doc: DocumentId, f: Edit<'_>) {
    conn.get_value().edit(doc, f);
}

// ---- success metrics ----

#[component]
fn Metrics(doc: DocumentId, spec: SpecMemo) -> impl IntoView {
    let ids = from_spec(spec, |s| {
        s.metrics.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    });
    let add = adder(
        doc,
        ids,
        |metric| TextField::Metric {
            metric,
            field: MetricField::Name,
        },
        |s, id, at, now| s.add_metric(id, at, "", "", now),
    );
    view! {
        <section aria-labelledby="metrics-h">
            <h2 id="metrics-h">"Success metrics"</h2>
            <ul class="metrics">
                {each_id(ids, Arc::new(move |id| view! {
                    <MetricRow doc=doc spec=spec id=id ids=ids />
                }.into_any()))}
            </ul>
            <button type="button" class="add" on:click=handler(add)>"Add metric"</button>
        </section>
    }
}

#[component]
fn MetricRow(doc: DocumentId, spec: SpecMemo, id: ItemId, ids: Memo<Vec<ItemId>>) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let m = {
        let id = id.clone();
        from_spec(spec, move |s| {
            s.metrics.iter().find(|m| m.id == id).cloned()
        })
    };
    let name =
        Memo::new(move |_| m.with(|m| m.as_ref().map(|m| m.name.clone()).unwrap_or_default()));
    let target =
        Memo::new(move |_| m.with(|m| m.as_ref().map(|m| m.target.clone()).unwrap_or_default()));
    let (up, down) = list_moves(ids, id.clone());
    let (mv, rm) = (id.clone(), id.clone());
    view! {
        <li class="metric" data-id=id.to_string()>
            <TextBox doc=doc field=TextField::Metric { metric: id.clone(), field: MetricField::Name } text=name
                label="Metric" placeholder="What is measured" single_line=true />
            <TextBox doc=doc field=TextField::Metric { metric: id.clone(), field: MetricField::Target } text=target
                label="Target" placeholder="Target" single_line=true />
            <ItemTools noun="metric" up=up down=down
                on_move=Callback::new(move |to| edit(conn, doc, Box::new(|s, now| s.move_metric(&mv, to, now))))
                on_remove=Callback::new(move |()| edit(conn, doc, Box::new(|s, now| s.remove_metric(&rm, now)))) />
        </li>
    }
}

// ---- stories ----

#[component]
fn Stories(doc: DocumentId, spec: SpecMemo) -> impl IntoView {
    let ids = from_spec(spec, |s| {
        s.stories.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    });
    let add = adder(
        doc,
        ids,
        |story| TextField::Story {
            story,
            field: StoryField::AsA,
        },
        |s, id, at, now| s.add_story(id, at, &NewStory::default(), now),
    );
    view! {
        <section aria-labelledby="stories-h">
            <h2 id="stories-h">"User stories"</h2>
            {move || ids.with(Vec::is_empty).then(|| view! { <p class="muted">"No stories yet."</p> })}
            {each_id(ids, Arc::new(move |id| view! {
                <StoryCard doc=doc spec=spec id=id ids=ids />
            }.into_any()))}
            <button type="button" class="add" on:click=handler(add)>"Add story"</button>
        </section>
    }
}

/// The last non-empty selection made in one of a story's fields (for anchoring).
type StorySelection = RwSignal<Option<AnchorSpan>>;

#[component]
fn StoryCard(doc: DocumentId, spec: SpecMemo, id: ItemId, ids: Memo<Vec<ItemId>>) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let story: Memo<Option<StoryView>> = {
        let id = id.clone();
        from_spec(spec, move |s| s.story(&id).cloned())
    };
    let (up, down) = list_moves(ids, id.clone());
    let number = {
        let id = id.clone();
        Signal::derive(move || {
            ids.with(|ids| ids.iter().position(|i| *i == id))
                .map_or(0, |i| i + 1)
        })
    };
    let selection: StorySelection = RwSignal::new(None);
    let SignOffNotices(notices) = expect_context::<SignOffNotices>();
    let status =
        Memo::new(move |_| story.with(|s| s.as_ref().map_or(StoryStatus::Draft, |s| s.status)));
    let (mv, rm, st) = (id.clone(), id.clone(), id.clone());
    let fid = id.clone();
    let field = move |f: StoryField, placeholder: &'static str| {
        let text = Memo::new(move |_| {
            story.with(|s| {
                s.as_ref()
                    .map(|s| s.field(f).to_owned())
                    .unwrap_or_default()
            })
        });
        let highlights = Memo::new(move |_| {
            story.with(|s| {
                s.as_ref()
                    .map(|s| {
                        s.constraints
                            .iter()
                            .filter_map(|c| match &c.anchor {
                                Anchor::Span {
                                    field, start, end, ..
                                } if *field == f => Some(Highlight {
                                    start: *start,
                                    end: *end,
                                    constraint: c.id.clone(),
                                    severity: c.severity,
                                }),
                                _ => None,
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
        });
        let on_select = Callback::new(move |(start, end): (usize, usize)| {
            if start < end {
                selection.set(Some(AnchorSpan {
                    field: f,
                    start,
                    end,
                }));
            } else if selection.with_untracked(|s| s.is_some_and(|s| s.field == f)) {
                selection.set(None);
            }
        });
        view! {
            <div class="story-line">
                <span class="lead" aria-hidden="true">{f.label()}</span>
                <TextBox doc=doc field=TextField::Story { story: fid.clone(), field: f } text=text
                    label=format!("{}", f.label()) placeholder=placeholder highlights=highlights
                    on_select=on_select class="prose" />
            </div>
        }
    };
    view! {
        <article class="story" data-id=id.to_string() aria-label=move || format!("Story {}", number.get())
            on:focusout=move |ev: leptos::ev::FocusEvent| {
                // The selection to anchor to is the story's only while the focus stays in it.
                let inside = ev.related_target().and_then(|t| t.dyn_into::<web_sys::Node>().ok()).is_some_and(|to| {
                    ev.current_target()
                        .and_then(|me| me.dyn_into::<web_sys::Node>().ok())
                        .is_some_and(|me| me.contains(Some(&to)))
                });
                if !inside {
                    selection.set(None);
                }
            }>
            <div class="story-main">
                <header class="item-head">
                    <h3>"Story " {number}</h3>
                    <Choice label="Story status" class="status-pick"
                        options=StoryStatus::ALL.iter().map(|s| (s.as_stored(), s.label())).collect()
                        value=Signal::derive(move || status.get().as_stored())
                        on_pick=Callback::new(move |v: String| {
                            if let Some(v) = StoryStatus::from_stored(&v) {
                                edit(conn, doc, Box::new(|s, now| s.set_story_status(&st, v, now)));
                            }
                        }) />
                    <ItemTools noun="story" up=up down=down
                        on_move=Callback::new(move |to| edit(conn, doc, Box::new(|s, now| s.move_story(&mv, to, now))))
                        on_remove=Callback::new(move |()| edit(conn, doc, Box::new(|s, now| s.remove_story(&rm, now)))) />
                </header>
                <SignOffBar doc=doc story_id=id.clone() story=story notices=notices />
                {field(StoryField::AsA, "who")}
                {field(StoryField::IWant, "what they want to do")}
                {field(StoryField::SoThat, "why it matters to them")}
                <div class="criteria">
                    <h4>"Acceptance criteria"</h4>
                    {CriterionKind::ALL.iter().map(|&kind| view! {
                        <CriteriaGroup doc=doc story_id=id.clone() story=story kind=kind />
                    }).collect_view()}
                </div>
            </div>
            <Track doc=doc story_id=id.clone() story=story selection=selection />
        </article>
    }
}

#[component]
fn CriteriaGroup(
    doc: DocumentId,
    story_id: ItemId,
    story: Memo<Option<StoryView>>,
    kind: CriterionKind,
) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let focus = expect_context::<FocusRequest>();
    let all = Memo::new(move |_| {
        story.with(|s| {
            s.as_ref()
                .map(|s| {
                    s.criteria
                        .iter()
                        .map(|c| (c.id.clone(), c.kind))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let ids = Memo::new(move |_| {
        all.with(|all| {
            all.iter()
                .filter(|(_, k)| *k == kind)
                .map(|(id, _)| id.clone())
                .collect::<Vec<_>>()
        })
    });
    let sid = story_id.clone();
    let add = move |_| {
        let id = new_id();
        let at = all.with_untracked(Vec::len);
        focus.0.set(Some(field_key(&TextField::Criterion {
            story: sid.clone(),
            criterion: id.clone(),
        })));
        edit(
            conn,
            doc,
            Box::new(|s, now| s.add_criterion(&sid, &id, at, kind, "", now)),
        );
    };
    view! {
        <div class=format!("criteria-group kind-{}", kind.as_stored())>
            <h5>{kind.label()}</h5>
            <ul>
                {each_id(ids, Arc::new(move |id| view! {
                    <CriterionRow doc=doc story_id=story_id.clone() story=story id=id all=all />
                }.into_any()))}
            </ul>
            <button type="button" class="add small" on:click=handler(add)
                aria-label=format!("Add {} criterion", kind.label())>"+ " {kind.label()} " criterion"</button>
        </div>
    }
}

#[component]
fn CriterionRow(
    doc: DocumentId,
    story_id: ItemId,
    story: Memo<Option<StoryView>>,
    id: ItemId,
    all: Memo<Vec<(ItemId, CriterionKind)>>,
) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let c = {
        let id = id.clone();
        Memo::new(move |_| {
            story.with(|s| {
                s.as_ref()
                    .and_then(|s| s.criteria.iter().find(|c| c.id == id).cloned())
            })
        })
    };
    let text =
        Memo::new(move |_| c.with(|c| c.as_ref().map(|c| c.text.clone()).unwrap_or_default()));
    let done = Memo::new(move |_| c.with(|c| c.as_ref().is_some_and(|c| c.done)));
    let kind =
        Memo::new(move |_| c.with(|c| c.as_ref().map_or(CriterionKind::Technical, |c| c.kind)));
    // Up and down move past the neighbour of the same kind, within the whole list.
    let (up, down) = {
        let (a, b) = (id.clone(), id.clone());
        let up = Signal::derive(move || {
            all.with(|all| {
                let me = all.iter().position(|(i, _)| *i == a)?;
                all[..me].iter().rposition(|(_, k)| *k == all[me].1)
            })
        });
        let down = Signal::derive(move || {
            all.with(|all| {
                let me = all.iter().position(|(i, _)| *i == b)?;
                let k = all[me].1;
                all.iter()
                    .enumerate()
                    .skip(me + 1)
                    .find(|(_, (_, kk))| *kk == k)
                    .map(|(i, _)| i)
            })
        });
        (up, down)
    };
    let (sd, sk, sm, sr) = (
        story_id.clone(),
        story_id.clone(),
        story_id.clone(),
        story_id.clone(),
    );
    let (d, k, m, r) = (id.clone(), id.clone(), id.clone(), id.clone());
    view! {
        <li class="criterion" class:done=done data-id=id.to_string()>
            <input type="checkbox" aria-label="Done" prop:checked=done disabled=read_only()
                on:change=handler(move |ev| {
                    let checked = event_target_checked(&ev);
                    edit(conn, doc, Box::new(|s, now| s.set_criterion_done(&sd, &d, checked, now)));
                }) />
            <TextBox doc=doc field=TextField::Criterion { story: story_id.clone(), criterion: id.clone() } text=text
                label="Criterion" placeholder="It is done when…" />
            <Choice label="Criterion kind" class="kind-pick"
                options=CriterionKind::ALL.iter().map(|s| (s.as_stored(), s.label())).collect()
                value=Signal::derive(move || kind.get().as_stored())
                on_pick=Callback::new(move |v: String| {
                    if let Some(v) = CriterionKind::from_stored(&v) {
                        edit(conn, doc, Box::new(|s, now| s.set_criterion_kind(&sk, &k, v, now)));
                    }
                }) />
            <ItemTools noun="criterion" up=up down=down
                on_move=Callback::new(move |at: usize| edit(conn, doc, Box::new(|s, now| s.move_criterion(&sm, &m, at, now))))
                on_remove=Callback::new(move |()| edit(conn, doc, Box::new(|s, now| s.remove_criterion(&sr, &r, now)))) />
        </li>
    }
}

// ---- the constraints track ----

fn severity_options() -> Vec<(&'static str, &'static str)> {
    Severity::ALL
        .iter()
        .map(|s| (s.as_stored(), s.label()))
        .collect()
}

#[component]
fn Track(
    doc: DocumentId,
    story_id: ItemId,
    story: Memo<Option<StoryView>>,
    selection: StorySelection,
) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let focus = expect_context::<FocusRequest>();
    // Every constraint of the story, also those whose words were deleted (marked, and
    // listed in triage too): nothing vanishes from the track.
    let ids = Memo::new(move |_| {
        story.with(|s| {
            s.as_ref()
                .map(|s| {
                    s.constraints
                        .iter()
                        .map(|c| c.id.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let quote = move || {
        let span = selection.get()?;
        let text = story.with(|s| s.as_ref().map(|s| s.field(span.field).to_owned()))?;
        let units: Vec<u16> = text.encode_utf16().collect();
        let q = String::from_utf16_lossy(units.get(span.start..span.end)?);
        Some(if q.chars().count() > 24 {
            format!("{}…", q.chars().take(24).collect::<String>())
        } else {
            q
        })
    };
    let sid = story_id.clone();
    let add = move |_| {
        let id = new_id();
        let at = story.with_untracked(|s| s.as_ref().map_or(0, |s| s.constraints.len()));
        let anchor = selection.get_untracked();
        focus.0.set(Some(field_key(&TextField::Constraint {
            constraint: id.clone(),
        })));
        let new = NewConstraint {
            kind: ConstraintKind::Other,
            severity: Severity::Major,
            text: String::new(),
            anchor,
        };
        edit(
            conn,
            doc,
            Box::new(|s, now| s.add_constraint(&sid, &id, at, &new, now)),
        );
        selection.set(None);
    };
    view! {
        <aside class="track" aria-label="Constraints">
            {each_id(ids, Arc::new(move |id| view! {
                <ConstraintCard doc=doc id=id constraint=Signal::stored(None) story=Some(story) selection=selection />
            }.into_any()))}
            // Pressing it keeps the focus (and the selection) in the story's field.
            <button type="button" class="add small" on:click=handler(add)
                on:mousedown=|ev: leptos::ev::MouseEvent| ev.prevent_default()>
                {move || match quote() {
                    Some(q) => format!("+ Constraint on “{q}”"),
                    None => "+ Constraint".to_owned(),
                }}
            </button>
        </aside>
    }
}

#[component]
fn ConstraintCard(
    doc: DocumentId,
    id: ItemId,
    /// Where to read the constraint when not from a story (triage).
    #[prop(into)]
    constraint: Signal<Option<ConstraintView>>,
    story: Option<Memo<Option<StoryView>>>,
    #[prop(optional)] in_triage: bool,
    #[prop(optional)] stories: Option<Memo<Vec<(ItemId, String)>>>,
    /// The story's current selection, to re-anchor to (in the track).
    #[prop(optional)]
    selection: Option<StorySelection>,
) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let ActiveConstraint(active) = expect_context::<ActiveConstraint>();
    let c: Memo<Option<ConstraintView>> = {
        let id = id.clone();
        Memo::new(move |_| match story {
            Some(story) => story.with(|s| {
                s.as_ref()
                    .and_then(|s| s.constraints.iter().find(|c| c.id == id).cloned())
            }),
            None => constraint.get(),
        })
    };
    let severity =
        Memo::new(move |_| c.with(|c| c.as_ref().map_or(Severity::Major, |c| c.severity)));
    let kind = Memo::new(move |_| c.with(|c| c.as_ref().map_or(ConstraintKind::Other, |c| c.kind)));
    let status =
        Memo::new(move |_| c.with(|c| c.as_ref().map_or(ConstraintStatus::Open, |c| c.status)));
    let text =
        Memo::new(move |_| c.with(|c| c.as_ref().map(|c| c.text.clone()).unwrap_or_default()));
    let anchor = Memo::new(move |_| c.with(|c| c.as_ref().map(|c| c.anchor.clone())));
    let author =
        Memo::new(move |_| c.with(|c| c.as_ref().map(|c| c.author.clone()).unwrap_or_default()));
    let track_ids = Memo::new(move |_| {
        story
            .map(|st| {
                st.with(|s| {
                    s.as_ref()
                        .map(|s| {
                            s.constraints
                                .iter()
                                .map(|c| c.id.clone())
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                })
            })
            .unwrap_or_default()
    });
    let (up, down) = list_moves(track_ids, id.clone());
    let pointed = {
        let id = id.clone();
        move || active.with(|a| a.as_ref() == Some(&id))
    };
    let (i1, i2, i3, i4, i5, i6) = (
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
    );
    let (i5, i6) = (StoredValue::new(i5), StoredValue::new(i6));
    let i7 = id.clone();
    // Focus events can arrive after the card was taken off the page (a focused card that
    // moves to triage gets `focusout` on removal): only ever use the `try_` accessors here.
    let point = move || {
        i5.try_with_value(|i| {
            if active.try_get_untracked().flatten().as_ref() != Some(i) {
                active.try_set(Some(i.clone()));
            }
        });
    };
    let unpoint = move || {
        i6.try_with_value(|i| {
            if active.try_get_untracked().flatten().as_ref() == Some(i) {
                active.try_set(None);
            }
        });
    };
    let keep_on = move |story: ItemId| {
        edit(
            conn,
            doc,
            Box::new(|s, now| s.unanchor_constraint(&i4, &story, now)),
        )
    };
    let keep_on = StoredValue::new(keep_on);
    let story_of =
        Memo::new(move |_| c.with(|c| c.as_ref().map(|c| c.story.clone()).unwrap_or_default()));
    view! {
        <div class=move || format!("constraint severity-{} status-{}", severity.get().as_stored(), status.get().as_stored())
            class:active=pointed
            data-id=id.to_string()
            on:mouseenter=move |_| point() on:mouseleave=move |_| unpoint()
            on:focusin=move |_| point() on:focusout=move |_| unpoint()>
            <div class="constraint-head">
                // Severity once: a badge to read, or the choice to change it.
                {if read_only() {
                    view! { <span class="sev-badge">{move || severity.get().label()}</span> }.into_any()
                } else {
                    view! {
                        <Choice label="Severity" class="sev-pick" options=severity_options()
                            value=Signal::derive(move || severity.get().as_stored())
                            on_pick=Callback::new(move |v: String| if let Some(v) = Severity::from_stored(&v) {
                                edit(conn, doc, Box::new(|s, now| s.set_constraint_severity(&i1, v, now)));
                            }) />
                    }.into_any()
                }}
                <Choice label="Kind" class="kind-pick"
                    options=ConstraintKind::ALL.iter().map(|s| (s.as_stored(), s.label())).collect()
                    value=Signal::derive(move || kind.get().as_stored())
                    on_pick=Callback::new(move |v: String| if let Some(v) = ConstraintKind::from_stored(&v) {
                        edit(conn, doc, Box::new(|s, now| s.set_constraint_kind(&i2, v, now)));
                    }) />
                <Choice label="Status" class="status-pick"
                    options=ConstraintStatus::ALL.iter().map(|s| (s.as_stored(), s.label())).collect()
                    value=Signal::derive(move || status.get().as_stored())
                    on_pick=Callback::new(move |v: String| if let Some(v) = ConstraintStatus::from_stored(&v) {
                        edit(conn, doc, Box::new(|s, now| s.set_constraint_status(&i3, v, now)));
                    }) />
            </div>
            <TextBox doc=doc field=TextField::Constraint { constraint: id.clone() } text=text
                label="Constraint" placeholder="What binds this story…" />
            {move || match anchor.get() {
                Some(Anchor::Span { text, .. }) => Some(view! { <p class="anchor">"on “" {text} "”"</p> }.into_any()),
                Some(Anchor::Orphaned { quote, .. }) => Some(view! {
                    <p class="anchor orphan"><strong class="lost">"Lost its words"</strong>
                        " — it was on “" {quote} "”, since deleted"</p>
                    {selection.filter(|_| !read_only()).map(|sel| {
                        let (i, home) = (i7.clone(), story_of.get_untracked());
                        view! {
                            <div class="reanchor">
                                <button type="button" class="small" disabled=move || sel.with(Option::is_none)
                                    title="Select words in the story, then press this"
                                    on:mousedown=|ev: leptos::ev::MouseEvent| ev.prevent_default()
                                    on:click=handler(move |_| {
                                        let (Some(span), Ok(story)) = (sel.get_untracked(), ItemId::parse(&home)) else { return };
                                        let i = i.clone();
                                        edit(conn, doc, Box::new(move |s, now| s.anchor_constraint(&i, &story, span, now)));
                                        sel.set(None);
                                    })>
                                    {move || if sel.with(Option::is_some) { "Re-anchor to the selection" } else { "Re-anchor: select words first" }}
                                </button>
                                <button type="button" class="small quiet" on:click=handler(move |_| {
                                    if let Ok(story) = ItemId::parse(&story_of.get_untracked()) { keep_on.with_value(|k| k(story)) }
                                })>"Keep on the whole story"</button>
                            </div>
                        }
                    })}
                }.into_any()),
                _ => None,
            }}
            {in_triage.then(|| {
                let label = move || {
                    let home = story_of.get();
                    stories
                        .and_then(|st| st.with(|all| all.iter().find(|(i, _)| i.as_str() == home).map(|(_, l)| l.clone())))
                        .unwrap_or_else(|| "a removed story".to_owned())
                };
                view! { <p class="belongs muted">"Belongs to " {label}</p> }
            })}
            <div class="constraint-foot">
                <span class="author">"by " {move || name_tag(&author.get())}</span>
                {in_triage.then(|| {
                    view! {
                        <button type="button" class="small" on:click=handler(move |_| {
                            let home = story_of.get_untracked();
                            let target = stories.and_then(|st| st.with_untracked(|all| {
                                all.iter().find(|(i, _)| i.as_str() == home).or(all.first()).map(|(i, _)| i.clone())
                            }));
                            if let Some(t) = target { keep_on.with_value(|k| k(t)) }
                        })>"Keep on the story"</button>
                    }
                })}
                {(!in_triage).then(|| {
                    let (m, r) = (id.clone(), id.clone());
                    view! {
                        <ItemTools noun="constraint" up=up down=down
                            on_move=Callback::new(move |to| edit(conn, doc, Box::new(|s, now| s.move_constraint(&m, to, now))))
                            on_remove=Callback::new(move |()| edit(conn, doc, Box::new(|s, now| s.remove_constraint(&r, now)))) />
                    }
                })}
                {in_triage.then(|| {
                    let r = id.clone();
                    view! {
                        <button type="button" class="small danger" on:click=handler(move |_| edit(conn, doc, Box::new(|s, now| s.remove_constraint(&r, now))))>"Remove"</button>
                    }
                })}
            </div>
        </div>
    }
}

#[component]
fn Triage(doc: DocumentId, spec: SpecMemo) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let ro = read_only();
    let ids = from_spec(spec, |s| {
        s.triage()
            .into_iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    });
    // Open blockers: (id, text, who raised it, which story).
    let blockers = from_spec(spec, |s| {
        s.open_blockers()
            .into_iter()
            .map(|c| {
                let story = s
                    .stories
                    .iter()
                    .position(|st| st.id.as_str() == c.story)
                    .map_or_else(String::new, |i| format!("Story {}", i + 1));
                (c.id.clone(), c.text.clone(), c.author.clone(), story)
            })
            .collect::<Vec<_>>()
    });
    let stories = from_spec(spec, |s| {
        s.stories
            .iter()
            .enumerate()
            .map(|(i, st)| (st.id.clone(), format!("Story {}", i + 1)))
            .collect::<Vec<_>>()
    });
    let count = move || ids.with(Vec::len) + blockers.with(Vec::len);
    let any = move || count() != 0;
    let blocker_row = move |(id, text, author, story): (ItemId, String, String, String)| {
        let (jump, fix) = (id.to_string(), id.clone());
        let text = if text.trim().is_empty() {
            "(no text yet)".to_owned()
        } else {
            text
        };
        view! {
            <li class="blocker" data-blocker=id.to_string()>
                <span class="sev-badge">"Blocker"</span>
                <span class="blocker-text">{text}</span>
                <span class="muted">" — raised by " <span class="author">{move || name_tag(&author)}</span> " on " {story}</span>
                <button type="button" class="small quiet" on:click=handler(move |_| scroll_to_item(&jump))>"Show"</button>
                {(!ro).then(|| view! {
                    <button type="button" class="small" on:click=handler(move |_| {
                        edit(conn, doc, Box::new(|s, now| s.set_constraint_status(&fix, ConstraintStatus::Addressed, now)))
                    })>"Mark addressed"</button>
                })}
            </li>
        }
    };
    view! {
        <Show when=any>
            <section class="triage" aria-labelledby="triage-h">
                <h2 id="triage-h">"Triage " <span class="count">{count}</span></h2>
                {move || (!blockers.with(Vec::is_empty)).then(|| view! {
                    <h3>"Open blockers"</h3>
                    <p class="muted">"Each stops its story until someone addresses it."</p>
                    <ul class="blockers">{move || blockers.get().into_iter().map(blocker_row).collect_view()}</ul>
                })}
                <Show when=move || ids.with(|i| !i.is_empty())>
                    <h3>"Lost their anchor"</h3>
                    <p class="muted">"Constraints whose anchored text was deleted. Keep each on its story or remove it."</p>
                    <div class="triage-list">
                        {each_id(ids, Arc::new(move |id| view! {
                            <ConstraintCard doc=doc id=id.clone() in_triage=true stories=stories story=None
                                constraint=Signal::derive(move || spec.with(|s| s.as_ref().and_then(|s| s.all_constraints().find(|c| c.id == id).cloned()))) />
                        }.into_any()))}
                    </div>
                </Show>
            </section>
        </Show>
    }
}

// ---- decision log ----

#[component]
fn Decisions(doc: DocumentId, spec: SpecMemo) -> impl IntoView {
    let ids = from_spec(spec, |s| {
        s.decisions.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    });
    let stories = from_spec(spec, |s| {
        s.stories
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let what: String = st.i_want.chars().take(40).collect();
                (
                    st.id.clone(),
                    if what.is_empty() {
                        format!("Story {}", i + 1)
                    } else {
                        format!("Story {}: {what}", i + 1)
                    },
                )
            })
            .collect::<Vec<_>>()
    });
    let add = adder(
        doc,
        ids,
        |decision| TextField::Decision {
            decision,
            field: DecisionField::Title,
        },
        |s, id, at, now| s.add_decision(id, at, &NewDecision::default(), now),
    );
    view! {
        <section aria-labelledby="decisions-h">
            <h2 id="decisions-h">"Decision log"</h2>
            {each_id(ids, Arc::new(move |id| view! {
                <DecisionRow doc=doc spec=spec id=id ids=ids stories=stories />
            }.into_any()))}
            <button type="button" class="add" on:click=handler(add)>"Add decision"</button>
        </section>
    }
}

#[component]
fn DecisionRow(
    doc: DocumentId,
    spec: SpecMemo,
    id: ItemId,
    ids: Memo<Vec<ItemId>>,
    stories: Memo<Vec<(ItemId, String)>>,
) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let ro = read_only();
    let d = {
        let id = id.clone();
        from_spec(spec, move |s| {
            s.decisions.iter().find(|d| d.id == id).cloned()
        })
    };
    let text = move |f: DecisionField| {
        Memo::new(move |_| {
            d.with(|d| {
                d.as_ref()
                    .map(|d| match f {
                        DecisionField::Title => d.title.clone(),
                        DecisionField::Decision => d.decision.clone(),
                        DecisionField::Rationale => d.rationale.clone(),
                    })
                    .unwrap_or_default()
            })
        })
    };
    let linked =
        Memo::new(move |_| d.with(|d| d.as_ref().map(|d| d.stories.clone()).unwrap_or_default()));
    let directory = expect_context::<Directory>();
    let who = Memo::new(move |_| {
        d.with(|d| {
            d.as_ref()
                .map(|d| {
                    let date =
                        js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(d.decided_at.0 as f64));
                    format!(
                        "decided by {} · {}",
                        directory.name(&d.decided_by),
                        String::from(
                            date.to_locale_date_string(
                                "default",
                                &wasm_bindgen::JsValue::UNDEFINED
                            )
                        )
                    )
                })
                .unwrap_or_default()
        })
    });
    let (up, down) = list_moves(ids, id.clone());
    let (mv, rm, ln) = (id.clone(), id.clone(), id.clone());
    let ln = StoredValue::new(ln);
    // The stories it concerns that read differently since it was decided.
    let changed = Memo::new(move |_| {
        d.with(|d| {
            d.as_ref()
                .map(|d| d.context_changed.clone())
                .unwrap_or_default()
        })
    });
    let showing = RwSignal::new(false);
    let confirm = StoredValue::new(id.clone());
    let context = move || {
        (!changed.with(Vec::is_empty)).then(|| {
            let story_label = move |sid: &ItemId| {
                stories.with(|s| {
                    s.iter()
                        .find(|(i, _)| i == sid)
                        .map_or_else(|| "A story".to_owned(), |(_, l)| l.clone())
                })
            };
            view! {
                <div class="context-changed">
                    <span class="badge stale" role="status">"Context changed since decided"</span>
                    <button type="button" class="quiet" aria-expanded=move || showing.get().to_string()
                        on:click=handler(move |_| showing.update(|s| *s = !*s))>"What changed"</button>
                    {(!ro).then(|| view! {
                        <button type="button" class="quiet" title="The decision holds for the stories as they read now"
                            on:click=handler(move |_| confirm.with_value(|id| edit(conn, doc, Box::new(|s, now| s.confirm_decision(id, now)))))>
                            "Still holds"
                        </button>
                    })}
                    {move || showing.get().then(|| changed.get().into_iter().map(|c| {
                        let label = story_label(&c.story);
                        if c.deleted {
                            view! { <p class="diff-item">{format!("{label}: deleted since")}</p> }.into_any()
                        } else if c.at.is_empty() {
                            view! { <p class="diff-item">{format!("{label}: changed since (the version it was decided at is not known)")}</p> }.into_any()
                        } else {
                            view! {
                                <p class="diff-item"><strong>{label}</strong></p>
                                <StoryDiff doc=doc story=c.story.to_string() from=c.at.clone() label="What changed since it was decided" />
                            }.into_any()
                        }
                    }).collect_view())}
                </div>
            }
        })
    };
    let f = |field: DecisionField, placeholder: &'static str, single: bool| {
        view! {
            <TextBox doc=doc field=TextField::Decision { decision: id.clone(), field } text=text(field)
                label=field.label() placeholder=placeholder single_line=single class="prose" />
        }
    };
    view! {
        <article class="decision" data-id=id.to_string()>
            <header class="item-head">
                <div class="labelled grow"><span class="lead">"Title"</span>{f(DecisionField::Title, "What was decided, in a few words", true)}</div>
                <ItemTools noun="decision" up=up down=down
                    on_move=Callback::new(move |to| edit(conn, doc, Box::new(|s, now| s.move_decision(&mv, to, now))))
                    on_remove=Callback::new(move |()| edit(conn, doc, Box::new(|s, now| s.remove_decision(&rm, now)))) />
            </header>
            <div class="labelled"><span class="lead">"Decision"</span>{f(DecisionField::Decision, "The decision", false)}</div>
            <div class="labelled"><span class="lead">"Why"</span>{f(DecisionField::Rationale, "Why, and what else was considered", false)}</div>
            <fieldset class="concerns">
                <legend>"Concerns"</legend>
                {move || stories.get().into_iter().map(|(sid, label)| {
                    let checked = linked.with(|l| l.contains(&sid));
                    view! {
                        <label class="check">
                            <input type="checkbox" prop:checked=checked disabled=ro on:change=handler(move |ev| {
                                let on = event_target_checked(&ev);
                                let mut now_linked = linked.get_untracked();
                                now_linked.retain(|s| *s != sid);
                                if on { now_linked.push(sid.clone()); }
                                ln.with_value(|id| edit(conn, doc, Box::new(|s, now| s.set_decision_stories(id, &now_linked, now))));
                            }) />
                            {label}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            {context}
            <p class="muted small">{who}</p>
        </article>
    }
}

// ---- open questions ----

#[component]
fn Questions(doc: DocumentId, spec: SpecMemo) -> impl IntoView {
    let ids = from_spec(spec, |s| {
        s.questions.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    });
    let add = adder(
        doc,
        ids,
        |question| TextField::Question {
            question,
            field: QuestionField::Question,
        },
        |s, id, at, now| s.add_question(id, at, "", now),
    );
    view! {
        <section aria-labelledby="questions-h">
            <h2 id="questions-h">"Open questions"</h2>
            {each_id(ids, Arc::new(move |id| view! {
                <QuestionRow doc=doc spec=spec id=id ids=ids />
            }.into_any()))}
            <button type="button" class="add" on:click=handler(add)>"Add question"</button>
        </section>
    }
}

#[component]
fn QuestionRow(
    doc: DocumentId,
    spec: SpecMemo,
    id: ItemId,
    ids: Memo<Vec<ItemId>>,
) -> impl IntoView {
    let conn = expect_context::<Conn>();
    let q = {
        let id = id.clone();
        from_spec(spec, move |s| {
            s.questions.iter().find(|q| q.id == id).cloned()
        })
    };
    let question =
        Memo::new(move |_| q.with(|q| q.as_ref().map(|q| q.question.clone()).unwrap_or_default()));
    let answer =
        Memo::new(move |_| q.with(|q| q.as_ref().map(|q| q.answer.clone()).unwrap_or_default()));
    let directory = expect_context::<Directory>();
    let who = Memo::new(move |_| {
        q.with(|q| {
            q.as_ref()
                .map(|q| {
                    let asked = directory.name(&q.asked_by);
                    if q.answered_by.is_empty() {
                        format!("asked by {asked}")
                    } else {
                        let answered = directory.name(&q.answered_by);
                        format!("asked by {asked} · answered by {answered}")
                    }
                })
                .unwrap_or_default()
        })
    });
    let (up, down) = list_moves(ids, id.clone());
    let (mv, rm, an) = (id.clone(), id.clone(), id.clone());
    // The first words of an answer record who answered; clearing it clears that.
    let after_answer = Callback::new(move |()| {
        let (text, by) = q.with_untracked(|q| {
            q.as_ref()
                .map(|q| (q.answer.clone(), q.answered_by.clone()))
                .unwrap_or_default()
        });
        if text.is_empty() != by.is_empty() {
            edit(
                conn,
                doc,
                Box::new(|s, now| s.answer_question(&an, &text, now)),
            );
        }
    });
    view! {
        <article class="question" data-id=id.to_string()>
            <header class="item-head">
                <TextBox doc=doc field=TextField::Question { question: id.clone(), field: QuestionField::Question } text=question
                    label="Question" placeholder="What do we not know yet?" class="prose" />
                <ItemTools noun="question" up=up down=down
                    on_move=Callback::new(move |to| edit(conn, doc, Box::new(|s, now| s.move_question(&mv, to, now))))
                    on_remove=Callback::new(move |()| edit(conn, doc, Box::new(|s, now| s.remove_question(&rm, now)))) />
            </header>
            <div class="labelled"><span class="lead">"Answer"</span>
                <TextBox doc=doc field=TextField::Question { question: id.clone(), field: QuestionField::Answer } text=answer
                    label="Answer" placeholder="Not answered yet" class="prose" after_edit=after_answer />
            </div>
            <p class="muted small">{who}</p>
        </article>
    }
}
