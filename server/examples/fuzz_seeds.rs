//! Writes `fuzz/seeds/<target>/` from the inputs each fuzz target starts from (`duet_server::fuzzing::seeds`): run `cargo xtask fuzz-seeds` after changing them; the tests check the folder matches.

use std::path::Path;

use anyhow::Context;
use duet_server::fuzzing::{seed_name, seeds, TARGETS};

fn main() -> anyhow::Result<()> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for target in TARGETS {
        let dir = fuzz.join(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let seeds = seeds(target);
        for seed in &seeds {
            std::fs::write(dir.join(seed_name(seed)), seed)?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}
