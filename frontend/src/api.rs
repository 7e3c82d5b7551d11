//! The server's REST API as the page uses it: accounts, specs, roles and share links (the browser's `fetch` and `JSON`, read field by field).

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What went wrong talking to the server: the HTTP status (0: no answer) and words for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The signed-in person as `GET /api/me` describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user id in every change this person makes.
    pub username: String,
    pub display_name: String,
    /// `#rrggbb`.
    pub colour: String,
    /// `product`, `engineering`, `design` or `other`.
    pub discipline: String,
}

/// What someone may do with a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Editor,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Editor => "Can edit",
            Role::Viewer => "Can view",
        }
    }
}

/// A spec as `GET /api/specs` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecSummary {
    pub id: String,
    pub title: String,
    /// Unix milliseconds.
    pub updated_at: f64,
    /// Display names (usernames where the server gave none).
    pub authors: Vec<String>,
    pub role: Option<Role>,
    /// Stories fully signed, partly signed, stale; done, of how many.
    pub signs: duet_model::signoff::SignCounts,
    pub archived: bool,
    /// When its owner deleted it (Unix ms); 0 if not.
    pub deleted_at: f64,
}

/// One slot's latest sign-off, as `GET /api/specs/{id}/signoffs` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignOff {
    pub story: String,
    pub slot: String,
    pub user: String,
    /// The signer's display name and colour.
    pub name: String,
    pub colour: String,
    /// Unix milliseconds, server time.
    pub signed_at: f64,
    /// What it covers (see `duet_model::signoff`), and the version it was given at.
    pub digest: String,
    pub heads: String,
    /// The open blockers (constraint ids) the signer chose to sign over.
    pub open_blockers: Vec<String>,
}

/// Someone with a role on a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub username: String,
    pub display_name: String,
    pub colour: String,
    pub role: Option<Role>,
}

/// A share link of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub id: String,
    /// The path, `/share/{token}`.
    pub url: String,
    pub role: Option<Role>,
    /// Unix milliseconds.
    pub expires_at: f64,
    pub revoked: bool,
}

pub fn field(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A string field, or a number written as an integer, or "".
pub fn text(o: &JsValue, key: &str) -> String {
    let v = field(o, key);
    v.as_string()
        .or_else(|| v.as_f64().map(|n| (n as i64).to_string()))
        .unwrap_or_default()
}

fn role(o: &JsValue) -> Option<Role> {
    Role::parse(&text(o, "role"))
}

/// A time given as Unix milliseconds or as a date string.
fn millis(o: &JsValue, key: &str) -> f64 {
    let v = field(o, key);
    v.as_f64()
        .or_else(|| v.as_string().map(|s| js_sys::Date::parse(&s)))
        .unwrap_or(0.0)
}

/// A JSON object of string fields.
pub fn object(fields: &[(&str, &str)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        let _ = Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    o.into()
}

/// The text of a rejected promise (a `TypeError` from `fetch`).
fn reason(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// `method url` with an optional JSON body, answered with JSON: the body (null for 204)
/// when the status is 2xx, else the server's `{ "error": … }` message.
pub async fn call(method: &str, url: &str, body: Option<JsValue>) -> ApiResult<JsValue> {
    let unreachable = |why: String| ApiError {
        status: 0,
        message: format!("The server cannot be reached ({why})."),
    };
    let window = web_sys::window().ok_or_else(|| unreachable("no window".into()))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        if let Ok(json) = js_sys::JSON::stringify(&body) {
            init.set_body(&json);
        }
        init.set_headers(&object(&[("content-type", "application/json")]));
    }
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| unreachable(reason(&e)))?
        .dyn_into()
        .map_err(|_| unreachable("no response".into()))?;
    let status = response.status();
    // No body to read in a 204 (reading one would reject).
    let body = if status == 204 {
        None
    } else if let Ok(promise) = response.json() {
        JsFuture::from(promise).await.ok()
    } else {
        None
    };
    if response.ok() {
        return Ok(body.unwrap_or(JsValue::NULL));
    }
    // "wrong username or password" → "Wrong username or password."
    let said = body
        .map(|b| text(&b, "error"))
        .filter(|e| !e.is_empty())
        .map(|mut e| {
            if let Some(first) = e.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            if !e.ends_with(['.', '!', '?']) {
                e.push('.');
            }
            e
        });
    let message = if status == 429 {
        let wait = response.headers().get("retry-after").ok().flatten();
        format!(
            "Too many attempts. Please wait {} before trying again.",
            wait.map_or("a minute".into(), |s| format!("{s} seconds"))
        )
    } else {
        said.unwrap_or_else(|| format!("The server answered {status}."))
    };
    Err(ApiError { status, message })
}

pub fn list_of<T>(v: JsValue, read: impl Fn(&JsValue) -> Option<T>) -> Vec<T> {
    v.dyn_into::<Array>()
        .map(|a| a.iter().filter_map(|x| read(&x)).collect())
        .unwrap_or_default()
}

// ---- accounts ----

impl Account {
    pub fn from_js(v: &JsValue) -> Option<Account> {
        let username = text(v, "username");
        (!username.is_empty()).then(|| Account {
            display_name: text(v, "display_name"),
            colour: text(v, "colour"),
            discipline: text(v, "discipline"),
            username,
        })
    }

    pub fn to_js(&self) -> JsValue {
        object(&[
            ("username", &self.username),
            ("display_name", &self.display_name),
            ("colour", &self.colour),
            ("discipline", &self.discipline),
        ])
    }

    /// The name shown for this person (their username when they gave none).
    pub fn name(&self) -> &str {
        if self.display_name.trim().is_empty() {
            &self.username
        } else {
            &self.display_name
        }
    }
}

fn account(v: JsValue) -> ApiResult<Account> {
    Account::from_js(&v).ok_or(ApiError {
        status: 0,
        message: "Unexpected answer from the server.".into(),
    })
}

/// The signed-in account (401 when nobody is signed in).
pub async fn me() -> ApiResult<Account> {
    account(call("GET", "/api/me", None).await?)
}

/// Signs in, or signs up (with a display name and discipline) when `new`.
pub async fn sign_in(
    new: bool,
    username: &str,
    password: &str,
    name: &str,
    discipline: &str,
) -> ApiResult<Account> {
    let (url, body) = if new {
        let fields = [
            ("username", username),
            ("password", password),
            ("display_name", name),
            ("discipline", discipline),
        ];
        ("/api/auth/signup", object(&fields))
    } else {
        let fields = [("username", username), ("password", password)];
        ("/api/auth/signin", object(&fields))
    };
    account(call("POST", url, Some(body)).await?)
}

pub async fn sign_out() -> ApiResult<()> {
    call("POST", "/api/auth/signout", None).await.map(drop)
}

/// Saves the display name, colour and discipline.
pub async fn update_me(a: &Account) -> ApiResult<Account> {
    let body = object(&[
        ("display_name", &a.display_name),
        ("colour", &a.colour),
        ("discipline", &a.discipline),
    ]);
    account(call("PATCH", "/api/me", Some(body)).await?)
}

/// Changes the password; this browser's session is renewed, every other one ends.
pub async fn change_password(current: &str, new: &str) -> ApiResult<()> {
    let body = object(&[("current", current), ("new", new)]);
    call("POST", "/api/me/password", Some(body)).await.map(drop)
}

/// An API token as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub created_at: f64,
    pub expires_at: f64,
}

