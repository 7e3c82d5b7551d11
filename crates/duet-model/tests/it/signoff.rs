//! What a sign-off covers: each kind of change to a story's text, criteria or constraints (also one merged from an offline replica) changes its digest, and nothing else does.

use crate::common;

use common::{author, NOW};
use duet_model::automerge::transaction::Transactable;
use duet_model::automerge::{ObjType, ROOT};
use duet_model::signoff::{
    sign_state, signed_content, signed_content_at, SignState, SignedContent, Slot, StoryDigest,
};
use duet_model::{
    ConstraintKind, ConstraintStatus, CriterionKind, EditError, ItemId, NewConstraint, NewStory,
    Severity, Spec, StoryField, StoryStatus, TextField,
};

fn item(s: &str) -> ItemId {
    ItemId::parse(s).expect("id")
}

/// A spec with two stories; the first has two criteria and a constraint.
fn spec() -> Spec {
    let mut spec = Spec::new(author("pm", 1));
    spec.set_text(&TextField::Title, "Exports", NOW)
        .expect("title");
    for (i, s) in ["story1", "story2"].into_iter().enumerate() {
        let new = NewStory {
            as_a: "analyst".into(),
            i_want: "to export to CSV".into(),
            so_that: "I can share numbers".into(),
        };
        spec.add_story(&item(s), i, &new, NOW).expect("story");
    }
    let story = item("story1");
    spec.add_criterion(
        &story,
        &item("crit1"),
        0,
        CriterionKind::Business,
        "Has a header row",
        NOW,
    )
    .expect("criterion");
    spec.add_criterion(
        &story,
        &item("crit2"),
        1,
        CriterionKind::Ux,
        "One click",
        NOW,
    )
    .expect("criterion");
    let constraint = NewConstraint {
        kind: ConstraintKind::Performance,
        severity: Severity::Major,
        text: "Under 2 s for 100k rows".into(),
        anchor: None,
    };
    spec.add_constraint(&story, &item("cons1"), 0, &constraint, NOW)
        .expect("constraint");
    spec
}

/// story1's digest, read from the document — and, the same, from the view.
fn digest(spec: &Spec) -> StoryDigest {
    let digest = signed_content(spec.doc(), &item("story1"))
        .expect("story")
        .digest();
    let view = spec.view();
    let story = view.story(&item("story1")).expect("story in view");
    assert_eq!(
        SignedContent::of(story).digest(),
        digest,
        "view and document agree"
    );
    digest
}

type Edit = Box<dyn FnOnce(&mut Spec) -> Result<(), EditError>>;

/// Applies `edit` to a fresh spec and says whether story1's digest changed.
fn changes_signed(name: &str, edit: Edit) -> bool {
    let mut spec = spec();
    let before = digest(&spec);
    edit(&mut spec).unwrap_or_else(|e| panic!("{name}: {e}"));
    digest(&spec) != before
}

#[test]
fn the_digest_is_the_same_for_the_same_content() {
    assert_eq!(digest(&spec()), digest(&spec()));
    let d = digest(&spec());
    assert_eq!(d.as_str().len(), 64);
    assert_eq!(StoryDigest::parse(d.as_str()), Some(d));
    assert_eq!(StoryDigest::parse("not hex"), None);
}

