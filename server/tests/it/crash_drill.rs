//! Crash drill: `duet serve` as a child process under writes from 20 clients, stopped again and again on the same data folder by `kill -9` or by an abort at a storage crash point, sometimes with a torn write left at the end of its journal; after every restart every acknowledged change is there and every spec loads, and at the end every replica and the stored copy agree.
//!
//! CI mode: 50 crashes. Long mode (200, release build): `cargo xtask drill`. The seed is
//! printed; `DUET_DRILL_SEED=<seed>` replays a run's choices (which crash, when, where).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use duet_load::spawn::{spawn_duet_on, Spawned};
use duet_load::{accounts, Peer};
use duet_model::automerge::{AutoCommit, Automerge, ChangeHash, ReadDoc};
use duet_model::{Author, Spec, UserId};
use duet_protocol::DocumentId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CLIENTS: u32 = 20;
const SPECS: u32 = 2;
/// Edits per second per client.
const RATE: f64 = 10.0;
/// Small, so snapshot writes and chunk deletions happen many times in a drill.
const COMPACT_AFTER: &str = "25";
/// The storage crash points (`server/src/storage`), and how many passes may go by before
/// one fires: commits happen many times a second, compactions every few dozen commits.
const POINTS: [(&str, u32); 4] = [
    ("storage::before-commit", 40),
    ("storage::after-commit", 40),
    ("storage::chunks-deleted", 3),
    ("storage::snapshot-written", 3),
];

/// How a round ends.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// SIGKILL this long after the server started.
    Kill(Duration),
    /// The process aborts at this crash point after passing it this many times.
    Abort(&'static str, u32),
}

/// One simulated person: their account, their spec and the replica they keep across
/// crashes (as a browser keeps its local copy).
struct Client {
    user: u32,
    spec: usize,
    token: String,
    doc: Automerge,
    /// Own changes the server has acknowledged, over the whole drill.
    acked: Vec<ChangeHash>,
}

#[derive(Debug, Default)]
struct Tally {
    kills: u32,
    aborts: BTreeMap<&'static str, u32>,
    not_reached: u32,
    torn: u32,
    refusals: Vec<String>,
    checks: u64,
}

fn name(user: u32) -> String {
    format!("drill-{user}")
}

fn start(data: &Path, crash: Option<Crash>) -> Result<Spawned> {
    let failpoints = match crash {
        Some(Crash::Abort(point, 0)) => format!("{point}=return"),
        Some(Crash::Abort(point, passes)) => format!("{point}={passes}*off->return"),
        _ => String::new(),
    };
    let mut env = vec![("RUST_LOG", "error")];
    if !failpoints.is_empty() {
        env.push(("FAILPOINTS", &failpoints));
    }
    spawn_duet_on(
        Path::new(env!("CARGO_BIN_EXE_duet")),
        data,
        &["--compact-after", COMPACT_AFTER],
        &env,
    )
}

