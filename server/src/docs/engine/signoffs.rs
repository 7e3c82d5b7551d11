//! Sign-offs: recording one (as the server sees the story now), and reading every story's sign-offs with whether each still holds.

use std::collections::BTreeMap;

use duet_model::automerge::ChangeHash;
use duet_model::done::{definition_of_done, story_count, StoryFacts};
use duet_model::signoff::{
    sign_state, signed_content, signed_content_at, SignCounts, SignState, Slot,
};
use duet_model::{ItemId, UserId};

use super::Engine;
use crate::docs::DocError;
use crate::storage::{SignOffRecord, Write};

/// A signed story, its state, and each slot's sign-off with whether it is current.
type StoryState<'a> = (&'a ItemId, SignState, Vec<(&'a SignOffRecord, bool)>);

/// Someone signing a slot of a story: `by`, of `discipline` (as their profile says),
/// having read version `seen`, choosing to sign over the open blockers `with_blockers`
/// (every open blocker must be among them, or it is refused).
#[derive(Debug)]
pub struct SignRequest {
    pub by: UserId,
    pub discipline: String,
    pub story: ItemId,
    pub slot: Slot,
    pub seen: Vec<ChangeHash>,
    pub with_blockers: Vec<ItemId>,
}

/// A story's sign-offs as [`Engine::signoffs`] reads them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StorySignOffs {
    pub story: ItemId,
    pub state: SignState,
    pub slots: Vec<SlotSignOff>,
}

/// One slot's latest sign-off, and whether the story still reads as it did then.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotSignOff {
    #[serde(flatten)]
    pub record: SignOffRecord,
    pub current: bool,
}

/// The sign-offs of a spec's stories (only stories someone signed), and the counts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SignOffs {
    pub counts: SignCounts,
    pub stories: Vec<StorySignOffs>,
}

impl Engine {
    /// Takes the stored sign-offs (the latest of each slot of each story).
    pub fn adopt_signoffs(&mut self, records: Vec<SignOffRecord>) {
        self.signoffs = records
            .into_iter()
            .map(|r| ((r.story.clone(), r.slot), r))
            .collect();
    }

    /// Records a sign-off at `now` (server time), to be stored with this batch. If what
    /// the version the signer read covers differs from now, they did not read what they
    /// would sign.
    pub fn sign(&mut self, request: &SignRequest, now: i64) -> Result<SignOffRecord, DocError> {
        let SignRequest {
            by,
            discipline,
            story,
            slot,
            seen,
            with_blockers,
        } = request;
        let slot = *slot;
        let role = self.role_of(by).ok_or(DocError::NotFound)?;
        let Some(doc) = self.doc.as_ref().filter(|d| !d.get_heads().is_empty()) else {
            return Err(DocError::NotFound);
        };
        if !role.can_edit() {
            return Err(DocError::Forbidden(
                "you can view this spec but not sign it (your role is viewer)".into(),
            ));
        }
        if Slot::for_discipline(discipline) != Some(slot) {
            return Err(DocError::Forbidden(format!(
                "only a person whose discipline is {} can sign the {} slot (your profile says {})",
                slot.as_str(),
                slot.label(),
                if discipline.is_empty() {
                    "none"
                } else {
                    discipline
                }
            )));
        }
        let current = signed_content(doc, story)
            .ok_or_else(|| DocError::NoSuchItem(format!("no story {story} in this spec")))?
            .digest();
        let read = signed_content_at(doc, seen, story).ok_or_else(|| {
            DocError::Conflict(
                "the version you read has not reached the server yet; sign again in a moment"
                    .into(),
            )
        })?;
        if read.map(|c| c.digest()).as_ref() != Some(&current) {
            return Err(DocError::Conflict(
                "the story changed since the version you read: review the changes and sign again"
                    .into(),
            ));
        }
        // Signing over an open blocker is a choice the signer makes, blocker by blocker.
        let blockers = StoryFacts::read(doc, story)
            .map(|f| f.open_blockers)
            .unwrap_or_default();
        let unchosen: Vec<&(ItemId, String)> = blockers
            .iter()
            .filter(|(id, _)| !with_blockers.contains(id))
            .collect();
        if !unchosen.is_empty() {
            let named: Vec<String> = unchosen
                .iter()
                .map(|(id, text)| format!("“{}” ({id})", text.chars().take(80).collect::<String>()))
                .collect();
            return Err(DocError::Conflict(format!(
                "this story has {} open blocker{}: {}. To sign anyway, list {} in \"open_blockers\"",
                unchosen.len(),
                if unchosen.len() == 1 { "" } else { "s" },
                named.join(", "),
                if unchosen.len() == 1 { "its id" } else { "their ids" },
            )));
        }
        let heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
        let record = SignOffRecord {
            story: story.clone(),
            slot,
            user: by.to_string(),
            discipline: discipline.to_owned(),
            signed_at: now,
            digest: current,
            heads: heads.join(","),
            open_blockers: blockers.into_iter().map(|(id, _)| id).collect(),
        };
        self.signoffs.insert((story.clone(), slot), record.clone());
        let signs = self.sign_counts();
        self.meta.signs = signs;
        self.sign_writes.push(Write::SignOff {
            doc: self.id,
            record: record.clone(),
            signs,
        });
        Ok(record)
    }

