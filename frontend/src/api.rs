//! The server's REST API as the page uses it: the list of specs (the browser's `fetch` and `JSON`, read field by field).

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A spec as `GET /api/specs` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecSummary {
    pub id: String,
    pub title: String,
    /// Unix milliseconds.
    pub updated_at: f64,
    pub authors: Vec<String>,
}

/// What went wrong talking to the server, in words for the page.
pub type ApiResult<T> = Result<T, String>;

fn field(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// The text of a rejected promise (a `TypeError` from `fetch`, a `SyntaxError` from `json`).
fn reason(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// `GET url`, answered with JSON: the body when the status is 2xx, else the server's
/// `{ "error": … }` message (or the status when the body says nothing).
async fn get_json(url: &str) -> ApiResult<JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("could not reach the server: {}", reason(&e)))?
        .dyn_into()
        .map_err(|_| "fetch did not answer with a response")?;
    let body = match response.json() {
        Ok(promise) => JsFuture::from(promise).await.ok(),
        Err(_) => None,
    };
    if response.ok() {
        return body.ok_or_else(|| "unexpected answer from the server: not JSON".into());
    }
    Err(body
        .and_then(|b| field(&b, "error").as_string())
        .unwrap_or_else(|| format!("the server answered {}", response.status())))
}

/// One listed spec; `None` when the entry lacks its id or title.
fn summary(v: &JsValue) -> Option<SpecSummary> {
    let authors = field(v, "authors")
        .dyn_into::<Array>()
        .map(|a| a.iter().filter_map(|x| x.as_string()).collect())
        .unwrap_or_default();
    Some(SpecSummary {
        id: field(v, "id").as_string()?,
        title: field(v, "title").as_string()?,
        updated_at: field(v, "updated_at").as_f64().unwrap_or(0.0),
        authors,
    })
}

/// Every spec, newest first.
pub async fn list_specs() -> ApiResult<Vec<SpecSummary>> {
    let body = get_json("/api/specs").await?;
    let list = body
        .dyn_into::<Array>()
        .map_err(|_| "unexpected answer from the server: not a list")?;
    let mut specs: Vec<SpecSummary> = list.iter().filter_map(|v| summary(&v)).collect();
    specs.sort_by(|a, b| b.updated_at.total_cmp(&a.updated_at));
    Ok(specs)
}
