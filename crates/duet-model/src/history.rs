//! History by author: each change with its author, time, message and the places of the spec it touched; edit sessions, filters and summaries.
//!
//! A [`History`] reads every change's operations once, in the document's causal order,
//! keeping a map from each object to where it sits in the spec (a story's `i_want` text, a
//! criterion, a constraint's anchor…), so each operation is filed under the place it
//! changed even when that place was later removed. It also keeps, per actor, which change
//! made which operation counters (who inserted a character) and which change deleted each
//! character, for diffs and blame. [`History::update`] reads only the changes it has not
//! seen, so a server can keep one per document.
//!
//! A server keeps this for every loaded document while people type, so it is kept small
//! per change (~0.3 KiB): authors, messages and touched places are shared between the
//! changes that repeat them, and the heads after each change are kept for every 64th
//! change only, the others worked out from the changes' dependencies when asked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use automerge::{ActorId, Change, ChangeHash};
use serde::{Deserialize, Serialize};

use crate::concurrent::text_field;
use crate::error::IdError;
use crate::ids::{Author, ItemId, UnixMillis, UserId};
use crate::schema::{key, TextField};
use crate::spec::skeleton_hash;
use crate::view::{SpecView, StoryView};

/// Changes of one author further apart than this (ms) start a new edit session.
pub const SESSION_GAP: i64 = 5 * 60 * 1000;

/// What the server knows of a change beyond the change itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeMeta {
    /// The account the server verified as its author when it arrived.
    pub author: Option<UserId>,
    /// When the server received it.
    pub received_at: Option<UnixMillis>,
}

/// The kinds of place in a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartKind {
    Title,
    Problem,
    Metric,
    Story,
    Criterion,
    Constraint,
    Decision,
    Question,
}

impl PartKind {
    fn of_list(list: &str) -> Option<PartKind> {
        match list {
            key::METRICS => Some(PartKind::Metric),
            key::STORIES => Some(PartKind::Story),
            key::CONSTRAINTS => Some(PartKind::Constraint),
            key::DECISIONS => Some(PartKind::Decision),
            key::QUESTIONS => Some(PartKind::Question),
            _ => None,
        }
    }

    fn list_key(self) -> &'static str {
        match self {
            PartKind::Metric => key::METRICS,
            PartKind::Constraint => key::CONSTRAINTS,
            PartKind::Decision => key::DECISIONS,
            PartKind::Question => key::QUESTIONS,
            _ => key::STORIES,
        }
    }

    /// (singular, plural) as people read them.
    pub fn nouns(self) -> (&'static str, &'static str) {
        match self {
            PartKind::Title => ("title", "titles"),
            PartKind::Problem => ("problem", "problems"),
            PartKind::Metric => ("metric", "metrics"),
            PartKind::Story => ("story", "stories"),
            PartKind::Criterion => ("criterion", "criteria"),
            PartKind::Constraint => ("constraint", "constraints"),
            PartKind::Decision => ("decision", "decisions"),
            PartKind::Question => ("question", "questions"),
        }
    }
}

/// What a change did to a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    Added,
    Edited,
    Removed,
    Moved,
}

impl Verb {
    fn past(self) -> &'static str {
        match self {
            Verb::Added => "added",
            Verb::Edited => "edited",
            Verb::Removed => "removed",
            Verb::Moved => "reordered",
        }
    }
}

/// One place a change touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Touch {
    pub kind: PartKind,
    pub verb: Verb,
    /// The item (`None` for the title and the problem).
    pub item: Option<ItemId>,
    /// The story the place belongs to: the story itself, a criterion's story, a
    /// constraint's story.
    pub story: Option<ItemId>,
    /// The text field, when the change edited text.
    pub field: Option<TextField>,
}

/// One change as history lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub hash: ChangeHash,
    /// When the server received it, else the time the author's device wrote in it.
    pub at: Option<UnixMillis>,
    /// When the server received it, if it recorded that.
    pub received_at: Option<UnixMillis>,
    author: Option<Arc<UserId>>,
    message: Option<Arc<str>>,
    touches: Arc<[Touch]>,
}

impl ChangeRecord {
    /// The verified account when the server knows it, else the one in the change's actor.
    pub fn author(&self) -> Option<&UserId> {
        self.author.as_deref()
    }

    /// The change's message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The places it touched.
    pub fn touches(&self) -> &[Touch] {
        &self.touches
    }

    /// Whether the change is a restore (`Spec::restore` names its changes so).
    pub fn is_restore(&self) -> bool {
        self.message
            .as_deref()
            .is_some_and(|m| m == RESTORE_VERSION || m == RESTORE_STORY || m == RESTORE_ITEM)
    }
}

/// The messages of restore changes.
pub const RESTORE_VERSION: &str = "restore version";
pub const RESTORE_STORY: &str = "restore story";
pub const RESTORE_ITEM: &str = "restore item";

