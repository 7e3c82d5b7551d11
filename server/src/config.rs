//! Server settings: where to listen, where data lives, and the limits that protect it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `duet serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    /// Largest websocket message accepted; bigger ones close the connection with 1009.
    pub max_message_bytes: usize,
    /// How often the server pings each websocket; a peer silent for two intervals is dropped.
    pub ping_interval: Duration,
    /// How long a document with no peers stays in memory before it is flushed and unloaded.
    pub idle_unload: Duration,
    /// Messages waiting to be written to one peer; a peer that falls this far behind is
    /// disconnected (it reconnects and resyncs) rather than silently skipped.
    pub peer_outbox: usize,
    /// Incremental chunks a document may accumulate before it is compacted to a snapshot.
    pub compact_after_chunks: usize,
    /// The built browser app (`index.html`, the wasm and its glue), served at `/`. When it
    /// has no `index.html`, `/` shows a page saying the app is not built.
    pub frontend_dir: Option<PathBuf>,
    /// Origins (`https://duet.example.com`) besides the server's own whose pages may use
    /// the session cookie on the websocket and the API.
    pub allowed_origins: Vec<String>,
    /// Mark the session cookie `Secure` (Duet is served over https, perhaps behind a proxy
    /// that does not say `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Websocket connections one user may have open at once; more are refused with 429.
    pub max_connections_per_user: usize,
    /// Messages per second a connection may send on average, and in one burst; more
    /// close the connection with 1008.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// A second address serving only `GET /metrics`, without credentials (for a scraper
    /// on a private network); `/metrics` on the main address asks for an admin.
    pub metrics_addr: Option<SocketAddr>,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            max_message_bytes: 8 * 1024 * 1024,
            ping_interval: Duration::from_secs(20),
            idle_unload: Duration::from_secs(30),
            peer_outbox: 1024,
            compact_after_chunks: 2000,
            frontend_dir: None,
            allowed_origins: Vec::new(),
            secure_cookies: false,
            max_connections_per_user: 64,
            messages_per_second: 200,
            message_burst: 5000,
            metrics_addr: None,
        }
    }
}

/// The default listening address.
pub fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
