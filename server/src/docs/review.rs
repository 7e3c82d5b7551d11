//! The history questions a document's actor answers from its document and its [`History`]: every change, the timeline by author session, any version, diffs, blame, and what changed since some heads.

use duet_model::automerge::{Automerge, ChangeHash, ReadDoc};
use duet_model::history::{
    summary, ChangeMeta, Filter, History, PartFilter, PartKind, Session, Verb,
};
use duet_model::{
    blame, diff, keep_author, place_label, restore_preview, story_diff, view_at, view_of, Author,
    FieldBlame, ItemId, RestoreScope, Spec, SpecDiff, SpecView, TextField, UnixMillis, UserId,
};
use serde::Serialize;

use super::DocError;

/// A question about a document's history.
#[derive(Debug, Clone)]
pub enum HistoryQuery {
    /// Every change, oldest first.
    Changes,
    /// The author sessions of the changes `filter` selects, newest first.
    Timeline { filter: Filter },
    /// The spec as it was at `at`.
    Version { at: Vec<ChangeHash> },
    /// What differs from `from` to `to` (now when `None`), in one story when `story`.
    Diff {
        from: Vec<ChangeHash>,
        to: Option<Vec<ChangeHash>>,
        story: Option<ItemId>,
        /// Only this author's part (a session's diff).
        author: Option<UserId>,
    },
    /// Who wrote each character of every text field at `at` (now when `None`).
    Blame { at: Option<Vec<ChangeHash>> },
    /// Others' changes that are not ancestors of `seen`.
    Since {
        seen: Vec<ChangeHash>,
        viewer: UserId,
    },
    /// The document's heads.
    Heads,
    /// The steps of the session whose first change is `session`, oldest first.
    Steps { session: ChangeHash },
    /// What restoring `scope` to `to` would change, as `by` would make it (made on a copy,
    /// never stored).
    RestorePreview {
        to: Vec<ChangeHash>,
        scope: RestoreScope,
        by: UserId,
    },
}

/// The answer to a [`HistoryQuery`], serialised as the REST body (without profiles).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum HistoryAnswer {
    Changes(Vec<HistoryEntry>),
    Timeline(Timeline),
    Version(Box<SpecView>),
    Diff(DiffAnswer),
    Blame(BlameAnswer),
    Since(SinceAnswer),
    Heads(Vec<ChangeHash>),
    Steps(Vec<StepEntry>),
}

/// One step of a session, with its summary ("edited criterion “…” in “Export”").
#[derive(Debug, Serialize)]
pub struct StepEntry {
    #[serde(flatten)]
    pub step: duet_model::history::SessionStep,
    pub summary: String,
}

/// One change as the change list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub hash: ChangeHash,
    /// The user who made it (verified when it was received), or "unknown".
    pub author: String,
    /// When the server received it (Unix ms); `None` for changes older than receipts.
    pub received_at: Option<i64>,
    /// The client's own timestamp (Unix ms, whole seconds), if it gave one: advisory only.
    pub time: Option<i64>,
    pub message: Option<String>,
    /// The parts it touched (`title`, `criteria`, `story:<id>`…).
    pub parts: Vec<String>,
}

