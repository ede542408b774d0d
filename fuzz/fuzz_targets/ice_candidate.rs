//! `ice-candidate` messages a client sends the SFU: the server's JSON parse
//! (`RTCIceCandidateInit`), then `add_remote_candidate` on a peer connection
//! that has a remote description, which parses the candidate line. The first
//! byte picks the shape: the raw `candidate` JSON as sent (even), or a
//! candidate line wrapped into well-formed JSON (odd) so the fuzzer spends its
//! time inside the candidate grammar. Nothing may panic.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtc::peer_connection::configuration::{RTCConfiguration, RTCConfigurationBuilder};
use rtc::sansio::Protocol as _;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use tether_server::fuzzing::parse_candidate;

/// A minimal valid offer (one audio section), so candidates can be added.
const OFFER: &str = "v=0\r\n\
o=- 1 1 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:0\r\n\
a=sendonly\r\n\
a=rtcp-mux\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=ssrc:1 cname:fuzz\r\n";

fn pc_with_remote() -> Option<RTCPeerConnection> {
    let engine = tether_rtc::media_engine().ok()?;
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(configuration())
        .with_media_engine(engine)
        .build(Instant::now())
        .ok()?;
    let offer = RTCSessionDescription::offer(OFFER.to_owned()).ok()?;
    pc.set_remote_description(Instant::now(), offer).ok()?;
    Some(pc)
}

/// One DTLS certificate for every input: generating a key pair per input
/// would spend most of the fuzzing time in key generation.
fn configuration() -> RTCConfiguration {
    static CERTS: std::sync::OnceLock<Vec<rtc::peer_connection::certificate::RTCCertificate>> =
        std::sync::OnceLock::new();
    let certs = CERTS.get_or_init(|| {
        RTCPeerConnectionBuilder::new()
            .build(Instant::now())
            .map(|pc| pc.get_configuration().certificates().to_vec())
            .unwrap_or_default()
    });
    RTCConfigurationBuilder::new()
        .with_certificates(certs.clone())
        .build()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let json = if mode % 2 == 0 {
        text.into_owned()
    } else {
        serde_json::json!({"candidate": text, "sdpMid": "0", "sdpMLineIndex": 0}).to_string()
    };
    let Ok(init) = parse_candidate(&json) else {
        return;
    };
    let line = init.candidate.strip_prefix("candidate:").unwrap_or(&init.candidate);
    let _ = rtc::ice::candidate::unmarshal_candidate(line);
    let Some(mut pc) = pc_with_remote() else {
        panic!("the fixed offer must apply");
    };
    let _ = pc.add_remote_candidate(init);
    let _ = pc.close();
});
