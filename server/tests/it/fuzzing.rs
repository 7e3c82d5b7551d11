//! The fuzz targets on every test run: every input kept under `fuzz/` (the seeds each target starts from, every crasher a target ever found) runs through its target, then thousands of random mutations of them do. Coverage-guided runs under libFuzzer are `cargo xtask fuzz`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use duet_server::fuzzing::{run, seed_name, seeds, TARGETS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutated inputs run through each target per test run.
const MUTATIONS: usize = 20_000;

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

/// `input` changed by one to eight random edits: bit flips, bytes set to edge values,
/// insertions, deletions, duplicated runs, and splices from another kept input.
fn mutate(input: &[u8], others: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        let len = out.len();
        let at = rng.random_range(0..=len);
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = at.min(len - 1);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = at.min(len - 1);
                out[i] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.random_range(0..5)];
            }
            2 => {
                let bytes: Vec<u8> = (0..rng.random_range(1..=16))
                    .map(|_| rng.random())
                    .collect();
                out.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let end = (at + rng.random_range(1..=32)).min(len);
                out.drain(at.min(len - 1)..end);
            }
            4 if len > 0 => {
                let start = at.min(len - 1);
                let end = (start + rng.random_range(1..=64)).min(len);
                let run = out[start..end].to_vec();
                out.splice(end..end, run);
            }
            5 if !others.is_empty() => {
                let other = &others[rng.random_range(0..others.len())];
                let from = rng.random_range(0..=other.len());
                let end = (from + rng.random_range(1..=128)).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// The seed of this run's mutations: `DUET_FUZZ_SEED` replays a run, otherwise each run
/// tries new ones.
fn mutation_seed() -> u64 {
    std::env::var("DUET_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

#[test]
fn random_mutations_of_the_kept_inputs_hold_every_targets_checks() {
    let seed = mutation_seed();
    println!("mutation seed {seed} (replay with DUET_FUZZ_SEED={seed})");
    for (t, target) in TARGETS.into_iter().enumerate() {
        let kept: Vec<Vec<u8>> = kept("seeds", target)
            .into_iter()
            .chain(kept("regressions", target))
            .map(|(_, bytes)| bytes)
            .collect();
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(t as u64));
        for i in 0..MUTATIONS {
            let input = mutate(&kept[i % kept.len()], &kept, &mut rng);
            if catch_unwind(AssertUnwindSafe(|| run(target, &input))).is_err() {
                let dir = fuzz_dir().join("artifacts").join(target);
                let path = dir.join(format!("crash-{}", seed_name(&input)));
                let saved =
                    std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &input));
                panic!(
                    "{target} failed on a mutated input (seed {seed}, mutation {i}); {}",
                    match saved {
                        Ok(()) => format!(
                            "kept at {} (move it to fuzz/regressions/{target}/)",
                            path.display()
                        ),
                        Err(e) => format!("could not keep it: {e}"),
                    }
                );
            }
        }
    }
}
