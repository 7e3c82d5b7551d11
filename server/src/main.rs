//! The `duet` command line: `duet serve` starts the server; `duet user add` and `duet token create` manage accounts for scripting.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

/// mimalloc hands large freed blocks back to the system. With glibc's allocator, each argon2
/// hash (19 MiB, one per sign-up or sign-in) raised its mmap threshold so later hashes came
/// from arenas that keep freed memory: 100 sign-ups left the server at ~250 MiB for ~20 live.
/// Built without transparent huge pages (`no_thp`): with them, 2 MiB pages that a spec's
/// many small allocations use only in part were resident whole (20 people typing for 60 s:
/// 46 MiB resident with huge pages, 21 MiB without).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hands the memory mimalloc holds free back to the system, from this thread now and from
/// every other as it next goes idle: called after a document is unloaded
/// (`duet_server::memory`; a password hasher collects only its own thread). mimalloc gives
/// a thread's free pages back when that thread next allocates enough, which an idle
/// server never does, and a document's memory is spread over every worker (tasks move
/// between them). Figures: RELIABILITY.md, "Soak".
#[cfg(feature = "mimalloc")]
fn release_memory() {
    let asked = RELEASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    ANSWERED.with(|a| a.set(asked));
    collect();
}

/// How many times memory was asked back; each worker remembers the last it answered.
#[cfg(feature = "mimalloc")]
static RELEASES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(feature = "mimalloc")]
thread_local! {
    static ANSWERED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Runs as a thread goes idle (a worker parks, the storage thread waits): collects this
/// thread's free memory if a release was asked since it last did (one atomic load
/// otherwise).
#[cfg(feature = "mimalloc")]
fn collect_when_idle() {
    let asked = RELEASES.load(std::sync::atomic::Ordering::Relaxed);
    if ANSWERED.with(|a| a.replace(asked)) != asked {
        collect();
    }
}

#[cfg(feature = "mimalloc")]
#[allow(unsafe_code)]
fn collect() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "duet", about = "Duet: a live, offline-capable spec editor")]
struct Cli {
    /// How log lines are written to standard error: `text` for people, `json` (one
    /// object a line) for log shippers.
    #[arg(
        long,
        env = "DUET_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the app, the sync endpoint (/sync) and the REST API (/api).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "DUET_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Folder of the embedded store (created if missing).
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
        /// Largest websocket message accepted, in bytes.
        #[arg(long, env = "DUET_MAX_MESSAGE_BYTES", default_value_t = 8 * 1024 * 1024)]
        max_message_bytes: usize,
        /// Folder of the built browser app (`cargo xtask run` builds it there).
        #[arg(long, env = "DUET_FRONTEND", default_value = "./frontend/dist")]
        frontend: PathBuf,
        /// Another origin whose pages may use the session cookie (repeatable), e.g.
        /// https://duet.example.com when a proxy serves Duet there.
        #[arg(
            long = "allow-origin",
            env = "DUET_ALLOW_ORIGINS",
            value_delimiter = ','
        )]
        allow_origins: Vec<String>,
        /// Mark the session cookie Secure (Duet is reached over https).
        #[arg(long, env = "DUET_SECURE_COOKIES")]
        secure_cookies: bool,
        /// Incremental chunks a document accumulates before it is compacted into one
        /// snapshot (fewer: smaller storage, more snapshot writes).
        #[arg(long, env = "DUET_COMPACT_AFTER", default_value_t = 2000,
              value_parser = clap::value_parser!(u32).range(1..))]
        compact_after: u32,
        /// Also serve `GET /metrics` on this address, without credentials (keep it
        /// private); on the main address `/metrics` needs an admin's API token.
        #[arg(long, env = "DUET_METRICS_ADDR")]
        metrics_addr: Option<SocketAddr>,
    },
    /// Copy the database of a data folder to a new file, while the server runs: every
    /// change acknowledged before the backup began is in the copy.
    Backup {
        /// The data folder (of a running server or not).
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
        /// The file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup back as the database of a data folder (stop the server first).
    Restore {
        /// The backup file (checked before anything is touched).
        #[arg(long)]
        from: PathBuf,
        /// The data folder to restore into.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
        /// Replace a database already there (kept aside as duet.sqlite3.before-restore).
        #[arg(long)]
        replace: bool,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens (for scripts and automerge-repo clients).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// See stored documents and give people roles on them (with the server running or
    /// not; a running server applies a grant within a second).
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SpecCommand {
    /// Every stored document: specs and other automerge-repo documents, with their roles
    /// ("nobody" for a document nobody can open).
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
    /// Gives a user a role on a document (the way to give an ownerless one an owner).
    Grant {
        /// The document's id (`automerge:` prefix optional).
        #[arg(long)]
        spec: String,
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = ["owner", "editor", "viewer"])]
        role: String,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Creates an account. The password is read from DUET_PASSWORD, or else from the
    /// first line of standard input.
    Add {
        /// The username (letters, digits, '.', '_', '-').
        name: String,
        /// Shown to others (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Make the account an admin (the first account always is).
        #[arg(long)]
        admin: bool,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
    /// Every account: admin or not, disabled or not, live sessions and tokens.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
    /// Disables an account: its sessions end, its tokens are revoked, a running server
    /// closes its connections within a second; it can no longer sign in.
    Disable {
        name: String,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
    /// Lets a disabled account sign in again (with new sessions and tokens).
    Enable {
        name: String,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
    /// Sets a new password (from DUET_PASSWORD, or else the first line of standard
    /// input); the account's sessions end and its open connections close.
    ResetPassword {
        name: String,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Prints a new API token for a user.
    Create {
        #[arg(long)]
        user: String,
        /// Days the token stays valid.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// Folder of the embedded store.
        #[arg(long, env = "DUET_DATA", default_value = "./duet-data")]
        data: PathBuf,
    },
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("DUET_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn main() -> anyhow::Result<()> {
    #[cfg(feature = "mimalloc")]
    duet_server::memory::install(duet_server::memory::Release {
        now: release_memory,
        if_asked: collect_when_idle,
        here: collect,
    });
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    #[cfg(feature = "mimalloc")]
    runtime.on_thread_park(collect_when_idle);
    runtime.build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    // automerge 0.6.1 opens an INFO span for every column of every change it parses, whose
    // fields the formatter writes out even when nothing is logged inside: 5% of the
    // server's CPU with 500 people on 50 specs. Its warnings and errors still show.
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,automerge=warn".into()),
        )
        // Logs go to stderr; stdout carries only the "Duet is running at …" line.
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(false).init(),
    }
    match cli.command {
        Command::User { command } => user_command(command),
        Command::Spec { command } => spec_command(command),
        Command::Backup { data, to } => {
            let made = duet_server::backup::backup(&data, &to)?;
            println!(
                "backed up {} to {}: {} documents, {} accounts, {} bytes (checked)",
                data.display(),
                to.display(),
                made.documents,
                made.users,
                made.bytes
            );
            Ok(())
        }
        Command::Restore {
            from,
            data,
            replace,
        } => {
            let put = duet_server::backup::restore(&from, &data, replace)?;
            println!(
                "restored {} into {}: {} documents, {} accounts",
                from.display(),
                data.display(),
                put.documents,
                put.users
            );
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { user, days, data },
        } => {
            if !(1..=3650).contains(&days) {
                anyhow::bail!("--days must be between 1 and 3650");
            }
            let accounts = duet_server::accounts::Accounts::open(&data)?;
            let (_, token) = accounts.create_token(
                &user,
                std::time::Duration::from_secs(days * 24 * 3600),
                "command line",
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Serve {
            addr,
            data,
            max_message_bytes,
            frontend,
            allow_origins,
            secure_cookies,
            compact_after,
            metrics_addr,
        } => {
            // Test builds only: crash hooks configured by the FAILPOINTS variable.
            #[cfg(feature = "failpoints")]
            let _failpoints = fail::FailScenario::setup();
            let mut config = duet_server::Config::new(data);
            config.compact_after_chunks = compact_after as usize;
            config.max_message_bytes = max_message_bytes;
            config.allowed_origins = allow_origins;
            config.secure_cookies = secure_cookies;
            config.metrics_addr = metrics_addr;
            if !frontend.join("index.html").is_file() {
                tracing::warn!(
                    "no browser app in {} (build it with `cargo xtask run`); serving the API only",
                    frontend.display()
                );
            }
            config.frontend_dir = Some(frontend);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            let local = listener.local_addr()?;
            println!(
                "Duet is running at http://{local} (data in {})",
                config.data_dir.display()
            );
            duet_server::run(listener, config, shutdown_signal()).await
        }
    }
}

fn date(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_else(|| "-".into())
}

fn user_command(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            display_name,
            admin,
            data,
        } => {
            let password = read_password()?;
            let accounts = duet_server::accounts::Accounts::open(&data)?;
            let user = accounts.add_user(&name, &password, display_name.as_deref(), admin)?;
            println!(
                "created {}{}",
                user.username,
                if user.is_admin { " (admin)" } else { "" }
            );
            Ok(())
        }
        UserCommand::List { json, data } => {
            let users = duet_server::admin::open(&data)?.users()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
                return Ok(());
            }
            println!(
                "{:<24} {:<24} {:<9} {:<16} {:>8} {:>6}",
                "USER", "NAME", "STATUS", "CREATED", "SESSIONS", "TOKENS"
            );
            for u in users {
                let status = match (u.disabled, u.is_admin) {
                    (true, _) => "disabled",
                    (false, true) => "admin",
                    (false, false) => "active",
                };
                println!(
                    "{:<24} {:<24} {:<9} {:<16} {:>8} {:>6}",
                    u.username,
                    u.display_name,
                    status,
                    date(u.created_at),
                    u.sessions,
                    u.tokens
                );
            }
            Ok(())
        }
        UserCommand::Disable { name, data } => {
            duet_server::admin::open(&data)?.set_disabled(&name, true)?;
            println!("disabled {name}: sessions ended, tokens revoked, connections closing");
            Ok(())
        }
        UserCommand::Enable { name, data } => {
            duet_server::admin::open(&data)?.set_disabled(&name, false)?;
            println!("enabled {name}: they can sign in again");
            Ok(())
        }
        UserCommand::ResetPassword { name, data } => {
            let accounts = duet_server::admin::open(&data)?;
            let password = read_password()?;
            accounts.reset_password(&name, &password)?;
            println!("reset the password of {name}: sessions ended, connections closing");
            Ok(())
        }
    }
}

fn spec_command(command: SpecCommand) -> anyhow::Result<()> {
    match command {
        SpecCommand::List { json, data } => {
            let docs = duet_server::admin::open(&data)?.documents()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&docs)?);
                return Ok(());
            }
            println!(
                "{:<30} {:<8} {:<16} {:<9} {:<32} ROLES",
                "ID", "KIND", "UPDATED", "STATE", "TITLE"
            );
            for d in docs {
                let state = if d.deleted {
                    "deleted"
                } else if d.archived {
                    "archived"
                } else {
                    "open"
                };
                let roles = if d.roles.is_empty() {
                    "nobody".to_owned()
                } else {
                    d.roles
                        .iter()
                        .map(|(u, r)| format!("{u}={}", r.as_str()))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let title: String = d.title.chars().take(32).collect();
                println!(
                    "{:<30} {:<8} {:<16} {:<9} {:<32} {}",
                    d.id,
                    if d.is_spec { "spec" } else { "document" },
                    date(d.updated_at),
                    state,
                    title,
                    roles
                );
            }
            Ok(())
        }
        SpecCommand::Grant {
            spec,
            user,
            role,
            data,
        } => {
            let id = duet_protocol::DocumentId::parse(spec.trim_start_matches("automerge:"))
                .map_err(|e| anyhow::anyhow!("--spec: {e}"))?;
            let role = duet_server::storage::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be owner, editor or viewer"))?;
            duet_server::admin::open(&data)?.grant(id, &user, role)?;
            println!("{user} is now {} of {id}", role.as_str());
            Ok(())
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
