//! What the engine stores: loading stored chunks, a batch's plan, and the upkeep (compaction, folding) that keeps the stored document small.

use std::panic::{catch_unwind, AssertUnwindSafe};

use duet_fastsync::Batch;
use duet_model::automerge::{Automerge, ReadDoc};
use duet_model::history::ChangeMeta;
use duet_model::{UnixMillis, UserId};
use tracing::error;

use super::{Bindings, Engine, Plan, Upkeep};
use crate::docs::review::Receipts;
use crate::storage::{fold, Chunk, DocumentMeta, Receipt, Role, Write};

/// The search text of a document being edited is written at most this often (reading a
/// 50-story spec's text takes ~5 ms).
pub const SEARCH_EVERY_MS: i64 = 2_000;

/// Below this many bytes added since the last snapshot, only the chunk count compacts.
pub const COMPACT_MIN_BYTES: usize = 16 * 1024;
/// Nor is a document compacted by weight before this many chunks: a snapshot compresses
/// far better than single changes do (a pasted blob), and compaction saves the whole
/// document, so it must not follow every write.
pub const COMPACT_MIN_CHUNKS: usize = 64;
/// Chunks stored one by one since the last fold or snapshot that are folded into one
/// ([`storage::fold`](crate::storage::fold)): they then weigh ~2.4× less, so compaction,
/// which rewrites the whole snapshot, comes ~2.4× less often.
pub const FOLD_CHUNKS: usize = 64;

/// When the stored chunks of a document are compacted or folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A snapshot replaces the chunks once this many have piled up (at least 2).
    pub compact_after: usize,
    /// Chunks stored one by one are folded into one once this many are loose (at least 2).
    pub fold_after: usize,
}

impl Policy {
    /// The server's policy, compacting after `compact_after` chunks.
    pub fn compacting_after(compact_after: usize) -> Policy {
        Policy {
            compact_after,
            fold_after: FOLD_CHUNKS,
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::compacting_after(2000)
    }
}

/// Why stored or uploaded bytes did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Automerge(String),
    #[error("the Automerge decoder rejected corrupt data")]
    Undecodable,
    #[error(transparent)]
    Folded(#[from] fold::UnfoldError),
}

/// A document read from its stored chunks, for [`Engine::adopt`].
#[derive(Debug)]
pub struct Loaded {
    doc: Automerge,
    /// Chunks that were corrupt and skipped, of how many.
    pub corrupt: usize,
    pub chunks: usize,
    bytes: usize,
    last_seq: i64,
}

/// Reads a document from its stored chunks, skipping (and logging) corrupt ones. The time
/// grows with the history, faster than linearly when many people wrote at once (see
/// RELIABILITY.md, "Load time").
pub fn read_chunks(chunks: &[Chunk]) -> Loaded {
    let mut doc = Automerge::new();
    let mut corrupt = 0;
    for chunk in chunks {
        if let Err(e) = load_stored_chunk(&mut doc, &chunk.bytes) {
            corrupt += 1;
            error!(
                seq = chunk.seq,
                "stored chunk is corrupt and was skipped: {e}"
            );
        }
    }
    Loaded {
        doc,
        corrupt,
        chunks: chunks.len(),
        bytes: chunks.iter().map(|c| c.bytes.len()).sum(),
        last_seq: chunks.iter().map(|c| c.seq).max().unwrap_or(0),
    }
}

/// Loads one stored chunk, inflating a folded one first (only storage writes those: bytes
/// from a peer or an upload go to [`load_chunk`]).
pub fn load_stored_chunk(doc: &mut Automerge, bytes: &[u8]) -> Result<(), LoadError> {
    let unfolded = fold::unfold(bytes)?;
    load_chunk(doc, unfolded.as_deref().unwrap_or(bytes))
}

/// Loads Automerge bytes; automerge can panic on corrupt input, which is caught here.
pub fn load_chunk(doc: &mut Automerge, bytes: &[u8]) -> Result<(), LoadError> {
    match catch_unwind(AssertUnwindSafe(|| doc.load_incremental(bytes))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(LoadError::Automerge(e.to_string())),
        Err(_) => Err(LoadError::Undecodable),
    }
}

impl Engine {
    /// Takes what is stored of the document: its chunks (`None`: never stored), its
    /// metadata and roles. Returns how many chunks were corrupt and skipped.
    pub fn load(
        &mut self,
        chunks: Option<&[Chunk]>,
        meta: Option<DocumentMeta>,
        roles: Vec<(String, Role)>,
    ) -> usize {
        let Some(chunks) = chunks else { return 0 };
        let loaded = read_chunks(chunks);
        let bad = loaded.corrupt;
        self.adopt(loaded, meta, roles);
        bad
    }

