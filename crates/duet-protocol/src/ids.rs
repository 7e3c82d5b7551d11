//! Identifiers on the wire: `DocumentId` (16 bytes, bs58check, `automerge:` URLs) and `PeerId`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::IdError;

/// The URL scheme automerge-repo uses for documents.
pub const URL_PREFIX: &str = "automerge:";

/// An automerge-repo document id: 16 random bytes, written as bs58check (base58 of the
/// bytes followed by the first four bytes of their double SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// A fresh random id (randomness passed in).
    pub fn random(rng: &mut impl RngCore) -> DocumentId {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        DocumentId(bytes)
    }

    pub fn from_bytes(bytes: [u8; 16]) -> DocumentId {
        DocumentId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:<id>` URL of the document.
    pub fn url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }

    /// Parses an id, with or without the `automerge:` prefix.
    pub fn parse(s: &str) -> Result<DocumentId, IdError> {
        let s = s.strip_prefix(URL_PREFIX).unwrap_or(s);
        // A 16-byte payload plus checksum is at most 28 base58 characters.
        if s.is_empty() || s.len() > 40 {
            return Err(IdError::InvalidDocumentId);
        }
        let bytes = bs58::decode(s)
            .with_check(None)
            .into_vec()
            .map_err(|_| IdError::InvalidDocumentId)?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| IdError::InvalidDocumentId)?;
        Ok(DocumentId(bytes))
    }
}

/// How many ids' text each thread remembers.
const TEXTS_KEPT: usize = 16;

thread_local! {
    /// The text of the last ids written on this thread, oldest first.
    static TEXTS: RefCell<Vec<(DocumentId, Rc<str>)>> = const { RefCell::new(Vec::new()) };
}

impl DocumentId {
    /// Its bs58check text, remembered for the last few ids written on this thread: the
    /// encoding hashes twice with SHA-256, and a server writes the same few ids into
    /// every message it sends (3% of its CPU with 50 people on one spec).
    fn text(&self) -> Rc<str> {
        TEXTS.with(|texts| {
            let mut texts = texts.borrow_mut();
            if let Some((_, text)) = texts.iter().find(|(id, _)| id == self) {
                return Rc::clone(text);
            }
            let text: Rc<str> = bs58::encode(self.0).with_check().into_string().into();
            if texts.len() == TEXTS_KEPT {
                texts.remove(0);
            }
            texts.push((*self, Rc::clone(&text)));
            text
        })
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentId::parse(s)
    }
}

impl TryFrom<String> for DocumentId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DocumentId::parse(&s)
    }
}

impl From<DocumentId> for String {
    fn from(id: DocumentId) -> String {
        id.to_string()
    }
}

/// Longest peer id accepted from the network.
pub const MAX_PEER_ID_LEN: usize = 128;

/// The id a peer announces for itself in the handshake (any short string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerId(String);

impl PeerId {
    pub fn new(s: &str) -> Result<PeerId, IdError> {
        if s.is_empty() || s.len() > MAX_PEER_ID_LEN || s.chars().any(char::is_control) {
            return Err(IdError::InvalidPeerId);
        }
        Ok(PeerId(s.to_owned()))
    }

    /// A random peer id with a readable prefix, e.g. `duet-server-3f9a…`.
    pub fn random(prefix: &str, rng: &mut impl RngCore) -> PeerId {
        let mut bytes = [0u8; 8];
        rng.fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        PeerId(format!("{prefix}-{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn document_ids_round_trip_through_text_and_urls() {
        let id = DocumentId::random(&mut StdRng::seed_from_u64(1));
        assert_eq!(DocumentId::parse(&id.to_string()), Ok(id));
        assert_eq!(DocumentId::parse(&id.url()), Ok(id));
        assert!(id.url().starts_with("automerge:"));
    }

    #[test]
    fn a_known_automerge_repo_id_decodes() {
        // bs58check of 16 zero bytes, as automerge-repo writes it.
        let zero = DocumentId::from_bytes([0; 16]);
        let text = zero.to_string();
        assert_eq!(DocumentId::parse(&text), Ok(zero));
        assert!(text.starts_with("1111111111111111"), "{text}");
    }

    #[test]
    fn bad_document_ids_are_refused() {
        let good = DocumentId::random(&mut StdRng::seed_from_u64(2)).to_string();
        let mut flipped = good.clone().into_bytes();
        flipped[3] = if flipped[3] == b'a' { b'b' } else { b'a' };
        for bad in [
            "",
            "automerge:",
            "0OIl",
            &"z".repeat(100),
            &String::from_utf8(flipped).expect("ascii"),
            "2Ch5xjB1bXzDgz", // too short a payload
        ] {
            assert!(DocumentId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn peer_ids_are_short_printable_strings() {
        assert!(PeerId::new("browser-1").is_ok());
        assert!(PeerId::new("").is_err());
        assert!(PeerId::new("a\nb").is_err());
        assert!(PeerId::new(&"p".repeat(129)).is_err());
    }

    #[test]
    fn every_id_reads_the_same_however_many_ids_are_written_in_between() {
        let mut rng = StdRng::seed_from_u64(5);
        let ids: Vec<DocumentId> = (0..3 * TEXTS_KEPT)
            .map(|_| DocumentId::random(&mut rng))
            .collect();
        for round in 0..3 {
            for (i, id) in ids.iter().enumerate() {
                let direct = bs58::encode(id.0).with_check().into_string();
                assert_eq!(id.to_string(), direct, "round {round}, id {i}");
                // Written again at once: remembered.
                assert_eq!(id.to_string(), direct);
            }
        }
    }
}
