//! The send-side NACK responder, with a send history bounded by time.
//!
//! It replaces the webrtc crate's responder (0.21.1), whose history is a
//! ring of a fixed number of packets allocated up front: 112 bytes per slot
//! before any packet (115 KB per outgoing video track at its default 1024),
//! and, once full, as many packets of payload as the ring has slots however
//! old they are (at 5 packets/s, 1024 packets are 200 s of video). On the SFU
//! there is one history per subscriber of every publisher's video.
//!
//! Here each NACK-enabled outgoing stream keeps the packets of the last
//! [`KEEP`] (at most [`MAX_PACKETS`]): a receiver asks for a lost packet
//! within [`crate::MAX_NACKS_PER_PACKET`] × [`crate::NACK_INTERVAL`]
//! (~300 ms) plus a round trip of the gap showing, so anything older is never
//! asked for. Memory follows the track's rate: a few packets for a
//! low-rate track, ~160 packets for 1.5 Mbit/s video. Payloads are shared
//! (`Bytes`), so on the SFU the histories of one publisher's subscribers hold
//! the same payload once. Answers are as the crate's: RFC 4588 RTX when the
//! stream has an RTX SSRC and payload type, else the original packet again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rtc::interceptor::{
    Attribute, AttributedPacket, Interceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp;
use rtc::sansio::Protocol;
use rtc::shared::TransportContext;

use crate::nack::supports_nack;

/// How long a sent packet can still be retransmitted: three times the
/// ~300 ms a receiver keeps asking, so a round trip of up to ~700 ms is
/// still answered.
pub const KEEP: Duration = Duration::from_secs(1);

/// Upper bound of one stream's history whatever its rate (~3 s of video
/// at the 1.5 Mbit/s top of the bitrate policy, ~1 s at 5 Mbit/s).
pub const MAX_PACKETS: usize = 512;

struct Stream {
    /// Sent packets, oldest first, with when each was sent.
    sent: VecDeque<(Instant, rtp::Packet)>,
    rtx: Option<(u32, u8)>,
    rtx_seq: u16,
}

impl Stream {
    fn forget_before(&mut self, now: Instant) {
        while let Some((at, _)) = self.sent.front() {
            if now.saturating_duration_since(*at) > KEEP || self.sent.len() > MAX_PACKETS {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        // A burst followed by silence must not keep its buffer forever.
        if self.sent.capacity() > 64 && self.sent.len() < self.sent.capacity() / 4 {
            self.sent.shrink_to(self.sent.len() * 2);
        }
    }

    fn find(&self, seq: u16) -> Option<&rtp::Packet> {
        // Newest first: a NACK is about recent packets. Not necessarily in
        // sequence order (a repaired packet is forwarded late), so search.
        self.sent
            .iter()
            .rev()
            .map(|(_, p)| p)
            .find(|p| p.header.sequence_number == seq)
    }

    fn answer(&mut self, original: &rtp::Packet) -> rtp::Packet {
        let Some((ssrc, pt)) = self.rtx else {
            return original.clone();
        };
        // RFC 4588: the original sequence number, then the payload, on the
        // RTX stream with its own sequence numbers.
        let mut payload = Vec::with_capacity(2 + original.payload.len());
        payload.extend_from_slice(&original.header.sequence_number.to_be_bytes());
        payload.extend_from_slice(&original.payload);
        let seq = self.rtx_seq;
        self.rtx_seq = self.rtx_seq.wrapping_add(1);
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc,
                payload_type: pt,
                sequence_number: seq,
                timestamp: original.header.timestamp,
                marker: original.header.marker,
                ..Default::default()
            },
            payload: payload.into(),
        }
    }
}

