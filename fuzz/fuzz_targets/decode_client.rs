//! `decode_client` on arbitrary frames: never panics, and whatever it accepts
//! survives an encode/decode round trip unchanged (the server re-reads what
//! it logs and the client encodes what the server decodes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_proto::{decode_client, encode};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match decode_client(&text) {
        Ok(msg) => {
            let again = encode(&msg);
            assert_eq!(decode_client(&again).as_ref(), Ok(&msg), "{again}");
        }
        Err(e) => {
            // Every refusal maps to a wire error code and a printable reason.
            let _ = (e.code(), e.to_string());
        }
    }
});
