//! Hostile peers: malformed, oversized, out-of-order and forged messages close only the offending connection with the right code; other clients and stored data are untouched.

use crate::common;

use common::{expect_close, handshake, Client, Server};
use duet_model::automerge::sync::{self, SyncDoc};
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::{DocumentId, Message, PeerId};
use futures_util::SinkExt;
use rand::{rngs::StdRng, RngCore, SeedableRng};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as Frame;

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// A healthy writer on its own spec, to check the server keeps serving others.
async fn healthy(server: &Server, seed: u64) -> anyhow::Result<Client> {
    let mut spec = Spec::new(common::author("pm", seed));
    spec.set_text(&TextField::Title, "healthy", NOW)?;
    let doc_id = DocumentId::random(&mut StdRng::seed_from_u64(seed));
    let mut c = Client::open(&server.ws_url(), "pm", seed, doc_id, spec.into_doc()).await?;
    c.until_acked().await?;
    Ok(c)
}

async fn still_works(c: &mut Client, i: usize) -> anyhow::Result<()> {
    c.edit(|s| s.splice(&TextField::Problem, 0, 0, &format!("{i}"), NOW))
        .await?;
    c.until_acked().await
}

async fn joined(server: &Server, name: &str) -> anyhow::Result<common::Socket> {
    let url = common::signed_url(&server.ws_url(), "pm").await?;
    Ok(handshake(&url, &PeerId::new(name)?).await?.0)
}

async fn send_and_expect(
    ws: &mut common::Socket,
    frame: Frame,
    code: CloseCode,
) -> anyhow::Result<Vec<Message>> {
    ws.send(frame).await?;
    let (got, seen) = expect_close(ws).await?;
    assert_eq!(got, Some(code), "close code; messages before it: {seen:?}");
    Ok(seen)
}

fn has_error(seen: &[Message]) -> bool {
    seen.iter().any(|m| matches!(m, Message::Error { .. }))
}

#[tokio::test]
async fn malformed_frames_close_the_connection_with_1002_and_an_error_message() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut good = healthy(&server, 1).await?;
    let mut rng = StdRng::seed_from_u64(7);
    let valid = Message::Sync {
        sender: PeerId::new("bad")?,
        target: good.server.clone(),
        document: good.doc_id,
        data: vec![1, 2, 3],
    }
    .encode();
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff],
        valid[..valid.len() / 2].to_vec(),
        Message::Ignored {
            kind: "no-such-type",
        }
        .encode(),
        [valid.clone(), vec![0]].concat(),
    ];
    for _ in 0..5 {
        let mut junk = vec![0u8; 64];
        rng.fill_bytes(&mut junk);
        cases.push(junk);
    }
    for (i, bytes) in cases.into_iter().enumerate() {
        let mut ws = joined(&server, "bad").await?;
        let seen =
            send_and_expect(&mut ws, Frame::Binary(bytes.into()), CloseCode::Protocol).await?;
        assert!(has_error(&seen), "case {i}: {seen:?}");
        still_works(&mut good, i).await?;
    }
    server.stop().await
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = duet_server::Config::new(dir.path());
    config.max_message_bytes = 64 * 1024;
    let server = Server::start_with(config).await?;
    let mut good = healthy(&server, 1).await?;
    let mut ws = joined(&server, "big").await?;
    ws.send(Frame::Binary(vec![0u8; 100 * 1024].into())).await?;
    let (code, _) = expect_close(&mut ws).await?;
    assert_eq!(code, Some(CloseCode::Size));
    still_works(&mut good, 0).await?;
    server.stop().await
}

#[tokio::test]
async fn handshake_violations_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut good = healthy(&server, 1).await?;
    let me = PeerId::new("rude")?;
    let join = Message::Join {
        sender: me.clone(),
        supported_versions: vec!["1".into()],
        metadata: None,
    };

    // A message before join.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(common::signed_url(&server.ws_url(), "pm").await?).await?;
    let sync = Message::Sync {
        sender: me.clone(),
        target: good.server.clone(),
        document: good.doc_id,
        data: vec![],
    };
    send_and_expect(
        &mut ws,
        Frame::Binary(sync.encode().into()),
        CloseCode::Protocol,
    )
    .await?;

    // An unsupported protocol version.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(common::signed_url(&server.ws_url(), "pm").await?).await?;
    let old = Message::Join {
        sender: me.clone(),
        supported_versions: vec!["0".into()],
        metadata: None,
    };
    send_and_expect(
        &mut ws,
        Frame::Binary(old.encode().into()),
        CloseCode::Protocol,
    )
    .await?;

    // A second join (a join flood).
    let mut ws = joined(&server, "rude").await?;
    send_and_expect(
        &mut ws,
        Frame::Binary(join.encode().into()),
        CloseCode::Policy,
    )
    .await?;

    // A text frame.
    let mut ws = joined(&server, "rude").await?;
    send_and_expect(&mut ws, Frame::Text("hello".into()), CloseCode::Unsupported).await?;

    // A sender id that is not the one of the handshake.
    let mut ws = joined(&server, "rude").await?;
    let forged = Message::Sync {
        sender: PeerId::new("someone-else")?,
        target: good.server.clone(),
        document: good.doc_id,
        data: vec![],
    };
    send_and_expect(
        &mut ws,
        Frame::Binary(forged.encode().into()),
        CloseCode::Policy,
    )
    .await?;

    still_works(&mut good, 0).await?;
    server.stop().await
}

