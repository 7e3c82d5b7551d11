//! Malformed-input flood: 100 connections send random and mutated frames at `duet serve` (256 MiB in CI mode) while 20 honest clients type; the server stays up with bounded memory, closes every bad connection with the code its fault deserves, and the honest clients deliver everything and converge. Their latency with and without the flood is printed (measured, not asserted).
//!
//! Long mode (1 GiB, release build): `cargo xtask drill`; `DUET_FLOOD_MIB` sets the volume.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use duet_load::spawn::spawn_duet_on;
use duet_load::{accounts, Config, Peer, ProcStat, ServerKind};
use duet_model::automerge::sync::{self, SyncDoc};
use duet_model::automerge::transaction::Transactable;
use duet_model::automerge::{AutoCommit, ReadDoc, ROOT};
use duet_model::{Author, Spec, UserId};
use duet_protocol::{DocumentId, Message, PeerId, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as Frame;

/// Bad connections open at once.
const FLOODERS: usize = 100;
/// Accounts they use (the server allows 64 connections per user).
const FLOOD_USERS: usize = 5;
/// The server's message cap in this drill (smaller than the default, so oversized frames
/// cost the flood less time than the volume they stand for).
const MAX_MESSAGE: usize = 1024 * 1024;
/// The largest join the server reads (`ws.rs`).
const MAX_JOIN: usize = 16 * 1024;

/// What a bad connection sends, and the close codes that are right for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// Random bytes instead of a join: 1002 (or 1009 past the join's size cap).
    GarbageJoin,
    /// A join, then random bytes: 1002.
    Garbage,
    /// A join, then a text frame: 1003.
    Text,
    /// A join, then a frame over the message cap: 1009.
    Oversized,
    /// A join, then a valid sync message for the sender's own spec with random bytes
    /// flipped: 1002 / 1008, or an answer if the flip left it valid.
    Mutated,
}

impl Fault {
    fn right(self, code: u16, size: usize) -> bool {
        match self {
            Fault::GarbageJoin if size > MAX_JOIN => code == 1009,
            Fault::GarbageJoin | Fault::Garbage => code == 1002,
            Fault::Text => code == 1003,
            Fault::Oversized => code == 1009,
            Fault::Mutated => code == 1002 || code == 1008,
        }
    }
}

#[derive(Debug, Default)]
struct Outcomes {
    /// Per fault: close code → count; code 0: answered and left open (mutated only).
    codes: BTreeMap<Fault, BTreeMap<u16, u64>>,
    wrong: Vec<String>,
    /// Time from the bad frame sent to the close frame received, in ms.
    close_ms: Vec<f64>,
}

