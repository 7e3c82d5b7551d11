//! Unit tests of every typed edit: what the view shows afterwards and what each change records.

use crate::common;

use common::{author, id, rng, NOW};
use duet_model::automerge::ReadDoc;
use duet_model::{
    change_author, Anchor, AnchorSpan, ConstraintKind, ConstraintStatus, CriterionKind,
    DecisionField, EditError, ItemId, MetricField, NewConstraint, NewDecision, NewStory,
    QuestionField, Severity, Spec, StoryField, StoryStatus, TextField,
};

fn story(as_a: &str, i_want: &str, so_that: &str) -> NewStory {
    NewStory {
        as_a: as_a.into(),
        i_want: i_want.into(),
        so_that: so_that.into(),
    }
}

fn spec_with_story() -> (Spec, ItemId) {
    let mut spec = Spec::new(author("pm", 1));
    let s = ItemId::parse("story1").expect("id");
    spec.add_story(
        &s,
        0,
        &story("analyst", "to export to CSV", "I can share numbers"),
        NOW,
    )
    .expect("add story");
    (spec, s)
}

fn last_message(spec: &Spec) -> String {
    let mut doc = spec.doc().clone();
    let change = doc.get_last_local_change().expect("a local change").clone();
    change.message().cloned().unwrap_or_default()
}

#[test]
fn a_new_spec_is_empty_and_titled_by_splicing() {
    let mut spec = Spec::new(author("pm", 1));
    assert_eq!(spec.view().title, "");
    spec.splice(&TextField::Title, 0, 0, "Export to CSV", NOW)
        .expect("splice");
    spec.splice(&TextField::Title, 0, 6, "Download", NOW)
        .expect("splice");
    assert_eq!(spec.view().title, "Download to CSV");
    assert_eq!(last_message(&spec), "edit title");
}

#[test]
fn every_change_names_its_author_time_and_edit() {
    let (mut spec, _) = spec_with_story();
    spec.set_text(
        &TextField::Problem,
        "Users are struggling with exports",
        NOW,
    )
    .expect("edit");
    let mut doc = spec.doc().clone();
    let change = doc.get_last_local_change().expect("change").clone();
    assert_eq!(change.message().map(String::as_str), Some("edit problem"));
    assert_eq!(change.timestamp(), NOW.as_secs());
    let who = change_author(&change).expect("a duet author");
    assert_eq!(who.user().as_str(), "pm");
}

#[test]
fn two_replicas_starting_a_spec_share_one_skeleton() {
    let mut a = Spec::new(author("a", 1));
    let mut b = Spec::new(author("b", 2));
    a.splice(&TextField::Title, 0, 0, "Alpha", NOW)
        .expect("edit");
    b.splice(&TextField::Title, 0, 0, "Beta", NOW)
        .expect("edit");
    a.merge(&mut b).expect("merge");
    // One title object with both edits, not two conflicting skeletons.
    let title = a.view().title;
    assert!(title == "AlphaBeta" || title == "BetaAlpha", "{title}");
    let conflicts = a
        .doc()
        .get_all(duet_model::automerge::ROOT, "title")
        .expect("read")
        .len();
    assert_eq!(conflicts, 1);
}

#[test]
fn splices_count_utf16_units_and_refuse_to_split_a_character() {
    let mut spec = Spec::new(author("pm", 1));
    spec.splice(&TextField::Title, 0, 0, "a😀b", NOW)
        .expect("insert");
    spec.splice(&TextField::Title, 3, 0, "!", NOW)
        .expect("after the emoji");
    assert_eq!(spec.view().title, "a😀!b");
    assert_eq!(
        spec.splice(&TextField::Title, 2, 0, "x", NOW),
        Err(EditError::NotCharBoundary(2))
    );
    assert_eq!(
        spec.splice(&TextField::Title, 4, 3, "", NOW),
        Err(EditError::OutOfRange {
            start: 4,
            end: 7,
            len: 5
        })
    );
    assert_eq!(
        spec.splice(&TextField::Title, usize::MAX, usize::MAX, "", NOW),
        Err(EditError::OutOfRange {
            start: usize::MAX,
            end: usize::MAX,
            len: 5
        })
    );
    assert_eq!(
        spec.view().title,
        "a😀!b",
        "a refused splice changes nothing"
    );
}

