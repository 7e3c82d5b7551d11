//! Fuzz target: decoding any bytes gives a message or an error, and what decodes re-encodes to an equal message.
#![no_main]

use duet_protocol::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(Message::decode(&message.encode()), Ok(message));
    }
});
