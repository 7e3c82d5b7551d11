//! Identifiers that cross the model's boundary: items, people, times, and the author bound to an Automerge actor.

use std::fmt;

use automerge::ActorId;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::IdError;

/// Alphabet of generated item ids: lowercase letters and digits without look-alikes.
const ID_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789_";
/// Length of a generated item id: 14 symbols of 5 bits = 70 random bits.
const GENERATED_ID_LEN: usize = 14;
/// Longest item id accepted from a document or a caller.
const MAX_ID_LEN: usize = 64;

/// The stable id of an item inside a spec (story, criterion, constraint, decision, question, metric).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemId(String);

impl ItemId {
    /// A fresh random id. Randomness is passed in so callers (and tests) control it.
    pub fn random(rng: &mut impl RngCore) -> ItemId {
        let mut bytes = [0u8; GENERATED_ID_LEN];
        rng.fill_bytes(&mut bytes);
        let id = bytes
            .iter()
            .map(|b| char::from(ID_ALPHABET[usize::from(b & 31)]))
            .collect();
        ItemId(id)
    }

    /// Parses an id read from a document, a URL or Markdown.
    pub fn parse(s: &str) -> Result<ItemId, IdError> {
        let valid = !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(ItemId(s.to_owned()))
        } else {
            Err(IdError::InvalidItemId(s.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ItemId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ItemId::parse(&s)
    }
}

impl From<ItemId> for String {
    fn from(id: ItemId) -> String {
        id.0
    }
}

/// Longest user id accepted.
const MAX_USER_LEN: usize = 64;

/// A person's stable account id (not their display name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Accepts 1–64 bytes of ASCII letters, digits, `.`, `_` and `-`.
    pub fn parse(s: &str) -> Result<UserId, IdError> {
        let valid = !s.is_empty()
            && s.len() <= MAX_USER_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(UserId(s.to_owned()))
        } else {
            Err(IdError::InvalidUserId(s.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for UserId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UserId::parse(&s)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0
    }
}

/// Milliseconds since the Unix epoch. The model never reads a clock: callers pass the time in.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// Whole seconds, the unit of an Automerge change's `time` field.
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

/// First byte of every Duet actor id, so a Duet actor is recognisable among other Automerge actors.
pub const ACTOR_MAGIC: u8 = 0xD7;
/// Version of the actor id layout below.
const ACTOR_LAYOUT_V1: u8 = 1;
/// Random bytes that make each editing session's actor unique.
const SESSION_LEN: usize = 8;

/// The person making changes in one editing session, bound to the Automerge actor id.
///
/// Every change an actor makes carries the actor id, so binding the person into it makes
/// each change attributable in a form a server can check per change: the actor bytes are
/// `[0xD7, 1, session (8 random bytes), user id (UTF-8)]`. A server accepts a change only if
/// the user in its actor is the signed-in sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Author {
    user: UserId,
    session: [u8; SESSION_LEN],
}

impl Author {
    /// A new editing session for `user`; each session gets its own actor.
    pub fn new(user: UserId, rng: &mut impl RngCore) -> Author {
        let mut session = [0u8; SESSION_LEN];
        rng.fill_bytes(&mut session);
        Author { user, session }
    }

    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The Automerge actor id that carries this author.
    pub fn actor_id(&self) -> ActorId {
        let mut bytes = Vec::with_capacity(2 + SESSION_LEN + self.user.0.len());
        bytes.push(ACTOR_MAGIC);
        bytes.push(ACTOR_LAYOUT_V1);
        bytes.extend_from_slice(&self.session);
        bytes.extend_from_slice(self.user.0.as_bytes());
        ActorId::from(bytes)
    }

    /// Reads the author out of an actor id; fails for actors that are not Duet authors.
    pub fn from_actor(actor: &ActorId) -> Result<Author, IdError> {
        let bytes = actor.to_bytes();
        let [magic, layout, rest @ ..] = bytes else {
            return Err(IdError::NotADuetActor);
        };
        if *magic != ACTOR_MAGIC || *layout != ACTOR_LAYOUT_V1 || rest.len() <= SESSION_LEN {
            return Err(IdError::NotADuetActor);
        }
        let (session_bytes, user_bytes) = rest.split_at(SESSION_LEN);
        let user = std::str::from_utf8(user_bytes).map_err(|_| IdError::NotADuetActor)?;
        let mut session = [0u8; SESSION_LEN];
        session.copy_from_slice(session_bytes);
        Ok(Author {
            user: UserId::parse(user)?,
            session,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn author_round_trips_through_actor_id() {
        let mut rng = StdRng::seed_from_u64(7);
        let author = Author::new(UserId::parse("ada.l").expect("valid"), &mut rng);
        let back = Author::from_actor(&author.actor_id()).expect("duet actor");
        assert_eq!(back, author);
        assert_eq!(back.user().as_str(), "ada.l");
    }

    #[test]
    fn two_sessions_of_one_user_have_different_actors() {
        let mut rng = StdRng::seed_from_u64(7);
        let user = UserId::parse("ada").expect("valid");
        let a = Author::new(user.clone(), &mut rng);
        let b = Author::new(user, &mut rng);
        assert_ne!(a.actor_id(), b.actor_id());
    }

    #[test]
    fn foreign_actor_ids_are_not_authors() {
        for bytes in [
            vec![],
            vec![0xD7],
            vec![0xD7, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![0xD7, 2, 0, 0, 0, 0, 0, 0, 0, 0, b'a'],
            vec![0xD7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF],
            vec![0xD7, 1, 0, 0, 0, 0, 0, 0, 0, 0, b' '],
            ActorId::random().to_bytes().to_vec(),
        ] {
            assert!(
                Author::from_actor(&ActorId::from(bytes.clone())).is_err(),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn item_ids_are_random_and_valid() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = ItemId::random(&mut rng);
        let b = ItemId::random(&mut rng);
        assert_ne!(a, b);
        assert_eq!(ItemId::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn ids_reject_empty_long_and_odd_characters() {
        assert!(ItemId::parse("").is_err());
        assert!(ItemId::parse(&"a".repeat(65)).is_err());
        assert!(ItemId::parse("a b").is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("é").is_err());
        assert!(UserId::parse("x/y").is_err());
    }

    #[test]
    fn seconds_round_down_for_negative_times() {
        assert_eq!(UnixMillis(1999).as_secs(), 1);
        assert_eq!(UnixMillis(-1).as_secs(), -1);
    }
}
