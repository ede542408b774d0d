//! The receive-side NACK generator, RTX-aware.
//!
//! It replaces the webrtc crate's generator (0.21.1), which caused a
//! retransmission storm: the crate unwraps RFC 4588 retransmissions only in
//! its endpoint handler, after the interceptor chain, so its generator never
//! saw a repaired packet under the stream's own SSRC. Every packet lost once
//! stayed "missing" and was NACKed again every 100 ms until it slid out of
//! the 512-packet log (~3 s of video), with no limit per packet, and the
//! sender answered every NACK with another retransmission: under 20 % loss a
//! publisher sent ~5 times its normal packet rate, for seconds after the loss
//! too, and the SFU forwarded every copy. (It also kept a log for the RTX
//! stream itself and NACKed gaps in the retransmissions' own sequence
//! numbers, which no sender can answer.)
//!
//! This generator counts an RTX packet as the arrival of the original it
//! carries (the OSN), leaves the packets themselves untouched (so receiver
//! reports still describe the network's loss, which the sender's bitrate
//! control reads), and asks for each missing packet at most `max_nacks`
//! times: at once when the gap shows (as libwebrtc does), then one interval
//! apart. Asking at once leaves a lost packet more rounds before the
//! receiver gives its frame up.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtc::sansio::Protocol;
use rtc::shared::TransportContext;

/// How far behind the newest packet a missing one is still asked for.
const WINDOW: u64 = 512;

/// What is missing on one stream.
#[derive(Debug, Default)]
struct Log {
    /// Extended (64-bit) sequence number of the newest packet.
    highest: Option<u64>,
    /// Missing packets (extended sequence number) → NACKs sent for it and
    /// when the last went.
    missing: BTreeMap<u64, Asked>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Asked {
    times: u16,
    last: Option<Instant>,
}

impl Log {
    fn extend(&self, seq: u16) -> u64 {
        match self.highest {
            // One cycle up, so a little reordering never goes below zero.
            None => (1 << 16) + u64::from(seq),
            Some(h) => {
                // Truncation to the low 16 bits is the point.
                let delta = i64::from(seq.wrapping_sub(h as u16) as i16);
                h.saturating_add_signed(delta)
            }
        }
    }

    /// Record a packet; true when it opened a gap.
    fn arrived(&mut self, seq: u16) -> bool {
        let mut gap = false;
        let ext = self.extend(seq);
        match self.highest {
            Some(h) if ext <= h => {
                self.missing.remove(&ext);
            }
            Some(h) => {
                for m in (h + 1).max(ext.saturating_sub(WINDOW))..ext {
                    self.missing.insert(m, Asked::default());
                    gap = true;
                }
                self.highest = Some(ext);
            }
            None => self.highest = Some(ext),
        }
        if let Some(h) = self.highest {
            let floor = h.saturating_sub(WINDOW);
            while self
                .missing
                .first_key_value()
                .is_some_and(|(m, _)| *m < floor)
            {
                self.missing.pop_first();
            }
        }
        gap
    }

    /// The packets to ask for at `now` (never asked, or last asked
    /// `interval` ago); each ask counts, and a packet asked for `max` times
    /// is given up once its last interval has passed.
    fn due(&mut self, now: Instant, interval: Duration, max: u16) -> Vec<u16> {
        let mut out = Vec::new();
        self.missing.retain(|ext, asked| {
            if asked.last.is_some_and(|t| now < t + interval) {
                return true;
            }
            if asked.times >= max {
                return false;
            }
            asked.times += 1;
            asked.last = Some(now);
            // The low 16 bits are the wire sequence number.
            out.push(*ext as u16);
            true
        });
        out
    }

