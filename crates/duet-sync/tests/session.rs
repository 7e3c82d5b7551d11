//! A client session against a hand-played server peer: handshake, request and catch-up, local changes acknowledged, presence, refusals.

use duet_model::automerge::sync::{self, SyncDoc};
use duet_model::automerge::transaction::Transactable;
use duet_model::automerge::{AutoCommit, ReadDoc, ROOT};
use duet_protocol::{DocumentId, Message, PeerId};
use duet_sync::{Event, Session, SessionError};
use rand::{rngs::StdRng, SeedableRng};

/// The server side of one document, played with automerge directly.
struct Server {
    me: PeerId,
    doc: AutoCommit,
    state: sync::State,
}

impl Server {
    fn new() -> Server {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "title", "from the server").expect("put");
        doc.commit();
        Server {
            me: PeerId::new("server").expect("peer id"),
            doc,
            state: sync::State::new(),
        }
    }

    fn peer(&self, client: &PeerId) -> Message {
        Message::Peer {
            sender: self.me.clone(),
            target: client.clone(),
            selected_version: "1".into(),
            metadata: None,
        }
    }

    /// Applies a client message and returns the server's reply, if any.
    fn handle(&mut self, m: Message) -> Option<Message> {
        let (sender, document, data) = match m {
            Message::Sync {
                sender,
                document,
                data,
                ..
            }
            | Message::Request {
                sender,
                document,
                data,
                ..
            } => (sender, document, data),
            other => panic!("unexpected {other:?}"),
        };
        let msg = sync::Message::decode(&data).expect("sync message");
        self.doc
            .sync()
            .receive_sync_message(&mut self.state, msg)
            .expect("receive");
        let reply = self.doc.sync().generate_sync_message(&mut self.state)?;
        Some(Message::Sync {
            sender: self.me.clone(),
            target: sender,
            document,
            data: reply.encode(),
        })
    }
}

fn doc_id() -> DocumentId {
    DocumentId::random(&mut StdRng::seed_from_u64(9))
}

/// Runs the exchange until neither side has anything to say; returns the client's events.
fn converse(
    session: &mut Session,
    server: &mut Server,
    doc: &mut AutoCommit,
    first: Option<Message>,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut to_server: Vec<Message> = first.into_iter().collect();
    while let Some(m) = to_server.pop() {
        if let Some(reply) = server.handle(m) {
            let (event, replies) = session.receive(reply, Some(&mut *doc)).expect("receive");
            events.push(event);
            to_server.extend(replies);
        }
    }
    events
}

#[test]
fn a_new_session_joins_gets_the_document_and_has_its_edit_acknowledged() {
    let me = PeerId::new("browser-1").expect("peer id");
    let (mut session, join) = Session::new(me.clone());
    assert!(matches!(join, Message::Join { .. }));
    assert!(session.awaiting(), "the handshake is owed");
    let mut server = Server::new();
    let id = doc_id();
    let mut doc = AutoCommit::new();
    assert_eq!(
        session.open(id, &mut doc),
        None,
        "nothing is sent before the handshake"
    );
    let (event, replies) = session.receive(server.peer(&me), None).expect("peer");
    assert_eq!((event, replies), (Event::Ready, vec![]));
    assert!(!session.awaiting());

    let request = session.open(id, &mut doc);
    assert!(session.awaiting(), "the answer to the request is owed");
    assert!(
        matches!(request, Some(Message::Request { .. })),
        "an empty document is requested"
    );
    let events = converse(&mut session, &mut server, &mut doc, request);
    assert!(events.contains(&Event::Changed(id)));
    assert!(!session.awaiting());
    assert_eq!(
        doc.get(ROOT, "title")
            .expect("get")
            .map(|(v, _)| v.to_string()),
        Some("\"from the server\"".to_owned())
    );

    doc.put(ROOT, "edited", true).expect("put");
    doc.commit();
    assert!(!session.acknowledged(id, &mut doc));
    let offer = session.local_change(id, &mut doc);
    assert!(matches!(offer, Some(Message::Sync { .. })));
    converse(&mut session, &mut server, &mut doc, offer);
    assert!(session.acknowledged(id, &mut doc));
    assert_eq!(server.doc.get_heads(), doc.get_heads());
}

