//! The webrtc crate's knobs in one place: codecs, interceptors, ICE timing,
//! UDP ports and the address to advertise.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use webrtc::peer_connection::{PeerConnection, PeerConnectionEventHandler};

use crate::config::MediaConfig;

pub(crate) use tether_rtc::{codec_for, is_keyframe_request, OPUS_PT, VP8_PT};

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

    /// Where media sockets are bound.
    pub(crate) fn bind_ip(&self) -> IpAddr {
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
        let addr = SocketAddr::new(self.bind_ip(), self.pick_port());
        tether_rtc::build_peer_connection(addr, true, handler).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
    use std::time::Duration;
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
