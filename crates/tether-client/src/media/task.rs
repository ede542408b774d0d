//! The media task: owns both peer connections, executes commands and server
//! messages in order, and turns webrtc callbacks into [`MediaEvent`]s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tether_proto::{ClientMessage, MediaTarget, ServerMessage};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, trace, warn};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription,
};

use super::receive::{Assembler, RecvStats};
use super::rtc::{build_pc, codec_for, is_keyframe_request, reception_of, OPUS_PT, VP8_PT};
use super::{
    MediaConfig, MediaError, MediaEvent, MediaKind, Publication, SampleWriter, Signal,
    TransportRole, TransportState,
};

/// Longest wait for ICE gathering before an SDP is sent as it is.
const GATHER_TIMEOUT: Duration = Duration::from_millis(500);

pub(crate) enum Cmd {
    Publish {
        audio: bool,
        video: bool,
        reply: oneshot::Sender<Result<Publication, MediaError>>,
    },
    Unpublish,
    Server(ServerMessage),
    IceRestart,
    Rejoin,
    Mute {
        audio: bool,
        video: bool,
    },
    RequestKeyframe {
        uid: u32,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
    // From webrtc callbacks:
    Track {
        pc: u64,
        track: Arc<dyn TrackRemote>,
    },
    PcState {
        pc: u64,
        role: TransportRole,
        state: RTCPeerConnectionState,
    },
}

struct Handler {
    tx: mpsc::UnboundedSender<Cmd>,
    pc: u64,
    role: TransportRole,
    gathering: watch::Sender<RTCIceGatheringState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathering.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let cmd = Cmd::PcState {
            pc: self.pc,
            role: self.role,
            state,
        };
        if self.tx.send(cmd).is_err() {
            trace!("state change after the media task ended");
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if self.tx.send(Cmd::Track { pc: self.pc, track }).is_err() {
            trace!("track after the media task ended");
        }
    }
}

struct Pc {
    pc: Arc<dyn PeerConnection>,
    id: u64,
    gathering: watch::Receiver<RTCIceGatheringState>,
    remote_fingerprint: Option<String>,
}

impl Pc {
    async fn set_local(&self, desc: RTCSessionDescription) -> webrtc::error::Result<String> {
        let mut gathering = self.gathering.clone();
        self.pc.set_local_description(desc).await?;
        let complete = gathering.wait_for(|s| *s == RTCIceGatheringState::Complete);
        if tokio::time::timeout(GATHER_TIMEOUT, complete)
            .await
            .is_err()
        {
            warn!("ICE gathering did not complete in time; sending what we have");
        }
        Ok(self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default())
    }

    fn close(self) {
        tokio::spawn(async move {
            if let Err(e) = self.pc.close().await {
                debug!("closing a peer connection failed: {e}");
            }
        });
    }
}

/// A local track and what writes into it.
struct LocalTrack {
    writer: SampleWriter,
    feedback: Option<JoinHandle<()>>,
}

/// A remote track. The webrtc crate keeps one `TrackRemote` per track id
/// for the connection's life (a re-published track comes back on the same
/// object without a new `on_track`), so an ended track is kept, reader
/// stopped, and read afresh when an offer brings it back.
struct Remote {
    track: Arc<dyn TrackRemote>,
    ssrc: u32,
    reader: Option<JoinHandle<()>>,
}

pub(crate) struct MediaTask {
    config: MediaConfig,
    signal: Signal,
    events: mpsc::Sender<MediaEvent>,
    tx: mpsc::UnboundedSender<Cmd>,
    next_pc: u64,
    publisher: Option<Pc>,
    /// A publisher offer is out and its answer not in yet.
    awaiting_answer: bool,
    /// An ICE restart was asked for while an offer was out.
    restart_pending: bool,
    local: Vec<LocalTrack>,
    subscriber: Option<Pc>,
    remotes: HashMap<(u32, MediaKind), Remote>,
    muted_audio: Arc<AtomicBool>,
    muted_video: Arc<AtomicBool>,
}

fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .map(|f| f.trim().to_ascii_lowercase())
}

fn transport_state(s: RTCPeerConnectionState) -> TransportState {
    match s {
        RTCPeerConnectionState::Connecting => TransportState::Connecting,
        RTCPeerConnectionState::Connected => TransportState::Connected,
        RTCPeerConnectionState::Disconnected => TransportState::Disconnected,
        RTCPeerConnectionState::Failed => TransportState::Failed,
        RTCPeerConnectionState::Closed => TransportState::Closed,
        _ => TransportState::New,
    }
}

