//! Who wrote each change: a Duet actor names its user; any other actor is bound to the first user who sends it, for every document of the server.

use std::collections::HashMap;
use std::sync::Mutex;

use duet_model::automerge::{ActorId, ChangeHash};
use duet_model::{Author, UserId};

use super::Engine;

/// Non-Duet actor ids and the user each is bound to (on first use), shared by every
/// document of a server.
pub type Bindings = Mutex<HashMap<Vec<u8>, String>>;

/// Why a peer's changes were refused as not theirs.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    #[error("change {hash} is authored as {claimed}, but this connection is signed in as {user}")]
    Forged {
        hash: ChangeHash,
        claimed: UserId,
        user: UserId,
    },
    #[error("change {hash} uses actor {actor}, which belongs to another user")]
    ActorTaken { hash: ChangeHash, actor: ActorId },
}

fn lock(bindings: &Bindings) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, String>> {
    // Single inserts and lookups only: a poisoned lock is still consistent.
    bindings.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Checks that each `new` change is authored by `user`: a Duet actor naming them, or
    /// another actor bound to them (bound here on first use). On success the new bindings
    /// are recorded, to be stored with the changes.
    pub(super) fn verify_authors(
        &mut self,
        new: &[(ChangeHash, ActorId)],
        user: &UserId,
        bindings: &Bindings,
    ) -> Result<(), AuthorError> {
        let mut bound = lock(bindings);
        let mut unbound: Vec<Vec<u8>> = Vec::new();
        for (hash, actor) in new {
            let bytes = actor.to_bytes();
            match Author::from_actor(actor) {
                Ok(author) if author.user() == user => {}
                Ok(author) => {
                    return Err(AuthorError::Forged {
                        hash: *hash,
                        claimed: author.user().clone(),
                        user: user.clone(),
                    })
                }
                // Any other actor (a plain automerge actor, even one whose first byte
                // happens to be the Duet one) is bound to the first user who sends it.
                Err(_) => match bound.get(bytes) {
                    Some(owner) if owner == user.as_str() => {}
                    Some(_) => {
                        return Err(AuthorError::ActorTaken {
                            hash: *hash,
                            actor: actor.clone(),
                        })
                    }
                    None if unbound.iter().any(|n| n == bytes) => {}
                    None => unbound.push(bytes.to_vec()),
                },
            }
        }
        // Bound under the same lock they were checked with: two documents binding one new
        // actor at once cannot both win.
        for actor in unbound {
            bound.insert(actor.clone(), user.to_string());
            self.new_bindings.push((actor, user.to_string()));
        }
        Ok(())
    }

    /// The user a stored change is attributed to (`None`: the shared skeleton of a spec).
    pub(super) fn author_of(
        &self,
        hash: &ChangeHash,
        actor: &ActorId,
        bindings: &Bindings,
    ) -> Option<String> {
        if *hash == duet_model::skeleton_hash() {
            return None;
        }
        Some(match Author::from_actor(actor) {
            Ok(author) => author.user().to_string(),
            Err(_) => lock(bindings)
                .get(actor.to_bytes())
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned()),
        })
    }
}
