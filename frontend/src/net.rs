//! The connection to the server: one websocket at a time, reconnecting with exponential backoff and jitter, reacting to the browser's offline/online events; its state is a signal.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use duet_model::automerge::AutoCommit;
use duet_model::{Author, EditError, Spec, UnixMillis};
use duet_protocol::{DocumentId, Message, PeerId};
use duet_sync::{backoff_ms, Event, Presence, Roster, Session, HEARTBEAT_MS};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::me::Me;

/// What the page shows about the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Connecting,
    Live,
    /// Waiting before attempt `attempt`.
    Reconnecting {
        attempt: u32,
        in_ms: u32,
    },
    /// The browser says there is no network.
    Offline,
}

/// What the page knows about an open document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocState {
    /// Asked for, nothing received yet.
    Loading,
    /// Received (and kept in sync while connected).
    Ready,
    /// The server does not have it.
    Unavailable,
}

/// An open document: its replica, and signals the page renders from.
struct OpenDoc {
    doc: AutoCommit,
    /// Bumped on every change applied, so views re-read the document.
    version: RwSignal<u64>,
    state: RwSignal<DocState>,
    /// Everyone else here, as their pages announce themselves.
    roster: Roster,
    people: RwSignal<Vec<Presence>>,
    /// What this tab announces while the page is open (`None`: not announcing).
    mine: Option<Presence>,
}

/// The signals a page renders an open document from.
#[derive(Clone, Copy)]
pub struct DocSignals {
    pub version: RwSignal<u64>,
    pub state: RwSignal<DocState>,
    pub people: RwSignal<Vec<Presence>>,
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

struct Inner {
    url: String,
    docs: HashMap<DocumentId, OpenDoc>,
    me: PeerId,
    /// Who types here, and the author (actor) of this tab's changes.
    person: Me,
    author: Author,
    ws: Option<WebSocket>,
    session: Option<Session>,
    attempt: u32,
    status: WriteSignal<Status>,
    /// The socket's callbacks, kept alive as long as the socket.
    handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
    on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
}

/// A handle to the page's one connection.
#[derive(Clone)]
pub struct Connection {
    inner: Rc<RefCell<Inner>>,
}

impl Connection {
    /// Connects to `/sync` of the page's own origin and keeps connected.
    pub fn start(me: PeerId, person: Me) -> (Connection, ReadSignal<Status>) {
        let (status, set_status) = signal(Status::Connecting);
        let url = sync_url();
        let conn = Connection {
            inner: Rc::new(RefCell::new(Inner {
                url,
                docs: HashMap::new(),
                me,
                author: person.author(),
                person,
                ws: None,
                session: None,
                attempt: 0,
                status: set_status,
                handlers: Vec::new(),
                on_message: None,
            })),
        };
        conn.watch_network();
        conn.heartbeat();
        conn.connect();
        (conn, status)
    }

    fn connect(&self) {
        if !online() {
            self.inner.borrow().status.set(Status::Offline);
            return;
        }
        let url = self.inner.borrow().url.clone();
        let Ok(ws) = WebSocket::new(&url) else {
            self.retry_later();
            return;
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let (session, join) = Session::new(self.inner.borrow().me.clone());

        let me = self.clone();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let _ = me.send(&join);
        });
        let me = self.clone();
        let on_close = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| me.lost());
        let me = self.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Ok(buf) = e.data().dyn_into::<js_sys::ArrayBuffer>() {
                me.receive(&js_sys::Uint8Array::new(&buf).to_vec());
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let mut inner = self.inner.borrow_mut();
        inner.status.set(if inner.attempt == 0 {
            Status::Connecting
        } else {
            Status::Reconnecting {
                attempt: inner.attempt,
                in_ms: 0,
            }
        });
        inner.ws = Some(ws);
        inner.session = Some(session);
        inner.handlers = vec![on_open, on_close];
        inner.on_message = Some(on_message);
    }

    fn send(&self, m: &Message) -> Result<(), ()> {
        let inner = self.inner.borrow();
        let ws = inner.ws.as_ref().ok_or(())?;
        ws.send_with_u8_array(&m.encode()).map_err(|_| ())
    }

    fn receive(&self, bytes: &[u8]) {
        let Ok(message) = Message::decode(bytes) else {
            self.drop_socket();
            self.retry_later();
            return;
        };
        let result = {
            let mut inner = self.inner.borrow_mut();
            let Inner { session, docs, .. } = &mut *inner;
            let Some(session) = session.as_mut() else {
                return;
            };
            let doc = Session::document_of(&message)
                .and_then(|id| docs.get_mut(&id))
                .map(|open| &mut open.doc);
            session.receive(message, doc)
        };
        match result {
            Ok((Event::Ready, _)) => {
                let mut inner = self.inner.borrow_mut();
                inner.attempt = 0;
                inner.status.set(Status::Live);
                // A new connection syncs every open document afresh.
                let tab = inner_tab(&inner.me);
                let Inner { session, docs, .. } = &mut *inner;
                let mut opens: Vec<Message> = Vec::new();
                if let Some(session) = session.as_mut() {
                    for (id, open) in docs.iter_mut() {
                        opens.extend(session.open(*id, &mut open.doc));
                        if let Some(p) = &open.mine {
                            opens.extend(session.ephemeral(*id, &tab, p.encode()));
                        }
                    }
                }
                drop(inner);
                for m in opens {
                    let _ = self.send(&m);
                }
            }
            Ok((event, replies)) => {
                self.note(&event);
                for r in replies {
                    let _ = self.send(&r);
                }
            }
            Err(_) => {
                self.drop_socket();
                self.retry_later();
            }
        }
    }

