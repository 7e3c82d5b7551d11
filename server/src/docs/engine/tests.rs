//! The engine on its own: a batch's plan, access, authorship and upkeep, with real Automerge peers and no IO.

use duet_model::automerge::sync::{self, SyncDoc};
use duet_model::automerge::ChangeHash;
use duet_model::{Author, Spec, TextField, UnixMillis, UserId};
use duet_protocol::{DocumentId, Message, PeerId};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::docs::{DocError, Granter};

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);

fn user(name: &str) -> UserId {
    UserId::parse(name).expect("a valid user id")
}

fn author(name: &str, seed: u64) -> Author {
    Author::new(user(name), &mut StdRng::seed_from_u64(seed))
}

fn engine(policy: Policy) -> Engine {
    let id = DocumentId::random(&mut StdRng::seed_from_u64(1));
    Engine::new(id, PeerId::new("server").expect("valid"), policy)
}

/// A peer syncing the engine's document: its replica, written as `author`.
struct Client {
    remote: Remote,
    spec: Spec,
    state: sync::State,
}

impl Client {
    fn new(conn: u64, author: Author, saved: &[u8]) -> Client {
        Client {
            remote: Remote {
                conn: ConnId(conn),
                peer: PeerId::new(&format!("peer-{conn}")).expect("valid"),
                user: author.user().clone(),
            },
            spec: Spec::load(saved, author).expect("a spec"),
            state: sync::State::new(),
        }
    }

    fn message(&mut self) -> Option<Vec<u8>> {
        let doc = self.spec.doc_mut();
        doc.sync()
            .generate_sync_message(&mut self.state)
            .map(|m| m.encode())
    }

    /// Applies what the engine sent this peer; true if a sync message was among it.
    fn hear(&mut self, out: &[(ConnId, Outgoing)]) -> bool {
        let mut heard = false;
        for (conn, out) in out {
            if let (true, Outgoing::Message(Message::Sync { data, .. })) =
                (*conn == self.remote.conn, out)
            {
                let msg = sync::Message::decode(data).expect("the server's message decodes");
                self.spec
                    .doc_mut()
                    .sync()
                    .receive_sync_message(&mut self.state, msg)
                    .expect("the server's changes apply");
                heard = true;
            }
        }
        heard
    }
}

/// Carries out one batch's plan as the actor does (the store here keeps nothing).
fn store(engine: &mut Engine) -> Vec<Write> {
    let plan = engine.plan(NOW.0, &Bindings::default());
    let writes = plan.writes.clone();
    let seqs: Vec<i64> = (1..=writes.len() as i64).collect();
    engine.durable(plan, &seqs);
    writes
}

/// A saved spec by `ada`.
fn adas_spec() -> Vec<u8> {
    let mut spec = Spec::new(author("ada", 1));
    spec.set_text(&TextField::Title, "Checkout", NOW)
        .expect("title");
    spec.doc_mut().save()
}

/// An engine holding a stored spec owned by `ada`, and its saved bytes.
fn owned_by_ada() -> (Engine, Vec<u8>) {
    let saved = adas_spec();
    let mut engine = engine(Policy::default());
    engine.create(&saved, &user("ada")).expect("created");
    store(&mut engine);
    (engine, saved)
}

/// Syncs `client` with the engine until neither has anything to say.
fn settle(engine: &mut Engine, client: &mut Client) {
    for _ in 0..20 {
        let said = client.message();
        if let Some(data) = &said {
            assert!(!engine.receive(&client.remote, data, false, &Bindings::default()));
        }
        store(engine);
        let heard = client.hear(&engine.take_out());
        if said.is_none() && !heard {
            return;
        }
    }
    panic!("the peer and the engine did not settle");
}

/// The connections closed, by number, and with which code.
fn closes(out: &[(ConnId, Outgoing)]) -> Vec<(u64, u16)> {
    out.iter()
        .filter_map(|(conn, out)| match out {
            Outgoing::Close { code, .. } => Some((conn.0, *code)),
            Outgoing::Message(_) => None,
        })
        .collect()
}

