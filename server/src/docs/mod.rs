//! Open documents: the registry (one actor per document) and the commands connections send to an actor.

mod actor;
pub mod engine;
pub mod review;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use duet_model::UserId;
use duet_protocol::{DocumentId, Message, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::storage::{Role, StoreHandle};

/// Identifies one websocket connection (one remote peer) for the lifetime of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a document actor hands a connection's writer.
#[derive(Debug)]
pub enum Outgoing {
    Message(Message),
    /// Send a close frame with this code and reason, then stop.
    Close {
        code: u16,
        reason: String,
    },
}

/// A connection as a document sees it.
#[derive(Debug, Clone)]
pub struct PeerLink {
    pub conn: ConnId,
    pub peer: PeerId,
    /// The signed-in user of the connection: their role decides what they may sync, and
    /// every change they send must be authored as them.
    pub user: UserId,
    /// Bounded: a peer whose outbox is full is disconnected, never silently skipped.
    pub outbox: mpsc::Sender<Outgoing>,
    /// Cancelled to drop the connection (slow peer, server-side failure).
    pub kill: CancellationToken,
}

/// Why a document refused a REST operation.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("the document already exists")]
    AlreadyExists,
    #[error("the document does not exist")]
    NotFound,
    #[error("the document could not be decoded: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("the document is unavailable")]
    Gone,
    /// The actor dropped the question unanswered.
    #[error("document actor stopped")]
    Stopped,
    #[error("{0}")]
    Forbidden(String),
    #[error("a spec must keep at least one owner")]
    LastOwner,
    #[error("{0}")]
    BadVersion(String),
    /// The request no longer fits the document (it changed meanwhile).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NoSuchItem(String),
}

/// Everything a document actor can be asked. One closed set of inputs.
#[derive(Debug)]
pub enum DocCommand {
    /// A `request` (`request = true`) or `sync` message from a peer.
    Sync {
        link: PeerLink,
        data: Vec<u8>,
        request: bool,
    },
    /// Presence data to relay to the document's other peers.
    Ephemeral {
        link: PeerLink,
        count: u64,
        session: String,
        data: Vec<u8>,
    },
    /// The connection is gone or stopped syncing this document.
    Leave { conn: ConnId },
    /// Creates the document from saved bytes (REST), owned by `owner`; fails if it exists.
    Create {
        bytes: Vec<u8>,
        owner: UserId,
        reply: oneshot::Sender<Result<(), DocError>>,
    },
    /// Gives `user` a role (or takes it away: `None`), as `by` may.
    SetRole {
        by: Granter,
        user: UserId,
        role: Option<Role>,
        reply: oneshot::Sender<Result<Option<Role>, DocError>>,
    },
    /// A sign-off; replies once it is durable.
    SignOff {
        request: engine::SignRequest,
        reply: oneshot::Sender<Result<crate::storage::SignOffRecord, DocError>>,
    },
    /// Every story's sign-offs, current or stale.
    SignOffs {
        reply: oneshot::Sender<Result<engine::SignOffs, DocError>>,
    },
    /// A question about the document's history (timeline, version, diff, blame…).
    History {
        query: review::HistoryQuery,
        reply: oneshot::Sender<Result<review::HistoryAnswer, DocError>>,
    },
    /// Brings the spec (or one story) back to version `to` as a new change by `by`, who
    /// must be able to edit. Replies with the new heads once the change is durable.
    Restore {
        by: UserId,
        to: Vec<duet_model::automerge::ChangeHash>,
        scope: duet_model::RestoreScope,
        reply: oneshot::Sender<Result<Vec<duet_model::automerge::ChangeHash>, DocError>>,
    },
    /// Renames the spec as `by` (an owner); replies with the new heads once durable.
    Rename {
        by: UserId,
        title: String,
        reply: oneshot::Sender<Result<Vec<duet_model::automerge::ChangeHash>, DocError>>,
    },
    /// An owner archives, deletes or brings back the spec; replies once it is durable.
    Listing {
        by: UserId,
        change: engine::ListingChange,
        reply: oneshot::Sender<Result<crate::storage::DocumentMeta, DocError>>,
    },
    /// The document's saved bytes, for reading (Markdown export).
    Read {
        reply: oneshot::Sender<Result<Vec<u8>, DocError>>,
    },
    /// Flush and stop.
    Shutdown { reply: oneshot::Sender<()> },
}

/// A cheap handle to one document's actor.
#[derive(Debug, Clone)]
pub struct DocHandle {
    tx: mpsc::Sender<DocCommand>,
}

/// The open documents. The map is only locked briefly, never across an `.await`.
#[derive(Debug, Clone)]
pub struct Registry {
    docs: Arc<Mutex<HashMap<DocumentId, DocHandle>>>,
    store: StoreHandle,
    config: Arc<Config>,
    server_peer: PeerId,
    tracker: TaskTracker,
    /// Set by `shutdown`: no document is started after it.
    closed: Arc<std::sync::atomic::AtomicBool>,
    /// Non-Duet actor ids and the user each is bound to (on first use), for every document.
    bindings: Arc<engine::Bindings>,
    /// What the spec lists show changed: told after each durable write that changes a
    /// spec's row (its text, sign-offs or people).
    lists: broadcast::Sender<ListChange>,
    metrics: Arc<Metrics>,
}

