//! `SpecView`: the typed, read-only picture of a spec that pages render and Markdown exports.

use automerge::{Cursor, ObjId, ObjType, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::at::Read;
use crate::ids::{ItemId, UnixMillis};
use crate::read::{self, Ranked};
use crate::schema::{
    key, ConstraintKind, ConstraintStatus, CriterionKind, Severity, StoryField, StoryStatus,
};
use crate::signoff::{SignedContent, StoryDigest};
use crate::spec::Spec;

/// A whole spec, in display order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecView {
    pub title: String,
    pub problem: String,
    pub metrics: Vec<MetricView>,
    pub stories: Vec<StoryView>,
    pub decisions: Vec<DecisionView>,
    pub questions: Vec<QuestionView>,
    /// Constraints whose story no longer exists (removed concurrently with adding them):
    /// they wait in triage to be re-attached, never vanish.
    pub detached: Vec<ConstraintView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricView {
    pub id: ItemId,
    pub name: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryView {
    pub id: ItemId,
    pub as_a: String,
    pub i_want: String,
    pub so_that: String,
    pub status: StoryStatus,
    pub criteria: Vec<CriterionView>,
    /// The constraints track beside the story, in track order.
    pub constraints: Vec<ConstraintView>,
}

impl StoryView {
    pub fn field(&self, field: StoryField) -> &str {
        match field {
            StoryField::AsA => &self.as_a,
            StoryField::IWant => &self.i_want,
            StoryField::SoThat => &self.so_that,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionView {
    pub id: ItemId,
    pub kind: CriterionKind,
    pub text: String,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstraintView {
    pub id: ItemId,
    /// The story the constraint belongs to (it may no longer exist; see `SpecView::detached`).
    pub story: String,
    pub kind: ConstraintKind,
    pub severity: Severity,
    pub status: ConstraintStatus,
    pub text: String,
    /// The user id of whoever raised it.
    pub author: String,
    pub anchor: Anchor,
}

/// Where a constraint points inside its story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Anchor {
    /// On the story as a whole.
    Story,
    /// On a span of one story field, UTF-16 `start..end`, currently reading `text`.
    Span {
        field: StoryField,
        start: usize,
        end: usize,
        text: String,
    },
    /// The anchored text was deleted: the constraint belongs in the triage list.
    Orphaned { field: StoryField, quote: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionView {
    pub id: ItemId,
    pub title: String,
    pub decision: String,
    pub rationale: String,
    /// The stories it concerns that still exist, in story order.
    pub stories: Vec<ItemId>,
    pub decided_by: String,
    pub decided_at: UnixMillis,
    /// The stories it concerns that changed since it was decided (or since their link
    /// was made or confirmed), with the version it was decided at.
    pub context_changed: Vec<ChangedContext>,
}

/// A story a decision concerns that no longer reads as it did when decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedContext {
    pub story: ItemId,
    /// The version it was decided at (change hashes, hex, comma-separated; empty if
    /// unknown, e.g. decided in the same change that wrote the story).
    pub at: String,
    /// The story was deleted since.
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionView {
    pub id: ItemId,
    pub question: String,
    pub answer: String,
    pub asked_by: String,
    /// Empty while unanswered.
    pub answered_by: String,
}

impl SpecView {
    pub fn story(&self, id: &ItemId) -> Option<&StoryView> {
        self.stories.iter().find(|s| &s.id == id)
    }

    /// Every constraint that needs a person's attention to be placed again: the detached
    /// ones and those whose anchored text was deleted.
    pub fn triage(&self) -> Vec<&ConstraintView> {
        self.stories
            .iter()
            .flat_map(|s| s.constraints.iter())
            .filter(|c| matches!(c.anchor, Anchor::Orphaned { .. }))
            .chain(self.detached.iter())
            .collect()
    }

    /// Open blocker constraints on their stories (those that lost their anchor are in
    /// [`triage`](Self::triage) already), in story and track order: each needs someone to
    /// resolve it before the story can go ahead.
    pub fn open_blockers(&self) -> Vec<&ConstraintView> {
        self.stories
            .iter()
            .flat_map(|s| s.constraints.iter())
            .filter(|c| {
                c.severity == Severity::Blocker
                    && c.status == ConstraintStatus::Open
                    && !matches!(c.anchor, Anchor::Orphaned { .. })
            })
            .collect()
    }

    /// Every constraint, wherever it is shown.
    pub fn all_constraints(&self) -> impl Iterator<Item = &ConstraintView> {
        self.stories
            .iter()
            .flat_map(|s| s.constraints.iter())
            .chain(self.detached.iter())
    }
}

impl Spec {
    /// Reads the whole spec. Never fails: whatever a merged or hostile document holds, the
    /// view shows what can be read and defaults the rest.
    pub fn view(&self) -> SpecView {
        view_of(&self.doc)
    }
}

/// Builds the view of any document holding a spec.
pub fn view_of(doc: &impl ReadDoc) -> SpecView {
    view_with(doc)
}

/// The view through any reader (a live document, or one at some heads).
pub(crate) fn view_with(doc: &impl Read) -> SpecView {
    let list = |name: &str| -> Vec<Ranked> {
        read::part(doc, name, ObjType::Map)
            .map(|l| read::ranked(doc, &l))
            .unwrap_or_default()
    };
    let root_text = |name: &str| root_text(doc, name);

    let metrics = list(key::METRICS)
        .into_iter()
        .map(|m| MetricView {
            name: read::text(doc, &m.obj, key::NAME),
            target: read::text(doc, &m.obj, key::TARGET),
            id: m.id,
        })
        .collect();

    let mut stories: Vec<StoryView> = list(key::STORIES)
        .into_iter()
        .map(|s| story_view(doc, s))
        .collect();

    let mut detached = Vec::new();
    for c in list(key::CONSTRAINTS) {
        let story_id = read::string(doc, &c.obj, key::STORY);
        let story_obj = ItemId::parse(&story_id).ok().and_then(|id| {
            read::part(doc, key::STORIES, ObjType::Map)
                .and_then(|l| read::obj(doc, &l, id.as_str(), ObjType::Map))
        });
        let view = constraint_view(doc, &c, story_id, story_obj.as_ref());
        match stories.iter_mut().find(|s| s.id.as_str() == view.story) {
            Some(story) => story.constraints.push(view),
            None => detached.push(view),
        }
    }

    let decisions = list(key::DECISIONS)
        .into_iter()
        .map(|d| {
            let linked: Vec<String> = read::obj(doc, &d.obj, key::STORIES, ObjType::Map)
                .map(|l| doc.key_list(&l).collect())
                .unwrap_or_default();
            DecisionView {
                title: read::text(doc, &d.obj, key::TITLE),
                decision: read::text(doc, &d.obj, key::DECISION),
                rationale: read::text(doc, &d.obj, key::RATIONALE),
                stories: stories
                    .iter()
                    .filter(|s| linked.iter().any(|l| l == s.id.as_str()))
                    .map(|s| s.id.clone())
                    .collect(),
                decided_by: read::string(doc, &d.obj, key::DECIDED_BY),
                decided_at: UnixMillis(read::integer(doc, &d.obj, key::DECIDED_AT).unwrap_or(0)),
                context_changed: context_changed(doc, &d.obj, &stories),
                id: d.id,
            }
        })
        .collect();

    let questions = list(key::QUESTIONS)
        .into_iter()
        .map(|q| QuestionView {
            question: read::text(doc, &q.obj, key::QUESTION),
            answer: read::text(doc, &q.obj, key::ANSWER),
            asked_by: read::string(doc, &q.obj, key::ASKED_BY),
            answered_by: read::string(doc, &q.obj, key::ANSWERED_BY),
            id: q.id,
        })
        .collect();

    SpecView {
        title: root_text(key::TITLE),
        problem: root_text(key::PROBLEM),
        metrics,
        stories,
        decisions,
        questions,
        detached,
    }
}

/// The stories of a decision's recorded context that read differently now (`stories`:
/// the spec's, as just read).
fn context_changed(
    doc: &impl Read,
    decision: &ObjId,
    stories: &[StoryView],
) -> Vec<ChangedContext> {
    let Some(context) = read::obj(doc, decision, key::CONTEXT, ObjType::Map) else {
        return Vec::new();
    };
    let entries: Vec<String> = doc.key_list(&context).collect();
    entries
        .into_iter()
        .filter_map(|story| {
            let story = ItemId::parse(&story).ok()?;
            let entry = read::obj(doc, &context, story.as_str(), ObjType::Map)?;
            let then = read::string(doc, &entry, key::DIGEST);
            let now = stories
                .iter()
                .find(|s| s.id == story)
                .map(|s| SignedContent::of(s).digest());
            (now.as_ref().map(StoryDigest::as_str) != Some(then.as_str())).then(|| ChangedContext {
                at: read::string(doc, &entry, key::AT),
                deleted: now.is_none(),
                story,
            })
        })
        .collect()
}

/// The text of a root Text part, or "".
pub(crate) fn root_text(doc: &impl Read, name: &str) -> String {
    read::part(doc, name, ObjType::Text)
        .and_then(|t| doc.text_of(&t).ok())
        .unwrap_or_default()
}

fn story_view(doc: &impl Read, s: Ranked) -> StoryView {
    let criteria = read::obj(doc, &s.obj, key::CRITERIA, ObjType::Map)
        .map(|l| read::ranked(doc, &l))
        .unwrap_or_default()
        .into_iter()
        .map(|c| CriterionView {
            kind: CriterionKind::read(&read::string(doc, &c.obj, key::KIND)),
            text: read::text(doc, &c.obj, key::TEXT),
            done: read::boolean(doc, &c.obj, key::DONE),
            id: c.id,
        })
        .collect();
    StoryView {
        as_a: read::text(doc, &s.obj, key::AS_A),
        i_want: read::text(doc, &s.obj, key::I_WANT),
        so_that: read::text(doc, &s.obj, key::SO_THAT),
        status: StoryStatus::read(&read::string(doc, &s.obj, key::STATUS)),
        criteria,
        constraints: Vec::new(),
        id: s.id,
    }
}

fn constraint_view(
    doc: &impl Read,
    c: &Ranked,
    story: String,
    story_obj: Option<&ObjId>,
) -> ConstraintView {
    ConstraintView {
        id: c.id.clone(),
        kind: ConstraintKind::read(&read::string(doc, &c.obj, key::KIND)),
        severity: Severity::read(&read::string(doc, &c.obj, key::SEVERITY)),
        status: ConstraintStatus::read(&read::string(doc, &c.obj, key::STATUS)),
        text: read::text(doc, &c.obj, key::TEXT),
        author: read::string(doc, &c.obj, key::AUTHOR),
        anchor: resolve_anchor(doc, &c.obj, story_obj),
        story,
    }
}

/// Parses a cursor stored in the document. Automerge's parser slices by byte and would
/// panic on an empty or non-ASCII string, so only plausible cursor strings reach it.
fn parse_cursor(s: &str) -> Option<Cursor> {
    if s.len() < 2 || s.len() > 300 || !s.is_ascii() {
        return None;
    }
    Cursor::try_from(s).ok()
}

/// Where a constraint's anchor points now.
fn resolve_anchor(doc: &impl Read, constraint: &ObjId, story: Option<&ObjId>) -> Anchor {
    let Some(anchor) = read::obj(doc, constraint, key::ANCHOR, ObjType::Map) else {
        return Anchor::Story;
    };
    let field = StoryField::read(&read::string(doc, &anchor, key::FIELD));
    let orphaned = || Anchor::Orphaned {
        field,
        quote: read::string(doc, &anchor, key::QUOTE),
    };
    let Some(story) = story else {
        return orphaned();
    };
    let Some(text_obj) = read::obj(doc, story, field.as_stored(), ObjType::Text) else {
        return orphaned();
    };
    let start_str = read::string(doc, &anchor, key::START);
    let end_str = read::string(doc, &anchor, key::END);
    let (Some(start), Some(end)) = (parse_cursor(&start_str), parse_cursor(&end_str)) else {
        return orphaned();
    };
    let (Ok(start), Ok(last)) = (
        doc.cursor_position(&text_obj, &start),
        doc.cursor_position(&text_obj, &end),
    ) else {
        return orphaned();
    };
    let Ok(text) = doc.text_of(&text_obj) else {
        return orphaned();
    };
    // A cursor whose character was deleted reports the position of the next surviving
    // character. So if the span's last character still exists the span ends after it;
    // otherwise it ends where that next character now is. An empty span means every
    // character of the anchored text was deleted.
    let last_survives = doc
        .cursor_at(&text_obj, last)
        .is_ok_and(|c| c.to_string() == end_str.trim_start_matches('-'));
    let end = if last_survives {
        read::byte_offset(&text, last)
            .and_then(|b| text[b..].chars().next())
            .map(|ch| last + ch.len_utf16())
    } else {
        Some(last)
    };
    match end {
        Some(end) if start < end => match read::utf16_slice(&text, start, end) {
            Some(slice) => Anchor::Span {
                field,
                start,
                end,
                text: slice.to_owned(),
            },
            None => orphaned(),
        },
        _ => orphaned(),
    }
}
