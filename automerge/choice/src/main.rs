//! Measures automerge 0.6.1 (Duet's patched copy and as published) against automerge
//! 0.12 on the workloads that matter to Duet.
//!
//! Run without arguments (`--quick` for small sizes, `--concurrent-only` for the last
//! table alone), the program re-executes itself once per measurement
//! (`--child <scenario> <version> ...`) so that every measurement starts in a fresh
//! process with a fresh heap, collects the `key<TAB>value` lines the children print,
//! and prints a Markdown table of medians.
//!
//! Scenarios:
//! - `history`: builds a text document of [`Sizes::history`] changes (one character per
//!   commit), times `save()`, writes the saved bytes to a file for `load`, then applies
//!   single-character remote changes made on a forked replica.
//! - `sync`: two peers in sync on a [`Sizes::sync_history`]-change document exchange
//!   one single-character edit at a time through the sync protocol.
//! - `load`: loads the saved document once and reports the time and the growth of the
//!   resident set (`VmRSS` / `VmHWM` in `/proc/self/status`).
//! - `concurrent`: a history written by several people at once ([`Sizes::concurrent`]
//!   changes: each round, every author types [`ROUND_EDITS`] characters on their own
//!   replica, then all replicas merge), built once with 0.6 and loaded by each version.
//!   Loading a history like this grows quadratically in 0.6.1 as published (see
//!   RELIABILITY.md, "Load time"); Duet's copy patches that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The workload sizes; `--quick` divides them for a smoke test.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Changes in the document used for apply, save and load.
    history: usize,
    /// Changes in the document used for the sync protocol.
    sync_history: usize,
    /// Remote changes applied (one at a time) in the apply measurement.
    apply_runs: usize,
    /// Edits sent through the sync protocol.
    sync_runs: usize,
    /// `save()` calls timed.
    save_runs: usize,
    /// Fresh processes that each load the saved document once.
    load_runs: usize,
    /// Changes in the concurrent histories, per number of authors in [`AUTHORS`].
    concurrent: [usize; 2],
}

/// Authors of the concurrent histories.
const AUTHORS: [usize; 3] = [1, 5, 20];

/// Characters each author types per round of the concurrent histories.
const ROUND_EDITS: usize = 5;

const FULL: Sizes = Sizes {
    history: 100_000,
    sync_history: 20_000,
    apply_runs: 50,
    sync_runs: 50,
    save_runs: 5,
    load_runs: 5,
    concurrent: [8_000, 32_000],
};

const QUICK: Sizes = Sizes {
    history: 5_000,
    sync_history: 2_000,
    apply_runs: 10,
    sync_runs: 10,
    save_runs: 3,
    load_runs: 3,
    concurrent: [1_000, 2_000],
};

/// The versions under comparison (command-line keys): Duet's copy of 0.6.1, 0.6.1 as
/// published, 0.12.
const VERSIONS: [&str; 3] = ["v06", "v06up", "v012"];

/// Deterministic xorshift generator for edit positions (same sequence for both versions).
#[derive(Debug)]
struct Positions(u64);

impl Positions {
    fn new() -> Self {
        Positions(0x9E37_79B9_7F4A_7C15)
    }

    /// A position in `0..=len`.
    fn next(&mut self, len: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % (len as u64 + 1)) as usize
    }
}

/// The one-character string inserted by the `i`-th edit: a letter or a space, scrambled
/// so that the saved document does not compress unrealistically well.
fn char_for(i: usize) -> &'static str {
    const CHARS: [&str; 27] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z", " ",
    ];
    // splitmix64 finaliser of `i`
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    CHARS[(z % CHARS.len() as u64) as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Reads a `kB` field (e.g. `VmRSS`) of `/proc/self/status`.
fn proc_status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("{field} not found in /proc/self/status"))
}

/// Prints one result line for the parent process.
fn emit(key: &str, value: impl std::fmt::Display) {
    println!("{key}\t{value}");
}

/// Prints the samples of a timing (in microseconds), comma-separated.
fn emit_samples(key: &str, samples: &[f64]) {
    let joined: Vec<String> = samples.iter().map(|s| format!("{s:.3}")).collect();
    emit(key, joined.join(","));
}

