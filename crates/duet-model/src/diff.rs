//! Differences between two versions of a spec — text insertions and deletions each with its author, items added, removed and reordered, settings changed — and blame: who wrote each character.

use std::collections::{BTreeMap, HashSet};

use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, Value};
use serde::Serialize;

use crate::at::{At, Read};
use crate::history::{shorten, story_name, ChangeRecord, History, PartKind, Verb};
use crate::ids::{ItemId, UnixMillis, UserId};
use crate::read;
use crate::schema::{key, TextField};
use crate::view::{view_with, Anchor, SpecView};

/// Whether a run of text is in both versions, only the newer, or only the older.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    Same,
    Inserted,
    Deleted,
}

/// A run of characters of one kind by one author. For inserted text the author is who
/// inserted it, for deleted text who deleted it; `at` is the latest such change's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffRun {
    pub kind: RunKind,
    pub text: String,
    pub author: Option<UserId>,
    pub at: Option<UnixMillis>,
}

/// One text field that differs, as runs from start to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextDiff {
    pub field: TextField,
    pub label: String,
    pub runs: Vec<DiffRun>,
}

/// An item added, removed or moved within its list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChange {
    pub kind: PartKind,
    pub id: ItemId,
    pub label: String,
    pub change: Verb,
}

/// A setting of an item that differs: status, done, kind, severity, story, anchor, stories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub kind: PartKind,
    pub id: ItemId,
    pub label: String,
    pub setting: String,
    pub from: String,
    pub to: String,
}

/// What differs between two versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpecDiff {
    pub texts: Vec<TextDiff>,
    pub items: Vec<ItemChange>,
    pub settings: Vec<SettingChange>,
}

/// A run of one author's characters in a field, UTF-16 `start..end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlameRun {
    pub start: usize,
    pub end: usize,
    pub author: Option<UserId>,
    pub at: Option<UnixMillis>,
}

/// Who wrote each character of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldBlame {
    pub field: TextField,
    pub runs: Vec<BlameRun>,
}

/// One character of a text object: the op that inserted it (counter, actor number in the
/// history; `u32::MAX` for an actor it never read) and the character.
struct Element {
    counter: u64,
    actor: u32,
    text: String,
}

/// The Text object `field` addresses in a document read through `doc`.
pub(crate) fn field_obj(doc: &impl Read, field: &TextField) -> Option<ObjId> {
    let list = |name: &str| read::part(doc, name, ObjType::Map);
    let item = |list: Option<ObjId>, id: &ItemId| {
        list.and_then(|l| read::obj(doc, &l, id.as_str(), ObjType::Map))
    };
    let (parent, name) = match field {
        TextField::Title => return read::part(doc, key::TITLE, ObjType::Text),
        TextField::Problem => return read::part(doc, key::PROBLEM, ObjType::Text),
        TextField::Metric { metric, field } => {
            (item(list(key::METRICS), metric)?, field.as_stored())
        }
        TextField::Story { story, field } => (item(list(key::STORIES), story)?, field.as_stored()),
        TextField::Criterion { story, criterion } => {
            let story = item(list(key::STORIES), story)?;
            let criteria = read::obj(doc, &story, key::CRITERIA, ObjType::Map);
            (item(criteria, criterion)?, key::TEXT)
        }
        TextField::Constraint { constraint } => {
            (item(list(key::CONSTRAINTS), constraint)?, key::TEXT)
        }
        TextField::Decision { decision, field } => {
            (item(list(key::DECISIONS), decision)?, field.as_stored())
        }
        TextField::Question { question, field } => {
            (item(list(key::QUESTIONS), question)?, field.as_stored())
        }
    };
    read::obj(doc, &parent, name, ObjType::Text)
}

/// Calls `each(counter, actor number, character)` for every character of `obj`.
fn each_element(
    history: &History,
    doc: &impl Read,
    obj: &ObjId,
    mut each: impl FnMut(u64, u32, &str),
) {
    let mut last: Option<(automerge::ActorId, u32)> = None;
    for item in doc.elements(obj) {
        let ObjId::Id(counter, actor, _) = &item.id else {
            continue;
        };
        let number = match &last {
            Some((a, n)) if a == actor => *n,
            _ => {
                let n = history.actor_number(actor).unwrap_or(u32::MAX);
                last = Some((actor.clone(), n));
                n
            }
        };
        let text = match &item.value {
            Value::Scalar(s) => s.to_str().unwrap_or("\u{fffc}"),
            Value::Object(_) => "\u{fffc}",
        };
        each(*counter, number, text);
    }
}