fn duet() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_duet"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_malformed_frames_is_refused_while_honest_typists_converge() -> Result<()> {
    let mib: u64 = std::env::var("DUET_FLOOD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let target_bytes = mib * 1024 * 1024;
    let seed: u64 = rand::rng().random();
    println!("flood drill: seed {seed}, {mib} MiB from {FLOODERS} connections");
    let data = tempfile::tempdir()?;
    let max = MAX_MESSAGE.to_string();
    let server = spawn_duet_on(
        duet(),
        data.path(),
        &["--max-message-bytes", &max],
        &[("RUST_LOG", "error")],
    )?;
    let pid = server.child.id();
    let honest = |duration: u64| Config {
        url: server.url.clone(),
        users: 20,
        specs: 1,
        rate: 2.0,
        duration: Duration::from_secs(duration),
        history: 0,
        drain_limit: Duration::from_secs(60),
        server_pid: Some(pid),
        server: ServerKind::Duet,
    };

    // The honest clients alone, for comparison.
    let calm = duet_load::run(&honest(5)).await?;
    assert!(calm.ok(), "without the flood: {calm:?}");

    // The flood's accounts, each with a spec of its own to send mutated messages about.
    let addr = accounts::server_addr(&server.url)?;
    let mut own = Vec::new();
    for u in 0..FLOOD_USERS {
        let name = format!("flood-{u}");
        let token = accounts::token_for(addr, &name).await?;
        let url = accounts::signed(&server.url, &token);
        let mut rng = StdRng::seed_from_u64(seed ^ u as u64);
        let id = DocumentId::random(&mut rng);
        let doc = Spec::new(Author::new(UserId::parse(&name)?, &mut rng)).into_doc();
        let mut owner = Peer::connect(&url, 1000 + u as u32, id, doc, Instant::now(), true).await?;
        if !owner
            .pump_until(Duration::from_secs(30), |p| p.in_sync())
            .await?
        {
            bail!("{name}'s spec was not stored");
        }
        own.push((url, id, owner.into_doc()));
    }
    let own = Arc::new(own);
    // Random bytes to cut frames from (drawing each frame afresh would cost more than the
    // server's work on it in a debug build).
    let mut pool = vec![0u8; 2 * MAX_MESSAGE];
    StdRng::seed_from_u64(seed).fill_bytes(&mut pool);
    let pool = Arc::new(pool);
    let sent = Arc::new(AtomicU64::new(0));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut flood = tokio::task::JoinSet::new();
    for slot in 0..FLOODERS {
        let (own, sent, outcomes, pool) =
            (own.clone(), sent.clone(), outcomes.clone(), pool.clone());
        flood.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(slot as u64));
            let (url, id, doc) = &own[slot % FLOOD_USERS];
            while sent.load(Ordering::Relaxed) < target_bytes {
                let fault = match rng.random_range(0..10) {
                    0 => Fault::GarbageJoin,
                    1..=4 => Fault::Garbage,
                    5 => Fault::Text,
                    6 => Fault::Oversized,
                    _ => Fault::Mutated,
                };
                let result = attack(url, *id, doc, fault, &pool, &mut rng).await;
                let mut out = outcomes.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok((size, code, took)) => {
                        sent.fetch_add(size as u64, Ordering::Relaxed);
                        *out.codes.entry(fault).or_default().entry(code).or_default() += 1;
                        if code != 0 {
                            out.close_ms.push(took.as_secs_f64() * 1000.0);
                            if !fault.right(code, size) {
                                out.wrong
                                    .push(format!("{fault:?} of {size} bytes: closed {code}"));
                            }
                        }
                    }
                    Err(e) => out.wrong.push(format!("{fault:?}: {e:#}")),
                }
            }
        });
    }
    // The honest clients type through the flood.
    let started = Instant::now();
    let stormy = duet_load::run(&honest(15)).await?;
    let during = sent.load(Ordering::Relaxed);
    while let Some(done) = flood.join_next().await {
        done?;
    }
    let flood_s = started.elapsed().as_secs_f64();

    // Still up, and still serving: a fresh reader gets a flood user's spec.
    let (url, id, _) = &own[0];
    let mut reader =
        Peer::connect(url, 2000, *id, AutoCommit::new(), Instant::now(), false).await?;
    assert!(
        reader
            .pump_until(Duration::from_secs(30), |p| p.in_sync())
            .await?,
        "the server stopped serving after the flood"
    );
    reader.finish().await;
    let mut server = server;
    assert!(server.child.try_wait()?.is_none(), "the server died");
    let proc = ProcStat::read(pid).context("reading the server's /proc")?;

    let out = outcomes.lock().unwrap_or_else(|e| e.into_inner());
    let mut close_ms = out.close_ms.clone();
    close_ms.sort_by(f64::total_cmp);
    let pct = |q: f64| close_ms[((close_ms.len() - 1) as f64 * q) as usize];
    let total = sent.load(Ordering::Relaxed);
    println!(
        "flood drill (seed {seed}): {:.0} MiB in {flood_s:.0} s ({:.0} MiB while the honest clients typed), {} bad connections: {:?}; close after the bad frame p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} over 1 s); wrong codes {}; server RSS {:.0} MiB (peak {:.0} MiB), restarts 0; honest 20×1 p99 {:.1} ms calm → {:.1} ms in the flood ({:.2}×), delivered {} / {}, converged {}",
        total as f64 / 1048576.0,
        during as f64 / 1048576.0,
        close_ms.len(),
        out.codes,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        close_ms.iter().filter(|ms| **ms > 1000.0).count(),
        out.wrong.len(),
        proc.rss_kib as f64 / 1024.0,
        proc.peak_rss_kib as f64 / 1024.0,
        calm.latency.p99_ms,
        stormy.latency.p99_ms,
        stormy.latency.p99_ms / calm.latency.p99_ms.max(0.001),
        stormy.received,
        stormy.expected,
        stormy.converged,
    );
    assert!(out.wrong.is_empty(), "wrong answers: {:?}", out.wrong);
    assert!(total >= target_bytes);
    assert!(stormy.ok(), "honest clients in the flood: {stormy:?}");
    assert!(
        proc.peak_rss_kib < 1024 * 1024,
        "the server's memory grew past 1 GiB"
    );
    drop(server);
    Ok(())
}

