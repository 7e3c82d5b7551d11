//! `duet-history-bench`: two people type a spec of N changes (default 50,000) through a real server, keystroke by keystroke, then the history REST endpoints are timed: the timeline (first question after the history was read, then again), a diff of two distant versions, blame, a version.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use duet_load::accounts::{request, server_addr, share, signed, token_for};
use duet_load::spawn::{duet_binary, spawn_duet};
use duet_load::Peer;
use duet_model::automerge::AutoCommit;
use duet_model::{
    Author, CriterionKind, ItemId, NewStory, Spec, StoryField, TextField, UnixMillis, UserId,
};
use duet_protocol::DocumentId;
use rand::{rngs::StdRng, Rng, SeedableRng};

#[derive(Debug, Parser)]
#[command(
    name = "duet-history-bench",
    about = "Times history by author on a long-lived spec"
)]
struct Args {
    /// Server websocket URL (ws://HOST:PORT/sync); without it a fresh `duet serve` is started.
    #[arg(long)]
    url: Option<String>,
    /// The `duet` binary to start (default: next to this one).
    #[arg(long)]
    duet: Option<PathBuf>,
    /// Changes the spec ends with.
    #[arg(long, default_value_t = 50_000)]
    changes: usize,
    /// Characters typed into the problem first (the field blamed).
    #[arg(long, default_value_t = 10_000)]
    problem: usize,
    /// Timed repetitions of each request after the first.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Also make these existing accounts editors of the spec (for a browser to open it).
    #[arg(long)]
    share: Vec<String>,
}

/// Keystrokes per turn: each turn is one person's session.
const TURN: usize = 400;