#[test]
fn every_kind_of_change_to_the_story_its_criteria_or_constraints_makes_it_stale() {
    let story = item("story1");
    fn field(f: StoryField) -> TextField {
        TextField::Story {
            story: item("story1"),
            field: f,
        }
    }
    let criterion = TextField::Criterion {
        story: item("story1"),
        criterion: item("crit1"),
    };
    let cases: Vec<(&str, Edit)> = vec![
        (
            "as a",
            Box::new(|s| s.splice(&field(StoryField::AsA), 0, 0, "senior ", NOW)),
        ),
        (
            "i want",
            Box::new(|s| s.splice(&field(StoryField::IWant), 3, 0, "quickly ", NOW)),
        ),
        (
            "so that",
            Box::new(|s| s.splice(&field(StoryField::SoThat), 0, 1, "", NOW)),
        ),
        (
            "criterion text",
            Box::new(move |s| s.splice(&criterion, 0, 0, "Always ", NOW)),
        ),
        (
            "criterion added",
            Box::new(|s| {
                s.add_criterion(
                    &item("story1"),
                    &item("crit3"),
                    2,
                    CriterionKind::Technical,
                    "UTF-8",
                    NOW,
                )
            }),
        ),
        (
            "criterion removed",
            Box::new(|s| s.remove_criterion(&item("story1"), &item("crit2"), NOW)),
        ),
        (
            "criterion kind",
            Box::new(|s| {
                s.set_criterion_kind(
                    &item("story1"),
                    &item("crit1"),
                    CriterionKind::Technical,
                    NOW,
                )
            }),
        ),
        (
            "constraint severity",
            Box::new(|s| s.set_constraint_severity(&item("cons1"), Severity::Blocker, NOW)),
        ),
        (
            "constraint kind",
            Box::new(|s| s.set_constraint_kind(&item("cons1"), ConstraintKind::Cost, NOW)),
        ),
        (
            "constraint status",
            Box::new(|s| s.set_constraint_status(&item("cons1"), ConstraintStatus::Accepted, NOW)),
        ),
        (
            "constraint text",
            Box::new(|s| {
                s.splice(
                    &TextField::Constraint {
                        constraint: item("cons1"),
                    },
                    0,
                    0,
                    "P95 ",
                    NOW,
                )
            }),
        ),
        (
            "constraint added",
            Box::new(move |s| {
                let c = NewConstraint {
                    kind: ConstraintKind::Security,
                    severity: Severity::Minor,
                    text: "Signed URLs".into(),
                    anchor: None,
                };
                s.add_constraint(&story, &item("cons2"), 1, &c, NOW)
            }),
        ),
        (
            "constraint removed",
            Box::new(|s| s.remove_constraint(&item("cons1"), NOW)),
        ),
    ];
    for (name, edit) in cases {
        assert!(
            changes_signed(name, edit),
            "{name} must make the sign-off stale"
        );
    }
}

#[test]
fn changes_elsewhere_and_progress_do_not_make_it_stale() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "title",
            Box::new(|s| s.splice(&TextField::Title, 0, 0, "CSV ", NOW)),
        ),
        (
            "problem",
            Box::new(|s| s.set_text(&TextField::Problem, "Nobody can share", NOW)),
        ),
        (
            "other story",
            Box::new(|s| {
                s.splice(
                    &TextField::Story {
                        story: item("story2"),
                        field: StoryField::IWant,
                    },
                    0,
                    0,
                    "x",
                    NOW,
                )
            }),
        ),
        (
            "other story's criterion",
            Box::new(|s| {
                s.add_criterion(
                    &item("story2"),
                    &item("crit9"),
                    0,
                    CriterionKind::Ux,
                    "Fast",
                    NOW,
                )
            }),
        ),
        (
            "story status",
            Box::new(|s| s.set_story_status(&item("story1"), StoryStatus::InProgress, NOW)),
        ),
        (
            "criterion done",
            Box::new(|s| s.set_criterion_done(&item("story1"), &item("crit1"), true, NOW)),
        ),
        (
            "criteria reordered",
            Box::new(|s| s.move_criterion(&item("story1"), &item("crit2"), 0, NOW)),
        ),
        (
            "story moved",
            Box::new(|s| s.move_story(&item("story1"), 1, NOW)),
        ),
        (
            "an edit undone by hand",
            Box::new(|s| {
                let f = TextField::Story {
                    story: item("story1"),
                    field: StoryField::AsA,
                };
                s.splice(&f, 0, 0, "x", NOW)?;
                s.splice(&f, 0, 1, "", NOW)
            }),
        ),
    ];
    for (name, edit) in cases {
        assert!(
            !changes_signed(name, edit),
            "{name} must not make the sign-off stale"
        );
    }
}

#[test]
fn a_change_merged_from_an_offline_replica_makes_it_stale() {
    let mut online = spec();
    let mut offline = Spec::load(&online.save(), author("eng", 2)).expect("load");
    let signed = digest(&online);
    let heads = online.doc_mut().get_heads();
    // Offline, the engineer tightens a criterion; online, only the title changes.
    offline
        .splice(
            &TextField::Criterion {
                story: item("story1"),
                criterion: item("crit2"),
            },
            0,
            0,
            "At most ",
            NOW,
        )
        .expect("offline edit");
    online
        .splice(&TextField::Title, 0, 0, "CSV ", NOW)
        .expect("online edit");
    assert_eq!(digest(&online), signed, "the title is not signed");
    online.merge(&mut offline).expect("merge");
    assert_ne!(digest(&online), signed, "the merged criterion is");
    // What was signed is still readable at the signed version.
    let then = signed_content_at(online.doc(), &heads, &item("story1")).expect("known heads");
    assert_eq!(then.expect("story existed").digest(), signed);
}