fn signed(server: &Spawned, token: &str) -> String {
    accounts::signed(&server.url, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_kills_and_crash_points() -> Result<()> {
    let rounds: u32 = std::env::var("DUET_DRILL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("DUET_DRILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("crash drill: seed {seed} (DUET_DRILL_SEED={seed} replays it), {rounds} crashes");
    let mut rng = StdRng::seed_from_u64(seed);
    let data = tempfile::tempdir()?;
    let epoch = Instant::now();
    let begun = Instant::now();

    // Accounts and specs, on a server that is then killed like any other.
    let server = start(data.path(), None)?;
    let addr = accounts::server_addr(&server.url)?;
    let mut tokens = Vec::new();
    for user in 0..CLIENTS {
        tokens.push(accounts::token_for(addr, &name(user)).await?);
    }
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for s in 0..SPECS {
        let id = DocumentId::random(&mut rng);
        let author = Author::new(UserId::parse(&name(s))?, &mut rng);
        let doc = Spec::new(author).into_doc();
        let mut owner = Peer::connect(
            &signed(&server, &tokens[s as usize]),
            s,
            id,
            doc,
            epoch,
            true,
        )
        .await?;
        if !owner
            .pump_until(Duration::from_secs(30), |p| p.in_sync())
            .await?
        {
            bail!("the server never took spec {id}");
        }
        ids.push(id);
        clients.push(Client {
            user: s,
            spec: s as usize,
            token: tokens[s as usize].clone(),
            doc: owner.into_doc(),
            acked: Vec::new(),
        });
    }
    for user in SPECS..CLIENTS {
        let spec = (user % SPECS) as usize;
        accounts::share(addr, &tokens[spec], ids[spec], &name(user)).await?;
        let author = Author::new(UserId::parse(&name(user))?, &mut rng);
        clients.push(Client {
            user,
            spec,
            token: tokens[user as usize].clone(),
            doc: Automerge::new().with_actor(author.actor_id()),
            acked: Vec::new(),
        });
    }
    drop(server);

    let mut tally = Tally::default();
    for round in 0..rounds {
        let crash = if rng.random_bool(0.3) {
            let (point, most) = POINTS[rng.random_range(0..POINTS.len())];
            Crash::Abort(point, rng.random_range(0..=most))
        } else {
            Crash::Kill(Duration::from_millis(rng.random_range(20..1500)))
        };
        // Everything acknowledged before the last crash is here, and every spec loads —
        // read from a server without crash points, as loading may compact (and so commit).
        let checking = start(data.path(), None)?;
        tally.checks += verify(&checking, &clients, &ids, &tokens, epoch)
            .await
            .with_context(|| format!("after crash {round} (seed {seed})"))?;
        drop(checking);
        let mut server = start(data.path(), Some(crash))?;

        let mut typing = tokio::task::JoinSet::new();
        for (i, client) in clients.iter_mut().enumerate() {
            let url = signed(&server, &client.token);
            let (user, id) = (client.user, ids[client.spec]);
            let doc = std::mem::take(&mut client.doc);
            typing.spawn(async move {
                let mut peer =
                    match Peer::connect_replica(&url, user, id, doc.clone(), epoch, false).await {
                        Ok(peer) => peer,
                        Err(e) => return (i, doc, Vec::new(), e),
                    };
                let e = match peer.type_for(RATE, Duration::from_secs(60)).await {
                    Err(e) => e,
                    Ok(()) => anyhow::anyhow!("typing outlasted the round"),
                };
                let acked = std::mem::take(&mut peer.report.acked);
                (i, peer.into_doc(), acked, e)
            });
        }
        match crash {
            Crash::Kill(after) => {
                tokio::time::sleep(after).await;
                server.child.kill()?;
                server.child.wait()?;
                tally.kills += 1;
            }
            Crash::Abort(point, _) => {
                let deadline = Instant::now() + Duration::from_secs(10);
                let status = loop {
                    if let Some(status) = server.child.try_wait()? {
                        break Some(status);
                    }
                    if Instant::now() > deadline {
                        break None;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                };
                match status {
                    // SIGABRT: the crash point fired.
                    Some(status)
                        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(6) =>
                    {
                        *tally.aborts.entry(point).or_default() += 1;
                    }
                    Some(status) => bail!("the server stopped on its own: {status} (seed {seed})"),
                    None => {
                        server.child.kill()?;
                        server.child.wait()?;
                        tally.not_reached += 1;
                    }
                }
            }
        }
        while let Some(done) = typing.join_next().await {
            let (i, doc, acked, error) = done?;
            let error = format!("{error:#}");
            // The server's own refusals (a dead server's "connection refused" is no refusal).
            if error.contains("server error:") || error.contains("server refused the join") {
                tally
                    .refusals
                    .push(format!("round {round}: {}: {error}", name(clients[i].user)));
            }
            clients[i].doc = doc;
            clients[i].acked.extend(acked);
        }
        if rng.random_bool(0.25) {
            tear_journal(data.path(), &mut rng)?;
            tally.torn += 1;
        }
    }

    // Everyone comes back: each replica and a fresh reader end on the same heads, and so
    // does the stored copy after one more kill.
    let server = start(data.path(), None)?;
    tally.checks += verify(&server, &clients, &ids, &tokens, epoch).await?;
    let mut peers = Vec::new();
    for client in &clients {
        let url = signed(&server, &client.token);
        let mut peer = Peer::connect_replica(
            &url,
            client.user,
            ids[client.spec],
            client.doc.clone(),
            epoch,
            false,
        )
        .await?;
        if !peer
            .pump_until(Duration::from_secs(60), |p| p.in_sync())
            .await?
        {
            bail!(
                "{} never synced after the drill (seed {seed})",
                name(client.user)
            );
        }
        peers.push((client.spec, peer));
    }
    let mut finals = Vec::new();
    for (s, id) in ids.iter().enumerate() {
        let heads = read_heads(&server, &tokens[s], *id, epoch).await?;
        for (_, peer) in peers.iter_mut().filter(|(spec, _)| *spec == s) {
            let caught_up = peer
                .pump_until(Duration::from_secs(60), |p| p.heads() == heads)
                .await?;
            assert!(
                caught_up,
                "a replica of spec {id} did not converge (seed {seed})"
            );
        }
        finals.push(heads);
    }
    for (_, peer) in peers {
        peer.finish().await;
    }
    drop(server);
    let server = start(data.path(), None)?;
    for (s, id) in ids.iter().enumerate() {
        let stored = read_heads(&server, &tokens[s], *id, epoch).await?;
        assert_eq!(
            stored, finals[s],
            "the stored copy of {id} differs (seed {seed})"
        );
    }
    drop(server);

    let acked: usize = clients.iter().map(|c| c.acked.len()).sum();
    println!(
        "crash drill (seed {seed}): {rounds} crashes in {:.0} s — {} kill -9, aborts at crash points {:?} ({} set but not reached), {} torn journal tails; {acked} acknowledged changes, {} presence checks after restarts, 0 lost; {} refusals; {} replicas and the stored copy converged on {SPECS} specs",
        begun.elapsed().as_secs_f64(),
        tally.kills,
        tally.aborts,
        tally.not_reached,
        tally.torn,
        tally.checks,
        tally.refusals.len(),
        CLIENTS,
    );
    assert!(
        tally.refusals.is_empty(),
        "the server refused replicas after crashes: {:?}",
        tally.refusals
    );
    assert!(
        acked > 0,
        "nothing was acknowledged: the drill measured nothing"
    );
    assert!(
        tally.aborts.values().sum::<u32>() > 0 || rounds < 10,
        "no crash point fired: {tally:?}"
    );
    Ok(())
}

/// Reads every spec fresh from the server and checks that each change acknowledged to
/// anyone is in it. Returns how many acknowledged changes were checked.
async fn verify(
    server: &Spawned,
    clients: &[Client],
    ids: &[DocumentId],
    tokens: &[String],
    epoch: Instant,
) -> Result<u64> {
    let mut checked = 0;
    for (s, id) in ids.iter().enumerate() {
        let doc = read(server, &tokens[s], *id, epoch).await?;
        for client in clients.iter().filter(|c| c.spec == s) {
            for hash in &client.acked {
                if doc.get_change_by_hash(hash).is_none() {
                    bail!(
                        "{}'s change {hash} was acknowledged and is gone from spec {id}",
                        name(client.user)
                    );
                }
                checked += 1;
            }
        }
    }
    Ok(checked)
}

/// The heads of spec `id` as a fresh reader gets it, sorted.
async fn read_heads(
    server: &Spawned,
    token: &str,
    id: DocumentId,
    epoch: Instant,
) -> Result<Vec<ChangeHash>> {
    let mut heads = read(server, token, id, epoch).await?.get_heads();
    heads.sort();
    Ok(heads)
}

/// Spec `id` whole, as a new replica syncing from nothing receives it.
async fn read(server: &Spawned, token: &str, id: DocumentId, epoch: Instant) -> Result<Automerge> {
    let url = signed(server, token);
    let mut reader = Peer::connect(&url, u32::MAX, id, AutoCommit::new(), epoch, false).await?;
    if !reader
        .pump_until(Duration::from_secs(60), |p| p.in_sync())
        .await?
    {
        bail!("spec {id} did not load");
    }
    Ok(reader.into_doc())
}

/// Leaves a torn write at the end of SQLite's journal, as a crash in the middle of
/// appending a transaction would: a frame's worth of bytes, cut short at random.
fn tear_journal(data: &Path, rng: &mut StdRng) -> Result<()> {
    let wal = data.join("duet.sqlite3-wal");
    if !wal.exists() {
        return Ok(());
    }
    let len = rng.random_range(1..=4096 + 24);
    let garbage: Vec<u8> = (0..len).map(|_| rng.random()).collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&wal)?
        .write_all(&garbage)?;
    Ok(())
}
