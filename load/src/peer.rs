//! One simulated user: an automerge-repo websocket peer on one spec that types, and records when it sees others' edits and when the server holds its own.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use duet_fastsync::chunks::{chunks, Chunk, ChunkKind};
use duet_fastsync::{self as fastsync, Batch};
use duet_model::automerge::sync;
use duet_model::automerge::transaction::{CommitOptions, Transactable};
use duet_model::automerge::{
    AutoCommit, Automerge, AutomergeError, Change, ChangeHash, ObjId, ReadDoc, ROOT,
};
use duet_protocol::{DocumentId, Message, PeerId};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The prefix of the change message of every timed edit: `dl <user> <seq> <sent µs>`.
const EDIT_TAG: &str = "dl";

/// What one peer measured.
#[derive(Debug, Default)]
pub struct PeerReport {
    /// Timed edits this peer made.
    pub sent: u64,
    /// Timed edits by others this peer received.
    pub received: u64,
    /// Propagation latency of each received edit, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Time from sending each own edit until the server's reply showed it held it.
    pub acks_us: Vec<u64>,
    /// The own edits the server showed it held, in order.
    pub acked: Vec<ChangeHash>,
    /// Own edits never acknowledged.
    pub unacked: u64,
    /// The document's heads at the end.
    pub heads: Vec<ChangeHash>,
}

/// A websocket automerge-repo peer syncing one document.
#[derive(Debug)]
pub struct Peer {
    ws: Socket,
    me: PeerId,
    user: u32,
    server: PeerId,
    doc_id: DocumentId,
    /// The replica (an `Automerge`, so sync messages go through `fastsync`).
    doc: Automerge,
    state: sync::State,
    text: Option<ObjId>,
    epoch: Instant,
    pending: VecDeque<(ChangeHash, Instant)>,
    seq: u64,
    unavailable: bool,
    pub report: PeerReport,
}

impl Peer {
    /// Connects, completes the handshake and offers (or, if `doc` is empty, asks for) the
    /// document; `seeds`: the server does not have it yet.
    pub async fn connect(
        url: &str,
        user: u32,
        doc_id: DocumentId,
        doc: AutoCommit,
        epoch: Instant,
        seeds: bool,
    ) -> Result<Peer> {
        let mut doc = doc;
        let actor = doc.get_actor().clone();
        let doc = doc.document().clone().with_actor(actor);
        Peer::connect_replica(url, user, doc_id, doc, epoch, seeds).await
    }

