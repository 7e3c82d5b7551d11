//! Accounts, roles and verified authorship against a real server: every door refuses bad credentials, roles bound what sync and REST reveal and accept, and nobody can write as someone else.

use crate::common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::{
    expect_close, handshake, http, http_as, http_with, password_of, share, signed_url, token_for,
    Client, Server,
};
use duet_model::automerge::{transaction::Transactable, ActorId, AutoCommit, ROOT};
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::{DocumentId, Message, PeerId};
use futures_util::SinkExt;
use rand::{rngs::StdRng, SeedableRng};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as Frame;

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// A spec owned by `owner`, pushed over sync and acknowledged.
async fn owned_spec(server: &Server, owner: &str, seed: u64, title: &str) -> Result<Client> {
    let mut spec = Spec::new(common::author(owner, seed));
    spec.set_text(&TextField::Title, title, NOW)?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(seed));
    let mut c = Client::open(&server.ws_url(), owner, seed, id, spec.into_doc()).await?;
    c.until_acked().await?;
    Ok(c)
}

/// A session cookie for `user` (signed up already or now).
async fn cookie_for(server: &Server, user: &str) -> Result<String> {
    token_for(server.addr, user).await?;
    let body = serde_json::json!({ "username": user, "password": password_of(user) }).to_string();
    let r = http_with(server.addr, "POST", "/api/auth/signin", &[], Some(&body)).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.header("set-cookie").context("no cookie")?;
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    r.session_cookie().context("no session cookie")
}

