//! The bodies of Duet's fuzz targets: each takes any bytes, must not panic, and checks what has to hold for every input. `fuzz/` runs them under libFuzzer; `tests/it/fuzzing.rs` runs them over every kept crasher and seed, and over thousands of mutations of them on every test run.
//!
//! Panics that the server itself catches (Automerge's decoder on corrupt input) are not
//! findings; a panic that escapes one of these functions is — it would take down a
//! connection's task or a document's actor in the server.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use duet_model::automerge::sync::SyncDoc;
use duet_model::automerge::transaction::Transactable;
use duet_model::automerge::{sync, ActorId, AutoCommit, Automerge, ReadDoc};
use duet_model::history::{ChangeMeta, History};
use duet_model::{markdown, Author, ItemId, NewStory, Spec, TextField, UnixMillis, UserId};
use duet_protocol::{DocumentId, Message, PeerId};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::accounts::{Accounts, Verified};
use crate::docs::engine::{Bindings, Engine, Policy, Remote};
use crate::http::auth::{credential, Credential};
use crate::storage::{Chunk, Role, Write};

/// The fuzz targets, by name (the files under `fuzz/fuzz_targets/`).
pub const TARGETS: [&str; 4] = [
    "protocol_message",
    "sync_message",
    "stored_chunks",
    "credentials",
];

/// Runs target `name` on `data`; false if there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "protocol_message" => protocol_message(data),
        "sync_message" => sync_message(data),
        "stored_chunks" => stored_chunks(data),
        "credentials" => credentials(data),
        _ => return false,
    }
    true
}

/// Silences the report of panics the code under test catches itself (call once, first).
pub fn quiet_caught_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// A websocket frame: decodes to a message or an error, and what decodes re-encodes to an
/// equal message.
pub fn protocol_message(data: &[u8]) {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
}

const EDITOR: &str = "ada";
const OTHER: &str = "bob";

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("a valid user id")
}

fn server() -> PeerId {
    PeerId::new("server").expect("valid")
}

fn doc_id() -> DocumentId {
    DocumentId::random(&mut StdRng::seed_from_u64(7))
}

/// The stored spec the sync target starts from: a story by `ada`, made the same way on
/// every run so that seeds stay meaningful.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(1);
        let mut spec = Spec::new(Author::new(user(EDITOR), &mut rng));
        let now = UnixMillis(1_764_000_000_000);
        let story = NewStory {
            as_a: "reviewer".into(),
            i_want: "to see who wrote what".into(),
            so_that: "I trust the spec".into(),
        };
        let _ = spec.add_story(&ItemId::random(&mut rng), 0, &story, now);
        spec.save()
    })
}

/// A sync message received by a document's engine from a peer: the first byte picks
/// `request` (bit 0) and the peer's role (viewer, editor, none), the rest is the message.
/// Whatever the engine accepts stores as bytes that load back to the same document, and
/// only the peer's own changes are accepted.
pub fn sync_message(data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let request = mode & 1 == 1;
    let role = match (mode >> 1) % 3 {
        0 => Some(Role::Editor),
        1 => Some(Role::Viewer),
        _ => None,
    };
    let base = base();
    let mut engine = Engine::new(doc_id(), server(), Policy::default());
    let stored = [Chunk {
        seq: 1,
        bytes: base.to_vec(),
    }];
    let roles = role.map(|r| (EDITOR.to_owned(), r)).into_iter().collect();
    assert_eq!(engine.load(Some(&stored), None, roles), 0);
    let before = engine.heads();
    let from = Remote {
        conn: crate::docs::ConnId(1),
        peer: PeerId::new("client").expect("valid"),
        user: user(EDITOR),
    };
    let bindings = Bindings::default();
    if engine.receive(&from, data, request, &bindings) {
        // Automerge panicked: the actor drops the document and reloads it from disk.
        return;
    }
    let prepared = engine.plan(0, &bindings);
    let after = engine.heads();
    if after != before {
        assert_eq!(role, Some(Role::Editor), "changes accepted from a {role:?}");
        let Some(Write::Append { bytes, .. }) = prepared.writes.first() else {
            panic!("new changes but nothing to store");
        };
        let mut reloaded = Automerge::new();
        reloaded.load_incremental(base).expect("the base loads");
        reloaded
            .load_incremental(bytes)
            .expect("what the engine stores loads");
        let (mut a, mut b) = (reloaded.get_heads(), after.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "the stored changes rebuild the document");
        let doc = engine.doc().expect("loaded");
        for hash in &prepared.changes {
            let change = doc
                .get_change_by_hash(hash)
                .expect("a stored change exists");
            let author = Author::from_actor(change.actor_id()).map(|a| a.user().clone());
            // A non-Duet actor is bound to the sender on first use.
            assert!(
                author.is_err() || author.as_ref() == Ok(&from.user),
                "a change authored as {author:?} was accepted from {}",
                from.user
            );
        }
    }
    engine.durable(prepared, &[1]);
    let _ = engine.take_out();
}

