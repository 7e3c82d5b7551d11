//! The Duet sync server. Not built yet: today this crate only links the spec model, so the
//! workspace already has the shape the server will fill (websockets, storage, REST).

pub use duet_model;
