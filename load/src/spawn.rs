//! A `duet serve` child on a free loopback port with a fresh data folder, for the load tools.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// A `duet serve` child with a temporary data folder, killed on drop.
#[derive(Debug)]
pub struct Spawned {
    pub child: Child,
    pub url: String,
    _data: tempfile::TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_server(duet: &Path) -> Result<Spawned> {
    let data = tempfile::tempdir()?;
    let mut child = Command::new(duet)
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", duet.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let Some(addr) = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
    else {
        let _ = child.kill();
        bail!("duet did not print its address: {line:?}");
    };
    Ok(Spawned {
        url: format!("ws://{addr}/sync"),
        child,
        _data: data,
    })
}

/// The `duet` binary: the one given, else the one next to this program.
pub fn duet_binary(given: Option<PathBuf>) -> Result<PathBuf> {
    Ok(match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .with_file_name("duet")
            .with_extension(std::env::consts::EXE_EXTENSION),
    })
}
