//! The server's REST API as the page uses it: the list of specs.

use serde::Deserialize;

/// A spec as `GET /api/specs` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SpecSummary {
    pub id: String,
    pub url: String,
    pub title: String,
    /// Unix milliseconds.
    pub updated_at: i64,
    pub authors: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    error: String,
}

/// What went wrong talking to the server, in words for the page.
pub type ApiResult<T> = Result<T, String>;

async fn read<T: for<'de> Deserialize<'de>>(response: gloo_net::http::Response) -> ApiResult<T> {
    if response.ok() {
        return response
            .json::<T>()
            .await
            .map_err(|e| format!("unexpected answer from the server: {e}"));
    }
    let status = response.status();
    match response.json::<ApiError>().await {
        Ok(e) => Err(e.error),
        Err(_) => Err(format!("the server answered {status}")),
    }
}

/// Every spec, newest first.
pub async fn list_specs() -> ApiResult<Vec<SpecSummary>> {
    let response = gloo_net::http::Request::get("/api/specs")
        .send()
        .await
        .map_err(|e| format!("could not reach the server: {e}"))?;
    let mut specs: Vec<SpecSummary> = read(response).await?;
    specs.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
    Ok(specs)
}
