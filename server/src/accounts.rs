//! Accounts: users with argon2id passwords, sign-in sessions, API tokens, signed share links, and the sign-in throttle; kept in the same SQLite file as the documents.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use duet_model::UserId;
use duet_protocol::DocumentId;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::storage::Role;

/// How long a sign-in session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long an API token lasts unless told otherwise.
pub const TOKEN_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Prefix of API tokens, so they are recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "duet_";

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("the username is taken")]
    Taken,
    #[error("no such user")]
    NoSuchUser,
    #[error("this account is disabled; ask an admin")]
    Disabled,
    #[error("storage I/O failed: {0}")]
    Io(String),
}

impl From<rusqlite::Error> for AccountError {
    fn from(e: rusqlite::Error) -> Self {
        AccountError::Io(e.to_string())
    }
}

/// What people in a team do; shown beside their name.
pub const DISCIPLINES: [&str; 4] = ["product", "engineering", "design", "other"];

/// An account as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub colour: String,
    pub discipline: String,
    pub is_admin: bool,
}

/// Colours given to new accounts (readable on white, not the status colours).
const PALETTE: [&str; 8] = [
    "#3153d4", "#a23ab5", "#0f7c8c", "#c2410c", "#4d7c0f", "#be185d", "#6d28d9", "#0369a1",
];

/// Changes to a profile; `None` keeps a field.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
    pub colour: Option<String>,
    pub discipline: Option<String>,
}

/// An API token as its owner sees it (never the token itself: only its hash is kept).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// Unix ms; 0 for tokens made before times were kept.
    pub created_at: i64,
    pub expires_at: i64,
}

/// A share link as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub id: String,
    /// `/share/{token}`: the path to open (same origin).
    pub url: String,
    pub role: Role,
    pub expires_at: i64,
    pub revoked: bool,
}

/// Why a share link was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("this is not a valid share link")]
    Invalid,
    #[error("this share link has expired")]
    Expired,
    #[error("this share link was revoked by the spec's owner")]
    Revoked,
    #[error("storage I/O failed: {0}")]
    Io(String),
}

/// Who a credential belongs to, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user: UserId,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    colour        TEXT NOT NULL,
    discipline    TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users (username),
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    username   TEXT NOT NULL REFERENCES users (username),
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS share_links (
    id         TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    role       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS share_links_by_doc ON share_links (doc);
CREATE TABLE IF NOT EXISTS admin_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    action   TEXT NOT NULL,
    username TEXT NOT NULL,
    doc      TEXT,
    role     TEXT
);
CREATE TABLE IF NOT EXISTS server_secret (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
);
";

/// The accounts database (a connection of its own to the data folder's SQLite file).
/// Calls block; async callers run them with [`Accounts::run`].
#[derive(Clone)]
pub struct Accounts {
    conn: Arc<Mutex<Connection>>,
    /// Signs share links; generated on first start and kept in the database.
    secret: Arc<[u8; 32]>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Accounts")
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

fn random_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs argon2 work on one of two long-lived threads and waits for it (`None` if those
/// threads could not be started).
///
/// Each argon2 hash takes 19 MiB and ~20 ms of a core. Run on whichever blocking thread is
/// free, a burst of sign-ins took 19 MiB each at once (hundreds of them: gigabytes) and every
/// core; here a burst queues, using at most two cores and ~40 MiB.
fn on_hasher<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    type Job = Box<dyn FnOnce() + Send>;
    static QUEUE: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for n in 0..2 {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("duet-argon2-{n}"))
                .spawn(move || loop {
                    // A poisoned lock only means another hasher panicked while waiting.
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match next {
                        Ok(job) => {
                            job();
                            // The hash's 19 MiB, allocated and freed here, are free:
                            // give them back now, not when this thread next hashes.
                            crate::memory::release_here();
                        }
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("could not start a password hashing thread: {e}");
            }
        }
        std::sync::Mutex::new(tx)
    });
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = reply.send(job());
    });
    let sent = queue.lock().unwrap_or_else(|p| p.into_inner()).send(job);
    sent.ok().and_then(|()| answer.recv().ok())
}

