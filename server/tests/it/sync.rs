//! The server as an automerge-repo peer: concurrent co-editing, late joiners, durability across restarts, REST.

use crate::common;

use common::{http, http_as, Client, Server};
use duet_model::automerge::{sync, AutoCommit};
use duet_model::{
    markdown, ConstraintKind, ItemId, NewConstraint, NewStory, Severity, Spec, TextField,
    UnixMillis,
};
use duet_protocol::{DocumentId, Message};
use futures_util::SinkExt;
use rand::{rngs::StdRng, SeedableRng};
use tokio_tungstenite::tungstenite::Message as Frame;

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

fn new_doc() -> (DocumentId, AutoCommit) {
    let mut rng = StdRng::seed_from_u64(42);
    let mut spec = Spec::new(common::author("pm", 1));
    spec.set_text(&TextField::Title, "Export to CSV", NOW)
        .expect("title");
    (DocumentId::random(&mut rng), spec.into_doc())
}

/// A server on `dir` with a spec that two clients have synced.
async fn server_with_pair(
    dir: &std::path::Path,
) -> anyhow::Result<(Server, DocumentId, Client, Client)> {
    let server = Server::start(dir).await?;
    let (doc_id, doc) = new_doc();
    let (a, b) = common::synced_pair(&server, doc_id, doc, 1).await?;
    Ok((server, doc_id, a, b))
}

#[tokio::test]
async fn two_clients_co_edit_one_spec_and_a_late_joiner_catches_up() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let url = server.ws_url();
    let (doc_id, doc) = new_doc();
    // A creates the spec by pushing it, as automerge-repo clients do; B catches up.
    let (mut a, mut b) = common::synced_pair(&server, doc_id, doc, 1).await?;

    // Concurrent edits on both sides.
    let story = ItemId::parse("s1")?;
    a.edit(|s| {
        s.add_story(
            &story,
            0,
            &NewStory {
                as_a: "analyst".into(),
                ..NewStory::default()
            },
            NOW,
        )
    })
    .await?;
    b.edit(|s| s.splice(&TextField::Title, 0, 0, "Fast ", NOW))
        .await?;
    a.until_acked().await?;
    b.until_acked().await?;
    // Each side pumps until both have everything.
    for _ in 0..50 {
        if a.heads_sorted() == b.heads_sorted() {
            break;
        }
        tokio::select! {
            r = a.pump_once() => r?,
            r = b.pump_once() => r?,
        }
    }
    assert_eq!(a.heads_sorted(), b.heads_sorted());
    let constraint = NewConstraint {
        kind: ConstraintKind::Security,
        severity: Severity::Blocker,
        text: "escape formulas".into(),
        anchor: None,
    };
    let c1 = ItemId::parse("c1")?;
    b.edit(|s| s.add_constraint(&story, &c1, 0, &constraint, NOW))
        .await?;
    b.until_acked().await?;
    let heads = b.heads();
    a.until_heads(&heads).await?;
    let view = a.view()?;
    assert_eq!(view, b.view()?);
    assert_eq!(view.title, "Fast Export to CSV");
    assert_eq!(view.stories[0].constraints[0].text, "escape formulas");

    // A third client joining late catches up.
    common::share(server.addr, "pm", doc_id, "designer", "editor").await?;
    let mut c = Client::join_empty(&url, "designer", 3, doc_id).await?;
    c.until_heads(&heads).await?;
    assert_eq!(c.view()?, view);

    // The server's copy matches.
    let (status, md) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{doc_id}/markdown"),
        None,
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(md, markdown::export(&view));
    server.stop().await
}

#[tokio::test]
async fn a_request_for_an_unknown_document_gets_doc_unavailable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let doc_id = DocumentId::random(&mut StdRng::seed_from_u64(9));
    let mut reader = Client::join_empty(&server.ws_url(), "reader", 1, doc_id).await?;
    reader.until(|c| c.unavailable).await?;
    server.stop().await
}