/// The remote tracks an offer from the server sends: `a=msid:uid-<uid>
/// uid-<uid>-<kind>` in m-sections that are `sendonly` or `sendrecv`.
fn offered_tracks(sdp: &str) -> Vec<(u32, MediaKind)> {
    let mut out = Vec::new();
    for section in sdp.split("\nm=").skip(1) {
        let sending = section
            .lines()
            .any(|l| matches!(l.trim(), "a=sendonly" | "a=sendrecv"));
        if !sending {
            continue;
        }
        let track = section.lines().find_map(|l| {
            let msid = l.trim().strip_prefix("a=msid:")?;
            let (stream, track) = msid.split_once(' ')?;
            let uid = uid_of(stream)?;
            let kind = match track.rsplit('-').next()? {
                "audio" => MediaKind::Audio,
                "video" => MediaKind::Video,
                _ => return None,
            };
            Some((uid, kind))
        });
        out.extend(track);
    }
    out
}

/// `uid-<uid>` → uid.
fn uid_of(stream_id: &str) -> Option<u32> {
    stream_id.strip_prefix("uid-")?.parse().ok()
}

impl MediaTask {
    pub(crate) fn new(
        config: MediaConfig,
        signal: Signal,
        events: mpsc::Sender<MediaEvent>,
        tx: mpsc::UnboundedSender<Cmd>,
    ) -> Self {
        Self {
            config,
            signal,
            events,
            tx,
            next_pc: 1,
            publisher: None,
            awaiting_answer: false,
            restart_pending: false,
            local: Vec::new(),
            subscriber: None,
            remotes: HashMap::new(),
            muted_audio: Arc::new(AtomicBool::new(false)),
            muted_video: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        while let Some(cmd) = rx.recv().await {
            if let Cmd::Close { reply } = cmd {
                self.close_all().await;
                let _caller_gone = reply.send(());
                return;
            }
            if let Err(e) = self.handle(cmd).await {
                warn!("media: {e}");
                self.emit_lossy(MediaEvent::Error {
                    message: e.to_string(),
                });
            }
        }
        // Every handle dropped.
        self.close_all().await;
    }

    fn emit_lossy(&self, event: MediaEvent) {
        if self.events.try_send(event).is_err() {
            trace!("media event dropped (receiver lagging or gone)");
        }
    }

    async fn emit(&self, event: MediaEvent) {
        if self.events.send(event).await.is_err() {
            trace!("media event receiver gone");
        }
    }

    async fn close_all(&mut self) {
        self.drop_publisher();
        self.drop_subscriber();
        for t in self.local.drain(..) {
            if let Some(f) = t.feedback {
                f.abort();
            }
        }
    }

    fn drop_publisher(&mut self) {
        if let Some(pc) = self.publisher.take() {
            pc.close();
        }
        self.awaiting_answer = false;
        self.restart_pending = false;
        for t in &mut self.local {
            if let Some(f) = t.feedback.take() {
                f.abort();
            }
        }
    }

    fn drop_subscriber(&mut self) {
        if let Some(pc) = self.subscriber.take() {
            pc.close();
        }
        for (_, r) in self.remotes.drain() {
            if let Some(reader) = r.reader {
                reader.abort();
            }
        }
    }

    async fn new_pc(&mut self, role: TransportRole) -> Result<Pc, MediaError> {
        let id = self.next_pc;
        self.next_pc += 1;
        let (gathering_tx, gathering) = watch::channel(RTCIceGatheringState::New);
        let handler = Arc::new(Handler {
            tx: self.tx.clone(),
            pc: id,
            role,
            gathering: gathering_tx,
        });
        let pc = build_pc(self.config.bind_ip, handler).await?;
        Ok(Pc {
            pc,
            id,
            gathering,
            remote_fingerprint: None,
        })
    }

    async fn handle(&mut self, cmd: Cmd) -> Result<(), MediaError> {
        match cmd {
            Cmd::Publish {
                audio,
                video,
                reply,
            } => {
                let result = self.publish(audio, video).await;
                let _caller_gone = reply.send(result);
                Ok(())
            }
            Cmd::Unpublish => {
                self.drop_publisher();
                for t in self.local.drain(..) {
                    if let Some(f) = t.feedback {
                        f.abort();
                    }
                }
                Ok(())
            }
            Cmd::Server(msg) => self.on_server(msg).await,
            Cmd::IceRestart => {
                (self.signal)(ClientMessage::SubscriberRestart);
                if self.publisher.is_some() {
                    if self.awaiting_answer {
                        self.restart_pending = true;
                    } else {
                        self.offer_publisher(true).await?;
                    }
                }
                Ok(())
            }
            Cmd::Rejoin => {
                self.drop_subscriber();
                let had = self.publisher.is_some();
                self.drop_publisher();
                let audio = self.muted_audio.load(Ordering::Relaxed);
                let video = self.muted_video.load(Ordering::Relaxed);
                if audio || video {
                    (self.signal)(ClientMessage::Mute { audio, video });
                }
                if had && !self.local.is_empty() {
                    self.start_publisher().await?;
                }
                Ok(())
            }
            Cmd::Mute { audio, video } => {
                self.muted_audio.store(audio, Ordering::Relaxed);
                self.muted_video.store(video, Ordering::Relaxed);
                (self.signal)(ClientMessage::Mute { audio, video });
                Ok(())
            }
            Cmd::RequestKeyframe { uid } => {
                if let Some(r) = self.remotes.get(&(uid, MediaKind::Video)) {
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: r.ssrc,
                    };
                    r.track.write_rtcp(vec![Box::new(pli)]).await?;
                }
                Ok(())
            }
            Cmd::Close { .. } => Ok(()),
            Cmd::Track { pc, track } => {
                self.on_track(pc, track).await;
                Ok(())
            }
            Cmd::PcState { pc, role, state } => {
                let current = match role {
                    TransportRole::Publisher => self.publisher.as_ref(),
                    TransportRole::Subscriber => self.subscriber.as_ref(),
                };
                if current.is_some_and(|p| p.id == pc) {
                    info!(?role, %state, "media transport");
                    self.emit(MediaEvent::TransportState {
                        role,
                        state: transport_state(state),
                    })
                    .await;
                }
                Ok(())
            }
        }
    }

