//! The automerge-repo v1 messages and their CBOR encoding. Decoding is total: any bytes give a message or a typed error.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use crate::ids::{DocumentId, PeerId};

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: &str = "1";

/// Longest string accepted for ids, versions and session ids.
const MAX_SHORT_STRING: usize = 256;
/// Longest human-readable error message accepted.
const MAX_ERROR_MESSAGE: usize = 4096;
/// Most entries accepted in any map or array of a message.
const MAX_ENTRIES: u64 = 64;

/// What a peer tells about itself in the handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMetadata {
    /// The peer's storage id, if it stores documents.
    pub storage_id: Option<String>,
    /// Whether the peer keeps nothing (a server is not ephemeral).
    pub is_ephemeral: bool,
}

/// One message of the automerge-repo network protocol v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client → server: the first message, offering protocol versions.
    Join {
        sender: PeerId,
        supported_versions: Vec<String>,
        metadata: Option<PeerMetadata>,
    },
    /// Server → client: the handshake reply, naming the chosen version.
    Peer {
        sender: PeerId,
        target: PeerId,
        selected_version: String,
        metadata: Option<PeerMetadata>,
    },
    /// Asks for a document the sender does not have; `data` is an Automerge sync message.
    Request {
        sender: PeerId,
        target: PeerId,
        document: DocumentId,
        data: Vec<u8>,
    },
    /// An Automerge sync message for a document.
    Sync {
        sender: PeerId,
        target: PeerId,
        document: DocumentId,
        data: Vec<u8>,
    },
    /// The answer to a `request` for a document the sender does not have either.
    DocUnavailable {
        sender: PeerId,
        target: PeerId,
        document: DocumentId,
    },
    /// Presence and other passing data, relayed and never stored.
    Ephemeral {
        sender: PeerId,
        target: PeerId,
        count: u64,
        session: String,
        document: DocumentId,
        data: Vec<u8>,
    },
    /// The sender refuses something; the connection usually closes after it.
    Error {
        sender: Option<PeerId>,
        target: Option<PeerId>,
        message: String,
    },
    /// The sender is going away.
    Leave { sender: PeerId },
    /// A message type this server reads but has no use for
    /// (`remote-subscription-change`, `remote-heads-changed`).
    Ignored { kind: &'static str },
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a CBOR map: {0}")]
    Malformed(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("field `{0}` has the wrong type or an invalid value")]
    InvalidField(&'static str),
    #[error("field `{0}` is too long")]
    TooLong(&'static str),
    #[error("trailing bytes after the message")]
    TrailingBytes,
}

impl From<minicbor::decode::Error> for DecodeError {
    fn from(e: minicbor::decode::Error) -> Self {
        DecodeError::Malformed(e.to_string())
    }
}

impl Message {
    /// The message's type name on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::Peer { .. } => "peer",
            Message::Request { .. } => "request",
            Message::Sync { .. } => "sync",
            Message::DocUnavailable { .. } => "doc-unavailable",
            Message::Ephemeral { .. } => "ephemeral",
            Message::Error { .. } => "error",
            Message::Leave { .. } => "leave",
            Message::Ignored { kind } => kind,
        }
    }

    /// A `request` (asking for a document the sender lacks) or a `sync` carrying `data`.
    pub fn sync_or_request(
        request: bool,
        sender: PeerId,
        target: PeerId,
        document: DocumentId,
        data: Vec<u8>,
    ) -> Message {
        if request {
            Message::Request {
                sender,
                target,
                document,
                data,
            }
        } else {
            Message::Sync {
                sender,
                target,
                document,
                data,
            }
        }
    }

    /// Encodes the message as one CBOR map (a binary websocket frame).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        // Writing into a Vec cannot fail.
        let _ = encode_into(self, &mut e);
        e.into_writer()
    }

    /// Decodes one message. Never panics; allocations are bounded by the input's length.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut d = Decoder::new(bytes);
        let fields = Fields::read(&mut d)?;
        if d.position() != bytes.len() {
            return Err(DecodeError::TrailingBytes);
        }
        fields.into_message()
    }
}

