//! Channel name, uid and display-name validation against the rules as
//! written (SPEC §5, tether-proto docs), plus the promise that a token for one
//! channel or uid never admits another.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tether_core::SessionConfig;
use tether_proto::{validate_channel, validate_name, validate_uid};
use tether_server::{issue_token, verify_token, AuthError, Secret};

fn secret() -> &'static Secret {
    static S: OnceLock<Secret> = OnceLock::new();
    S.get_or_init(|| Secret::from_bytes(b"fuzzing-secret-0123456789abcdef").expect("long enough"))
}

fn channel_rule(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn name_rule(s: &str) -> bool {
    s.chars().count() <= 64
        && !s.chars().any(|c| {
            c.is_control()
                || matches!(c as u32, 0x61c | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xfeff)
        })
}

fuzz_target!(|input: (u32, String, String, u32, String)| {
    let (uid, channel, name, other_uid, other_channel) = input;
    let channel_ok = channel_rule(&channel);
    let uid_ok = uid != 0 && uid != u32::MAX;
    assert_eq!(
        validate_channel(&channel).is_ok(),
        channel_ok,
        "{channel:?}"
    );
    assert_eq!(validate_uid(uid).is_ok(), uid_ok, "{uid}");
    assert_eq!(validate_name(&name).is_ok(), name_rule(&name), "{name:?}");
    // The client validates its identity the same way the server does.
    assert_eq!(
        SessionConfig::new(&channel, uid, &name).is_ok(),
        channel_ok && uid_ok && name_rule(&name)
    );
    // Errors render (they quote the offending input, truncated).
    if let Err(e) = validate_channel(&channel) {
        assert!(e.to_string().len() < 600);
    }
    let issued = issue_token(secret(), &channel, uid, Duration::from_secs(60), true);
    assert_eq!(issued.is_ok(), channel_ok && uid_ok);
    if let Ok(token) = issued {
        assert!(verify_token(secret(), &token, &channel, uid).is_ok());
        let other = verify_token(secret(), &token, &other_channel, other_uid);
        if other_channel != channel {
            assert!(
                matches!(other, Err(AuthError::WrongChannel { .. })),
                "{other:?}"
            );
        } else if other_uid != uid {
            assert!(
                matches!(other, Err(AuthError::WrongUid { .. })),
                "{other:?}"
            );
        } else {
            assert!(other.is_ok());
        }
    }
});
