//! The server's token verifier (`tether_server::verify_token`, the same code
//! that checks `hello`) on hostile tokens. Three shapes, chosen by the first
//! byte:
//! 0. an arbitrary string: must never be accepted (it is not signed);
//! 1. arbitrary claims bytes, correctly signed (HS256 with the server's
//!    secret): accepted only if they are well-formed claims for exactly the
//!    channel and uid asked for, with the join privilege, not expired;
//! 2. an arbitrary header with valid claims, signed over whatever header was
//!    given: accepted only with `alg` HS256 (no `none`, no algorithm confusion).
#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use tether_proto::TokenClaims;
use tether_server::{verify_token, Secret};

const CHANNEL: &str = "demo";
const UID: u32 = 7;

fn secret() -> &'static Secret {
    static S: OnceLock<Secret> = OnceLock::new();
    S.get_or_init(|| Secret::from_bytes(b"fuzzing-secret-0123456789abcdef").expect("long enough"))
}

fn signed(header: &[u8], payload: &[u8]) -> String {
    let msg = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_secret(secret().as_bytes());
    let sig = jsonwebtoken::crypto::sign(msg.as_bytes(), &key, Algorithm::HS256).expect("hmac");
    format!("{msg}.{sig}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let token = String::from_utf8_lossy(rest);
            let verdict = verify_token(secret(), &token, CHANNEL, UID);
            assert!(verdict.is_err(), "unsigned input accepted: {token:?}");
        }
        1 => {
            let token = signed(br#"{"alg":"HS256","typ":"JWT"}"#, rest);
            if verify_token(secret(), &token, CHANNEL, UID).is_ok() {
                let claims: TokenClaims = serde_json::from_slice(rest)
                    .unwrap_or_else(|e| panic!("accepted claims that do not parse ({e}): {rest:?}"));
                assert_eq!(claims.channel, CHANNEL);
                assert_eq!(claims.uid, UID);
                assert!(claims.privileges.join);
                assert!(claims.exp >= now(), "expired claims accepted");
            }
        }
        _ => {
            let claims = serde_json::json!({
                "channel": CHANNEL, "uid": UID,
                "privileges": {"join": true, "publish": true},
                "iat": now(), "exp": now() + 600,
            });
            let payload = serde_json::to_vec(&claims).expect("json");
            let token = signed(rest, &payload);
            if verify_token(secret(), &token, CHANNEL, UID).is_ok() {
                let header: serde_json::Value = serde_json::from_slice(rest)
                    .unwrap_or_else(|e| panic!("accepted a header that does not parse ({e})"));
                assert_eq!(header["alg"], "HS256", "accepted header {header}");
            }
        }
    }
});
