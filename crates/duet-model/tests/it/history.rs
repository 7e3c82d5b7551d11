//! History by author: versions, blame, restore, filters, sessions and diffs, checked against replays and shadow models.

use crate::common;

use std::collections::{BTreeSet, HashSet};

use common::ops::{self, merge, step, Ledger, Step};
use common::{author, rng, NOW};
use duet_model::automerge::{AutoCommit, ChangeHash};
use duet_model::history::{summary, ChangeMeta, Filter, History, PartFilter, Verb};
use duet_model::{
    blame, diff, view_at, view_of, ItemId, NewStory, RestoreScope, RunKind, Spec, SpecView,
    StoryField, StoryStatus, TextField, UnixMillis, UserId,
};
use proptest::prelude::*;
use rand::Rng;

/// Two or three replicas edit concurrently and merge at random; replica 0 ends with all.
fn edited(n: usize, steps: &[Step], seed: u64) -> Spec {
    let mut replicas: Vec<Spec> = (0..n)
        .map(|i| Spec::new(author(&format!("user{i}"), seed ^ i as u64)))
        .collect();
    let mut ids = rng(seed);
    let mut ledger = Ledger::default();
    for (t, step) in steps.iter().enumerate() {
        let now = UnixMillis(NOW.0 + t as i64 * 1000);
        match step {
            Step::Edit { replica, op } => {
                let r = usize::from(*replica) % n;
                ops::apply(&mut replicas[r], op, &mut ids, &mut ledger, now);
            }
            Step::Merge { from, to } => {
                merge(&mut replicas, usize::from(*from) % n, usize::from(*to) % n)
            }
        }
    }
    for from in 1..n {
        merge(&mut replicas, from, 0);
    }
    replicas.swap_remove(0)
}

fn history_of(doc: &mut AutoCommit) -> History {
    let mut h = History::new();
    h.update(doc.get_changes(&[]), |_| ChangeMeta::default());
    h
}