/// Types `n` changes as the person `spec` belongs to, continuing the shared workload.
fn type_turn(spec: &mut Spec, rng: &mut StdRng, state: &mut Workload, n: usize) -> Result<()> {
    for _ in 0..n {
        let now = UnixMillis(1_764_000_000_000 + state.made as i64 * 1000);
        if state.problem_len < state.problem {
            let at = rng.random_range(0..=state.problem_len);
            let ch = char::from(b'a' + rng.random_range(0..26u8));
            spec.splice(&TextField::Problem, at, 0, ch.encode_utf8(&mut [0; 4]), now)?;
            state.problem_len += 1;
        } else if state.stories.is_empty() || rng.random_ratio(1, 200) {
            let id = ItemId::random(rng);
            let new = NewStory {
                as_a: "analyst".into(),
                i_want: format!("story {}", state.stories.len()),
                so_that: String::new(),
            };
            spec.add_story(&id, state.stories.len(), &new, now)?;
            state.stories.push(id);
        } else if rng.random_ratio(1, 100) {
            let story = &state.stories[rng.random_range(0..state.stories.len())];
            spec.add_criterion(
                story,
                &ItemId::random(rng),
                0,
                CriterionKind::Technical,
                "",
                now,
            )?;
        } else {
            let story = state.stories[rng.random_range(0..state.stories.len())].clone();
            let field = TextField::Story {
                story,
                field: StoryField::SoThat,
            };
            let ch = char::from(b'a' + rng.random_range(0..26u8));
            spec.splice(&field, 0, 0, ch.encode_utf8(&mut [0; 4]), now)?;
        }
        state.made += 1;
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Workload {
    made: usize,
    problem: usize,
    problem_len: usize,
    stories: Vec<ItemId>,
}

/// One GET as `token`: (milliseconds, status, body bytes, body).
async fn timed_get(addr: SocketAddr, token: &str, path: &str) -> Result<(f64, u16, String)> {
    let auth = format!("Bearer {token}");
    let start = Instant::now();
    let (status, _, body) = request(addr, "GET", path, Some(("Authorization", &auth)), "").await?;
    Ok((start.elapsed().as_secs_f64() * 1000.0, status, body))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let spawned = match &args.url {
        Some(_) => None,
        None => Some(spawn_duet(&duet_binary(args.duet.clone())?)?),
    };
    let url = args
        .url
        .clone()
        .or_else(|| spawned.as_ref().map(|s| s.url.clone()))
        .context("no server")?;
    let addr = server_addr(&url)?;
    let users = ["bench-pm", "bench-eng"];
    let tokens = [
        token_for(addr, users[0]).await?,
        token_for(addr, users[1]).await?,
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let id = DocumentId::random(&mut rng);
    let authors: Vec<Author> = users
        .iter()
        .map(|u| Ok(Author::new(UserId::parse(u)?, &mut rng)))
        .collect::<Result<_>>()?;
    let mut first = Spec::new(authors[0].clone());
    first.set_text(
        &TextField::Title,
        "History benchmark",
        UnixMillis(1_764_000_000_000),
    )?;
    let epoch = Instant::now();
    let first = first.into_doc();
    // Each person's working copy, edited through `Spec`; its peer carries it to the server.
    let mut copies = [first.clone(), AutoCommit::new()];
    let mut peers =
        vec![Peer::connect(&signed(&url, &tokens[0]), 0, id, first, epoch, true).await?];
    peers[0]
        .pump_until(Duration::from_secs(30), Peer::in_sync)
        .await?;
    share(addr, &tokens[0], id, users[1]).await?;
    for user in &args.share {
        share(addr, &tokens[0], id, user).await?;
    }
    println!("spec {id}");
    peers.push(
        Peer::connect(
            &signed(&url, &tokens[1]),
            1,
            id,
            AutoCommit::new(),
            epoch,
            false,
        )
        .await?,
    );
    let mut work = Workload {
        problem: args.problem,
        ..Workload::default()
    };
    let started = Instant::now();
    let mut turn = 0;
    while work.made < args.changes {
        let me = turn % 2;
        let other = 1 - me;
        // Catch up with the other person's last session, then type one.
        let target = peers[other].heads();
        if turn > 0
            && !peers[me]
                .pump_until(Duration::from_secs(60), |p| p.heads() == target)
                .await?
        {
            bail!("{} never caught up", users[me]);
        }
        // This person's working copy takes what the peer received, then types.
        let mut doc = std::mem::take(&mut copies[me]);
        let news: Vec<_> = peers[me]
            .doc()
            .get_changes(&doc.get_heads())
            .into_iter()
            .cloned()
            .collect();
        doc.apply_changes(news)?;
        let mut spec = Spec::from_doc(doc, authors[me].clone())?;
        let n = TURN.min(args.changes - work.made);
        type_turn(&mut spec, &mut rng, &mut work, n)?;
        let mut doc = spec.into_doc();
        let typed: Vec<_> = doc
            .get_changes(&peers[me].doc().get_heads())
            .into_iter()
            .cloned()
            .collect();
        copies[me] = doc;
        peers[me].offer(typed).await?;
        if !peers[me]
            .pump_until(Duration::from_secs(60), Peer::in_sync)
            .await?
        {
            bail!("the server never acknowledged {}'s session", users[me]);
        }
        turn += 1;
    }
    eprintln!(
        "typed {} changes in {} sessions through the server in {:.1} s",
        work.made,
        turn,
        started.elapsed().as_secs_f64()
    );

    let token = &tokens[0];
    let base = format!("/api/specs/{id}");
    let mut rows: Vec<(String, f64, Vec<f64>, usize)> = Vec::new();
    let mut measure = |name: &str, cold: f64, warm: Vec<f64>, bytes: usize| {
        rows.push((name.to_owned(), cold, warm, bytes));
    };
    let time = |path: String| async move {
        let (ms, status, body) = timed_get(addr, token, &path).await?;
        if status != 200 {
            bail!("GET {path}: {status} {body}");
        }
        Ok::<_, anyhow::Error>((ms, body))
    };
    let (cold, body) = time(format!("{base}/history")).await?;
    let timeline: serde_json::Value = serde_json::from_str(&body)?;
    let sessions = timeline["sessions"].as_array().context("sessions")?;
    let mut warm = Vec::new();
    for _ in 0..args.repeat {
        warm.push(time(format!("{base}/history")).await?.0);
    }
    measure(
        &format!("timeline ({} sessions)", sessions.len()),
        cold,
        warm,
        body.len(),
    );
    let heads = |v: &serde_json::Value| -> Result<String> {
        Ok(v.as_array()
            .context("heads")?
            .iter()
            .filter_map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(","))
    };
    let oldest = sessions.last().context("a session")?;
    let newest = sessions.first().context("a session")?;
    let (from, to) = (heads(&oldest["after"])?, heads(&newest["before"])?);
    for (name, path) in [
        (
            "diff of the first and the last session",
            format!("{base}/diff?from={from}&to={to}"),
        ),
        ("blame of every field", format!("{base}/blame")),
        (
            "a version (after the first session)",
            format!("{base}/version?at={from}"),
        ),
    ] {
        let (cold, body) = time(path.clone()).await?;
        let mut warm = Vec::new();
        for _ in 0..args.repeat {
            warm.push(time(path.clone()).await?.0);
        }
        measure(name, cold, warm, body.len());
    }
    println!(
        "| request ({} changes) | first (ms) | median of next {} (ms) | body (bytes) |",
        work.made, args.repeat
    );
    println!("|---|---:|---:|---:|");
    for (name, cold, mut warm, bytes) in rows {
        warm.sort_by(f64::total_cmp);
        let median = warm.get(warm.len() / 2).copied().unwrap_or(f64::NAN);
        println!("| {name} | {cold:.1} | {median:.1} | {bytes} |");
    }
    drop(spawned);
    Ok(())
}