#[test]
fn a_deleted_story_has_nothing_to_sign_and_unknown_heads_are_refused() {
    let mut spec = spec();
    let heads = spec.doc_mut().get_heads();
    spec.remove_story(&item("story1"), NOW).expect("remove");
    assert!(signed_content(spec.doc(), &item("story1")).is_none());
    assert!(signed_content_at(spec.doc(), &heads, &item("story1"))
        .expect("heads")
        .is_some());
    let other = Spec::new(author("x", 9));
    assert!(signed_content_at(other.doc(), &heads, &item("story1")).is_none());
}

#[test]
fn sign_off_data_written_into_the_document_changes_nothing() {
    // Whatever a client writes into the document, a sign-off is not read from it.
    let mut spec = spec();
    let before = digest(&spec);
    let doc = spec.doc_mut();
    let forged = doc
        .put_object(ROOT, "signoffs", ObjType::Map)
        .expect("forge");
    doc.put(&forged, "story1", "product:signed").expect("forge");
    doc.commit();
    assert_eq!(digest(&spec), before);
}

#[test]
fn a_story_is_signed_when_product_and_engineering_are_current() {
    use Slot::*;
    assert_eq!(sign_state([]), SignState::Unsigned);
    assert_eq!(sign_state([(Product, true)]), SignState::Partly);
    assert_eq!(sign_state([(Design, true)]), SignState::Partly);
    assert_eq!(
        sign_state([(Product, true), (Engineering, true)]),
        SignState::Signed
    );
    assert_eq!(
        sign_state([(Product, true), (Engineering, true), (Design, false)]),
        SignState::Stale
    );
    assert_eq!(sign_state([(Product, false)]), SignState::Stale);
    assert_eq!(Slot::for_discipline("engineering"), Some(Engineering));
    assert_eq!(Slot::for_discipline("other"), None);
}

// ---- decisions that remember their context ----

fn decide(spec: &mut Spec, id: &str, stories: &[&str]) {
    let new = duet_model::NewDecision {
        title: "CSV only".into(),
        decision: "No Excel export".into(),
        rationale: "Nobody asked".into(),
        stories: stories.iter().map(|s| item(s)).collect(),
    };
    spec.add_decision(&item(id), 0, &new, NOW)
        .expect("decision");
}

fn changed(spec: &Spec) -> Vec<(String, bool)> {
    spec.view().decisions[0]
        .context_changed
        .iter()
        .map(|c| (c.story.to_string(), c.deleted))
        .collect()
}

#[test]
fn a_decision_shows_its_context_changed_when_a_story_it_concerns_changes_and_not_otherwise() {
    let mut spec = spec();
    let before = spec.doc_mut().get_heads();
    decide(&mut spec, "dec1", &["story1"]);
    assert!(changed(&spec).is_empty());
    spec.splice(&TextField::Title, 0, 0, "CSV ", NOW)
        .expect("title");
    spec.splice(
        &TextField::Story {
            story: item("story2"),
            field: StoryField::AsA,
        },
        0,
        0,
        "x",
        NOW,
    )
    .expect("other story");
    spec.set_story_status(&item("story1"), StoryStatus::Done, NOW)
        .expect("status");
    assert!(changed(&spec).is_empty(), "nothing it concerns changed");

    spec.set_constraint_severity(&item("cons1"), Severity::Blocker, NOW)
        .expect("severity");
    assert_eq!(changed(&spec), [("story1".to_owned(), false)]);
    // It says which version it was decided at: the one before the decision.
    let at = &spec.view().decisions[0].context_changed[0].at;
    let hex: Vec<String> = before.iter().map(ToString::to_string).collect();
    assert_eq!(at, &hex.join(","));

    spec.confirm_decision(&item("dec1"), NOW).expect("confirm");
    assert!(changed(&spec).is_empty(), "confirmed as it reads now");
}

