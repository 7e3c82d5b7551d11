//! Reviewing a spec's history by author, as the server computes it: the timeline of edit sessions with author and part filters, any version read only with its author-coloured diff, blame, restore, and "since you last looked".

use duet_model::{
    CriterionKind, DecisionField, MetricField, QuestionField, Severity, SpecView, StoryField,
    StoryStatus,
};
use duet_protocol::DocumentId;
use js_sys::{Array, Object, Reflect};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

use crate::api::{self, field, list_of, text, ApiResult};
use crate::me::colour_of;
use crate::text::FocusRequest;
use crate::ui::{alert, avatar, handler, scroll_to_item};

/// The history panel's state, shared by the editor's bar (its button) and the page.
#[derive(Clone, Copy)]
pub struct HistoryUi {
    pub open: RwSignal<bool>,
    /// A past version or the blame view is shown in place of the live editor.
    pub viewing: RwSignal<bool>,
}

/// Someone in the spec's history.
#[derive(Debug, Clone, PartialEq)]
struct Person {
    username: String,
    name: String,
    /// `#rrggbb`.
    colour: String,
    discipline: String,
}

/// One author's edit session, as the timeline lists it.
#[derive(Debug, Clone, PartialEq)]
struct Session {
    id: String,
    author: String,
    /// Unix milliseconds.
    start: f64,
    end: f64,
    changes: u32,
    /// The heads before and after the session, comma-separated (as query strings take them).
    before: String,
    after: String,
    summary: String,
}

#[derive(Debug, Clone, PartialEq)]
struct History {
    /// The spec's heads when the server answered, comma-separated.
    heads: String,
    /// Everyone in the whole history (for the filter chips).
    authors: Vec<Person>,
    /// Newest first, only those matching the filters.
    sessions: Vec<Session>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Same,
    Inserted,
    Deleted,
}

/// A piece of a field's text: unchanged, inserted or deleted, and by whom (blame: who
/// wrote it).
#[derive(Debug, Clone, PartialEq)]
struct Run {
    kind: Kind,
    text: String,
    author: Option<String>,
    /// Unix milliseconds (0: unknown).
    at: f64,
}

/// One text field of a version: its key (as `text::field_key` names it), label and text.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    key: String,
    label: String,
    text: String,
}

/// A part of a version shown read only (the story's id when it is a story).
#[derive(Debug, Clone, PartialEq)]
struct Block {
    title: String,
    story: Option<String>,
    lines: Vec<Line>,
}

/// A version as the page shows it: its fields, with runs laid over those that changed
/// (or, for blame, over every field).
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    caption: String,
    blocks: Vec<Block>,
    /// Runs of fields, by key.
    runs: Vec<(String, Vec<Run>)>,
    /// Changed fields that are not in this version (their item was removed): label, runs.
    gone: Vec<(String, Vec<Run>)>,
    /// Items added, removed, moved and settings changed, in words.
    notes: Vec<String>,
}

// ---- reading the server's answers ----

fn num(v: &JsValue, key: &str) -> f64 {
    field(v, key).as_f64().unwrap_or(0.0)
}

fn heads(v: &JsValue, key: &str) -> String {
    list_of(field(v, key), JsValue::as_string).join(",")
}

fn items(v: &JsValue, key: &str) -> Vec<JsValue> {
    list_of(field(v, key), |x| Some(x.clone()))
}

/// A person from the history's `authors` or a spec's roles (`display_name`).
fn person(v: &JsValue) -> Option<Person> {
    let username = field(v, "username").as_string()?;
    let name = [text(v, "name"), text(v, "display_name")]
        .into_iter()
        .find(|n| !n.trim().is_empty())
        .unwrap_or_else(|| username.clone());
    let colour = Some(text(v, "colour"))
        .filter(|c| c.len() == 7 && c.starts_with('#'))
        .unwrap_or_else(|| colour_of(&username).to_owned());
    Some(Person {
        name,
        colour,
        discipline: text(v, "discipline"),
        username,
    })
}