/// The HTTP status of a websocket upgrade of `/sync` with these headers (101 = upgraded).
async fn upgrade_status(server: &Server, query: &str, headers: &[(&str, String)]) -> Result<u16> {
    let mut request = format!("{}{query}", server.ws_url()).into_client_request()?;
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())?;
        request
            .headers_mut()
            .insert(name, v.parse().context("header value")?);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => Ok(response.status().as_u16()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Ok(response.status().as_u16())
        }
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn missing_malformed_expired_and_revoked_credentials_get_401_on_every_door() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let good = token_for(server.addr, "pm").await?;
    let accounts = duet_server::accounts::Accounts::open(dir.path())?;
    let (_, expired) = accounts.create_token("pm", Duration::ZERO, "")?;
    let (revoked_id, revoked) = accounts.create_token("pm", Duration::from_secs(3600), "")?;
    let cookie = cookie_for(&server, "pm").await?;
    let r = http_with(
        server.addr,
        "DELETE",
        &format!("/api/tokens/{revoked_id}"),
        &[("Authorization", &format!("Bearer {good}"))],
        None,
    )
    .await?;
    assert_eq!(r.status, 204, "{}", r.body);
    // A session that was signed out, and one that expired.
    let signed_out = cookie_for(&server, "pm").await?;
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signout",
        &[("Cookie", &signed_out)],
        None,
    )
    .await?;
    assert_eq!(r.status, 204);
    let stale = cookie_for(&server, "pm").await?;
    let stale_value = stale.trim_start_matches("duet_session=").to_owned();
    {
        let db = rusqlite::Connection::open(dir.path().join("duet.sqlite3"))?;
        db.busy_timeout(Duration::from_secs(5))?;
        let hash: String = sha256_hex(&stale_value);
        db.execute(
            "UPDATE sessions SET expires_at = 0 WHERE token_hash = ?1",
            [hash],
        )?;
    }

    let bad: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no credentials", vec![]),
        (
            "an Authorization header that is not Bearer",
            vec![("Authorization", "Basic cG06cHc=".into())],
        ),
        (
            "an empty bearer token",
            vec![("Authorization", "Bearer ".into())],
        ),
        (
            "an unknown token",
            vec![("Authorization", "Bearer duet_nosuchtoken".into())],
        ),
        (
            "garbage instead of a token",
            vec![(
                "Authorization",
                "Bearer \u{1}\u{2}x".replace(['\u{1}', '\u{2}'], "%"),
            )],
        ),
        (
            "an expired token",
            vec![("Authorization", format!("Bearer {expired}"))],
        ),
        (
            "a revoked token",
            vec![("Authorization", format!("Bearer {revoked}"))],
        ),
        (
            "an unknown session cookie",
            vec![("Cookie", "duet_session=forged".into())],
        ),
        ("a signed-out session", vec![("Cookie", signed_out.clone())]),
        ("an expired session", vec![("Cookie", stale.clone())]),
    ];
    for (what, headers) in &bad {
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (method, path) in [
            ("GET", "/api/specs"),
            ("POST", "/api/specs"),
            ("GET", "/api/me"),
            ("POST", "/api/tokens"),
        ] {
            let r = http_with(server.addr, method, path, &pairs, Some("{}")).await?;
            assert_eq!(r.status, 401, "{method} {path} with {what}: {}", r.body);
            assert!(r.body.contains("\"error\""), "{what}: {}", r.body);
        }
        let mut ws_headers = headers.clone();
        ws_headers.push(("Origin", format!("http://{}", server.addr)));
        assert_eq!(
            upgrade_status(&server, "", &ws_headers).await?,
            401,
            "/sync with {what}"
        );
    }
    for (what, query) in [
        ("an unknown ?token=", "?token=duet_nosuch".to_owned()),
        ("an expired ?token=", format!("?token={expired}")),
        ("a revoked ?token=", format!("?token={revoked}")),
    ] {
        assert_eq!(
            upgrade_status(&server, &query, &[]).await?,
            401,
            "/sync with {what}"
        );
    }
    // The good credentials pass every door.
    assert_eq!(
        upgrade_status(&server, &format!("?token={good}"), &[]).await?,
        101
    );
    let origin = format!("http://{}", server.addr);
    assert_eq!(
        upgrade_status(
            &server,
            "",
            &[("Cookie", cookie.clone()), ("Origin", origin)]
        )
        .await?,
        101
    );
    let r = http_with(server.addr, "GET", "/api/me", &[("Cookie", &cookie)], None).await?;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("\"username\":\"pm\""), "{}", r.body);
    server.stop().await
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_cookie_from_another_or_no_origin_gets_403_and_allowed_origins_pass() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = duet_server::Config::new(dir.path());
    config.allowed_origins = vec!["https://duet.example.com".into()];
    let server = Server::start_with(config).await?;
    let cookie = cookie_for(&server, "pm").await?;
    let own = format!("http://{}", server.addr);
    let cases: Vec<(&str, Option<&str>, u16)> = vec![
        ("another site", Some("https://evil.example"), 403),
        ("no Origin", None, 403),
        (
            "a look-alike of the own origin",
            Some("http://127.0.0.1.evil.example"),
            403,
        ),
        ("the server's own origin", Some(own.as_str()), 101),
        ("an allowed origin", Some("https://duet.example.com"), 101),
    ];
    for (what, origin, want) in cases {
        let mut headers = vec![("Cookie", cookie.clone())];
        if let Some(o) = origin {
            headers.push(("Origin", o.to_owned()));
        }
        assert_eq!(
            upgrade_status(&server, "", &headers).await?,
            want,
            "/sync from {what}"
        );
    }
    // State-changing REST with the cookie from another site is refused too.
    let r = http_with(
        server.addr,
        "POST",
        "/api/specs",
        &[("Cookie", &cookie), ("Origin", "https://evil.example")],
        Some("{\"title\":\"x\"}"),
    )
    .await?;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = http_with(
        server.addr,
        "POST",
        "/api/specs",
        &[("Cookie", &cookie), ("Origin", &own)],
        Some("{\"title\":\"x\"}"),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.body);
    // A token needs no Origin: it is not sent by browsers on their own.
    let token = token_for(server.addr, "pm").await?;
    assert_eq!(
        upgrade_status(
            &server,
            &format!("?token={token}"),
            &[("Origin", "https://evil.example".into())]
        )
        .await?,
        101
    );
    server.stop().await
}

