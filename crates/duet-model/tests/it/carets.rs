//! Carets held as Automerge cursors stay on the same characters while others edit the field.

use crate::common;

use common::{author, NOW};
use duet_model::{caret_at, caret_position, Spec, TextField};

fn pair(text: &str) -> (Spec, Spec) {
    let mut a = Spec::new(author("ada", 1));
    a.splice(&TextField::Title, 0, 0, text, NOW)
        .expect("splice");
    let mut b = Spec::new(author("bo", 2));
    b.merge(&mut a).expect("merge");
    (a, b)
}

fn sync(from: &mut Spec, to: &mut Spec) {
    to.merge(from).expect("merge");
}

#[test]
fn a_caret_stays_on_its_text_when_another_person_inserts_before_it() {
    let (mut a, mut b) = pair("hello world");
    let caret = caret_at(a.doc(), &TextField::Title, 5).expect("caret");
    b.splice(&TextField::Title, 0, 0, "😀 結帳 ", NOW)
        .expect("splice");
    sync(&mut b, &mut a);
    let at = caret_position(a.doc(), &TextField::Title, &caret).expect("position");
    let text: Vec<u16> = duet_model::view_of(a.doc()).title.encode_utf16().collect();
    assert_eq!(String::from_utf16_lossy(&text[..at]), "😀 結帳 hello");
}

#[test]
fn text_inserted_at_the_caret_by_someone_else_lands_after_it() {
    let (mut a, mut b) = pair("ab");
    let caret = caret_at(a.doc(), &TextField::Title, 1).expect("caret");
    b.splice(&TextField::Title, 1, 0, "XYZ", NOW)
        .expect("splice");
    sync(&mut b, &mut a);
    assert_eq!(caret_position(a.doc(), &TextField::Title, &caret), Some(1));
}

#[test]
fn a_caret_whose_neighbours_are_deleted_stays_between_the_survivors() {
    let (mut a, mut b) = pair("abcdef");
    let caret = caret_at(a.doc(), &TextField::Title, 3).expect("caret");
    b.splice(&TextField::Title, 1, 4, "", NOW).expect("splice");
    sync(&mut b, &mut a);
    assert_eq!(duet_model::view_of(a.doc()).title, "af");
    assert_eq!(caret_position(a.doc(), &TextField::Title, &caret), Some(1));
}

#[test]
fn a_caret_at_the_end_stays_at_the_end_of_the_local_text() {
    let (mut a, mut b) = pair("ab");
    let end = caret_at(a.doc(), &TextField::Title, 2).expect("caret");
    let start = caret_at(a.doc(), &TextField::Title, 0).expect("caret");
    b.splice(&TextField::Title, 0, 0, "é", NOW).expect("splice");
    sync(&mut b, &mut a);
    assert_eq!(caret_position(a.doc(), &TextField::Title, &end), Some(3));
    assert_eq!(caret_position(a.doc(), &TextField::Title, &start), Some(0));
}

#[test]
fn a_caret_in_a_removed_field_has_no_position() {
    let mut a = Spec::new(author("ada", 1));
    let mut rng = common::rng(3);
    let story = common::id(&mut rng);
    a.add_story(&story, 0, &Default::default(), NOW)
        .expect("story");
    let field = TextField::Story {
        story: story.clone(),
        field: duet_model::StoryField::IWant,
    };
    let caret = caret_at(a.doc(), &field, 0).expect("caret in an empty field");
    a.remove_story(&story, NOW).expect("remove");
    assert_eq!(caret_position(a.doc(), &field, &caret), None);
}

#[test]
fn edits_in_place_change_a_held_replica_as_the_given_author() {
    let (mut a, _) = pair("ab");
    let mut doc = a.doc_mut().clone();
    let bo = author("bo", 9);
    duet_model::Spec::edit_in_place(&mut doc, &bo, |spec| {
        spec.splice(&TextField::Title, 2, 0, "c", NOW)
    })
    .expect("a spec")
    .expect("the edit");
    assert_eq!(duet_model::view_of(&doc).title, "abc");
    let last = doc
        .get_changes(&[])
        .last()
        .map(|c| duet_model::change_author(c));
    assert_eq!(
        last.flatten()
            .map(|a| a.user().as_str().to_owned())
            .as_deref(),
        Some("bo")
    );
    let mut plain = duet_model::automerge::AutoCommit::new();
    assert!(duet_model::Spec::edit_in_place(&mut plain, &bo, |_| ()).is_err());
}
