//! Soak (`cargo xtask soak [minutes]`): 20 people type into one spec for hours while the stored document stays within twice its compacted size, its load time and the server's memory are sampled, and at the end every replica and the stored copy agree.
//!
//! A program, not a test: `DUET_BIN` (the `duet` binary to run, default
//! `target/release/duet`), `DUET_SOAK_MINUTES` (default 120), `DUET_SOAK_RATE` (edits per
//! second per person, default 2) and `DUET_SOAK_SAMPLE_SECS` (default 60) set it up;
//! every sample is printed as a table row. It exits non-zero when a check fails.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use duet_load::spawn::spawn_duet_on;
use duet_load::{accounts, Peer, ProcStat};
use duet_model::automerge::Automerge;
use duet_model::{Author, Spec, UserId};
use duet_protocol::{DocumentId, PeerId};
use duet_server::docs::engine::{Engine, Policy, COMPACT_MIN_BYTES};
use duet_server::storage::Chunk;
use rusqlite::{Connection, OpenFlags};

const PEOPLE: u32 = 20;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One look at the server and its data folder.
#[derive(Debug)]
struct Sample {
    minute: f64,
    /// The spec's stored chunks: count and bytes.
    chunks: usize,
    stored: usize,
    /// The spec saved compactly, as a snapshot would be.
    snapshot: usize,
    /// Loading the stored chunks as the server's document engine does, ms.
    load_ms: f64,
    /// Every file of the data folder (database, journal), bytes.
    folder: u64,
    rss_kib: u64,
    changes: usize,
}

/// The server's resident memory, KiB (0 if it cannot be read).
fn rss_kib(pid: u32) -> u64 {
    ProcStat::read(pid).map_or(0, |s| s.rss_kib)
}