#[tokio::test]
async fn every_acknowledged_change_survives_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (doc_id, doc) = new_doc();
    let mut a = Client::open(&server.ws_url(), "pm", 1, doc_id, doc).await?;
    for i in 0..40 {
        a.edit(|s| s.splice(&TextField::Problem, 0, 0, &format!("{i} "), NOW))
            .await?;
        if i % 10 == 0 {
            a.until_acked().await?;
        }
    }
    a.until_acked().await?;
    let heads = a.heads_sorted();
    drop(a);
    server.stop().await?;

    let server = Server::start(dir.path()).await?;
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 2, doc_id).await?;
    reader.until_heads(&heads).await?;
    assert!(reader.view()?.problem.starts_with("39 38 37"));
    server.stop().await
}

#[tokio::test]
async fn rest_creates_lists_describes_and_exports_specs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (status, body) = http(server.addr, "GET", "/api/health", None).await?;
    assert_eq!(status, 200, "{body}");

    let (status, body) = http_as(
        server.addr,
        "pm",
        "POST",
        "/api/specs",
        Some(r#"{"title":"Export to CSV"}"#),
    )
    .await?;
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body)?;
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["title"], "Export to CSV");
    assert_eq!(created["url"], format!("automerge:{id}"));
    assert_eq!(created["authors"], serde_json::json!(["pm"]));

    let (status, body) = http_as(server.addr, "pm", "GET", "/api/specs", None).await?;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], id.as_str());

    let (status, body) =
        http_as(server.addr, "pm", "GET", &format!("/api/specs/{id}"), None).await?;
    assert_eq!(
        (
            status,
            serde_json::from_str::<serde_json::Value>(&body)?["title"].clone()
        ),
        (200, "Export to CSV".into())
    );
    let (status, md) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{id}/markdown"),
        None,
    )
    .await?;
    assert_eq!(status, 200);
    assert!(md.starts_with("# Export to CSV\n"), "{md}");

    // A client can sync the REST-created spec.
    let doc_id = DocumentId::parse(&id)?;
    let mut c = Client::join_empty(&server.ws_url(), "pm", 1, doc_id).await?;
    c.until(|c| {
        c.view()
            .map(|v| v.title == "Export to CSV")
            .unwrap_or(false)
    })
    .await?;

    // Errors are JSON with the right status.
    let (status, body) = http_as(server.addr, "pm", "GET", "/api/specs/not-an-id", None).await?;
    assert_eq!(status, 400);
    assert!(serde_json::from_str::<serde_json::Value>(&body)?["error"].is_string());
    let unknown = DocumentId::random(&mut StdRng::seed_from_u64(5));
    let (status, _) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{unknown}"),
        None,
    )
    .await?;
    assert_eq!(status, 404);
    let (status, _) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{unknown}/markdown"),
        None,
    )
    .await?;
    assert_eq!(status, 404);
    let (status, _) = http_as(server.addr, "pm", "POST", "/api/specs", Some("{not json")).await?;
    assert_eq!(status, 400);
    let (status, body) = http(server.addr, "GET", "/nowhere", None).await?;
    assert_eq!(status, 404, "{body}");
    server.stop().await
}

#[tokio::test]
async fn documents_that_are_not_specs_are_stored_but_not_listed() -> anyhow::Result<()> {
    use duet_model::automerge::transaction::Transactable;
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut doc = AutoCommit::new();
    doc.put(duet_model::automerge::ROOT, "todo", "milk")?;
    doc.commit();
    let doc_id = DocumentId::random(&mut StdRng::seed_from_u64(11));
    let mut a = Client::open(&server.ws_url(), "other", 1, doc_id, doc).await?;
    a.until_acked().await?;
    let heads = a.heads_sorted();
    let (_, body) = http_as(server.addr, "other", "GET", "/api/specs", None).await?;
    assert_eq!(body, "[]");
    let mut b = Client::join_empty(&server.ws_url(), "other", 2, doc_id).await?;
    b.until_heads(&heads).await?;
    server.stop().await
}

