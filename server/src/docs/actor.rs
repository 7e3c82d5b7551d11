//! One document's actor: it alone drives the document's [`Engine`], stores what the engine says before anything is sent, carries its messages to the connections, and keeps the history.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use duet_model::automerge::{Automerge, Change, ChangeHash, ReadDoc};
use duet_model::history::{ChangeMeta, History};
use duet_model::{Author, UnixMillis, UserId};
use duet_protocol::{DocumentId, Message, Notice};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::engine::{read_chunks, Engine, Plan, Policy, Remote, SignOffs, CLOSE_SERVER_ERROR};
use super::review::{self, HistoryAnswer, HistoryQuery, Receipts};
use super::{ConnId, DocCommand, DocError, ListChange, Outgoing, PeerLink, Registry};
use crate::storage::{DocumentMeta, Role, SignOffRecord, StorageError, Write};

/// Most commands handled in one pass (one storage commit, one round of replies).
const MAX_BATCH: usize = 512;

/// How many times its own load time an idle document stays in memory at least.
const RESIDENT_PER_LOAD: u32 = 120;

/// How long a document with no connection stays loaded: the configured idle time, or
/// longer for a document that is slow to load, so that whoever opens it next rarely
/// waits for that again (a spec that took 2 s to load stays 4 minutes; at most an hour).
fn resident_for(idle: Duration, load_time: Duration) -> Duration {
    idle.max(
        load_time
            .saturating_mul(RESIDENT_PER_LOAD)
            .min(Duration::from_secs(3600)),
    )
}