#[test]
fn set_text_keeps_concurrent_edits_elsewhere_in_the_field() {
    let (mut a, s) = spec_with_story();
    let mut b = Spec::load(&a.save(), author("eng", 2)).expect("load");
    let field = TextField::Story {
        story: s.clone(),
        field: StoryField::IWant,
    };
    a.set_text(&field, "to export to CSV quickly", NOW)
        .expect("a");
    b.set_text(&field, "always to export to CSV", NOW)
        .expect("b");
    a.merge(&mut b).expect("merge");
    assert_eq!(
        a.view().stories[0].i_want,
        "always to export to CSV quickly"
    );
}

#[test]
fn metrics_add_edit_move_remove() {
    let mut spec = Spec::new(author("pm", 1));
    let mut r = rng(9);
    let (m1, m2) = (id(&mut r), id(&mut r));
    spec.add_metric(&m1, 0, "Export time", "< 2 s", NOW)
        .expect("add");
    spec.add_metric(&m2, 0, "Adoption", "30 %", NOW)
        .expect("add first");
    let v = spec.view();
    assert_eq!(
        v.metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["Adoption", "Export time"]
    );
    spec.splice(
        &TextField::Metric {
            metric: m1.clone(),
            field: MetricField::Target,
        },
        0,
        1,
        "≤",
        NOW,
    )
    .expect("edit target");
    spec.move_metric(&m2, 1, NOW).expect("move");
    let v = spec.view();
    assert_eq!(v.metrics[0].target, "≤ 2 s");
    assert_eq!(v.metrics[1].id, m2);
    spec.remove_metric(&m1, NOW).expect("remove");
    assert_eq!(spec.view().metrics.len(), 1);
    assert!(matches!(
        spec.remove_metric(&m1, NOW),
        Err(EditError::NoSuchItem { kind: "metric", .. })
    ));
}

#[test]
fn stories_keep_their_order_through_inserts_and_moves() {
    let mut spec = Spec::new(author("pm", 1));
    let mut r = rng(3);
    let ids: Vec<ItemId> = (0..5).map(|_| id(&mut r)).collect();
    for (i, s) in ids.iter().enumerate() {
        spec.add_story(s, i, &story(&format!("user {i}"), "", ""), NOW)
            .expect("add");
    }
    spec.move_story(&ids[4], 0, NOW)
        .expect("move last to first");
    spec.move_story(&ids[0], 3, NOW).expect("move");
    let order: Vec<String> = spec.view().stories.iter().map(|s| s.as_a.clone()).collect();
    assert_eq!(order, ["user 4", "user 1", "user 2", "user 0", "user 3"]);
    assert_eq!(last_message(&spec), "move story");
    assert!(matches!(
        spec.move_story(&id(&mut r), 0, NOW),
        Err(EditError::NoSuchItem { kind: "story", .. })
    ));
}

#[test]
fn adding_an_existing_id_is_refused() {
    let (mut spec, s) = spec_with_story();
    assert_eq!(
        spec.add_story(&s, 0, &NewStory::default(), NOW),
        Err(EditError::DuplicateId(s))
    );
    assert_eq!(spec.view().stories.len(), 1);
}

#[test]
fn story_status_and_fields() {
    let (mut spec, s) = spec_with_story();
    spec.set_story_status(&s, StoryStatus::InProgress, NOW)
        .expect("status");
    spec.splice(
        &TextField::Story {
            story: s.clone(),
            field: StoryField::SoThat,
        },
        0,
        1,
        "Y",
        NOW,
    )
    .expect("edit");
    let v = spec.view();
    assert_eq!(v.stories[0].status, StoryStatus::InProgress);
    assert_eq!(v.stories[0].so_that, "Y can share numbers");
    assert_eq!(last_message(&spec), "edit story");
}

#[test]
fn criteria_add_check_kind_move_remove() {
    let (mut spec, s) = spec_with_story();
    let mut r = rng(4);
    let (c1, c2, c3) = (id(&mut r), id(&mut r), id(&mut r));
    spec.add_criterion(&s, &c1, 0, CriterionKind::Technical, "streams rows", NOW)
        .expect("add");
    spec.add_criterion(&s, &c2, 1, CriterionKind::Ux, "shows progress", NOW)
        .expect("add");
    spec.add_criterion(&s, &c3, 1, CriterionKind::Business, "counts exports", NOW)
        .expect("add");
    spec.set_criterion_done(&s, &c1, true, NOW).expect("check");
    assert_eq!(last_message(&spec), "check criterion");
    spec.set_criterion_kind(&s, &c2, CriterionKind::Technical, NOW)
        .expect("kind");
    spec.move_criterion(&s, &c1, 2, NOW).expect("move");
    spec.splice(
        &TextField::Criterion {
            story: s.clone(),
            criterion: c2.clone(),
        },
        0,
        0,
        "always ",
        NOW,
    )
    .expect("edit");
    let v = spec.view();
    let crit: Vec<(&str, CriterionKind, bool)> = v.stories[0]
        .criteria
        .iter()
        .map(|c| (c.text.as_str(), c.kind, c.done))
        .collect();
    assert_eq!(
        crit,
        [
            ("counts exports", CriterionKind::Business, false),
            ("always shows progress", CriterionKind::Technical, false),
            ("streams rows", CriterionKind::Technical, true),
        ]
    );
    spec.remove_criterion(&s, &c3, NOW).expect("remove");
    assert_eq!(spec.view().stories[0].criteria.len(), 2);
    assert!(spec
        .add_criterion(&id(&mut r), &id(&mut r), 0, CriterionKind::Ux, "", NOW)
        .is_err());
}

