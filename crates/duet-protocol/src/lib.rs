//! duet-protocol: the automerge-repo network protocol v1 — CBOR messages over binary websocket frames, document ids, the handshake — and Duet's ephemeral payloads (presence, notices). Sans-IO.
//!
//! Only this crate knows the wire format. It is shared by the server, the browser client
//! and tools (the load generator), and builds for wasm32.

mod error;
mod ids;
mod message;
mod notice;
mod presence;

pub use error::IdError;
pub use ids::{DocumentId, PeerId, MAX_PEER_ID_LEN, URL_PREFIX};
pub use message::{DecodeError, Message, PeerMetadata, PROTOCOL_VERSION};
pub use notice::Notice;
pub use presence::{is_colour, Presence, PresenceError, EXPIRE_MS, HEARTBEAT_MS};
