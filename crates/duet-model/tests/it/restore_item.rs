//! Restoring one item (a criterion, a constraint, a field…) to how it read before a chosen change, removed items included, and the preview of what a restore will change, in authors' colours.

use crate::common;

use common::{author, NOW};
use duet_model::automerge::{AutoCommit, ChangeHash};
use duet_model::history::{ChangeMeta, History};
use duet_model::{
    restore_preview, CriterionKind, ItemId, NewStory, RestoreScope, RunKind, Spec, StoryField,
    TextField, UnixMillis,
};

fn item(id: &str) -> ItemId {
    ItemId::parse(id).expect("a valid id")
}

fn history_of(doc: &mut AutoCommit) -> History {
    let mut h = History::new();
    h.update(doc.get_changes(&[]), |_| ChangeMeta::default());
    h
}

fn heads(spec: &mut Spec) -> Vec<ChangeHash> {
    spec.doc_mut().get_heads()
}

fn merge(into: &mut Spec, from: &Spec) {
    let mut theirs = from.doc().clone();
    into.doc_mut().merge(&mut theirs).expect("merge");
}

/// Pam writes a story with two criteria; returns her spec and the version after.
fn story_with_criteria() -> (Spec, ItemId) {
    let mut pam = Spec::new(author("pam", 1));
    let s = item("s1");
    let new = NewStory {
        as_a: "finance lead".into(),
        i_want: "export to CSV".into(),
        so_that: "I can reconcile".into(),
    };
    pam.add_story(&s, 0, &new, NOW).expect("story");
    pam.add_criterion(
        &s,
        &item("c1"),
        0,
        CriterionKind::Technical,
        "UTF-8 with BOM",
        NOW,
    )
    .expect("criterion");
    pam.add_criterion(&s, &item("c2"), 1, CriterionKind::Ux, "one click", NOW)
        .expect("criterion");
    (pam, s)
}

#[test]
fn an_emptied_criterion_comes_back_from_before_the_change_that_emptied_it_and_nothing_else_moves() {
    let (mut pam, s) = story_with_criteria();
    let mut eli = Spec::new(author("eli", 2));
    merge(&mut eli, &pam);
    let c1 = TextField::Criterion {
        story: s.clone(),
        criterion: item("c1"),
    };
    let before_emptied = heads(&mut eli);
    eli.set_text(&c1, "", UnixMillis(NOW.0 + 1))
        .expect("emptied");
    // Eli goes on editing elsewhere afterwards; that must stay.
    let other = TextField::Criterion {
        story: s.clone(),
        criterion: item("c2"),
    };
    eli.set_text(&other, "one click, no dialog", UnixMillis(NOW.0 + 2))
        .expect("edit");
    merge(&mut pam, &eli);

    let scope = RestoreScope::Criterion {
        story: s.clone(),
        criterion: item("c1"),
    };
    // The preview says what the restore will do, in whose colours, before anything changes.
    let mut copy = Spec::from_doc(pam.doc().clone(), pam.author().clone()).expect("a spec");
    copy.restore(&before_emptied, &scope, UnixMillis(NOW.0 + 3))
        .expect("restore on a copy");
    let history = history_of(pam.doc_mut());
    let preview = restore_preview(
        &history,
        pam.doc_mut().document(),
        copy.doc_mut().document(),
        &before_emptied,
    )
    .expect("known version");
    assert_eq!(
        preview.texts.len(),
        1,
        "only the criterion changes: {preview:?}"
    );
    let runs = &preview.texts[0].runs;
    assert!(runs.iter().any(|r| r.kind == RunKind::Inserted
        && r.text == "UTF-8 with BOM"
        && r.author.as_ref().map(|a| a.as_str()) == Some("pam")));
    assert_eq!(pam.view().story(&s).expect("story").criteria[0].text, "");

    pam.restore(&before_emptied, &scope, UnixMillis(NOW.0 + 3))
        .expect("restore");
    let v = pam.view();
    let story = v.story(&s).expect("story");
    assert_eq!(story.criteria[0].text, "UTF-8 with BOM");
    assert_eq!(
        story.criteria[1].text, "one click, no dialog",
        "later edits elsewhere stay"
    );
}

#[test]
fn a_removed_criterion_constraint_and_field_each_come_back_alone() {
    let (mut pam, s) = story_with_criteria();
    let constraint = item("k1");
    pam.add_constraint(
        &s,
        &constraint,
        0,
        &duet_model::NewConstraint {
            kind: duet_model::ConstraintKind::Performance,
            severity: duet_model::Severity::Blocker,
            text: "under 2 s for 10k rows".into(),
            anchor: Some(duet_model::AnchorSpan {
                field: StoryField::IWant,
                start: 0,
                end: 6,
            }),
        },
        NOW,
    )
    .expect("constraint");
    let before = heads(&mut pam);
    let later = UnixMillis(NOW.0 + 10);
    pam.remove_criterion(&s, &item("c1"), later)
        .expect("remove");
    pam.remove_constraint(&constraint, later).expect("remove");
    let want = TextField::Story {
        story: s.clone(),
        field: StoryField::IWant,
    };
    pam.set_text(&want, "export everything", later)
        .expect("edit");
    pam.set_text(&TextField::Problem, "kept", later)
        .expect("edit");

    pam.restore(
        &before,
        &RestoreScope::Criterion {
            story: s.clone(),
            criterion: item("c1"),
        },
        later,
    )
    .expect("criterion");
    pam.restore(&before, &RestoreScope::Field(want.clone()), later)
        .expect("field");
    pam.restore(
        &before,
        &RestoreScope::Constraint(constraint.clone()),
        later,
    )
    .expect("constraint");
    let v = pam.view();
    let story = v.story(&s).expect("story");
    assert_eq!(story.criteria.len(), 2);
    assert_eq!(story.criteria[0].text, "UTF-8 with BOM");
    assert_eq!(story.i_want, "export to CSV");
    assert_eq!(story.constraints.len(), 1);
    assert!(matches!(
        &story.constraints[0].anchor,
        duet_model::Anchor::Span { text, .. } if text == "export"
    ));
    assert_eq!(v.problem, "kept", "nothing outside the item changes");
    let history = history_of(pam.doc_mut());
    let last = history.changes().last().expect("a change");
    assert!(
        last.is_restore(),
        "an item restore is its own entry in the history"
    );
}

#[test]
fn restoring_an_item_that_did_not_exist_then_or_whose_story_is_gone_fails_and_changes_nothing() {
    let (mut pam, s) = story_with_criteria();
    let early = {
        let mut fresh = Spec::new(author("pam", 1));
        heads(&mut fresh)
    };
    let count = pam.doc_mut().get_changes(&[]).len();
    let scope = RestoreScope::Criterion {
        story: s.clone(),
        criterion: item("c1"),
    };
    assert!(pam.restore(&early, &scope, NOW).is_err());
    let before = heads(&mut pam);
    pam.remove_story(&s, NOW).expect("remove");
    assert!(
        pam.restore(&before, &scope, NOW).is_err(),
        "restore the story first"
    );
    assert_eq!(pam.doc_mut().get_changes(&[]).len(), count + 1);
}
