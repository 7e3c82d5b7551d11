//! duet-load: N simulated users over D specs type through real websockets; reports propagation and durable-ack latency, drain, convergence, and server RSS/CPU.

pub mod accounts;
pub mod hocuspocus;
pub mod http;
mod peer;
mod proc;
mod report;
pub mod spawn;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use duet_model::automerge::transaction::{CommitOptions, Transactable};
use duet_model::automerge::{AutoCommit, ReadDoc, ROOT};
use duet_model::{Author, Spec, UserId};
use duet_protocol::DocumentId;
use rand::{rngs::StdRng, SeedableRng};
use tokio::sync::{Barrier, Semaphore};

pub use peer::{Peer, PeerReport};
pub use proc::ProcStat;
pub use report::{Percentiles, Report, Totals};
pub use spawn::ServerKind;

/// One run's workload.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's websocket endpoint, `ws://host:port/sync`.
    pub url: String,
    /// Simulated users, spread round-robin over the specs.
    pub users: u32,
    pub specs: u32,
    /// Edits per second per user.
    pub rate: f64,
    /// How long users type.
    pub duration: Duration,
    /// Changes each spec holds before the run (a long-lived spec).
    pub history: u32,
    /// How long to wait after typing stops for every edit to arrive.
    pub drain_limit: Duration,
    /// The server's process id, to read its RSS and CPU time from `/proc`.
    pub server_pid: Option<u32>,
    /// Which server this is: Duet's users sign up and share their specs first; the
    /// automerge-repo server has no accounts.
    pub server: ServerKind,
}

/// Runs the workload and measures it.
pub async fn run(config: &Config) -> Result<Report> {
    if config.users < config.specs || config.specs == 0 {
        bail!("need at least one user per spec");
    }
    let epoch = Instant::now();
    let specs = config.specs as usize;
    let with_accounts = match config.server {
        ServerKind::Duet => true,
        ServerKind::AutomergeRepo => false,
        ServerKind::Hocuspocus => bail!("Hocuspocus runs with its own clients (hocuspocus::run)"),
    };
    // On Duet every simulated user is an account of its own; the first user of each spec owns it.
    let addr = accounts::server_addr(&config.url)?;
    let mut signing_up = tokio::task::JoinSet::new();
    let gate = Arc::new(Semaphore::new(8));
    for user in (0..config.users).filter(|_| with_accounts) {
        let gate = gate.clone();
        signing_up.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let token = accounts::token_for(addr, &user_name(user)).await?;
            Ok::<_, anyhow::Error>((user, token))
        });
    }
    let mut urls = vec![config.url.clone(); config.users as usize];
    while let Some(done) = signing_up.join_next().await {
        let (user, token) = done??;
        urls[user as usize] = accounts::signed(&config.url, &token);
    }
    let seeds = seed_specs(config, &urls, epoch).await?;
    let ids: Vec<DocumentId> = seeds.iter().map(|(id, _)| *id).collect();
    for user in (config.specs..config.users).filter(|_| with_accounts) {
        let s = user % config.specs;
        let owner = urls[s as usize].rsplit_once("token=").map_or("", |t| t.1);
        accounts::share(addr, owner, ids[s as usize], &user_name(user)).await?;
    }

    // Every other user joins with nothing and is served the spec by the server.
    let mut peers: Vec<(usize, Peer)> = Vec::new();
    for (s, (_, peer)) in seeds.into_iter().enumerate() {
        peers.push((s, peer));
    }
    let gate = Arc::new(Semaphore::new(64));
    let mut joining = tokio::task::JoinSet::new();
    for user in config.specs..config.users {
        let s = (user % config.specs) as usize;
        let url = urls[user as usize].clone();
        let (id, gate) = (ids[s], gate.clone());
        joining.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            // Each user types as a Duet author of its own, as the browser app does.
            let author = Author::new(UserId::parse(&user_name(user))?, &mut rand::rng());
            let doc = AutoCommit::new().with_actor(author.actor_id());
            let mut peer = Peer::connect(&url, user, id, doc, epoch, false).await?;
            if !peer
                .pump_until(Duration::from_secs(120), |p| p.in_sync())
                .await?
            {
                bail!("user {user} never received spec {id}");
            }
            Ok::<_, anyhow::Error>((s, peer))
        });
    }
    while let Some(joined) = joining.join_next().await {
        peers.push(joined??);
    }

    let server_before = config.server_pid.and_then(ProcStat::read);
    let load_before = ProcStat::read_self();
    let sent_per_spec: Arc<Vec<AtomicU64>> =
        Arc::new((0..specs).map(|_| AtomicU64::new(0)).collect());
    let barrier = Arc::new(Barrier::new(peers.len()));
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for (s, mut peer) in peers {
        let (config, sent, barrier) = (config.clone(), sent_per_spec.clone(), barrier.clone());
        running.spawn(async move {
            let typed = peer.type_for(config.rate, config.duration).await;
            sent[s].fetch_add(peer.report.sent, Ordering::SeqCst);
            // Every peer waits here even after a failure, so the others are not stuck.
            barrier.wait().await;
            typed?;
            let stopped = Instant::now();
            let expected = sent[s].load(Ordering::SeqCst) - peer.report.sent;
            let drained = peer
                .pump_until(config.drain_limit, |p| {
                    p.report.received >= expected && p.pending_acks() == 0
                })
                .await?;
            let drain = stopped.elapsed();
            let report = peer.finish().await;
            Ok::<_, anyhow::Error>((s, expected, drained, drain, report))
        });
    }
    let mut results = Vec::new();
    while let Some(done) = running.join_next().await {
        results.push(done??);
    }
    let wall = started.elapsed();
    let server_after = config.server_pid.and_then(ProcStat::read);
    let load_after = ProcStat::read_self();

    // Convergence: every replica of a spec, and a fresh reader, end on the same heads.
    let mut converged = true;
    for (s, id) in ids.iter().enumerate() {
        let mut reader = Peer::connect(
            &urls[s],
            u32::MAX - s as u32,
            *id,
            AutoCommit::new(),
            epoch,
            false,
        )
        .await?;
        reader
            .pump_until(Duration::from_secs(120), |p| p.in_sync())
            .await?;
        let fresh = reader.heads();
        converged &= results
            .iter()
            .filter(|r| r.0 == s)
            .all(|r| r.4.heads == fresh);
        reader.finish().await;
    }

    Ok(Report::build(
        config,
        Totals::of_peers(
            results
                .into_iter()
                .map(|(_, expected, drained, drain, report)| (expected, drained, drain, report))
                .collect(),
        ),
        converged,
        wall,
        (server_before, server_after),
        (load_before, load_after),
    ))
}