/// The person with `username` among `people` (someone unknown keeps a stable colour).
fn lookup(people: &[Person], username: &str) -> Person {
    people
        .iter()
        .find(|p| p.username == username)
        .cloned()
        .unwrap_or_else(|| Person {
            username: username.to_owned(),
            name: username.to_owned(),
            colour: colour_of(username).to_owned(),
            discipline: String::new(),
        })
}

fn session(v: &JsValue) -> Option<Session> {
    Some(Session {
        id: field(v, "id").as_string()?,
        author: text(v, "author"),
        start: num(v, "start"),
        end: num(v, "end"),
        changes: num(v, "changes") as u32,
        before: heads(v, "before"),
        after: heads(v, "after"),
        summary: text(v, "summary"),
    })
}

fn run(v: &JsValue) -> Option<Run> {
    let kind = match text(v, "kind").as_str() {
        "inserted" => Kind::Inserted,
        "deleted" => Kind::Deleted,
        _ => Kind::Same,
    };
    Some(Run {
        kind,
        text: text(v, "text"),
        author: field(v, "author").as_string(),
        at: num(v, "at"),
    })
}

/// The key of a field given as `duet_model::TextField` JSON (`{"part":"story","story":…,
/// "field":"i-want"}`): the same key `text::field_key` gives the editor's field.
fn key_of(v: &JsValue) -> String {
    let part = text(v, "part");
    let f = text(v, "field").replace('-', "_");
    let id = |k: &str| text(v, k);
    match part.as_str() {
        "title" | "problem" => part,
        "criterion" => format!("criterion/{}/{}", id("story"), id("criterion")),
        "constraint" => format!("constraint/{}", id("constraint")),
        "metric" | "story" | "decision" | "question" => format!("{part}/{}/{f}", id(&part)),
        _ => String::new(),
    }
}

/// A version (`duet_model::SpecView` JSON) as blocks of labelled fields, in spec order.
fn outline(v: &JsValue) -> Vec<Block> {
    let line = |key: String, label: &str, o: &JsValue, k: &str| Line {
        key,
        label: label.to_owned(),
        text: text(o, k),
    };
    let block = |title: &str, lines: Vec<Line>| Block {
        title: title.to_owned(),
        story: None,
        lines,
    };
    let mut out = vec![
        block("Title", vec![line("title".into(), "Title", v, "title")]),
        block(
            "Problem",
            vec![line("problem".into(), "Problem", v, "problem")],
        ),
    ];
    let mut metrics = Vec::new();
    for m in items(v, "metrics") {
        let id = text(&m, "id");
        for f in MetricField::ALL {
            let key = format!("metric/{id}/{}", f.as_stored());
            metrics.push(line(key, f.label(), &m, f.as_stored()));
        }
    }
    out.push(block("Success metrics", metrics));
    for (i, s) in items(v, "stories").iter().enumerate() {
        let id = text(s, "id");
        let mut lines: Vec<Line> = StoryField::ALL
            .iter()
            .map(|f| {
                let key = format!("story/{id}/{}", f.as_stored());
                line(key, f.label(), s, f.as_stored())
            })
            .collect();
        for c in items(s, "criteria") {
            let kind = CriterionKind::from_stored(&text(&c, "kind")).map_or("", |k| k.label());
            let done = if field(&c, "done").as_bool() == Some(true) {
                " · done"
            } else {
                ""
            };
            let key = format!("criterion/{id}/{}", text(&c, "id"));
            lines.push(line(key, &format!("{kind} criterion{done}"), &c, "text"));
        }
        for c in items(s, "constraints") {
            let severity = Severity::from_stored(&text(&c, "severity")).map_or("", |k| k.label());
            let key = format!("constraint/{}", text(&c, "id"));
            lines.push(line(key, &format!("{severity} constraint"), &c, "text"));
        }
        let status = StoryStatus::from_stored(&text(s, "status")).map_or("", |s| s.label());
        out.push(Block {
            title: format!("Story {} · {status}", i + 1),
            story: Some(id),
            lines,
        });
    }
    let mut decisions = Vec::new();
    for d in items(v, "decisions") {
        let id = text(&d, "id");
        for f in DecisionField::ALL {
            let key = format!("decision/{id}/{}", f.as_stored());
            decisions.push(line(key, f.label(), &d, f.as_stored()));
        }
    }
    out.push(block("Decision log", decisions));
    let mut questions = Vec::new();
    for q in items(v, "questions") {
        let id = text(&q, "id");
        for f in QuestionField::ALL {
            let key = format!("question/{id}/{}", f.as_stored());
            questions.push(line(key, f.label(), &q, f.as_stored()));
        }
    }
    out.push(block("Open questions", questions));
    out.retain(|b| !b.lines.is_empty());
    out
}

