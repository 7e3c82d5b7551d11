mod document;
pub(crate) use document::save_document;