pub(crate) fn hash_password(password: &str) -> Result<String, AccountError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Io(e.to_string()))?;
    let password = password.to_owned();
    on_hasher(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Io(e.to_string()))
    })
    .unwrap_or_else(|| Err(AccountError::Io("no password hashing thread".into())))
}

/// Whether `password` matches the stored PHC `hash`.
fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    on_hasher(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// A hash of a password nobody has, checked when the username is unknown so that an
/// unknown name takes as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

pub(crate) fn check_password(password: &str) -> Result<(), AccountError> {
    if password.len() < 8 {
        return Err(AccountError::Invalid(
            "the password must have at least 8 characters".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(AccountError::Invalid(
            "the password is longer than 1024 bytes".into(),
        ));
    }
    Ok(())
}

fn check_display_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "the display name must be 1–100 bytes of printable text".into(),
        ));
    }
    Ok(name.to_owned())
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        username: row.get(0)?,
        display_name: row.get(1)?,
        colour: row.get(2)?,
        discipline: row.get(3)?,
        is_admin: row.get::<_, i64>(4)? != 0,
    })
}

const USER_COLUMNS: &str = "username, display_name, colour, discipline, is_admin";

impl Accounts {
    /// Opens (creating if needed) the accounts tables in `duet.sqlite3` in `dir`.
    pub fn open(dir: &Path) -> Result<Accounts, AccountError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| AccountError::Io(format!("creating {}: {e}", dir.display())))?;
        let conn = Connection::open(dir.join("duet.sqlite3"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        // Added after the first release: tokens made before have no name or time.
        crate::storage::add_columns(
            &conn,
            &[
                ("api_tokens", "name", "TEXT NOT NULL DEFAULT ''"),
                ("api_tokens", "created_at", "INTEGER NOT NULL DEFAULT 0"),
                ("users", "disabled", "INTEGER NOT NULL DEFAULT 0"),
            ],
        )?;
        let key: Option<Vec<u8>> = conn
            .query_row("SELECT key FROM server_secret WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let secret = match key.and_then(|k| <[u8; 32]>::try_from(k).ok()) {
            Some(k) => k,
            None => {
                let mut k = [0u8; 32];
                rand::rng().fill_bytes(&mut k);
                conn.execute(
                    "INSERT OR REPLACE INTO server_secret (id, key) VALUES (1, ?1)",
                    [k.to_vec()],
                )?;
                k
            }
        };
        Ok(Accounts {
            conn: Arc::new(Mutex::new(conn)),
            secret: Arc::new(secret),
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // Every operation is one statement or one transaction: a panic cannot leave the
        // connection half-way, so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs blocking account work off the async threads.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Accounts) -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| AccountError::Io(format!("account task failed: {e}")))
    }

    /// Creates an account; the first one on a server is its admin (or `admin` forces it).
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
        admin: bool,
    ) -> Result<User, AccountError> {
        let user = UserId::parse(username).map_err(|_| {
            AccountError::Invalid(
                "the username must be 1–64 ASCII letters, digits, '.', '_' or '-'".into(),
            )
        })?;
        check_password(password)?;
        let display = check_display_name(display_name.unwrap_or(username))?;
        let hash = hash_password(password)?;
        let mut conn = self.lock();
        // Immediate: this transaction reads, then writes. A deferred one would take a read
        // snapshot first and then fail at once ("database is locked", without waiting) if
        // the storage thread committed in between — a sign-up answered 500.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        let colour = PALETTE[(count as usize) % PALETTE.len()];
        let is_admin = admin || count == 0;
        let inserted = tx.execute(
            "INSERT INTO users (username, display_name, colour, discipline, password_hash, is_admin, created_at)
             VALUES (?1, ?2, ?3, 'other', ?4, ?5, ?6) ON CONFLICT (username) DO NOTHING",
            params![user.as_str(), display, colour, hash, is_admin as i64, now_ms()],
        )?;
        if inserted == 0 {
            return Err(AccountError::Taken);
        }
        tx.commit()?;
        Ok(User {
            username: user.to_string(),
            display_name: display,
            colour: colour.to_owned(),
            discipline: "other".into(),
            is_admin,
        })
    }

    pub fn user(&self, username: &str) -> Result<Option<User>, AccountError> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                [username],
                user_from_row,
            )
            .optional()?)
    }

    /// Checks a password; `None` when the username is unknown or the password wrong.
    pub fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AccountError> {
        let stored: Option<(String, bool)> = self
            .lock()
            .query_row(
                "SELECT password_hash, disabled FROM users WHERE username = ?1",
                [username],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
            )
            .optional()?;
        let hash = stored.as_ref().map_or(decoy_hash(), |(h, _)| h.as_str());
        let ok = verify_password(password, hash);
        match stored {
            Some((_, disabled)) if ok => {
                if disabled {
                    return Err(AccountError::Disabled);
                }
                self.user(username)
            }
            _ => Ok(None),
        }
    }

    pub fn update_profile(
        &self,
        username: &str,
        update: &ProfileUpdate,
    ) -> Result<User, AccountError> {
        let mut user = self.user(username)?.ok_or(AccountError::NoSuchUser)?;
        if let Some(name) = &update.display_name {
            user.display_name = check_display_name(name)?;
        }
        if let Some(colour) = &update.colour {
            let ok = colour.len() == 7
                && colour.starts_with('#')
                && colour[1..].chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(AccountError::Invalid(
                    "the colour must look like #3153d4".into(),
                ));
            }
            user.colour = colour.to_ascii_lowercase();
        }
        if let Some(discipline) = &update.discipline {
            if !DISCIPLINES.contains(&discipline.as_str()) {
                return Err(AccountError::Invalid(
                    "the discipline must be product, engineering, design or other".into(),
                ));
            }
            user.discipline = discipline.clone();
        }
        self.lock().execute(
            "UPDATE users SET display_name = ?2, colour = ?3, discipline = ?4 WHERE username = ?1",
            params![username, user.display_name, user.colour, user.discipline],
        )?;
        Ok(user)
    }

    /// Starts a session; returns the cookie value.
    pub fn create_session(&self, username: &str) -> Result<String, AccountError> {
        let token = random_token();
        let expires = now_ms() + SESSION_TTL.as_millis() as i64;
        let conn = self.lock();
        // Expired sessions are swept as new ones start.
        conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now_ms()])?;
        conn.execute(
            "INSERT INTO sessions (token_hash, username, expires_at) VALUES (?1, ?2, ?3)",
            params![sha256_hex(&token), username, expires],
        )?;
        Ok(token)
    }

    pub fn end_session(&self, token: &str) -> Result<(), AccountError> {
        self.lock().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [sha256_hex(token)],
        )?;
        Ok(())
    }

    /// The user of a live session.
    pub fn session(&self, token: &str) -> Result<Option<Verified>, AccountError> {
        self.live_user(
            "SELECT s.username FROM sessions s JOIN users u ON u.username = s.username
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled = 0",
            token,
        )
    }

    /// The user `sql` finds for `token` (by its hash, with the time now as `?2`); `None`
    /// for an absurdly long token without asking.
    fn live_user(&self, sql: &str, token: &str) -> Result<Option<Verified>, AccountError> {
        if token.len() > 256 {
            return Ok(None);
        }
        let user: Option<String> = self
            .lock()
            .query_row(sql, params![sha256_hex(token), now_ms()], |r| r.get(0))
            .optional()?;
        Ok(user
            .and_then(|u| UserId::parse(&u).ok())
            .map(|user| Verified { user }))
    }

    /// Creates an API token for `username`; returns (id, token).
    pub fn create_token(
        &self,
        username: &str,
        ttl: Duration,
        name: &str,
    ) -> Result<(String, String), AccountError> {
        if self.user(username)?.is_none() {
            return Err(AccountError::NoSuchUser);
        }
        let name = name.trim();
        if name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(AccountError::Invalid(
                "a token's name is at most 60 characters, without control characters".into(),
            ));
        }
        let id = random_id();
        let token = format!("{TOKEN_PREFIX}{}", random_token());
        let now = now_ms();
        let expires = now.saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64);
        self.lock().execute(
            "INSERT INTO api_tokens (id, token_hash, username, expires_at, name, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, sha256_hex(&token), username, expires, name, now],
        )?;
        Ok((id, token))
    }

    /// `username`'s live tokens (neither revoked nor expired), newest first.
    pub fn tokens(&self, username: &str) -> Result<Vec<TokenInfo>, AccountError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, created_at, expires_at FROM api_tokens
             WHERE username = ?1 AND revoked = 0 AND expires_at > ?2
             ORDER BY created_at DESC, id",
        )?;
        let rows = stmt.query_map(params![username, now_ms()], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                expires_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Changes `username`'s password if `current` is theirs (false if not), and ends every
    /// session they had: whoever else was signed in with the old one is signed out.
    pub fn change_password(
        &self,
        username: &str,
        current: &str,
        new: &str,
    ) -> Result<bool, AccountError> {
        check_password(new)?;
        if self.check_password(username, current)?.is_none() {
            return Ok(false);
        }
        let hash = hash_password(new)?;
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE username = ?1",
            params![username, hash],
        )?;
        tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        tx.commit()?;
        Ok(true)
    }

    /// Revokes one of `username`'s tokens; false if they have no such token.
    pub fn revoke_token(&self, username: &str, id: &str) -> Result<bool, AccountError> {
        let n = self.lock().execute(
            "UPDATE api_tokens SET revoked = 1 WHERE id = ?1 AND username = ?2",
            params![id, username],
        )?;
        Ok(n > 0)
    }

    /// The user of a live, unrevoked API token.
    pub fn token(&self, token: &str) -> Result<Option<Verified>, AccountError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        self.live_user(
            "SELECT t.username FROM api_tokens t JOIN users u ON u.username = t.username
             WHERE t.token_hash = ?1 AND t.expires_at > ?2 AND t.revoked = 0 AND u.disabled = 0",
            token,
        )
    }

    fn sign(&self, payload: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.as_slice())
            .expect("HMAC takes a key of any length");
        mac.update(payload.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    fn link_token(&self, id: &str, doc: &str, role: Role, expires_at: i64) -> String {
        let payload = format!("{id}.{doc}.{}.{expires_at}", role.as_str());
        let sig = self.sign(&payload);
        format!("{}.{sig}", B64.encode(payload))
    }

    fn link_from_row(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Link>> {
        let id: String = row.get(0)?;
        let doc: String = row.get(1)?;
        let role: String = row.get(2)?;
        let expires_at: i64 = row.get(3)?;
        let revoked = row.get::<_, i64>(4)? != 0;
        Ok(Role::parse(&role).map(|role| Link {
            url: format!("/share/{}", self.link_token(&id, &doc, role, expires_at)),
            id,
            role,
            expires_at,
            revoked,
        }))
    }

    /// Creates a share link to `doc` granting `role`, valid for `ttl`.
    pub fn create_link(
        &self,
        doc: DocumentId,
        role: Role,
        ttl: Duration,
        by: &str,
    ) -> Result<Link, AccountError> {
        let id = random_id();
        let expires_at = now_ms() + ttl.as_millis() as i64;
        self.lock().execute(
            "INSERT INTO share_links (id, doc, role, expires_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, doc.to_string(), role.as_str(), expires_at, by],
        )?;
        Ok(Link {
            url: format!(
                "/share/{}",
                self.link_token(&id, &doc.to_string(), role, expires_at)
            ),
            id,
            role,
            expires_at,
            revoked: false,
        })
    }

    pub fn links(&self, doc: DocumentId) -> Result<Vec<Link>, AccountError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, doc, role, expires_at, revoked FROM share_links WHERE doc = ?1 ORDER BY expires_at DESC",
        )?;
        let rows = stmt
            .query_map([doc.to_string()], |r| self.link_from_row(r))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// Revokes a link of `doc`; false if `doc` has no such link.
    pub fn revoke_link(&self, doc: DocumentId, id: &str) -> Result<bool, AccountError> {
        let n = self.lock().execute(
            "UPDATE share_links SET revoked = 1 WHERE id = ?1 AND doc = ?2",
            params![id, doc.to_string()],
        )?;
        Ok(n > 0)
    }

    /// Checks a share link's signature, expiry and revocation; returns what it grants.
    pub fn redeem(&self, token: &str) -> Result<(DocumentId, Role), LinkError> {
        let (payload_b64, sig) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let payload = B64
            .decode(payload_b64)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or(LinkError::Invalid)?;
        // Constant-time comparison of the signatures.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.as_slice())
            .map_err(|_| LinkError::Invalid)?;
        mac.update(payload.as_bytes());
        let given = B64.decode(sig).map_err(|_| LinkError::Invalid)?;
        if mac.verify_slice(&given).is_err() {
            return Err(LinkError::Invalid);
        }
        let mut parts = payload.split('.');
        let (Some(id), Some(doc), Some(role), Some(expires), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(LinkError::Invalid);
        };
        let doc = DocumentId::parse(doc).map_err(|_| LinkError::Invalid)?;
        let role = Role::parse(role).ok_or(LinkError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Invalid)?;
        let revoked: Option<i64> = self
            .lock()
            .query_row(
                "SELECT revoked FROM share_links WHERE id = ?1 AND doc = ?2",
                params![id, doc.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| LinkError::Io(e.to_string()))?;
        match revoked {
            None | Some(1..) => Err(LinkError::Revoked),
            Some(_) if expires <= now_ms() => Err(LinkError::Expired),
            Some(_) => Ok((doc, role)),
        }
    }
}

/// Counts failed sign-ins per key (an account or an address) in a sliding window.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Failed sign-ins allowed per account, and per address, in one window.
pub const MAX_FAILURES_PER_ACCOUNT: u32 = 5;
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// How long failures are remembered.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds to wait at `now` if `key` has reached `max` failures in the window.
    pub fn blocked(&self, key: &str, max: u32, now: Instant) -> Option<u64> {
        let map = self.lock();
        let (count, since) = map.get(key)?;
        let left = THROTTLE_WINDOW.checked_sub(now.saturating_duration_since(*since))?;
        (*count >= max).then(|| left.as_secs().max(1))
    }

    /// Counts a failure of `key` at `now` (a window starts at its first failure).
    pub fn fail(&self, key: &str, now: Instant) {
        let mut map = self.lock();
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now.saturating_duration_since(*since) < THROTTLE_WINDOW);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= THROTTLE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeed(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_blocks_a_key_at_its_limit_for_the_rest_of_the_window() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        for i in 0..4 {
            throttle.fail("user:ada", at(i));
        }
        assert_eq!(throttle.blocked("user:ada", 5, at(10)), None);
        throttle.fail("user:ada", at(10));
        let window = THROTTLE_WINDOW.as_secs();
        // Blocked until the window that began with the first failure ends.
        assert_eq!(throttle.blocked("user:ada", 5, at(10)), Some(window - 10));
        assert_eq!(throttle.blocked("user:ada", 5, at(window - 60)), Some(60));
        assert_eq!(throttle.blocked("user:ada", 5, at(window + 1)), None);
        assert_eq!(throttle.blocked("addr:1.2.3.4", 5, at(10)), None, "per key");
        // A failure after the window starts a new count.
        throttle.fail("user:ada", at(window + 1));
        assert_eq!(
            throttle.blocked("user:ada", 1, at(window + 1)),
            Some(window)
        );
        assert_eq!(throttle.blocked("user:ada", 2, at(window + 1)), None);
        throttle.succeed("user:ada");
        assert_eq!(throttle.blocked("user:ada", 1, at(window + 2)), None);
    }
}