/// Cuts `text` at blame's UTF-16 `start..end` runs.
fn blame_runs(text: &str, spans: &[JsValue]) -> Vec<Run> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let at = |v: &JsValue, k: &str| (num(v, k) as usize).min(units.len());
    spans
        .iter()
        .map(|s| Run {
            kind: Kind::Same,
            text: String::from_utf16_lossy(&units[at(s, "start").min(at(s, "end"))..at(s, "end")]),
            author: field(s, "author").as_string(),
            at: num(s, "at"),
        })
        .collect()
}

/// "added", "story" → "Added story".
fn sentence(words: &[String]) -> String {
    let mut s = words
        .iter()
        .filter(|w| !w.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    s
}

// ---- asking the server ----

fn base(doc: DocumentId) -> String {
    format!("/api/specs/{doc}")
}

async fn history(doc: DocumentId, authors: &[String], part: &str) -> ApiResult<History> {
    let mut q = vec![];
    if !authors.is_empty() {
        q.push(format!("author={}", authors.join(",")));
    }
    if !part.is_empty() {
        q.push(format!("part={}", js_sys::encode_uri_component(part)));
    }
    let url = format!("{}/history?{}", base(doc), q.join("&"));
    let v = api::call("GET", &url, None).await?;
    Ok(History {
        heads: heads(&v, "heads"),
        authors: list_of(field(&v, "authors"), person),
        sessions: list_of(field(&v, "sessions"), session),
    })
}

/// The version at `to` with the runs of its diff from `from` (or, when `from` is `None`,
/// its blame).
async fn version(
    doc: DocumentId,
    from: Option<&str>,
    to: &str,
    caption: String,
) -> ApiResult<Shown> {
    let base = base(doc);
    let v = api::call("GET", &format!("{base}/version?at={to}"), None).await?;
    let blocks = outline(&v);
    let lines = || blocks.iter().flat_map(|b| b.lines.iter());
    let mut shown = Shown {
        caption,
        runs: vec![],
        gone: vec![],
        notes: vec![],
        blocks: vec![],
    };
    let Some(from) = from else {
        let b = api::call("GET", &format!("{base}/blame?at={to}"), None).await?;
        for f in items(&b, "fields") {
            let key = key_of(&field(&f, "field"));
            if let Some(l) = lines().find(|l| l.key == key) {
                shown
                    .runs
                    .push((key, blame_runs(&l.text, &items(&f, "runs"))));
            }
        }
        shown.blocks = blocks;
        return Ok(shown);
    };
    let d = api::call("GET", &format!("{base}/diff?from={from}&to={to}"), None).await?;
    for t in items(&d, "texts") {
        let key = key_of(&field(&t, "field"));
        let runs = list_of(field(&t, "runs"), run);
        if lines().any(|l| l.key == key) {
            shown.runs.push((key, runs));
        } else {
            shown.gone.push((text(&t, "label"), runs));
        }
    }
    for i in items(&d, "items") {
        let [change, kind, label] = ["change", "kind", "label"].map(|k| text(&i, k));
        shown
            .notes
            .push(sentence(&[change, kind, format!("“{label}”")]));
    }
    for s in items(&d, "settings") {
        let [kind, label, setting, from, to] =
            ["kind", "label", "setting", "from", "to"].map(|k| text(&s, k));
        shown.notes.push(sentence(&[
            kind,
            format!("“{label}”:"),
            setting,
            format!("{from} → {to}"),
        ]));
    }
    shown.blocks = blocks;
    Ok(shown)
}

/// Restores the whole spec, or one story, to the version at `to`.
async fn restore(doc: DocumentId, to: &str, story: Option<String>) -> ApiResult<JsValue> {
    let heads = Array::new();
    for h in to.split(',').filter(|h| !h.is_empty()) {
        heads.push(&h.into());
    }
    let body = Object::new();
    let _ = Reflect::set(&body, &"to".into(), &heads);
    let story = story.map_or(JsValue::NULL, |s| s.into());
    let _ = Reflect::set(&body, &"story".into(), &story);
    api::call("POST", &format!("{}/restore", base(doc)), Some(body.into())).await
}

/// Tells the server this person has now seen the spec, even from a page being unloaded
/// (`keepalive`).
fn seen_now(doc: DocumentId) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let _ = Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
    if let Some(w) = web_sys::window() {
        let sent = w.fetch_with_str_and_init(&format!("{}/seen", base(doc)), &init);
        // Awaited so that a failure (offline) is not an unhandled rejection.
        spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(sent).await;
        });
    }
}