fn constraint(text: &str, anchor: Option<AnchorSpan>) -> NewConstraint {
    NewConstraint {
        kind: ConstraintKind::Performance,
        severity: Severity::Blocker,
        text: text.into(),
        anchor,
    }
}

#[test]
fn a_constraint_on_the_story_sits_in_its_track_with_author() {
    let (mut spec, s) = spec_with_story();
    let mut eng = Spec::load(&spec.save(), author("eng", 5)).expect("load");
    let c = ItemId::parse("c1").expect("id");
    eng.add_constraint(&s, &c, 0, &constraint("10M rows need streaming", None), NOW)
        .expect("add");
    let v = eng.view();
    let got = &v.stories[0].constraints[0];
    assert_eq!(got.text, "10M rows need streaming");
    assert_eq!(got.author, "eng");
    assert_eq!(got.status, ConstraintStatus::Open);
    assert_eq!(got.anchor, Anchor::Story);
    assert!(v.triage().is_empty());
}

#[test]
fn an_anchored_constraint_follows_its_text_through_edits() {
    let (mut spec, s) = spec_with_story();
    // "to export to CSV": anchor "CSV" (units 13..16).
    let span = AnchorSpan {
        field: StoryField::IWant,
        start: 13,
        end: 16,
    };
    let c = ItemId::parse("c1").expect("id");
    spec.add_constraint(&s, &c, 0, &constraint("CSV injection", Some(span)), NOW)
        .expect("add");
    let field = TextField::Story {
        story: s.clone(),
        field: StoryField::IWant,
    };
    spec.splice(&field, 0, 0, "quickly ", NOW)
        .expect("insert before");
    spec.splice(&field, 21, 3, "Excel", NOW)
        .expect("replace inside? no: replace the span");
    // The span text was replaced entirely: the anchor is orphaned, not lost.
    let v = spec.view();
    assert!(
        matches!(&v.stories[0].constraints[0].anchor, Anchor::Orphaned { field: StoryField::IWant, quote } if quote == "CSV")
    );
    assert_eq!(v.triage().len(), 1);
    // Re-anchor to the new word, then edit inside the span.
    spec.anchor_constraint(
        &c,
        &s,
        AnchorSpan {
            field: StoryField::IWant,
            start: 21,
            end: 26,
        },
        NOW,
    )
    .expect("re-anchor");
    spec.splice(&field, 23, 0, "-", NOW).expect("edit inside");
    spec.splice(&field, 0, 8, "", NOW).expect("delete before");
    let v = spec.view();
    assert_eq!(
        v.stories[0].constraints[0].anchor,
        Anchor::Span {
            field: StoryField::IWant,
            start: 13,
            end: 19,
            text: "Ex-cel".into()
        }
    );
    assert!(v.triage().is_empty());
    spec.unanchor_constraint(&c, &s, NOW).expect("unanchor");
    assert_eq!(spec.view().stories[0].constraints[0].anchor, Anchor::Story);
}

#[test]
fn anchors_refuse_empty_or_broken_spans() {
    let (mut spec, s) = spec_with_story();
    let c = ItemId::parse("c1").expect("id");
    let empty = AnchorSpan {
        field: StoryField::AsA,
        start: 2,
        end: 2,
    };
    assert_eq!(
        spec.add_constraint(&s, &c, 0, &constraint("x", Some(empty)), NOW),
        Err(EditError::EmptyAnchor)
    );
    let long = AnchorSpan {
        field: StoryField::AsA,
        start: 2,
        end: 200,
    };
    assert!(matches!(
        spec.add_constraint(&s, &c, 0, &constraint("x", Some(long)), NOW),
        Err(EditError::OutOfRange { .. })
    ));
    assert!(
        spec.view().stories[0].constraints.is_empty(),
        "refused adds leave nothing behind"
    );
}