    /// Takes a document read by [`read_chunks`] (on another thread, so that a long
    /// history does not hold up the caller), with its metadata and roles.
    pub fn adopt(
        &mut self,
        loaded: Loaded,
        meta: Option<DocumentMeta>,
        roles: Vec<(String, Role)>,
    ) {
        if let Some(meta) = meta {
            self.authors = meta.authors.iter().cloned().collect();
            self.meta = meta;
        }
        self.roles = roles.into_iter().collect();
        self.last_seq = self.last_seq.max(loaded.last_seq);
        self.chunks = loaded.chunks;
        // Which chunk is a snapshot is not known: all count as added since the last one,
        // so a document stored in many pieces is compacted soon after it loads. Only
        // chunks stored from now on are folded.
        self.since_snapshot_bytes = loaded.bytes;
        self.loose.clear();
        self.planned = loaded.doc.get_heads();
        self.doc = Some(loaded.doc);
        // Stored before search existed, or changed since it was last written: written
        // again soon after loading.
        self.search_stale = true;
    }

    /// How long until the search text is due to be written (`None`: it is up to date).
    pub fn search_due(&self, now: i64) -> Option<i64> {
        self.search_stale
            .then(|| (self.search_at + SEARCH_EVERY_MS - now).max(0))
    }

    /// The search text to store now if it is stale: the spec's text in lower case (the
    /// list's search looks in it).
    pub fn search_write(&mut self, now: i64) -> Option<Write> {
        if !self.search_stale {
            return None;
        }
        self.search_stale = false;
        self.search_at = now;
        let doc = self.doc.as_ref().filter(|_| self.meta.is_spec)?;
        let text = duet_model::markdown::export(&duet_model::view_of(doc)).to_lowercase();
        Some(Write::SearchText { doc: self.id, text })
    }

