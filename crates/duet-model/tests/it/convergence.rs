//! Property tests: 2–5 replicas make random concurrent edits, merge in random orders, and must end identical with nothing duplicated or lost.

use crate::common;

use std::collections::HashSet;

use common::ops::{self, merge, step, Ledger, Step};
use common::{author, rng, NOW};
use duet_model::{markdown, Anchor, ItemId, Spec, UnixMillis};
use proptest::prelude::*;

fn check_invariants(spec: &Spec, ledger: &Ledger) -> Result<(), TestCaseError> {
    let v = spec.view();
    // Stories: exactly those created and not removed.
    let stories: HashSet<ItemId> = v.stories.iter().map(|s| s.id.clone()).collect();
    prop_assert_eq!(stories.len(), v.stories.len(), "a story is duplicated");
    let expected: HashSet<ItemId> = ledger
        .stories
        .difference(&ledger.removed_stories)
        .cloned()
        .collect();
    prop_assert_eq!(&stories, &expected);
    // Criteria: created, not removed, and their story still exists.
    let criteria: Vec<ItemId> = v
        .stories
        .iter()
        .flat_map(|s| s.criteria.iter().map(|c| c.id.clone()))
        .collect();
    let criteria_set: HashSet<ItemId> = criteria.iter().cloned().collect();
    prop_assert_eq!(
        criteria.len(),
        criteria_set.len(),
        "a criterion is duplicated"
    );
    let expected: HashSet<ItemId> = ledger
        .criteria
        .iter()
        .filter(|(s, c)| expected.contains(s) && !ledger.removed_criteria.contains(c))
        .map(|(_, c)| c.clone())
        .collect();
    prop_assert_eq!(&criteria_set, &expected);
    // Constraints: every one not explicitly removed is shown exactly once, in a track or detached.
    let constraints: Vec<ItemId> = v.all_constraints().map(|c| c.id.clone()).collect();
    let constraint_set: HashSet<ItemId> = constraints.iter().cloned().collect();
    prop_assert_eq!(
        constraints.len(),
        constraint_set.len(),
        "a constraint is duplicated"
    );
    let expected: HashSet<ItemId> = ledger
        .constraints
        .difference(&ledger.removed_constraints)
        .cloned()
        .collect();
    prop_assert_eq!(&constraint_set, &expected);
    // Each constraint either resolves to its story's text or is reported for triage.
    for s in &v.stories {
        for c in &s.constraints {
            if let Anchor::Span {
                field,
                start,
                end,
                text,
            } = &c.anchor
            {
                let units: Vec<u16> = s.field(*field).encode_utf16().collect();
                prop_assert!(start < end && *end <= units.len());
                prop_assert_eq!(&String::from_utf16_lossy(&units[*start..*end]), text);
            }
        }
    }
    let triage: HashSet<ItemId> = v.triage().iter().map(|c| c.id.clone()).collect();
    for c in v.all_constraints() {
        let resolvable = matches!(c.anchor, Anchor::Story | Anchor::Span { .. })
            && !v.detached.iter().any(|d| d.id == c.id);
        prop_assert!(
            resolvable != triage.contains(&c.id),
            "constraint {} neither placed nor in triage",
            c.id
        );
    }
    // Decisions, questions and metrics.
    let others: Vec<ItemId> = v
        .decisions
        .iter()
        .map(|d| d.id.clone())
        .chain(v.questions.iter().map(|q| q.id.clone()))
        .chain(v.metrics.iter().map(|m| m.id.clone()))
        .collect();
    let other_set: HashSet<ItemId> = others.iter().cloned().collect();
    prop_assert_eq!(others.len(), other_set.len());
    let expected: HashSet<ItemId> = ledger
        .others
        .difference(&ledger.removed_others)
        .cloned()
        .collect();
    prop_assert_eq!(&other_set, &expected);
    // Every view renders.
    let md = markdown::export(&v);
    prop_assert!(md.starts_with('#'));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_with_nothing_duplicated_or_lost(
        n in 2usize..=5,
        steps in proptest::collection::vec(step(), 1..120),
        order in Just(()).prop_perturb(|_, mut r| { let mut p: Vec<usize> = (0..5).collect(); for i in (1..5).rev() { p.swap(i, (r.next_u32() as usize) % (i + 1)); } p }),
        seed in any::<u64>(),
    ) {
        // Every replica starts its own copy of the spec: the shared skeleton must not duplicate.
        let mut replicas: Vec<Spec> = (0..n).map(|i| Spec::new(author(&format!("user{i}"), seed ^ i as u64))).collect();
        let mut ids = rng(seed);
        let mut ledger = Ledger::default();
        for (t, step) in steps.iter().enumerate() {
            let now = UnixMillis(NOW.0 + t as i64 * 1000);
            match step {
                Step::Edit { replica, op } => {
                    let r = usize::from(*replica) % n;
                    ops::apply(&mut replicas[r], op, &mut ids, &mut ledger, now);
                }
                Step::Merge { from, to } => merge(&mut replicas, usize::from(*from) % n, usize::from(*to) % n),
            }
        }
        // Merge everything in a random order: the first in `order` gathers, then spreads.
        let order: Vec<usize> = order.into_iter().filter(|i| *i < n).collect();
        for &from in &order[1..] {
            merge(&mut replicas, from, order[0]);
        }
        for &to in &order[1..] {
            merge(&mut replicas, order[0], to);
        }
        let heads = replicas[0].doc_mut().get_heads();
        let view = replicas[0].view();
        for r in replicas.iter_mut().skip(1) {
            prop_assert_eq!(r.doc_mut().get_heads(), heads.clone());
            prop_assert_eq!(r.view(), view.clone());
        }
        check_invariants(&replicas[0], &ledger)?;
        // The saved document loads back to the same view.
        let saved = replicas[0].save();
        let loaded = Spec::load(&saved, author("reader", 1)).expect("a saved spec loads");
        prop_assert_eq!(loaded.view(), view);
    }
}

