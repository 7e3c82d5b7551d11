//! A story's definition of done: a criterion of each kind, every criterion done, no open blocker beside it, and current product and engineering sign-offs — and, when it is not met, what is missing, in words.

use std::fmt;

use automerge::{ObjType, ReadDoc, Value};
use serde::{Deserialize, Serialize};

use crate::ids::ItemId;
use crate::read;
use crate::schema::{key, ConstraintStatus, CriterionKind, Severity};
use crate::signoff::Slot;
use crate::view::StoryView;

/// What the definition of done reads of one story (from a view or straight from the
/// document: the server reads only the stories that could be done).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoryFacts {
    /// Each criterion's kind and done mark, in any order.
    pub criteria: Vec<(CriterionKind, bool)>,
    /// The open blocker constraints beside it (also those whose words were deleted: a
    /// blocker stops its story wherever it is shown), id and text.
    pub open_blockers: Vec<(ItemId, String)>,
}

impl StoryFacts {
    pub fn of(story: &StoryView) -> StoryFacts {
        StoryFacts {
            criteria: story.criteria.iter().map(|c| (c.kind, c.done)).collect(),
            open_blockers: story
                .constraints
                .iter()
                .filter(|c| c.severity == Severity::Blocker && c.status == ConstraintStatus::Open)
                .map(|c| (c.id.clone(), c.text.clone()))
                .collect(),
        }
    }

    /// The facts of `story` in `doc`; `None` if there is no such story.
    pub fn read(doc: &impl ReadDoc, story: &ItemId) -> Option<StoryFacts> {
        let (_, criteria) = read::story_criteria(doc, story)?;
        let criteria = criteria
            .into_iter()
            .map(|c| {
                (
                    CriterionKind::read(&read::string(doc, &c.obj, key::KIND)),
                    read::boolean(doc, &c.obj, key::DONE),
                )
            })
            .collect();
        let open_blockers = read::part(doc, key::CONSTRAINTS, ObjType::Map)
            .map(|list| read::ranked(doc, &list))
            .unwrap_or_default()
            .into_iter()
            .filter(|c| {
                read::string(doc, &c.obj, key::STORY) == story.as_str()
                    && Severity::read(&read::string(doc, &c.obj, key::SEVERITY))
                        == Severity::Blocker
                    && ConstraintStatus::read(&read::string(doc, &c.obj, key::STATUS))
                        == ConstraintStatus::Open
            })
            .map(|c| (c.id, read::text(doc, &c.obj, key::TEXT)))
            .collect();
        Some(StoryFacts {
            criteria,
            open_blockers,
        })
    }
}

/// One thing that keeps a story from being done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "missing", rename_all = "kebab-case")]
pub enum Missing {
    /// It has no criterion of this kind.
    NoCriterion { kind: CriterionKind },
    /// This many criteria are not marked done.
    CriteriaOpen { count: usize },
    /// This many blocker constraints beside it are open.
    OpenBlockers { count: usize },
    /// Nobody signed this slot.
    Unsigned { slot: Slot },
    /// The slot was signed, and what it covers changed since.
    Stale { slot: Slot },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        match self {
            Missing::NoCriterion { kind } => write!(f, "no {} criterion", kind_word(*kind)),
            Missing::CriteriaOpen { count } => write!(
                f,
                "{count} {} not done",
                if *count == 1 { "criterion" } else { "criteria" }
            ),
            Missing::OpenBlockers { count } => {
                write!(f, "{count} open blocker{}", plural(*count))
            }
            Missing::Unsigned { slot } => write!(f, "no {} sign-off", slot.as_str()),
            Missing::Stale { slot } => write!(f, "{} sign-off stale", slot.as_str()),
        }
    }
}

/// "UX" stays capitals inside a sentence; the other kinds read in lower case.
fn kind_word(kind: CriterionKind) -> &'static str {
    match kind {
        CriterionKind::Technical => "technical",
        CriterionKind::Ux => "UX",
        CriterionKind::Business => "business",
    }
}

/// Whether a story meets the definition of done, and if not, everything it lacks in
/// the order a team would deal with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub missing: Vec<Missing>,
}

