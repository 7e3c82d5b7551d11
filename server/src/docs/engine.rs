//! A document's decisions without IO: who may sync, which changes are accepted, what to store, what each peer is sent. The actor feeds it and carries out what it says.
//!
//! The [`Engine`] holds the Automerge document, each peer's sync state and the roles. It
//! never touches a socket, a file or a clock: messages come in as bytes, the time as an
//! argument, and what to send leaves as a list of `(connection, Outgoing)` taken with
//! [`Engine::take_out`]. Storage is two-step, as durability needs: [`Engine::prepare`]
//! says what to write, the caller writes it, then [`Engine::stored`] and
//! [`Engine::send_sync`] release the replies — nothing leaves before it is on disk.
//! Being deterministic, it runs as well under the server's actor as under a seeded
//! simulation that replays a failure exactly.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use duet_model::automerge::sync;
use duet_model::automerge::AutoCommit;
use duet_model::automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use duet_model::chunks::{chunks, ChunkKind};
use duet_model::done::{definition_of_done, story_count, StoryFacts};
use duet_model::fastsync::{self, Batch};
use duet_model::history::ChangeMeta;
use duet_model::signoff::{
    sign_state, signed_content, signed_content_at, SignCounts, SignState, Slot,
};
use duet_model::{Author, ItemId, RestoreScope, Spec, TextField, UnixMillis, UserId};
use duet_protocol::{DocumentId, Message, PeerId};
use tracing::{error, warn};

use super::review::Receipts;
use super::{ConnId, DocError, Granter, Outgoing};
use crate::metrics::Refusal;
use crate::storage::{fold, Chunk, DocumentMeta, Receipt, Role, SignOffRecord, Write};

/// The search text of a document being edited is written at most this often (reading a
/// 50-story spec's text takes ~5 ms).
pub const SEARCH_EVERY_MS: i64 = 2_000;

/// Close codes (RFC 6455).
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_SERVER_ERROR: u16 = 1011;

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

/// Non-Duet actor ids and the user each is bound to (on first use), shared by every
/// document of a server.
pub type Bindings = Mutex<HashMap<Vec<u8>, String>>;

/// A connection as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub conn: ConnId,
    pub peer: PeerId,
    /// The signed-in user: their role decides what they may sync, and every change they
    /// send must be authored as them.
    pub user: UserId,
}

#[derive(Debug)]
struct Peer {
    remote: Remote,
    state: sync::State,
}

/// What one batch stores: the writes to commit atomically, and what the history needs of
/// the changes among them.
#[derive(Debug, Default)]
pub struct Prepared {
    pub writes: Vec<Write>,
    /// The new changes, in the order stored, and their receipts.
    pub changes: Vec<ChangeHash>,
    pub metas: Receipts,
}

/// One document's state and rules (see the module docs).
#[derive(Debug)]
pub struct Engine {
    id: DocumentId,
    server: PeerId,
    /// `None` while the server has never seen the document.
    doc: Option<Automerge>,
    /// Ordered by connection, so that a replay sends in the same order.
    peers: BTreeMap<ConnId, Peer>,
    meta: DocumentMeta,
    authors: BTreeSet<String>,
    /// Highest storage sequence number holding this document's data.
    last_seq: i64,
    /// Chunks stored since the last snapshot.
    chunks: usize,
    /// Bytes of the last snapshot, and bytes stored in chunks since: compaction keeps the
    /// stored document within about twice its compacted size.
    snapshot_bytes: usize,
    since_snapshot_bytes: usize,
    /// The chunks this engine stored since the last fold or snapshot, in order: their
    /// sequence numbers and bytes (to fold, see [`fold`](Self::fold)).
    loose: Vec<(i64, Vec<u8>)>,
    /// Who may do what with this document (as stored, plus changes not yet committed).
    roles: HashMap<String, Role>,
    /// Role changes to commit with the next write.
    role_writes: Vec<(String, Option<Role>)>,
    /// Actors bound to users by messages of this batch, to store with their changes.
    new_bindings: Vec<(Vec<u8>, String)>,
    /// The latest sign-off of each slot of each story (as stored, plus this batch's).
    signoffs: BTreeMap<(ItemId, Slot), SignOffRecord>,
    /// Sign-offs and listing changes to store with the next write.
    sign_writes: Vec<Write>,
    /// When the search text was last written (Unix ms), and whether the document changed
    /// since: it is written at most every [`SEARCH_EVERY_MS`].
    search_at: i64,
    search_stale: bool,
    /// What to send, in order, until the caller takes it.
    out: Vec<(ConnId, Outgoing)>,
    /// The batch [`prepare`](Self::prepare) stored, for [`send_sync`](Self::send_sync) to
    /// send without finding its changes again.
    batch: Option<Batch>,
    /// The heads at the last [`send_sync`](Self::send_sync) (`None`: ask every peer next
    /// time), and the peers whose sync state changed since: while the heads stay, nobody
    /// else has anything new to hear.
    synced_at: Option<Vec<ChangeHash>>,
    stirred: BTreeSet<ConnId>,
    /// What happened since the caller last took the tally (for the server's metrics).
    tally: Tally,
}

