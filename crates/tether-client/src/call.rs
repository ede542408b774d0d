//! The media side of a call, owned by the actor: the WebRTC session, the
//! send and receive pipelines, and the translation of media events into
//! session inputs. One `CallMedia` per join; dropped when the session ends.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{debug, warn};

use tether_core::{ConnectMode, Input, InterruptCause};
use tether_proto::{ClientMessage, Media, ServerMessage};

use crate::actor::ClientEvent;
use crate::clock::unix_ms;
use crate::media::{MediaConfig, MediaEvent, MediaKind, MediaSession, Publication, TransportState};
use crate::pipeline::{network_quality, PublishSource, RecvInput, RecvPipeline, SendPipeline};
use crate::record::{EventRecord, Record};

/// A video frame as RGBA for drawing: a decoded remote frame, or a local
/// preview frame (see [`MediaOptions::preview_sink`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbaFrame {
    /// The publisher; [`PREVIEW_UID`] (0, never a valid uid) for the local preview.
    pub uid: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Decoded-frame counter of this stream (for the preview: the source's
    /// frame number).
    pub frame_no: u64,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

/// The `uid` of local preview frames: 0 is never a participant's uid.
pub const PREVIEW_UID: u32 = 0;

/// Receives video frames (called on the decode thread, or for the preview on
/// the encode thread: hand the frame off, don't block).
#[derive(Clone)]
pub struct VideoSink {
    /// At most this many frames per second per publisher reach the sink.
    pub max_fps: u32,
    sink: Arc<dyn Fn(RgbaFrame) + Send + Sync>,
}

impl VideoSink {
    /// A sink calling `f` for each frame, at most `max_fps` per publisher.
    pub fn new(max_fps: u32, f: impl Fn(RgbaFrame) + Send + Sync + 'static) -> Self {
        Self {
            max_fps,
            sink: Arc::new(f),
        }
    }

    pub(crate) fn deliver(&self, frame: RgbaFrame) {
        (self.sink)(frame);
    }
}

impl std::fmt::Debug for VideoSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoSink")
            .field("max_fps", &self.max_fps)
            .finish_non_exhaustive()
    }
}

impl PartialEq for VideoSink {
    fn eq(&self, other: &Self) -> bool {
        self.max_fps == other.max_fps && Arc::ptr_eq(&self.sink, &other.sink)
    }
}

impl Eq for VideoSink {}

/// What the user wants from media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOptions {
    /// Where published media comes from.
    pub source: PublishSource,
    /// Decode everyone else's media (off: signalling-only streams).
    pub subscribe: bool,
    /// Speaker to play on (`None`: the default one, if any).
    pub playback_device: Option<String>,
    /// Where decoded remote video goes (e.g. the desktop app's tiles).
    pub video_sink: Option<VideoSink>,
    /// Where the local preview (self-view) goes: the captured frames that
    /// are published, before encoding, as RGBA with `uid` [`PREVIEW_UID`],
    /// at most `max_fps` per second. Nothing while video is muted or not
    /// published. `None`: no preview, no conversion cost.
    pub preview_sink: Option<VideoSink>,
}

impl Default for MediaOptions {
    fn default() -> Self {
        Self {
            source: PublishSource::Synthetic,
            subscribe: true,
            playback_device: None,
            video_sink: None,
            preview_sink: None,
        }
    }
}

/// Channels the actor selects on for media.
pub(crate) struct MediaChannels {
    pub(crate) events: mpsc::Receiver<MediaEvent>,
    pub(crate) signals: mpsc::UnboundedReceiver<ClientMessage>,
    pub(crate) published: mpsc::UnboundedReceiver<Publication>,
}

pub(crate) struct CallMedia {
    session: MediaSession,
    options: MediaOptions,
    published_tx: mpsc::UnboundedSender<Publication>,
    send: Option<SendPipeline>,
    recv: Option<RecvPipeline>,
    events_out: mpsc::UnboundedSender<ClientEvent>,
    publishing: bool,
    muted: Media,
    /// Uplink quality (0–6) from the server's receiver reports.
    uplink: Arc<AtomicU8>,
}

impl CallMedia {
    pub(crate) fn new(
        server_url: &str,
        options: MediaOptions,
        events_out: mpsc::UnboundedSender<ClientEvent>,
    ) -> (Self, MediaChannels) {
        let (media_tx, media_rx) = mpsc::channel(512);
        let (signal_tx, signal_rx) = mpsc::unbounded_channel();
        let (published_tx, published_rx) = mpsc::unbounded_channel();
        let session = MediaSession::new(
            MediaConfig::for_server(server_url),
            move |msg| {
                // The actor is gone when this fails; nothing to signal then.
                let _gone = signal_tx.send(msg);
            },
            media_tx,
        );
        let uplink = Arc::new(AtomicU8::new(0));
        let recv = options.subscribe.then(|| {
            let keyframes = session.clone();
            RecvPipeline::start(
                uplink.clone(),
                events_out.clone(),
                Arc::new(move |uid| {
                    if let Err(e) = keyframes.request_keyframe(uid) {
                        debug!(uid, error = %e, "keyframe request not sent");
                    }
                }),
                options.playback_device.clone(),
                options.video_sink.clone(),
            )
        });
        let call = Self {
            session,
            options,
            published_tx,
            send: None,
            recv,
            events_out,
            publishing: false,
            muted: Media {
                audio: false,
                video: false,
            },
            uplink,
        };
        let channels = MediaChannels {
            events: media_rx,
            signals: signal_rx,
            published: published_rx,
        };
        (call, channels)
    }

