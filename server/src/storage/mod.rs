//! Durable storage of documents: the `Storage` trait, its SQLite implementation, and the writer thread that group-commits.

mod sqlite;
mod writer;

pub use sqlite::SqliteStorage;
pub use writer::StoreHandle;

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
}

/// One durable write. A batch of writes is committed atomically and fsynced.
#[derive(Debug, Clone)]
pub enum Write {
    /// New changes of a document, with its refreshed metadata.
    Append {
        doc: DocumentId,
        bytes: Vec<u8>,
        meta: DocumentMeta,
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
}
