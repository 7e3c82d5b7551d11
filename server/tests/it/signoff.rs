//! Sign-off over REST against a real server: only a person of the slot's discipline with edit rights signs it, the server records what the story read, any later change to it (also one merged from an offline replica) makes it stale, forged data in the document counts for nothing, and it all survives a restart.

use crate::common;

use anyhow::{Context, Result};
use common::{http_as, share, Client, Server};
use duet_model::automerge::transaction::Transactable;
use duet_model::automerge::{ChangeHash, ObjType, ROOT};
use duet_model::{
    ConstraintKind, CriterionKind, ItemId, NewConstraint, NewStory, Severity, Spec, TextField,
    UnixMillis,
};
use duet_protocol::DocumentId;
use rand::{rngs::StdRng, SeedableRng};
use serde_json::{json, Value};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

fn item(s: &str) -> ItemId {
    ItemId::parse(s).expect("id")
}

/// A spec by "pm" with story1 (one criterion, one constraint) and story2.
fn spec(seed: u64) -> Result<Spec> {
    let mut spec = Spec::new(common::author("pm", seed));
    spec.set_text(&TextField::Title, "Exports", NOW)?;
    for (i, s) in ["story1", "story2"].into_iter().enumerate() {
        let new = NewStory {
            as_a: "analyst".into(),
            i_want: "to export to CSV".into(),
            so_that: "I can share numbers".into(),
        };
        spec.add_story(&item(s), i, &new, NOW)?;
    }
    spec.add_criterion(
        &item("story1"),
        &item("crit1"),
        0,
        CriterionKind::Business,
        "Has a header row",
        NOW,
    )?;
    let constraint = NewConstraint {
        kind: ConstraintKind::Performance,
        severity: Severity::Major,
        text: "Under 2 s for 100k rows".into(),
        anchor: None,
    };
    spec.add_constraint(&item("story1"), &item("cons1"), 0, &constraint, NOW)?;
    Ok(spec)
}

async fn set_discipline(server: &Server, user: &str, discipline: &str) -> Result<()> {
    let body = json!({ "discipline": discipline }).to_string();
    let (status, reply) = http_as(server.addr, user, "PATCH", "/api/me", Some(&body)).await?;
    anyhow::ensure!(status == 200, "{user}: {status} {reply}");
    Ok(())
}

async fn sign(
    server: &Server,
    user: &str,
    id: DocumentId,
    story: &str,
    slot: &str,
    seen: &[ChangeHash],
) -> Result<(u16, Value)> {
    sign_over(server, user, id, story, slot, seen, &[]).await
}

/// Signs, choosing to sign over the open blockers `blockers`.
async fn sign_over(
    server: &Server,
    user: &str,
    id: DocumentId,
    story: &str,
    slot: &str,
    seen: &[ChangeHash],
    blockers: &[&str],
) -> Result<(u16, Value)> {
    let seen: Vec<String> = seen.iter().map(ToString::to_string).collect();
    let body = json!({ "slot": slot, "seen": seen, "open_blockers": blockers }).to_string();
    let path = format!("/api/specs/{id}/stories/{story}/signoffs");
    let (status, reply) = http_as(server.addr, user, "POST", &path, Some(&body)).await?;
    Ok((
        status,
        serde_json::from_str(&reply).unwrap_or(Value::String(reply)),
    ))
}

async fn signoffs(server: &Server, user: &str, id: DocumentId) -> Result<Value> {
    let path = format!("/api/specs/{id}/signoffs");
    let (status, reply) = http_as(server.addr, user, "GET", &path, None).await?;
    anyhow::ensure!(status == 200, "{status} {reply}");
    Ok(serde_json::from_str(&reply)?)
}

