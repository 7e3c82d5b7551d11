//! History by author over REST against a real server: timeline by session with author and part filters, versions, diffs and blame with verified authors, restore as a new change, and what changed since a person last looked.

use crate::common;

use anyhow::{Context, Result};
use common::{http_as, share, Client, Server};
use duet_model::automerge::ChangeHash;
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::DocumentId;
use rand::{rngs::StdRng, SeedableRng};
use serde_json::Value;

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// "pm" owns a spec titled `title`; "eng" is its editor and "viewer" its viewer. Both
/// clients are connected and in sync.
async fn team(server: &Server, seed: u64, title: &str) -> Result<(Client, Client)> {
    let mut spec = Spec::new(common::author("pm", seed));
    spec.set_text(&TextField::Title, title, NOW)?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(seed));
    let mut pm = Client::open(&server.ws_url(), "pm", seed, id, spec.into_doc()).await?;
    pm.until_acked().await?;
    share(server.addr, "pm", id, "eng", "editor").await?;
    share(server.addr, "pm", id, "viewer", "viewer").await?;
    let mut eng = Client::join_empty(&server.ws_url(), "eng", seed + 1, id).await?;
    let heads = pm.heads();
    eng.until_heads(&heads).await?;
    Ok((pm, eng))
}

/// `by` sets `field` to `text`; once the server holds it, `other` has it too.
async fn set_and_spread(
    by: &mut Client,
    other: &mut Client,
    field: TextField,
    text: &str,
) -> Result<()> {
    let text = text.to_owned();
    by.edit(move |s| s.set_text(&field, &text, NOW)).await?;
    by.until_acked().await?;
    let heads = by.heads();
    other.until_heads(&heads).await
}

/// The team of [`team`] on a spec titled "Export": eng writes the problem ("Exports time
/// out"), then pm renames the spec "Export to CSV".
async fn two_sessions(server: &Server, seed: u64) -> Result<(Client, Client)> {
    let (mut pm, mut eng) = team(server, seed, "Export").await?;
    set_and_spread(&mut eng, &mut pm, TextField::Problem, "Exports time out").await?;
    set_and_spread(&mut pm, &mut eng, TextField::Title, "Export to CSV").await?;
    Ok((pm, eng))
}

async fn get(server: &Server, user: &str, path: &str) -> Result<(u16, Value)> {
    let (status, body) = http_as(server.addr, user, "GET", path, None).await?;
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, json))
}

async fn get_ok(server: &Server, user: &str, path: &str) -> Result<Value> {
    let (status, json) = get(server, user, path).await?;
    anyhow::ensure!(status == 200, "GET {path} as {user}: {status} {json}");
    Ok(json)
}

