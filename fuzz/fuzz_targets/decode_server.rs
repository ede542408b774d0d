//! `decode_server` (what a client reads off the socket) on arbitrary frames:
//! never panics, and whatever it accepts survives an encode/decode round trip
//! unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_proto::{decode_server, encode};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match decode_server(&text) {
        Ok(msg) => {
            let again = encode(&msg);
            assert_eq!(decode_server(&again).as_ref(), Ok(&msg), "{again}");
        }
        Err(e) => {
            // Every refusal maps to a wire error code and a printable reason.
            let _ = (e.code(), e.to_string());
        }
    }
});