    /// A server media message (from the session's `Output::Media`).
    pub(crate) fn on_server_message(&self, msg: &ServerMessage) {
        if !self.session.on_server_message(msg) {
            debug!("media message not for the media session");
        }
    }

    /// The signalling session is (re)established.
    pub(crate) fn on_connected(&mut self, mode: ConnectMode, intent: Option<Media>) {
        match mode {
            ConnectMode::Join => {
                if let Some(m) = intent {
                    self.publish(m);
                }
            }
            ConnectMode::Resume => {
                if let Err(e) = self.session.ice_restart() {
                    warn!(error = %e, "ICE restart failed");
                }
            }
            ConnectMode::Rejoin => {
                if let Err(e) = self.session.rejoin() {
                    warn!(error = %e, "media rejoin failed");
                }
            }
        }
    }

    /// Start publishing (asynchronously: the pipeline starts when the
    /// publisher connection hands out its writers).
    pub(crate) fn publish(&mut self, media: Media) {
        if self.publishing {
            return;
        }
        self.publishing = true;
        let session = self.session.clone();
        let tx = self.published_tx.clone();
        tokio::spawn(async move {
            match session.publish(media.audio, media.video).await {
                Ok(publication) => {
                    let _gone = tx.send(publication);
                }
                Err(e) => warn!(error = %e, "publish failed"),
            }
        });
    }

    pub(crate) fn unpublish(&mut self) {
        self.publishing = false;
        self.send = None;
        if let Err(e) = self.session.unpublish() {
            debug!(error = %e, "unpublish");
        }
    }

    /// The publisher connection is ready: start encoding into it.
    pub(crate) fn on_published(&mut self, publication: Publication) {
        if !self.publishing {
            return;
        }
        let events = self.events_out.clone();
        let report: crate::pipeline::Report =
            Arc::new(move |code: &'static str, message: String| {
                let record = Record {
                    ts: unix_ms(),
                    event: EventRecord::Exception {
                        code: code.to_owned(),
                        message,
                    },
                };
                let _gone = events.send(ClientEvent::from_record(record));
            });
        self.send = Some(SendPipeline::start(
            &self.options.source,
            publication,
            tokio::runtime::Handle::current(),
            report,
            self.options.preview_sink.clone(),
            self.muted.video,
        ));
        if self.muted.audio || self.muted.video {
            self.set_muted(self.muted);
        }
    }

    pub(crate) fn set_muted(&mut self, muted: Media) {
        self.muted = muted;
        if let Some(send) = &self.send {
            send.set_video_muted(muted.video);
        }
        if let Err(e) = self.session.set_muted(muted.audio, muted.video) {
            debug!(error = %e, "mute not sent");
        }
    }

    /// Translate a media event; returns the session inputs it implies.
    pub(crate) fn on_event(&mut self, event: MediaEvent) -> Vec<Input> {
        match event {
            MediaEvent::Rtp { uid, .. } => {
                if self.options.subscribe {
                    vec![
                        Input::MediaActivity { uid },
                        Input::StreamSubscribed { uid },
                    ]
                } else {
                    vec![]
                }
            }
            MediaEvent::Frame {
                uid,
                kind,
                payload,
                rtp_timestamp,
                after_loss,
                ..
            } => {
                if let Some(recv) = &self.recv {
                    recv.push(RecvInput::Frame {
                        uid,
                        kind,
                        payload,
                        rtp_timestamp,
                        after_loss,
                    });
                }
                vec![]
            }
            MediaEvent::Stats {
                uid,
                kind,
                packets_received,
                packets_lost,
                frames_dropped,
                jitter_ms,
            } => {
                if let Some(recv) = &self.recv {
                    recv.push(RecvInput::Stats {
                        uid,
                        kind,
                        packets_received,
                        packets_lost,
                        frames_dropped,
                        jitter_ms,
                    });
                }
                vec![]
            }
            MediaEvent::TrackEnded { uid, kind } => {
                if let Some(recv) = &self.recv {
                    recv.push(RecvInput::TrackEnded { uid, kind });
                }
                vec![]
            }
            MediaEvent::SendReport {
                kind,
                fraction_lost,
                jitter_ms,
            } => {
                if let Some(send) = &self.send {
                    match kind {
                        MediaKind::Video => {
                            let next =
                                tether_media::next_bitrate(send.bitrate_kbps(), fraction_lost, 0);
                            send.set_bitrate_kbps(next);
                        }
                        MediaKind::Audio => send.set_audio_loss(fraction_lost),
                    }
                }
                let quality = network_quality(Some(fraction_lost), jitter_ms, true);
                self.uplink.store(quality, Ordering::Relaxed);
                vec![]
            }
            MediaEvent::KeyframeRequested => {
                if let Some(send) = &self.send {
                    send.request_keyframe();
                }
                vec![]
            }
            MediaEvent::TransportState {
                state: TransportState::Failed,
                role,
            } => {
                warn!(?role, "media transport failed");
                vec![Input::Interrupt {
                    cause: InterruptCause::IceFailed,
                }]
            }
            MediaEvent::Error { message } => {
                warn!(%message, "media error");
                vec![]
            }
            _ => vec![],
        }
    }

    /// Stop everything (the session ended).
    pub(crate) fn close(self) {
        let session = self.session;
        drop(self.send);
        drop(self.recv);
        tokio::spawn(async move { session.close().await });
    }
}