#[test]
fn an_authors_change_is_answered_only_once_its_plan_is_durable() {
    let (mut engine, saved) = owned_by_ada();
    let mut ada = Client::new(1, author("ada", 2), &saved);
    settle(&mut engine, &mut ada);
    ada.spec
        .set_text(&TextField::Title, "Checkout v2", NOW)
        .expect("edit");
    let data = ada.message().expect("ada has a change to send");
    assert!(!engine.receive(&ada.remote, &data, false, &Bindings::default()));
    assert!(
        engine.take_out().is_empty(),
        "nothing leaves before it is stored"
    );
    let plan = engine.plan(NOW.0, &Bindings::default());
    let Some(Write::Append {
        bytes, receipts, ..
    }) = plan.writes.first()
    else {
        panic!("the plan stores the change first: {:?}", plan.writes);
    };
    assert!(!bytes.is_empty());
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].user, "ada");
    assert_eq!(plan.changes.len(), 1);
    assert!(engine.take_out().is_empty(), "nor while it is being stored");
    engine.durable(plan, &[7]);
    let out = engine.take_out();
    assert!(ada.hear(&out), "the author hears back: its acknowledgement");
    let mut heads: Vec<ChangeHash> = ada.spec.doc_mut().get_heads();
    heads.sort();
    let mut held = engine.heads();
    held.sort();
    assert_eq!(heads, held);
}

#[test]
fn a_batch_that_changed_nothing_plans_no_writes() {
    let (mut engine, saved) = owned_by_ada();
    let mut ada = Client::new(1, author("ada", 2), &saved);
    settle(&mut engine, &mut ada);
    let plan = engine.plan(NOW.0, &Bindings::default());
    assert!(plan.writes.is_empty(), "{:?}", plan.writes);
    assert!(plan.changes.is_empty());
    engine.durable(plan, &[]);
}

/// Ada shares the spec with `name` as `role`; a peer signed in as `name` but writing as
/// `writer` changes the title. What is sent, and why the engine refused, if it did.
fn change_by(name: &str, role: Role, writer: &str) -> (Vec<(u64, u16)>, Vec<Refusal>) {
    let (mut engine, saved) = owned_by_ada();
    engine
        .change_role(&Granter::Member(user("ada")), &user(name), Some(role))
        .expect("an owner shares");
    store(&mut engine);
    let mut peer = Client::new(2, author(writer, 3), &saved);
    peer.remote.user = user(name);
    settle(&mut engine, &mut peer);
    peer.spec
        .set_text(&TextField::Title, "Changed", NOW)
        .expect("edit");
    let data = peer.message().expect("a change");
    assert!(!engine.receive(&peer.remote, &data, false, &Bindings::default()));
    let closed = closes(&engine.take_out());
    let refused = engine.take_tally().refused;
    if !refused.is_empty() {
        assert!(
            engine.plan(NOW.0, &Bindings::default()).changes.is_empty(),
            "a refused change is not stored"
        );
        assert!(!engine.has_peer(ConnId(2)));
    }
    (closed, refused)
}

#[test]
fn a_viewers_change_is_refused_and_not_planned() {
    assert_eq!(
        change_by("vic", Role::Viewer, "vic"),
        (vec![(2, CLOSE_POLICY)], vec![Refusal::Role])
    );
}

#[test]
fn a_change_authored_as_someone_else_is_refused() {
    // Eli's connection sends a change written under Ada's name.
    assert_eq!(
        change_by("eli", Role::Editor, "ada"),
        (vec![(2, CLOSE_POLICY)], vec![Refusal::ForgedAuthor])
    );
    // Written as himself, it is his to send.
    assert_eq!(change_by("eli", Role::Editor, "eli"), (vec![], vec![]));
}

#[test]
fn a_malformed_message_closes_with_a_protocol_error() {
    let (mut engine, _) = owned_by_ada();
    let remote = Remote {
        conn: ConnId(4),
        peer: PeerId::new("peer-4").expect("valid"),
        user: user("ada"),
    };
    assert!(!engine.receive(&remote, &[0x42, 0xff, 0x00], false, &Bindings::default()));
    assert_eq!(closes(&engine.take_out()), vec![(4, CLOSE_PROTOCOL)]);
    assert_eq!(engine.take_tally().refused, vec![Refusal::Malformed]);
}