fn heads_param(heads: &[ChangeHash]) -> String {
    heads
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn list(v: &Value) -> Result<Vec<String>> {
    v.as_array()
        .context("a list")?
        .iter()
        .map(|h| h.as_str().map(str::to_owned).context("a string"))
        .collect()
}

fn session_authors(timeline: &Value) -> Result<Vec<String>> {
    Ok(timeline["sessions"]
        .as_array()
        .context("sessions")?
        .iter()
        .map(|s| s["author"].as_str().unwrap_or("?").to_owned())
        .collect())
}

#[tokio::test]
async fn the_timeline_groups_each_authors_session_filters_by_author_and_part_and_diffs_name_who_typed(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (pm, _eng) = two_sessions(&server, 1).await?;
    let id = pm.doc_id;

    let all = get_ok(&server, "viewer", &format!("/api/specs/{id}/history")).await?;
    let mut authors = session_authors(&all)?;
    authors.sort();
    assert_eq!(authors, ["eng", "pm"], "{all}");
    let people: Vec<&str> = all["authors"]
        .as_array()
        .context("authors")?
        .iter()
        .filter_map(|a| a["username"].as_str())
        .collect();
    assert_eq!(people, ["eng", "pm"]);
    assert!(all["authors"][0]["colour"]
        .as_str()
        .is_some_and(|c| c.starts_with('#')));
    let eng_session = all["sessions"]
        .as_array()
        .context("sessions")?
        .iter()
        .find(|s| s["author"] == "eng")
        .context("eng's session")?
        .clone();
    assert_eq!(eng_session["summary"], "edited the problem");
    assert_eq!(list(&eng_session["parts"])?, ["problem"]);

    let only_eng = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/history?author=eng"),
    )
    .await?;
    assert_eq!(session_authors(&only_eng)?, ["eng"]);
    let title = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/history?part=title"),
    )
    .await?;
    assert_eq!(
        session_authors(&title)?,
        ["pm"],
        "the title was set by pm only"
    );
    let future = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/history?since=4102444800000"),
    )
    .await?;
    assert_eq!(session_authors(&future)?, Vec::<String>::new());

    // eng's session as a diff: the inserted text is eng's.
    let before = list(&eng_session["before"])?.join(",");
    let after = list(&eng_session["after"])?.join(",");
    let diff = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/diff?from={before}&to={after}"),
    )
    .await?;
    let texts = diff["texts"].as_array().context("texts")?;
    assert_eq!(texts.len(), 1, "{diff}");
    assert_eq!(texts[0]["field"]["part"], "problem");
    assert_eq!(texts[0]["label"], "Problem");
    assert_eq!(texts[0]["runs"][0]["kind"], "inserted");
    assert_eq!(texts[0]["runs"][0]["text"], "Exports time out");
    assert_eq!(texts[0]["runs"][0]["author"], "eng");
    assert!(texts[0]["runs"][0]["at"].as_i64().is_some());

    // The version before it, read-only; blame now.
    let version = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/version?at={before}"),
    )
    .await?;
    assert_eq!(version["problem"], "");
    assert_eq!(version["title"], "Export");
    let blame = get_ok(&server, "pm", &format!("/api/specs/{id}/blame")).await?;
    let problem = blame["fields"]
        .as_array()
        .context("fields")?
        .iter()
        .find(|f| f["field"]["part"] == "problem")
        .context("the problem")?;
    assert_eq!(problem["runs"][0]["author"], "eng");
    assert_eq!(problem["runs"][0]["start"], 0);
    assert_eq!(problem["runs"][0]["end"], 16);
    let title = blame["fields"]
        .as_array()
        .context("fields")?
        .iter()
        .find(|f| f["field"]["part"] == "title")
        .context("the title")?;
    let title_authors: Vec<&str> = title["runs"]
        .as_array()
        .context("runs")?
        .iter()
        .filter_map(|r| r["author"].as_str())
        .collect();
    assert_eq!(title_authors, ["pm"]);

    // Malformed or unknown versions and filters are refused with a reason.
    let unknown = "ab".repeat(32);
    for (path, says) in [
        (format!("/api/specs/{id}/diff?from=zz"), "invalid version"),
        (
            format!("/api/specs/{id}/version?at={unknown}"),
            "not in this spec's history",
        ),
        (format!("/api/specs/{id}/version"), "which version"),
        (
            format!("/api/specs/{id}/history?part=stories"),
            "unknown part",
        ),
        (
            format!("/api/specs/{id}/history?since=yesterday"),
            "Unix milliseconds",
        ),
        (
            format!("/api/specs/{id}/history?author=no%20one"),
            "invalid user id",
        ),
    ] {
        let (status, body) = get(&server, "pm", &path).await?;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains(says)),
            "{path}: {body}"
        );
    }
    server.stop().await
}

