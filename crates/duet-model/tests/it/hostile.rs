//! Hostile input: random, truncated and mutated bytes, foreign documents and malformed spec contents give typed errors or lenient views, never a panic.

use crate::common;

use common::{author, rng, NOW};
use duet_model::automerge::{transaction::Transactable, AutoCommit, ObjType, ReadDoc, ROOT};
use duet_model::{
    markdown, AnchorSpan, ConstraintKind, CriterionKind, ItemId, LoadError, NewConstraint,
    NewStory, Severity, Spec, StoryField, TextField, SCHEMA_VERSION,
};
use proptest::prelude::*;

fn saved_sample() -> Vec<u8> {
    let mut spec = Spec::new(author("pm", 1));
    let mut r = rng(3);
    spec.set_text(&TextField::Title, "Export 😀", NOW)
        .expect("title");
    let s = ItemId::random(&mut r);
    let new = NewStory {
        as_a: "analyst".into(),
        i_want: "CSV export".into(),
        so_that: "share".into(),
    };
    spec.add_story(&s, 0, &new, NOW).expect("story");
    spec.add_criterion(
        &s,
        &ItemId::random(&mut r),
        0,
        CriterionKind::Ux,
        "progress",
        NOW,
    )
    .expect("criterion");
    let c = NewConstraint {
        kind: ConstraintKind::Security,
        severity: Severity::Blocker,
        text: "injection".into(),
        anchor: Some(AnchorSpan {
            field: StoryField::IWant,
            start: 0,
            end: 3,
        }),
    };
    spec.add_constraint(&s, &ItemId::random(&mut r), 0, &c, NOW)
        .expect("constraint");
    spec.save()
}

/// Loading must return; when it succeeds, every reader must work too.
fn load_and_use(bytes: &[u8]) {
    if let Ok(mut spec) = Spec::load(bytes, author("x", 9)) {
        let view = spec.view();
        let _ = markdown::export(&view);
        let _ = spec.save();
    }
}

#[test]
fn bytes_that_are_not_automerge_are_refused() {
    for bytes in [&b""[..], b"hello", &[0u8; 64], &[0x85, 0x6f, 0x4a, 0x83]] {
        assert!(
            matches!(
                Spec::load(bytes, author("x", 1)),
                Err(LoadError::NotAutomerge(_)) | Err(LoadError::NotASpec(_))
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn an_automerge_document_that_is_not_a_spec_is_refused() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "todo", "milk").expect("put");
    let err = Spec::load(&doc.save(), author("x", 1)).expect_err("not a spec");
    assert!(matches!(err, LoadError::NotASpec(_)), "{err}");
    // A marker with the wrong type, or a missing part.
    let mut doc = AutoCommit::new();
    let duet = doc.put_object(ROOT, "duet", ObjType::Map).expect("put");
    doc.put(&duet, "type", "spec").expect("put");
    doc.put(&duet, "schema", 1u64).expect("put");
    let err = Spec::load(&doc.save(), author("x", 1)).expect_err("no parts");
    assert!(
        matches!(err, LoadError::NotASpec(ref m) if m.contains("title")),
        "{err}"
    );
}

#[test]
fn a_spec_from_a_newer_schema_is_refused_with_both_versions() {
    let mut spec = Spec::new(author("pm", 1));
    let doc = spec.doc_mut();
    let (_, duet) = doc.get(ROOT, "duet").expect("read").expect("marker");
    doc.put(&duet, "schema", SCHEMA_VERSION + 1).expect("put");
    doc.commit();
    let err = Spec::load(&spec.save(), author("x", 1)).expect_err("newer");
    assert_eq!(
        err,
        LoadError::NewerSchema {
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION
        }
    );
}

#[test]
fn every_truncation_of_a_saved_spec_loads_or_fails_cleanly() {
    let bytes = saved_sample();
    for len in 0..bytes.len() {
        load_and_use(&bytes[..len]);
    }
    assert!(Spec::load(&bytes, author("x", 1)).is_ok());
}

#[test]
fn wrongly_typed_values_inside_a_spec_render_as_defaults() {
    let mut spec = Spec::new(author("pm", 1));
    let s = ItemId::parse("s1").expect("id");
    spec.add_story(&s, 0, &NewStory::default(), NOW)
        .expect("story");
    let c = ItemId::parse("c1").expect("id");
    let anchored = NewConstraint {
        kind: ConstraintKind::Cost,
        severity: Severity::Minor,
        text: "x".into(),
        anchor: None,
    };
    spec.add_constraint(&s, &c, 0, &anchored, NOW)
        .expect("constraint");
    let doc = spec.doc_mut();
    let (_, stories) = doc.get(ROOT, "stories").expect("read").expect("stories");
    let (_, story) = doc.get(&stories, "s1").expect("read").expect("story");
    doc.put(&story, "status", "on fire").expect("put");
    doc.put(&story, "rank", 42).expect("put");
    doc.put(&story, "as_a", "a plain string, not text")
        .expect("put");
    doc.put(&stories, "not a valid id!", "junk").expect("put");
    doc.put(&stories, "s2", 7).expect("put");
    let (_, constraints) = doc
        .get(ROOT, "constraints")
        .expect("read")
        .expect("constraints");
    let (_, constraint) = doc
        .get(&constraints, "c1")
        .expect("read")
        .expect("constraint");
    let anchor = doc
        .put_object(&constraint, "anchor", ObjType::Map)
        .expect("put");
    for cursor in ["", "é", "-", "s", "1@zz", "-5@00", "3@d701"] {
        let doc = spec.doc_mut();
        doc.put(&anchor, "start", cursor).expect("put");
        doc.put(&anchor, "end", cursor).expect("put");
        doc.commit();
        let v = spec.view();
        assert_eq!(v.stories.len(), 1, "only the real story shows");
        assert_eq!(v.stories[0].as_a, "");
        assert_eq!(v.stories[0].status, duet_model::StoryStatus::Draft);
        assert!(
            matches!(
                v.stories[0].constraints[0].anchor,
                duet_model::Anchor::Orphaned { .. }
            ),
            "{cursor:?}"
        );
        let _ = markdown::export(&v);
    }
    // Edits still work on the repaired parts and refuse the broken ones with a typed error.
    assert!(spec
        .splice(
            &TextField::Story {
                story: s.clone(),
                field: StoryField::AsA
            },
            0,
            0,
            "x",
            NOW
        )
        .is_err());
    spec.splice(
        &TextField::Story {
            story: s,
            field: StoryField::IWant,
        },
        0,
        0,
        "x",
        NOW,
    )
    .expect("i_want is still text");
    spec.add_story(
        &ItemId::parse("s3").expect("id"),
        0,
        &NewStory::default(),
        NOW,
    )
    .expect("ranks repaired");
}

#[test]
fn a_removed_root_part_makes_edits_fail_with_a_typed_error() {
    let mut spec = Spec::new(author("pm", 1));
    spec.doc_mut().delete(ROOT, "stories").expect("delete");
    spec.doc_mut().commit();
    let err = spec.add_story(
        &ItemId::parse("s").expect("id"),
        0,
        &NewStory::default(),
        NOW,
    );
    assert_eq!(err, Err(duet_model::EditError::MissingPart("stories")));
    assert!(spec.view().stories.is_empty());
}

/// Where the body of the document's first chunk starts, and where it ends.
fn chunk_body(bytes: &[u8]) -> Option<(usize, usize)> {
    // magic (4) | checksum (4) | chunk type (1) | body length (LEB128) | body
    let mut len: u64 = 0;
    let mut i = 9;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(i)?;
        len |= u64::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            let end = i.checked_add(usize::try_from(len).ok()?)?;
            return (end <= bytes.len()).then_some((i, end));
        }
    }
    None
}