#[tokio::test]
async fn without_a_role_a_spec_is_unavailable_over_sync_and_absent_from_rest() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let owner = owned_spec(&server, "pm", 1, "Secret roadmap").await?;
    let id = owner.doc_id;
    // A stranger asks for it over sync: doc-unavailable, exactly as for a spec that does not exist.
    let mut stranger = Client::join_empty(&server.ws_url(), "stranger", 2, id).await?;
    stranger.until(|c| c.unavailable).await?;
    assert!(stranger.doc.get_heads().is_empty());
    // Pushing changes to it does not help either.
    let mut pusher = Client::open(&server.ws_url(), "stranger", 3, id, owner.doc.clone()).await?;
    pusher.until(|c| c.unavailable).await?;
    // REST: not listed, and 404 wherever the spec is named.
    let (status, body) = http_as(server.addr, "stranger", "GET", "/api/specs", None).await?;
    assert_eq!((status, body.as_str()), (200, "[]"));
    for path in [
        "",
        "/markdown",
        "/history",
        "/changes",
        "/version?at=",
        "/diff?from=",
        "/blame",
        "/since-seen",
        "/roles",
        "/links",
    ] {
        let (status, body) = http_as(
            server.addr,
            "stranger",
            "GET",
            &format!("/api/specs/{id}{path}"),
            None,
        )
        .await?;
        assert_eq!(status, 404, "GET /api/specs/{{id}}{path}: {body}");
    }
    let (status, _) = http_as(
        server.addr,
        "stranger",
        "PUT",
        &format!("/api/specs/{id}/roles/stranger"),
        Some("{\"role\":\"owner\"}"),
    )
    .await?;
    assert_eq!(status, 404);
    // The owner sees it with their role.
    let (status, body) = http_as(server.addr, "pm", "GET", "/api/specs", None).await?;
    assert_eq!(status, 200);
    assert!(
        body.contains("Secret roadmap") && body.contains("\"role\":\"owner\""),
        "{body}"
    );
    server.stop().await
}

#[tokio::test]
async fn a_viewers_changes_are_refused_and_reach_no_one_while_they_follow_edits_live() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut owner = owned_spec(&server, "pm", 1, "Checkout").await?;
    let id = owner.doc_id;
    share(server.addr, "pm", id, "viewer", "viewer").await?;
    share(server.addr, "pm", id, "eng", "editor").await?;
    let mut editor = Client::join_empty(&server.ws_url(), "eng", 2, id).await?;
    let heads = owner.heads();
    editor.until_heads(&heads).await?;
    let mut viewer = Client::join_empty(&server.ws_url(), "viewer", 3, id).await?;
    viewer.until_heads(&heads).await?;
    // The viewer follows an edit live.
    owner
        .edit(|s| s.set_text(&TextField::Problem, "slow checkout", NOW))
        .await?;
    owner.until_acked().await?;
    let heads = owner.heads();
    viewer.until_heads(&heads).await?;
    editor.until_heads(&heads).await?;
    // The viewer writes anyway: refused with an error, connection closed with 1008.
    viewer.doc = {
        let mut spec = Spec::from_doc(viewer.doc.clone(), common::author("viewer", 3))?;
        spec.set_text(&TextField::Problem, "vandalised", NOW)?;
        spec.into_doc()
    };
    viewer.send_sync(false).await?;
    let (code, seen) = expect_close(&mut viewer.ws).await?;
    assert_eq!(code, Some(CloseCode::Policy), "{seen:?}");
    assert!(
        seen.iter()
            .any(|m| matches!(m, Message::Error { message, .. } if message.contains("viewer"))),
        "{seen:?}"
    );
    // Nothing applied or relayed: the owner's next edit reaches the editor, and the editor's
    // heads are exactly the owner's.
    owner
        .edit(|s| s.set_text(&TextField::Title, "Checkout v2", NOW))
        .await?;
    owner.until_acked().await?;
    let heads = owner.heads();
    editor.until_heads(&heads).await?;
    assert_eq!(editor.view()?.problem, "slow checkout");
    let (_, md) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{id}/markdown"),
        None,
    )
    .await?;
    assert!(!md.contains("vandalised"), "{md}");
    // A viewer reconnecting may still read.
    let mut again = Client::join_empty(&server.ws_url(), "viewer", 4, id).await?;
    again.until_heads(&heads).await?;
    server.stop().await
}

