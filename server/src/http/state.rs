//! `AppState`: what every handler and connection shares.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::accounts::{Accounts, Throttle};
use crate::docs::Registry;

/// What every handler and connection shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Registry,
    /// Numbers websocket connections.
    pub next_conn: Arc<AtomicU64>,
    /// Cancelled when the server shuts down: connections close with 1001.
    pub shutdown: CancellationToken,
    /// This server's automerge-repo storage id, announced in the handshake.
    pub storage_id: String,
    pub accounts: Accounts,
    /// Failed sign-ins per account and per address.
    pub throttle: Arc<Throttle>,
    /// Open websocket connections per user, and what ends them all at once.
    pub connections: Arc<Mutex<HashMap<String, UserConnections>>>,
}

/// A user's open websocket connections.
#[derive(Debug, Default)]
pub struct UserConnections {
    pub count: usize,
    /// Cancelled when an admin disables the account or resets its password.
    pub end: CancellationToken,
}

impl AppState {
    /// Closes every open websocket of `user` (with 1008).
    pub fn end_connections(&self, user: &str) {
        let mut open = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.get_mut(user) {
            // A fresh token for connections made from now on (the account enabled again).
            std::mem::take(&mut c.end).cancel();
        }
    }
}
