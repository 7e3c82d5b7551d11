//! Per-author undo and redo: a step reverts exactly what its author did, never what others wrote, comes back exactly on redo, and replicas still converge.

use crate::common;

use std::collections::BTreeSet;

use common::ops::{self, Ledger, Op};
use common::{author, rng, NOW};
use duet_model::automerge::{AutoCommit, ObjId, ObjType, ReadDoc, Value, ROOT};
use duet_model::{
    AnchorSpan, Author, ConstraintKind, CriterionKind, ItemId, NewConstraint, NewStory, Severity,
    Spec, StoryField, StoryStatus, TextField, UndoStack, UnixMillis,
};
use proptest::prelude::*;

fn at(ms: i64) -> UnixMillis {
    UnixMillis(NOW.0 + ms)
}

/// A person with a replica and an undo stack.
struct Person {
    author: Author,
    doc: AutoCommit,
    stack: UndoStack,
}

impl Person {
    fn new(name: &str, seed: u64, doc: &AutoCommit) -> Person {
        Person {
            author: author(name, seed),
            doc: doc.clone(),
            stack: UndoStack::new(),
        }
    }

    fn edit(
        &mut self,
        now: UnixMillis,
        f: impl FnOnce(&mut Spec) -> Result<(), duet_model::EditError>,
    ) {
        self.stack
            .record(&mut self.doc, &self.author, now, f)
            .expect("a spec")
            .expect("edit applies");
    }

    /// Types `text` at `pos` of `field` one character per 100 ms from `start`.
    fn type_at(&mut self, field: &TextField, pos: usize, text: &str, start: i64) {
        let mut pos = pos;
        for (i, ch) in text.chars().enumerate() {
            let s = ch.to_string();
            self.edit(at(start + 100 * i as i64), |spec| {
                spec.splice(field, pos, 0, &s, at(start))
            });
            pos += ch.len_utf16();
        }
    }

    fn undo(&mut self, now: i64) -> Option<duet_model::Undone> {
        self.stack
            .undo(&mut self.doc, &self.author, at(now))
            .expect("a spec")
    }

    fn redo(&mut self, now: i64) -> Option<duet_model::Undone> {
        self.stack
            .redo(&mut self.doc, &self.author, at(now))
            .expect("a spec")
    }

    fn text(&self, field: &TextField) -> String {
        field_text(&self.doc, field)
    }

    fn merge_from(&mut self, other: &Person) {
        let mut theirs = other.doc.clone();
        self.doc.merge(&mut theirs).expect("merge");
    }
}

/// The text of `field` (the kinds these tests type in).
fn field_text(doc: &AutoCommit, field: &TextField) -> String {
    let path: Vec<String> = match field {
        TextField::Title => vec!["title".into()],
        TextField::Problem => vec!["problem".into()],
        TextField::Metric { metric, field } => {
            vec![
                "metrics".into(),
                metric.to_string(),
                field.as_stored().into(),
            ]
        }
        TextField::Story { story, field } => {
            vec![
                "stories".into(),
                story.to_string(),
                field.as_stored().into(),
            ]
        }
        other => panic!("not used here: {other:?}"),
    };
    let mut obj = ROOT;
    for key in &path {
        match doc.get(&obj, key.as_str()) {
            Ok(Some((Value::Object(_), id))) => obj = id,
            _ => return String::new(),
        }
    }
    doc.text(&obj).unwrap_or_default()
}

fn view(doc: &AutoCommit) -> duet_model::SpecView {
    duet_model::view_of(doc)
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id).expect("a valid id")
}

fn start() -> (AutoCommit, ItemId) {
    let mut spec = Spec::new(author("setup", 99));
    let metric = item("m1");
    spec.add_metric(&metric, 0, "", "", NOW).expect("a metric");
    (spec.into_doc(), metric)
}

