//! `Spec`: one spec as an Automerge document, how a new one starts, how saved bytes are checked on load, and how edits become changes.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};

use crate::error::{EditError, LoadError};
use crate::ids::{Author, UnixMillis};
use crate::journal::{Journal, Tx};
use crate::read;
use crate::schema::{key, SCHEMA_VERSION};

/// The actor of the skeleton change. Every replica that starts a spec writes the identical
/// skeleton change (same actor, ops, time and message, hence the same hash), so replicas
/// that begin writing concurrently share one skeleton instead of duplicating it.
const SKELETON_ACTOR: [u8; 16] = *b"duet-skeleton-v1";

/// The root parts and their types, in the order the skeleton creates them.
pub(crate) const PARTS: [(&str, ObjType); 7] = [
    (key::TITLE, ObjType::Text),
    (key::PROBLEM, ObjType::Text),
    (key::METRICS, ObjType::Map),
    (key::STORIES, ObjType::Map),
    (key::CONSTRAINTS, ObjType::Map),
    (key::DECISIONS, ObjType::Map),
    (key::QUESTIONS, ObjType::Map),
];

/// A spec document and the author of the local edits.
///
/// All reads go through [`Spec::view`]; all writes go through the typed edit methods (in
/// `edit.rs`), each of which becomes one Automerge change carrying the author's actor id,
/// the time passed in and a short message naming the edit.
#[derive(Debug)]
pub struct Spec {
    pub(crate) doc: AutoCommit,
    pub(crate) author: Author,
    /// While a batch runs, edits accumulate in one pending change instead of committing.
    pub(crate) batching: bool,
    /// When kept, how to revert every write made (see `undo.rs`).
    pub(crate) journal: Option<Journal>,
}

impl Spec {
    /// A new, empty spec: the shared skeleton, then `author` as the local actor.
    pub fn new(author: Author) -> Spec {
        let mut doc = skeleton();
        doc.set_actor(author.actor_id());
        Spec {
            doc,
            author,
            batching: false,
            journal: None,
        }
    }

    /// Opens saved bytes (a full save, or saves concatenated with incremental saves).
    pub fn load(bytes: &[u8], author: Author) -> Result<Spec, LoadError> {
        let doc = load_doc(bytes)?;
        Spec::from_doc(doc, author)
    }

    /// Wraps a document received some other way (sync), after checking it is a Duet spec.
    pub fn from_doc(mut doc: AutoCommit, author: Author) -> Result<Spec, LoadError> {
        check_is_spec(&doc)?;
        doc.set_actor(author.actor_id());
        Ok(Spec {
            doc,
            author,
            batching: false,
            journal: None,
        })
    }

    /// Runs typed edits on a document held elsewhere (a client's replica), as `author`.
    /// Fails, leaving `doc` untouched, if it is not a Duet spec.
    pub fn edit_in_place<R>(
        doc: &mut AutoCommit,
        author: &Author,
        f: impl FnOnce(&mut Spec) -> R,
    ) -> Result<R, LoadError> {
        Spec::in_place(doc, author, None, f).map(|(r, _)| r)
    }

    /// `edit_in_place`, keeping `journal` of how to revert every write (see `undo.rs`).
    pub(crate) fn in_place<R>(
        doc: &mut AutoCommit,
        author: &Author,
        journal: Option<Journal>,
        f: impl FnOnce(&mut Spec) -> R,
    ) -> Result<(R, Option<Journal>), LoadError> {
        let mut f = Some(f);
        let mut result = None;
        let journal = Spec::in_place_dyn(doc, author, journal, &mut |spec| {
            result = f.take().map(|f| f(spec));
        })?;
        match result {
            Some(r) => Ok((r, journal)),
            None => Err(LoadError::NotASpec("the edit did not run".into())),
        }
    }

    /// The one copy of `in_place`'s work (the generic wrapper is instantiated per caller,
    /// which in the browser app costs size).
    fn in_place_dyn(
        doc: &mut AutoCommit,
        author: &Author,
        journal: Option<Journal>,
        f: &mut dyn FnMut(&mut Spec),
    ) -> Result<Option<Journal>, LoadError> {
        check_is_spec(doc)?;
        let mut spec = Spec {
            doc: std::mem::take(doc),
            author: author.clone(),
            batching: false,
            journal,
        };
        spec.doc.set_actor(author.actor_id());
        f(&mut spec);
        *doc = spec.doc;
        Ok(spec.journal)
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes made since the last `save` or `save_incremental`.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        self.doc.save_incremental()
    }

    pub fn author(&self) -> &Author {
        &self.author
    }

    /// The underlying document, for reading history and heads.
    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    /// The underlying document, for the sync protocol and merging. Do not write spec data
    /// through it: use the typed edits so the schema's invariants hold.
    pub fn doc_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Gives the document back (to sync it as a plain Automerge document).
    pub fn into_doc(self) -> AutoCommit {
        self.doc
    }

