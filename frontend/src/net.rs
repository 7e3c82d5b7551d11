//! The connection to the server and the specs open in this tab: one websocket at a time (exponential backoff with jitter, the browser's offline/online events, a watchdog on acknowledgements, the session re-checked when the socket is refused), every open spec kept in the local store before anything is sent, this person's role per spec, and the merge review after offline work.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use duet_model::automerge::{AutoCommit, ChangeHash};
use duet_model::{Author, EditError, Overlap, Spec, TextField, UndoStack, Undone, UnixMillis};
use duet_protocol::{DocumentId, Message, PeerId};
use duet_protocol::{Notice, Presence, HEARTBEAT_MS};
use duet_sync::{backoff_ms, Event, Roster, Session, SessionError};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::api::{self, Role};
use crate::me::{BrowserRng, Me};
use crate::store;

/// Chunks kept per spec before they are compacted into one save.
const COMPACT_AFTER: usize = 256;
/// Incremental bytes that also call for a compaction: past this floor, and past four times
/// the last full save (incremental chunks repeat per-change headers a full save shares).
const COMPACT_BYTES_FLOOR: usize = 16 * 1024;
/// An answer owed this long (handshake, a document, an acknowledgement) with nothing heard
/// from the server means a dead connection.
const ACK_TIMEOUT_MS: f64 = 10_000.0;

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
    /// Not kept on this device, and the server cannot be reached now.
    NotHere,
    /// Received (and kept in sync while connected).
    Ready,
    /// The server does not have it.
    Unavailable,
}

/// An open document: its replica, how much of it is stored and saved, and signals the page
/// renders from.
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
    /// The local copy has been read (syncing starts only then).
    loaded: bool,
    /// The local store works for this spec (false: IndexedDB is missing or failing).
    store_ok: bool,
    /// A local write is under way; nothing is sent until it commits.
    writing: bool,
    /// The heads kept in the local store, and the keys of its chunks.
    stored: Vec<ChangeHash>,
    keys: Vec<JsValue>,
    /// Bytes of incremental chunks since the last full save, and that save's size.
    chunk_bytes: usize,
    full_bytes: usize,
    /// What the store's record last said (written again only when these change).
    record: store::Record,
    /// The heads the server is known to hold.
    saved: Vec<ChangeHash>,
    /// The server has the spec (false from creating it here until it acknowledges it):
    /// until then there is nothing to ask the REST API about it.
    on_server: RwSignal<bool>,
    /// Changes here the server does not hold yet.
    unsaved: RwSignal<usize>,
    /// The objects each of those changes writes (read once per change), and how many
    /// fields that makes: what the connection pill counts.
    written: HashMap<ChangeHash, std::collections::BTreeSet<String>>,
    places: usize,
    /// From reconnecting with offline changes until the server holds them: the heads the
    /// server held before, and ours when we came back (for the merge review).
    review_from: Option<(Vec<ChangeHash>, Vec<ChangeHash>)>,
    review: RwSignal<Vec<Overlap>>,
    /// This person's role on the spec (`None`: not known yet, nothing may be edited).
    role: RwSignal<Option<Role>>,
    signoffs: RwSignal<u64>,
    /// This tab's undo and redo for the spec, and what they would do (for the buttons).
    undo: UndoStack,
    undo_labels: RwSignal<UndoLabels>,
}

/// What Undo and Redo would do now ("typing in Problem"), `None` when nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoLabels {
    pub undo: Option<String>,
    pub redo: Option<String>,
}

