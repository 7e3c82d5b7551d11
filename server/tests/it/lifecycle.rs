//! Document and connection lifecycles: presence relay, slow and silent peers, idle unload, compaction, corrupt chunks on disk, many joins at once.

use crate::common;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use common::{http, next_message, Client, Server, DEADLINE};
use duet_model::automerge::transaction::Transactable;
use duet_model::automerge::{AutoCommit, ScalarValue, ROOT};
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::{DocumentId, Message};
use futures_util::{SinkExt, StreamExt};
use rand::{rngs::StdRng, SeedableRng};
use tokio_tungstenite::tungstenite::Message as Frame;

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

fn new_doc(seed: u64) -> (DocumentId, AutoCommit) {
    let mut spec = Spec::new(common::author("pm", seed));
    spec.set_text(&TextField::Title, "Lifecycle", NOW)
        .expect("title");
    (
        DocumentId::random(&mut StdRng::seed_from_u64(seed)),
        spec.into_doc(),
    )
}

/// A's and B's clients, both synced on one new spec.
async fn pair(server: &Server, seed: u64) -> Result<(Client, Client)> {
    let (id, doc) = new_doc(seed);
    common::synced_pair(server, id, doc, seed).await
}

#[tokio::test]
async fn ephemeral_messages_reach_the_other_peers_of_the_document_and_not_the_sender() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (mut a, mut b) = pair(&server, 1).await?;
    let presence = Message::Ephemeral {
        sender: a.me.clone(),
        target: a.server.clone(),
        count: 1,
        session: "tab-1".into(),
        document: a.doc_id,
        data: vec![0xA1, 0x61, 0x78, 0x01], // {"x": 1} in CBOR
    };
    a.ws.send(Frame::Binary(presence.encode().into())).await?;
    let got = loop {
        match next_message(&mut b.ws).await? {
            Message::Ephemeral {
                sender,
                count,
                session,
                document,
                data,
                ..
            } => break (sender, count, session, document, data),
            _ => continue,
        }
    };
    assert_eq!(
        got,
        (
            a.me.clone(),
            1,
            "tab-1".to_owned(),
            a.doc_id,
            vec![0xA1, 0x61, 0x78, 0x01]
        )
    );
    // The sender does not hear its own presence back: the next thing A sees is B's edit.
    b.edit(|s| s.splice(&TextField::Problem, 0, 0, "b", NOW))
        .await?;
    loop {
        match next_message(&mut a.ws).await? {
            Message::Ephemeral { .. } => bail!("the sender received its own ephemeral message"),
            Message::Sync { .. } => break,
            _ => continue,
        }
    }
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_disconnected_and_the_others_carry_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = duet_server::Config::new(dir.path());
    config.peer_outbox = 4;
    let server = Server::start_with(config).await?;
    let (mut writer, mut slow) = pair(&server, 10).await?;
    // `slow` stops reading. The writer pushes ~16 MiB: far more than the socket buffers
    // and a 4-message outbox can hold for it.
    for i in 0..256u32 {
        writer.doc.put(
            ROOT,
            "blob",
            ScalarValue::Bytes(vec![(i % 251) as u8; 64 * 1024]),
        )?;
        writer.doc.commit();
        // One change per server batch: on a busy machine the server would otherwise take
        // many queued messages in one pass and send the slow peer one huge message, which
        // never fills a 4-message outbox.
        writer.until_acked().await?;
    }
    writer.until_acked().await?;
    // Everyone else carries on: a newcomer gets all of it.
    let mut other = Client::join_empty(&server.ws_url(), "pm", 12, writer.doc_id).await?;
    other.until_heads(&writer.heads()).await?;
    // The slow peer was cut off: reading what is buffered ends in a close, not in sync.
    let want = writer.heads_sorted();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if tokio::time::Instant::now() > deadline {
            bail!("the slow peer was neither disconnected nor caught up");
        }
        match tokio::time::timeout(DEADLINE, slow.pump_once()).await {
            Ok(Ok(())) if slow.heads_sorted() == want => {
                bail!("the slow peer was never disconnected")
            }
            Ok(Ok(())) => continue,
            Ok(Err(_)) => break, // closed
            Err(_) => bail!("the slow peer's connection hung"),
        }
    }
    server.stop().await
}

