//! The storage thread: owns the `Storage`, serves loads, and group-commits writes from every document into one fsynced transaction.

use std::time::{Duration, Instant};

use duet_protocol::DocumentId;
use tokio::sync::{mpsc, oneshot};

use super::{Chunk, DocumentMeta, Receipt, Role, SignOffRecord, Storage, StorageError, Write};

/// Most commit requests merged into one transaction. A group is whatever arrived while
/// the previous transaction was being written: the writer never waits for more (waiting
/// 1 ms for company cost every keystroke on a quiet server 1 ms of latency).
const MAX_GROUP: usize = 256;

type Reply<T> = oneshot::Sender<Result<T, StorageError>>;

enum Command {
    Load(DocumentId, Reply<Option<Vec<Chunk>>>),
    Commit(Vec<Write>, Reply<Vec<i64>>),
    List(Reply<Vec<DocumentMeta>>),
    Meta(DocumentId, Reply<Option<DocumentMeta>>),
    ListFor(String, Option<String>, Reply<Vec<(DocumentMeta, Role)>>),
    Purge(i64, Reply<Vec<DocumentId>>),
    Roles(DocumentId, Reply<Vec<(String, Role)>>),
    Bindings(Reply<Vec<(Vec<u8>, String)>>),
    Receipts(DocumentId, Reply<Vec<Receipt>>),
    Seen(DocumentId, String, Reply<Option<(String, i64)>>),
    SignOffs(DocumentId, Reply<Vec<SignOffRecord>>),
}

/// A cheap handle to the storage thread.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    /// Bounded so a flood of writers waits instead of growing memory without limit.
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Load(..) => "Load",
            Command::Commit(..) => "Commit",
            Command::List(..) => "List",
            Command::Meta(..) => "Meta",
            Command::ListFor(..) => "ListFor",
            Command::Purge(..) => "Purge",
            Command::Roles(..) => "Roles",
            Command::Bindings(..) => "Bindings",
            Command::Receipts(..) => "Receipts",
            Command::Seen(..) => "Seen",
            Command::SignOffs(..) => "SignOffs",
        })
    }
}

impl StoreHandle {
    /// Starts the storage thread. It ends when every handle is dropped.
    /// Each commit's duration (writing and fsyncing) is told to `committed`.
    pub fn spawn(
        storage: impl Storage,
        committed: impl Fn(Duration) + Send + 'static,
    ) -> StoreHandle {
        let (tx, rx) = mpsc::channel(1024);
        std::thread::Builder::new()
            .name("duet-storage".into())
            .spawn(move || run(storage, rx, committed))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("could not start the storage thread: {e}"));
        StoreHandle { tx }
    }

    /// Hands a command to the storage thread; its answer comes through the returned
    /// [`Pending`].
    async fn begin<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<Pending<T>, StorageError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StorageError::WriterGone)?;
        Ok(Pending(rx))
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StorageError> {
        self.begin(make).await?.done().await
    }

    pub async fn load(&self, doc: DocumentId) -> Result<Option<Vec<Chunk>>, StorageError> {
        self.call(|r| Command::Load(doc, r)).await
    }

    /// Returns once the writes are durable on disk.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<Vec<i64>, StorageError> {
        self.call(|r| Command::Commit(writes, r)).await
    }

    /// Hands the writes to the storage thread and returns at once; the returned
    /// [`Pending`] is done when they are durable. The caller works meanwhile.
    pub async fn begin_commit(
        &self,
        writes: Vec<Write>,
    ) -> Result<Pending<Vec<i64>>, StorageError> {
        self.begin(|r| Command::Commit(writes, r)).await
    }

    pub async fn list(&self) -> Result<Vec<DocumentMeta>, StorageError> {
        self.call(Command::List).await
    }

    pub async fn meta(&self, doc: DocumentId) -> Result<Option<DocumentMeta>, StorageError> {
        self.call(|r| Command::Meta(doc, r)).await
    }

    pub async fn list_for(&self, user: &str) -> Result<Vec<(DocumentMeta, Role)>, StorageError> {
        self.search_for(user, None).await
    }

    /// The documents `user` has a role on whose text holds `needle` (lower case).
    pub async fn search_for(
        &self,
        user: &str,
        needle: Option<String>,
    ) -> Result<Vec<(DocumentMeta, Role)>, StorageError> {
        let user = user.to_owned();
        self.call(|r| Command::ListFor(user, needle, r)).await
    }

    /// Removes the documents deleted before `before` (Unix ms).
    pub async fn purge(&self, before: i64) -> Result<Vec<DocumentId>, StorageError> {
        self.call(|r| Command::Purge(before, r)).await
    }

    pub async fn roles(&self, doc: DocumentId) -> Result<Vec<(String, Role)>, StorageError> {
        self.call(|r| Command::Roles(doc, r)).await
    }

    pub async fn bindings(&self) -> Result<Vec<(Vec<u8>, String)>, StorageError> {
        self.call(Command::Bindings).await
    }

    pub async fn receipts(&self, doc: DocumentId) -> Result<Vec<Receipt>, StorageError> {
        self.call(|r| Command::Receipts(doc, r)).await
    }

    /// What `user` last saw of `doc`: heads (hex, comma-separated) and when.
    pub async fn seen(
        &self,
        doc: DocumentId,
        user: &str,
    ) -> Result<Option<(String, i64)>, StorageError> {
        let user = user.to_owned();
        self.call(|r| Command::Seen(doc, user, r)).await
    }

    /// The latest sign-off of each slot of each story of `doc`.
    pub async fn signoffs(&self, doc: DocumentId) -> Result<Vec<SignOffRecord>, StorageError> {
        self.call(|r| Command::SignOffs(doc, r)).await
    }
}

