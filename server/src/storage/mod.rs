//! Durable storage of documents: the `Storage` trait, its SQLite and in-memory implementations, and the writer thread that group-commits.

/// A crash-test hook. Built with the `failpoints` feature (test builds only),
/// `FAILPOINTS=<name>=return` makes the process abort right here, the way `kill -9` or a
/// power cut would stop it (`<n>*off->return`: on the n+1th pass); otherwise it is nothing.
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name, |_| std::process::abort());
    };
}

pub mod fold;
mod memory;
mod sqlite;
mod writer;

pub use memory::MemoryStorage;
pub(crate) use sqlite::add_columns;
pub use sqlite::SqliteStorage;
pub use writer::{Pending, StoreHandle};

use duet_model::signoff::{SignCounts, Slot, StoryDigest};
use duet_model::ItemId;
use duet_protocol::DocumentId;
use serde::Serialize;
use thiserror::Error;

/// A storage failure. Always an I/O-class error: never reported as "not authorised".
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("the storage writer has stopped")]
    WriterGone,
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Io(e.to_string())
    }
}

/// One stored piece of a document: an incremental change chunk or a compacted snapshot.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Increasing per database; compaction replaces every chunk up to a sequence number.
    pub seq: i64,
    pub bytes: Vec<u8>,
}

/// What the spec list shows about a document without loading it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DocumentMeta {
    pub id: String,
    /// Whether the document is a Duet spec (other automerge-repo documents are stored too).
    pub is_spec: bool,
    pub title: String,
    /// Milliseconds since the Unix epoch of the last stored change.
    pub updated_at: i64,
    /// User ids of everyone whose changes are in the document.
    pub authors: Vec<String>,
    /// How many of its stories are signed, partly signed or stale.
    pub signs: SignCounts,
    /// Put away by an owner: listed only under "archived", still open to everyone.
    pub archived: bool,
    /// Deleted by an owner at this time (Unix ms): nobody can open it; an owner can bring
    /// it back until it is purged, [`KEEP_DELETED_MS`] later.
    pub deleted_at: Option<i64>,
}

/// How long a deleted spec can be brought back before it is purged: 30 days.
pub const KEEP_DELETED_MS: i64 = 30 * 24 * 3600 * 1000;

/// One sign-off the server recorded: `user`, of `discipline`, signed `slot` of `story`
/// at `signed_at` (server time, Unix ms), covering what the story read at `heads`
/// (`digest`). Sign-offs live only here, never in the document, so no edit can forge one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignOffRecord {
    pub story: ItemId,
    pub slot: Slot,
    pub user: String,
    pub discipline: String,
    pub signed_at: i64,
    pub digest: StoryDigest,
    /// The document's heads when it was signed (hex, comma-separated).
    pub heads: String,
    /// The open blocker constraints beside the story that the signer chose to sign with.
    pub open_blockers: Vec<ItemId>,
}

/// What a person may do with one spec. Ordered: each role can do what the ones before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and follows edits live.
    Viewer,
    /// Also edits.
    Editor,
    /// Also shares and changes roles.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    pub fn can_edit(self) -> bool {
        self >= Role::Editor
    }
}

/// When the server received one change, and from whom (the client's own timestamp is
/// only advisory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The change hash, hex.
    pub hash: String,
    pub user: String,
    /// Server time, Unix milliseconds.
    pub received_at: i64,
}

/// One durable write. A batch of writes is committed atomically and fsynced.
#[derive(Debug, Clone)]
pub enum Write {
    /// New changes of a document, with its refreshed metadata, when each was received,
    /// and the actors they bound to their users (non-Duet actors, on first use).
    Append {
        doc: DocumentId,
        bytes: Vec<u8>,
        meta: DocumentMeta,
        receipts: Vec<Receipt>,
        bindings: Vec<(Vec<u8>, String)>,
    },
    /// Gives `user` a role on `doc`, or takes it away (`None`).
    SetRole {
        doc: DocumentId,
        user: String,
        role: Option<Role>,
    },
    /// What `user` has seen of `doc`: its heads (hex, comma-separated) at `at` (Unix ms).
    Seen {
        doc: DocumentId,
        user: String,
        heads: String,
        at: i64,
    },
    /// A sign-off, appended to the document's sign-off log, with the spec's new counts.
    SignOff {
        doc: DocumentId,
        record: SignOffRecord,
        signs: SignCounts,
    },
    /// An owner archived or deleted the document, or brought it back.
    Listing {
        doc: DocumentId,
        archived: bool,
        deleted_at: Option<i64>,
    },
    /// What the spec list's search looks in: the document's text, in lower case.
    SearchText { doc: DocumentId, text: String },
    /// A folded chunk ([`fold`]) that replaces the chunks of `doc` with `first <= seq <=
    /// last`, stored at `last` so that the chunks keep their order.
    Fold {
        doc: DocumentId,
        bytes: Vec<u8>,
        first: i64,
        last: i64,
    },
    /// A snapshot that replaces every chunk of `doc` with `seq <= replaces_up_to`.
    Compact {
        doc: DocumentId,
        snapshot: Vec<u8>,
        replaces_up_to: i64,
    },
}

/// A place documents are kept. Implementations are blocking; the server calls them from
/// one writer thread (see [`StoreHandle`]).
pub trait Storage: Send + 'static {
    /// Every chunk of a document in order, or `None` if it was never stored.
    fn load(&mut self, doc: &DocumentId) -> Result<Option<Vec<Chunk>>, StorageError>;
    /// Applies the writes in one transaction, durable (fsynced) when this returns.
    /// Returns the sequence number given to each `Append`, in order (0 for others).
    fn commit(&mut self, writes: &[Write]) -> Result<Vec<i64>, StorageError>;
    /// Metadata of every stored document.
    fn list(&mut self) -> Result<Vec<DocumentMeta>, StorageError>;
    /// Metadata of one document.
    fn meta(&mut self, doc: &DocumentId) -> Result<Option<DocumentMeta>, StorageError>;
    /// The documents `user` has a role on, with that role, newest first; only those whose
    /// text holds `needle` (lower case) when there is one.
    fn list_for(
        &mut self,
        user: &str,
        needle: Option<&str>,
    ) -> Result<Vec<(DocumentMeta, Role)>, StorageError>;
    /// Removes every document deleted before `before` (Unix ms) with all it had: chunks,
    /// roles, sign-offs, receipts. Returns them.
    fn purge(&mut self, before: i64) -> Result<Vec<DocumentId>, StorageError>;
    /// Everyone with a role on `doc`.
    fn roles(&mut self, doc: &DocumentId) -> Result<Vec<(String, Role)>, StorageError>;
    /// Every actor bound to a user.
    fn bindings(&mut self) -> Result<Vec<(Vec<u8>, String)>, StorageError>;
    /// When each change of `doc` was received.
    fn receipts(&mut self, doc: &DocumentId) -> Result<Vec<Receipt>, StorageError>;
    /// What `user` last saw of `doc`: heads (hex, comma-separated) and when.
    fn seen(&mut self, doc: &DocumentId, user: &str)
        -> Result<Option<(String, i64)>, StorageError>;
    /// The latest sign-off of each slot of each story of `doc`.
    fn signoffs(&mut self, doc: &DocumentId) -> Result<Vec<SignOffRecord>, StorageError>;
}