/// A sync message carrying every change of `doc` the server lacks, from a connection of `as_user`.
async fn push_as(
    server: &Server,
    as_user: &str,
    seed: u64,
    id: DocumentId,
    doc: AutoCommit,
) -> Result<(Option<CloseCode>, Vec<Message>)> {
    let mut c = Client::open(&server.ws_url(), as_user, seed, id, doc).await?;
    // Answer the server until it closes (refused) or acknowledges (accepted).
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("neither refused nor acknowledged");
        }
        match c.pump_once().await {
            Ok(()) if c.acked() => return Ok((None, Vec::new())),
            Ok(()) => {}
            Err(e) => {
                let text = format!("{e:#}");
                if text.contains("server error") {
                    let (code, mut seen) = expect_close(&mut c.ws).await?;
                    seen.push(Message::Error {
                        sender: None,
                        target: None,
                        message: text,
                    });
                    return Ok((code, seen));
                }
                return Err(e);
            }
        }
    }
}

#[tokio::test]
async fn changes_authored_as_someone_else_or_with_their_actor_are_refused_whole() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let owner = owned_spec(&server, "pm", 1, "Payments").await?;
    let id = owner.doc_id;
    share(server.addr, "pm", id, "eng", "editor").await?;
    share(server.addr, "pm", id, "mallory", "editor").await?;
    let heads_before = owner.doc.clone().get_heads();

    // A plain automerge actor (not a Duet author) is bound to eng on first use.
    let plain = ActorId::from(b"plain-actor-of-eng".as_slice());
    let mut eng_doc = owner.doc.clone().with_actor(plain.clone());
    eng_doc.put(ROOT, "note", "from eng")?;
    eng_doc.commit();
    // So is a random automerge actor that happens to start with the Duet actor byte (one
    // automerge-repo client in 256 draws one) but is no Duet author.
    let duet_byte = ActorId::from([duet_model::ACTOR_MAGIC, 1, 0].as_slice());
    let mut eng_doc = eng_doc.with_actor(duet_byte.clone());
    eng_doc.put(ROOT, "note-b", "also from eng")?;
    eng_doc.commit();
    let (code, seen) = push_as(&server, "eng", 2, id, eng_doc.clone()).await?;
    assert_eq!(code, None, "eng's own changes are accepted: {seen:?}");

    let forged: Vec<(&str, AutoCommit)> = vec![
        ("a change whose Duet author is pm", {
            let mut spec = Spec::from_doc(owner.doc.clone(), common::author("pm", 99))?;
            spec.set_text(&TextField::Problem, "pm never wrote this", NOW)?;
            spec.into_doc()
        }),
        ("a change with eng's bound actor", {
            let mut d = eng_doc.clone();
            d.put(ROOT, "note2", "as eng")?;
            d
        }),
        ("one honest change and one forged", {
            let mut spec = Spec::from_doc(owner.doc.clone(), common::author("mallory", 5))?;
            spec.set_text(&TextField::Problem, "honest", NOW)?;
            let mut d = spec
                .into_doc()
                .with_actor(common::author("pm", 98).actor_id());
            d.put(ROOT, "note3", "forged")?;
            d
        }),
        (
            "a change with eng's bound actor that starts like a Duet author",
            {
                let mut d = eng_doc.clone();
                d.put(ROOT, "note4", "x")?;
                d
            },
        ),
    ];
    for (i, (what, doc)) in forged.into_iter().enumerate() {
        let (code, seen) = push_as(&server, "mallory", 10 + i as u64, id, doc).await?;
        assert_eq!(code, Some(CloseCode::Policy), "{what}: {seen:?}");
        assert!(
            seen.iter().any(
                |m| matches!(m, Message::Error { message, .. } if message.contains("refused"))
            ),
            "{what}: the error says why: {seen:?}"
        );
    }
    // Nothing of mallory's is stored: a fresh reader sees pm's and eng's changes only.
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 50, id).await?;
    reader
        .until(|c| !c.doc.get_heads().is_empty() && c.doc.get_heads() != heads_before)
        .await?;
    let (_, history) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{id}/changes"),
        None,
    )
    .await?;
    let history: serde_json::Value = serde_json::from_str(&history)?;
    let authors: std::collections::BTreeSet<&str> = history
        .as_array()
        .context("history is a list")?
        .iter()
        .filter_map(|e| e["author"].as_str())
        .collect();
    assert_eq!(authors.into_iter().collect::<Vec<_>>(), ["eng", "pm"]);
    assert!(
        reader.view()?.problem.is_empty(),
        "{:?}",
        reader.view()?.problem
    );
    server.stop().await
}

