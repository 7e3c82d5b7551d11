//! Errors of the wire protocol: malformed ids and undecodable messages.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error(
        "invalid document id (expected bs58check of 16 bytes, optionally prefixed by `automerge:`)"
    )]
    InvalidDocumentId,
    #[error("invalid peer id (expected 1-128 printable characters)")]
    InvalidPeerId,
}
