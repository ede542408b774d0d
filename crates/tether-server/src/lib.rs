//! Tether's channel server: WebSocket signalling, presence with precise
//! timeouts, and token auth (SPEC §2–§5).
//!
//! Embed it with [`Server::bind`] and [`Server::run`]; the `tether-server`
//! binary is a thin command-line wrapper around the same API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether_server::ServerError> {
//! let server = tether_server::Server::bind(tether_server::ServerConfig::open_loopback()).await?;
//! println!("listening on ws://{}", server.local_addr());
//! let handle = server.handle();
//! tokio::spawn(server.run(std::future::pending()));
//! // later:
//! handle.shutdown();
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod connection;
mod error;
mod hub;
mod instance;
mod presence;
mod ratelimit;
mod server;
mod sfu;
mod slots;

pub use auth::{issue_token, sign_claims, verify_token, AuthError, Grant, IssueError};
pub use config::{
    is_loopback, AuthMode, ConfigError, MediaConfig, RateLimit, Secret, ServerConfig,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_PARTICIPANTS,
    DEFAULT_PEER_STALE, DEFAULT_PEER_TIMEOUT, DEFAULT_WRITE_TIMEOUT, MIN_SECRET_BYTES,
};
pub use error::ServerError;
pub use hub::HubStats;
pub use instance::{
    instance_proof, new_instance_key, CHALLENGE_HEADER, MAX_CHALLENGE, PROOF_HEADER,
};
pub use server::{Server, ServerHandle};

/// The server's parsers of remote input, exposed for the fuzz targets in
/// `fuzz/` (not a stable API): what the SFU reads out of a client's
/// `publisher-offer` / `subscriber-answer` SDP before handing it to the WebRTC
/// stack, and how it reads an `ice-candidate`.
#[doc(hidden)]
pub mod fuzzing {
    /// The `a=fingerprint:` value the SFU reads from a `publisher-offer` to
    /// tell a renegotiation from a new connection.
    pub fn sdp_fingerprint(sdp: &str) -> Option<String> {
        crate::sfu::room::fingerprint(sdp)
    }

    /// How the SFU parses an `ice-candidate` message's `candidate` JSON.
    pub fn parse_candidate(
        json: &str,
    ) -> Result<webrtc::peer_connection::RTCIceCandidateInit, serde_json::Error> {
        crate::sfu::room::parse_candidate(json)
    }

    /// Drive the hub (channels, sessions, presence timers) with ops read
    /// from `data`; panics when one of its invariants breaks.
    pub fn hub_ops(data: &[u8]) {
        crate::hub::fuzz::run(data);
    }

    /// Feed RTP packets parsed from `data` to the SFU's ingress filter;
    /// panics when it forwards a packet on another SSRC than the stream's.
    pub fn rtp_ingress(packets: Vec<rtc::rtp::Packet>) {
        let Some(primary) = packets.first().map(|p| p.header.ssrc) else {
            return;
        };
        let mut ingress = crate::sfu::ingress::Ingress::new(primary);
        for p in packets {
            if let Some(out) = ingress.accept(p) {
                assert_eq!(out.header.ssrc, primary);
            }
        }
    }

    /// Rewrite host candidates to `advertise_ip`, as the server does to every
    /// SDP it sends (`MediaConfig::advertise_ip`).
    pub fn advertise(sdp: String, advertise_ip: std::net::IpAddr) -> String {
        let config = crate::MediaConfig {
            advertise_ip: Some(advertise_ip),
            ..crate::MediaConfig::default()
        };
        crate::sfu::rtc::PcFactory::new(config, advertise_ip).advertise(sdp)
    }
}
