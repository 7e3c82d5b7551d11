//! Peers' sync messages: decoding and checking what a peer sends, applying it, and the round of sync messages once a batch is durable.

use std::panic::{catch_unwind, AssertUnwindSafe};

use duet_fastsync::chunks::{chunks, ChunkKind};
use duet_fastsync::{self as fastsync, Batch};
use duet_model::automerge::sync;
use duet_model::automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use duet_protocol::Message;
use tracing::{error, warn};

use super::storing::{load_chunk, LoadError};
use super::{Bindings, Engine, Peer, Remote, CLOSE_POLICY, CLOSE_PROTOCOL, CLOSE_SERVER_ERROR};
use crate::docs::Outgoing;
use crate::metrics::Refusal;
use crate::storage::Role;

/// Why a peer's sync message was refused as malformed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Automerge's decoder panicked on it.
    #[error("undecodable")]
    Undecodable,
    #[error("{0}")]
    Decode(String),
    /// A Bloom filter Automerge would trip over.
    #[error("{0}")]
    Bloom(String),
    #[error("invalid change: {0}")]
    Change(String),
    /// A whole-document chunk among the changes that does not load.
    #[error("invalid change: {0}")]
    Document(#[from] LoadError),
}

/// Decodes a peer's sync message, refusing Bloom filters Automerge would trip over and
/// change chunks it would skip silently.
pub fn decode_sync(data: &[u8]) -> Result<sync::Message, InputError> {
    let msg = catch_unwind(|| sync::Message::decode(data))
        .map_err(|_| InputError::Undecodable)?
        .map_err(|e| InputError::Decode(e.to_string()))?;
    fastsync::check_blooms(&msg).map_err(InputError::Bloom)?;
    msg.changes.iter().try_for_each(check_change)?;
    Ok(msg)
}

/// One change chunk, parsed; automerge can panic on corrupt input, which is caught here.
fn parse_change(bytes: &[u8]) -> Result<duet_model::automerge::Change, InputError> {
    catch_unwind(|| duet_model::automerge::Change::from_bytes(bytes.to_vec()))
        .map_err(|_| InputError::Change("undecodable".into()))?
        .map_err(|e| InputError::Change(e.to_string()))
}

/// Checks the chunks of one element of a sync message's change list: each must be an
/// Automerge chunk, and each change chunk must parse as a change. Automerge itself would
/// skip unparsable chunks silently; Duet tells the peer and drops it instead. (Peers that
/// both speak sync v2 send a whole document chunk to a peer that has nothing; Automerge
/// verifies those itself when loading them.)
fn check_change(bytes: &[u8]) -> Result<(), InputError> {
    for chunk in chunks(bytes) {
        let chunk = chunk.map_err(|e| InputError::Change(e.to_string()))?;
        if chunk.kind != ChunkKind::Document {
            parse_change(chunk.bytes)?;
        }
    }
    Ok(())
}

/// The hash and actor of every change a sync message carries (whole-document chunks
/// are opened), for checking who wrote them.
pub fn carried_changes(msg: &sync::Message) -> Result<Vec<(ChangeHash, ActorId)>, InputError> {
    let mut found = Vec::new();
    for bytes in msg.changes.iter() {
        for chunk in chunks(bytes) {
            let chunk = chunk.map_err(|e| InputError::Change(e.to_string()))?;
            if chunk.kind == ChunkKind::Document {
                let mut whole = Automerge::new();
                load_chunk(&mut whole, chunk.bytes)?;
                for change in whole.get_changes(&[]) {
                    found.push((change.hash(), change.actor_id().clone()));
                }
            } else {
                let change = parse_change(chunk.bytes)?;
                found.push((change.hash(), change.actor_id().clone()));
            }
        }
    }
    Ok(found)
}

impl Engine {
    /// Applies one `request` (`request = true`) or `sync` from `from`. Returns true if
    /// Automerge panicked (the document's state is unknown: the caller must
    /// [`reset`](Self::reset) and reload).
    #[must_use = "a panic in automerge leaves the document unknown: reset and reload"]
    pub fn receive(
        &mut self,
        from: &Remote,
        data: &[u8],
        request: bool,
        bindings: &Bindings,
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
        // Changes the server already holds may come back (a peer's sync state can lag
        // behind what it has been sent); only new ones need a right to edit.
        let checked = decode_sync(data).and_then(|msg| {
            let new = if msg.changes.is_empty() {
                Vec::new()
            } else {
                self.new_changes(&msg)?
            };
            Ok((msg, new))
        });
        let (msg, new) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                warn!(peer_id = %from.peer, "invalid sync message: {e}");
                self.tally.refused.push(Refusal::Malformed);
                self.refuse(from, CLOSE_PROTOCOL, &format!("invalid sync message: {e}"));
                return false;
            }
        };
        if !msg.changes.is_empty() {
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
            self.authors_heard.insert(conn);
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
    fn new_changes(&self, msg: &sync::Message) -> Result<Vec<(ChangeHash, ActorId)>, InputError> {
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

    /// Sends each peer whatever it is missing, once what arrived since `before` (`batch`,
    /// when found already) is stored. Peers whose messages carried changes hear back even
    /// if automerge thinks there is nothing to say: the reply is their acknowledgement.
    pub(super) fn sync_round(&mut self, before: &[ChangeHash], batch: Option<Batch>) {
        // An author's own later message in the batch may have told us heads we now share:
        // automerge would then record them as sent and stay silent, leaving the author
        // waiting for an acknowledgement that never comes.
        for conn in std::mem::take(&mut self.authors_heard) {
            if let Some(peer) = self.peers.get_mut(&conn) {
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
        let batch = match batch {
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
}