/// The signed-in person's live API tokens.
pub async fn tokens() -> ApiResult<Vec<Token>> {
    Ok(list_of(call("GET", "/api/tokens", None).await?, |t| {
        Some(Token {
            id: field(t, "id").as_string()?,
            name: text(t, "name"),
            created_at: millis(t, "created_at"),
            expires_at: millis(t, "expires_at"),
        })
    }))
}

/// Makes an API token named `name`; the token itself is shown this once.
pub async fn create_token(name: &str) -> ApiResult<String> {
    let v = call("POST", "/api/tokens", Some(object(&[("name", name)]))).await?;
    Ok(text(&v, "token"))
}

pub async fn revoke_token(id: &str) -> ApiResult<()> {
    call("DELETE", &format!("/api/tokens/{id}"), None)
        .await
        .map(drop)
}

// ---- specs ----

fn summary(v: &JsValue) -> Option<SpecSummary> {
    // The authors by display name where the server gave them (the list does).
    let people = list_of(field(v, "people"), |p| {
        Some((text(p, "username"), text(p, "name")))
    });
    let authors = list_of(field(v, "authors"), |a| {
        let user = a.as_string()?;
        Some(
            people
                .iter()
                .find(|(u, _)| *u == user)
                .map(|(_, name)| name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or(user),
        )
    });
    Some(SpecSummary {
        id: field(v, "id").as_string()?,
        title: field(v, "title").as_string()?,
        updated_at: millis(v, "updated_at"),
        authors,
        role: role(v),
        signs: {
            let c = field(v, "signs");
            let n = |k| field(&c, k).as_f64().unwrap_or(0.0) as u32;
            duet_model::signoff::SignCounts {
                signed: n("signed"),
                partly: n("partly"),
                stale: n("stale"),
                done: n("done"),
                stories: n("stories"),
            }
        },
        archived: field(v, "archived").as_bool().unwrap_or(false),
        deleted_at: field(v, "deleted_at").as_f64().unwrap_or(0.0),
    })
}

/// The specs the signed-in person has a role on whose text holds `q` (all when empty),
/// by `filter`: "" (neither archived nor deleted), mine, shared, archived, deleted.
pub async fn list_specs(q: &str, filter: &str) -> ApiResult<Vec<SpecSummary>> {
    let q = String::from(js_sys::encode_uri_component(q));
    let url = format!("/api/specs?q={q}&filter={filter}");
    Ok(list_of(call("GET", &url, None).await?, summary))
}

/// An owner renames spec `id`.
pub async fn rename_spec(id: &str, title: &str) -> ApiResult<()> {
    let body = object(&[("title", title)]);
    call("PATCH", &format!("/api/specs/{id}"), Some(body))
        .await
        .map(drop)
}

/// An owner archives spec `id` (or brings it back from the archive).
pub async fn archive_spec(id: &str, archived: bool) -> ApiResult<()> {
    let body = Object::new();
    let _ = Reflect::set(&body, &"archived".into(), &archived.into());
    call("PATCH", &format!("/api/specs/{id}"), Some(body.into()))
        .await
        .map(drop)
}

/// An owner deletes spec `id` (it can be brought back for 30 days).
pub async fn delete_spec(id: &str) -> ApiResult<()> {
    call("DELETE", &format!("/api/specs/{id}"), None)
        .await
        .map(drop)
}

pub async fn undelete_spec(id: &str) -> ApiResult<()> {
    call("POST", &format!("/api/specs/{id}/undelete"), None)
        .await
        .map(drop)
}

/// One spec (with the signed-in person's role on it).
pub async fn spec(id: &str) -> ApiResult<SpecSummary> {
    let v = call("GET", &format!("/api/specs/{id}"), None).await?;
    summary(&v).ok_or(ApiError {
        status: 0,
        message: "Unexpected answer from the server.".into(),
    })
}

// ---- roles and share links ----

/// Who has a role on a spec, from `GET /api/specs/{id}/roles`.
pub fn members(v: JsValue) -> Vec<Member> {
    list_of(v, |v| {
        Some(Member {
            username: field(v, "username").as_string()?,
            display_name: text(v, "display_name"),
            colour: text(v, "colour"),
            role: role(v),
        })
    })
}

/// A share link from `POST` or `GET /api/specs/{id}/links`.
pub fn link(v: &JsValue) -> Option<Link> {
    Some(Link {
        id: text(v, "id"),
        url: field(v, "url").as_string()?,
        role: role(v),
        expires_at: millis(v, "expires_at"),
        revoked: field(v, "revoked").as_bool().unwrap_or(false),
    })
}

pub fn links(v: JsValue) -> Vec<Link> {
    list_of(v, link)
}

/// Redeems a share link; returns the id of the spec it opens.
pub async fn redeem(token: &str) -> ApiResult<String> {
    let v = call("POST", &format!("/api/share/{token}"), None).await?;
    Ok(text(&v, "spec"))
}

// ---- sign-off ----

/// The latest sign-off of every slot of every signed story of spec `id`.
pub async fn signoffs(id: &str) -> ApiResult<Vec<SignOff>> {
    let v = call("GET", &format!("/api/specs/{id}/signoffs"), None).await?;
    let people = field(&v, "people");
    let person = |user: &str| {
        list_of(people.clone(), |p| {
            (text(p, "username") == user).then(|| p.clone())
        })
        .into_iter()
        .next()
    };
    let mut out = Vec::new();
    for story in list_of(field(&v, "stories"), |s| Some(s.clone())) {
        for slot in list_of(field(&story, "slots"), |s| Some(s.clone())) {
            let user = text(&slot, "user");
            let who = person(&user);
            out.push(SignOff {
                story: text(&slot, "story"),
                slot: text(&slot, "slot"),
                name: who
                    .as_ref()
                    .map(|p| text(p, "name"))
                    .unwrap_or_else(|| user.clone()),
                colour: who.as_ref().map(|p| text(p, "colour")).unwrap_or_default(),
                user,
                signed_at: millis(&slot, "signed_at"),
                digest: text(&slot, "digest"),
                heads: text(&slot, "heads"),
                open_blockers: list_of(field(&slot, "open_blockers"), JsValue::as_string),
            });
        }
    }
    Ok(out)
}

/// Signs `slot` of `story` in spec `id`, having read version `seen` (change hashes), over
/// the open blockers `blockers` (constraint ids) the signer chose to sign with.
pub async fn sign(
    id: &str,
    story: &str,
    slot: &str,
    seen: &[String],
    blockers: &[String],
) -> ApiResult<()> {
    let body = Object::new();
    let _ = Reflect::set(&body, &"slot".into(), &slot.into());
    let strings =
        |list: &[String]| -> Array { list.iter().map(|h| JsValue::from_str(h)).collect() };
    let _ = Reflect::set(&body, &"seen".into(), &strings(seen));
    let _ = Reflect::set(&body, &"open_blockers".into(), &strings(blockers));
    let url = format!("/api/specs/{id}/stories/{story}/signoffs");
    call("POST", &url, Some(body.into())).await.map(drop)
}

/// What changed in `story` of spec `id` since version `from` (comma-separated hashes).
pub async fn story_diff(id: &str, story: &str, from: &str) -> ApiResult<JsValue> {
    call(
        "GET",
        &format!("/api/specs/{id}/diff?from={from}&story={story}"),
        None,
    )
    .await
}
