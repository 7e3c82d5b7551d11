//! duet-sync: one client's automerge-repo session over one connection — handshake, a sync state per document, acknowledgements. Sans-IO: bytes in, messages out.
//!
//! The caller owns the sockets and the documents. A [`Session`] is made per connection
//! (a reconnect makes a new one, as the sync protocol requires fresh sync states), turns
//! incoming [`Message`]s into [`Event`]s, and produces the messages to send.

mod roster;

use std::collections::{HashMap, HashSet};

use duet_model::automerge::sync::{self, SyncDoc};
use duet_model::automerge::{AutoCommit, ChangeHash};
use duet_protocol::{DocumentId, Message, PeerId, PeerMetadata, PROTOCOL_VERSION};

pub use roster::Roster;

/// Why the session cannot go on; the connection should be closed and remade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the server refused the session: {0}")]
    Refused(String),
    #[error("the server selected protocol version {0:?}, which this client does not speak")]
    Version(String),
    #[error("a message arrived before the handshake completed: {0}")]
    TooEarly(&'static str),
    #[error("the server sent a sync message this client cannot apply: {0}")]
    BadSync(String),
}

/// What an incoming message means to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: documents can be opened now.
    Ready,
    /// Changes were applied to `document` (the caller re-renders it).
    Changed(DocumentId),
    /// A sync message that brought nothing new (still worth checking `acknowledged`).
    Synced(DocumentId),
    /// Neither the server nor any peer has `document`.
    Unavailable(DocumentId),
    /// Presence or other passing data from another peer.
    Ephemeral {
        document: DocumentId,
        sender: PeerId,
        session: String,
        count: u64,
        data: Vec<u8>,
    },
    /// Something this client does not act on.
    Ignored,
}

/// One connection's session.
#[derive(Debug)]
pub struct Session {
    me: PeerId,
    server: Option<PeerId>,
    states: HashMap<DocumentId, sync::State>,
    /// Documents offered or requested on this connection that the server has not yet
    /// said anything about.
    unanswered: HashSet<DocumentId>,
    ephemeral_count: u64,
}

