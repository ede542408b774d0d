//! Validation rules shared by client and server.

use thiserror::Error;

/// Why a channel name, uid or display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// Channel names are 1–64 characters of `A–Z a–z 0–9 _ - .`.
    #[error("invalid channel name {0:?}: use 1-64 characters from A-Z, a-z, 0-9, '_', '-', '.'")]
    Channel(String),
    /// Uids are 1 ..= 4294967294.
    #[error("invalid uid {0}: use a number from 1 to 4294967294")]
    Uid(u32),
    /// Display names are at most 64 characters, without control characters.
    #[error("invalid display name: {0}")]
    Name(&'static str),
}

/// Longest channel name, in characters.
pub const MAX_CHANNEL_LEN: usize = 64;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Check a channel name.
pub fn validate_channel(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CHANNEL_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::Channel(name.chars().take(80).collect()))
    }
}

/// Check a uid. 0 and `u32::MAX` are reserved.
pub fn validate_uid(uid: u32) -> Result<(), ValidationError> {
    if uid == 0 || uid == u32::MAX {
        Err(ValidationError::Uid(uid))
    } else {
        Ok(())
    }
}

/// Check a display name (may be empty; the UI then shows the uid).
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ValidationError::Name("longer than 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::Name("contains control characters"));
    }
    if name.chars().any(is_hidden) {
        return Err(ValidationError::Name(
            "contains invisible or text-direction characters",
        ));
    }
    Ok(())
}

/// Characters that draw nothing or reorder the text around them: in a
/// display name they let one participant pass for another (a right-to-left
/// override turns "Ann\u{202e}nib.exe" around; zero-width spaces make
/// "Ann" and "A\u{200b}nn" look the same). The UI's validator refuses the
/// same set.
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{061c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        for good in ["a", "demo", "Team_1.standup-2", &"x".repeat(64)] {
            assert_eq!(validate_channel(good), Ok(()), "{good}");
        }
        for bad in ["", "has space", "ümlaut", "a/b", &"x".repeat(65), "\n"] {
            assert!(validate_channel(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uids() {
        assert!(validate_uid(0).is_err());
        assert!(validate_uid(u32::MAX).is_err());
        assert!(validate_uid(1).is_ok());
        assert!(validate_uid(u32::MAX - 1).is_ok());
    }

    #[test]
    fn names() {
        assert!(validate_name("").is_ok());
        assert!(validate_name("Zoë 🎧").is_ok());
        assert!(validate_name(&"é".repeat(64)).is_ok());
        assert!(validate_name(&"é".repeat(65)).is_err());
        assert!(validate_name("a\u{7}b").is_err());
        for hidden in [
            "Ann\u{202e}eve",
            "A\u{200b}nn",
            "\u{feff}Ann",
            "x\u{2066}y",
            "a\u{61c}",
        ] {
            assert!(validate_name(hidden).is_err(), "{hidden:?}");
        }
        assert!(validate_name("Zoë 李 עברית").is_ok());
    }
}
