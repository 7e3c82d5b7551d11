//! Merge review: the places both an offline replica and others changed while apart are found exactly, with each side's characters attributed.

use crate::common;

use common::{author, id, rng, NOW};
use duet_model::automerge::ChangeHash;
use duet_model::{
    overlaps, CriterionKind, ItemId, NewStory, Place, Side, Spec, StoryField, TextField,
};
use proptest::prelude::*;

struct Apart {
    /// The offline replica and the server's copy, which others kept editing.
    ours: Spec,
    theirs: Spec,
    base: Vec<ChangeHash>,
    story: ItemId,
    criterion: ItemId,
}

/// A spec with one story and one criterion, held by both, then split.
fn apart() -> Apart {
    let mut r = rng(7);
    let story = id(&mut r);
    let criterion = id(&mut r);
    let mut theirs = Spec::new(author("bo", 2));
    theirs
        .set_text(&TextField::Title, "Export", NOW)
        .expect("title");
    theirs
        .add_story(
            &story,
            0,
            &NewStory {
                as_a: "analyst".into(),
                i_want: "a CSV".into(),
                so_that: "I can chart it".into(),
            },
            NOW,
        )
        .expect("story");
    theirs
        .add_criterion(
            &story,
            &criterion,
            0,
            CriterionKind::Technical,
            "UTF-8",
            NOW,
        )
        .expect("criterion");
    let mut ours = Spec::new(author("ada", 1));
    ours.merge(&mut theirs).expect("merge");
    let base = ours.doc_mut().get_heads();
    Apart {
        ours,
        theirs,
        base,
        story,
        criterion,
    }
}

/// Brings the others' changes in and returns the review.
fn reconnect(a: &mut Apart) -> Vec<duet_model::Overlap> {
    let ours_heads = a.ours.doc_mut().get_heads();
    a.ours.merge(&mut a.theirs).expect("merge");
    overlaps(a.ours.doc_mut(), &a.base, &ours_heads)
}

fn places(review: &[duet_model::Overlap]) -> Vec<Place> {
    review.iter().map(|o| o.place.clone()).collect()
}

