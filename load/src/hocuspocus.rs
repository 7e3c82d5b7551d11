//! The same workload against Hocuspocus, typed by its own provider clients (`load/node/hocuspocus-load.mjs`, one Node process) and measured like Duet's run: the server's CPU and RSS from `/proc`, the client's CPU as the load generator's.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{Config, ProcStat, Report, Totals};

/// What the Node client prints on its last line.
#[derive(Debug, Deserialize)]
struct ClientOutput {
    sent: u64,
    received: u64,
    expected: u64,
    unacked: u64,
    latencies_us: Vec<u64>,
    acks_us: Vec<u64>,
    drain_ms: f64,
    drained: bool,
    converged: bool,
    wall_ms: f64,
}

/// Runs `config`'s workload against the Hocuspocus server at `config.url` with the client in
/// the `node` folder.
pub async fn run(config: &Config, node: &Path) -> Result<Report> {
    let (config, node) = (config.clone(), node.to_path_buf());
    tokio::task::spawn_blocking(move || run_blocking(&config, &node)).await?
}

fn run_blocking(config: &Config, node: &Path) -> Result<Report> {
    let workload = serde_json::json!({
        "url": config.url,
        "users": config.users,
        "docs": config.specs,
        "rate": config.rate,
        "duration_ms": config.duration.as_millis() as u64,
        "history": config.history,
        "drain_ms": config.drain_limit.as_millis() as u64,
    });
    let mut child = Command::new("node")
        .arg(node.join("hocuspocus-load.mjs"))
        .arg(workload.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the Hocuspocus client (node)")?;
    let pid = child.id();
    let lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    let (mut server, mut load) = ((None, None), (None, None));
    let mut output = None;
    for line in lines {
        let line = line?;
        match line.as_str() {
            "typing" => {
                server.0 = config.server_pid.and_then(ProcStat::read);
                load.0 = ProcStat::read(pid);
            }
            "drained" => {
                server.1 = config.server_pid.and_then(ProcStat::read);
                load.1 = ProcStat::read(pid);
            }
            json if json.starts_with('{') => {
                output = Some(serde_json::from_str::<ClientOutput>(json)?);
            }
            _ => {}
        }
    }
    let status = child.wait()?;
    let Some(out) = output.filter(|_| status.success()) else {
        bail!("the Hocuspocus client failed ({status})");
    };
    Ok(Report::build(
        config,
        Totals {
            sent: out.sent,
            received: out.received,
            expected: out.expected,
            unacked: out.unacked,
            latencies_us: out.latencies_us,
            acks_us: out.acks_us,
            drain: Duration::from_secs_f64(out.drain_ms / 1000.0),
            drained: out.drained,
        },
        out.converged,
        Duration::from_secs_f64(out.wall_ms / 1000.0),
        server,
        load,
    ))
}
