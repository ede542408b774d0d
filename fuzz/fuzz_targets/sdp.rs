//! SDP a client sends the SFU: a `publisher-offer` (first byte even) or a
//! `subscriber-answer` (odd), through exactly what the server does with it —
//! its own fingerprint read and host-candidate rewrite, then the WebRTC
//! stack's parse and `set_remote_description` on a peer connection built with
//! the server's codecs (the sans-IO core that the server's async peer
//! connection wraps), then an answer. Nothing may panic.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtc::peer_connection::configuration::{RTCConfiguration, RTCConfigurationBuilder};
use rtc::sansio::Protocol as _;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tether_server::fuzzing::{advertise, sdp_fingerprint};

fn server_pc() -> Option<RTCPeerConnection> {
    let engine = tether_rtc::media_engine().ok()?;
    RTCPeerConnectionBuilder::new()
        .with_configuration(configuration())
        .with_media_engine(engine)
        .build(Instant::now())
        .ok()
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
    let Ok(sdp) = std::str::from_utf8(rest) else {
        return;
    };
    let _ = sdp_fingerprint(sdp);
    let _ = advertise(sdp.to_owned(), [203, 0, 113, 9].into());
    let Some(mut pc) = server_pc() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(offer) = RTCSessionDescription::offer(sdp.to_owned()) else {
            return;
        };
        if pc.set_remote_description(Instant::now(), offer).is_ok() {
            if let Ok(answer) = pc.create_answer(None) {
                let _ = pc.set_local_description(Instant::now(), answer);
            }
        }
    } else {
        // The server's subscriber connection: it offers one audio and one
        // video track, then applies the client's answer.
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            if pc.add_transceiver_from_kind(kind, None).is_err() {
                return;
            }
        }
        let Ok(offer) = pc.create_offer(None) else {
            return;
        };
        if pc.set_local_description(Instant::now(), offer).is_err() {
            return;
        }
        if let Ok(answer) = RTCSessionDescription::answer(sdp.to_owned()) {
            let _ = pc.set_remote_description(Instant::now(), answer);
        }
    }
    let _ = pc.close();
});
