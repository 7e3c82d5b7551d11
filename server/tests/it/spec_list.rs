//! The spec list against a real server: owners rename, archive, delete and bring back a spec (nobody else may; a deleted spec cannot be opened over REST or sync), the list filters mine / shared / archived / deleted and searches titles and text, and specs deleted 30 days ago are purged with everything they had.

use crate::common;

use anyhow::{Context, Result};
use common::{http_as, share, Client, Server};
use duet_model::{NewStory, Spec, TextField, UnixMillis};
use duet_protocol::DocumentId;
use duet_server::storage::KEEP_DELETED_MS;
use rand::{rngs::StdRng, SeedableRng};
use serde_json::{json, Value};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// A spec owned by `user` with a title and one story.
async fn owned(server: &Server, user: &str, seed: u64, title: &str, want: &str) -> Result<Client> {
    let id = DocumentId::random(&mut StdRng::seed_from_u64(seed));
    let mut spec = Spec::new(common::author(user, seed));
    spec.set_text(&TextField::Title, title, NOW)?;
    let story = NewStory {
        as_a: "analyst".into(),
        i_want: want.into(),
        so_that: "I can share numbers".into(),
    };
    spec.add_story(&duet_model::ItemId::parse("s1")?, 0, &story, NOW)?;
    let mut client = Client::open(&server.ws_url(), user, seed, id, spec.into_doc()).await?;
    client.until_acked().await?;
    Ok(client)
}

async fn call(
    server: &Server,
    user: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    let body = body.map(|b| b.to_string());
    let (status, reply) = http_as(server.addr, user, method, path, body.as_deref()).await?;
    Ok((
        status,
        serde_json::from_str(&reply).unwrap_or(Value::String(reply)),
    ))
}

/// The titles `user`'s list shows with `query` (e.g. "?filter=archived").
async fn titles(server: &Server, user: &str, query: &str) -> Result<Vec<String>> {
    let (status, list) = call(server, user, "GET", &format!("/api/specs{query}"), None).await?;
    anyhow::ensure!(status == 200, "{status} {list}");
    let mut titles: Vec<String> = list
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|s| s["title"].as_str().map(str::to_owned))
        .collect();
    titles.sort();
    Ok(titles)
}

