//! Automerge's clocks for past versions, checked against the plain answer on histories
//! written by many people at once (Duet's automerge copy caches those clocks
//! differently from upstream 0.6.1: `automerge/vendor/PATCHES.md`).

use std::collections::{BTreeSet, HashSet};

use automerge::{
    transaction::Transactable, ActorId, AutoCommit, Automerge, ChangeHash, ObjId, ObjType, ReadDoc,
    ROOT,
};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

/// A version some author saw, and the text they saw at it.
struct Seen {
    heads: Vec<ChangeHash>,
    text: String,
}

/// `authors` people type one character per change into one Text, each merging another
/// person's replica before a change with probability `merges`, so most changes are
/// concurrent with many others.
fn concurrent_history(
    seed: u64,
    authors: usize,
    changes: usize,
    merges: f64,
) -> (Vec<AutoCommit>, Vec<Seen>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut base = AutoCommit::new();
    let text = base
        .put_object(ROOT, "text", ObjType::Text)
        .expect("create the text");
    base.commit();
    let mut replicas: Vec<AutoCommit> = (0..authors)
        .map(|i| {
            let mut actor = [0xd0; 16];
            actor[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            base.fork().with_actor(ActorId::from(actor.to_vec()))
        })
        .collect();
    let mut seen = Vec::new();
    for _ in 0..changes {
        let who = rng.random_range(0..authors);
        if rng.random_bool(merges) {
            let from = rng.random_range(0..authors);
            if from != who {
                let mut other = replicas[from].clone();
                replicas[who].merge(&mut other).expect("merge replicas");
            }
        }
        let doc = &mut replicas[who];
        let len = doc.length(&text);
        let at = rng.random_range(0..=len);
        let c = char::from(b'a' + rng.random_range(0..26u8));
        doc.splice_text(&text, at, 0, &c.to_string())
            .expect("type a character");
        doc.commit();
        if rng.random_bool(0.1) {
            seen.push(Seen {
                heads: doc.get_heads(),
                text: doc.text(&text).expect("read the text"),
            });
        }
    }
    (replicas, seen)
}

fn text_obj(doc: &Automerge) -> ObjId {
    match doc.get(ROOT, "text").expect("read the root") {
        Some((_, id)) => id,
        None => panic!("the document has no text"),
    }
}

/// Every change of `doc` that `heads` do not include, walking dependencies one by one.
fn not_included(doc: &Automerge, heads: &[ChangeHash]) -> BTreeSet<ChangeHash> {
    let mut ancestors = HashSet::new();
    let mut to_visit = heads.to_vec();
    while let Some(hash) = to_visit.pop() {
        if ancestors.insert(hash) {
            let change = doc.get_change_by_hash(&hash).expect("every head is known");
            to_visit.extend(change.deps().iter().copied());
        }
    }
    doc.get_changes(&[])
        .into_iter()
        .map(|c| c.hash())
        .filter(|h| !ancestors.contains(h))
        .collect()
}

fn check_every_version(doc: &Automerge, seen: &[Seen], what: &str) {
    let text = text_obj(doc);
    for (i, version) in seen.iter().enumerate() {
        assert_eq!(
            doc.text_at(&text, &version.heads)
                .expect("read a past version"),
            version.text,
            "{what}: text at version {i}"
        );
        let changes: BTreeSet<ChangeHash> = doc
            .get_changes(&version.heads)
            .into_iter()
            .map(|c| c.hash())
            .collect();
        assert_eq!(
            changes,
            not_included(doc, &version.heads),
            "{what}: changes since version {i}"
        );
    }
}

/// `people` each type a character on their own replica of one version, then they merge
/// everyone's in turn and type on: one merge brings in `people` concurrent changes.
fn fan_in_history(seed: u64, people: usize) -> (Vec<AutoCommit>, Vec<Seen>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut replicas, mut seen) = concurrent_history(seed, people, people, 0.0);
    for round in 0..3 {
        for who in 0..people {
            if round == 0 && who == 0 {
                for other in 1..people {
                    let mut theirs = replicas[other].clone();
                    replicas[0].merge(&mut theirs).expect("merge everyone's");
                }
            } else {
                let mut previous = replicas[(who + people - 1) % people].clone();
                replicas[who]
                    .merge(&mut previous)
                    .expect("merge the previous one's");
            }
            let doc = &mut replicas[who];
            let text = text_obj(doc.document());
            let at = rng.random_range(0..=doc.length(&text));
            doc.splice_text(&text, at, 0, "x").expect("type");
            doc.commit();
            seen.push(Seen {
                heads: doc.get_heads(),
                text: doc.text(&text).expect("read the text"),
            });
        }
    }
    (replicas, seen)
}

fn check_history(seed: u64, (mut replicas, seen): (Vec<AutoCommit>, Vec<Seen>), what: &str) {
    let mut everything = replicas[0].clone();
    for other in replicas.iter_mut().skip(1) {
        everything.merge(other).expect("merge every replica");
    }
    let merged = everything.document().clone();
    check_every_version(&merged, &seen, &format!("{what}: merged"));

    let loaded = Automerge::load(&everything.save()).expect("load the saved history");
    check_every_version(&loaded, &seen, &format!("{what}: loaded"));

    // Changes arriving in any order (each waits for its dependencies) number the change
    // graph differently again.
    let mut changes: Vec<_> = merged.get_changes(&[]).into_iter().cloned().collect();
    changes.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut shuffled = Automerge::new();
    shuffled
        .apply_changes(changes)
        .expect("apply changes in any order");
    assert_eq!(shuffled.get_heads(), merged.get_heads());
    check_every_version(&shuffled, &seen, &format!("{what}: shuffled"));
}

#[test]
fn past_versions_of_a_history_typed_by_sixteen_people_at_once_read_exactly() {
    for seed in 1..=3 {
        let history = concurrent_history(seed, 16, 2_500, 0.15);
        assert!(history.1.len() > 150, "enough versions to check");
        check_history(seed, history, &format!("16 people, seed {seed}"));
    }
}

/// Forty people who rarely see each other's changes: a merge brings in many concurrent
/// changes at once.
#[test]
fn past_versions_of_a_history_of_long_separate_stretches_read_exactly() {
    for seed in 1..=2 {
        let history = concurrent_history(seed, 40, 3_000, 0.004);
        assert!(history.1.len() > 150, "enough versions to check");
        check_history(seed, history, &format!("40 people, seed {seed}"));
    }
}

/// 400 concurrent changes meet in one merge: more than one walk of the clock cache
/// visits, so the clocks of the changes it did not reach are cached first.
#[test]
fn past_versions_after_four_hundred_concurrent_changes_meet_read_exactly() {
    let history = fan_in_history(7, 400);
    check_history(7, history, "fan-in of 400");
}