#[test]
fn presence_goes_out_numbered_and_comes_in_as_an_event() {
    let me = PeerId::new("browser-2").expect("peer id");
    let (mut session, _) = Session::new(me.clone());
    let id = doc_id();
    assert_eq!(
        session.ephemeral(id, "tab", vec![1]),
        None,
        "no presence before the handshake"
    );
    let server = Server::new();
    session.receive(server.peer(&me), None).expect("peer");
    let counts: Vec<u64> = (0..3)
        .filter_map(|_| match session.ephemeral(id, "tab", vec![1]) {
            Some(Message::Ephemeral { count, .. }) => Some(count),
            _ => None,
        })
        .collect();
    assert_eq!(counts, [1, 2, 3]);
    let other = PeerId::new("browser-3").expect("peer id");
    let incoming = Message::Ephemeral {
        sender: other.clone(),
        target: me,
        count: 7,
        session: "their-tab".into(),
        document: id,
        data: vec![9],
    };
    let (event, _) = session.receive(incoming, None).expect("ephemeral");
    assert_eq!(
        event,
        Event::Ephemeral {
            document: id,
            sender: other,
            session: "their-tab".into(),
            count: 7,
            data: vec![9]
        }
    );
}

#[test]
fn refusals_and_protocol_violations_are_errors() {
    let me = PeerId::new("browser-4").expect("peer id");
    let server = Server::new();
    let (mut session, _) = Session::new(me.clone());
    let early = Message::Sync {
        sender: server.me.clone(),
        target: me.clone(),
        document: doc_id(),
        data: vec![],
    };
    assert_eq!(
        session.receive(early, None).err(),
        Some(SessionError::TooEarly("sync"))
    );
    let refused = Message::Error {
        sender: None,
        target: None,
        message: "no".into(),
    };
    assert_eq!(
        session.receive(refused, None).err(),
        Some(SessionError::Refused("no".into()))
    );
    let v2 = Message::Peer {
        sender: server.me.clone(),
        target: me.clone(),
        selected_version: "2".into(),
        metadata: None,
    };
    assert!(matches!(
        session.receive(v2, None),
        Err(SessionError::Version(_))
    ));

    let (mut session, _) = Session::new(me.clone());
    session.receive(server.peer(&me), None).expect("peer");
    let id = doc_id();
    let mut doc = AutoCommit::new();
    session.open(id, &mut doc);
    let garbage = Message::Sync {
        sender: server.me.clone(),
        target: me.clone(),
        document: id,
        data: vec![0x42, 1, 2],
    };
    assert!(matches!(
        session.receive(garbage, Some(&mut doc)),
        Err(SessionError::BadSync(_))
    ));
    let unknown = Message::Sync {
        sender: server.me.clone(),
        target: me,
        document: DocumentId::from_bytes([1; 16]),
        data: vec![],
    };
    assert_eq!(
        session.receive(unknown, None).expect("ignored").0,
        Event::Ignored
    );
}

#[test]
fn a_document_the_server_says_it_lacks_is_answered_and_a_closed_one_is_no_longer_owed() {
    let me = PeerId::new("browser-5").expect("peer id");
    let server = Server::new();
    let (mut session, _) = Session::new(me.clone());
    session.receive(server.peer(&me), None).expect("peer");
    let (lacking, dropped) = (doc_id(), DocumentId::random(&mut StdRng::seed_from_u64(10)));
    session.open(lacking, &mut AutoCommit::new());
    session.open(dropped, &mut AutoCommit::new());
    let unavailable = Message::DocUnavailable {
        sender: server.me.clone(),
        target: me,
        document: lacking,
    };
    assert_eq!(
        session.receive(unavailable, None).expect("unavailable").0,
        Event::Unavailable(lacking)
    );
    assert!(session.awaiting(), "the other document is still owed");
    session.close(dropped);
    assert!(!session.awaiting());
}