/// A part of a spec to filter history by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartFilter {
    Title,
    Problem,
    Metrics,
    Criteria,
    Constraints,
    Decisions,
    Questions,
    /// One story: its text, status, criteria and the constraints beside it.
    Story(ItemId),
}

impl PartFilter {
    /// Parses `title`, `problem`, `metrics`, `criteria`, `constraints`, `decisions`,
    /// `questions` or `story:<id>`.
    pub fn parse(s: &str) -> Result<PartFilter, IdError> {
        Ok(match s {
            "title" => PartFilter::Title,
            "problem" => PartFilter::Problem,
            "metrics" => PartFilter::Metrics,
            "criteria" => PartFilter::Criteria,
            "constraints" => PartFilter::Constraints,
            "decisions" => PartFilter::Decisions,
            "questions" => PartFilter::Questions,
            _ => match s.strip_prefix("story:") {
                Some(id) => PartFilter::Story(ItemId::parse(id)?),
                None => return Err(IdError::InvalidPart(s.chars().take(80).collect())),
            },
        })
    }

    /// The parts a touch lies in (a criterion lies in "criteria" and in its story).
    pub fn of(touch: &Touch) -> Vec<PartFilter> {
        let mut parts = match touch.kind {
            PartKind::Title => vec![PartFilter::Title],
            PartKind::Problem => vec![PartFilter::Problem],
            PartKind::Metric => vec![PartFilter::Metrics],
            PartKind::Story => Vec::new(),
            PartKind::Criterion => vec![PartFilter::Criteria],
            PartKind::Constraint => vec![PartFilter::Constraints],
            PartKind::Decision => vec![PartFilter::Decisions],
            PartKind::Question => vec![PartFilter::Questions],
        };
        if let Some(story) = &touch.story {
            parts.push(PartFilter::Story(story.clone()));
        }
        parts
    }

    pub fn matches(&self, touch: &Touch) -> bool {
        PartFilter::of(touch).contains(self)
    }
}

impl fmt::Display for PartFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartFilter::Title => f.write_str("title"),
            PartFilter::Problem => f.write_str("problem"),
            PartFilter::Metrics => f.write_str("metrics"),
            PartFilter::Criteria => f.write_str("criteria"),
            PartFilter::Constraints => f.write_str("constraints"),
            PartFilter::Decisions => f.write_str("decisions"),
            PartFilter::Questions => f.write_str("questions"),
            PartFilter::Story(id) => write!(f, "story:{id}"),
        }
    }
}

/// Which changes to list. Empty `authors` means everyone; times are inclusive, and a change
/// without a known time is left out once a time bound is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub authors: BTreeSet<UserId>,
    pub part: Option<PartFilter>,
    pub since: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

impl Filter {
    pub fn matches(&self, change: &ChangeRecord) -> bool {
        let author =
            self.authors.is_empty() || change.author().is_some_and(|a| self.authors.contains(a));
        let part = self
            .part
            .as_ref()
            .is_none_or(|p| change.touches.iter().any(|t| p.matches(t)));
        let time = match (self.since, self.until) {
            (None, None) => true,
            (since, until) => change
                .at
                .is_some_and(|at| since.is_none_or(|s| at >= s) && until.is_none_or(|u| at <= u)),
        };
        author && part && time
    }
}

/// One author's run of changes with short gaps between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The hash of its first change.
    pub id: ChangeHash,
    pub author: Option<UserId>,
    pub start: Option<UnixMillis>,
    pub end: Option<UnixMillis>,
    pub changes: usize,
    /// The spec's heads just before its first change and just after its last one (in the
    /// document's order, so others' changes made meanwhile fall inside).
    pub before: Vec<ChangeHash>,
    pub after: Vec<ChangeHash>,
    /// Every place it changed (not serialised: a long session touches thousands).
    #[serde(skip)]
    pub touches: Vec<Touch>,
    /// Its changes' positions in the history, oldest first (not serialised).
    #[serde(skip)]
    pub positions: Vec<usize>,
}

/// One step of a session: its changes at one place, none more than [`STEP_GAP`] after the
/// one before — what a person reads as one edit when stepping through a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionStep {
    pub start: Option<UnixMillis>,
    pub end: Option<UnixMillis>,
    pub changes: usize,
    /// The spec's heads just before its first change and just after its last one.
    pub before: Vec<ChangeHash>,
    pub after: Vec<ChangeHash>,
    #[serde(skip)]
    pub touches: Vec<Touch>,
}

/// Changes further apart than this are separate steps of a session.
pub const STEP_GAP: i64 = 3_000;
/// Most steps listed for one session; the earliest are joined beyond it.
pub const MAX_STEPS: usize = 300;

/// Everything one author changed at one place, for "what changed since I last looked".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaceChanges {
    pub author: Option<UserId>,
    pub kind: PartKind,
    pub item: Option<ItemId>,
    pub story: Option<ItemId>,
    pub field: Option<TextField>,
    /// The strongest thing done there (added, removed, else edited or reordered).
    pub verb: Verb,
    pub changes: usize,
}

