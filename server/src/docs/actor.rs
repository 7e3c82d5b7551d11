//! One document's actor: it alone holds the Automerge document and each peer's sync state, persists changes before acknowledging them, and fans them out.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{SystemTime, UNIX_EPOCH};

use duet_model::automerge::sync::{self, SyncDoc};
use duet_model::automerge::{Automerge, ChangeHash};
use duet_model::chunks::{chunks, ChunkKind};
use duet_model::Author;
use duet_protocol::{DocumentId, Message};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::{ConnId, DocCommand, DocError, Outgoing, PeerLink, Registry};
use crate::storage::{DocumentMeta, Write};

/// Most commands handled in one pass (one storage commit, one round of replies).
const MAX_BATCH: usize = 512;

/// Close codes (RFC 6455).
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_SERVER_ERROR: u16 = 1011;

struct Peer {
    link: PeerLink,
    state: sync::State,
}

pub(super) struct DocActor {
    id: DocumentId,
    registry: Registry,
    /// `None` while the server has never seen the document.
    doc: Option<Automerge>,
    peers: HashMap<ConnId, Peer>,
    meta: DocumentMeta,
    authors: BTreeSet<String>,
    /// Highest storage sequence number holding this document's data.
    last_seq: i64,
    /// Chunks stored since the last snapshot.
    chunks: usize,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Loads one stored chunk; automerge can panic on corrupt input, which is caught here.
fn load_chunk(doc: &mut Automerge, bytes: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| doc.load_incremental(bytes))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the Automerge decoder rejected corrupt data".into()),
    }
}

impl DocActor {
    pub(super) fn new(id: DocumentId, registry: Registry) -> DocActor {
        DocActor {
            id,
            registry,
            doc: None,
            peers: HashMap::new(),
            meta: DocumentMeta {
                id: id.to_string(),
                ..DocumentMeta::default()
            },
            authors: BTreeSet::new(),
            last_seq: 0,
            chunks: 0,
        }
    }

