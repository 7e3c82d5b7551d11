//! The `/sync` websocket: the automerge-repo handshake, routing each message to its document's actor, and one writer task per socket.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use duet_model::UserId;
use duet_protocol::{DocumentId, Message, PeerId, PeerMetadata, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::error::AppError;
use super::state::AppState;
use crate::docs::{ConnId, DocCommand, Outgoing, PeerLink};
use crate::metrics::Refusal;

/// Close codes (RFC 6455).
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_UNSUPPORTED: u16 = 1003;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

/// How long a connection we close waits for the peer to read the close frame.
const LINGER: Duration = Duration::from_secs(1);

/// Most documents one connection may sync at once.
const MAX_DOCS_PER_CONNECTION: usize = 4096;

/// Largest first message (the `join`): nothing bigger is read from a peer before its
/// handshake.
const MAX_JOIN_BYTES: usize = 16 * 1024;

/// One open websocket of a user, counted while it lives.
#[derive(Debug)]
struct ConnectionSlot {
    state: AppState,
    user: String,
    /// Cancelled when all the user's connections must end.
    end: CancellationToken,
}

impl ConnectionSlot {
    /// Takes a slot for `user`, or `None` when they have as many connections as allowed.
    fn take(state: &AppState, user: &UserId) -> Option<ConnectionSlot> {
        let max = state.registry.config().max_connections_per_user;
        let mut open = state.connections.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.entry(user.to_string()).or_default();
        if mine.count >= max {
            return None;
        }
        mine.count += 1;
        state.registry.metrics().connection_opened();
        Some(ConnectionSlot {
            state: state.clone(),
            user: user.to_string(),
            end: mine.end.clone(),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.state.registry.metrics().connection_closed();
        let mut open = self
            .state
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(mine) = open.get_mut(&self.user) {
            mine.count -= 1;
            if mine.count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// `GET /sync`: checks who is connecting before upgrading (401 no or bad credentials,
/// 403 a cookie from another origin, 429 too many connections of this user).
pub async fn upgrade(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let caller = match super::auth::authenticate(&state, &parts, true).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let Some(slot) = ConnectionSlot::take(&state, &caller.user) else {
        state.registry.metrics().refused(Refusal::Rate);
        return AppError::RateLimited(
            format!(
                "{} has too many connections open; close some tabs or clients",
                caller.user
            ),
            5,
        )
        .into_response();
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let max = state.registry.config().max_message_bytes;
    let user = caller.user;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_socket(socket, state, user, slot))
}

/// How much a connection reads from its socket at once. The websocket library zero-fills
/// this much of its buffer before every read (128 KiB by default): with small sync messages
/// arriving one by one, that was 6% of the server's CPU with 50 people on one spec. A
/// larger message is read in several reads.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Messages a connection may still send now: refilled at a steady rate up to a burst.
#[derive(Debug)]
struct RateLimit {
    tokens: f64,
    per_second: f64,
    burst: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket at `now`.
    fn new(per_second: u32, burst: u32, now: Instant) -> RateLimit {
        RateLimit {
            tokens: f64::from(burst),
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            last: now,
        }
    }

    /// Takes one message at `now`; false when the connection is over its rate.
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// A close reason fits in a control frame (123 bytes); longer ones are cut at a character
/// boundary (the full text goes in the protocol `error` message before the close).
fn short_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn millis_since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

#[tracing::instrument(name = "conn", skip_all, fields(conn_id = tracing::field::Empty, user = %user, peer_id = tracing::field::Empty))]
async fn serve_socket(socket: WebSocket, state: AppState, user: UserId, slot: ConnectionSlot) {
    let ended = slot.end.clone();
    let _slot = slot;
    debug!("connection open");
    let conn = ConnId(state.next_conn.fetch_add(1, Ordering::Relaxed));
    tracing::Span::current().record("conn_id", conn.0);
    let config = state.registry.config().clone();
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut out_rx) = mpsc::channel::<Outgoing>(config.peer_outbox);
    let kill = CancellationToken::new();
    // Cancelled when the peer's own close frame (or the end of its stream) is seen.
    let peer_closed = CancellationToken::new();
    let start = Instant::now();
    // Milliseconds since `start` at which the peer was last heard from.
    let last_heard = Arc::new(AtomicU64::new(0));

    let writer = {
        let kill = kill.clone();
        let peer_closed = peer_closed.clone();
        let last_heard = last_heard.clone();
        let shutdown = state.shutdown.clone();
        let ping_every = config.ping_interval;
        tokio::spawn(async move {
            let mut ping = tokio::time::interval(ping_every);
            ping.tick().await;
            let close = |code: u16, reason: &str| {
                Frame::Close(Some(CloseFrame {
                    code,
                    reason: short_reason(reason).into(),
                }))
            };
            loop {
                tokio::select! {
                    out = out_rx.recv() => match out {
                        Some(Outgoing::Message(msg)) => {
                            if sink.send(Frame::Binary(msg.encode().into())).await.is_err() {
                                break;
                            }
                        }
                        Some(Outgoing::Close { code, reason }) => {
                            let _ = sink.send(close(code, &reason)).await;
                            // Keep the socket open until the peer has read our close frame
                            // (it answers with its own), at most a second: closing a socket
                            // with unread input resets it, and the peer would lose the frame.
                            let _ = tokio::time::timeout(LINGER, peer_closed.cancelled()).await;
                            break;
                        }
                        None => break,
                    },
                    _ = ended.cancelled() => {
                        let _ = sink.send(close(CLOSE_POLICY, "your account was disabled or its password reset; sign in again")).await;
                        break;
                    }
                    _ = kill.cancelled() => {
                        let _ = sink.send(close(CLOSE_POLICY, "connection dropped by the server")).await;
                        break;
                    }
                    _ = shutdown.cancelled() => {
                        let _ = sink.send(close(CLOSE_GOING_AWAY, "server shutting down")).await;
                        break;
                    }
                    _ = ping.tick() => {
                        let silent = millis_since(start).saturating_sub(last_heard.load(Ordering::Relaxed));
                        if silent > 2 * ping_every.as_millis() as u64 {
                            debug!("peer silent for {silent} ms; dropping");
                            let _ = sink.send(close(CLOSE_GOING_AWAY, "no pong")).await;
                            break;
                        }
                        if sink.send(Frame::Ping(Vec::new().into())).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = sink.close().await;
            kill.cancel();
        })
    };

    let mut reader = Reader {
        state: &state,
        conn,
        peer: None,
        docs: HashSet::new(),
        outbox: outbox.clone(),
        kill: kill.clone(),
        user,
    };
    let mut rate = RateLimit::new(
        config.messages_per_second,
        config.message_burst,
        Instant::now(),
    );
    // Whether reading stopped on a transport error (the peer can no longer be read).
    let mut read_failed = false;
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = kill.cancelled() => break,
        };
        let Some(frame) = frame else { break };
        last_heard.store(millis_since(start), Ordering::Relaxed);
        let keep_going = match frame {
            Ok(Frame::Binary(_)) | Ok(Frame::Text(_)) if !rate.take(Instant::now()) => reader
                .refuse(
                    Refusal::Rate,
                    CLOSE_POLICY,
                    "too many messages: this connection is over its rate limit",
                ),
            Ok(Frame::Binary(bytes)) if reader.peer.is_none() && bytes.len() > MAX_JOIN_BYTES => {
                reader.refuse(Refusal::Size, CLOSE_TOO_BIG, "the join message is too big")
            }
            Ok(Frame::Binary(bytes)) => reader.on_message(&bytes).await,
            Ok(Frame::Text(_)) => reader.refuse(
                Refusal::Malformed,
                CLOSE_UNSUPPORTED,
                "messages are binary CBOR frames",
            ),
            Ok(Frame::Ping(_)) | Ok(Frame::Pong(_)) => true,
            Ok(Frame::Close(_)) => false,
            Err(e) => {
                read_failed = true;
                let text = e.to_string();
                if text.contains("too long")
                    || text.contains("too big")
                    || text.contains("Space limit")
                {
                    reader.refuse(Refusal::Size, CLOSE_TOO_BIG, "message too big")
                } else {
                    debug!("read failed: {text}");
                    false
                }
            }
        };
        if !keep_going {
            break;
        }
    }
    if !read_failed {
        // After refusing a peer, keep reading (and discarding) until it answers our close;
        // then the writer may close the socket at once. After a read error the writer
        // lingers instead, since the peer's answer can no longer be read.
        let _ = tokio::time::timeout(LINGER, async {
            while let Some(Ok(frame)) = stream.next().await {
                if matches!(frame, Frame::Close(_)) {
                    break;
                }
            }
        })
        .await;
        peer_closed.cancel();
    }
    for doc in std::mem::take(&mut reader.docs) {
        state
            .registry
            .send_if_loaded(doc, DocCommand::Leave { conn })
            .await;
    }
    drop(reader);
    drop(outbox);
    // Let the writer flush a pending close frame, but not forever.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    debug!("connection closed");
}

struct Reader<'a> {
    state: &'a AppState,
    conn: ConnId,
    /// Set by the handshake.
    peer: Option<PeerId>,
    docs: HashSet<DocumentId>,
    outbox: mpsc::Sender<Outgoing>,
    kill: CancellationToken,
    /// Who signed in on this connection.
    user: UserId,
}

impl Reader<'_> {
    /// Sends a protocol `error` and closes; returns false (stop reading).
    fn refuse(&self, reason: Refusal, code: u16, why: &str) -> bool {
        warn!(code, "refusing peer: {why}");
        self.state.registry.metrics().refused(reason);
        let _ = self.outbox.try_send(Outgoing::Message(Message::Error {
            sender: Some(self.state.registry.server_peer().clone()),
            target: self.peer.clone(),
            message: why.to_owned(),
        }));
        if self
            .outbox
            .try_send(Outgoing::Close {
                code,
                reason: why.to_owned(),
            })
            .is_err()
        {
            self.kill.cancel();
        }
        false
    }

    fn link(&self, peer: &PeerId) -> PeerLink {
        PeerLink {
            conn: self.conn,
            peer: peer.clone(),
            user: self.user.clone(),
            outbox: self.outbox.clone(),
            kill: self.kill.clone(),
        }
    }

    /// Handles one binary frame; returns false when the connection must end.
    async fn on_message(&mut self, bytes: &[u8]) -> bool {
        let msg = match Message::decode(bytes) {
            Ok(msg) => msg,
            Err(e) => {
                return self.refuse(
                    Refusal::Malformed,
                    CLOSE_PROTOCOL,
                    &format!("malformed message: {e}"),
                )
            }
        };
        let Some(me) = self.peer.clone() else {
            return self.handshake(msg);
        };
        match msg {
            Message::Join { .. } => self.refuse(
                Refusal::Malformed,
                CLOSE_POLICY,
                "join was already received",
            ),
            Message::Peer { .. } => self.refuse(
                Refusal::Malformed,
                CLOSE_PROTOCOL,
                "peer is sent by servers only",
            ),
            Message::Request {
                sender,
                document,
                data,
                ..
            } if sender == me => self.sync(&me, document, data, true).await,
            Message::Sync {
                sender,
                document,
                data,
                ..
            } if sender == me => self.sync(&me, document, data, false).await,
            Message::Ephemeral {
                sender,
                document,
                count,
                session,
                data,
                ..
            } if sender == me => {
                if !self.docs.contains(&document) {
                    // Presence for a document this peer does not sync is dropped.
                    return true;
                }
                let cmd = DocCommand::Ephemeral {
                    link: self.link(&me),
                    count,
                    session,
                    data,
                };
                self.state.registry.send(document, cmd).await.is_ok()
            }
            Message::Request { .. } | Message::Sync { .. } | Message::Ephemeral { .. } => self
                .refuse(
                    Refusal::Malformed,
                    CLOSE_POLICY,
                    "senderId does not match the handshake",
                ),
            Message::DocUnavailable { .. } | Message::Ignored { .. } => true,
            Message::Leave { .. } => false,
            Message::Error { message, .. } => {
                info!("peer reported an error: {message}");
                false
            }
        }
    }

    async fn sync(
        &mut self,
        me: &PeerId,
        document: DocumentId,
        data: Vec<u8>,
        request: bool,
    ) -> bool {
        if !self.docs.contains(&document) && self.docs.len() >= MAX_DOCS_PER_CONNECTION {
            return self.refuse(
                Refusal::Rate,
                CLOSE_POLICY,
                "too many documents on one connection",
            );
        }
        self.docs.insert(document);
        let cmd = DocCommand::Sync {
            link: self.link(me),
            data,
            request,
        };
        self.state.registry.send(document, cmd).await.is_ok()
    }

    fn handshake(&mut self, msg: Message) -> bool {
        let Message::Join {
            sender,
            supported_versions,
            ..
        } = msg
        else {
            return self.refuse(
                Refusal::Malformed,
                CLOSE_PROTOCOL,
                "the first message must be join",
            );
        };
        if !supported_versions.iter().any(|v| v == PROTOCOL_VERSION) {
            return self.refuse(
                Refusal::Malformed,
                CLOSE_PROTOCOL,
                "unsupported protocol version (this server speaks 1)",
            );
        }
        tracing::Span::current().record("peer_id", sender.as_str());
        let reply = Message::Peer {
            sender: self.state.registry.server_peer().clone(),
            target: sender.clone(),
            selected_version: PROTOCOL_VERSION.to_owned(),
            metadata: Some(PeerMetadata {
                storage_id: Some(self.state.storage_id.clone()),
                is_ephemeral: false,
            }),
        };
        self.peer = Some(sender);
        self.outbox.try_send(Outgoing::Message(reply)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_allows_a_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let mut rate = RateLimit::new(10, 3, start);
        assert!((0..3).all(|_| rate.take(start)), "a burst of 3");
        assert!(!rate.take(start), "then nothing at once");
        let later = |ms| start + Duration::from_millis(ms);
        assert!(!rate.take(later(50)), "half a message refilled");
        assert!(rate.take(later(100)), "one message per 100 ms");
        assert!(!rate.take(later(100)));
        // Idle for a minute refills the burst, not more.
        let idle = later(60_100);
        assert!((0..3).all(|_| rate.take(idle)));
        assert!(!rate.take(idle));
    }
}
