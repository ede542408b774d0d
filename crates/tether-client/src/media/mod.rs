//! WebRTC media for one signalling session (LiveKit style, two peer
//! connections, so offers never collide):
//!
//! - **publisher**: this client offers (`publisher-offer`), the server answers;
//!   the local audio/video tracks go out on it;
//! - **subscriber**: the server offers (`subscriber-offer`) one track per
//!   remote published track (stream id `uid-<uid>`, track id
//!   `uid-<uid>-audio|video`); this client answers (`subscriber-answer`).
//!
//! [`MediaSession`] is a handle to one task that owns both connections;
//! webrtc callbacks only post into that task's queue. Everything the caller
//! needs to know comes out as [`MediaEvent`]s; media goes in through
//! [`SampleWriter`]s.

mod receive;
mod rtc;
mod task;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tether_proto::{ClientMessage, ServerMessage};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;

use self::rtc::MediaBind;
use task::{Cmd, MediaTask};

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// Opus, 48 kHz.
    Audio,
    /// VP8, 90 kHz RTP clock.
    Video,
}

impl MediaKind {
    /// `audio` or `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

/// Which of the two peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportRole {
    /// Carries this client's media to the server.
    Publisher,
    /// Carries everyone else's media to this client.
    Subscriber,
}

/// A peer connection's state, as the W3C defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportState {
    /// Not started.
    New,
    /// ICE/DTLS in progress.
    Connecting,
    /// Media can flow.
    Connected,
    /// Connectivity lost; may come back by itself.
    Disconnected,
    /// ICE failed: only an ICE restart (or a new connection) helps.
    Failed,
    /// Closed on purpose.
    Closed,
}

/// What the media layer reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A remote track was negotiated on the subscriber connection.
    Track {
        /// Its publisher.
        uid: u32,
        /// Audio or video.
        kind: MediaKind,
    },
    /// A remote track ended (unpublished, left, or renegotiated away).
    TrackEnded {
        /// Its publisher.
        uid: u32,
        /// Audio or video.
        kind: MediaKind,
    },
    /// RTP arrived on a remote track (at most every
    /// [`MediaConfig::rtp_event_interval`] per track: for no-data bookkeeping).
    Rtp {
        /// Its publisher.
        uid: u32,
        /// Audio or video.
        kind: MediaKind,
        /// When the packet that triggered this report arrived.
        at: Instant,
    },
    /// A complete encoded frame: one Opus packet, or one VP8 frame.
    Frame {
        /// Its publisher.
        uid: u32,
        /// Audio or video.
        kind: MediaKind,
        /// The encoded frame.
        payload: Vec<u8>,
        /// A VP8 keyframe (always true for audio).
        is_keyframe: bool,
        /// RTP timestamp (48 kHz audio, 90 kHz video).
        rtp_timestamp: u32,
        /// An earlier frame of this track was lost for good: until the next
        /// keyframe, delta frames decode into wrong pictures.
        after_loss: bool,
    },
    /// Receive statistics for a remote track, every
    /// [`MediaConfig::stats_interval`].
    Stats {
        /// Its publisher.
        uid: u32,
        /// Audio or video.
        kind: MediaKind,
        /// Packets received so far.
        packets_received: u64,
        /// Packets expected but not received so far.
        packets_lost: u64,
        /// Frames given up because a packet never came.
        frames_dropped: u64,
        /// RFC 3550 interarrival jitter, milliseconds.
        jitter_ms: f64,
    },
    /// A peer connection changed state. `Failed` on either one means the
    /// session should treat media as interrupted (`ICE_FAILED`).
    TransportState {
        /// Which connection.
        role: TransportRole,
        /// Its new state.
        state: TransportState,
    },
    /// The server (for a subscriber) asks for a keyframe: encode the next
    /// video frame as one.
    KeyframeRequested,
    /// The server's receiver report on one of our published tracks: loss
    /// and jitter on the way up (for uplink quality and bitrate control).
    SendReport {
        /// Audio or video.
        kind: MediaKind,
        /// Fraction of packets lost since the previous report, 0..1.
        fraction_lost: f64,
        /// Interarrival jitter, milliseconds.
        jitter_ms: f64,
    },
    /// Something went wrong that the caller may want to show.
    Error {
        /// What.
        message: String,
    },
}