#[tokio::test]
async fn a_sync_message_with_garbage_changes_leaves_the_stored_document_intact(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut good = healthy(&server, 1).await?;

    // A well-formed sync message (version, no heads/need/have) whose one change is junk.
    let mut rng = StdRng::seed_from_u64(3);
    let mut junk = vec![0u8; 40];
    rng.fill_bytes(&mut junk);
    let mut data = vec![0x42, 0, 0, 0, 1, junk.len() as u8];
    data.extend_from_slice(&junk);
    assert!(sync::Message::decode(&data).is_ok(), "the framing is valid");
    let mut ws = joined(&server, "mallory").await?;
    let bad = Message::Sync {
        sender: PeerId::new("mallory")?,
        target: good.server.clone(),
        document: good.doc_id,
        data,
    };
    let seen = send_and_expect(
        &mut ws,
        Frame::Binary(bad.encode().into()),
        CloseCode::Protocol,
    )
    .await?;
    assert!(has_error(&seen), "{seen:?}");

    still_works(&mut good, 1).await?;
    let after = good.heads_sorted();
    drop(good);
    server.stop().await?;
    // After a restart the stored document holds exactly the honest changes.
    let server = Server::start(dir.path()).await?;
    let doc_id = DocumentId::random(&mut StdRng::seed_from_u64(1));
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 3, doc_id).await?;
    reader.until_heads(&after).await?;
    assert!(!reader.view()?.title.contains("pwned"));
    server.stop().await
}

/// `encoded` (a sync message) with its Bloom filter `bloom` swapped for `forged`.
fn with_bloom(encoded: &[u8], bloom: &[u8], forged: &[u8]) -> Vec<u8> {
    let framed = [&[bloom.len() as u8][..], bloom].concat();
    let at = encoded
        .windows(framed.len())
        .position(|w| w == framed.as_slice())
        .expect("the message carries its Bloom filter");
    [
        &encoded[..at],
        &[forged.len() as u8][..],
        forged,
        &encoded[at + framed.len()..],
    ]
    .concat()
}

#[tokio::test]
async fn bloom_filters_that_would_crash_automerge_are_refused_with_1002() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut good = healthy(&server, 3).await?;
    // A first sync message from a replica with content: its `have` carries a Bloom filter
    // of all its changes (10 bits per entry, 7 probes).
    let mut spec = Spec::new(common::author("pm", 4));
    spec.set_text(&TextField::Title, "bloom", NOW)?;
    let mut doc = spec.into_doc();
    let msg = doc
        .sync()
        .generate_sync_message(&mut sync::State::new())
        .expect("a first message");
    let bloom = msg.have[0].bloom.to_bytes();
    let encoded = msg.encode();
    let (entries, bits) = (bloom[0], &bloom[3..]);
    let forged = [
        // No bits at all: probing divides by zero.
        vec![entries, 0, 7],
        // Four billion probes: automerge would allocate 16 GiB per probe.
        [&[entries, 10, 0xff, 0xff, 0xff, 0xff, 0x0f][..], bits].concat(),
    ];
    for (i, bloom_bytes) in forged.iter().enumerate() {
        let mut ws = joined(&server, &format!("bloom-{i}")).await?;
        let data = with_bloom(&encoded, &bloom, bloom_bytes);
        assert!(sync::Message::decode(&data).is_ok(), "automerge decodes it");
        let frame = Message::Sync {
            sender: PeerId::new(&format!("bloom-{i}"))?,
            target: good.server.clone(),
            document: good.doc_id,
            data,
        };
        let seen = send_and_expect(
            &mut ws,
            Frame::Binary(frame.encode().into()),
            CloseCode::Protocol,
        )
        .await?;
        assert!(has_error(&seen), "the peer is told why: {seen:?}");
        still_works(&mut good, i).await?;
    }
    server.stop().await
}