/// Rewrites the first chunk's checksum so a mutated body passes the integrity check and
/// reaches the column decoders.
fn fix_checksum(bytes: &mut [u8]) {
    use sha2::{Digest, Sha256};
    if let Some((_, end)) = chunk_body(bytes) {
        let hash = Sha256::digest(&bytes[8..end]);
        bytes[4..8].copy_from_slice(&hash[..4]);
    }
}

#[test]
fn a_checksum_fixed_unmutated_spec_still_loads() {
    let mut bytes = saved_sample();
    bytes[4..8].copy_from_slice(&[0, 0, 0, 0]);
    assert!(
        Spec::load(&bytes, author("x", 1)).is_err(),
        "the checksum is checked"
    );
    fix_checksum(&mut bytes);
    assert!(
        Spec::load(&bytes, author("x", 1)).is_ok(),
        "the checksum is recomputed correctly"
    );
}

/// Inputs that once crashed a decoder stay here as regression tests.
#[test]
fn every_kept_crasher_is_refused_without_a_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashers");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("crashers folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "bin") {
            let bytes = std::fs::read(&path).expect("read crasher");
            assert!(
                Spec::load(&bytes, author("x", 1)).is_err(),
                "{}",
                path.display()
            );
            count += 1;
        }
    }
    assert!(count > 0, "no crashers found in {}", dir.display());
}

/// Finds new crashers: set DUET_FIND_CRASHERS=N to search N mutations and write each input
/// that makes the raw Automerge loader panic into `tests/crashers/`.
#[test]
fn search_for_new_crashers_when_asked() {
    let Some(n) = std::env::var("DUET_FIND_CRASHERS")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return;
    };
    use rand::{Rng, SeedableRng};
    let mut r = rand::rngs::StdRng::seed_from_u64(n);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashers");
    let base = saved_sample();
    let (start, end) = chunk_body(&base).expect("chunk");
    for i in 0..n {
        let mut bytes = base.clone();
        for _ in 0..r.random_range(1..4) {
            let at = r.random_range(start..end);
            bytes[at] = r.random();
        }
        fix_checksum(&mut bytes);
        let crashed =
            std::panic::catch_unwind(|| duet_model::automerge::AutoCommit::load(&bytes)).is_err();
        if crashed {
            std::fs::write(dir.join(format!("load-{n}-{i}.bin")), &bytes).expect("write crasher");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        load_and_use(&bytes);
    }

    #[test]
    fn mutated_saved_specs_never_panic_the_loader(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = saved_sample();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        load_and_use(&bytes);
    }

    #[test]
    fn mutated_bodies_with_valid_checksums_never_panic_the_loader(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        uncompressed in any::<bool>(),
    ) {
        let mut bytes = if uncompressed {
            let mut spec = Spec::load(&saved_sample(), author("x", 1)).expect("load");
            spec.doc_mut().save_nocompress()
        } else {
            saved_sample()
        };
        let (start, end) = chunk_body(&bytes).expect("a chunk");
        for (at, value) in flips {
            let i = start + at.index(end - start);
            bytes[i] = value;
        }
        fix_checksum(&mut bytes);
        load_and_use(&bytes);
    }

    #[test]
    fn random_bytes_with_a_valid_header_never_panic_the_loader(tail in proptest::collection::vec(any::<u8>(), 0..512), keep in 0usize..64) {
        let mut bytes = saved_sample();
        bytes.truncate(keep.min(bytes.len()));
        bytes.extend(tail);
        load_and_use(&bytes);
    }
}