/// An author whose change and whose next reply reach the server in one batch must still
/// be told the server holds the change (automerge alone would stay silent and leave the
/// author waiting forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_hears_its_change_acknowledged_even_when_its_next_reply_arrives_with_it(
) -> anyhow::Result<()> {
    use duet_model::automerge::sync::SyncDoc;
    use duet_model::automerge::transaction::Transactable;
    use duet_model::automerge::ROOT;

    let dir = tempfile::tempdir()?;
    let (server, doc_id, mut a, mut b) = server_with_pair(dir.path()).await?;
    let synced = |c: &mut Client| {
        let mut ours = c.heads();
        ours.sort();
        c.state.their_heads.clone().map(|mut t| {
            t.sort();
            t
        }) == Some(ours)
    };
    a.until(synced).await?;
    for round in 0..10i64 {
        // B edits; the server relays it to A, who has not read it yet.
        b.edit(|s| s.splice(&TextField::Problem, 0, 0, "b", NOW))
            .await?;
        b.until_acked().await?;
        let relayed = loop {
            if let Message::Sync { data, .. } = common::next_message(&mut a.ws).await? {
                break sync::Message::decode(&data)?;
            }
        };
        // Meanwhile A made a change of its own and offered it…
        a.doc.put(ROOT, "probe", round)?;
        a.doc.commit();
        let offer = a.doc.sync().generate_sync_message(&mut a.state);
        // …then reads B's change and replies: both frames leave together.
        a.doc.sync().receive_sync_message(&mut a.state, relayed)?;
        let reply = a.doc.sync().generate_sync_message(&mut a.state);
        for msg in [offer, reply].into_iter().flatten() {
            let m = Message::sync_or_request(
                false,
                a.me.clone(),
                a.server.clone(),
                doc_id,
                msg.encode(),
            );
            a.ws.feed(Frame::Binary(m.encode().into())).await?;
        }
        a.ws.flush().await?;
        a.until(synced)
            .await
            .map_err(|e| anyhow::anyhow!("round {round}: no acknowledgement: {e}"))?;
        b.until_heads(&a.heads()).await?;
    }
    server.stop().await
}

/// The browser's session logic (`duet-sync`) over a real websocket: two sessions on one
/// spec; an edit is acknowledged only once the server holds it, and reaches the other.
#[tokio::test]
async fn duet_sync_sessions_exchange_edits_and_see_them_acknowledged() -> anyhow::Result<()> {
    use duet_protocol::{Message, PeerId};
    use duet_sync::{Event, Session};
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message as Frame;

    struct Tab {
        ws: common::Socket,
        session: Session,
        doc: AutoCommit,
    }
    impl Tab {
        async fn open(
            url: &str,
            name: &str,
            id: DocumentId,
            doc: AutoCommit,
        ) -> anyhow::Result<Tab> {
            let user = if name == "tab-a" { "pm" } else { "eng" };
            let (ws, _) =
                tokio_tungstenite::connect_async(common::signed_url(url, user).await?).await?;
            let (session, join) = Session::new(PeerId::new(name)?);
            let mut tab = Tab { ws, session, doc };
            tab.send(join).await?;
            tab.until(|t| t.session.is_ready()).await?;
            let first = tab.session.open(id, &mut tab.doc);
            if let Some(m) = first {
                tab.send(m).await?;
            }
            Ok(tab)
        }
        async fn send(&mut self, m: Message) -> anyhow::Result<()> {
            Ok(self.ws.send(Frame::Binary(m.encode().into())).await?)
        }
        async fn until(&mut self, mut done: impl FnMut(&mut Tab) -> bool) -> anyhow::Result<()> {
            while !done(self) {
                let m = common::next_message(&mut self.ws).await?;
                let doc = Session::document_of(&m).map(|_| &mut self.doc);
                let (event, replies) = self.session.receive(m, doc)?;
                anyhow::ensure!(!matches!(event, Event::Unavailable(_)), "unavailable");
                for r in replies {
                    self.send(r).await?;
                }
            }
            Ok(())
        }
    }

    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let url = server.ws_url();
    let (id, doc) = new_doc();
    let mut a = Tab::open(&url, "tab-a", id, doc).await?;
    a.until(|t| t.session.acknowledged(id, &mut t.doc)).await?;
    common::share(server.addr, "pm", id, "eng", "editor").await?;
    let mut b = Tab::open(&url, "tab-b", id, AutoCommit::new()).await?;
    let want = a.doc.get_heads();
    b.until(|t| t.doc.get_heads() == want).await?;

    let mut spec = Spec::from_doc(std::mem::take(&mut b.doc), common::author("eng", 2))?;
    spec.splice(&TextField::Problem, 0, 0, "Säve 💾 保存", NOW)?;
    b.doc = spec.into_doc();
    assert!(!b.session.acknowledged(id, &mut b.doc));
    let offer = b
        .session
        .local_change(id, &mut b.doc)
        .expect("something to send");
    b.send(offer).await?;
    b.until(|t| t.session.acknowledged(id, &mut t.doc)).await?;
    let want = b.doc.get_heads();
    a.until(|t| t.doc.get_heads() == want).await?;
    let view = Spec::from_doc(a.doc.clone(), common::author("pm", 1))?.view();
    assert_eq!(view.problem, "Säve 💾 保存");
    server.stop().await
}