    /// When the next ask (or give-up) is due.
    fn next_due(&self, interval: Duration) -> Option<Instant> {
        self.missing
            .values()
            .filter_map(|a| a.last.map(|t| t + interval))
            .min()
    }
}

/// Generates NACKs for the remote streams that negotiated them (see the
/// module docs).
pub struct NackGenerator {
    interval: Duration,
    max_nacks: u16,
    sender_ssrc: u32,
    /// Primary SSRC → its log.
    streams: HashMap<u32, Log>,
    /// RTX SSRC → (primary SSRC, RTX payload type).
    rtx: HashMap<u32, (u32, u8)>,
    next: Option<Instant>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl NackGenerator {
    /// Ask every `interval`, at most `max_nacks` times per packet.
    pub fn new(interval: Duration, max_nacks: u16) -> Self {
        let sender_ssrc = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32;
        Self {
            interval,
            max_nacks,
            sender_ssrc,
            streams: HashMap::new(),
            rtx: HashMap::new(),
            next: None,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }

    fn on_rtp(&mut self, now: Instant, packet: &rtc::rtp::Packet) {
        let header = &packet.header;
        let (ssrc, seq) = match self.rtx.get(&header.ssrc) {
            Some(&(primary, pt)) => {
                if header.payload_type != pt || packet.payload.len() < 2 {
                    // Padding-only probing: repairs nothing.
                    return;
                }
                let osn = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
                (primary, osn)
            }
            None => (header.ssrc, header.sequence_number),
        };
        if let Some(log) = self.streams.get_mut(&ssrc) {
            if log.arrived(seq) {
                self.next = Some(self.next.map_or(now, |t| t.min(now)));
            }
        }
    }

    fn generate(&mut self, now: Instant) {
        for (&ssrc, log) in &mut self.streams {
            let seqs = log.due(now, self.interval, self.max_nacks);
            if seqs.is_empty() {
                continue;
            }
            let nack = TransportLayerNack {
                sender_ssrc: self.sender_ssrc,
                media_ssrc: ssrc,
                nacks: nack_pairs_from_sequence_numbers(&seqs),
            };
            self.write.push_back(TaggedPacket {
                now,
                transport: TransportContext::default(),
                message: Packet::Rtcp(vec![Box::new(nack)]).into(),
            });
        }
    }
}

/// Whether the stream negotiated generic NACK feedback (the generator and
/// the responder both act only on such streams).
pub(crate) fn supports_nack(info: &StreamInfo) -> bool {
    info.rtcp_feedback
        .iter()
        .any(|fb| fb.typ == "nack" && fb.parameter.is_empty())
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackGenerator {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = webrtc::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            self.on_rtp(msg.now, packet);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        if self.next.is_some_and(|t| now >= t) {
            self.generate(now);
            self.next = self
                .streams
                .values()
                .filter_map(|l| l.next_due(self.interval))
                .min();
        }
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next
    }
}

impl Interceptor for NackGenerator {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        // The crate binds an RTX stream in its own right too, after its
        // primary: it gets no log of its own.
        if self.rtx.contains_key(&info.ssrc) || !supports_nack(info) {
            return;
        }
        self.streams.entry(info.ssrc).or_default();
        if let (Some(rtx), Some(pt)) = (info.ssrc_rtx, info.payload_type_rtx) {
            self.rtx.insert(rtx, (info.ssrc, pt));
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        if self.rtx.contains_key(&info.ssrc) {
            return;
        }
        self.streams.remove(&info.ssrc);
        self.rtx.retain(|_, (primary, _)| *primary != info.ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::RTCPFeedback;
    use rtc::rtp;

    fn generator() -> NackGenerator {
        let mut g = NackGenerator::new(Duration::from_millis(100), 3);
        let nack = vec![RTCPFeedback {
            typ: "nack".into(),
            parameter: String::new(),
        }];
        g.bind_remote_stream(&StreamInfo {
            ssrc: 1000,
            ssrc_rtx: Some(2000),
            payload_type: 96,
            payload_type_rtx: Some(97),
            rtcp_feedback: nack.clone(),
            ..Default::default()
        });
        // As the crate does: the RTX stream on its own, with the codec's feedback.
        g.bind_remote_stream(&StreamInfo {
            ssrc: 2000,
            payload_type: 97,
            rtcp_feedback: nack,
            ..Default::default()
        });
        g
    }

    fn packet(ssrc: u32, pt: u8, seq: u16, payload: Vec<u8>) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc,
                payload_type: pt,
                sequence_number: seq,
                ..Default::default()
            },
            payload: payload.into(),
        }
    }

    fn read(g: &mut NackGenerator, now: Instant, p: rtp::Packet) {
        let msg = TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: Packet::Rtp(p.clone()).into(),
        };
        g.handle_read(msg).expect("read");
        match g.poll_read().expect("passed on").message.packet {
            Packet::Rtp(out) => assert_eq!(out, p, "passed on untouched"),
            other => panic!("not RTP: {other:?}"),
        }
    }

