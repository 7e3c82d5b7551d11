//! Who is calling: the session cookie or an API token checked on every door (REST and the websocket upgrade), the Origin check for cookies, and the account routes (sign up, sign in, sign out, profile, tokens).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use duet_model::UserId;
use serde::Deserialize;

use super::error::AppError;
use super::state::AppState;
use crate::accounts::{self, AccountError, ProfileUpdate, User, Verified};
use crate::metrics::Refusal;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "duet_session";

/// A signed-in caller. Extracting it answers 401 (no or bad credentials) or 403 (a cookie
/// sent from a page of another origin) before the handler runs.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserId,
    /// The session cookie's value, when that is how they came.
    pub session: Option<String>,
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(m) => AppError::Invalid(m),
            AccountError::Taken => AppError::Conflict(e.to_string()),
            AccountError::NoSuchUser => AppError::Missing(e.to_string()),
            AccountError::Disabled => AppError::NotAllowed(e.to_string()),
            AccountError::Io(m) => AppError::Internal(m),
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<Result<String, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned())
            .ok_or(()),
    )
}

/// The `token` query parameter (accepted on the websocket URL only, for automerge-repo
/// clients that cannot set headers).
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
}

/// Whether `origin` may use a session cookie here: the server's own origin (from `Host`)
/// or one of the configured allow-list.
fn origin_allowed(state: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    if state
        .registry
        .config()
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/') == origin)
    {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// What a request shows to say who it is, before anything is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// An API token (`Authorization: Bearer …`, or `?token=` on the websocket).
    Token(String),
    /// A session cookie, and the `Origin` the request says it comes from.
    Session {
        value: String,
        origin: Option<String>,
    },
}

/// Reads the credential a request presents. `websocket`: the upgrade of `/sync`, where
/// `?token=` is accepted. Errors are the 401 a malformed or missing credential gets.
pub(crate) fn credential(
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    websocket: bool,
) -> Result<Credential, AppError> {
    match bearer(headers) {
        Some(Ok(t)) => return Ok(Credential::Token(t)),
        Some(Err(())) => {
            return Err(AppError::NotSignedIn(
                "the Authorization header must be `Bearer <token>`".into(),
            ))
        }
        None => {}
    }
    if let Some(token) = websocket.then(|| query_token(uri)).flatten() {
        return Ok(Credential::Token(token));
    }
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Err(AppError::NotSignedIn(
            "sign in first (a session cookie or an API token is required)".into(),
        ));
    };
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    Ok(Credential::Session { value, origin })
}

/// Checks the caller's credentials. `websocket`: the upgrade of `/sync`, where `?token=` is
/// accepted and a cookie must come with an allowed `Origin`.
pub async fn authenticate(
    state: &AppState,
    parts: &Parts,
    websocket: bool,
) -> Result<Caller, AppError> {
    let checked = check(state, parts, websocket).await;
    if let Err(AppError::NotSignedIn(_) | AppError::NotAllowed(_)) = &checked {
        state.registry.metrics().refused(Refusal::Auth);
    }
    checked
}

async fn check(state: &AppState, parts: &Parts, websocket: bool) -> Result<Caller, AppError> {
    let (session, origin) = match credential(&parts.headers, &parts.uri, websocket)? {
        Credential::Token(token) => {
            let found = state.accounts.run(move |a| a.token(&token)).await??;
            return match found {
                Some(Verified { user }) => Ok(Caller {
                    user,
                    session: None,
                }),
                None => Err(AppError::NotSignedIn(
                    "the API token is not valid (unknown, expired or revoked)".into(),
                )),
            };
        }
        Credential::Session { value, origin } => (value, origin),
    };
    // A browser sends the cookie whatever page makes the request: a request that says it
    // comes from another origin is refused, and the websocket must say where it comes from.
    match origin.as_deref() {
        Some(o) if !origin_allowed(state, &parts.headers, o) => {
            return Err(AppError::NotAllowed(format!(
                "requests from {o} may not use this server's session cookie"
            )))
        }
        None if websocket => {
            return Err(AppError::NotAllowed(
                "a websocket signed in by cookie must say its Origin".into(),
            ))
        }
        _ => {}
    }
    let value = session.clone();
    let found = state.accounts.run(move |a| a.session(&value)).await??;
    match found {
        Some(Verified { user }) => Ok(Caller {
            user,
            session: Some(session),
        }),
        None => Err(AppError::NotSignedIn(
            "your session has ended; sign in again".into(),
        )),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        authenticate(state, parts, false).await
    }
}

fn session_cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: u64) -> HeaderValue {
    let https = state.registry.config().secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if https { "; Secure" } else { "" };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("duet_session=; Max-Age=0"))
}

#[derive(Debug, Deserialize)]
pub struct SignUp {
    username: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
    /// product, engineering, design or other: decides which sign-off one can give.
    #[serde(default)]
    discipline: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
}

fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    user: User,
    token: &str,
) -> Response {
    let cookie = session_cookie(state, headers, token, accounts::SESSION_TTL.as_secs());
    (status, [(header::SET_COOKIE, cookie)], Json(user)).into_response()
}