#[test]
fn undo_reverts_only_this_persons_last_typing_and_leaves_others_text() {
    let (doc, metric) = start();
    let mut pam = Person::new("pam", 1, &doc);
    let mut eli = Person::new("eli", 2, &doc);
    let name = TextField::Metric {
        metric,
        field: duet_model::MetricField::Name,
    };
    pam.type_at(&name, 0, "Export time", 0);
    pam.stack.seal(); // focus moves to Problem
    pam.type_at(&TextField::Problem, 0, "Pam problem sentence.", 5_000);
    eli.merge_from(&pam);
    let len = eli.text(&TextField::Problem).encode_utf16().count();
    eli.type_at(&TextField::Problem, len, " Eli addition.", 10_000);
    pam.merge_from(&eli);
    assert_eq!(
        pam.text(&TextField::Problem),
        "Pam problem sentence. Eli addition."
    );

    let undone = pam.undo(20_000).expect("something to undo");
    assert_eq!(undone.label, "typing in Problem");
    assert_eq!(pam.text(&TextField::Problem), " Eli addition.");
    assert_eq!(pam.text(&name), "Export time");

    let undone = pam.undo(21_000).expect("the metric's typing");
    assert_eq!(pam.text(&name), "");
    assert_eq!(
        undone.spot.map(|s| s.field),
        Some(name.clone()),
        "the undo says where it changed the spec"
    );
    assert!(
        undone.label.starts_with("typing in metric"),
        "{}",
        undone.label
    );
    assert_eq!(pam.undo(22_000), None, "nothing of Pam's is left to undo");

    pam.redo(23_000).expect("redo the metric");
    pam.redo(24_000).expect("redo Problem");
    assert_eq!(pam.text(&name), "Export time");
    assert_eq!(
        pam.text(&TextField::Problem),
        "Pam problem sentence. Eli addition.",
        "redo puts back exactly what was undone, once"
    );
    assert_eq!(pam.redo(25_000), None, "nothing more to redo");

    // Everyone converges on it.
    eli.merge_from(&pam);
    assert_eq!(view(&eli.doc), view(&pam.doc));
}

#[test]
fn typing_within_half_a_second_is_one_step_and_a_pause_or_focus_change_ends_it() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    pam.type_at(&TextField::Problem, 0, "abc", 0); // 100 ms apart: one step
    pam.type_at(&TextField::Problem, 3, "de", 2_000); // after a pause: another
    pam.stack.seal();
    pam.type_at(&TextField::Problem, 5, "f", 2_250); // after a focus change: another
    pam.type_at(&TextField::Title, 0, "T", 2_300); // another field: another
    assert_eq!(pam.stack.undo_label(), Some("typing in the title"));
    pam.undo(3_000);
    assert_eq!(pam.text(&TextField::Problem), "abcdef");
    pam.undo(3_100);
    assert_eq!(pam.text(&TextField::Problem), "abcde");
    pam.undo(3_200);
    assert_eq!(pam.text(&TextField::Problem), "abc");
    pam.undo(3_300);
    assert_eq!(pam.text(&TextField::Problem), "");
}

#[test]
fn undoing_a_deletion_then_the_typing_before_it_follows_the_characters_written_again() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    pam.type_at(&TextField::Problem, 0, "héllo 😀 world", 0);
    pam.stack.seal();
    pam.edit(at(5_000), |s| {
        s.splice(&TextField::Problem, 0, 6, "", at(5_000))
    });
    assert_eq!(pam.text(&TextField::Problem), "😀 world");
    pam.undo(6_000);
    assert_eq!(pam.text(&TextField::Problem), "héllo 😀 world");
    pam.undo(7_000);
    assert_eq!(pam.text(&TextField::Problem), "");
    pam.redo(8_000);
    pam.redo(9_000);
    assert_eq!(pam.text(&TextField::Problem), "😀 world");
    pam.undo(10_000);
    assert_eq!(pam.text(&TextField::Problem), "héllo 😀 world");
}

#[test]
fn a_removed_story_comes_back_with_its_criteria_constraints_and_anchors() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    let story = item("s1");
    let criterion = item("c1");
    let constraint = item("k1");
    pam.edit(at(0), |s| {
        s.add_story(
            &story,
            0,
            &NewStory {
                as_a: "PM".into(),
                i_want: "export to CSV".into(),
                so_that: "I can share".into(),
            },
            at(0),
        )
    });
    pam.edit(at(1_000), |s| {
        s.add_criterion(
            &story,
            &criterion,
            0,
            CriterionKind::Technical,
            "UTF-8 with BOM",
            at(1_000),
        )
    });
    pam.edit(at(2_000), |s| {
        s.add_constraint(
            &story,
            &constraint,
            0,
            &NewConstraint {
                kind: ConstraintKind::Performance,
                severity: Severity::Blocker,
                text: "under 2 s".into(),
                anchor: Some(AnchorSpan {
                    field: StoryField::IWant,
                    start: 10,
                    end: 13,
                }),
            },
            at(2_000),
        )
    });
    pam.edit(at(3_000), |s| {
        s.set_story_status(&story, StoryStatus::Ready, at(3_000))
    });
    let before = view(&pam.doc);
    pam.edit(at(4_000), |s| s.remove_story(&story, at(4_000)));
    assert!(view(&pam.doc).stories.is_empty());
    assert_eq!(
        pam.stack.undo_label(),
        Some("removing story “export to CSV”")
    );

    let undone = pam.undo(5_000).expect("undo the removal");
    assert_eq!(
        view(&pam.doc),
        before,
        "story, criterion, constraint and anchor are back"
    );
    assert!(
        view(&pam.doc).triage().is_empty(),
        "the anchor resolves on the new text"
    );
    assert!(matches!(
        undone.spot.map(|s| s.field),
        Some(TextField::Story { .. })
    ));
    // Older steps still find what the undo wrote again.
    pam.undo(6_000); // status
    assert_eq!(view(&pam.doc).stories[0].status, StoryStatus::Draft);
    pam.undo(7_000); // constraint
    assert_eq!(view(&pam.doc).all_constraints().count(), 0);
    assert_eq!(
        pam.stack.undo_label(),
        Some("adding criterion “UTF-8 with BOM”")
    );
    pam.undo(8_000); // criterion
    assert!(view(&pam.doc).stories[0].criteria.is_empty());
    pam.redo(9_000);
    pam.redo(9_100);
    pam.redo(9_200);
    assert_eq!(view(&pam.doc), before);
}

