//! The webrtc crate's knobs in one place: codecs, interceptors, ICE timing,
//! UDP ports and the address to advertise.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use webrtc::peer_connection::{
    register_default_interceptors, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, Registry, SettingEngineBuilder,
};

use crate::config::MediaConfig;

/// Opus payload type on every leg the server offers or answers.
pub(crate) const OPUS_PT: u8 = 111;
/// VP8 payload type.
pub(crate) const VP8_PT: u8 = 96;
/// RTX for VP8.
const VP8_RTX_PT: u8 = 97;

/// How often ICE sends connectivity checks. The crate's default (200 ms) is
/// what delays DTLS; 20 ms brings a loopback connection up in tens of ms.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// The codec a track of `kind` is sent with.
pub(crate) fn codec_for(kind: RtpCodecKind) -> RTCRtpCodec {
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

/// Only Opus and VP8 (with RTX): small SDPs and fixed payload types.
fn media_engine() -> webrtc::error::Result<MediaEngine> {
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

/// Hands keyframe requests (PLI, FIR) to the application; everything else
/// passes through untouched and is consumed by the chain as usual.
#[derive(Default)]
struct KeyframeRequests {
    read: std::collections::VecDeque<TaggedPacket>,
    write: std::collections::VecDeque<TaggedPacket>,
}

pub(crate) fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = webrtc::error::Error;
    type Time = std::time::Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
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

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// Builds peer connections with the server's settings, picking UDP ports
/// from the configured range.
#[derive(Debug)]
pub(crate) struct PcFactory {
    config: MediaConfig,
    /// The IP to bind when the configuration names none.
    default_ip: IpAddr,
    next_port: AtomicU32,
}

impl PcFactory {
    pub(crate) fn new(config: MediaConfig, default_ip: IpAddr) -> Self {
        Self {
            config,
            default_ip,
            next_port: AtomicU32::new(0),
        }
    }

    fn bind_ip(&self) -> IpAddr {
        self.config.bind_ip.unwrap_or(self.default_ip)
    }

    /// A free port from the range (checked by binding it once), or 0.
    fn pick_port(&self) -> u16 {
        let (min, max) = (self.config.udp_port_min, self.config.udp_port_max);
        if min == 0 || max < min {
            return 0;
        }
        let span = u32::from(max - min) + 1;
        let ip = self.bind_ip();
        for _ in 0..span {
            let offset = self.next_port.fetch_add(1, Ordering::Relaxed) % span;
            // offset < span <= 65536 and min + offset <= max.
            let port = min.saturating_add(u16::try_from(offset).unwrap_or(0));
            if UdpSocket::bind(SocketAddr::new(ip, port)).is_ok() {
                return port;
            }
        }
        // Everything taken: the bind below fails and the error says why.
        min
    }

    /// The SDP as the client must see it: with an advertised IP, every host
    /// candidate names that IP instead of the bound one (1:1 NAT). The
    /// webrtc crate stores `nat_1to1_ips` but does not apply them (0.21.1),
    /// so the rewrite happens here, on the SDP the server sends.
    pub(crate) fn advertise(&self, sdp: String) -> String {
        let Some(ip) = self.config.advertise_ip else {
            return sdp;
        };
        let ip = ip.to_string();
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            let body = line.trim_end_matches(['\r', '\n']);
            let ending = &line[body.len()..];
            if body.starts_with("a=candidate:") && body.contains(" typ host") {
                let mut fields: Vec<&str> = body.split(' ').collect();
                if let Some(addr) = fields.get_mut(4) {
                    *addr = &ip;
                }
                out.push_str(&fields.join(" "));
                out.push_str(ending);
            } else {
                out.push_str(line);
            }
        }
        out
    }

    pub(crate) async fn build(
        &self,
        handler: Arc<dyn PeerConnectionEventHandler>,
    ) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
        let mut engine = media_engine()?;
        let registry = register_default_interceptors(Registry::new(), &mut engine)?
            .with(Slot::from(14_000), KeyframeRequests::default());
        let settings = SettingEngineBuilder::new()
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), None)
            .with_include_loopback_candidate(true)
            // Candidates are plain addresses; mDNS (.local) names are never used,
            // and joining its multicast group fails (ENODEV) on a host without a
            // multicast route, which would fail the whole connection.
            .with_multicast_dns_mode(MulticastDnsMode::Disabled);
        let addr = SocketAddr::new(self.bind_ip(), self.pick_port());
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings.build())
            .with_handler(handler)
            .with_udp_addrs(vec![addr])
            .build()
            .await?;
        Ok(Arc::new(pc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc::peer_connection::{RTCIceGatheringState, RTCSdpType, RTCSessionDescription};

    struct Gathered(tokio::sync::watch::Sender<bool>);

    #[async_trait::async_trait]
    impl PeerConnectionEventHandler for Gathered {
        async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
            if state == RTCIceGatheringState::Complete {
                self.0.send_replace(true);
            }
        }
    }

    /// The candidates of a fully gathered offer from a connection the factory built.
    async fn candidates(factory: &PcFactory) -> Vec<(String, u16)> {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let pc = factory.build(Arc::new(Gathered(tx))).await.expect("build");
        pc.add_transceiver_from_kind(RtpCodecKind::Audio, None)
            .await
            .expect("transceiver");
        let offer = pc.create_offer(None).await.expect("offer");
        pc.set_local_description(offer).await.expect("set local");
        tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|g| *g))
            .await
            .expect("gathered in time")
            .expect("handler alive");
        let desc: RTCSessionDescription = pc.local_description().await.expect("local");
        assert_eq!(desc.sdp_type, RTCSdpType::Offer);
        pc.close().await.expect("close");
        factory
            .advertise(desc.sdp)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("a=candidate:"))
            .map(|c| {
                let f: Vec<&str> = c.split_whitespace().collect();
                (f[4].to_owned(), f[5].parse().expect("port"))
            })
            .collect()
    }

    #[tokio::test]
    async fn media_ports_come_from_the_range_and_the_advertised_ip_is_used() {
        // A range unlikely to be busy; the test only needs one free port in it.
        let config = MediaConfig {
            udp_port_min: 47_310,
            udp_port_max: 47_329,
            bind_ip: None,
            advertise_ip: Some("203.0.113.9".parse().expect("ip")),
        };
        let factory = PcFactory::new(config, "127.0.0.1".parse().expect("ip"));
        for _ in 0..3 {
            let c = candidates(&factory).await;
            assert!(!c.is_empty(), "host candidates gathered");
            for (ip, port) in c {
                assert_eq!(ip, "203.0.113.9");
                assert!((47_310..=47_329).contains(&port), "port {port} in range");
            }
        }
        let ephemeral = PcFactory::new(MediaConfig::default(), "127.0.0.1".parse().expect("ip"));
        let c = candidates(&ephemeral).await;
        assert!(c.iter().all(|(ip, _)| ip == "127.0.0.1"), "{c:?}");
    }
}
