//! `MemoryStorage`: the storage contract kept in memory — what the seeded simulation stores and restarts from, and the reference the SQLite store is tested against.

use std::collections::BTreeMap;

use std::cmp::Ordering;

use duet_protocol::DocumentId;

use super::{Chunk, DocumentMeta, Receipt, Role, SignOffRecord, Storage, StorageError, Write};

/// Everything committed, nothing else: a "restart" that keeps the `MemoryStorage` and
/// drops everything else sees exactly what a process restarted on its database would.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    docs: BTreeMap<DocumentId, Stored>,
    /// The last sequence number given (chunks and snapshots share one sequence).
    seq: i64,
    bindings: BTreeMap<Vec<u8>, String>,
    /// How many folds and compactions were committed (for tests that want to cross them).
    pub folds: u64,
    pub compactions: u64,
}

#[derive(Debug, Default, Clone)]
struct Stored {
    /// `None` until the document's first `Append` (roles may be written before it).
    meta: Option<DocumentMeta>,
    search_text: String,
    chunks: Vec<Chunk>,
    roles: BTreeMap<String, Role>,
    receipts: BTreeMap<String, Receipt>,
    /// Every sign-off, in the order recorded.
    signoffs: Vec<SignOffRecord>,
    seen: BTreeMap<String, (String, i64)>,
}

impl MemoryStorage {
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }

    /// Applies one write; the sequence number an `Append` was given (0 for others).
    fn apply(&mut self, write: &Write) -> i64 {
        match write {
            Write::Append {
                doc,
                bytes,
                meta,
                receipts,
                bindings,
            } => {
                for (actor, user) in bindings {
                    self.bindings
                        .entry(actor.clone())
                        .or_insert_with(|| user.clone());
                }
                let seq = if bytes.is_empty() { 0 } else { self.next_seq() };
                let stored = self.docs.entry(*doc).or_default();
                for r in receipts {
                    stored
                        .receipts
                        .entry(r.hash.clone())
                        .or_insert_with(|| r.clone());
                }
                // Archiving and deletion are the listing's to change, not an append's.
                let (archived, deleted_at) = stored
                    .meta
                    .as_ref()
                    .map_or((false, None), |m| (m.archived, m.deleted_at));
                stored.meta = Some(DocumentMeta {
                    id: doc.to_string(),
                    archived,
                    deleted_at,
                    ..meta.clone()
                });
                if seq > 0 {
                    stored.chunks.push(Chunk {
                        seq,
                        bytes: bytes.clone(),
                    });
                }
                seq
            }
            Write::SetRole { doc, user, role } => {
                let roles = &mut self.docs.entry(*doc).or_default().roles;
                match role {
                    Some(r) => roles.insert(user.clone(), *r),
                    None => roles.remove(user),
                };
                0
            }
            Write::Seen {
                doc,
                user,
                heads,
                at,
            } => {
                let seen = &mut self.docs.entry(*doc).or_default().seen;
                seen.insert(user.clone(), (heads.clone(), *at));
                0
            }
            Write::SignOff { doc, record, signs } => {
                let stored = self.docs.entry(*doc).or_default();
                stored.signoffs.push(record.clone());
                if let Some(meta) = &mut stored.meta {
                    meta.signs = *signs;
                }
                0
            }
            Write::Listing {
                doc,
                archived,
                deleted_at,
            } => {
                if let Some(meta) = self.docs.get_mut(doc).and_then(|s| s.meta.as_mut()) {
                    meta.archived = *archived;
                    meta.deleted_at = *deleted_at;
                }
                0
            }
            Write::SearchText { doc, text } => {
                if let Some(stored) = self.docs.get_mut(doc).filter(|s| s.meta.is_some()) {
                    stored.search_text = text.clone();
                }
                0
            }
            Write::Fold {
                doc,
                bytes,
                first,
                last,
            } => {
                self.folds += 1;
                let chunks = &mut self.docs.entry(*doc).or_default().chunks;
                chunks.retain(|c| c.seq < *first || c.seq > *last);
                chunks.push(Chunk {
                    seq: *last,
                    bytes: bytes.clone(),
                });
                chunks.sort_by_key(|c| c.seq);
                0
            }
            Write::Compact {
                doc,
                snapshot,
                replaces_up_to,
            } => {
                self.compactions += 1;
                let seq = self.next_seq();
                let chunks = &mut self.docs.entry(*doc).or_default().chunks;
                chunks.retain(|c| c.seq > *replaces_up_to);
                chunks.push(Chunk {
                    seq,
                    bytes: snapshot.clone(),
                });
                0
            }
        }
    }

    /// The documents with a row (those appended to at least once).
    fn listed(&self) -> impl Iterator<Item = (&Stored, &DocumentMeta)> {
        self.docs
            .values()
            .filter_map(|s| s.meta.as_ref().map(|m| (s, m)))
    }
}

