//! Fuzz target: a sync message received into a document by its engine (see `duet_server::fuzzing::sync_message`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: duet_server::fuzzing::quiet_caught_panics(),
    |data: &[u8]| duet_server::fuzzing::sync_message(data)
);
