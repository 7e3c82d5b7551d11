//! The embedded default store: SQLite in the data folder, WAL journal, `synchronous=FULL`.

use std::path::Path;

use duet_protocol::DocumentId;
use rusqlite::{params, Connection, OptionalExtension};

use super::{Chunk, DocumentMeta, Storage, StorageError, Write};

/// SQLite storage. Chunks are kept per document in arrival order; metadata beside them.
#[derive(Debug)]
pub struct SqliteStorage {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    id         TEXT PRIMARY KEY,
    is_spec    INTEGER NOT NULL,
    title      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    authors    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    doc   TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc, seq);
";

impl SqliteStorage {
    /// Opens (creating if needed) `duet.sqlite3` in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStorage, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::Io(format!("creating {}: {e}", dir.display())))?;
        let conn = Connection::open(dir.join("duet.sqlite3"))?;
        // WAL + FULL: a committed transaction is on disk (fsynced) before commit returns.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStorage { conn })
    }
}

fn meta_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentMeta> {
    let authors: String = row.get(4)?;
    Ok(DocumentMeta {
        id: row.get(0)?,
        is_spec: row.get::<_, i64>(1)? != 0,
        title: row.get(2)?,
        updated_at: row.get(3)?,
        authors: serde_json::from_str(&authors).unwrap_or_default(),
    })
}

impl Storage for SqliteStorage {
    fn load(&mut self, doc: &DocumentId) -> Result<Option<Vec<Chunk>>, StorageError> {
        let id = doc.to_string();
        let known: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM documents WHERE id = ?1", [&id], |r| r.get(0))
            .optional()?;
        if known.is_none() {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, bytes FROM chunks WHERE doc = ?1 ORDER BY seq")?;
        let chunks = stmt
            .query_map([&id], |r| {
                Ok(Chunk {
                    seq: r.get(0)?,
                    bytes: r.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(chunks))
    }

    fn commit(&mut self, writes: &[Write]) -> Result<Vec<i64>, StorageError> {
        let tx = self.conn.transaction()?;
        let mut seqs = Vec::with_capacity(writes.len());
        for write in writes {
            match write {
                Write::Append { doc, bytes, meta } => {
                    let id = doc.to_string();
                    let authors = serde_json::to_string(&meta.authors)
                        .map_err(|e| StorageError::Io(e.to_string()))?;
                    tx.execute(
                        "INSERT INTO documents (id, is_spec, title, updated_at, authors)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (id) DO UPDATE SET is_spec = ?2, title = ?3,
                           updated_at = ?4, authors = ?5",
                        params![
                            id,
                            meta.is_spec as i64,
                            meta.title,
                            meta.updated_at,
                            authors
                        ],
                    )?;
                    if bytes.is_empty() {
                        seqs.push(0);
                    } else {
                        tx.execute(
                            "INSERT INTO chunks (doc, bytes) VALUES (?1, ?2)",
                            params![id, bytes],
                        )?;
                        seqs.push(tx.last_insert_rowid());
                    }
                }
                Write::Compact {
                    doc,
                    snapshot,
                    replaces_up_to,
                } => {
                    let id = doc.to_string();
                    // Snapshot and deletion in one transaction: a crash leaves either the
                    // old chunks or the snapshot, never neither.
                    tx.execute(
                        "DELETE FROM chunks WHERE doc = ?1 AND seq <= ?2",
                        params![id, replaces_up_to],
                    )?;
                    tx.execute(
                        "INSERT INTO chunks (doc, bytes) VALUES (?1, ?2)",
                        params![id, snapshot],
                    )?;
                    seqs.push(0);
                }
            }
        }
        tx.commit()?;
        Ok(seqs)
    }

    fn list(&mut self) -> Result<Vec<DocumentMeta>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, is_spec, title, updated_at, authors FROM documents ORDER BY updated_at DESC",
        )?;
        let metas = stmt
            .query_map([], meta_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(metas)
    }

    fn meta(&mut self, doc: &DocumentId) -> Result<Option<DocumentMeta>, StorageError> {
        let meta = self
            .conn
            .query_row(
                "SELECT id, is_spec, title, updated_at, authors FROM documents WHERE id = ?1",
                [doc.to_string()],
                meta_from_row,
            )
            .optional()?;
        Ok(meta)
    }
}
