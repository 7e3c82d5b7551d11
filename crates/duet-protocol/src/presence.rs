//! Presence: who has a spec open, in which field, with which selection — the CBOR payload of `ephemeral` messages, and how often it is announced.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

/// How often a page announces itself while the spec is open.
pub const HEARTBEAT_MS: u64 = 1_500;
/// A person who has not announced themselves for this long has left.
pub const EXPIRE_MS: u64 = 5_000;

const MAX_STRING: usize = 200;
const MAX_ENTRIES: u64 = 16;

/// One tab's presence in one spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The author id recorded on this person's changes.
    pub user: String,
    /// The display name they chose.
    pub name: String,
    /// Their colour, `#rrggbb`.
    pub color: String,
    /// The field they are in (the page's field key), if any.
    pub field: Option<String>,
    /// Their selection in that field, UTF-16 `start..end` (equal for a caret).
    pub selection: Option<(u32, u32)>,
    /// The selection was made backwards: the caret is at its start.
    pub backward: bool,
    /// The tab is closing: forget it now rather than after `EXPIRE_MS`.
    pub leaving: bool,
}

/// Why a presence payload was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    #[error("presence is not a CBOR map of scalars: {0}")]
    Malformed(String),
    #[error("presence field `{0}` is missing or invalid")]
    Invalid(&'static str),
}

impl From<minicbor::decode::Error> for PresenceError {
    fn from(e: minicbor::decode::Error) -> Self {
        PresenceError::Malformed(e.to_string())
    }
}

type EncodeResult = Result<(), minicbor::encode::Error<std::convert::Infallible>>;

impl Presence {
    /// `user` (shown as `name`, in `color`) with the spec open, in no field.
    pub fn new(user: &str, name: &str, color: &str) -> Presence {
        Presence {
            user: user.to_owned(),
            name: name.to_owned(),
            color: color.to_owned(),
            field: None,
            selection: None,
            backward: false,
            leaving: false,
        }
    }
    /// The payload: a CBOR map with string keys, readable by any automerge-repo peer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        let written: EncodeResult = (|| {
            let len = 4
                + u64::from(self.field.is_some())
                + 2 * u64::from(self.selection.is_some())
                + u64::from(self.backward);
            e.map(len)?;
            e.str("user")?.str(&self.user)?;
            e.str("name")?.str(&self.name)?;
            e.str("color")?.str(&self.color)?;
            e.str("leaving")?.bool(self.leaving)?;
            if let Some(field) = &self.field {
                e.str("field")?.str(field)?;
            }
            if let Some((start, end)) = self.selection {
                e.str("start")?.u32(start)?;
                e.str("end")?.u32(end)?;
            }
            if self.backward {
                e.str("backward")?.bool(true)?;
            }
            Ok(())
        })();
        // Writing to a Vec cannot fail.
        debug_assert!(written.is_ok());
        out
    }

    /// Reads a payload from another peer (untrusted): bounded strings, a valid colour.
    pub fn decode(bytes: &[u8]) -> Result<Presence, PresenceError> {
        let mut d = Decoder::new(bytes);
        let Some(len) = d.map()? else {
            return Err(PresenceError::Malformed("indefinite map".into()));
        };
        if len > MAX_ENTRIES {
            return Err(PresenceError::Malformed("too many entries".into()));
        }
        let mut p = Presence {
            user: String::new(),
            name: String::new(),
            color: String::new(),
            field: None,
            selection: None,
            backward: false,
            leaving: false,
        };
        let (mut start, mut end) = (None, None);
        for _ in 0..len {
            if d.datatype()? != Type::String {
                return Err(PresenceError::Malformed(
                    "a key that is not a string".into(),
                ));
            }
            let key = d.str()?;
            match key {
                "user" => p.user = string(&mut d, "user")?,
                "name" => p.name = string(&mut d, "name")?,
                "color" => p.color = string(&mut d, "color")?,
                "field" => p.field = Some(string(&mut d, "field")?),
                "backward" => {
                    p.backward = d.bool().map_err(|_| PresenceError::Invalid("backward"))?
                }
                "leaving" => p.leaving = d.bool().map_err(|_| PresenceError::Invalid("leaving"))?,
                "start" => start = Some(d.u32().map_err(|_| PresenceError::Invalid("start"))?),
                "end" => end = Some(d.u32().map_err(|_| PresenceError::Invalid("end"))?),
                _ => skip_scalar(&mut d)?,
            }
        }
        if p.user.is_empty() {
            return Err(PresenceError::Invalid("user"));
        }
        if !is_colour(&p.color) {
            return Err(PresenceError::Invalid("color"));
        }
        if p.name.trim().is_empty() {
            p.name.clone_from(&p.user);
        }
        p.selection = match (start, end) {
            (Some(s), Some(e)) if s <= e => Some((s, e)),
            _ => None,
        };
        Ok(p)
    }
}

fn string(d: &mut Decoder<'_>, field: &'static str) -> Result<String, PresenceError> {
    if d.datatype()? != Type::String {
        return Err(PresenceError::Invalid(field));
    }
    let s = d.str()?;
    if s.len() > MAX_STRING {
        return Err(PresenceError::Invalid(field));
    }
    Ok(s.to_owned())
}

/// Skips a value of a key this version does not know, refusing nested ones (no recursion
/// on untrusted input).
fn skip_scalar(d: &mut Decoder<'_>) -> Result<(), PresenceError> {
    match d.datatype()? {
        Type::Array | Type::ArrayIndef | Type::Map | Type::MapIndef | Type::Tag => Err(
            PresenceError::Malformed("a nested value under an unknown key".into()),
        ),
        _ => Ok(d.skip()?),
    }
}

/// `#rrggbb`, so the colour can go into a style safely.
pub fn is_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> Presence {
        Presence {
            field: Some("story/abc/i_want".into()),
            selection: Some((2, 5)),
            backward: true,
            ..Presence::new("ada", "Ada 結", "#3153d4")
        }
    }

    #[test]
    fn presence_round_trips_through_cbor() {
        let p = ada();
        assert_eq!(Presence::decode(&p.encode()), Ok(p));
        let idle = Presence {
            field: None,
            selection: None,
            ..ada()
        };
        assert_eq!(Presence::decode(&idle.encode()), Ok(idle));
    }

    #[test]
    fn hostile_presence_is_refused_not_trusted() {
        let bad_colour = Presence {
            color: "red; position: fixed".into(),
            ..ada()
        };
        assert_eq!(
            Presence::decode(&bad_colour.encode()),
            Err(PresenceError::Invalid("color"))
        );
        let long = Presence {
            name: "x".repeat(5000),
            ..ada()
        };
        assert_eq!(
            Presence::decode(&long.encode()),
            Err(PresenceError::Invalid("name"))
        );
        for bytes in [
            &[][..],
            &[0xa1, 0x61, 0x78, 0x9f][..],
            &[0xbf][..],
            &[0x01][..],
            &[0xa1, 0x01, 0x02][..],
        ] {
            assert!(Presence::decode(bytes).is_err(), "{bytes:?}");
        }
        let mut nested = vec![0xa1, 0x61, b'z'];
        nested.extend(std::iter::repeat_n(0x81, 100_000));
        nested.push(0x00);
        assert!(Presence::decode(&nested).is_err());
    }
}