#[tokio::test]
async fn restoring_a_version_is_a_new_change_by_the_restorer_that_reaches_everyone_and_viewers_cannot(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (mut pm, mut eng) = team(&server, 2, "Billing").await?;
    let id = pm.doc_id;
    set_and_spread(&mut pm, &mut eng, TextField::Problem, "Invoices are late").await?;
    let good = pm.heads();
    set_and_spread(&mut eng, &mut pm, TextField::Problem, "Invoices are wrong").await?;
    let changes_before = get_ok(&server, "pm", &format!("/api/specs/{id}/changes")).await?;
    let count = changes_before.as_array().context("changes")?.len();

    let body = serde_json::json!({ "to": [good[0].to_string()] }).to_string();
    let path = format!("/api/specs/{id}/restore");
    let (status, reply) = http_as(server.addr, "viewer", "POST", &path, Some(&body)).await?;
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = http_as(server.addr, "stranger", "POST", &path, Some(&body)).await?;
    assert_eq!(status, 404, "{reply}");
    let unknown = serde_json::json!({ "to": ["cd".repeat(32)] }).to_string();
    let (status, reply) = http_as(server.addr, "eng", "POST", &path, Some(&unknown)).await?;
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = http_as(server.addr, "eng", "POST", &path, Some("{\"to\": 5}")).await?;
    assert_eq!(status, 422, "{reply}");

    let (status, reply) = http_as(server.addr, "eng", "POST", &path, Some(&body)).await?;
    assert_eq!(status, 200, "{reply}");
    let heads: Vec<ChangeHash> = serde_json::from_str::<Value>(&reply)?["heads"]
        .as_array()
        .context("heads")?
        .iter()
        .filter_map(|h| h.as_str()?.parse().ok())
        .collect();
    // It reaches the open connections like any edit.
    pm.until_heads(&heads).await?;
    assert_eq!(pm.view()?.problem, "Invoices are late");
    let changes = get_ok(&server, "pm", &format!("/api/specs/{id}/changes")).await?;
    let changes = changes.as_array().context("changes")?;
    assert_eq!(
        changes.len(),
        count + 1,
        "one new change; nothing rewritten"
    );
    let last = changes.last().context("a change")?;
    assert_eq!(last["author"], "eng");
    assert_eq!(last["message"], "restore version");
    let timeline = get_ok(&server, "pm", &format!("/api/specs/{id}/history")).await?;
    assert_eq!(timeline["sessions"][0]["author"], "eng", "{timeline}");

    // One story back, leaving the rest as it is.
    let story = duet_model::ItemId::parse("story1")?;
    let s = story.clone();
    pm.edit(move |spec| {
        spec.add_story(
            &s,
            0,
            &duet_model::NewStory {
                as_a: "accountant".into(),
                i_want: "monthly invoices".into(),
                so_that: String::new(),
            },
            NOW,
        )
    })
    .await?;
    pm.until_acked().await?;
    let with_story = pm.heads();
    let s = story.clone();
    pm.edit(move |spec| {
        spec.set_text(
            &TextField::Story {
                story: s.clone(),
                field: duet_model::StoryField::IWant,
            },
            "weekly invoices",
            NOW,
        )?;
        spec.set_text(&TextField::Title, "Billing v2", NOW)
    })
    .await?;
    pm.until_acked().await?;
    let body = serde_json::json!({ "to": heads_param(&with_story).split(',').collect::<Vec<_>>(), "story": "story1" })
        .to_string();
    let (status, reply) = http_as(server.addr, "pm", "POST", &path, Some(&body)).await?;
    assert_eq!(status, 200, "{reply}");
    let now = get_ok(&server, "pm", &format!("/api/specs/{id}")).await?;
    assert_eq!(now["title"], "Billing v2", "the rest is untouched");
    pm.until(|c| {
        c.view().is_ok_and(|v| {
            v.stories
                .first()
                .is_some_and(|s| s.i_want == "monthly invoices")
        })
    })
    .await?;
    server.stop().await
}

