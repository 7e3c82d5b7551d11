//! Writing to the spec on a person's behalf from the server: restoring a version (or part of one) and renaming.

use duet_model::automerge::{AutoCommit, ChangeHash};
use duet_model::{Author, RestoreScope, Spec, TextField, UnixMillis};

use super::Engine;
use crate::docs::DocError;
use crate::storage::Role;

impl Engine {
    /// `author`, who must be able to edit (stored and sent with the batch).
    pub fn restore(
        &mut self,
        author: Author,
        to: &[ChangeHash],
        scope: &RestoreScope,
        now: UnixMillis,
    ) -> Result<(), DocError> {
        self.write_as(author, |spec| {
            spec.restore(to, scope, now).map_err(restore_error)
        })
    }

    /// Renames the spec: a change of its title by `author`, who must be an owner.
    pub fn rename(&mut self, author: Author, title: &str, now: UnixMillis) -> Result<(), DocError> {
        if self.role_of(author.user()) != Some(Role::Owner) {
            return Err(self.not_owner(author.user(), "rename"));
        }
        self.write_as(author, |spec| {
            let old = spec.view().title;
            if old == title {
                return Ok(());
            }
            spec.set_text(&TextField::Title, title, now)
                .map_err(|e| DocError::BadVersion(e.to_string()))
        })
    }

    /// Writes what `edit` does to the spec as one new change by `author`, who must be able
    /// to edit.
    fn write_as(
        &mut self,
        author: Author,
        edit: impl FnOnce(&mut Spec) -> Result<(), DocError>,
    ) -> Result<(), DocError> {
        match self.role_of(author.user()) {
            None => return Err(DocError::NotFound),
            Some(role) if !role.can_edit() => {
                return Err(DocError::Forbidden(
                    "you can view this spec but not change it (your role is viewer)".into(),
                ))
            }
            Some(_) => {}
        }
        let Some(doc) = self.doc.as_mut().filter(|d| !d.get_heads().is_empty()) else {
            return Err(DocError::NotFound);
        };
        let copy = AutoCommit::load(&doc.save()).map_err(|e| DocError::Corrupt(e.to_string()))?;
        let mut spec =
            Spec::from_doc(copy, author).map_err(|e| DocError::Corrupt(e.to_string()))?;
        edit(&mut spec)?;
        let heads = doc.get_heads();
        let new: Vec<duet_model::automerge::Change> = spec
            .doc_mut()
            .get_changes(&heads)
            .into_iter()
            .cloned()
            .collect();
        doc.apply_changes(new)
            .map_err(|e| DocError::Corrupt(e.to_string()))?;
        Ok(())
    }
}

/// What a failed restore tells the person: a version or item that cannot be brought back
/// is their request's fault; anything else is the document's.
pub(crate) fn restore_error(e: duet_model::EditError) -> DocError {
    match e {
        duet_model::EditError::UnknownVersion | duet_model::EditError::NotInVersion => {
            DocError::BadVersion(e.to_string())
        }
        duet_model::EditError::MissingPart(_) | duet_model::EditError::NoSuchItem { .. } => {
            DocError::BadVersion(e.to_string())
        }
        other => DocError::Corrupt(other.to_string()),
    }
}