#[tokio::test]
async fn the_change_list_records_the_servers_receive_time_and_the_verified_author_of_each_change(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    // The client claims a time in 2025: the server keeps its own.
    let owner = owned_spec(&server, "pm", 1, "Search").await?;
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let (status, body) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{}/changes", owner.doc_id),
        None,
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let history: serde_json::Value = serde_json::from_str(&body)?;
    let entries = history.as_array().context("a list")?;
    assert!(!entries.is_empty());
    for e in entries {
        assert_eq!(e["author"], "pm");
        let received = e["received_at"].as_i64().context("received_at")?;
        assert!(
            (before..=after).contains(&received),
            "{received} not in {before}..={after}"
        );
    }
    // The client's own time is kept beside it, for what it is worth.
    assert_eq!(
        entries.last().map(|e| e["time"].as_i64()),
        Some(Some(NOW.0 / 1000 * 1000))
    );
    server.stop().await
}

#[tokio::test]
async fn share_links_grant_their_role_until_they_expire_or_are_revoked() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let owner = owned_spec(&server, "pm", 1, "Onboarding").await?;
    let id = owner.doc_id;
    let link = |role: &str| serde_json::json!({ "role": role, "expires_in_hours": 24 }).to_string();
    let (status, body) = http_as(
        server.addr,
        "pm",
        "POST",
        &format!("/api/specs/{id}/links"),
        Some(&link("editor")),
    )
    .await?;
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body)?;
    let url = created["url"].as_str().context("url")?.to_owned();
    let token = url.trim_start_matches("/share/").to_owned();
    // Only owners make links.
    share(server.addr, "pm", id, "viewer", "viewer").await?;
    let (status, _) = http_as(
        server.addr,
        "viewer",
        "POST",
        &format!("/api/specs/{id}/links"),
        Some(&link("owner")),
    )
    .await?;
    assert_eq!(status, 403);
    // Redeemed: the role is granted, and the spec is listed and syncs.
    let (status, body) = http_as(
        server.addr,
        "guest",
        "POST",
        &format!("/api/share/{token}"),
        None,
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"role\":\"editor\""), "{body}");
    let (_, list) = http_as(server.addr, "guest", "GET", "/api/specs", None).await?;
    assert!(list.contains("Onboarding"), "{list}");
    let mut guest = Client::join_empty(&server.ws_url(), "guest", 2, id).await?;
    let heads = owner.doc.clone().get_heads();
    guest.until_heads(&heads).await?;
    // A viewer link never lowers a higher role.
    let (_, body) = http_as(
        server.addr,
        "pm",
        "POST",
        &format!("/api/specs/{id}/links"),
        Some(&link("viewer")),
    )
    .await?;
    let viewer_link: serde_json::Value = serde_json::from_str(&body)?;
    let viewer_token = viewer_link["url"]
        .as_str()
        .context("url")?
        .trim_start_matches("/share/")
        .to_owned();
    let (_, body) = http_as(
        server.addr,
        "guest",
        "POST",
        &format!("/api/share/{viewer_token}"),
        None,
    )
    .await?;
    assert!(body.contains("\"role\":\"editor\""), "{body}");

    // Revoked, expired, tampered, not signed in.
    let link_id = created["id"].as_str().context("id")?;
    let (status, _) = http_as(
        server.addr,
        "pm",
        "DELETE",
        &format!("/api/specs/{id}/links/{link_id}"),
        None,
    )
    .await?;
    assert_eq!(status, 204);
    let accounts = duet_server::accounts::Accounts::open(dir.path())?;
    let expired =
        accounts.create_link(id, duet_server::storage::Role::Editor, Duration::ZERO, "pm")?;
    let expired_token = expired.url.trim_start_matches("/share/").to_owned();
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if tampered.starts_with('A') { "B" } else { "A" });
    let cases: Vec<(&str, String, Option<&str>, u16, &str)> = vec![
        (
            "a revoked link",
            token.clone(),
            Some("late"),
            410,
            "revoked",
        ),
        (
            "an expired link",
            expired_token,
            Some("late"),
            410,
            "expired",
        ),
        (
            "a tampered link",
            tampered,
            Some("late"),
            400,
            "not a valid",
        ),
        (
            "garbage",
            "nonsense".into(),
            Some("late"),
            400,
            "not a valid",
        ),
        ("no sign-in", viewer_token.clone(), None, 401, "sign in"),
    ];
    for (what, token, user, want, says) in cases {
        let path = format!("/api/share/{token}");
        let (status, body) = match user {
            Some(u) => http_as(server.addr, u, "POST", &path, None).await?,
            None => http(server.addr, "POST", &path, None).await?,
        };
        assert_eq!(status, want, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
    }
    let (_, list) = http_as(server.addr, "late", "GET", "/api/specs", None).await?;
    assert_eq!(list, "[]");
    server.stop().await
}