#[test]
fn a_deletion_undone_inside_an_anchored_span_gives_the_span_back_whole() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    let story = item("s1");
    let k = item("k1");
    let new = NewStory {
        as_a: "PM".into(),
        i_want: "the quick brown fox".into(),
        so_that: String::new(),
    };
    pam.edit(at(0), |s| s.add_story(&story, 0, &new, at(0)));
    let anchor = Some(AnchorSpan {
        field: StoryField::IWant,
        start: 4,
        end: 15,
    });
    pam.edit(at(1_000), |s| {
        s.add_constraint(
            &story,
            &k,
            0,
            &NewConstraint {
                kind: ConstraintKind::Other,
                severity: Severity::Minor,
                text: "x".into(),
                anchor,
            },
            at(1_000),
        )
    });
    let before = view(&pam.doc);
    let field = TextField::Story {
        story: story.clone(),
        field: StoryField::IWant,
    };
    pam.edit(at(2_000), |s| s.splice(&field, 4, 11, "", at(2_000)));
    assert!(
        !view(&pam.doc).triage().is_empty(),
        "the span's text is gone"
    );
    pam.undo(3_000);
    assert_eq!(view(&pam.doc), before);
}

#[test]
fn what_others_changed_since_is_never_reverted() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    let mut eli = Person::new("eli", 2, &doc);
    let story = item("s1");
    pam.edit(at(0), |s| {
        s.add_story(&story, 0, &NewStory::default(), at(0))
    });
    pam.edit(at(1_000), |s| {
        s.set_story_status(&story, StoryStatus::Ready, at(1_000))
    });
    eli.merge_from(&pam);
    eli.edit(at(2_000), |s| {
        s.set_story_status(&story, StoryStatus::Done, at(2_000))
    });
    let field = TextField::Story {
        story: story.clone(),
        field: StoryField::AsA,
    };
    eli.type_at(&field, 0, "engineer", 3_000);
    pam.merge_from(&eli);

    // Pam's status change was overwritten by Eli, and Eli wrote in Pam's story: Pam's
    // undos skip both (the stack empties) rather than force them.
    assert_eq!(pam.undo(10_000), None);
    let v = view(&pam.doc);
    assert_eq!(v.stories.len(), 1, "the story Eli wrote in stays");
    assert_eq!(v.stories[0].status, StoryStatus::Done);
    assert_eq!(pam.text(&field), "engineer");
}

#[test]
fn a_new_edit_of_ones_own_clears_redo_but_others_edits_do_not() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    let mut eli = Person::new("eli", 2, &doc);
    pam.type_at(&TextField::Problem, 0, "one", 0);
    pam.undo(1_000);
    assert!(pam.stack.redo_label().is_some());
    eli.type_at(&TextField::Title, 0, "T", 1_500);
    pam.merge_from(&eli);
    assert_eq!(pam.stack.redo_label(), Some("typing in Problem"));
    pam.type_at(&TextField::Title, 0, "x", 2_000);
    assert_eq!(pam.stack.redo_label(), None);
}

#[test]
fn concurrent_typing_at_the_same_place_is_untouched_by_an_undo() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    let mut eli = Person::new("eli", 2, &doc);
    pam.type_at(&TextField::Problem, 0, "ab", 0);
    eli.merge_from(&pam);
    // Both type at the end at once, offline from each other.
    pam.type_at(&TextField::Problem, 2, "PAM", 1_000);
    eli.type_at(&TextField::Problem, 2, "ELI", 1_000);
    pam.merge_from(&eli);
    eli.merge_from(&pam);
    let both = pam.text(&TextField::Problem);
    assert!(both == "abPAMELI" || both == "abELIPAM", "{both}");
    pam.undo(5_000);
    assert_eq!(pam.text(&TextField::Problem), "abELI");
    eli.merge_from(&pam);
    assert_eq!(eli.text(&TextField::Problem), "abELI");
}