type EncodeResult = Result<(), minicbor::encode::Error<std::convert::Infallible>>;

fn encode_metadata(e: &mut Encoder<Vec<u8>>, m: &PeerMetadata) -> EncodeResult {
    let n = 1 + u64::from(m.storage_id.is_some());
    e.map(n)?;
    if let Some(id) = &m.storage_id {
        e.str("storageId")?.str(id)?;
    }
    e.str("isEphemeral")?.bool(m.is_ephemeral)?;
    Ok(())
}

fn encode_into(m: &Message, e: &mut Encoder<Vec<u8>>) -> EncodeResult {
    match m {
        Message::Join {
            sender,
            supported_versions,
            metadata,
        } => {
            e.map(3 + u64::from(metadata.is_some()))?;
            e.str("type")?.str("join")?;
            e.str("senderId")?.str(sender.as_str())?;
            e.str("supportedProtocolVersions")?
                .array(supported_versions.len() as u64)?;
            for v in supported_versions {
                e.str(v)?;
            }
            if let Some(meta) = metadata {
                e.str("peerMetadata")?;
                encode_metadata(e, meta)?;
            }
        }
        Message::Peer {
            sender,
            target,
            selected_version,
            metadata,
        } => {
            e.map(4 + u64::from(metadata.is_some()))?;
            e.str("type")?.str("peer")?;
            e.str("senderId")?.str(sender.as_str())?;
            e.str("targetId")?.str(target.as_str())?;
            e.str("selectedProtocolVersion")?.str(selected_version)?;
            if let Some(meta) = metadata {
                e.str("peerMetadata")?;
                encode_metadata(e, meta)?;
            }
        }
        Message::Request {
            sender,
            target,
            document,
            data,
        }
        | Message::Sync {
            sender,
            target,
            document,
            data,
        } => {
            e.map(5)?;
            e.str("type")?.str(m.kind())?;
            e.str("senderId")?.str(sender.as_str())?;
            e.str("targetId")?.str(target.as_str())?;
            e.str("documentId")?.str(&document.to_string())?;
            e.str("data")?.bytes(data)?;
        }
        Message::DocUnavailable {
            sender,
            target,
            document,
        } => {
            e.map(4)?;
            e.str("type")?.str("doc-unavailable")?;
            e.str("senderId")?.str(sender.as_str())?;
            e.str("targetId")?.str(target.as_str())?;
            e.str("documentId")?.str(&document.to_string())?;
        }
        Message::Ephemeral {
            sender,
            target,
            count,
            session,
            document,
            data,
        } => {
            e.map(7)?;
            e.str("type")?.str("ephemeral")?;
            e.str("senderId")?.str(sender.as_str())?;
            e.str("targetId")?.str(target.as_str())?;
            e.str("count")?.u64(*count)?;
            e.str("sessionId")?.str(session)?;
            e.str("documentId")?.str(&document.to_string())?;
            e.str("data")?.bytes(data)?;
        }
        Message::Error {
            sender,
            target,
            message,
        } => {
            e.map(2 + u64::from(sender.is_some()) + u64::from(target.is_some()))?;
            e.str("type")?.str("error")?;
            if let Some(s) = sender {
                e.str("senderId")?.str(s.as_str())?;
            }
            if let Some(t) = target {
                e.str("targetId")?.str(t.as_str())?;
            }
            e.str("message")?.str(message)?;
        }
        Message::Leave { sender } => {
            e.map(2)?;
            e.str("type")?.str("leave")?;
            e.str("senderId")?.str(sender.as_str())?;
        }
        Message::Ignored { kind } => {
            e.map(1)?;
            e.str("type")?.str(kind)?;
        }
    }
    Ok(())
}

