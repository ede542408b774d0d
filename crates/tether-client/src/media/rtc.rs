//! The client's peer connections: the shared Tether WebRTC settings
//! (`tether-rtc`), bound to the address that faces the server.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use webrtc::peer_connection::{PeerConnection, PeerConnectionEventHandler};

pub(crate) use tether_rtc::{codec_for, is_keyframe_request, reception_of, OPUS_PT, VP8_PT};

/// Build a client peer connection bound to `bind_ip` (ephemeral port).
pub(crate) async fn build_pc(
    bind_ip: IpAddr,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
    tether_rtc::build_peer_connection(SocketAddr::new(bind_ip, 0), bind_ip.is_loopback(), handler)
        .await
}
