//! Fuzz target: a websocket frame decoded (and re-encoded) (see `duet_server::fuzzing::protocol_message`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: duet_server::fuzzing::quiet_caught_panics(),
    |data: &[u8]| duet_server::fuzzing::protocol_message(data)
);