/// The fields of a message map, as read; validated by `into_message`.
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    sender: Option<String>,
    target: Option<String>,
    document: Option<String>,
    data: Option<Vec<u8>>,
    count: Option<u64>,
    session: Option<String>,
    message: Option<String>,
    supported_versions: Option<Vec<String>>,
    selected_version: Option<String>,
    metadata: Option<PeerMetadata>,
}

/// Reads a string of at most `max` bytes.
fn short_str(d: &mut Decoder<'_>, field: &'static str, max: usize) -> Result<String, DecodeError> {
    if d.datatype()? != Type::String {
        return Err(DecodeError::InvalidField(field));
    }
    let s = d.str()?;
    if s.len() > max {
        return Err(DecodeError::TooLong(field));
    }
    Ok(s.to_owned())
}

/// Reads a byte string, definite or chunked.
fn byte_string(d: &mut Decoder<'_>, field: &'static str) -> Result<Vec<u8>, DecodeError> {
    match d.datatype()? {
        Type::Bytes => Ok(d.bytes()?.to_vec()),
        Type::BytesIndef => {
            let mut out = Vec::new();
            for chunk in d.bytes_iter()? {
                out.extend_from_slice(chunk?);
            }
            Ok(out)
        }
        _ => Err(DecodeError::InvalidField(field)),
    }
}

