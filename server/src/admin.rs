//! An operator's commands (`duet user …`, `duet spec …`) on a data folder, and the watch that applies them to a running server at once.

use std::path::Path;
use std::time::Duration;

use duet_model::UserId;
use duet_protocol::DocumentId;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::accounts::{AccountError, Accounts};
use crate::http::AppState;
use crate::storage::Role;

/// An account as `duet user list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub disabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Live sessions and API tokens.
    pub sessions: i64,
    pub tokens: i64,
}

/// A stored document as `duet spec list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentRow {
    pub id: String,
    /// A Duet spec, or another automerge-repo document.
    pub is_spec: bool,
    pub title: String,
    /// Unix ms of the last stored change.
    pub updated_at: i64,
    pub archived: bool,
    pub deleted: bool,
    /// Who has which role; empty for a document nobody can open.
    pub roles: Vec<(String, Role)>,
}

/// What an admin did, for a running server to apply: the watch reads new entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The account was disabled or its password reset: its connections end.
    EndConnections { user: String },
    /// `user` was given `role` on `doc`.
    Grant {
        doc: DocumentId,
        user: UserId,
        role: Role,
    },
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Opens a data folder for an admin command: the store's and the accounts' tables both
/// exist (and are migrated) afterwards.
pub fn open(data: &Path) -> anyhow::Result<Accounts> {
    if !data.join("duet.sqlite3").is_file() {
        anyhow::bail!("no Duet data in {} (no duet.sqlite3)", data.display());
    }
    crate::storage::SqliteStorage::open(data)?;
    Ok(Accounts::open(data)?)
}