// ---- time in words ----

fn date(ms: f64) -> js_sys::Date {
    js_sys::Date::new(&JsValue::from_f64(ms))
}

/// "14:02" today, "3 Dec, 14:02" before.
fn clock(ms: f64) -> String {
    let d = date(ms);
    let opts = Object::new();
    for k in ["hour", "minute"] {
        let _ = Reflect::set(&opts, &k.into(), &"2-digit".into());
    }
    if d.to_date_string() != date(js_sys::Date::now()).to_date_string() {
        let _ = Reflect::set(&opts, &"day".into(), &"numeric".into());
        let _ = Reflect::set(&opts, &"month".into(), &"short".into());
    }
    d.to_locale_string("default", &opts).into()
}

/// "just now", "5 min ago", "3 h ago", else the date.
fn ago(ms: f64) -> String {
    let s = ((js_sys::Date::now() - ms) / 1000.0).max(0.0) as u64;
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => clock(ms),
    }
}

// ---- views ----

/// A field's text with its runs: insertions and deletions (or, for blame, every run) in
/// the colour of their author, with name and time on hover.
fn runs_view(runs: &[Run], people: &[Person], blame: bool) -> AnyView {
    runs.iter()
        .map(|r| {
            if r.kind == Kind::Same && !blame {
                return r.text.clone().into_any();
            }
            let who = r.author.as_deref().map(|a| lookup(people, a));
            let (class, verb) = match r.kind {
                Kind::Inserted => ("ins", "Added"),
                Kind::Deleted => ("del", "Deleted"),
                Kind::Same => ("by", "Written"),
            };
            let name = who.as_ref().map_or("someone", |p| p.name.as_str());
            let when = if r.at > 0.0 {
                format!(" · {}", clock(r.at))
            } else {
                String::new()
            };
            view! {
                <span class=class data-author=r.author.clone()
                    style=who.as_ref().map(|p| format!("--who: {}", p.colour))
                    title=format!("{verb} by {name}{when}")>{r.text.clone()}</span>
            }
            .into_any()
        })
        .collect_view()
        .into_any()
}

