//! The storage contract, written once and checked against every `Storage`: SQLite on disk and the in-memory store the simulation runs on.

use anyhow::Result;
use duet_model::signoff::{SignCounts, Slot, StoryDigest};
use duet_model::ItemId;
use duet_protocol::DocumentId;
use duet_server::storage::{
    DocumentMeta, Receipt, Role, SignOffRecord, Storage, Write, KEEP_DELETED_MS,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Runs each check against a fresh SQLite store and a fresh memory store.
macro_rules! every_store {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $check() -> anyhow::Result<()> {
                    let dir = tempfile::tempdir()?;
                    let mut store = duet_server::storage::SqliteStorage::open(dir.path())?;
                    super::$check(&mut store)
                }
            )*
        }
        mod memory {
            $(
                #[test]
                fn $check() -> anyhow::Result<()> {
                    super::$check(&mut duet_server::storage::MemoryStorage::new())
                }
            )*
        }
    };
}

every_store!(
    chunks_load_in_order_and_a_document_never_appended_is_absent,
    a_fold_replaces_its_range_in_place_and_a_compaction_everything_up_to_it,
    roles_change_and_the_list_shows_a_users_documents_newest_first,
    search_finds_a_document_by_its_stored_text_only,
    archiving_and_deleting_survive_later_appends,
    receipts_bindings_and_seen_marks_read_back_as_written,
    the_latest_sign_off_of_each_slot_is_read_back,
    specs_deleted_more_than_30_days_ago_are_purged_with_what_they_had,
);

fn doc(seed: u64) -> DocumentId {
    DocumentId::random(&mut StdRng::seed_from_u64(seed))
}

fn meta(doc: DocumentId, title: &str, updated_at: i64) -> DocumentMeta {
    DocumentMeta {
        id: doc.to_string(),
        is_spec: true,
        title: title.into(),
        updated_at,
        authors: vec!["pm".into()],
        ..DocumentMeta::default()
    }
}

fn append(doc: DocumentId, bytes: &[u8], updated_at: i64) -> Write {
    Write::Append {
        doc,
        bytes: bytes.to_vec(),
        meta: meta(doc, "Spec", updated_at),
        receipts: Vec::new(),
        bindings: Vec::new(),
    }
}

fn role(doc: DocumentId, user: &str, role: Option<Role>) -> Write {
    Write::SetRole {
        doc,
        user: user.into(),
        role,
    }
}

fn bytes_of(store: &mut impl Storage, doc: &DocumentId) -> Result<Vec<Vec<u8>>> {
    let chunks = store.load(doc)?.unwrap_or_default();
    Ok(chunks.into_iter().map(|c| c.bytes).collect())
}

