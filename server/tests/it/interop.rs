//! Interop: other automerge-repo implementations (Rust `samod`, JS `@automerge/automerge-repo`) create, find and edit documents through Duet.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use automerge_latest::transaction::Transactable;
use automerge_latest::{Automerge, ObjType, ReadDoc, ROOT};
use common::{http_as, Server, DEADLINE};
use futures_util::future::{ready, BoxFuture};
use futures_util::{FutureExt, SinkExt, StreamExt};
use samod::{BackoffConfig, DialError, Dialer, DocHandle, Repo, Transport};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};

/// Dials Duet's websocket endpoint with tokio-tungstenite and hands samod the binary frames.
struct WsDialer {
    url: samod::Url,
}

impl Dialer for WsDialer {
    type Error = std::convert::Infallible;

    fn url(&self) -> samod::Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        let url = self.url.to_string();
        async move {
            let (ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .map_err(DialError::transient)?;
            let (sink, stream) = ws.split();
            let sink =
                sink.with(|bytes: Vec<u8>| ready(Ok::<_, WsError>(Frame::Binary(bytes.into()))));
            let stream = stream.filter_map(|frame| {
                ready(match frame {
                    Ok(Frame::Binary(bytes)) => Some(Ok(bytes.to_vec())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
            });
            Ok(Transport::new(stream, sink))
        }
        .boxed()
    }
}

/// A samod repo (in memory) connected to the server.
struct SamodPeer {
    repo: Repo,
    dialer: samod::DialerHandle<std::convert::Infallible>,
}

impl SamodPeer {
    async fn connect(server: &Server, name: &str) -> Result<SamodPeer> {
        let repo = Repo::build_tokio()
            .with_peer_id(samod::PeerId::from(name))
            .load()
            .await;
        let dialer = repo.dial(
            BackoffConfig::default(),
            Arc::new(WsDialer {
                // Every samod peer here is one person ("samod") on several devices.
                url: samod::Url::parse(&common::signed_url(&server.ws_url(), "samod").await?)?,
            }),
        )?;
        tokio::time::timeout(DEADLINE, dialer.established())
            .await
            .context("samod handshake timed out")?
            .map_err(|e| anyhow::anyhow!("samod could not connect: {e:?}"))?;
        Ok(SamodPeer { repo, dialer })
    }

    async fn find(&self, id: &samod::DocumentId) -> Result<Option<DocHandle>> {
        Ok(tokio::time::timeout(DEADLINE, self.repo.find(id.clone()))
            .await
            .context("find timed out")??)
    }

    /// Waits until the server has every change this peer made to `doc`.
    async fn until_server_has(&self, doc: &DocHandle) -> Result<()> {
        let conn = self.dialer.connection_id().context("not connected")?;
        tokio::time::timeout(DEADLINE, doc.they_have_our_changes(conn))
            .await
            .context("the server never acknowledged our changes")
    }

    async fn stop(self) {
        self.dialer.close();
        self.repo.stop().await;
    }
}

/// The strings in the root list `log`.
fn log_of(doc: &Automerge) -> Vec<String> {
    let Ok(Some((_, list))) = doc.get(ROOT, "log") else {
        return Vec::new();
    };
    // Rust peers write scalar strings; JS automerge-repo writes strings as Text objects.
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i) {
            Ok(Some((automerge_latest::Value::Object(ObjType::Text), text))) => {
                doc.text(&text).ok()
            }
            Ok(Some((value, _))) => value.into_string().ok(),
            _ => None,
        })
        .collect()
}

fn push_log(handle: &DocHandle, entry: &str) -> Result<()> {
    handle.with_document(|doc| {
        let mut tx = doc.transaction();
        let list = match tx.get(ROOT, "log")? {
            Some((_, list)) => list,
            None => tx.put_object(ROOT, "log", ObjType::List)?,
        };
        let end = tx.length(&list);
        tx.insert(&list, end, entry)?;
        tx.commit();
        Ok(())
    })
}

async fn until_log_has(handle: &DocHandle, entry: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if handle
            .with_document(|d| log_of(d))
            .iter()
            .any(|e| e == entry)
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("`{entry}` never arrived");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A plain (non-spec) document as an automerge-repo client would create it.
fn plain_doc(from: &str) -> Result<Automerge> {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "from", from)?;
    let list = tx.put_object(ROOT, "log", ObjType::List)?;
    tx.insert(&list, 0, format!("{from}-created"))?;
    tx.commit();
    Ok(doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samod_peers_create_find_and_co_edit_a_document_through_duet() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let alice = SamodPeer::connect(&server, "samod-alice").await?;
    let created = alice.repo.create(plain_doc("samod")?).await?;
    push_log(&created, "alice-1")?;
    alice.until_server_has(&created).await?;
    let id = created.document_id().clone();

    // Bob has never seen it: he can only get it from the server.
    let bob = SamodPeer::connect(&server, "samod-bob").await?;
    let found = bob
        .find(&id)
        .await?
        .context("the server did not serve the document")?;
    assert_eq!(
        found.with_document(|d| log_of(d)),
        ["samod-created", "alice-1"]
    );
    // Live both ways.
    push_log(&found, "bob-1")?;
    until_log_has(&created, "bob-1").await?;
    push_log(&created, "alice-2")?;
    until_log_has(&found, "alice-2").await?;
    alice.until_server_has(&created).await?;

    // Stored, but not a spec: the spec list does not show it.
    let (status, body) = http_as(server.addr, "samod", "GET", "/api/specs", None).await?;
    assert_eq!(status, 200);
    assert!(!body.contains(&id.to_string()), "{body}");
    let (status, _) = http_as(
        server.addr,
        "samod",
        "GET",
        &format!("/api/specs/{id}"),
        None,
    )
    .await?;
    assert_eq!(status, 404);

    // A document nobody has: find resolves to "unavailable", not a hang.
    let missing: samod::DocumentId = duet_protocol::DocumentId::random(&mut rand::rng())
        .to_string()
        .parse()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert!(bob.find(&missing).await?.is_none());

    // Everything survives a restart.
    alice.stop().await;
    bob.stop().await;
    server.stop().await?;
    let server = Server::start(dir.path()).await?;
    let carol = SamodPeer::connect(&server, "samod-carol").await?;
    let again = carol.find(&id).await?.context("lost after restart")?;
    let mut log = again.with_document(|d| log_of(d));
    log.sort();
    assert_eq!(log, ["alice-1", "alice-2", "bob-1", "samod-created"]);
    carol.stop().await;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samod_edits_a_duet_spec_and_the_server_sees_the_new_title() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (status, body) = http_as(
        server.addr,
        "samod",
        "POST",
        "/api/specs",
        Some(r#"{"title":"Checkout"}"#),
    )
    .await?;
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body)?;
    let id_text = created["id"].as_str().context("no id")?;
    let id: samod::DocumentId = id_text.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;

    let peer = SamodPeer::connect(&server, "samod-editor").await?;
    let handle = peer.find(&id).await?.context("spec not served")?;
    handle.with_document(|doc| -> Result<()> {
        let (_, title) = doc.get(ROOT, "title")?.context("no title")?;
        assert_eq!(doc.text(&title)?, "Checkout");
        let mut tx = doc.transaction();
        tx.splice_text(&title, 8, 0, " v2")?;
        tx.commit();
        Ok(())
    })?;
    peer.until_server_has(&handle).await?;

    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, body) = http_as(
            server.addr,
            "samod",
            "GET",
            &format!("/api/specs/{id_text}"),
            None,
        )
        .await?;
        if body.contains("Checkout v2") {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the server's metadata never showed the new title: {body}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, md) = http_as(
        server.addr,
        "samod",
        "GET",
        &format!("/api/specs/{id_text}/markdown"),
        None,
    )
    .await?;
    assert_eq!(status, 200);
    assert!(md.contains("Checkout v2"), "{md}");
    peer.stop().await;
    server.stop().await
}

/// Where the Node side of the interop tests lives (`npm install` there first;
/// `cargo xtask test` does it).
fn js_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_automerge_repo_and_samod_create_find_and_edit_each_others_documents_through_duet(
) -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let js = js_dir();
    if !js.join("node_modules/@automerge/automerge-repo").is_dir() {
        bail!(
            "the JS packages are not installed: run `npm install` in {} (cargo xtask test does)",
            js.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let alice = SamodPeer::connect(&server, "samod-alice").await?;
    let d1 = alice.repo.create(plain_doc("samod")?).await?;
    alice.until_server_has(&d1).await?;

    let mut node = Command::new("node")
        .arg(js.join("interop.mjs"))
        .arg(common::signed_url(&server.ws_url(), "samod").await?)
        .arg(d1.url().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running node (is Node.js installed?)")?;
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = node.stdout.take().context("no stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // JS found D1 (made by samod) and edited it; samod sees the edit live.
    let d2_line = next_line(&mut lines).await?;
    until_log_has(&d1, "js-edited").await?;
    // JS created D2; samod finds it through the server, sees its content, replies.
    let d2_url = d2_line
        .strip_prefix("D2 automerge:")
        .with_context(|| format!("unexpected line from node: {d2_line}"))?;
    let d2_id: samod::DocumentId = d2_url.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let d2 = alice
        .find(&d2_id)
        .await?
        .context("samod could not find D2")?;
    assert_eq!(d2.with_document(|d| log_of(d)), ["js-created"]);
    push_log(&d2, "samod-replied")?;
    assert_eq!(next_line(&mut lines).await?, "OK");
    let status = tokio::task::spawn_blocking(move || node.wait()).await??;
    assert!(status.success(), "node exited with {status}");

    // Neither is a spec, so the spec list stays empty; both are stored.
    let (_, body) = http_as(server.addr, "samod", "GET", "/api/specs", None).await?;
    assert_eq!(body, "[]");
    alice.stop().await;
    server.stop().await
}

async fn next_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Result<String> {
    tokio::time::timeout(DEADLINE * 3, lines.recv())
        .await
        .context("node printed nothing")?
        .context("node exited early")
}
