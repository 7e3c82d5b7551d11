//! Random edits for property tests: a generator of abstract operations and their application to a replica.

use std::collections::HashSet;

use duet_model::{
    Anchor, AnchorSpan, ConstraintKind, ConstraintStatus, CriterionKind, DecisionField, ItemId,
    MetricField, NewConstraint, NewDecision, NewStory, QuestionField, Severity, Spec, StoryField,
    StoryStatus, TextField, UnixMillis,
};
use proptest::prelude::*;
use rand::rngs::StdRng;

/// Short text drawn from letters, spaces, emoji, Markdown's special characters and newlines.
pub fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'e'),
            1 => Just(' '),
            1 => Just('😀'),
            1 => Just('é'),
            1 => prop::sample::select(vec!['#', '*', '_', '`', '[', ']', '<', '>', '\\', '|', '-', '+', '&', '.', ')', '~', '!']),
            1 => Just('\n'),
            1 => prop::sample::select(vec!['\t', '\r', '1', '9']),
        ],
        0..6,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// One abstract edit. Numbers pick among what the replica currently has (modulo its size).
#[derive(Debug, Clone)]
pub enum Op {
    Title {
        pos: u8,
        del: u8,
        text: String,
    },
    Problem {
        text: String,
    },
    AddStory {
        at: u8,
        text: String,
    },
    RemoveStory {
        pick: u8,
    },
    MoveStory {
        pick: u8,
        to: u8,
    },
    SpliceStory {
        pick: u8,
        field: u8,
        pos: u8,
        del: u8,
        text: String,
    },
    SetStatus {
        pick: u8,
        status: u8,
    },
    AddCriterion {
        pick: u8,
        at: u8,
        kind: u8,
        text: String,
    },
    RemoveCriterion {
        pick: u8,
        which: u8,
    },
    MoveCriterion {
        pick: u8,
        which: u8,
        to: u8,
    },
    ToggleCriterion {
        pick: u8,
        which: u8,
    },
    EditCriterion {
        pick: u8,
        which: u8,
        pos: u8,
        text: String,
    },
    AddConstraint {
        pick: u8,
        field: u8,
        pos: u8,
        len: u8,
        anchored: bool,
        text: String,
    },
    DeleteAnchoredText {
        which: u8,
    },
    RemoveConstraint {
        which: u8,
    },
    SetConstraint {
        which: u8,
        value: u8,
    },
    MoveConstraint {
        which: u8,
        to: u8,
    },
    Reanchor {
        which: u8,
        field: u8,
    },
    AddDecision {
        at: u8,
        text: String,
        link: u8,
    },
    EditDecision {
        which: u8,
        field: u8,
        text: String,
    },
    RemoveDecision {
        which: u8,
    },
    AddQuestion {
        at: u8,
        text: String,
    },
    Answer {
        which: u8,
        text: String,
    },
    RemoveQuestion {
        which: u8,
    },
    AddMetric {
        at: u8,
        text: String,
    },
    MoveMetric {
        which: u8,
        to: u8,
    },
    RemoveMetric {
        which: u8,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    let n = any::<u8>;
    prop_oneof![
        1 => (n(), n(), text()).prop_map(|(pos, del, text)| Op::Title { pos, del, text }),
        1 => text().prop_map(|text| Op::Problem { text }),
        5 => (n(), text()).prop_map(|(at, text)| Op::AddStory { at, text }),
        1 => n().prop_map(|pick| Op::RemoveStory { pick }),
        2 => (n(), n()).prop_map(|(pick, to)| Op::MoveStory { pick, to }),
        4 => (n(), n(), n(), n(), text()).prop_map(|(pick, field, pos, del, text)| Op::SpliceStory { pick, field, pos, del, text }),
        1 => (n(), n()).prop_map(|(pick, status)| Op::SetStatus { pick, status }),
        3 => (n(), n(), n(), text()).prop_map(|(pick, at, kind, text)| Op::AddCriterion { pick, at, kind, text }),
        1 => (n(), n()).prop_map(|(pick, which)| Op::RemoveCriterion { pick, which }),
        1 => (n(), n(), n()).prop_map(|(pick, which, to)| Op::MoveCriterion { pick, which, to }),
        1 => (n(), n()).prop_map(|(pick, which)| Op::ToggleCriterion { pick, which }),
        1 => (n(), n(), n(), text()).prop_map(|(pick, which, pos, text)| Op::EditCriterion { pick, which, pos, text }),
        5 => (n(), n(), n(), n(), any::<bool>(), text()).prop_map(|(pick, field, pos, len, anchored, text)| Op::AddConstraint { pick, field, pos, len, anchored, text }),
        3 => n().prop_map(|which| Op::DeleteAnchoredText { which }),
        1 => n().prop_map(|which| Op::RemoveConstraint { which }),
        1 => (n(), n()).prop_map(|(which, value)| Op::SetConstraint { which, value }),
        1 => (n(), n()).prop_map(|(which, to)| Op::MoveConstraint { which, to }),
        1 => (n(), n()).prop_map(|(which, field)| Op::Reanchor { which, field }),
        1 => (n(), text(), n()).prop_map(|(at, text, link)| Op::AddDecision { at, text, link }),
        1 => (n(), n(), text()).prop_map(|(which, field, text)| Op::EditDecision { which, field, text }),
        1 => n().prop_map(|which| Op::RemoveDecision { which }),
        1 => (n(), text()).prop_map(|(at, text)| Op::AddQuestion { at, text }),
        1 => (n(), text()).prop_map(|(which, text)| Op::Answer { which, text }),
        1 => n().prop_map(|which| Op::RemoveQuestion { which }),
        1 => (n(), text()).prop_map(|(at, text)| Op::AddMetric { at, text }),
        1 => (n(), n()).prop_map(|(which, to)| Op::MoveMetric { which, to }),
        1 => n().prop_map(|which| Op::RemoveMetric { which }),
    ]
}

/// What every replica's edits created and removed, to check that nothing was lost.
#[derive(Debug, Default)]
pub struct Ledger {
    pub stories: HashSet<ItemId>,
    pub removed_stories: HashSet<ItemId>,
    /// (story, criterion)
    pub criteria: HashSet<(ItemId, ItemId)>,
    pub removed_criteria: HashSet<ItemId>,
    pub constraints: HashSet<ItemId>,
    pub removed_constraints: HashSet<ItemId>,
    pub others: HashSet<ItemId>,
    pub removed_others: HashSet<ItemId>,
}

fn pick<T>(items: &[T], n: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(n) % items.len()])
}