    /// Every story's sign-offs and whether each still covers what the story holds now.
    pub fn signoffs(&self) -> SignOffs {
        let states = self.sign_states();
        SignOffs {
            counts: self.counts_of(&states),
            stories: states
                .into_iter()
                .map(|(story, state, slots)| StorySignOffs {
                    story: story.clone(),
                    state,
                    slots: slots
                        .into_iter()
                        .map(|(record, current)| SlotSignOff {
                            record: record.clone(),
                            current,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// How many stories are signed, partly signed or stale, and how many of how many meet
    /// the definition of done (kept with the document's metadata for the spec list).
    pub(super) fn sign_counts(&self) -> SignCounts {
        self.counts_of(&self.sign_states())
    }

    /// The counts of [`sign_counts`](Self::sign_counts) from the signed stories' states.
    fn counts_of(&self, states: &[StoryState<'_>]) -> SignCounts {
        let mut counts = SignCounts::default();
        let Some(doc) = self.doc.as_ref() else {
            return counts;
        };
        counts.stories = u32::try_from(story_count(doc)).unwrap_or(u32::MAX);
        for (story, state, slots) in states {
            counts.add(*state);
            // Only a story whose required sign-offs are current can be done.
            if *state == SignState::Signed {
                let signs: Vec<(Slot, bool)> = slots.iter().map(|(r, c)| (r.slot, *c)).collect();
                if StoryFacts::read(doc, story)
                    .is_some_and(|f| definition_of_done(&f, &signs).is_done())
                {
                    counts.done += 1;
                }
            }
        }
        counts
    }

    /// Each signed story that still exists, its state, and each slot's sign-off with
    /// whether the story still reads as it did then.
    fn sign_states(&self) -> Vec<StoryState<'_>> {
        let Some(doc) = self.doc.as_ref().filter(|_| !self.signoffs.is_empty()) else {
            return Vec::new();
        };
        let mut stories: BTreeMap<&ItemId, Vec<&SignOffRecord>> = BTreeMap::new();
        for ((story, _), record) in &self.signoffs {
            stories.entry(story).or_default().push(record);
        }
        stories
            .into_iter()
            .filter_map(|(story, records)| {
                // A deleted story has nothing left to sign.
                let now = signed_content(doc, story)?.digest();
                let slots: Vec<(&SignOffRecord, bool)> =
                    records.into_iter().map(|r| (r, r.digest == now)).collect();
                let state = sign_state(slots.iter().map(|(r, current)| (r.slot, *current)));
                Some((story, state, slots))
            })
            .collect()
    }
}
