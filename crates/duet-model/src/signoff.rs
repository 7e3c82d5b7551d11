//! Sign-off: what a product person and an engineer (a designer optionally) agree on for one story — its own text, its acceptance criteria and the constraints beside it — read as a digest that changes exactly when any of that changes.

use std::collections::BTreeMap;

use automerge::{ChangeHash, ObjType, ReadDoc, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::at::{At, Read};
use crate::ids::ItemId;
use crate::read;
use crate::schema::{key, ConstraintKind, ConstraintStatus, CriterionKind, Severity};
use crate::view::StoryView;

/// The slots of a story's sign-off; each is signed by a person of that discipline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Product,
    Engineering,
    Design,
}

impl Slot {
    pub const ALL: [Slot; 3] = [Slot::Product, Slot::Engineering, Slot::Design];
    /// The slots a story needs to be fully signed (design is optional).
    pub const REQUIRED: [Slot; 2] = [Slot::Product, Slot::Engineering];

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Product => "product",
            Slot::Engineering => "engineering",
            Slot::Design => "design",
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|slot| slot.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Slot::Product => "Product",
            Slot::Engineering => "Engineering",
            Slot::Design => "Design",
        }
    }

    /// The slot a person of `discipline` (as their profile says) may sign, if any.
    pub fn for_discipline(discipline: &str) -> Option<Slot> {
        Slot::parse(discipline)
    }
}

/// A digest of what a sign-off covers: SHA-256 of its canonical form, 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoryDigest(String);

impl StoryDigest {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a stored digest; `None` unless it is 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<StoryDigest> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| StoryDigest(s.to_owned()))
    }
}

/// Exactly what a sign-off covers. Left out on purpose: the story's status and the
/// criteria's done marks (progress, not what was agreed), the order of criteria and
/// constraints, where a constraint is anchored and who raised it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedContent {
    pub as_a: String,
    pub i_want: String,
    pub so_that: String,
    /// Criterion id → (kind, text).
    pub criteria: BTreeMap<String, (CriterionKind, String)>,
    /// Constraint id → (kind, severity, status, text), for the constraints beside it.
    pub constraints: BTreeMap<String, (ConstraintKind, Severity, ConstraintStatus, String)>,
}

impl SignedContent {
    /// What a sign-off covers, from a story as the view reads it (the same content
    /// [`signed_content`] reads from the document, without reading it again).
    pub fn of(story: &StoryView) -> SignedContent {
        SignedContent {
            as_a: story.as_a.clone(),
            i_want: story.i_want.clone(),
            so_that: story.so_that.clone(),
            criteria: story
                .criteria
                .iter()
                .map(|c| (c.id.to_string(), (c.kind, c.text.clone())))
                .collect(),
            constraints: story
                .constraints
                .iter()
                .map(|c| {
                    (
                        c.id.to_string(),
                        (c.kind, c.severity, c.status, c.text.clone()),
                    )
                })
                .collect(),
        }
    }

    pub fn digest(&self) -> StoryDigest {
        // JSON of ordered maps and strings is canonical: one content, one byte string.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        let hash = Sha256::digest(&bytes);
        StoryDigest(hash.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// What a sign-off of `story` would cover now; `None` if the story does not exist.
pub fn signed_content(doc: &impl ReadDoc, story: &ItemId) -> Option<SignedContent> {
    content_with(doc, story)
}

/// What a sign-off of `story` covered at `heads`: `None` if a head is not a change of
/// `doc`, `Some(None)` if the story did not exist then.
pub fn signed_content_at(
    doc: &impl ReadDoc,
    heads: &[ChangeHash],
    story: &ItemId,
) -> Option<Option<SignedContent>> {
    At::new(doc, heads).map(|at| content_with(&at, story))
}

fn content_with(doc: &impl Read, story: &ItemId) -> Option<SignedContent> {
    let (obj, criteria) = read::story_criteria(doc, story)?;
    let criteria = criteria
        .into_iter()
        .map(|c| {
            let kind = CriterionKind::read(&read::string(doc, &c.obj, key::KIND));
            (c.id.to_string(), (kind, read::text(doc, &c.obj, key::TEXT)))
        })
        .collect();
    // Every constraint of the spec is looked at (they are keyed by id, not by story), but
    // only the story field of the others is read, and order does not matter here.
    let constraints = read::part(doc, key::CONSTRAINTS, ObjType::Map)
        .map(|list| {
            doc.entries(&list)
                .filter_map(|item| {
                    let id = ItemId::parse(item.key).ok()?;
                    let obj = item.id.clone();
                    (matches!(item.value, Value::Object(ObjType::Map))
                        && read::string(doc, &obj, key::STORY) == story.as_str())
                    .then_some((id, obj))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|(id, obj)| {
            let value = (
                ConstraintKind::read(&read::string(doc, &obj, key::KIND)),
                Severity::read(&read::string(doc, &obj, key::SEVERITY)),
                ConstraintStatus::read(&read::string(doc, &obj, key::STATUS)),
                read::text(doc, &obj, key::TEXT),
            );
            (id.to_string(), value)
        })
        .collect();
    Some(SignedContent {
        as_a: read::text(doc, &obj, key::AS_A),
        i_want: read::text(doc, &obj, key::I_WANT),
        so_that: read::text(doc, &obj, key::SO_THAT),
        criteria,
        constraints,
    })
}

/// Where a story's sign-off stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignState {
    /// Nobody signed it.
    Unsigned,
    /// Some required slot is signed and current, not all.
    Partly,
    /// Every required slot is signed and every signature is current.
    Signed,
    /// Something signed has changed since.
    Stale,
}

/// The state of a story whose signed slots are `slots` (slot, still current).
pub fn sign_state(slots: impl IntoIterator<Item = (Slot, bool)>) -> SignState {
    let slots: Vec<(Slot, bool)> = slots.into_iter().collect();
    if slots.iter().any(|(_, current)| !current) {
        SignState::Stale
    } else if Slot::REQUIRED
        .iter()
        .all(|r| slots.iter().any(|(s, _)| s == r))
    {
        SignState::Signed
    } else if slots.is_empty() {
        SignState::Unsigned
    } else {
        SignState::Partly
    }
}

/// How many of a spec's stories are in each sign-off state, and how many meet the
/// definition of done (the spec list shows these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignCounts {
    pub signed: u32,
    pub partly: u32,
    pub stale: u32,
    /// Stories that meet the definition of done ([`crate::done`]), of `stories`.
    #[serde(default)]
    pub done: u32,
    #[serde(default)]
    pub stories: u32,
}

impl SignCounts {
    pub fn add(&mut self, state: SignState) {
        match state {
            SignState::Signed => self.signed += 1,
            SignState::Partly => self.partly += 1,
            SignState::Stale => self.stale += 1,
            SignState::Unsigned => {}
        }
    }
}