    /// [`Peer::connect`] with a replica this peer held before (say, on an earlier
    /// connection): whatever the server lacks of it is offered at once.
    pub async fn connect_replica(
        url: &str,
        user: u32,
        doc_id: DocumentId,
        doc: Automerge,
        epoch: Instant,
        seeds: bool,
    ) -> Result<Peer> {
        let me = PeerId::new(&format!("duet-load-{user}"))?;
        // Small reads, like the server's: the library zero-fills its read buffer (128 KiB
        // by default) before each read.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let join = Message::Join {
            sender: me.clone(),
            supported_versions: vec![duet_protocol::PROTOCOL_VERSION.into()],
            metadata: None,
        };
        ws.send(Frame::Binary(join.encode().into())).await?;
        let server = loop {
            match next_frame(&mut ws, Duration::from_secs(30)).await? {
                Message::Peer { sender, .. } => break sender,
                Message::Error { message, .. } => bail!("server refused the join: {message}"),
                _ => continue,
            }
        };
        let mut peer = Peer {
            ws,
            me,
            user,
            server,
            doc_id,
            doc,
            state: sync::State::new(),
            text: None,
            epoch,
            pending: VecDeque::new(),
            seq: 0,
            unavailable: false,
            report: PeerReport::default(),
        };
        let empty = peer.doc.get_heads().is_empty();
        if !empty && seeds {
            // A new spec for the server: as if it had answered "I have nothing" already, so
            // automerge sends the whole document as one compressed chunk rather than every
            // change (100,000 changes one by one would pass the server's message size cap).
            peer.state.their_heads = Some(Vec::new());
            peer.state.their_need = Some(Vec::new());
            peer.state.their_have = Some(vec![sync::Have::default()]);
            peer.state.their_capabilities = Some(vec![
                sync::Capability::MessageV1,
                sync::Capability::MessageV2,
            ]);
        }
        peer.send_sync(empty).await?;
        Ok(peer)
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        let mut heads = self.doc.get_heads();
        heads.sort();
        heads
    }

    /// Own edits the server has not yet shown it holds.
    pub fn pending_acks(&self) -> usize {
        self.pending.len()
    }

    /// Whether the server holds every change this peer has.
    pub fn in_sync(&mut self) -> bool {
        let heads = self.doc.get_heads();
        !heads.is_empty()
            && self.state.their_heads.as_ref().is_some_and(|theirs| {
                let mut theirs = theirs.clone();
                theirs.sort();
                let mut ours = heads;
                ours.sort();
                theirs == ours
            })
    }

    /// Receives until `done` holds or `limit` passes.
    pub async fn pump_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Peer) -> bool,
    ) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return Ok(false),
                Ok(frame) => self.on_frame(frame).await?,
            }
            if self.unavailable {
                bail!("the server does not have document {}", self.doc_id);
            }
        }
        Ok(true)
    }

    /// Types at `rate` edits per second for `duration`, answering the server all along.
    pub async fn type_for(&mut self, rate: f64, duration: Duration) -> Result<()> {
        let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
        // A random phase, so users do not all type in the same millisecond.
        let phase = period.mul_f64(rand::rng().random::<f64>());
        let start = tokio::time::Instant::now() + phase;
        let end = tokio::time::Instant::now() + duration;
        let mut ticker = tokio::time::interval_at(start, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => return Ok(()),
                _ = ticker.tick() => self.type_one().await?,
                frame = self.ws.next() => self.on_frame(frame).await?,
            }
        }
    }

    async fn type_one(&mut self) -> Result<()> {
        let text = match &self.text {
            Some(t) => t.clone(),
            None => {
                let (_, t) = self
                    .doc
                    .get(ROOT, "problem")?
                    .ok_or_else(|| anyhow!("the document has no `problem` text"))?;
                self.text = Some(t.clone());
                t
            }
        };
        let before = self.doc.get_heads();
        let len = self.doc.length(&text);
        let at = rand::rng().random_range(0..=len);
        let ch = char::from(b'a' + (self.seq % 26) as u8);
        let sent = Instant::now();
        let micros = sent.duration_since(self.epoch).as_micros();
        let message = format!("{EDIT_TAG} {} {} {micros}", self.user, self.seq);
        self.seq += 1;
        let hash = self
            .doc
            .transact_with::<_, _, AutomergeError, _>(
                |_| CommitOptions::default().with_message(message),
                |tx| tx.splice_text(&text, at, 0, &ch.to_string()),
            )
            .map_err(|f| anyhow!("the edit failed: {}", f.error))?
            .hash
            .ok_or_else(|| anyhow!("the edit made no change"))?;
        self.pending.push_back((hash, sent));
        self.report.sent += 1;
        let batch = Batch::since(&self.doc, &before);
        self.send_sync_with(false, batch.as_ref()).await
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<Frame, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<()> {
        let arrived = Instant::now();
        let bytes = match frame {
            None => bail!("the server closed the connection"),
            Some(Err(e)) => bail!("websocket error: {e}"),
            Some(Ok(Frame::Binary(b))) => b,
            Some(Ok(Frame::Close(c))) => bail!("the server closed the connection: {c:?}"),
            Some(Ok(_)) => return Ok(()),
        };
        match Message::decode(&bytes)? {
            Message::Sync { data, .. } | Message::Request { data, .. } => {
                let msg = sync::Message::decode(&data)?;
                self.record_arrivals(&msg, arrived);
                fastsync::receive(&mut self.doc, &mut self.state, msg)?;
                self.record_acks(arrived);
                self.send_sync(false).await?;
            }
            Message::DocUnavailable { .. } => self.unavailable = true,
            Message::Error { message, .. } => bail!("server error: {message}"),
            _ => {}
        }
        Ok(())
    }

    /// Notes the latency of every timed edit by another user that this message brings.
    fn record_arrivals(&mut self, msg: &sync::Message, arrived: Instant) {
        let now_us = arrived.duration_since(self.epoch).as_micros() as u64;
        // A V2 message concatenates its changes into one byte string.
        let changes = msg
            .changes
            .iter()
            .flat_map(chunks)
            .filter_map(|chunk| match chunk {
                Ok(Chunk {
                    kind: ChunkKind::Change | ChunkKind::CompressedChange,
                    bytes,
                }) => Change::from_bytes(bytes.to_vec()).ok(),
                _ => None, // a whole document (first sync): nothing timed in it
            });
        for change in changes {
            if self.doc.get_change_by_hash(&change.hash()).is_some() {
                continue; // already had it
            }
            let Some((user, sent_us)) = change.message().and_then(|m| parse_tag(m)) else {
                continue;
            };
            if user != self.user {
                self.report.received += 1;
                self.report
                    .latencies_us
                    .push(now_us.saturating_sub(sent_us));
            }
        }
    }

    /// Own edits are acknowledged once they are ancestors of the server's heads, found by
    /// the same short walk back from those heads that `fastsync::receive` uses (it stops
    /// below the oldest pending edit, so its cost does not grow with the history).
    fn record_acks(&mut self, arrived: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let Some(theirs) = &self.state.their_heads else {
            return;
        };
        // Heads this peer has not received yet are judged on the next message.
        let known: Vec<ChangeHash> = theirs
            .iter()
            .filter(|h| self.doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        if known.is_empty() {
            return;
        }
        let mut unheld: BTreeSet<ChangeHash> = self.pending.iter().map(|(h, _)| *h).collect();
        fastsync::forget_covered(&self.doc, &mut unheld, &known);
        // Own edits form a chain: the held ones are the oldest.
        let held = self
            .pending
            .iter()
            .take_while(|(h, _)| !unheld.contains(h))
            .count();
        for (hash, sent) in self.pending.drain(..held) {
            self.report
                .acks_us
                .push(arrived.duration_since(sent).as_micros() as u64);
            self.report.acked.push(hash);
        }
    }

    /// The document this peer holds.
    pub fn doc(&self) -> &Automerge {
        &self.doc
    }

    /// Ends this connection and keeps the replica (to connect again with it).
    pub fn into_doc(self) -> Automerge {
        self.doc
    }

    /// Takes changes made elsewhere (another copy of this person's document) and offers the
    /// server whatever it is missing.
    pub async fn offer(&mut self, changes: Vec<Change>) -> Result<()> {
        self.doc.apply_changes(changes)?;
        self.send_sync(false).await
    }

    async fn send_sync(&mut self, as_request: bool) -> Result<()> {
        self.send_sync_with(as_request, None).await
    }

    /// Sends what the server lacks; `batch`: the changes just made here, which the server
    /// may be the only one missing (so the message is built from them, without automerge's
    /// clocks of the whole history).
    async fn send_sync_with(&mut self, as_request: bool, batch: Option<&Batch>) -> Result<()> {
        let heads = self.doc.get_heads();
        let Some(msg) = fastsync::generate(&self.doc, &mut self.state, &heads, batch) else {
            return Ok(());
        };
        let m = Message::sync_or_request(
            as_request,
            self.me.clone(),
            self.server.clone(),
            self.doc_id,
            msg.encode(),
        );
        self.ws.send(Frame::Binary(m.encode().into())).await?;
        Ok(())
    }

    /// Ends the run: counts what was never acknowledged and records the heads.
    pub async fn finish(mut self) -> PeerReport {
        self.report.unacked = self.pending.len() as u64;
        self.report.heads = self.heads();
        let _ = self.ws.close(None).await;
        self.report
    }
}

/// `dl <user> <seq> <sent µs>` → (user, sent µs).
fn parse_tag(message: &str) -> Option<(u32, u64)> {
    let mut parts = message.split(' ');
    if parts.next()? != EDIT_TAG {
        return None;
    }
    let user = parts.next()?.parse().ok()?;
    let _seq: u64 = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((user, sent))
}

async fn next_frame(ws: &mut Socket, limit: Duration) -> Result<Message> {
    loop {
        let frame = tokio::time::timeout(limit, ws.next())
            .await
            .context("timed out waiting for the server")?
            .ok_or_else(|| anyhow!("the server closed the connection"))??;
        match frame {
            Frame::Binary(b) => return Ok(Message::decode(&b)?),
            Frame::Close(c) => bail!("the server closed the connection: {c:?}"),
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_tag;

    #[test]
    fn edit_tags_parse_and_other_messages_do_not() {
        assert_eq!(parse_tag("dl 7 12 345"), Some((7, 345)));
        assert_eq!(parse_tag("splice problem"), None);
        assert_eq!(parse_tag("dl x 1 2"), None);
    }
}