/// One implementation of the scenarios per automerge version; the APIs used are the
/// same in both, except `get_last_local_change`, passed in as `$last_local`.
macro_rules! scenarios {
    ($module:ident, $am:ident, $last_local:path) => {
        mod $module {
            use super::*;
            use $am::sync::SyncDoc;
            use $am::transaction::Transactable;
            use $am::{Automerge, LoadOptions, ObjId, ObjType, ReadDoc, TextEncoding, ROOT};

            const ENCODING: TextEncoding = TextEncoding::Utf16CodeUnit;

            /// A document whose history is `changes` commits, each inserting one
            /// character at the end of the same Text object (the first one also
            /// creates it).
            fn build(changes: usize) -> (Automerge, ObjId) {
                let mut doc = Automerge::new_with_encoding(ENCODING);
                let mut tx = doc.transaction();
                let text = tx
                    .put_object(ROOT, "text", ObjType::Text)
                    .expect("create text");
                tx.splice_text(&text, 0, 0, char_for(0)).expect("splice");
                tx.commit();
                for i in 1..changes {
                    let mut tx = doc.transaction();
                    tx.splice_text(&text, i, 0, char_for(i)).expect("splice");
                    tx.commit();
                }
                assert_eq!(doc.text_encoding(), ENCODING);
                assert_eq!(doc.length(&text), changes);
                (doc, text)
            }

            /// One local single-character insertion at `pos`, committed.
            fn edit(doc: &mut Automerge, text: &ObjId, pos: usize, i: usize) {
                let mut tx = doc.transaction();
                tx.splice_text(text, pos, 0, char_for(i)).expect("splice");
                tx.commit();
            }

            pub fn history(sizes: Sizes, saved_path: &Path) {
                let start = Instant::now();
                let (mut doc, text) = build(sizes.history);
                emit("build_history_ms", start.elapsed().as_secs_f64() * 1e3);

                // save()
                let mut save_us = Vec::new();
                let mut saved = Vec::new();
                for _ in 0..sizes.save_runs {
                    let start = Instant::now();
                    saved = doc.save();
                    save_us.push(micros(start.elapsed()));
                }
                emit_samples("save_us", &save_us);
                emit("saved_bytes", saved.len());
                std::fs::write(saved_path, &saved).expect("write saved document");

                // Remote single-character changes made on a forked replica.
                let mut replica = doc.fork();
                let mut positions = Positions::new();
                let (mut local_us, mut last_us, mut changes_us, mut apply_us) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for i in 0..sizes.apply_runs {
                    let heads_before = replica.get_heads();
                    let pos = positions.next(replica.length(&text));

                    let start = Instant::now();
                    edit(&mut replica, &text, pos, i);
                    local_us.push(micros(start.elapsed()));

                    let start = Instant::now();
                    let change = $last_local(&replica).expect("a local change");
                    last_us.push(micros(start.elapsed()));

                    let start = Instant::now();
                    let via_get_changes = replica.get_changes(&heads_before);
                    changes_us.push(micros(start.elapsed()));
                    assert_eq!(via_get_changes.len(), 1);
                    assert_eq!(via_get_changes[0].hash(), change.hash());

                    let start = Instant::now();
                    doc.apply_changes(vec![change]).expect("apply change");
                    apply_us.push(micros(start.elapsed()));
                }
                assert_eq!(doc.get_heads(), replica.get_heads());
                assert_eq!(
                    doc.text(&text).expect("text"),
                    replica.text(&text).expect("text")
                );
                emit_samples("local_edit_us", &local_us);
                emit_samples("get_last_local_change_us", &last_us);
                emit_samples("get_changes_us", &changes_us);
                emit_samples("apply_us", &apply_us);
            }

            /// Exchanges messages until neither peer has anything more to send.
            fn settle(
                a: &mut Automerge,
                sa: &mut $am::sync::State,
                b: &mut Automerge,
                sb: &mut $am::sync::State,
            ) {
                for _ in 0..16 {
                    let mut quiet = true;
                    if let Some(m) = a.generate_sync_message(sa) {
                        quiet = false;
                        b.receive_sync_message(sb, m).expect("receive");
                    }
                    if let Some(m) = b.generate_sync_message(sb) {
                        quiet = false;
                        a.receive_sync_message(sa, m).expect("receive");
                    }
                    if quiet {
                        return;
                    }
                }
                panic!("sync did not settle");
            }

            pub fn sync(sizes: Sizes) {
                let start = Instant::now();
                let (mut sender, text) = build(sizes.sync_history);
                emit("build_sync_ms", start.elapsed().as_secs_f64() * 1e3);
                let mut receiver = sender.fork();
                let mut s_state = $am::sync::State::new();
                let mut r_state = $am::sync::State::new();
                settle(&mut sender, &mut s_state, &mut receiver, &mut r_state);
                assert_eq!(sender.get_heads(), receiver.get_heads());

                let mut positions = Positions::new();
                let (mut gen_us, mut recv_us, mut reply_us, mut round_us, mut msg_bytes) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for i in 0..sizes.sync_runs {
                    let pos = positions.next(sender.length(&text));
                    edit(&mut sender, &text, pos, i);

                    let round = Instant::now();
                    let start = Instant::now();
                    let message = sender
                        .generate_sync_message(&mut s_state)
                        .expect("a message carrying the edit")
                        .encode();
                    gen_us.push(micros(start.elapsed()));
                    msg_bytes.push(message.len() as f64);

                    let decoded = $am::sync::Message::decode(&message).expect("decode");
                    let start = Instant::now();
                    receiver
                        .receive_sync_message(&mut r_state, decoded)
                        .expect("receive");
                    recv_us.push(micros(start.elapsed()));

                    let start = Instant::now();
                    let reply = receiver
                        .generate_sync_message(&mut r_state)
                        .map(|m| m.encode());
                    reply_us.push(micros(start.elapsed()));
                    round_us.push(micros(round.elapsed()));

                    // Untimed: the sender takes the acknowledgement, then both settle.
                    if let Some(reply) = reply {
                        let reply = $am::sync::Message::decode(&reply).expect("decode");
                        sender
                            .receive_sync_message(&mut s_state, reply)
                            .expect("receive");
                    }
                    settle(&mut sender, &mut s_state, &mut receiver, &mut r_state);
                    assert_eq!(sender.get_heads(), receiver.get_heads());
                }
                assert_eq!(
                    sender.text(&text).expect("text"),
                    receiver.text(&text).expect("text")
                );
                emit_samples("sync_generate_us", &gen_us);
                emit_samples("sync_receive_us", &recv_us);
                emit_samples("sync_reply_us", &reply_us);
                emit_samples("sync_round_us", &round_us);
                emit_samples("sync_message_bytes", &msg_bytes);
            }

            pub fn load(saved_path: &Path, expected_len: usize) {
                let bytes = std::fs::read(saved_path).expect("read saved document");
                let rss_before = proc_status_kb("VmRSS");
                let start = Instant::now();
                let doc = Automerge::load_with_options(
                    &bytes,
                    LoadOptions::new().text_encoding(ENCODING),
                )
                .expect("load");
                let elapsed = start.elapsed();
                let rss_after = proc_status_kb("VmRSS");
                let hwm_after = proc_status_kb("VmHWM");
                let (_, text) = doc
                    .get(ROOT, "text")
                    .expect("get text")
                    .expect("text present");
                assert_eq!(doc.length(&text), expected_len);
                emit_samples("load_us", &[micros(elapsed)]);
                emit_samples("load_rss_growth_kb", &[(rss_after - rss_before) as f64]);
                emit_samples(
                    "load_peak_growth_kb",
                    &[hwm_after.saturating_sub(rss_before) as f64],
                );
                drop(std::hint::black_box(doc));
            }

            /// Builds a history of `changes` written by `authors` at once and saves it
            /// (used with 0.6 only: both versions then load the same bytes).
            #[allow(dead_code)]
            pub fn build_concurrent(authors: usize, changes: usize, saved_path: &Path) {
                let (base, text) = build(1);
                let mut replicas: Vec<Automerge> = (0..authors)
                    .map(|a| base.fork().with_actor(vec![a as u8 + 1; 16].into()))
                    .collect();
                let mut positions = Positions::new();
                let mut made = 0;
                while made < changes {
                    for replica in &mut replicas {
                        for _ in 0..ROUND_EDITS {
                            let pos = positions.next(replica.length(&text));
                            edit(replica, &text, pos, made);
                            made += 1;
                        }
                    }
                    let (first, rest) = replicas.split_first_mut().expect("an author");
                    for replica in rest.iter_mut() {
                        first.merge(replica).expect("merge");
                    }
                    for replica in rest.iter_mut() {
                        replica.merge(first).expect("merge");
                    }
                }
                std::fs::write(saved_path, replicas[0].save()).expect("write saved document");
            }

            /// Loads a saved concurrent history once.
            pub fn load_concurrent(saved_path: &Path) {
                let bytes = std::fs::read(saved_path).expect("read saved document");
                let rss_before = proc_status_kb("VmRSS");
                let start = Instant::now();
                let doc = Automerge::load_with_options(
                    &bytes,
                    LoadOptions::new().text_encoding(ENCODING),
                )
                .expect("load");
                emit_samples("concurrent_load_us", &[micros(start.elapsed())]);
                let held = proc_status_kb("VmRSS").saturating_sub(rss_before);
                emit_samples("concurrent_rss_growth_kb", &[held as f64]);
                drop(std::hint::black_box(doc));
            }
        }
    };
}

