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
//!
//! A NACK is input from the far end, so it is answered within bounds (the
//! crate's responder answers every pair × 17 bits, and the first version of
//! this one scanned the history for each: one 2 KB NACK of 500 pairs ×
//! 0xFFFF named ~8 300 packets and got as many retransmissions, ~9 MB):
//! at most [`MAX_PAIRS`] pairs are read; each packet is answered once per
//! NACK, and not again within [`RESEND_GAP`]; lookups are by sequence
//! number; and the retransmitted bytes of a stream draw on a token bucket
//! of the stream's own send rate over [`KEEP`] (at least
//! [`MIN_BUDGET_BPS`], a burst of half a second). On the SFU each outgoing
//! stream is one subscriber's, and its send rate follows that subscriber's
//! estimate, so a subscriber cannot make the SFU send it more than twice
//! what it already receives, nor anything it was not sent.

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

/// Most NACK pairs of one NACK that are looked at (each names up to 17
/// packets): 64 pairs name up to 1088, more than the history holds.
pub const MAX_PAIRS: usize = 64;

/// A packet retransmitted this recently is not sent again for a repeated
/// NACK: the receiver asks again only after [`crate::NACK_INTERVAL`].
pub const RESEND_GAP: Duration = Duration::from_millis(50);

/// Retransmission budget floor, bytes per second (64 kbit/s): enough to
/// repair a low-rate stream that has just started.
pub const MIN_BUDGET_BPS: u64 = 8_000;

/// The budget's burst: this much of a second's budget can go at once (a
/// lost keyframe is a burst of packets).
const BURST: Duration = Duration::from_millis(500);

struct Sent {
    at: Instant,
    packet: rtp::Packet,
    resent_at: Option<Instant>,
}

struct Stream {
    /// Sent packets, oldest first.
    sent: VecDeque<Sent>,
    /// Sequence number → position counted from the first packet ever held
    /// (`index - base` is the place in `sent`); the newest packet of a seq.
    index: HashMap<u16, u64>,
    /// Position of `sent[0]`.
    base: u64,
    /// Payload bytes in `sent`: the stream's rate over [`KEEP`].
    held_bytes: u64,
    rtx: Option<(u32, u8)>,
    rtx_seq: u16,
    /// Retransmission budget: bytes available, and when last refilled.
    tokens: f64,
    refilled: Option<Instant>,
}

impl Stream {
    fn new(rtx: Option<(u32, u8)>) -> Self {
        Self {
            sent: VecDeque::new(),
            index: HashMap::new(),
            base: 0,
            held_bytes: 0,
            rtx,
            rtx_seq: 0,
            tokens: 0.0,
            refilled: None,
        }
    }

    fn push(&mut self, now: Instant, packet: rtp::Packet) {
        self.held_bytes += packet.payload.len() as u64;
        self.index.insert(
            packet.header.sequence_number,
            self.base + self.sent.len() as u64,
        );
        self.sent.push_back(Sent {
            at: now,
            packet,
            resent_at: None,
        });
        self.forget_before(now);
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some(first) = self.sent.front() {
            if now.saturating_duration_since(first.at) > KEEP || self.sent.len() > MAX_PACKETS {
                let seq = first.packet.header.sequence_number;
                self.held_bytes = self
                    .held_bytes
                    .saturating_sub(first.packet.payload.len() as u64);
                if self.index.get(&seq) == Some(&self.base) {
                    self.index.remove(&seq);
                }
                self.sent.pop_front();
                self.base += 1;
            } else {
                break;
            }
        }
        // A burst followed by silence must not keep its buffer forever.
        if self.sent.capacity() > 64 && self.sent.len() < self.sent.capacity() / 4 {
            self.sent.shrink_to(self.sent.len() * 2);
            self.index.shrink_to(self.sent.len() * 2);
        }
    }

    fn find(&mut self, seq: u16) -> Option<&mut Sent> {
        let at = self.index.get(&seq)?.checked_sub(self.base)?;
        self.sent.get_mut(usize::try_from(at).ok()?)
    }