/// Where an object sits in the spec.
#[derive(Debug, Clone)]
enum Loc {
    List(PartKind),
    Item(PartKind, ItemId),
    Criteria(ItemId),
    Criterion(ItemId, ItemId),
    Text(TextField),
    /// Inside an item: a constraint's anchor, a decision's story links.
    Inside(PartKind, ItemId),
}

/// What an operation does, as far as history cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Make,
    Delete,
    /// A value written (or an element inserted).
    Put,
    Other,
}

/// One operation of a change, read from automerge's expanded form.
#[derive(Debug)]
struct RawOp<'a> {
    act: Act,
    obj: &'a str,
    /// The map key it writes (absent for sequence elements).
    key: Option<String>,
    /// For an operation on a sequence element: (actor number, counter) of the element.
    elem: Option<(u32, u64)>,
    /// A string it writes.
    value: Option<String>,
    /// Its own op id (`counter@actor`), for an operation that makes an object.
    id: Option<String>,
}

/// The heads after every this many changes are kept; the others are worked out.
const HEADS_EVERY: usize = 64;

/// Distinct values kept for sharing: authors, messages and touched places repeat from
/// change to change while people type.
const RECENT: usize = 32;

/// The last few distinct values seen, handed out shared instead of copied per change.
#[derive(Debug)]
struct Recent<T: ?Sized> {
    values: Vec<Arc<T>>,
    /// The slot to replace next once full.
    next: usize,
}

impl<T: ?Sized> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            values: Vec::new(),
            next: 0,
        }
    }
}

impl<T: ?Sized + PartialEq> Recent<T> {
    /// A shared copy of `value`: one seen recently, else `make()`, remembered.
    fn share(&mut self, value: &T, make: impl FnOnce() -> Arc<T>) -> Arc<T> {
        if let Some(seen) = self.values.iter().find(|v| ***v == *value) {
            return Arc::clone(seen);
        }
        let made = make();
        if self.values.len() < RECENT {
            self.values.push(Arc::clone(&made));
        } else {
            self.values[self.next] = Arc::clone(&made);
            self.next = (self.next + 1) % RECENT;
        }
        made
    }
}