/// Counts of what an engine did, taken by its caller to report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// New changes accepted from peers.
    pub received: u64,
    /// Changes put in sync messages to peers.
    pub relayed: u64,
    /// Peers refused, and why.
    pub refused: Vec<Refusal>,
}

/// A signed story, its state, and each slot's sign-off with whether it is current.
type StoryState<'a> = (&'a ItemId, SignState, Vec<(&'a SignOffRecord, bool)>);

/// Someone signing a slot of a story: `by`, of `discipline` (as their profile says),
/// having read version `seen`, choosing to sign over the open blockers `with_blockers`
/// (every open blocker must be among them, or it is refused).
#[derive(Debug)]
pub struct SignRequest {
    pub by: UserId,
    pub discipline: String,
    pub story: ItemId,
    pub slot: Slot,
    pub seen: Vec<ChangeHash>,
    pub with_blockers: Vec<ItemId>,
}

/// What an owner does to a spec's place in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingChange {
    Archive(bool),
    Delete,
    Undelete,
}

/// A story's sign-offs as [`Engine::signoffs`] reads them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StorySignOffs {
    pub story: ItemId,
    pub state: SignState,
    pub slots: Vec<SlotSignOff>,
}

/// One slot's latest sign-off, and whether the story still reads as it did then.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotSignOff {
    #[serde(flatten)]
    pub record: SignOffRecord,
    pub current: bool,
}

/// The sign-offs of a spec's stories (only stories someone signed), and the counts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SignOffs {
    pub counts: SignCounts,
    pub stories: Vec<StorySignOffs>,
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
pub fn load_stored_chunk(doc: &mut Automerge, bytes: &[u8]) -> Result<(), String> {
    let unfolded = fold::unfold(bytes)?;
    load_chunk(doc, unfolded.as_deref().unwrap_or(bytes))
}

/// Loads Automerge bytes; automerge can panic on corrupt input, which is caught here.
pub fn load_chunk(doc: &mut Automerge, bytes: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| doc.load_incremental(bytes))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the Automerge decoder rejected corrupt data".into()),
    }
}