/// A version read only: each block's fields, with their runs.
fn shown_view(
    s: Shown,
    people: &[Person],
    blame: bool,
    restore_story: Option<Callback<String>>,
) -> impl IntoView {
    let line = |label: String, key: Option<String>, body: AnyView| {
        view! {
            <div class="vline" data-field=key>
                <span class="vlabel">{label}</span>
                <p class="vtext">{body}</p>
            </div>
        }
    };
    let blocks = s
        .blocks
        .into_iter()
        .map(|b| {
            let restore = b.story.clone().zip(restore_story).map(|(id, cb)| {
                view! {
                    <button type="button" class="quiet small" on:click=handler(move |_| cb.run(id.clone()))>
                        "Restore this story"
                    </button>
                }
            });
            let lines = b
                .lines
                .into_iter()
                .map(|l| {
                    let body = match s.runs.iter().find(|(k, _)| *k == l.key) {
                        Some((_, runs)) => runs_view(runs, people, blame),
                        None if l.text.is_empty() => view! { <span class="empty">"—"</span> }.into_any(),
                        None => l.text.into_any(),
                    };
                    line(l.label, Some(l.key), body)
                })
                .collect_view();
            view! {
                <div class="vblock" data-story=b.story>
                    <div class="vblock-head"><h3>{b.title}</h3>{restore}</div>
                    {lines}
                </div>
            }
        })
        .collect_view();
    let gone = (!s.gone.is_empty()).then(|| {
        let lines = s
            .gone
            .iter()
            .map(|(label, runs)| line(label.clone(), None, runs_view(runs, people, false)))
            .collect_view();
        view! { <div class="vblock"><div class="vblock-head"><h3>"Removed"</h3></div>{lines}</div> }
    });
    let notes = (!s.notes.is_empty()).then(|| {
        view! { <ul class="notes">{s.notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul> }
    });
    view! {
        {notes}
        {blocks}
        {gone}
    }
}

/// `(value, label)` of the part filter: the whole spec, each part, each story by name.
fn parts(spec: &SpecView) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("", "Whole spec"),
        ("title", "Title"),
        ("problem", "Problem"),
        ("metrics", "Success metrics"),
    ]
    .map(|(v, l)| (v.to_owned(), l.to_owned()))
    .into();
    for (i, s) in spec.stories.iter().enumerate() {
        let name: String = s.i_want.chars().take(32).collect();
        let label = if name.is_empty() {
            format!("Story {}", i + 1)
        } else {
            format!("Story {}: {name}", i + 1)
        };
        out.push((format!("story:{}", s.id), label));
    }
    for (v, l) in [
        ("criteria", "Acceptance criteria"),
        ("constraints", "Constraints"),
        ("decisions", "Decision log"),
        ("questions", "Open questions"),
    ] {
        out.push((v.to_owned(), l.to_owned()));
    }
    out
}

/// What is compared with the selected session's version.
const COMPARE: [(&str, &str); 3] = [
    ("previous", "the version before"),
    ("now", "the current spec"),
    ("start", "the empty spec"),
];

