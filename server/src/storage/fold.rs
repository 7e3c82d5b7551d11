//! Folded chunks: a run of a document's stored chunks concatenated and deflated into one.
//!
//! A chunk of raw changes does not compress on its own (one keystroke is ~180 bytes, a
//! third of them hashes), but 64 of them together deflate ~2.4× (20 people typing at
//! once). Compaction rewrites the whole snapshot whenever the chunks stored since weigh
//! as much as it, so chunks that weigh less make compaction that much rarer. A folded
//! chunk starts with [`MAGIC`], which no Automerge chunk does (theirs start with
//! `85 6f 4a 83`); the bytes after it inflate to the chunks it replaces, at most
//! [`MAX_BYTES`] of them.

use std::io::{Read, Write};

use flate2::{read::DeflateDecoder, write::DeflateEncoder, Compression};

/// What every folded chunk starts with.
pub const MAGIC: &[u8] = b"DUETFOLD\x01";

/// The most a folded chunk holds once inflated: chunks are only folded while together
/// they weigh no more, so anything larger on disk is not Duet's and is refused.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Folds `chunks` (concatenated in order) into one chunk, or `None` when together they
/// weigh more than [`MAX_BYTES`].
pub fn fold<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    for chunk in chunks {
        raw.extend_from_slice(chunk);
        if raw.len() > MAX_BYTES {
            return None;
        }
    }
    let mut encoder = DeflateEncoder::new(MAGIC.to_vec(), Compression::default());
    // Writing into a Vec cannot fail.
    encoder.write_all(&raw).ok()?;
    encoder.finish().ok()
}

/// Why a folded chunk read from disk was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnfoldError {
    #[error("folded chunk does not inflate: {0}")]
    Damaged(String),
    #[error("folded chunk inflates beyond {MAX_BYTES} bytes")]
    TooBig,
}

/// The chunks a folded chunk holds, concatenated; `Ok(None)` if `bytes` is not folded.
pub fn unfold(bytes: &[u8]) -> Result<Option<Vec<u8>>, UnfoldError> {
    let Some(deflated) = bytes.strip_prefix(MAGIC) else {
        return Ok(None);
    };
    let mut raw = Vec::new();
    DeflateDecoder::new(deflated)
        .take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| UnfoldError::Damaged(e.to_string()))?;
    if raw.len() > MAX_BYTES {
        return Err(UnfoldError::TooBig);
    }
    Ok(Some(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_chunks_unfold_to_the_same_bytes_in_the_same_order() {
        let chunks: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 100 + i as usize]).collect();
        let folded = fold(chunks.iter().map(Vec::as_slice)).expect("small enough to fold");
        assert!(folded.starts_with(MAGIC));
        assert!(folded.len() < chunks.iter().map(Vec::len).sum::<usize>());
        assert_eq!(unfold(&folded), Ok(Some(chunks.concat())));
    }

    #[test]
    fn an_automerge_chunk_is_not_folded() {
        assert_eq!(unfold(&[0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]), Ok(None));
        assert_eq!(unfold(b""), Ok(None));
    }

    #[test]
    fn chunks_weighing_more_than_the_limit_are_not_folded() {
        let big = vec![7u8; MAX_BYTES / 2 + 1];
        assert_eq!(fold([big.as_slice(), big.as_slice()]), None);
        assert!(fold([big.as_slice()]).is_some());
    }

    #[test]
    fn a_damaged_or_oversized_folded_chunk_is_refused() {
        let mut garbage = MAGIC.to_vec();
        garbage.extend_from_slice(&[0xff; 40]);
        assert!(unfold(&garbage).is_err());
        // A small file that inflates to more than the limit (a deflate bomb).
        let mut encoder = DeflateEncoder::new(MAGIC.to_vec(), Compression::best());
        encoder
            .write_all(&vec![0u8; MAX_BYTES + 1])
            .expect("write to a Vec");
        let bomb = encoder.finish().expect("finish a Vec");
        assert!(bomb.len() < 4096);
        assert_eq!(unfold(&bomb), Err(UnfoldError::TooBig));
        // Cut short.
        let folded = fold([b"some chunk bytes".as_slice()]).expect("fold");
        assert!(unfold(&folded[..folded.len() - 3]).is_err());
    }
}