/// The history of one document, read once and extended as changes arrive.
#[derive(Debug, Default)]
pub struct History {
    changes: Vec<ChangeRecord>,
    index: HashMap<ChangeHash, u32>,
    /// Each change's dependencies as positions, change after change: those of change `i`
    /// are `deps[deps_from[i]..deps_from[i + 1]]`.
    deps: Vec<u32>,
    deps_from: Vec<u32>,
    /// The heads (positions) after changes `HEADS_EVERY - 1`, `2 * HEADS_EVERY - 1`…
    checkpoints: Vec<Box<[u32]>>,
    /// The heads after the last change read (positions), and their hashes sorted, which
    /// [`History::heads`] lends out.
    head_positions: Vec<u32>,
    heads: Vec<ChangeHash>,
    authors: Recent<UserId>,
    messages: Recent<str>,
    places: Recent<[Touch]>,
    objs: HashMap<String, Loc>,
    constraint_story: HashMap<ItemId, ItemId>,
    /// Each actor's number here.
    actors: HashMap<ActorId, u32>,
    /// Per actor number: the actor in hex, as op ids spell it.
    hexes: Vec<String>,
    /// Per actor number: (first op counter, last op counter, change index), ascending.
    ranges: Vec<Vec<(u64, u64, usize)>>,
    /// (actor number, counter) of an element's insert → the change that deleted it.
    deleted_by: HashMap<(u32, u64), usize>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Reads changes not read yet, in causal order: what `doc.get_changes(history.heads())`
    /// returns. Changes already read are skipped. `meta` tells what the server knows of one.
    pub fn update<'a>(
        &mut self,
        changes: impl IntoIterator<Item = &'a Change>,
        meta: impl Fn(&ChangeHash) -> ChangeMeta,
    ) {
        // The object of the last operation read, and its op-id spelling: typing writes
        // into one text object change after change.
        let mut last_obj = None;
        let mut obj = String::new();
        for change in changes {
            if self.index.contains_key(&change.hash()) {
                continue;
            }
            let (idx, number, start) = self.begin(change);
            let mut touches: BTreeSet<Touch> = BTreeSet::new();
            // Whether the current object is a text field already filed for this change.
            let mut in_text = false;
            let expanded = change.decode();
            for (n, op) in expanded.operations.iter().enumerate() {
                if last_obj.as_ref() != Some(&op.obj) {
                    obj = op.obj.to_string();
                    last_obj = Some(op.obj.clone());
                    in_text = false;
                }
                // Typing: most operations insert into the text object just filed.
                if in_text && op.insert {
                    continue;
                }
                let value = op.primitive_value();
                let act = if op.insert || value.is_some() {
                    Act::Put
                } else {
                    let name = format!("{:?}", op.action);
                    if name.starts_with("Make") {
                        Act::Make
                    } else if name == "Delete" {
                        Act::Delete
                    } else {
                        Act::Other
                    }
                };
                let key = if op.key.is_map_key() {
                    match serde_json::to_value(&op.key) {
                        Ok(serde_json::Value::String(k)) => Some(k),
                        _ => None,
                    }
                } else {
                    None
                };
                let elem = op
                    .key
                    .to_opid()
                    .and_then(|id| Some((*self.actors.get(id.actor())?, id.counter())));
                let value = match value {
                    Some(automerge::ScalarValue::Str(s)) => Some(s.to_string()),
                    _ => None,
                };
                let raw = RawOp {
                    act,
                    id: (act == Act::Make)
                        .then(|| format!("{}@{}", start + n as u64, self.hexes[number as usize])),
                    obj: &obj,
                    key,
                    elem,
                    value,
                };
                in_text = self.read_op(idx, &raw, &mut touches);
            }
            self.end(change, touches, &meta);
        }
    }

    /// The heads after every change read.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }

    /// Every change, in the document's causal order.
    pub fn changes(&self) -> &[ChangeRecord] {
        &self.changes
    }

    pub fn position(&self, hash: &ChangeHash) -> Option<usize> {
        self.index.get(hash).map(|&i| i as usize)
    }

    /// The heads just before change `i` (in this history's order), sorted.
    pub fn heads_before(&self, i: usize) -> Vec<ChangeHash> {
        match i.checked_sub(1) {
            Some(p) => self.heads_after(p),
            None => Vec::new(),
        }
    }

    /// The heads just after change `i` (in this history's order), sorted; none past the
    /// last change.
    pub fn heads_after(&self, i: usize) -> Vec<ChangeHash> {
        if i >= self.changes.len() {
            return Vec::new();
        }
        if i + 1 == self.changes.len() {
            return self.heads.clone();
        }
        // From the last checkpoint at or before `i`, change by change: a change replaces
        // the heads it depends on.
        let kept = (i + 1) / HEADS_EVERY;
        let (mut heads, from) = match kept.checked_sub(1) {
            Some(c) => (self.checkpoints[c].to_vec(), kept * HEADS_EVERY),
            None => (Vec::new(), 0),
        };
        for j in from..=i {
            self.advance(&mut heads, j);
        }
        self.hashes_of(&heads)
    }

    /// The hashes of the changes at `positions`, sorted.
    fn hashes_of(&self, positions: &[u32]) -> Vec<ChangeHash> {
        let mut hashes: Vec<ChangeHash> = positions
            .iter()
            .map(|&p| self.changes[p as usize].hash)
            .collect();
        hashes.sort_unstable();
        hashes
    }

    /// Heads (positions) after change `j`, given those before it.
    fn advance(&self, heads: &mut Vec<u32>, j: usize) {
        let from = self.deps_from[j] as usize;
        let to = self
            .deps_from
            .get(j + 1)
            .map_or(self.deps.len(), |&t| t as usize);
        let deps = &self.deps[from..to];
        heads.retain(|h| !deps.contains(h));
        heads.push(j as u32);
    }

    /// The changes `filter` selects, in order. The shared empty-spec change is never listed.
    pub fn select(&self, filter: &Filter) -> Vec<usize> {
        let skeleton = skeleton_hash();
        (0..self.changes.len())
            .filter(|&i| self.changes[i].hash != skeleton && filter.matches(&self.changes[i]))
            .collect()
    }

    /// The positions of `changes` (for instance those after some heads:
    /// `doc.get_changes(seen)`), in order, leaving out the shared empty-spec change.
    pub fn positions<'a>(&self, changes: impl IntoIterator<Item = &'a Change>) -> Vec<usize> {
        let skeleton = skeleton_hash();
        let mut out: Vec<usize> = changes
            .into_iter()
            .filter(|c| c.hash() != skeleton)
            .filter_map(|c| self.position(&c.hash()))
            .collect();
        out.sort_unstable();
        out
    }

    /// This history's number for `actor`, if any change of it was read.
    pub fn actor_number(&self, actor: &ActorId) -> Option<u32> {
        self.actors.get(actor).copied()
    }

    /// The change that wrote op `counter` of actor number `actor`, if read.
    pub fn made_by(&self, counter: u64, actor: u32) -> Option<&ChangeRecord> {
        let ranges = self.ranges.get(actor as usize)?;
        let at = ranges.partition_point(|r| r.1 < counter);
        let (first, last, i) = *ranges.get(at)?;
        (first <= counter && counter <= last).then(|| &self.changes[i])
    }

    /// The op counters of the change that wrote op `counter` of actor number `actor`.
    pub fn op_range(&self, counter: u64, actor: u32) -> Option<(u64, u64)> {
        let ranges = self.ranges.get(actor as usize)?;
        let (first, last, _) = *ranges.get(ranges.partition_point(|r| r.1 < counter))?;
        (first <= counter && counter <= last).then_some((first, last))
    }

    /// The change that deleted the element inserted by op `counter@actor`, if any was read.
    pub fn deleted_by(&self, counter: u64, actor: u32) -> Option<&ChangeRecord> {
        let i = *self.deleted_by.get(&(actor, counter))?;
        self.changes.get(i)
    }

    /// Groups `selected` changes into edit sessions, newest first.
    pub fn sessions(&self, selected: &[usize]) -> Vec<Session> {
        let mut by_author: BTreeMap<Option<&UserId>, Vec<usize>> = BTreeMap::new();
        for &i in selected {
            if let Some(c) = self.changes.get(i) {
                by_author.entry(c.author()).or_default().push(i);
            }
        }
        let mut sessions = Vec::new();
        for (author, mut list) in by_author {
            list.sort_by_key(|&i| (self.changes[i].at, i));
            let mut run: Vec<usize> = Vec::new();
            for i in list {
                let gap = match (
                    run.last().and_then(|&p| self.changes[p].at),
                    self.changes[i].at,
                ) {
                    (Some(prev), Some(now)) => now.0 - prev.0 > SESSION_GAP,
                    _ => false,
                };
                // A restore is an entry of its own, however soon it follows other edits.
                let apart = self.changes[i].is_restore()
                    || run.last().is_some_and(|&p| self.changes[p].is_restore());
                if (gap || apart) && !run.is_empty() {
                    sessions.push(self.session(author, &run));
                    run.clear();
                }
                run.push(i);
            }
            if !run.is_empty() {
                sessions.push(self.session(author, &run));
            }
        }
        // Newest first: by the latest time, then by the latest change in document order.
        sessions.sort_by_key(|(s, last)| std::cmp::Reverse((s.end, *last)));
        sessions.into_iter().map(|(s, _)| s).collect()
    }

    /// The session of `run` (one author's changes), with the position of its last change.
    fn session(&self, author: Option<&UserId>, run: &[usize]) -> (Session, usize) {
        let first = run.iter().copied().min().unwrap_or(0);
        let last = run.iter().copied().max().unwrap_or(0);
        let touches = merge_touches(run.iter().flat_map(|&i| self.changes[i].touches.iter()));
        let mut positions = run.to_vec();
        positions.sort_unstable();
        let session = Session {
            positions,
            id: self.changes[run[0]].hash,
            author: author.cloned(),
            start: run.iter().filter_map(|&i| self.changes[i].at).min(),
            end: run.iter().filter_map(|&i| self.changes[i].at).max(),
            changes: run.len(),
            before: self.heads_before(first),
            after: self.heads_after(last),
            touches,
        };
        (session, last)
    }

    /// A session's steps, oldest first: its changes split where the place changed (the
    /// first place a change touched) or more than [`STEP_GAP`] passed. At most
    /// [`MAX_STEPS`]: the earliest are joined into the first.
    pub fn steps(&self, session: &Session) -> Vec<SessionStep> {
        let place = |i: usize| {
            self.changes[i]
                .touches
                .first()
                .map(|t| (t.kind, t.item.clone(), t.field.clone()))
        };
        let mut runs: Vec<Vec<usize>> = Vec::new();
        for &i in &session.positions {
            let Some(c) = self.changes.get(i) else {
                continue;
            };
            let joins = runs.last().and_then(|r| r.last()).is_some_and(|&p| {
                let near = match (self.changes[p].at, c.at) {
                    (Some(a), Some(b)) => b.0 - a.0 <= STEP_GAP,
                    _ => true,
                };
                near && place(p) == place(i)
            });
            match runs.last_mut() {
                Some(run) if joins => run.push(i),
                _ => runs.push(vec![i]),
            }
        }
        if runs.len() > MAX_STEPS {
            let extra = runs.len() - MAX_STEPS;
            let joined: Vec<usize> = runs.drain(..=extra).flatten().collect();
            runs.insert(0, joined);
        }
        runs.into_iter()
            .filter(|run| !run.is_empty())
            .map(|run| {
                let first = run.iter().copied().min().unwrap_or(0);
                let last = run.iter().copied().max().unwrap_or(0);
                SessionStep {
                    start: run.iter().filter_map(|&i| self.changes[i].at).min(),
                    end: run.iter().filter_map(|&i| self.changes[i].at).max(),
                    changes: run.len(),
                    before: self.heads_before(first),
                    after: self.heads_after(last),
                    touches: merge_touches(
                        run.iter().flat_map(|&i| self.changes[i].touches.iter()),
                    ),
                }
            })
            .collect()
    }

    /// What each author changed at each place among `selected`.
    pub fn places(&self, selected: &[usize]) -> Vec<PlaceChanges> {
        type Key = (Option<UserId>, PartKind, Option<ItemId>, Option<TextField>);
        let mut places: BTreeMap<Key, (Option<ItemId>, Verb, usize)> = BTreeMap::new();
        for &i in selected {
            let Some(c) = self.changes.get(i) else {
                continue;
            };
            for t in c.touches() {
                let field = if t.verb == Verb::Edited {
                    t.field.clone()
                } else {
                    None
                };
                let entry = places
                    .entry((c.author().cloned(), t.kind, t.item.clone(), field))
                    .or_insert((t.story.clone(), t.verb, 0));
                entry.1 = strongest(entry.1, t.verb);
                entry.2 += 1;
            }
        }
        places
            .into_iter()
            .map(
                |((author, kind, item, field), (story, verb, changes))| PlaceChanges {
                    author,
                    kind,
                    item,
                    story,
                    field,
                    verb,
                    changes,
                },
            )
            .collect()
    }

    /// Files a change's op counters under its actor; returns (its index, the actor's
    /// number, its first op counter).
    fn begin(&mut self, change: &Change) -> (usize, u32, u64) {
        let idx = self.changes.len();
        let number = match self.actors.get(change.actor_id()) {
            Some(n) => *n,
            None => {
                let n = self.ranges.len() as u32;
                self.ranges.push(Vec::new());
                self.hexes.push(change.actor_id().to_hex_string());
                self.actors.insert(change.actor_id().clone(), n);
                n
            }
        };
        let start = change.start_op().get();
        if !change.is_empty() {
            let last = start + change.len() as u64 - 1;
            let ranges = &mut self.ranges[number as usize];
            let at = ranges.partition_point(|r| r.1 < start);
            ranges.insert(at, (start, last, idx));
        }
        (idx, number, start)
    }

    /// Records a change once its operations are filed.
    fn end(
        &mut self,
        change: &Change,
        touches: BTreeSet<Touch>,
        meta: &impl Fn(&ChangeHash) -> ChangeMeta,
    ) {
        let idx = self.changes.len();
        // Constraints learn their story within the change that adds them.
        let touches = touches
            .into_iter()
            .map(|mut t| {
                if t.kind == PartKind::Constraint && t.story.is_none() {
                    t.story = t
                        .item
                        .as_ref()
                        .and_then(|i| self.constraint_story.get(i).cloned());
                }
                t
            })
            .collect::<Vec<_>>();
        let known = meta(&change.hash());
        let author = known.author.or_else(|| {
            Author::from_actor(change.actor_id())
                .ok()
                .map(|a| a.user().clone())
        });
        let at = known.received_at.or_else(|| {
            (change.timestamp() > 0).then(|| UnixMillis(change.timestamp().saturating_mul(1000)))
        });
        // Dependencies this history has not read are left out (it reads changes in
        // causal order, so there are none).
        self.deps_from.push(self.deps.len() as u32);
        let index = &self.index;
        self.deps
            .extend(change.deps().iter().filter_map(|d| index.get(d).copied()));
        let mut heads = std::mem::take(&mut self.head_positions);
        self.advance(&mut heads, idx);
        if (idx + 1) % HEADS_EVERY == 0 {
            self.checkpoints.push(heads.clone().into_boxed_slice());
        }
        self.index.insert(change.hash(), idx as u32);
        let author = author.map(|a| self.authors.share(&a, || Arc::new(a.clone())));
        let message = change
            .message()
            .map(|m| self.messages.share(m.as_str(), || Arc::from(m.as_str())));
        let touches = self
            .places
            .share(&touches, || Arc::from(touches.as_slice()));
        self.changes.push(ChangeRecord {
            hash: change.hash(),
            author,
            at,
            received_at: known.received_at,
            message,
            touches,
        });
        self.heads = self.hashes_of(&heads);
        self.head_positions = heads;
    }

    /// Files one operation; returns true when it edited a text field.
    fn read_op(&mut self, idx: usize, op: &RawOp, touches: &mut BTreeSet<Touch>) -> bool {
        let id = op.id.clone().unwrap_or_default();
        let make = op.act == Act::Make;
        let del = op.act == Act::Delete;
        let key = op.key.as_deref().unwrap_or("");
        if op.obj == "_root" {
            if make {
                if let Some(kind) = PartKind::of_list(key) {
                    self.objs.insert(id, Loc::List(kind));
                } else if key == key::TITLE || key == key::PROBLEM {
                    let field = if key == key::TITLE {
                        TextField::Title
                    } else {
                        TextField::Problem
                    };
                    self.objs.insert(id, Loc::Text(field));
                }
            }
            return false;
        }
        let Some(loc) = self.objs.get(op.obj).cloned() else {
            return false;
        };
        let story_of = |kind: PartKind, item: &ItemId, this: &History| match kind {
            PartKind::Story => Some(item.clone()),
            PartKind::Constraint => this.constraint_story.get(item).cloned(),
            _ => None,
        };
        match loc {
            Loc::List(kind) => {
                let Ok(item) = ItemId::parse(key) else {
                    return false;
                };
                let verb = if make {
                    self.objs.insert(id, Loc::Item(kind, item.clone()));
                    Verb::Added
                } else if del {
                    Verb::Removed
                } else {
                    return false;
                };
                touches.insert(Touch {
                    kind,
                    verb,
                    story: story_of(kind, &item, self),
                    item: Some(item),
                    field: None,
                });
            }
            Loc::Item(kind, item) => {
                let mut field = None;
                let verb = if make {
                    if let Some(f) = text_field(kind.list_key(), &item, key) {
                        self.objs.insert(id, Loc::Text(f.clone()));
                        field = Some(f);
                    } else if kind == PartKind::Story && key == key::CRITERIA {
                        self.objs.insert(id, Loc::Criteria(item.clone()));
                    } else {
                        self.objs.insert(id, Loc::Inside(kind, item.clone()));
                    }
                    Verb::Edited
                } else if key == key::RANK {
                    Verb::Moved
                } else {
                    if kind == PartKind::Constraint && key == key::STORY {
                        let story = op.value.as_deref().and_then(|s| ItemId::parse(s).ok());
                        if let Some(story) = story {
                            self.constraint_story.insert(item.clone(), story);
                        }
                    }
                    Verb::Edited
                };
                touches.insert(Touch {
                    kind,
                    verb,
                    story: story_of(kind, &item, self),
                    item: Some(item),
                    field,
                });
            }
            Loc::Criteria(story) => {
                let Ok(item) = ItemId::parse(key) else {
                    return false;
                };
                let verb = if make {
                    self.objs
                        .insert(id, Loc::Criterion(story.clone(), item.clone()));
                    Verb::Added
                } else if del {
                    Verb::Removed
                } else {
                    return false;
                };
                touches.insert(Touch {
                    kind: PartKind::Criterion,
                    verb,
                    item: Some(item),
                    story: Some(story),
                    field: None,
                });
            }
            Loc::Criterion(story, item) => {
                let mut field = None;
                let verb = if make && key == key::TEXT {
                    let f = TextField::Criterion {
                        story: story.clone(),
                        criterion: item.clone(),
                    };
                    self.objs.insert(id, Loc::Text(f.clone()));
                    field = Some(f);
                    Verb::Edited
                } else if key == key::RANK {
                    Verb::Moved
                } else {
                    Verb::Edited
                };
                touches.insert(Touch {
                    kind: PartKind::Criterion,
                    verb,
                    item: Some(item),
                    story: Some(story),
                    field,
                });
            }
            Loc::Text(field) => {
                if del {
                    if let Some(elem) = op.elem {
                        self.deleted_by.entry(elem).or_insert(idx);
                    }
                }
                let (kind, item, story) = place_of(&field);
                touches.insert(Touch {
                    kind,
                    verb: Verb::Edited,
                    story: story.or_else(|| {
                        (kind == PartKind::Constraint)
                            .then(|| item.as_ref().and_then(|i| self.constraint_story.get(i)))
                            .flatten()
                            .cloned()
                    }),
                    item,
                    field: Some(field),
                });
                return true;
            }
            Loc::Inside(kind, item) => {
                if make {
                    self.objs.insert(id, Loc::Inside(kind, item.clone()));
                }
                touches.insert(Touch {
                    kind,
                    verb: Verb::Edited,
                    story: story_of(kind, &item, self),
                    item: Some(item),
                    field: None,
                });
            }
        }
        false
    }
}

