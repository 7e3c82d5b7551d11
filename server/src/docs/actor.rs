//! One document's actor: it alone holds the Automerge document and each peer's sync state, persists changes before acknowledging them, and fans them out.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{SystemTime, UNIX_EPOCH};

use duet_model::automerge::sync;
use duet_model::automerge::AutoCommit;
use duet_model::automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use duet_model::chunks::{chunks, ChunkKind};
use duet_model::fastsync::{self, Batch};
use duet_model::history::{ChangeMeta, History};
use duet_model::{Author, ItemId, RestoreScope, Spec, UnixMillis, UserId};
use duet_protocol::{DocumentId, Message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::review::{self, HistoryAnswer, HistoryQuery, Receipts};
use super::{ConnId, DocCommand, DocError, Outgoing, PeerLink, Registry};
use crate::storage::{DocumentMeta, Receipt, Role, Write};

/// Most commands handled in one pass (one storage commit, one round of replies).
const MAX_BATCH: usize = 512;

/// Close codes (RFC 6455).
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_POLICY: u16 = 1008;
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
    /// Who may do what with this document (as stored, plus changes not yet committed).
    roles: HashMap<String, Role>,
    /// Role changes to commit with the next write.
    role_writes: Vec<(String, Option<Role>)>,
    /// Actors bound to users by messages of this batch, to store with their changes.
    new_bindings: Vec<(Vec<u8>, String)>,
    /// The document's history, kept up to date as changes are stored. `None` while it is
    /// being read in the background after loading (or if that failed: then it is read on
    /// the first question).
    history: Option<History>,
    /// The background reading of a loaded document's history.
    reading: Option<JoinHandle<Result<History, DocError>>>,
    /// Receipts of changes stored while the history was being read.
    receipts: Receipts,
}

