//! What an operator runs Duet with: Prometheus metrics (for admins, or on a private address), JSON logs, and the admin commands for accounts and specs.

mod common;

use anyhow::{Context, Result};
use common::{expect_close, http_with, share, token_for, Client, Server, DEADLINE};
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::DocumentId;
use rand::{rngs::StdRng, SeedableRng};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// The value of the sample `name` (with its labels, as written) in a scrape, 0 if absent.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// A port nobody listens on now.
fn free_port() -> Result<std::net::SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

#[tokio::test]
async fn metrics_count_changes_refusals_and_failed_sign_ins_for_admins_and_on_the_private_address(
) -> Result<()> {
    let data = tempfile::tempdir()?;
    let mut config = duet_server::Config::new(data.path());
    let private = free_port()?;
    config.metrics_addr = Some(private);
    let server = Server::start_with(config).await?;
    // The first account is the admin.
    let admin = format!("Bearer {}", token_for(server.addr, "root").await?);

    // Nobody, then someone who is not an admin: refused.
    let r = http_with(server.addr, "GET", "/metrics", &[], None).await?;
    assert_eq!(r.status, 401, "{}", r.body);
    let pm = format!("Bearer {}", token_for(server.addr, "pm").await?);
    let r = http_with(
        server.addr,
        "GET",
        "/metrics",
        &[("Authorization", &pm)],
        None,
    )
    .await?;
    assert_eq!(r.status, 403, "{}", r.body);

    // PM writes a spec, an engineer follows it, a viewer tries to write.
    let mut spec = Spec::new(common::author("pm", 1));
    spec.set_text(&TextField::Title, "Checkout", NOW)?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(1));
    let mut owner = Client::open(&server.ws_url(), "pm", 1, id, spec.into_doc()).await?;
    owner.until_acked().await?;
    share(server.addr, "pm", id, "eng", "editor").await?;
    share(server.addr, "pm", id, "vic", "viewer").await?;
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 2, id).await?;
    eng.until_heads(&owner.heads()).await?;
    for text in ["slow", "slow checkout", "slow checkout on mobile"] {
        owner
            .edit(|s| s.set_text(&TextField::Problem, text, NOW))
            .await?;
        owner.until_acked().await?;
        eng.until_heads(&owner.heads()).await?;
    }
    let mut vic = Client::join_empty(&server.ws_url(), "vic", 3, id).await?;
    vic.until_heads(&owner.heads()).await?;
    vic.doc = {
        let mut s = Spec::from_doc(vic.doc.clone(), common::author("vic", 3))?;
        s.set_text(&TextField::Problem, "vandalised", NOW)?;
        s.into_doc()
    };
    vic.send_sync(false).await?;
    expect_close(&mut vic.ws).await?;
    // A wrong password.
    let wrong = serde_json::json!({ "username": "eng", "password": "not it" }).to_string();
    let r = http_with(server.addr, "POST", "/api/auth/signin", &[], Some(&wrong)).await?;
    assert_eq!(r.status, 401);

    let r = http_with(
        server.addr,
        "GET",
        "/metrics",
        &[("Authorization", &admin)],
        None,
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/openmetrics-text")));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let text = &r.body;
    // The pushed spec's changes and the three edits, accepted and stored; the engineer
    // received each.
    let received = sample(text, "duet_changes_received_total");
    assert!(received >= 4.0, "{text}");
    assert!(
        sample(text, "duet_changes_stored_total") >= received,
        "{text}"
    );
    assert!(sample(text, "duet_changes_relayed_total") >= 4.0, "{text}");
    assert!(sample(text, "duet_messages_sent_total") > 0.0, "{text}");
    assert_eq!(
        sample(text, "duet_refusals_total{reason=\"role\"}"),
        1.0,
        "{text}"
    );
    // The two refused scrapes.
    assert_eq!(
        sample(text, "duet_refusals_total{reason=\"auth\"}"),
        2.0,
        "{text}"
    );
    assert_eq!(sample(text, "duet_sign_ins_failed_total"), 1.0, "{text}");
    assert_eq!(sample(text, "duet_open_documents"), 1.0, "{text}");
    assert!(sample(text, "duet_resident_memory_bytes") > 1e6, "{text}");
    assert!(
        sample(text, "duet_storage_commit_seconds_count") >= 4.0,
        "{text}"
    );
    assert!(sample(text, "duet_delivery_seconds_count") >= 4.0, "{text}");
    assert!(
        text.contains("duet_delivery_seconds_bucket{le=\""),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");

    // PM and the engineer are still connected; the viewer's connection ends once its
    // close is through.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let r = http_with(
            server.addr,
            "GET",
            "/metrics",
            &[("Authorization", &admin)],
            None,
        )
        .await?;
        let open = sample(&r.body, "duet_connections");
        if open == 2.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{open} connections");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The private address answers without credentials, and serves nothing else.
    let r = http_with(private, "GET", "/metrics", &[], None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(sample(&r.body, "duet_changes_received_total") >= received);
    let r = http_with(private, "GET", "/api/specs", &[], None).await?;
    assert_eq!(r.status, 404);
    drop((owner, eng));
    server.stop().await
}

#[test]
fn json_logs_are_one_object_a_line_for_log_shippers() -> Result<()> {
    use std::io::BufRead;
    let data = tempfile::tempdir()?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_duet"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data.path())
        .args(["--frontend", "no-such-folder"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Once it says where it runs, it has logged that no browser app is built.
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    assert!(line.starts_with("Duet is running at"), "{line}");
    child.kill()?;
    let out = child.wait_with_output()?;
    let logs = String::from_utf8(out.stderr)?;
    let lines: Vec<&str> = logs.lines().filter(|l| !l.is_empty()).collect();
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("no browser app")), "{logs}");
    Ok(())
}
