//! Notices the server sends a spec's peers on the ephemeral channel — a CBOR map `{"notice": name}` — telling them to fetch something again (sign-offs, for now).

use minicbor::{Decoder, Encoder};

/// Something about a spec that changed outside its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Someone signed a story: its sign-offs are worth fetching again.
    SignOffs,
}

impl Notice {
    fn name(self) -> &'static str {
        match self {
            Notice::SignOffs => "signoffs",
        }
    }

    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        let written: Result<(), minicbor::encode::Error<std::convert::Infallible>> = (|| {
            e.map(1)?.str("notice")?.str(self.name())?;
            Ok(())
        })();
        // Writing to a Vec cannot fail.
        debug_assert!(written.is_ok());
        out
    }

    /// Reads a notice; `None` for anything else (presence, or unknown notices).
    pub fn decode(bytes: &[u8]) -> Option<Notice> {
        let mut d = Decoder::new(bytes);
        if d.map().ok()? != Some(1) || d.str().ok()? != "notice" {
            return None;
        }
        match d.str().ok()? {
            "signoffs" => Some(Notice::SignOffs),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::Presence;

    #[test]
    fn a_notice_reads_back_and_is_never_taken_for_presence() {
        let bytes = Notice::SignOffs.encode();
        assert_eq!(Notice::decode(&bytes), Some(Notice::SignOffs));
        assert!(Presence::decode(&bytes).is_err());
        assert_eq!(Notice::decode(b"\xa1\x66notice\x63xyz"), None);
        assert_eq!(Notice::decode(&[]), None);
    }
}
