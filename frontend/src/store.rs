//! The local store: every spec opened in this browser kept in IndexedDB (`js/store.js`), one database per account, as Automerge chunks plus a small record per spec.

use duet_model::automerge::ChangeHash;
use duet_protocol::DocumentId;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/js/store.js")]
extern "C" {
    #[wasm_bindgen(js_name = load)]
    fn js_load(doc: &str) -> Promise;
    #[wasm_bindgen(js_name = append)]
    fn js_append(doc: &str, bytes: &Uint8Array) -> Promise;
    #[wasm_bindgen(js_name = compact)]
    fn js_compact(doc: &str, bytes: &Uint8Array, keys: &Array) -> Promise;
    #[wasm_bindgen(js_name = putMeta)]
    fn js_put_meta(doc: &str, fields: &Object) -> Promise;
    #[wasm_bindgen(js_name = listMeta)]
    fn js_list_meta() -> Promise;
    #[wasm_bindgen(js_name = useAccount)]
    fn js_use_account(user: &str);
    #[wasm_bindgen(js_name = wipe)]
    fn js_wipe() -> Promise;
}

/// Keeps the specs of account `user` from now on (each account has its own database).
pub fn use_account(user: &str) {
    js_use_account(user);
}

/// Deletes everything this account kept in this browser (at sign-out).
pub async fn wipe() {
    let _ = JsFuture::from(js_wipe()).await;
}

/// Why the local store could not do something (IndexedDB missing, full, or blocked).
#[derive(Debug, Clone)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Awaits a store call (they are all `async` in JS: every failure is a rejection).
async fn run(promise: Promise) -> Result<JsValue, StoreError> {
    JsFuture::from(promise).await.map_err(describe)
}

fn describe(e: JsValue) -> StoreError {
    StoreError(
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| "the local store failed".to_owned()),
    )
}

/// What is kept about one spec besides its chunks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub doc: String,
    /// The heads the server is known to hold.
    pub saved: Vec<ChangeHash>,
    pub title: String,
    /// Unix milliseconds of the last change kept here.
    pub updated: f64,
    /// Created in this browser and not yet acknowledged by the server.
    pub local: bool,
    /// Holds changes the server has not acknowledged.
    pub pending: bool,
    /// This person's role on the spec, as the server last said (`owner`, `editor`, `viewer`).
    pub role: Option<String>,
}

fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn heads_from(v: &JsValue) -> Vec<ChangeHash> {
    let Some(list) = v.dyn_ref::<Array>() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|h| h.as_string())
        .filter_map(|h| h.parse().ok())
        .collect()
}

fn heads_to(heads: &[ChangeHash]) -> Array {
    heads.iter().map(|h| JsValue::from(h.to_string())).collect()
}

impl Record {
    fn from_js(o: &JsValue) -> Option<Record> {
        Some(Record {
            doc: get(o, "doc").as_string()?,
            saved: heads_from(&get(o, "saved")),
            title: get(o, "title").as_string().unwrap_or_default(),
            updated: get(o, "updated").as_f64().unwrap_or(0.0),
            local: get(o, "local").as_bool().unwrap_or(false),
            pending: get(o, "pending").as_bool().unwrap_or(false),
            role: get(o, "role").as_string(),
        })
    }
}

/// A spec as read back from the store.
pub struct Stored {
    pub chunks: Vec<Vec<u8>>,
    pub keys: Vec<JsValue>,
    pub record: Option<Record>,
}

/// Reads a spec's chunks (in the order written) and record.
pub async fn load(doc: DocumentId) -> Result<Stored, StoreError> {
    let id = doc.to_string();
    let v = run(js_load(&id)).await?;
    let list = |key: &str| get(&v, key).dyn_into::<Array>().unwrap_or_default();
    let chunks = list("chunks")
        .iter()
        .map(|c| Uint8Array::new(&c).to_vec())
        .collect();
    let keys = list("keys").iter().collect();
    let meta = get(&v, "meta");
    let record = if meta.is_null() || meta.is_undefined() {
        None
    } else {
        Record::from_js(&meta)
    };
    Ok(Stored {
        chunks,
        keys,
        record,
    })
}

/// Appends a chunk; returns its key once it is committed.
pub async fn append(doc: DocumentId, bytes: &[u8]) -> Result<JsValue, StoreError> {
    let id = doc.to_string();
    let bytes = Uint8Array::from(bytes);
    run(js_append(&id, &bytes)).await
}

/// Replaces the chunks `keys` by the full save `bytes`; returns the new chunk's key.
pub async fn compact(
    doc: DocumentId,
    bytes: &[u8],
    keys: &[JsValue],
) -> Result<JsValue, StoreError> {
    let id = doc.to_string();
    let bytes = Uint8Array::from(bytes);
    let keys: Array = keys.iter().collect();
    run(js_compact(&id, &bytes, &keys)).await
}

/// Fields of a record to write; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Update {
    pub saved: Option<Vec<ChangeHash>>,
    pub title: Option<String>,
    pub updated: Option<f64>,
    pub local: Option<bool>,
    pub pending: Option<bool>,
    pub role: Option<String>,
}

/// Merges `update` into a spec's record.
pub async fn put(doc: DocumentId, update: Update) -> Result<(), StoreError> {
    let o = Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&o, &JsValue::from_str(k), &v);
    };
    if let Some(saved) = update.saved {
        set("saved", heads_to(&saved).into());
    }
    if let Some(title) = update.title {
        set("title", title.into());
    }
    if let Some(updated) = update.updated {
        set("updated", updated.into());
    }
    if let Some(local) = update.local {
        set("local", local.into());
    }
    if let Some(pending) = update.pending {
        set("pending", pending.into());
    }
    if let Some(role) = update.role {
        set("role", role.into());
    }
    let id = doc.to_string();
    run(js_put_meta(&id, &o)).await.map(|_| ())
}

/// Every spec kept in this browser.
pub async fn records() -> Result<Vec<Record>, StoreError> {
    let v = run(js_list_meta()).await?;
    Ok(v.dyn_into::<Array>()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| Record::from_js(&r))
        .collect())
}
