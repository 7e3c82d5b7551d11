//! Splits Automerge bytes into their chunks (a V2 sync message or an incremental save concatenates several) without trusting any length in them.

/// The kind of one Automerge chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// A whole document (a save, or the first sync of a peer with nothing).
    Document,
    /// One change.
    Change,
    /// One deflate-compressed change.
    CompressedChange,
    /// A kind this version does not know.
    Unknown(u8),
}

/// One chunk: its kind and all its bytes, header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub kind: ChunkKind,
    pub bytes: &'a [u8],
}

/// Why bytes do not split into chunks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("not an Automerge chunk")]
    NotAChunk,
    #[error("truncated chunk")]
    Truncated,
    #[error("bad chunk length")]
    BadLength,
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// The chunks of `bytes`, in order; after the first error the iterator ends.
pub fn chunks(bytes: &[u8]) -> impl Iterator<Item = Result<Chunk<'_>, ChunkError>> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let bytes = rest.take().filter(|b| !b.is_empty())?;
        match split_one(bytes) {
            Ok((chunk, tail)) => {
                rest = Some(tail);
                Some(Ok(chunk))
            }
            Err(e) => Some(Err(e)),
        }
    })
}

/// magic (4) | checksum (4) | kind (1) | body length (unsigned LEB128) | body
fn split_one(bytes: &[u8]) -> Result<(Chunk<'_>, &[u8]), ChunkError> {
    if bytes.len() < 10 || bytes[..4] != MAGIC {
        return Err(ChunkError::NotAChunk);
    }
    let kind = match bytes[8] {
        0 => ChunkKind::Document,
        1 => ChunkKind::Change,
        2 => ChunkKind::CompressedChange,
        other => ChunkKind::Unknown(other),
    };
    let mut len: u64 = 0;
    let mut at = 9;
    let mut shift = 0u32;
    loop {
        let &b = bytes.get(at).ok_or(ChunkError::Truncated)?;
        if shift > 63 {
            return Err(ChunkError::BadLength);
        }
        len |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        at += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| at.checked_add(l))
        .ok_or(ChunkError::BadLength)?;
    if end > bytes.len() {
        return Err(ChunkError::Truncated);
    }
    let (chunk, tail) = bytes.split_at(end);
    Ok((Chunk { kind, bytes: chunk }, tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    #[test]
    fn concatenated_changes_split_into_each_change() {
        let mut doc = AutoCommit::new();
        for i in 0..3 {
            doc.put(ROOT, "k", i).expect("put");
            doc.commit();
        }
        let all: Vec<u8> = doc
            .get_changes(&[])
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        let split: Vec<Chunk<'_>> = chunks(&all).collect::<Result<_, _>>().expect("chunks");
        assert_eq!(split.len(), 3);
        assert!(split.iter().all(|c| c.kind == ChunkKind::Change));
        let saved = doc.save();
        let one: Vec<_> = chunks(&saved).collect::<Result<_, _>>().expect("doc");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].kind, ChunkKind::Document);
    }

    #[test]
    fn lying_lengths_and_garbage_are_errors() {
        assert_eq!(chunks(&[]).count(), 0);
        assert_eq!(
            chunks(b"hello world").next(),
            Some(Err(ChunkError::NotAChunk))
        );
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[0, 0, 0, 0, 1]);
        huge.extend_from_slice(&[0xff; 10]);
        huge.push(0x01);
        assert!(matches!(chunks(&huge).next(), Some(Err(_))));
        let mut short = MAGIC.to_vec();
        short.extend_from_slice(&[0, 0, 0, 0, 1, 100, 1, 2, 3]);
        assert_eq!(chunks(&short).next(), Some(Err(ChunkError::Truncated)));
    }
}