/// Calls `entry` for each key of a (definite or indefinite) map with at most MAX_ENTRIES keys.
fn for_each_entry(
    d: &mut Decoder<'_>,
    mut entry: impl FnMut(&mut Decoder<'_>, &str) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let len = d.map()?;
    let mut seen = 0u64;
    loop {
        match len {
            Some(n) if seen == n => break,
            None if d.datatype()? == Type::Break => {
                d.skip()?;
                break;
            }
            _ => {}
        }
        seen += 1;
        if seen > MAX_ENTRIES {
            return Err(DecodeError::Malformed("too many map entries".into()));
        }
        if d.datatype()? != Type::String {
            // automerge-repo only uses string keys; skip any other key and its value.
            d.skip()?;
            d.skip()?;
            continue;
        }
        let key = d.str()?.to_owned();
        entry(d, &key)?;
    }
    Ok(())
}

fn read_metadata(d: &mut Decoder<'_>) -> Result<PeerMetadata, DecodeError> {
    if !matches!(d.datatype()?, Type::Map | Type::MapIndef) {
        return Err(DecodeError::InvalidField("peerMetadata"));
    }
    let mut meta = PeerMetadata::default();
    for_each_entry(d, |d, key| {
        match key {
            "storageId" if d.datatype()? == Type::String => {
                meta.storage_id = Some(short_str(d, "storageId", MAX_SHORT_STRING)?)
            }
            "isEphemeral" if d.datatype()? == Type::Bool => meta.is_ephemeral = d.bool()?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(meta)
}

impl Fields {
    fn read(d: &mut Decoder<'_>) -> Result<Fields, DecodeError> {
        if !matches!(d.datatype()?, Type::Map | Type::MapIndef) {
            return Err(DecodeError::Malformed("a message is a CBOR map".into()));
        }
        let mut f = Fields::default();
        for_each_entry(d, |d, key| {
            match key {
                "type" => f.kind = Some(short_str(d, "type", MAX_SHORT_STRING)?),
                "senderId" => f.sender = Some(short_str(d, "senderId", MAX_SHORT_STRING)?),
                "targetId" => f.target = Some(short_str(d, "targetId", MAX_SHORT_STRING)?),
                "documentId" => f.document = Some(short_str(d, "documentId", MAX_SHORT_STRING)?),
                "sessionId" => f.session = Some(short_str(d, "sessionId", MAX_SHORT_STRING)?),
                "message" => f.message = Some(short_str(d, "message", MAX_ERROR_MESSAGE)?),
                "selectedProtocolVersion" => {
                    f.selected_version =
                        Some(short_str(d, "selectedProtocolVersion", MAX_SHORT_STRING)?)
                }
                "data" => f.data = Some(byte_string(d, "data")?),
                "count" => {
                    if !matches!(d.datatype()?, Type::U8 | Type::U16 | Type::U32 | Type::U64) {
                        return Err(DecodeError::InvalidField("count"));
                    }
                    f.count = Some(d.u64()?);
                }
                "supportedProtocolVersions" => {
                    if d.datatype()? != Type::Array {
                        return Err(DecodeError::InvalidField("supportedProtocolVersions"));
                    }
                    let n = d.array()?.unwrap_or(0);
                    if n > MAX_ENTRIES {
                        return Err(DecodeError::TooLong("supportedProtocolVersions"));
                    }
                    let mut versions = Vec::new();
                    for _ in 0..n {
                        versions.push(short_str(d, "supportedProtocolVersions", MAX_SHORT_STRING)?);
                    }
                    f.supported_versions = Some(versions);
                }
                "peerMetadata" => f.metadata = Some(read_metadata(d)?),
                _ => d.skip()?,
            }
            Ok(())
        })?;
        Ok(f)
    }

    fn into_message(self) -> Result<Message, DecodeError> {
        let kind = self.kind.ok_or(DecodeError::MissingField("type"))?;
        let peer = |v: Option<String>, field: &'static str| -> Result<PeerId, DecodeError> {
            let v = v.ok_or(DecodeError::MissingField(field))?;
            PeerId::new(&v).map_err(|_| DecodeError::InvalidField(field))
        };
        let document = |v: Option<String>| -> Result<DocumentId, DecodeError> {
            let v = v.ok_or(DecodeError::MissingField("documentId"))?;
            DocumentId::parse(&v).map_err(|_| DecodeError::InvalidField("documentId"))
        };
        Ok(match kind.as_str() {
            "join" => Message::Join {
                sender: peer(self.sender, "senderId")?,
                supported_versions: self.supported_versions.unwrap_or_default(),
                metadata: self.metadata,
            },
            "peer" => Message::Peer {
                sender: peer(self.sender, "senderId")?,
                target: peer(self.target, "targetId")?,
                selected_version: self
                    .selected_version
                    .ok_or(DecodeError::MissingField("selectedProtocolVersion"))?,
                metadata: self.metadata,
            },
            "request" | "sync" => {
                let sender = peer(self.sender, "senderId")?;
                let target = peer(self.target, "targetId")?;
                let document = document(self.document)?;
                let data = self.data.ok_or(DecodeError::MissingField("data"))?;
                Message::sync_or_request(kind == "request", sender, target, document, data)
            }
            "doc-unavailable" => Message::DocUnavailable {
                sender: peer(self.sender, "senderId")?,
                target: peer(self.target, "targetId")?,
                document: document(self.document)?,
            },
            "ephemeral" => Message::Ephemeral {
                sender: peer(self.sender, "senderId")?,
                target: peer(self.target, "targetId")?,
                count: self.count.ok_or(DecodeError::MissingField("count"))?,
                session: self.session.ok_or(DecodeError::MissingField("sessionId"))?,
                document: document(self.document)?,
                data: self.data.ok_or(DecodeError::MissingField("data"))?,
            },
            "error" => Message::Error {
                sender: self.sender.and_then(|s| PeerId::new(&s).ok()),
                target: self.target.and_then(|s| PeerId::new(&s).ok()),
                message: self.message.unwrap_or_default(),
            },
            "leave" => Message::Leave {
                sender: peer(self.sender, "senderId")?,
            },
            "remote-subscription-change" => Message::Ignored {
                kind: "remote-subscription-change",
            },
            "remote-heads-changed" => Message::Ignored {
                kind: "remote-heads-changed",
            },
            other => return Err(DecodeError::UnknownType(other.chars().take(64).collect())),
        })
    }
}