/// Decodes a peer's sync message, refusing Bloom filters Automerge would trip over and
/// change chunks it would skip silently.
pub fn decode_sync(data: &[u8]) -> Result<sync::Message, String> {
    let msg = catch_unwind(|| sync::Message::decode(data))
        .map_err(|_| "undecodable".to_owned())?
        .map_err(|e| e.to_string())?;
    fastsync::check_blooms(&msg)?;
    msg.changes.iter().try_for_each(check_change)?;
    Ok(msg)
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

/// The hash and actor of every change a sync message carries (whole-document chunks
/// are opened), for checking who wrote them.
pub fn carried_changes(msg: &sync::Message) -> Result<Vec<(ChangeHash, ActorId)>, String> {
    let mut found = Vec::new();
    for bytes in msg.changes.iter() {
        for chunk in chunks(bytes) {
            let chunk = chunk.map_err(|e| format!("invalid change: {e}"))?;
            if chunk.kind == ChunkKind::Document {
                let mut whole = Automerge::new();
                load_chunk(&mut whole, chunk.bytes)?;
                for change in whole.get_changes(&[]) {
                    found.push((change.hash(), change.actor_id().clone()));
                }
            } else {
                let change = catch_unwind(|| {
                    duet_model::automerge::Change::from_bytes(chunk.bytes.to_vec())
                })
                .map_err(|_| "invalid change: undecodable".to_owned())?
                .map_err(|e| format!("invalid change: {e}"))?;
                found.push((change.hash(), change.actor_id().clone()));
            }
        }
    }
    Ok(found)
}

fn lock(bindings: &Bindings) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, String>> {
    // Single inserts and lookups only: a poisoned lock is still consistent.
    bindings.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// An engine for a document not loaded yet (see [`load`](Self::load)).
    pub fn new(id: DocumentId, server: PeerId) -> Engine {
        Engine {
            id,
            server,
            doc: None,
            peers: BTreeMap::new(),
            meta: DocumentMeta {
                id: id.to_string(),
                ..DocumentMeta::default()
            },
            authors: BTreeSet::new(),
            last_seq: 0,
            chunks: 0,
            snapshot_bytes: 0,
            since_snapshot_bytes: 0,
            loose: Vec::new(),
            roles: HashMap::new(),
            role_writes: Vec::new(),
            new_bindings: Vec::new(),
            signoffs: BTreeMap::new(),
            sign_writes: Vec::new(),
            search_at: 0,
            search_stale: false,
            out: Vec::new(),
            batch: None,
            synced_at: None,
            stirred: BTreeSet::new(),
            tally: Tally::default(),
        }
    }

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

    /// Takes the stored sign-offs (the latest of each slot of each story).
    pub fn adopt_signoffs(&mut self, records: Vec<SignOffRecord>) {
        self.signoffs = records
            .into_iter()
            .map(|r| ((r.story.clone(), r.slot), r))
            .collect();
    }

    /// Records a sign-off at `now` (server time), to be stored with this batch. If what
    /// the version the signer read covers differs from now, they did not read what they
    /// would sign.
    pub fn sign(&mut self, request: &SignRequest, now: i64) -> Result<SignOffRecord, DocError> {
        let SignRequest {
            by,
            discipline,
            story,
            slot,
            seen,
            with_blockers,
        } = request;
        let slot = *slot;
        let role = self.role_of(by).ok_or(DocError::NotFound)?;
        let Some(doc) = self.doc.as_ref().filter(|d| !d.get_heads().is_empty()) else {
            return Err(DocError::NotFound);
        };
        if !role.can_edit() {
            return Err(DocError::Forbidden(
                "you can view this spec but not sign it (your role is viewer)".into(),
            ));
        }
        if Slot::for_discipline(discipline) != Some(slot) {
            return Err(DocError::Forbidden(format!(
                "only a person whose discipline is {} can sign the {} slot (your profile says {})",
                slot.as_str(),
                slot.label(),
                if discipline.is_empty() {
                    "none"
                } else {
                    discipline
                }
            )));
        }
        let current = signed_content(doc, story)
            .ok_or_else(|| DocError::NoSuchItem(format!("no story {story} in this spec")))?
            .digest();
        let read = signed_content_at(doc, seen, story).ok_or_else(|| {
            DocError::Conflict(
                "the version you read has not reached the server yet; sign again in a moment"
                    .into(),
            )
        })?;
        if read.map(|c| c.digest()).as_ref() != Some(&current) {
            return Err(DocError::Conflict(
                "the story changed since the version you read: review the changes and sign again"
                    .into(),
            ));
        }
        // Signing over an open blocker is a choice the signer makes, blocker by blocker.
        let blockers = StoryFacts::read(doc, story)
            .map(|f| f.open_blockers)
            .unwrap_or_default();
        let unchosen: Vec<&(ItemId, String)> = blockers
            .iter()
            .filter(|(id, _)| !with_blockers.contains(id))
            .collect();
        if !unchosen.is_empty() {
            let named: Vec<String> = unchosen
                .iter()
                .map(|(id, text)| format!("“{}” ({id})", text.chars().take(80).collect::<String>()))
                .collect();
            return Err(DocError::Conflict(format!(
                "this story has {} open blocker{}: {}. To sign anyway, list {} in \"open_blockers\"",
                unchosen.len(),
                if unchosen.len() == 1 { "" } else { "s" },
                named.join(", "),
                if unchosen.len() == 1 { "its id" } else { "their ids" },
            )));
        }
        let heads: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
        let record = SignOffRecord {
            story: story.clone(),
            slot,
            user: by.to_string(),
            discipline: discipline.to_owned(),
            signed_at: now,
            digest: current,
            heads: heads.join(","),
            open_blockers: blockers.into_iter().map(|(id, _)| id).collect(),
        };
        self.signoffs.insert((story.clone(), slot), record.clone());
        let signs = self.sign_counts();
        self.meta.signs = signs;
        self.sign_writes.push(Write::SignOff {
            doc: self.id,
            record: record.clone(),
            signs,
        });
        Ok(record)
    }

    /// Every story's sign-offs and whether each still covers what the story holds now.
    pub fn signoffs(&self) -> SignOffs {
        let states = self.sign_states();
        SignOffs {
            counts: self.counts_of(&states),
            stories: states
                .into_iter()
                .map(|(story, state, slots)| StorySignOffs {
                    story: story.clone(),
                    state,
                    slots: slots
                        .into_iter()
                        .map(|(record, current)| SlotSignOff {
                            record: record.clone(),
                            current,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// How many stories are signed, partly signed or stale, and how many of how many meet
    /// the definition of done (kept with the document's metadata for the spec list).
    fn sign_counts(&self) -> SignCounts {
        self.counts_of(&self.sign_states())
    }

    /// The counts of [`sign_counts`](Self::sign_counts) from the signed stories' states.
    fn counts_of(&self, states: &[StoryState<'_>]) -> SignCounts {
        let mut counts = SignCounts::default();
        let Some(doc) = self.doc.as_ref() else {
            return counts;
        };
        counts.stories = u32::try_from(story_count(doc)).unwrap_or(u32::MAX);
        for (story, state, slots) in states {
            counts.add(*state);
            // Only a story whose required sign-offs are current can be done.
            if *state == SignState::Signed {
                let signs: Vec<(Slot, bool)> = slots.iter().map(|(r, c)| (r.slot, *c)).collect();
                if StoryFacts::read(doc, story)
                    .is_some_and(|f| definition_of_done(&f, &signs).is_done())
                {
                    counts.done += 1;
                }
            }
        }
        counts
    }

    /// Each signed story that still exists, its state, and each slot's sign-off with
    /// whether the story still reads as it did then.
    fn sign_states(&self) -> Vec<StoryState<'_>> {
        let Some(doc) = self.doc.as_ref().filter(|_| !self.signoffs.is_empty()) else {
            return Vec::new();
        };
        let mut stories: BTreeMap<&ItemId, Vec<&SignOffRecord>> = BTreeMap::new();
        for ((story, _), record) in &self.signoffs {
            stories.entry(story).or_default().push(record);
        }
        stories
            .into_iter()
            .filter_map(|(story, records)| {
                // A deleted story has nothing left to sign.
                let now = signed_content(doc, story)?.digest();
                let slots: Vec<(&SignOffRecord, bool)> =
                    records.into_iter().map(|r| (r, r.digest == now)).collect();
                let state = sign_state(slots.iter().map(|(r, current)| (r.slot, *current)));
                Some((story, state, slots))
            })
            .collect()
    }

    /// Forgets everything held in memory (after a failure that left it unknown), telling
    /// every peer to reconnect; [`load`](Self::load) starts it again.
    pub fn reset(&mut self) {
        for (conn, _) in std::mem::take(&mut self.peers) {
            self.close(
                conn,
                CLOSE_SERVER_ERROR,
                "document reloaded; please reconnect",
            );
        }
        *self = Engine {
            out: std::mem::take(&mut self.out),
            tally: std::mem::take(&mut self.tally),
            ..Engine::new(self.id, self.server.clone())
        };
    }

    /// What happened since the last call.
    pub fn take_tally(&mut self) -> Tally {
        std::mem::take(&mut self.tally)
    }

    /// The document, once loaded or pushed.
    pub fn doc(&self) -> Option<&Automerge> {
        self.doc.as_ref()
    }

    /// The document's heads (empty while it has none).
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc
            .as_ref()
            .map(Automerge::get_heads)
            .unwrap_or_default()
    }

    pub fn exists(&self) -> bool {
        self.doc.as_ref().is_some_and(|d| !d.get_heads().is_empty())
    }

    /// `user`'s role; nobody has one on a deleted spec.
    pub fn role_of(&self, user: &UserId) -> Option<Role> {
        if self.meta.deleted_at.is_some() {
            return None;
        }
        self.roles.get(user.as_str()).copied()
    }

    /// Whether `conn` is syncing this document.
    pub fn has_peer(&self, conn: ConnId) -> bool {
        self.peers.contains_key(&conn)
    }

    /// How many connections are syncing this document.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Every connection syncing this document.
    pub fn peers(&self) -> impl Iterator<Item = &Remote> {
        self.peers.values().map(|p| &p.remote)
    }

    /// What to send since the last call, in order.
    pub fn take_out(&mut self) -> Vec<(ConnId, Outgoing)> {
        std::mem::take(&mut self.out)
    }

    /// Records a role change, to be committed with this batch.
    fn set_role(&mut self, user: &str, role: Option<Role>) {
        self.synced_at = None;
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
                .filter(|(_, p)| p.remote.user.as_str() == user)
                .map(|(c, _)| *c)
                .collect();
            for conn in gone {
                if let Some(peer) = self.peers.remove(&conn) {
                    self.unavailable(&peer.remote);
                }
            }
        }
    }

    /// Handles a role change asked by `by` (an owner) or by a verified share link (`None`).
    pub fn change_role(
        &mut self,
        by: &Granter,
        user: &UserId,
        role: Option<Role>,
    ) -> Result<Option<Role>, DocError> {
        if !self.exists() && self.roles.is_empty() {
            return Err(DocError::NotFound);
        }
        let current = self.role_of(user);
        match by {
            Granter::Member(by) => match self.role_of(by) {
                Some(Role::Owner) => {}
                Some(_) => {
                    return Err(DocError::Forbidden(
                        "only the spec's owners can change who has access".into(),
                    ))
                }
                None => return Err(DocError::NotFound),
            },
            // A share link never lowers a role.
            Granter::Link if current >= role => return Ok(current),
            Granter::Link | Granter::Admin => {}
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

    /// Creates the document from saved bytes (REST), owned by `owner`.
    pub fn create(&mut self, bytes: &[u8], owner: &UserId) -> Result<(), DocError> {
        if self.exists() {
            return Err(DocError::AlreadyExists);
        }
        let mut doc = Automerge::new();
        load_chunk(&mut doc, bytes).map_err(DocError::Corrupt)?;
        self.doc = Some(doc);
        self.set_role(owner.as_str(), Some(Role::Owner));
        Ok(())
    }

    /// The connection stopped syncing this document.
    pub fn leave(&mut self, conn: ConnId) {
        self.peers.remove(&conn);
    }

    /// Applies one `request` (`request = true`) or `sync` from `from`, noting in `authors`
    /// a peer whose message carried changes. Returns true if Automerge panicked (the
    /// document's state is unknown: the caller must [`reset`](Self::reset) and reload).
    pub fn receive(
        &mut self,
        from: &Remote,
        data: &[u8],
        request: bool,
        bindings: &Bindings,
        authors: &mut HashSet<ConnId>,
    ) -> bool {
        let conn = from.conn;
        let exists = self.exists();
        let role = self.role_of(&from.user);
        if exists && role.is_none() {
            // No role: the document is as good as absent (its existence is not leaked).
            self.peers.remove(&conn);
            self.unavailable(from);
            return false;
        }
        let msg = match decode_sync(data) {
            Ok(msg) => msg,
            Err(e) => {
                warn!(peer_id = %from.peer, "undecodable sync message: {e}");
                self.tally.refused.push(Refusal::Malformed);
                self.refuse(from, CLOSE_PROTOCOL, &format!("invalid sync message: {e}"));
                return false;
            }
        };
        if !msg.changes.is_empty() {
            let new = match self.new_changes(&msg) {
                Ok(new) => new,
                Err(e) => {
                    warn!(peer_id = %from.peer, "undecodable changes: {e}");
                    self.tally.refused.push(Refusal::Malformed);
                    self.refuse(from, CLOSE_PROTOCOL, &format!("invalid sync message: {e}"));
                    return false;
                }
            };
            // Changes the server already holds may come back (a peer's sync state can lag
            // behind what it has been sent); only new ones need a right to edit.
            if !new.is_empty() && exists && !role.is_some_and(Role::can_edit) {
                warn!(peer_id = %from.peer, user = %from.user, "refused changes from a viewer");
                self.tally.refused.push(Refusal::Role);
                self.refuse(
                    from,
                    CLOSE_POLICY,
                    "refused: you can view this spec but not change it (your role is viewer)",
                );
                return false;
            }
            if let Err(why) = self.verify_authors(&new, &from.user, bindings) {
                warn!(peer_id = %from.peer, user = %from.user, "refused forged changes: {why}");
                self.tally.refused.push(Refusal::ForgedAuthor);
                self.refuse(from, CLOSE_POLICY, &format!("refused: {why}"));
                return false;
            }
            self.tally.received += new.len() as u64;
            authors.insert(conn);
        }
        self.stirred.insert(conn);
        let peer = self.peers.entry(conn).or_insert_with(|| Peer {
            remote: from.clone(),
            state: sync::State::new(),
        });
        let doc = match &mut self.doc {
            _ if !exists && request && msg.changes.is_empty() => {
                // Neither side has it: say so, but keep the peer so it hears if it appears
                // (and it gains a role on it).
                self.unavailable(from);
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
                    self.set_role(from.user.as_str(), Some(Role::Owner));
                }
                false
            }
            Err(Some(e)) => {
                warn!(peer_id = %from.peer, "refused sync message: {e}");
                self.tally.refused.push(Refusal::Malformed);
                self.refuse(from, CLOSE_PROTOCOL, "invalid changes in sync message");
                false
            }
            Err(None) => {
                error!(peer_id = %from.peer, "automerge panicked applying a sync message");
                self.refuse(from, CLOSE_PROTOCOL, "invalid changes in sync message");
                true
            }
        }
    }

    /// The changes `msg` carries that the document does not hold yet (the shared skeleton
    /// of every spec aside).
    fn new_changes(&self, msg: &sync::Message) -> Result<Vec<(ChangeHash, ActorId)>, String> {
        let skeleton = duet_model::skeleton_hash();
        let known = |hash: &ChangeHash| {
            *hash == skeleton
                || self
                    .doc
                    .as_ref()
                    .is_some_and(|d| d.get_change_by_hash(hash).is_some())
        };
        let mut new = carried_changes(msg)?;
        new.retain(|(hash, _)| !known(hash));
        Ok(new)
    }

    /// Checks that each `new` change is authored by `user`: a Duet actor naming them, or
    /// another actor bound to them (bound here on first use). On success the new bindings
    /// are recorded, to be stored with the changes.
    fn verify_authors(
        &mut self,
        new: &[(ChangeHash, ActorId)],
        user: &UserId,
        bindings: &Bindings,
    ) -> Result<(), String> {
        let mut bound = lock(bindings);
        let mut unbound: Vec<Vec<u8>> = Vec::new();
        for (hash, actor) in new {
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
                    None if unbound.iter().any(|n| n == bytes) => {}
                    None => unbound.push(bytes.to_vec()),
                },
            }
        }
        // Bound under the same lock they were checked with: two documents binding one new
        // actor at once cannot both win.
        for actor in unbound {
            bound.insert(actor.clone(), user.to_string());
            self.new_bindings.push((actor, user.to_string()));
        }
        Ok(())
    }

    /// The user a stored change is attributed to (`None`: the shared skeleton of a spec).
    fn author_of(&self, hash: &ChangeHash, actor: &ActorId, bindings: &Bindings) -> Option<String> {
        if *hash == duet_model::skeleton_hash() {
            return None;
        }
        Some(match Author::from_actor(actor) {
            Ok(author) => author.user().to_string(),
            Err(_) => lock(bindings)
                .get(actor.to_bytes())
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned()),
        })
    }

    /// Brings the spec (or the part `scope` names) back to version `to` as a new change by
    /// `author`, who must be able to edit (stored and sent with the batch).
    pub fn restore(
        &mut self,
        author: Author,
        to: &[ChangeHash],
        scope: &RestoreScope,
        now: UnixMillis,
    ) -> Result<(), DocError> {
        self.write_as(author, |spec| {
            spec.restore(to, scope, now).map_err(restore_error)
        })
    }

    /// Renames the spec: a change of its title by `author`, who must be an owner.
    pub fn rename(&mut self, author: Author, title: &str, now: UnixMillis) -> Result<(), DocError> {
        if self.role_of(author.user()) != Some(Role::Owner) {
            return Err(self.not_owner(author.user(), "rename"));
        }
        self.write_as(author, |spec| {
            let old = spec.view().title;
            if old == title {
                return Ok(());
            }
            spec.set_text(&TextField::Title, title, now)
                .map_err(|e| DocError::BadVersion(e.to_string()))
        })
    }

    /// Writes what `edit` does to the spec as one new change by `author`, who must be able
    /// to edit.
    fn write_as(
        &mut self,
        author: Author,
        edit: impl FnOnce(&mut Spec) -> Result<(), DocError>,
    ) -> Result<(), DocError> {
        match self.role_of(author.user()) {
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
        let mut spec =
            Spec::from_doc(copy, author).map_err(|e| DocError::Corrupt(e.to_string()))?;
        edit(&mut spec)?;
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

    /// The refusal for someone who is not an owner: 404 without a role (the spec's
    /// existence stays hidden), 403 with one.
    fn not_owner(&self, user: &UserId, what: &str) -> DocError {
        match self.role_of(user) {
            None => DocError::NotFound,
            Some(_) => DocError::Forbidden(format!("only an owner can {what} this spec")),
        }
    }

    /// An owner archives or un-archives, deletes or brings back the spec. Deleting closes
    /// every connection to it: from then on nobody can open it (see [`role_of`](Self::role_of))
    /// until an owner brings it back.
    pub fn set_listing(
        &mut self,
        by: &UserId,
        change: ListingChange,
        now: i64,
    ) -> Result<DocumentMeta, DocError> {
        // The raw role: an owner of a deleted spec can still bring it back.
        let owner = self.roles.get(by.as_str()) == Some(&Role::Owner);
        if self.doc.as_ref().is_none_or(|d| d.get_heads().is_empty()) {
            return Err(DocError::NotFound);
        }
        let deleted = self.meta.deleted_at.is_some();
        match (&change, owner, deleted) {
            (_, false, true) => return Err(DocError::NotFound),
            (_, false, false) => {
                let what = match change {
                    ListingChange::Archive(_) => "archive",
                    ListingChange::Delete | ListingChange::Undelete => "delete",
                };
                return Err(self.not_owner(by, what));
            }
            (ListingChange::Undelete, true, false) => {
                return Err(DocError::Conflict("this spec is not deleted".into()))
            }
            (ListingChange::Archive(_) | ListingChange::Delete, true, true) => {
                return Err(DocError::NotFound)
            }
            _ => {}
        }
        match change {
            ListingChange::Archive(archived) => self.meta.archived = archived,
            ListingChange::Delete => {
                self.meta.deleted_at = Some(now);
                self.close_all(CLOSE_POLICY, "this spec was deleted");
            }
            ListingChange::Undelete => self.meta.deleted_at = None,
        }
        self.sign_writes.push(Write::Listing {
            doc: self.id,
            archived: self.meta.archived,
            deleted_at: self.meta.deleted_at,
        });
        Ok(self.meta.clone())
    }

    /// The connections presence from `from` is relayed to: the others with a role.
    pub fn relay_targets(&self, from: &Remote) -> Vec<Remote> {
        if self.role_of(&from.user).is_none() {
            return Vec::new();
        }
        self.peers
            .values()
            .map(|p| &p.remote)
            .filter(|r| r.conn != from.conn && self.role_of(&r.user).is_some())
            .cloned()
            .collect()
    }

    /// What to store for this batch: the changes made since `before` (received at `now`,
    /// Unix ms) with refreshed metadata, and the role changes and actor bindings it made.
    pub fn prepare(&mut self, before: &[ChangeHash], now: i64, bindings: &Bindings) -> Prepared {
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
        let changed = self.doc.as_ref().is_some_and(|d| d.get_heads() != before);
        let Some(doc) = self.doc.as_ref().filter(|_| changed) else {
            return Prepared {
                writes,
                ..Prepared::default()
            };
        };
        let batch = Batch::since(doc, before);
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
        self.batch = batch;
        Prepared {
            writes,
            changes: hashes,
            metas,
        }
    }

    /// The writes of [`prepare`](Self::prepare) are durable; `seqs` are the sequence
    /// numbers the store gave them.
    pub fn stored(&mut self, prepared: &Prepared, seqs: &[i64]) {
        if let Some(Write::Append { bytes, .. }) = prepared.writes.first() {
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
    }

    /// Sends each peer whatever it is missing, once what arrived since `before` is stored.
    /// `authors` (peers whose messages carried changes) hear back even if automerge thinks
    /// there is nothing to say: the reply is their acknowledgement.
    pub fn send_sync(&mut self, before: &[ChangeHash], authors: &HashSet<ConnId>) {
        // An author's own later message in the batch may have told us heads we now share:
        // automerge would then record them as sent and stay silent, leaving the author
        // waiting for an acknowledgement that never comes.
        for conn in authors {
            if let Some(peer) = self.peers.get_mut(conn) {
                peer.state.last_sent_heads.clear();
            }
        }
        let Some(doc) = &self.doc else {
            // Nothing to tell; whoever asked hears of the document once it exists.
            self.stirred.clear();
            return;
        };
        let heads = doc.get_heads();
        // Automerge would say nothing new to a peer whose state and document are as they
        // were when it was last asked: silence, or the same reset again.
        let everyone = self.synced_at.as_ref() != Some(&heads);
        let stirred = std::mem::take(&mut self.stirred);
        self.synced_at = Some(heads.clone());
        let batch = match self.batch.take() {
            Some(stored) if stored.spans(before, &heads) => Some(stored),
            _ => Batch::since(doc, before),
        };
        // Once the document has content, only people with a role hear of it.
        let open = heads.is_empty();
        let roles = &self.roles;
        let mut broken = Vec::new();
        // Peers at the same version (most of them, after a batch) share one walk of the
        // changes beyond it.
        let mut since = fastsync::Since::new(doc, &heads);
        for (conn, peer) in self.peers.iter_mut() {
            if (!open && !roles.contains_key(peer.remote.user.as_str()))
                || (!everyone && !stirred.contains(conn))
            {
                continue;
            }
            // One message per peer and batch: the next waits for its answer. (Automerge
            // answers a peer whose last sync it does not know with a reset every time it is
            // asked, so asking in a loop would never end.) Generating only reads the
            // document: should automerge panic on what a peer told it, that peer's sync
            // state is dropped with it, and the document is untouched.
            let state = &mut peer.state;
            let generated = catch_unwind(AssertUnwindSafe(|| {
                fastsync::generate_with(&mut since, state, batch.as_ref())
            }));
            match generated {
                Ok(Some(msg)) => {
                    self.tally.relayed += msg.changes.len() as u64;
                    let out = Outgoing::Message(Message::Sync {
                        sender: self.server.clone(),
                        target: peer.remote.peer.clone(),
                        document: self.id,
                        data: msg.encode(),
                    });
                    self.out.push((*conn, out));
                }
                Ok(None) => {}
                Err(_) => broken.push(peer.remote.clone()),
            }
        }
        for remote in broken {
            error!(peer_id = %remote.peer, "automerge panicked generating a sync message");
            self.refuse(
                &remote,
                CLOSE_SERVER_ERROR,
                "the server could not answer this peer",
            );
        }
    }

    /// A snapshot to replace the stored chunks with, when it is due: `compact_after` chunks
    /// have piled up, or the chunks added since the last snapshot weigh as much as it (at
    /// least [`COMPACT_MIN_BYTES`], over at least [`COMPACT_MIN_CHUNKS`] chunks), so the
    /// stored document stays within about twice its compacted size; at exit (`at_exit`)
    /// also when there are at least 8 chunks.
    pub fn compaction(&self, at_exit: bool, compact_after: usize) -> Option<Write> {
        let doc = self.doc.as_ref()?;
        let heavy = self.since_snapshot_bytes >= self.snapshot_bytes.max(COMPACT_MIN_BYTES);
        let due = self.chunks >= compact_after.max(2)
            || (self.chunks >= COMPACT_MIN_CHUNKS && heavy)
            || (at_exit && self.chunks >= 8);
        due.then(|| Write::Compact {
            doc: self.id,
            snapshot: doc.save(),
            replaces_up_to: self.last_seq,
        })
    }

    /// The snapshot of [`compaction`](Self::compaction) is durable.
    pub fn compacted(&mut self, snapshot: &Write) {
        if let Write::Compact { snapshot, .. } = snapshot {
            self.snapshot_bytes = snapshot.len();
        }
        self.since_snapshot_bytes = 0;
        self.chunks = 1;
        self.loose.clear();
    }

    /// One chunk to replace the chunks stored one by one since the last fold or snapshot,
    /// once there are `min_chunks` of them (at least 2).
    pub fn fold(&self, min_chunks: usize) -> Option<Write> {
        if self.loose.len() < min_chunks.max(2) {
            return None;
        }
        let bytes = fold::fold(self.loose.iter().map(|(_, b)| b.as_slice()))?;
        let first = self.loose.first().map(|(seq, _)| *seq)?;
        let last = self.loose.last().map(|(seq, _)| *seq)?;
        Some(Write::Fold {
            doc: self.id,
            bytes,
            first,
            last,
        })
    }

    /// The folded chunk of [`fold`](Self::fold) is durable.
    pub fn folded(&mut self, write: &Write) {
        if let Write::Fold { bytes, .. } = write {
            let replaced: usize = self.loose.iter().map(|(_, b)| b.len()).sum();
            self.since_snapshot_bytes =
                (self.since_snapshot_bytes + bytes.len()).saturating_sub(replaced);
            self.chunks = (self.chunks + 1).saturating_sub(self.loose.len());
        }
        self.loose.clear();
    }

    /// Says goodbye to every peer (the server is stopping).
    pub fn close_all(&mut self, code: u16, reason: &str) {
        for (conn, _) in std::mem::take(&mut self.peers) {
            self.close(conn, code, reason);
        }
    }

    /// Tells a peer the server does not have the document (or that it may not see it).
    fn unavailable(&mut self, to: &Remote) {
        let msg = Message::DocUnavailable {
            sender: self.server.clone(),
            target: to.peer.clone(),
            document: self.id,
        };
        self.out.push((to.conn, Outgoing::Message(msg)));
    }

    /// Tells a peer why it is dropped, then closes its connection with `code`.
    fn refuse(&mut self, to: &Remote, code: u16, why: &str) {
        self.peers.remove(&to.conn);
        let msg = Message::Error {
            sender: Some(self.server.clone()),
            target: Some(to.peer.clone()),
            message: why.to_owned(),
        };
        self.out.push((to.conn, Outgoing::Message(msg)));
        self.close(to.conn, code, why);
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        let close = Outgoing::Close {
            code,
            reason: reason.to_owned(),
        };
        self.out.push((conn, close));
    }
}

/// What a failed restore tells the person: a version or item that cannot be brought back
/// is their request's fault; anything else is the document's.
pub(crate) fn restore_error(e: duet_model::EditError) -> DocError {
    match e {
        duet_model::EditError::UnknownVersion | duet_model::EditError::NotInVersion => {
            DocError::BadVersion(e.to_string())
        }
        duet_model::EditError::MissingPart(_) | duet_model::EditError::NoSuchItem { .. } => {
            DocError::BadVersion(e.to_string())
        }
        other => DocError::Corrupt(other.to_string()),
    }
}