    async fn publish(&mut self, audio: bool, video: bool) -> Result<Publication, MediaError> {
        self.drop_publisher();
        for t in self.local.drain(..) {
            if let Some(f) = t.feedback {
                f.abort();
            }
        }
        let now = Instant::now();
        let mut publication = Publication::default();
        for (wanted, kind) in [(audio, MediaKind::Audio), (video, MediaKind::Video)] {
            if !wanted {
                continue;
            }
            let codec_kind = match kind {
                MediaKind::Audio => RtpCodecKind::Audio,
                MediaKind::Video => RtpCodecKind::Video,
            };
            let ssrc = fastrand::u32(1..);
            let track = MediaStreamTrack::new(
                "tether".to_owned(),
                kind.as_str().to_owned(),
                kind.as_str().to_owned(),
                codec_kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec: codec_for(codec_kind),
                    ..Default::default()
                }],
            );
            let writer = SampleWriter {
                kind,
                ssrc,
                track: Arc::new(TrackLocalStaticSample::new(now, track)?),
                payload_type: Arc::new(AtomicU8::new(match kind {
                    MediaKind::Audio => OPUS_PT,
                    MediaKind::Video => VP8_PT,
                })),
                muted: match kind {
                    MediaKind::Audio => self.muted_audio.clone(),
                    MediaKind::Video => self.muted_video.clone(),
                },
            };
            match kind {
                MediaKind::Audio => publication.audio = Some(writer.clone()),
                MediaKind::Video => publication.video = Some(writer.clone()),
            }
            self.local.push(LocalTrack {
                writer,
                feedback: None,
            });
        }
        if !self.local.is_empty() {
            self.start_publisher().await?;
        }
        Ok(publication)
    }

    /// Build the publisher connection around the local tracks and offer it.
    async fn start_publisher(&mut self) -> Result<(), MediaError> {
        let pc = self.new_pc(TransportRole::Publisher).await?;
        for t in &self.local {
            let init = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                ..Default::default()
            };
            pc.pc
                .add_transceiver_from_track(
                    t.writer.track.clone() as Arc<dyn TrackLocal>,
                    Some(init),
                )
                .await?;
        }
        self.publisher = Some(pc);
        self.offer_publisher(false).await
    }

    async fn offer_publisher(&mut self, ice_restart: bool) -> Result<(), MediaError> {
        let Some(pc) = self.publisher.as_ref() else {
            return Ok(());
        };
        let options = RTCOfferOptions { ice_restart };
        let offer = pc.pc.create_offer(Some(options)).await?;
        let sdp = pc.set_local(offer).await?;
        self.awaiting_answer = true;
        info!(ice_restart, "publisher offer");
        (self.signal)(ClientMessage::PublisherOffer { sdp });
        Ok(())
    }

    async fn on_server(&mut self, msg: ServerMessage) -> Result<(), MediaError> {
        match msg {
            ServerMessage::PublisherAnswer { sdp } => {
                let Some(pc) = self.publisher.as_ref() else {
                    return Ok(());
                };
                if !self.awaiting_answer {
                    debug!("publisher answer without an offer out; ignored");
                    return Ok(());
                }
                pc.pc
                    .set_remote_description(RTCSessionDescription::answer(sdp)?)
                    .await?;
                self.awaiting_answer = false;
                debug!("publisher answer applied");
                self.start_feedback().await;
                if std::mem::take(&mut self.restart_pending) {
                    self.offer_publisher(true).await?;
                }
                Ok(())
            }
            ServerMessage::SubscriberOffer { sdp } => {
                let fp = fingerprint(&sdp);
                let same = self
                    .subscriber
                    .as_ref()
                    .is_some_and(|s| s.remote_fingerprint.is_some() && s.remote_fingerprint == fp);
                if !same {
                    // A new server-side connection (first offer, or a new session).
                    self.drop_subscriber();
                    let mut pc = self.new_pc(TransportRole::Subscriber).await?;
                    pc.remote_fingerprint = fp;
                    self.subscriber = Some(pc);
                }
                // Tracks the server no longer sends end here: the transceiver
                // stays (for reuse) and its remote track does not end by itself.
                let offered = offered_tracks(&sdp);
                let mut ended = Vec::new();
                let mut back = Vec::new();
                for (key, r) in &mut self.remotes {
                    match (offered.contains(key), r.reader.is_some()) {
                        (false, true) => {
                            if let Some(reader) = r.reader.take() {
                                reader.abort();
                            }
                            ended.push(*key);
                        }
                        (true, false) => back.push(*key),
                        _ => {}
                    }
                }
                for (uid, kind) in ended {
                    info!(uid, kind = kind.as_str(), "remote track removed");
                    self.emit(MediaEvent::TrackEnded { uid, kind }).await;
                }
                for (uid, kind) in back {
                    let Some(track) = self.remotes.get(&(uid, kind)).map(|r| r.track.clone())
                    else {
                        continue;
                    };
                    info!(uid, kind = kind.as_str(), "remote track back");
                    self.start_reader(uid, kind, track).await;
                }
                let Some(pc) = self.subscriber.as_ref() else {
                    return Ok(());
                };
                pc.pc
                    .set_remote_description(RTCSessionDescription::offer(sdp)?)
                    .await?;
                let answer = pc.pc.create_answer(None).await?;
                let sdp = pc.set_local(answer).await?;
                debug!(renegotiation = same, "subscriber answer");
                (self.signal)(ClientMessage::SubscriberAnswer { sdp });
                Ok(())
            }
            ServerMessage::IceCandidate { target, candidate } => {
                let pc = match target {
                    MediaTarget::Publisher => self.publisher.as_ref(),
                    MediaTarget::Subscriber => self.subscriber.as_ref(),
                };
                if let Some(pc) = pc {
                    let init: RTCIceCandidateInit = serde_json::from_str(&candidate)
                        .map_err(|e| webrtc::error::Error::Other(e.to_string()))?;
                    pc.pc.add_ice_candidate(init).await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Read the server's feedback on each local track: keyframe requests go
    /// to the encoder; the rest is drained so the queue never fills.
    async fn start_feedback(&mut self) {
        for t in &mut self.local {
            if t.feedback.as_ref().is_some_and(|f| !f.is_finished()) {
                continue;
            }
            let track = t.writer.track.clone();
            let events = self.events.clone();
            let kind = t.writer.kind;
            let ssrc = t.writer.ssrc;
            let clock_rate = match kind {
                MediaKind::Audio => 48_000.0,
                MediaKind::Video => 90_000.0,
            };
            t.feedback = Some(tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                        continue;
                    };
                    let video = kind == MediaKind::Video;
                    if video && packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                        debug!("keyframe requested");
                        if events.try_send(MediaEvent::KeyframeRequested).is_err() {
                            trace!("keyframe request event dropped");
                        }
                    }
                    for (fraction_lost, jitter) in packets
                        .iter()
                        .filter_map(|p| reception_of(p.as_ref(), ssrc))
                    {
                        let report = MediaEvent::SendReport {
                            kind,
                            fraction_lost,
                            jitter_ms: f64::from(jitter) * 1000.0 / clock_rate,
                        };
                        if events.try_send(report).is_err() {
                            trace!("send report dropped");
                        }
                    }
                }
            }));
        }
    }

    async fn on_track(&mut self, pc: u64, track: Arc<dyn TrackRemote>) {
        if self.subscriber.as_ref().is_none_or(|s| s.id != pc) {
            return;
        }
        let Some(uid) = uid_of(&track.stream_id().await) else {
            warn!("remote track with an unexpected stream id; ignored");
            return;
        };
        let kind = match track.kind().await {
            RtpCodecKind::Audio => MediaKind::Audio,
            RtpCodecKind::Video => MediaKind::Video,
            _ => return,
        };
        info!(uid, kind = kind.as_str(), "remote track");
        self.start_reader(uid, kind, track).await;
    }

    /// (Re)start reading a remote track, fresh state, and say so.
    async fn start_reader(&mut self, uid: u32, kind: MediaKind, track: Arc<dyn TrackRemote>) {
        let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
        self.emit(MediaEvent::Track { uid, kind }).await;
        let reader = tokio::spawn(read_track(
            uid,
            kind,
            track.clone(),
            self.events.clone(),
            self.config.clone(),
        ));
        let old = self.remotes.insert(
            (uid, kind),
            Remote {
                track,
                ssrc,
                reader: Some(reader),
            },
        );
        if let Some(reader) = old.and_then(|r| r.reader) {
            reader.abort();
        }
    }
}

