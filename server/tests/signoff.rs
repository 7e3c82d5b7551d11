//! Sign-off over REST against a real server: only a person of the slot's discipline with edit rights signs it, the server records what the story read, any later change to it (also one merged from an offline replica) makes it stale, forged data in the document counts for nothing, and it all survives a restart.

mod common;

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
    let seen: Vec<String> = seen.iter().map(ToString::to_string).collect();
    let body = json!({ "slot": slot, "seen": seen }).to_string();
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
        json!({ "signed": 1, "partly": 0, "stale": 0 })
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
        json!({ "signed": 0, "partly": 0, "stale": 1 })
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
