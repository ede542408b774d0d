//! Errors of the client layer.

use thiserror::Error;

use tether_core::ConnectionState;

/// What can go wrong when driving a client.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server address is not a `ws://` URL.
    #[error("invalid server URL {0:?}: expected ws://HOST:PORT")]
    InvalidServerUrl(String),
    /// A `wss://` address: this build has no TLS, and failing at dial
    /// would hide that the session would not be encrypted.
    #[error("{0:?}: wss:// (TLS) is not supported by this build yet; use a ws:// server on a network you trust")]
    TlsUnsupported(String),
    /// `join` while already in (or joining, or leaving) a channel.
    #[error("already in a channel (state {})", .0.as_str())]
    AlreadyJoined(ConnectionState),
    /// The client task has stopped.
    #[error("the client has stopped")]
    Stopped,
}
