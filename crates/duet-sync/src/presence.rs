//! Presence: who has a spec open, in which field, with which selection — the CBOR payload of `ephemeral` messages, and the roster that forgets people who stop announcing themselves.

use std::collections::BTreeMap;

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

/// The people in one spec, keyed by their tab's session, forgetting the silent.
#[derive(Debug, Default, Clone)]
pub struct Roster {
    people: BTreeMap<String, (Presence, u64)>,
}

impl Roster {
    /// Records what a tab announced at `now_ms`. Returns whether the roster changed.
    pub fn update(&mut self, session: &str, presence: Presence, now_ms: u64) -> bool {
        if presence.leaving {
            return self.people.remove(session).is_some();
        }
        let changed = self.people.get(session).is_none_or(|(p, _)| p != &presence);
        self.people.insert(session.to_owned(), (presence, now_ms));
        changed
    }

    /// Forgets tabs silent for `EXPIRE_MS`. Returns whether anyone was forgotten.
    pub fn expire(&mut self, now_ms: u64) -> bool {
        let before = self.people.len();
        self.people
            .retain(|_, (_, seen)| now_ms.saturating_sub(*seen) < EXPIRE_MS);
        self.people.len() != before
    }

    /// Everyone here, one entry per tab, in a stable order.
    pub fn people(&self) -> Vec<Presence> {
        self.people.values().map(|(p, _)| p.clone()).collect()
    }

    /// Forgets everyone (the connection was lost: presence restarts with it).
    pub fn clear(&mut self) -> bool {
        let had = !self.people.is_empty();
        self.people.clear();
        had
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> Presence {
        Presence {
            user: "ada".into(),
            name: "Ada 結".into(),
            color: "#3153d4".into(),
            field: Some("story/abc/i_want".into()),
            selection: Some((2, 5)),
            backward: true,
            leaving: false,
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

    #[test]
    fn the_roster_forgets_a_tab_that_leaves_or_goes_silent() {
        let mut r = Roster::default();
        assert!(r.update("tab-a", ada(), 0));
        assert!(
            !r.update("tab-a", ada(), 1_000),
            "the same announcement changes nothing"
        );
        let bo = Presence {
            user: "bo".into(),
            name: "Bo".into(),
            ..ada()
        };
        assert!(r.update("tab-b", bo.clone(), 1_000));
        assert_eq!(r.people().len(), 2);
        assert!(!r.expire(1_000 + EXPIRE_MS - 1));
        assert!(
            r.expire(1_000 + EXPIRE_MS),
            "both have been silent long enough"
        );
        assert!(r.people().is_empty());
        r.update("tab-b", bo.clone(), 10_000);
        assert!(r.update(
            "tab-b",
            Presence {
                leaving: true,
                ..bo
            },
            10_001
        ));
        assert!(r.people().is_empty());
    }
}
