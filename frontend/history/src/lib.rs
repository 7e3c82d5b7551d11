//! The history panel of the Duet app, loaded only when a spec is open: the timeline of edit sessions by author with author and part filters, any version read only with its author-coloured diff, blame, restore, and "since you last looked". Its own wasm module, so that the app people open first stays small.

mod panel;

use duet_frontend::api::{self, field, list_of, text, ApiResult};
use duet_frontend::duet_model::{
    CriterionKind, DecisionField, MetricField, QuestionField, Severity, StoryField, StoryStatus,
};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

pub use panel::{close_history, open_history, since_seen, spec_changed};

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

/// One step of the selected session (its changes at one place), to step through it.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    end: f64,
    before: String,
    after: String,
    summary: String,
}

fn step(v: &JsValue) -> Option<Step> {
    Some(Step {
        end: num(v, "end"),
        before: heads(v, "before"),
        after: heads(v, "after"),
        summary: text(v, "summary"),
    })
}

/// The steps of session `id`, oldest first.
async fn steps(doc: &str, id: &str) -> ApiResult<Vec<Step>> {
    let v = api::call("GET", &format!("{}/steps?session={id}", base(doc)), None).await?;
    Ok(list_of(v, step))
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
    /// Changed fields that are not in this version (their item was removed): key, label,
    /// runs.
    gone: Vec<(String, String, Vec<Run>)>,
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

/// A person from the `authors` of the history or of since-seen.
fn person(v: &JsValue) -> Option<Person> {
    let username = field(v, "username").as_string()?;
    let name = Some(text(v, "name"))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| username.clone());
    let colour = Some(text(v, "colour"))
        .filter(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .unwrap_or_else(|| duet_frontend::me::colour_of(&username).to_owned());
    Some(Person {
        name,
        colour,
        discipline: text(v, "discipline"),
        username,
    })
}

/// The discipline shown beside a name ("other" says nothing).
fn discipline(p: &Person) -> &str {
    if p.discipline == "other" {
        ""
    } else {
        &p.discipline
    }
}

/// The person with `username` among `people` (someone unknown keeps a stable colour).
fn lookup(people: &[Person], username: &str) -> Person {
    people
        .iter()
        .find(|p| p.username == username)
        .cloned()
        .unwrap_or_else(|| Person {
            username: username.to_owned(),
            name: if username.is_empty() {
                "Unknown author".to_owned()
            } else {
                username.to_owned()
            },
            colour: duet_frontend::me::colour_of(username).to_owned(),
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
    // A block of the text fields of each item of a list: `part/<id>/<field>` for each field.
    let per_item = |title: &str, list: &str, part: &str, fields: &[(&str, &str)]| {
        let mut lines = Vec::new();
        for item in items(v, list) {
            let id = text(&item, "id");
            for (stored, label) in fields {
                lines.push(line(format!("{part}/{id}/{stored}"), label, &item, stored));
            }
        }
        block(title, lines)
    };
    let metric = MetricField::ALL
        .iter()
        .map(|f| (f.as_stored(), f.label()))
        .collect::<Vec<_>>();
    out.push(per_item("Success metrics", "metrics", "metric", &metric));
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
    let decision = DecisionField::ALL
        .iter()
        .map(|f| (f.as_stored(), f.label()))
        .collect::<Vec<_>>();
    out.push(per_item("Decision log", "decisions", "decision", &decision));
    let question = QuestionField::ALL
        .iter()
        .map(|f| (f.as_stored(), f.label()))
        .collect::<Vec<_>>();
    out.push(per_item(
        "Open questions",
        "questions",
        "question",
        &question,
    ));
    out.retain(|b| !b.lines.is_empty());
    out
}

/// Joins neighbouring runs that would read the same: same kind, same author, same minute
/// (a run says its time to the minute). Typing makes one change per character, so a field
/// typed in one sitting comes as thousands of runs; on the page it is a few.
fn coalesce(runs: Vec<Run>) -> Vec<Run> {
    let minute = |r: &Run| (r.at / 60_000.0).floor() as i64;
    let mut out: Vec<Run> = Vec::with_capacity(runs.len().min(64));
    for r in runs {
        match out.last_mut() {
            Some(last)
                if last.kind == r.kind && last.author == r.author && minute(last) == minute(&r) =>
            {
                last.text.push_str(&r.text);
            }
            _ => out.push(r),
        }
    }
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

/// "Story “Export”" → "story “Export”" (the server's kind words are ASCII).
fn lower_first(s: &str) -> String {
    let mut s = s.to_owned();
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_lowercase();
    }
    s
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

fn base(doc: &str) -> String {
    format!("/api/specs/{doc}")
}

async fn history(doc: &str, authors: &[String], part: &str) -> ApiResult<History> {
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
/// its blame); with `only`, the server leaves out what others changed meanwhile.
async fn version(
    doc: &str,
    from: Option<&str>,
    to: &str,
    caption: String,
    only: Option<&str>,
) -> ApiResult<Shown> {
    let base = base(doc);
    // The version and its blame or diff, asked for at once.
    let changes = match from {
        None => format!("{base}/blame?at={to}"),
        Some(from) => match only {
            Some(author) => format!("{base}/diff?from={from}&to={to}&author={author}"),
            None => format!("{base}/diff?from={from}&to={to}"),
        },
    };
    let (v, c) = futures_util::future::join(
        api::call("GET", &format!("{base}/version?at={to}"), None),
        api::call("GET", &changes, None),
    )
    .await;
    let (v, c) = (v?, c?);
    let blocks = outline(&v);
    let lines = || blocks.iter().flat_map(|b| b.lines.iter());
    let mut shown = Shown {
        caption,
        runs: vec![],
        gone: vec![],
        notes: vec![],
        blocks: vec![],
    };
    if from.is_none() {
        for f in items(&c, "fields") {
            let key = key_of(&field(&f, "field"));
            if let Some(l) = lines().find(|l| l.key == key) {
                let runs = coalesce(blame_runs(&l.text, &items(&f, "runs")));
                shown.runs.push((key, runs));
            }
        }
        shown.blocks = blocks;
        return Ok(shown);
    }
    let d = c;
    for t in items(&d, "texts") {
        let key = key_of(&field(&t, "field"));
        let runs = coalesce(list_of(field(&t, "runs"), run));
        if lines().any(|l| l.key == key) {
            shown.runs.push((key, runs));
        } else {
            shown.gone.push((key, text(&t, "label"), runs));
        }
    }
    for i in items(&d, "items") {
        // The server's labels name the item: "Story “Export”", "Criterion “…” in “Export”".
        let [change, label] = ["change", "label"].map(|k| text(&i, k));
        shown.notes.push(sentence(&[change, lower_first(&label)]));
    }
    for s in items(&d, "settings") {
        let [label, setting, from, to] = ["label", "setting", "from", "to"].map(|k| text(&s, k));
        shown.notes.push(sentence(&[
            format!("{label}:"),
            setting,
            format!("{from} → {to}"),
        ]));
    }
    shown.blocks = blocks;
    Ok(shown)
}

/// What a restore brings back: the whole spec, one story, or the item or field a version's
/// line shows (`gone`: the line's item is not in the spec the diff leads to).
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Spec,
    Story(String),
    Line { key: String, gone: bool },
}

impl Target {
    /// The restore request's body fields naming the target (besides `to`).
    fn body(&self) -> Object {
        let body = Object::new();
        let set = |o: &Object, k: &str, v: JsValue| {
            let _ = Reflect::set(o, &k.into(), &v);
        };
        let key = match self {
            Target::Spec => return body,
            Target::Story(id) => {
                set(&body, "story", id.as_str().into());
                return body;
            }
            Target::Line { key, gone } => (key, *gone),
        };
        let parts: Vec<&str> = key.0.split('/').collect();
        let item = |kind: &str, id: &str, story: Option<&str>| {
            let o = Object::new();
            set(&o, "kind", kind.into());
            set(&o, "id", id.into());
            if let Some(s) = story {
                set(&o, "story", s.into());
            }
            o
        };
        // Criteria and constraints come back whole (kind, done, severity, anchor…); any
        // item removed since comes back whole; otherwise one field's text.
        match (parts.as_slice(), key.1) {
            (["criterion", story, id], _) => {
                set(&body, "item", item("criterion", id, Some(story)).into())
            }
            (["constraint", id], _) => set(&body, "item", item("constraint", id, None).into()),
            ([kind @ ("story" | "metric" | "decision" | "question"), id, _], true) => {
                set(&body, "item", item(kind, id, None).into())
            }
            ([part @ ("title" | "problem")], _) => {
                let f = Object::new();
                set(&f, "part", (*part).into());
                set(&body, "field", f.into());
            }
            ([part, id, name], _) => {
                let f = Object::new();
                set(&f, "part", (*part).into());
                set(&f, part, (*id).into());
                set(&f, "field", name.replace('_', "-").into());
                set(&body, "field", f.into());
            }
            _ => {}
        }
        body
    }
}

/// What a restore would change, as the server previews it.
#[derive(Debug, Clone, PartialEq)]
struct Preview {
    /// Each field it changes: label and runs (removed text in its writer's colour, text
    /// brought back in the colour of who wrote it then).
    texts: Vec<(String, Vec<Run>)>,
    notes: Vec<String>,
}

impl Preview {
    /// The authors whose later text the restore removes.
    fn overwrites(&self) -> Vec<String> {
        let mut who: Vec<String> = self
            .texts
            .iter()
            .flat_map(|(_, runs)| runs.iter())
            .filter(|r| r.kind == Kind::Deleted)
            .filter_map(|r| r.author.clone())
            .collect();
        who.sort();
        who.dedup();
        who
    }
}

/// A restore waiting for the person to confirm it, with its preview.
#[derive(Debug, Clone, PartialEq)]
struct Confirm {
    target: Target,
    /// "criterion “UTF-8 with BOM”", "the spec", "story 2".
    what: String,
    /// The version it restores to, and how people read it ("before Eli Lee's edit at 10:42").
    to: String,
    when: String,
    /// `None` while it is being read.
    preview: Option<Result<Preview, String>>,
}

/// Asks the server what restoring `target` to `to` would change, or (with `apply`)
/// restores it.
async fn restore(doc: &str, to: &str, target: &Target, apply: bool) -> ApiResult<JsValue> {
    let heads = Array::new();
    for h in to.split(',').filter(|h| !h.is_empty()) {
        heads.push(&h.into());
    }
    let body = target.body();
    let _ = Reflect::set(&body, &"to".into(), &heads);
    let _ = Reflect::set(&body, &"preview".into(), &JsValue::from_bool(!apply));
    api::call("POST", &format!("{}/restore", base(doc)), Some(body.into())).await
}

/// The preview answer (a diff) as the page shows it.
fn preview_of(d: &JsValue) -> Preview {
    let texts = items(d, "texts")
        .iter()
        .map(|t| (text(t, "label"), coalesce(list_of(field(t, "runs"), run))))
        .collect();
    let mut notes = vec![];
    for i in items(d, "items") {
        let [change, label] = ["change", "label"].map(|k| text(&i, k));
        notes.push(sentence(&[change, lower_first(&label)]));
    }
    for st in items(d, "settings") {
        let [label, setting, from, to] = ["label", "setting", "from", "to"].map(|k| text(&st, k));
        notes.push(sentence(&[
            format!("{label}:"),
            setting,
            format!("{from} → {to}"),
        ]));
    }
    Preview { texts, notes }
}

// ---- time in words ----

fn date(ms: f64) -> js_sys::Date {
    js_sys::Date::new(&JsValue::from_f64(ms))
}

/// Times already put in words, by minute: the browser's date formatting costs a fraction
/// of a millisecond per call, and a blame or a timeline asks for thousands of times.
#[derive(Default)]
struct Clocks {
    /// The day they were written on (`Date.toDateString`), checked once a minute.
    today: String,
    checked_at: f64,
    by_minute: std::collections::HashMap<i64, String>,
}

thread_local! {
    static CLOCKS: std::cell::RefCell<Clocks> = std::cell::RefCell::default();
}

/// "14:02" today, "3 Dec, 14:02" before ("" when unknown).
fn clock(ms: f64) -> String {
    if ms <= 0.0 {
        return String::new();
    }
    let minute = (ms / 60_000.0).floor() as i64;
    CLOCKS.with(|c| {
        let mut c = c.borrow_mut();
        let now = js_sys::Date::now();
        if now - c.checked_at > 60_000.0 {
            let today: String = date(now).to_date_string().into();
            if c.today != today {
                c.by_minute.clear();
                c.today = today;
            }
            c.checked_at = now;
        }
        if let Some(words) = c.by_minute.get(&minute) {
            return words.clone();
        }
        let d = date(ms);
        let opts = Object::new();
        for k in ["hour", "minute"] {
            let _ = Reflect::set(&opts, &k.into(), &"2-digit".into());
        }
        if d.to_date_string() != c.today.as_str() {
            let _ = Reflect::set(&opts, &"day".into(), &"numeric".into());
            let _ = Reflect::set(&opts, &"month".into(), &"short".into());
        }
        let words: String = d.to_locale_string("default", &opts).into();
        c.by_minute.insert(minute, words.clone());
        words
    })
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
//
// The timeline, the filters, a version and the since-last-look list are read-only markup:
// they are written as HTML strings (every text escaped) and set as `inner_html`, with one
// click handler on each container reading the clicked button's `data-act` and `data-arg`.
// A typed view per row costs several times more wasm, and the app has a size budget.

/// HTML written into a string; text and attribute values are always escaped.
#[derive(Default)]
struct Html(String);

impl Html {
    fn text(&mut self, s: &str) -> &mut Self {
        for c in s.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        self
    }

    /// `<tag name="value"…>`.
    fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        for (k, v) in attrs {
            self.0.push(' ');
            self.0.push_str(k);
            self.0.push_str("=\"");
            self.text(v);
            self.0.push('"');
        }
        self.0.push('>');
        self
    }

    fn close(&mut self, tag: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    /// `<tag …>text</tag>`.
    fn el(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(tag, attrs).text(text).close(tag)
    }

    fn avatar(&mut self, p: &Person) -> &mut Self {
        let style = format!("background: {}", p.colour);
        let attrs = [
            ("class", "avatar"),
            ("style", &style),
            ("aria-hidden", "true"),
        ];
        self.el("span", &attrs, &duet_frontend::me::initials(&p.name))
    }
}

/// The `data-act` and `data-arg` of the button a click in such markup landed on.
fn act(ev: &web_sys::Event) -> Option<(String, String)> {
    use wasm_bindgen::JsCast;
    let target: web_sys::Element = ev.target()?.dyn_into().ok()?;
    let el = target.closest("[data-act]").ok()??;
    let arg = el.get_attribute("data-arg").unwrap_or_default();
    Some((el.get_attribute("data-act")?, arg))
}

/// A field's text with its runs: insertions and deletions (or, for blame, every run) in
/// the colour of their author, with name and time on hover.
fn runs_html(o: &mut Html, runs: &[Run], people: &[Person], blame: bool) {
    for r in runs {
        if r.kind == Kind::Same && !blame {
            o.text(&r.text);
            continue;
        }
        let (class, verb) = match r.kind {
            Kind::Inserted => ("ins", "Added"),
            Kind::Deleted => ("del", "Deleted"),
            Kind::Same => ("by", "Written"),
        };
        let author = r.author.as_deref().unwrap_or_default();
        let (style, name) = match r.author.as_deref() {
            Some(a) => {
                let p = lookup(people, a);
                (format!("--who: {}", p.colour), p.name)
            }
            None => (String::new(), "someone".to_owned()),
        };
        let mut title = format!("{verb} by {name}");
        if r.at > 0.0 {
            title = format!("{title} · {}", clock(r.at));
        }
        let attrs = [
            ("class", class),
            ("data-author", author),
            ("style", &style),
            ("title", &title),
        ];
        o.el("span", &attrs, &r.text);
    }
}

/// A version read only: what changed in words, then each block's fields with their runs.
fn version_html(o: &mut Html, s: &Shown, people: &[Person], blame: bool, restorable: bool) {
    // A changed field or item can be restored alone to how it read on the diff's older side.
    let per_line = restorable && !blame;
    if !s.notes.is_empty() {
        o.open("ul", &[("class", "notes")]);
        for n in &s.notes {
            o.el("li", &[], n);
        }
        o.close("ul");
    }
    let line = |o: &mut Html, label: &str, key: &str, runs: Option<&Vec<Run>>, text: &str| {
        let (key, gone) = match key.strip_prefix("g:") {
            Some(k) => (k, true),
            None => (key, false),
        };
        o.open("div", &[("class", "vline"), ("data-field", key)])
            .open("span", &[("class", "vlabel")])
            .text(label);
        if per_line && runs.is_some() && !key.is_empty() {
            let arg = if gone {
                format!("g:{key}")
            } else {
                key.to_owned()
            };
            let name = format!("Restore {}…", lower_first(label));
            let attrs = [
                ("type", "button"),
                ("class", "quiet small restore-line"),
                ("data-act", "item"),
                ("data-arg", &arg),
                ("aria-label", &name),
                ("title", &name),
            ];
            o.el("button", &attrs, "Restore…");
        }
        o.close("span").open("p", &[("class", "vtext")]);
        match runs {
            Some(runs) => runs_html(o, runs, people, blame),
            None if text.is_empty() => {
                o.el("span", &[("class", "empty")], "—");
            }
            None => {
                o.text(text);
            }
        }
        o.close("p").close("div");
    };
    let block_head = |o: &mut Html, title: &str, story: Option<&str>| {
        let story = story.unwrap_or_default();
        o.open("div", &[("class", "vblock"), ("data-story", story)])
            .open("div", &[("class", "vblock-head")])
            .el("h3", &[], title);
        if restorable && !story.is_empty() {
            let attrs = [
                ("type", "button"),
                ("class", "quiet small"),
                ("data-act", "story"),
                ("data-arg", story),
            ];
            o.el("button", &attrs, "Restore this story");
        }
        o.close("div");
    };
    for b in &s.blocks {
        block_head(o, &b.title, b.story.as_deref());
        for l in &b.lines {
            let runs = s.runs.iter().find(|(k, _)| *k == l.key).map(|(_, r)| r);
            line(o, &l.label, &l.key, runs, &l.text);
        }
        o.close("div");
    }
    if !s.gone.is_empty() {
        block_head(o, "Removed", None);
        for (key, label, runs) in &s.gone {
            line(o, label, &format!("g:{key}"), Some(runs), "");
        }
        o.close("div");
    }
}

/// A restore's preview and the buttons that confirm or cancel it.
fn confirm_html(o: &mut Html, c: &Confirm, people: &[Person]) {
    o.open(
        "div",
        &[
            ("class", "confirm"),
            ("role", "group"),
            ("aria-label", "Restore preview"),
        ],
    )
    .el(
        "p",
        &[("class", "confirm-what")],
        &format!("Restore {} to how it read {}?", c.what, c.when),
    );
    match &c.preview {
        None => {
            o.el(
                "p",
                &[("class", "muted")],
                "Working out what it will change…",
            );
        }
        Some(Err(e)) => {
            o.el("p", &[("class", "error"), ("role", "alert")], e);
        }
        Some(Ok(p)) if p.texts.is_empty() && p.notes.is_empty() => {
            o.el(
                "p",
                &[("class", "muted")],
                "It already reads that way: nothing would change.",
            );
        }
        Some(Ok(p)) => {
            let who: Vec<String> = p
                .overwrites()
                .iter()
                .map(|u| lookup(people, u).name)
                .collect();
            let overwrites = match who.len() {
                0 => "It removes no text anyone wrote since.".to_owned(),
                _ => format!("It replaces later text by {}.", who.join(", ")),
            };
            o.el("p", &[("class", "overwrites")], &overwrites);
            for (label, runs) in &p.texts {
                o.open("div", &[("class", "vline")])
                    .el("span", &[("class", "vlabel")], label)
                    .open("p", &[("class", "vtext")]);
                runs_html(o, runs, people, false);
                o.close("p").close("div");
            }
            if !p.notes.is_empty() {
                o.open("ul", &[("class", "notes")]);
                for n in &p.notes {
                    o.el("li", &[], n);
                }
                o.close("ul");
            }
        }
    }
    let ready = matches!(&c.preview, Some(Ok(p)) if !p.texts.is_empty() || !p.notes.is_empty());
    let confirm = format!("Yes, restore {}", c.what);
    let mut attrs = vec![
        ("type", "button"),
        ("class", "small"),
        ("data-act", "confirm"),
    ];
    if !ready {
        attrs.push(("disabled", ""));
    }
    o.el("button", &attrs, &confirm);
    let cancel = [
        ("type", "button"),
        ("class", "quiet small"),
        ("data-act", "cancel"),
    ];
    o.el("button", &cancel, "Cancel").close("div");
}

/// A session's length in words: "in a moment", "over 12 min", "over 1 h 5 min".
fn lasted(ms: f64) -> String {
    let min = (ms / 60_000.0).round() as u64;
    match min {
        0 => "in a moment".to_owned(),
        1..=59 => format!("over {min} min"),
        _ if min % 60 == 0 => format!("over {} h", min / 60),
        _ => format!("over {} h {} min", min / 60, min % 60),
    }
}

fn timeline_html(o: &mut Html, h: &History, selected: Option<&str>) {
    o.open("ol", &[("class", "timeline")]);
    for s in &h.sessions {
        let p = lookup(&h.authors, &s.author);
        let class = if selected == Some(s.id.as_str()) {
            "session picked"
        } else {
            "session"
        };
        let span = format!("{} – {}", clock(s.start), clock(s.end));
        // How long the session lasted, not how many keystrokes it took.
        let count = lasted(s.end - s.start);
        o.open("li", &[("class", class), ("data-author", &s.author)])
            .open(
                "button",
                &[
                    ("type", "button"),
                    ("data-act", "session"),
                    ("data-arg", &s.id),
                ],
            )
            .avatar(&p)
            .open("span", &[("class", "session-body")])
            .open("span", &[("class", "session-who")])
            .el("strong", &[], &p.name)
            .el("span", &[("class", "discipline")], discipline(&p))
            .el("time", &[("title", &span)], &ago(s.end))
            .close("span")
            .el("span", &[("class", "session-summary")], &s.summary)
            .el("span", &[("class", "muted small")], &count)
            .close("span")
            .close("button")
            .close("li");
    }
    o.close("ol");
}

fn chips_html(o: &mut Html, people: &[Person], chosen: &[String]) {
    o.open(
        "div",
        &[
            ("class", "chips"),
            ("role", "group"),
            ("aria-label", "Authors"),
        ],
    );
    for p in people {
        let style = format!("--who: {}", p.colour);
        let pressed = if chosen.contains(&p.username) {
            "true"
        } else {
            "false"
        };
        o.open(
            "button",
            &[
                ("type", "button"),
                ("class", "chip"),
                ("data-act", "chip"),
                ("data-arg", &p.username),
                ("data-author", &p.username),
                ("aria-pressed", pressed),
                ("style", &style),
            ],
        )
        .el("span", &[("class", "dot"), ("aria-hidden", "true")], "")
        .text(&p.name)
        .close("button");
    }
    o.close("div");
}

/// What is compared with the selected session's version.
const COMPARE: [(&str, &str); 3] = [
    ("previous", "the version before"),
    ("now", "the current spec"),
    ("start", "the empty spec"),
];

/// The history panel's state, rendered whole as two pieces of markup: the panel and the
/// version (or blame) shown in place of the live editor.
#[derive(Debug, Clone, PartialEq)]
struct State {
    /// The timeline, or why it could not be read (`None`: not read yet).
    data: Option<Result<History, String>>,
    /// Usernames pressed in the author filter (none: everyone).
    chosen: Vec<String>,
    /// The part filter (`""`: the whole spec).
    part: String,
    selected: Option<Session>,
    /// What the selected version is compared with (a key of `COMPARE`).
    compare: String,
    blame: bool,
    /// The version or blame shown, or why not (`None`: being read).
    shown: Option<Result<Shown, String>>,
    /// What the last restore did.
    note: String,
    /// A restore shown with its preview, waiting to be confirmed.
    confirm: Option<Confirm>,
    /// The selected session's steps (`None`: not read yet) and the one shown (`None`: the
    /// whole session).
    steps: Option<Vec<Step>>,
    step: Option<usize>,
    /// Counts the versions asked for: only the latest answer is shown.
    ticket: u32,
}

impl State {
    fn people(&self) -> &[Person] {
        match &self.data {
            Some(Ok(h)) => &h.authors,
            _ => &[],
        }
    }

    /// What to ask for to show the selected version or the blame: (from, to, caption).
    fn job(&self) -> Option<(Option<String>, String, String)> {
        let Some(Ok(h)) = &self.data else {
            return None;
        };
        let now = h.heads.clone();
        if self.blame {
            return Some((None, now, "Who wrote what, as the spec is now".to_owned()));
        }
        let v = self.selected.as_ref()?;
        let mut caption = format!("{} · {}", lookup(&h.authors, &v.author).name, clock(v.end));
        let (mut before, mut after) = (v.before.clone(), v.after.clone());
        if let (Some(k), Some(steps)) = (self.step, &self.steps) {
            if let Some(st) = steps.get(k) {
                (before, after) = (st.before.clone(), st.after.clone());
                caption = format!(
                    "{} · {} · change {} of {}",
                    lookup(&h.authors, &v.author).name,
                    clock(st.end),
                    k + 1,
                    steps.len()
                );
            }
        }
        let other = self
            .compare
            .strip_prefix("s:")
            .and_then(|id| h.sessions.iter().find(|s| s.id == id));
        Some(match (self.compare.as_str(), other) {
            ("now", _) => (Some(after), now, format!("Changes since {caption}")),
            ("start", _) => (Some(String::new()), after, caption),
            (_, Some(o)) => {
                let from = format!("{} · {}", lookup(&h.authors, &o.author).name, clock(o.end));
                let caption = format!("From {from} to {caption}");
                (Some(o.after.clone()), after, caption)
            }
            _ => (Some(before), after, caption),
        })
    }

    /// The panel: its head (blame, close), the part filter (value, label of each part),
    /// the author filter, the note of the last restore and the timeline.
    fn panel_html(&self, parts: &[(String, String)]) -> String {
        let mut o = Html::default();
        let pressed = if self.blame { "true" } else { "false" };
        o.open("header", &[("class", "history-head")])
            .el("h2", &[], "History")
            .el(
                "button",
                &[
                    ("type", "button"),
                    ("class", "quiet small"),
                    ("data-act", "blame"),
                    ("aria-pressed", pressed),
                ],
                "Blame",
            )
            .el(
                "button",
                &[
                    ("type", "button"),
                    ("class", "icon"),
                    ("data-act", "close"),
                    ("aria-label", "Close the history"),
                ],
                "×",
            )
            .close("header")
            .open(
                "select",
                &[("aria-label", "Part of the spec"), ("data-act", "part")],
            );
        for (v, l) in parts {
            if *v == self.part {
                o.el("option", &[("value", v), ("selected", "")], l);
            } else {
                o.el("option", &[("value", v)], l);
            }
        }
        o.close("select").open("div", &[("class", "timeline-pane")]);
        let (people, sessions) = match &self.data {
            Some(Ok(h)) => (&h.authors[..], &h.sessions[..]),
            _ => (&[][..], &[][..]),
        };
        chips_html(&mut o, people, &self.chosen);
        if !self.note.is_empty() {
            o.el("p", &[("class", "note"), ("role", "status")], &self.note);
        }
        match &self.data {
            None => o.el("p", &[("class", "muted")], "Loading the history…"),
            Some(Err(e)) => o.el("p", &[("class", "error"), ("role", "alert")], e),
            Some(Ok(_)) if sessions.is_empty() => {
                o.el("p", &[("class", "muted")], "No edits match these filters.")
            }
            Some(Ok(h)) => {
                timeline_html(&mut o, h, self.selected.as_ref().map(|x| x.id.as_str()));
                &mut o
            }
        };
        o.close("div");
        o.0
    }

    /// The version or blame shown: its bar (compare, restore, back) and its text.
    fn version_html(&self, can_restore: bool) -> String {
        let mut o = Html::default();
        let (label, badge) = if self.blame {
            ("Blame", "Blame")
        } else {
            ("Version", "Read only")
        };
        o.open("section", &[("class", "version"), ("aria-label", label)])
            .open("div", &[("class", "version-bar")])
            .el("span", &[("class", "badge")], badge);
        if !self.blame {
            o.open("label", &[("class", "compare")])
                .text("Compare with ")
                .open("select", &[("data-act", "compare")]);
            let option = |o: &mut Html, v: &str, l: &str| {
                if v == self.compare {
                    o.el("option", &[("value", v), ("selected", "")], l);
                } else {
                    o.el("option", &[("value", v)], l);
                }
            };
            for (v, l) in COMPARE {
                option(&mut o, v, l);
            }
            // Or any other version in the timeline: the spec after that session.
            if let (Some(Ok(h)), Some(picked)) = (&self.data, &self.selected) {
                o.open("optgroup", &[("label", "the spec after the session of")]);
                for s in h.sessions.iter().filter(|s| s.id != picked.id) {
                    let who = lookup(&h.authors, &s.author).name;
                    option(
                        &mut o,
                        &format!("s:{}", s.id),
                        &format!("{who} · {}", clock(s.end)),
                    );
                }
                o.close("optgroup");
            }
            o.close("select").close("label");
            if let Some(steps) = self.steps.as_ref().filter(|st| st.len() > 1) {
                o.open("label", &[("class", "compare")])
                    .text("Step ")
                    .open("select", &[("data-act", "step")]);
                let option = |o: &mut Html, v: &str, l: &str, on: bool| {
                    if on {
                        o.el("option", &[("value", v), ("selected", "")], l);
                    } else {
                        o.el("option", &[("value", v)], l);
                    }
                };
                option(&mut o, "", "the whole session", self.step.is_none());
                for (k, st) in steps.iter().enumerate() {
                    let label = format!("{} · {} · {}", k + 1, clock(st.end), st.summary);
                    option(&mut o, &k.to_string(), &label, self.step == Some(k));
                }
                o.close("select").close("label");
            }
        }
        o.el("span", &[("class", "spacer")], "");
        let restorable = can_restore && !self.blame;
        if let Some(v) = self.selected.as_ref().filter(|_| restorable) {
            let attrs = [
                ("type", "button"),
                ("class", "small"),
                ("data-act", "restore"),
            ];
            let end = match (self.step, &self.steps) {
                (Some(k), Some(steps)) => steps.get(k).map_or(v.end, |st| st.end),
                _ => v.end,
            };
            o.el(
                "button",
                &attrs,
                &format!("Restore this version ({})", clock(end)),
            );
        }
        let attrs = [
            ("type", "button"),
            ("class", "quiet small"),
            ("data-act", "back"),
        ];
        o.el("button", &attrs, "Back to the live spec").close("div");
        if let Some(c) = &self.confirm {
            confirm_html(&mut o, c, self.people());
        }
        let caption = match &self.shown {
            None => "Loading the version…",
            Some(Err(e)) => e,
            Some(Ok(v)) => &v.caption,
        };
        o.el("h2", &[("class", "version-caption")], caption);
        if let Some(Ok(v)) = &self.shown {
            version_html(&mut o, v, self.people(), self.blame, restorable);
        }
        o.close("section");
        o.0
    }
}

/// One place someone changed since this person last looked.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    author: String,
    /// Where a jump goes: `f:` and the field's key, or `i:` and the item's id.
    target: String,
    label: String,
    changes: u32,
}

fn place(v: &JsValue) -> Option<Place> {
    let f = field(v, "field");
    let target = if f.is_object() {
        format!("f:{}", key_of(&f))
    } else {
        format!("i:{}", text(v, "item"))
    };
    Some(Place {
        author: field(v, "author").as_string()?,
        target,
        label: text(v, "label"),
        changes: num(v, "changes") as u32,
    })
}

/// The "since you last looked" box: its head (with a dismiss button), then the places by
/// author: each person, then a jump to each of their places.
fn since_html(places: &[Place], people: &[Person]) -> String {
    let mut o = Html::default();
    let mut done: Vec<&str> = vec![];
    let dismiss = [
        ("type", "button"),
        ("class", "icon"),
        ("aria-label", "Dismiss"),
        ("data-act", "dismiss"),
    ];
    o.open(
        "section",
        &[("class", "since"), ("aria-labelledby", "since-h")],
    )
    .open("div", &[("class", "since-head")])
    .el("h2", &[("id", "since-h")], "Since you last looked")
    .el("button", &dismiss, "×")
    .close("div")
    .open("ul", &[("class", "since-people")]);
    for p in places {
        if done.contains(&p.author.as_str()) {
            continue;
        }
        done.push(&p.author);
        let who = lookup(people, &p.author);
        o.open(
            "li",
            &[("class", "since-person"), ("data-author", &p.author)],
        )
        .avatar(&who)
        .el("strong", &[], &who.name)
        .el("span", &[("class", "muted")], "changed")
        .open("ul", &[("class", "places")]);
        for pl in places.iter().filter(|pl| pl.author == p.author) {
            let attrs = [
                ("type", "button"),
                ("class", "link"),
                ("data-act", "place"),
                ("data-arg", &pl.target),
            ];
            o.open("li", &[]).el("button", &attrs, &pl.label);
            if pl.changes > 1 {
                o.text(&format!(" ({})", pl.changes));
            }
            o.close("li");
        }
        o.close("ul").close("li");
    }
    o.close("ul").close("section");
    o.0
}

#[cfg(test)]
mod tests {
    use super::sentence;
    use super::{chips_html, version_html, Block, Html, Kind, Line, Person, Run, Shown};

    fn ada() -> Person {
        Person {
            username: "ada".into(),
            name: "Ada L.".into(),
            colour: "#3153d4".into(),
            discipline: "product".into(),
        }
    }

    fn run(kind: Kind, text: &str, author: Option<&str>) -> Run {
        Run {
            kind,
            text: text.into(),
            author: author.map(str::to_owned),
            at: 0.0,
        }
    }

    fn story_version() -> Shown {
        let line = |key: &str, text: &str| Line {
            key: key.into(),
            label: "I want".into(),
            text: text.into(),
        };
        Shown {
            caption: "Ada L.".into(),
            blocks: vec![Block {
                title: "Story 1 · Draft".into(),
                story: Some("s1".into()),
                lines: vec![
                    line("story/s1/i_want", "to <export>"),
                    line("story/s1/so_that", ""),
                ],
            }],
            runs: vec![(
                "story/s1/i_want".into(),
                vec![
                    run(Kind::Same, "to ", None),
                    run(Kind::Deleted, "x", Some("bo")),
                    run(Kind::Inserted, "<export>", Some("ada")),
                ],
            )],
            gone: vec![],
            notes: vec!["Added story “Export”".into()],
        }
    }

    #[test]
    fn a_version_shows_insertions_and_deletions_in_their_authors_colours() {
        let mut o = Html::default();
        version_html(&mut o, &story_version(), &[ada()], false, false);
        let html = o.0;
        assert!(html.contains("<li>Added story “Export”</li>"), "{html}");
        assert!(html.contains(
            "<span class=\"ins\" data-author=\"ada\" style=\"--who: #3153d4\" title=\"Added by Ada L.\">&lt;export&gt;</span>"
        ), "{html}");
        // Someone the history does not describe keeps a colour of their own.
        assert!(
            html.contains("class=\"del\" data-author=\"bo\" style=\"--who: #"),
            "{html}"
        );
        // Unchanged text stays plain; an empty field says so.
        assert!(html.contains("<p class=\"vtext\">to <span"), "{html}");
        assert!(html.contains("<span class=\"empty\">—</span>"), "{html}");
        assert!(!html.contains("Restore this story"), "{html}");
    }

    #[test]
    fn blame_colours_every_run_and_restore_is_offered_per_story() {
        let mut o = Html::default();
        version_html(&mut o, &story_version(), &[ada()], true, true);
        assert!(o.0.contains("<span class=\"by\" data-author=\"\" style=\"\" title=\"Written by someone\">to </span>"), "{}", o.0);
        assert!(
            o.0.contains("data-act=\"story\" data-arg=\"s1\">Restore this story</button>"),
            "{}",
            o.0
        );
    }

    #[test]
    fn author_chips_say_which_are_pressed() {
        let mut o = Html::default();
        chips_html(&mut o, &[ada()], &["ada".into()]);
        assert!(
            o.0.contains("data-arg=\"ada\" data-author=\"ada\" aria-pressed=\"true\""),
            "{}",
            o.0
        );
        let mut o = Html::default();
        chips_html(&mut o, &[ada()], &[]);
        assert!(o.0.contains("aria-pressed=\"false\""), "{}", o.0);
    }

    #[test]
    fn neighbouring_runs_by_one_author_in_one_minute_read_as_one() {
        let at = |kind, text: &str, author, minute: f64| Run {
            at: minute * 60_000.0 + 1_000.0,
            ..run(kind, text, author)
        };
        let runs = vec![
            at(Kind::Same, "a", Some("ada"), 7.0),
            at(Kind::Same, "b", Some("ada"), 7.0),
            at(Kind::Same, "c", Some("bo"), 7.0),
            at(Kind::Same, "d", Some("bo"), 8.0),
            at(Kind::Inserted, "e", Some("bo"), 8.0),
            at(Kind::Inserted, "f", Some("bo"), 8.0),
        ];
        let texts: Vec<String> = super::coalesce(runs).into_iter().map(|r| r.text).collect();
        assert_eq!(texts, ["ab", "c", "d", "ef"]);
    }

    #[test]
    fn an_added_item_reads_as_one_sentence_without_repeating_its_kind() {
        let words = ["added".into(), super::lower_first("Story “Export”")];
        assert_eq!(sentence(&words), "Added story “Export”");
    }

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

    #[test]
    fn markup_escapes_text_and_attributes() {
        let mut o = Html::default();
        o.el("span", &[("title", "\"><script>")], "<b>&'");
        assert_eq!(
            o.0,
            "<span title=\"&quot;&gt;&lt;script&gt;\">&lt;b&gt;&amp;&#39;</span>"
        );
    }
}