fn chunks_load_in_order_and_a_document_never_appended_is_absent(
    store: &mut impl Storage,
) -> Result<()> {
    let a = doc(1);
    assert!(store.load(&a)?.is_none());
    // A role alone does not make a stored document.
    store.commit(&[role(a, "pm", Some(Role::Owner))])?;
    assert!(store.load(&a)?.is_none());
    let seqs = store.commit(&[append(a, b"one", 1), role(a, "eng", Some(Role::Editor))])?;
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] > 0, "an append is given a sequence number");
    assert_eq!(seqs[1], 0);
    let more = store.commit(&[append(a, b"two", 2)])?;
    assert!(more[0] > seqs[0], "sequence numbers increase");
    // An append without bytes refreshes the row and stores no chunk.
    assert_eq!(store.commit(&[append(a, b"", 3)])?, [0]);
    assert_eq!(bytes_of(store, &a)?, [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(store.meta(&a)?.map(|m| m.updated_at), Some(3));
    assert_eq!(store.commit(&[])?, Vec::<i64>::new());
    Ok(())
}

fn a_fold_replaces_its_range_in_place_and_a_compaction_everything_up_to_it(
    store: &mut impl Storage,
) -> Result<()> {
    let a = doc(2);
    let b = doc(3);
    let mut seqs = Vec::new();
    for (i, bytes) in [b"c1", b"c2", b"c3", b"c4"].iter().enumerate() {
        seqs.push(store.commit(&[append(a, *bytes, i as i64)])?[0]);
        store.commit(&[append(b, b"other", i as i64)])?;
    }
    store.commit(&[Write::Fold {
        doc: a,
        bytes: b"c2+c3".to_vec(),
        first: seqs[1],
        last: seqs[2],
    }])?;
    assert_eq!(
        bytes_of(store, &a)?,
        [b"c1".to_vec(), b"c2+c3".to_vec(), b"c4".to_vec()]
    );
    store.commit(&[Write::Compact {
        doc: a,
        snapshot: b"snapshot".to_vec(),
        replaces_up_to: seqs[2],
    }])?;
    let after = store.commit(&[append(a, b"c5", 9)])?[0];
    assert_eq!(
        bytes_of(store, &a)?,
        [b"c4".to_vec(), b"snapshot".to_vec(), b"c5".to_vec()]
    );
    assert!(after > seqs[3]);
    assert_eq!(
        bytes_of(store, &b)?.len(),
        4,
        "other documents are untouched"
    );
    Ok(())
}

fn roles_change_and_the_list_shows_a_users_documents_newest_first(
    store: &mut impl Storage,
) -> Result<()> {
    let (old, new, theirs) = (doc(4), doc(5), doc(6));
    store.commit(&[
        append(old, b"x", 10),
        role(old, "pm", Some(Role::Owner)),
        append(new, b"y", 20),
        role(new, "pm", Some(Role::Viewer)),
        append(theirs, b"z", 30),
        role(theirs, "eng", Some(Role::Owner)),
    ])?;
    store.commit(&[
        role(new, "pm", Some(Role::Editor)),
        role(new, "eng", Some(Role::Viewer)),
    ])?;
    let listed: Vec<(String, Role)> = store
        .list_for("pm", None)?
        .into_iter()
        .map(|(m, r)| (m.id, r))
        .collect();
    assert_eq!(
        listed,
        [
            (new.to_string(), Role::Editor),
            (old.to_string(), Role::Owner)
        ]
    );
    assert_eq!(
        store.roles(&new)?,
        [
            ("eng".to_owned(), Role::Viewer),
            ("pm".to_owned(), Role::Editor)
        ]
    );
    store.commit(&[role(new, "pm", None)])?;
    assert_eq!(store.list_for("pm", None)?.len(), 1);
    assert_eq!(store.roles(&new)?, [("eng".to_owned(), Role::Viewer)]);
    let all: Vec<String> = store.list()?.into_iter().map(|m| m.id).collect();
    assert_eq!(all, [theirs.to_string(), new.to_string(), old.to_string()]);
    Ok(())
}

fn search_finds_a_document_by_its_stored_text_only(store: &mut impl Storage) -> Result<()> {
    let (ledger, other) = (doc(7), doc(8));
    store.commit(&[
        append(ledger, b"x", 1),
        role(ledger, "pm", Some(Role::Owner)),
        append(other, b"y", 2),
        role(other, "pm", Some(Role::Owner)),
        Write::SearchText {
            doc: ledger,
            text: "quarterly ledgers for auditors".into(),
        },
    ])?;
    fn found(store: &mut impl Storage, needle: &str) -> Result<Vec<String>> {
        Ok(store
            .list_for("pm", Some(needle))?
            .into_iter()
            .map(|(m, _)| m.id)
            .collect())
    }
    assert_eq!(found(store, "ledgers")?, [ledger.to_string()]);
    assert!(found(store, "payroll")?.is_empty());
    // The text of a document never appended is not kept.
    let ghost = doc(9);
    store.commit(&[
        role(ghost, "pm", Some(Role::Owner)),
        Write::SearchText {
            doc: ghost,
            text: "ledgers".into(),
        },
    ])?;
    assert_eq!(found(store, "ledgers")?, [ledger.to_string()]);
    Ok(())
}

fn archiving_and_deleting_survive_later_appends(store: &mut impl Storage) -> Result<()> {
    let a = doc(10);
    store.commit(&[append(a, b"x", 1)])?;
    store.commit(&[Write::Listing {
        doc: a,
        archived: true,
        deleted_at: Some(5),
    }])?;
    store.commit(&[append(a, b"y", 6)])?;
    let meta = store.meta(&a)?.expect("stored");
    assert!(meta.archived);
    assert_eq!(meta.deleted_at, Some(5));
    assert_eq!(meta.updated_at, 6);
    store.commit(&[Write::Listing {
        doc: a,
        archived: false,
        deleted_at: None,
    }])?;
    let meta = store.meta(&a)?.expect("stored");
    assert!(!meta.archived);
    assert_eq!(meta.deleted_at, None);
    Ok(())
}

fn receipts_bindings_and_seen_marks_read_back_as_written(store: &mut impl Storage) -> Result<()> {
    let a = doc(11);
    let receipt = Receipt {
        hash: "ab".repeat(32),
        user: "eng".into(),
        received_at: 42,
    };
    store.commit(&[Write::Append {
        doc: a,
        bytes: b"x".to_vec(),
        meta: meta(a, "Spec", 1),
        receipts: vec![receipt.clone()],
        bindings: vec![(vec![1, 2, 3], "eng".into())],
    }])?;
    // A receipt and a binding are written once: the first stays.
    store.commit(&[Write::Append {
        doc: a,
        bytes: b"y".to_vec(),
        meta: meta(a, "Spec", 2),
        receipts: vec![Receipt {
            received_at: 99,
            ..receipt.clone()
        }],
        bindings: vec![(vec![1, 2, 3], "pm".into())],
    }])?;
    assert_eq!(store.receipts(&a)?, [receipt]);
    assert_eq!(store.bindings()?, [(vec![1, 2, 3], "eng".to_owned())]);
    assert_eq!(store.seen(&a, "pm")?, None);
    for (heads, at) in [("h1", 5), ("h2", 6)] {
        store.commit(&[Write::Seen {
            doc: a,
            user: "pm".into(),
            heads: heads.into(),
            at,
        }])?;
    }
    assert_eq!(store.seen(&a, "pm")?, Some(("h2".to_owned(), 6)));
    assert_eq!(store.seen(&a, "eng")?, None);
    Ok(())
}

fn the_latest_sign_off_of_each_slot_is_read_back(store: &mut impl Storage) -> Result<()> {
    let a = doc(12);
    let story = ItemId::random(&mut StdRng::seed_from_u64(1));
    let blocker = ItemId::random(&mut StdRng::seed_from_u64(2));
    let record = |slot: Slot, user: &str, at: i64| SignOffRecord {
        story: story.clone(),
        slot,
        user: user.into(),
        discipline: slot.as_str().into(),
        signed_at: at,
        digest: StoryDigest::parse(&"0f".repeat(32)).expect("a digest"),
        heads: "h".into(),
        open_blockers: vec![blocker.clone()],
    };
    let signs = SignCounts {
        signed: 1,
        ..SignCounts::default()
    };
    store.commit(&[append(a, b"x", 1)])?;
    for r in [
        record(Slot::Product, "pm", 1),
        record(Slot::Engineering, "eng", 2),
        record(Slot::Product, "pm2", 3),
    ] {
        store.commit(&[Write::SignOff {
            doc: a,
            record: r,
            signs,
        }])?;
    }
    let latest = store.signoffs(&a)?;
    assert_eq!(
        latest,
        [
            record(Slot::Engineering, "eng", 2),
            record(Slot::Product, "pm2", 3)
        ]
    );
    assert_eq!(store.meta(&a)?.map(|m| m.signs), Some(signs));
    Ok(())
}

fn specs_deleted_more_than_30_days_ago_are_purged_with_what_they_had(
    store: &mut impl Storage,
) -> Result<()> {
    let old = doc(21);
    let recent = doc(22);
    let day = 24 * 3600 * 1000;
    let now = 100 * day;
    for (doc, deleted_at) in [(old, now - 31 * day), (recent, now - day)] {
        store.commit(&[
            append(doc, &[1, 2, 3], 0),
            role(doc, "pm", Some(Role::Owner)),
            Write::Listing {
                doc,
                archived: false,
                deleted_at: Some(deleted_at),
            },
        ])?;
    }
    assert_eq!(store.purge(now - KEEP_DELETED_MS)?, [old]);
    assert!(store.load(&old)?.is_none(), "its chunks are gone");
    assert!(store.roles(&old)?.is_empty());
    assert!(store.meta(&old)?.is_none());
    assert!(
        store.load(&recent)?.is_some(),
        "a recent deletion can still be undone"
    );
    assert_eq!(
        store.meta(&recent)?.and_then(|m| m.deleted_at),
        Some(now - day)
    );
    Ok(())
}