/// Settings for a [`MediaSession`].
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Local IP for media sockets. Loopback when the server is on loopback;
    /// `0.0.0.0` binds every non-loopback interface (those there are at each
    /// bind: when a connection is built and at every ICE restart).
    pub bind_ip: IpAddr,
    /// When set, media binds the local address that faces this server
    /// instead of `bind_ip`, looked up again at every ICE restart, so a
    /// restart after an address change moves media onto the new address.
    pub route_to: Option<IpAddr>,
    /// Least time between two [`MediaEvent::Rtp`] reports of one track.
    pub rtp_event_interval: Duration,
    /// Period of [`MediaEvent::Stats`].
    pub stats_interval: Duration,
    /// A peer connection that is not connected this long after a
    /// negotiation (first connect or ICE restart) is reported
    /// [`TransportState::Failed`]: ICE stuck in checking must not look fine.
    pub connect_timeout: Duration,
}

impl MediaConfig {
    /// Defaults for a server at `server_url` (`ws://host:port`): loopback
    /// media for a loopback server; otherwise the interface facing the
    /// server (followed across address changes), or every interface.
    pub fn for_server(server_url: &str) -> Self {
        let host = server_url
            .split("://")
            .nth(1)
            .unwrap_or(server_url)
            .split('/')
            .next()
            .unwrap_or_default();
        let host = host
            .rsplit_once(':')
            .map_or(host, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let server = host.parse::<IpAddr>().ok();
        let loopback =
            host.eq_ignore_ascii_case("localhost") || server.is_some_and(|ip| ip.is_loopback());
        let (bind_ip, route_to) = if loopback {
            (IpAddr::V4(Ipv4Addr::LOCALHOST), None)
        } else if let Some(server) = server {
            (MediaBind::Towards(server).ip(), Some(server))
        } else {
            (IpAddr::V4(Ipv4Addr::UNSPECIFIED), None)
        };
        Self {
            bind_ip,
            route_to,
            ..Self::default()
        }
    }

    pub(crate) fn bind(&self) -> MediaBind {
        match self.route_to {
            Some(server) => MediaBind::Towards(server),
            None => MediaBind::Fixed(self.bind_ip),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            route_to: None,
            connect_timeout: Duration::from_secs(10),
            rtp_event_interval: Duration::from_millis(100),
            stats_interval: Duration::from_secs(1),
        }
    }
}

/// Media errors.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The media task has stopped (closed).
    #[error("media session closed")]
    Closed,
    /// The webrtc stack refused something.
    #[error("webrtc: {0}")]
    WebRtc(#[from] webrtc::error::Error),
}

/// Sends signalling for the media layer (the actor puts it on the current
/// WebSocket; dropped while there is none).
pub type Signal = Arc<dyn Fn(ClientMessage) + Send + Sync>;

/// Pushes encoded media into a published track.
#[derive(Clone)]
pub struct SampleWriter {
    kind: MediaKind,
    ssrc: u32,
    track: Arc<TrackLocalStaticSample>,
    payload_type: Arc<AtomicU8>,
    muted: Arc<AtomicBool>,
}

impl std::fmt::Debug for SampleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleWriter")
            .field("kind", &self.kind)
            .field("ssrc", &self.ssrc)
            .finish_non_exhaustive()
    }
}

impl SampleWriter {
    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// Send one encoded frame lasting `duration` (Opus: 20 ms; VP8: one frame
    /// interval, e.g. 33 ms). Nothing is sent while this kind is muted or the
    /// connection is not up yet; that is not an error.
    pub async fn write(&self, payload: Bytes, duration: Duration) -> Result<(), MediaError> {
        if self.muted.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut sample = ::rtc::media::Sample::new(Instant::now());
        sample.data = payload;
        sample.duration = duration;
        let pt = self.payload_type.load(Ordering::Relaxed);
        match self.track.write_sample(self.ssrc, pt, &sample, &[]).await {
            Ok(()) => Ok(()),
            // Before the connection is up the track is not bound: drop quietly.
            Err(e) => {
                tracing::trace!(kind = self.kind.as_str(), "sample not sent: {e}");
                Ok(())
            }
        }
    }
}