/// Stored chunks as the document actor loads them: `data` is a list of chunks, each a
/// little-endian `u16` length and that many bytes (the rest is the last chunk). Loading
/// skips what is corrupt; the history, the title and the Markdown export read what
/// loaded; and the snapshot of what loaded loads again to the same heads.
pub fn stored_chunks(data: &[u8]) {
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (len, body) = match rest {
            [a, b, body @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), body),
            _ => (rest.len(), rest),
        };
        let (bytes, next) = body.split_at(len.min(body.len()));
        chunks.push(Chunk {
            seq: chunks.len() as i64 + 1,
            bytes: bytes.to_vec(),
        });
        rest = next;
    }
    let mut engine = Engine::new(doc_id(), server(), Policy::default());
    engine.load(Some(&chunks), None, Vec::new());
    let doc = engine.doc().expect("loaded");
    let mut history = History::new();
    history.update(doc.get_changes(&[]), |_| ChangeMeta::default());
    let _ = duet_model::spec_title(doc);
    let snapshot = doc.save();
    let again = Automerge::load(&snapshot).expect("a snapshot of what loaded loads");
    assert_eq!(again.get_heads(), doc.get_heads());
    let author = Author::new(user(EDITOR), &mut StdRng::seed_from_u64(2));
    if let Ok(spec) = Spec::load(&snapshot, author) {
        let _ = markdown::export(&spec.view());
    }
}

/// A server with an account, its API token, a session and a share link, for checking
/// credentials against (in a folder of its own under the system's temp folder).
struct Known {
    accounts: Accounts,
    token: String,
    session: String,
    link: String,
    link_grants: (DocumentId, Role),
}

fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("duet-fuzz-credentials-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for the fuzzed accounts");
        let accounts = Accounts::open(&dir).expect("accounts open");
        accounts
            .add_user(EDITOR, "correct horse battery staple", Some("Ada"), false)
            .expect("a user");
        let (_, token) = accounts
            .create_token(EDITOR, Duration::from_secs(3600), "")
            .expect("a token");
        let session = accounts.create_session(EDITOR).expect("a session");
        let doc = doc_id();
        let link = accounts
            .create_link(doc, Role::Editor, Duration::from_secs(3600), EDITOR)
            .expect("a link");
        let link = link.url.trim_start_matches("/share/").to_owned();
        Known {
            accounts,
            token,
            session,
            link,
            link_grants: (doc, Role::Editor),
        }
    })
}

