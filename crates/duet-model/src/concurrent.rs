//! Merge review: which fields and items were changed both by one replica's offline edits and, concurrently, by others — and who wrote which characters.
//!
//! A replica that was offline knows `base`, the heads the server held when it last heard
//! from it, and `ours`, its own heads when it came back. Its offline changes are those
//! between the two. Once the server's changes have arrived, every change that is neither
//! an ancestor of `ours` nor built on one of our offline changes was made concurrently.
//! Both sides' effects are read with Automerge's `diff` from `base`, so each is measured
//! against the same starting point; a place both touched is an [`Overlap`].
//!
//! What counts as the same place: the same text field; or the same item, when both sides
//! changed its settings (done, kind, severity, status, anchor, order…) or one side removed
//! it while the other changed anything in it. Two different text fields of one story are
//! different places: each merges on its own.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use automerge::{AutoCommit, ChangeHash, ObjId as ExId, PatchAction, Prop, ReadDoc, Value};

use crate::ids::{Author, ItemId, UserId};
use crate::schema::{key, DecisionField, MetricField, QuestionField, StoryField, TextField};

/// A place both sides changed while apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub place: Place,
    /// Who changed it on this replica, and who elsewhere.
    pub ours: Vec<UserId>,
    pub theirs: Vec<UserId>,
    /// For a text field: its text now, and the runs of it each side wrote while apart, in
    /// UTF-16 code units (the browser's offsets). Empty for items.
    pub text: String,
    pub contributions: Vec<Contribution>,
}

/// Where an overlap is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    Text(TextField),
    /// An item (story, criterion, constraint, decision, question, metric) by id.
    Item(ItemId),
}

/// Which replica wrote a run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Ours,
    Theirs,
}

/// A run of characters one side inserted while apart, still in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub start: usize,
    pub end: usize,
    pub side: Side,
    pub author: Option<UserId>,
}

/// What one side did, by place.
#[derive(Debug, Default)]
struct Touched {
    texts: BTreeSet<TextField>,
    /// Items whose own settings changed.
    items: BTreeSet<ItemId>,
    /// Items removed.
    removed: BTreeSet<ItemId>,
}

impl Touched {
    /// Every item a text field or setting change lies in (a criterion lies in its story).
    fn within(&self) -> BTreeSet<ItemId> {
        let mut all: BTreeSet<ItemId> = self.items.clone();
        for field in &self.texts {
            all.extend(items_of(field));
        }
        all
    }
}

fn items_of(field: &TextField) -> Vec<ItemId> {
    match field {
        TextField::Title | TextField::Problem => Vec::new(),
        TextField::Metric { metric, .. } => vec![metric.clone()],
        TextField::Story { story, .. } => vec![story.clone()],
        TextField::Criterion { story, criterion } => vec![story.clone(), criterion.clone()],
        TextField::Constraint { constraint } => vec![constraint.clone()],
        TextField::Decision { decision, .. } => vec![decision.clone()],
        TextField::Question { question, .. } => vec![question.clone()],
    }
}

/// The places changed concurrently by this replica (between `base` and `ours`) and by
/// others (everything else in `doc` not built on our offline changes), in document order
/// of kind (text fields first). Empty when either side changed nothing.
pub fn overlaps(doc: &mut AutoCommit, base: &[ChangeHash], ours: &[ChangeHash]) -> Vec<Overlap> {
    let sides = split(doc, base, ours);
    if sides.ours.is_empty() || sides.theirs.is_empty() {
        return Vec::new();
    }
    let ours_after = heads_with(doc, base, &sides.ours);
    let theirs_after = heads_with(doc, base, &sides.theirs);
    let ours_touched = touched(doc, base, &ours_after);
    let theirs_touched = touched(doc, base, &theirs_after);

    let mut places: BTreeSet<Place> = BTreeSet::new();
    for field in ours_touched.texts.intersection(&theirs_touched.texts) {
        places.insert(Place::Text(field.clone()));
    }
    for id in ours_touched.items.intersection(&theirs_touched.items) {
        places.insert(Place::Item(id.clone()));
    }
    for (a, b) in [
        (&ours_touched, &theirs_touched),
        (&theirs_touched, &ours_touched),
    ] {
        let within = b.within();
        for id in a
            .removed
            .iter()
            .filter(|id| within.contains(*id) || b.removed.contains(*id))
        {
            places.insert(Place::Item(id.clone()));
        }
    }
    if places.is_empty() {
        return Vec::new();
    }
    let ours_ops = OpRanges::of(doc, &sides.ours);
    let theirs_ops = OpRanges::of(doc, &sides.theirs);
    places
        .into_iter()
        .map(|place| {
            let (text, contributions) = match &place {
                Place::Text(field) => contributions(doc, field, &ours_ops, &theirs_ops),
                Place::Item(_) => (String::new(), Vec::new()),
            };
            Overlap {
                place,
                ours: ours_ops.authors(),
                theirs: theirs_ops.authors(),
                text,
                contributions,
            }
        })
        .collect()
}

