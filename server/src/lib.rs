//! The Duet sync server: automerge-repo websockets at `/sync`, REST under `/api`, embedded durable storage.

pub mod accounts;
pub mod admin;
pub mod backup;
pub mod config;
pub mod docs;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
pub mod memory;
pub mod metrics;
pub mod storage;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use duet_model;

use docs::Registry;
use storage::{SqliteStorage, StoreHandle};

/// Serves Duet on `listener` until `shutdown` completes, then closes every connection,
/// flushes every open document and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let storage = SqliteStorage::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let accounts = accounts::Accounts::open(&config.data_dir)
        .with_context(|| format!("opening the accounts in {}", config.data_dir.display()))?;
    let metrics = Arc::new(metrics::Metrics::new());
    let store = {
        let metrics = metrics.clone();
        StoreHandle::spawn(storage, move |took| metrics.committed(took))
    };
    let bindings = store
        .bindings()
        .await
        .context("reading the actor bindings")?
        .into_iter()
        .collect();
    let tracker = TaskTracker::new();
    let server_peer = duet_protocol::PeerId::random("duet-server", &mut rand::rng());
    let frontend = config.frontend_dir.clone();
    let metrics_addr = config.metrics_addr;
    let registry = Registry::new(
        store,
        Arc::new(config),
        server_peer,
        tracker.clone(),
        bindings,
        metrics,
    );
    let cancel = CancellationToken::new();
    purge_deleted(registry.store().clone(), cancel.clone());
    let state = http::AppState {
        registry: registry.clone(),
        next_conn: Arc::default(),
        shutdown: cancel.clone(),
        storage_id: format!("duet-{}", uuid_like(&mut rand::rng())),
        accounts,
        throttle: Arc::default(),
        connections: Arc::default(),
    };
    if let Some(addr) = metrics_addr {
        serve_metrics(addr, state.clone()).await?;
    }
    admin::watch(state.clone()).await?;
    let app = http::router(state, frontend.as_deref());
    let stop = cancel.clone();
    // No Nagle: a keystroke is one small frame and must leave at once (with Nagle and
    // delayed ACKs, every other small write waits ~40 ms).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("could not set TCP_NODELAY: {e}");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stop.cancel();
    })
    .await
    .context("serving http")?;
    // Upgraded websockets are not tracked by axum: they watch `cancel` and close with 1001.
    registry.shutdown().await;
    tracker.close();
    tracker.wait().await;
    tracing::info!("stopped; every document flushed");
    Ok(())
}

/// Serves `GET /metrics` alone on `addr`, without credentials, until the server stops.
async fn serve_metrics(addr: std::net::SocketAddr, state: http::AppState) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics address {addr}"))?;
    tracing::info!("metrics at http://{}/metrics", listener.local_addr()?);
    let stop = state.shutdown.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |axum::extract::State(state): axum::extract::State<http::AppState>| async move {
                    http::metrics_text(&state)
                },
            ),
        )
        .with_state(state);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!("the metrics listener failed: {e}");
        }
    });
    Ok(())
}

/// Purges the specs deleted more than 30 days ago: at start, then daily until `stop`.
fn purge_deleted(store: StoreHandle, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            match store.purge(now - storage::KEEP_DELETED_MS).await {
                Ok(gone) if !gone.is_empty() => {
                    tracing::info!(count = gone.len(), "purged specs deleted 30 days ago");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("purging deleted specs failed: {e}"),
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(24 * 3600)) => {}
                () = stop.cancelled() => return,
            }
        }
    });
}

fn uuid_like(rng: &mut impl rand::RngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