impl Session {
    /// A session for peer `me`, and the `join` message to send first.
    pub fn new(me: PeerId) -> (Session, Message) {
        let join = Message::Join {
            sender: me.clone(),
            supported_versions: vec![PROTOCOL_VERSION.into()],
            metadata: Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: true,
            }),
        };
        let session = Session {
            me,
            server: None,
            states: HashMap::new(),
            unanswered: HashSet::new(),
            ephemeral_count: 0,
        };
        (session, join)
    }

    /// Whether the handshake has completed.
    pub fn is_ready(&self) -> bool {
        self.server.is_some()
    }

    /// Starts syncing `document`: a `request` if `doc` is empty (asking the server for it),
    /// else a `sync` offering what `doc` has.
    pub fn open(&mut self, document: DocumentId, doc: &mut AutoCommit) -> Option<Message> {
        self.states.entry(document).or_default();
        let request = doc.get_heads().is_empty();
        let message = self.outgoing(document, doc, request);
        if message.is_some() {
            self.unanswered.insert(document);
        }
        message
    }

    /// Stops syncing `document` on this connection.
    pub fn close(&mut self, document: DocumentId) {
        self.states.remove(&document);
        self.unanswered.remove(&document);
    }

    /// Whether this client is owed an answer: the handshake, or the first word about a
    /// document it opened. A connection that stays owed for long is a dead one.
    pub fn awaiting(&self) -> bool {
        !self.is_ready() || !self.unanswered.is_empty()
    }

    /// The message carrying `doc`'s local changes to the server, if there is anything to say.
    pub fn local_change(&mut self, document: DocumentId, doc: &mut AutoCommit) -> Option<Message> {
        self.outgoing(document, doc, false)
    }

    /// The document an incoming message is about, so the caller can pass it to `receive`.
    pub fn document_of(message: &Message) -> Option<DocumentId> {
        match message {
            Message::Sync { document, .. }
            | Message::Request { document, .. }
            | Message::DocUnavailable { document, .. }
            | Message::Ephemeral { document, .. } => Some(*document),
            _ => None,
        }
    }

    /// Handles one incoming message; `doc` is the document it is about (see `document_of`),
    /// or `None` if this client has not opened it. Returns what happened and the replies to
    /// send, in order.
    pub fn receive(
        &mut self,
        message: Message,
        mut doc: Option<&mut AutoCommit>,
    ) -> Result<(Event, Vec<Message>), SessionError> {
        let event = self.apply(message, doc.as_deref_mut())?;
        let reply = match (&event, doc) {
            (Event::Changed(id) | Event::Synced(id), Some(doc)) => self.outgoing(*id, doc, false),
            _ => None,
        };
        Ok((event, reply.into_iter().collect()))
    }

    /// Like [`receive`](Self::receive), without generating the reply: for a caller that
    /// first stores what arrived and then asks [`local_change`](Self::local_change) for the
    /// next message (the sync protocol only needs a reply eventually, not at once).
    pub fn apply(
        &mut self,
        message: Message,
        doc: Option<&mut AutoCommit>,
    ) -> Result<Event, SessionError> {
        match message {
            Message::Peer {
                sender,
                selected_version,
                ..
            } => {
                if selected_version != PROTOCOL_VERSION {
                    return Err(SessionError::Version(selected_version));
                }
                self.server = Some(sender);
                Ok(Event::Ready)
            }
            Message::Error { message, .. } => Err(SessionError::Refused(message)),
            Message::Sync { document, data, .. } | Message::Request { document, data, .. } => {
                if self.server.is_none() {
                    return Err(SessionError::TooEarly("sync"));
                }
                let (Some(state), Some(doc)) = (self.states.get_mut(&document), doc) else {
                    return Ok(Event::Ignored);
                };
                self.unanswered.remove(&document);
                let msg = sync::Message::decode(&data)
                    .map_err(|e| SessionError::BadSync(e.to_string()))?;
                let before = doc.get_heads();
                doc.sync()
                    .receive_sync_message(state, msg)
                    .map_err(|e| SessionError::BadSync(e.to_string()))?;
                Ok(if doc.get_heads() == before {
                    Event::Synced(document)
                } else {
                    Event::Changed(document)
                })
            }
            Message::DocUnavailable { document, .. } => {
                self.unanswered.remove(&document);
                Ok(Event::Unavailable(document))
            }
            Message::Ephemeral {
                sender,
                session,
                count,
                document,
                data,
                ..
            } => Ok(Event::Ephemeral {
                document,
                sender,
                session,
                count,
                data,
            }),
            Message::Join { .. } => Err(SessionError::TooEarly("join")),
            Message::Leave { .. } | Message::Ignored { .. } => Ok(Event::Ignored),
        }
    }

    /// An ephemeral message (presence) for the document's other peers; `session` names this
    /// tab so receivers can tell tabs of one person apart.
    pub fn ephemeral(
        &mut self,
        document: DocumentId,
        session: &str,
        data: Vec<u8>,
    ) -> Option<Message> {
        let server = self.server.clone()?;
        self.ephemeral_count += 1;
        Some(Message::Ephemeral {
            sender: self.me.clone(),
            target: server,
            count: self.ephemeral_count,
            session: session.to_owned(),
            document,
            data,
        })
    }

    /// Whether the server has shown it holds every change of `doc` (the server acknowledges
    /// only after its fsync, so this means "saved on the server").
    pub fn acknowledged(&self, document: DocumentId, doc: &mut AutoCommit) -> bool {
        let Some(state) = self.states.get(&document) else {
            return false;
        };
        let Some(theirs) = &state.their_heads else {
            return false;
        };
        let mut ours: Vec<ChangeHash> = doc.get_heads();
        ours.retain(|h| !theirs.contains(h));
        // Every local head is among the server's heads, or an ancestor of them that the
        // sync state already counts as shared.
        ours.iter().all(|h| state.shared_heads.contains(h))
    }

    /// The heads the server has shown it holds for `document` on this connection (empty
    /// until it has said so).
    pub fn server_heads(&self, document: DocumentId) -> Vec<ChangeHash> {
        self.states
            .get(&document)
            .map(|s| s.shared_heads.clone())
            .unwrap_or_default()
    }

    fn outgoing(
        &mut self,
        document: DocumentId,
        doc: &mut AutoCommit,
        request: bool,
    ) -> Option<Message> {
        let server = self.server.clone()?;
        let state = self.states.get_mut(&document)?;
        let msg = doc.sync().generate_sync_message(state)?;
        Some(Message::sync_or_request(
            request,
            self.me.clone(),
            server,
            document,
            msg.encode(),
        ))
    }
}

const FIRST_DELAY_MS: f64 = 500.0;
const MAX_DELAY_MS: f64 = 30_000.0;

/// The delay before reconnect attempt `attempt` (1-based), given a `random` number in
/// [0, 1): doubling from 0.5 s up to 30 s, drawn from the upper half of that ceiling so
/// many clients coming back together do not all return in the same instant.
pub fn backoff_ms(attempt: u32, random: f64) -> u32 {
    let doublings = attempt.saturating_sub(1).min(16) as i32;
    let ceiling = (FIRST_DELAY_MS * 2f64.powi(doublings)).min(MAX_DELAY_MS);
    (ceiling * (0.5 + 0.5 * random.clamp(0.0, 1.0))) as u32
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_from_half_a_second_to_thirty_with_jitter_in_the_upper_half() {
        assert_eq!(backoff_ms(1, 1.0), 500);
        assert_eq!(backoff_ms(1, 0.0), 250);
        assert_eq!(backoff_ms(2, 1.0), 1000);
        assert_eq!(backoff_ms(7, 1.0), 30_000);
        assert_eq!(backoff_ms(100, 0.0), 15_000);
        assert_eq!(backoff_ms(0, 2.0), 500);
    }
}
