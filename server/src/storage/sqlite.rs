//! The embedded default store: SQLite in the data folder, WAL journal, `synchronous=FULL`.

use std::path::Path;

use duet_protocol::DocumentId;
use rusqlite::{params, Connection, OptionalExtension};

use duet_model::signoff::{Slot, StoryDigest};
use duet_model::ItemId;

use super::{Chunk, DocumentMeta, Receipt, Role, SignOffRecord, Storage, StorageError, Write};

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
CREATE TABLE IF NOT EXISTS roles (
    doc      TEXT NOT NULL,
    username TEXT NOT NULL,
    role     TEXT NOT NULL,
    PRIMARY KEY (doc, username)
);
CREATE INDEX IF NOT EXISTS roles_by_user ON roles (username);
CREATE TABLE IF NOT EXISTS actor_bindings (
    actor    BLOB PRIMARY KEY,
    username TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS change_receipts (
    doc         TEXT NOT NULL,
    hash        TEXT NOT NULL,
    username    TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (doc, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signoffs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    doc        TEXT NOT NULL,
    story      TEXT NOT NULL,
    slot       TEXT NOT NULL,
    username   TEXT NOT NULL,
    discipline TEXT NOT NULL,
    signed_at  INTEGER NOT NULL,
    digest     TEXT NOT NULL,
    heads      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signoffs_by_doc ON signoffs (doc, story, slot, seq);
CREATE TABLE IF NOT EXISTS last_seen (
    doc      TEXT NOT NULL,
    username TEXT NOT NULL,
    heads    TEXT NOT NULL,
    seen_at  INTEGER NOT NULL,
    PRIMARY KEY (doc, username)
);
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
        // Columns added since the first release, for databases made before them.
        add_columns(
            &conn,
            &[
                // Each spec's sign-off counts, for the list.
                ("documents", "signs", "TEXT NOT NULL DEFAULT ''"),
                // The open blockers a sign-off was given over.
                ("signoffs", "blockers", "TEXT NOT NULL DEFAULT ''"),
                // The list's archive, delete and search.
                ("documents", "archived", "INTEGER NOT NULL DEFAULT 0"),
                ("documents", "deleted_at", "INTEGER"),
                ("documents", "search_text", "TEXT NOT NULL DEFAULT ''"),
            ],
        )?;
        Ok(SqliteStorage { conn })
    }
}

/// Adds each `(table, column, type)` a database made before it lacks.
pub(crate) fn add_columns(
    conn: &Connection,
    columns: &[(&str, &str, &str)],
) -> rusqlite::Result<()> {
    for (table, column, kind) in columns {
        let has: i64 = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )?;
        if has == 0 {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// The columns [`meta_from_row`] reads, in order.
const META_COLUMNS: &str = "id, is_spec, title, updated_at, authors, signs, archived, deleted_at";

fn meta_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentMeta> {
    let authors: String = row.get(4)?;
    let signs: String = row.get(5)?;
    Ok(DocumentMeta {
        id: row.get(0)?,
        is_spec: row.get::<_, i64>(1)? != 0,
        title: row.get(2)?,
        updated_at: row.get(3)?,
        authors: serde_json::from_str(&authors).unwrap_or_default(),
        signs: serde_json::from_str(&signs).unwrap_or_default(),
        archived: row.get::<_, i64>(6)? != 0,
        deleted_at: row.get(7)?,
    })
}

fn json(value: &impl serde::Serialize) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Io(e.to_string()))
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
                Write::Append {
                    doc,
                    bytes,
                    meta,
                    receipts,
                    bindings,
                } => {
                    let id = doc.to_string();
                    for r in receipts {
                        tx.execute(
                            "INSERT OR IGNORE INTO change_receipts (doc, hash, username, received_at)
                             VALUES (?1, ?2, ?3, ?4)",
                            params![id, r.hash, r.user, r.received_at],
                        )?;
                    }
                    for (actor, user) in bindings {
                        tx.execute(
                            "INSERT OR IGNORE INTO actor_bindings (actor, username) VALUES (?1, ?2)",
                            params![actor, user],
                        )?;
                    }
                    tx.execute(
                        "INSERT INTO documents (id, is_spec, title, updated_at, authors, signs)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (id) DO UPDATE SET is_spec = ?2, title = ?3,
                           updated_at = ?4, authors = ?5, signs = ?6",
                        params![
                            id,
                            meta.is_spec as i64,
                            meta.title,
                            meta.updated_at,
                            json(&meta.authors)?,
                            json(&meta.signs)?
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
                Write::Listing {
                    doc,
                    archived,
                    deleted_at,
                } => {
                    tx.execute(
                        "UPDATE documents SET archived = ?2, deleted_at = ?3 WHERE id = ?1",
                        params![doc.to_string(), *archived as i64, deleted_at],
                    )?;
                    seqs.push(0);
                }
                Write::SearchText { doc, text } => {
                    tx.execute(
                        "UPDATE documents SET search_text = ?2 WHERE id = ?1",
                        params![doc.to_string(), text],
                    )?;
                    seqs.push(0);
                }
                Write::SetRole { doc, user, role } => {
                    match role {
                        Some(role) => tx.execute(
                            "INSERT INTO roles (doc, username, role) VALUES (?1, ?2, ?3)
                             ON CONFLICT (doc, username) DO UPDATE SET role = ?3",
                            params![doc.to_string(), user, role.as_str()],
                        )?,
                        None => tx.execute(
                            "DELETE FROM roles WHERE doc = ?1 AND username = ?2",
                            params![doc.to_string(), user],
                        )?,
                    };
                    seqs.push(0);
                }
                Write::Seen {
                    doc,
                    user,
                    heads,
                    at,
                } => {
                    tx.execute(
                        "INSERT INTO last_seen (doc, username, heads, seen_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (doc, username) DO UPDATE SET heads = ?3, seen_at = ?4",
                        params![doc.to_string(), user, heads, at],
                    )?;
                    seqs.push(0);
                }
                Write::SignOff { doc, record, signs } => {
                    let id = doc.to_string();
                    tx.execute(
                        "INSERT INTO signoffs
                           (doc, story, slot, username, discipline, signed_at, digest, heads,
                            blockers)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            id,
                            record.story.as_str(),
                            record.slot.as_str(),
                            record.user,
                            record.discipline,
                            record.signed_at,
                            record.digest.as_str(),
                            record.heads,
                            record
                                .open_blockers
                                .iter()
                                .map(ItemId::as_str)
                                .collect::<Vec<_>>()
                                .join(",")
                        ],
                    )?;
                    tx.execute(
                        "UPDATE documents SET signs = ?2 WHERE id = ?1",
                        params![id, json(signs)?],
                    )?;
                    seqs.push(0);
                }
                Write::Fold {
                    doc,
                    bytes,
                    first,
                    last,
                } => {
                    let id = doc.to_string();
                    // In one transaction too: the chunks or the folded one, never neither.
                    tx.execute(
                        "DELETE FROM chunks WHERE doc = ?1 AND seq BETWEEN ?2 AND ?3",
                        params![id, first, last],
                    )?;
                    tx.execute(
                        "INSERT INTO chunks (seq, doc, bytes) VALUES (?1, ?2, ?3)",
                        params![last, id, bytes],
                    )?;
                    seqs.push(0);
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
                    crash_point!("storage::chunks-deleted");
                    tx.execute(
                        "INSERT INTO chunks (doc, bytes) VALUES (?1, ?2)",
                        params![id, snapshot],
                    )?;
                    crash_point!("storage::snapshot-written");
                    seqs.push(0);
                }
            }
        }
        crash_point!("storage::before-commit");
        tx.commit()?;
        crash_point!("storage::after-commit");
        Ok(seqs)
    }

    fn list(&mut self) -> Result<Vec<DocumentMeta>, StorageError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {META_COLUMNS} FROM documents ORDER BY updated_at DESC"
        ))?;
        let metas = stmt
            .query_map([], meta_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(metas)
    }

    fn meta(&mut self, doc: &DocumentId) -> Result<Option<DocumentMeta>, StorageError> {
        let meta = self
            .conn
            .query_row(
                &format!("SELECT {META_COLUMNS} FROM documents WHERE id = ?1"),
                [doc.to_string()],
                meta_from_row,
            )
            .optional()?;
        Ok(meta)
    }

    fn list_for(
        &mut self,
        user: &str,
        needle: Option<&str>,
    ) -> Result<Vec<(DocumentMeta, Role)>, StorageError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {}, r.role
             FROM documents d JOIN roles r ON r.doc = d.id
             WHERE r.username = ?1 AND (?2 IS NULL OR instr(d.search_text, ?2) > 0)
             ORDER BY d.updated_at DESC",
            META_COLUMNS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let rows = stmt
            .query_map(params![user, needle], |r| {
                let role: String = r.get(8)?;
                Ok((meta_from_row(r)?, Role::parse(&role)))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(m, role)| role.map(|role| (m, role)))
            .collect())
    }

    fn purge(&mut self, before: i64) -> Result<Vec<DocumentId>, StorageError> {
        let tx = self.conn.transaction()?;
        let ids: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT id FROM documents WHERE deleted_at IS NOT NULL AND deleted_at < ?1",
            )?;
            let rows = stmt.query_map([before], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in &ids {
            for table in [
                "chunks",
                "roles",
                "signoffs",
                "change_receipts",
                "last_seen",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE doc = ?1"), [id])?;
            }
            tx.execute("DELETE FROM documents WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(ids
            .iter()
            .filter_map(|id| DocumentId::parse(id).ok())
            .collect())
    }

    fn roles(&mut self, doc: &DocumentId) -> Result<Vec<(String, Role)>, StorageError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT username, role FROM roles WHERE doc = ?1 ORDER BY username")?;
        let rows = stmt
            .query_map([doc.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(u, r)| Role::parse(&r).map(|r| (u, r)))
            .collect())
    }

    fn bindings(&mut self) -> Result<Vec<(Vec<u8>, String)>, StorageError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT actor, username FROM actor_bindings")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn receipts(&mut self, doc: &DocumentId) -> Result<Vec<Receipt>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash, username, received_at FROM change_receipts WHERE doc = ?1",
        )?;
        let rows = stmt
            .query_map([doc.to_string()], |r| {
                Ok(Receipt {
                    hash: r.get(0)?,
                    user: r.get(1)?,
                    received_at: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn seen(
        &mut self,
        doc: &DocumentId,
        user: &str,
    ) -> Result<Option<(String, i64)>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT heads, seen_at FROM last_seen WHERE doc = ?1 AND username = ?2",
        )?;
        Ok(stmt
            .query_row(params![doc.to_string(), user], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    fn signoffs(&mut self, doc: &DocumentId) -> Result<Vec<SignOffRecord>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT story, slot, username, discipline, signed_at, digest, heads, blockers
             FROM signoffs s
             WHERE doc = ?1 AND seq = (SELECT MAX(seq) FROM signoffs
               WHERE doc = s.doc AND story = s.story AND slot = s.slot)
             ORDER BY story, slot",
        )?;
        let rows = stmt
            .query_map([doc.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // The disk is not trusted either: a row that does not parse is left out.
        Ok(rows
            .into_iter()
            .filter_map(
                |(story, slot, user, discipline, signed_at, digest, heads, blockers)| {
                    Some(SignOffRecord {
                        story: ItemId::parse(&story).ok()?,
                        slot: Slot::parse(&slot)?,
                        user,
                        discipline,
                        signed_at,
                        digest: StoryDigest::parse(&digest)?,
                        heads,
                        open_blockers: blockers
                            .split(',')
                            .filter_map(|b| ItemId::parse(b).ok())
                            .collect(),
                    })
                },
            )
            .collect())
    }
}