/// A request's credentials: `data` is text, a request line's target then header lines
/// `name: value`, where `{token}`, `{session}` and `{link}` stand for a real API token,
/// session and share-link token. Only those real ones are ever accepted.
pub fn credentials(data: &[u8]) {
    let known = known();
    let text = String::from_utf8_lossy(data)
        .replace("{token}", &known.token)
        .replace("{session}", &known.session)
        .replace("{link}", &known.link);
    let mut lines = text.split('\n');
    let target = lines.next().unwrap_or_default();
    let uri: Uri = target.parse().unwrap_or_else(|_| Uri::from_static("/sync"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    for websocket in [false, true] {
        match credential(&headers, &uri, websocket) {
            Ok(Credential::Token(token)) => {
                let found = known.accounts.token(&token).expect("the lookup runs");
                if let Some(Verified { user }) = found {
                    assert_eq!(token, known.token, "a token that was never issued works");
                    assert_eq!(user.as_str(), EDITOR);
                }
            }
            Ok(Credential::Session { value, .. }) => {
                let found = known.accounts.session(&value).expect("the lookup runs");
                if found.is_some() {
                    assert_eq!(value, known.session, "a session never started works");
                }
            }
            Err(_) => {}
        }
    }
    // Share links arrive as a path segment; ids as path segments too.
    for segment in uri.path().split('/').chain(text.split(['\n', ' ', '='])) {
        if let Ok(grants) = known.accounts.redeem(segment) {
            assert_eq!(segment, known.link, "a forged share link was accepted");
            assert_eq!(grants, known.link_grants);
        }
        let _ = DocumentId::parse(segment.trim_start_matches("automerge:"));
        let _ = UserId::parse(segment);
    }
}

/// Inputs to start each target from (written to `fuzz/seeds/` by the ignored test
/// `write_fuzz_seeds`): valid messages, stored documents and requests, so the fuzzer
/// mutates what the server really sees.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "protocol_message" => protocol_seeds(),
        "sync_message" => sync_seeds(),
        "stored_chunks" => chunk_seeds(),
        "credentials" => [
            "/sync?token={token}\nOrigin: http://127.0.0.1:8080",
            "/api/specs\nAuthorization: Bearer {token}",
            "/api/specs\nCookie: theme=dark; duet_session={session}\nOrigin: http://127.0.0.1:8080",
            "/share/{link}\nCookie: duet_session={session}",
            "/api/specs/2BtKKBnMVFbbPiYU4kkn1quPwd4h\nAuthorization: Basic YWRhOnB3",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        _ => Vec::new(),
    }
}

fn protocol_seeds() -> Vec<Vec<u8>> {
    let join = Message::Join {
        sender: PeerId::new("client").expect("valid"),
        supported_versions: vec!["1".into()],
        metadata: None,
    };
    let sync = Message::Sync {
        sender: PeerId::new("client").expect("valid"),
        target: PeerId::new("server").expect("valid"),
        document: doc_id(),
        data: vec![0x42, 1, 2, 3],
    };
    vec![join.encode(), sync.encode()]
}

/// The messages a client sends while pushing edits made as `who` (by a Duet author, or
/// by a plain automerge actor when `who` is `None`) to a server holding the base.
fn client_messages(who: Option<&str>, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut client = AutoCommit::load(base()).expect("the base loads");
    match who {
        Some(name) => {
            let author = Author::new(user(name), &mut rng);
            let _ = Spec::edit_in_place(&mut client, &author, |spec| {
                let story = NewStory {
                    as_a: "engineer".into(),
                    i_want: "constraints beside stories".into(),
                    so_that: "nothing is forgotten".into(),
                };
                let id = ItemId::random(&mut rng);
                spec.add_story(&id, 1, &story, UnixMillis(1_764_000_100_000))
            });
        }
        None => {
            client.set_actor(ActorId::from(vec![9u8; 16]));
            let _ = client.put(duet_model::automerge::ROOT, "x", 1);
        }
    }
    let mut server = Automerge::load(base()).expect("the base loads");
    let (mut ours, mut theirs) = (sync::State::new(), sync::State::new());
    let mut sent = Vec::new();
    for _ in 0..4 {
        if let Some(msg) = client.sync().generate_sync_message(&mut ours) {
            let bytes = msg.encode();
            if let Ok(msg) = sync::Message::decode(&bytes) {
                let _ = server.receive_sync_message(&mut theirs, msg);
            }
            sent.push(bytes);
        }
        if let Some(reply) = server.generate_sync_message(&mut theirs) {
            let _ = client.sync().receive_sync_message(&mut ours, reply);
        }
    }
    sent
}

fn sync_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (mode, who, seed) in [
        (0u8, Some(EDITOR), 3u64),
        (1, Some(EDITOR), 4),
        (2, Some(EDITOR), 5),
        (0, Some(OTHER), 6),
        (0, None, 7),
    ] {
        for msg in client_messages(who, seed) {
            let mut input = vec![mode];
            input.extend(msg);
            seeds.push(input);
        }
    }
    seeds
}

fn chunk_seeds() -> Vec<Vec<u8>> {
    let framed = |chunks: &[&[u8]]| {
        let mut out = Vec::new();
        for c in chunks {
            out.extend((c.len() as u16).to_le_bytes());
            out.extend_from_slice(c);
        }
        out
    };
    let mut doc = AutoCommit::load(base()).expect("the base loads");
    let snapshot = doc.save();
    let author = Author::new(user(OTHER), &mut StdRng::seed_from_u64(8));
    let _ = Spec::edit_in_place(&mut doc, &author, |spec| {
        spec.set_text(
            &TextField::Title,
            "Reviewed spec",
            UnixMillis(1_764_000_200_000),
        )
    });
    let incremental = doc.save_incremental();
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let change_refs: Vec<&[u8]> = changes.iter().map(Vec::as_slice).collect();
    let folded = crate::storage::fold::fold(change_refs.iter().copied()).expect("small");
    vec![
        framed(&[&snapshot]),
        framed(&[&snapshot, &incremental]),
        framed(&change_refs),
        framed(&[&snapshot, &folded]),
    ]
}

/// A seed's file name under `fuzz/seeds/<target>/`: its length and a hash of its bytes
/// (stable across runs).
pub fn seed_name(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("seed-{:05}-{hash:016x}", bytes.len())
}
