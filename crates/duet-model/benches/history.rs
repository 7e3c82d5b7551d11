//! Criterion benchmarks of history by author on a spec of 50,000 changes: reading the history, the timeline, a diff of two distant versions, blame of a 10,000-character field, a version, a restore.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use duet_model::automerge::{AutoCommit, ChangeHash};
use duet_model::history::{summary, ChangeMeta, Filter, History};
use duet_model::{
    blame, blame_of, diff, view_at, Author, CriterionKind, ItemId, NewStory, RestoreScope, Spec,
    StoryField, TextField, UnixMillis, UserId,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);
const CHANGES: usize = 50_000;
/// Characters typed into the problem (one change each), the blamed field.
const PROBLEM_CHARS: usize = 10_000;

fn author(name: &str, seed: u64) -> Author {
    Author::new(
        UserId::parse(name).expect("user"),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// Two people typing a spec keystroke by keystroke: 10,000 characters of problem, then
/// stories with criteria until 50,000 changes, a new session every 400 changes.
fn long_history() -> AutoCommit {
    let mut people = [Spec::new(author("pm", 1)), Spec::new(author("eng", 2))];
    let mut rng = StdRng::seed_from_u64(3);
    let mut stories: Vec<ItemId> = Vec::new();
    let mut made = 0usize;
    let mut problem_len = 0usize;
    let mut turn = 0usize;
    while made < CHANGES {
        let (me, other) = if turn % 2 == 0 { (0, 1) } else { (1, 0) };
        let mut theirs = people[other].doc().clone();
        people[me].doc_mut().merge(&mut theirs).expect("merge");
        let spec = &mut people[me];
        for _ in 0..400 {
            let now = UnixMillis(NOW.0 + made as i64 * 1000);
            if problem_len < PROBLEM_CHARS {
                let at = rng.random_range(0..=problem_len);
                let ch = char::from(b'a' + rng.random_range(0..26u8));
                spec.splice(&TextField::Problem, at, 0, ch.encode_utf8(&mut [0; 4]), now)
                    .expect("splice");
                problem_len += 1;
            } else if stories.is_empty() || rng.random_ratio(1, 200) {
                let id = ItemId::random(&mut rng);
                let new = NewStory {
                    as_a: "analyst".into(),
                    i_want: format!("story {}", stories.len()),
                    so_that: String::new(),
                };
                spec.add_story(&id, stories.len(), &new, now)
                    .expect("story");
                stories.push(id);
            } else if rng.random_ratio(1, 100) {
                let story = &stories[rng.random_range(0..stories.len())];
                let id = ItemId::random(&mut rng);
                spec.add_criterion(story, &id, 0, CriterionKind::Technical, "", now)
                    .expect("criterion");
            } else {
                let story = stories[rng.random_range(0..stories.len())].clone();
                let field = TextField::Story {
                    story,
                    field: StoryField::SoThat,
                };
                let ch = char::from(b'a' + rng.random_range(0..26u8));
                spec.splice(&field, 0, 0, ch.encode_utf8(&mut [0; 4]), now)
                    .expect("splice");
            }
            made += 1;
        }
        turn += 1;
    }
    let [mut a, mut b] = people;
    let mut theirs = b.doc_mut().clone();
    a.doc_mut().merge(&mut theirs).expect("merge");
    a.into_doc()
}

fn read(doc: &mut AutoCommit) -> History {
    let mut history = History::new();
    history.update(doc.get_changes(&[]), |_| ChangeMeta::default());
    history
}

fn bench(c: &mut Criterion) {
    let mut doc = long_history();
    let history = read(&mut doc);
    let n = history.changes().len();
    eprintln!("history of {n} changes");
    let early: Vec<ChangeHash> = history.heads_after(n / 50).to_vec();
    let late: Vec<ChangeHash> = history.heads_after(n - n / 50).to_vec();

    let mut g = c.benchmark_group("history of 50,000 changes");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("read every change (first question after a start)", |b| {
        b.iter(|| black_box(read(&mut doc)))
    });
    g.bench_function("timeline: all sessions with summaries", |b| {
        b.iter(|| {
            let all = history.select(&Filter::default());
            let view = duet_model::view_of(&doc);
            let sessions = history.sessions(&all);
            black_box(
                sessions
                    .iter()
                    .map(|s| summary(&s.touches, &view))
                    .collect::<Vec<_>>(),
            )
        })
    });
    g.bench_function("diff of two distant versions", |b| {
        b.iter(|| black_box(diff(&history, &doc, &early, &late)))
    });
    g.bench_function("blame of every field (problem: 10,000 characters)", |b| {
        b.iter(|| black_box(blame(&history, &doc, None)))
    });
    g.bench_function("blame of one field of 10,000 characters", |b| {
        b.iter(|| black_box(blame_of(&history, &doc, None, &TextField::Problem)))
    });
    g.bench_function("a version read-only", |b| {
        b.iter(|| black_box(view_at(&doc, &early)))
    });
    g.bench_function("restore a distant version", |b| {
        b.iter_batched(
            || Spec::from_doc(doc.clone(), author("restorer", 9)).expect("spec"),
            |mut spec| {
                spec.restore(&early, &RestoreScope::Spec, NOW)
                    .expect("restore");
                black_box(spec)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
