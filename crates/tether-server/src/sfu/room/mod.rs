//! One channel's media: every session's two peer connections, the published
//! sources and the sinks that carry them to subscribers. One task owns it all;
//! webrtc callbacks only post [`RoomCmd`]s.

mod pc;
mod subscribe;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tether_proto::{ErrorCode, MediaTarget, ServerMessage};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Span};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use super::candidate::{Policy, MAX_PER_PC};
use super::forward::{Sink, Source};
use super::ingress::Ingress;
use super::rtc::PcFactory;
use super::{Kind, Signal};
use crate::hub::{Hub, SessionKey};

pub(crate) use pc::{fingerprint, parse_candidate, Role};
use pc::{Handler, Pc};

/// What the room task handles, in order.
pub(crate) enum RoomCmd {
    Joined {
        uid: u32,
        session_id: String,
        span: Span,
    },
    Removed {
        uid: u32,
        session_id: String,
    },
    Unpublished {
        uid: u32,
        session_id: String,
    },
    Signal {
        uid: u32,
        session_id: String,
        signal: Signal,
    },
    /// A publisher connection got a track.
    Track {
        uid: u32,
        pc: u64,
        track: Arc<dyn TrackRemote>,
    },
    /// A source's reader ended.
    TrackEnded {
        uid: u32,
        pc: u64,
        kind: Kind,
    },
    /// The room's last session is gone: close everything and end.
    Close,
    /// A connection's state changed.
    PcState {
        uid: u32,
        pc: u64,
        role: Role,
        state: RTCPeerConnectionState,
    },
}

/// One outgoing track on a subscriber connection.
struct Down {
    source: Arc<Source>,
    sink: Arc<Sink>,
    sender: Arc<dyn RtpSender>,
    negotiated: bool,
    feedback: Option<JoinHandle<()>>,
}

struct Participant {
    session_id: String,
    span: Span,
    publisher: Option<Pc>,
    published: BTreeMap<Kind, Arc<Source>>,
    readers: Vec<JoinHandle<()>>,
    subscriber: Option<Pc>,
    subscriber_connected: bool,
    down: BTreeMap<(u32, Kind), Down>,
    /// The tracks in the offer awaiting an answer.
    offered: Option<BTreeSet<(u32, Kind)>>,
    needs_offer: bool,
    needs_restart: bool,
}

impl Participant {
    fn new(session_id: String, span: Span) -> Self {
        Self {
            session_id,
            span,
            publisher: None,
            published: BTreeMap::new(),
            readers: Vec::new(),
            subscriber: None,
            subscriber_connected: false,
            down: BTreeMap::new(),
            offered: None,
            needs_offer: false,
            needs_restart: false,
        }
    }

    fn close(mut self) {
        for r in self.readers.drain(..) {
            r.abort();
        }
        for (_, d) in std::mem::take(&mut self.down) {
            d.source.remove_sink(d.sink.subscriber);
            if let Some(f) = d.feedback {
                f.abort();
            }
        }
        if let Some(pc) = self.publisher.take() {
            pc.close();
        }
        if let Some(pc) = self.subscriber.take() {
            pc.close();
        }
    }
}

pub(crate) struct Room {
    channel: String,
    hub: Arc<Hub>,
    factory: Arc<PcFactory>,
    tx: mpsc::UnboundedSender<RoomCmd>,
    parts: BTreeMap<u32, Participant>,
    next_pc: u64,
    /// Which addresses clients' candidates may name.
    candidates: Policy,
}

fn kind_of(kind: RtpCodecKind) -> Option<Kind> {
    match kind {
        RtpCodecKind::Audio => Some(Kind::Audio),
        RtpCodecKind::Video => Some(Kind::Video),
        _ => None,
    }
}

