//! Reading a document as it was at some heads: the lenient readers and the typed view are written against [`Read`], which a live document and [`At`] both implement.

use std::ops::RangeFull;

use automerge::iter::{Keys, ListRange, MapRange};
use automerge::{AutomergeError, ChangeHash, Cursor, ObjId, Prop, ReadDoc, Value};

use crate::view::{view_with, SpecView};

/// The reads the model makes. Named apart from `ReadDoc`'s methods so both can be in scope.
pub(crate) trait Read {
    fn value<P: Into<Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError>;
    fn entries(&self, obj: &ObjId) -> MapRange<'_, RangeFull>;
    fn elements(&self, obj: &ObjId) -> ListRange<'_, RangeFull>;
    fn key_list(&self, obj: &ObjId) -> Keys<'_>;
    fn text_of(&self, obj: &ObjId) -> Result<String, AutomergeError>;
    fn cursor_at(&self, obj: &ObjId, position: usize) -> Result<Cursor, AutomergeError>;
    fn cursor_position(&self, obj: &ObjId, cursor: &Cursor) -> Result<usize, AutomergeError>;
}

impl<D: ReadDoc> Read for D {
    fn value<P: Into<Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError> {
        self.get(obj, prop)
    }
    fn entries(&self, obj: &ObjId) -> MapRange<'_, RangeFull> {
        self.map_range(obj, ..)
    }
    fn elements(&self, obj: &ObjId) -> ListRange<'_, RangeFull> {
        self.list_range(obj, ..)
    }
    fn key_list(&self, obj: &ObjId) -> Keys<'_> {
        self.keys(obj)
    }
    fn text_of(&self, obj: &ObjId) -> Result<String, AutomergeError> {
        self.text(obj)
    }
    fn cursor_at(&self, obj: &ObjId, position: usize) -> Result<Cursor, AutomergeError> {
        self.get_cursor(obj, position, None)
    }
    fn cursor_position(&self, obj: &ObjId, cursor: &Cursor) -> Result<usize, AutomergeError> {
        self.get_cursor_position(obj, cursor, None)
    }
}

/// `doc` as it was at `heads`. Build it with [`At::new`], which checks the heads.
#[derive(Debug)]
pub struct At<'a, D: ReadDoc> {
    doc: &'a D,
    heads: Vec<ChangeHash>,
}

impl<'a, D: ReadDoc> At<'a, D> {
    /// `None` when a head is not a change of `doc`: untrusted heads never reach automerge.
    pub fn new(doc: &'a D, heads: &[ChangeHash]) -> Option<At<'a, D>> {
        heads
            .iter()
            .all(|h| doc.get_change_by_hash(h).is_some())
            .then(|| At {
                doc,
                heads: heads.to_vec(),
            })
    }
}

impl<D: ReadDoc> Read for At<'_, D> {
    fn value<P: Into<Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError> {
        self.doc.get_at(obj, prop, &self.heads)
    }
    fn entries(&self, obj: &ObjId) -> MapRange<'_, RangeFull> {
        self.doc.map_range_at(obj, .., &self.heads)
    }
    fn elements(&self, obj: &ObjId) -> ListRange<'_, RangeFull> {
        self.doc.list_range_at(obj, .., &self.heads)
    }
    fn key_list(&self, obj: &ObjId) -> Keys<'_> {
        self.doc.keys_at(obj, &self.heads)
    }
    fn text_of(&self, obj: &ObjId) -> Result<String, AutomergeError> {
        self.doc.text_at(obj, &self.heads)
    }
    fn cursor_at(&self, obj: &ObjId, position: usize) -> Result<Cursor, AutomergeError> {
        self.doc.get_cursor(obj, position, Some(&self.heads))
    }
    fn cursor_position(&self, obj: &ObjId, cursor: &Cursor) -> Result<usize, AutomergeError> {
        self.doc.get_cursor_position(obj, cursor, Some(&self.heads))
    }
}

/// The spec as it was at `heads`; `None` when a head is not a change of `doc`.
pub fn view_at(doc: &impl ReadDoc, heads: &[ChangeHash]) -> Option<SpecView> {
    At::new(doc, heads).map(|at| view_with(&at))
}