#[tokio::test]
async fn since_i_last_looked_lists_other_peoples_edits_by_author_and_place_until_i_look_again(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (mut pm, mut eng) = team(&server, 3, "Search").await?;
    let id = pm.doc_id;
    let first = get_ok(&server, "pm", &format!("/api/specs/{id}/since-seen")).await?;
    assert_eq!(
        first["seen_at"],
        Value::Null,
        "never looked: nothing to list"
    );
    let (status, body) = http_as(
        server.addr,
        "pm",
        "POST",
        &format!("/api/specs/{id}/seen"),
        None,
    )
    .await?;
    assert_eq!(status, 204, "{body}");

    set_and_spread(&mut eng, &mut pm, TextField::Problem, "Search misses typos").await?;
    set_and_spread(&mut pm, &mut eng, TextField::Title, "Fuzzy search").await?;

    let since = get_ok(&server, "pm", &format!("/api/specs/{id}/since-seen")).await?;
    assert!(since["seen_at"].as_i64().is_some(), "{since}");
    assert_eq!(
        session_authors(&since)?,
        ["eng"],
        "pm's own edit is not news to pm"
    );
    let places: Vec<(String, String, String)> = since["places"]
        .as_array()
        .context("places")?
        .iter()
        .map(|p| {
            (
                p["author"].as_str().unwrap_or("?").to_owned(),
                p["kind"].as_str().unwrap_or("?").to_owned(),
                p["label"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [("eng".to_owned(), "problem".to_owned(), "Problem".to_owned())]
    );
    assert_eq!(since["authors"][0]["username"], "eng");
    // What pm's device already held when the page opened (pm watched it live) is not news,
    // though the server never heard pm saw it; unknown heads count for nothing, bad ones
    // are refused.
    let held: Vec<String> = pm.heads().iter().map(ToString::to_string).collect();
    let watched = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/since-seen?also={}", held.join(",")),
    )
    .await?;
    assert_eq!(session_authors(&watched)?, Vec::<String>::new());
    let unknown = "ab".repeat(32);
    let stranger = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/since-seen?also={unknown}"),
    )
    .await?;
    assert_eq!(session_authors(&stranger)?, ["eng"]);
    let (status, _) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{id}/since-seen?also=nonsense"),
        None,
    )
    .await?;
    assert_eq!(status, 400);
    // eng's view of the same: pm's title edit.
    let (status, _) = http_as(
        server.addr,
        "eng",
        "POST",
        &format!("/api/specs/{id}/seen"),
        None,
    )
    .await?;
    assert_eq!(status, 204);

    let (status, _) = http_as(
        server.addr,
        "pm",
        "POST",
        &format!("/api/specs/{id}/seen"),
        None,
    )
    .await?;
    assert_eq!(status, 204);
    let again = get_ok(&server, "pm", &format!("/api/specs/{id}/since-seen")).await?;
    assert_eq!(session_authors(&again)?, Vec::<String>::new());
    let (status, _) = http_as(
        server.addr,
        "stranger",
        "POST",
        &format!("/api/specs/{id}/seen"),
        None,
    )
    .await?;
    assert_eq!(status, 404);
    server.stop().await
}

/// Each change of `/changes` as (hash, author, receive time).
fn receipts_of(changes: &Value) -> Result<Vec<(String, String, i64)>> {
    let mut out: Vec<(String, String, i64)> = changes
        .as_array()
        .context("changes")?
        .iter()
        .map(|c| {
            Ok((
                c["hash"].as_str().context("hash")?.to_owned(),
                c["author"].as_str().context("author")?.to_owned(),
                c["received_at"].as_i64().context("received_at")?,
            ))
        })
        .collect::<Result<_>>()?;
    out.sort();
    Ok(out)
}