#[test]
fn both_editing_one_field_is_listed_with_each_sides_characters_and_author() {
    let mut a = apart();
    a.ours
        .splice(&TextField::Title, 6, 0, " to CSV", NOW)
        .expect("ours");
    a.theirs
        .splice(&TextField::Title, 0, 0, "😀 結帳 ", NOW)
        .expect("theirs");
    let review = reconnect(&mut a);
    assert_eq!(places(&review), vec![Place::Text(TextField::Title)]);
    let o = &review[0];
    assert_eq!(
        o.ours.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        ["ada"]
    );
    assert_eq!(
        o.theirs.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        ["bo"]
    );
    assert_eq!(o.text, duet_model::view_of(a.ours.doc()).title);
    let text: Vec<u16> = o.text.encode_utf16().collect();
    let runs: Vec<(String, Side, String)> = o
        .contributions
        .iter()
        .map(|c| {
            (
                String::from_utf16_lossy(&text[c.start..c.end]),
                c.side,
                c.author
                    .as_ref()
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        vec![
            ("😀 結帳 ".to_owned(), Side::Theirs, "bo".to_owned()),
            (" to CSV".to_owned(), Side::Ours, "ada".to_owned()),
        ]
    );
}

#[test]
fn edits_to_different_fields_are_not_listed_even_in_the_same_story() {
    let mut a = apart();
    let as_a = TextField::Story {
        story: a.story.clone(),
        field: StoryField::AsA,
    };
    let so_that = TextField::Story {
        story: a.story.clone(),
        field: StoryField::SoThat,
    };
    a.ours.splice(&as_a, 0, 0, "senior ", NOW).expect("ours");
    a.ours
        .splice(&TextField::Problem, 0, 0, "Slow", NOW)
        .expect("ours");
    a.theirs.splice(&so_that, 0, 0, "so ", NOW).expect("theirs");
    a.theirs
        .splice(&TextField::Title, 0, 0, "CSV ", NOW)
        .expect("theirs");
    assert_eq!(reconnect(&mut a), vec![]);
}

#[test]
fn stories_and_criteria_added_on_both_sides_are_not_overlaps() {
    let mut a = apart();
    let mut r = rng(99);
    for spec in [&mut a.ours, &mut a.theirs] {
        let s = id(&mut r);
        spec.add_story(&s, 0, &NewStory::default(), NOW)
            .expect("story");
        spec.add_criterion(&a.story, &id(&mut r), 0, CriterionKind::Ux, "fast", NOW)
            .expect("criterion");
    }
    assert_eq!(reconnect(&mut a), vec![]);
}

#[test]
fn settings_of_one_item_changed_on_both_sides_are_listed_as_that_item() {
    let mut a = apart();
    a.ours
        .set_criterion_done(&a.story, &a.criterion, true, NOW)
        .expect("ours");
    a.theirs
        .set_criterion_kind(&a.story, &a.criterion, CriterionKind::Business, NOW)
        .expect("theirs");
    assert_eq!(
        places(&reconnect(&mut a)),
        vec![Place::Item(a.criterion.clone())]
    );
}

#[test]
fn removing_a_story_the_other_side_was_editing_is_listed() {
    let mut a = apart();
    let criterion = TextField::Criterion {
        story: a.story.clone(),
        criterion: a.criterion.clone(),
    };
    a.ours.splice(&criterion, 5, 0, " only", NOW).expect("ours");
    a.theirs.remove_story(&a.story, NOW).expect("theirs");
    assert_eq!(
        places(&reconnect(&mut a)),
        vec![Place::Item(a.story.clone())]
    );
}

#[test]
fn changes_made_after_seeing_ours_are_not_concurrent() {
    let mut a = apart();
    a.ours
        .splice(&TextField::Title, 0, 0, "A", NOW)
        .expect("ours");
    let ours_heads = a.ours.doc_mut().get_heads();
    // The server gets ours first; someone then edits the same field knowingly.
    a.theirs.merge(&mut a.ours).expect("merge");
    a.theirs
        .splice(&TextField::Title, 0, 0, "B", NOW)
        .expect("theirs");
    a.ours.merge(&mut a.theirs).expect("merge");
    assert_eq!(overlaps(a.ours.doc_mut(), &a.base, &ours_heads), vec![]);
}

#[test]
fn nothing_is_listed_when_only_one_side_changed_anything() {
    let mut a = apart();
    a.ours
        .splice(&TextField::Title, 0, 0, "A", NOW)
        .expect("ours");
    assert_eq!(reconnect(&mut a), vec![]);
    let mut b = apart();
    b.theirs
        .splice(&TextField::Title, 0, 0, "B", NOW)
        .expect("theirs");
    assert_eq!(reconnect(&mut b), vec![]);
}

fn field_of(n: u8, story: &ItemId, criterion: &ItemId) -> TextField {
    match n % 5 {
        0 => TextField::Title,
        1 => TextField::Problem,
        2 => TextField::Story {
            story: story.clone(),
            field: StoryField::IWant,
        },
        3 => TextField::Story {
            story: story.clone(),
            field: StoryField::SoThat,
        },
        _ => TextField::Criterion {
            story: story.clone(),
            criterion: criterion.clone(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Inserting into random fields on both sides: the review lists exactly the fields
    /// both sides typed in, and every character typed while apart is attributed to its side.
    #[test]
    fn the_review_lists_exactly_the_fields_both_sides_typed_in(
        ours in proptest::collection::vec((0u8..5, "[a-z😀]{1,4}"), 0..6),
        theirs in proptest::collection::vec((0u8..5, "[A-Z結]{1,4}"), 0..6),
    ) {
        let mut a = apart();
        let (s, c) = (a.story.clone(), a.criterion.clone());
        for (side, edits) in [(&mut a.ours, &ours), (&mut a.theirs, &theirs)] {
            for (n, text) in edits {
                side.splice(&field_of(*n, &s, &c), 0, 0, text, NOW).expect("splice");
            }
        }
        let review = reconnect(&mut a);
        let want: std::collections::BTreeSet<u8> = ours.iter().map(|e| e.0)
            .filter(|n| theirs.iter().any(|t| t.0 == *n)).collect();
        let want: Vec<Place> = want.iter().map(|n| Place::Text(field_of(*n, &s, &c))).collect();
        let mut got = places(&review);
        got.sort();
        let mut want = want;
        want.sort();
        prop_assert_eq!(got, want);
        for o in &review {
            let Place::Text(field) = &o.place else { continue };
            let typed = |edits: &Vec<(u8, String)>| -> usize {
                edits.iter().filter(|e| field_of(e.0, &s, &c) == *field)
                    .map(|e| e.1.encode_utf16().count()).sum()
            };
            let width = |side: Side| -> usize {
                o.contributions.iter().filter(|r| r.side == side).map(|r| r.end - r.start).sum()
            };
            prop_assert_eq!(width(Side::Ours), typed(&ours));
            prop_assert_eq!(width(Side::Theirs), typed(&theirs));
        }
    }
}
