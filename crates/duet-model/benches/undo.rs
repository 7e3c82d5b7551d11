//! Criterion benchmarks of per-author undo on a 50-story spec with 50,000 changes of history: recording a keystroke, undoing a typing step, undoing a story's removal, redoing.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use duet_model::automerge::AutoCommit;
use duet_model::{
    Author, CriterionKind, ItemId, NewStory, Spec, StoryField, TextField, UndoStack, UnixMillis,
    UserId,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);
const STORIES: usize = 50;
const CHANGES: usize = 50_000;

fn author(name: &str, seed: u64) -> Author {
    Author::new(
        UserId::parse(name).expect("user"),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// 50 stories with three criteria each, then keystrokes into random story fields until
/// the history holds 50,000 changes.
fn spec() -> (AutoCommit, Vec<ItemId>) {
    let mut spec = Spec::new(author("pm", 1));
    let mut rng = StdRng::seed_from_u64(2);
    let mut stories = Vec::new();
    for i in 0..STORIES {
        let id = ItemId::random(&mut rng);
        let new = NewStory {
            as_a: "analyst".into(),
            i_want: format!("to export report {i} as CSV"),
            so_that: "I can reconcile the books".into(),
        };
        spec.add_story(&id, i, &new, NOW).expect("story");
        for k in 0..3 {
            let c = ItemId::random(&mut rng);
            spec.add_criterion(
                &id,
                &c,
                k,
                CriterionKind::Technical,
                "rows match the ledger",
                NOW,
            )
            .expect("criterion");
        }
        stories.push(id);
    }
    let mut made = spec.doc_mut().get_changes(&[]).len();
    while made < CHANGES {
        let story = stories[rng.random_range(0..STORIES)].clone();
        let field = TextField::Story {
            story,
            field: StoryField::SoThat,
        };
        let ch = char::from(b'a' + rng.random_range(0..26u8));
        spec.splice(&field, 0, 0, ch.encode_utf8(&mut [0; 4]), NOW)
            .expect("splice");
        made += 1;
    }
    (spec.into_doc(), stories)
}

fn bench(c: &mut Criterion) {
    let (doc, stories) = spec();
    let me = author("pm", 1);
    let field = TextField::Story {
        story: stories[7].clone(),
        field: StoryField::IWant,
    };
    let mut g = c.benchmark_group("undo in a 50-story spec of 50,000 changes");
    g.sample_size(20).measurement_time(Duration::from_secs(10));

    // A typing step of 20 keystrokes, recorded 50 ms apart.
    let typed = |doc: &mut AutoCommit| {
        let mut stack = UndoStack::new();
        for i in 0..20i64 {
            let now = UnixMillis(NOW.0 + 1_000_000 + 50 * i);
            stack
                .record(doc, &me, now, |s| s.splice(&field, 3, 0, "x", now))
                .expect("spec")
                .expect("splice");
        }
        stack
    };
    g.bench_function("record one keystroke (journaled)", |b| {
        b.iter_batched(
            || (doc.clone(), UndoStack::new()),
            |(mut d, mut stack)| {
                stack
                    .record(&mut d, &me, NOW, |s| s.splice(&field, 3, 0, "x", NOW))
                    .expect("spec")
                    .expect("splice");
                black_box((d, stack))
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("one keystroke without undo (for comparison)", |b| {
        b.iter_batched(
            || doc.clone(),
            |mut d| {
                Spec::edit_in_place(&mut d, &me, |s| s.splice(&field, 3, 0, "x", NOW))
                    .expect("spec")
                    .expect("splice");
                black_box(d)
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("undo a typing step of 20 keystrokes", |b| {
        b.iter_batched(
            || {
                let mut d = doc.clone();
                let stack = typed(&mut d);
                (d, stack)
            },
            |(mut d, mut stack)| {
                let undone = stack.undo(&mut d, &me, NOW).expect("spec");
                black_box((d, undone))
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("undo removing a story with its criteria", |b| {
        b.iter_batched(
            || {
                let mut d = doc.clone();
                let mut stack = UndoStack::new();
                stack
                    .record(&mut d, &me, NOW, |s| s.remove_story(&stories[9], NOW))
                    .expect("spec")
                    .expect("remove");
                (d, stack)
            },
            |(mut d, mut stack)| {
                let undone = stack.undo(&mut d, &me, NOW).expect("spec");
                black_box((d, undone))
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("redo a typing step of 20 keystrokes", |b| {
        b.iter_batched(
            || {
                let mut d = doc.clone();
                let mut stack = typed(&mut d);
                stack.undo(&mut d, &me, NOW).expect("spec");
                (d, stack)
            },
            |(mut d, mut stack)| {
                let redone = stack.redo(&mut d, &me, NOW).expect("spec");
                black_box((d, redone))
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
