//! Tether's signalling protocol: the JSON messages exchanged over the WebSocket
//! between a client and the channel server, the validation rules for channel
//! names, uids and display names, and the claims a join token carries.
//!
//! Every frame is one JSON object with a `type` field in kebab-case; the other
//! fields are camelCase. This crate depends on nothing of ours, so both the
//! client and the server share exactly one definition of the wire.

mod codec;
mod messages;
mod token;
mod validate;

pub use codec::{decode_client, decode_server, encode, DecodeError};
pub use messages::{
    ClientMessage, DepartedPeer, ErrorCode, Media, MediaTarget, PeerInfo, PeerLeaveReason,
    PeerPresence, ResumeRequest, ServerMessage, StreamRemovedReason,
};
pub use token::{Privileges, TokenClaims};
pub use validate::{
    validate_channel, validate_name, validate_uid, ValidationError, MAX_NAME_CHARS,
};

/// Version of the signalling protocol. A server refuses a `hello` whose version
/// it does not speak with [`ErrorCode::VersionMismatch`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest signalling frame either side accepts (64 KiB). The server closes a
/// connection that sends a larger one with close code 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// WebSocket close code for a frame over [`MAX_FRAME_BYTES`].
pub const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code for a policy violation (e.g. a sustained flood).
pub const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code the server uses when it shuts down (clients reconnect).
pub const CLOSE_GOING_AWAY: u16 = 1001;
