//! Fuzz target: a request's token, session cookie and share link checked (see `duet_server::fuzzing::credentials`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: duet_server::fuzzing::quiet_caught_panics(),
    |data: &[u8]| duet_server::fuzzing::credentials(data)
);
