//! Who may do what with the document: roles and their changes, creating it, its place in the spec list, and whom presence is relayed to.

use duet_model::automerge::Automerge;
use duet_model::UserId;

use super::storing::load_chunk;
use super::{Engine, Remote, CLOSE_POLICY};
use crate::docs::{ConnId, DocError, Granter};
use crate::storage::{DocumentMeta, Role, Write};

/// What an owner does to a spec's place in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingChange {
    Archive(bool),
    Delete,
    Undelete,
}

impl Engine {
    /// `user`'s role; nobody has one on a deleted spec.
    pub fn role_of(&self, user: &UserId) -> Option<Role> {
        if self.meta.deleted_at.is_some() {
            return None;
        }
        self.roles.get(user.as_str()).copied()
    }

    /// Records a role change, to be committed with this batch.
    pub(super) fn set_role(&mut self, user: &str, role: Option<Role>) {
        self.synced_at = None;
        match role {
            Some(r) => self.roles.insert(user.to_owned(), r),
            None => self.roles.remove(user),
        };
        self.role_writes.push((user.to_owned(), role));
        if role.is_none() {
            // Their connections lose the document at once.
            let gone: Vec<ConnId> = self
                .peers
                .iter()
                .filter(|(_, p)| p.remote.user.as_str() == user)
                .map(|(c, _)| *c)
                .collect();
            for conn in gone {
                if let Some(peer) = self.peers.remove(&conn) {
                    self.unavailable(&peer.remote);
                }
            }
        }
    }

    /// Handles a role change asked by `by`: an owner, a verified share link or an
    /// operator.
    pub fn change_role(
        &mut self,
        by: &Granter,
        user: &UserId,
        role: Option<Role>,
    ) -> Result<Option<Role>, DocError> {
        if !self.exists() && self.roles.is_empty() {
            return Err(DocError::NotFound);
        }
        let current = self.role_of(user);
        match by {
            Granter::Member(by) => match self.role_of(by) {
                Some(Role::Owner) => {}
                Some(_) => {
                    return Err(DocError::Forbidden(
                        "only the spec's owners can change who has access".into(),
                    ))
                }
                None => return Err(DocError::NotFound),
            },
            // A share link never lowers a role.
            Granter::Link if current >= role => return Ok(current),
            Granter::Link | Granter::Admin => {}
        }
        let owners = self.roles.values().filter(|r| **r == Role::Owner).count();
        if current == Some(Role::Owner) && role != Some(Role::Owner) && owners <= 1 {
            return Err(DocError::LastOwner);
        }
        if current != role {
            self.set_role(user.as_str(), role);
        }
        Ok(role)
    }

    /// Creates the document from saved bytes (REST), owned by `owner`.
    pub fn create(&mut self, bytes: &[u8], owner: &UserId) -> Result<(), DocError> {
        if self.exists() {
            return Err(DocError::AlreadyExists);
        }
        let mut doc = Automerge::new();
        load_chunk(&mut doc, bytes).map_err(|e| DocError::Corrupt(e.to_string()))?;
        self.doc = Some(doc);
        self.set_role(owner.as_str(), Some(Role::Owner));
        Ok(())
    }

    /// The refusal for someone who is not an owner: 404 without a role (the spec's
    /// existence stays hidden), 403 with one.
    pub(super) fn not_owner(&self, user: &UserId, what: &str) -> DocError {
        match self.role_of(user) {
            None => DocError::NotFound,
            Some(_) => DocError::Forbidden(format!("only an owner can {what} this spec")),
        }
    }

    /// An owner archives or un-archives, deletes or brings back the spec. Deleting closes
    /// every connection to it: from then on nobody can open it (see [`role_of`](Self::role_of))
    /// until an owner brings it back.
    pub fn set_listing(
        &mut self,
        by: &UserId,
        change: ListingChange,
        now: i64,
    ) -> Result<DocumentMeta, DocError> {
        // The raw role: an owner of a deleted spec can still bring it back.
        let owner = self.roles.get(by.as_str()) == Some(&Role::Owner);
        if self.doc.as_ref().is_none_or(|d| d.get_heads().is_empty()) {
            return Err(DocError::NotFound);
        }
        let deleted = self.meta.deleted_at.is_some();
        match (&change, owner, deleted) {
            (_, false, true) => return Err(DocError::NotFound),
            (_, false, false) => {
                let what = match change {
                    ListingChange::Archive(_) => "archive",
                    ListingChange::Delete | ListingChange::Undelete => "delete",
                };
                return Err(self.not_owner(by, what));
            }
            (ListingChange::Undelete, true, false) => {
                return Err(DocError::Conflict("this spec is not deleted".into()))
            }
            (ListingChange::Archive(_) | ListingChange::Delete, true, true) => {
                return Err(DocError::NotFound)
            }
            _ => {}
        }
        match change {
            ListingChange::Archive(archived) => self.meta.archived = archived,
            ListingChange::Delete => {
                self.meta.deleted_at = Some(now);
                self.close_all(CLOSE_POLICY, "this spec was deleted");
            }
            ListingChange::Undelete => self.meta.deleted_at = None,
        }
        self.sign_writes.push(Write::Listing {
            doc: self.id,
            archived: self.meta.archived,
            deleted_at: self.meta.deleted_at,
        });
        Ok(self.meta.clone())
    }

    /// The connections presence from `from` is relayed to: the others with a role.
    pub fn relay_targets(&self, from: &Remote) -> Vec<Remote> {
        if self.role_of(&from.user).is_none() {
            return Vec::new();
        }
        self.peers
            .values()
            .map(|p| &p.remote)
            .filter(|r| r.conn != from.conn && self.role_of(&r.user).is_some())
            .cloned()
            .collect()
    }
}