impl Room {
    pub(crate) fn new(
        channel: String,
        hub: Arc<Hub>,
        factory: Arc<PcFactory>,
        tx: mpsc::UnboundedSender<RoomCmd>,
    ) -> Self {
        let candidates = Policy::for_bind(factory.bind_ip());
        Self {
            channel,
            hub,
            factory,
            tx,
            parts: BTreeMap::new(),
            next_pc: 1,
            candidates,
        }
    }

    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<RoomCmd>,
        shutdown: CancellationToken,
    ) {
        debug!("room open");
        loop {
            let cmd = tokio::select! {
                () = shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => break,
                },
            };
            if let RoomCmd::Close = cmd {
                break;
            }
            self.handle(cmd).await;
        }
        for (_, p) in std::mem::take(&mut self.parts) {
            p.close();
        }
        debug!("room closed");
    }

    fn key(&self, uid: u32) -> Option<SessionKey> {
        self.parts.get(&uid).map(|p| SessionKey {
            channel: self.channel.clone(),
            uid,
            session_id: p.session_id.clone(),
        })
    }

    fn send(&self, uid: u32, msg: &ServerMessage) -> bool {
        self.key(uid).is_some_and(|k| self.hub.send_to(&k, msg))
    }

    fn error(&self, uid: u32, code: ErrorCode, message: String) {
        if let Some(p) = self.parts.get(&uid) {
            warn!(parent: &p.span, ?code, %message, "media error");
        }
        self.send(
            uid,
            &ServerMessage::Error {
                code,
                message,
                fatal: false,
            },
        );
    }

    fn is_current(&self, uid: u32, session_id: &str) -> bool {
        self.parts
            .get(&uid)
            .is_some_and(|p| p.session_id == session_id)
    }

    async fn handle(&mut self, cmd: RoomCmd) {
        match cmd {
            RoomCmd::Joined {
                uid,
                session_id,
                span,
            } => {
                if let Some(old) = self.parts.remove(&uid) {
                    old.close();
                    self.resubscribe_all().await;
                }
                info!(parent: &span, "media session ready");
                self.parts.insert(uid, Participant::new(session_id, span));
                self.resubscribe(uid).await;
            }
            RoomCmd::Removed { uid, session_id } => {
                if self.is_current(uid, &session_id) {
                    if let Some(p) = self.parts.remove(&uid) {
                        info!(parent: &p.span, "media session dropped");
                        p.close();
                    }
                    self.resubscribe_all().await;
                }
            }
            RoomCmd::Unpublished { uid, session_id } => {
                if self.is_current(uid, &session_id) {
                    self.drop_publisher(uid);
                    self.resubscribe_all().await;
                }
            }
            RoomCmd::Signal {
                uid,
                session_id,
                signal,
            } => {
                if self.is_current(uid, &session_id) {
                    self.signal(uid, signal).await;
                }
            }
            RoomCmd::Track { uid, pc, track } => self.on_track(uid, pc, track).await,
            RoomCmd::TrackEnded { uid, pc, kind } => {
                let Some(p) = self.parts.get_mut(&uid) else {
                    return;
                };
                if p.publisher.as_ref().is_some_and(|x| x.id == pc) {
                    info!(parent: &p.span, kind = kind.as_str(), "published track ended");
                    p.published.remove(&kind);
                    self.resubscribe_all().await;
                }
            }
            RoomCmd::PcState {
                uid,
                pc,
                role,
                state,
            } => self.on_state(uid, pc, role, state),
            RoomCmd::Close => {}
        }
    }

    fn on_state(&mut self, uid: u32, pc: u64, role: Role, state: RTCPeerConnectionState) {
        let Some(p) = self.parts.get_mut(&uid) else {
            return;
        };
        let current = match role {
            Role::Publisher => p.publisher.as_ref(),
            Role::Subscriber => p.subscriber.as_ref(),
        };
        if current.is_none_or(|x| x.id != pc) {
            return;
        }
        info!(parent: &p.span, ?role, %state, "peer connection state");
        if role != Role::Subscriber {
            return;
        }
        p.subscriber_connected = state == RTCPeerConnectionState::Connected;
        if p.subscriber_connected {
            // (Re)connected: start every negotiated sink, and ask for keyframes
            // so the subscriber can decode at once.
            for d in p.down.values().filter(|d| d.negotiated) {
                d.sink.active.store(true, Ordering::Release);
                d.source.request_keyframe("subscriber connected");
            }
        }
    }

    async fn signal(&mut self, uid: u32, signal: Signal) {
        match signal {
            Signal::PublisherOffer(sdp) => {
                let sdp = self.allowed_candidates(uid, sdp);
                if let Err(e) = self.publisher_offer(uid, sdp).await {
                    self.error(uid, ErrorCode::BadMessage, format!("publisher offer: {e}"));
                }
            }
            Signal::SubscriberAnswer(sdp) => {
                let sdp = self.allowed_candidates(uid, sdp);
                if let Err(e) = self.subscriber_answer(uid, sdp).await {
                    self.error(
                        uid,
                        ErrorCode::BadMessage,
                        format!("subscriber answer: {e}"),
                    );
                }
            }
            Signal::IceCandidate { target, candidate } => {
                let policy = self.candidates;
                let Some(p) = self.parts.get_mut(&uid) else {
                    return;
                };
                let span = p.span.clone();
                let pc = match target {
                    MediaTarget::Publisher => p.publisher.as_mut(),
                    MediaTarget::Subscriber => p.subscriber.as_mut(),
                };
                let Some(pc) = pc else {
                    debug!(parent: &p.span, ?target, "candidate for a connection that does not exist");
                    return;
                };
                let init = match parse_candidate(&candidate) {
                    Ok(init) => init,
                    Err(e) => {
                        self.error(uid, ErrorCode::BadMessage, format!("bad candidate: {e}"));
                        return;
                    }
                };
                // An empty candidate is the end of candidates.
                if !init.candidate.is_empty() {
                    let refused = if pc.candidates >= MAX_PER_PC {
                        Err(format!("more than {MAX_PER_PC} candidates"))
                    } else {
                        policy.check(&init.candidate)
                    };
                    // Dropped, not answered with an error: a client's
                    // link-local or loopback candidates are ordinary, and
                    // the others it names still connect.
                    if let Err(why) = refused {
                        debug!(parent: &span, ?target, "candidate dropped: {why}");
                        return;
                    }
                    pc.candidates += 1;
                }
                let pc = &*pc;
                if let Err(e) = pc.pc.add_ice_candidate(init).await {
                    self.error(
                        uid,
                        ErrorCode::BadMessage,
                        format!("candidate refused: {e}"),
                    );
                }
            }
            Signal::SubscriberRestart => {
                if let Some(p) = self.parts.get_mut(&uid) {
                    info!(parent: &p.span, "subscriber ICE restart requested");
                    p.needs_restart = true;
                    p.needs_offer = true;
                    // An offer still out was most likely lost with the old socket.
                    p.offered = None;
                }
                self.resubscribe(uid).await;
            }
        }
    }

    /// The SDP without the candidates the policy refuses (said in the log).
    fn allowed_candidates(&self, uid: u32, sdp: String) -> String {
        let (filtered, removed) = self.candidates.filter_sdp(&sdp);
        if removed > 0 {
            if let Some(p) = self.parts.get(&uid) {
                warn!(parent: &p.span, removed, "candidates in the SDP refused");
            }
        }
        filtered
    }

    async fn new_pc(&mut self, uid: u32, role: Role) -> webrtc::error::Result<Pc> {
        let id = self.next_pc;
        self.next_pc += 1;
        let (gathering_tx, gathering) = watch::channel(RTCIceGatheringState::New);
        let handler = Arc::new(Handler {
            room: self.tx.clone(),
            uid,
            pc: id,
            role,
            gathering: gathering_tx,
        });
        let pc = self.factory.build(handler).await?;
        Ok(Pc {
            pc,
            id,
            gathering,
            remote_fingerprint: None,
            candidates: 0,
        })
    }

    fn drop_publisher(&mut self, uid: u32) {
        if let Some(p) = self.parts.get_mut(&uid) {
            if let Some(pc) = p.publisher.take() {
                info!(parent: &p.span, "publisher connection closed");
                pc.close();
            }
            p.published.clear();
            for r in p.readers.drain(..) {
                r.abort();
            }
        }
    }

    async fn publisher_offer(&mut self, uid: u32, sdp: String) -> webrtc::error::Result<()> {
        let Some(key) = self.key(uid) else {
            return Ok(());
        };
        if !self.hub.may_publish(&key) {
            self.error(
                uid,
                ErrorCode::NoPrivilege,
                "token does not grant the publish privilege".into(),
            );
            return Ok(());
        }
        let fp = fingerprint(&sdp);
        let same = self
            .parts
            .get(&uid)
            .and_then(|p| p.publisher.as_ref())
            .is_some_and(|pc| pc.remote_fingerprint.is_some() && pc.remote_fingerprint == fp);
        if !same {
            // A new connection from the client (first publish, or after unpublish).
            let had = self.parts.get(&uid).is_some_and(|p| p.publisher.is_some());
            if had {
                self.drop_publisher(uid);
                self.resubscribe_all().await;
            }
            let mut pc = self.new_pc(uid, Role::Publisher).await?;
            pc.remote_fingerprint = fp;
            if let Some(p) = self.parts.get_mut(&uid) {
                p.publisher = Some(pc);
            }
        }
        let Some(pc) = self.parts.get(&uid).and_then(|p| p.publisher.as_ref()) else {
            return Ok(());
        };
        pc.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = pc.pc.create_answer(None).await?;
        let sdp = self.factory.advertise(pc.set_local(answer).await?);
        if let Some(p) = self.parts.get(&uid) {
            info!(parent: &p.span, renegotiation = same, "publisher answer");
        }
        self.send(uid, &ServerMessage::PublisherAnswer { sdp });
        Ok(())
    }

    async fn on_track(&mut self, uid: u32, pc: u64, track: Arc<dyn TrackRemote>) {
        let Some(p) = self.parts.get_mut(&uid) else {
            return;
        };
        if p.publisher.as_ref().is_none_or(|x| x.id != pc) {
            return;
        }
        let Some(kind) = kind_of(track.kind().await) else {
            return;
        };
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            warn!(parent: &p.span, "track without an SSRC; ignored");
            return;
        };
        info!(parent: &p.span, kind = kind.as_str(), ssrc, "published track");
        let source = Arc::new(Source::new(uid, kind, ssrc, track.clone()));
        let reader = {
            let source = source.clone();
            let room = self.tx.clone();
            let span = p.span.clone();
            tokio::spawn(async move {
                let mut ingress = Ingress::new(ssrc);
                let mut logged = ingress.stats;
                while let Some(event) = track.poll().await {
                    match event {
                        TrackRemoteEvent::OnRtpPacket(packet) => {
                            if let Some(packet) = ingress.accept(packet) {
                                source.forward(packet).await;
                            }
                            let stats = ingress.stats;
                            if stats.resyncs != logged.resyncs
                                || (logged.unwrapped == 0 && stats.unwrapped > 0)
                            {
                                // Rare (see `ingress`): a line for each resync
                                // and the first unwrapped repair.
                                info!(parent: &span, kind = kind.as_str(), stats = ?ingress.stats, "publisher stream repaired");
                                logged = ingress.stats;
                            }
                        }
                        TrackRemoteEvent::OnEnded => break,
                        _ => {}
                    }
                }
                debug!(parent: &span, kind = kind.as_str(), stats = ?ingress.stats, "published track reader ended");
                // Gone only at shutdown.
                let _room_gone = room.send(RoomCmd::TrackEnded { uid, pc, kind });
            })
        };
        p.readers.push(reader);
        p.published.insert(kind, source);
        self.resubscribe_all().await;
    }
}