/// The history panel (beside the page) and the version or blame it shows in place of the
/// live editor.
#[component]
pub fn Panel(
    doc: DocumentId,
    spec: Memo<Option<SpecView>>,
    can_restore: Signal<bool>,
) -> impl IntoView {
    let ui = expect_context::<HistoryUi>();
    let data = RwSignal::new(None::<ApiResult<History>>);
    let chosen = RwSignal::new(Vec::<String>::new());
    let part = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<Session>);
    let compare = RwSignal::new("previous");
    let blame = RwSignal::new(false);
    let shown = RwSignal::new(None::<ApiResult<Shown>>);
    let note = RwSignal::new(None::<String>);

    // One history request at a time; changes meanwhile ask for one more.
    let busy = StoredValue::new(false);
    let again = StoredValue::new(false);
    let load = move || {
        if busy.get_value() {
            again.set_value(true);
            return;
        }
        busy.set_value(true);
        spawn_local(async move {
            loop {
                again.try_set_value(false);
                let Some((who, p)) = chosen.try_get_untracked().zip(part.try_get_untracked())
                else {
                    return;
                };
                let answer = history(doc, &who, &p).await;
                if again.try_get_value() != Some(false) {
                    continue;
                }
                data.try_set(Some(answer));
                break;
            }
            busy.try_set_value(false);
        });
    };
    // Live: the timeline follows every change of the spec while the panel is open.
    Effect::new(move |_| {
        spec.track();
        chosen.track();
        part.track();
        if ui.open.get() {
            load();
        }
    });

    // The version (or blame) to show.
    let ticket = StoredValue::new(0u32);
    Effect::new(move |_| {
        let (sel, cmp, b) = (selected.get(), compare.get(), blame.get());
        ticket.update_value(|t| *t += 1);
        let mine = ticket.get_value();
        shown.set(None);
        let now = data.with_untracked(|d| match d {
            Some(Ok(h)) => h.heads.clone(),
            _ => String::new(),
        });
        let people = data.with_untracked(|d| match d {
            Some(Ok(h)) => h.authors.clone(),
            _ => vec![],
        });
        let job = match (b, sel) {
            (true, _) => Some((None, now, "Who wrote what, as the spec is now".to_owned())),
            (false, Some(s)) => {
                let p = lookup(&people, &s.author);
                let caption = format!("{} · {}", p.name, clock(s.end));
                Some(match cmp {
                    "now" => (Some(s.after), now, format!("Changes since {caption}")),
                    "start" => (Some(String::new()), s.after, caption),
                    _ => (Some(s.before), s.after, caption),
                })
            }
            (false, None) => None,
        };
        if let Some((from, to, caption)) = job {
            spawn_local(async move {
                let r = version(doc, from.as_deref(), &to, caption).await;
                if ticket.try_get_value() == Some(mine) {
                    shown.try_set(Some(r));
                }
            });
        }
    });

    let back = move || {
        selected.set(None);
        blame.set(false);
        ui.viewing.set(false);
    };
    let close = move |_| {
        back();
        ui.open.set(false);
    };
    let do_restore = move |story: Option<String>| {
        let Some(s) = selected.get_untracked() else {
            return;
        };
        let what = if story.is_some() {
            "The story"
        } else {
            "The spec"
        };
        let when = clock(s.end);
        spawn_local(async move {
            let done = restore(doc, &s.after, story).await;
            let ok = done.is_ok();
            let said = note.try_set(Some(match done {
                Ok(_) => format!("{what} is back as it was at {when}: a new entry in the history."),
                Err(e) => e.message,
            }));
            // (`try_set` gives the value back when the page is gone.)
            if ok && said.is_none() {
                back();
                load();
            }
        });
    };

    let chips = move || {
        data.with(|d| match d {
            Some(Ok(h)) => h.authors.clone(),
            _ => vec![],
        })
        .into_iter()
        .map(|p| {
            let user = p.username.clone();
            let on = {
                let user = user.clone();
                move || chosen.with(|c| c.contains(&user))
            };
            let toggle = move |_| {
                chosen.update(|c| {
                    if let Some(i) = c.iter().position(|u| *u == user) {
                        c.remove(i);
                    } else {
                        c.push(user.clone());
                    }
                })
            };
            view! {
                <button type="button" class="chip" aria-pressed=move || on().to_string()
                    data-author=p.username.clone() style=format!("--who: {}", p.colour)
                    on:click=handler(toggle)>
                    <span class="dot" aria-hidden="true"></span>{p.name.clone()}
                </button>
            }
        })
        .collect_view()
    };
    let part_options = move || {
        let list = spec.with(|s| s.as_ref().map(parts).unwrap_or_default());
        list.into_iter()
            .map(|(v, l)| view! { <option value=v.clone() selected=part.with_untracked(|p| *p == v)>{l}</option> })
            .collect_view()
    };

    let timeline = move || {
        let h = match data.get() {
            None => return view! { <p class="muted">"Loading the history…"</p> }.into_any(),
            Some(Err(e)) => return alert(Some(e.message)).into_any(),
            Some(Ok(h)) => h,
        };
        if h.sessions.is_empty() {
            return view! { <p class="muted">"No edits match these filters."</p> }.into_any();
        }
        let entries = h
            .sessions
            .into_iter()
            .map(|s| {
                let p = lookup(&h.authors, &s.author);
                let id = s.id.clone();
                let picked = move || selected.with(|x| x.as_ref().is_some_and(|x| x.id == id));
                let span = format!("{} – {}", clock(s.start), clock(s.end));
                let count = match s.changes {
                    1 => "1 change".to_owned(),
                    n => format!("{n} changes"),
                };
                let (when, author, summary) = (ago(s.end), s.author.clone(), s.summary.clone());
                let pick = move |_| {
                    blame.set(false);
                    note.set(None);
                    selected.set(Some(s.clone()));
                    ui.viewing.set(true);
                };
                view! {
                    <li class="session" class:picked=picked data-author=author>
                        <button type="button" on:click=handler(pick)>
                            {avatar(&p.name, &p.colour)}
                            <span class="session-body">
                                <span class="session-who">
                                    <strong>{p.name.clone()}</strong>
                                    <span class="discipline">{p.discipline.clone()}</span>
                                    <time title=span>{when}</time>
                                </span>
                                <span class="session-summary">{summary}</span>
                                <span class="muted small">{count}</span>
                            </span>
                        </button>
                    </li>
                }
            })
            .collect_view();
        view! { <ol class="timeline">{entries}</ol> }.into_any()
    };

    let version_view = move || {
        let r = shown.get()?;
        let people = data.with(|d| match d {
            Some(Ok(h)) => h.authors.clone(),
            _ => vec![],
        });
        let b = blame.get();
        let restorable = !b && can_restore.get();
        let when = selected.with(|s| s.as_ref().map(|s| clock(s.end)));
        let compare_pick = (!b).then(|| {
            let opts = COMPARE
                .iter()
                .map(|&(v, l)| view! { <option value=v selected=compare.get_untracked() == v>{l}</option> })
                .collect_view();
            view! {
                <label class="compare">"Compare with "
                    <select on:change=handler(move |ev| {
                        let v = event_target_value(&ev);
                        compare.set(COMPARE.iter().find(|(k, _)| *k == v).map_or("previous", |(k, _)| k));
                    })>{opts}</select>
                </label>
            }
        });
        let restore_all = restorable.then(|| {
            view! {
                <button type="button" class="small" on:click=handler(move |_| do_restore(None))>
                    "Restore this version" {when.map(|w| format!(" ({w})"))}
                </button>
            }
        });
        let body = match r {
            Err(e) => alert(Some(e.message)).into_any(),
            Ok(s) => {
                let caption = s.caption.clone();
                let story =
                    restorable.then(|| Callback::new(move |id: String| do_restore(Some(id))));
                view! {
                    <h2 class="version-caption">{caption}</h2>
                    {shown_view(s, &people, b, story)}
                }
                .into_any()
            }
        };
        Some(view! {
            <section class="version" class:blame=b aria-label=if b { "Blame" } else { "Version" }>
                <div class="version-bar">
                    <span class="badge">{if b { "Blame" } else { "Read only" }}</span>
                    {compare_pick}
                    <span class="spacer"></span>
                    {restore_all}
                    <button type="button" class="quiet small" on:click=handler(move |_| back())>"Back to the live spec"</button>
                </div>
                {body}
            </section>
        })
    };
    let loading = move || {
        (ui.viewing.get() && shown.with(Option::is_none))
            .then(|| view! { <p class="muted">"Loading the version…"</p> })
    };

    view! {
        {version_view}
        {loading}
        <Show when=move || ui.open.get()>
            <aside class="history" aria-label="History">
                <header class="history-head">
                    <h2>"History"</h2>
                    <button type="button" class="quiet small" aria-pressed=move || blame.get().to_string()
                        disabled=move || !matches!(data.get(), Some(Ok(_)))
                        on:click=handler(move |_| {
                            let on = !blame.get_untracked();
                            selected.set(None);
                            blame.set(on);
                            ui.viewing.set(on);
                        })>"Blame"</button>
                    <button type="button" class="icon" aria-label="Close the history" on:click=handler(close)>"×"</button>
                </header>
                <div class="filters">
                    <div class="chips" role="group" aria-label="Authors">{chips}</div>
                    <select aria-label="Part of the spec" on:change=handler(move |ev| part.set(event_target_value(&ev)))>
                        {part_options}
                    </select>
                </div>
                {move || note.get().map(|n| view! { <p class="note" role="status">{n}</p> })}
                {timeline}
            </aside>
        </Show>
    }
}