pub(super) struct DocActor {
    id: DocumentId,
    registry: Registry,
    engine: Engine,
    /// The connections the engine may address, by id.
    links: HashMap<ConnId, PeerLink>,
    /// The document's history, kept up to date as changes are stored. `None` while it is
    /// being read in the background after loading (or if that failed: then it is read on
    /// the first question).
    history: Option<History>,
    /// The background reading of a loaded document's history.
    reading: Option<JoinHandle<Result<History, DocError>>>,
    /// Receipts of changes stored while the history was being read.
    receipts: Receipts,
    /// How long reading the stored document took last time.
    load_time: Duration,
    /// Notices sent to peers (the ephemeral messages' count), and the session they are
    /// sent as: new for each actor, so a peer that counts messages per session never
    /// takes a reloaded document's first notice for one it has seen.
    notices: u64,
    notice_session: String,
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

fn remote(link: &PeerLink) -> Remote {
    Remote {
        conn: link.conn,
        peer: link.peer.clone(),
        user: link.user.clone(),
    }
}

impl DocActor {
    pub(super) fn new(id: DocumentId, registry: Registry) -> DocActor {
        let policy = Policy::compacting_after(registry.config.compact_after_chunks);
        let engine = Engine::new(id, registry.server_peer().clone(), policy);
        DocActor {
            id,
            registry,
            engine,
            links: HashMap::new(),
            history: None,
            reading: None,
            receipts: Receipts::new(),
            load_time: Duration::ZERO,
            notices: 0,
            notice_session: format!("server-{:016x}", rand::random::<u64>()),
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
        loop {
            // The search text is written once the document has been quiet for a moment.
            if let Some(due) = self.engine.search_due(now_millis()) {
                let wait = Duration::from_millis(due.unsigned_abs());
                match tokio::time::timeout(wait, rx.recv()).await {
                    Ok(Some(first)) => {
                        if self.handle_batch(self.gather(first, &mut rx)).await {
                            break;
                        }
                        continue;
                    }
                    Ok(None) => break,
                    Err(_) => {
                        self.write_search_text().await;
                        continue;
                    }
                }
            }
            let first = if self.links.is_empty() {
                let idle = resident_for(self.registry.config.idle_unload, self.load_time);
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
            if self.handle_batch(self.gather(first, &mut rx)).await {
                break;
            }
        }
        self.write_search_text().await;
        self.upkeep(true).await;
        for link in self.links.values() {
            link.kill.cancel();
        }
    }

    /// `first` and whatever else is queued, up to [`MAX_BATCH`] commands.
    fn gather(&self, first: DocCommand, rx: &mut mpsc::Receiver<DocCommand>) -> Vec<DocCommand> {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        batch
    }

    /// Stores the search text if it is stale (a failure is logged: it is written again
    /// with the next change).
    async fn write_search_text(&mut self) {
        if let Some(write) = self.engine.search_write(now_millis()) {
            match self.registry.store().commit(vec![write]).await {
                // A list searching for the words just written finds the spec now.
                Ok(_) => self.registry.list_changed(ListChange {
                    doc: self.id,
                    roles_of: Vec::new(),
                }),
                Err(e) => warn!("storing the search text failed: {e}"),
            }
        }
    }

    /// Answers a command of a document that could not be loaded.
    fn refuse(&self, cmd: DocCommand, why: &DocError) {
        let corrupt = || DocError::Corrupt(why.to_string());
        match cmd {
            DocCommand::Sync { link, .. } | DocCommand::Ephemeral { link, .. } => {
                deliver(
                    &link,
                    Outgoing::Close {
                        code: CLOSE_SERVER_ERROR,
                        reason: "document unavailable".into(),
                    },
                );
            }
            DocCommand::Create { reply, .. } => send(reply, Err(corrupt())),
            DocCommand::SetRole { reply, .. } => send(reply, Err(corrupt())),
            DocCommand::History { reply, .. } => send(reply, Err(corrupt())),
            DocCommand::Restore { reply, .. } | DocCommand::Rename { reply, .. } => {
                send(reply, Err(corrupt()))
            }
            DocCommand::Listing { reply, .. } => send(reply, Err(corrupt())),
            DocCommand::SignOff { reply, .. } => send(reply, Err(corrupt())),
            DocCommand::SignOffs { reply } => send(reply, Err(corrupt())),
            DocCommand::Read { reply } => send(reply, Err(corrupt())),
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
        let meta = store.meta(self.id).await?;
        let roles = store.roles(self.id).await?;
        // A long history takes a while to read: not on the runtime's threads, which serve
        // every other document meanwhile.
        let started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || read_chunks(&chunks))
            .await
            .map_err(|e| DocError::Corrupt(format!("reading the document failed: {e}")))?;
        self.load_time = started.elapsed();
        info!(
            chunks = loaded.chunks,
            corrupt = loaded.corrupt,
            ms = self.load_time.as_millis() as u64,
            "loaded"
        );
        self.engine.adopt(loaded, meta, roles);
        self.engine.adopt_signoffs(store.signoffs(self.id).await?);
        if let Some(doc) = self.engine.doc() {
            let changes: Vec<Change> = doc.get_changes(&[]).into_iter().cloned().collect();
            self.read_history(changes);
        }
        Ok(())
    }

    /// Starts reading the history of the just loaded document's `changes` on a blocking
    /// thread, so that the first question about a long history does not wait for it (nor
    /// does sync).
    fn read_history(&mut self, changes: Vec<Change>) {
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
                if let Some(doc) = self.engine.doc() {
                    review::refresh(&mut history, doc, &self.receipts);
                }
                self.history = Some(history);
            }
            Ok(Err(e)) => error!("{e}"),
            Err(e) => error!("reading the history failed: {e}"),
        }
        self.receipts.clear();
    }