#[tokio::test]
async fn after_a_restart_the_history_keeps_each_changes_author_and_receive_time_and_takes_edits_made_while_it_is_read(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (pm, eng) = two_sessions(&server, 40).await?;
    let id = pm.doc_id;
    let before = receipts_of(&get_ok(&server, "pm", &format!("/api/specs/{id}/changes")).await?)?;
    assert!(before.len() >= 3, "{before:?}");
    drop((pm, eng));
    server.stop().await?;

    let server = Server::start(dir.path()).await?;
    let restarted = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    // Loading the spec starts reading its history; this edit lands while or after it is read.
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 41, id).await?;
    eng.until(|c| c.view().is_ok_and(|v| v.title == "Export to CSV"))
        .await?;
    eng.edit(|s| s.set_text(&TextField::Problem, "Exports time out after 30 s", NOW))
        .await?;
    eng.until_acked().await?;

    let after = receipts_of(&get_ok(&server, "pm", &format!("/api/specs/{id}/changes")).await?)?;
    let kept: Vec<_> = after.iter().filter(|c| before.contains(c)).collect();
    assert_eq!(
        kept.len(),
        before.len(),
        "before {before:?}\nafter {after:?}"
    );
    let new: Vec<_> = after.iter().filter(|c| !before.contains(c)).collect();
    assert!(!new.is_empty(), "{after:?}");
    for (hash, author, at) in new {
        assert_eq!(author, "eng", "{hash}");
        assert!(
            *at >= restarted,
            "{hash} received at {at}, before the restart {restarted}"
        );
    }
    let timeline = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/history?author=eng"),
    )
    .await?;
    let authors = session_authors(&timeline)?;
    assert!(
        !authors.is_empty() && authors.iter().all(|a| a == "eng"),
        "{timeline}"
    );
    server.stop().await
}

#[tokio::test]
async fn an_emptied_criterion_is_previewed_then_restored_alone_and_a_viewer_can_do_neither(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (mut pm, mut eng) = team(&server, 4, "Export").await?;
    let id = pm.doc_id;
    let story = duet_model::ItemId::parse("story1")?;
    let crit = duet_model::ItemId::parse("crit1")?;
    let (s, c) = (story.clone(), crit.clone());
    pm.edit(move |spec| {
        spec.add_story(&s, 0, &duet_model::NewStory::default(), NOW)?;
        spec.add_criterion(
            &s,
            &c,
            0,
            duet_model::CriterionKind::Technical,
            "UTF-8 with BOM",
            NOW,
        )
    })
    .await?;
    pm.until_acked().await?;
    let heads = pm.heads();
    eng.until_heads(&heads).await?;
    let field = TextField::Criterion {
        story: story.clone(),
        criterion: crit.clone(),
    };
    let before = eng.heads();
    set_and_spread(&mut eng, &mut pm, field, "").await?;
    set_and_spread(&mut eng, &mut pm, TextField::Problem, "Eli's later edit").await?;

    let to: Vec<String> = before.iter().map(ToString::to_string).collect();
    let item = serde_json::json!({ "kind": "criterion", "id": "crit1", "story": "story1" });
    let path = format!("/api/specs/{id}/restore");
    let preview = serde_json::json!({ "to": to, "item": item, "preview": true }).to_string();
    let (status, reply) = http_as(server.addr, "viewer", "POST", &path, Some(&preview)).await?;
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = http_as(server.addr, "pm", "POST", &path, Some(&preview)).await?;
    assert_eq!(status, 200, "{reply}");
    let diff: Value = serde_json::from_str(&reply)?;
    let texts = diff["texts"].as_array().context("texts")?;
    assert_eq!(texts.len(), 1, "only the criterion would change: {diff}");
    assert!(
        texts[0]["runs"]
            .as_array()
            .context("runs")?
            .iter()
            .any(|r| {
                r["kind"] == "inserted" && r["text"] == "UTF-8 with BOM" && r["author"] == "pm"
            }),
        "the text comes back in its writer's colour: {diff}"
    );
    let changes = get_ok(&server, "pm", &format!("/api/specs/{id}/changes")).await?;
    let count = changes.as_array().context("changes")?.len();

    // Eli's session steps through its two edits: the criterion, then the problem.
    let timeline = get_ok(&server, "pm", &format!("/api/specs/{id}/history")).await?;
    let session = timeline["sessions"][0].clone();
    assert_eq!(session["author"], "eng", "{timeline}");
    let session_id = session["id"].as_str().context("id")?;
    let steps = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/steps?session={session_id}"),
    )
    .await?;
    let steps = steps.as_array().context("steps")?;
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(
        steps[0]["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("criterion"),
        "{steps:?}"
    );
    assert_eq!(steps[0]["before"], session["before"]);
    assert_eq!(steps[1]["before"], steps[0]["after"]);
    assert_eq!(steps[1]["after"], session["after"]);
    let (status, reply) = http_as(
        server.addr,
        "stranger",
        "GET",
        &format!("/api/specs/{id}/steps?session={session_id}"),
        None,
    )
    .await?;
    assert_eq!(status, 404, "{reply}");
    let (status, reply) = http_as(
        server.addr,
        "pm",
        "GET",
        &format!("/api/specs/{id}/steps?session={}", "ab".repeat(32)),
        None,
    )
    .await?;
    assert_eq!(status, 400, "{reply}");

    let bad = serde_json::json!({ "to": to, "item": { "kind": "planet", "id": "x1" } });
    let (status, reply) = http_as(server.addr, "pm", "POST", &path, Some(&bad.to_string())).await?;
    assert_eq!(status, 400, "{reply}");
    let body = serde_json::json!({ "to": to, "item": item }).to_string();
    let (status, reply) = http_as(server.addr, "pm", "POST", &path, Some(&body)).await?;
    assert_eq!(status, 200, "{reply}");
    eng.until(|c| {
        c.view().is_ok_and(|v| {
            v.stories
                .first()
                .and_then(|s| s.criteria.first())
                .is_some_and(|c| c.text == "UTF-8 with BOM")
        })
    })
    .await?;
    assert_eq!(
        eng.view()?.problem,
        "Eli's later edit",
        "nothing else changes"
    );
    let changes = get_ok(&server, "pm", &format!("/api/specs/{id}/changes")).await?;
    let changes = changes.as_array().context("changes")?;
    assert_eq!(changes.len(), count + 1, "the preview stored nothing");
    assert_eq!(
        changes.last().context("a change")?["message"],
        "restore item"
    );
    server.stop().await
}

