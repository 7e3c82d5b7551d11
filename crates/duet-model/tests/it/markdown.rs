//! Markdown export and import: the exact format, round trips over random specs, and refusal of malformed input.

use crate::common;

use common::ops::{self, Ledger};
use common::{author, rng, NOW};
use duet_model::markdown::{self, escape, unescape};
use duet_model::{
    AnchorSpan, ConstraintKind, ConstraintStatus, CriterionKind, ItemId, NewConstraint,
    NewDecision, NewStory, Severity, Spec, SpecView, StoryField, StoryStatus, TextField,
    UnixMillis,
};
use proptest::prelude::*;

fn sample() -> Spec {
    let mut spec = Spec::new(author("pm", 1));
    let mut r = rng(1);
    let t = NOW;
    spec.set_text(&TextField::Title, "Export to CSV", t)
        .expect("title");
    spec.set_text(
        &TextField::Problem,
        "Analysts copy tables by hand.\nIt takes *hours*.",
        t,
    )
    .expect("problem");
    spec.add_metric(
        &ItemId::random(&mut r),
        0,
        "Time to export",
        "< 5 s for 1M rows",
        t,
    )
    .expect("metric");
    let s = ItemId::random(&mut r);
    let new = NewStory {
        as_a: "analyst".into(),
        i_want: "to export any table to CSV".into(),
        so_that: "I can share numbers".into(),
    };
    spec.add_story(&s, 0, &new, t).expect("story");
    spec.set_story_status(&s, StoryStatus::InProgress, t)
        .expect("status");
    let c1 = ItemId::random(&mut r);
    spec.add_criterion(&s, &c1, 0, CriterionKind::Technical, "streams rows", t)
        .expect("criterion");
    spec.set_criterion_done(&s, &c1, true, t).expect("done");
    spec.add_criterion(
        &s,
        &ItemId::random(&mut r),
        1,
        CriterionKind::Ux,
        "shows progress",
        t,
    )
    .expect("criterion");
    let anchor = AnchorSpan {
        field: StoryField::IWant,
        start: 23,
        end: 26,
    };
    let c = NewConstraint {
        kind: ConstraintKind::Security,
        severity: Severity::Blocker,
        text: "escape formulas (CSV injection)".into(),
        anchor: Some(anchor),
    };
    spec.add_constraint(&s, &ItemId::random(&mut r), 0, &c, t)
        .expect("constraint");
    let d = NewDecision {
        title: "Stream, don't buffer".into(),
        decision: "Write rows as they are read".into(),
        rationale: "Memory stays flat".into(),
        stories: vec![s.clone()],
    };
    spec.add_decision(
        &ItemId::random(&mut r),
        0,
        &d,
        UnixMillis(1_764_050_400_123),
    )
    .expect("decision");
    let q = ItemId::random(&mut r);
    spec.add_question(&q, 0, "Max rows?", t).expect("question");
    spec.answer_question(&q, "10M", t).expect("answer");
    spec
}

const SAMPLE_MD: &str = "# Export to CSV

## Problem

Analysts copy tables by hand.<br>It takes \\*hours\\*.

## Success metrics

- Time to export — **Target:** \\< 5 s for 1M rows

## User stories

### Story 1 · In progress

- **As a** analyst
- **I want** to export any table to CSV
- **So that** I can share numbers

#### Technical criteria

- [x] streams rows

#### UX criteria

- [ ] shows progress

#### Constraints

- **Blocker** · Security · Open — escape formulas (CSV injection)
  - Raised by pm
  - Anchored to **I want**: CSV

## Decision log

### Stream, don't buffer

- **Decision:** Write rows as they are read
- **Why:** Memory stays flat
- **Stories:** Story 1
- **Decided by** pm **on** 2025-11-25T06:00:00.123Z

## Open questions

- **Q:** Max rows?
  - **A:** 10M
  - Asked by pm
  - Answered by pm
";

#[test]
fn export_writes_the_documented_format() {
    assert_eq!(markdown::export(&sample().view()), SAMPLE_MD);
}

