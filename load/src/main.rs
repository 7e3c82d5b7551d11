//! `duet-load`: runs the typing workload against a Duet server (its own fresh `duet serve` per size, or one given by URL) and prints a Markdown table and JSON.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use duet_load::spawn::{duet_binary, spawn_server};
use duet_load::{Config, Report};

#[derive(Debug, Parser)]
#[command(
    name = "duet-load",
    about = "Simulated users typing into Duet specs over real websockets"
)]
struct Args {
    /// Server websocket URL (ws://HOST:PORT/sync). Without it, each size gets its own
    /// `duet serve` on a free loopback port with a fresh data folder.
    #[arg(long)]
    url: Option<String>,
    /// The server's PID, for RSS and CPU (only with --url; spawned servers are measured anyway).
    #[arg(long)]
    server_pid: Option<u32>,
    /// The `duet` binary to spawn (default: next to this one).
    #[arg(long)]
    duet: Option<PathBuf>,
    /// Workload sizes as USERSxSPECS; repeat for a matrix.
    #[arg(long = "size", default_value = "2x1")]
    sizes: Vec<String>,
    /// Edits per second per user.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds of typing per size.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Changes each spec holds before typing starts.
    #[arg(long, default_value_t = 0)]
    history: u32,
    /// Seconds to wait for every edit to arrive after typing stops.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// Write the reports as a JSON array here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (u, d) = s
        .split_once(['x', '×'])
        .with_context(|| format!("size `{s}` is not USERSxSPECS"))?;
    Ok((u.trim().parse()?, d.trim().parse()?))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let duet = duet_binary(args.duet.clone())?;
    let mut reports: Vec<Report> = Vec::new();
    for size in &args.sizes {
        let (users, specs) = parse_size(size)?;
        let spawned = match &args.url {
            Some(_) => None,
            None => Some(spawn_server(&duet)?),
        };
        let config = Config {
            url: args
                .url
                .clone()
                .or_else(|| spawned.as_ref().map(|s| s.url.clone()))
                .context("no server")?,
            users,
            specs,
            rate: args.rate,
            duration: Duration::from_secs_f64(args.duration),
            history: args.history,
            drain_limit: Duration::from_secs_f64(args.drain),
            server_pid: args
                .server_pid
                .or_else(|| spawned.as_ref().map(|s| s.child.id())),
        };
        eprintln!(
            "duet-load: {users}×{specs}, {} edits/s/user for {}s, history {}",
            args.rate, args.duration, args.history
        );
        let report = duet_load::run(&config).await?;
        eprintln!("{}", serde_json::to_string(&report)?);
        reports.push(report);
        drop(spawned);
    }
    println!("{}", Report::MARKDOWN_HEADER);
    for r in &reports {
        println!("{}", r.markdown_row());
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&reports)?)?;
    }
    if let Some(bad) = reports.iter().find(|r| !r.ok()) {
        bail!(
            "{}×{}: delivered {} of {}, {} unacknowledged, converged: {}",
            bad.users,
            bad.specs,
            bad.received,
            bad.expected,
            bad.unacked,
            bad.converged
        );
    }
    Ok(())
}
