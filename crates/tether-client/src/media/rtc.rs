//! The client's peer connections: the shared Tether WebRTC settings
//! (`tether-rtc`), bound to the address that faces the server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use webrtc::peer_connection::{PeerConnection, PeerConnectionEventHandler};

pub(crate) use tether_rtc::{codec_for, is_keyframe_request, reception_of, OPUS_PT, VP8_PT};

/// Where a client peer connection binds its media socket (ephemeral port).
/// Resolved by the webrtc driver each time it binds: when the connection is
/// built and again on every ICE restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaBind {
    /// Exactly this address (loopback, or what the caller configured).
    Fixed(IpAddr),
    /// The local address the OS routes towards this server *at bind time*:
    /// after an address change, the restart binds the new address. With no
    /// route (offline), the wildcard: every interface there is.
    Towards(IpAddr),
}

impl MediaBind {
    /// The address a bind made now would use.
    pub(crate) fn ip(self) -> IpAddr {
        match self {
            Self::Fixed(ip) => ip,
            Self::Towards(server) => source_ip_towards(server).unwrap_or(match server {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }),
        }
    }

    fn is_loopback(self) -> bool {
        matches!(self, Self::Fixed(ip) if ip.is_loopback())
    }
}

impl ToSocketAddrs for MediaBind {
    type Iter = std::option::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        Ok(Some(SocketAddr::new(self.ip(), 0)).into_iter())
    }
}

/// The local address the OS would use to reach `server`: a connected UDP
/// socket picks the route without sending anything. Binding media there
/// gives one host candidate on the interface that faces the server, instead
/// of gathering on every interface (some of which may not work at all).
fn source_ip_towards(server: IpAddr) -> Option<IpAddr> {
    let any: IpAddr = match server {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = std::net::UdpSocket::bind((any, 0)).ok()?;
    socket.connect((server, 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// Build a client peer connection bound as `bind` says. Every ICE restart
/// rebinds its socket (resolving `bind` again) and gathers afresh, so a
/// restart after a network change moves the media onto the new address.
pub(crate) async fn build_pc(
    bind: MediaBind,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
    tether_rtc::build_peer_connection_with(bind, bind.is_loopback(), true, handler).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_follow_the_route() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(MediaBind::Fixed(lo).ip(), lo);
        // Towards loopback the OS picks loopback.
        assert_eq!(MediaBind::Towards(lo).ip(), lo);
        let addrs: Vec<_> = MediaBind::Towards(lo)
            .to_socket_addrs()
            .expect("resolves")
            .collect();
        assert_eq!(addrs, vec![SocketAddr::new(lo, 0)]);
    }
}
