//! The publisher side of the media task: local tracks, the publisher
//! connection and its offers, and the server's feedback on what we send.

use std::sync::atomic::AtomicU8;
use std::sync::Arc;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tether_proto::ClientMessage;
use tracing::{debug, info, trace};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use super::super::rtc::{codec_for, is_keyframe_request, reception_of, OPUS_PT, VP8_PT};
use super::super::{MediaError, MediaEvent, MediaKind, Publication, SampleWriter, TransportRole};
use super::{LocalTrack, MediaTask, OfferState};

impl MediaTask {
    pub(super) async fn publish(
        &mut self,
        audio: bool,
        video: bool,
    ) -> Result<Publication, MediaError> {
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
    pub(super) async fn start_publisher(&mut self) -> Result<(), MediaError> {
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

    pub(super) async fn offer_publisher(&mut self, ice_restart: bool) -> Result<(), MediaError> {
        let Some(pc) = self.publisher.as_ref() else {
            return Ok(());
        };
        let options = RTCOfferOptions { ice_restart };
        let bind_ip = self.config.bind().ip();
        let offer = pc.pc.create_offer(Some(options)).await?;
        let sdp = pc.set_local(offer, ice_restart).await?;
        self.offer = OfferState::Out {
            restarts_ice: ice_restart,
            bind_ip,
            restart_after: false,
        };
        info!(ice_restart, %bind_ip, "publisher offer");
        (self.signal)(ClientMessage::PublisherOffer { sdp });
        self.arm_connect_deadline(TransportRole::Publisher);
        Ok(())
    }

    /// A new signalling connection while an offer is out: its answer may
    /// have been lost with the old connection, and none will come on the
    /// new one unless the server hears the offer again. Send the same
    /// offer again: whether the server saw it before or not, every answer
    /// to it carries the same credentials, so any of them completes it (a
    /// later one is recognised as stale). When the address media binds to
    /// has changed since, restart ICE once more after that answer: the
    /// offer's candidates are for the old address.
    pub(super) async fn resend_publisher_offer(&mut self) -> Result<(), MediaError> {
        let Some(pc) = self.publisher.as_ref() else {
            return Ok(());
        };
        let pending = pc.pc.pending_local_description().await;
        let (
            Some(offer),
            OfferState::Out {
                restarts_ice,
                bind_ip,
                restart_after,
            },
        ) = (pending, self.offer)
        else {
            // Nothing pending after all: a fresh restart.
            self.offer = OfferState::Settled;
            return self.offer_publisher(true).await;
        };
        let restart_after = restart_after || bind_ip != self.config.bind().ip();
        self.offer = OfferState::Out {
            restarts_ice,
            bind_ip,
            restart_after,
        };
        info!(
            ice_restart = restarts_ice,
            restart_after, "publisher offer sent again (its answer was lost with the connection)"
        );
        (self.signal)(ClientMessage::PublisherOffer { sdp: offer.sdp });
        self.arm_connect_deadline(TransportRole::Publisher);
        Ok(())
    }

    /// Read the server's feedback on each local track: keyframe requests go
    /// to the encoder; the rest is drained so the queue never fills.
    pub(super) async fn start_feedback(&mut self) {
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
}