/// Newest first, then by id (SQLite leaves ties in no particular order).
fn newest_first(a: &DocumentMeta, b: &DocumentMeta) -> Ordering {
    b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id))
}

impl Storage for MemoryStorage {
    fn load(&mut self, doc: &DocumentId) -> Result<Option<Vec<Chunk>>, StorageError> {
        Ok(self
            .docs
            .get(doc)
            .filter(|s| s.meta.is_some())
            .map(|s| s.chunks.clone()))
    }

    fn commit(&mut self, writes: &[Write]) -> Result<Vec<i64>, StorageError> {
        Ok(writes.iter().map(|w| self.apply(w)).collect())
    }

    fn list(&mut self) -> Result<Vec<DocumentMeta>, StorageError> {
        let mut metas: Vec<DocumentMeta> = self.listed().map(|(_, m)| m.clone()).collect();
        metas.sort_by(newest_first);
        Ok(metas)
    }

    fn meta(&mut self, doc: &DocumentId) -> Result<Option<DocumentMeta>, StorageError> {
        Ok(self.docs.get(doc).and_then(|s| s.meta.clone()))
    }

    fn list_for(
        &mut self,
        user: &str,
        needle: Option<&str>,
    ) -> Result<Vec<(DocumentMeta, Role)>, StorageError> {
        let mut found: Vec<(DocumentMeta, Role)> = self
            .listed()
            .filter(|(s, _)| needle.is_none_or(|n| s.search_text.contains(n)))
            .filter_map(|(s, m)| s.roles.get(user).map(|r| (m.clone(), *r)))
            .collect();
        found.sort_by(|(a, _), (b, _)| newest_first(a, b));
        Ok(found)
    }

    fn purge(&mut self, before: i64) -> Result<Vec<DocumentId>, StorageError> {
        let gone: Vec<DocumentId> = self
            .docs
            .iter()
            .filter(|(_, s)| {
                s.meta
                    .as_ref()
                    .and_then(|m| m.deleted_at)
                    .is_some_and(|at| at < before)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.docs.remove(id);
        }
        Ok(gone)
    }

    fn roles(&mut self, doc: &DocumentId) -> Result<Vec<(String, Role)>, StorageError> {
        Ok(self
            .docs
            .get(doc)
            .map(|s| s.roles.iter().map(|(u, r)| (u.clone(), *r)).collect())
            .unwrap_or_default())
    }

    fn bindings(&mut self) -> Result<Vec<(Vec<u8>, String)>, StorageError> {
        Ok(self
            .bindings
            .iter()
            .map(|(a, u)| (a.clone(), u.clone()))
            .collect())
    }

    fn receipts(&mut self, doc: &DocumentId) -> Result<Vec<Receipt>, StorageError> {
        Ok(self
            .docs
            .get(doc)
            .map(|s| s.receipts.values().cloned().collect())
            .unwrap_or_default())
    }

    fn seen(
        &mut self,
        doc: &DocumentId,
        user: &str,
    ) -> Result<Option<(String, i64)>, StorageError> {
        Ok(self.docs.get(doc).and_then(|s| s.seen.get(user).cloned()))
    }

    fn signoffs(&mut self, doc: &DocumentId) -> Result<Vec<SignOffRecord>, StorageError> {
        let mut latest: BTreeMap<(&str, &str), &SignOffRecord> = BTreeMap::new();
        for record in self.docs.get(doc).map(|s| &s.signoffs[..]).unwrap_or(&[]) {
            latest.insert((record.story.as_str(), record.slot.as_str()), record);
        }
        Ok(latest.into_values().cloned().collect())
    }
}
