//! The session's inputs and outputs.

use std::time::Instant;

use thiserror::Error;

use tether_proto::{ClientMessage, Media, ServerMessage};

use crate::{ConnectionState, InterruptCause, SessionEvent};

/// Identifies one transport connection (one WebSocket) the session asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Everything that can happen to a session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// The user joins the channel.
    Join,
    /// The user leaves.
    Leave,
    /// The user publishes (kept across reconnects and re-sent after a rejoin).
    Publish(Media),
    /// The user stops publishing.
    Unpublish,
    /// The user asks to retry now instead of waiting for the next attempt.
    RetryNow,
    /// A fresh token (same channel and uid).
    RenewToken(String),
    /// The OS reported a network change (link or address).
    NetworkChanged,
    /// Another layer saw the connection die (e.g. the media transport failed).
    Interrupt {
        /// What it saw.
        cause: InterruptCause,
    },
    /// Media packets from `uid` arrived (report at most every ~100 ms).
    MediaActivity {
        /// The publisher.
        uid: u32,
    },
    /// The media layer set up the subscription to `uid`'s stream.
    StreamSubscribed {
        /// The publisher.
        uid: u32,
    },
    /// A media signalling message to send on the live connection (dropped
    /// when not connected: the media layer renegotiates after reconnecting).
    SendMedia(ClientMessage),
    /// Time passed; deadlines at or before `now` fire.
    Timeout,
    /// The transport of `conn` is open (WebSocket handshake done).
    TransportUp {
        /// Which connection.
        conn: ConnId,
    },
    /// `conn` could not be opened.
    TransportFailed {
        /// Which connection.
        conn: ConnId,
        /// What went wrong.
        reason: String,
    },
    /// `conn` closed or errored after it was open.
    TransportClosed {
        /// Which connection.
        conn: ConnId,
        /// WebSocket close code, if the peer sent one.
        code: Option<u16>,
        /// Close reason or error text.
        reason: String,
    },
    /// A message arrived on `conn`.
    Message {
        /// Which connection.
        conn: ConnId,
        /// The decoded message.
        msg: ServerMessage,
    },
}

/// What the session asks its driver to do, or tells it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Open a transport connection to the server for `conn`.
    Connect {
        /// The id to report back with.
        conn: ConnId,
    },
    /// Send `msg` on `conn`.
    Transmit {
        /// Which connection.
        conn: ConnId,
        /// The message.
        msg: ClientMessage,
    },
    /// Close and forget `conn` (idempotent).
    Close {
        /// Which connection.
        conn: ConnId,
    },
    /// Tell the user.
    Event(SessionEvent),
    /// A media signalling message from the server on the live connection
    /// (SDP answers and offers, ICE candidates) for the media layer.
    Media(ServerMessage),
    /// Nothing more to do now; feed [`Input::Timeout`] at this instant.
    Timeout(Instant),
    /// Nothing more to do and nothing scheduled.
    Idle,
}

/// Misuse of the session by its caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// `join` while already joining, in, or leaving a channel.
    #[error("already in a channel (state {})", .0.as_str())]
    AlreadyJoined(ConnectionState),
}
