//! The servers under test as child processes on free loopback ports with fresh data folders: `duet serve`, the automerge-repo sync server and Hocuspocus (both Node, from `load/node`).

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// Which server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// `duet serve`: accounts, acknowledgement after fsync.
    Duet,
    /// The reference automerge-repo sync server (Node): no accounts; nothing in its protocol
    /// says a change is stored, so the "ack" is its sync reply showing it has the change.
    AutomergeRepo,
    /// Hocuspocus (Node, Yjs) with its own provider clients: the "ack" is its SyncStatus reply
    /// (update applied in memory; stored after its 2 s debounce).
    Hocuspocus,
}

impl ServerKind {
    pub const ALL: [ServerKind; 3] = [
        ServerKind::Duet,
        ServerKind::AutomergeRepo,
        ServerKind::Hocuspocus,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Duet => "duet",
            ServerKind::AutomergeRepo => "automerge-repo",
            ServerKind::Hocuspocus => "hocuspocus",
        }
    }

    /// What this server's acknowledgement means.
    pub fn ack_meaning(self) -> &'static str {
        match self {
            ServerKind::Duet => "on disk (fsync)",
            ServerKind::AutomergeRepo => "received (no storage ack in the protocol)",
            ServerKind::Hocuspocus => "applied in memory (stored after a 2 s debounce)",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServerKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<ServerKind> {
        ServerKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .with_context(|| format!("unknown server `{s}` (duet, automerge-repo, hocuspocus)"))
    }
}

/// Where the programs under test are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `duet` binary.
    pub duet: PathBuf,
    /// The folder with the Node servers and the Hocuspocus client (`load/node`).
    pub node: PathBuf,
}

/// A server child, killed (SIGKILL) on drop, with its temporary data folder unless the
/// caller keeps the folder.
#[derive(Debug)]
pub struct Spawned {
    pub kind: ServerKind,
    pub child: Child,
    /// Its websocket endpoint.
    pub url: String,
    _data: Option<tempfile::TempDir>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a fresh server of `kind` and waits for it to print its address.
pub fn spawn(kind: ServerKind, programs: &Programs) -> Result<Spawned> {
    let data = tempfile::tempdir()?;
    let command = match kind {
        ServerKind::Duet => duet_command(&programs.duet, data.path(), &[], &[]),
        ServerKind::AutomergeRepo | ServerKind::Hocuspocus => {
            let script = match kind {
                ServerKind::AutomergeRepo => "automerge-repo-server.mjs",
                _ => "hocuspocus-server.mjs",
            };
            let mut c = Command::new("node");
            c.arg(programs.node.join(script)).arg("0").arg(data.path());
            c
        }
    };
    start(kind, command, Some(data))
}

/// Starts `duet serve` on a data folder the caller keeps (to restart it there), with
/// more arguments and environment (e.g. `FAILPOINTS` for a test build).
pub fn spawn_duet_on(
    duet: &Path,
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Spawned> {
    start(ServerKind::Duet, duet_command(duet, data, args, env), None)
}

/// `duet serve` on a free loopback port with `data`, warnings only unless `env` says.
fn duet_command(duet: &Path, data: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(duet);
    c.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied());
    c
}

/// Runs `command` and waits for the server to print its address.
fn start(
    kind: ServerKind,
    mut command: Command,
    data: Option<tempfile::TempDir>,
) -> Result<Spawned> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting the {kind} server"))?;
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
    stdout.read_line(&mut line)?;
    // Keep reading what it prints, so a write to a closed pipe never stops it.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let Some(addr) = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
    else {
        let _ = child.kill();
        bail!("the {kind} server did not print its address: {line:?}");
    };
    let url = match kind {
        ServerKind::Duet => format!("ws://{addr}/sync"),
        _ => format!("ws://{addr}"),
    };
    Ok(Spawned {
        kind,
        url,
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

/// The Node folder of this crate (`load/node`), with its npm packages installed from the
/// committed lock when they are missing or older than it.
pub fn node_folder() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (
        modified(&dir.join("node_modules/.package-lock.json")),
        modified(&dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => lock > installed,
        _ => true,
    };
    if stale {
        // `npm install` with the lock (`npm ci` can fail on optional platform packages).
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .context("npm is needed for the reference servers (install nodejs and npm)")?;
        if !status.success() {
            bail!("`npm install` in {} failed ({status})", dir.display());
        }
    }
    Ok(dir)
}

/// Starts a fresh `duet serve`.
pub fn spawn_duet(duet: &Path) -> Result<Spawned> {
    spawn(
        ServerKind::Duet,
        &Programs {
            duet: duet.to_path_buf(),
            node: PathBuf::new(),
        },
    )
}