    /// Updates the signals of the document an event is about.
    fn note(&self, event: &Event) {
        let mut inner = self.inner.borrow_mut();
        let (id, unavailable) = match event {
            Event::Changed(id) | Event::Synced(id) => (id, false),
            Event::Unavailable(id) => (id, true),
            Event::Ephemeral {
                document,
                session,
                data,
                ..
            } => {
                // Presence from another tab; anything unreadable is ignored.
                let (Some(open), Ok(p)) = (inner.docs.get_mut(document), Presence::decode(data))
                else {
                    return;
                };
                if open.roster.update(session, p, now_ms() as u64) {
                    open.people.set(open.roster.people());
                }
                return;
            }
            _ => return,
        };
        let Some(open) = inner.docs.get_mut(id) else {
            return;
        };
        if unavailable {
            open.state.set(DocState::Unavailable);
            return;
        }
        if matches!(event, Event::Changed(_)) {
            open.version.update(|v| *v += 1);
        }
        if open.state.get_untracked() != DocState::Ready && !open.doc.get_heads().is_empty() {
            open.state.set(DocState::Ready);
        }
    }

    /// Opens `id` (asking the server for it) and returns the signals to render it from.
    pub fn open(&self, id: DocumentId) -> DocSignals {
        let mut inner = self.inner.borrow_mut();
        if let Some(open) = inner.docs.get(&id) {
            return DocSignals {
                version: open.version,
                state: open.state,
                people: open.people,
            };
        }
        let fresh = OpenDoc {
            doc: AutoCommit::new(),
            version: RwSignal::new(0),
            state: RwSignal::new(DocState::Loading),
            roster: Roster::default(),
            people: RwSignal::new(Vec::new()),
            mine: None,
        };
        let signals = DocSignals {
            version: fresh.version,
            state: fresh.state,
            people: fresh.people,
        };
        let Inner { session, docs, .. } = &mut *inner;
        let open = docs.entry(id).or_insert(fresh);
        let first = session.as_mut().and_then(|s| s.open(id, &mut open.doc));
        drop(inner);
        if let Some(m) = first {
            let _ = self.send(&m);
        }
        signals
    }

    /// Reads the replica of an open document.
    pub fn read<R>(&self, id: DocumentId, f: impl FnOnce(&AutoCommit) -> R) -> Option<R> {
        self.inner.borrow().docs.get(&id).map(|open| f(&open.doc))
    }