fn last_local_06(doc: &am06::Automerge) -> Option<am06::Change> {
    doc.get_last_local_change().cloned()
}

fn last_local_012(doc: &am012::Automerge) -> Option<am012::Change> {
    doc.get_last_local_change()
}

fn last_local_06up(doc: &am06up::Automerge) -> Option<am06up::Change> {
    doc.get_last_local_change().cloned()
}

scenarios!(v06, am06, last_local_06);
scenarios!(v06up, am06up, last_local_06up);
scenarios!(v012, am012, last_local_012);

/// Versions of `automerge` recorded in this crate's Cargo.lock, in file order.
fn locked_automerge_versions() -> Vec<String> {
    let lock = include_str!("../Cargo.lock");
    let mut versions = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"automerge\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                versions.push(v.trim_matches('"').to_string());
            }
        }
    }
    versions
}

fn label(version_key: &str) -> String {
    let locked = locked_automerge_versions();
    let (wanted, source) = match version_key {
        "v06" => ("0.6.", " (Duet's copy)"),
        "v06up" => ("0.6.", " (crates.io)"),
        _ => ("0.12.", ""),
    };
    let exact = locked
        .iter()
        .find(|v| v.starts_with(wanted))
        .cloned()
        .unwrap_or_else(|| format!("{wanted}?"));
    format!("automerge {exact}{source}")
}