    /// Handles queued commands in one pass, carrying out the engine's plan for them;
    /// returns true when asked to shut down.
    async fn handle_batch(&mut self, batch: Vec<DocCommand>) -> bool {
        let start = Instant::now();
        let syncs = batch
            .iter()
            .any(|cmd| matches!(cmd, DocCommand::Sync { .. }));
        // Answers held until the batch is durable: a reader sees only what is on disk.
        let mut deferred = Vec::new();
        let mut shutdown = Vec::new();
        let mut poisoned = false;
        let bindings = self.registry.bindings_map();
        for cmd in batch {
            let now = now_millis();
            let engine = &mut self.engine;
            let held = match cmd {
                DocCommand::Sync {
                    link,
                    data,
                    request,
                } => {
                    let from = remote(&link);
                    self.links.insert(link.conn, link);
                    poisoned |= engine.receive(&from, &data, request, &bindings);
                    None
                }
                DocCommand::Ephemeral {
                    link,
                    count,
                    session,
                    data,
                } => {
                    self.relay(&link, count, session, data);
                    None
                }
                DocCommand::Leave { conn } => {
                    engine.leave(conn);
                    self.links.remove(&conn);
                    None
                }
                DocCommand::Create {
                    bytes,
                    owner,
                    reply,
                } => hold(engine.create(&bytes, &owner), reply, |r, ()| {
                    Deferred::Created(r)
                }),
                DocCommand::SetRole {
                    by,
                    user,
                    role,
                    reply,
                } => hold(engine.change_role(&by, &user, role), reply, Deferred::Role),
                DocCommand::History { query, reply } => {
                    let _ = reply.send(self.answer(query).await);
                    None
                }
                DocCommand::Restore {
                    by,
                    to,
                    scope,
                    reply,
                } => {
                    let author = Author::new(by, &mut rand::rng());
                    let done = engine.restore(author, &to, &scope, UnixMillis(now));
                    hold(done, reply, |r, ()| Deferred::Heads(r))
                }
                DocCommand::Rename { by, title, reply } => {
                    let author = Author::new(by, &mut rand::rng());
                    let done = engine.rename(author, &title, UnixMillis(now));
                    hold(done, reply, |r, ()| Deferred::Heads(r))
                }
                DocCommand::Listing { by, change, reply } => hold(
                    engine.set_listing(&by, change, now),
                    reply,
                    Deferred::Listed,
                ),
                DocCommand::SignOff { request, reply } => {
                    hold(engine.sign(&request, now), reply, Deferred::Signed)
                }
                DocCommand::SignOffs { reply } => Some(Deferred::SignOffs(reply)),
                DocCommand::Read { reply } => Some(Deferred::Read(reply)),
                DocCommand::Shutdown { reply } => {
                    shutdown.push(reply);
                    None
                }
            };
            deferred.extend(held);
        }
        // Refusals and "unavailable" go out at once; nothing in them needs storing.
        self.flush();
        if poisoned {
            self.recover().await;
            return false;
        }
        // Durable before anyone hears of it: persist what arrived, then send. The reply to
        // an author is its acknowledgement; and a change relayed before the fsync could
        // outlive a crash on another peer, which would then be refused when it offered the
        // change back (only its author may bring a change the server lacks).
        let plan = self.engine.plan(now_millis(), &bindings);
        if let Err(e) = self.persist(plan).await {
            error!("storage failed; dropping unpersisted changes and peers: {e}");
            for held in deferred {
                held.fail(DocError::Storage(crate::storage::StorageError::Io(
                    e.to_string(),
                )));
            }
            self.recover().await;
            return false;
        }
        if deferred.iter().any(|d| matches!(d, Deferred::Signed(..))) {
            self.notify(Notice::SignOffs);
        }
        for held in deferred {
            held.answer(&self.engine);
        }
        self.flush();
        if syncs {
            self.registry.metrics().delivered(start.elapsed());
        }
        self.upkeep(false).await;
        if shutdown.is_empty() {
            return false;
        }
        self.upkeep(true).await;
        self.engine.close_all(1001, "server shutting down");
        self.flush();
        self.links.clear();
        for reply in shutdown {
            let _ = reply.send(());
        }
        true
    }

    /// Relays presence from `link` to the document's other peers with a role.
    fn relay(&self, link: &PeerLink, count: u64, session: String, data: Vec<u8>) {
        for to in self.engine.relay_targets(&remote(link)) {
            let msg = Message::Ephemeral {
                sender: link.peer.clone(),
                target: to.peer,
                count,
                session: session.clone(),
                document: self.id,
                data: data.clone(),
            };
            if let Some(to) = self.links.get(&to.conn) {
                deliver(to, Outgoing::Message(msg));
            }
        }
    }

    /// Tells every peer with a role that something outside the document changed.
    fn notify(&mut self, notice: Notice) {
        self.notices += 1;
        let data = notice.encode();
        let server = self.registry.server_peer().clone();
        let targets: Vec<Remote> = self
            .engine
            .peers()
            .filter(|r| self.engine.role_of(&r.user).is_some())
            .cloned()
            .collect();
        for to in targets {
            let msg = Message::Ephemeral {
                sender: server.clone(),
                target: to.peer,
                count: self.notices,
                session: self.notice_session.clone(),
                document: self.id,
                data: data.clone(),
            };
            if let Some(link) = self.links.get(&to.conn) {
                deliver(link, Outgoing::Message(msg));
            }
        }
    }

