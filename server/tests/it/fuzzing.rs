//! Every input kept under `fuzz/` — the seeds each fuzz target starts from, and every crasher a target ever found — runs through its target on every test run.

use std::path::{Path, PathBuf};

use duet_server::fuzzing::{run, seed_name, seeds, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, with their bytes.
fn kept(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("a kept input reads");
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_kept_seed_and_crasher_runs_through_its_target_without_panicking() {
    for target in TARGETS {
        let seeds = kept("seeds", target);
        assert!(!seeds.is_empty(), "{target} has no seeds under fuzz/seeds");
        for (path, bytes) in seeds.iter().chain(&kept("regressions", target)) {
            println!("{target}: {}", path.display());
            assert!(run(target, bytes), "{target} is a fuzz target");
        }
    }
}

#[test]
fn the_kept_seeds_are_the_ones_the_targets_start_from() {
    for target in TARGETS {
        let mut kept: Vec<String> = kept("seeds", target)
            .iter()
            .map(|(_, bytes)| seed_name(bytes))
            .collect();
        let mut expected: Vec<String> = seeds(target).iter().map(|s| seed_name(s)).collect();
        kept.sort();
        expected.sort();
        assert_eq!(
            kept, expected,
            "fuzz/seeds/{target} is stale: refresh it with `cargo xtask fuzz-seeds`"
        );
    }
}