    /// Ends a batch: what to store of it (received at `now`, Unix ms) — the changes made
    /// since the last plan with refreshed metadata, and the role changes, sign-offs,
    /// listing changes and actor bindings it made.
    pub fn plan(&mut self, now: i64, bindings: &Bindings) -> Plan {
        let mut writes: Vec<Write> = std::mem::take(&mut self.role_writes)
            .into_iter()
            .map(|(user, role)| Write::SetRole {
                doc: self.id,
                user,
                role,
            })
            .collect();
        writes.append(&mut self.sign_writes);
        let new_bindings = std::mem::take(&mut self.new_bindings);
        let heads = self.heads();
        let before = std::mem::replace(&mut self.planned, heads.clone());
        let Some(doc) = self.doc.as_ref().filter(|_| heads != before) else {
            return Plan {
                writes,
                before,
                ..Plan::default()
            };
        };
        let batch = Batch::since(doc, &before);
        let (hashes, bytes) = batch
            .as_ref()
            .map(|b| (b.hashes().to_vec(), b.raw().concat()))
            .unwrap_or_default();
        let mut metas = Receipts::new();
        let mut receipts = Vec::with_capacity(hashes.len());
        for change in hashes.iter().filter_map(|h| doc.get_change_by_hash(h)) {
            let Some(user) = self.author_of(&change.hash(), change.actor_id(), bindings) else {
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
        self.meta.updated_at = now;
        self.meta.authors = self.authors.iter().cloned().collect();
        self.meta.signs = self.sign_counts();
        self.search_stale = true;
        if now - self.search_at >= SEARCH_EVERY_MS {
            writes.extend(self.search_write(now));
        }
        // The document's row first: roles refer to it.
        writes.insert(
            0,
            Write::Append {
                doc: self.id,
                bytes,
                meta: self.meta.clone(),
                receipts,
                bindings: new_bindings,
            },
        );
        Plan {
            writes,
            changes: hashes,
            metas,
            before,
            batch,
        }
    }

    /// The writes of `plan` are durable (`seqs`: the sequence numbers the store gave
    /// them): each peer is sent whatever it is missing, and each author its
    /// acknowledgement ([`take_out`](Self::take_out)).
    pub fn durable(&mut self, plan: Plan, seqs: &[i64]) {
        if let Some(Write::Append { bytes, .. }) = plan.writes.first() {
            if !bytes.is_empty() {
                let seq = seqs.first().copied().unwrap_or(0);
                self.last_seq = self.last_seq.max(seq);
                self.chunks += 1;
                self.since_snapshot_bytes += bytes.len();
                // A fold replaces a range of sequence numbers: only real ones go in.
                if seq > 0 {
                    self.loose.push((seq, bytes.clone()));
                } else {
                    self.loose.clear();
                }
                // Chunks too big to fold together are not kept in memory for it: they
                // stay as they are until the next snapshot.
                if self.loose.iter().map(|(_, b)| b.len()).sum::<usize>() > fold::MAX_BYTES {
                    self.loose.clear();
                }
            }
        }
        self.sync_round(&plan.before, plan.batch);
    }

    /// The batch's writes failed: nothing it changed may be sent, and what the engine
    /// holds is no longer what the store holds. Every peer is dropped; the caller loads
    /// the document again.
    pub fn failed(&mut self, plan: Plan) {
        drop(plan);
        self.reset();
    }

    /// The compaction or fold that is due, if any: a snapshot once
    /// [`Policy::compact_after`] chunks have piled up, or once the chunks added since the
    /// last snapshot weigh as much as it (at least [`COMPACT_MIN_BYTES`], over at least
    /// [`COMPACT_MIN_CHUNKS`] chunks), so the stored document stays within about twice its
    /// compacted size; at exit (`at_exit`) also when there are at least 8 chunks.
    /// Otherwise one chunk for the [`Policy::fold_after`] chunks stored one by one since
    /// the last fold or snapshot.
    pub fn upkeep(&self, at_exit: bool) -> Option<Upkeep> {
        let doc = self.doc.as_ref()?;
        let heavy = self.since_snapshot_bytes >= self.snapshot_bytes.max(COMPACT_MIN_BYTES);
        let compact = self.chunks >= self.policy.compact_after.max(2)
            || (self.chunks >= COMPACT_MIN_CHUNKS && heavy)
            || (at_exit && self.chunks >= 8);
        if compact {
            return Some(Upkeep(Write::Compact {
                doc: self.id,
                snapshot: doc.save(),
                replaces_up_to: self.last_seq,
            }));
        }
        if self.loose.len() < self.policy.fold_after.max(2) {
            return None;
        }
        let bytes = fold::fold(self.loose.iter().map(|(_, b)| b.as_slice()))?;
        let first = self.loose.first().map(|(seq, _)| *seq)?;
        let last = self.loose.last().map(|(seq, _)| *seq)?;
        Some(Upkeep(Write::Fold {
            doc: self.id,
            bytes,
            first,
            last,
        }))
    }

    /// The write of [`upkeep`](Self::upkeep) is durable.
    pub fn upkept(&mut self, done: Upkeep) {
        match done.0 {
            Write::Compact { snapshot, .. } => {
                self.snapshot_bytes = snapshot.len();
                self.since_snapshot_bytes = 0;
                self.chunks = 1;
            }
            Write::Fold { bytes, .. } => {
                let replaced: usize = self.loose.iter().map(|(_, b)| b.len()).sum();
                self.since_snapshot_bytes =
                    (self.since_snapshot_bytes + bytes.len()).saturating_sub(replaced);
                self.chunks = (self.chunks + 1).saturating_sub(self.loose.len());
            }
            _ => {}
        }
        self.loose.clear();
    }
}