/// One bad connection: connects, sends `fault`, and waits for the server's close.
/// Returns (bytes of the bad frame, close code or 0 if it answered and stayed open,
/// time from sending to the close).
async fn attack(
    url: &str,
    id: DocumentId,
    doc: &duet_model::automerge::Automerge,
    fault: Fault,
    pool: &[u8],
    rng: &mut StdRng,
) -> Result<(usize, u16, Duration)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let me = PeerId::new(&format!("flood-{}", rng.random::<u32>()))?;
    if fault != Fault::GarbageJoin {
        let join = Message::Join {
            sender: me.clone(),
            supported_versions: vec![PROTOCOL_VERSION.into()],
            metadata: None,
        };
        ws.send(Frame::Binary(join.encode().into())).await?;
    }
    let random = |rng: &mut StdRng, len: usize| -> Vec<u8> {
        let start = rng.random_range(0..=pool.len() - len);
        let mut bytes = pool[start..start + len].to_vec();
        bytes[0] = rng.random();
        bytes
    };
    let frame = match fault {
        Fault::GarbageJoin => {
            let len = rng.random_range(1..=2 * MAX_JOIN);
            Frame::Binary(random(rng, len).into())
        }
        Fault::Garbage => {
            let len = rng.random_range(1..=MAX_MESSAGE);
            Frame::Binary(random(rng, len).into())
        }
        Fault::Text => {
            let len = rng.random_range(1..=64 * 1024);
            let text: String = random(rng, len)
                .into_iter()
                .map(|b| char::from(b'a' + b % 26))
                .collect();
            Frame::Text(text.into())
        }
        Fault::Oversized => Frame::Binary(random(rng, MAX_MESSAGE + 1).into()),
        Fault::Mutated => {
            // A real edit of the sender's own spec, as a sync message, then flipped bytes.
            let mut copy = AutoCommit::load(&doc.save())?;
            let (_, text) = copy.get(ROOT, "problem")?.context("no problem text")?;
            copy.splice_text(&text, 0, 0, "x")?;
            let mut state = sync::State::new();
            let data = copy
                .sync()
                .generate_sync_message(&mut state)
                .context("no sync message")?
                .encode();
            let mut bytes =
                Message::sync_or_request(false, me.clone(), PeerId::new("duet-server")?, id, data)
                    .encode();
            for _ in 0..rng.random_range(1..=8) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= rng.random_range(1..=255u8);
            }
            Frame::Binary(bytes.into())
        }
    };
    let size = frame.len();
    let sent = Instant::now();
    // The server may close before it has read a big frame: a failed send still counts.
    let _ = ws.send(frame).await;
    let answered_open = Duration::from_secs(if fault == Fault::Mutated { 2 } else { 30 });
    loop {
        match tokio::time::timeout(answered_open, ws.next()).await {
            Ok(Some(Ok(Frame::Close(Some(close))))) => {
                return Ok((size, u16::from(close.code), sent.elapsed()))
            }
            Ok(Some(Ok(Frame::Close(None)))) => bail!("closed without a code"),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => bail!("transport error instead of a close frame: {e}"),
            Ok(None) => bail!("the connection ended without a close frame"),
            // A flip that left the message valid: the server may answer it, or accept it
            // silently; either way the connection stays open.
            Err(_) if fault == Fault::Mutated => {
                let _ = ws.close(Some(close_frame())).await;
                return Ok((size, 0, sent.elapsed()));
            }
            Err(_) => bail!("not closed within {answered_open:?}"),
        }
    }
}

fn close_frame() -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }
}
