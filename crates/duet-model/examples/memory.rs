//! Heap bytes per change held by a server's copy of a spec: the automerge document (received change by change, and loaded from a save) and the history index, for people typing into one spec at once.
//!
//! `cargo run --release -p duet-model --example memory -- [changes] [authors]`
//! (defaults: 20,000 changes, 20 authors). Every author types one character per round
//! at a random place of the problem text; the server's copy receives each round's changes
//! (concurrent with each other), then every author merges what the others typed.

use std::alloc::System;

use duet_model::automerge::{Automerge, Change, ChangeHash};
use duet_model::history::{ChangeMeta, History};
use duet_model::{Author, Spec, TextField, UnixMillis, UserId};
use rand::{rngs::StdRng, Rng, SeedableRng};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static ALLOC: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes that `make` leaves allocated, with what it made.
fn held<T>(make: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(ALLOC);
    let made = make();
    let stats = region.change();
    // (A reallocation counts in both totals by its difference.)
    let net = stats.bytes_allocated as isize - stats.bytes_deallocated as isize;
    (made, net)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.replace('_', "").parse().expect("a number"))
        .collect();
    let changes = args.first().copied().unwrap_or(20_000);
    let authors = args.get(1).copied().unwrap_or(20).max(1);
    let mut rng = StdRng::seed_from_u64(9);

    let mut first = Spec::new(Author::new(UserId::parse("u0").expect("user"), &mut rng));
    first
        .set_text(&TextField::Title, "Memory", UnixMillis(0))
        .expect("title");
    let start = first.save();
    let mut people: Vec<Spec> = (0..authors)
        .map(|i| {
            let user = UserId::parse(&format!("u{i}")).expect("user");
            Spec::load(&start, Author::new(user, &mut rng)).expect("load")
        })
        .collect();
    let mut all: Vec<Change> = first
        .doc_mut()
        .get_changes(&[])
        .into_iter()
        .cloned()
        .collect();
    let initial = all.len();
    let mut rounds: Vec<Vec<Change>> = Vec::new();
    let mut len = 0usize;
    let mut made = 0usize;
    while made < changes {
        let mut round = Vec::new();
        for person in people.iter_mut() {
            let before: Vec<ChangeHash> = person.doc_mut().get_heads();
            let at = rng.random_range(0..=len);
            let ch = char::from(b'a' + rng.random_range(0..26u8));
            let now = UnixMillis(1_764_000_000_000 + made as i64 * 100);
            person
                .splice(&TextField::Problem, at, 0, ch.encode_utf8(&mut [0; 4]), now)
                .expect("splice");
            round.extend(person.doc_mut().get_changes(&before).into_iter().cloned());
            made += 1;
        }
        len += round.len();
        for person in people.iter_mut() {
            person
                .doc_mut()
                .apply_changes(round.iter().cloned())
                .expect("apply");
        }
        all.extend(round.iter().cloned());
        rounds.push(round);
    }
    drop(people);
    let raw: usize = all.iter().map(|c| c.raw_bytes().len()).sum();
    let n = all.len() as f64;

    let (received, doc_bytes) = held(|| {
        let mut doc = Automerge::new();
        doc.apply_changes(all[..initial].iter().cloned())
            .expect("apply");
        for round in &rounds {
            doc.apply_changes(round.iter().cloned()).expect("apply");
        }
        doc
    });
    let saved = received.save();
    let (loaded, loaded_bytes) = held(|| Automerge::load(&saved).expect("load"));
    let author = UserId::parse("someone").expect("user");
    let read = received.get_changes(&[]);
    let (history, history_bytes) = held(|| {
        let mut history = History::new();
        history.update(read.iter().copied(), |_| ChangeMeta {
            author: Some(author.clone()),
            received_at: Some(UnixMillis(1_764_000_000_000)),
        });
        history
    });
    println!(
        "{} changes by {authors} authors (raw change bytes {:.0} per change, saved document {:.1} per change)",
        all.len(),
        raw as f64 / n,
        saved.len() as f64 / n
    );
    println!("heap bytes per change held:");
    println!(
        "  automerge document, received change by change  {:>8.0}",
        doc_bytes as f64 / n
    );
    println!(
        "  automerge document, loaded from its save         {:>8.0}",
        loaded_bytes as f64 / n
    );
    println!(
        "  history index                                    {:>8.0}",
        history_bytes as f64 / n
    );
    println!(
        "  heads of the document: {}, read by the history: {}",
        received.get_heads().len(),
        history.heads().len()
    );
    drop((received, loaded, history));
}