#[test]
fn an_anchor_on_an_emoji_survives_and_reports_utf16_positions() {
    let mut spec = Spec::new(author("pm", 1));
    let s = ItemId::parse("s").expect("id");
    spec.add_story(&s, 0, &story("😀 fan", "", ""), NOW)
        .expect("add");
    let c = ItemId::parse("c").expect("id");
    let span = AnchorSpan {
        field: StoryField::AsA,
        start: 0,
        end: 2,
    };
    spec.add_constraint(&s, &c, 0, &constraint("emoji", Some(span)), NOW)
        .expect("add");
    assert_eq!(
        spec.view().stories[0].constraints[0].anchor,
        Anchor::Span {
            field: StoryField::AsA,
            start: 0,
            end: 2,
            text: "😀".into()
        }
    );
}

#[test]
fn constraint_kind_severity_status_and_track_order() {
    let (mut spec, s) = spec_with_story();
    let mut r = rng(8);
    let (c1, c2) = (id(&mut r), id(&mut r));
    spec.add_constraint(&s, &c1, 0, &constraint("one", None), NOW)
        .expect("add");
    spec.add_constraint(&s, &c2, 1, &constraint("two", None), NOW)
        .expect("add");
    spec.set_constraint_kind(&c1, ConstraintKind::Security, NOW)
        .expect("kind");
    spec.set_constraint_severity(&c1, Severity::Minor, NOW)
        .expect("severity");
    spec.set_constraint_status(&c1, ConstraintStatus::Accepted, NOW)
        .expect("status");
    spec.move_constraint(&c2, 0, NOW).expect("move");
    spec.splice(
        &TextField::Constraint {
            constraint: c1.clone(),
        },
        3,
        0,
        "!",
        NOW,
    )
    .expect("edit");
    let v = spec.view();
    let track = &v.stories[0].constraints;
    assert_eq!(track[0].id, c2);
    assert_eq!(
        (
            track[1].kind,
            track[1].severity,
            track[1].status,
            track[1].text.as_str()
        ),
        (
            ConstraintKind::Security,
            Severity::Minor,
            ConstraintStatus::Accepted,
            "one!"
        )
    );
    spec.remove_constraint(&c2, NOW).expect("remove");
    assert_eq!(spec.view().stories[0].constraints.len(), 1);
}

#[test]
fn removing_a_story_takes_its_criteria_and_constraints_and_unlinks_decisions() {
    let (mut spec, s) = spec_with_story();
    let mut r = rng(11);
    let (c, d) = (id(&mut r), id(&mut r));
    spec.add_criterion(&s, &id(&mut r), 0, CriterionKind::Ux, "x", NOW)
        .expect("criterion");
    spec.add_constraint(&s, &c, 0, &constraint("c", None), NOW)
        .expect("constraint");
    let new = NewDecision {
        title: "Use streaming".into(),
        stories: vec![s.clone()],
        ..NewDecision::default()
    };
    spec.add_decision(&d, 0, &new, NOW).expect("decision");
    spec.remove_story(&s, NOW).expect("remove");
    let v = spec.view();
    assert!(v.stories.is_empty());
    assert!(v.detached.is_empty(), "its own constraints went with it");
    assert!(v.decisions[0].stories.is_empty());
    assert_eq!(v.decisions[0].title, "Use streaming");
}

#[test]
fn a_constraint_added_concurrently_with_removing_its_story_is_detached_not_lost() {
    let (mut pm, s) = spec_with_story();
    let mut eng = Spec::load(&pm.save(), author("eng", 2)).expect("load");
    let c = ItemId::parse("late").expect("id");
    eng.add_constraint(&s, &c, 0, &constraint("needs a queue", None), NOW)
        .expect("add");
    pm.remove_story(&s, NOW).expect("remove");
    pm.merge(&mut eng).expect("merge");
    let v = pm.view();
    assert_eq!(v.detached.len(), 1);
    assert_eq!(v.triage().len(), 1);
    // Re-attaching it to another story takes it out of triage.
    let s2 = ItemId::parse("s2").expect("id");
    pm.add_story(&s2, 0, &NewStory::default(), NOW)
        .expect("add");
    pm.unanchor_constraint(&c, &s2, NOW).expect("re-attach");
    let v = pm.view();
    assert!(v.triage().is_empty());
    assert_eq!(v.stories[0].constraints[0].text, "needs a queue");
}