fn elements(history: &History, doc: &impl Read, obj: &ObjId) -> Vec<Element> {
    let mut out = Vec::new();
    each_element(history, doc, obj, |counter, actor, text| {
        out.push(Element {
            counter,
            actor,
            text: text.to_owned(),
        })
    });
    out
}

/// Every text field of a version with the label people read and its text.
fn fields(view: &SpecView) -> BTreeMap<TextField, (String, String)> {
    let mut out = BTreeMap::new();
    out.insert(TextField::Title, ("Title".to_owned(), view.title.clone()));
    out.insert(
        TextField::Problem,
        ("Problem".to_owned(), view.problem.clone()),
    );
    for m in &view.metrics {
        for (field, text) in [
            (crate::MetricField::Name, &m.name),
            (crate::MetricField::Target, &m.target),
        ] {
            out.insert(
                TextField::Metric {
                    metric: m.id.clone(),
                    field,
                },
                (
                    format!("Metric “{}” · {}", shorten(&m.name, 40), field.label()),
                    text.clone(),
                ),
            );
        }
    }
    for s in &view.stories {
        let name = story_name(s);
        for field in crate::StoryField::ALL {
            out.insert(
                TextField::Story {
                    story: s.id.clone(),
                    field: *field,
                },
                (
                    format!("Story “{name}” · {}", field.label()),
                    s.field(*field).to_owned(),
                ),
            );
        }
        for c in &s.criteria {
            out.insert(
                TextField::Criterion {
                    story: s.id.clone(),
                    criterion: c.id.clone(),
                },
                (format!("Criterion in “{name}”"), c.text.clone()),
            );
        }
    }
    for c in view.all_constraints() {
        let on = view
            .story(&ItemId::parse(&c.story).unwrap_or_else(|_| c.id.clone()))
            .map(story_name)
            .unwrap_or_else(|| "a removed story".to_owned());
        out.insert(
            TextField::Constraint {
                constraint: c.id.clone(),
            },
            (format!("Constraint on “{on}”"), c.text.clone()),
        );
    }
    for d in &view.decisions {
        for (field, text) in [
            (crate::DecisionField::Title, &d.title),
            (crate::DecisionField::Decision, &d.decision),
            (crate::DecisionField::Rationale, &d.rationale),
        ] {
            out.insert(
                TextField::Decision {
                    decision: d.id.clone(),
                    field,
                },
                (
                    format!("Decision “{}” · {}", shorten(&d.title, 40), field.label()),
                    text.clone(),
                ),
            );
        }
    }
    for q in &view.questions {
        for (field, text) in [
            (crate::QuestionField::Question, &q.question),
            (crate::QuestionField::Answer, &q.answer),
        ] {
            out.insert(
                TextField::Question {
                    question: q.id.clone(),
                    field,
                },
                (
                    format!(
                        "Question “{}” · {}",
                        shorten(&q.question, 40),
                        field.label()
                    ),
                    text.clone(),
                ),
            );
        }
    }
    out
}

/// Appends one character to `runs`, joining it to the last run when kind and author match.
fn push_char(runs: &mut Vec<DiffRun>, kind: RunKind, text: &str, who: Option<&ChangeRecord>) {
    let author = who.and_then(|c| c.author());
    push_run(runs, kind, text, author, who.and_then(|c| c.at));
}

/// Appends text of one kind by one author to `runs`, joining it to the last run when kind
/// and author match.
fn push_run(
    runs: &mut Vec<DiffRun>,
    kind: RunKind,
    text: &str,
    author: Option<&UserId>,
    at: Option<UnixMillis>,
) {
    if let Some(last) = runs.last_mut() {
        if last.kind == kind && last.author.as_ref() == author {
            last.text.push_str(text);
            last.at = last.at.max(at);
            return;
        }
    }
    runs.push(DiffRun {
        kind,
        text: text.to_owned(),
        author: author.cloned(),
        at,
    });
}