pub async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SignUp>,
) -> Result<Response, AppError> {
    let (user, token) = state
        .accounts
        .run(move |a| {
            let discipline = body.discipline.filter(|d| !d.is_empty());
            if discipline
                .as_deref()
                .is_some_and(|d| !accounts::DISCIPLINES.contains(&d))
            {
                return Err(AccountError::Invalid(
                    "the discipline must be product, engineering, design or other".into(),
                ));
            }
            let mut user = a.add_user(
                &body.username,
                &body.password,
                body.display_name.as_deref(),
                false,
            )?;
            if discipline.is_some() {
                let update = accounts::ProfileUpdate {
                    discipline,
                    ..accounts::ProfileUpdate::default()
                };
                user = a.update_profile(&user.username, &update)?;
            }
            let token = a.create_session(&user.username)?;
            Ok::<_, AccountError>((user, token))
        })
        .await??;
    tracing::info!(user = %user.username, admin = user.is_admin, "account created");
    Ok(signed_in(
        &state,
        &headers,
        StatusCode::CREATED,
        user,
        &token,
    ))
}

pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Result<Response, AppError> {
    let account_key = format!("user:{}", body.username);
    let address_key = format!("addr:{}", addr.ip());
    let throttle = &state.throttle;
    let now = Instant::now();
    let wait = throttle
        .blocked(&account_key, accounts::MAX_FAILURES_PER_ACCOUNT, now)
        .or_else(|| throttle.blocked(&address_key, accounts::MAX_FAILURES_PER_ADDRESS, now));
    if let Some(secs) = wait {
        state.registry.metrics().refused(Refusal::Rate);
        return Err(AppError::RateLimited(
            "too many failed sign-ins; try again later".into(),
            secs,
        ));
    }
    let username = body.username.clone();
    let checked = state
        .accounts
        .run(move |a| {
            let Some(user) = a.check_password(&body.username, &body.password)? else {
                return Ok(None);
            };
            let token = a.create_session(&user.username)?;
            Ok::<_, AccountError>(Some((user, token)))
        })
        .await??;
    match checked {
        Some((user, token)) => {
            throttle.succeed(&account_key);
            Ok(signed_in(&state, &headers, StatusCode::OK, user, &token))
        }
        None => {
            let now = Instant::now();
            throttle.fail(&account_key, now);
            throttle.fail(&address_key, now);
            state.registry.metrics().sign_in_failed();
            tracing::info!(user = %username, ip = %addr.ip(), "failed sign-in");
            Err(AppError::NotSignedIn("wrong username or password".into()))
        }
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, AppError> {
    if let Some(session) = caller.session {
        state
            .accounts
            .run(move |a| a.end_session(&session))
            .await??;
    }
    let cookie = session_cookie(&state, &headers, "", 0);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn user_of(state: &AppState, user: &UserId) -> Result<User, AppError> {
    let name = user.to_string();
    state
        .accounts
        .run(move |a| a.user(&name))
        .await??
        .ok_or_else(|| AppError::NotSignedIn("this account no longer exists".into()))
}

pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<User>, AppError> {
    Ok(Json(user_of(&state, &caller.user).await?))
}

pub async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    Json(update): Json<ProfileUpdate>,
) -> Result<Json<User>, AppError> {
    let name = caller.user.to_string();
    let user = state
        .accounts
        .run(move |a| a.update_profile(&name, &update))
        .await??;
    Ok(Json(user))
}

#[derive(Debug, Default, Deserialize)]
pub struct NewToken {
    /// Days the token lasts (default 365, at most 3650).
    #[serde(default)]
    days: Option<u64>,
    /// What it is for ("CI export"), shown in the profile's token list.
    #[serde(default)]
    name: Option<String>,
}

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    // The body is optional: no body means the defaults.
    let body: NewToken = if body.iter().all(u8::is_ascii_whitespace) {
        NewToken::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::Invalid(format!("invalid body: {e}")))?
    };
    let days = body.days.unwrap_or(365);
    if !(1..=3650).contains(&days) {
        return Err(AppError::Invalid("days must be between 1 and 3650".into()));
    }
    let user = caller.user.to_string();
    let label = body.name.unwrap_or_default();
    let (id, token) = state
        .accounts
        .run(move |a| a.create_token(&user, Duration::from_secs(days * 24 * 3600), &label))
        .await??;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "token": token })),
    )
        .into_response())
}

/// The caller's live API tokens.
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<accounts::TokenInfo>>, AppError> {
    let name = caller.user.to_string();
    Ok(Json(state.accounts.run(move |a| a.tokens(&name)).await??))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    current: String,
    new: String,
}

/// Changes the caller's password; every session of theirs ends, and this browser gets a
/// new one. A wrong current password counts against the sign-in throttle.
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<NewPassword>,
) -> Result<Response, AppError> {
    let name = caller.user.to_string();
    let key = format!("user:{name}");
    if let Some(secs) =
        state
            .throttle
            .blocked(&key, accounts::MAX_FAILURES_PER_ACCOUNT, Instant::now())
    {
        return Err(AppError::RateLimited(
            "too many wrong passwords; try again later".into(),
            secs,
        ));
    }
    let changed = state
        .accounts
        .run(move |a| {
            if !a.change_password(&name, &body.current, &body.new)? {
                return Ok(None);
            }
            let user = a.user(&name)?.ok_or(AccountError::NoSuchUser)?;
            let token = a.create_session(&name)?;
            Ok::<_, AccountError>(Some((user, token)))
        })
        .await??;
    let Some((user, token)) = changed else {
        state.throttle.fail(&key, Instant::now());
        return Err(AppError::NotAllowed(
            "the current password is not right".into(),
        ));
    };
    state.throttle.succeed(&key);
    Ok(signed_in(&state, &headers, StatusCode::OK, user, &token))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, AppError> {
    let name = caller.user.to_string();
    let found = state
        .accounts
        .run(move |a| a.revoke_token(&name, &id))
        .await??;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::Missing("no such token".into()))
    }
}