/// One author session as the timeline shows it: the session, what it did in words and
/// the parts it touched.
#[derive(Debug, Clone, Serialize)]
pub struct SessionEntry {
    #[serde(flatten)]
    pub session: Session,
    pub summary: String,
    pub parts: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Timeline {
    pub heads: Vec<ChangeHash>,
    /// Everyone who appears anywhere in the history (for filter chips), sorted.
    pub authors: Vec<UserId>,
    pub sessions: Vec<SessionEntry>,
}

#[derive(Debug, Serialize)]
pub struct DiffAnswer {
    pub from: Vec<ChangeHash>,
    pub to: Vec<ChangeHash>,
    #[serde(flatten)]
    pub diff: SpecDiff,
}

#[derive(Debug, Serialize)]
pub struct BlameAnswer {
    pub at: Vec<ChangeHash>,
    pub fields: Vec<FieldBlame>,
}

/// One place someone else changed, for "since you last looked".
#[derive(Debug, Serialize)]
pub struct PlaceEntry {
    pub author: Option<UserId>,
    pub kind: PartKind,
    pub field: Option<TextField>,
    pub item: Option<ItemId>,
    pub story: Option<ItemId>,
    pub label: String,
    pub verb: Verb,
    pub changes: usize,
}

#[derive(Debug, Serialize)]
pub struct SinceAnswer {
    pub sessions: Vec<SessionEntry>,
    pub places: Vec<PlaceEntry>,
}

/// What the server knows of each change from its receipts.
pub type Receipts = std::collections::HashMap<ChangeHash, ChangeMeta>;

/// Reads into `history` the changes of `doc` it has not read, taking authors and times
/// from `receipts`.
pub fn refresh(history: &mut History, doc: &Automerge, receipts: &Receipts) {
    let heads = history.heads().to_vec();
    let new = doc.get_changes(&heads);
    history.update(new, |h| receipts.get(h).cloned().unwrap_or_default());
}

fn known(doc: &Automerge, heads: &[ChangeHash]) -> Result<(), DocError> {
    match heads.iter().find(|h| doc.get_change_by_hash(h).is_none()) {
        Some(h) => Err(DocError::BadVersion(format!(
            "version {h} is not in this spec's history"
        ))),
        None => Ok(()),
    }
}

fn parts_of(touches: &[duet_model::history::Touch]) -> Vec<String> {
    let mut parts: Vec<String> = touches
        .iter()
        .flat_map(PartFilter::of)
        .map(|p| p.to_string())
        .collect();
    parts.sort();
    parts.dedup();
    parts
}

fn sessions(history: &History, selected: &[usize], view: &SpecView) -> Vec<SessionEntry> {
    history
        .sessions(selected)
        .into_iter()
        .map(|s| SessionEntry {
            summary: summary(&s.touches, view),
            parts: parts_of(&s.touches),
            session: s,
        })
        .collect()
}

/// Answers `query`; `history` must have read every change of `doc`.
pub fn answer(
    doc: &Automerge,
    history: &History,
    query: HistoryQuery,
) -> Result<HistoryAnswer, DocError> {
    Ok(match query {
        HistoryQuery::Changes => {
            let skeleton = duet_model::skeleton_hash();
            HistoryAnswer::Changes(
                history
                    .changes()
                    .iter()
                    .filter(|c| c.hash != skeleton)
                    .map(|c| {
                        let own = doc.get_change_by_hash(&c.hash);
                        HistoryEntry {
                            hash: c.hash,
                            author: c
                                .author()
                                .map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
                            received_at: c.received_at.map(|t| t.0),
                            time: own
                                .map(|o| o.timestamp())
                                .filter(|t| *t != 0)
                                .map(|t| t.saturating_mul(1000)),
                            message: c.message().map(str::to_owned),
                            parts: parts_of(c.touches()),
                        }
                    })
                    .collect(),
            )
        }
        HistoryQuery::Timeline { filter } => {
            let selected = history.select(&filter);
            let mut authors: Vec<UserId> = history
                .changes()
                .iter()
                .filter_map(|c| c.author().cloned())
                .collect();
            authors.sort();
            authors.dedup();
            HistoryAnswer::Timeline(Timeline {
                heads: doc.get_heads(),
                authors,
                sessions: sessions(history, &selected, &view_of(doc)),
            })
        }
        HistoryQuery::Steps { session } => {
            let all = history.select(&Filter::default());
            let found = history
                .sessions(&all)
                .into_iter()
                .find(|s| s.id == session)
                .ok_or(DocError::BadVersion("there is no such session".into()))?;
            let view = view_of(doc);
            HistoryAnswer::Steps(
                history
                    .steps(&found)
                    .into_iter()
                    .map(|step| StepEntry {
                        summary: summary(&step.touches, &view),
                        step,
                    })
                    .collect(),
            )
        }
        HistoryQuery::Version { at } => {
            known(doc, &at)?;
            let view = view_at(doc, &at).ok_or(DocError::BadVersion("unknown version".into()))?;
            HistoryAnswer::Version(Box::new(view))
        }
        HistoryQuery::Diff {
            from,
            to,
            story,
            author,
        } => {
            let to = to.unwrap_or_else(|| doc.get_heads());
            known(doc, &from)?;
            known(doc, &to)?;
            let mut d = match &story {
                Some(story) => story_diff(history, doc, &from, &to, story),
                None => diff(history, doc, &from, &to),
            }
            .ok_or(DocError::BadVersion("unknown version".into()))?;
            if let Some(author) = &author {
                keep_author(&mut d, history, doc, &from, &to, author);
            }
            HistoryAnswer::Diff(DiffAnswer { from, to, diff: d })
        }
        HistoryQuery::RestorePreview { to, scope, by } => {
            known(doc, &to)?;
            let copy =
                duet_model::load_doc(&doc.save()).map_err(|e| DocError::Corrupt(e.to_string()))?;
            let author = Author::new(by, &mut rand::rng());
            let mut spec =
                Spec::from_doc(copy, author).map_err(|e| DocError::Corrupt(e.to_string()))?;
            spec.restore(&to, &scope, UnixMillis(0))
                .map_err(super::engine::restore_error)?;
            let d = restore_preview(history, doc, spec.doc_mut().document(), &to)
                .ok_or(DocError::BadVersion("unknown version".into()))?;
            HistoryAnswer::Diff(DiffAnswer {
                from: doc.get_heads(),
                to,
                diff: d,
            })
        }
        HistoryQuery::Blame { at } => {
            let at = at.unwrap_or_else(|| doc.get_heads());
            known(doc, &at)?;
            let fields = blame(history, doc, Some(&at))
                .ok_or(DocError::BadVersion("unknown version".into()))?;
            HistoryAnswer::Blame(BlameAnswer { at, fields })
        }
        HistoryQuery::Since { seen, viewer } => {
            let seen: Vec<ChangeHash> = seen
                .into_iter()
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .collect();
            let selected: Vec<usize> = history
                .positions(doc.get_changes(&seen))
                .into_iter()
                .filter(|&i| history.changes()[i].author() != Some(&viewer))
                .collect();
            let view = view_of(doc);
            let places = history
                .places(&selected)
                .into_iter()
                .map(|p| PlaceEntry {
                    label: place_label(&view, p.kind, p.item.as_ref(), p.field.as_ref()),
                    author: p.author,
                    kind: p.kind,
                    field: p.field,
                    item: p.item,
                    story: p.story,
                    verb: p.verb,
                    changes: p.changes,
                })
                .collect();
            HistoryAnswer::Since(SinceAnswer {
                sessions: sessions(history, &selected, &view),
                places,
            })
        }
        HistoryQuery::Heads => HistoryAnswer::Heads(doc.get_heads()),
    })
}
