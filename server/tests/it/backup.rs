//! Backup while the server runs and restore: every change acknowledged before the backup began is in the copy (with people still typing), a server started on the restored copy serves the spec and the accounts, and damaged or foreign files are refused.

use crate::common;

use anyhow::{Context, Result};
use common::{http_with, Client, Server};
use duet_model::automerge::ReadDoc;
use duet_model::{Spec, TextField, UnixMillis};
use duet_protocol::DocumentId;
use duet_server::backup;
use rand::{rngs::StdRng, SeedableRng};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

#[tokio::test]
async fn a_backup_taken_while_people_type_holds_every_acknowledged_change_and_restores_to_a_working_server(
) -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path()).await?;
    let id = DocumentId::random(&mut StdRng::seed_from_u64(71));
    let mut spec = Spec::new(common::author("pm", 71));
    spec.set_text(&TextField::Title, "Backed up", NOW)?;
    let mut pm = Client::open(&server.ws_url(), "pm", 71, id, spec.into_doc()).await?;
    for i in 0..20 {
        pm.edit(|s| s.splice(&TextField::Problem, i, 0, "a", NOW))
            .await?;
    }
    pm.until_acked().await?;
    let acked = pm.heads();

    // Someone keeps typing while the backup runs.
    let typing = tokio::spawn(async move {
        for i in 0..200 {
            pm.edit(|s| s.splice(&TextField::Problem, 20 + i, 0, "b", NOW))
                .await?;
            if i % 10 == 0 {
                pm.until_acked().await?;
            }
        }
        pm.until_acked().await?;
        anyhow::Ok(pm)
    });
    let copies = tempfile::tempdir()?;
    let file = copies.path().join("duet-backup.sqlite3");
    let (from, to) = (data.path().to_owned(), file.clone());
    let made = tokio::task::spawn_blocking(move || backup::backup(&from, &to)).await??;
    assert!(made.documents >= 1 && made.users >= 1, "{made:?}");
    let pm = typing.await??;
    // A second backup to the same file is refused: nothing is overwritten.
    let (from, to) = (data.path().to_owned(), file.clone());
    assert!(
        tokio::task::spawn_blocking(move || backup::backup(&from, &to))
            .await?
            .is_err()
    );
    drop(pm);
    server.stop().await?;

    // Restored into a fresh folder: the server serves the spec with every change that
    // was acknowledged before the backup began, and the accounts sign in.
    let restored = tempfile::tempdir()?;
    let contents = backup::restore(&file, restored.path(), false)?;
    assert_eq!(contents, made);
    let server = Server::start(restored.path()).await?;
    let mut reader = Client::join_empty(&server.ws_url(), "pm", 72, id).await?;
    reader
        .until(|c| acked.iter().all(|h| c.doc.get_change_by_hash(h).is_some()))
        .await?;
    assert!(duet_model::spec_title(&reader.doc).is_some_and(|t| t == "Backed up"));
    let body =
        serde_json::json!({ "username": "pm", "password": common::password_of("pm") }).to_string();
    let r = http_with(server.addr, "POST", "/api/auth/signin", &[], Some(&body)).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    drop(reader);
    server.stop().await?;

    // Restoring over a folder that has a database needs --replace, which keeps it aside.
    assert!(backup::restore(&file, restored.path(), false).is_err());
    backup::restore(&file, restored.path(), true)?;
    assert!(restored
        .path()
        .join("duet.sqlite3.before-restore")
        .is_file());
    Ok(())
}

#[test]
fn files_that_are_not_whole_duet_databases_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, b"not a database at all")?;
    assert!(backup::check(&junk).is_err());
    let other = dir.path().join("other.sqlite3");
    rusqlite::Connection::open(&other)?.execute_batch("CREATE TABLE notes (text TEXT)")?;
    let err = backup::check(&other).err().context("refused")?;
    assert!(err.to_string().contains("not a Duet database"), "{err:#}");
    let empty = tempfile::tempdir()?;
    assert!(backup::backup(empty.path(), &dir.path().join("x")).is_err());
    assert!(backup::restore(&junk, &dir.path().join("data"), false).is_err());
    assert!(!dir.path().join("data/duet.sqlite3").exists());
    Ok(())
}