    #[tracing::instrument(name = "doc", skip_all, fields(doc_id = %self.id))]
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<DocCommand>) {
        if let Err(e) = self.load().await {
            error!("cannot load the document: {e}");
            // Refuse everything until the process restarts: serving a partial document
            // would let peers believe the server lacks changes it has on disk.
            rx.close();
            while let Some(cmd) = rx.recv().await {
                self.refuse(cmd, &e);
            }
            return;
        }
        let idle = self.registry.config.idle_unload;
        loop {
            let first = if self.peers.is_empty() {
                match tokio::time::timeout(idle, rx.recv()).await {
                    Ok(cmd) => cmd,
                    Err(_) => {
                        if self.try_unload(&mut rx).await {
                            return;
                        }
                        continue;
                    }
                }
            } else {
                rx.recv().await
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            if self.handle_batch(batch).await {
                break;
            }
        }
        self.compact(true).await;
        for peer in self.peers.values() {
            peer.link.kill.cancel();
        }
    }

    fn refuse(&self, cmd: DocCommand, why: &DocError) {
        match cmd {
            DocCommand::Sync { link, .. } | DocCommand::Ephemeral { link, .. } => {
                close(&link, CLOSE_SERVER_ERROR, "document unavailable");
            }
            DocCommand::Create { reply, .. } => {
                let _ = reply.send(Err(DocError::Corrupt(why.to_string())));
            }
            DocCommand::Read { reply } => {
                let _ = reply.send(Err(DocError::Corrupt(why.to_string())));
            }
            DocCommand::Shutdown { reply } => {
                let _ = reply.send(());
            }
            DocCommand::Leave { .. } => {}
        }
    }

    async fn load(&mut self) -> Result<(), DocError> {
        let store = self.registry.store().clone();
        let Some(chunks) = store.load(self.id).await? else {
            return Ok(());
        };
        if let Some(meta) = store.meta(self.id).await? {
            self.authors = meta.authors.iter().cloned().collect();
            self.meta = meta;
        }
        let mut doc = Automerge::new();
        let mut bad = 0;
        for chunk in &chunks {
            if let Err(e) = load_chunk(&mut doc, &chunk.bytes) {
                bad += 1;
                error!(
                    seq = chunk.seq,
                    "stored chunk is corrupt and was skipped: {e}"
                );
            }
            self.last_seq = self.last_seq.max(chunk.seq);
        }
        self.chunks = chunks.len();
        info!(chunks = chunks.len(), corrupt = bad, "loaded");
        self.doc = Some(doc);
        Ok(())
    }

    /// Handles queued commands in one pass; returns true when asked to shut down.
    async fn handle_batch(&mut self, batch: Vec<DocCommand>) -> bool {
        let before: Vec<ChangeHash> = self
            .doc
            .as_ref()
            .map(Automerge::get_heads)
            .unwrap_or_default();
        let mut shutdown = Vec::new();
        let mut created = Vec::new();
        let mut poisoned = false;
        // Peers that sent changes in this batch: their replies acknowledge those changes,
        // so they wait for the fsync; everyone else hears the news at once.
        let mut authors = HashSet::new();
        for cmd in batch {
            match cmd {
                DocCommand::Sync {
                    link,
                    data,
                    request,
                } => {
                    poisoned |= self.receive(link, &data, request, &mut authors);
                }
                DocCommand::Ephemeral {
                    link,
                    count,
                    session,
                    data,
                } => {
                    self.relay(&link, count, &session, &data);
                }
                DocCommand::Leave { conn } => {
                    self.peers.remove(&conn);
                }
                DocCommand::Create { bytes, reply } => match self.create(&bytes) {
                    Ok(()) => created.push(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                DocCommand::Read { reply } => {
                    let saved = self
                        .doc
                        .as_ref()
                        .map(Automerge::save)
                        .ok_or(DocError::NotFound);
                    let _ = reply.send(saved);
                }
                DocCommand::Shutdown { reply } => shutdown.push(reply),
            }
        }
        if poisoned {
            self.recover().await;
            return false;
        }
        // Fan out before the fsync to peers who sent nothing: a copy on another peer is
        // no promise to the author, and the author's acknowledgement still waits.
        self.send_sync_messages(|conn| !authors.contains(conn));
        // Durable before acknowledged: persist what arrived, then reply.
        if let Err(e) = self.persist(&before).await {
            error!("storage failed; dropping unpersisted changes and peers: {e}");
            for reply in created {
                let _ = reply.send(Err(DocError::Storage(crate::storage::StorageError::Io(
                    e.to_string(),
                ))));
            }
            self.recover().await;
            return false;
        }
        for reply in created {
            let _ = reply.send(Ok(()));
        }
        // Authors must hear back even if their own later message in this batch told us heads
        // we now share: automerge then records those heads as sent and would stay silent,
        // leaving the author waiting for an acknowledgement that never comes.
        for conn in &authors {
            if let Some(peer) = self.peers.get_mut(conn) {
                peer.state.last_sent_heads.clear();
            }
        }
        self.send_sync_messages(|_| true);
        if self.chunks >= self.registry.config.compact_after_chunks {
            self.compact(false).await;
        }
        if shutdown.is_empty() {
            return false;
        }
        self.compact(true).await;
        for peer in self.peers.values() {
            close(&peer.link, 1001, "server shutting down");
        }
        self.peers.clear();
        for reply in shutdown {
            let _ = reply.send(());
        }
        true
    }

    /// Applies one `request`/`sync`, noting in `authors` a peer whose message carried
    /// changes. Returns true if Automerge panicked (state unknown).
    fn receive(
        &mut self,
        link: PeerLink,
        data: &[u8],
        request: bool,
        authors: &mut HashSet<ConnId>,
    ) -> bool {
        let conn = link.conn;
        let peer = self.peers.entry(conn).or_insert_with(|| Peer {
            link: link.clone(),
            state: sync::State::new(),
        });
        let msg = match sync::Message::decode(data)
            .map_err(|e| e.to_string())
            .and_then(|msg| {
                // Automerge skips change chunks it cannot parse; refuse them instead, so a
                // peer sending garbage is told and dropped.
                let checked = msg.changes.iter().try_for_each(check_change);
                checked.map(|()| msg)
            }) {
            Ok(msg) => msg,
            Err(e) => {
                warn!(peer_id = %link.peer, "undecodable sync message: {e}");
                refuse_peer(&link, &self.registry, &format!("invalid sync message: {e}"));
                self.peers.remove(&conn);
                return false;
            }
        };
        if !msg.changes.is_empty() {
            authors.insert(conn);
        }
        let exists = self.doc.as_ref().is_some_and(|d| !d.get_heads().is_empty());
        let doc = match &mut self.doc {
            _ if !exists && request && msg.changes.is_empty() => {
                // Neither side has it: say so, but keep the peer so it hears if it appears.
                let _ = link
                    .outbox
                    .try_send(Outgoing::Message(Message::DocUnavailable {
                        sender: self.registry.server_peer().clone(),
                        target: link.peer.clone(),
                        document: self.id,
                    }));
                return false;
            }
            Some(doc) => doc,
            // A peer pushing a document the server has not seen: it is created here.
            None => self.doc.insert(Automerge::new()),
        };
        match catch_unwind(AssertUnwindSafe(|| {
            doc.receive_sync_message(&mut peer.state, msg)
        })) {
            Ok(Ok(())) => false,
            Ok(Err(e)) => {
                warn!(peer_id = %link.peer, "refused sync message: {e}");
                refuse_peer(&link, &self.registry, "invalid changes in sync message");
                self.peers.remove(&conn);
                false
            }
            Err(_) => {
                error!(peer_id = %link.peer, "automerge panicked applying a sync message");
                refuse_peer(&link, &self.registry, "invalid changes in sync message");
                self.peers.remove(&conn);
                true
            }
        }
    }

    fn relay(&mut self, from: &PeerLink, count: u64, session: &str, data: &[u8]) {
        for peer in self.peers.values() {
            if peer.link.conn == from.conn {
                continue;
            }
            let msg = Message::Ephemeral {
                sender: from.peer.clone(),
                target: peer.link.peer.clone(),
                count,
                session: session.to_owned(),
                document: self.id,
                data: data.to_vec(),
            };
            if peer.link.outbox.try_send(Outgoing::Message(msg)).is_err() {
                peer.link.kill.cancel();
            }
        }
    }

    fn create(&mut self, bytes: &[u8]) -> Result<(), DocError> {
        if self.doc.as_ref().is_some_and(|d| !d.get_heads().is_empty()) {
            return Err(DocError::AlreadyExists);
        }
        let mut doc = Automerge::new();
        load_chunk(&mut doc, bytes).map_err(DocError::Corrupt)?;
        self.doc = Some(doc);
        Ok(())
    }

    /// Stores the changes made since `before`, with refreshed metadata. Durable on return.
    async fn persist(&mut self, before: &[ChangeHash]) -> Result<(), crate::storage::StorageError> {
        let Some(doc) = &self.doc else { return Ok(()) };
        if doc.get_heads() == before {
            return Ok(());
        }
        let changes = doc.get_changes(before);
        let mut bytes = Vec::new();
        for change in &changes {
            bytes.extend_from_slice(change.raw_bytes());
            if let Ok(author) = Author::from_actor(change.actor_id()) {
                self.authors.insert(author.user().to_string());
            }
        }
        let title = duet_model::spec_title(doc);
        self.meta.is_spec = title.is_some();
        self.meta.title = title.unwrap_or_default();
        self.meta.updated_at = now_millis();
        self.meta.authors = self.authors.iter().cloned().collect();
        let write = Write::Append {
            doc: self.id,
            bytes,
            meta: self.meta.clone(),
        };
        let seqs = self.registry.store().commit(vec![write]).await?;
        self.last_seq = self.last_seq.max(seqs.first().copied().unwrap_or(0));
        self.chunks += 1;
        debug!(changes = changes.len(), "persisted");
        Ok(())
    }

    /// Sends each chosen peer whatever it is missing. A peer that cannot keep up is dropped.
    fn send_sync_messages(&mut self, to: impl Fn(&ConnId) -> bool) {
        let Some(doc) = &self.doc else { return };
        let server = self.registry.server_peer().clone();
        let mut dropped = Vec::new();
        for (conn, peer) in self.peers.iter_mut().filter(|(conn, _)| to(conn)) {
            while let Some(msg) = doc.generate_sync_message(&mut peer.state) {
                let out = Outgoing::Message(Message::Sync {
                    sender: server.clone(),
                    target: peer.link.peer.clone(),
                    document: self.id,
                    data: msg.encode(),
                });
                if peer.link.outbox.try_send(out).is_err() {
                    warn!(peer_id = %peer.link.peer, "peer cannot keep up; disconnecting");
                    peer.link.kill.cancel();
                    dropped.push(*conn);
                    break;
                }
            }
        }
        for conn in dropped {
            self.peers.remove(&conn);
        }
    }

    /// Replaces the stored chunks with one snapshot (when there are several, or `force`d
    /// and more than one).
    async fn compact(&mut self, at_exit: bool) {
        let Some(doc) = &self.doc else { return };
        if self.chunks <= 1 || (at_exit && self.chunks < 8) {
            return;
        }
        let snapshot = doc.save();
        let write = Write::Compact {
            doc: self.id,
            snapshot,
            replaces_up_to: self.last_seq,
        };
        match self.registry.store().commit(vec![write]).await {
            Ok(_) => {
                debug!(chunks = self.chunks, "compacted");
                self.chunks = 1;
            }
            Err(e) => error!("compaction failed (chunks kept): {e}"),
        }
    }

    /// After a failure with unknown in-memory state: drop every peer and reload from disk.
    async fn recover(&mut self) {
        for peer in self.peers.values() {
            close(
                &peer.link,
                CLOSE_SERVER_ERROR,
                "document reloaded; please reconnect",
            );
        }
        self.peers.clear();
        self.doc = None;
        self.chunks = 0;
        self.last_seq = 0;
        if let Err(e) = self.load().await {
            error!("reload failed: {e}");
        }
    }

    /// Unloads the document if it is still idle; returns true if it did.
    async fn try_unload(&mut self, rx: &mut mpsc::Receiver<DocCommand>) -> bool {
        self.compact(true).await;
        let unloaded = self.registry.unload_if(&self.id, || rx.is_empty());
        if unloaded {
            rx.close();
            // Anything sent between the check and the close is still handled.
            let mut rest = Vec::new();
            while let Ok(cmd) = rx.try_recv() {
                rest.push(cmd);
            }
            if !rest.is_empty() {
                self.handle_batch(rest).await;
            }
            debug!("unloaded");
        }
        unloaded
    }
}

/// Checks the chunks of one element of a sync message's change list: each must be an
/// Automerge chunk, and each change chunk must parse as a change. Automerge itself would
/// skip unparsable chunks silently; Duet tells the peer and drops it instead. (Peers that
/// both speak sync v2 send a whole document chunk to a peer that has nothing; Automerge
/// verifies those itself when loading them.)
fn check_change(bytes: &[u8]) -> Result<(), String> {
    for chunk in chunks(bytes) {
        let chunk = chunk.map_err(|e| format!("invalid change: {e}"))?;
        if chunk.kind != ChunkKind::Document {
            match catch_unwind(|| duet_model::automerge::Change::from_bytes(chunk.bytes.to_vec())) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("invalid change: {e}")),
                Err(_) => return Err("invalid change: undecodable".into()),
            }
        }
    }
    Ok(())
}

/// Tells a peer why it is being dropped and closes its connection.
fn refuse_peer(link: &PeerLink, registry: &Registry, why: &str) {
    let _ = link.outbox.try_send(Outgoing::Message(Message::Error {
        sender: Some(registry.server_peer().clone()),
        target: Some(link.peer.clone()),
        message: why.to_owned(),
    }));
    close(link, CLOSE_PROTOCOL, why);
}

fn close(link: &PeerLink, code: u16, reason: &str) {
    if link
        .outbox
        .try_send(Outgoing::Close {
            code,
            reason: reason.to_owned(),
        })
        .is_err()
    {
        link.kill.cancel();
    }
}