/// The storage thread's answer to come (for a commit: once the writes are durable, the
/// sequence number of each stored chunk).
#[derive(Debug)]
pub struct Pending<T>(oneshot::Receiver<Result<T, StorageError>>);

impl<T> Pending<T> {
    pub async fn done(self) -> Result<T, StorageError> {
        self.0.await.map_err(|_| StorageError::WriterGone)?
    }
}

fn run(mut storage: impl Storage, mut rx: mpsc::Receiver<Command>, committed: impl Fn(Duration)) {
    loop {
        let first = match rx.try_recv() {
            Ok(first) => first,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Idle: give back what this thread holds free, if asked (after an unload).
                crate::memory::release_if_asked();
                match rx.blocking_recv() {
                    Some(first) => first,
                    None => return,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => return,
        };
        let mut group: Vec<(Vec<Write>, Reply<Vec<i64>>)> = Vec::new();
        let mut pending = Some(first);
        loop {
            match pending.take() {
                Some(Command::Commit(writes, reply)) => group.push((writes, reply)),
                Some(Command::Load(doc, reply)) => {
                    let _ = reply.send(storage.load(&doc));
                }
                Some(Command::List(reply)) => {
                    let _ = reply.send(storage.list());
                }
                Some(Command::Meta(doc, reply)) => {
                    let _ = reply.send(storage.meta(&doc));
                }
                Some(Command::ListFor(user, needle, reply)) => {
                    let _ = reply.send(storage.list_for(&user, needle.as_deref()));
                }
                Some(Command::Purge(before, reply)) => {
                    let _ = reply.send(storage.purge(before));
                }
                Some(Command::Roles(doc, reply)) => {
                    let _ = reply.send(storage.roles(&doc));
                }
                Some(Command::Bindings(reply)) => {
                    let _ = reply.send(storage.bindings());
                }
                Some(Command::Receipts(doc, reply)) => {
                    let _ = reply.send(storage.receipts(&doc));
                }
                Some(Command::Seen(doc, user, reply)) => {
                    let _ = reply.send(storage.seen(&doc, &user));
                }
                Some(Command::SignOffs(doc, reply)) => {
                    let _ = reply.send(storage.signoffs(&doc));
                }
                None => {}
            }
            if group.len() >= MAX_GROUP {
                break;
            }
            match rx.try_recv() {
                Ok(next) => pending = Some(next),
                Err(_) => break,
            }
        }
        if group.is_empty() {
            continue;
        }
        let mut sizes = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        let mut all: Vec<Write> = Vec::new();
        for (writes, reply) in group {
            sizes.push(writes.len());
            all.extend(writes);
            replies.push(reply);
        }
        let start = Instant::now();
        let result = storage.commit(&all);
        committed(start.elapsed());
        match result {
            Ok(seqs) => {
                let mut seqs = seqs.into_iter();
                for (n, reply) in sizes.into_iter().zip(replies) {
                    let _ = reply.send(Ok(seqs.by_ref().take(n).collect()));
                }
            }
            Err(e) => {
                tracing::error!("storage commit failed: {e}");
                for reply in replies {
                    let _ = reply.send(Err(StorageError::Io(e.to_string())));
                }
            }
        }
    }
}