/// One remote track: frames, throttled RTP reports, periodic stats.
async fn read_track(
    uid: u32,
    kind: MediaKind,
    track: Arc<dyn TrackRemote>,
    events: mpsc::Sender<MediaEvent>,
    config: MediaConfig,
) {
    let start = Instant::now();
    let mut asm = Assembler::new(kind);
    let mut stats = RecvStats::new(kind, start);
    let mut next_rtp_report = start;
    let mut tick = tokio::time::interval_at(
        (start + config.stats_interval).into(),
        config.stats_interval,
    );
    loop {
        tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                    let now = Instant::now();
                    stats.on_packet(&packet.header, now);
                    if now >= next_rtp_report {
                        next_rtp_report = now + config.rtp_event_interval;
                        if events.try_send(MediaEvent::Rtp { uid, kind, at: now }).is_err() {
                            trace!("rtp report dropped");
                        }
                    }
                    for f in asm.push(packet) {
                        let frame = MediaEvent::Frame {
                            uid,
                            kind,
                            payload: f.payload,
                            is_keyframe: f.is_keyframe,
                            rtp_timestamp: f.rtp_timestamp,
                            after_loss: f.after_loss,
                        };
                        if events.send(frame).await.is_err() {
                            return;
                        }
                    }
                }
                Some(TrackRemoteEvent::OnEnded) | None => break,
                Some(_) => {}
            },
            _ = tick.tick() => {
                let report = MediaEvent::Stats {
                    uid,
                    kind,
                    packets_received: stats.received(),
                    packets_lost: stats.lost(),
                    frames_dropped: asm.frames_dropped,
                    jitter_ms: stats.jitter_ms(),
                };
                if events.try_send(report).is_err() {
                    trace!("stats dropped");
                }
            }
        }
    }
    debug!(uid, kind = kind.as_str(), "remote track ended");
    if events
        .send(MediaEvent::TrackEnded { uid, kind })
        .await
        .is_err()
    {
        trace!("media event receiver gone");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_tracks_reads_msid_of_sending_sections() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\na=msid:uid-7 uid-7-audio\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\na=msid:uid-7 uid-7-video\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=msid:uid-9 uid-9-video\r\na=sendrecv\r\n";
        assert_eq!(
            offered_tracks(sdp),
            vec![(7, MediaKind::Audio), (9, MediaKind::Video)]
        );
    }
}