#[test]
fn decisions_record_who_when_and_which_stories() {
    let (mut spec, s) = spec_with_story();
    let d = ItemId::parse("d1").expect("id");
    let new = NewDecision {
        title: "Stream".into(),
        decision: "Use a streaming writer".into(),
        rationale: "Memory".into(),
        stories: vec![s.clone()],
    };
    spec.add_decision(&d, 0, &new, NOW).expect("add");
    spec.splice(
        &TextField::Decision {
            decision: d.clone(),
            field: DecisionField::Rationale,
        },
        6,
        0,
        " bound",
        NOW,
    )
    .expect("edit");
    let v = spec.view();
    let got = &v.decisions[0];
    assert_eq!((got.decided_by.as_str(), got.decided_at), ("pm", NOW));
    assert_eq!(got.rationale, "Memory bound");
    assert_eq!(got.stories, std::slice::from_ref(&s));
    spec.set_decision_stories(&d, &[], NOW).expect("unlink");
    assert!(spec.view().decisions[0].stories.is_empty());
    assert!(spec
        .set_decision_stories(&d, &[ItemId::parse("nope").expect("id")], NOW)
        .is_err());
    spec.move_decision(&d, 0, NOW).expect("move");
    spec.remove_decision(&d, NOW).expect("remove");
    assert!(spec.view().decisions.is_empty());
}

#[test]
fn questions_are_asked_answered_and_attributed() {
    let mut pm = Spec::new(author("pm", 1));
    let q = ItemId::parse("q1").expect("id");
    pm.add_question(&q, 0, "Max file size?", NOW).expect("ask");
    let mut eng = Spec::load(&pm.save(), author("eng", 2)).expect("load");
    eng.answer_question(&q, "1 GB", NOW).expect("answer");
    let v = eng.view();
    assert_eq!(
        (
            v.questions[0].asked_by.as_str(),
            v.questions[0].answer.as_str(),
            v.questions[0].answered_by.as_str()
        ),
        ("pm", "1 GB", "eng")
    );
    eng.splice(
        &TextField::Question {
            question: q.clone(),
            field: QuestionField::Question,
        },
        0,
        3,
        "Largest",
        NOW,
    )
    .expect("edit");
    assert_eq!(eng.view().questions[0].question, "Largest file size?");
    eng.move_question(&q, 3, NOW).expect("move");
    eng.remove_question(&q, NOW).expect("remove");
    assert!(eng.view().questions.is_empty());
}

#[test]
fn a_batch_is_one_change_and_a_failed_batch_leaves_nothing() {
    let mut spec = Spec::new(author("pm", 1));
    let before = spec.doc_mut().get_changes(&[]).len();
    let mut r = rng(2);
    let (a, b) = (id(&mut r), id(&mut r));
    spec.batch("add two stories", NOW, |spec| {
        spec.add_story(&a, 0, &NewStory::default(), NOW)?;
        spec.add_story(&b, 1, &NewStory::default(), NOW)
    })
    .expect("batch");
    assert_eq!(spec.doc_mut().get_changes(&[]).len(), before + 1);
    assert_eq!(last_message(&spec), "add two stories");
    let failed = spec.batch("bad", NOW, |spec| {
        spec.remove_story(&a, NOW)?;
        spec.remove_story(&a, NOW)
    });
    assert!(failed.is_err());
    assert_eq!(spec.view().stories.len(), 2);
    assert_eq!(spec.doc_mut().get_changes(&[]).len(), before + 1);
}

#[test]
fn equal_ranks_written_by_another_replica_are_respaced_when_inserting_between() {
    use duet_model::automerge::{transaction::Transactable, ObjType, ROOT};
    let mut spec = Spec::new(author("a", 1));
    let x = ItemId::parse("x").expect("id");
    let y = ItemId::parse("y").expect("id");
    spec.add_story(&x, 0, &story("x", "", ""), NOW).expect("x");
    spec.add_story(&y, 1, &story("y", "", ""), NOW).expect("y");
    // Another client (or two concurrent inserts) left both stories with the same rank.
    let doc = spec.doc_mut();
    let stories = match doc.get(ROOT, "stories").expect("read") {
        Some((duet_model::automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("stories: {other:?}"),
    };
    for key in ["x", "y"] {
        let (_, obj) = doc.get(&stories, key).expect("read").expect("story");
        doc.put(&obj, "rank", "k").expect("put");
    }
    doc.commit();
    let z = ItemId::parse("z").expect("id");
    spec.add_story(&z, 1, &story("z", "", ""), NOW)
        .expect("between equal ranks");
    let order: Vec<String> = spec.view().stories.iter().map(|s| s.as_a.clone()).collect();
    assert_eq!(order, ["x", "z", "y"]);
}