impl Accounts {
    /// Every account, by name.
    pub fn users(&self) -> Result<Vec<UserRow>, AccountError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT u.username, u.display_name, u.is_admin, u.disabled, u.created_at,
                (SELECT COUNT(*) FROM sessions s WHERE s.username = u.username AND s.expires_at > ?1),
                (SELECT COUNT(*) FROM api_tokens t WHERE t.username = u.username
                    AND t.expires_at > ?1 AND t.revoked = 0)
             FROM users u ORDER BY u.username",
        )?;
        let rows = stmt.query_map([now_ms()], |r| {
            Ok(UserRow {
                username: r.get(0)?,
                display_name: r.get(1)?,
                is_admin: r.get::<_, i64>(2)? != 0,
                disabled: r.get::<_, i64>(3)? != 0,
                created_at: r.get(4)?,
                sessions: r.get(5)?,
                tokens: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Disables an account (its sessions end, its tokens are revoked, a running server
    /// closes its connections) or enables it again (it signs in anew).
    pub fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), AccountError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE users SET disabled = ?2 WHERE username = ?1",
            params![username, disabled as i64],
        )?;
        if n == 0 {
            return Err(AccountError::NoSuchUser);
        }
        if disabled {
            tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
            tx.execute(
                "UPDATE api_tokens SET revoked = 1 WHERE username = ?1",
                [username],
            )?;
        }
        let action = if disabled { "disable" } else { "enable" };
        log(&tx, action, username, None, None)?;
        tx.commit()?;
        Ok(())
    }

    /// Sets a new password for an account; its sessions end and a running server closes
    /// its connections (its API tokens stay: revoke them, or disable the account).
    pub fn reset_password(&self, username: &str, password: &str) -> Result<(), AccountError> {
        crate::accounts::check_password(password)?;
        let hash = crate::accounts::hash_password(password)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE username = ?1",
            params![username, hash],
        )?;
        if n == 0 {
            return Err(AccountError::NoSuchUser);
        }
        tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        log(&tx, "reset-password", username, None, None)?;
        tx.commit()?;
        Ok(())
    }

    /// Every stored document (specs and other automerge-repo documents), newest first,
    /// with who has which role.
    pub fn documents(&self) -> Result<Vec<DocumentRow>, AccountError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, is_spec, title, updated_at, archived, deleted_at IS NOT NULL
             FROM documents ORDER BY updated_at DESC, id",
        )?;
        let mut docs: Vec<DocumentRow> = stmt
            .query_map([], |r| {
                Ok(DocumentRow {
                    id: r.get(0)?,
                    is_spec: r.get::<_, i64>(1)? != 0,
                    title: r.get(2)?,
                    updated_at: r.get(3)?,
                    archived: r.get::<_, i64>(4)? != 0,
                    deleted: r.get(5)?,
                    roles: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare("SELECT username, role FROM roles WHERE doc = ?1")?;
        for doc in &mut docs {
            let roles = stmt.query_map([&doc.id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for role in roles {
                let (user, role) = role?;
                if let Some(role) = Role::parse(&role) {
                    doc.roles.push((user, role));
                }
            }
            doc.roles
                .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        Ok(docs)
    }

    /// Gives `user` `role` on the stored document `doc` (the way to give a document
    /// nobody owns an owner). Taking the last owner's ownership away is refused.
    pub fn grant(&self, doc: DocumentId, username: &str, role: Role) -> Result<(), AccountError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id = doc.to_string();
        let known: Option<i64> = tx
            .query_row("SELECT 1 FROM documents WHERE id = ?1", [&id], |r| r.get(0))
            .optional()?;
        if known.is_none() {
            return Err(AccountError::Invalid(format!(
                "no document {id} is stored here"
            )));
        }
        let user: Option<i64> = tx
            .query_row("SELECT 1 FROM users WHERE username = ?1", [username], |r| {
                r.get(0)
            })
            .optional()?;
        if user.is_none() {
            return Err(AccountError::NoSuchUser);
        }
        let current: Option<String> = tx
            .query_row(
                "SELECT role FROM roles WHERE doc = ?1 AND username = ?2",
                [&id, username],
                |r| r.get(0),
            )
            .optional()?;
        let owners: i64 = tx.query_row(
            "SELECT COUNT(*) FROM roles WHERE doc = ?1 AND role = 'owner'",
            [&id],
            |r| r.get(0),
        )?;
        if current.as_deref() == Some("owner") && role != Role::Owner && owners <= 1 {
            return Err(AccountError::Invalid(format!(
                "{username} is the only owner of {id}: make someone else owner first"
            )));
        }
        tx.execute(
            "INSERT INTO roles (doc, username, role) VALUES (?1, ?2, ?3)
             ON CONFLICT (doc, username) DO UPDATE SET role = ?3",
            params![id, username, role.as_str()],
        )?;
        log(&tx, "grant", username, Some(&id), Some(role))?;
        tx.commit()?;
        Ok(())
    }

    /// The newest admin action's number (0 before any).
    pub fn last_action(&self) -> Result<i64, AccountError> {
        Ok(self
            .lock()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM admin_log", [], |r| {
                r.get(0)
            })?)
    }

    /// The admin actions after number `after`, oldest first, and the newest number.
    pub fn actions_since(&self, after: i64) -> Result<(Vec<Action>, i64), AccountError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, action, username, doc, role FROM admin_log WHERE id > ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut last = after;
        let mut actions = Vec::new();
        for row in rows {
            let (id, action, user, doc, role) = row?;
            last = last.max(id);
            match action.as_str() {
                "disable" | "reset-password" => actions.push(Action::EndConnections { user }),
                "grant" => {
                    let doc = doc.as_deref().and_then(|d| DocumentId::parse(d).ok());
                    let role = role.as_deref().and_then(Role::parse);
                    if let (Some(doc), Some(role), Ok(user)) = (doc, role, UserId::parse(&user)) {
                        actions.push(Action::Grant { doc, user, role });
                    }
                }
                _ => {}
            }
        }
        Ok((actions, last))
    }

    /// Changes whenever another connection (an admin command, the store) commits to the
    /// database: cheap to ask often.
    pub fn data_version(&self) -> Result<i64, AccountError> {
        Ok(self
            .lock()
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}

fn log(
    tx: &rusqlite::Transaction<'_>,
    action: &str,
    username: &str,
    doc: Option<&str>,
    role: Option<Role>,
) -> Result<(), AccountError> {
    tx.execute(
        "INSERT INTO admin_log (at, action, username, doc, role) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_ms(), action, username, doc, role.map(Role::as_str)],
    )?;
    Ok(())
}

/// How often a running server looks for admin commands run beside it.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Applies what admin commands run beside this server do (`duet user disable`, `duet spec
/// grant`…) within [`WATCH_EVERY`]: connections of a disabled account close, a
/// granted role holds in a loaded document and shows in the spec list.
pub(crate) async fn watch(state: AppState) -> anyhow::Result<()> {
    let accounts = state.accounts.clone();
    let (mut last, mut version) = accounts
        .run(|a| Ok::<_, AccountError>((a.last_action()?, a.data_version()?)))
        .await??;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(WATCH_EVERY) => {}
                () = state.shutdown.cancelled() => return,
            }
            let seen = state
                .accounts
                .run(move |a| {
                    let now = a.data_version()?;
                    if now == version {
                        return Ok((now, Vec::new(), last));
                    }
                    let (actions, newest) = a.actions_since(last)?;
                    Ok::<_, AccountError>((now, actions, newest))
                })
                .await;
            let (actions, newest) = match seen.and_then(|read| read) {
                Ok((now, actions, newest)) => {
                    version = now;
                    (actions, newest)
                }
                Err(e) => {
                    tracing::warn!("reading admin actions failed: {e}");
                    continue;
                }
            };
            last = newest;
            for action in actions {
                apply(&state, action).await;
            }
        }
    });
    Ok(())
}

async fn apply(state: &AppState, action: Action) {
    match action {
        Action::EndConnections { user } => {
            tracing::info!(%user, "an admin disabled the account or reset its password; closing its connections");
            state.end_connections(&user);
        }
        Action::Grant { doc, user, role } => {
            tracing::info!(%doc, %user, role = role.as_str(), "an admin granted a role");
            let granter = crate::docs::Granter::Admin;
            if let Err(e) =
                crate::http::change_role(state, doc, granter, user.clone(), Some(role)).await
            {
                tracing::warn!(%doc, "applying an admin's grant failed: {e:?}");
            }
            state.registry.list_changed(crate::docs::ListChange {
                doc,
                roles_of: vec![user.to_string()],
            });
        }
    }
}