/// The local tracks of a publication.
#[derive(Debug, Clone, Default)]
pub struct Publication {
    /// Opus packets go here (when audio is published).
    pub audio: Option<SampleWriter>,
    /// VP8 frames go here (when video is published).
    pub video: Option<SampleWriter>,
}

/// A handle to the media task of one signalling session. Cheap to clone.
#[derive(Clone)]
pub struct MediaSession {
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession").finish_non_exhaustive()
    }
}

impl MediaSession {
    /// Start the media task. `signal` sends media signalling to the server;
    /// events go to `events` (frames are sent with back-pressure; `Rtp` and
    /// `Stats` are dropped when the receiver lags).
    pub fn new(
        config: MediaConfig,
        signal: impl Fn(ClientMessage) + Send + Sync + 'static,
        events: mpsc::Sender<MediaEvent>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = MediaTask::new(config, Arc::new(signal), events, tx.clone());
        tokio::spawn(task.run(rx).instrument(tracing::debug_span!("media")));
        Self { cmd: tx }
    }

    fn send(&self, cmd: Cmd) -> Result<(), MediaError> {
        self.cmd.send(cmd).map_err(|_| MediaError::Closed)
    }

    /// Publish audio and/or video: builds the publisher connection and sends
    /// `publisher-offer`. Returns the writers at once; samples written before
    /// the connection is up are dropped.
    pub async fn publish(&self, audio: bool, video: bool) -> Result<Publication, MediaError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Publish {
            audio,
            video,
            reply,
        })?;
        rx.await.map_err(|_| MediaError::Closed)?
    }

    /// Stop publishing: closes the publisher connection (the caller also
    /// sends `unpublish` through the session).
    pub fn unpublish(&self) -> Result<(), MediaError> {
        self.send(Cmd::Unpublish)
    }

    /// Feed a server message; returns true when it was a media message
    /// (`publisher-answer`, `subscriber-offer`, `ice-candidate`).
    pub fn on_server_message(&self, msg: &ServerMessage) -> bool {
        let media = matches!(
            msg,
            ServerMessage::PublisherAnswer { .. }
                | ServerMessage::SubscriberOffer { .. }
                | ServerMessage::IceCandidate { .. }
        );
        if media && self.send(Cmd::Server(msg.clone())).is_err() {
            tracing::debug!("media message after close");
        }
        media
    }

    /// After a *resume*: ICE-restart the publisher connection (new offer,
    /// same tracks) and ask the server to restart the subscriber one.
    pub fn ice_restart(&self) -> Result<(), MediaError> {
        self.send(Cmd::IceRestart)
    }

    /// After a *rejoin* (new server session): drop both connections, build a
    /// new publisher with the same tracks (writers keep working) and re-send
    /// the mute state. The server offers a new subscriber connection.
    pub fn rejoin(&self) -> Result<(), MediaError> {
        self.send(Cmd::Rejoin)
    }

    /// Mute or unmute what this client publishes: muted kinds stop sending
    /// RTP, and the server is told (`mute`), so others see `mute-changed`.
    pub fn set_muted(&self, audio: bool, video: bool) -> Result<(), MediaError> {
        self.send(Cmd::Mute { audio, video })
    }

    /// Ask `uid`'s publisher for a keyframe (e.g. after a decode error).
    pub fn request_keyframe(&self, uid: u32) -> Result<(), MediaError> {
        self.send(Cmd::RequestKeyframe { uid })
    }

    /// Close both connections and stop the task.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Cmd::Close { reply }).is_ok() {
            // An error means the task is already gone: closed either way.
            let _closed = rx.await;
        }
    }
}
