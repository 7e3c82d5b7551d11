//! Crash safety: `kill -9` the real `duet` binary during a stream of writes; every change whose acknowledgement the client saw is there after a restart.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use common::Client;
use duet_model::automerge::ChangeHash;
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::DocumentId;
use rand::{rngs::StdRng, Rng, SeedableRng};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// Starts `duet serve` on a free loopback port and returns it with its address.
fn start(data: &Path) -> Result<(Child, SocketAddr)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_duet"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting duet")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .context("no address printed")?;
    let addr = addr.parse()?;
    common::forget_tokens(addr);
    Ok((child, addr))
}

#[tokio::test]
async fn kill_9_during_writes_loses_no_acknowledged_change() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rng = StdRng::seed_from_u64(2026);
    let doc_id = DocumentId::random(&mut rng);
    let mut spec = Spec::new(common::author("pm", 1));
    spec.set_text(&TextField::Title, "crash", NOW)?;
    let mut doc = spec.into_doc();
    let mut acked: Vec<ChangeHash> = Vec::new();
    let mut edits = 0usize;
    for round in 0..3 {
        let (mut child, addr) = start(dir.path())?;
        let url = format!("ws://{addr}/sync");
        // Check everything acknowledged before the last kill is there.
        let mut reader = Client::join_empty(&url, "pm", 100 + round, doc_id).await?;
        if !acked.is_empty() {
            let want = acked.clone();
            reader
                .until(|c| want.iter().all(|h| c.doc.get_change_by_hash(h).is_some()))
                .await
                .with_context(|| {
                    format!("round {round}: acknowledged changes missing after kill -9")
                })?;
        }
        drop(reader);
        // The writer continues from its local copy (which may hold unacknowledged edits).
        let mut writer = Client::open(&url, "pm", 1, doc_id, doc.clone()).await?;
        let kill_after = rng.random_range(30..120);
        for i in 0..kill_after {
            writer
                .edit(|s| s.splice(&TextField::Problem, 0, 0, &format!("{round}.{i} "), NOW))
                .await?;
            edits += 1;
            // Read whatever replies are ready, without waiting for them.
            while let Ok(r) =
                tokio::time::timeout(Duration::from_millis(1), writer.pump_once()).await
            {
                r?;
            }
            if writer.acked() {
                acked = writer.heads();
            }
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        doc = writer.doc.clone();
        if acked.is_empty() {
            bail!("no acknowledgement seen in round {round}");
        }
    }
    // Finally the writer reconnects and everything converges.
    let (mut child, addr) = start(dir.path())?;
    let url = format!("ws://{addr}/sync");
    let mut writer = Client::open(&url, "pm", 1, doc_id, doc).await?;
    writer.until_acked().await?;
    let heads = writer.heads_sorted();
    let mut reader = Client::join_empty(&url, "pm", 999, doc_id).await?;
    reader.until_heads(&heads).await?;
    assert!(edits >= 90);
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_keeps_every_document() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let doc_id = DocumentId::random(&mut StdRng::seed_from_u64(7));
    let mut spec = Spec::new(common::author("pm", 1));
    spec.set_text(&TextField::Title, "graceful", NOW)?;
    let (mut child, addr) = start(dir.path())?;
    let url = format!("ws://{addr}/sync");
    let mut writer = Client::open(&url, "pm", 1, doc_id, spec.into_doc()).await?;
    for i in 0..20 {
        writer
            .edit(|s| s.splice(&TextField::Problem, 0, 0, &format!("{i} "), NOW))
            .await?;
    }
    writer.until_acked().await?;
    let heads = writer.heads_sorted();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert!(exited.success(), "duet exited with {exited} on SIGTERM");
    // The connected client was told the server is going away.
    let (code, _) = common::expect_close(&mut writer.ws).await?;
    assert!(
        matches!(code, Some(c) if u16::from(c) == 1001) || code.is_none(),
        "{code:?}"
    );
    let (mut child, addr) = start(dir.path())?;
    let mut reader = Client::join_empty(&format!("ws://{addr}/sync"), "pm", 2, doc_id).await?;
    reader.until_heads(&heads).await?;
    child.kill()?;
    child.wait()?;
    Ok(())
}
