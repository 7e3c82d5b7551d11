//! Fuzz target: stored chunks loaded into a document, its history and its Markdown (see `duet_server::fuzzing::stored_chunks`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: duet_server::fuzzing::quiet_caught_panics(),
    |data: &[u8]| duet_server::fuzzing::stored_chunks(data)
);