/// A peer told to start over (it named a version the server does not hold) hears so once,
/// and is not told again with every batch the other peers' messages make while it is
/// silent (automerge repeats the reset each time it is asked; the server asks a peer only
/// when its sync state or the document changed).
#[tokio::test]
async fn a_peer_told_to_start_over_hears_it_once_not_with_every_other_peers_message(
) -> anyhow::Result<()> {
    use duet_model::automerge::ChangeHash;

    let dir = tempfile::tempdir()?;
    let (server, doc_id, mut a, mut b) = server_with_pair(dir.path()).await?;
    // A sync message whose last sync is a version nobody has.
    let unknown_version = |c: &mut Client| {
        let msg = sync::Message {
            heads: c.heads(),
            need: Vec::new(),
            have: vec![sync::Have {
                last_sync: vec![ChangeHash([7; 32])],
                bloom: sync::BloomFilter::default(),
            }],
            changes: Vec::<Vec<u8>>::new().into(),
            supported_capabilities: None,
            version: sync::MessageVersion::V1,
        };
        let m =
            Message::sync_or_request(false, c.me.clone(), c.server.clone(), doc_id, msg.encode());
        Frame::Binary(m.encode().into())
    };
    let is_reset = |m: &Message| match m {
        Message::Sync { data, .. } => sync::Message::decode(data).is_ok_and(|s| {
            s.changes.is_empty() && s.have.len() == 1 && s.have[0].last_sync.is_empty()
        }),
        _ => false,
    };
    let marker = |c: &Client, count: u64| {
        let m = Message::Ephemeral {
            sender: c.me.clone(),
            target: c.server.clone(),
            count,
            session: "marker".into(),
            document: doc_id,
            data: vec![1],
        };
        Frame::Binary(m.encode().into())
    };
    // Reads until a reset arrives.
    async fn until_reset(
        c: &mut Client,
        is_reset: impl Fn(&Message) -> bool,
    ) -> anyhow::Result<()> {
        while !is_reset(&common::next_message(&mut c.ws).await?) {}
        Ok(())
    }
    // Counts the resets A reads before B's marker `count` reaches it.
    async fn resets_until_marker(
        a: &mut Client,
        count: u64,
        is_reset: impl Fn(&Message) -> bool,
    ) -> anyhow::Result<usize> {
        let mut resets = 0;
        loop {
            let m = common::next_message(&mut a.ws).await?;
            if let Message::Ephemeral {
                count: c, session, ..
            } = &m
            {
                if session == "marker" && *c == count {
                    return Ok(resets);
                }
            }
            resets += usize::from(is_reset(&m));
        }
    }

    // Whatever A was still owed from joining arrives before the first marker.
    let frame = marker(&b, 1);
    b.ws.send(frame).await?;
    resets_until_marker(&mut a, 1, is_reset).await?;
    // A names an unknown version: the server tells it to start over.
    let frame = unknown_version(&mut a);
    a.ws.send(frame).await?;
    until_reset(&mut a, is_reset).await?;
    // B does the same five times, each in a batch of its own (it waits for its answer),
    // while A stays silent.
    for _ in 0..5 {
        let frame = unknown_version(&mut b);
        b.ws.send(frame).await?;
        until_reset(&mut b, is_reset).await?;
    }
    let frame = marker(&b, 2);
    b.ws.send(frame).await?;
    let again = resets_until_marker(&mut a, 2, is_reset).await?;
    assert_eq!(again, 0, "A was told to start over again with B's messages");
    // A can still catch up: it answers the reset as automerge does and gets B's edit.
    b.edit(|s| s.splice(&TextField::Problem, 0, 0, "b", NOW))
        .await?;
    b.until_acked().await?;
    a.state = sync::State::new();
    a.send_sync(false).await?;
    a.until_heads(&b.heads()).await?;
    server.stop().await
}
