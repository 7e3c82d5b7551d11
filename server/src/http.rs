//! REST under `/api`, the page at `/`, and `AppError`, the one place HTTP status codes are chosen.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use duet_model::{markdown, Author, Spec, UserId};
use duet_protocol::DocumentId;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::access::{DocumentInPath, SpecInPath};
use crate::accounts::{Accounts, LinkError, Throttle};
use crate::auth::{self, Caller};
use crate::docs::{DocCommand, DocError, Granter, Registry};
use crate::metrics::Refusal;
use crate::storage::{Role, StorageError};

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
    pub accounts: Accounts,
    /// Failed sign-ins per account and per address.
    pub throttle: Arc<Throttle>,
    /// Open websocket connections per user, and what ends them all at once.
    pub connections: Arc<Mutex<HashMap<String, UserConnections>>>,
}

/// A user's open websocket connections.
#[derive(Debug, Default)]
pub struct UserConnections {
    pub count: usize,
    /// Cancelled when an admin disables the account or resets its password.
    pub end: CancellationToken,
}

impl AppState {
    /// Closes every open websocket of `user` (with 1008).
    pub fn end_connections(&self, user: &str) {
        let mut open = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.get_mut(user) {
            // A fresh token for connections made from now on (the account enabled again).
            std::mem::take(&mut c.end).cancel();
        }
    }
}

/// An error answered as JSON `{ "error": "…" }`, named by its cause (the status follows).
#[derive(Debug)]
pub enum AppError {
    /// No such thing, or one the caller may not know exists (404).
    Missing(String),
    /// The request itself is malformed or out of bounds (400).
    Invalid(String),
    /// The request no longer fits what is stored: it exists already, changed since it was
    /// read, or would leave a spec without an owner (409).
    Conflict(String),
    /// No, malformed, expired or revoked credentials (401).
    NotSignedIn(String),
    /// Signed in, but not allowed (or a cookie from another origin) (403).
    NotAllowed(String),
    /// A share link that expired or was revoked (410).
    Expired(String),
    /// Slow down; retry after this many seconds (429).
    RateLimited(String, u64),
    /// The server's own failure; details are logged, the client gets a generic message (500).
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::Missing(m) => (StatusCode::NOT_FOUND, m),
            AppError::Invalid(m) => (StatusCode::BAD_REQUEST, m),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m),
            AppError::NotSignedIn(m) => (StatusCode::UNAUTHORIZED, m),
            AppError::NotAllowed(m) => (StatusCode::FORBIDDEN, m),
            AppError::Expired(m) => (StatusCode::GONE, m),
            AppError::RateLimited(m, secs) => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs.to_string())],
                    Json(serde_json::json!({ "error": m })),
                )
                    .into_response()
            }
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
            DocError::NotFound => AppError::Missing("no such spec".into()),
            DocError::AlreadyExists => AppError::Conflict(e.to_string()),
            DocError::LastOwner => AppError::Conflict(e.to_string()),
            DocError::Forbidden(m) => AppError::NotAllowed(m),
            DocError::BadVersion(m) => AppError::Invalid(m),
            DocError::Conflict(m) => AppError::Conflict(m),
            DocError::NoSuchItem(m) => AppError::Missing(m),
            other => AppError::Internal(other.to_string()),
        }
    }
}

pub fn router(state: AppState, frontend: Option<&std::path::Path>) -> Router {
    let rest = Router::new()
        .route("/api/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/auth/signup", post(auth::sign_up))
        .route("/api/auth/signin", post(auth::sign_in))
        .route("/api/auth/signout", post(auth::sign_out))
        .route("/api/me", get(auth::me).patch(auth::update_me))
        .route("/api/me/password", post(auth::change_password))
        .route(
            "/api/tokens",
            get(auth::list_tokens).post(auth::create_token),
        )
        .route("/api/tokens/{id}", delete(auth::revoke_token))
        .merge(crate::specs::routes())
        .route("/api/specs/{id}/markdown", get(spec_markdown))
        .route("/api/specs/{id}/roles", get(list_roles))
        .route(
            "/api/specs/{id}/roles/{user}",
            put(set_role).delete(remove_role),
        )
        .route("/api/specs/{id}/links", get(list_links).post(create_link))
        .route("/api/specs/{id}/links/{link}", delete(revoke_link))
        .route("/api/share/{token}", post(redeem_link))
        .merge(crate::history::routes())
        .merge(crate::signoffs::routes())
        .route(
            "/api/{*rest}",
            get(not_found)
                .post(not_found)
                .put(not_found)
                .patch(not_found)
                .delete(not_found),
        )
        // Bodies are small JSON; specs travel over the websocket.
        .layer(DefaultBodyLimit::max(64 * 1024))
        // Answers over 1 KiB compressed by what the client accepts (brotli, gzip); the
        // event stream is left as it is (tower-http's default predicate).
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(1024))),
        )
        // Private answers: never kept by a cache.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let api = Router::new()
        .route("/sync", get(crate::ws::upgrade))
        .merge(rest)
        .with_state(state);
    let app = match frontend.filter(|dir| dir.join("index.html").is_file()) {
        // The app's files, sent precompressed (`.br`, `.gz` beside each, written by the
        // build) when the client accepts it; any other path is a page of the app
        // (client-side routes). See `cache_policy` for how long browsers keep them.
        Some(dir) => {
            let index = ServeFile::new(dir.join("index.html"))
                .precompressed_br()
                .precompressed_gzip();
            let files = ServeDir::new(dir)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(index);
            api.fallback_service(
                Router::new()
                    .fallback_service(files)
                    .layer(axum::middleware::from_fn(cache_policy)),
            )
        }
        None => api.route("/", get(index)).fallback(not_found),
    };
    security_headers(app)
}

/// Files whose name carries a hash of their content (`duet_frontend.0123456789abcdef.js`,
/// written by the build) never change: browsers keep them for a year without asking.
/// Everything else (the page, the service worker, the favicon) is revalidated on every
/// visit, which costs a 304 when nothing changed.
async fn cache_policy(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let hashed = is_content_hashed(request.uri().path());
    let mut response = next.run(request).await;
    // A hashed name that is not there is answered with the page: not that.
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    let policy = if hashed && response.status().is_success() && !page {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

/// Whether the last segment of `path` is `name.<16 hex digits>.ext`.
fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && parts[1].len() == 16
        && parts[1].bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the app needs, and nothing else: its own scripts and WebAssembly, styles (inline
/// `style` attributes carry people's colours), its own origin for fetches and the
/// websocket, no framing.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
    worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The security headers every page and answer carries.
fn security_headers(app: Router) -> Router {
    let set = |name: header::HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    app.layer(set(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
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
    AppError::Missing("no such route".into())
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "open_documents": state.registry.open_documents(),
    }))
}

/// `GET /metrics`: Prometheus text, for an admin (an admin's API token in a scrape
/// config). A `--metrics-addr` listener serves it to anyone who can reach that address.
async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    let name = caller.user.to_string();
    let admin = state
        .accounts
        .run(move |a| a.user(&name))
        .await??
        .is_some_and(|u| u.is_admin);
    if !admin {
        state.registry.metrics().refused(Refusal::Auth);
        return Err(AppError::NotAllowed(
            "metrics are for admins: use an admin's API token".into(),
        ));
    }
    Ok(metrics_text(&state))
}

/// The Prometheus exposition of this server's metrics.
pub(crate) fn metrics_text(state: &AppState) -> Response {
    let text = state
        .registry
        .metrics()
        .render(state.registry.open_documents());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
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
