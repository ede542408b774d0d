//! WebRTC settings both ends of a Tether call share, so they always match:
//! the codecs and their payload types (Opus 111, VP8 96 with RTX 97), the
//! RTCP feedback the application needs (keyframe requests, receiver
//! reports), ICE check timing, and the peer-connection defaults.
//!
//! Loss repair: NACK both ways with RTX (RFC 4588) for video; our own NACK
//! generator ([`nack`]) counts RTX-repaired packets as arrived, so a repaired
//! packet is never asked for again, and asks for none more than
//! [`MAX_NACKS_PER_PACKET`] times; our NACK responder ([`responder`]) keeps
//! only the last second of what each track sent.

pub mod nack;
pub mod responder;
pub mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    Registry, SettingEngineBuilder,
};

/// Opus payload type, on every leg.
pub const OPUS_PT: u8 = 111;
/// VP8 payload type.
pub const VP8_PT: u8 = 96;
/// RTX for VP8.
pub const VP8_RTX_PT: u8 = 97;

/// How often ICE sends connectivity checks. The crate's default (200 ms) is
/// what delays DTLS; 20 ms brings a loopback connection up in tens of ms.
pub const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// How often the NACK generator asks for what is still missing (as the
/// crate's own generator did).
pub const NACK_INTERVAL: Duration = Duration::from_millis(100);

/// A lost packet is NACKed at most this many times: as soon as the gap
/// shows, then [`NACK_INTERVAL`] apart, so over 300 ms, about as long as a
/// receiver waits for it (the client gives a frame up once 300 ms of newer
/// media is held behind a gap).
pub const MAX_NACKS_PER_PACKET: u16 = 4;

/// The codec a track of `kind` is sent with.
pub fn codec_for(kind: RtpCodecKind) -> RTCRtpCodec {
    match kind {
        RtpCodecKind::Video => RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: video_feedback(),
        },
        _ => RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
    }
}

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("goog-remb", ""),
        ("ccm", "fir"),
        ("nack", ""),
        ("nack", "pli"),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    })
    .collect()
}

/// Only Opus and VP8 (with RTX), as the server offers.
pub fn media_engine() -> webrtc::error::Result<MediaEngine> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec_for(RtpCodecKind::Audio),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec_for(RtpCodecKind::Video),
            payload_type: VP8_PT,
        },
        RtpCodecKind::Video,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: "video/rtx".to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: format!("apt={VP8_PT}"),
                rtcp_feedback: vec![],
            },
            payload_type: VP8_RTX_PT,
        },
        RtpCodecKind::Video,
    )?;
    Ok(engine)
}

/// Hands keyframe requests (PLI, FIR) and receiver reports (the far end's
/// loss and jitter on what we send) to the application; everything else
/// passes through untouched and is consumed by the chain as usual.
#[derive(Default)]
pub struct RtcpToApplication {
    read: std::collections::VecDeque<TaggedPacket>,
    write: std::collections::VecDeque<TaggedPacket>,
}

pub fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// The reception reports about `ssrc` in a receiver report: the server's
/// view of what we send (fraction lost 0..1, interarrival jitter in RTP
/// timestamp units).
pub fn reception_of(p: &dyn rtc::rtcp::Packet, ssrc: u32) -> Option<(f64, u32)> {
    let rr = p.as_any().downcast_ref::<ReceiverReport>()?;
    rr.reports
        .iter()
        .find(|r| r.ssrc == ssrc)
        .map(|r| (f64::from(r.fraction_lost) / 256.0, r.jitter))
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpToApplication {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = webrtc::error::Error;
    type Time = std::time::Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted = packets
                .iter()
                .any(|p| is_keyframe_request(p.as_ref()) || p.as_any().is::<ReceiverReport>());
            if wanted {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for RtcpToApplication {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// The crate's default interceptors (`register_default_interceptors`: NACK
/// both ways, simulcast header extensions, TWCC receiver, RTCP reports), but
/// with our RTX-aware [`nack::NackGenerator`] and our time-bounded
/// [`responder::NackResponder`] in place of the crate's (see there why),
/// plus [`RtcpToApplication`].
pub fn interceptors(engine: &mut MediaEngine) -> webrtc::error::Result<Registry> {
    for parameter in ["", "pli"] {
        engine.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(engine)?;
    let registry = Registry::new()
        .with(Slot::NackResponder, responder::NackResponder::new())
        .with(
            Slot::NackGenerator,
            nack::NackGenerator::new(NACK_INTERVAL, MAX_NACKS_PER_PACKET),
        );
    let registry = configure_twcc_receiver_only(registry, engine)?;
    Ok(configure_rtcp_reports(registry).with(Slot::from(14_000), RtcpToApplication::default()))
}

/// Build a peer connection with the shared settings, bound to `bind`
/// (port 0 = ephemeral), gathering loopback candidates when
/// `include_loopback`. Its UDP socket receives one datagram at a time
/// ([`udp::NoGroRuntime`]: no 2 × 96 KB GRO receive buffers per connection).
pub async fn build_peer_connection(
    bind: SocketAddr,
    include_loopback: bool,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
    build_peer_connection_with(bind, include_loopback, false, handler).await
}

/// [`build_peer_connection`], with `bind` resolved each time the sockets are
/// bound, and with `rebind_on_ice_restart`: every ICE restart drops the
/// sockets and their local candidates, resolves `bind` again and gathers on
/// what it gives *now* (so a connection follows a network change; without
/// it, a restart keeps sending from the sockets it was built with, even when
/// their address no longer exists).
pub async fn build_peer_connection_with<A: std::net::ToSocketAddrs + Send + 'static>(
    bind: A,
    include_loopback: bool,
    rebind_on_ice_restart: bool,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
    let mut engine = media_engine()?;
    let registry = interceptors(&mut engine)?;
    let settings = SettingEngineBuilder::new()
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), None)
        .with_include_loopback_candidate(include_loopback)
        // Candidates are plain addresses; mDNS (.local) names are never used,
        // and joining its multicast group fails (ENODEV) on a host without a
        // multicast route, which would fail the whole connection.
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_discard_local_candidates_during_ice_restart(rebind_on_ice_restart);
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings.build())
        .with_handler(handler)
        .with_udp_addrs(vec![bind])
        .with_runtime(Arc::new(udp::NoGroRuntime::new()))
        .build()
        .await?;
    Ok(Arc::new(pc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_types_are_registered() {
        assert!(media_engine().is_ok());
        assert_eq!(codec_for(RtpCodecKind::Audio).clock_rate, 48_000);
        assert_eq!(codec_for(RtpCodecKind::Video).mime_type, MIME_TYPE_VP8);
    }
}
