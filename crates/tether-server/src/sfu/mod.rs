//! The selective forwarding unit: two WebRTC peer connections per session
//! (LiveKit style, so there is never offer glare):
//!
//! - the **publisher** connection: the client offers (`publisher-offer`), the
//!   server answers; each incoming track is read by one task and its RTP is
//!   forwarded unchanged (never decoded) to everyone else in the channel;
//! - the **subscriber** connection: the server offers (`subscriber-offer`) one
//!   send-only track per published track of every *other* session (stream id
//!   `uid-<uid>`, track id `uid-<uid>-audio|video`), and re-offers whenever
//!   that set changes; the client answers (`subscriber-answer`).
//!
//! Media state belongs to the signalling session: the hub reports joins and
//! removals (leave, timeout, uid conflict) on the same ordered channel the
//! connections use for media signalling. One router task hands each channel's
//! traffic to that channel's room task, which owns every peer connection of
//! the channel; webrtc callbacks only forward into the room's queue.

pub(crate) mod candidate;
mod forward;
pub(crate) mod ingress;
pub(crate) mod room;
pub(crate) mod rtc;

use std::collections::HashMap;
use std::sync::Arc;

use tether_proto::MediaTarget;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info_span, Instrument, Span};

use crate::hub::{Hub, SessionKey};
use room::{Room, RoomCmd};
use rtc::PcFactory;

/// A media kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Audio,
    Video,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

/// Media signalling from a client, already tied to its session.
#[derive(Debug)]
pub(crate) enum Signal {
    PublisherOffer(String),
    SubscriberAnswer(String),
    IceCandidate {
        target: MediaTarget,
        candidate: String,
    },
    SubscriberRestart,
}

/// Everything the SFU hears, in order.
#[derive(Debug)]
pub(crate) enum SfuInput {
    /// A new session joined a channel.
    Joined {
        channel: String,
        uid: u32,
        session_id: String,
        span: Span,
    },
    /// A session was removed (leave, timeout, kicked, replaced).
    Removed {
        channel: String,
        uid: u32,
        session_id: String,
    },
    /// A session stopped publishing.
    Unpublished {
        channel: String,
        uid: u32,
        session_id: String,
    },
    /// Media signalling from a session's connection.
    Signal { key: SessionKey, signal: Signal },
}

struct RoomHandle {
    tx: mpsc::UnboundedSender<RoomCmd>,
    /// Sessions the room holds (uid → session id), so the router knows when it is empty.
    members: HashMap<u32, String>,
}

/// Run the router until `shutdown`: create a room per channel with sessions,
/// drop it when its last session goes.
pub(crate) async fn run(
    hub: Arc<Hub>,
    factory: Arc<PcFactory>,
    mut rx: mpsc::UnboundedReceiver<SfuInput>,
    shutdown: CancellationToken,
) {
    let tasks = TaskTracker::new();
    let mut rooms: HashMap<String, RoomHandle> = HashMap::new();
    loop {
        let input = tokio::select! {
            () = shutdown.cancelled() => break,
            input = rx.recv() => match input {
                Some(input) => input,
                None => break,
            },
        };
        match input {
            SfuInput::Joined {
                channel,
                uid,
                session_id,
                span,
            } => {
                let room = rooms.entry(channel.clone()).or_insert_with(|| {
                    let (tx, room_rx) = mpsc::unbounded_channel();
                    let room = Room::new(channel.clone(), hub.clone(), factory.clone(), tx.clone());
                    tasks.spawn(
                        room.run(room_rx, shutdown.child_token())
                            .instrument(info_span!("room", channel = %channel)),
                    );
                    RoomHandle {
                        tx,
                        members: HashMap::new(),
                    }
                });
                room.members.insert(uid, session_id.clone());
                send(
                    room,
                    RoomCmd::Joined {
                        uid,
                        session_id,
                        span,
                    },
                );
            }
            SfuInput::Removed {
                channel,
                uid,
                session_id,
            } => {
                let Some(room) = rooms.get_mut(&channel) else {
                    continue;
                };
                if room.members.get(&uid) == Some(&session_id) {
                    room.members.remove(&uid);
                }
                send(room, RoomCmd::Removed { uid, session_id });
                if room.members.is_empty() {
                    // The room ends once it has done what was queued; later
                    // sessions of this channel get a new room.
                    send(room, RoomCmd::Close);
                    rooms.remove(&channel);
                }
            }
            SfuInput::Unpublished {
                channel,
                uid,
                session_id,
            } => {
                if let Some(room) = rooms.get(&channel) {
                    send(room, RoomCmd::Unpublished { uid, session_id });
                }
            }
            SfuInput::Signal { key, signal } => match rooms.get(&key.channel) {
                Some(room) => send(
                    room,
                    RoomCmd::Signal {
                        uid: key.uid,
                        session_id: key.session_id,
                        signal,
                    },
                ),
                None => debug!(channel = %key.channel, "media signal for a channel without a room"),
            },
        }
    }
    drop(rooms);
    tasks.close();
    tasks.wait().await;
}

fn send(room: &RoomHandle, cmd: RoomCmd) {
    if room.tx.send(cmd).is_err() {
        debug!("room task already ended");
    }
}