    /// Bytes per second retransmissions may use: as much as the stream
    /// itself sends (so an attacker's NACKs at most double what this
    /// subscriber gets, and only in packets it was sent), at least
    /// [`MIN_BUDGET_BPS`].
    fn budget_bps(&self) -> u64 {
        let rate = self.held_bytes * 1000 / KEEP.as_millis() as u64;
        rate.max(MIN_BUDGET_BPS)
    }

    fn refill(&mut self, now: Instant) {
        let rate = self.budget_bps() as f64;
        let burst = rate * BURST.as_secs_f64();
        let elapsed = match self.refilled {
            Some(t) => now.saturating_duration_since(t).as_secs_f64(),
            None => BURST.as_secs_f64(),
        };
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.refilled = Some(now);
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
    resent: u64,
    budget_refused: u64,
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
        stream.refill(now);
        let mut asked = HashSet::new();
        for pair in nack.nacks.iter().take(MAX_PAIRS) {
            let lost = std::iter::once(pair.packet_id).chain(
                (0..16u16)
                    .filter(|i| pair.lost_packets & (1 << i) != 0)
                    .map(|i| pair.packet_id.wrapping_add(i + 1)),
            );
            for seq in lost {
                // Each packet once per NACK, however often it is named.
                if !asked.insert(seq) {
                    continue;
                }
                let tokens = stream.tokens;
                let Some(sent) = stream.find(seq) else {
                    continue;
                };
                if sent
                    .resent_at
                    .is_some_and(|t| now.saturating_duration_since(t) < RESEND_GAP)
                {
                    continue;
                }
                let cost = sent.packet.payload.len() as f64;
                if cost > tokens {
                    // Out of budget: the rest waits for the receiver's
                    // next NACK (the budget refills meanwhile).
                    self.budget_refused += 1;
                    return;
                }
                sent.resent_at = Some(now);
                let original = sent.packet.clone();
                stream.tokens -= cost;
                let packet = stream.answer(&original);
                self.resent += 1;
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

    /// Retransmissions sent, and NACKs cut short by the budget.
    pub fn counters(&self) -> (u64, u64) {
        (self.resent, self.budget_refused)
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
                stream.push(msg.now, packet.clone());
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
        self.streams.insert(info.ssrc, Stream::new(rtx));
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
    use rtc::shared::marshal::MarshalSize;

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
        send_sized(r, now, SSRC, seq, 10);
    }

    /// Send packet `seq` on `ssrc` with `len` bytes of payload.
    fn send_sized(r: &mut NackResponder, now: Instant, ssrc: u32, seq: u16, len: usize) {
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc,
                payload_type: 96,
                sequence_number: seq,
                ..Default::default()
            },
            payload: vec![seq as u8; len].into(),
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
        let pairs: Vec<_> = seqs.iter().map(|&s| (s, 0)).collect();
        nack_pairs(r, now, SSRC, &pairs)
            .into_iter()
            .map(|(osn, _)| osn)
            .collect()
    }

    /// NACK `pairs` (packet id, bitmask of the 16 after it) on `ssrc`; the
    /// answers' OSNs and sizes on the wire.
    fn nack_pairs(
        r: &mut NackResponder,
        now: Instant,
        ssrc: u32,
        pairs: &[(u16, u16)],
    ) -> Vec<(u16, usize)> {
        let nack = TransportLayerNack {
            sender_ssrc: 0,
            media_ssrc: ssrc,
            nacks: pairs
                .iter()
                .map(|&(packet_id, lost_packets)| NackPair {
                    packet_id,
                    lost_packets,
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
        let mut answers = Vec::new();
        while let Some(out) = r.poll_write() {
            assert!(out.message.has(&Attribute::Retransmission));
            let Packet::Rtp(p) = out.message.packet else {
                panic!("not RTP");
            };
            assert_eq!(p.header.payload_type, 97);
            let osn = u16::from_be_bytes([p.payload[0], p.payload[1]]);
            assert_eq!(p.payload[2], osn as u8, "payload after the OSN");
            answers.push((osn, p.marshal_size()));
        }
        answers
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

    /// One NACK of `pairs` pairs, each naming 17 packets from `first` on.
    fn storm(r: &mut NackResponder, now: Instant, first: u16, pairs: usize) -> Vec<u16> {
        let nack = TransportLayerNack {
            sender_ssrc: 0,
            media_ssrc: SSRC,
            nacks: (0..pairs)
                .map(|i| NackPair {
                    packet_id: first.wrapping_add((i % 30) as u16 * 17),
                    lost_packets: 0xffff,
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
            if let Packet::Rtp(p) = out.message.packet {
                osns.push(u16::from_be_bytes([p.payload[0], p.payload[1]]));
            }
        }
        osns
    }

    #[test]
    fn a_2kb_nack_gets_each_named_packet_once_within_the_budget() {
        let mut r = responder();
        let t0 = Instant::now();
        // 500 packets of 1000 bytes over one second: ~500 kB/s of video.
        for seq in 0..500u16 {
            let at = t0 + Duration::from_millis(u64::from(seq) * 2);
            let packet = rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    ssrc: SSRC,
                    payload_type: 96,
                    sequence_number: seq,
                    ..Default::default()
                },
                payload: vec![seq as u8; 1000].into(),
            };
            r.handle_write(TaggedPacket {
                now: at,
                transport: TransportContext::default(),
                message: AttributedPacket::new(Packet::Rtp(packet)),
            })
            .expect("write");
            while r.poll_write().is_some() {}
        }
        let now = t0 + Duration::from_millis(1000);
        // 500 pairs × 0xFFFF (~2 KB of RTCP) over 30 × 17 = 510 distinct
        // seqs, 500 of them in the history: before, 8 500 answers.
        let first = storm(&mut r, now, 0, 500);
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), first.len(), "each packet at most once");
        // The budget: one second's bytes (~500 kB) with a half-second burst.
        assert!(first.len() <= 260, "{} answers", first.len());
        assert!(first.len() >= 200, "{} answers", first.len());
        // The same NACK at once again: nothing already resent, nothing beyond the budget.
        assert!(storm(&mut r, now, 0, 500).is_empty());
        // Over the next second of NACK floods, at most a second's budget more.
        let mut more = 0;
        for ms in (100..=1000).step_by(100) {
            more += storm(&mut r, now + Duration::from_millis(ms), 0, 500).len();
        }
        // (Packets age out of the 1 s history meanwhile, which lowers both.)
        assert!(more <= 500, "{more} answers in a second");
        let (resent, refused) = r.counters();
        assert_eq!(resent as usize, first.len() + more);
        assert!(refused > 0);
    }

    #[test]
    fn a_repeated_nack_is_answered_again_after_the_gap() {
        let mut r = responder();
        let t0 = Instant::now();
        for seq in 0..10u16 {
            send(&mut r, t0, seq);
        }
        assert_eq!(nack(&mut r, t0, &[4, 4, 4, 5]), vec![4, 5]);
        assert!(nack(&mut r, t0 + Duration::from_millis(10), &[4]).is_empty());
        assert_eq!(nack(&mut r, t0 + RESEND_GAP, &[4]), vec![4]);
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

    /// What a real receiver does: a few lost packets, asked for at once and
    /// again one interval later if the retransmission was lost too.
    #[test]
    fn a_few_lost_packets_are_answered_at_once_and_again_an_interval_later() {
        let mut r = responder();
        let t0 = Instant::now();
        for seq in 0..100u16 {
            send_sized(
                &mut r,
                t0 + Duration::from_millis(u64::from(seq) * 6),
                SSRC,
                seq,
                1100,
            );
        }
        let now = t0 + Duration::from_millis(600);
        assert_eq!(nack(&mut r, now, &[97]), vec![97]);
        let answers = nack_pairs(&mut r, now, SSRC, &[(90, 0b101)]);
        assert_eq!(
            answers.iter().map(|a| a.0).collect::<Vec<_>>(),
            vec![90, 91, 93]
        );
        // Asked again (the receiver's timer), one interval later.
        let later = now + crate::NACK_INTERVAL;
        assert_eq!(nack(&mut r, later, &[90, 91, 93, 97]), vec![90, 91, 93, 97]);
    }
}
