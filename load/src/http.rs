//! The one HTTP client of the load generator and of the server's tests: reqwest over loopback, one connection pool per process, no redirect followed, no body decompressed.

use std::net::SocketAddr;
use std::sync::OnceLock;

use anyhow::Result;

/// The process's client.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Sends `method path` to the server at `addr` with a JSON content type, `headers` and
/// `body`.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<reqwest::Response> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut request = client()
        .request(method, format!("http://{addr}{path}"))
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    Ok(request.send().await?)
}