/// story1's state and whether each of its slots is current, e.g. ("stale", [("product", false), ("engineering", true)]).
fn story1(body: &Value) -> (String, Vec<(String, bool)>) {
    let Some(story) = body["stories"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["story"] == "story1"))
    else {
        return ("unsigned".into(), Vec::new());
    };
    let slots = story["slots"]
        .as_array()
        .map(|slots| {
            slots
                .iter()
                .map(|s| {
                    (
                        s["slot"].as_str().unwrap_or("?").to_owned(),
                        s["current"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (story["state"].as_str().unwrap_or("?").to_owned(), slots)
}

async fn listed_signs(server: &Server, user: &str, id: DocumentId) -> Result<Value> {
    let (status, reply) = http_as(server.addr, user, "GET", "/api/specs", None).await?;
    anyhow::ensure!(status == 200, "{status} {reply}");
    let list: Value = serde_json::from_str(&reply)?;
    let spec = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == id.to_string()))
        .context("the spec is listed")?;
    Ok(spec["signs"].clone())
}

#[tokio::test]
async fn product_and_engineering_sign_a_story_and_any_later_change_to_it_makes_their_sign_off_stale(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(41));
    let doc = spec(41)?.into_doc();
    let mut pm = Client::open(&server.ws_url(), "pm", 41, id, doc).await?;
    pm.until_acked().await?;
    for (user, role, discipline) in [
        ("eng", "editor", "engineering"),
        ("eng2", "editor", "engineering"),
        ("viewer", "viewer", "engineering"),
    ] {
        share(server.addr, "pm", id, user, role).await?;
        set_discipline(&server, user, discipline).await?;
    }
    set_discipline(&server, "pm", "product").await?;
    let mut eng = Client::join_empty(&server.ws_url(), "eng", 42, id).await?;
    let v1 = pm.heads();
    eng.until_heads(&v1).await?;

    // Who may sign what.
    let (status, reply) = sign(&server, "viewer", id, "story1", "engineering", &v1).await?;
    assert_eq!(status, 403, "a viewer cannot sign: {reply}");
    let (status, reply) = sign(&server, "eng", id, "story1", "product", &v1).await?;
    assert_eq!(
        status, 403,
        "an engineer cannot sign the product slot: {reply}"
    );
    assert!(reply.to_string().contains("product"), "{reply}");
    let (status, _) = sign(&server, "stranger", id, "story1", "product", &v1).await?;
    assert_eq!(status, 404, "no role, no spec");
    let (status, _) = sign(&server, "pm", id, "story1", "legal", &v1).await?;
    assert_eq!(status, 400, "no such slot");
    let (status, _) = sign(&server, "pm", id, "story9", "product", &v1).await?;
    assert_eq!(status, 404, "no such story");
    let unknown: ChangeHash = "cd".repeat(32).parse()?;
    let (status, reply) = sign(&server, "pm", id, "story1", "product", &[unknown]).await?;
    assert_eq!(status, 409, "a version the server has not seen: {reply}");
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "unsigned");
    // Malformed requests get a clear 4xx and change nothing.
    let path = format!("/api/specs/{id}/stories/story1/signoffs");
    for (body, want) in [
        (None, 400),
        (Some("{\"slot\": \"product\""), 400),
        (Some("{\"slot\": 5, \"seen\": []}"), 422),
        (
            Some("{\"slot\": \"product\", \"seen\": [], \"signed_at\": 1}"),
            422,
        ),
    ] {
        let (status, reply) = http_as(server.addr, "pm", "POST", &path, body).await?;
        assert_eq!(status, want, "{body:?}: {reply}");
    }
    let many: Vec<String> = (0..65).map(|i| format!("{i:064x}")).collect();
    let body = json!({ "slot": "product", "seen": many }).to_string();
    let (status, reply) = http_as(server.addr, "pm", "POST", &path, Some(&body)).await?;
    assert_eq!(status, 400, "too many heads: {reply}");
    let (status, _) = http_as(
        server.addr,
        "pm",
        "POST",
        &format!("/api/specs/{id}/stories/not%20an%20id/signoffs"),
        Some(&body),
    )
    .await?;
    assert_eq!(status, 400, "a bad story id");
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "unsigned");

    // Product signs: partly. Engineering signs: signed. Both are told.
    let (status, record) = sign(&server, "pm", id, "story1", "product", &v1).await?;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["user"], "pm");
    assert_eq!(record["discipline"], "product");
    assert!(
        record["signed_at"].as_i64().unwrap_or(0) > NOW.0,
        "server time"
    );
    assert_eq!(story1(&signoffs(&server, "eng", id).await?).0, "partly");
    eng.until(|c| c.signoff_notices >= 1).await?;
    let (status, reply) = sign(&server, "eng", id, "story1", "engineering", &v1).await?;
    assert_eq!(status, 200, "{reply}");
    let body = signoffs(&server, "viewer", id).await?;
    assert_eq!(
        story1(&body),
        (
            "signed".into(),
            vec![("product".into(), true), ("engineering".into(), true)]
        )
    );
    assert_eq!(
        body["counts"],
        json!({ "signed": 1, "partly": 0, "stale": 0, "done": 0, "stories": 2 })
    );
    assert!(body["people"].to_string().contains("pm"), "{body}");
    assert_eq!(listed_signs(&server, "pm", id).await?["signed"], 1);

    // Forged sign-off data written into the document counts for nothing.
    pm.edit(|spec| {
        let doc = spec.doc_mut();
        let forged = doc.put_object(ROOT, "signoffs", ObjType::Map)?;
        doc.put(&forged, "story2", "product,engineering")?;
        Ok::<_, duet_model::EditError>(())
    })
    .await?;
    pm.until_acked().await?;
    assert_eq!(signoffs(&server, "pm", id).await?["counts"]["signed"], 1);
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "signed");
    // An edit elsewhere leaves it signed.
    pm.edit(|spec| spec.set_text(&TextField::Title, "CSV exports", NOW))
        .await?;
    pm.until_acked().await?;
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "signed");

    // The product person edits the criterion: both sign-offs are stale.
    let v2 = pm.heads();
    pm.edit(|spec| {
        let f = TextField::Criterion {
            story: item("story1"),
            criterion: item("crit1"),
        };
        spec.splice(&f, 0, 0, "Always ", NOW)
    })
    .await?;
    pm.until_acked().await?;
    let body = signoffs(&server, "eng", id).await?;
    assert_eq!(
        story1(&body),
        (
            "stale".into(),
            vec![("product".into(), false), ("engineering".into(), false)]
        )
    );
    assert_eq!(
        listed_signs(&server, "eng", id).await?,
        json!({ "signed": 0, "partly": 0, "stale": 1, "done": 0, "stories": 2 })
    );
    // One click shows exactly what changed since: the story's diff from the signed version,
    // each insertion with its author (the title edit made meanwhile is not in it).
    let signed_heads = body["stories"][0]["slots"][0]["heads"]
        .as_str()
        .context("signed heads")?
        .to_owned();
    let path = format!("/api/specs/{id}/diff?from={signed_heads}&story=story1");
    let (status, reply) = http_as(server.addr, "eng", "GET", &path, None).await?;
    assert_eq!(status, 200, "{reply}");
    let diff: Value = serde_json::from_str(&reply)?;
    let texts = diff["texts"].as_array().context("texts")?;
    assert_eq!(
        texts.len(),
        1,
        "only the criterion changed in story1: {diff}"
    );
    let inserted: Vec<&Value> = texts[0]["runs"]
        .as_array()
        .context("runs")?
        .iter()
        .filter(|r| r["kind"] == "inserted")
        .collect();
    assert_eq!(inserted.len(), 1, "{diff}");
    assert_eq!(inserted[0]["text"], "Always ");
    assert_eq!(inserted[0]["author"], "pm");
    let whole = format!("/api/specs/{id}/diff?from={signed_heads}");
    let (_, reply) = http_as(server.addr, "eng", "GET", &whole, None).await?;
    assert!(
        reply.contains(r#""part":"title""#),
        "the whole diff has the title: {reply}"
    );

    // Signing what one read before the change is refused; signing what is there now works.
    let (status, reply) = sign(&server, "eng", id, "story1", "engineering", &v2).await?;
    assert_eq!(status, 409, "{reply}");
    let v3 = pm.heads();
    eng.until_heads(&v3).await?;
    for (user, slot) in [("eng", "engineering"), ("pm", "product")] {
        let (status, reply) = sign(&server, user, id, "story1", slot, &v3).await?;
        assert_eq!(status, 200, "{reply}");
    }
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "signed");

    // An engineer who was offline raises the constraint's severity; it merges on
    // reconnect and the sign-off is stale again.
    let mut offline = Spec::load(&pm.doc.save(), common::author("eng2", 43))?;
    offline.set_constraint_severity(&item("cons1"), Severity::Blocker, NOW)?;
    let mut eng2 = Client::open(&server.ws_url(), "eng2", 43, id, offline.into_doc()).await?;
    eng2.until_acked().await?;
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "stale");

    // After a restart the sign-offs, the stale state and the list's counts are the same.
    drop((pm, eng, eng2));
    server.stop().await?;
    let server = Server::start(dir.path()).await?;
    let body = signoffs(&server, "pm", id).await?;
    assert_eq!(
        story1(&body),
        (
            "stale".into(),
            vec![("product".into(), false), ("engineering".into(), false)]
        )
    );
    assert_eq!(listed_signs(&server, "pm", id).await?["stale"], 1);
    server.stop().await
}

