//! The media task: owns both peer connections, executes commands and server
//! messages in order, and turns webrtc callbacks into [`MediaEvent`]s.

mod pc;
mod publish;
mod remote;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tether_proto::{ClientMessage, MediaTarget, ServerMessage};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, trace, warn};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription,
};

use super::rtc::build_pc;
use super::{
    MediaConfig, MediaError, MediaEvent, MediaKind, Publication, SampleWriter, Signal,
    TransportRole,
};
use pc::{fingerprint, ice_ufrag, transport_state, Handler, Pc};
use remote::offered_tracks;

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
    /// The connect watchdog of negotiation `negotiation` of `pc` is up.
    ConnectDeadline {
        pc: u64,
        role: TransportRole,
        negotiation: u64,
    },
}

/// The publisher connection's negotiation: one offer out at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OfferState {
    /// No offer out (none made yet, or the last one answered).
    Settled,
    /// An offer is out and its answer not in yet.
    Out {
        /// The offer restarts ICE.
        restarts_ice: bool,
        /// The local address media was bound to when it was made.
        bind_ip: IpAddr,
        /// Restart ICE once more after its answer: the address media binds
        /// to changed while it was out.
        restart_after: bool,
    },
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
    /// The SSRC the track's packets arrive on, as its reader last saw it.
    /// When a track comes back the SFU sends it on a new SSRC, which the
    /// track learns only from the server's offer applied after the reader
    /// restarted: a keyframe request must name the SSRC packets carry now
    /// (the SFU's connection drops one for an SSRC it no longer sends).
    ssrc: Arc<AtomicU32>,
    reader: Option<JoinHandle<()>>,
}

pub(crate) struct MediaTask {
    config: MediaConfig,
    signal: Signal,
    events: mpsc::Sender<MediaEvent>,
    tx: mpsc::UnboundedSender<Cmd>,
    next_pc: u64,
    publisher: Option<Pc>,
    /// Where the publisher's negotiation stands.
    offer: OfferState,
    local: Vec<LocalTrack>,
    subscriber: Option<Pc>,
    remotes: HashMap<(u32, MediaKind), Remote>,
    muted_audio: Arc<AtomicBool>,
    muted_video: Arc<AtomicBool>,
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
            offer: OfferState::Settled,
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
        self.offer = OfferState::Settled;
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
        let pc = build_pc(self.config.bind(), handler).await?;
        Ok(Pc {
            pc,
            id,
            gathering,
            remote_fingerprint: None,
            state: RTCPeerConnectionState::New,
            negotiation: 0,
            connected_since_negotiation: false,
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
                    if matches!(self.offer, OfferState::Out { .. }) {
                        self.resend_publisher_offer().await?;
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
                        media_ssrc: r.ssrc.load(Ordering::Relaxed),
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
                if let Some(current) = self.pc_mut(role).filter(|p| p.id == pc) {
                    current.state = state;
                    if state == RTCPeerConnectionState::Connected {
                        current.connected_since_negotiation = true;
                    }
                    info!(?role, %state, "media transport");
                    self.emit(MediaEvent::TransportState {
                        role,
                        state: transport_state(state),
                    })
                    .await;
                }
                Ok(())
            }
            Cmd::ConnectDeadline {
                pc,
                role,
                negotiation,
            } => {
                let stuck = self.pc_mut(role).is_some_and(|p| {
                    p.id == pc
                        && p.negotiation == negotiation
                        && !p.connected_since_negotiation
                        && p.state != RTCPeerConnectionState::Closed
                });
                if stuck {
                    let message = format!(
                        "{role:?} media connection not connected {:?} after negotiation",
                        self.config.connect_timeout
                    );
                    warn!("{message}; reporting it failed");
                    self.emit(MediaEvent::Error { message }).await;
                    self.emit(MediaEvent::TransportState {
                        role,
                        state: super::TransportState::Failed,
                    })
                    .await;
                }
                Ok(())
            }
        }
    }

    /// The connection of `role`, if there is one.
    fn pc_mut(&mut self, role: TransportRole) -> Option<&mut Pc> {
        match role {
            TransportRole::Publisher => self.publisher.as_mut(),
            TransportRole::Subscriber => self.subscriber.as_mut(),
        }
    }

    /// (Re)start the connect watchdog of the connection of `role`: an offer
    /// or answer of a negotiation that needs ICE to (re)connect (a new
    /// connection, or an ICE restart; every publisher offer is one) went out
    /// or came in. Only the latest negotiation's deadline counts.
    fn arm_connect_deadline(&mut self, role: TransportRole) {
        let pc = self.pc_mut(role);
        let Some(pc) = pc else {
            return;
        };
        pc.negotiation += 1;
        pc.connected_since_negotiation = false;
        let cmd = Cmd::ConnectDeadline {
            pc: pc.id,
            role,
            negotiation: pc.negotiation,
        };
        let tx = self.tx.clone();
        let after = self.config.connect_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _task_gone = tx.send(cmd);
        });
    }

    async fn on_server(&mut self, msg: ServerMessage) -> Result<(), MediaError> {
        match msg {
            ServerMessage::PublisherAnswer { sdp } => {
                let Some(pc) = self.publisher.as_ref() else {
                    return Ok(());
                };
                let OfferState::Out {
                    restarts_ice,
                    restart_after,
                    ..
                } = self.offer
                else {
                    debug!("publisher answer without an offer out; ignored");
                    return Ok(());
                };
                if restarts_ice {
                    // An ICE restart's answer has new credentials. One with the
                    // current ones answers an earlier offer (re-sent across a
                    // resume, so it can be answered twice).
                    let current = pc.pc.remote_description().await;
                    let current = current.as_ref().and_then(|d| ice_ufrag(&d.sdp));
                    if current.is_some() && current == ice_ufrag(&sdp) {
                        debug!("answer to an earlier publisher offer; ignored");
                        return Ok(());
                    }
                }
                pc.pc
                    .set_remote_description(RTCSessionDescription::answer(sdp)?)
                    .await?;
                self.offer = OfferState::Settled;
                debug!("publisher answer applied");
                self.arm_connect_deadline(TransportRole::Publisher);
                self.start_feedback().await;
                if restart_after {
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
                // ICE has to (re)connect after this answer: a new connection,
                // or an ICE restart (new credentials). A plain renegotiation
                // (tracks added or removed) keeps the connection as it is.
                let current = pc.pc.remote_description().await;
                let restart =
                    !same || current.as_ref().and_then(|d| ice_ufrag(&d.sdp)) != ice_ufrag(&sdp);
                pc.pc
                    .set_remote_description(RTCSessionDescription::offer(sdp)?)
                    .await?;
                let answer = pc.pc.create_answer(None).await?;
                let sdp = pc.set_local(answer, restart && same).await?;
                debug!(
                    renegotiation = same,
                    ice_restart = restart,
                    "subscriber answer"
                );
                (self.signal)(ClientMessage::SubscriberAnswer { sdp });
                if restart {
                    self.arm_connect_deadline(TransportRole::Subscriber);
                }
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
}