#[tokio::test]
async fn owners_change_and_revoke_roles_and_a_revoked_peer_loses_the_spec_at_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut owner = owned_spec(&server, "pm", 1, "Reports").await?;
    let id = owner.doc_id;
    share(server.addr, "pm", id, "eng", "editor").await?;
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 2, id).await?;
    let heads = owner.heads();
    eng.until_heads(&heads).await?;
    // An editor cannot share.
    let (status, _) = http_as(
        server.addr,
        "eng",
        "PUT",
        &format!("/api/specs/{id}/roles/qa"),
        Some("{\"role\":\"viewer\"}"),
    )
    .await?;
    assert_eq!(status, 403);
    // Unknown user, bad role, last owner.
    let (status, _) = http_as(
        server.addr,
        "pm",
        "PUT",
        &format!("/api/specs/{id}/roles/nobody"),
        Some("{\"role\":\"viewer\"}"),
    )
    .await?;
    assert_eq!(status, 404);
    let (status, _) = http_as(
        server.addr,
        "pm",
        "PUT",
        &format!("/api/specs/{id}/roles/eng"),
        Some("{\"role\":\"god\"}"),
    )
    .await?;
    assert_eq!(status, 400);
    let (status, body) = http_as(
        server.addr,
        "pm",
        "DELETE",
        &format!("/api/specs/{id}/roles/pm"),
        None,
    )
    .await?;
    assert_eq!(status, 409, "{body}");
    let (_, roles) = http_as(
        server.addr,
        "eng",
        "GET",
        &format!("/api/specs/{id}/roles"),
        None,
    )
    .await?;
    assert!(
        roles.contains("\"username\":\"pm\"") && roles.contains("\"role\":\"editor\""),
        "{roles}"
    );
    // Revoked: eng's live connection is told the spec is unavailable, and it is gone from REST.
    let (status, _) = http_as(
        server.addr,
        "pm",
        "DELETE",
        &format!("/api/specs/{id}/roles/eng"),
        None,
    )
    .await?;
    assert_eq!(status, 204);
    eng.until(|c| c.unavailable).await?;
    let (_, list) = http_as(server.addr, "eng", "GET", "/api/specs", None).await?;
    assert_eq!(list, "[]");
    owner
        .edit(|s| s.set_text(&TextField::Problem, "after revocation", NOW))
        .await?;
    owner.until_acked().await?;
    server.stop().await
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled_per_account_and_the_first_account_is_admin(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let signup = |u: &str, p: &str| serde_json::json!({ "username": u, "password": p }).to_string();
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signup",
        &[],
        Some(&signup("first", "long enough")),
    )
    .await?;
    assert_eq!(r.status, 201);
    assert!(r.body.contains("\"is_admin\":true"), "{}", r.body);
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signup",
        &[],
        Some(&signup("second", "long enough")),
    )
    .await?;
    assert!(r.body.contains("\"is_admin\":false"), "{}", r.body);
    for (what, body, want) in [
        ("a taken username", signup("first", "long enough"), 409),
        ("a short password", signup("third", "short"), 400),
        ("a username with spaces", signup("a b", "long enough"), 400),
        ("no password", "{\"username\":\"x\"}".to_owned(), 422),
    ] {
        let r = http_with(server.addr, "POST", "/api/auth/signup", &[], Some(&body)).await?;
        assert_eq!(r.status, want, "{what}: {}", r.body);
    }
    for i in 0..5 {
        let r = http_with(
            server.addr,
            "POST",
            "/api/auth/signin",
            &[],
            Some(&signup("second", "wrong password")),
        )
        .await?;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
    }
    // Locked for a while, even with the right password; other accounts are unaffected.
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signin",
        &[],
        Some(&signup("second", "long enough")),
    )
    .await?;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signin",
        &[],
        Some(&signup("first", "long enough")),
    )
    .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop().await
}

