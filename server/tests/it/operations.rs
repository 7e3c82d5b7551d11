//! What an operator runs Duet with: Prometheus metrics (for admins, or on a private address), JSON logs, and the admin commands for accounts and specs.

use crate::common;

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

/// A spec titled `title` that "pm" pushed over sync, acknowledged.
async fn pm_spec(server: &Server, title: &str, seed: u64) -> Result<Client> {
    let mut spec = Spec::new(common::author("pm", 1));
    spec.set_text(&TextField::Title, title, NOW)?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(seed));
    let mut pm = Client::open(&server.ws_url(), "pm", 1, id, spec.into_doc()).await?;
    pm.until_acked().await?;
    Ok(pm)
}

/// `POST /api/auth/signin`.
async fn sign_in(server: &Server, user: &str, password: &str) -> Result<common::Reply> {
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    http_with(server.addr, "POST", "/api/auth/signin", &[], Some(&body)).await
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
    let mut owner = pm_spec(&server, "Checkout", 1).await?;
    let id = owner.doc_id;
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

/// Runs `duet` with `args` (and `DUET_PASSWORD` when given); its standard output.
fn duet(args: &[&str], password: Option<&str>) -> Result<String> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_duet"));
    cmd.args(args).env_remove("DUET_PASSWORD");
    if let Some(p) = password {
        cmd.env("DUET_PASSWORD", p);
    }
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "duet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A plain automerge document, as a JS automerge-repo app would push it.
fn plain_doc() -> Result<duet_model::automerge::AutoCommit> {
    use duet_model::automerge::{transaction::Transactable, AutoCommit, ROOT};
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "board", "sprint 12")?;
    Ok(doc)
}

#[tokio::test]
async fn roles_and_share_links_work_for_any_automerge_repo_document_not_only_specs() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path()).await?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(7));
    let mut owner = Client::open(&server.ws_url(), "pm", 1, id, plain_doc()?).await?;
    owner.until_acked().await?;
    // Nobody else may see it yet.
    token_for(server.addr, "eng").await?;
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 2, id).await?;
    eng.until(|c| c.unavailable).await?;
    // Its owner shares it over REST as with a spec; the engineer then gets it.
    share(server.addr, "pm", id, "eng", "editor").await?;
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 3, id).await?;
    eng.until_heads(&owner.heads()).await?;
    let (status, roles) = common::http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{id}/roles"),
        None,
    )
    .await?;
    assert_eq!(status, 200, "{roles}");
    assert!(
        roles.contains("\"eng\"") && roles.contains("editor"),
        "{roles}"
    );
    // A share link for a viewer.
    let body = serde_json::json!({ "role": "viewer", "expires_in_hours": 24 }).to_string();
    let (status, link) = common::http_as(
        server.addr,
        "pm",
        "POST",
        &format!("/api/specs/{id}/links"),
        Some(&body),
    )
    .await?;
    assert_eq!(status, 201, "{link}");
    let url: serde_json::Value = serde_json::from_str(&link)?;
    let token = url["url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .context("a link url")?
        .to_owned();
    let (status, redeemed) = common::http_as(
        server.addr,
        "vic",
        "POST",
        &format!("/api/share/{token}"),
        None,
    )
    .await?;
    assert_eq!(status, 200, "{redeemed}");
    let mut vic = Client::join_empty(&server.ws_url(), "vic", 4, id).await?;
    vic.until_heads(&owner.heads()).await?;
    // Still not a spec: the spec endpoints do not serve it.
    let (status, _) =
        common::http_as(server.addr, "pm", "GET", &format!("/api/specs/{id}"), None).await?;
    assert_eq!(status, 404);
    drop((owner, eng, vic));
    server.stop().await
}