/// The runs of a field between two versions. Both versions' characters are subsequences of
/// the same sequence, so common characters keep their order; between two common ones the
/// deleted characters are listed before the inserted ones.
fn text_runs(history: &History, old: &[Element], new: &[Element]) -> Vec<DiffRun> {
    let key = |e: &Element| (e.counter, e.actor);
    let in_new: HashSet<(u64, u32)> = new.iter().map(key).collect();
    let in_old: HashSet<(u64, u32)> = old.iter().map(key).collect();
    let mut runs = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if let Some(o) = old.get(i).filter(|o| !in_new.contains(&key(o))) {
            let who = history.deleted_by(o.counter, o.actor);
            push_char(&mut runs, RunKind::Deleted, &o.text, who);
            i += 1;
        } else if let Some(n) = new.get(j).filter(|n| !in_old.contains(&key(n))) {
            let who = history.made_by(n.counter, n.actor);
            push_char(&mut runs, RunKind::Inserted, &n.text, who);
            j += 1;
        } else {
            // Both sides are at a common character (the same one, as order is shared).
            if let Some(n) = new.get(j) {
                push_char(&mut runs, RunKind::Same, &n.text, None);
            }
            i += 1;
            j += 1;
        }
    }
    runs
}

/// The differences from `from` to `to`; `None` when a head is not a change of `doc`.
/// `history` must have read `doc`'s changes.
pub fn diff(
    history: &History,
    doc: &impl ReadDoc,
    from: &[ChangeHash],
    to: &[ChangeHash],
) -> Option<SpecDiff> {
    let old_at = At::new(doc, from)?;
    let new_at = At::new(doc, to)?;
    let old = view_with(&old_at);
    let new = view_with(&new_at);
    let old_fields = fields(&old);
    let new_fields = fields(&new);
    let mut texts = Vec::new();
    let all: std::collections::BTreeSet<&TextField> =
        old_fields.keys().chain(new_fields.keys()).collect();
    for field in all {
        let (o, n) = (old_fields.get(field), new_fields.get(field));
        if o.map(|x| &x.1) == n.map(|x| &x.1) {
            continue;
        }
        let old_elems = field_obj(&old_at, field)
            .map(|obj| elements(history, &old_at, &obj))
            .unwrap_or_default();
        let new_elems = field_obj(&new_at, field)
            .map(|obj| elements(history, &new_at, &obj))
            .unwrap_or_default();
        let label = n.or(o).map(|x| x.0.clone()).unwrap_or_default();
        texts.push(TextDiff {
            field: field.clone(),
            label,
            runs: text_runs(history, &old_elems, &new_elems),
        });
    }
    let mut out = SpecDiff {
        texts,
        ..SpecDiff::default()
    };
    items_and_settings(&old, &new, &mut out);
    Some(out)
}

/// The differences from `from` to `to` in one story only: its text, status and criteria,
/// and the constraints beside it in either version (what a sign-off covers, and more).
pub fn story_diff(
    history: &History,
    doc: &impl ReadDoc,
    from: &[ChangeHash],
    to: &[ChangeHash],
    story: &ItemId,
) -> Option<SpecDiff> {
    let mut out = diff(history, doc, from, to)?;
    let mut ids: HashSet<ItemId> = HashSet::from([story.clone()]);
    for at in [from, to] {
        let view = view_with(&At::new(doc, at)?);
        if let Some(s) = view.story(story) {
            ids.extend(s.criteria.iter().map(|c| c.id.clone()));
        }
        ids.extend(
            view.all_constraints()
                .filter(|c| c.story == story.as_str())
                .map(|c| c.id.clone()),
        );
    }
    out.texts.retain(|t| match &t.field {
        TextField::Story { story: s, .. } | TextField::Criterion { story: s, .. } => s == story,
        TextField::Constraint { constraint } => ids.contains(constraint),
        _ => false,
    });
    let concerns = |kind: PartKind, id: &ItemId| {
        matches!(
            kind,
            PartKind::Story | PartKind::Criterion | PartKind::Constraint
        ) && ids.contains(id)
    };
    out.items.retain(|i| concerns(i.kind, &i.id));
    out.settings.retain(|s| concerns(s.kind, &s.id));
    Some(out)
}