    /// Runs a typed edit on an open spec as this tab's author, then sends the change.
    /// Returns `None` (and changes nothing) if the spec is not loaded or the edit failed.
    pub fn edit<R>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut Spec, UnixMillis) -> Result<R, EditError>,
    ) -> Option<R> {
        let now = UnixMillis(now_ms() as i64);
        let (result, version, message) = {
            let mut inner = self.inner.borrow_mut();
            let Inner {
                docs,
                session,
                author,
                ..
            } = &mut *inner;
            let open = docs.get_mut(&id)?;
            let result = Spec::edit_in_place(&mut open.doc, author, |spec| f(spec, now));
            let result = match result {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    warn(&format!("edit not applied: {e}"));
                    return None;
                }
                Err(e) => {
                    warn(&format!("not a spec: {e}"));
                    return None;
                }
            };
            let message = session
                .as_mut()
                .and_then(|s| s.local_change(id, &mut open.doc));
            (result, open.version, message)
        };
        version.update(|v| *v += 1);
        if let Some(m) = message {
            let _ = self.send(&m);
        }
        Some(result)
    }

    /// The person typing in this tab.
    pub fn person(&self) -> Me {
        self.inner.borrow().person.clone()
    }

    /// Announces where this tab is in `id`: a field key and selection, or just "here".
    pub fn announce(
        &self,
        id: DocumentId,
        field: Option<String>,
        selection: Option<(u32, u32)>,
        backward: bool,
    ) {
        let changed = {
            let mut inner = self.inner.borrow_mut();
            let p = Presence {
                user: inner.person.user.as_str().to_owned(),
                name: inner.person.name.clone(),
                color: inner.person.color.to_owned(),
                field,
                selection,
                backward,
                leaving: false,
            };
            let Some(open) = inner.docs.get_mut(&id) else {
                return;
            };
            let changed = open.mine.as_ref() != Some(&p);
            open.mine = Some(p);
            changed
        };
        if changed {
            self.send_presence(id);
        }
    }

    /// Stops announcing in `id` and tells the others at once (the page is closing).
    pub fn depart(&self, id: DocumentId) {
        let mine = self
            .inner
            .borrow_mut()
            .docs
            .get_mut(&id)
            .and_then(|o| o.mine.take());
        if let Some(p) = mine {
            self.send_ephemeral(id, &Presence { leaving: true, ..p });
        }
    }

    fn send_presence(&self, id: DocumentId) {
        let mine = self
            .inner
            .borrow()
            .docs
            .get(&id)
            .and_then(|o| o.mine.clone());
        if let Some(p) = mine {
            self.send_ephemeral(id, &p);
        }
    }

    fn send_ephemeral(&self, id: DocumentId, p: &Presence) {
        let message = {
            let mut inner = self.inner.borrow_mut();
            let tab = inner_tab(&inner.me);
            inner
                .session
                .as_mut()
                .and_then(|s| s.ephemeral(id, &tab, p.encode()))
        };
        if let Some(m) = message {
            let _ = self.send(&m);
        }
    }

    /// Every `HEARTBEAT_MS`: announce this tab in each open spec, forget the silent.
    fn heartbeat(&self) {
        let me = self.clone();
        let beat = move || {
            let ids: Vec<DocumentId> = me.inner.borrow().docs.keys().copied().collect();
            for id in ids {
                me.send_presence(id);
                let mut inner = me.inner.borrow_mut();
                if let Some(open) = inner.docs.get_mut(&id) {
                    if open.roster.expire(now_ms() as u64) {
                        open.people.set(open.roster.people());
                    }
                }
            }
        };
        let _ = set_interval_with_handle(beat, Duration::from_millis(HEARTBEAT_MS));
        // Closing the tab: say goodbye in every open spec rather than waiting to expire.
        let me = self.clone();
        let pagehide = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let ids: Vec<DocumentId> = me.inner.borrow().docs.keys().copied().collect();
            for id in ids {
                me.depart(id);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window
                .add_event_listener_with_callback("pagehide", pagehide.as_ref().unchecked_ref());
        }
        pagehide.forget();
    }

    /// The socket closed (server gone, network lost, refused).
    fn lost(&self) {
        self.drop_socket();
        self.retry_later();
    }

    fn drop_socket(&self) {
        let mut inner = self.inner.borrow_mut();
        if let Some(ws) = inner.ws.take() {
            ws.set_onopen(None);
            ws.set_onclose(None);
            ws.set_onmessage(None);
            let _ = ws.close();
        }
        inner.session = None;
        // Presence restarts with the next connection.
        for open in inner.docs.values_mut() {
            if open.roster.clear() {
                open.people.set(Vec::new());
            }
        }
    }

    fn retry_later(&self) {
        if !online() {
            self.inner.borrow().status.set(Status::Offline);
            return;
        }
        let delay = {
            let mut inner = self.inner.borrow_mut();
            inner.attempt += 1;
            let delay = backoff_ms(inner.attempt, js_sys::Math::random());
            inner.status.set(Status::Reconnecting {
                attempt: inner.attempt,
                in_ms: delay,
            });
            delay
        };
        let me = self.clone();
        set_timeout(
            move || {
                if me.inner.borrow().ws.is_none() {
                    me.connect();
                }
            },
            Duration::from_millis(u64::from(delay)),
        );
    }

    /// The browser's offline/online events: an open socket does not notice a lost network
    /// by itself, so close it; reconnect at once when the network returns.
    fn watch_network(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let me = self.clone();
        let offline = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            me.drop_socket();
            me.inner.borrow().status.set(Status::Offline);
        });
        let me = self.clone();
        let online = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            me.inner.borrow_mut().attempt = 0;
            if me.inner.borrow().ws.is_none() {
                me.connect();
            }
        });
        let _ =
            window.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref());
        let _ = window.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
        // These live as long as the page.
        offline.forget();
        online.forget();
    }
}

/// This tab's name in presence messages.
fn inner_tab(me: &PeerId) -> String {
    me.to_string()
}

fn warn(text: &str) {
    web_sys::console::warn_1(&text.into());
}

fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// `ws://host/sync` or `wss://host/sync` for the page's own origin.
fn sync_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_default();
    let secure = location
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    format!("{}://{host}/sync", if secure { "wss" } else { "ws" })
}

/// The connection state, always visible in the top bar.
#[component]
pub fn ConnectionStatus(status: ReadSignal<Status>) -> impl IntoView {
    let text = move || match status.get() {
        Status::Connecting => "Connecting…".to_owned(),
        Status::Live => "Live".to_owned(),
        Status::Reconnecting { in_ms, .. } if in_ms > 0 => {
            format!("Reconnecting in {} s…", in_ms.div_ceil(1000))
        }
        Status::Reconnecting { .. } => "Reconnecting…".to_owned(),
        Status::Offline => "Offline".to_owned(),
    };
    let class = move || match status.get() {
        Status::Live => "status live",
        Status::Offline => "status offline",
        _ => "status waiting",
    };
    view! { <span class=class role="status" aria-live="polite">{text}</span> }
}