/// The changes that are `heads` or their ancestors, replayed into a fresh document.
fn replay(doc: &mut AutoCommit, heads: &[ChangeHash]) -> AutoCommit {
    let all: Vec<_> = doc.get_changes(&[]).into_iter().cloned().collect();
    let mut keep: HashSet<ChangeHash> = HashSet::new();
    let mut stack: Vec<ChangeHash> = heads.to_vec();
    while let Some(h) = stack.pop() {
        if keep.insert(h) {
            if let Some(c) = all.iter().find(|c| c.hash() == h) {
                stack.extend(c.deps().iter().copied());
            }
        }
    }
    let mut fresh = AutoCommit::new();
    fresh
        .apply_changes(all.into_iter().filter(|c| keep.contains(&c.hash())))
        .expect("changes of a document apply");
    fresh
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn materialising_at_heads_equals_replaying_only_the_changes_up_to_them(
        n in 2usize..=3,
        steps in proptest::collection::vec(step(), 1..60),
        picks in proptest::collection::vec(any::<u16>(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut spec = edited(n, &steps, seed);
        let history = history_of(spec.doc_mut());
        let len = history.changes().len();
        for pick in picks {
            let heads = history.heads_after(usize::from(pick) % len).to_vec();
            let at = view_at(spec.doc(), &heads).expect("heads of the document");
            let replayed = replay(spec.doc_mut(), &heads);
            prop_assert_eq!(at, view_of(&replayed));
        }
        prop_assert_eq!(view_at(spec.doc(), history.heads()), Some(spec.view()));
    }

    #[test]
    fn restoring_a_version_makes_the_spec_read_exactly_as_it_did(
        n in 2usize..=3,
        steps in proptest::collection::vec(step(), 1..60),
        pick in any::<u16>(),
        story_pick in any::<u8>(),
        seed in any::<u64>(),
    ) {
        let mut spec = edited(n, &steps, seed);
        let history = history_of(spec.doc_mut());
        let heads = history.heads_after(usize::from(pick) % history.changes().len()).to_vec();
        let then = view_at(spec.doc(), &heads).expect("heads of the document");
        let before = spec.doc_mut().get_changes(&[]).len();

        // One story first, by someone else, on a copy.
        if !then.stories.is_empty() {
            let story = then.stories[usize::from(story_pick) % then.stories.len()].clone();
            let mut copy = Spec::from_doc(spec.doc().clone(), author("restorer", seed)).expect("a spec");
            copy.restore(&heads, &RestoreScope::Story(story.id.clone()), NOW).expect("restore story");
            let now = copy.view();
            let restored = now.story(&story.id).expect("the story is back");
            prop_assert_eq!(&restored.as_a, &story.as_a);
            prop_assert_eq!(&restored.i_want, &story.i_want);
            prop_assert_eq!(&restored.so_that, &story.so_that);
            prop_assert_eq!(restored.status, story.status);
            prop_assert_eq!(&restored.criteria, &story.criteria);
            prop_assert_eq!(&restored.constraints, &story.constraints);
        }

        let mut restorer = Spec::from_doc(spec.into_doc(), author("restorer", seed)).expect("a spec");
        restorer.restore(&heads, &RestoreScope::Spec, NOW).expect("restore");
        prop_assert_eq!(restorer.view(), then);
        // History is never rewritten: at most one new change, by the restorer.
        let changes = restorer.doc_mut().get_changes(&[]);
        prop_assert!(changes.len() <= before + 1);
        if changes.len() == before + 1 {
            let last = history_of(restorer.doc_mut());
            let record = last.changes().last().expect("a change");
            prop_assert_eq!(record.author().map(UserId::as_str), Some("restorer"));
        }
    }

    #[test]
    fn blame_attributes_each_surviving_character_to_the_author_who_inserted_it(
        edits in proptest::collection::vec((0usize..3, any::<u8>(), 0u8..4, ops::text()), 1..40),
        seed in any::<u64>(),
    ) {
        let users = ["ada", "bo", "cy"];
        let mut replicas: Vec<Spec> = users.iter().enumerate().map(|(i, u)| Spec::new(author(u, seed ^ i as u64))).collect();
        // Shadow: every character of the problem with who typed it.
        let mut shadow: Vec<(char, &str)> = Vec::new();
        for (t, (who, pos, del, text)) in edits.iter().enumerate() {
            for from in 0..3 {
                merge(&mut replicas, from, *who);
            }
            let start = usize::from(*pos) % (shadow.len() + 1);
            let end = (start + usize::from(*del)).min(shadow.len());
            let units = |chars: &[(char, &str)]| chars.iter().map(|(c, _)| c.len_utf16()).sum::<usize>();
            let at = units(&shadow[..start]);
            let gone = units(&shadow[start..end]);
            replicas[*who]
                .splice(&TextField::Problem, at, gone, text, UnixMillis(NOW.0 + t as i64))
                .expect("a splice on character boundaries");
            shadow.splice(start..end, text.chars().map(|c| (c, users[*who])));
        }
        for to in 0..3 {
            for from in 0..3 {
                merge(&mut replicas, from, to);
            }
        }
        let doc = replicas[0].doc_mut();
        let history = history_of(doc);
        let fields = blame(&history, doc, None).expect("blame now");
        let problem = fields.iter().find(|f| f.field == TextField::Problem).expect("the problem field");
        let mut expected_authors: Vec<&str> = Vec::new();
        for (c, who) in &shadow {
            for _ in 0..c.len_utf16() {
                expected_authors.push(who);
            }
        }
        let mut got: Vec<&str> = Vec::new();
        let mut pos = 0;
        for run in &problem.runs {
            prop_assert_eq!(run.start, pos);
            for _ in run.start..run.end {
                got.push(run.author.as_ref().map_or("?", UserId::as_str));
            }
            pos = run.end;
        }
        prop_assert_eq!(got, expected_authors);
    }

    #[test]
    fn filters_select_exactly_the_changes_by_those_authors_in_that_time_and_every_change_to_the_part(
        steps in proptest::collection::vec((0usize..3, ops::op()), 1..50),
        wanted in proptest::collection::btree_set(0usize..3, 0..3),
        window in (0i64..60, 0i64..60),
        seed in any::<u64>(),
    ) {
        let users = ["ada", "bo", "cy"];
        let mut replicas: Vec<Spec> = users.iter().enumerate().map(|(i, u)| Spec::new(author(u, seed ^ i as u64))).collect();
        let mut ids = rng(seed);
        let mut ledger = Ledger::default();
        for (t, (who, op)) in steps.iter().enumerate() {
            for from in 0..3 {
                merge(&mut replicas, from, *who);
            }
            ops::apply(&mut replicas[*who], op, &mut ids, &mut ledger, UnixMillis(NOW.0 + t as i64 * 1000));
        }
        for from in 1..3 {
            merge(&mut replicas, from, 0);
        }
        let doc = replicas[0].doc_mut();
        // The server received change i at second i.
        let order: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let mut history = History::new();
        history.update(doc.get_changes(&[]), |h| ChangeMeta {
            author: None,
            received_at: order.iter().position(|x| x == h).map(|i| UnixMillis(i as i64 * 1000)),
        });
        let changes = history.changes();
        let listed: Vec<usize> = (1..changes.len()).collect();

        let authors: BTreeSet<UserId> = wanted.iter().map(|&i| UserId::parse(users[i]).expect("valid")).collect();
        let (lo, hi) = (window.0.min(window.1) * 1000, window.0.max(window.1) * 1000);
        let filter = Filter { authors: authors.clone(), part: None, since: Some(UnixMillis(lo)), until: Some(UnixMillis(hi)) };
        let expected: Vec<usize> = listed.iter().copied().filter(|&i| {
            let c = &changes[i];
            (authors.is_empty() || c.author().is_some_and(|a| authors.contains(a)))
                && c.at.is_some_and(|at| at.0 >= lo && at.0 <= hi)
        }).collect();
        prop_assert_eq!(history.select(&filter), expected);

        // Every change that visibly changed a part is listed under it.
        for &i in &listed {
            let before = view_at(doc, &history.heads_before(i)).expect("known heads");
            let after = view_at(doc, &history.heads_after(i)).expect("known heads");
            for part in visibly_changed(&before, &after) {
                let selected = history.select(&Filter { part: Some(part.clone()), ..Filter::default() });
                prop_assert!(selected.contains(&i), "change {} changed {} but is not listed under it", i, part);
            }
        }
    }
}

/// The parts whose content differs between two views.
fn visibly_changed(a: &SpecView, b: &SpecView) -> Vec<PartFilter> {
    let mut parts = Vec::new();
    if a.title != b.title {
        parts.push(PartFilter::Title);
    }
    if a.problem != b.problem {
        parts.push(PartFilter::Problem);
    }
    if a.metrics != b.metrics {
        parts.push(PartFilter::Metrics);
    }
    let ids: BTreeSet<&ItemId> = a.stories.iter().chain(&b.stories).map(|s| &s.id).collect();
    for id in ids {
        let (x, y) = (a.story(id), b.story(id));
        let text = |s: Option<&duet_model::StoryView>| {
            s.map(|s| {
                (
                    s.as_a.clone(),
                    s.i_want.clone(),
                    s.so_that.clone(),
                    s.status,
                )
            })
        };
        if text(x) != text(y) {
            parts.push(PartFilter::Story(id.clone()));
        }
        if x.map(|s| &s.criteria) != y.map(|s| &s.criteria) && x.is_some() && y.is_some() {
            parts.push(PartFilter::Criteria);
            parts.push(PartFilter::Story(id.clone()));
        }
    }
    let constraints = |v: &SpecView| {
        let mut all: Vec<_> = v
            .all_constraints()
            .map(|c| (c.id.clone(), c.text.clone(), c.kind, c.severity, c.status))
            .collect();
        all.sort_by(|p, q| p.0.cmp(&q.0));
        all
    };
    if constraints(a) != constraints(b) {
        parts.push(PartFilter::Constraints);
    }
    let decisions = |v: &SpecView| {
        v.decisions
            .iter()
            .map(|d| {
                (
                    d.id.clone(),
                    d.title.clone(),
                    d.decision.clone(),
                    d.rationale.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    if decisions(a) != decisions(b) {
        parts.push(PartFilter::Decisions);
    }
    if a.questions != b.questions {
        parts.push(PartFilter::Questions);
    }
    parts
}

fn two_people() -> (Spec, Spec) {
    let mut ada = Spec::new(author("ada", 1));
    ada.set_text(&TextField::Title, "Export", NOW)
        .expect("title");
    let bo = Spec::from_doc(ada.doc().clone(), author("bo", 2)).expect("a spec");
    (ada, bo)
}

fn sync(from: &mut Spec, to: &mut Spec) {
    let mut source = from.doc().clone();
    to.doc_mut().merge(&mut source).expect("merge");
}

#[test]
fn sessions_split_one_authors_changes_at_long_gaps_and_keep_authors_apart() {
    let (mut ada, mut bo) = two_people();
    ada.set_text(&TextField::Problem, "Slow exports", NOW)
        .expect("edit");
    sync(&mut ada, &mut bo);
    bo.set_text(&TextField::Problem, "Slow CSV exports", NOW)
        .expect("edit");
    sync(&mut bo, &mut ada);
    ada.set_text(&TextField::Title, "Export to CSV", NOW)
        .expect("edit");
    let doc = ada.doc_mut();
    let order: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    // Received at minutes 0, 1, 2, 3 and 20: ada's last edit comes after a long gap.
    let minutes = [0, 1, 2, 3, 20];
    let mut history = History::new();
    history.update(doc.get_changes(&[]), |h| ChangeMeta {
        author: None,
        received_at: order
            .iter()
            .position(|x| x == h)
            .map(|i| UnixMillis(minutes[i] * 60_000)),
    });
    let all = history.select(&Filter::default());
    let sessions = history.sessions(&all);
    let who: Vec<(&str, usize)> = sessions
        .iter()
        .map(|s| (s.author.as_ref().map_or("?", UserId::as_str), s.changes))
        .collect();
    assert_eq!(who, vec![("ada", 1), ("bo", 1), ("ada", 2)], "newest first");
    // A restore right after is an entry of its own.
    let mut restorer = Spec::from_doc(ada.doc().clone(), author("ada", 3)).expect("a spec");
    let first = history.heads_after(1).to_vec();
    restorer
        .restore(&first, &RestoreScope::Spec, NOW)
        .expect("restore");
    let doc = restorer.doc_mut();
    let mut with_restore = History::new();
    with_restore.update(doc.get_changes(&[]), |h| ChangeMeta {
        author: None,
        received_at: Some(UnixMillis(
            minutes[order.iter().position(|x| x == h).unwrap_or(4)] * 60_000,
        )),
    });
    let sessions_after = with_restore.sessions(&with_restore.select(&Filter::default()));
    assert_eq!(sessions_after.len(), 4, "{sessions_after:?}");
    assert_eq!(sessions_after[0].changes, 1, "the restore alone");
    assert_eq!(sessions_after[1].changes, 1, "ada's title edit");
    let view = ada.view();
    assert_eq!(summary(&sessions[0].touches, &view), "edited the title");
    assert_eq!(summary(&sessions[1].touches, &view), "edited the problem");
    // A session's versions bracket its changes.
    let d =
        diff(&history, ada.doc(), &sessions[1].before, &sessions[1].after).expect("known heads");
    assert_eq!(d.texts.len(), 1);
    assert_eq!(d.texts[0].field, TextField::Problem);
    let inserted: Vec<(&str, &str)> = d.texts[0]
        .runs
        .iter()
        .filter(|r| r.kind == RunKind::Inserted)
        .map(|r| {
            (
                r.text.as_str(),
                r.author.as_ref().map_or("?", UserId::as_str),
            )
        })
        .collect();
    assert_eq!(inserted, vec![("CSV ", "bo")]);
}

#[test]
fn a_diff_names_who_inserted_and_who_deleted_each_run_and_lists_items_and_settings() {
    let (mut ada, mut bo) = two_people();
    let mut ids = rng(5);
    let (s1, s2, c1) = (
        ItemId::random(&mut ids),
        ItemId::random(&mut ids),
        ItemId::random(&mut ids),
    );
    let story = |w: &str| NewStory {
        as_a: "analyst".into(),
        i_want: w.into(),
        so_that: String::new(),
    };
    ada.add_story(&s1, 0, &story("Export to CSV"), NOW)
        .expect("story");
    ada.add_story(&s2, 1, &story("Filter rows"), NOW)
        .expect("story");
    let from = ada.doc_mut().get_heads();
    sync(&mut ada, &mut bo);
    bo.set_text(
        &TextField::Story {
            story: s1.clone(),
            field: duet_model::StoryField::IWant,
        },
        "Export to XLSX",
        NOW,
    )
    .expect("edit");
    bo.add_criterion(&s1, &c1, 0, duet_model::CriterionKind::Ux, "one click", NOW)
        .expect("criterion");
    bo.move_story(&s2, 0, NOW).expect("move");
    bo.set_story_status(&s1, duet_model::StoryStatus::Ready, NOW)
        .expect("status");
    let to = bo.doc_mut().get_heads();
    let history = history_of(bo.doc_mut());
    let d = diff(&history, bo.doc(), &from, &to).expect("known heads");

    let field = TextField::Story {
        story: s1.clone(),
        field: duet_model::StoryField::IWant,
    };
    let text = d
        .texts
        .iter()
        .find(|t| t.field == field)
        .expect("the edited field");
    let runs: Vec<(RunKind, &str, &str)> = text
        .runs
        .iter()
        .map(|r| {
            (
                r.kind,
                r.text.as_str(),
                r.author.as_ref().map_or("-", UserId::as_str),
            )
        })
        .collect();
    assert_eq!(
        runs,
        vec![
            (RunKind::Same, "Export to ", "-"),
            (RunKind::Deleted, "CSV", "bo"),
            (RunKind::Inserted, "XLSX", "bo"),
        ]
    );
    assert_eq!(text.label, "Story “Export to XLSX” · I want");
    let items: Vec<(&str, Verb)> = d.items.iter().map(|i| (i.id.as_str(), i.change)).collect();
    assert!(items.contains(&(c1.as_str(), Verb::Added)), "{items:?}");
    assert_eq!(
        items.iter().filter(|i| i.1 == Verb::Moved).count(),
        1,
        "{items:?}"
    );
    let settings: Vec<(&str, &str, &str)> = d
        .settings
        .iter()
        .map(|s| (s.setting.as_str(), s.from.as_str(), s.to.as_str()))
        .collect();
    assert_eq!(settings, vec![("status", "Draft", "Ready")]);
    // Unknown heads are refused, not guessed.
    let mut stranger_spec = Spec::new(author("zed", 9));
    stranger_spec
        .set_text(&TextField::Title, "x", NOW)
        .expect("edit");
    let unknown = stranger_spec.doc_mut().get_heads();
    assert!(diff(&history, bo.doc(), &unknown, &to).is_none());
    assert!(view_at(bo.doc(), &unknown).is_none());
}

#[test]
fn a_part_filter_lists_the_changes_to_that_part_and_no_others() {
    let (mut ada, _) = two_people();
    let mut ids = rng(7);
    let (s1, s2, c1) = (
        ItemId::random(&mut ids),
        ItemId::random(&mut ids),
        ItemId::random(&mut ids),
    );
    ada.add_story(&s1, 0, &NewStory::default(), NOW)
        .expect("story");
    ada.add_story(&s2, 1, &NewStory::default(), NOW)
        .expect("story");
    ada.add_criterion(
        &s1,
        &c1,
        0,
        duet_model::CriterionKind::Technical,
        "fast",
        NOW,
    )
    .expect("criterion");
    ada.set_text(
        &TextField::Criterion {
            story: s1.clone(),
            criterion: c1.clone(),
        },
        "very fast",
        NOW,
    )
    .expect("edit");
    ada.set_text(&TextField::Problem, "why", NOW).expect("edit");
    let history = history_of(ada.doc_mut());
    let messages = |part: PartFilter| -> Vec<String> {
        history
            .select(&Filter {
                part: Some(part),
                ..Filter::default()
            })
            .into_iter()
            .map(|i| {
                history.changes()[i]
                    .message()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        messages(PartFilter::Criteria),
        vec!["add criterion", "edit criterion"]
    );
    assert_eq!(
        messages(PartFilter::Story(s1.clone())),
        vec!["add story", "add criterion", "edit criterion"]
    );
    assert_eq!(messages(PartFilter::Story(s2.clone())), vec!["add story"]);
    assert_eq!(messages(PartFilter::Problem), vec!["edit problem"]);
    assert_eq!(messages(PartFilter::Title), vec!["edit title"]);
    assert!(messages(PartFilter::Decisions).is_empty());
    assert_eq!(
        PartFilter::parse(&format!("story:{s1}")),
        Ok(PartFilter::Story(s1))
    );
    assert!(PartFilter::parse("stories").is_err());
    let all = history.select(&Filter::default());
    let sessions = history.sessions(&all);
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        summary(&sessions[0].touches, &ada.view()),
        "edited the title, edited the problem, added 2 stories, and 1 more"
    );
}

#[test]
fn the_heads_after_every_change_are_worked_out_exactly_between_the_kept_ones() {
    // Five people type at once and merge at random: many heads, many dependencies per
    // change, and several hundred changes, so most answers come from a kept checkpoint.
    let mut people: Vec<Spec> = (0..5)
        .map(|i| Spec::new(author(&format!("typist{i}"), 40 + i as u64)))
        .collect();
    let mut pick = rng(41);
    for t in 0..700 {
        let who = pick.random_range(0..people.len());
        let len = view_of(people[who].doc()).problem.chars().count();
        let at = pick.random_range(0..=len);
        people[who]
            .splice(&TextField::Problem, at, 0, "x", UnixMillis(NOW.0 + t))
            .expect("splice");
        if pick.random_ratio(1, 4) {
            let other = pick.random_range(0..people.len());
            if other != who {
                let (a, b) = if who < other {
                    let (l, r) = people.split_at_mut(other);
                    (&mut l[who], &mut r[0])
                } else {
                    let (l, r) = people.split_at_mut(who);
                    (&mut r[0], &mut l[other])
                };
                b.merge(a).expect("merge");
            }
        }
    }
    let mut all = Spec::new(author("reader", 49));
    for person in people.iter_mut() {
        all.merge(person).expect("merge");
    }
    let changes: Vec<_> = all
        .doc_mut()
        .get_changes(&[])
        .into_iter()
        .cloned()
        .collect();
    // Read in three pieces, as a server does while changes arrive.
    let mut history = History::new();
    for piece in [&changes[..100], &changes[100..431], &changes[431..]] {
        history.update(piece, |_| ChangeMeta::default());
    }
    assert_eq!(history.changes().len(), changes.len());
    let mut heads: Vec<ChangeHash> = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        assert_eq!(history.heads_before(i), heads, "before change {i}");
        heads.retain(|h| !change.deps().contains(h));
        heads.push(change.hash());
        heads.sort_unstable();
        assert_eq!(history.heads_after(i), heads, "after change {i}");
    }
    let mut now = all.doc_mut().get_heads();
    now.sort_unstable();
    assert_eq!(history.heads(), now.as_slice());
    assert!(heads.len() > 1, "the people typed at once");
    assert!(history.heads_after(changes.len()).is_empty());
}

#[test]
fn unsent_edits_are_counted_in_the_fields_they_write_not_in_keystrokes() {
    use duet_model::history::objects_written;
    let mut spec = Spec::new(author("pm", 1));
    let story = ItemId::parse("s1").expect("id");
    let new = NewStory {
        as_a: "analyst".into(),
        i_want: String::new(),
        so_that: String::new(),
    };
    spec.add_story(&story, 0, &new, NOW).expect("story");
    let before = spec.doc_mut().get_heads();
    // 30 keystrokes into the problem, 5 into one story field, and its status set.
    for (i, c) in "Exports are slow and unreliable"
        .chars()
        .take(30)
        .enumerate()
    {
        spec.splice(&TextField::Problem, i, 0, &c.to_string(), NOW)
            .expect("type");
    }
    let field = TextField::Story {
        story: story.clone(),
        field: StoryField::IWant,
    };
    for (i, c) in "to go".chars().enumerate() {
        spec.splice(&field, i, 0, &c.to_string(), NOW)
            .expect("type");
    }
    spec.set_story_status(&story, StoryStatus::Ready, NOW)
        .expect("status");
    let changes = spec.doc_mut().get_changes(&before);
    assert_eq!(changes.len(), 36);
    let places: BTreeSet<String> = changes.iter().flat_map(|c| objects_written(c)).collect();
    assert_eq!(
        places.len(),
        3,
        "the problem, the story's I want, its status: {places:?}"
    );
}

#[test]
fn labels_are_shortened_at_the_end_of_a_word_never_inside_one() {
    use duet_model::history::shorten;
    assert_eq!(
        shorten("export the quarterly report as CSV", 20),
        "export the…"
    );
    assert_eq!(shorten("short", 20), "short");
    assert_eq!(shorten("  spaces\n and   lines ", 40), "spaces and lines");
    assert_eq!(shorten("one two three", 8), "one two…");
    // A first word longer than the room is cut: nothing else to do.
    assert_eq!(shorten("Donaudampfschifffahrt", 10), "Donaudamp…");
    assert_eq!(shorten("rows, columns and more", 9), "rows…");
}