/// An item of a list as the diff compares it: identity, label, settings.
struct Entry {
    kind: PartKind,
    id: ItemId,
    /// The list it is ordered in (a story's criteria, a story's track, a root list).
    list: String,
    label: String,
    settings: Vec<(&'static str, String)>,
}

fn entries(view: &SpecView) -> Vec<Entry> {
    let mut out = Vec::new();
    for m in &view.metrics {
        out.push(Entry {
            kind: PartKind::Metric,
            id: m.id.clone(),
            list: "metrics".into(),
            label: format!("Metric “{}”", shorten(&m.name, 40)),
            settings: Vec::new(),
        });
    }
    for s in &view.stories {
        let name = story_name(s);
        out.push(Entry {
            kind: PartKind::Story,
            id: s.id.clone(),
            list: "stories".into(),
            label: format!("Story “{name}”"),
            settings: vec![("status", s.status.label().to_owned())],
        });
        for c in &s.criteria {
            out.push(Entry {
                kind: PartKind::Criterion,
                id: c.id.clone(),
                list: format!("criteria:{}", s.id),
                label: format!("Criterion “{}” in “{name}”", shorten(&c.text, 40)),
                settings: vec![
                    ("done", if c.done { "done" } else { "not done" }.to_owned()),
                    ("kind", c.kind.label().to_owned()),
                ],
            });
        }
    }
    for c in view.all_constraints() {
        let anchor = match &c.anchor {
            Anchor::Story => "the story".to_owned(),
            Anchor::Span { field, .. } => format!("text in {}", field.label()),
            Anchor::Orphaned { .. } => "deleted text".to_owned(),
        };
        out.push(Entry {
            kind: PartKind::Constraint,
            id: c.id.clone(),
            list: format!("track:{}", c.story),
            label: format!("Constraint “{}”", shorten(&c.text, 40)),
            settings: vec![
                ("kind", c.kind.label().to_owned()),
                ("severity", c.severity.label().to_owned()),
                ("status", c.status.label().to_owned()),
                ("story", c.story.clone()),
                ("anchor", anchor),
            ],
        });
    }
    for d in &view.decisions {
        let stories: Vec<&str> = d.stories.iter().map(ItemId::as_str).collect();
        out.push(Entry {
            kind: PartKind::Decision,
            id: d.id.clone(),
            list: "decisions".into(),
            label: format!("Decision “{}”", shorten(&d.title, 40)),
            settings: vec![("stories", stories.join(", "))],
        });
    }
    for q in &view.questions {
        out.push(Entry {
            kind: PartKind::Question,
            id: q.id.clone(),
            list: "questions".into(),
            label: format!("Question “{}”", shorten(&q.question, 40)),
            settings: Vec::new(),
        });
    }
    out
}

fn items_and_settings(old: &SpecView, new: &SpecView, out: &mut SpecDiff) {
    let old_entries = entries(old);
    let new_entries = entries(new);
    let find = |list: &[Entry], e: &Entry| -> Option<usize> {
        list.iter().position(|x| x.kind == e.kind && x.id == e.id)
    };
    for e in &new_entries {
        match find(&old_entries, e) {
            None => out.items.push(ItemChange {
                kind: e.kind,
                id: e.id.clone(),
                label: e.label.clone(),
                change: Verb::Added,
            }),
            Some(i) => {
                let before = &old_entries[i];
                for ((setting, to), (_, from)) in e.settings.iter().zip(&before.settings) {
                    if to != from {
                        out.settings.push(SettingChange {
                            kind: e.kind,
                            id: e.id.clone(),
                            label: e.label.clone(),
                            setting: (*setting).to_owned(),
                            from: from.clone(),
                            to: to.clone(),
                        });
                    }
                }
            }
        }
    }
    for e in &old_entries {
        if find(&new_entries, e).is_none() {
            out.items.push(ItemChange {
                kind: e.kind,
                id: e.id.clone(),
                label: e.label.clone(),
                change: Verb::Removed,
            });
        }
    }
    // Moved: within each list, the common items outside a longest run kept in order.
    let mut lists: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in &new_entries {
        lists.entry(e.list.as_str()).or_default().push(e);
    }
    for (list, items) in lists {
        let old_order: Vec<&Entry> = old_entries.iter().filter(|e| e.list == list).collect();
        let positions: Vec<(usize, &Entry)> = items
            .iter()
            .filter_map(|e| {
                old_order
                    .iter()
                    .position(|o| o.kind == e.kind && o.id == e.id)
                    .map(|p| (p, *e))
            })
            .collect();
        let keep = longest_increasing(&positions.iter().map(|p| p.0).collect::<Vec<_>>());
        for (n, (_, e)) in positions.iter().enumerate() {
            if !keep.contains(&n) {
                out.items.push(ItemChange {
                    kind: e.kind,
                    id: e.id.clone(),
                    label: e.label.clone(),
                    change: Verb::Moved,
                });
            }
        }
    }
}

/// Indices of a longest strictly increasing subsequence of `xs`.
fn longest_increasing(xs: &[usize]) -> HashSet<usize> {
    // tails[k]: index into xs of the smallest tail of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; xs.len()];
    for (i, &x) in xs.iter().enumerate() {
        let k = tails.partition_point(|&t| xs[t] < x);
        prev[i] = k.checked_sub(1).map(|p| tails[p]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut keep = HashSet::new();
    let mut at = tails.last().copied();
    while let Some(i) = at {
        keep.insert(i);
        at = prev[i];
    }
    keep
}

/// Keeps only `author`'s part of a diff from `from` to `to`: their insertions and
/// deletions (others' insertions made meanwhile read as unchanged text, others' deletions
/// are left out), and the items and settings their changes touched. For a session's diff,
/// whose versions hold others' concurrent edits too.
pub fn keep_author(
    diff: &mut SpecDiff,
    history: &History,
    doc: &automerge::Automerge,
    from: &[ChangeHash],
    to: &[ChangeHash],
    author: &UserId,
) {
    let last = to.iter().filter_map(|h| history.position(h)).max();
    let touched: HashSet<(PartKind, ItemId)> = history
        .positions(doc.get_changes(from))
        .into_iter()
        .filter(|&i| last.is_some_and(|l| i <= l))
        .filter_map(|i| history.changes().get(i))
        .filter(|c| c.author() == Some(author))
        .flat_map(|c| c.touches().iter())
        .filter_map(|t| Some((t.kind, t.item.clone()?)))
        .collect();
    diff.items
        .retain(|i| touched.contains(&(i.kind, i.id.clone())));
    diff.settings
        .retain(|s| touched.contains(&(s.kind, s.id.clone())));
    for text in &mut diff.texts {
        let runs = std::mem::take(&mut text.runs);
        for mut run in runs {
            let theirs = run.author.as_ref() != Some(author);
            match run.kind {
                RunKind::Deleted if theirs => continue,
                RunKind::Inserted if theirs => {
                    run.kind = RunKind::Same;
                    run.author = None;
                    run.at = None;
                }
                _ => {}
            }
            push_run(
                &mut text.runs,
                run.kind,
                &run.text,
                run.author.as_ref(),
                run.at,
            );
        }
    }
    diff.texts
        .retain(|t| t.runs.iter().any(|r| r.kind != RunKind::Same));
}

/// What restoring will change, for a preview: `restored` is `doc` with the restore
/// applied (on a copy). Text the restore would remove is shown in the colour of whoever
/// wrote it (what it overwrites); text it brings back in the colour of whoever wrote it in
/// the version `to`. `None` when a head of `to` is not a change of `doc`.
pub fn restore_preview(
    history: &History,
    doc: &automerge::Automerge,
    restored: &automerge::Automerge,
    to: &[ChangeHash],
) -> Option<SpecDiff> {
    let now_at = At::new(doc, &doc.get_heads())?;
    let new_at = At::new(restored, &restored.get_heads())?;
    let then_at = At::new(doc, to)?;
    let (now, new) = (view_with(&now_at), view_with(&new_at));
    let (now_fields, new_fields) = (fields(&now), fields(&new));
    let mut texts = Vec::new();
    let all: std::collections::BTreeSet<&TextField> =
        now_fields.keys().chain(new_fields.keys()).collect();
    for field in all {
        let (o, n) = (now_fields.get(field), new_fields.get(field));
        if o.map(|x| &x.1) == n.map(|x| &x.1) {
            continue;
        }
        let old = field_obj(&now_at, field)
            .map(|obj| elements(history, &now_at, &obj))
            .unwrap_or_default();
        let new = field_obj(&new_at, field)
            .map(|obj| elements(history, &new_at, &obj))
            .unwrap_or_default();
        let then_blame = blame_field(history, &then_at, field);
        texts.push(TextDiff {
            field: field.clone(),
            label: n.or(o).map(|x| x.0.clone()).unwrap_or_default(),
            runs: preview_runs(history, &old, &new, &then_blame),
        });
    }
    let mut out = SpecDiff {
        texts,
        ..SpecDiff::default()
    };
    items_and_settings(&now, &new, &mut out);
    Some(out)
}

/// A field's runs for a restore preview: removed characters by who wrote them, characters
/// brought back by who wrote them at the restored version (found by position in `then`).
fn preview_runs(
    history: &History,
    old: &[Element],
    new: &[Element],
    then: &[BlameRun],
) -> Vec<DiffRun> {
    let key = |e: &Element| (e.counter, e.actor);
    let in_new: HashSet<(u64, u32)> = new.iter().map(key).collect();
    let in_old: HashSet<(u64, u32)> = old.iter().map(key).collect();
    let mut runs = Vec::new();
    let (mut i, mut j, mut pos) = (0, 0, 0usize);
    while i < old.len() || j < new.len() {
        if let Some(o) = old.get(i).filter(|o| !in_new.contains(&key(o))) {
            let who = history.made_by(o.counter, o.actor);
            let (author, at) = (who.and_then(|c| c.author()), who.and_then(|c| c.at));
            push_run(&mut runs, RunKind::Deleted, &o.text, author, at);
            i += 1;
            continue;
        }
        let Some(n) = new.get(j) else {
            i += 1;
            continue;
        };
        if !in_old.contains(&key(n)) {
            let was = then.iter().find(|r| r.start <= pos && pos < r.end);
            let author = was.and_then(|r| r.author.as_ref());
            push_run(
                &mut runs,
                RunKind::Inserted,
                &n.text,
                author,
                was.and_then(|r| r.at),
            );
        } else {
            push_run(&mut runs, RunKind::Same, &n.text, None, None);
            i += 1;
        }
        pos += n.text.encode_utf16().count();
        j += 1;
    }
    runs
}

/// Who wrote each character of every text field at `heads` (now when `None`); `None` when a
/// head is not a change of `doc`. Offsets are UTF-16 code units.
pub fn blame(
    history: &History,
    doc: &impl ReadDoc,
    heads: Option<&[ChangeHash]>,
) -> Option<Vec<FieldBlame>> {
    let heads = heads.map_or_else(|| history.heads().to_vec(), <[ChangeHash]>::to_vec);
    let at = At::new(doc, &heads)?;
    let view = view_with(&at);
    Some(
        fields(&view)
            .into_keys()
            .map(|field| FieldBlame {
                runs: blame_field(history, &at, &field),
                field,
            })
            .collect(),
    )
}

/// Who wrote each character of one field at `heads` (now when `None`); `None` when a head
/// is not a change of `doc`. An absent field has no runs.
pub fn blame_of(
    history: &History,
    doc: &impl ReadDoc,
    heads: Option<&[ChangeHash]>,
    field: &TextField,
) -> Option<Vec<BlameRun>> {
    let heads = heads.map_or_else(|| history.heads().to_vec(), <[ChangeHash]>::to_vec);
    let at = At::new(doc, &heads)?;
    Some(blame_field(history, &at, field))
}

/// Who wrote each character of `field` as `doc` reads it.
fn blame_field(history: &History, doc: &impl Read, field: &TextField) -> Vec<BlameRun> {
    let Some(obj) = field_obj(doc, field) else {
        return Vec::new();
    };
    let mut runs: Vec<BlameRun> = Vec::new();
    let mut pos = 0;
    // Consecutive characters of one change need one lookup.
    let mut last: Option<(u32, u64, u64, Option<&ChangeRecord>)> = None;
    each_element(history, doc, &obj, |counter, actor, text| {
        let width = text.encode_utf16().count();
        let who = match last {
            Some((a, lo, hi, who)) if a == actor && lo <= counter && counter <= hi => who,
            _ => {
                let who = history.made_by(counter, actor);
                let (lo, hi) = history
                    .op_range(counter, actor)
                    .unwrap_or((counter, counter));
                last = Some((actor, lo, hi, who));
                who
            }
        };
        let author = who.and_then(|c| c.author());
        let at = who.and_then(|c| c.at);
        match runs.last_mut() {
            Some(run) if run.author.as_ref() == author => {
                run.end = pos + width;
                run.at = run.at.max(at);
            }
            _ => runs.push(BlameRun {
                start: pos,
                end: pos + width,
                author: author.cloned(),
                at,
            }),
        }
        pos += width;
    });
    runs
}

/// How people read a place of `view`: "Story “Export to CSV” · I want", "Criterion “one
/// click” in “Export to CSV”", or "a removed criterion" when it is no longer there.
pub fn place_label(
    view: &SpecView,
    kind: PartKind,
    item: Option<&ItemId>,
    field: Option<&TextField>,
) -> String {
    if let Some((label, _)) = field.and_then(|f| fields(view).remove(f)) {
        return label;
    }
    match (kind, item) {
        (PartKind::Title, _) => "Title".to_owned(),
        (PartKind::Problem, _) => "Problem".to_owned(),
        (_, Some(id)) => entries(view)
            .into_iter()
            .find(|e| e.kind == kind && &e.id == id)
            .map(|e| e.label)
            .unwrap_or_else(|| format!("a removed {}", kind.nouns().0)),
        (_, None) => kind.nouns().0.to_owned(),
    }
}
