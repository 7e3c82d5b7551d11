//! The HTTP layer: the router (REST under `/api`, `/sync`, the app's files) and its middleware. Handlers live in the files beside this one; they share `state` and `error`, and none imports this file.

mod access;
pub(crate) mod auth;
mod error;
mod history;
mod live;
mod sharing;
mod signoffs;
mod specs;
mod state;
mod ws;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::metrics::Refusal;
use auth::Caller;

pub use error::AppError;
pub(crate) use sharing::change_role;
pub use state::AppState;

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
        .merge(specs::routes())
        .merge(sharing::routes())
        .merge(history::routes())
        .merge(signoffs::routes())
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
        .route("/sync", get(ws::upgrade))
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
