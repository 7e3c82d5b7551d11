//! Criterion benchmarks of the spec model: typing, saving and loading long histories, applying remote changes, rendering and exporting big specs, sign-off digests.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use duet_model::signoff::signed_content;
use duet_model::{
    markdown, AnchorSpan, Author, ConstraintKind, CriterionKind, ItemId, NewConstraint,
    NewDecision, NewStory, Severity, Spec, StoryField, TextField, UnixMillis, UserId,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

fn author(name: &str, seed: u64) -> Author {
    Author::new(
        UserId::parse(name).expect("user"),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// A spec with one story and `changes` single-character splices typed into it at random places.
fn typed_spec(changes: usize) -> (Spec, TextField) {
    let mut spec = Spec::new(author("typist", 1));
    let story = ItemId::parse("story").expect("id");
    spec.add_story(&story, 0, &NewStory::default(), NOW)
        .expect("story");
    let field = TextField::Story {
        story,
        field: StoryField::IWant,
    };
    let mut rng = StdRng::seed_from_u64(2);
    for i in 0..changes {
        // The field holds `i` characters before this splice.
        let at = rng.random_range(0..=i);
        let ch = char::from(b'a' + (i % 26) as u8);
        spec.splice(&field, at, 0, ch.encode_utf8(&mut [0; 4]), NOW)
            .expect("splice");
    }
    (spec, field)
}

/// A spec with `stories` stories, each with criteria, anchored constraints and a decision.
fn big_spec(stories: usize) -> Spec {
    let mut spec = Spec::new(author("pm", 1));
    let mut rng = StdRng::seed_from_u64(3);
    spec.set_text(&TextField::Title, "A large spec", NOW)
        .expect("title");
    spec.set_text(
        &TextField::Problem,
        "Users are struggling with *everything*.",
        NOW,
    )
    .expect("problem");
    for i in 0..stories {
        let id = ItemId::random(&mut rng);
        let new = NewStory {
            as_a: format!("user of kind {i}"),
            i_want: format!("to do thing number {i} quickly and safely"),
            so_that: "I can get on with my day".into(),
        };
        spec.add_story(&id, i, &new, NOW).expect("story");
        for (j, kind) in CriterionKind::ALL.iter().enumerate() {
            spec.add_criterion(
                &id,
                &ItemId::random(&mut rng),
                j,
                *kind,
                "works under load",
                NOW,
            )
            .expect("criterion");
        }
        let c = NewConstraint {
            kind: ConstraintKind::Performance,
            severity: Severity::Major,
            text: "p99 under 100 ms".into(),
            anchor: Some(AnchorSpan {
                field: StoryField::IWant,
                start: 3,
                end: 7,
            }),
        };
        spec.add_constraint(&id, &ItemId::random(&mut rng), 0, &c, NOW)
            .expect("constraint");
        if i % 10 == 0 {
            let d = NewDecision {
                title: format!("Decision {i}"),
                decision: "Do it".into(),
                rationale: "Because".into(),
                stories: vec![id.clone()],
            };
            spec.add_decision(&ItemId::random(&mut rng), i / 10, &d, NOW)
                .expect("decision");
        }
    }
    spec
}

fn typing(c: &mut Criterion) {
    c.bench_function("splice 10,000 single characters (one change each)", |b| {
        b.iter_batched(
            || typed_spec(0),
            |(mut spec, field)| {
                for i in 0..10_000usize {
                    spec.splice(&field, i, 0, "x", NOW).expect("splice");
                }
                spec
            },
            BatchSize::LargeInput,
        )
    });
}

fn history(c: &mut Criterion) {
    let mut group = c.benchmark_group("100,000-change spec");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let (mut spec, field) = typed_spec(100_000);
    let saved = spec.save();
    eprintln!("100,000-change spec: saved size {} bytes", saved.len());
    group.bench_function("save", |b| b.iter(|| black_box(spec.save())));
    group.bench_function("load", |b| {
        b.iter(|| black_box(Spec::load(&saved, author("reader", 3)).expect("load")))
    });
    // One remote keystroke arriving at a replica that holds the long history.
    group.bench_function("apply one remote single-character change", |b| {
        b.iter_batched(
            || {
                let mut remote = Spec::load(&saved, author("remote", 4)).expect("load");
                remote.splice(&field, 0, 0, "z", NOW).expect("splice");
                let change = remote
                    .doc_mut()
                    .get_last_local_change()
                    .expect("change")
                    .clone();
                (
                    Spec::load(&saved, author("local", 5)).expect("load"),
                    change,
                )
            },
            |(mut local, change)| {
                local.doc_mut().apply_changes([change]).expect("apply");
                local
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn rendering(c: &mut Criterion) {
    let mut group = c.benchmark_group("200-story spec");
    group.sample_size(20);
    let spec = big_spec(200);
    let view = spec.view();
    group.bench_function("view", |b| b.iter(|| black_box(spec.view())));
    let stories: Vec<ItemId> = view.stories.iter().map(|s| s.id.clone()).collect();
    group.bench_function("sign-off digest of one story", |b| {
        b.iter(|| black_box(signed_content(spec.doc(), &stories[100]).map(|c| c.digest())))
    });
    group.bench_function("sign-off digests of all 200 stories", |b| {
        b.iter(|| {
            for s in &stories {
                black_box(signed_content(spec.doc(), s).map(|c| c.digest()));
            }
        })
    });
    group.bench_function("export markdown", |b| {
        b.iter(|| black_box(markdown::export(&view)))
    });
    let md = markdown::export(&view);
    group.bench_function("import markdown", |b| {
        b.iter(|| {
            black_box(
                markdown::import(
                    &md,
                    author("importer", 6),
                    NOW,
                    &mut StdRng::seed_from_u64(7),
                )
                .expect("import"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, typing, history, rendering);
criterion_main!(benches);
