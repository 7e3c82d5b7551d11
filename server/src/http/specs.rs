//! The spec list and a spec's place in it: list (search, filters), create, read one, and an owner's rename, archive, delete and undelete (a deleted spec can be brought back for 30 days, then it is purged).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::DocumentId;
use serde::{Deserialize, Serialize};

use super::access::{access, parse_id, SpecInPath};
use super::auth::Caller;
use super::error::AppError;
use super::history::{profiles, Profile};
use super::sharing::author_for;
use super::state::AppState;
use crate::docs::engine::ListingChange;
use crate::docs::DocCommand;
use crate::storage::{DocumentMeta, Role, KEEP_DELETED_MS};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/specs", get(list_specs).post(create_spec))
        .route("/api/specs/events", get(super::live::list_events))
        .route(
            "/api/specs/{id}",
            get(spec_meta).patch(change_spec).delete(delete_spec),
        )
        .route("/api/specs/{id}/undelete", post(undelete_spec))
}

/// A spec as the list shows it.
#[derive(Debug, Serialize)]
struct SpecSummary {
    id: String,
    url: String,
    title: String,
    updated_at: i64,
    authors: Vec<String>,
    /// The authors as people are shown (display name, colour), in the same order; only
    /// in the list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    people: Vec<Profile>,
    /// How many stories are fully signed, partly signed, or stale; done, of how many.
    signs: duet_model::signoff::SignCounts,
    /// The caller's role on it.
    role: Role,
    archived: bool,
    /// When an owner deleted it (Unix ms); it is purged 30 days later.
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_at: Option<i64>,
}

impl SpecSummary {
    fn new(m: DocumentMeta, role: Role) -> Self {
        SpecSummary {
            url: format!("{}{}", duet_protocol::URL_PREFIX, m.id),
            id: m.id,
            title: m.title,
            updated_at: m.updated_at,
            authors: m.authors,
            people: Vec::new(),
            signs: m.signs,
            role,
            archived: m.archived,
            deleted_at: m.deleted_at,
        }
    }
}

/// What the list asks for: `q` searches titles and text; `filter` is `mine` (owned),
/// `shared` (others'), `archived` or `deleted` (an owner's, for 30 days); without one,
/// every spec that is neither archived nor deleted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

async fn list_specs(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<SpecSummary>>, AppError> {
    let needle = query
        .q
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    if needle.as_ref().is_some_and(|q| q.len() > 200) {
        return Err(AppError::Invalid("search for at most 200 bytes".into()));
    }
    let keep: fn(&DocumentMeta, Role) -> bool = match query.filter.as_deref() {
        None | Some("" | "all") => |m, _| !m.archived && m.deleted_at.is_none(),
        Some("mine") => |m, r| r == Role::Owner && !m.archived && m.deleted_at.is_none(),
        Some("shared") => |m, r| r != Role::Owner && !m.archived && m.deleted_at.is_none(),
        Some("archived") => |m, _| m.archived && m.deleted_at.is_none(),
        Some("deleted") => |m, r| r == Role::Owner && m.deleted_at.is_some(),
        Some(other) => {
            return Err(AppError::Invalid(format!(
                "filter must be mine, shared, archived or deleted, not {other:?}"
            )))
        }
    };
    let metas = state
        .registry
        .store()
        .search_for(caller.user.as_str(), needle)
        .await?;
    let mut list: Vec<SpecSummary> = metas
        .into_iter()
        .filter(|(m, role)| m.is_spec && keep(m, *role))
        .map(|(m, role)| SpecSummary::new(m, role))
        .collect();
    // Everyone named in the list, read once.
    let mut users: Vec<String> = list.iter().flat_map(|s| s.authors.clone()).collect();
    users.sort();
    users.dedup();
    let people = profiles(&state, users).await?;
    for spec in &mut list {
        spec.people = spec
            .authors
            .iter()
            .filter_map(|a| people.iter().find(|p| &p.username == a).cloned())
            .collect();
    }
    Ok(Json(list))
}

async fn spec_meta(SpecInPath { meta, role, .. }: SpecInPath) -> Json<SpecSummary> {
    Json(SpecSummary::new(meta, role))
}

#[derive(Debug, Default, Deserialize)]
struct CreateSpec {
    #[serde(default)]
    title: String,
}

async fn create_spec(
    State(state): State<AppState>,
    caller: Caller,
    body: Option<Json<CreateSpec>>,
) -> Result<(StatusCode, Json<SpecSummary>), AppError> {
    let Json(body) = body.unwrap_or_default();
    if body.title.len() > 1000 {
        return Err(AppError::Invalid("title is longer than 1000 bytes".into()));
    }
    let now = UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    );
    let mut spec = Spec::new(author_for(&caller.user));
    spec.set_text(&TextField::Title, &body.title, now)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let id = DocumentId::random(&mut rand::rng());
    let bytes = spec.save();
    state
        .registry
        .ask(id, |reply| DocCommand::Create {
            bytes,
            owner: caller.user.clone(),
            reply,
        })
        .await?;
    let meta = state
        .registry
        .store()
        .meta(id)
        .await?
        .ok_or_else(|| AppError::Internal("created spec has no metadata".into()))?;
    Ok((
        StatusCode::CREATED,
        Json(SpecSummary::new(meta, Role::Owner)),
    ))
}

