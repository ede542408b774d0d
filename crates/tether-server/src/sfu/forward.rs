//! Forwarding: one published track (a [`Source`]) fans its RTP out, unchanged
//! but for SSRC and payload type, to one outgoing track per subscriber (a
//! [`Sink`]). Keyframe requests travel the other way, throttled.
//!
//! Loss repair is per leg: the publisher leg's NACK generator asks the
//! publisher for what did not arrive (RTX), and each subscriber leg's NACK
//! responder answers the subscriber from that leg's own send buffer.
//! Subscribers' NACKs are never forwarded to the publisher, and what reaches
//! a source was filtered first (each packet once: `super::ingress`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tracing::{debug, trace};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;

use super::rtc::{codec_for, is_keyframe_request};
use super::Kind;

/// At most one keyframe request per source this often: a burst of PLIs from
/// several subscribers (or one subscriber's retries) costs one keyframe, and
/// a lossy subscriber cannot make the publisher send keyframes back to back.
const PLI_MIN_GAP: Duration = Duration::from_millis(500);

/// Keyframe request throttling.
#[derive(Default)]
struct PliState {
    /// When the last request went (or is scheduled to go) out.
    last: Option<Instant>,
    /// A request is scheduled and not sent yet.
    pending: bool,
}

/// One published track: the publisher's remote track and everyone it goes to.
pub(crate) struct Source {
    pub(crate) uid: u32,
    pub(crate) kind: Kind,
    pub(crate) ssrc: u32,
    remote: Arc<dyn TrackRemote>,
    /// Copy-on-write list so forwarding never holds a lock across an await.
    sinks: RwLock<Arc<Vec<Arc<Sink>>>>,
    pli: Mutex<PliState>,
    pub(crate) forwarded: AtomicU64,
}

impl Source {
    pub(crate) fn new(uid: u32, kind: Kind, ssrc: u32, remote: Arc<dyn TrackRemote>) -> Self {
        Self {
            uid,
            kind,
            ssrc,
            remote,
            sinks: RwLock::new(Arc::new(Vec::new())),
            pli: Mutex::new(PliState::default()),
            forwarded: AtomicU64::new(0),
        }
    }

    fn sinks(&self) -> Arc<Vec<Arc<Sink>>> {
        self.sinks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn edit_sinks(&self, f: impl FnOnce(&mut Vec<Arc<Sink>>)) {
        let mut guard = self
            .sinks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut list = guard.as_ref().clone();
        f(&mut list);
        *guard = Arc::new(list);
    }

    pub(crate) fn add_sink(&self, sink: Arc<Sink>) {
        self.edit_sinks(|l| {
            l.retain(|s| s.subscriber != sink.subscriber);
            l.push(sink);
        });
    }

    pub(crate) fn remove_sink(&self, subscriber: u32) {
        self.edit_sinks(|l| l.retain(|s| s.subscriber != subscriber));
    }

    /// Send one packet from the publisher to every active sink.
    pub(crate) async fn forward(&self, mut packet: rtp::Packet) {
        // Extension ids are per leg; the subscriber leg negotiated its own.
        packet.header.extension = false;
        packet.header.extension_profile = 0;
        packet.header.extensions.clear();
        for sink in self.sinks().iter() {
            if !sink.active.load(Ordering::Acquire) {
                continue;
            }
            let mut out = packet.clone();
            out.header.ssrc = sink.ssrc;
            out.header.payload_type = sink.payload_type.load(Ordering::Relaxed);
            if let Err(e) = sink.track.write_rtp(out).await {
                trace!(subscriber = sink.subscriber, "write_rtp failed: {e}");
            }
        }
        self.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    /// Ask the publisher for a keyframe (video only). Requests closer together
    /// than [`PLI_MIN_GAP`] are merged into one sent at the end of the gap, so
    /// none is lost (a subscriber that connects just after another still gets
    /// its own keyframe).
    pub(crate) fn request_keyframe(self: &Arc<Self>, why: &'static str) {
        if self.kind != Kind::Video {
            return;
        }
        let now = Instant::now();
        let delay = {
            let mut pli = self
                .pli
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pli.pending {
                return;
            }
            let at = pli.last.map_or(now, |t| (t + PLI_MIN_GAP).max(now));
            pli.pending = true;
            pli.last = Some(at);
            at - now
        };
        debug!(
            uid = self.uid,
            why,
            delay_ms = delay.as_millis() as u64,
            "keyframe request to publisher"
        );
        let me = self.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            me.pli
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pending = false;
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: me.ssrc,
            };
            if let Err(e) = me.remote.write_rtcp(vec![Box::new(pli)]).await {
                debug!(uid = me.uid, "sending PLI failed: {e}");
            }
        });
    }
}

/// One outgoing track on a subscriber's connection.
pub(crate) struct Sink {
    pub(crate) subscriber: u32,
    pub(crate) ssrc: u32,
    /// The payload type the subscriber leg negotiated for this codec.
    pub(crate) payload_type: AtomicU8,
    /// Set once the leg is negotiated and connected; nothing is written before.
    pub(crate) active: AtomicBool,
    pub(crate) track: Arc<TrackLocalStaticRTP>,
}

impl Sink {
    pub(crate) fn new(subscriber: u32, source: &Source, ssrc: u32, payload_type: u8) -> Self {
        let kind = match source.kind {
            Kind::Audio => RtpCodecKind::Audio,
            Kind::Video => RtpCodecKind::Video,
        };
        let stream_id = format!("uid-{}", source.uid);
        let track_id = format!("uid-{}-{}", source.uid, source.kind.as_str());
        let track = rtc::media_stream::MediaStreamTrack::new(
            stream_id,
            track_id.clone(),
            track_id,
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec_for(kind),
                ..Default::default()
            }],
        );
        Self {
            subscriber,
            ssrc,
            payload_type: AtomicU8::new(payload_type),
            active: AtomicBool::new(false),
            track: Arc::new(TrackLocalStaticRTP::new(track)),
        }
    }
}

/// Read the subscriber's feedback for one sink: keyframe requests go to the
/// source. Also drains the queue so the driver never finds it full.
pub(crate) async fn sink_feedback(sink: Arc<Sink>, source: Arc<Source>) {
    while let Some(event) = sink.track.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(packets) = event {
            if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                source.request_keyframe("subscriber asked");
            }
        }
    }
    trace!(subscriber = sink.subscriber, "sink feedback ended");
}
