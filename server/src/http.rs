//! REST under `/api`, the page at `/`, and `AppError`, the one place HTTP status codes are chosen.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use duet_model::{markdown, Author, Spec, TextField, UnixMillis, UserId};
use duet_protocol::DocumentId;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::docs::{DocCommand, DocError, Registry};
use crate::storage::{DocumentMeta, StorageError};

/// What every handler and connection shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Registry,
    /// Numbers websocket connections.
    pub next_conn: Arc<AtomicU64>,
    /// Cancelled when the server shuts down: connections close with 1001.
    pub shutdown: CancellationToken,
    /// This server's automerge-repo storage id, announced in the handshake.
    pub storage_id: String,
}

/// An error answered as JSON `{ "error": "…" }`.
#[derive(Debug)]
pub enum AppError {
    NotFound(String),
    BadRequest(String),
    Conflict(String),
    /// Details are logged; the client gets a generic message.
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m),
            AppError::Internal(detail) => {
                tracing::error!("internal error: {detail}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error".to_owned(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<DocError> for AppError {
    fn from(e: DocError) -> Self {
        match e {
            DocError::NotFound => AppError::NotFound("no such spec".into()),
            DocError::AlreadyExists => AppError::Conflict(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

pub fn router(state: AppState, frontend: Option<&std::path::Path>) -> Router {
    let api = Router::new()
        .route("/sync", get(crate::ws::upgrade))
        .route("/api/health", get(health))
        .route("/api/specs", get(list_specs).post(create_spec))
        .route("/api/specs/{id}", get(spec_meta))
        .route("/api/specs/{id}/markdown", get(spec_markdown))
        .route("/api/{*rest}", get(not_found).post(not_found))
        .with_state(state);
    match frontend.filter(|dir| dir.join("index.html").is_file()) {
        // The app's files; any other path is a page of the app (client-side routes).
        Some(dir) => api.fallback_service(
            tower_http::services::ServeDir::new(dir)
                .fallback(tower_http::services::ServeFile::new(dir.join("index.html"))),
        ),
        None => api.route("/", get(index)).fallback(not_found),
    }
}

async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Duet</title></head>\
         <body><h1>Duet</h1><p>The Duet server is running, but the browser app is not built: \
         start Duet with <code>cargo xtask run</code>, which builds it. automerge-repo clients \
         can sync at <code>/sync</code> and scripts can use <code>/api/specs</code>.</p></body></html>",
    )
}

async fn not_found() -> AppError {
    AppError::NotFound("no such route".into())
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "open_documents": state.registry.open_documents(),
    }))
}

fn parse_id(id: &str) -> Result<DocumentId, AppError> {
    DocumentId::parse(id).map_err(|e| AppError::BadRequest(e.to_string()))
}

/// A spec as the list shows it.
#[derive(Debug, Serialize)]
struct SpecSummary {
    id: String,
    url: String,
    title: String,
    updated_at: i64,
    authors: Vec<String>,
}

impl From<DocumentMeta> for SpecSummary {
    fn from(m: DocumentMeta) -> Self {
        SpecSummary {
            url: format!("{}{}", duet_protocol::URL_PREFIX, m.id),
            id: m.id,
            title: m.title,
            updated_at: m.updated_at,
            authors: m.authors,
        }
    }
}

async fn list_specs(State(state): State<AppState>) -> Result<Json<Vec<SpecSummary>>, AppError> {
    let metas = state.registry.store().list().await?;
    Ok(Json(
        metas
            .into_iter()
            .filter(|m| m.is_spec)
            .map(SpecSummary::from)
            .collect(),
    ))
}

async fn spec_meta(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SpecSummary>, AppError> {
    let id = parse_id(&id)?;
    match state.registry.store().meta(id).await? {
        Some(meta) if meta.is_spec => Ok(Json(meta.into())),
        _ => Err(AppError::NotFound("no such spec".into())),
    }
}

#[derive(Debug, Default, Deserialize)]
struct CreateSpec {
    #[serde(default)]
    title: String,
}

/// The author of edits the server makes itself (the skeleton and title of a spec created
/// over REST), until accounts exist.
fn server_author() -> Result<Author, AppError> {
    let user = UserId::parse("duet-server").map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Author::new(user, &mut rand::rng()))
}

async fn create_spec(
    State(state): State<AppState>,
    body: Option<Json<CreateSpec>>,
) -> Result<(StatusCode, Json<SpecSummary>), AppError> {
    let Json(body) = body.unwrap_or_default();
    if body.title.len() > 1000 {
        return Err(AppError::BadRequest(
            "title is longer than 1000 bytes".into(),
        ));
    }
    let now = UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    );
    let mut spec = Spec::new(server_author()?);
    spec.set_text(&TextField::Title, &body.title, now)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let id = DocumentId::random(&mut rand::rng());
    let (reply, done) = oneshot::channel();
    state
        .registry
        .send(
            id,
            DocCommand::Create {
                bytes: spec.save(),
                reply,
            },
        )
        .await?;
    done.await
        .map_err(|_| AppError::Internal("document actor stopped".into()))??;
    let meta = state
        .registry
        .store()
        .meta(id)
        .await?
        .ok_or_else(|| AppError::Internal("created spec has no metadata".into()))?;
    Ok((StatusCode::CREATED, Json(meta.into())))
}

async fn spec_markdown(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    if state
        .registry
        .store()
        .meta(id)
        .await?
        .is_none_or(|m| !m.is_spec)
    {
        return Err(AppError::NotFound("no such spec".into()));
    }
    let (reply, done) = oneshot::channel();
    state.registry.send(id, DocCommand::Read { reply }).await?;
    let bytes = done
        .await
        .map_err(|_| AppError::Internal("document actor stopped".into()))??;
    let spec =
        Spec::load(&bytes, server_author()?).map_err(|e| AppError::Internal(e.to_string()))?;
    let md = markdown::export(&spec.view());
    Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], md).into_response())
}
