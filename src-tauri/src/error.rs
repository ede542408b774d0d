//! The error every command returns: `{ code, message }` on the wire.

use serde::Serialize;
use specta::Type;
use thiserror::Error;

/// Machine-readable error codes (SCREAMING_SNAKE_CASE on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The channel name is not 1–64 characters of `A–Z a–z 0–9 _ - .`.
    InvalidChannel,
    /// The display name is too long or has control characters.
    InvalidName,
    /// The server is not a `ws://` or `wss://` URL.
    InvalidServer,
    /// The token argument is empty or too long.
    InvalidToken,
    /// A deep link that is not `tether://join/<channel>?…`.
    InvalidLink,
    /// `answer_invite` for an invitation that is no longer pending.
    NoInvite,
    /// `set_settings` got a value it cannot store.
    InvalidSettings,
    /// `join` while already in (or joining, or leaving) a channel.
    AlreadyJoined,
    /// `leave` / `retry_now` while not in a channel.
    NotJoined,
    /// The device id is not one `list_devices` reports.
    NoDevice,
    /// The build cannot do this yet (e.g. muting before the media pipeline).
    NotSupported,
    /// The built-in server could not start and no other Tether serves its port.
    EmbeddedServer,
    /// Reading or writing a file failed.
    Io,
    /// A bug or an unexpected state; the message says more.
    Internal,
}

/// A command's error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Type)]
#[error("{message}")]
pub struct IpcError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A sentence for a person.
    pub message: String,
}

impl IpcError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Result of a command.
pub type IpcResult<T> = Result<T, IpcError>;
