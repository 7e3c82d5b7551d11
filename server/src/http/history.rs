//! REST for history by author: the change list, the timeline by author session, any version, diffs, blame, restore, and what changed since a person last looked.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_model::automerge::ChangeHash;
use duet_model::history::{Filter, PartFilter};
use duet_model::{ItemId, RestoreScope, TextField, UnixMillis, UserId};
use serde::{Deserialize, Serialize};

use super::access::SpecInPath;
use super::error::AppError;
use super::state::AppState;
use crate::docs::review::{HistoryAnswer, HistoryQuery, PlaceEntry, SessionEntry};
use crate::docs::{DocCommand, DocError};
use crate::storage::Write;

/// Most heads accepted in one version.
const MAX_HEADS: usize = 64;
/// Most authors in one filter.
const MAX_AUTHORS: usize = 64;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/specs/{id}/changes", get(changes))
        .route("/api/specs/{id}/history", get(timeline))
        .route("/api/specs/{id}/steps", get(steps))
        .route("/api/specs/{id}/version", get(version))
        .route("/api/specs/{id}/diff", get(diff))
        .route("/api/specs/{id}/blame", get(blame))
        .route("/api/specs/{id}/restore", post(restore))
        .route("/api/specs/{id}/since-seen", get(since_seen))
        .route("/api/specs/{id}/seen", post(seen))
}

type Params = Query<HashMap<String, String>>;