/// Who changes a role, and so what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granter {
    /// Someone with a role: only an owner may change roles.
    Member(UserId),
    /// A verified share link: it only ever raises a role.
    Link,
    /// An operator's `duet spec grant`: any role, as long as someone stays owner.
    Admin,
}

/// A spec whose row in the spec list reads differently now (it is durable).
#[derive(Debug, Clone)]
pub struct ListChange {
    pub doc: DocumentId,
    /// The people whose role on it changed (their list gains or loses it).
    pub roles_of: Vec<String>,
}

/// List changes kept for a slow listener before it is told it lagged.
const LIST_CHANGES: usize = 256;

/// Commands queued per document before senders wait.
const DOC_QUEUE: usize = 1024;

impl Registry {
    pub fn new(
        store: StoreHandle,
        config: Arc<Config>,
        server_peer: PeerId,
        tracker: TaskTracker,
        bindings: HashMap<Vec<u8>, String>,
        metrics: Arc<Metrics>,
    ) -> Registry {
        Registry {
            metrics,
            docs: Arc::default(),
            store,
            config,
            server_peer,
            tracker,
            closed: Arc::default(),
            bindings: Arc::new(Mutex::new(bindings)),
            lists: broadcast::channel(LIST_CHANGES).0,
        }
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Every spec-list change from now on.
    pub fn list_changes(&self) -> broadcast::Receiver<ListChange> {
        self.lists.subscribe()
    }

    pub(crate) fn list_changed(&self, change: ListChange) {
        // Nobody listening is fine.
        let _ = self.lists.send(change);
    }

    /// The actor bindings every document checks authors against.
    fn bindings_map(&self) -> Arc<engine::Bindings> {
        self.bindings.clone()
    }

    pub fn server_peer(&self) -> &PeerId {
        &self.server_peer
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DocumentId, DocHandle>> {
        // A panic while holding this lock cannot leave the map half-updated (each
        // operation is a single insert or remove), so a poisoned lock is still usable.
        self.docs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The actor of `doc`, started (and loaded from storage) if it is not running;
    /// `None` once the server is shutting down.
    fn handle(&self, doc: DocumentId) -> Option<DocHandle> {
        let mut docs = self.lock();
        if let Some(h) = docs.get(&doc) {
            if !h.tx.is_closed() {
                return Some(h.clone());
            }
        }
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let (tx, rx) = mpsc::channel(DOC_QUEUE);
        let handle = DocHandle { tx };
        docs.insert(doc, handle.clone());
        let actor = actor::DocActor::new(doc, self.clone());
        self.tracker.spawn(async move {
            actor.run(rx).await;
            // The document's memory is free now: let the allocator give it back.
            crate::memory::release();
        });
        Some(handle)
    }

    /// Sends a command to `doc`'s actor, restarting the actor once if it had just unloaded.
    pub async fn send(&self, doc: DocumentId, mut cmd: DocCommand) -> Result<(), DocError> {
        for _ in 0..2 {
            let handle = self.handle(doc).ok_or(DocError::Gone)?;
            match handle.tx.send(cmd).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => cmd = back,
            }
        }
        Err(DocError::Gone)
    }

    /// Sends `doc`'s actor the command `ask` makes around a reply channel, and waits for
    /// the answer.
    pub async fn ask<T>(
        &self,
        doc: DocumentId,
        ask: impl FnOnce(oneshot::Sender<Result<T, DocError>>) -> DocCommand,
    ) -> Result<T, DocError> {
        let (reply, answer) = oneshot::channel();
        self.send(doc, ask(reply)).await?;
        answer.await.map_err(|_| DocError::Stopped)?
    }

    /// Sends a command only if `doc` is loaded (a `Leave` need not load a document).
    pub async fn send_if_loaded(&self, doc: DocumentId, cmd: DocCommand) {
        let handle = self.lock().get(&doc).cloned();
        if let Some(h) = handle {
            let _ = h.tx.send(cmd).await;
        }
    }

    /// Removes `doc` from the map if `still_idle` says so (called by an unloading actor).
    fn unload_if(&self, doc: &DocumentId, still_idle: impl FnOnce() -> bool) -> bool {
        let mut docs = self.lock();
        if still_idle() {
            docs.remove(doc);
            true
        } else {
            false
        }
    }

    /// Asks every open document to flush and stop, and waits for them.
    pub async fn shutdown(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let handles: Vec<DocHandle> = self.lock().drain().map(|(_, h)| h).collect();
        for h in handles {
            let (reply, done) = oneshot::channel();
            if h.tx.send(DocCommand::Shutdown { reply }).await.is_ok() {
                let _ = done.await;
            }
        }
    }

    /// How many documents are loaded (for health and tests).
    pub fn open_documents(&self) -> usize {
        self.lock().len()
    }
}