impl Done {
    pub fn is_done(&self) -> bool {
        self.missing.is_empty()
    }

    /// One compact line: "Done", or what is missing ("no UX criterion · 1 open blocker ·
    /// engineering sign-off stale").
    pub fn line(&self) -> String {
        if self.is_done() {
            return "Done".to_owned();
        }
        self.missing
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// The definition of done of a story with `facts` whose sign-offs are `signs` (each
/// signed slot and whether its sign-off is still current).
pub fn definition_of_done(facts: &StoryFacts, signs: &[(Slot, bool)]) -> Done {
    let mut missing: Vec<Missing> = CriterionKind::ALL
        .iter()
        .filter(|kind| !facts.criteria.iter().any(|(k, _)| k == *kind))
        .map(|kind| Missing::NoCriterion { kind: *kind })
        .collect();
    let open = facts.criteria.iter().filter(|(_, done)| !done).count();
    if open > 0 {
        missing.push(Missing::CriteriaOpen { count: open });
    }
    if !facts.open_blockers.is_empty() {
        missing.push(Missing::OpenBlockers {
            count: facts.open_blockers.len(),
        });
    }
    for slot in Slot::REQUIRED {
        match signs.iter().find(|(s, _)| *s == slot) {
            None => missing.push(Missing::Unsigned { slot }),
            Some((_, false)) => missing.push(Missing::Stale { slot }),
            Some((_, true)) => {}
        }
    }
    Done { missing }
}

/// How many stories a document holds (the spec list's "of 5 stories").
pub fn story_count(doc: &impl ReadDoc) -> usize {
    read::part(doc, key::STORIES, ObjType::Map)
        .map(|l| {
            doc.map_range(&l, ..)
                .filter(|item| {
                    ItemId::parse(item.key).is_ok()
                        && matches!(item.value, Value::Object(ObjType::Map))
                })
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ItemId {
        ItemId::parse(s).expect("an id")
    }

    fn complete() -> StoryFacts {
        StoryFacts {
            criteria: vec![
                (CriterionKind::Technical, true),
                (CriterionKind::Ux, true),
                (CriterionKind::Business, true),
            ],
            open_blockers: Vec::new(),
        }
    }

    const BOTH: [(Slot, bool); 2] = [(Slot::Product, true), (Slot::Engineering, true)];

    #[test]
    fn a_story_with_every_kind_done_no_blocker_and_both_current_sign_offs_is_done() {
        let done = definition_of_done(&complete(), &BOTH);
        assert!(done.is_done());
        assert_eq!(done.line(), "Done");
        // Design is optional: a stale design sign-off does not undo it.
        let with_design = [BOTH[0], BOTH[1], (Slot::Design, false)];
        assert!(definition_of_done(&complete(), &with_design).is_done());
    }

    #[test]
    fn what_is_missing_reads_as_one_line_in_a_team_s_order() {
        let facts = StoryFacts {
            criteria: vec![
                (CriterionKind::Technical, false),
                (CriterionKind::Business, true),
            ],
            open_blockers: vec![(id("c1"), "Needs SSO".into())],
        };
        let done = definition_of_done(&facts, &[(Slot::Engineering, false)]);
        assert_eq!(
            done.line(),
            "no UX criterion · 1 criterion not done · 1 open blocker · no product sign-off · engineering sign-off stale"
        );
        let two = StoryFacts {
            criteria: vec![(CriterionKind::Ux, false), (CriterionKind::Ux, false)],
            open_blockers: vec![(id("c1"), String::new()), (id("c2"), String::new())],
        };
        let line = definition_of_done(&two, &BOTH).line();
        assert_eq!(
            line,
            "no technical criterion · no business criterion · 2 criteria not done · 2 open blockers"
        );
    }

    #[test]
    fn an_open_blocker_alone_keeps_a_signed_story_from_being_done() {
        let mut facts = complete();
        facts.open_blockers.push((id("c1"), "Rate limits".into()));
        let done = definition_of_done(&facts, &BOTH);
        assert_eq!(done.missing, [Missing::OpenBlockers { count: 1 }]);
    }
}
