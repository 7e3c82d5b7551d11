//! Message encoding: every message round-trips, and decoding any bytes gives a message or a typed error — never a panic.

use duet_protocol::{DecodeError, DocumentId, Message, PeerId, PeerMetadata};
use proptest::prelude::*;

fn peer_id() -> impl Strategy<Value = PeerId> {
    "[a-zA-Z0-9_-]{1,40}".prop_map(|s| PeerId::new(&s).expect("valid peer id"))
}

fn document_id() -> impl Strategy<Value = DocumentId> {
    any::<[u8; 16]>().prop_map(DocumentId::from_bytes)
}

fn metadata() -> impl Strategy<Value = Option<PeerMetadata>> {
    proptest::option::of(
        (proptest::option::of("[a-z0-9-]{0,36}"), any::<bool>()).prop_map(
            |(storage_id, is_ephemeral)| PeerMetadata {
                storage_id,
                is_ephemeral,
            },
        ),
    )
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            peer_id(),
            proptest::collection::vec("[0-9.]{1,8}", 0..4),
            metadata()
        )
            .prop_map(|(sender, supported_versions, metadata)| Message::Join {
                sender,
                supported_versions,
                metadata
            }),
        (peer_id(), peer_id(), "[0-9]{1,3}", metadata()).prop_map(
            |(sender, target, selected_version, metadata)| Message::Peer {
                sender,
                target,
                selected_version,
                metadata
            }
        ),
        (peer_id(), peer_id(), document_id(), bytes()).prop_map(
            |(sender, target, document, data)| Message::Request {
                sender,
                target,
                document,
                data
            }
        ),
        (peer_id(), peer_id(), document_id(), bytes()).prop_map(
            |(sender, target, document, data)| Message::Sync {
                sender,
                target,
                document,
                data
            }
        ),
        (peer_id(), peer_id(), document_id()).prop_map(|(sender, target, document)| {
            Message::DocUnavailable {
                sender,
                target,
                document,
            }
        }),
        (
            peer_id(),
            peer_id(),
            any::<u64>(),
            "[a-z0-9-]{1,40}",
            document_id(),
            bytes()
        )
            .prop_map(|(sender, target, count, session, document, data)| {
                Message::Ephemeral {
                    sender,
                    target,
                    count,
                    session,
                    document,
                    data,
                }
            }),
        (
            proptest::option::of(peer_id()),
            proptest::option::of(peer_id()),
            "\\PC{0,80}"
        )
            .prop_map(|(sender, target, message)| Message::Error {
                sender,
                target,
                message
            }),
        peer_id().prop_map(|sender| Message::Leave { sender }),
        prop_oneof![
            Just("remote-subscription-change"),
            Just("remote-heads-changed")
        ]
        .prop_map(|kind| Message::Ignored { kind }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_round_trips_through_cbor(m in message()) {
        prop_assert_eq!(Message::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn arbitrary_bytes_decode_to_a_message_or_an_error(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::decode(&raw);
    }

    #[test]
    fn damaged_messages_decode_to_a_message_or_an_error(
        m in message(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut raw = m.encode();
        // Truncated anywhere: always an error (a prefix of one map is never a whole map).
        let at = cut.index(raw.len());
        prop_assert!(Message::decode(&raw[..at]).is_err());
        // Bytes overwritten anywhere: a message or an error.
        for (i, b) in flips {
            let i = i.index(raw.len());
            raw[i] = b;
        }
        let _ = Message::decode(&raw);
    }
}

/// A CBOR map header followed by `key: value` pairs written by hand.
fn cbor(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn text(s: &str) -> Vec<u8> {
    assert!(s.len() < 24);
    let mut out = vec![0x60 + s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    // { "type": "sync", "x": [[[[…]]]] } with a million levels.
    let mut raw = cbor(&[&[0xA2], &text("type"), &text("sync"), &text("x")]);
    raw.extend(std::iter::repeat_n(0x81, 1_000_000));
    raw.push(0x00);
    assert!(Message::decode(&raw).is_err());
    // Indefinite-length nesting too.
    let mut raw = cbor(&[&[0xA2], &text("type"), &text("sync"), &text("x")]);
    raw.extend(std::iter::repeat_n(0x9F, 1_000_000));
    assert!(Message::decode(&raw).is_err());
}

#[test]
fn huge_declared_lengths_allocate_nothing_and_fail() {
    // A byte string claiming 2^63 bytes, an array claiming 2^32 entries, a map claiming 2^40.
    let data = cbor(&[
        &[0xA2],
        &text("type"),
        &text("sync"),
        &text("data"),
        &[0x5B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    ]);
    assert!(Message::decode(&data).is_err());
    let versions = cbor(&[
        &[0xA2],
        &text("type"),
        &text("join"),
        &[0x78, 25],
        b"supportedProtocolVersions",
        &[0x9A, 0xFF, 0xFF, 0xFF, 0xFF],
    ]);
    assert!(Message::decode(&versions).is_err());
    let map = [0xBB, 0, 0, 0x01, 0, 0, 0, 0, 0];
    assert!(Message::decode(&map).is_err());
}

#[test]
fn unknown_types_and_missing_fields_are_named_in_the_error() {
    let unknown = cbor(&[&[0xA1], &text("type"), &text("gossip")]);
    assert_eq!(
        Message::decode(&unknown),
        Err(DecodeError::UnknownType("gossip".into()))
    );
    let no_doc = cbor(&[
        &[0xA4],
        &text("type"),
        &text("sync"),
        &text("senderId"),
        &text("a"),
        &text("targetId"),
        &text("b"),
        &text("data"),
        &[0x40],
    ]);
    assert_eq!(
        Message::decode(&no_doc),
        Err(DecodeError::MissingField("documentId"))
    );
    assert!(matches!(
        Message::decode(&[0x01]),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        Message::decode(&[]),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn unknown_fields_are_skipped_and_trailing_bytes_refused() {
    let sender = PeerId::new("js-1").expect("peer id");
    let leave = Message::Leave { sender };
    let mut with_extra = cbor(&[&[0xA3], &text("futureField"), &[0x83, 1, 2, 3]]);
    with_extra.extend_from_slice(&leave.encode()[1..]);
    assert_eq!(Message::decode(&with_extra), Ok(leave.clone()));
    let mut trailing = leave.encode();
    trailing.push(0);
    assert_eq!(Message::decode(&trailing), Err(DecodeError::TrailingBytes));
}

#[test]
fn a_join_as_the_js_client_encodes_it_decodes() {
    // cbor-x (JS automerge-repo 2.x): 16-bit map headers, and an absent storage id written
    // as CBOR `undefined`.
    let raw = cbor(&[
        &[0xB9, 0x00, 0x04],
        &text("type"),
        &text("join"),
        &text("senderId"),
        &text("js-a-1"),
        &text("peerMetadata"),
        &[0xB9, 0x00, 0x02],
        &text("storageId"),
        &[0xF7],
        &text("isEphemeral"),
        &[0xF5],
        &[0x78, 25],
        b"supportedProtocolVersions",
        &[0x81],
        &text("1"),
    ]);
    assert_eq!(
        Message::decode(&raw),
        Ok(Message::Join {
            sender: PeerId::new("js-a-1").expect("peer id"),
            supported_versions: vec!["1".into()],
            metadata: Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: true,
            }),
        })
    );
}
