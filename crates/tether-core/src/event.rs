//! What the session tells its user (SPEC §4).

use std::time::Instant;

use serde::Serialize;

use tether_proto::{PeerLeaveReason, StreamRemovedReason};

use crate::{ConnectionState, ReconnectMode, StateDetail, StateReason};

/// How a `connected` came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectMode {
    /// The first join.
    Join,
    /// A reconnection that kept the session.
    Resume,
    /// A reconnection that started a new session.
    Rejoin,
}

impl ConnectMode {
    /// Upper-case name for JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "JOIN",
            Self::Resume => "RESUME",
            Self::Rejoin => "REJOIN",
        }
    }
}

/// Events, emitted once each and in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The connection state really changed.
    ConnectionStateChanged {
        /// State before.
        prev: ConnectionState,
        /// State now.
        cur: ConnectionState,
        /// Why.
        reason: StateReason,
        /// What a UI needs to explain it.
        detail: StateDetail,
    },
    /// The session is established (after the state change to `CONNECTED`).
    Connected {
        /// Join, resume or rejoin.
        mode: ConnectMode,
        /// The server's session id.
        session_id: String,
    },
    /// A reconnection attempt starts.
    ReconnectAttempt {
        /// Attempt number, from 1.
        attempt: u32,
        /// What this attempt expects to be.
        mode: ReconnectMode,
        /// When the following attempt starts if this one does not succeed.
        next_at: Instant,
        /// When reconnection gives up.
        give_up_at: Instant,
    },
    /// A peer is in the channel.
    PeerOnline {
        /// Its uid.
        uid: u32,
        /// Its display name.
        name: String,
    },
    /// A peer left.
    PeerLeave {
        /// Its uid.
        uid: u32,
        /// Why.
        reason: PeerLeaveReason,
    },
    /// A peer's connection dropped; the server keeps its session for now.
    PeerReconnecting {
        /// Its uid.
        uid: u32,
    },
    /// A reconnecting peer resumed.
    PeerReconnected {
        /// Its uid.
        uid: u32,
    },
    /// A peer publishes (or changed what it publishes).
    StreamAdded {
        /// The publisher.
        uid: u32,
        /// Audio published.
        audio: bool,
        /// Video published.
        video: bool,
    },
    /// A peer's stream went away.
    StreamRemoved {
        /// The publisher.
        uid: u32,
        /// Why.
        reason: StreamRemovedReason,
    },
    /// The subscription to a peer's stream is set up (media will be decoded).
    StreamSubscribed {
        /// The publisher.
        uid: u32,
    },
    /// A peer muted or unmuted.
    MuteChanged {
        /// The peer.
        uid: u32,
        /// Audio muted.
        audio: bool,
        /// Video muted.
        video: bool,
    },
    /// The token expires soon; renew it.
    TokenPrivilegeWillExpire {
        /// When it expires.
        expires_at: Instant,
    },
    /// The token has expired.
    TokenPrivilegeDidExpire,
    /// Something recoverable went wrong.
    Exception {
        /// Machine-readable code.
        code: String,
        /// Explanation.
        message: String,
    },
}