struct Sides {
    ours: Vec<ChangeHash>,
    theirs: Vec<ChangeHash>,
}

/// Splits the changes after `base` into ours (ancestors of `ours`) and theirs (neither
/// ours nor built on ours).
fn split(doc: &mut AutoCommit, base: &[ChangeHash], ours: &[ChangeHash]) -> Sides {
    let after: Vec<(ChangeHash, Vec<ChangeHash>)> = doc
        .get_changes(base)
        .into_iter()
        .map(|c| (c.hash(), c.deps().to_vec()))
        .collect();
    let deps: HashMap<ChangeHash, Vec<ChangeHash>> = after.iter().cloned().collect();
    // Ancestors of `ours` among the changes after base.
    let mut mine: HashSet<ChangeHash> = HashSet::new();
    let mut stack: Vec<ChangeHash> = ours.to_vec();
    while let Some(h) = stack.pop() {
        if let Some(d) = deps.get(&h) {
            if mine.insert(h) {
                stack.extend(d.iter().copied());
            }
        }
    }
    // `get_changes` lists changes in causal order, so one pass finds what builds on ours.
    let mut built_on_ours: HashSet<ChangeHash> = HashSet::new();
    let mut theirs = Vec::new();
    let mut ours_list = Vec::new();
    for (hash, d) in &after {
        if mine.contains(hash) {
            ours_list.push(*hash);
        } else if d
            .iter()
            .any(|p| mine.contains(p) || built_on_ours.contains(p))
        {
            built_on_ours.insert(*hash);
        } else {
            theirs.push(*hash);
        }
    }
    Sides {
        ours: ours_list,
        theirs,
    }
}

/// The heads of `base` plus `changes` (whose ancestors are all in base or changes).
fn heads_with(
    doc: &mut AutoCommit,
    base: &[ChangeHash],
    changes: &[ChangeHash],
) -> Vec<ChangeHash> {
    let set: HashSet<ChangeHash> = changes.iter().copied().collect();
    let mut parents: HashSet<ChangeHash> = HashSet::new();
    for h in changes {
        if let Some(c) = doc.get_change_by_hash(h) {
            parents.extend(c.deps().iter().copied());
        }
    }
    let mut heads: Vec<ChangeHash> = set
        .iter()
        .filter(|h| !parents.contains(h))
        .copied()
        .collect();
    heads.extend(base.iter().filter(|h| !parents.contains(h)).copied());
    heads.sort();
    heads.dedup();
    heads
}

/// The places changed between `before` and `after`, read from Automerge's patches.
fn touched(doc: &mut AutoCommit, before: &[ChangeHash], after: &[ChangeHash]) -> Touched {
    let mut t = Touched::default();
    for patch in doc.diff(before, after) {
        let mut keys: Vec<&str> = patch
            .path
            .iter()
            .filter_map(|(_, p)| match p {
                Prop::Map(k) => Some(k.as_str()),
                Prop::Seq(_) => None,
            })
            .collect();
        let (last, removed) = match &patch.action {
            PatchAction::PutMap { key, .. } => (Some(key.as_str()), false),
            PatchAction::DeleteMap { key } => (Some(key.as_str()), true),
            _ => (None, false),
        };
        let is_text = matches!(
            patch.action,
            PatchAction::SpliceText { .. }
                | PatchAction::DeleteSeq { .. }
                | PatchAction::Insert { .. }
        );
        if let Some(k) = last {
            keys.push(k);
        }
        classify(&keys, is_text, removed, &mut t);
    }
    t
}

/// Files one patch, given the map keys from the root to what it changed.
fn classify(keys: &[&str], is_text: bool, removed: bool, t: &mut Touched) {
    let id = |s: &str| ItemId::parse(s).ok();
    match keys {
        [k] if is_text && *k == key::TITLE => {
            t.texts.insert(TextField::Title);
        }
        [k] if is_text && *k == key::PROBLEM => {
            t.texts.insert(TextField::Problem);
        }
        // An item added (not a place the other side can have touched) or removed.
        [list, item] if is_list(list) => {
            if let (true, Some(item)) = (removed, id(item)) {
                t.removed.insert(item);
            }
        }
        [list, item, field] if is_list(list) => {
            let Some(item) = id(item) else { return };
            let text = if is_text {
                text_field(list, &item, field)
            } else {
                None
            };
            match text {
                Some(f) => {
                    t.texts.insert(f);
                }
                None => {
                    t.items.insert(item);
                }
            }
        }
        // Inside a story's criteria.
        [s, story, c, criterion, rest @ ..] if *s == key::STORIES && *c == key::CRITERIA => {
            let (Some(story), Some(criterion)) = (id(story), id(criterion)) else {
                return;
            };
            match rest {
                [] if removed => {
                    t.removed.insert(criterion);
                }
                [] => {}
                [f] if is_text && *f == key::TEXT => {
                    t.texts.insert(TextField::Criterion { story, criterion });
                }
                _ => {
                    t.items.insert(criterion);
                }
            }
        }
        // Deeper inside an item (a constraint's anchor, a decision's stories).
        [list, item, _, ..] if is_list(list) => {
            if let Some(item) = id(item) {
                t.items.insert(item);
            }
        }
        _ => {}
    }
}