#[test]
fn a_story_linked_later_is_decided_as_it_read_then_and_an_earlier_one_keeps_its_version() {
    let mut spec = spec();
    decide(&mut spec, "dec1", &["story1"]);
    spec.splice(
        &TextField::Story {
            story: item("story1"),
            field: StoryField::IWant,
        },
        0,
        0,
        "also ",
        NOW,
    )
    .expect("edit");
    spec.set_decision_stories(&item("dec1"), &[item("story1"), item("story2")], NOW)
        .expect("link");
    assert_eq!(
        changed(&spec),
        [("story1".to_owned(), false)],
        "linking more does not hide it"
    );
    spec.set_decision_stories(&item("dec1"), &[item("story2")], NOW)
        .expect("unlink");
    assert!(changed(&spec).is_empty(), "story1 is no longer its context");
    spec.remove_story(&item("story2"), NOW).expect("remove");
    assert_eq!(
        changed(&spec),
        [("story2".to_owned(), true)],
        "a deleted story changed its context"
    );
}

#[test]
fn a_change_merged_from_an_offline_replica_changes_a_decision_s_context() {
    let mut online = spec();
    decide(&mut online, "dec1", &["story1"]);
    let mut offline = Spec::load(&online.save(), author("eng", 2)).expect("load");
    offline
        .add_criterion(
            &item("story1"),
            &item("crit9"),
            1,
            CriterionKind::Technical,
            "Streams",
            NOW,
        )
        .expect("offline edit");
    assert!(changed(&online).is_empty());
    online.merge(&mut offline).expect("merge");
    assert_eq!(changed(&online), [("story1".to_owned(), false)]);
}

// ---- constraint triage ----

#[test]
fn open_blockers_are_listed_for_triage_with_who_raised_them_until_addressed() {
    let mut spec = spec();
    assert!(
        spec.view().open_blockers().is_empty(),
        "a major constraint is no blocker"
    );
    spec.set_constraint_severity(&item("cons1"), Severity::Blocker, NOW)
        .expect("severity");
    let view = spec.view();
    let blockers = view.open_blockers();
    assert_eq!(blockers.len(), 1);
    assert_eq!(blockers[0].author, "pm", "who raised it");
    assert!(view.triage().is_empty());
    // Resolving it is one edit.
    spec.set_constraint_status(&item("cons1"), ConstraintStatus::Addressed, NOW)
        .expect("address");
    assert!(spec.view().open_blockers().is_empty());
}

/// The definition of done the server reads straight from the document and the one the
/// page reads from its view agree, through each step that brings a story to done.
#[test]
fn the_definition_of_done_read_from_the_document_matches_the_view_at_every_step() {
    use duet_model::done::{definition_of_done, story_count, StoryFacts};
    let mut spec = spec();
    let story = item("story1");
    let line = |spec: &Spec, signs: &[(Slot, bool)]| {
        let from_doc = StoryFacts::read(spec.doc(), &story).expect("story");
        let view = spec.view();
        let from_view = StoryFacts::of(view.story(&story).expect("story"));
        assert_eq!(from_doc.criteria.len(), from_view.criteria.len());
        assert_eq!(from_doc.open_blockers, from_view.open_blockers);
        definition_of_done(&from_doc, signs).line()
    };
    assert_eq!(story_count(spec.doc()), 2);
    assert_eq!(
        line(&spec, &[]),
        "no technical criterion · 2 criteria not done · no product sign-off · no engineering sign-off"
    );
    spec.set_constraint_severity(&item("cons1"), Severity::Blocker, NOW)
        .expect("blocker");
    spec.add_criterion(
        &story,
        &item("crit3"),
        2,
        CriterionKind::Technical,
        "CSV",
        NOW,
    )
    .expect("criterion");
    for c in ["crit1", "crit2", "crit3"] {
        spec.set_criterion_done(&story, &item(c), true, NOW)
            .expect("done");
    }
    let signed = [(Slot::Product, true), (Slot::Engineering, true)];
    assert_eq!(line(&spec, &signed), "1 open blocker");
    spec.set_constraint_status(&item("cons1"), ConstraintStatus::Addressed, NOW)
        .expect("addressed");
    assert_eq!(line(&spec, &signed), "Done");
    assert_eq!(
        line(&spec, &[(Slot::Product, true), (Slot::Engineering, false)]),
        "engineering sign-off stale"
    );
}