#[test]
fn concurrent_moves_of_one_story_keep_it_once() {
    let mut a = Spec::new(author("a", 1));
    let mut r = rng(5);
    let ids: Vec<ItemId> = (0..4).map(|_| ItemId::random(&mut r)).collect();
    for (i, id) in ids.iter().enumerate() {
        a.add_story(id, i, &duet_model::NewStory::default(), NOW)
            .expect("add");
    }
    let mut b = Spec::load(&a.save(), author("b", 2)).expect("load");
    a.move_story(&ids[0], 4, NOW).expect("a moves to the end");
    b.move_story(&ids[0], 2, NOW)
        .expect("b moves to the middle");
    a.merge(&mut b).expect("merge");
    b.merge(&mut a).expect("merge");
    let va = a.view();
    assert_eq!(va, b.view());
    assert_eq!(va.stories.len(), 4);
    assert_eq!(va.stories.iter().filter(|s| s.id == ids[0]).count(), 1);
}

#[test]
fn removing_a_story_while_another_replica_adds_a_criterion_converges() {
    let mut pm = Spec::new(author("pm", 1));
    let s = ItemId::parse("s1").expect("id");
    pm.add_story(&s, 0, &duet_model::NewStory::default(), NOW)
        .expect("add");
    let mut eng = Spec::load(&pm.save(), author("eng", 2)).expect("load");
    let c = ItemId::parse("c1").expect("id");
    eng.add_criterion(
        &s,
        &c,
        0,
        duet_model::CriterionKind::Technical,
        "p99 < 100 ms",
        NOW,
    )
    .expect("criterion");
    pm.remove_story(&s, NOW).expect("remove");
    pm.merge(&mut eng).expect("merge");
    eng.merge(&mut pm).expect("merge");
    let v = pm.view();
    assert_eq!(v, eng.view());
    // The story and everything inside it is gone on both sides; nothing dangles.
    assert!(v.stories.is_empty());
    assert!(v.triage().is_empty());
}