#[tokio::test]
async fn owners_rename_archive_delete_and_bring_back_specs_and_nobody_else_can() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let pm = owned(&server, "pm", 1, "Exports", "to export CSV").await?;
    let id = pm.doc_id;
    let _other = owned(&server, "eng", 2, "Eng notes", "to log in").await?;
    share(server.addr, "pm", id, "eng", "editor").await?;
    share(server.addr, "pm", id, "viewer", "viewer").await?;
    let spec = format!("/api/specs/{id}");

    // Rename: the owner only; the title is a change by the owner, synced to everyone.
    for user in ["eng", "viewer"] {
        let (status, reply) = call(
            &server,
            user,
            "PATCH",
            &spec,
            Some(json!({ "title": "Mine now" })),
        )
        .await?;
        assert_eq!(status, 403, "{user}: {reply}");
    }
    let (status, _) = call(
        &server,
        "stranger",
        "PATCH",
        &spec,
        Some(json!({ "title": "x" })),
    )
    .await?;
    assert_eq!(status, 404);
    let (status, _) = call(
        &server,
        "pm",
        "PATCH",
        &spec,
        Some(json!({ "title": "  " })),
    )
    .await?;
    assert_eq!(status, 400, "an empty title");
    let (status, _) = call(&server, "pm", "PATCH", &spec, Some(json!({}))).await?;
    assert_eq!(status, 400, "nothing to change");
    let (status, reply) = call(
        &server,
        "pm",
        "PATCH",
        &spec,
        Some(json!({ "title": "CSV exports" })),
    )
    .await?;
    assert_eq!(
        (status, reply["title"].clone()),
        (200, json!("CSV exports"))
    );
    let mut reader = Client::join_empty(&server.ws_url(), "viewer", 3, id).await?;
    reader
        .until(|c| duet_model::spec_title(&c.doc).as_deref() == Some("CSV exports"))
        .await?;
    drop(reader);

    // Filters: eng sees the spec shared with them and their own.
    assert_eq!(
        titles(&server, "eng", "").await?,
        ["CSV exports", "Eng notes"]
    );
    assert_eq!(titles(&server, "eng", "?filter=mine").await?, ["Eng notes"]);
    assert_eq!(
        titles(&server, "eng", "?filter=shared").await?,
        ["CSV exports"]
    );
    let (status, _) = call(&server, "eng", "GET", "/api/specs?filter=bogus", None).await?;
    assert_eq!(status, 400);

    // Archive: out of every list but "archived", still open to all.
    let (status, _) = call(
        &server,
        "eng",
        "PATCH",
        &spec,
        Some(json!({ "archived": true })),
    )
    .await?;
    assert_eq!(status, 403);
    let (status, reply) = call(
        &server,
        "pm",
        "PATCH",
        &spec,
        Some(json!({ "archived": true })),
    )
    .await?;
    assert_eq!((status, reply["archived"].clone()), (200, json!(true)));
    assert_eq!(titles(&server, "eng", "").await?, ["Eng notes"]);
    assert_eq!(
        titles(&server, "eng", "?filter=archived").await?,
        ["CSV exports"]
    );
    let (status, _) = call(&server, "eng", "GET", &spec, None).await?;
    assert_eq!(status, 200, "an archived spec still opens");
    call(
        &server,
        "pm",
        "PATCH",
        &spec,
        Some(json!({ "archived": false })),
    )
    .await?;
    assert_eq!(
        titles(&server, "eng", "").await?,
        ["CSV exports", "Eng notes"]
    );

    // Delete: the owner only; then nobody can open it, over REST or sync.
    let (status, _) = call(&server, "eng", "DELETE", &spec, None).await?;
    assert_eq!(status, 403);
    let (status, reply) = call(&server, "pm", "DELETE", &spec, None).await?;
    assert_eq!(status, 200, "{reply}");
    let deleted_at = reply["deleted_at"].as_i64().context("deleted_at")?;
    assert_eq!(
        reply["purge_at"].as_i64(),
        Some(deleted_at + KEEP_DELETED_MS)
    );
    for user in ["pm", "eng"] {
        let (status, _) = call(&server, user, "GET", &spec, None).await?;
        assert_eq!(status, 404, "{user}");
        assert!(!titles(&server, user, "")
            .await?
            .contains(&"CSV exports".to_owned()));
    }
    let mut late = Client::join_empty(&server.ws_url(), "eng", 4, id).await?;
    late.until(|c| c.unavailable).await?;
    assert!(late.doc.get_heads().is_empty(), "nothing of it was sent");
    // Only its owner sees it among the deleted, and only they bring it back.
    assert_eq!(
        titles(&server, "pm", "?filter=deleted").await?,
        ["CSV exports"]
    );
    assert!(titles(&server, "eng", "?filter=deleted").await?.is_empty());
    let undelete = format!("{spec}/undelete");
    let (status, _) = call(&server, "eng", "POST", &undelete, None).await?;
    assert_eq!(status, 404, "to others it is gone");
    let (status, reply) = call(&server, "pm", "POST", &undelete, None).await?;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = call(&server, "pm", "POST", &undelete, None).await?;
    assert_eq!(status, 409, "not deleted any more");
    let mut back = Client::join_empty(&server.ws_url(), "eng", 5, id).await?;
    back.until(|c| duet_model::spec_title(&c.doc).as_deref() == Some("CSV exports"))
        .await?;

    // It all survives a restart.
    call(
        &server,
        "pm",
        "PATCH",
        &spec,
        Some(json!({ "archived": true })),
    )
    .await?;
    drop((pm, late, back));
    server.stop().await?;
    let server = Server::start(dir.path()).await?;
    assert_eq!(
        titles(&server, "eng", "?filter=archived").await?,
        ["CSV exports"]
    );
    server.stop().await
}

#[tokio::test]
async fn the_list_searches_titles_and_text_in_any_case() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let mut pm = owned(&server, "pm", 11, "Über exports", "to export CSV").await?;
    let _b = owned(&server, "pm", 12, "Login", "to sign in with SSO").await?;
    // The search text is written once a spec is quiet: wait for it, bounded.
    let until = |q: &'static str, want: &'static [&'static str]| {
        let server = &server;
        async move {
            for _ in 0..100 {
                if titles(server, "pm", q).await? == want {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            anyhow::bail!(
                "{q}: never {want:?}, still {:?}",
                titles(server, "pm", q).await?
            )
        }
    };
    until("?q=%C3%BCBER", &["Über exports"]).await?;
    until("?q=sso", &["Login"]).await?;
    until("?q=SHARE%20NUMBERS", &["Login", "Über exports"]).await?;
    until("?q=nowhere", &[]).await?;
    // An edit is found once it is written.
    pm.edit(|s| s.set_text(&TextField::Problem, "Auditors need quarterly ledgers", NOW))
        .await?;
    pm.until_acked().await?;
    until("?q=quarterly", &["Über exports"]).await?;
    server.stop().await
}