/// Parses a version: change hashes in hex, comma-separated (empty: the empty spec).
pub(crate) fn parse_heads(s: &str) -> Result<Vec<ChangeHash>, AppError> {
    let heads: Vec<ChangeHash> = s
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            ChangeHash::from_str(h).map_err(|_| {
                let shown: String = h.chars().take(80).collect();
                AppError::Invalid(format!(
                    "invalid version {shown:?}: expected change hashes of 64 hex digits, comma-separated"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    if heads.len() > MAX_HEADS {
        return Err(AppError::Invalid(format!(
            "a version has at most {MAX_HEADS} heads"
        )));
    }
    Ok(heads)
}

fn millis(params: &HashMap<String, String>, name: &str) -> Result<Option<UnixMillis>, AppError> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>().map(UnixMillis).map_err(|_| {
                AppError::Invalid(format!("{name} must be a time in Unix milliseconds"))
            })
        })
        .transpose()
}

fn filter_of(params: &HashMap<String, String>) -> Result<Filter, AppError> {
    let authors = params
        .get("author")
        .map(|a| {
            a.split(',')
                .filter(|u| !u.is_empty())
                .map(|u| UserId::parse(u).map_err(|e| AppError::Invalid(e.to_string())))
                .collect::<Result<std::collections::BTreeSet<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    if authors.len() > MAX_AUTHORS {
        return Err(AppError::Invalid(format!(
            "filter by at most {MAX_AUTHORS} authors"
        )));
    }
    let part = params
        .get("part")
        .filter(|p| !p.is_empty())
        .map(|p| PartFilter::parse(p).map_err(|e| AppError::Invalid(e.to_string())))
        .transpose()?;
    Ok(Filter {
        authors,
        part,
        since: millis(params, "since")?,
        until: millis(params, "until")?,
    })
}

/// Asks the document's actor a history question.
async fn ask_actor(
    state: &AppState,
    id: duet_protocol::DocumentId,
    query: HistoryQuery,
) -> Result<HistoryAnswer, AppError> {
    Ok(state
        .registry
        .ask(id, |reply| DocCommand::History { query, reply })
        .await?)
}

/// A person as history shows them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Profile {
    pub(crate) username: String,
    name: String,
    colour: String,
    discipline: String,
}

/// The profiles of `users`; someone without an account (any more) is shown by username.
pub(crate) async fn profiles(
    state: &AppState,
    users: Vec<String>,
) -> Result<Vec<Profile>, AppError> {
    let found = state
        .accounts
        .run(move |a| {
            users
                .into_iter()
                .map(|u| {
                    let user = a.user(&u).ok().flatten();
                    (u, user)
                })
                .collect::<Vec<_>>()
        })
        .await?;
    Ok(found
        .into_iter()
        .map(|(username, user)| match user {
            Some(u) => Profile {
                username,
                name: u.display_name,
                colour: u.colour,
                discipline: u.discipline,
            },
            None => Profile {
                name: username.clone(),
                username,
                colour: "#6b7280".into(),
                discipline: String::new(),
            },
        })
        .collect())
}

async fn changes(
    State(state): State<AppState>,
    SpecInPath { id, .. }: SpecInPath,
) -> Result<Json<HistoryAnswer>, AppError> {
    Ok(Json(ask_actor(&state, id, HistoryQuery::Changes).await?))
}

#[derive(Debug, Serialize)]
struct TimelineBody {
    heads: Vec<ChangeHash>,
    authors: Vec<Profile>,
    sessions: Vec<SessionEntry>,
}

async fn timeline(
    State(state): State<AppState>,
    SpecInPath { id, .. }: SpecInPath,
    Query(params): Params,
) -> Result<Json<TimelineBody>, AppError> {
    let filter = filter_of(&params)?;
    let HistoryAnswer::Timeline(t) =
        ask_actor(&state, id, HistoryQuery::Timeline { filter }).await?
    else {
        return Err(AppError::Internal("unexpected answer to a timeline".into()));
    };
    let users = t.authors.iter().map(|u| u.to_string()).collect();
    Ok(Json(TimelineBody {
        heads: t.heads,
        authors: profiles(&state, users).await?,
        sessions: t.sessions,
    }))
}

/// The steps of one session (`?session=<its id>`), to step through its changes.
async fn steps(
    State(state): State<AppState>,
    SpecInPath { id, .. }: SpecInPath,
    Query(params): Params,
) -> Result<Json<HistoryAnswer>, AppError> {
    let session = params
        .get("session")
        .ok_or_else(|| AppError::Invalid("say which session: ?session=<its id>".into()))?;
    let session = ChangeHash::from_str(session)
        .map_err(|_| AppError::Invalid("a session id is a change hash in hex".into()))?;
    Ok(Json(
        ask_actor(&state, id, HistoryQuery::Steps { session }).await?,
    ))
}

async fn version(
    State(state): State<AppState>,
    SpecInPath { id, .. }: SpecInPath,
    Query(params): Params,
) -> Result<Json<HistoryAnswer>, AppError> {
    let at = params
        .get("at")
        .ok_or_else(|| AppError::Invalid("say which version: ?at=<change hashes>".into()))?;
    let at = parse_heads(at)?;
    Ok(Json(
        ask_actor(&state, id, HistoryQuery::Version { at }).await?,
    ))
}

async fn diff(
    State(state): State<AppState>,
    SpecInPath { id, .. }: SpecInPath,
    Query(params): Params,
) -> Result<Json<HistoryAnswer>, AppError> {
    let from = params.get("from").ok_or_else(|| {
        AppError::Invalid("say which version to compare from: ?from=<change hashes>".into())
    })?;
    let from = parse_heads(from)?;
    let to = params.get("to").map(|t| parse_heads(t)).transpose()?;
    let story = params
        .get("story")
        .filter(|s| !s.is_empty())
        .map(|s| ItemId::parse(s).map_err(|e| AppError::Invalid(e.to_string())))
        .transpose()?;
    let author = params
        .get("author")
        .filter(|s| !s.is_empty())
        .map(|s| UserId::parse(s).map_err(|e| AppError::Invalid(e.to_string())))
        .transpose()?;
    let query = HistoryQuery::Diff {
        from,
        to,
        story,
        author,
    };
    Ok(Json(ask_actor(&state, id, query).await?))
}

async fn blame(
    State(state): State<AppState>,
    SpecInPath { id, .. }: SpecInPath,
    Query(params): Params,
) -> Result<Json<HistoryAnswer>, AppError> {
    let at = params.get("at").map(|t| parse_heads(t)).transpose()?;
    Ok(Json(
        ask_actor(&state, id, HistoryQuery::Blame { at }).await?,
    ))
}

/// One item to restore: `kind` is metric, story, criterion (with its `story`),
/// constraint, decision or question.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    kind: String,
    id: String,
    #[serde(default)]
    story: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    to: Vec<String>,
    #[serde(default)]
    story: Option<String>,
    #[serde(default)]
    item: Option<ItemBody>,
    #[serde(default)]
    field: Option<TextField>,
    /// Only say what the restore would change; change nothing.
    #[serde(default)]
    preview: bool,
}

impl RestoreBody {
    /// What the body asks to restore: one field, one item, one story or the whole spec.
    fn scope(&self) -> Result<RestoreScope, AppError> {
        let id = |s: &str| ItemId::parse(s).map_err(|e| AppError::Invalid(e.to_string()));
        if let Some(field) = &self.field {
            return Ok(RestoreScope::Field(field.clone()));
        }
        if let Some(item) = &self.item {
            let this = id(&item.id)?;
            return Ok(match item.kind.as_str() {
                "story" => RestoreScope::Story(this),
                "criterion" => RestoreScope::Criterion {
                    story: id(item.story.as_deref().ok_or_else(|| {
                        AppError::Invalid("a criterion needs its \"story\"".into())
                    })?)?,
                    criterion: this,
                },
                "constraint" => RestoreScope::Constraint(this),
                "decision" => RestoreScope::Decision(this),
                "question" => RestoreScope::Question(this),
                "metric" => RestoreScope::Metric(this),
                other => {
                    return Err(AppError::Invalid(format!(
                        "no such kind of item: {other:?} (metric, story, criterion, constraint, decision, question)"
                    )))
                }
            });
        }
        Ok(match &self.story {
            Some(s) => RestoreScope::Story(id(s)?),
            None => RestoreScope::Spec,
        })
    }
}

#[derive(Debug, Serialize)]
struct Restored {
    heads: Vec<ChangeHash>,
}

/// Restores the spec, a story, an item or a field to a version — or, with `preview`,
/// answers the diff that restore would make (in authors' colours) and changes nothing.
async fn restore(
    State(state): State<AppState>,
    SpecInPath {
        caller, id, role, ..
    }: SpecInPath,
    body: Option<Json<RestoreBody>>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let Some(Json(body)) = body else {
        return Err(AppError::Invalid(
            "send JSON {\"to\": [change hashes], \"story\" or \"item\" or \"field\", \"preview\"}"
                .into(),
        ));
    };
    let to = parse_heads(&body.to.join(","))?;
    if to.is_empty() {
        return Err(AppError::Invalid("say which version to restore".into()));
    }
    let scope = body.scope()?;
    if !role.can_edit() {
        return Err(AppError::NotAllowed(
            "you can view this spec but not change it (your role is viewer)".into(),
        ));
    }
    if body.preview {
        let query = HistoryQuery::RestorePreview {
            to,
            scope,
            by: caller.user.clone(),
        };
        return Ok(Json(ask_actor(&state, id, query).await?).into_response());
    }
    let heads = state
        .registry
        .ask(id, |reply| DocCommand::Restore {
            by: caller.user.clone(),
            to,
            scope,
            reply,
        })
        .await?;
    Ok(Json(Restored { heads }).into_response())
}

#[derive(Debug, Serialize)]
struct SinceBody {
    seen_at: Option<i64>,
    authors: Vec<Profile>,
    sessions: Vec<SessionEntry>,
    places: Vec<PlaceEntry>,
}

/// `also`: the heads the reader's device already held when the page opened (comma-
/// separated): what they watched live last time is not news, even if the server never
/// heard that they saw it.
#[derive(Debug, Default, Deserialize)]
struct SinceQuery {
    #[serde(default)]
    also: String,
}

async fn since_seen(
    State(state): State<AppState>,
    SpecInPath { caller, id, .. }: SpecInPath,
    Query(q): Query<SinceQuery>,
) -> Result<Json<SinceBody>, AppError> {
    let also = parse_heads(&q.also)?;
    let Some((heads, at)) = state
        .registry
        .store()
        .seen(id, caller.user.as_str())
        .await?
    else {
        return Ok(Json(SinceBody {
            seen_at: None,
            authors: Vec::new(),
            sessions: Vec::new(),
            places: Vec::new(),
        }));
    };
    // Stored heads were valid when written; any that no longer parse are skipped.
    let seen: Vec<ChangeHash> = heads
        .split(',')
        .filter_map(|h| ChangeHash::from_str(h).ok())
        .chain(also)
        .collect();
    let query = HistoryQuery::Since {
        seen,
        viewer: caller.user.clone(),
    };
    let HistoryAnswer::Since(since) = ask_actor(&state, id, query).await? else {
        return Err(AppError::Internal("unexpected answer to since-seen".into()));
    };
    let mut users: Vec<String> = since
        .sessions
        .iter()
        .filter_map(|s| s.session.author.as_ref().map(|a| a.to_string()))
        .collect();
    users.sort();
    users.dedup();
    Ok(Json(SinceBody {
        seen_at: Some(at),
        authors: profiles(&state, users).await?,
        sessions: since.sessions,
        places: since.places,
    }))
}

async fn seen(
    State(state): State<AppState>,
    SpecInPath { caller, id, .. }: SpecInPath,
) -> Result<StatusCode, AppError> {
    let HistoryAnswer::Heads(heads) = ask_actor(&state, id, HistoryQuery::Heads).await? else {
        return Err(AppError::Internal("unexpected answer to heads".into()));
    };
    let heads: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    state
        .registry
        .store()
        .commit(vec![Write::Seen {
            doc: id,
            user: caller.user.to_string(),
            heads: heads.join(","),
            at,
        }])
        .await
        .map_err(DocError::from)?;
    Ok(StatusCode::NO_CONTENT)
}