#[tokio::test]
async fn a_sessions_diff_for_its_author_leaves_out_what_others_did_meanwhile() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let (mut pm, mut eng) = team(&server, 5, "Interleaved").await?;
    let id = pm.doc_id;
    let before = eng.heads();
    set_and_spread(&mut eng, &mut pm, TextField::Problem, "Eng writes").await?;
    let metric = duet_model::ItemId::parse("metric1")?;
    pm.edit(move |spec| spec.add_metric(&metric, 0, "PM's metric", "", NOW))
        .await?;
    pm.until_acked().await?;
    let heads = pm.heads();
    eng.until_heads(&heads).await?;
    set_and_spread(&mut eng, &mut pm, TextField::Title, "Interleaved v2").await?;
    let after = eng.heads();
    let (from, to) = (heads_param(&before), heads_param(&after));
    let everyone = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/diff?from={from}&to={to}"),
    )
    .await?;
    assert_eq!(
        everyone["items"].as_array().map(Vec::len),
        Some(1),
        "{everyone}"
    );
    let eng_only = get_ok(
        &server,
        "pm",
        &format!("/api/specs/{id}/diff?from={from}&to={to}&author=eng"),
    )
    .await?;
    assert_eq!(
        eng_only["items"].as_array().map(Vec::len),
        Some(0),
        "{eng_only}"
    );
    let fields: Vec<String> = eng_only["texts"]
        .as_array()
        .context("texts")?
        .iter()
        .map(|t| t["field"]["part"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(fields, ["title", "problem"], "{eng_only}");
    server.stop().await
}
