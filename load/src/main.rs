//! `duet-load`: runs the typing workload against Duet and, side by side, the automerge-repo sync server and Hocuspocus (each a fresh server per size, or one given by URL); prints Markdown tables, the Duet / other ratios, and JSON.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use duet_load::spawn::{duet_binary, node_folder, spawn, Programs};
use duet_load::{Config, Report, ServerKind};

/// The matrix: users×specs@history.
const MATRIX: &[&str] = &[
    "2x1",
    "20x1",
    "50x1",
    "100x10",
    "200x20",
    "500x50",
    "1000x100",
    "20x1@20000",
    "20x1@100000",
];

#[derive(Debug, Parser)]
#[command(
    name = "duet-load",
    about = "Simulated users typing into specs over real websockets: Duet, and side by side the automerge-repo sync server and Hocuspocus"
)]
struct Args {
    /// Server websocket URL (ws://HOST:PORT/sync). Without it, each size gets its own
    /// fresh server on a free loopback port with a fresh data folder.
    #[arg(long)]
    url: Option<String>,
    /// The server's PID, for RSS and CPU (only with --url; spawned servers are measured anyway).
    #[arg(long)]
    server_pid: Option<u32>,
    /// The `duet` binary to spawn (default: next to this one).
    #[arg(long)]
    duet: Option<PathBuf>,
    /// Servers to measure: duet, automerge-repo, hocuspocus; repeat for several.
    #[arg(long = "server", default_value = "duet")]
    servers: Vec<ServerKind>,
    /// All three servers (same as --server duet --server automerge-repo --server hocuspocus).
    #[arg(long)]
    compare: bool,
    /// Workload sizes as USERSxSPECS or USERSxSPECS@HISTORY; repeat for a matrix.
    #[arg(long = "size")]
    sizes: Vec<String>,
    /// The full matrix: 2x1 20x1 50x1 100x10 200x20 500x50 1000x100 20x1@20000 20x1@100000.
    #[arg(long)]
    matrix: bool,
    /// Edits per second per user.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds of typing per size.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Changes each spec holds before typing starts (for sizes without @HISTORY).
    #[arg(long, default_value_t = 0)]
    history: u32,
    /// Seconds to wait for every edit to arrive after typing stops.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// Write the reports as a JSON array here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `USERSxSPECS[@HISTORY]` → (users, specs, history).
fn parse_size(s: &str, history: u32) -> Result<(u32, u32, u32)> {
    let (size, history) = match s.split_once('@') {
        Some((size, h)) => (size, h.trim().parse().context("history")?),
        None => (s, history),
    };
    let (u, d) = size
        .split_once(['x', '×'])
        .with_context(|| format!("size `{s}` is not USERSxSPECS[@HISTORY]"))?;
    Ok((u.trim().parse()?, d.trim().parse()?, history))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let servers: Vec<ServerKind> = if args.compare {
        ServerKind::ALL.to_vec()
    } else {
        args.servers.clone()
    };
    if args.url.is_some() && servers.len() > 1 {
        bail!("--url measures one server; give one --server with it");
    }
    let mut sizes: Vec<String> = args.sizes.clone();
    if args.matrix {
        sizes.extend(MATRIX.iter().map(|s| s.to_string()));
    }
    if sizes.is_empty() {
        sizes.push("2x1".into());
    }
    let needs_node = args.url.is_none() && servers.iter().any(|k| *k != ServerKind::Duet)
        || servers.contains(&ServerKind::Hocuspocus);
    let programs = Programs {
        duet: duet_binary(args.duet.clone())?,
        node: if needs_node {
            node_folder()?
        } else {
            PathBuf::new()
        },
    };

    let mut reports: Vec<Report> = Vec::new();
    for size in &sizes {
        let (users, specs, history) = parse_size(size, args.history)?;
        for &server in &servers {
            let spawned = match &args.url {
                Some(_) => None,
                None => Some(spawn(server, &programs)?),
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
                history,
                drain_limit: Duration::from_secs_f64(args.drain),
                server_pid: args
                    .server_pid
                    .or_else(|| spawned.as_ref().map(|s| s.child.id())),
                server,
            };
            eprintln!(
                "duet-load: {server} {users}×{specs}, {} edits/s/user for {}s, history {history}",
                args.rate, args.duration
            );
            let report = match server {
                ServerKind::Hocuspocus => duet_load::hocuspocus::run(&config, &programs.node).await,
                _ => duet_load::run(&config).await,
            };
            let report = match report {
                Ok(r) => r,
                // A reference server that cannot keep up is a finding, not the end of the matrix.
                Err(e) if server != ServerKind::Duet => {
                    eprintln!("duet-load: {server} {size} failed: {e:#}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            eprintln!("{}", report.markdown_row());
            reports.push(report);
        }
    }
    println!("{}", Report::MARKDOWN_HEADER);
    for r in &reports {
        println!("{}", r.markdown_row());
    }
    if servers.contains(&ServerKind::Duet) && servers.len() > 1 {
        println!("\n{}", ratios(&reports));
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&reports)?)?;
    }
    if let Some(bad) = reports
        .iter()
        .find(|r| r.server == ServerKind::Duet && !r.ok())
    {
        bail!(
            "duet {}×{}: delivered {} of {}, {} unacknowledged, converged: {}",
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

/// For each size, Duet's p99 latency and server CPU per 1,000 deliveries over each other
/// server's (below 1 means Duet is faster or cheaper).
fn ratios(reports: &[Report]) -> String {
    let mut out = String::from(
        "| users×specs | history | vs | p99 ratio (Duet / other) | CPU per 1k deliveries ratio (Duet / other) | other delivered / expected |\n|---|---|---|---|---|---|",
    );
    let key = |r: &Report| (r.users, r.specs, r.history);
    for duet in reports.iter().filter(|r| r.server == ServerKind::Duet) {
        for other in reports
            .iter()
            .filter(|r| r.server != ServerKind::Duet && key(r) == key(duet))
        {
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}", a / b)
                } else {
                    "–".to_owned()
                }
            };
            let cpu = match (duet.server_cpu_ms_per_1000, other.server_cpu_ms_per_1000) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => "–".to_owned(),
            };
            out.push_str(&format!(
                "\n| {}×{} | {} | {} | {} | {} | {} / {} |",
                duet.users,
                duet.specs,
                duet.history,
                other.server,
                ratio(duet.latency.p99_ms, other.latency.p99_ms),
                cpu,
                other.received,
                other.expected,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_and_without_history() -> anyhow::Result<()> {
        assert_eq!(parse_size("20x1", 7)?, (20, 1, 7));
        assert_eq!(parse_size("20×1@100000", 0)?, (20, 1, 100_000));
        assert!(parse_size("20", 0).is_err());
        assert!(parse_size("20x1@many", 0).is_err());
        Ok(())
    }
}
