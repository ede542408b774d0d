//! A room's peer connections: the callback handler that posts into the
//! room's queue, and the connection with what the room needs to drive it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription,
};

use super::RoomCmd;

/// Longest wait for ICE gathering before an SDP is sent as it is. Host
/// candidates gather in well under a millisecond.
const GATHER_TIMEOUT: Duration = Duration::from_millis(500);

/// Which of a session's two connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Publisher,
    Subscriber,
}

/// Forwards webrtc callbacks into the room's queue; nothing else.
pub(super) struct Handler {
    pub(super) room: mpsc::UnboundedSender<RoomCmd>,
    pub(super) uid: u32,
    pub(super) pc: u64,
    pub(super) role: Role,
    pub(super) gathering: watch::Sender<RTCIceGatheringState>,
}

impl Handler {
    fn post(&self, cmd: RoomCmd) {
        // The room is gone only while shutting down.
        if self.room.send(cmd).is_err() {
            debug!("webrtc event after the room ended");
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathering.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.post(RoomCmd::PcState {
            uid: self.uid,
            pc: self.pc,
            role: self.role,
            state,
        });
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if self.role == Role::Publisher {
            self.post(RoomCmd::Track {
                uid: self.uid,
                pc: self.pc,
                track,
            });
        }
    }
}

/// A peer connection with what the room needs to drive it.
pub(super) struct Pc {
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) id: u64,
    pub(super) gathering: watch::Receiver<RTCIceGatheringState>,
    /// The remote's DTLS fingerprint: a different one means a new connection.
    pub(super) remote_fingerprint: Option<String>,
    /// Remote candidates trickled so far (capped).
    pub(super) candidates: u32,
}

impl Pc {
    /// Apply a local description and return the SDP once candidates are in.
    pub(super) async fn set_local(
        &self,
        desc: RTCSessionDescription,
    ) -> webrtc::error::Result<String> {
        let mut gathering = self.gathering.clone();
        self.pc.set_local_description(desc).await?;
        let complete = gathering.wait_for(|s| *s == RTCIceGatheringState::Complete);
        if tokio::time::timeout(GATHER_TIMEOUT, complete)
            .await
            .is_err()
        {
            warn!("ICE gathering did not complete in time; sending what we have");
        }
        let sdp = self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default();
        Ok(sdp)
    }

    pub(super) fn close(self) {
        tokio::spawn(async move {
            if let Err(e) = self.pc.close().await {
                debug!("closing a peer connection failed: {e}");
            }
        });
    }
}

/// A trickled candidate as the client sends it (`RTCIceCandidateInit` JSON).
pub(crate) fn parse_candidate(json: &str) -> Result<RTCIceCandidateInit, serde_json::Error> {
    serde_json::from_str(json)
}

/// The `a=fingerprint:` value of an SDP.
pub(crate) fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .map(|f| f.trim().to_ascii_lowercase())
}
