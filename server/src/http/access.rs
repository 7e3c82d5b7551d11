//! Who reaches which document over REST: the extractors that read `{id}` from the path and check the caller's role on it, so no handler can forget to.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use duet_protocol::DocumentId;

use super::auth::Caller;
use super::error::AppError;
use super::state::AppState;
use crate::storage::{DocumentMeta, Role};

const NO_SUCH_SPEC: &str = "no such spec (or you have no access to it)";

/// The spec named `{id}` in the path, the caller, and their role on it. 400 for a
/// malformed id; 404 when the caller has no role, the spec is deleted, or the document is
/// not a spec — so that a spec one may not see is not revealed.
#[derive(Debug)]
pub struct SpecInPath {
    pub caller: Caller,
    pub id: DocumentId,
    pub meta: DocumentMeta,
    pub role: Role,
}

/// As [`SpecInPath`], for any document the caller has a role on: a spec or another
/// automerge-repo document (sharing: roles and links).
#[derive(Debug)]
pub struct DocumentInPath {
    pub caller: Caller,
    pub id: DocumentId,
    pub role: Role,
}

impl DocumentInPath {
    /// 403 unless the caller owns the document.
    pub fn owner(self) -> Result<DocumentInPath, AppError> {
        match self.role {
            Role::Owner => Ok(self),
            _ => Err(AppError::NotAllowed(
                "only the spec's owners can share it".into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for SpecInPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let (caller, id, meta, role) = in_path(parts, state).await?;
        if !meta.is_spec {
            return Err(AppError::Missing(NO_SUCH_SPEC.into()));
        }
        Ok(SpecInPath {
            caller,
            id,
            meta,
            role,
        })
    }
}

impl FromRequestParts<AppState> for DocumentInPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let (caller, id, _, role) = in_path(parts, state).await?;
        Ok(DocumentInPath { caller, id, role })
    }
}

async fn in_path(
    parts: &mut Parts,
    state: &AppState,
) -> Result<(Caller, DocumentId, DocumentMeta, Role), AppError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let id = params
        .get("id")
        .ok_or_else(|| AppError::Internal("a route without {id} asked for one".into()))?;
    let id = parse_id(id)?;
    let (meta, role) = role_on(state, &caller, id).await?;
    Ok((caller, id, meta, role))
}

pub(crate) fn parse_id(id: &str) -> Result<DocumentId, AppError> {
    DocumentId::parse(id).map_err(|e| AppError::Invalid(e.to_string()))
}

/// The caller's role on spec `id` (for handlers that find the spec otherwise than in the
/// path); 404 as [`SpecInPath`].
pub(crate) async fn access(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
) -> Result<(DocumentMeta, Role), AppError> {
    match role_on(state, caller, id).await? {
        (meta, role) if meta.is_spec => Ok((meta, role)),
        _ => Err(AppError::Missing(NO_SUCH_SPEC.into())),
    }
}

/// The caller's role on document `id`, which must exist and not be deleted.
async fn role_on(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
) -> Result<(DocumentMeta, Role), AppError> {
    let roles = state.registry.store().roles(id).await?;
    let role = roles
        .into_iter()
        .find(|(u, _)| u == caller.user.as_str())
        .map(|(_, r)| r);
    let meta = state.registry.store().meta(id).await?;
    match (meta, role) {
        (Some(meta), Some(role)) if meta.deleted_at.is_none() => Ok((meta, role)),
        _ => Err(AppError::Missing(NO_SUCH_SPEC.into())),
    }
}
