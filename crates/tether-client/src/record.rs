//! The serialisable shape of events: one JSON object per event with `ts`
//! (Unix ms), `event` (the SPEC §4 name) and camelCase payload fields.

use serde::Serialize;

use tether_core::{
    ConnectMode, ConnectionState, InterruptCause, ReconnectMode, SessionEvent, StateDetail,
    StateReason,
};
use tether_proto::{PeerLeaveReason, StreamRemovedReason};

use crate::clock::WallClock;
use crate::media::MediaKind;

/// One event with its time.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
// `Record` is a TypeScript built-in type; the bindings call it `EventLine`.
#[cfg_attr(feature = "specta", serde(rename = "EventLine"))]
pub struct Record {
    /// Unix milliseconds when the event was emitted.
    pub ts: u64,
    /// The event.
    #[serde(flatten)]
    pub event: EventRecord,
}

/// `detail` of a state change, with instants as Unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct DetailRecord {
    /// What interrupted the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<InterruptCause>,
    /// Reconnect attempt number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Resume or rejoin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ReconnectMode>,
    /// When the next attempt starts (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_at: Option<u64>,
    /// When reconnection gives up (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub give_up_at: Option<u64>,
    /// The server's explanation of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One entry of `volume-indicator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct LevelRecord {
    /// Publisher.
    pub uid: u32,
    /// 0–100.
    pub level: u8,
}

/// Every event, named as in SPEC §4.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "event",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum EventRecord {
    /// The connection state changed.
    ConnectionStateChange {
        /// Before.
        prev_state: ConnectionState,
        /// Now.
        cur_state: ConnectionState,
        /// Why.
        reason: StateReason,
        /// Explanation for a UI.
        detail: DetailRecord,
    },
    /// In the channel.
    Connected {
        /// Join, resume or rejoin.
        mode: ConnectMode,
        /// Server session id.
        session_id: String,
    },
    /// A reconnect attempt starts.
    ReconnectAttempt {
        /// Attempt number.
        attempt: u32,
        /// Resume or rejoin.
        mode: ReconnectMode,
        /// When the next one starts (Unix ms).
        next_at: u64,
        /// When the client gives up (Unix ms).
        give_up_at: u64,
    },
    /// A peer is in the channel.
    PeerOnline {
        /// Uid.
        uid: u32,
        /// Display name.
        name: String,
    },
    /// A peer left.
    PeerLeave {
        /// Uid.
        uid: u32,
        /// Why.
        reason: PeerLeaveReason,
    },
    /// A peer is reconnecting.
    PeerReconnecting {
        /// Uid.
        uid: u32,
    },
    /// A peer is back.
    PeerReconnected {
        /// Uid.
        uid: u32,
    },
    /// A peer publishes.
    StreamAdded {
        /// Uid.
        uid: u32,
        /// Audio.
        audio: bool,
        /// Video.
        video: bool,
    },
    /// A peer's stream is gone.
    StreamRemoved {
        /// Uid.
        uid: u32,
        /// Why.
        reason: StreamRemovedReason,
    },
    /// The subscription to a peer's stream is set up.
    StreamSubscribed {
        /// Uid.
        uid: u32,
    },
    /// A peer muted or unmuted.
    MuteChanged {
        /// Uid.
        uid: u32,
        /// Audio muted.
        audio: bool,
        /// Video muted.
        video: bool,
    },
    /// The token expires in 30 s.
    TokenPrivilegeWillExpire {
        /// When (Unix ms).
        expires_at: u64,
    },
    /// The token expired.
    TokenPrivilegeDidExpire {},
    /// Receive statistics of one remote stream, every second.
    MediaStats {
        /// Publisher.
        uid: u32,
        /// Audio or video.
        kind: MediaKind,
        /// Frames decoded so far (audio: 20 ms frames played).
        frames_decoded: u64,
        /// Frames per second over the last second.
        fps: f64,
        /// RTP packets lost so far.
        packets_lost: u64,
        /// Mean capture → decode latency over the last second (stamped video).
        #[serde(skip_serializing_if = "Option::is_none")]
        e2e_latency_ms: Option<f64>,
        /// Highest stamped frame number decoded (synthetic video).
        #[serde(skip_serializing_if = "Option::is_none")]
        last_frame_no: Option<u64>,
        /// Stamped frame numbers never decoded so far.
        #[serde(skip_serializing_if = "Option::is_none")]
        frames_missing: Option<u64>,
        /// Peak level 0–100 over the last second (audio).
        #[serde(skip_serializing_if = "Option::is_none")]
        audio_level: Option<u8>,
    },
    /// Audio levels of everyone heard, every 250 ms.
    VolumeIndicator {
        /// One level per remote publisher.
        levels: Vec<LevelRecord>,
    },
    /// Connection quality 0 (unknown) – 6 (down), every 2 s: per remote
    /// peer (`uid`) and for the local client (`uid` null).
    NetworkQuality {
        /// The peer, or null for the local client.
        uid: Option<u32>,
        /// Sending quality (0 until sender-side statistics exist).
        uplink: u8,
        /// Receiving quality.
        downlink: u8,
    },
    /// A recoverable problem.
    Exception {
        /// Code.
        code: String,
        /// Explanation.
        message: String,
    },
}