#[tokio::test]
async fn a_peer_that_never_answers_pings_is_dropped() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = duet_server::Config::new(dir.path());
    config.ping_interval = Duration::from_millis(100);
    let server = Server::start_with(config).await?;
    let me = duet_protocol::PeerId::new("sleepy")?;
    let url = common::signed_url(&server.ws_url(), "sleepy").await?;
    let (mut ws, _) = common::handshake(&url, &me).await?;
    // Not polling the socket means no pongs go back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match ws.next().await {
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a silent peer was kept");
    server.stop().await
}

#[tokio::test]
async fn idle_documents_are_flushed_and_unloaded_then_served_again() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = duet_server::Config::new(dir.path());
    config.idle_unload = Duration::from_millis(100);
    let server = Server::start_with(config).await?;
    let (id, doc) = new_doc(20);
    let mut a = Client::open(&server.ws_url(), "pm", 20, id, doc).await?;
    a.edit(|s| s.splice(&TextField::Problem, 0, 0, "kept", NOW))
        .await?;
    a.until_acked().await?;
    let heads = a.heads_sorted();
    drop(a);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, body) = http(server.addr, "GET", "/api/health", None).await?;
        let health: serde_json::Value = serde_json::from_str(&body)?;
        if health["open_documents"] == 0 {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the idle document was never unloaded: {body}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 21, id).await?;
    reader.until_heads(&heads).await?;
    server.stop().await
}

fn chunk_rows(data: &std::path::Path, id: DocumentId) -> Result<i64> {
    let db = rusqlite::Connection::open(data.join("duet.sqlite3"))?;
    Ok(db.query_row(
        "SELECT COUNT(*) FROM chunks WHERE doc = ?1",
        [id.to_string()],
        |r| r.get(0),
    )?)
}

#[tokio::test]
async fn compaction_replaces_many_chunks_with_one_snapshot_and_loses_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = || {
        let mut c = duet_server::Config::new(dir.path());
        c.compact_after_chunks = 5;
        c
    };
    let server = Server::start_with(config()).await?;
    let (id, doc) = new_doc(30);
    let mut a = Client::open(&server.ws_url(), "pm", 30, id, doc).await?;
    for i in 0..40 {
        a.edit(|s| s.splice(&TextField::Problem, 0, 0, &format!("{i} "), NOW))
            .await?;
        a.until_acked().await?;
    }
    let heads = a.heads_sorted();
    drop(a);
    server.stop().await?;
    let rows = chunk_rows(dir.path(), id)?;
    assert!(
        (1..5).contains(&rows),
        "{rows} chunks stored for 41 acknowledged writes"
    );
    let server = Server::start_with(config()).await?;
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 31, id).await?;
    reader.until_heads(&heads).await?;
    server.stop().await
}

