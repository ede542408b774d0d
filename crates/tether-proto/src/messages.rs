//! The signalling messages themselves.

use serde::{Deserialize, Serialize};

/// Which media a participant publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// An audio track is published.
    pub audio: bool,
    /// A video track is published.
    pub video: bool,
}

/// Sent by a reconnecting client that wants its old session back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeRequest {
    /// The session id the server gave in its last `welcome`.
    pub session_id: String,
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    /// The first message on every connection: join a channel, or resume a session.
    Hello {
        /// Protocol version the client speaks ([`crate::PROTOCOL_VERSION`]).
        version: u32,
        /// Channel to join.
        channel: String,
        /// The client's uid in that channel.
        uid: u32,
        /// Display name shown to others.
        #[serde(default)]
        name: String,
        /// Join token; required unless the server runs in open mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Present when the client tries to resume an earlier session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<ResumeRequest>,
    },
    /// Keepalive; the server answers with `pong`. Any frame counts as "heard
    /// from" for presence.
    Ping {
        /// Echoed back in `pong`.
        seq: u64,
    },
    /// Start (or change) publishing.
    Publish {
        /// Publish audio.
        audio: bool,
        /// Publish video.
        video: bool,
    },
    /// Stop publishing.
    Unpublish,
    /// Replace the join token before it expires.
    RenewToken {
        /// The new token (same channel and uid).
        token: String,
    },
    /// Leave the channel; the server answers with `bye` and others see `peer-leave {QUIT}`.
    Leave,
    /// Media: an SDP offer for the publisher peer connection (client sends,
    /// server receives media). Also sent for an ICE restart.
    PublisherOffer {
        /// The SDP, with all ICE candidates gathered.
        sdp: String,
    },
    /// Media: the answer to a `subscriber-offer`.
    SubscriberAnswer {
        /// The SDP, with all ICE candidates gathered.
        sdp: String,
    },
    /// Media: a trickled ICE candidate for one of the two peer connections.
    IceCandidate {
        /// Which peer connection.
        target: MediaTarget,
        /// The candidate as JSON (`RTCIceCandidateInit`).
        candidate: String,
    },
    /// Media: ask the server to renegotiate the subscriber connection with an
    /// ICE restart (after a network change or resume).
    SubscriberRestart,
    /// Mute or unmute published media; others see `mute-changed`.
    Mute {
        /// Audio muted.
        audio: bool,
        /// Video muted.
        video: bool,
    },
}

/// Which of a client's two media peer connections a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaTarget {
    /// The connection the client publishes on (client offers).
    Publisher,
    /// The connection the client receives others' media on (server offers).
    Subscriber,
}

/// Presence of a peer as the server knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PeerPresence {
    /// Connected and heard from recently.
    Online,
    /// Its connection dropped or went silent; its session is kept for resume.
    Reconnecting,
}

/// A peer in a `welcome` snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// The peer's uid.
    pub uid: u32,
    /// The peer's display name.
    pub name: String,
    /// Online or reconnecting.
    pub presence: PeerPresence,
    /// What it publishes, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<Media>,
}

/// A peer that left recently, listed in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepartedPeer {
    /// The peer.
    pub uid: u32,
    /// Why it left.
    pub reason: PeerLeaveReason,
}

/// Why a peer left (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PeerLeaveReason {
    /// It left on purpose.
    Quit,
    /// The server heard nothing from it for the peer timeout.
    ServerTimeout,
    /// It was removed by the server.
    Kicked,
}

/// Why a stream went away (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamRemovedReason {
    /// The publisher stopped publishing.
    Unpublished,
    /// No media data arrived for the no-data timeout.
    NoData,
    /// The publisher left the channel.
    PeerLeft,
}

/// Error codes the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid JSON or misses required fields.
    BadMessage,
    /// The `type` is not one this server knows.
    UnknownType,
    /// The `hello` speaks a protocol version the server does not.
    VersionMismatch,
    /// The channel name is invalid.
    InvalidChannel,
    /// The uid is invalid.
    InvalidUid,
    /// The display name is invalid.
    InvalidName,
    /// The token is missing, malformed, forged, or for another channel or uid.
    InvalidToken,
    /// The token has expired.
    TokenExpired,
    /// The token does not grant this action.
    NoPrivilege,
    /// The same uid joined the channel from another connection.
    UidConflict,
    /// The server removed this participant.
    Kicked,
    /// Too many messages; some were dropped.
    RateLimited,
    /// A message other than `hello` came before joining.
    NotJoined,
    /// A second `hello` on a joined connection.
    AlreadyJoined,
    /// The server is out of capacity.
    ServerBusy,
    /// The channel has its most participants; joining again will not help
    /// until someone leaves.
    ChannelFull,
    /// Something went wrong inside the server.
    Internal,
}

/// Messages the server sends.
///
/// Roster messages (`peer-*`, `stream-*`) are only sent to an attached
/// connection, in order. While a session is detached nothing is queued: the
/// next `welcome` carries the whole roster, and the client reconciles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum ServerMessage {
    /// Answer to `hello`: the client is in the channel.
    Welcome {
        /// Identifies the session for a later resume.
        session_id: String,
        /// True when an earlier session was resumed; false for a new session.
        resumed: bool,
        /// Everyone else in the channel right now.
        peers: Vec<PeerInfo>,
        /// Peers that left this channel recently (newest last), so a client
        /// that was away can tell why someone it knew is gone.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        departed: Vec<DepartedPeer>,
        /// What this session publishes according to the server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publishing: Option<Media>,
        /// The server keeps a silent session this long before `peer-leave {SERVER_TIMEOUT}`.
        session_timeout_ms: u64,
        /// Milliseconds until the token expires (none in open mode).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_expires_in_ms: Option<u64>,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's seq.
        seq: u64,
    },
    /// A peer joined.
    PeerOnline {
        /// The peer.
        uid: u32,
        /// Its display name.
        name: String,
    },
    /// A peer left.
    PeerLeave {
        /// The peer.
        uid: u32,
        /// Why.
        reason: PeerLeaveReason,
    },
    /// A peer's connection dropped; its session is kept for a while.
    PeerReconnecting {
        /// The peer.
        uid: u32,
    },
    /// A reconnecting peer resumed its session.
    PeerReconnected {
        /// The peer.
        uid: u32,
    },
    /// A peer published (or changed what it publishes).
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
    /// Answer to `renew-token`.
    TokenRenewed {
        /// Milliseconds until the new token expires.
        expires_in_ms: u64,
    },
    /// Answer to `leave`; the server closes the connection after it.
    Bye,
    /// The server is shutting down; reconnect (to it or its replacement).
    GoingAway,
    /// Media: the answer to a `publisher-offer`.
    PublisherAnswer {
        /// The SDP.
        sdp: String,
    },
    /// Media: an offer (or re-offer) for the subscriber peer connection,
    /// carrying one receive track per published track of the others. Track
    /// stream ids are `uid-<uid>`.
    SubscriberOffer {
        /// The SDP.
        sdp: String,
    },
    /// Media: a trickled ICE candidate from the server.
    IceCandidate {
        /// Which peer connection.
        target: MediaTarget,
        /// The candidate as JSON (`RTCIceCandidateInit`).
        candidate: String,
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
    /// Something was wrong. When `fatal`, the server closes the connection and
    /// a retry cannot help.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// The connection ends and the client must not retry.
        fatal: bool,
    },
}

impl ServerMessage {
    /// The fatal error code, if this message ends the connection for good.
    pub fn fatal_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Error {
                code, fatal: true, ..
            } => Some(*code),
            _ => None,
        }
    }
}
