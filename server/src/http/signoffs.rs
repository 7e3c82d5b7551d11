//! REST for sign-offs: every story's sign-offs with whether each still covers what the story holds, and signing a story's slot (the server records it, at its own time, on disk before it answers).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_model::signoff::{SignCounts, Slot};
use duet_model::ItemId;
use serde::{Deserialize, Serialize};

use super::access::SpecInPath;
use super::error::AppError;
use super::history::{parse_heads, profiles, Profile};
use super::state::AppState;
use crate::docs::engine::{SignRequest, StorySignOffs};
use crate::docs::DocCommand;
use crate::storage::SignOffRecord;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/specs/{id}/signoffs", get(list))
        .route("/api/specs/{id}/stories/{story}/signoffs", post(sign))
}

#[derive(Debug, Serialize)]
struct SignOffsBody {
    counts: SignCounts,
    /// Only stories someone signed; any other story is unsigned.
    stories: Vec<StorySignOffs>,
    /// Everyone who signed, as history shows people.
    people: Vec<Profile>,
}

async fn list(
    State(state): State<AppState>,
    SpecInPath { id, .. }: SpecInPath,
) -> Result<Json<SignOffsBody>, AppError> {
    let answer = state
        .registry
        .ask(id, |reply| DocCommand::SignOffs { reply })
        .await?;
    let mut users: Vec<String> = answer
        .stories
        .iter()
        .flat_map(|s| s.slots.iter().map(|slot| slot.record.user.clone()))
        .collect();
    users.sort();
    users.dedup();
    Ok(Json(SignOffsBody {
        counts: answer.counts,
        stories: answer.stories,
        people: profiles(&state, users).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    slot: String,
    /// The version the signer read (change hashes).
    seen: Vec<String>,
    /// The open blockers (constraint ids) the signer chooses to sign over; a story with
    /// an open blocker not listed here is refused (409).
    #[serde(default)]
    open_blockers: Vec<String>,
}

const SIGN_USAGE: &str =
    "send JSON {\"slot\": \"product\" | \"engineering\" | \"design\", \"seen\": [change hashes of the version you read], \"open_blockers\": [ids of open blockers you sign over, optional]}";

async fn sign(
    State(state): State<AppState>,
    SpecInPath { caller, id, .. }: SpecInPath,
    Path((_, story)): Path<(String, String)>,
    body: Option<Json<SignBody>>,
) -> Result<Json<SignOffRecord>, AppError> {
    let story = ItemId::parse(&story).map_err(|e| AppError::Invalid(e.to_string()))?;
    let Some(Json(body)) = body else {
        return Err(AppError::Invalid(SIGN_USAGE.into()));
    };
    let slot = Slot::parse(&body.slot).ok_or_else(|| AppError::Invalid(SIGN_USAGE.into()))?;
    let seen = parse_heads(&body.seen.join(","))?;
    let with_blockers = body
        .open_blockers
        .iter()
        .map(|b| ItemId::parse(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::Invalid(format!("open_blockers: {e}")))?;
    let username = caller.user.to_string();
    let discipline = state
        .accounts
        .run(move |a| a.user(&username).ok().flatten().map(|u| u.discipline))
        .await?
        .unwrap_or_default();
    let record = state
        .registry
        .ask(id, |reply| DocCommand::SignOff {
            request: SignRequest {
                by: caller.user.clone(),
                discipline,
                story,
                slot,
                seen,
                with_blockers,
            },
            reply,
        })
        .await?;
    Ok(Json(record))
}