/// The kind, item and story a text field belongs to.
pub fn place_of(field: &TextField) -> (PartKind, Option<ItemId>, Option<ItemId>) {
    match field {
        TextField::Title => (PartKind::Title, None, None),
        TextField::Problem => (PartKind::Problem, None, None),
        TextField::Metric { metric, .. } => (PartKind::Metric, Some(metric.clone()), None),
        TextField::Story { story, .. } => {
            (PartKind::Story, Some(story.clone()), Some(story.clone()))
        }
        TextField::Criterion { story, criterion } => (
            PartKind::Criterion,
            Some(criterion.clone()),
            Some(story.clone()),
        ),
        TextField::Constraint { constraint } => {
            (PartKind::Constraint, Some(constraint.clone()), None)
        }
        TextField::Decision { decision, .. } => (PartKind::Decision, Some(decision.clone()), None),
        TextField::Question { question, .. } => (PartKind::Question, Some(question.clone()), None),
    }
}

/// Added or removed outweigh edits; edits outweigh reorders.
fn strongest(a: Verb, b: Verb) -> Verb {
    let weight = |v: Verb| match v {
        Verb::Added | Verb::Removed => 2,
        Verb::Edited => 1,
        Verb::Moved => 0,
    };
    if weight(b) > weight(a) {
        b
    } else {
        a
    }
}