/// The view without ids, which import cannot keep.
/// Criteria are grouped by kind in the export, so compare them grouped.
fn without_ids(v: &SpecView) -> String {
    let mut grouped = v.clone();
    for s in &mut grouped.stories {
        s.criteria.sort_by_key(|c| c.kind);
    }
    // A decision's recorded context is not part of the Markdown: an import decides afresh.
    for d in &mut grouped.decisions {
        d.context_changed.clear();
    }
    let mut json = format!("{grouped:?}");
    for id in v
        .stories
        .iter()
        .flat_map(|s| std::iter::once(s.id.clone()).chain(s.criteria.iter().map(|c| c.id.clone())))
        .chain(v.all_constraints().map(|c| c.id.clone()))
        .chain(
            v.all_constraints()
                .map(|c| ItemId::parse(&c.story).unwrap_or_else(|_| c.id.clone())),
        )
        .chain(v.decisions.iter().map(|d| d.id.clone()))
        .chain(v.questions.iter().map(|q| q.id.clone()))
        .chain(v.metrics.iter().map(|m| m.id.clone()))
    {
        json = json.replace(id.as_str(), "<id>");
    }
    json
}

#[test]
fn import_of_the_sample_rebuilds_the_same_spec() {
    let original = sample().view();
    let imported = markdown::import(SAMPLE_MD, author("eng", 2), NOW, &mut rng(2)).expect("import");
    assert_eq!(without_ids(&imported.view()), without_ids(&original));
    assert_eq!(markdown::export(&imported.view()), SAMPLE_MD);
}

#[test]
fn import_is_one_change_by_the_importer() {
    let mut imported =
        markdown::import(SAMPLE_MD, author("eng", 2), NOW, &mut rng(2)).expect("import");
    let changes = imported.doc_mut().get_changes(&[]);
    assert_eq!(changes.len(), 2, "the shared skeleton and the import");
    let import = changes[1];
    assert_eq!(
        import.message().map(String::as_str),
        Some("import markdown")
    );
    assert_eq!(
        duet_model::change_author(import).map(|a| a.user().as_str().to_owned()),
        Some("eng".into())
    );
}

#[test]
fn escaping_round_trips_markdown_special_text() {
    for text in [
        "",
        " ",
        "a\nb",
        "# not a heading",
        "- not a list",
        "1. not a list",
        "**Target:** x",
        "\\",
        "a\\",
        "&#32;",
        "<br>",
        "\t\r",
        "😀 ",
        "[x] done",
    ] {
        assert_eq!(unescape(&escape(text)), text, "{text:?}");
        assert!(!escape(text).contains('\n'));
    }
}

/// A spec whose only story had "fast" anchored, then deleted.
fn spec_with_orphaned_anchor(seed: u64) -> (Spec, ItemId) {
    let mut spec = Spec::new(author("pm", seed));
    let s = ItemId::parse("s1").expect("id");
    let story = NewStory {
        as_a: "user".into(),
        i_want: "fast export".into(),
        so_that: String::new(),
    };
    spec.add_story(&s, 0, &story, NOW).expect("story");
    let anchored = NewConstraint {
        kind: ConstraintKind::Performance,
        severity: Severity::Major,
        text: "budget".into(),
        anchor: Some(AnchorSpan {
            field: StoryField::IWant,
            start: 0,
            end: 4,
        }),
    };
    spec.add_constraint(&s, &ItemId::parse("c1").expect("id"), 0, &anchored, NOW)
        .expect("constraint");
    let field = TextField::Story {
        story: s.clone(),
        field: StoryField::IWant,
    };
    spec.splice(&field, 0, 5, "", NOW)
        .expect("delete the anchored word");
    (spec, s)
}

#[test]
fn an_orphaned_anchor_survives_a_round_trip() {
    let (spec, _) = spec_with_orphaned_anchor(1);
    let md = markdown::export(&spec.view());
    assert!(md.contains("  - Orphaned from **I want**: fast\n"), "{md}");
    let back = markdown::import(&md, author("x", 6), NOW, &mut rng(6)).expect("import");
    assert_eq!(back.view().triage().len(), 1);
    assert_eq!(markdown::export(&back.view()), md);
}

