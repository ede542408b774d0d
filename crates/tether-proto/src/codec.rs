//! Decoding frames with errors that say what was wrong.

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

use crate::{ClientMessage, ErrorCode, ServerMessage};

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Not JSON, or not a JSON object with a string `type`.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A `type` this side does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known `type` with missing or wrongly typed fields.
    #[error("invalid {kind:?} message: {message}")]
    InvalidFields {
        /// The message type.
        kind: String,
        /// What serde said.
        message: String,
    },
}

impl DecodeError {
    /// The error code the server answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnknownType(_) => ErrorCode::UnknownType,
            Self::Malformed(_) | Self::InvalidFields { .. } => ErrorCode::BadMessage,
        }
    }
}

const CLIENT_TYPES: &[&str] = &[
    "hello",
    "ping",
    "publish",
    "unpublish",
    "renew-token",
    "leave",
    "publisher-offer",
    "subscriber-answer",
    "ice-candidate",
    "subscriber-restart",
    "mute",
];

const SERVER_TYPES: &[&str] = &[
    "welcome",
    "pong",
    "peer-online",
    "peer-leave",
    "peer-reconnecting",
    "peer-reconnected",
    "stream-added",
    "stream-removed",
    "token-renewed",
    "bye",
    "going-away",
    "error",
    "publisher-answer",
    "subscriber-offer",
    "ice-candidate",
    "mute-changed",
];

/// Most characters of a client's `type` repeated in an error.
pub const MAX_ECHOED_TYPE_CHARS: usize = 32;
/// Most characters of a parser's message in an error (serde quotes the
/// offending value, which can be most of a 64 KiB frame).
pub const MAX_ERROR_DETAIL_CHARS: usize = 160;

/// The first `max` characters of `s`, with "…" when cut: input repeated in
/// an answer stays small whatever was sent.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

fn decode<T: DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, DecodeError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| DecodeError::Malformed(clip(&e.to_string(), MAX_ERROR_DETAIL_CHARS)))?;
    let kind = match value.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => return Err(DecodeError::Malformed("`type` is not a string".into())),
        None if value.is_object() => {
            return Err(DecodeError::Malformed("missing `type` field".into()))
        }
        None => return Err(DecodeError::Malformed("not a JSON object".into())),
    };
    if !known.contains(&kind.as_str()) {
        return Err(DecodeError::UnknownType(clip(&kind, MAX_ECHOED_TYPE_CHARS)));
    }
    serde_json::from_value(value).map_err(|e| DecodeError::InvalidFields {
        kind,
        message: clip(&e.to_string(), MAX_ERROR_DETAIL_CHARS),
    })
}

/// Decode a frame a client sent.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    decode(text, CLIENT_TYPES)
}

/// Decode a frame the server sent.
pub fn decode_server(text: &str) -> Result<ServerMessage, DecodeError> {
    decode(text, SERVER_TYPES)
}

/// Encode any message as a JSON text frame.
pub fn encode<T: Serialize>(msg: &T) -> String {
    // Serialising these plain data types cannot fail: no maps with non-string
    // keys, no custom Serialize impls that error.
    serde_json::to_string(msg).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","code":"INTERNAL","message":"encode: {e}","fatal":false}}"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DepartedPeer, Media, PeerInfo, PeerLeaveReason, PeerPresence, ResumeRequest};

    #[test]
    fn client_messages_round_trip() {
        let msgs = vec![
            ClientMessage::Hello {
                version: 1,
                channel: "demo".into(),
                uid: 7,
                name: "Ann".into(),
                token: Some("t".into()),
                resume: Some(ResumeRequest {
                    session_id: "s".into(),
                }),
            },
            ClientMessage::Ping { seq: 1 },
            ClientMessage::Publish {
                audio: true,
                video: false,
            },
            ClientMessage::Unpublish,
            ClientMessage::RenewToken { token: "x".into() },
            ClientMessage::Leave,
            ClientMessage::PublisherOffer { sdp: "v=0".into() },
            ClientMessage::SubscriberAnswer { sdp: "v=0".into() },
            ClientMessage::IceCandidate {
                target: crate::MediaTarget::Subscriber,
                candidate: "{}".into(),
            },
            ClientMessage::SubscriberRestart,
            ClientMessage::Mute {
                audio: true,
                video: false,
            },
        ];
        for msg in msgs {
            let text = encode(&msg);
            assert_eq!(decode_client(&text), Ok(msg), "{text}");
        }
    }

    #[test]
    fn server_messages_round_trip() {
        let msgs = vec![
            ServerMessage::Welcome {
                session_id: "abc".into(),
                resumed: false,
                peers: vec![PeerInfo {
                    uid: 2,
                    name: "Bo".into(),
                    presence: PeerPresence::Reconnecting,
                    stream: Some(Media {
                        audio: true,
                        video: true,
                    }),
                }],
                departed: vec![DepartedPeer {
                    uid: 3,
                    reason: PeerLeaveReason::Quit,
                }],
                publishing: None,
                session_timeout_ms: 10_000,
                token_expires_in_ms: Some(5),
            },
            ServerMessage::PeerLeave {
                uid: 2,
                reason: PeerLeaveReason::ServerTimeout,
            },
            ServerMessage::GoingAway,
            ServerMessage::SubscriberOffer { sdp: "v=0".into() },
            ServerMessage::MuteChanged {
                uid: 4,
                audio: false,
                video: true,
            },
            ServerMessage::Error {
                code: ErrorCode::UidConflict,
                message: "m".into(),
                fatal: true,
            },
        ];
        for msg in msgs {
            let text = encode(&msg);
            assert_eq!(decode_server(&text), Ok(msg), "{text}");
        }
    }

    #[test]
    fn wire_names_are_kebab_and_camel_case() {
        let text = encode(&ServerMessage::PeerLeave {
            uid: 1,
            reason: PeerLeaveReason::ServerTimeout,
        });
        assert_eq!(
            text,
            r#"{"type":"peer-leave","uid":1,"reason":"SERVER_TIMEOUT"}"#
        );
        let text = encode(&ClientMessage::RenewToken { token: "t".into() });
        assert_eq!(text, r#"{"type":"renew-token","token":"t"}"#);
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        assert!(matches!(decode_client("{"), Err(DecodeError::Malformed(_))));
        assert!(matches!(
            decode_client("[1]"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode_client(r#"{"type":3}"#),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(
            decode_client(r#"{"type":"dance"}"#),
            Err(DecodeError::UnknownType("dance".into()))
        );
        let err = decode_client(r#"{"type":"ping"}"#).expect_err("seq is required");
        assert_eq!(err.code(), ErrorCode::BadMessage);
        assert!(err.to_string().contains("seq"), "{err}");
    }

    #[test]
    fn errors_repeat_little_of_a_large_frame() {
        let long = "x".repeat(60_000);
        for frame in [
            format!(r#"{{"type":"{long}"}}"#),
            format!(r#"{{"type":"ping","seq":"{long}"}}"#),
            format!(r#"{{"type":"ping","seq":1,"x":"{long}"#),
        ] {
            let err = decode_client(&frame).expect_err("not a valid message");
            let said = err.to_string();
            assert!(said.chars().count() < 220, "{} chars", said.len());
        }
        let cut = decode_client(&format!(r#"{{"type":"{long}"}}"#));
        assert_eq!(
            cut,
            Err(DecodeError::UnknownType(format!("{}…", &long[..32])))
        );
    }
}
