//! A document's decisions without IO: who may sync, which changes are accepted, what to store, what each peer is sent. The actor feeds it and carries out its plan.
//!
//! The [`Engine`] holds the Automerge document, each peer's sync state and the roles. It
//! never touches a socket, a file or a clock: messages come in as bytes, the time as an
//! argument, and what to send leaves as a list of `(connection, Outgoing)` taken with
//! [`Engine::take_out`]. A batch of commands ends in a [`Plan`], carried out in one order
//! by the document actor and by the seeded simulation alike:
//!
//! 1. commands: [`receive`](Engine::receive), [`create`](Engine::create),
//!    [`change_role`](Engine::change_role), [`sign`](Engine::sign), … — refusals are
//!    ready to send at once ([`take_out`](Engine::take_out));
//! 2. [`plan`](Engine::plan): the writes to commit atomically;
//! 3. once they are durable, [`durable`](Engine::durable): the replies that acknowledge
//!    the changes and the relays to every other peer ([`take_out`](Engine::take_out));
//! 4. [`upkeep`](Engine::upkeep): a compaction or a fold of the stored chunks when one is
//!    due, committed on its own, then [`upkept`](Engine::upkept).
//!
//! Nothing a batch changed leaves before step 3. Being deterministic, the engine replays a
//! failure exactly under the simulation. Its concerns live in one file each: [`sync`]
//! (peers' messages), [`access`] (roles and listing), [`authorship`], [`signoffs`],
//! [`restore`] and [`storing`] (what to write, and when to compact).

mod access;
mod authorship;
mod restore;
mod signoffs;
mod storing;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use duet_fastsync::Batch;
use duet_model::automerge::sync::State as SyncState;
use duet_model::automerge::{Automerge, ChangeHash};
use duet_model::ItemId;
use duet_model::UserId;
use duet_protocol::{DocumentId, Message, PeerId};

use super::review::Receipts;
use super::{ConnId, Outgoing};
use crate::metrics::Refusal;
use crate::storage::{DocumentMeta, Role, SignOffRecord, Write};

pub use access::ListingChange;
pub use authorship::{AuthorError, Bindings};
pub(crate) use restore::restore_error;
pub use signoffs::{SignOffs, SignRequest, SlotSignOff, StorySignOffs};
pub use storing::{
    load_chunk, load_stored_chunk, read_chunks, Loaded, Policy, COMPACT_MIN_BYTES,
    COMPACT_MIN_CHUNKS, FOLD_CHUNKS, SEARCH_EVERY_MS,
};
pub use sync::{carried_changes, decode_sync, InputError};

/// Close codes (RFC 6455).
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_SERVER_ERROR: u16 = 1011;

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
    state: SyncState,
}

/// What one batch stores, and what the engine needs back once it is durable: the writes
/// to commit atomically (none when the batch changed nothing), then
/// [`Engine::durable`] with the sequence numbers the store gave them.
#[derive(Debug, Default)]
#[must_use = "a plan's writes are committed, then the plan goes back to `Engine::durable`"]
pub struct Plan {
    pub writes: Vec<Write>,
    /// The new changes among the writes, in the order stored, and their receipts (what
    /// the history reads).
    pub changes: Vec<ChangeHash>,
    pub metas: Receipts,
    /// The heads the store held before this plan, and the changes since (found once, for
    /// the sync messages too).
    before: Vec<ChangeHash>,
    batch: Option<Batch>,
}

/// A compaction or fold of the stored chunks that is due: its write is committed on its
/// own (a failure keeps the chunks as they are), then handed back to [`Engine::upkept`].
#[derive(Debug)]
#[must_use = "upkeep is committed, then handed back to `Engine::upkept`"]
pub struct Upkeep(Write);

impl Upkeep {
    pub fn write(&self) -> &Write {
        &self.0
    }
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

/// One document's state and rules (see the module docs).
#[derive(Debug)]
pub struct Engine {
    id: DocumentId,
    server: PeerId,
    policy: Policy,
    /// `None` while the server has never seen the document.
    doc: Option<Automerge>,
    /// The heads the store holds (or will, once the last plan is durable): the next plan
    /// stores what was added since.
    planned: Vec<ChangeHash>,
    /// Ordered by connection, so that a replay sends in the same order.
    peers: BTreeMap<ConnId, Peer>,
    /// Peers whose messages in this batch carried changes: they hear back once those are
    /// durable, even if automerge has nothing to say (the reply is their acknowledgement).
    authors_heard: BTreeSet<ConnId>,
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
    /// sequence numbers and bytes (to fold, see [`upkeep`](Self::upkeep)).
    loose: Vec<(i64, Vec<u8>)>,
    /// Who may do what with this document (as stored, plus changes not yet committed).
    roles: HashMap<String, Role>,
    /// Role changes to commit with the next write.
    role_writes: Vec<(String, Option<Role>)>,
    /// Actors bound to users by messages of this batch, to store with their changes.
    new_bindings: Vec<(Vec<u8>, String)>,
    /// The latest sign-off of each slot of each story (as stored, plus this batch's).
    signoffs: BTreeMap<(ItemId, duet_model::signoff::Slot), SignOffRecord>,
    /// Sign-offs and listing changes to store with the next write.
    sign_writes: Vec<Write>,
    /// When the search text was last written (Unix ms), and whether the document changed
    /// since: it is written at most every [`SEARCH_EVERY_MS`].
    search_at: i64,
    search_stale: bool,
    /// What to send, in order, until the caller takes it.
    out: Vec<(ConnId, Outgoing)>,
    /// The heads at the last sync round (`None`: ask every peer next time), and the peers
    /// whose sync state changed since: while the heads stay, nobody else has anything new
    /// to hear.
    synced_at: Option<Vec<ChangeHash>>,
    stirred: BTreeSet<ConnId>,
    /// What happened since the caller last took the tally (for the server's metrics).
    tally: Tally,
}

impl Engine {
    /// An engine for a document not loaded yet (see [`load`](Self::load)).
    pub fn new(id: DocumentId, server: PeerId, policy: Policy) -> Engine {
        Engine {
            id,
            server,
            policy,
            doc: None,
            planned: Vec::new(),
            peers: BTreeMap::new(),
            authors_heard: BTreeSet::new(),
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
            synced_at: None,
            stirred: BTreeSet::new(),
            tally: Tally::default(),
        }
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
            ..Engine::new(self.id, self.server.clone(), self.policy)
        };
    }

    /// What happened since the last call.
    pub fn take_tally(&mut self) -> Tally {
        std::mem::take(&mut self.tally)
    }

    /// What to send since the last call, in order.
    pub fn take_out(&mut self) -> Vec<(ConnId, Outgoing)> {
        std::mem::take(&mut self.out)
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

    /// The connection stopped syncing this document.
    pub fn leave(&mut self, conn: ConnId) {
        self.peers.remove(&conn);
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