    /// Carries the engine's messages to their connections. A peer that cannot keep up
    /// (its outbox is full) is dropped; connections the engine no longer syncs are let go.
    fn flush(&mut self) {
        let metrics = self.registry.metrics();
        let tally = self.engine.take_tally();
        metrics.received(tally.received);
        metrics.relayed(tally.relayed);
        for reason in tally.refused {
            metrics.refused(reason);
        }
        let mut sent = 0;
        for (conn, out) in self.engine.take_out() {
            let Some(link) = self.links.get(&conn) else {
                continue;
            };
            sent += 1;
            if !deliver(link, out) {
                self.engine.leave(conn);
                self.links.remove(&conn);
            }
        }
        metrics.sent(sent);
        // Every peer of the engine has its link (a link is added before its first
        // message reaches the engine), so equal counts mean nobody left.
        if self.links.len() != self.engine.peer_count() {
            let engine = &self.engine;
            self.links.retain(|conn, _| engine.has_peer(*conn));
        }
    }

    /// Answers a question about the history, once it has been read (reading it here if
    /// the background reading failed).
    async fn answer(&mut self, query: HistoryQuery) -> Result<HistoryAnswer, DocError> {
        if !self.engine.exists() {
            return Err(DocError::NotFound);
        }
        self.adopt_history(true).await;
        if self.history.is_none() {
            let receipts = stored_receipts(self.registry.store(), self.id).await?;
            let mut history = History::new();
            if let Some(doc) = self.engine.doc() {
                review::refresh(&mut history, doc, &receipts);
            }
            self.history = Some(history);
        }
        let (Some(doc), Some(history)) = (self.engine.doc(), &self.history) else {
            return Err(DocError::NotFound);
        };
        review::answer(doc, history, query)
    }

    /// Commits a batch's plan, then hands it back to the engine (which readies the
    /// replies and relays), or tells the engine it failed. Durable on success.
    async fn persist(&mut self, plan: Plan) -> Result<(), StorageError> {
        if plan.writes.is_empty() {
            self.engine.durable(plan, &[]);
            return Ok(());
        }
        let committing = match self
            .registry
            .store()
            .begin_commit(plan.writes.clone())
            .await
        {
            Ok(committing) => committing,
            Err(e) => {
                self.engine.failed(plan);
                return Err(e);
            }
        };
        // While the storage thread writes: the history reads the changes now, or, while it
        // is being read, once it is adopted.
        if let (Some(history), Some(doc)) = (&mut self.history, self.engine.doc()) {
            let changes = plan
                .changes
                .iter()
                .filter_map(|h| doc.get_change_by_hash(h));
            history.update(changes, |h| plan.metas.get(h).cloned().unwrap_or_default());
        } else if self.reading.is_some() {
            self.receipts.extend(plan.metas.clone());
        }
        let seqs = match committing.done().await {
            Ok(seqs) => seqs,
            Err(e) => {
                self.engine.failed(plan);
                return Err(e);
            }
        };
        let stored = plan.changes.len();
        self.registry.metrics().stored(stored as u64);
        let list_change = list_change(self.id, &plan.writes);
        self.engine.durable(plan, &seqs);
        if let Some(change) = list_change {
            self.registry.list_changed(change);
        }
        debug!(changes = stored, "persisted");
        self.adopt_history(false).await;
        Ok(())
    }

    /// Compacts or folds the stored chunks when the engine says it is due.
    async fn upkeep(&mut self, at_exit: bool) {
        let Some(upkeep) = self.engine.upkeep(at_exit) else {
            return;
        };
        match self
            .registry
            .store()
            .commit(vec![upkeep.write().clone()])
            .await
        {
            Ok(_) => {
                debug!("compacted or folded");
                self.engine.upkept(upkeep);
            }
            Err(e) => error!("compacting or folding failed (chunks kept): {e}"),
        }
    }

    /// After a failure with unknown in-memory state: drop every peer and reload from disk.
    async fn recover(&mut self) {
        self.engine.reset();
        self.flush();
        self.history = None;
        if let Some(reading) = self.reading.take() {
            reading.abort();
        }
        self.receipts.clear();
        if let Err(e) = self.load().await {
            error!("reload failed: {e}");
        }
    }