#[test]
fn a_detached_constraint_survives_a_round_trip() {
    let (mut pm, s) = spec_with_orphaned_anchor(1);
    let mut eng = Spec::load(&pm.save(), author("eng", 2)).expect("load");
    let c2 = ItemId::parse("c2").expect("id");
    let late = NewConstraint {
        kind: ConstraintKind::Cost,
        severity: Severity::Minor,
        text: "late".into(),
        anchor: None,
    };
    eng.add_constraint(&s, &c2, 1, &late, NOW)
        .expect("constraint");
    eng.set_constraint_status(&c2, ConstraintStatus::Addressed, NOW)
        .expect("status");
    pm.remove_story(&s, NOW)
        .expect("remove the story concurrently");
    pm.merge(&mut eng).expect("merge");
    let v = pm.view();
    assert_eq!(v.detached.len(), 1);
    let md = markdown::export(&v);
    assert!(
        md.contains(
            "## Detached constraints\n\n- **Minor** · Cost · Addressed — late\n  - Raised by eng\n"
        ),
        "{md}"
    );
    let back = markdown::import(&md, author("x", 4), NOW, &mut rng(4)).expect("import");
    assert_eq!(back.view().detached.len(), 1);
    assert_eq!(markdown::export(&back.view()), md);
}

#[test]
fn malformed_markdown_is_refused_with_its_line() {
    let cases = [
        ("", 1),
        ("no title", 1),
        ("# T\n\nstray paragraph", 3),
        ("# T\n\n## User stories\n\n- **As a** x", 5),
        ("# T\n\n## User stories\n\n### Story 1 · Someday", 5),
        ("# T\n\n## Success metrics\n\n- no target", 5),
        (
            "# T\n\n## Decision log\n\n### D\n\n- **Stories:** Story 9",
            1,
        ),
        (
            "# T\n\n## Decision log\n\n### D\n\n- **Decided by** a **on** yesterday",
            7,
        ),
        ("# T\n\n## Problem\n\none\n\ntwo", 7),
    ];
    for (md, line) in cases {
        let err = markdown::import(md, author("x", 1), NOW, &mut rng(1)).expect_err(md);
        assert_eq!(err.line, line, "{md:?}: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn export_import_export_is_identical(ops in proptest::collection::vec(ops::op(), 0..80), seed in any::<u64>()) {
        let mut spec = Spec::new(author("pm", seed));
        let mut ids = rng(seed);
        let mut ledger = Ledger::default();
        for (t, op) in ops.iter().enumerate() {
            ops::apply(&mut spec, op, &mut ids, &mut ledger, UnixMillis(NOW.0 + t as i64));
        }
        let view = spec.view();
        let md = markdown::export(&view);
        let back = markdown::import(&md, author("eng", seed ^ 1), NOW, &mut ids)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{md}")))?;
        prop_assert_eq!(markdown::export(&back.view()), md);
        prop_assert_eq!(without_ids(&back.view()), without_ids(&view));
    }

    #[test]
    fn escape_round_trips_any_text(text in any::<String>()) {
        prop_assert_eq!(unescape(&escape(&text)), text);
    }

    #[test]
    fn import_never_panics_on_arbitrary_text(md in any::<String>()) {
        let _ = markdown::import(&md, author("x", 1), NOW, &mut rng(1));
    }

    #[test]
    fn import_never_panics_on_mangled_exports(cut in any::<prop::sample::Index>(), junk in "[#*\\-\\[\\] x·—\n]{0,8}") {
        let md = SAMPLE_MD;
        let at = cut.index(md.len() + 1);
        let at = (0..=at).rev().find(|i| md.is_char_boundary(*i)).unwrap_or(0);
        let mangled = format!("{}{}{}", &md[..at], junk, &md[at..]);
        let _ = markdown::import(&mangled, author("x", 1), NOW, &mut rng(1));
    }
}