#[tokio::test]
async fn connection_and_message_rate_limits_close_only_the_offender() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = duet_server::Config::new(dir.path());
    config.max_connections_per_user = 2;
    config.messages_per_second = 1;
    config.message_burst = 5;
    let server = Server::start_with(config).await?;
    let token = token_for(server.addr, "flood").await?;
    let q = format!("?token={token}");
    let url = signed_url(&server.ws_url(), "flood").await?;
    let (mut a, _) = handshake(&url, &PeerId::new("a")?).await?;
    let (_b, _) = handshake(&url, &PeerId::new("b")?).await?;
    assert_eq!(
        upgrade_status(&server, &q, &[]).await?,
        429,
        "a third connection"
    );
    // Another user is unaffected by flood's connections.
    let mut calm = owned_spec(&server, "calm", 1, "Calm").await?;
    // Flooding messages: closed with 1008 once over the burst.
    let doc = DocumentId::random(&mut StdRng::seed_from_u64(9));
    let frame = Message::Request {
        sender: PeerId::new("a")?,
        target: PeerId::new("x")?,
        document: doc,
        data: {
            use duet_model::automerge::sync::SyncDoc;
            AutoCommit::new()
                .sync()
                .generate_sync_message(&mut duet_model::automerge::sync::State::new())
                .context("a first sync message")?
                .encode()
        },
    };
    let mut closed = None;
    for _ in 0..50 {
        if a.send(Frame::Binary(frame.encode().into())).await.is_err() {
            break;
        }
    }
    if let Ok((code, _)) = expect_close(&mut a).await {
        closed = code;
    }
    assert_eq!(closed, Some(CloseCode::Policy));
    calm.edit(|s| s.set_text(&TextField::Problem, "still fine", NOW))
        .await?;
    calm.until_acked().await?;
    server.stop().await
}

#[tokio::test]
async fn the_cli_adds_users_and_prints_tokens_that_open_every_door() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = env!("CARGO_BIN_EXE_duet");
    let out = std::process::Command::new(bin)
        .args(["user", "add", "ada", "--display-name", "Ada L.", "--data"])
        .arg(dir.path())
        .env("DUET_PASSWORD", "correct horse")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout)?.trim(), "created ada (admin)");
    let out = std::process::Command::new(bin)
        .args(["token", "create", "--user", "ada", "--data"])
        .arg(dir.path())
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)?.trim().to_owned();
    assert!(token.starts_with("duet_"), "{token}");
    let out = std::process::Command::new(bin)
        .args(["token", "create", "--user", "nobody", "--data"])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let server = Server::start(dir.path()).await?;
    let auth = format!("Bearer {token}");
    let r = http_with(
        server.addr,
        "GET",
        "/api/me",
        &[("Authorization", &auth)],
        None,
    )
    .await?;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("\"display_name\":\"Ada L.\""), "{}", r.body);
    let body = serde_json::json!({ "username": "ada", "password": "correct horse" }).to_string();
    let r = http_with(server.addr, "POST", "/api/auth/signin", &[], Some(&body)).await?;
    assert_eq!(r.status, 200);
    assert_eq!(
        upgrade_status(&server, &format!("?token={token}"), &[]).await?,
        101
    );
    server.stop().await
}