impl OpenDoc {
    /// A fresh entry; its signals belong to `owner` (the app's), not to whichever page
    /// happened to open the spec, so they outlive that page.
    fn new(owner: &Owner, state: DocState) -> OpenDoc {
        owner.with(|| OpenDoc {
            doc: AutoCommit::new(),
            version: RwSignal::new(0),
            state: RwSignal::new(state),
            roster: Roster::default(),
            people: RwSignal::new(Vec::new()),
            mine: None,
            loaded: false,
            store_ok: true,
            writing: false,
            stored: Vec::new(),
            keys: Vec::new(),
            chunk_bytes: 0,
            full_bytes: 0,
            record: store::Record::default(),
            saved: Vec::new(),
            on_server: RwSignal::new(true),
            unsaved: RwSignal::new(0),
            written: HashMap::new(),
            places: 0,
            review_from: None,
            review: RwSignal::new(Vec::new()),
            role: RwSignal::new(None),
            signoffs: RwSignal::new(0),
            undo: UndoStack::new(),
            undo_labels: RwSignal::new(UndoLabels::default()),
        })
    }

    /// Tells the buttons what Undo and Redo would do now.
    fn show_undo_labels(&self) {
        let labels = UndoLabels {
            undo: self.undo.undo_label().map(str::to_owned),
            redo: self.undo.redo_label().map(str::to_owned),
        };
        if self.undo_labels.get_untracked() != labels {
            self.undo_labels.set(labels);
        }
    }

    fn signals(&self) -> DocSignals {
        DocSignals {
            version: self.version,
            state: self.state,
            people: self.people,
            review: self.review,
            role: self.role,
            signoffs: self.signoffs,
            undo_labels: self.undo_labels,
            on_server: self.on_server,
        }
    }

    /// Recounts the changes the server does not hold.
    fn count_unsaved(&mut self) -> usize {
        let changes = self.doc.get_changes(&self.saved);
        let n = changes.len();
        let mut places = std::collections::BTreeSet::new();
        let mut written = HashMap::with_capacity(n);
        for change in changes {
            let hash = change.hash();
            let objs = self
                .written
                .remove(&hash)
                .unwrap_or_else(|| duet_model::history::objects_written(change));
            places.extend(objs.iter().cloned());
            written.insert(hash, objs);
        }
        self.written = written;
        self.places = places.len();
        if self.unsaved.get_untracked() != n {
            self.unsaved.set(n);
        }
        n
    }
}

/// A typed edit of a spec at a time. Boxed: one copy of `Connection::edit` serves the
/// dozens of places that edit (a generic one was compiled once per caller).
pub type Edit<'a> = Box<dyn FnOnce(&mut Spec, UnixMillis) -> Result<(), EditError> + 'a>;

/// The signals a page renders an open document from.
#[derive(Clone, Copy)]
pub struct DocSignals {
    pub version: RwSignal<u64>,
    pub state: RwSignal<DocState>,
    pub people: RwSignal<Vec<Presence>>,
    /// Places changed both here while offline and elsewhere meanwhile, not yet reviewed.
    pub review: RwSignal<Vec<Overlap>>,
    /// This person's role on the spec, once known.
    pub role: RwSignal<Option<Role>>,
    /// Bumped when the server says the spec's sign-offs changed.
    pub signoffs: RwSignal<u64>,
    /// What this tab's Undo and Redo would do.
    pub undo_labels: RwSignal<UndoLabels>,
    /// The server has the spec (a spec created here: once it acknowledged it).
    pub on_server: RwSignal<bool>,
}

/// What to do next for a document so that nothing is sent before it is stored.
enum Step {
    Append(Vec<u8>, Vec<ChangeHash>),
    Compact(Vec<u8>, Vec<ChangeHash>, Vec<JsValue>),
    Send(Option<Message>),
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
    /// Changes on this device the server does not hold, over every open spec.
    pending: RwSignal<usize>,
    /// The fields those changes write (what people read in the pill).
    places: RwSignal<usize>,
    /// The app's reactive owner: every open spec's signals live as long as the app.
    owner: Owner,
    /// When the server last said anything on this connection (or the socket was made).
    last_heard: f64,
    /// Since when the server has owed an answer: the handshake, a document's first
    /// word, or the acknowledgement of local changes.
    owed_since: Option<f64>,
    /// The socket's callbacks, kept alive as long as the socket.
    handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
    on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    /// The current socket has opened (a socket that closes before opening was refused,
    /// perhaps because the session ended).
    opened: bool,
    /// Signed out: no more connecting, sending or storing.
    stopped: bool,
    /// Called when the server says nobody is signed in any more.
    signed_out: Rc<dyn Fn()>,
    /// What the server refused last (a protocol `error`), for the page to show.
    problem: RwSignal<Option<String>>,
    /// Bumped whenever a spec's record in the local store changes (the list re-reads).
    kept: RwSignal<u64>,
}