#[tokio::test]
async fn signing_over_an_open_blocker_is_an_explicit_recorded_choice_and_a_story_is_done_only_when_its_definition_is_met(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(51));
    let mut doc = spec(51)?;
    doc.set_constraint_severity(&item("cons1"), Severity::Blocker, NOW)?;
    let mut pm = Client::open(&server.ws_url(), "pm", 51, id, doc.into_doc()).await?;
    pm.until_acked().await?;
    share(server.addr, "pm", id, "eng", "editor").await?;
    set_discipline(&server, "eng", "engineering").await?;
    set_discipline(&server, "pm", "product").await?;
    let v1 = pm.heads();

    // Without the choice: 409, naming the blocker by its words and id.
    let (status, reply) = sign(&server, "pm", id, "story1", "product", &v1).await?;
    assert_eq!(status, 409, "{reply}");
    let said = reply.to_string();
    assert!(
        said.contains("1 open blocker")
            && said.contains("Under 2 s for 100k rows")
            && said.contains("cons1"),
        "{said}"
    );
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "unsigned");
    // Choosing some other constraint is not choosing this one.
    let (status, _) = sign_over(&server, "pm", id, "story1", "product", &v1, &["other"]).await?;
    assert_eq!(status, 409);
    let (status, _) =
        sign_over(&server, "pm", id, "story1", "product", &v1, &["not an id"]).await?;
    assert_eq!(status, 400);
    // With it: signed, and the choice is recorded with the sign-off.
    let (status, record) =
        sign_over(&server, "pm", id, "story1", "product", &v1, &["cons1"]).await?;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["open_blockers"], json!(["cons1"]));
    let (status, record) =
        sign_over(&server, "eng", id, "story1", "engineering", &v1, &["cons1"]).await?;
    assert_eq!(status, 200, "{record}");
    // Both signed and current, yet not done: a criterion kind is missing and the blocker open.
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "signed");
    let signs = listed_signs(&server, "pm", id).await?;
    assert_eq!(
        (
            signs["signed"].clone(),
            signs["done"].clone(),
            signs["stories"].clone()
        ),
        (json!(1), json!(0), json!(2))
    );

    // The team meets the definition: a criterion of each kind, all done, the blocker
    // addressed; then both sign what it reads now.
    pm.edit(|spec| {
        let story = item("story1");
        spec.add_criterion(
            &story,
            &item("crit2"),
            1,
            CriterionKind::Technical,
            "RFC 4180",
            NOW,
        )?;
        spec.add_criterion(
            &story,
            &item("crit3"),
            2,
            CriterionKind::Ux,
            "One click",
            NOW,
        )?;
        for c in ["crit1", "crit2", "crit3"] {
            spec.set_criterion_done(&story, &item(c), true, NOW)?;
        }
        spec.set_constraint_status(&item("cons1"), duet_model::ConstraintStatus::Addressed, NOW)
    })
    .await?;
    pm.until_acked().await?;
    let v2 = pm.heads();
    assert_eq!(
        listed_signs(&server, "pm", id).await?["done"],
        0,
        "the sign-offs are stale now"
    );
    for (user, slot) in [("pm", "product"), ("eng", "engineering")] {
        let (status, record) = sign(&server, user, id, "story1", slot, &v2).await?;
        assert_eq!(status, 200, "no blocker left, no choice needed: {record}");
        assert_eq!(record["open_blockers"], json!([]));
    }
    let signs = listed_signs(&server, "pm", id).await?;
    assert_eq!(
        (signs["done"].clone(), signs["stories"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(signoffs(&server, "pm", id).await?["counts"]["done"], 1);

    // A criterion unticked: not done any more (a done mark is not covered by the sign-off,
    // so both stay current).
    pm.edit(|spec| spec.set_criterion_done(&item("story1"), &item("crit3"), false, NOW))
        .await?;
    pm.until_acked().await?;
    assert_eq!(story1(&signoffs(&server, "pm", id).await?).0, "signed");
    assert_eq!(listed_signs(&server, "pm", id).await?["done"], 0);

    // A blocker on story2, signed over: the recorded choice survives a restart.
    pm.edit(|spec| {
        let blocker = NewConstraint {
            kind: ConstraintKind::Security,
            severity: Severity::Blocker,
            text: "Needs SSO".into(),
            anchor: None,
        };
        spec.add_constraint(&item("story2"), &item("cons2"), 0, &blocker, NOW)
    })
    .await?;
    pm.until_acked().await?;
    let v3 = pm.heads();
    let (status, _) = sign_over(&server, "pm", id, "story2", "product", &v3, &["cons2"]).await?;
    assert_eq!(status, 200);
    drop(pm);
    server.stop().await?;
    let server = Server::start(dir.path()).await?;
    let body = signoffs(&server, "pm", id).await?;
    let story2 = body["stories"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["story"] == "story2"))
        .context("story2 signed")?;
    assert_eq!(story2["slots"][0]["open_blockers"], json!(["cons2"]));
    server.stop().await
}

/// A listener on `GET /api/specs/events` as `user`, reading the event stream line by line.
struct ListEvents {
    response: reqwest::Response,
    /// What arrived and is not a whole line yet.
    pending: String,
}

impl ListEvents {
    async fn open(server: &Server, user: &str) -> Result<ListEvents> {
        let token = common::token_for(server.addr, user).await?;
        let auth = format!("Bearer {token}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Accept", "text/event-stream"),
        ];
        let response =
            duet_load::http::send(server.addr, "GET", "/api/specs/events", &headers, None).await?;
        anyhow::ensure!(response.status() == 200, "{}", response.status());
        Ok(ListEvents {
            response,
            pending: String::new(),
        })
    }

    async fn line(&mut self) -> Result<String> {
        loop {
            if let Some(end) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=end).collect();
                return Ok(line.trim_end().to_owned());
            }
            let chunk =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.response.chunk())
                    .await??;
            let chunk = chunk.context("the stream ended")?;
            self.pending.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The ids of the next `changed` event.
    async fn next(&mut self) -> Result<String> {
        let mut changed = false;
        loop {
            let line = self.line().await?;
            if line == "event: changed" {
                changed = true;
            } else if changed {
                if let Some(data) = line.strip_prefix("data:") {
                    return Ok(data.trim().to_owned());
                }
            }
        }
    }
}

