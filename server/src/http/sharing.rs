//! Who has a spec: its members and their roles, share links, and the Markdown export.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use duet_model::{markdown, Author, Spec, UserId};
use duet_protocol::DocumentId;
use serde::{Deserialize, Serialize};

use super::access::{DocumentInPath, SpecInPath};
use super::auth::Caller;
use super::error::AppError;
use super::state::AppState;
use crate::accounts::LinkError;
use crate::docs::{DocCommand, Granter};
use crate::storage::Role;

/// The sharing routes: members and roles, share links, the Markdown export.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/specs/{id}/markdown", get(spec_markdown))
        .route("/api/specs/{id}/roles", get(list_roles))
        .route(
            "/api/specs/{id}/roles/{user}",
            put(set_role).delete(remove_role),
        )
        .route("/api/specs/{id}/links", get(list_links).post(create_link))
        .route("/api/specs/{id}/links/{link}", delete(revoke_link))
        .route("/api/share/{token}", post(redeem_link))
}

/// The author of the edits the server makes for `user` (a spec created over REST).
pub(crate) fn author_for(user: &UserId) -> Author {
    Author::new(user.clone(), &mut rand::rng())
}

async fn spec_markdown(
    State(state): State<AppState>,
    SpecInPath { caller, id, .. }: SpecInPath,
) -> Result<Response, AppError> {
    let bytes = state
        .registry
        .ask(id, |reply| DocCommand::Read { reply })
        .await?;
    let spec = Spec::load(&bytes, author_for(&caller.user))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let md = markdown::export(&spec.view());
    Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], md).into_response())
}

/// Someone with a role on a spec, as the sharing panel shows them.
#[derive(Debug, Serialize)]
struct Member {
    username: String,
    display_name: String,
    colour: String,
    role: Role,
}

async fn member(state: &AppState, username: String, role: Role) -> Result<Member, AppError> {
    let name = username.clone();
    let user = state.accounts.run(move |a| a.user(&name)).await??;
    Ok(match user {
        Some(u) => Member {
            username: u.username,
            display_name: u.display_name,
            colour: u.colour,
            role,
        },
        None => Member {
            display_name: username.clone(),
            username,
            colour: "#6b7280".into(),
            role,
        },
    })
}

async fn list_roles(
    State(state): State<AppState>,
    DocumentInPath { id, .. }: DocumentInPath,
) -> Result<Json<Vec<Member>>, AppError> {
    let mut members = Vec::new();
    for (user, role) in state.registry.store().roles(id).await? {
        members.push(member(&state, user, role).await?);
    }
    members.sort_by(|a, b| b.role.cmp(&a.role).then(a.username.cmp(&b.username)));
    Ok(Json(members))
}

#[derive(Debug, Deserialize)]
struct RoleBody {
    role: String,
}

fn parse_role(s: &str) -> Result<Role, AppError> {
    Role::parse(s).ok_or_else(|| AppError::Invalid("role must be owner, editor or viewer".into()))
}

/// Asks the spec's actor to change a role (it checks that `by` is an owner).
pub(crate) async fn change_role(
    state: &AppState,
    id: DocumentId,
    by: Granter,
    user: UserId,
    role: Option<Role>,
) -> Result<Option<Role>, AppError> {
    Ok(state
        .registry
        .ask(id, |reply| DocCommand::SetRole {
            by,
            user,
            role,
            reply,
        })
        .await?)
}

async fn set_role(
    State(state): State<AppState>,
    doc: DocumentInPath,
    Path((_, user)): Path<(String, String)>,
    Json(body): Json<RoleBody>,
) -> Result<Json<Member>, AppError> {
    let role = parse_role(&body.role)?;
    let DocumentInPath { caller, id, .. } = doc.owner()?;
    let name = user.clone();
    if state.accounts.run(move |a| a.user(&name)).await??.is_none() {
        return Err(AppError::Missing(format!("there is no user named {user}")));
    }
    let user_id = UserId::parse(&user).map_err(|e| AppError::Invalid(e.to_string()))?;
    change_role(
        &state,
        id,
        Granter::Member(caller.user.clone()),
        user_id,
        Some(role),
    )
    .await?;
    Ok(Json(member(&state, user, role).await?))
}

async fn remove_role(
    State(state): State<AppState>,
    doc: DocumentInPath,
    Path((_, user)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let DocumentInPath { caller, id, .. } = doc.owner()?;
    let user_id = UserId::parse(&user).map_err(|e| AppError::Invalid(e.to_string()))?;
    change_role(
        &state,
        id,
        Granter::Member(caller.user.clone()),
        user_id,
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct NewLink {
    role: String,
    expires_in_hours: u64,
}

async fn create_link(
    State(state): State<AppState>,
    doc: DocumentInPath,
    Json(body): Json<NewLink>,
) -> Result<(StatusCode, Json<crate::accounts::Link>), AppError> {
    let role = parse_role(&body.role)?;
    if !(1..=8760).contains(&body.expires_in_hours) {
        return Err(AppError::Invalid(
            "expires_in_hours must be between 1 and 8760 (a year)".into(),
        ));
    }
    let DocumentInPath { caller, id, .. } = doc.owner()?;
    let by = caller.user.to_string();
    let ttl = Duration::from_secs(body.expires_in_hours * 3600);
    let link = state
        .accounts
        .run(move |a| a.create_link(id, role, ttl, &by))
        .await??;
    Ok((StatusCode::CREATED, Json(link)))
}

async fn list_links(
    State(state): State<AppState>,
    doc: DocumentInPath,
) -> Result<Json<Vec<crate::accounts::Link>>, AppError> {
    let id = doc.owner()?.id;
    Ok(Json(state.accounts.run(move |a| a.links(id)).await??))
}

async fn revoke_link(
    State(state): State<AppState>,
    doc: DocumentInPath,
    Path((_, link)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let id = doc.owner()?.id;
    if state
        .accounts
        .run(move |a| a.revoke_link(id, &link))
        .await??
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::Missing("no such link".into()))
    }
}

async fn redeem_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let (id, role) = state
        .accounts
        .run(move |a| a.redeem(&token))
        .await?
        .map_err(|e| match e {
            LinkError::Invalid => AppError::Invalid(e.to_string()),
            LinkError::Expired | LinkError::Revoked => AppError::Expired(e.to_string()),
            LinkError::Io(m) => AppError::Internal(m),
        })?;
    let granted = change_role(&state, id, Granter::Link, caller.user.clone(), Some(role))
        .await?
        .unwrap_or(role);
    tracing::info!(user = %caller.user, doc = %id, role = granted.as_str(), "share link redeemed");
    Ok(Json(
        serde_json::json!({ "spec": id.to_string(), "role": granted }),
    ))
}