/// The account name of simulated user `n`.
fn user_name(n: u32) -> String {
    format!("load-{n}")
}

/// Creates each spec on the server through its first user, with `history` changes already in it.
async fn seed_specs(
    config: &Config,
    urls: &[String],
    epoch: Instant,
) -> Result<Vec<(DocumentId, Peer)>> {
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let mut out = Vec::new();
    for s in 0..config.specs {
        // A new id every run: a second run against the same server makes new specs.
        let id = DocumentId::random(&mut rand::rng());
        let user = UserId::parse(&user_name(s)).context("user id")?;
        let mut doc = Spec::new(Author::new(user, &mut rng)).into_doc();
        add_history(&mut doc, config.history)?;
        let mut peer = Peer::connect(&urls[s as usize], s, id, doc, epoch, true).await?;
        if !peer
            .pump_until(Duration::from_secs(300), |p| p.in_sync())
            .await?
        {
            bail!("the server never acknowledged spec {id}");
        }
        out.push((id, peer));
    }
    Ok(out)
}

/// Appends `n` one-character changes to the spec's problem text.
pub fn add_history(doc: &mut AutoCommit, n: u32) -> Result<()> {
    let (_, text) = doc.get(ROOT, "problem")?.context("no problem text")?;
    for i in 0..n {
        let len = doc.length(&text);
        let at = (i as usize * 7919) % (len + 1);
        doc.splice_text(&text, at, 0, if i % 5 == 4 { " " } else { "h" })?;
        doc.commit_with(CommitOptions::default().with_message("history"));
    }
    Ok(())
}