impl EventRecord {
    pub(crate) fn from_event(event: &SessionEvent, clock: WallClock) -> Option<Self> {
        let ms = |t| clock.to_unix_ms(t);
        Some(match event {
            SessionEvent::ConnectionStateChanged {
                prev,
                cur,
                reason,
                detail,
            } => Self::ConnectionStateChange {
                prev_state: *prev,
                cur_state: *cur,
                reason: *reason,
                detail: detail_record(detail, clock),
            },
            SessionEvent::Connected { mode, session_id } => Self::Connected {
                mode: *mode,
                session_id: session_id.clone(),
            },
            SessionEvent::ReconnectAttempt {
                attempt,
                mode,
                next_at,
                give_up_at,
            } => Self::ReconnectAttempt {
                attempt: *attempt,
                mode: *mode,
                next_at: ms(*next_at),
                give_up_at: ms(*give_up_at),
            },
            SessionEvent::PeerOnline { uid, name } => Self::PeerOnline {
                uid: *uid,
                name: name.clone(),
            },
            SessionEvent::PeerLeave { uid, reason } => Self::PeerLeave {
                uid: *uid,
                reason: *reason,
            },
            SessionEvent::PeerReconnecting { uid } => Self::PeerReconnecting { uid: *uid },
            SessionEvent::PeerReconnected { uid } => Self::PeerReconnected { uid: *uid },
            SessionEvent::StreamAdded { uid, audio, video } => Self::StreamAdded {
                uid: *uid,
                audio: *audio,
                video: *video,
            },
            SessionEvent::StreamRemoved { uid, reason } => Self::StreamRemoved {
                uid: *uid,
                reason: *reason,
            },
            SessionEvent::StreamSubscribed { uid } => Self::StreamSubscribed { uid: *uid },
            SessionEvent::MuteChanged { uid, audio, video } => Self::MuteChanged {
                uid: *uid,
                audio: *audio,
                video: *video,
            },
            SessionEvent::TokenPrivilegeWillExpire { expires_at } => {
                Self::TokenPrivilegeWillExpire {
                    expires_at: ms(*expires_at),
                }
            }
            SessionEvent::TokenPrivilegeDidExpire => Self::TokenPrivilegeDidExpire {},
            SessionEvent::Exception { code, message } => Self::Exception {
                code: code.clone(),
                message: message.clone(),
            },
            _ => return None,
        })
    }
}

fn detail_record(d: &StateDetail, clock: WallClock) -> DetailRecord {
    DetailRecord {
        cause: d.cause,
        attempt: d.attempt,
        mode: d.mode,
        next_at: d.next_attempt_at.map(|t| clock.to_unix_ms(t)),
        give_up_at: d.give_up_at.map(|t| clock.to_unix_ms(t)),
        message: d.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_the_cli_contract() {
        let record = Record {
            ts: 1_764_245_123_456,
            event: EventRecord::ConnectionStateChange {
                prev_state: ConnectionState::Connected,
                cur_state: ConnectionState::Connecting,
                reason: StateReason::Interrupted,
                detail: DetailRecord {
                    cause: Some(InterruptCause::KeepaliveTimeout),
                    ..DetailRecord::default()
                },
            },
        };
        assert_eq!(
            serde_json::to_string(&record).ok(),
            Some(
                r#"{"ts":1764245123456,"event":"connection-state-change","prevState":"CONNECTED","curState":"CONNECTING","reason":"INTERRUPTED","detail":{"cause":"KEEPALIVE_TIMEOUT"}}"#
                    .to_owned()
            )
        );
        let record = Record {
            ts: 1,
            event: EventRecord::PeerLeave {
                uid: 1,
                reason: PeerLeaveReason::ServerTimeout,
            },
        };
        assert_eq!(
            serde_json::to_string(&record).ok(),
            Some(r#"{"ts":1,"event":"peer-leave","uid":1,"reason":"SERVER_TIMEOUT"}"#.to_owned())
        );
    }
}