#[test]
fn losing_a_role_makes_the_document_unavailable_at_once() {
    let (mut engine, saved) = owned_by_ada();
    let ada = Granter::Member(user("ada"));
    engine
        .change_role(&ada, &user("eli"), Some(Role::Editor))
        .expect("shared");
    store(&mut engine);
    let mut eli = Client::new(5, author("eli", 5), &saved);
    settle(&mut engine, &mut eli);
    engine
        .change_role(&ada, &user("eli"), None)
        .expect("taken away");
    let out = engine.take_out();
    assert!(matches!(
        out.as_slice(),
        [(ConnId(5), Outgoing::Message(Message::DocUnavailable { .. }))]
    ));
    let writes = store(&mut engine);
    assert!(matches!(
        writes.as_slice(),
        [Write::SetRole { role: None, .. }]
    ));
    assert!(!engine.has_peer(ConnId(5)));
}

#[test]
fn the_last_owner_cannot_leave_and_only_owners_share() {
    let (mut engine, _) = owned_by_ada();
    let ada = Granter::Member(user("ada"));
    assert!(matches!(
        engine.change_role(&ada, &user("ada"), Some(Role::Editor)),
        Err(DocError::LastOwner)
    ));
    engine
        .change_role(&ada, &user("eli"), Some(Role::Editor))
        .expect("shared");
    assert!(matches!(
        engine.change_role(
            &Granter::Member(user("eli")),
            &user("bob"),
            Some(Role::Viewer)
        ),
        Err(DocError::Forbidden(_))
    ));
    assert!(matches!(
        engine.change_role(
            &Granter::Member(user("bob")),
            &user("bob"),
            Some(Role::Owner)
        ),
        Err(DocError::NotFound)
    ));
    // A link raises a role, never lowers one.
    assert_eq!(
        engine
            .change_role(&Granter::Link, &user("eli"), Some(Role::Viewer))
            .ok(),
        Some(Some(Role::Editor))
    );
}

#[test]
fn upkeep_compacts_when_chunks_pile_up_and_otherwise_folds() {
    let saved = adas_spec();
    let policy = Policy {
        compact_after: 6,
        fold_after: 3,
    };
    let mut engine = engine(policy);
    engine.create(&saved, &user("ada")).expect("created");
    let mut ada = Client::new(1, author("ada", 6), &saved);
    let mut seq = 0;
    let mut upkeeps = Vec::new();
    for i in 0..14 {
        ada.spec
            .set_text(&TextField::Title, &format!("Title {i}"), NOW)
            .expect("edit");
        for _ in 0..10 {
            if let Some(data) = ada.message() {
                assert!(!engine.receive(&ada.remote, &data, false, &Bindings::default()));
            }
            let plan = engine.plan(NOW.0, &Bindings::default());
            let seqs: Vec<i64> = plan
                .writes
                .iter()
                .map(|_| {
                    seq += 1;
                    seq
                })
                .collect();
            engine.durable(plan, &seqs);
            ada.hear(&engine.take_out());
            if let Some(upkeep) = engine.upkeep(false) {
                upkeeps.push(match upkeep.write() {
                    Write::Fold { .. } => "fold",
                    Write::Compact { .. } => "compact",
                    _ => "other",
                });
                engine.upkept(upkeep);
            }
        }
    }
    assert_eq!(upkeeps.first(), Some(&"fold"), "{upkeeps:?}");
    assert!(upkeeps.contains(&"compact"), "{upkeeps:?}");
    assert!(!upkeeps.contains(&"other"));
}

#[test]
fn a_failed_plan_drops_every_peer_and_sends_nothing_of_the_batch() {
    let (mut engine, saved) = owned_by_ada();
    let mut ada = Client::new(1, author("ada", 7), &saved);
    settle(&mut engine, &mut ada);
    ada.spec
        .set_text(&TextField::Title, "Lost", NOW)
        .expect("edit");
    let data = ada.message().expect("a change");
    assert!(!engine.receive(&ada.remote, &data, false, &Bindings::default()));
    let plan = engine.plan(NOW.0, &Bindings::default());
    engine.failed(plan);
    let out = engine.take_out();
    assert!(!ada.hear(&out), "no sync message leaves a failed batch");
    assert_eq!(closes(&out), vec![(1, CLOSE_SERVER_ERROR)]);
    assert!(engine.doc().is_none(), "loaded again from the store");
}
