//! The connection to the server: one websocket at a time, reconnecting with exponential backoff and jitter, reacting to the browser's offline/online events; its state is a signal.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use duet_model::automerge::AutoCommit;
use duet_protocol::{DocumentId, Message, PeerId};
use duet_sync::{backoff_ms, Event, Session};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, MessageEvent, WebSocket};

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
}

struct Inner {
    url: String,
    docs: HashMap<DocumentId, OpenDoc>,
    me: PeerId,
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
    pub fn start(me: PeerId) -> (Connection, ReadSignal<Status>) {
        let (status, set_status) = signal(Status::Connecting);
        let url = sync_url();
        let conn = Connection {
            inner: Rc::new(RefCell::new(Inner {
                url,
                docs: HashMap::new(),
                me,
                ws: None,
                session: None,
                attempt: 0,
                status: set_status,
                handlers: Vec::new(),
                on_message: None,
            })),
        };
        conn.watch_network();
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
                let Inner { session, docs, .. } = &mut *inner;
                let opens: Vec<Message> = match session.as_mut() {
                    Some(session) => docs
                        .iter_mut()
                        .filter_map(|(id, open)| session.open(*id, &mut open.doc))
                        .collect(),
                    None => Vec::new(),
                };
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
    pub fn open(&self, id: DocumentId) -> (RwSignal<u64>, RwSignal<DocState>) {
        let mut inner = self.inner.borrow_mut();
        if let Some(open) = inner.docs.get(&id) {
            return (open.version, open.state);
        }
        let fresh = OpenDoc {
            doc: AutoCommit::new(),
            version: RwSignal::new(0),
            state: RwSignal::new(DocState::Loading),
        };
        let signals = (fresh.version, fresh.state);
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