#[tokio::test]
async fn chunks_stored_one_by_one_are_folded_into_one_and_lose_nothing() -> Result<()> {
    use duet_server::docs::engine::FOLD_CHUNKS;
    use duet_server::storage::fold;
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (id, doc) = new_doc(35);
    let mut a = Client::open(&server.ws_url(), "pm", 35, id, doc).await?;
    // One chunk per acknowledged edit, besides the spec's first push.
    let edits = FOLD_CHUNKS + 6;
    for i in 0..edits {
        a.edit(|s| s.splice(&TextField::Problem, 0, 0, &format!("{i} "), NOW))
            .await?;
        a.until_acked().await?;
    }
    let heads = a.heads_sorted();
    drop(a);
    server.stop().await?;
    let rows: Vec<Vec<u8>> = {
        let db = rusqlite::Connection::open(dir.path().join("duet.sqlite3"))?;
        let mut stmt = db.prepare("SELECT bytes FROM chunks WHERE doc = ?1 ORDER BY seq")?;
        let rows = stmt
            .query_map([id.to_string()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        rows
    };
    let folded: Vec<&Vec<u8>> = rows.iter().filter(|r| r.starts_with(fold::MAGIC)).collect();
    assert_eq!(
        folded.len(),
        1,
        "one folded chunk among {} rows",
        rows.len()
    );
    // The rest were stored after the fold, fewer than would fold again.
    assert!(
        (2..FOLD_CHUNKS).contains(&rows.len()),
        "{} rows for {} writes",
        rows.len(),
        edits + 1
    );
    let inflated = fold::unfold(folded[0]).map_err(anyhow::Error::msg)?;
    let inflated = inflated.context("a folded chunk unfolds")?;
    assert!(
        folded[0].len() * 2 < inflated.len(),
        "{} bytes hold {}",
        folded[0].len(),
        inflated.len()
    );
    let server = Server::start(dir.path()).await?;
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 36, id).await?;
    reader.until_heads(&heads).await?;
    server.stop().await
}

#[tokio::test]
async fn a_corrupt_stored_chunk_is_skipped_without_hiding_the_valid_ones() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (id, doc) = new_doc(40);
    let mut a = Client::open(&server.ws_url(), "pm", 40, id, doc).await?;
    a.edit(|s| s.splice(&TextField::Problem, 0, 0, "before ", NOW))
        .await?;
    a.until_acked().await?;
    server.stop().await?;
    // Damage on disk: a garbage chunk, and a real chunk with one byte flipped.
    {
        let db = rusqlite::Connection::open(dir.path().join("duet.sqlite3"))?;
        let last: Vec<u8> = db.query_row(
            "SELECT bytes FROM chunks WHERE doc = ?1 ORDER BY seq DESC LIMIT 1",
            [id.to_string()],
            |r| r.get(0),
        )?;
        let mut flipped = last.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x40;
        for bytes in [b"not automerge at all".to_vec(), flipped] {
            db.execute(
                "INSERT INTO chunks (doc, bytes) VALUES (?1, ?2)",
                rusqlite::params![id.to_string(), bytes],
            )?;
        }
    }
    // Valid changes stored after the damage count too.
    let server = Server::start(dir.path()).await?;
    let mut a = Client::open(&server.ws_url(), "pm", 40, id, a.doc.clone()).await?;
    a.edit(|s| s.splice(&TextField::Problem, 0, 0, "after ", NOW))
        .await?;
    a.until_acked().await?;
    let heads = a.heads_sorted();
    drop(a);
    server.stop().await?;
    let server = Server::start(dir.path()).await?;
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 41, id).await?;
    reader.until_heads(&heads).await?;
    let problem = reader.view()?.problem;
    assert_eq!(problem, "after before ");
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_connections_joining_at_once_are_all_served() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (mut a, _b) = pair(&server, 50).await?;
    let heads = a.heads_sorted();
    // Ten people with thirty tabs each (a user may hold 64 connections).
    for k in 0..10 {
        common::share(server.addr, "pm", a.doc_id, &format!("crowd{k}"), "viewer").await?;
    }
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..300u64 {
        let (url, id, heads) = (server.ws_url(), a.doc_id, heads.clone());
        joins.spawn(async move {
            let user = format!("crowd{}", i % 10);
            let mut c = Client::join_empty(&url, &user, 1000 + i, id).await?;
            c.until_heads(&heads).await?;
            Ok::<_, anyhow::Error>(c)
        });
    }
    let mut crowd = Vec::new();
    while let Some(joined) = joins.join_next().await {
        crowd.push(joined?.context("a crowd member")?);
    }
    assert_eq!(crowd.len(), 300);
    // The document still works for everyone: an edit reaches a crowd member.
    a.edit(|s| s.splice(&TextField::Problem, 0, 0, "hello crowd", NOW))
        .await?;
    a.until_acked().await?;
    let heads = a.heads_sorted();
    crowd[299].until_heads(&heads).await?;
    drop(crowd);
    let (status, _) = http(server.addr, "GET", "/api/health", None).await?;
    assert_eq!(status, 200);
    server.stop().await
}
