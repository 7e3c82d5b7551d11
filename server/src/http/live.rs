//! The spec list kept live: `GET /api/specs/events`, a server-sent event stream that says `changed` (at most once a second, with the ids of the specs concerned) whenever a spec on the caller's list reads differently — its title, counts, people — or one is shared with them or taken away.

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::auth::Caller;
use super::error::AppError;
use super::state::AppState;
use crate::docs::ListChange;

/// Changes that arrive within this time of the last event ride on the next one.
const AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// One listener's place: its changes, the specs on its list, and who it is.
struct Listener {
    changes: Receiver<ListChange>,
    mine: HashSet<String>,
    state: AppState,
    user: String,
    /// Nothing was sent yet (the first event is not held back).
    first: bool,
}

impl Listener {
    /// The specs on the caller's list now.
    async fn mine(state: &AppState, user: &str) -> Result<HashSet<String>, AppError> {
        Ok(state
            .registry
            .store()
            .list_for(user)
            .await?
            .into_iter()
            .map(|(m, _)| m.id)
            .collect())
    }

    /// Whether `change` alters this listener's list (reading its list again when its
    /// roles changed).
    async fn concerns(&mut self, change: &ListChange) -> bool {
        if change.roles_of.iter().any(|u| u == &self.user) {
            if let Ok(mine) = Self::mine(&self.state, &self.user).await {
                self.mine = mine;
            }
            return true;
        }
        self.mine.contains(&change.doc.to_string())
    }

    /// Waits for the next change to this listener's list; `None` when the server stops.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Listener)> {
        if !self.first {
            tokio::select! {
                () = tokio::time::sleep(AT_MOST_EVERY) => {}
                () = self.state.shutdown.cancelled() => return None,
            }
        }
        self.first = false;
        let mut docs = BTreeSet::new();
        loop {
            let change = tokio::select! {
                change = self.changes.recv() => change,
                () = self.state.shutdown.cancelled() => return None,
            };
            match change {
                Ok(change) if self.concerns(&change).await => {
                    docs.insert(change.doc.to_string());
                    break;
                }
                Ok(_) => {}
                // Too many to look at: say something changed, the list is read again.
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return None,
            }
        }
        // Everything already waiting is covered by this one event.
        while let Ok(change) = self.changes.try_recv() {
            if self.concerns(&change).await {
                docs.insert(change.doc.to_string());
            }
        }
        let data = docs.into_iter().collect::<Vec<_>>().join(",");
        Some((Ok(Event::default().event("changed").data(data)), self))
    }
}

pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    // Subscribed before the list is read: nothing falls between.
    let changes = state.registry.list_changes();
    let user = caller.user.to_string();
    let listener = Listener {
        changes,
        mine: Listener::mine(&state, &user).await?,
        state,
        user,
        first: true,
    };
    let stream = futures_util::stream::unfold(listener, Listener::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}
