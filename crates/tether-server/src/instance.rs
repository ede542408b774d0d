//! Proof that a server on the built-in port is this user's Tether.
//!
//! The desktop app's built-in server is open mode on a fixed loopback port,
//! and a second app (same user) shares it instead of failing. Any process
//! can listen on that port first, though, another local user's included;
//! answering `welcome` proves nothing. So the app that starts the server
//! gives it a random key and keeps the key in a file only this user can
//! read; a second app sends a random challenge in the WebSocket handshake
//! ([`CHALLENGE_HEADER`]) and shares the server only if the response's
//! [`PROOF_HEADER`] is the HMAC-SHA256 of the challenge under that key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// Request header with the prober's challenge (at most [`MAX_CHALLENGE`] bytes).
pub const CHALLENGE_HEADER: &str = "x-tether-challenge";
/// Response header with the proof: lowercase hex HMAC-SHA256.
pub const PROOF_HEADER: &str = "x-tether-proof";
/// Longest challenge answered.
pub const MAX_CHALLENGE: usize = 128;

/// The proof for `challenge` under `key`.
pub fn instance_proof(key: &Secret, challenge: &str) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(challenge.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A fresh random key (256 bits from the OS's generator, as hex text so it
/// can be kept in a text file).
pub fn new_instance_key() -> Secret {
    let bytes = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    let text = bytes.iter().map(|u| hex(u.as_bytes())).collect::<String>();
    // 64 hex characters: always long enough.
    Secret::from_bytes(text.as_bytes()).unwrap_or_else(|_| unreachable!())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_differ_by_key_and_challenge() {
        let (a, b) = (new_instance_key(), new_instance_key());
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 64);
        let p = instance_proof(&a, "c1");
        assert_eq!(p.len(), 64);
        assert_eq!(p, instance_proof(&a, "c1"));
        assert_ne!(p, instance_proof(&a, "c2"));
        assert_ne!(p, instance_proof(&b, "c1"));
        // RFC 4231 test case 2 (key "Jefe"; here padded past the 16-byte
        // minimum the same way HMAC pads it: with zero bytes).
        let mut jefe = b"Jefe".to_vec();
        jefe.resize(16, 0);
        let key = Secret::from_bytes(&jefe).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            instance_proof(&key, "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
