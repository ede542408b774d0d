//! The media task's peer connections: the callback handler that posts into
//! the task's queue, and the connection with what the task needs to drive it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{debug, trace, warn};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};

use super::super::{TransportRole, TransportState};
use super::Cmd;

/// Longest wait for ICE gathering before an SDP is sent as it is.
pub(super) const GATHER_TIMEOUT: Duration = Duration::from_millis(500);

pub(super) struct Handler {
    pub(super) tx: mpsc::UnboundedSender<Cmd>,
    pub(super) pc: u64,
    pub(super) role: TransportRole,
    pub(super) gathering: watch::Sender<RTCIceGatheringState>,
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

pub(super) struct Pc {
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) id: u64,
    pub(super) gathering: watch::Receiver<RTCIceGatheringState>,
    pub(super) remote_fingerprint: Option<String>,
    /// Its last reported state.
    pub(super) state: RTCPeerConnectionState,
    /// Negotiations so far (for the connect watchdog: only the latest one's
    /// timer counts).
    pub(super) negotiation: u64,
    /// Connected at some point since the latest negotiation started (a
    /// later disconnection is ICE's to report: it ends in `Failed`).
    pub(super) connected_since_negotiation: bool,
}

impl Pc {
    /// Apply a local description and return it with the candidates gathered
    /// for it. `ice_restart`: the description restarts ICE, so the sockets
    /// are rebound and gathered afresh; the previous gathering's `Complete`
    /// must not count (the SDP would carry the old sockets' candidates).
    pub(super) async fn set_local(
        &self,
        desc: RTCSessionDescription,
        ice_restart: bool,
    ) -> webrtc::error::Result<String> {
        let mut gathering = self.gathering.clone();
        gathering.mark_unchanged();
        self.pc.set_local_description(desc).await?;
        let complete = async {
            if ice_restart {
                // Only a gathering state reported after this point counts.
                while gathering.changed().await.is_ok() {
                    if *gathering.borrow_and_update() == RTCIceGatheringState::Complete {
                        return;
                    }
                }
            } else {
                let _closed = gathering
                    .wait_for(|s| *s == RTCIceGatheringState::Complete)
                    .await;
            }
        };
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

    pub(super) fn close(self) {
        tokio::spawn(async move {
            if let Err(e) = self.pc.close().await {
                debug!("closing a peer connection failed: {e}");
            }
        });
    }
}

pub(super) fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .map(|f| f.trim().to_ascii_lowercase())
}

pub(super) fn transport_state(s: RTCPeerConnectionState) -> TransportState {
    match s {
        RTCPeerConnectionState::Connecting => TransportState::Connecting,
        RTCPeerConnectionState::Connected => TransportState::Connected,
        RTCPeerConnectionState::Disconnected => TransportState::Disconnected,
        RTCPeerConnectionState::Failed => TransportState::Failed,
        RTCPeerConnectionState::Closed => TransportState::Closed,
        _ => TransportState::New,
    }
}

/// The `a=ice-ufrag` of an SDP (the session-level one, or the first
/// media section's).
pub(super) fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .map(str::trim)
}