/// The stored receipts of a document's changes, as the history reads them.
async fn stored_receipts(
    store: &crate::storage::StoreHandle,
    id: DocumentId,
) -> Result<Receipts, DocError> {
    Ok(store
        .receipts(id)
        .await?
        .into_iter()
        .filter_map(|r| {
            let hash = r.hash.parse().ok()?;
            let meta = ChangeMeta {
                author: UserId::parse(&r.user).ok(),
                received_at: Some(UnixMillis(r.received_at)),
            };
            Some((hash, meta))
        })
        .collect())
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
            roles: HashMap::new(),
            role_writes: Vec::new(),
            new_bindings: Vec::new(),
            history: None,
            reading: None,
            receipts: Receipts::new(),
        }
    }

    fn exists(&self) -> bool {
        self.doc.as_ref().is_some_and(|d| !d.get_heads().is_empty())
    }

    fn role_of(&self, user: &UserId) -> Option<Role> {
        self.roles.get(user.as_str()).copied()
    }

    /// Records a role change, to be committed with this batch.
    fn set_role(&mut self, user: &str, role: Option<Role>) {
        match role {
            Some(r) => self.roles.insert(user.to_owned(), r),
            None => self.roles.remove(user),
        };
        self.role_writes.push((user.to_owned(), role));
        if role.is_none() {
            // Their connections lose the document at once.
            let gone: Vec<ConnId> = self
                .peers
                .iter()
                .filter(|(_, p)| p.link.user.as_str() == user)
                .map(|(c, _)| *c)
                .collect();
            for conn in gone {
                if let Some(peer) = self.peers.remove(&conn) {
                    unavailable(&peer.link, &self.registry, self.id);
                }
            }
        }
    }

    /// Handles a role change asked by `by` (an owner) or by a verified share link.
    fn change_role(
        &mut self,
        by: Option<&UserId>,
        user: &UserId,
        role: Option<Role>,
    ) -> Result<Option<Role>, DocError> {
        if !self.exists() && self.roles.is_empty() {
            return Err(DocError::NotFound);
        }
        let current = self.role_of(user);
        match by {
            Some(by) => match self.role_of(by) {
                Some(Role::Owner) => {}
                Some(_) => {
                    return Err(DocError::Forbidden(
                        "only the spec's owners can change who has access".into(),
                    ))
                }
                None => return Err(DocError::NotFound),
            },
            // A share link never lowers a role.
            None if current >= role => return Ok(current),
            None => {}
        }
        let owners = self.roles.values().filter(|r| **r == Role::Owner).count();
        if current == Some(Role::Owner) && role != Some(Role::Owner) && owners <= 1 {
            return Err(DocError::LastOwner);
        }
        if current != role {
            self.set_role(user.as_str(), role);
        }
        Ok(role)
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
            DocCommand::SetRole { reply, .. } => {
                let _ = reply.send(Err(DocError::Corrupt(why.to_string())));
            }
            DocCommand::History { reply, .. } => {
                let _ = reply.send(Err(DocError::Corrupt(why.to_string())));
            }
            DocCommand::Restore { reply, .. } => {
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
            self.history = Some(History::new());
            return Ok(());
        };
        if let Some(meta) = store.meta(self.id).await? {
            self.authors = meta.authors.iter().cloned().collect();
            self.meta = meta;
        }
        self.roles = store.roles(self.id).await?.into_iter().collect();
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
        self.read_history(&doc);
        self.doc = Some(doc);
        Ok(())
    }

    /// Starts reading the history of the just loaded `doc` on a blocking thread, so that
    /// the first question about a long history does not wait for it (nor does sync).
    fn read_history(&mut self, doc: &Automerge) {
        let changes: Vec<Change> = doc.get_changes(&[]).into_iter().cloned().collect();
        let store = self.registry.store().clone();
        let id = self.id;
        self.reading = Some(tokio::spawn(async move {
            let receipts = stored_receipts(&store, id).await?;
            tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let mut history = History::new();
                history.update(&changes, |h| receipts.get(h).cloned().unwrap_or_default());
                info!(
                    changes = changes.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "history read"
                );
                history
            })
            .await
            .map_err(|e| DocError::Corrupt(format!("reading the history failed: {e}")))
        }));
    }

    /// Takes the history read in the background once it is ready (waiting for it when
    /// `wait`), and brings it up to date with the changes stored meanwhile.
    async fn adopt_history(&mut self, wait: bool) {
        let Some(reading) = self.reading.take_if(|r| wait || r.is_finished()) else {
            return;
        };
        match reading.await {
            Ok(Ok(mut history)) => {
                if let Some(doc) = &self.doc {
                    review::refresh(&mut history, doc, &self.receipts);
                }
                self.history = Some(history);
            }
            Ok(Err(e)) => error!("{e}"),
            Err(e) => error!("reading the history failed: {e}"),
        }
        self.receipts.clear();
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
        let mut role_replies = Vec::new();
        let mut restored = Vec::new();
        let mut reads = Vec::new();
        let mut poisoned = false;
        // Peers that sent changes in this batch: their replies acknowledge those changes
        // and must be sent even when automerge thinks it has nothing to say (below).
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
                DocCommand::Create {
                    bytes,
                    owner,
                    reply,
                } => match self.create(&bytes) {
                    Ok(()) => {
                        self.set_role(owner.as_str(), Some(Role::Owner));
                        created.push(reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                DocCommand::SetRole {
                    by,
                    user,
                    role,
                    reply,
                } => match self.change_role(by.as_ref(), &user, role) {
                    Ok(role) => role_replies.push((reply, role)),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                DocCommand::History { query, reply } => {
                    let _ = reply.send(self.answer(query).await);
                }
                DocCommand::Restore {
                    by,
                    to,
                    story,
                    reply,
                } => match self.restore(&by, &to, story) {
                    Ok(()) => restored.push(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                // Answered after the batch is stored: a reader sees only what is on disk.
                DocCommand::Read { reply } => reads.push(reply),
                DocCommand::Shutdown { reply } => shutdown.push(reply),
            }
        }
        if poisoned {
            self.recover().await;
            return false;
        }
        // Durable before anyone hears of it: persist what arrived, then send. The reply to
        // an author is its acknowledgement; and a change relayed before the fsync could
        // outlive a crash on another peer, which would then be refused when it offered the
        // change back (only its author may bring a change the server lacks).
        if let Err(e) = self.persist(&before).await {
            error!("storage failed; dropping unpersisted changes and peers: {e}");
            let failed = || DocError::Storage(crate::storage::StorageError::Io(e.to_string()));
            for reply in created {
                let _ = reply.send(Err(failed()));
            }
            for (reply, _) in role_replies {
                let _ = reply.send(Err(failed()));
            }
            for reply in restored {
                let _ = reply.send(Err(failed()));
            }
            for reply in reads {
                let _ = reply.send(Err(failed()));
            }
            self.recover().await;
            return false;
        }
        for reply in reads {
            let saved = self
                .doc
                .as_ref()
                .map(Automerge::save)
                .ok_or(DocError::NotFound);
            let _ = reply.send(saved);
        }
        for reply in created {
            let _ = reply.send(Ok(()));
        }
        for (reply, role) in role_replies {
            let _ = reply.send(Ok(role));
        }
        let heads = self
            .doc
            .as_ref()
            .map(Automerge::get_heads)
            .unwrap_or_default();
        for reply in restored {
            let _ = reply.send(Ok(heads.clone()));
        }
        // Authors must hear back even if their own later message in this batch told us heads
        // we now share: automerge then records those heads as sent and would stay silent,
        // leaving the author waiting for an acknowledgement that never comes.
        for conn in &authors {
            if let Some(peer) = self.peers.get_mut(conn) {
                peer.state.last_sent_heads.clear();
            }
        }
        let batch = self
            .doc
            .as_ref()
            .and_then(|doc| fastsync::Batch::since(doc, &before));
        self.send_sync_messages(|_| true, batch.as_ref());
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
        let exists = self.exists();
        let role = self.role_of(&link.user);
        if exists && role.is_none() {
            // No role: the document is as good as absent (its existence is not leaked).
            self.peers.remove(&conn);
            unavailable(&link, &self.registry, self.id);
            return false;
        }
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
            if exists && !role.is_some_and(Role::can_edit) {
                warn!(peer_id = %link.peer, user = %link.user, "refused changes from a viewer");
                self.refuse_policy(
                    &link,
                    "refused: you can view this spec but not change it (your role is viewer)",
                );
                return false;
            }
            if let Err(why) = self.verify_authors(&msg, &link.user) {
                warn!(peer_id = %link.peer, user = %link.user, "refused forged changes: {why}");
                self.refuse_policy(&link, &format!("refused: {why}"));
                return false;
            }
            authors.insert(conn);
        }
        let peer = self.peers.entry(conn).or_insert_with(|| Peer {
            link: link.clone(),
            state: sync::State::new(),
        });
        let doc = match &mut self.doc {
            _ if !exists && request && msg.changes.is_empty() => {
                // Neither side has it: say so, but keep the peer so it hears if it appears
                // (and it gains a role on it).
                unavailable(&link, &self.registry, self.id);
                return false;
            }
            Some(doc) => doc,
            // A peer pushing a document the server has not seen: it is created here.
            None => self.doc.insert(Automerge::new()),
        };
        match fastsync::receive_guarded(doc, &mut peer.state, msg) {
            Ok(()) => {
                if !exists && self.exists() {
                    // A document pushed by a signed-in user becomes theirs.
                    self.set_role(link.user.as_str(), Some(Role::Owner));
                }
                false
            }
            Err(Some(e)) => {
                warn!(peer_id = %link.peer, "refused sync message: {e}");
                refuse_peer(&link, &self.registry, "invalid changes in sync message");
                self.peers.remove(&conn);
                false
            }
            Err(None) => {
                error!(peer_id = %link.peer, "automerge panicked applying a sync message");
                refuse_peer(&link, &self.registry, "invalid changes in sync message");
                self.peers.remove(&conn);
                true
            }
        }
    }

    /// Refuses a peer's message for what it is allowed to do (1008), dropping it.
    fn refuse_policy(&mut self, link: &PeerLink, why: &str) {
        refuse(link, &self.registry, CLOSE_POLICY, why);
        self.peers.remove(&link.conn);
    }

    /// Checks that every change of `msg` the server does not have yet is authored by
    /// `user`: a Duet actor naming them, or another actor bound to them (bound here on
    /// first use). On success the new bindings are recorded, to be stored with the changes.
    fn verify_authors(&mut self, msg: &sync::Message, user: &UserId) -> Result<(), String> {
        let known = |hash: &ChangeHash, doc: &Option<Automerge>| {
            doc.as_ref()
                .is_some_and(|d| d.get_change_by_hash(hash).is_some())
        };
        let mut actors: Vec<(ChangeHash, ActorId)> = Vec::new();
        for bytes in msg.changes.iter() {
            for chunk in chunks(bytes) {
                let chunk = chunk.map_err(|e| format!("invalid change: {e}"))?;
                if chunk.kind == ChunkKind::Document {
                    let mut whole = Automerge::new();
                    load_chunk(&mut whole, chunk.bytes)?;
                    for change in whole.get_changes(&[]) {
                        if !known(&change.hash(), &self.doc) {
                            actors.push((change.hash(), change.actor_id().clone()));
                        }
                    }
                } else {
                    let change = catch_unwind(|| {
                        duet_model::automerge::Change::from_bytes(chunk.bytes.to_vec())
                    })
                    .map_err(|_| "invalid change: undecodable".to_owned())?
                    .map_err(|e| format!("invalid change: {e}"))?;
                    if !known(&change.hash(), &self.doc) {
                        actors.push((change.hash(), change.actor_id().clone()));
                    }
                }
            }
        }
        let skeleton = duet_model::skeleton_hash();
        let mut new: Vec<Vec<u8>> = Vec::new();
        {
            let bound = self.registry.bindings();
            for (hash, actor) in actors.iter().filter(|(h, _)| *h != skeleton) {
                let bytes = actor.to_bytes();
                match Author::from_actor(actor) {
                    Ok(author) if author.user() == user => {}
                    Ok(author) => {
                        return Err(format!(
                            "change {hash} is authored as {}, but this connection is signed in as {user}",
                            author.user()
                        ))
                    }
                    // Any other actor (a plain automerge actor, even one whose first byte
                    // happens to be the Duet one) is bound to the first user who sends it.
                    Err(_) => match bound.get(bytes) {
                        Some(owner) if owner == user.as_str() => {}
                        Some(_) => {
                            return Err(format!(
                                "change {hash} uses actor {actor}, which belongs to another user"
                            ))
                        }
                        None => new.push(bytes.to_vec()),
                    },
                }
            }
        }
        let mut bound = self.registry.bindings();
        for actor in new {
            // Checked again under the same lock it is inserted with: two documents binding
            // one new actor at once cannot both win.
            match bound.get(&actor) {
                Some(owner) if owner != user.as_str() => {
                    return Err("an actor in this message belongs to another user".into())
                }
                Some(_) => {}
                None => {
                    bound.insert(actor.clone(), user.to_string());
                    self.new_bindings.push((actor, user.to_string()));
                }
            }
        }
        Ok(())
    }

    /// The user a stored change is attributed to (`None`: the shared skeleton of a spec).
    fn author_of(&self, hash: &ChangeHash, actor: &ActorId) -> Option<String> {
        if *hash == duet_model::skeleton_hash() {
            return None;
        }
        Some(match Author::from_actor(actor) {
            Ok(author) => author.user().to_string(),
            Err(_) => self
                .registry
                .bindings()
                .get(actor.to_bytes())
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned()),
        })
    }

    /// Answers a question about the history, once it has been read (reading it here if
    /// the background reading failed).
    async fn answer(&mut self, query: HistoryQuery) -> Result<HistoryAnswer, DocError> {
        if self.doc.is_none() || !self.exists() {
            return Err(DocError::NotFound);
        }
        self.adopt_history(true).await;
        if self.history.is_none() {
            let receipts = stored_receipts(self.registry.store(), self.id).await?;
            let mut history = History::new();
            if let Some(doc) = &self.doc {
                review::refresh(&mut history, doc, &receipts);
            }
            self.history = Some(history);
        }
        let (Some(doc), Some(history)) = (&self.doc, &self.history) else {
            return Err(DocError::NotFound);
        };
        review::answer(doc, history, query)
    }

    /// Applies a restore by `by` to the document (persisted and fanned out by the batch).
    fn restore(
        &mut self,
        by: &UserId,
        to: &[ChangeHash],
        story: Option<ItemId>,
    ) -> Result<(), DocError> {
        match self.role_of(by) {
            None => return Err(DocError::NotFound),
            Some(role) if !role.can_edit() => {
                return Err(DocError::Forbidden(
                    "you can view this spec but not change it (your role is viewer)".into(),
                ))
            }
            Some(_) => {}
        }
        let Some(doc) = self.doc.as_mut().filter(|d| !d.get_heads().is_empty()) else {
            return Err(DocError::NotFound);
        };
        let copy = AutoCommit::load(&doc.save()).map_err(|e| DocError::Corrupt(e.to_string()))?;
        let author = Author::new(by.clone(), &mut rand::rng());
        let mut spec =
            Spec::from_doc(copy, author).map_err(|e| DocError::Corrupt(e.to_string()))?;
        let scope = match story {
            Some(id) => RestoreScope::Story(id),
            None => RestoreScope::Spec,
        };
        spec.restore(to, &scope, UnixMillis(now_millis()))
            .map_err(|e| match e {
                duet_model::EditError::UnknownVersion | duet_model::EditError::NotInVersion => {
                    DocError::BadVersion(e.to_string())
                }
                other => DocError::Corrupt(other.to_string()),
            })?;
        let heads = doc.get_heads();
        let new: Vec<duet_model::automerge::Change> = spec
            .doc_mut()
            .get_changes(&heads)
            .into_iter()
            .cloned()
            .collect();
        doc.apply_changes(new)
            .map_err(|e| DocError::Corrupt(e.to_string()))?;
        Ok(())
    }

    fn relay(&mut self, from: &PeerLink, count: u64, session: &str, data: &[u8]) {
        // Presence only among people with a role on the document.
        if self.role_of(&from.user).is_none() {
            return;
        }
        for peer in self.peers.values() {
            if peer.link.conn == from.conn || self.role_of(&peer.link.user).is_none() {
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
        let mut writes: Vec<Write> = std::mem::take(&mut self.role_writes)
            .into_iter()
            .map(|(user, role)| Write::SetRole {
                doc: self.id,
                user,
                role,
            })
            .collect();
        let bindings = std::mem::take(&mut self.new_bindings);
        let changed = self.doc.as_ref().is_some_and(|d| d.get_heads() != before);
        let Some(doc) = self.doc.as_ref().filter(|_| changed) else {
            if !writes.is_empty() {
                self.registry.store().commit(writes).await?;
            }
            return Ok(());
        };
        let changes = doc.get_changes(before);
        let mut metas = Receipts::new();
        let mut bytes = Vec::new();
        let now = now_millis();
        let mut receipts = Vec::with_capacity(changes.len());
        for change in &changes {
            bytes.extend_from_slice(change.raw_bytes());
            let Some(user) = self.author_of(&change.hash(), change.actor_id()) else {
                continue;
            };
            self.authors.insert(user.clone());
            let meta = ChangeMeta {
                author: UserId::parse(&user).ok(),
                received_at: Some(UnixMillis(now)),
            };
            metas.insert(change.hash(), meta);
            receipts.push(Receipt {
                hash: change.hash().to_string(),
                user,
                received_at: now,
            });
        }
        let title = duet_model::spec_title(doc);
        self.meta.is_spec = title.is_some();
        self.meta.title = title.unwrap_or_default();
        self.meta.updated_at = now_millis();
        self.meta.authors = self.authors.iter().cloned().collect();
        // The document's row first: roles refer to it.
        writes.insert(
            0,
            Write::Append {
                doc: self.id,
                bytes,
                meta: self.meta.clone(),
                receipts,
                bindings,
            },
        );
        let committing = self.registry.store().begin_commit(writes).await?;
        // While the storage thread writes: the history reads the changes now, or, while it
        // is being read, once it is adopted.
        if let Some(history) = &mut self.history {
            history.update(changes.iter().copied(), |h| {
                metas.get(h).cloned().unwrap_or_default()
            });
        } else if self.reading.is_some() {
            self.receipts.extend(metas);
        }
        let seqs = committing.done().await?;
        self.last_seq = self.last_seq.max(seqs.first().copied().unwrap_or(0));
        self.chunks += 1;
        debug!(changes = changes.len(), "persisted");
        self.adopt_history(false).await;
        Ok(())
    }

    /// Sends each chosen peer whatever it is missing. A peer that cannot keep up is dropped.
    fn send_sync_messages(&mut self, to: impl Fn(&ConnId) -> bool, batch: Option<&Batch>) {
        let Some(doc) = &self.doc else { return };
        let heads = doc.get_heads();
        let server = self.registry.server_peer().clone();
        let mut dropped = Vec::new();
        // Once the document has content, only people with a role hear of it.
        let open = doc.get_heads().is_empty();
        let roles = &self.roles;
        let allowed = |peer: &Peer| open || roles.contains_key(peer.link.user.as_str());
        for (conn, peer) in self
            .peers
            .iter_mut()
            .filter(|(conn, peer)| to(conn) && allowed(peer))
        {
            while let Some(msg) = fastsync::generate(doc, &mut peer.state, &heads, batch) {
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
        self.role_writes.clear();
        self.new_bindings.clear();
        self.history = None;
        if let Some(reading) = self.reading.take() {
            reading.abort();
        }
        self.receipts.clear();
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

/// Tells a peer the server does not have the document (or that it may not see it).
fn unavailable(link: &PeerLink, registry: &Registry, doc: DocumentId) {
    let _ = link
        .outbox
        .try_send(Outgoing::Message(Message::DocUnavailable {
            sender: registry.server_peer().clone(),
            target: link.peer.clone(),
            document: doc,
        }));
}

/// Tells a peer why its message is refused as malformed (1002) and closes its connection.
fn refuse_peer(link: &PeerLink, registry: &Registry, why: &str) {
    refuse(link, registry, CLOSE_PROTOCOL, why);
}

/// Tells a peer why it is being dropped, then closes its connection with `code`.
fn refuse(link: &PeerLink, registry: &Registry, code: u16, why: &str) {
    let _ = link.outbox.try_send(Outgoing::Message(Message::Error {
        sender: Some(registry.server_peer().clone()),
        target: Some(link.peer.clone()),
        message: why.to_owned(),
    }));
    close(link, code, why);
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