    /// The NACKs sent at `now`: (media SSRC, sequence numbers).
    fn tick(g: &mut NackGenerator, now: Instant) -> Vec<(u32, Vec<u16>)> {
        g.handle_timeout(now).expect("timeout");
        let mut out = Vec::new();
        while let Some(msg) = g.poll_write() {
            let Packet::Rtcp(packets) = msg.message.packet else {
                panic!("not RTCP");
            };
            for p in packets {
                let n = p
                    .as_any()
                    .downcast_ref::<TransportLayerNack>()
                    .expect("a NACK");
                let seqs = n.nacks.iter().flat_map(|p| p.packet_list()).collect();
                out.push((n.media_ssrc, seqs));
            }
        }
        out
    }

    #[test]
    fn a_packet_repaired_by_rtx_is_not_asked_for_again() {
        let mut g = generator();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        for seq in [65_534, 65_535, 2, 3] {
            read(&mut g, t0, packet(1000, 96, seq, vec![0]));
        }
        // Asked for at once.
        assert_eq!(g.poll_timeout(), Some(t0));
        assert_eq!(tick(&mut g, t0), vec![(1000, vec![0, 1])]);
        // Seq 0 comes back as RTX (OSN 0): only 1 is asked for again, one
        // interval later.
        read(&mut g, ms(10), packet(2000, 97, 500, vec![0, 0, 0xaa]));
        assert_eq!(tick(&mut g, ms(50)), vec![]);
        assert_eq!(g.poll_timeout(), Some(ms(100)));
        assert_eq!(tick(&mut g, ms(100)), vec![(1000, vec![1])]);
        // Seq 1 is given up after 3 NACKs; the RTX stream's own sequence
        // numbers (500, then 510) are never NACKed.
        read(&mut g, ms(110), packet(2000, 97, 510, vec![0, 0, 0xbb]));
        assert_eq!(tick(&mut g, ms(200)), vec![(1000, vec![1])]);
        assert_eq!(tick(&mut g, ms(300)), vec![]);
        assert_eq!(g.poll_timeout(), None, "nothing left to ask for");
        // A padding-only RTX packet repairs nothing.
        read(&mut g, ms(310), packet(1000, 96, 6, vec![0]));
        assert_eq!(tick(&mut g, ms(310)), vec![(1000, vec![4, 5])]);
        read(&mut g, ms(320), packet(2000, 97, 511, vec![]));
        assert_eq!(tick(&mut g, ms(410)), vec![(1000, vec![4, 5])]);
    }

    #[test]
    fn the_window_bounds_what_is_asked_for() {
        let mut g = generator();
        let t0 = Instant::now();
        read(&mut g, t0, packet(1000, 96, 10, vec![0]));
        read(&mut g, t0, packet(1000, 96, 2000, vec![0]));
        let nacks = tick(&mut g, t0);
        assert_eq!(nacks.len(), 1);
        let seqs = &nacks[0].1;
        assert_eq!(seqs.len(), WINDOW as usize);
        assert_eq!(seqs.first(), Some(&(2000 - WINDOW as u16)));
        assert_eq!(seqs.last(), Some(&1999));
        // Reordering: an old packet arriving late just fills its gap.
        read(&mut g, t0, packet(1000, 96, 1999, vec![0]));
        let nacks = tick(&mut g, t0 + Duration::from_millis(100));
        assert_eq!(nacks[0].1.len(), WINDOW as usize - 1);
    }
}