/// Answers NACKs from a history of the last [`KEEP`] of each stream.
#[derive(Default)]
pub struct NackResponder {
    streams: HashMap<u32, Stream>,
    /// RTX SSRCs of bound streams (bound in their own right too): no history.
    rtx: HashSet<u32>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl NackResponder {
    pub fn new() -> Self {
        Self::default()
    }

    fn on_nack(&mut self, now: Instant, nack: &TransportLayerNack) {
        let Some(stream) = self.streams.get_mut(&nack.media_ssrc) else {
            return;
        };
        stream.forget_before(now);
        for pair in &nack.nacks {
            let lost = std::iter::once(pair.packet_id).chain(
                (0..16u16)
                    .filter(|i| pair.lost_packets & (1 << i) != 0)
                    .map(|i| pair.packet_id.wrapping_add(i + 1)),
            );
            for seq in lost {
                let Some(original) = stream.find(seq).cloned() else {
                    continue;
                };
                let packet = stream.answer(&original);
                // Tagged as the crate's responder does, so a send history
                // downstream counts it as a retransmission.
                self.write.push_back(TaggedPacket {
                    now,
                    transport: TransportContext::default(),
                    message: AttributedPacket::new(Packet::Rtp(packet))
                        .with(Attribute::Retransmission),
                });
            }
        }
    }

    /// Packets held for one stream (for tests and diagnostics).
    pub fn held(&self, ssrc: u32) -> usize {
        self.streams.get(&ssrc).map_or(0, |s| s.sent.len())
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackResponder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = webrtc::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                if let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() {
                    self.on_nack(msg.now, nack);
                }
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            if let Some(stream) = self.streams.get_mut(&packet.header.ssrc) {
                stream.sent.push_back((msg.now, packet.clone()));
                stream.forget_before(msg.now);
            }
        }
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for NackResponder {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if self.rtx.contains(&info.ssrc) || !supports_nack(info) {
            return;
        }
        let rtx = info.ssrc_rtx.zip(info.payload_type_rtx);
        if let Some((ssrc, _)) = rtx {
            self.rtx.insert(ssrc);
        }
        self.streams.insert(
            info.ssrc,
            Stream {
                sent: VecDeque::new(),
                rtx,
                rtx_seq: 0,
            },
        );
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        if let Some(s) = self.streams.remove(&info.ssrc) {
            if let Some((rtx, _)) = s.rtx {
                self.rtx.remove(&rtx);
            }
        }
    }

    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::RTCPFeedback;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;

    const SSRC: u32 = 1000;
    const RTX: u32 = 2000;

    fn responder() -> NackResponder {
        let mut r = NackResponder::new();
        r.bind_local_stream(&StreamInfo {
            ssrc: SSRC,
            ssrc_rtx: Some(RTX),
            payload_type: 96,
            payload_type_rtx: Some(97),
            rtcp_feedback: vec![RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            }],
            ..Default::default()
        });
        r
    }

    fn send(r: &mut NackResponder, now: Instant, seq: u16) {
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc: SSRC,
                payload_type: 96,
                sequence_number: seq,
                ..Default::default()
            },
            payload: vec![seq as u8; 10].into(),
        };
        r.handle_write(TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(packet)),
        })
        .expect("write");
        assert!(r.poll_write().is_some());
    }

    /// NACK `seqs` (as pairs of one packet each); the answers' OSNs.
    fn nack(r: &mut NackResponder, now: Instant, seqs: &[u16]) -> Vec<u16> {
        let nack = TransportLayerNack {
            sender_ssrc: 0,
            media_ssrc: SSRC,
            nacks: seqs
                .iter()
                .map(|&s| NackPair {
                    packet_id: s,
                    lost_packets: 0,
                })
                .collect(),
        };
        r.handle_read(TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(vec![Box::new(nack)])),
        })
        .expect("read");
        assert!(r.poll_read().is_some());
        let mut osns = Vec::new();
        while let Some(out) = r.poll_write() {
            let Packet::Rtp(p) = out.message.packet else {
                panic!("not RTP");
            };
            assert_eq!((p.header.ssrc, p.header.payload_type), (RTX, 97));
            assert_eq!(p.payload[2], p.payload[3], "payload after the OSN");
            osns.push(u16::from_be_bytes([p.payload[0], p.payload[1]]));
        }
        osns
    }

    #[test]
    fn answers_with_rtx_what_is_recent_and_forgets_the_rest() {
        let mut r = responder();
        let t0 = Instant::now();
        for seq in 0..10u16 {
            send(
                &mut r,
                t0 + Duration::from_millis(u64::from(seq) * 200),
                seq,
            );
        }
        // Sent at 0..1.8 s; at 1.8 s, packets 0..=3 (sent ≥ 1 s ago) are gone.
        let now = t0 + Duration::from_millis(1800);
        assert_eq!(r.held(SSRC), 6);
        assert_eq!(nack(&mut r, now, &[2, 5, 9, 11]), vec![5, 9]);
        // A packet forwarded late (a repaired gap) is found too.
        send(&mut r, now, 3);
        assert_eq!(nack(&mut r, now, &[3]), vec![3]);
    }

    #[test]
    fn the_history_is_bounded_in_packets_too() {
        let mut r = responder();
        let t0 = Instant::now();
        for seq in 0..2000u16 {
            send(&mut r, t0, seq);
        }
        assert_eq!(r.held(SSRC), MAX_PACKETS);
        assert_eq!(nack(&mut r, t0, &[1000, 1999]), vec![1999]);
    }

    #[test]
    fn streams_without_nack_keep_nothing() {
        let mut r = NackResponder::new();
        r.bind_local_stream(&StreamInfo {
            ssrc: SSRC,
            payload_type: 111,
            ..Default::default()
        });
        send(&mut r, Instant::now(), 1);
        assert_eq!(r.held(SSRC), 0);
    }
}