/// Reads the spec's chunks the way the server stores them (a second, read-only
/// connection: SQLite's journal lets it read while the server writes).
fn sample(data: &Path, id: DocumentId, pid: u32, minute: f64) -> Result<Sample> {
    let conn = Connection::open_with_flags(
        data.join("duet.sqlite3"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("SELECT seq, bytes FROM chunks WHERE doc = ?1 ORDER BY seq")?;
    let chunks: Vec<Chunk> = stmt
        .query_map([id.to_string()], |r| {
            Ok(Chunk {
                seq: r.get(0)?,
                bytes: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let started = Instant::now();
    let mut engine = Engine::new(id, PeerId::new("soak")?, Policy::default());
    let bad = engine.load(Some(&chunks), None, Vec::new());
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    if bad > 0 {
        bail!("{bad} stored chunks are corrupt");
    }
    let doc = engine.doc().context("loaded")?;
    let mut folder = 0;
    for entry in std::fs::read_dir(data)? {
        folder += entry?.metadata()?.len();
    }
    Ok(Sample {
        minute,
        chunks: chunks.len(),
        stored: chunks.iter().map(|c| c.bytes.len()).sum(),
        snapshot: doc.save().len(),
        load_ms,
        folder,
        rss_kib: rss_kib(pid),
        changes: doc.get_changes(&[]).len(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let minutes: f64 = env_or("DUET_SOAK_MINUTES", 120.0);
    let rate: f64 = env_or("DUET_SOAK_RATE", 2.0);
    let every = Duration::from_secs(env_or("DUET_SOAK_SAMPLE_SECS", 60));
    let data = tempfile::tempdir()?;
    let bin = std::env::var("DUET_BIN").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/duet"),
        std::path::PathBuf::from,
    );
    let server = spawn_duet_on(&bin, data.path(), &[], &[])?;
    let pid = server.child.id();
    // The server just started.
    let started_kib = rss_kib(pid);
    let addr = accounts::server_addr(&server.url)?;
    let epoch = Instant::now();
    let mut tokens = Vec::new();
    for user in 0..PEOPLE {
        tokens.push(accounts::token_for(addr, &format!("soak-{user}")).await?);
    }
    // The fresh server: its people signed up (argon2 hashing, sessions, tokens), no spec
    // opened yet.
    let fresh_kib = rss_kib(pid);
    let id = DocumentId::random(&mut rand::rng());
    let owner = Author::new(UserId::parse("soak-0")?, &mut rand::rng());
    let url = |user: u32| accounts::signed(&server.url, &tokens[user as usize]);
    let mut first = Peer::connect(&url(0), 0, id, Spec::new(owner).into_doc(), epoch, true).await?;
    if !first
        .pump_until(Duration::from_secs(30), |p| p.in_sync())
        .await?
    {
        bail!("the server never took the spec");
    }
    for user in 1..PEOPLE {
        accounts::share(addr, &tokens[0], id, &format!("soak-{user}")).await?;
    }
    println!(
        "soak: {PEOPLE} people × {rate} edits/s for {minutes} min, a sample every {} s",
        every.as_secs()
    );
    println!("| min | changes | chunks | stored KiB | snapshot KiB | stored/snapshot | load ms | folder KiB | RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let mut typing = tokio::task::JoinSet::new();
    let mut peers = vec![first];
    for user in 1..PEOPLE {
        let author = Author::new(UserId::parse(&format!("soak-{user}"))?, &mut rand::rng());
        let doc = Automerge::new().with_actor(author.actor_id());
        peers.push(Peer::connect_replica(&url(user), user, id, doc, epoch, false).await?);
    }
    for mut peer in peers {
        let left = end.saturating_duration_since(Instant::now());
        typing.spawn(async move {
            let typed = peer.type_for(rate, left).await;
            let settled = peer
                .pump_until(Duration::from_secs(60), |p| p.in_sync())
                .await;
            (peer, typed.and(settled))
        });
    }
    let mut samples = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(every.min(end.saturating_duration_since(Instant::now()))).await;
        let minute = epoch.elapsed().as_secs_f64() / 60.0;
        let s = sample(data.path(), id, pid, minute)?;
        println!(
            "| {:.1} | {} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.0} | {:.1} |",
            s.minute,
            s.changes,
            s.chunks,
            s.stored as f64 / 1024.0,
            s.snapshot as f64 / 1024.0,
            s.stored as f64 / s.snapshot.max(1) as f64,
            s.load_ms,
            s.folder as f64 / 1024.0,
            s.rss_kib as f64 / 1024.0
        );
        samples.push(s);
    }
    let mut peers = Vec::new();
    while let Some(joined) = typing.join_next().await {
        let (peer, result) = joined?;
        result.with_context(|| "a typing client failed")?;
        peers.push(peer);
    }
    // Everyone has stopped: a fresh reader has what the server stored, and every replica
    // catches up to exactly that.
    let mut reader = Peer::connect_replica(&url(0), 0, id, Automerge::new(), epoch, false).await?;
    reader
        .pump_until(Duration::from_secs(120), |p| p.in_sync())
        .await?;
    let stored = reader.heads();
    for (i, peer) in peers.iter_mut().enumerate() {
        let caught_up = peer
            .pump_until(Duration::from_secs(120), |p| p.heads() == stored)
            .await?;
        if !caught_up {
            bail!("replica {i} did not reach the stored copy's heads");
        }
    }
    // Storage: within twice the compacted size, plus what compaction waits for.
    for s in &samples {
        if s.stored > 2 * s.snapshot + COMPACT_MIN_BYTES + 64 * 1024 {
            bail!(
                "at minute {:.1} the spec takes {} bytes stored for a {}-byte snapshot",
                s.minute,
                s.stored,
                s.snapshot
            );
        }
    }
    // What the server still holds once everyone has left and the spec has been let go
    // (after its idle time): within 1.5 times the fresh server's.
    let loaded_kib = rss_kib(pid);
    let replicas = peers.len();
    drop(peers);
    drop(reader);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after_kib = rss_kib(pid);
    if after_kib == 0 {
        bail!("the server is gone: its memory could not be read after everyone left");
    }
    println!(
        "soak: server RSS {:.1} MiB started, {:.1} MiB fresh (people signed up), {:.1} MiB at the first sample, {:.1} MiB with the spec loaded at the end, {:.1} MiB 60 s after everyone left",
        started_kib as f64 / 1024.0,
        fresh_kib as f64 / 1024.0,
        samples.first().map_or(0.0, |s| s.rss_kib as f64 / 1024.0),
        loaded_kib as f64 / 1024.0,
        after_kib as f64 / 1024.0,
    );
    if after_kib * 2 > fresh_kib * 3 {
        bail!(
            "60 s after everyone left the server still holds {} KiB, over 1.5 times the fresh server's {} KiB",
            after_kib,
            fresh_kib
        );
    }
    // Memory: once warm (after the first quarter), the server's RSS does not keep growing.
    let warm: Vec<&Sample> = samples.iter().skip(samples.len() / 4).collect();
    if let (Some(a), Some(b)) = (warm.first(), warm.last()) {
        let limit = a.rss_kib + a.rss_kib / 2 + 32 * 1024;
        if b.rss_kib > limit {
            bail!(
                "server RSS grew from {} to {} KiB after warming up",
                a.rss_kib,
                b.rss_kib
            );
        }
    }
    println!(
        "soak: {} samples, {} replicas and the stored copy agree",
        samples.len(),
        replicas
    );
    Ok(())
}
