//! Connection states, reasons and the legal-transition table (SPEC §2).

use std::time::Instant;

use serde::Serialize;

/// The client's connection state. The numeric values are the SPEC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[repr(u8)]
pub enum ConnectionState {
    /// Not in a channel; initial and final state.
    Disconnected = 1,
    /// Establishing the connection: first join or automatic reconnection.
    Connecting = 2,
    /// In the channel.
    Connected = 3,
    /// Leaving on the user's request.
    Disconnecting = 4,
}

impl ConnectionState {
    /// The SPEC's upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disconnected => "DISCONNECTED",
            Self::Connecting => "CONNECTING",
            Self::Connected => "CONNECTED",
            Self::Disconnecting => "DISCONNECTING",
        }
    }
}

/// Why the state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum StateReason {
    /// `join` was called.
    Join,
    /// The first join succeeded.
    JoinSuccess,
    /// A reconnection succeeded.
    ReconnectSuccess,
    /// The connection was lost; automatic reconnection begins.
    Interrupted,
    /// The user left.
    Leave,
    /// The first join could not reach the server in time.
    JoinFailed,
    /// Reconnection did not succeed before the give-up deadline.
    GaveUp,
    /// The token expired.
    TokenExpired,
    /// The token was refused.
    InvalidToken,
    /// The server removed this participant.
    Kicked,
    /// The same uid joined the channel elsewhere.
    UidConflict,
    /// The channel was closed.
    ChannelClosed,
    /// The server refused the join for another reason.
    ServerRejected,
}

impl StateReason {
    /// The SPEC's upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "JOIN",
            Self::JoinSuccess => "JOIN_SUCCESS",
            Self::ReconnectSuccess => "RECONNECT_SUCCESS",
            Self::Interrupted => "INTERRUPTED",
            Self::Leave => "LEAVE",
            Self::JoinFailed => "JOIN_FAILED",
            Self::GaveUp => "GAVE_UP",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::Kicked => "KICKED",
            Self::UidConflict => "UID_CONFLICT",
            Self::ChannelClosed => "CHANNEL_CLOSED",
            Self::ServerRejected => "SERVER_REJECTED",
        }
    }

    /// Reasons that end a session in `DISCONNECTED` without the user asking.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::JoinFailed
                | Self::GaveUp
                | Self::TokenExpired
                | Self::InvalidToken
                | Self::Kicked
                | Self::UidConflict
                | Self::ChannelClosed
                | Self::ServerRejected
        )
    }
}

/// What interrupted a connected session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum InterruptCause {
    /// Nothing heard from the server for the keepalive timeout.
    KeepaliveTimeout,
    /// The socket closed or errored.
    SocketClosed,
    /// The media transport failed (reported by the media layer).
    IceFailed,
    /// The OS reported a network change and the server stopped answering.
    NetworkChanged,
    /// The server announced it is going away.
    ServerRestart,
    /// The machine woke from sleep.
    SystemWake,
}

impl InterruptCause {
    /// The SPEC's upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepaliveTimeout => "KEEPALIVE_TIMEOUT",
            Self::SocketClosed => "SOCKET_CLOSED",
            Self::IceFailed => "ICE_FAILED",
            Self::NetworkChanged => "NETWORK_CHANGED",
            Self::ServerRestart => "SERVER_RESTART",
            Self::SystemWake => "SYSTEM_WAKE",
        }
    }
}

/// Whether a reconnection expects to keep the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReconnectMode {
    /// Same session: the server still holds it; others see no leave.
    Resume,
    /// New session: the server has (probably) timed the old one out.
    Rejoin,
}

impl ReconnectMode {
    /// The upper-case name used on the wire and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resume => "RESUME",
            Self::Rejoin => "REJOIN",
        }
    }
}

/// What a UI needs to explain a state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDetail {
    /// For `INTERRUPTED`: what happened.
    pub cause: Option<InterruptCause>,
    /// While reconnecting: the attempt number (from 1); on success, the attempt that made it.
    pub attempt: Option<u32>,
    /// While reconnecting: resume or rejoin; on `RECONNECT_SUCCESS`, which one it turned out to be.
    pub mode: Option<ReconnectMode>,
    /// While reconnecting: when the next attempt starts.
    pub next_attempt_at: Option<Instant>,
    /// While reconnecting: when the client gives up.
    pub give_up_at: Option<Instant>,
    /// For failures: the server's explanation.
    pub message: Option<String>,
}

/// The SPEC §2 table. `CONNECTING -> CONNECTING` is never emitted.
pub fn is_legal_transition(
    from: ConnectionState,
    to: ConnectionState,
    reason: StateReason,
) -> bool {
    use ConnectionState::*;
    use StateReason as R;
    match (from, to) {
        (Disconnected, Connecting) => reason == R::Join,
        (Connecting, Connected) => matches!(reason, R::JoinSuccess | R::ReconnectSuccess),
        (Connected, Connecting) => reason == R::Interrupted,
        (Connected | Connecting, Disconnecting) => reason == R::Leave,
        (Disconnecting, Disconnected) => reason == R::Leave,
        (Connecting | Connected, Disconnected) => reason.is_failure(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionState::*;

    #[test]
    fn numeric_values_are_the_spec_ones() {
        assert_eq!(Disconnected as u8, 1);
        assert_eq!(Connecting as u8, 2);
        assert_eq!(Connected as u8, 3);
        assert_eq!(Disconnecting as u8, 4);
    }

    #[test]
    fn table() {
        assert!(is_legal_transition(
            Disconnected,
            Connecting,
            StateReason::Join
        ));
        assert!(!is_legal_transition(
            Disconnected,
            Connected,
            StateReason::JoinSuccess
        ));
        assert!(!is_legal_transition(
            Connecting,
            Connecting,
            StateReason::Interrupted
        ));
        assert!(is_legal_transition(
            Connected,
            Connecting,
            StateReason::Interrupted
        ));
        assert!(!is_legal_transition(
            Connected,
            Connecting,
            StateReason::Join
        ));
        assert!(is_legal_transition(
            Connecting,
            Disconnected,
            StateReason::GaveUp
        ));
        assert!(!is_legal_transition(
            Connecting,
            Disconnected,
            StateReason::Leave
        ));
        assert!(!is_legal_transition(
            Disconnecting,
            Connecting,
            StateReason::Join
        ));
        assert!(is_legal_transition(
            Disconnecting,
            Disconnected,
            StateReason::Leave
        ));
        assert!(!is_legal_transition(
            Disconnecting,
            Disconnected,
            StateReason::GaveUp
        ));
    }
}
