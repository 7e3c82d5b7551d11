//! Backup and restore of a data folder: a consistent copy of its SQLite database taken while the server runs (SQLite's online backup: every change acknowledged before it began is in the copy), and the checks before a copy is put back.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// The database file in a data folder.
const DB: &str = "duet.sqlite3";

/// What a copy holds, as checked after writing it or before putting it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub documents: i64,
    pub users: i64,
    pub bytes: u64,
}

/// Copies the database of `data` to `to` (which must not exist), while a server may be
/// writing to it, and checks the copy.
pub fn backup(data: &Path, to: &Path) -> Result<Contents> {
    let source = data.join(DB);
    if !source.is_file() {
        bail!("{} holds no Duet database ({DB})", data.display());
    }
    if to.exists() {
        bail!("{} exists already: back up to a new file", to.display());
    }
    let from = Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", source.display()))?;
    // A busy writer holds the lock briefly per transaction: wait for it.
    from.busy_timeout(std::time::Duration::from_secs(30))?;
    let mut copy = Connection::open(to).with_context(|| format!("creating {}", to.display()))?;
    {
        // All pages in one step: one read transaction, so one consistent version (copied
        // step by step, a backup starts over whenever the server writes meanwhile).
        let backup = Backup::new(&from, &mut copy)?;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                // The server is committing: try again in a moment.
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
    drop(copy);
    check(to)
}

/// Checks that `file` is a whole Duet database and says what it holds.
pub fn check(file: &Path) -> Result<Contents> {
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", file.display()))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{} is not an SQLite database", file.display()))?;
    if integrity != "ok" {
        bail!("{} is damaged: {integrity}", file.display());
    }
    let count = |table: &str| -> Result<i64> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .with_context(|| {
                format!(
                    "{} is not a Duet database (no {table} table)",
                    file.display()
                )
            })
    };
    Ok(Contents {
        documents: count("documents")?,
        users: count("users")?,
        bytes: std::fs::metadata(file)?.len(),
    })
}

/// Puts the backup `from` in place as the database of `data` (the server must be
/// stopped). An existing database is kept aside as `duet.sqlite3.before-restore` when
/// `replace` is given, and refused otherwise.
pub fn restore(from: &Path, data: &Path, replace: bool) -> Result<Contents> {
    let contents = check(from)?;
    std::fs::create_dir_all(data)?;
    let target = data.join(DB);
    if target.exists() {
        if !replace {
            bail!(
                "{} holds a database already; stop the server and pass --replace to keep it aside as {DB}.before-restore",
                data.display()
            );
        }
        // Its write-ahead log belongs to it: both go aside together.
        let aside = |name: &str| -> PathBuf { data.join(format!("{name}.before-restore")) };
        for name in [DB.to_owned(), format!("{DB}-wal"), format!("{DB}-shm")] {
            let path = data.join(&name);
            if path.exists() {
                std::fs::rename(&path, aside(&name))?;
            }
        }
    }
    // Written beside, then renamed: a crash leaves either no database or the whole copy.
    let partial = data.join(format!("{DB}.restoring"));
    std::fs::copy(from, &partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &target)?;
    Ok(contents)
}