/// Touches without repeats: an item added (or removed) is not also listed as edited or
/// reordered, and an item's text edits stand for its other edits.
fn merge_touches<'a>(touches: impl Iterator<Item = &'a Touch>) -> Vec<Touch> {
    let all: BTreeSet<&Touch> = touches.collect();
    let ended: BTreeSet<(PartKind, Option<&ItemId>)> = all
        .iter()
        .filter(|t| t.item.is_some() && matches!(t.verb, Verb::Added | Verb::Removed))
        .map(|t| (t.kind, t.item.as_ref()))
        .collect();
    let with_text: BTreeSet<(PartKind, Option<&ItemId>)> = all
        .iter()
        .filter(|t| t.field.is_some())
        .map(|t| (t.kind, t.item.as_ref()))
        .collect();
    all.iter()
        .filter(|t| {
            let k = (t.kind, t.item.as_ref());
            match t.verb {
                Verb::Added | Verb::Removed => true,
                _ if ended.contains(&k) => false,
                Verb::Edited if t.field.is_none() => !with_text.contains(&k),
                _ => true,
            }
        })
        .map(|t| (*t).clone())
        .collect()
}

/// How a story is named in history: what its user wants, else who they are.
pub fn story_name(story: &StoryView) -> String {
    let text = [&story.i_want, &story.as_a, &story.so_that]
        .into_iter()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .unwrap_or("untitled story");
    shorten(text, 48)
}

