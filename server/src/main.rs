//! The `duet` command line: `duet serve` starts the server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "duet", about = "Duet: a live, offline-capable spec editor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Logs go to stderr; stdout carries only the "Duet is running at …" line.
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            addr,
            data,
            max_message_bytes,
            frontend,
        } => {
            let mut config = duet_server::Config::new(data);
            config.max_message_bytes = max_message_bytes;
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