/// What an owner changes from the list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecChange {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    archived: Option<bool>,
}

const CHANGE_USAGE: &str =
    "send JSON {\"title\": \"…\"} to rename, {\"archived\": true | false} to archive or bring back";

/// An owner renames or (un)archives a spec.
async fn change_spec(
    State(state): State<AppState>,
    SpecInPath { caller, id, .. }: SpecInPath,
    body: Option<Json<SpecChange>>,
) -> Result<Json<SpecSummary>, AppError> {
    let Some(Json(change)) = body else {
        return Err(AppError::Invalid(CHANGE_USAGE.into()));
    };
    if change.title.is_none() && change.archived.is_none() {
        return Err(AppError::Invalid(CHANGE_USAGE.into()));
    }
    if let Some(title) = change.title {
        let title = title.trim().to_owned();
        if title.is_empty() || title.len() > 1000 {
            return Err(AppError::Invalid("a title is 1 to 1000 bytes".into()));
        }
        state
            .registry
            .ask(id, |reply| DocCommand::Rename {
                by: caller.user.clone(),
                title,
                reply,
            })
            .await?;
    }
    if let Some(archived) = change.archived {
        listing(&state, &caller, id, ListingChange::Archive(archived)).await?;
    }
    let (meta, role) = access(&state, &caller, id).await?;
    Ok(Json(SpecSummary::new(meta, role)))
}

/// Asks the spec's actor to change its place in the list (it checks the caller owns it).
async fn listing(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
    change: ListingChange,
) -> Result<DocumentMeta, AppError> {
    Ok(state
        .registry
        .ask(id, |reply| DocCommand::Listing {
            by: caller.user.clone(),
            change,
            reply,
        })
        .await?)
}

/// What a deletion answers: when it happened and until when it can be undone.
#[derive(Debug, Serialize)]
struct Deleted {
    id: String,
    deleted_at: i64,
    purge_at: i64,
}

/// An owner deletes a spec: nobody can open it any more; the owner can bring it back
/// for 30 days.
async fn delete_spec(
    State(state): State<AppState>,
    SpecInPath { caller, id, .. }: SpecInPath,
) -> Result<Json<Deleted>, AppError> {
    let meta = listing(&state, &caller, id, ListingChange::Delete).await?;
    let deleted_at = meta.deleted_at.unwrap_or_default();
    Ok(Json(Deleted {
        id: id.to_string(),
        deleted_at,
        purge_at: deleted_at + KEEP_DELETED_MS,
    }))
}

/// An owner brings back a spec they deleted.
async fn undelete_spec(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SpecSummary>, AppError> {
    let id = parse_id(&id)?;
    // Not `access`: that refuses deleted specs. The actor checks the caller owns it.
    listing(&state, &caller, id, ListingChange::Undelete).await?;
    let (meta, role) = access(&state, &caller, id).await?;
    Ok(Json(SpecSummary::new(meta, role)))
}
