//! What a peer sends the media path: RTP packets into the SFU's ingress
//! filter (first byte even), or an RTCP compound packet (odd) parsed as the
//! stack does, with every NACK in it answered by our NACK responder from a
//! full history. Nothing may panic; the ingress forwards only on the
//! stream's SSRC; one NACK is answered at most once per packet it names.
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rtc::interceptor::{
    Attribute, AttributedPacket, Interceptor, Packet, RTCPFeedback, StreamInfo, TaggedPacket,
};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use rtc::shared::marshal::Unmarshal;
use rtc::shared::TransportContext;
use tether_rtc::responder::NackResponder;

const SSRC: u32 = 1000;

fn rtp(data: &[u8]) {
    // Packets one after another, each preceded by its length byte.
    let mut packets = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        if let Ok(p) = rtc::rtp::Packet::unmarshal(&mut &chunk[..]) {
            packets.push(p);
        }
        rest = next;
    }
    tether_server::fuzzing::rtp_ingress(packets);
}

fn responder(now: Instant) -> NackResponder {
    let mut r = NackResponder::new();
    r.bind_local_stream(&StreamInfo {
        ssrc: SSRC,
        ssrc_rtx: Some(2000),
        payload_type: 96,
        payload_type_rtx: Some(97),
        rtcp_feedback: vec![RTCPFeedback {
            typ: "nack".into(),
            parameter: String::new(),
        }],
        ..Default::default()
    });
    for seq in 0..300u16 {
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                ssrc: SSRC,
                payload_type: 96,
                sequence_number: seq.wrapping_mul(7),
                ..Default::default()
            },
            payload: vec![0u8; 100].into(),
        };
        let at = now - Duration::from_millis(300) + Duration::from_millis(u64::from(seq));
        let _ = r.handle_write(TaggedPacket {
            now: at,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(packet)),
        });
        while r.poll_write().is_some() {}
    }
    r
}

fn rtcp(data: &[u8]) {
    let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut &data[..]) else {
        return;
    };
    let now = Instant::now();
    let mut r = responder(now);
    for p in &packets {
        let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() else {
            continue;
        };
        // Aimed at the stream we hold, whatever SSRC it named.
        let nack = TransportLayerNack {
            sender_ssrc: nack.sender_ssrc,
            media_ssrc: SSRC,
            nacks: nack.nacks.clone(),
        };
        let _ = r.handle_read(TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(vec![Box::new(nack)])),
        });
        while r.poll_read().is_some() {}
        let mut answered = HashSet::new();
        while let Some(out) = r.poll_write() {
            assert!(out.message.has(&Attribute::Retransmission));
            if let Packet::Rtp(p) = out.message.packet {
                let osn = u16::from_be_bytes([p.payload[0], p.payload[1]]);
                assert!(answered.insert(osn), "packet {osn} answered twice");
            }
        }
        assert!(answered.len() <= r.held(SSRC));
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => rtp(rest),
        Some((_, rest)) => rtcp(rest),
        None => {}
    }
});