fn run_child(sizes_flag: Option<&str>, args: &[&str]) -> BTreeMap<String, String> {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.arg("--child");
    if let Some(flag) = sizes_flag {
        cmd.arg(flag);
    }
    cmd.args(args);
    let out = cmd.output().expect("spawn child");
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        panic!("child {args:?} failed: {}", out.status);
    }
    String::from_utf8(out.stdout)
        .expect("utf-8 child output")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// All results of one version: key -> samples.
type Results = BTreeMap<String, Vec<f64>>;

fn merge_into(results: &mut Results, child: BTreeMap<String, String>) {
    for (k, v) in child {
        let samples = results.entry(k).or_default();
        samples.extend(v.split(',').map(|s| s.parse::<f64>().expect("number")));
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// How a row's value is shown.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Micros,
    Millis,
    KiB,
    Bytes,
}

fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Micros if value >= 1_000.0 => format!("{:.2} ms", value / 1e3),
        Unit::Micros => format!("{value:.1} µs"),
        Unit::Millis => format!("{value:.0} ms"),
        Unit::KiB => format!("{:.1} MiB", value / 1024.0),
        Unit::Bytes => format!("{value:.0} B"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if args.first() == Some(&"--child") {
        child_main(&args[1..]);
    } else {
        parent_main(
            args.contains(&"--quick"),
            args.contains(&"--concurrent-only"),
        );
    }
}

fn child_main(args: &[&str]) {
    let (sizes, args) = match args.first() {
        Some(&"--quick") => (QUICK, &args[1..]),
        _ => (FULL, args),
    };
    match args {
        ["history", "v06", path] => v06::history(sizes, Path::new(path)),
        ["history", "v06up", path] => v06up::history(sizes, Path::new(path)),
        ["history", "v012", path] => v012::history(sizes, Path::new(path)),
        ["sync", "v06"] => v06::sync(sizes),
        ["sync", "v06up"] => v06up::sync(sizes),
        ["sync", "v012"] => v012::sync(sizes),
        ["load", "v06", path] => v06::load(Path::new(path), sizes.history),
        ["load", "v06up", path] => v06up::load(Path::new(path), sizes.history),
        ["load", "v012", path] => v012::load(Path::new(path), sizes.history),
        ["build-concurrent", authors, changes, path] => v06::build_concurrent(
            authors.parse().expect("authors"),
            changes.parse().expect("changes"),
            Path::new(path),
        ),
        ["load-concurrent", "v06", path] => v06::load_concurrent(Path::new(path)),
        ["load-concurrent", "v06up", path] => v06up::load_concurrent(Path::new(path)),
        ["load-concurrent", "v012", path] => v012::load_concurrent(Path::new(path)),
        _ => panic!("unknown child arguments {args:?}"),
    }
}

fn parent_main(quick: bool, concurrent_only: bool) {
    let (sizes, flag) = if quick {
        (QUICK, Some("--quick"))
    } else {
        (FULL, None)
    };
    if concurrent_only {
        concurrent_table(sizes, flag);
        return;
    }
    let mut all: Vec<Results> = Vec::new();
    for version in VERSIONS {
        let saved: PathBuf = std::env::temp_dir().join(format!(
            "automerge-choice-{}-{version}.automerge",
            std::process::id()
        ));
        let saved_str = saved.to_str().expect("utf-8 temp path");
        let mut results = Results::new();
        eprintln!("{}: history ({} changes)...", label(version), sizes.history);
        merge_into(
            &mut results,
            run_child(flag, &["history", version, saved_str]),
        );
        eprintln!("{}: load x{}...", label(version), sizes.load_runs);
        for _ in 0..sizes.load_runs {
            merge_into(&mut results, run_child(flag, &["load", version, saved_str]));
        }
        let _ = std::fs::remove_file(&saved);
        eprintln!(
            "{}: sync ({} changes)...",
            label(version),
            sizes.sync_history
        );
        merge_into(&mut results, run_child(flag, &["sync", version]));
        all.push(results);
    }

    let h = sizes.history;
    let s = sizes.sync_history;
    let rows: Vec<(String, &str, Unit)> = vec![
        (
            format!("Apply one remote 1-char change (`apply_changes`), {h}-change doc, median of {}", sizes.apply_runs),
            "apply_us",
            Unit::Micros,
        ),
        (
            format!("  (sender) local 1-char edit + commit, {h}-change doc"),
            "local_edit_us",
            Unit::Micros,
        ),
        (
            format!("  (sender) `get_last_local_change`, {h}-change doc"),
            "get_last_local_change_us",
            Unit::Micros,
        ),
        (
            format!("  (sender) `get_changes(heads before edit)`, {h}-change doc"),
            "get_changes_us",
            Unit::Micros,
        ),
        (
            format!("Sync: receiver `receive_sync_message`, one 1-char edit, {s}-change doc, median of {}", sizes.sync_runs),
            "sync_receive_us",
            Unit::Micros,
        ),
        (
            "Sync: full round (sender generate + receiver receive + receiver reply, incl. encode/decode)".to_string(),
            "sync_round_us",
            Unit::Micros,
        ),
        (
            "  sender `generate_sync_message` (+ encode)".to_string(),
            "sync_generate_us",
            Unit::Micros,
        ),
        (
            "  receiver reply `generate_sync_message` (+ encode)".to_string(),
            "sync_reply_us",
            Unit::Micros,
        ),
        (
            "  sync message size".to_string(),
            "sync_message_bytes",
            Unit::Bytes,
        ),
        (
            format!("`save()` of the {h}-change doc, median of {}", sizes.save_runs),
            "save_us",
            Unit::Micros,
        ),
        ("  saved size".to_string(), "saved_bytes", Unit::Bytes),
        (
            format!("`load()` of the {h}-change doc, fresh process each, median of {}", sizes.load_runs),
            "load_us",
            Unit::Micros,
        ),
        (
            "  VmRSS growth after `load()`".to_string(),
            "load_rss_growth_kb",
            Unit::KiB,
        ),
        (
            "  peak (VmHWM) growth during `load()`".to_string(),
            "load_peak_growth_kb",
            Unit::KiB,
        ),
        (
            format!("Build the {h}-change doc ({h} commits), one run"),
            "build_history_ms",
            Unit::Millis,
        ),
        (
            format!("Build the {s}-change doc ({s} commits), one run"),
            "build_sync_ms",
            Unit::Millis,
        ),
    ];

    println!();
    println!(
        "| Measurement | {} | {} | {} | 0.12 / Duet's 0.6 |",
        label(VERSIONS[0]),
        label(VERSIONS[1]),
        label(VERSIONS[2])
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, key, unit) in rows {
        let values: Vec<f64> = all
            .iter()
            .map(|r| r.get(key).map_or(f64::NAN, |v| median(v)))
            .collect();
        println!(
            "| {name} | {} | {} | {} | {:.2}× |",
            format_value(values[0], unit),
            format_value(values[1], unit),
            format_value(values[2], unit),
            values[2] / values[0]
        );
    }
    println!();
    println!(
        "Text encoding: UTF-16 code units in all (0.6.1 feature `utf16-indexing`, \
         all also set `TextEncoding::Utf16CodeUnit` explicitly). Times are wall-clock medians."
    );
    concurrent_table(sizes, flag);
}

/// Load times of histories written by several people at once, per version.
fn concurrent_table(sizes: Sizes, flag: Option<&str>) {
    println!();
    println!(
        "Load of a history written by several people at once ({ROUND_EDITS} characters \
         each per round, then all merge), median of {}:",
        sizes.load_runs
    );
    println!();
    let loads: Vec<String> = VERSIONS.iter().map(|v| format!("load {}", label(v))).collect();
    let memory: Vec<String> = VERSIONS
        .iter()
        .map(|v| format!("memory per change {}", label(v)))
        .collect();
    println!(
        "| Authors | Changes | {} | {} |",
        loads.join(" | "),
        memory.join(" | ")
    );
    println!("| ---: | ---: |{}", " ---: |".repeat(2 * VERSIONS.len()));
    for authors in AUTHORS {
        for changes in sizes.concurrent {
            let saved = std::env::temp_dir().join(format!(
                "automerge-choice-{}-{authors}x{changes}.automerge",
                std::process::id()
            ));
            let saved_str = saved.to_str().expect("utf-8 temp path");
            eprintln!("concurrent: {authors} authors, {changes} changes...");
            run_child(
                flag,
                &[
                    "build-concurrent",
                    &authors.to_string(),
                    &changes.to_string(),
                    saved_str,
                ],
            );
            let cells: Vec<(String, String)> = VERSIONS
                .iter()
                .map(|version| {
                    let mut results = Results::new();
                    for _ in 0..sizes.load_runs {
                        merge_into(
                            &mut results,
                            run_child(flag, &["load-concurrent", version, saved_str]),
                        );
                    }
                    let us = results
                        .get("concurrent_load_us")
                        .map_or(f64::NAN, |v| median(v));
                    // The resident set the loaded document added, per change.
                    let kb = results
                        .get("concurrent_rss_growth_kb")
                        .map_or(f64::NAN, |v| median(v));
                    let per_change = format!("{:.0} B", kb * 1024.0 / changes as f64);
                    (format_value(us, Unit::Micros), per_change)
                })
                .collect();
            let _ = std::fs::remove_file(&saved);
            let loads: Vec<&str> = cells.iter().map(|c| c.0.as_str()).collect();
            let memory: Vec<&str> = cells.iter().map(|c| c.1.as_str()).collect();
            println!(
                "| {authors} | {changes} | {} | {} |",
                loads.join(" | "),
                memory.join(" | ")
            );
        }
    }
}