/// One place someone changed since this person last looked.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    author: String,
    /// The field's key, when the place is a text field.
    key: Option<String>,
    item: Option<String>,
    label: String,
    changes: u32,
}

fn place(v: &JsValue) -> Option<Place> {
    let f = field(v, "field");
    Some(Place {
        author: field(v, "author").as_string()?,
        key: f.is_object().then(|| key_of(&f)),
        item: field(v, "item").as_string(),
        label: text(v, "label"),
        changes: num(v, "changes") as u32,
    })
}

/// "Since you last looked": what others changed since this person's last visit, by author
/// and place, each a jump to the place. Opening the spec, and leaving it, marks it seen.
#[component]
pub fn SinceSeen(doc: DocumentId) -> impl IntoView {
    let FocusRequest(focus) = expect_context::<FocusRequest>();
    let ui = expect_context::<HistoryUi>();
    let found = RwSignal::new(Vec::<(Person, Vec<Place>)>::new());
    spawn_local(async move {
        let base = base(doc);
        if let Ok(v) = api::call("GET", &format!("{base}/since-seen"), None).await {
            let places = list_of(field(&v, "places"), place);
            if !field(&v, "seen_at").is_null() && !places.is_empty() {
                let people = api::call("GET", &format!("{base}/roles"), None)
                    .await
                    .map(|v| list_of(v, person))
                    .unwrap_or_default();
                let mut by: Vec<(Person, Vec<Place>)> = vec![];
                for p in places {
                    match by.iter_mut().find(|(who, _)| who.username == p.author) {
                        Some((_, list)) => list.push(p),
                        None => by.push((lookup(&people, &p.author), vec![p])),
                    }
                }
                found.try_set(by);
            }
            let _ = api::call("POST", &format!("{base}/seen"), None).await;
        }
    });
    let leave = window_event_listener_untyped("pagehide", move |_| seen_now(doc));
    on_cleanup(move || {
        leave.remove();
        seen_now(doc);
    });
    let entry = move |(p, places): (Person, Vec<Place>)| {
        let links = places
            .into_iter()
            .map(|pl| {
                let n = match pl.changes {
                    0 | 1 => String::new(),
                    n => format!(" ({n})"),
                };
                let go = move |_| {
                    ui.viewing.set(false);
                    match (&pl.key, &pl.item) {
                        (Some(k), _) => focus.set(Some(k.clone())),
                        (None, Some(id)) => scroll_to_item(id),
                        _ => {}
                    }
                };
                view! { <li><button type="button" class="link" on:click=handler(go)>{pl.label.clone()}</button>{n}</li> }
            })
            .collect_view();
        view! {
            <li class="since-person" data-author=p.username.clone()>
                {avatar(&p.name, &p.colour)}
                <strong>{p.name.clone()}</strong>
                <span class="muted">" changed"</span>
                <ul class="places">{links}</ul>
            </li>
        }
    };
    move || {
        let list = found.get();
        (!list.is_empty()).then(|| {
            view! {
                <section class="since" aria-labelledby="since-h">
                    <div class="since-head">
                        <h2 id="since-h">"Since you last looked"</h2>
                        <button type="button" class="icon" aria-label="Dismiss" on:click=handler(move |_| found.set(vec![]))>"×"</button>
                    </div>
                    <ul class="since-people">{list.into_iter().map(entry).collect_view()}</ul>
                </section>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn sentences_start_with_a_capital_and_skip_empty_words() {
        let words = [
            "added".into(),
            String::new(),
            "story".into(),
            "“Export”".into(),
        ];
        assert_eq!(sentence(&words), "Added story “Export”");
    }
}