#[tokio::test]
async fn sign_up_takes_a_discipline_and_a_password_change_ends_every_other_session_and_tokens_are_listed_by_name(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let up = |u: &str, d: &str| {
        serde_json::json!({ "username": u, "password": "long enough", "discipline": d }).to_string()
    };
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signup",
        &[],
        Some(&up("pam", "product")),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.contains(r#""discipline":"product""#), "{}", r.body);
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signup",
        &[],
        Some(&up("lee", "legal")),
    )
    .await?;
    assert_eq!(r.status, 400, "an unknown discipline: {}", r.body);
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signin",
        &[],
        Some(&up("lee", "legal")),
    )
    .await?;
    assert_eq!(r.status, 401, "and no account was made: {}", r.body);

    // Two browsers signed in; one changes the password.
    let signin = |p: &str| serde_json::json!({ "username": "pam", "password": p }).to_string();
    let first = http_with(
        server.addr,
        "POST",
        "/api/auth/signin",
        &[],
        Some(&signin("long enough")),
    )
    .await?;
    let first = first.session_cookie().context("a session")?;
    let second = http_with(
        server.addr,
        "POST",
        "/api/auth/signin",
        &[],
        Some(&signin("long enough")),
    )
    .await?;
    let second = second.session_cookie().context("a session")?;
    let change = |current: &'static str, new: &'static str| {
        let body = serde_json::json!({ "current": current, "new": new }).to_string();
        let cookie = first.clone();
        async move {
            let headers = [("Cookie", cookie.as_str())];
            http_with(
                server.addr,
                "POST",
                "/api/me/password",
                &headers,
                Some(&body),
            )
            .await
        }
    };
    assert_eq!(change("wrong one", "a new secret").await?.status, 403);
    assert_eq!(change("long enough", "short").await?.status, 400);
    let r = change("long enough", "a new secret").await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let renewed = r
        .session_cookie()
        .context("a new session for this browser")?;
    for (who, cookie, want) in [
        ("the old session", &first, 401),
        ("the other browser", &second, 401),
        ("the new session", &renewed, 200),
    ] {
        let r = http_with(server.addr, "GET", "/api/me", &[("Cookie", cookie)], None).await?;
        assert_eq!(r.status, want, "{who}: {}", r.body);
    }
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signin",
        &[],
        Some(&signin("long enough")),
    )
    .await?;
    assert_eq!(r.status, 401, "the old password no longer works");
    let r = http_with(
        server.addr,
        "POST",
        "/api/auth/signin",
        &[],
        Some(&signin("a new secret")),
    )
    .await?;
    assert_eq!(r.status, 200, "the new one does");

    // Tokens: made with a name, listed without their secret, revoked from the list.
    let body = serde_json::json!({ "name": "CI export" }).to_string();
    let r = http_with(
        server.addr,
        "POST",
        "/api/tokens",
        &[("Cookie", &renewed)],
        Some(&body),
    )
    .await?;
    assert_eq!(r.status, 201, "{}", r.body);
    let made: serde_json::Value = serde_json::from_str(&r.body)?;
    let secret = made["token"].as_str().context("token")?.to_owned();
    let r = http_with(
        server.addr,
        "GET",
        "/api/tokens",
        &[("Cookie", &renewed)],
        None,
    )
    .await?;
    let list: serde_json::Value = serde_json::from_str(&r.body)?;
    assert_eq!(list[0]["name"], "CI export");
    assert_eq!(list[0]["id"], made["id"]);
    assert!(
        !r.body.contains(&secret),
        "the list never shows a token: {}",
        r.body
    );
    let path = format!("/api/tokens/{}", made["id"].as_str().context("id")?);
    let r = http_with(server.addr, "DELETE", &path, &[("Cookie", &renewed)], None).await?;
    assert_eq!(r.status, 204);
    let r = http_with(
        server.addr,
        "GET",
        "/api/tokens",
        &[("Cookie", &renewed)],
        None,
    )
    .await?;
    assert_eq!(r.body, "[]");
    let bearer = format!("Bearer {secret}");
    let r = http_with(
        server.addr,
        "GET",
        "/api/me",
        &[("Authorization", &bearer)],
        None,
    )
    .await?;
    assert_eq!(r.status, 401);
    let long = serde_json::json!({ "name": "x".repeat(61) }).to_string();
    let r = http_with(
        server.addr,
        "POST",
        "/api/tokens",
        &[("Cookie", &renewed)],
        Some(&long),
    )
    .await?;
    assert_eq!(r.status, 400);
    server.stop().await
}