    /// Unloads the document if it is still idle; returns true if it did.
    async fn try_unload(&mut self, rx: &mut mpsc::Receiver<DocCommand>) -> bool {
        self.write_search_text().await;
        self.upkeep(true).await;
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

type Reply<T> = oneshot::Sender<Result<T, DocError>>;

/// A command's answer, held until its batch is durable.
enum Deferred {
    Created(Reply<()>),
    Role(Reply<Option<Role>>, Option<Role>),
    /// A restore or rename: answered with the heads that hold it.
    Heads(Reply<Vec<ChangeHash>>),
    Listed(Reply<DocumentMeta>, DocumentMeta),
    Signed(Reply<SignOffRecord>, SignOffRecord),
    SignOffs(Reply<SignOffs>),
    Read(Reply<Vec<u8>>),
}

/// Holds `result`'s answer for after the batch is stored, or refuses at once.
fn hold<T, A>(
    result: Result<A, DocError>,
    reply: Reply<T>,
    held: impl FnOnce(Reply<T>, A) -> Deferred,
) -> Option<Deferred> {
    match result {
        Ok(answer) => Some(held(reply, answer)),
        Err(e) => {
            let _ = reply.send(Err(e));
            None
        }
    }
}

impl Deferred {
    /// The batch is durable: the answer, read from the document as stored.
    fn answer(self, engine: &Engine) {
        let found = |exists: bool| {
            if exists {
                Ok(())
            } else {
                Err(DocError::NotFound)
            }
        };
        match self {
            Deferred::Created(reply) => send(reply, Ok(())),
            Deferred::Role(reply, role) => send(reply, Ok(role)),
            Deferred::Heads(reply) => send(reply, Ok(engine.heads())),
            Deferred::Listed(reply, meta) => send(reply, Ok(meta)),
            Deferred::Signed(reply, record) => send(reply, Ok(record)),
            Deferred::SignOffs(reply) => {
                send(reply, found(engine.exists()).map(|()| engine.signoffs()))
            }
            Deferred::Read(reply) => {
                let saved = engine.doc().map(Automerge::save).ok_or(DocError::NotFound);
                send(reply, saved)
            }
        }
    }

    /// The batch could not be stored.
    fn fail(self, e: DocError) {
        match self {
            Deferred::Created(reply) => send(reply, Err(e)),
            Deferred::Role(reply, _) => send(reply, Err(e)),
            Deferred::Heads(reply) => send(reply, Err(e)),
            Deferred::Listed(reply, _) => send(reply, Err(e)),
            Deferred::Signed(reply, _) => send(reply, Err(e)),
            Deferred::SignOffs(reply) => send(reply, Err(e)),
            Deferred::Read(reply) => send(reply, Err(e)),
        }
    }
}

/// Answers; a caller that stopped waiting is no one's concern.
fn send<T>(reply: Reply<T>, answer: Result<T, DocError>) {
    let _ = reply.send(answer);
}

/// What the spec lists must hear of a batch's writes: the document's row changed (and
/// whose roles), if it did.
fn list_change(doc: DocumentId, writes: &[Write]) -> Option<ListChange> {
    let listed = writes.iter().any(|w| {
        matches!(
            w,
            Write::Append { .. }
                | Write::SignOff { .. }
                | Write::SetRole { .. }
                | Write::Listing { .. }
        )
    });
    listed.then(|| ListChange {
        doc,
        roles_of: writes
            .iter()
            .filter_map(|w| match w {
                Write::SetRole { user, .. } => Some(user.clone()),
                _ => None,
            })
            .collect(),
    })
}

/// Hands one message to a connection's writer; false (and the connection is killed) if
/// its outbox is full or gone.
fn deliver(link: &PeerLink, out: Outgoing) -> bool {
    let Err(e) = link.outbox.try_send(out) else {
        return true;
    };
    match e {
        mpsc::error::TrySendError::Full(_) => {
            warn!(peer_id = %link.peer, "peer cannot keep up; disconnecting");
        }
        // Its socket already ended (a page closed, a server stopping): nothing to report.
        mpsc::error::TrySendError::Closed(_) => {
            debug!(peer_id = %link.peer, "connection already closed");
        }
    }
    link.kill.cancel();
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_slow_to_load_stays_loaded_longer_up_to_an_hour() {
        let idle = Duration::from_secs(30);
        assert_eq!(resident_for(idle, Duration::from_millis(40)), idle);
        assert_eq!(
            resident_for(idle, Duration::from_secs(2)),
            Duration::from_secs(240)
        );
        assert_eq!(
            resident_for(idle, Duration::from_secs(90)),
            Duration::from_secs(3600)
        );
        // A configured idle time longer than that is kept.
        let long = Duration::from_secs(7200);
        assert_eq!(resident_for(long, Duration::from_secs(90)), long);
    }
}