#[tokio::test]
async fn an_admin_gives_an_ownerless_spec_an_owner_from_the_command_line_while_the_server_runs(
) -> Result<()> {
    let data = tempfile::tempdir()?;
    let dir = data.path().to_str().context("utf-8 path")?.to_owned();
    // A spec stored before accounts existed: nobody has a role on it.
    let server = Server::start(data.path()).await?;
    let mut pm = pm_spec(&server, "Legacy import", 9).await?;
    let id = pm.doc_id;
    let heads = pm.heads();
    token_for(server.addr, "eng").await?;
    drop(pm);
    server.stop().await?;
    rusqlite::Connection::open(data.path().join("duet.sqlite3"))?
        .execute("DELETE FROM roles WHERE doc = ?1", [id.to_string()])?;
    let server = Server::start(data.path()).await?;

    let listed: serde_json::Value =
        serde_json::from_str(&duet(&["spec", "list", "--json", "--data", &dir], None)?)?;
    let row = listed
        .as_array()
        .and_then(|a| a.iter().find(|d| d["id"] == id.to_string()))
        .context("the spec is listed")?;
    assert_eq!(row["title"], "Legacy import");
    assert_eq!(row["is_spec"], true);
    assert_eq!(row["roles"], serde_json::json!([]));
    let table = duet(&["spec", "list", "--data", &dir], None)?;
    assert!(
        table.contains("Legacy import") && table.contains("nobody"),
        "{table}"
    );
    // Nobody can open it.
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 2, id).await?;
    eng.until(|c| c.unavailable).await?;

    let said = duet(
        &[
            "spec",
            "grant",
            "--spec",
            &format!("automerge:{id}"),
            "--user",
            "eng",
            "--role",
            "owner",
            "--data",
            &dir,
        ],
        None,
    )?;
    assert!(said.contains("eng is now owner"), "{said}");
    // The running server applies it within a second: eng opens the spec (retrying while
    // it is still unavailable to her, as the page does), and lists it.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut seed = 3;
    let mut eng = loop {
        let mut eng = Client::join_empty(&server.ws_url(), "eng", seed, id).await?;
        eng.until(|c| c.unavailable || !c.heads().is_empty())
            .await?;
        if !eng.unavailable {
            break eng;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the grant never applied"
        );
        seed += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    eng.until_heads(&heads).await?;
    assert_eq!(eng.view()?.title, "Legacy import");
    let (status, list) = common::http_as(server.addr, "eng", "GET", "/api/specs", None).await?;
    assert_eq!(status, 200);
    assert!(
        list.contains(&id.to_string()) && list.contains("\"owner\""),
        "{list}"
    );
    // A user or document that does not exist is a clear error.
    let err = duet(
        &[
            "spec",
            "grant",
            "--spec",
            &id.to_string(),
            "--user",
            "nobody",
            "--role",
            "viewer",
            "--data",
            &dir,
        ],
        None,
    )
    .expect_err("no such user");
    assert!(err.to_string().contains("no such user"), "{err}");
    drop(eng);
    server.stop().await
}

#[tokio::test]
async fn a_disabled_account_is_cut_off_at_once_and_a_reset_password_ends_sessions_and_connections(
) -> Result<()> {
    let data = tempfile::tempdir()?;
    let dir = data.path().to_str().context("utf-8 path")?.to_owned();
    let server = Server::start(data.path()).await?;
    let mut pm = pm_spec(&server, "Checkout", 11).await?;
    let id = pm.doc_id;
    share(server.addr, "pm", id, "eng", "editor").await?;
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 2, id).await?;
    eng.until_heads(&pm.heads()).await?;
    let eng_token = format!("Bearer {}", token_for(server.addr, "eng").await?);

    duet(&["user", "disable", "eng", "--data", &dir], None)?;
    // Her open connection closes with 1008; her token and sign-in are refused.
    let (code, _) = expect_close(&mut eng.ws).await?;
    assert_eq!(
        code.map(u16::from),
        Some(1008),
        "the connection of a disabled account closes"
    );
    let r = http_with(
        server.addr,
        "GET",
        "/api/me",
        &[("Authorization", &eng_token)],
        None,
    )
    .await?;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = sign_in(&server, "eng", &common::password_of("eng")).await?;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("disabled"), "{}", r.body);
    let users: serde_json::Value =
        serde_json::from_str(&duet(&["user", "list", "--json", "--data", &dir], None)?)?;
    let row = users
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == "eng"))
        .context("eng is listed")?;
    assert_eq!(row["disabled"], true);
    assert_eq!(row["tokens"], 0);
    assert_eq!(row["sessions"], 0);
    // Enabled again, she signs in; her old token stays revoked.
    duet(&["user", "enable", "eng", "--data", &dir], None)?;
    let r = sign_in(&server, "eng", &common::password_of("eng")).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http_with(
        server.addr,
        "GET",
        "/api/me",
        &[("Authorization", &eng_token)],
        None,
    )
    .await?;
    assert_eq!(r.status, 401);

    // PM's password is reset: his connection closes, his old password and session end.
    let r = sign_in(&server, "pm", &common::password_of("pm")).await?;
    let cookie = r.session_cookie().context("a session")?;
    duet(
        &["user", "reset-password", "pm", "--data", &dir],
        Some("a new long password"),
    )?;
    let (code, _) = expect_close(&mut pm.ws).await?;
    assert_eq!(code.map(u16::from), Some(1008));
    let r = http_with(server.addr, "GET", "/api/me", &[("Cookie", &cookie)], None).await?;
    assert_eq!(r.status, 401);
    let r = sign_in(&server, "pm", &common::password_of("pm")).await?;
    assert_eq!(r.status, 401);
    let r = sign_in(&server, "pm", "a new long password").await?;
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop().await
}