    /// Merges another replica's changes into this one.
    pub fn merge(&mut self, other: &mut Spec) -> Result<(), EditError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Runs several edits as one change named `message`. If any edit fails, none is kept.
    pub fn batch<T>(
        &mut self,
        message: &str,
        now: UnixMillis,
        f: impl FnOnce(&mut Spec) -> Result<T, EditError>,
    ) -> Result<T, EditError> {
        if self.batching {
            return f(self);
        }
        self.batching = true;
        let noted = self.journal.as_ref().map(|j| j.entries.len());
        let result = f(self);
        self.batching = false;
        match result {
            Ok(value) => {
                self.commit(message, now);
                if let Some(journal) = &mut self.journal {
                    journal.messages.push(message.to_owned());
                }
                Ok(value)
            }
            Err(e) => {
                self.doc.rollback();
                self.forget_since(noted);
                Err(e)
            }
        }
    }

    /// Applies one edit to the document and commits it as a change, or rolls it back.
    pub(crate) fn change<T>(
        &mut self,
        message: &str,
        now: UnixMillis,
        f: impl FnOnce(&mut Tx) -> Result<T, EditError>,
    ) -> Result<T, EditError> {
        let noted = self.journal.as_ref().map(|j| j.entries.len());
        let mut tx = Tx::new(&mut self.doc, self.journal.as_mut());
        let result = f(&mut tx);
        if !self.batching {
            tx.note_message(message);
            match &result {
                Ok(_) => self.commit(message, now),
                Err(_) => {
                    self.doc.rollback();
                    self.forget_since(noted);
                }
            }
        }
        result
    }

    /// Drops what the journal noted of writes that were rolled back.
    fn forget_since(&mut self, noted: Option<usize>) {
        if let (Some(journal), Some(len)) = (&mut self.journal, noted) {
            journal.entries.truncate(len);
        }
    }

    fn commit(&mut self, message: &str, now: UnixMillis) {
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(message)
                .with_time(now.as_secs()),
        );
    }
}

/// Loads Automerge bytes as a document, turning every failure into a typed error.
///
/// automerge 0.6.1 validates the checksum of every chunk, but a document chunk with a valid
/// checksum and a corrupt operation column reaches an `unreachable!` in its decoder (found
/// by `tests/hostile.rs`; crashers kept in `tests/crashers/`). Where panics unwind, that
/// panic is caught here and reported like any other corrupt input; the half-built document
/// is dropped, so no state outlives it.
pub fn load_doc(bytes: &[u8]) -> Result<AutoCommit, LoadError> {
    #[cfg(panic = "unwind")]
    {
        std::panic::catch_unwind(|| AutoCommit::load(bytes))
            .map_err(|_| {
                LoadError::NotAutomerge("the Automerge decoder rejected corrupt data".into())
            })?
            .map_err(|e| LoadError::NotAutomerge(e.to_string()))
    }
    #[cfg(not(panic = "unwind"))]
    {
        AutoCommit::load(bytes).map_err(|e| LoadError::NotAutomerge(e.to_string()))
    }
}

/// The hash of the skeleton change every spec starts with. It is the same in every spec (a
/// fixed actor, time and content, so that specs created apart merge), and so belongs to no
/// author: a server checking authorship accepts exactly this change from anyone.
pub fn skeleton_hash() -> automerge::ChangeHash {
    static HASH: std::sync::OnceLock<automerge::ChangeHash> = std::sync::OnceLock::new();
    *HASH.get_or_init(|| {
        let mut doc = skeleton();
        doc.get_heads()
            .first()
            .copied()
            .unwrap_or(automerge::ChangeHash([0; 32]))
    })
}

/// The one well-defined start of every spec (see [`SKELETON_ACTOR`]).
fn skeleton() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(SKELETON_ACTOR));
    // Writing into a fresh document cannot fail; if it ever did, the document would simply
    // lack the part and `check_is_spec` would report it.
    let _ = write_skeleton(&mut doc);
    doc.commit_with(
        CommitOptions::default()
            .with_message("create spec")
            .with_time(0),
    );
    doc
}

fn write_skeleton(doc: &mut AutoCommit) -> Result<(), automerge::AutomergeError> {
    let duet = doc.put_object(ROOT, key::DUET, ObjType::Map)?;
    doc.put(&duet, key::SCHEMA, SCHEMA_VERSION)?;
    doc.put(&duet, key::TYPE, key::TYPE_SPEC)?;
    for (name, typ) in PARTS {
        doc.put_object(ROOT, name, typ)?;
    }
    Ok(())
}

/// Checks the marker, the schema version and the root parts.
pub(crate) fn check_is_spec(doc: &impl ReadDoc) -> Result<(), LoadError> {
    let duet: ObjId = read::part(doc, key::DUET, ObjType::Map)
        .ok_or_else(|| LoadError::NotASpec("it has no `duet` marker".into()))?;
    if read::string(doc, &duet, key::TYPE) != key::TYPE_SPEC {
        return Err(LoadError::NotASpec(
            "its `duet.type` is not \"spec\"".into(),
        ));
    }
    let found = match doc.get(&duet, key::SCHEMA) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Uint(v) => *v,
            ScalarValue::Int(v) if *v >= 0 => *v as u64,
            _ => {
                return Err(LoadError::NotASpec(
                    "its schema version is not a number".into(),
                ))
            }
        },
        _ => return Err(LoadError::NotASpec("it has no schema version".into())),
    };
    if found > SCHEMA_VERSION {
        return Err(LoadError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (name, typ) in PARTS {
        if read::part(doc, name, typ).is_none() {
            return Err(LoadError::NotASpec(format!(
                "its `{name}` part is missing or not a {typ}"
            )));
        }
    }
    Ok(())
}