fn is_list(k: &str) -> bool {
    [
        key::METRICS,
        key::STORIES,
        key::CONSTRAINTS,
        key::DECISIONS,
        key::QUESTIONS,
    ]
    .contains(&k)
}

pub(crate) fn text_field(list: &str, item: &ItemId, field: &str) -> Option<TextField> {
    let item = item.clone();
    match list {
        l if l == key::METRICS => MetricField::from_stored(field).map(|field| TextField::Metric {
            metric: item,
            field,
        }),
        l if l == key::STORIES => {
            StoryField::from_stored(field).map(|field| TextField::Story { story: item, field })
        }
        l if l == key::CONSTRAINTS && field == key::TEXT => {
            Some(TextField::Constraint { constraint: item })
        }
        l if l == key::DECISIONS => {
            DecisionField::from_stored(field).map(|field| TextField::Decision {
                decision: item,
                field,
            })
        }
        l if l == key::QUESTIONS => {
            QuestionField::from_stored(field).map(|field| TextField::Question {
                question: item,
                field,
            })
        }
        _ => None,
    }
}

/// The ops one change made: counters `first..=last` of its actor, and its author.
struct OpRange {
    first: u64,
    last: u64,
    author: Option<UserId>,
}

/// The op counters each change's actor used, to tell who inserted a character.
struct OpRanges {
    /// Actor bytes → the ranges of its changes.
    ranges: HashMap<Vec<u8>, Vec<OpRange>>,
}

impl OpRanges {
    fn of(doc: &mut AutoCommit, changes: &[ChangeHash]) -> OpRanges {
        let mut ranges: HashMap<Vec<u8>, Vec<OpRange>> = HashMap::new();
        for h in changes {
            let Some(c) = doc.get_change_by_hash(h) else {
                continue;
            };
            if c.is_empty() {
                continue;
            }
            let start = c.start_op().get();
            let author = Author::from_actor(c.actor_id())
                .ok()
                .map(|a| a.user().clone());
            ranges
                .entry(c.actor_id().to_bytes().to_vec())
                .or_default()
                .push(OpRange {
                    first: start,
                    last: start + c.len() as u64 - 1,
                    author,
                });
        }
        OpRanges { ranges }
    }

    /// Whether these changes made op `counter@actor`, and by whom.
    fn find(&self, counter: u64, actor: &[u8]) -> Option<Option<UserId>> {
        self.ranges
            .get(actor)?
            .iter()
            .find(|r| r.first <= counter && counter <= r.last)
            .map(|r| r.author.clone())
    }

    fn authors(&self) -> Vec<UserId> {
        let all: BTreeMap<String, UserId> = self
            .ranges
            .values()
            .flatten()
            .filter_map(|r| r.author.clone())
            .map(|u| (u.as_str().to_owned(), u))
            .collect();
        all.into_values().collect()
    }
}

/// `field`'s current text and the runs of it inserted by either side, merged per side
/// and author.
fn contributions(
    doc: &AutoCommit,
    field: &TextField,
    ours: &OpRanges,
    theirs: &OpRanges,
) -> (String, Vec<Contribution>) {
    let Ok(obj) = crate::edit::text_obj(doc, field) else {
        return (String::new(), Vec::new());
    };
    let mut text = String::new();
    let mut runs: Vec<Contribution> = Vec::new();
    let mut at = 0usize;
    for item in doc.list_range(&obj, ..) {
        let width = match &item.value {
            Value::Scalar(s) => s.to_str().map_or(1, |s| {
                text.push_str(s);
                s.encode_utf16().count()
            }),
            Value::Object(_) => 1,
        };
        let who = match &item.id {
            ExId::Id(counter, actor, _) => {
                let actor = actor.to_bytes();
                ours.find(*counter, actor)
                    .map(|a| (Side::Ours, a))
                    .or_else(|| theirs.find(*counter, actor).map(|a| (Side::Theirs, a)))
            }
            ExId::Root => None,
        };
        if let Some((side, author)) = who {
            match runs.last_mut() {
                Some(last) if last.end == at && last.side == side && last.author == author => {
                    last.end = at + width;
                }
                _ => runs.push(Contribution {
                    start: at,
                    end: at + width,
                    side,
                    author,
                }),
            }
        }
        at += width;
    }
    (text, runs)
}