/// UTF-16 offsets of every character boundary of `s`.
fn boundaries(s: &str) -> Vec<usize> {
    let mut out = vec![0];
    let mut units = 0;
    for c in s.chars() {
        units += c.len_utf16();
        out.push(units);
    }
    out
}

/// A (start, delete) splice range on character boundaries of `s`, chosen by two numbers.
fn range(s: &str, pos: u8, del: u8) -> (usize, usize) {
    let b = boundaries(s);
    let i = usize::from(pos) % b.len();
    let j = (i + usize::from(del) % 3).min(b.len() - 1);
    (b[i], b[j] - b[i])
}

fn story_field(n: u8) -> StoryField {
    StoryField::ALL[usize::from(n) % 3]
}

/// Applies `op` to `spec`. Edits refused by the model (none should be, given valid picks)
/// fail the test: the generator only produces edits that are valid on this replica.
pub fn apply(spec: &mut Spec, op: &Op, rng: &mut StdRng, ledger: &mut Ledger, now: UnixMillis) {
    let v = spec.view();
    let res = match op {
        Op::Title { pos, del, text } => {
            let (at, d) = range(&v.title, *pos, *del);
            spec.splice(&TextField::Title, at, d, text, now)
        }
        Op::Problem { text } => spec.set_text(&TextField::Problem, text, now),
        Op::AddStory { at, text } => {
            let id = ItemId::random(rng);
            ledger.stories.insert(id.clone());
            let new = NewStory {
                as_a: text.clone(),
                i_want: format!("{text}{text}"),
                so_that: "x".into(),
            };
            spec.add_story(&id, usize::from(*at), &new, now)
        }
        Op::RemoveStory { pick: p } => match pick(&v.stories, *p) {
            Some(s) => {
                ledger.removed_stories.insert(s.id.clone());
                for c in &s.constraints {
                    ledger.removed_constraints.insert(c.id.clone());
                }
                spec.remove_story(&s.id, now)
            }
            None => Ok(()),
        },
        Op::MoveStory { pick: p, to } => match pick(&v.stories, *p) {
            Some(s) => spec.move_story(&s.id, usize::from(*to) % (v.stories.len() + 1), now),
            None => Ok(()),
        },
        Op::SpliceStory {
            pick: p,
            field,
            pos,
            del,
            text,
        } => match pick(&v.stories, *p) {
            Some(s) => {
                let f = story_field(*field);
                let (at, d) = range(s.field(f), *pos, *del);
                spec.splice(
                    &TextField::Story {
                        story: s.id.clone(),
                        field: f,
                    },
                    at,
                    d,
                    text,
                    now,
                )
            }
            None => Ok(()),
        },
        Op::SetStatus { pick: p, status } => match pick(&v.stories, *p) {
            Some(s) => {
                spec.set_story_status(&s.id, StoryStatus::ALL[usize::from(*status) % 4], now)
            }
            None => Ok(()),
        },
        Op::AddCriterion {
            pick: p,
            at,
            kind,
            text,
        } => match pick(&v.stories, *p) {
            Some(s) => {
                let id = ItemId::random(rng);
                ledger.criteria.insert((s.id.clone(), id.clone()));
                spec.add_criterion(
                    &s.id,
                    &id,
                    usize::from(*at),
                    CriterionKind::ALL[usize::from(*kind) % 3],
                    text,
                    now,
                )
            }
            None => Ok(()),
        },
        Op::RemoveCriterion { pick: p, which } => {
            match pick(&v.stories, *p).and_then(|s| pick(&s.criteria, *which).map(|c| (s, c))) {
                Some((s, c)) => {
                    ledger.removed_criteria.insert(c.id.clone());
                    spec.remove_criterion(&s.id, &c.id, now)
                }
                None => Ok(()),
            }
        }
        Op::MoveCriterion { pick: p, which, to } => {
            match pick(&v.stories, *p).and_then(|s| pick(&s.criteria, *which).map(|c| (s, c))) {
                Some((s, c)) => spec.move_criterion(&s.id, &c.id, usize::from(*to) % 4, now),
                None => Ok(()),
            }
        }
        Op::ToggleCriterion { pick: p, which } => {
            match pick(&v.stories, *p).and_then(|s| pick(&s.criteria, *which).map(|c| (s, c))) {
                Some((s, c)) => spec.set_criterion_done(&s.id, &c.id, !c.done, now),
                None => Ok(()),
            }
        }
        Op::EditCriterion {
            pick: p,
            which,
            pos,
            text,
        } => match pick(&v.stories, *p).and_then(|s| pick(&s.criteria, *which).map(|c| (s, c))) {
            Some((s, c)) => {
                let (at, _) = range(&c.text, *pos, 0);
                spec.splice(
                    &TextField::Criterion {
                        story: s.id.clone(),
                        criterion: c.id.clone(),
                    },
                    at,
                    0,
                    text,
                    now,
                )
            }
            None => Ok(()),
        },
        Op::AddConstraint {
            pick: p,
            field,
            pos,
            len,
            anchored,
            text,
        } => match pick(&v.stories, *p) {
            Some(s) => {
                let f = story_field(*field);
                let b = boundaries(s.field(f));
                let anchor = if *anchored && b.len() > 1 {
                    let i = usize::from(*pos) % (b.len() - 1);
                    let j = (i + 1 + usize::from(*len) % 3).min(b.len() - 1);
                    Some(AnchorSpan {
                        field: f,
                        start: b[i],
                        end: b[j],
                    })
                } else {
                    None
                };
                let id = ItemId::random(rng);
                ledger.constraints.insert(id.clone());
                let new = NewConstraint {
                    kind: ConstraintKind::ALL[usize::from(*len) % 6],
                    severity: Severity::ALL[usize::from(*pos) % 3],
                    text: text.clone(),
                    anchor,
                };
                spec.add_constraint(&s.id, &id, 0, &new, now)
            }
            None => Ok(()),
        },
        Op::DeleteAnchoredText { which } => {
            let anchored: Vec<_> = v
                .stories
                .iter()
                .flat_map(|s| s.constraints.iter().map(move |c| (s, c)))
                .filter_map(|(s, c)| match &c.anchor {
                    Anchor::Span {
                        field, start, end, ..
                    } => Some((s.id.clone(), *field, *start, *end)),
                    _ => None,
                })
                .collect();
            match pick(&anchored, *which) {
                Some((story, field, start, end)) => spec.splice(
                    &TextField::Story {
                        story: story.clone(),
                        field: *field,
                    },
                    *start,
                    end - start,
                    "",
                    now,
                ),
                None => Ok(()),
            }
        }
        Op::RemoveConstraint { which } => {
            let all: Vec<_> = v.all_constraints().collect();
            match pick(&all, *which) {
                Some(c) => {
                    ledger.removed_constraints.insert(c.id.clone());
                    spec.remove_constraint(&c.id, now)
                }
                None => Ok(()),
            }
        }
        Op::SetConstraint { which, value } => {
            let all: Vec<_> = v.all_constraints().collect();
            match pick(&all, *which) {
                Some(c) => match value % 3 {
                    0 => spec.set_constraint_severity(
                        &c.id,
                        Severity::ALL[usize::from(*value) % 3],
                        now,
                    ),
                    1 => spec.set_constraint_status(
                        &c.id,
                        ConstraintStatus::ALL[usize::from(*value) % 3],
                        now,
                    ),
                    _ => spec.set_constraint_kind(
                        &c.id,
                        ConstraintKind::ALL[usize::from(*value) % 6],
                        now,
                    ),
                },
                None => Ok(()),
            }
        }
        Op::MoveConstraint { which, to } => {
            let all: Vec<_> = v.all_constraints().collect();
            match pick(&all, *which) {
                Some(c) => spec.move_constraint(&c.id, usize::from(*to) % 4, now),
                None => Ok(()),
            }
        }
        Op::Reanchor { which, field } => {
            let triage = v.triage();
            match (pick(&triage, *which), pick(&v.stories, *which)) {
                (Some(c), Some(s)) => {
                    let f = story_field(*field);
                    let b = boundaries(s.field(f));
                    if b.len() > 1 {
                        spec.anchor_constraint(
                            &c.id,
                            &s.id,
                            AnchorSpan {
                                field: f,
                                start: 0,
                                end: b[1],
                            },
                            now,
                        )
                    } else {
                        spec.unanchor_constraint(&c.id, &s.id, now)
                    }
                }
                _ => Ok(()),
            }
        }
        Op::AddDecision { at, text, link } => {
            let id = ItemId::random(rng);
            ledger.others.insert(id.clone());
            let stories = pick(&v.stories, *link)
                .map(|s| vec![s.id.clone()])
                .unwrap_or_default();
            let new = NewDecision {
                title: text.clone(),
                decision: "do".into(),
                rationale: text.clone(),
                stories,
            };
            spec.add_decision(&id, usize::from(*at), &new, now)
        }
        Op::EditDecision { which, field, text } => match pick(&v.decisions, *which) {
            Some(d) => spec.set_text(
                &TextField::Decision {
                    decision: d.id.clone(),
                    field: DecisionField::ALL[usize::from(*field) % 3],
                },
                text,
                now,
            ),
            None => Ok(()),
        },
        Op::RemoveDecision { which } => match pick(&v.decisions, *which) {
            Some(d) => {
                ledger.removed_others.insert(d.id.clone());
                spec.remove_decision(&d.id, now)
            }
            None => Ok(()),
        },
        Op::AddQuestion { at, text } => {
            let id = ItemId::random(rng);
            ledger.others.insert(id.clone());
            spec.add_question(&id, usize::from(*at), text, now)
        }
        Op::Answer { which, text } => match pick(&v.questions, *which) {
            Some(q) => {
                if text.len() % 2 == 0 {
                    spec.answer_question(&q.id, text, now)
                } else {
                    spec.set_text(
                        &TextField::Question {
                            question: q.id.clone(),
                            field: QuestionField::Question,
                        },
                        text,
                        now,
                    )
                }
            }
            None => Ok(()),
        },
        Op::RemoveQuestion { which } => match pick(&v.questions, *which) {
            Some(q) => {
                ledger.removed_others.insert(q.id.clone());
                spec.remove_question(&q.id, now)
            }
            None => Ok(()),
        },
        Op::AddMetric { at, text } => {
            let id = ItemId::random(rng);
            ledger.others.insert(id.clone());
            spec.add_metric(&id, usize::from(*at), text, "target", now)
        }
        Op::MoveMetric { which, to } => match pick(&v.metrics, *which) {
            Some(m) => {
                let res = spec.move_metric(&m.id, usize::from(*to), now);
                let target = TextField::Metric {
                    metric: m.id.clone(),
                    field: MetricField::Target,
                };
                res.and_then(|_| spec.splice(&target, 0, 0, "≥", now))
            }
            None => Ok(()),
        },
        Op::RemoveMetric { which } => match pick(&v.metrics, *which) {
            Some(m) => {
                ledger.removed_others.insert(m.id.clone());
                spec.remove_metric(&m.id, now)
            }
            None => Ok(()),
        },
    };
    if let Err(e) = res {
        panic!("valid edit {op:?} was refused: {e}");
    }
}

/// One step of a random run over several replicas: an edit on one, or a merge.
#[derive(Debug, Clone)]
pub enum Step {
    Edit {
        replica: u8,
        op: Op,
    },
    /// `to` merges everything `from` has.
    Merge {
        from: u8,
        to: u8,
    },
}

/// Mostly edits, sometimes a merge (replica numbers are taken modulo the replica count).
pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (any::<u8>(), op()).prop_map(|(replica, op)| Step::Edit { replica, op }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(from, to)| Step::Merge { from, to }),
    ]
}

/// Replica `to` merges everything replica `from` has.
pub fn merge(replicas: &mut [Spec], from: usize, to: usize) {
    if from == to {
        return;
    }
    let mut source = replicas[from].doc().clone();
    replicas[to]
        .doc_mut()
        .merge(&mut source)
        .expect("merging replicas of one spec succeeds");
}