/// A handle to the page's one connection.
#[derive(Clone)]
pub struct Connection {
    inner: Rc<RefCell<Inner>>,
}

impl Connection {
    /// Connects to `/sync` of the page's own origin and keeps connected. The session
    /// cookie goes with the socket; `signed_out` runs if the server no longer knows it,
    /// and `problem` receives what the server refuses.
    pub fn start(
        me: PeerId,
        person: Me,
        signed_out: Rc<dyn Fn()>,
        problem: RwSignal<Option<String>>,
    ) -> (Connection, ReadSignal<Status>, RwSignal<usize>) {
        let (status, set_status) = signal(Status::Connecting);
        let pending = RwSignal::new(0);
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
                pending,
                places: RwSignal::new(0),
                owner: Owner::current().unwrap_or_default(),
                last_heard: now_ms(),
                owed_since: None,
                handlers: Vec::new(),
                on_message: None,
                opened: false,
                stopped: false,
                signed_out,
                problem,
                kept: RwSignal::new(0),
            })),
        };
        conn.watch_network();
        conn.heartbeat();
        conn.connect();
        conn.resume_pending();
        (conn, status, pending)
    }

    /// Opens every spec kept here that the server does not fully hold (created or edited
    /// offline in an earlier visit), so it reaches the server without being visited.
    fn resume_pending(&self) {
        let me = self.clone();
        spawn_local(async move {
            let Ok(records) = store::records().await else {
                return;
            };
            for r in records.into_iter().filter(|r| r.local || r.pending) {
                if let Ok(id) = DocumentId::parse(&r.doc) {
                    me.open(id);
                }
            }
        });
    }

    fn connect(&self) {
        if self.inner.borrow().stopped {
            return;
        }
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
            me.inner.borrow_mut().opened = true;
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
        inner.opened = false;
        inner.session = Some(session);
        inner.last_heard = now_ms();
        inner.handlers = vec![on_open, on_close];
        inner.on_message = Some(on_message);
    }

    fn send(&self, m: &Message) -> Result<(), ()> {
        let inner = self.inner.borrow();
        let ws = inner.ws.as_ref().ok_or(())?;
        // A socket still connecting, or closing before its `close` event: nothing goes
        // out (the next connection syncs afresh), and the browser logs no error.
        if ws.ready_state() != WebSocket::OPEN {
            return Err(());
        }
        ws.send_with_u8_array(&m.encode()).map_err(|_| ())
    }

    fn receive(&self, bytes: &[u8]) {
        self.inner.borrow_mut().last_heard = now_ms();
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
            // No reply yet: what arrived is stored first (`flush` replies).
            session.apply(message, doc)
        };
        match result {
            Ok(Event::Ready) => {
                let ids: Vec<DocumentId> = {
                    let mut inner = self.inner.borrow_mut();
                    inner.attempt = 0;
                    inner.status.set(Status::Live);
                    inner.docs.keys().copied().collect()
                };
                // A new connection syncs every open document afresh.
                for id in ids {
                    self.start_sync(id);
                }
            }
            Ok(event) => {
                self.note(&event);
                if let Event::Changed(id) | Event::Synced(id) = event {
                    self.synced(id);
                    self.flush(id);
                }
            }
            Err(e) => {
                // A refusal (say, a viewer's change) is shown; the socket closes after it.
                if let SessionError::Refused(why) = e {
                    warn(&format!("the server refused: {why}"));
                    self.inner.borrow().problem.set(Some(why));
                }
                self.drop_socket();
                self.retry_later();
            }
        }
    }

    /// Starts syncing `id` on the current connection once its local copy is read: offers
    /// what it has (or asks for it), and announces this tab if it is on the page.
    fn start_sync(&self, id: DocumentId) {
        let messages = {
            let mut inner = self.inner.borrow_mut();
            let tab = inner_tab(&inner.me);
            let Inner { session, docs, .. } = &mut *inner;
            let (Some(session), Some(open)) = (session.as_mut(), docs.get_mut(&id)) else {
                return;
            };
            if !open.loaded || !session.is_ready() {
                return;
            }
            // Coming back with changes the server lacks: watch what merges with them.
            if open.count_unsaved() > 0 && open.review_from.is_none() {
                open.review_from = Some((open.saved.clone(), open.doc.get_heads()));
            }
            let mut messages: Vec<Message> = session.open(id, &mut open.doc).into_iter().collect();
            if let Some(p) = &open.mine {
                messages.extend(session.ephemeral(id, &tab, p.encode()));
            }
            messages
        };
        for m in messages {
            let _ = self.send(&m);
        }
    }

    /// After a sync message: what the server now holds, the unsaved count, the review.
    fn synced(&self, id: DocumentId) {
        let mut inner = self.inner.borrow_mut();
        let Inner { session, docs, .. } = &mut *inner;
        let Some(open) = docs.get_mut(&id) else {
            return;
        };
        let theirs = session
            .as_ref()
            .map(|s| s.server_heads(id))
            .unwrap_or_default();
        if !theirs.is_empty() && theirs != open.saved {
            open.saved = theirs;
        }
        let unsaved = open.count_unsaved();
        if let Some((base, ours)) = open.review_from.clone() {
            let found = duet_model::overlaps(&mut open.doc, &base, &ours);
            if !found.is_empty() {
                open.review.update(|list| {
                    for o in found {
                        match list.iter_mut().find(|x| x.place == o.place) {
                            Some(x) => *x = o,
                            None => list.push(o),
                        }
                    }
                });
            }
            if unsaved == 0 {
                open.review_from = None;
            }
        }
        drop(inner);
        self.total_pending();
    }

    /// Keeps `id` moving: stores whatever is not stored yet; once everything is stored,
    /// sends what the server is owed. Runs again after each write commits.
    fn flush(&self, id: DocumentId) {
        let step = {
            let mut inner = self.inner.borrow_mut();
            let Inner { session, docs, .. } = &mut *inner;
            let Some(open) = docs.get_mut(&id) else {
                return;
            };
            if !open.loaded || open.writing {
                return;
            }
            let heads = open.doc.get_heads();
            if open.store_ok && heads != open.stored {
                open.writing = true;
                let bloated = open.chunk_bytes > COMPACT_BYTES_FLOOR.max(4 * open.full_bytes);
                if open.keys.len() >= COMPACT_AFTER || bloated {
                    // Uncompressed: the device has room, and leaving DEFLATE out of
                    // the app keeps its encoder out of the download.
                    let full = open.doc.save_nocompress();
                    open.full_bytes = full.len();
                    open.chunk_bytes = 0;
                    Step::Compact(full, heads, std::mem::take(&mut open.keys))
                } else {
                    let bytes = open.doc.save_after(&open.stored);
                    open.chunk_bytes += bytes.len();
                    Step::Append(bytes, heads)
                }
            } else {
                Step::Send(
                    session
                        .as_mut()
                        .and_then(|s| s.local_change(id, &mut open.doc)),
                )
            }
        };
        match step {
            Step::Send(message) => {
                if let Some(m) = message {
                    let _ = self.send(&m);
                }
                self.write_record(id);
            }
            Step::Append(bytes, heads) => {
                let me = self.clone();
                spawn_local(async move {
                    let result = store::append(id, &bytes).await;
                    me.stored(id, heads, result.map(|k| vec![k]), Vec::new());
                });
            }
            Step::Compact(bytes, heads, keys) => {
                let me = self.clone();
                spawn_local(async move {
                    let result = store::compact(id, &bytes, &keys).await;
                    me.stored(id, heads, result.map(|k| vec![k]), keys);
                });
            }
        }
    }

    /// A local write finished: on success `heads` are stored; on failure the spec goes on
    /// without the local store (and says so in the console).
    fn stored(
        &self,
        id: DocumentId,
        heads: Vec<ChangeHash>,
        result: Result<Vec<JsValue>, store::StoreError>,
        replaced: Vec<JsValue>,
    ) {
        {
            let mut inner = self.inner.borrow_mut();
            let Some(open) = inner.docs.get_mut(&id) else {
                return;
            };
            open.writing = false;
            match result {
                Ok(keys) => {
                    open.stored = heads;
                    open.keys.extend(keys);
                }
                Err(e) => {
                    // A failed compaction changed nothing: its chunks are still there.
                    open.keys.extend(replaced);
                    open.store_ok = false;
                    warn(&format!("this spec cannot be kept on this device: {e}"));
                }
            }
        }
        self.flush(id);
    }

    /// Updates the spec's record in the store when what the list shows of it changed.
    fn write_record(&self, id: DocumentId) {
        let update = {
            let mut inner = self.inner.borrow_mut();
            let Some(open) = inner.docs.get_mut(&id) else {
                return;
            };
            if !open.store_ok || !open.loaded || open.doc.get_heads().is_empty() {
                return;
            }
            let title = duet_model::spec_title(&open.doc).unwrap_or_default();
            let pending = open.unsaved.get_untracked() > 0;
            let local = open.record.local && pending;
            let next = store::Record {
                doc: id.to_string(),
                saved: open.saved.clone(),
                title,
                updated: open.record.updated,
                local,
                pending,
                role: open.role.get_untracked().map(|r| r.as_str().to_owned()),
            };
            let changed = next.title != open.record.title
                || next.pending != open.record.pending
                || next.local != open.record.local
                || next.saved != open.record.saved
                || next.role != open.record.role;
            if !changed {
                return;
            }
            let next = store::Record {
                updated: now_ms(),
                ..next
            };
            if !next.local && !open.on_server.get_untracked() {
                open.on_server.set(true);
            }
            open.record = next.clone();
            store::Update {
                saved: Some(next.saved),
                title: Some(next.title),
                updated: Some(next.updated),
                local: Some(next.local),
                pending: Some(next.pending),
                role: next.role,
            }
        };
        let kept = self.inner.borrow().kept;
        spawn_local(async move {
            match store::put(id, update).await {
                Ok(()) => kept.update(|n| *n += 1),
                Err(e) => warn(&format!(
                    "could not update this spec's record on this device: {e}"
                )),
            }
        });
    }

    /// Sums the unsaved changes of every open spec into the status signal.
    fn total_pending(&self) {
        let inner = self.inner.borrow();
        let total: usize = inner.docs.values().map(|o| o.unsaved.get_untracked()).sum();
        if inner.pending.get_untracked() != total {
            inner.pending.set(total);
        }
        let places: usize = inner.docs.values().map(|o| o.places).sum();
        if inner.places.get_untracked() != places {
            inner.places.set(places);
        }
    }

    /// How many fields hold edits the server does not have yet, over every open spec.
    pub fn unsent_places(&self) -> RwSignal<usize> {
        self.inner.borrow().places
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
                if Notice::decode(data) == Some(Notice::SignOffs) {
                    if let Some(open) = inner.docs.get(document) {
                        open.signoffs.update(|n| *n += 1);
                    }
                    return;
                }
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

    /// Opens `id`: reads the local copy, then syncs it with the server (or asks the server
    /// for it), and returns the signals to render it from.
    pub fn open(&self, id: DocumentId) -> DocSignals {
        {
            let mut inner = self.inner.borrow_mut();
            if let Some(open) = inner.docs.get(&id) {
                return open.signals();
            }
            let fresh = OpenDoc::new(&inner.owner, DocState::Loading);
            inner.docs.insert(id, fresh);
        }
        let signals = self.inner.borrow().docs[&id].signals();
        let me = self.clone();
        spawn_local(async move {
            let stored = store::load(id).await;
            me.loaded(id, stored);
        });
        signals
    }

    /// The local copy of `id` was read (or could not be).
    fn loaded(&self, id: DocumentId, stored: Result<store::Stored, store::StoreError>) {
        {
            let mut inner = self.inner.borrow_mut();
            let inner_ready = inner.session.as_ref().is_some_and(Session::is_ready);
            let Some(open) = inner.docs.get_mut(&id) else {
                return;
            };
            match stored {
                Ok(stored) => {
                    for chunk in &stored.chunks {
                        // The store is this app's own, but still input: a bad chunk is
                        // skipped, never trusted.
                        if let Err(e) = open.doc.load_incremental(chunk) {
                            warn(&format!(
                                "skipped a damaged piece of this spec on this device: {e}"
                            ));
                        }
                    }
                    open.keys = stored.keys;
                    // Unknown which of them is a full save: count them all, so a spec
                    // kept in many pieces is compacted at its next write.
                    open.chunk_bytes = stored.chunks.iter().map(Vec::len).sum();
                    open.stored = open.doc.get_heads();
                    if let Some(record) = stored.record {
                        if record.local {
                            open.on_server.set(false);
                        }
                        open.saved = record.saved.clone();
                        let role = record.role.as_deref().and_then(Role::parse);
                        if open.role.get_untracked().is_none() && role.is_some() {
                            open.role.set(role);
                        }
                        open.record = record;
                    }
                }
                Err(e) => {
                    open.store_ok = false;
                    warn(&format!("this browser cannot keep specs offline: {e}"));
                }
            }
            open.loaded = true;
            if !open.doc.get_heads().is_empty() {
                open.version.update(|v| *v += 1);
                open.state.set(DocState::Ready);
            } else if !inner_ready {
                open.state.set(DocState::NotHere);
            }
            open.count_unsaved();
        }
        self.total_pending();
        self.start_sync(id);
    }

    /// Creates a spec here, with its id chosen here: listed on this device at once, its
    /// changes stored and sent to the server whenever it is reachable.
    pub async fn create(&self, title: &str) -> Result<DocumentId, String> {
        if title.len() > 1000 {
            return Err("The title is longer than 1000 bytes.".into());
        }
        let author = self.inner.borrow().author.clone();
        let now = UnixMillis(now_ms() as i64);
        let mut spec = Spec::new(author);
        spec.set_text(&TextField::Title, title, now)
            .map_err(|e| e.to_string())?;
        self.create_from(title, spec).await
    }

    /// Creates a spec here from a Markdown file in the format the export writes; the
    /// error names the line it cannot read.
    pub async fn import_markdown(&self, md: &str) -> Result<DocumentId, String> {
        let author = self.inner.borrow().author.clone();
        let now = UnixMillis(now_ms() as i64);
        let spec = duet_model::markdown::import(md, author, now, &mut BrowserRng).map_err(|e| {
            if e.line == 0 {
                format!("This file cannot be read as a spec: {}.", e.message)
            } else {
                format!("Line {}: {}.", e.line, e.message)
            }
        })?;
        let title = spec.view().title;
        self.create_from(&title, spec).await
    }

    /// Keeps `spec` here as a new spec and starts sending it.
    async fn create_from(&self, title: &str, spec: Spec) -> Result<DocumentId, String> {
        let id = DocumentId::random(&mut BrowserRng);
        let record = store::Record {
            doc: id.to_string(),
            saved: Vec::new(),
            title: title.to_owned(),
            updated: now_ms(),
            local: true,
            pending: true,
            role: Some(Role::Owner.as_str().into()),
        };
        // The list reads records: write this one before anything else.
        store::put(
            id,
            store::Update {
                saved: None,
                title: Some(record.title.clone()),
                updated: Some(record.updated),
                local: Some(true),
                pending: Some(true),
                role: record.role.clone(),
            },
        )
        .await
        .map_err(|e| format!("This browser cannot keep the new spec: {e}"))?;
        {
            let mut inner = self.inner.borrow_mut();
            let mut open = OpenDoc::new(&inner.owner, DocState::Ready);
            open.doc = spec.into_doc();
            open.loaded = true;
            open.record = record;
            open.role.set(Some(Role::Owner));
            open.on_server.set(false);
            open.count_unsaved();
            inner.docs.insert(id, open);
        }
        self.total_pending();
        self.start_sync(id);
        self.flush(id);
        Ok(id)
    }

    /// Reads the replica of an open document.
    pub fn read<R>(&self, id: DocumentId, f: impl FnOnce(&AutoCommit) -> R) -> Option<R> {
        self.inner.borrow().docs.get(&id).map(|open| f(&open.doc))
    }

    /// The heads of the replica of an open document (hex), or none.
    pub fn heads(&self, id: DocumentId) -> Vec<String> {
        let mut inner = self.inner.borrow_mut();
        inner.docs.get_mut(&id).map_or_else(Vec::new, |open| {
            open.doc
                .get_heads()
                .iter()
                .map(ToString::to_string)
                .collect()
        })
    }

    /// Runs a typed edit on an open spec as this tab's author (remembered for undo), then
    /// sends the change. Returns `None` (and changes nothing) if the spec is not loaded,
    /// is view only here, or the edit failed.
    pub fn edit(&self, id: DocumentId, f: Edit<'_>) -> Option<()> {
        let now = UnixMillis(now_ms() as i64);
        self.change(id, |open, author| {
            match open
                .undo
                .record(&mut open.doc, author, now, |spec| f(spec, now))
            {
                Ok(Ok(())) => Some(()),
                Ok(Err(e)) => {
                    warn(&format!("edit not applied: {e}"));
                    None
                }
                Err(e) => {
                    warn(&format!("not a spec: {e}"));
                    None
                }
            }
        })
    }

    /// Undoes (or redoes) this tab's last step on an open spec, then sends the change.
    /// `None` when there was nothing to undo (or redo) or the spec is view only here.
    pub fn undo(&self, id: DocumentId, redo: bool) -> Option<Undone> {
        let now = UnixMillis(now_ms() as i64);
        self.change(id, |open, author| {
            let done = if redo {
                open.undo.redo(&mut open.doc, author, now)
            } else {
                open.undo.undo(&mut open.doc, author, now)
            };
            done.unwrap_or_else(|e| {
                warn(&format!("not a spec: {e}"));
                None
            })
        })
    }

    /// Ends this tab's current undo step on `id` (focus moved elsewhere).
    pub fn seal_undo_step(&self, id: DocumentId) {
        if let Some(open) = self.inner.borrow_mut().docs.get_mut(&id) {
            open.undo.seal();
        }
    }

    /// Changes an open spec through `f` if this person may (owner or editor), then shows
    /// and sends the result.
    fn change<R>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut OpenDoc, &Author) -> Option<R>,
    ) -> Option<R> {
        let (result, version) = {
            let mut inner = self.inner.borrow_mut();
            let Inner { docs, author, .. } = &mut *inner;
            let open = docs.get_mut(&id)?;
            // The server refuses a viewer's changes: never make them.
            if !matches!(open.role.get_untracked(), Some(Role::Owner | Role::Editor)) {
                warn("edit not applied: this spec is view only here");
                return None;
            }
            let result = f(open, author);
            open.show_undo_labels();
            result.as_ref()?;
            open.count_unsaved();
            (result, open.version)
        };
        version.update(|v| *v += 1);
        self.total_pending();
        self.flush(id);
        result
    }

    /// Takes a place off the merge review of `id`.
    pub fn mark_reviewed(&self, id: DocumentId, place: &duet_model::Place) {
        if let Some(open) = self.inner.borrow().docs.get(&id) {
            open.review
                .update(|list| list.retain(|o| &o.place != place));
        }
    }

    /// The person typing in this tab.
    pub fn person(&self) -> Me {
        self.inner.borrow().person.clone()
    }

    /// The person's name or colour changed: what this tab announces from now on.
    pub fn set_person(&self, person: Me) {
        self.inner.borrow_mut().person = person;
    }

    /// Records this person's role on `id` (as the server says it), here and on the device.
    pub fn set_role(&self, id: DocumentId, role: Role) {
        if let Some(open) = self.inner.borrow().docs.get(&id) {
            if open.role.get_untracked() != Some(role) {
                open.role.set(Some(role));
            }
        }
        self.write_record(id);
    }

    /// Bumped whenever a spec's record on this device changes.
    pub fn kept(&self) -> RwSignal<u64> {
        self.inner.borrow().kept
    }

    /// Signed out: closes the socket and never connects again.
    pub fn stop(&self) {
        self.inner.borrow_mut().stopped = true;
        self.drop_socket();
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
                color: inner.person.color.clone(),
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
            if me.inner.borrow().stopped {
                return;
            }
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
            // The socket looks open (or is still opening) but the server has owed an answer
            // for too long without saying anything: the network is gone without the
            // browser noticing. Start over.
            if me.stalled(now_ms()) {
                warn("the server stopped answering; reconnecting");
                me.drop_socket();
                me.retry_later();
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

    /// Whether the server has owed an answer for `ACK_TIMEOUT_MS` and said nothing since.
    fn stalled(&self, now: f64) -> bool {
        let mut inner = self.inner.borrow_mut();
        let owed = inner
            .session
            .as_ref()
            .is_some_and(|s| s.awaiting() || (s.is_ready() && inner.pending.get_untracked() > 0));
        if !owed {
            inner.owed_since = None;
            return false;
        }
        let since = *inner.owed_since.get_or_insert(now);
        now - since.max(inner.last_heard) > ACK_TIMEOUT_MS
    }

    /// The socket closed (server gone, network lost, refused). One that never opened may
    /// have been refused for want of a session: ask the server who is signed in.
    fn lost(&self) {
        let refused = !self.inner.borrow().opened;
        self.drop_socket();
        self.retry_later();
        if refused {
            let me = self.clone();
            spawn_local(async move {
                if api::me().await.is_err_and(|e| e.status == 401) {
                    me.stop();
                    let signed_out = me.inner.borrow().signed_out.clone();
                    signed_out();
                }
            });
        }
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
        inner.owed_since = None;
        // Presence restarts with the next connection.
        for open in inner.docs.values_mut() {
            if open.roster.clear() {
                open.people.set(Vec::new());
            }
        }
    }

    fn retry_later(&self) {
        if self.inner.borrow().stopped {
            return;
        }
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

/// The connection state, always visible in the top bar, with how many changes wait on
/// this device for the server.
#[component]
pub fn ConnectionStatus(
    status: ReadSignal<Status>,
    pending: RwSignal<usize>,
    places: RwSignal<usize>,
) -> impl IntoView {
    // In fields, not keystrokes: "unsent edits in 3 fields".
    let edits = move || match places.get() {
        0 | 1 => "unsent edits in 1 field".to_owned(),
        n => format!("unsent edits in {n} fields"),
    };
    let text = move || {
        let n = pending.get();
        let kept = (n > 0).then(|| format!(" — {}, kept on this device", edits()));
        match status.get() {
            Status::Connecting => format!("Connecting…{}", kept.unwrap_or_default()),
            Status::Live if n > 0 => format!(
                "Syncing — sending {}…",
                edits().trim_start_matches("unsent ")
            ),
            Status::Live => "Live".to_owned(),
            Status::Reconnecting { in_ms, .. } if in_ms > 0 => {
                format!(
                    "Reconnecting in {} s…{}",
                    in_ms.div_ceil(1000),
                    kept.unwrap_or_default()
                )
            }
            Status::Reconnecting { .. } => format!("Reconnecting…{}", kept.unwrap_or_default()),
            Status::Offline => format!("Offline{}", kept.unwrap_or_default()),
        }
    };
    let class = move || match status.get() {
        Status::Live if pending.get() == 0 => "status live",
        Status::Offline => "status offline",
        _ => "status waiting",
    };
    view! { <span class=class role="status" aria-live="polite">{text}</span> }
}