// ---- properties ----

/// Every visible part of the document (map entries and characters) with who wrote it.
fn atoms(doc: &AutoCommit) -> BTreeSet<(String, String)> {
    fn walk(doc: &AutoCommit, obj: &ObjId, path: &str, out: &mut BTreeSet<(String, String)>) {
        let who = |id: &ObjId| match id {
            ObjId::Id(ctr, actor, _) => {
                let user = Author::from_actor(actor)
                    .map(|a| a.user().as_str().to_owned())
                    .unwrap_or_default();
                (format!("{ctr}@{actor}"), user)
            }
            ObjId::Root => (String::new(), String::new()),
        };
        match doc.object_type(obj) {
            Ok(ObjType::Map) => {
                for item in doc.map_range(obj, ..) {
                    let (op, user) = who(&item.id);
                    out.insert((format!("{path}/{}={op}", item.key), user));
                    if let Value::Object(_) = item.value {
                        walk(doc, &item.id, &format!("{path}/{}", item.key), out);
                    }
                }
            }
            Ok(ObjType::Text) => {
                for item in doc.list_range(obj, ..) {
                    let (op, user) = who(&item.id);
                    out.insert((format!("{path}#{op}"), user));
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(doc, &ROOT, "", &mut out);
    out
}

/// Others' part of `atoms`. An anchor's ends are left out: an undo that puts words back
/// points the anchors that were on them at them again, whoever raised the constraint.
fn others(atoms: &BTreeSet<(String, String)>, me: &str) -> BTreeSet<String> {
    atoms
        .iter()
        .filter(|(a, _)| !a.contains("/anchor/start=") && !a.contains("/anchor/end="))
        .filter(|(_, user)| user != me && !user.is_empty())
        .map(|(a, _)| a.clone())
        .collect()
}

/// What a step of a random run does.
#[derive(Debug, Clone)]
enum Act {
    Edit { person: u8, op: Op },
    Undo { person: u8 },
    Redo { person: u8 },
    Merge { from: u8, to: u8 },
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => (any::<u8>(), ops::op()).prop_map(|(person, op)| Act::Edit { person, op }),
        3 => any::<u8>().prop_map(|person| Act::Undo { person }),
        1 => any::<u8>().prop_map(|person| Act::Redo { person }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(from, to)| Act::Merge { from, to }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Alone, every undo gives back exactly the spec as it was before that step, and
    /// redoing them all gives back the spec as it was at the end.
    #[test]
    fn alone_undo_walks_back_through_every_version_and_redo_walks_forward(
        edits in proptest::collection::vec(ops::op(), 1..20),
        seed in any::<u64>(),
    ) {
        let (doc, _) = start();
        let mut pam = Person::new("pam", 1, &doc);
        let mut rng = rng(seed);
        let mut ledger = Ledger::default();
        let mut versions = vec![view(&pam.doc)];
        for (i, op) in edits.iter().enumerate() {
            let now = at(1_000 * i as i64);
            let heads = pam.doc.get_heads();
            pam.stack.record(&mut pam.doc, &pam.author.clone(), now, |s| {
                ops::apply(s, op, &mut rng, &mut ledger, now);
                Ok(())
            }).expect("a spec").expect("applies");
            // Each edit that changed the document is a step (a second apart: never merged).
            if pam.doc.get_heads() != heads {
                versions.push(view(&pam.doc));
            }
        }
        let last = versions.len() - 1;
        for i in (0..last).rev() {
            prop_assert!(pam.undo(100_000 + i as i64).is_some(), "an undo for every change");
            prop_assert_eq!(&view(&pam.doc), &versions[i], "undo {} steps back", last - i);
        }
        prop_assert!(pam.undo(200_000).is_none());
        for (i, version) in versions.iter().enumerate().skip(1) {
            prop_assert!(pam.redo(300_000 + i as i64).is_some());
            prop_assert_eq!(&view(&pam.doc), version, "redo to version {}", i);
        }
    }

    /// Two or three people edit, undo, redo and merge in a random order: an undo or redo
    /// never removes or changes anything another person wrote, an undo followed at once
    /// by a redo gives the same spec back, and everyone converges.
    #[test]
    fn undo_never_touches_others_work_and_replicas_converge(
        people in 2usize..=3,
        acts in proptest::collection::vec(act(), 1..40),
        seed in any::<u64>(),
    ) {
        let (doc, _) = start();
        let names = ["pam", "eli", "vic"];
        let mut team: Vec<Person> = (0..people)
            .map(|i| Person::new(names[i], i as u64 + 1, &doc))
            .collect();
        let mut rng = rng(seed);
        let mut ledger = Ledger::default();
        for (i, a) in acts.iter().enumerate() {
            let now = at(1_000 * i as i64);
            match a {
                Act::Edit { person, op } => {
                    let p = &mut team[usize::from(*person) % people];
                    let who = p.author.clone();
                    p.stack.record(&mut p.doc, &who, now, |s| {
                        ops::apply(s, op, &mut rng, &mut ledger, now);
                        Ok(())
                    }).expect("a spec").expect("applies");
                }
                Act::Undo { person } | Act::Redo { person } => {
                    let p = &mut team[usize::from(*person) % people];
                    let me = p.author.user().as_str().to_owned();
                    let theirs = others(&atoms(&p.doc), &me);
                    let before = view(&p.doc);
                    let undo = matches!(a, Act::Undo { .. });
                    let did = if undo { p.undo(i as i64) } else { p.redo(i as i64) };
                    let after = others(&atoms(&p.doc), &me);
                    let lost: Vec<&String> = theirs.difference(&after).collect();
                    prop_assert!(lost.is_empty(), "{} removed others' work: {:?}", me, lost);
                    if undo && did.is_some() {
                        p.redo(i as i64);
                        prop_assert_eq!(view(&p.doc), before, "undo then redo gives the spec back");
                        p.undo(i as i64);
                    }
                }
                Act::Merge { from, to } => {
                    let (from, to) = (usize::from(*from) % people, usize::from(*to) % people);
                    if from != to {
                        let mut theirs = team[from].doc.clone();
                        team[to].doc.merge(&mut theirs).expect("merge");
                    }
                }
            }
        }
        for i in 0..people {
            for j in 0..people {
                if i != j {
                    let mut theirs = team[j].doc.clone();
                    team[i].doc.merge(&mut theirs).expect("merge");
                }
            }
        }
        let first = view(&team[0].doc);
        for p in &team[1..] {
            prop_assert_eq!(&view(&p.doc), &first);
        }
    }
}

#[test]
fn redoing_a_deletion_of_anchored_words_sends_the_constraint_back_to_triage() {
    let (doc, _) = start();
    let mut vic = Person::new("vic", 3, &doc);
    let story = item("s1");
    let k = item("k1");
    let new = NewStory {
        as_a: "a".into(),
        ..NewStory::default()
    };
    vic.edit(at(0), |s| s.add_story(&story, 0, &new, at(0)));
    let anchor = Some(AnchorSpan {
        field: StoryField::AsA,
        start: 0,
        end: 1,
    });
    let c = NewConstraint {
        kind: ConstraintKind::Other,
        severity: Severity::Minor,
        text: String::new(),
        anchor,
    };
    vic.edit(at(1_000), |s| {
        s.add_constraint(&story, &k, 0, &c, at(1_000))
    });
    let field = TextField::Story {
        story: story.clone(),
        field: StoryField::AsA,
    };
    vic.edit(at(2_000), |s| s.splice(&field, 0, 1, "", at(2_000)));
    let orphaned = view(&vic.doc);
    assert_eq!(orphaned.triage().len(), 1);
    vic.undo(3_000);
    assert!(view(&vic.doc).triage().is_empty());
    eprintln!("{:?}", vic.stack);
    vic.redo(4_000);
    assert_eq!(view(&vic.doc), orphaned);
}

#[test]
fn deleting_after_typing_and_a_paste_are_steps_of_their_own_within_a_burst() {
    let (doc, _) = start();
    let mut pam = Person::new("pam", 1, &doc);
    pam.type_at(&TextField::Problem, 0, "alpha beta gamma", 0);
    // Delete-word right after typing (Ctrl+Backspace), then a paste, all in one burst.
    pam.edit(at(1_700), |s| {
        s.splice(&TextField::Problem, 11, 5, "", at(1_700))
    });
    pam.edit(at(1_800), |s| {
        s.splice(&TextField::Problem, 11, 0, "delta", at(1_800))
    });
    assert_eq!(pam.text(&TextField::Problem), "alpha beta delta");
    pam.undo(2_000);
    assert_eq!(pam.text(&TextField::Problem), "alpha beta ");
    pam.undo(2_100);
    assert_eq!(pam.text(&TextField::Problem), "alpha beta gamma");
    pam.undo(2_200);
    assert_eq!(pam.text(&TextField::Problem), "");
}
