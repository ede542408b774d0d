//! The Tether client: a thin tokio actor around [`tether_core::Session`].
//!
//! One task owns the session and `select!`s over user commands, transport
//! events, OS network-change hints and the session's next deadline. Each
//! WebSocket runs in its own small task that only forwards frames. Events come
//! out of an [`mpsc`](tokio::sync::mpsc) receiver as [`ClientEvent`]s, each
//! with a serialisable [`Record`] (the JSON-lines / IPC shape).

mod actor;
mod call;
mod clock;
mod error;
pub mod media;
mod netwatch;
mod pipeline;
mod record;
mod transport;

pub use actor::{Client, ClientConfig, ClientEvent};
pub use call::{MediaOptions, RgbaFrame, VideoSink, PREVIEW_UID};
pub use clock::unix_ms;
pub use error::ClientError;
pub use pipeline::{network_quality, PublishSource};
pub use record::{DetailRecord, EventRecord, LevelRecord, Record};

pub use tether_core::{
    ConnectMode, ConnectionState, InterruptCause, ReconnectMode, SessionConfig, SessionEvent,
    StateReason, Timing,
};
pub use tether_proto::Media;