#[tokio::test]
async fn a_spec_list_hears_of_edits_sign_offs_and_shares_on_its_specs_and_nothing_of_others(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path()).await?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(61));
    let other = DocumentId::random(&mut StdRng::seed_from_u64(62));
    let mut pm = Client::open(&server.ws_url(), "pm", 61, id, spec(61)?.into_doc()).await?;
    pm.until_acked().await?;
    let mut mine = Spec::new(common::author("solo", 62));
    mine.set_text(&TextField::Title, "Solo", NOW)?;
    let mut solo = Client::open(&server.ws_url(), "solo", 62, other, mine.into_doc()).await?;
    solo.until_acked().await?;
    set_discipline(&server, "pm", "product").await?;
    common::token_for(server.addr, "eng").await?;
    let mut pm_list = ListEvents::open(&server, "pm").await?;
    let mut eng_list = ListEvents::open(&server, "eng").await?;

    // Someone else's spec changes: pm's list hears nothing of it; an edit of pm's does.
    solo.edit(|spec| spec.set_text(&TextField::Title, "Private", NOW))
        .await?;
    solo.until_acked().await?;
    pm.edit(|spec| spec.set_text(&TextField::Title, "CSV exports", NOW))
        .await?;
    pm.until_acked().await?;
    assert_eq!(pm_list.next().await?, id.to_string());
    // A sign-off changes the counts: heard.
    let (status, _) = sign(&server, "pm", id, "story1", "product", &pm.heads()).await?;
    assert_eq!(status, 200);
    assert_eq!(pm_list.next().await?, id.to_string());
    // Sharing with eng: eng's list hears of the spec it gains, and then of its edits.
    share(server.addr, "pm", id, "eng", "viewer").await?;
    assert_eq!(eng_list.next().await?, id.to_string());
    pm.edit(|spec| spec.set_text(&TextField::Title, "CSV and XLSX exports", NOW))
        .await?;
    pm.until_acked().await?;
    assert_eq!(eng_list.next().await?, id.to_string());
    // An unauthenticated listener is refused.
    let (status, _) = common::http(server.addr, "GET", "/api/specs/events", None).await?;
    assert_eq!(status, 401);
    // Open event streams do not hold the server up when it stops.
    drop((pm, solo));
    server.stop().await?;
    drop((pm_list, eng_list));
    Ok(())
}
