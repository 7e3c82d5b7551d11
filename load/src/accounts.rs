//! Accounts for simulated users: each signs up (or in) over the server's REST API and gets an API token for its websocket; spec owners share their spec with the users typing in it.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context, Result};
use duet_protocol::DocumentId;

/// The server's address, from its websocket URL (`ws://host:port/sync`).
pub fn server_addr(url: &str) -> Result<SocketAddr> {
    url.trim_start_matches("ws://")
        .split(['/', '?'])
        .next()
        .ok_or_else(|| anyhow!("no host in {url}"))?
        .parse()
        .with_context(|| format!("the load generator needs ws://IP:PORT, got {url}"))
}

/// One HTTP request to the server: (status, Set-Cookie value if any, body).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    header: Option<(&str, &str)>,
    body: &str,
) -> Result<(u16, Option<String>, String)> {
    let headers: Vec<(&str, &str)> = header.into_iter().collect();
    let response = crate::http::send(addr, method, path, &headers, Some(body)).await?;
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    Ok((status, cookie, response.text().await?))
}

/// An API token for `user`, signing the account up on first use (password derived from the
/// name: these are throwaway accounts on a load-test server).
pub async fn token_for(addr: SocketAddr, user: &str) -> Result<String> {
    let body = serde_json::json!({ "username": user, "password": format!("duet-load {user}") })
        .to_string();
    let (mut status, mut cookie, mut reply) =
        request(addr, "POST", "/api/auth/signup", None, &body).await?;
    if status == 409 {
        (status, cookie, reply) = request(addr, "POST", "/api/auth/signin", None, &body).await?;
    }
    let Some(cookie) = cookie.filter(|_| status < 300) else {
        bail!("{user} could not sign in: {status} {reply}");
    };
    let (status, _, reply) =
        request(addr, "POST", "/api/tokens", Some(("Cookie", &cookie)), "").await?;
    if status != 201 {
        bail!("{user} got no API token: {status} {reply}");
    }
    let v: serde_json::Value = serde_json::from_str(&reply)?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no token in {reply}"))
}

/// The spec's owner (by their token) makes `user` an editor of `doc`.
pub async fn share(addr: SocketAddr, owner_token: &str, doc: DocumentId, user: &str) -> Result<()> {
    let auth = format!("Bearer {owner_token}");
    let (status, _, reply) = request(
        addr,
        "PUT",
        &format!("/api/specs/{doc}/roles/{user}"),
        Some(("Authorization", &auth)),
        r#"{"role":"editor"}"#,
    )
    .await?;
    if status != 200 {
        bail!("sharing {doc} with {user}: {status} {reply}");
    }
    Ok(())
}

/// `url` with `?token=…` for a websocket signed in as that token's user.
pub fn signed(url: &str, token: &str) -> String {
    format!("{url}?token={token}")
}