/// `text` on one line, cut to at most `max` characters at the end of a word, with an
/// ellipsis when cut (mid-word only when its first word alone is longer).
pub fn shorten(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    // The character after the cut: if it is a space, the cut already ends a word.
    let next = one_line.chars().nth(cut.chars().count());
    let whole = if next == Some(' ') {
        cut.as_str()
    } else {
        cut.rfind(' ').map_or(cut.as_str(), |at| &cut[..at])
    };
    format!(
        "{}…",
        whole.trim_end_matches([' ', ',', ';', ':', '.', '-'])
    )
}

/// A one-line summary of what `touches` did, naming stories from `view`: "edited 3
/// criteria in “Export to CSV”, added a constraint".
pub fn summary(touches: &[Touch], view: &SpecView) -> String {
    let name = |id: &ItemId| {
        view.story(id)
            .map(story_name)
            .unwrap_or_else(|| "a removed story".to_owned())
    };
    // (kind, verb) → (the items, the stories they lie in).
    type Ids<'a> = BTreeSet<Option<&'a ItemId>>;
    let mut groups: BTreeMap<(PartKind, Verb), (Ids, Ids)> = BTreeMap::new();
    for t in touches {
        let entry = groups.entry((t.kind, t.verb)).or_default();
        entry.0.insert(t.item.as_ref());
        entry.1.insert(t.story.as_ref());
    }
    let mut phrases: Vec<String> = Vec::new();
    for ((kind, verb), (items, stories)) in &groups {
        let phrase = match kind {
            PartKind::Title => "edited the title".to_owned(),
            PartKind::Problem => "edited the problem".to_owned(),
            PartKind::Story if items.len() == 1 => match items.iter().next().copied().flatten() {
                Some(id) if *verb != Verb::Removed => format!("{} “{}”", verb.past(), name(id)),
                _ => format!("{} a story", verb.past()),
            },
            _ => {
                let (one, many) = kind.nouns();
                let what = if items.len() == 1 {
                    format!(
                        "{} {one}",
                        if one.starts_with(['a', 'e', 'i', 'o', 'u']) {
                            "an"
                        } else {
                            "a"
                        }
                    )
                } else {
                    format!("{} {many}", items.len())
                };
                let within = match (
                    kind,
                    stories.len(),
                    stories.iter().next().copied().flatten(),
                ) {
                    (PartKind::Criterion, 1, Some(s)) => format!(" in “{}”", name(s)),
                    (PartKind::Constraint, 1, Some(s)) => format!(" on “{}”", name(s)),
                    _ => String::new(),
                };
                format!("{} {what}{within}", verb.past())
            }
        };
        if !phrases.contains(&phrase) {
            phrases.push(phrase);
        }
    }
    match phrases.len() {
        0 => "no visible change".to_owned(),
        1..=3 => phrases.join(", "),
        n => format!("{}, and {} more", phrases[..3].join(", "), n - 3),
    }
}
/// The objects a change writes into, by op id ("12@ab…"; "_root" for the root): each
/// text typed into, each item whose setting or entry changed. Objects it only creates
/// count once something is written into them. A person's unsent edits, counted in
/// fields, are the union of these over their changes.
pub fn objects_written(change: &Change) -> BTreeSet<String> {
    change
        .decode()
        .operations
        .iter()
        .filter(|op| {
            op.insert || op.primitive_value().is_some() || format!("{:?}", op.action) == "Delete"
        })
        .map(|op| op.obj.to_string())
        .collect()
}
