//! The receive side of one remote track: reorder, reassemble frames, count
//! loss and jitter. Pure logic, no I/O, so it is unit-tested directly.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use rtc::rtp;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;

use super::MediaKind;

/// How much newer media (in RTP time) may pile up behind a missing packet
/// before the incomplete frame is given up: 300 ms.
const GIVE_UP_MS: u32 = 300;
/// Most packets held while waiting for a missing one.
const MAX_HELD: usize = 1024;

/// One encoded frame out of the assembler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) payload: Vec<u8>,
    pub(crate) is_keyframe: bool,
    pub(crate) rtp_timestamp: u32,
    /// A frame before this one was given up: a delta frame can't be decoded
    /// correctly until the next keyframe.
    pub(crate) after_loss: bool,
}

/// Extends 16-bit sequence numbers to a monotonic 64-bit space.
#[derive(Debug, Default)]
struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last {
            // Start one cycle up so a little reordering never goes below zero.
            None => (1 << 16) + u64::from(seq),
            Some(last) => {
                // Truncation to the low 16 bits is the point here.
                let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
                last.saturating_add_signed(delta)
            }
        };
        if self.last.is_none_or(|l| ext > l) {
            self.last = Some(ext);
        }
        ext
    }
}

/// Reassembles frames in sequence order.
pub(crate) struct Assembler {
    kind: MediaKind,
    clock_rate: u32,
    seq: SeqExtender,
    held: BTreeMap<u64, rtp::Packet>,
    /// Extended sequence number of the last packet consumed.
    consumed: Option<u64>,
    /// Frames given up because a packet never came.
    pub(crate) frames_dropped: u64,
    /// Frames were given up since the last frame handed out.
    lost_since_frame: bool,
}

fn vp8_head(payload: &Bytes) -> bool {
    Vp8Packet::default().is_partition_head(payload)
}

impl Assembler {
    pub(crate) fn new(kind: MediaKind) -> Self {
        Self {
            kind,
            clock_rate: match kind {
                MediaKind::Audio => 48_000,
                MediaKind::Video => 90_000,
            },
            seq: SeqExtender::default(),
            held: BTreeMap::new(),
            consumed: None,
            frames_dropped: 0,
            lost_since_frame: false,
        }
    }

    /// Take one packet; return the frames it completes, in order.
    pub(crate) fn push(&mut self, packet: rtp::Packet) -> Vec<Frame> {
        let ext = self.seq.extend(packet.header.sequence_number);
        if self.consumed.is_some_and(|c| ext <= c) {
            // Late or duplicate (a retransmission that raced the original).
            return Vec::new();
        }
        self.held.insert(ext, packet);
        let mut out = Vec::new();
        match self.kind {
            MediaKind::Audio => self.drain_audio(&mut out),
            MediaKind::Video => self.drain_video(&mut out),
        }
        out
    }

    /// Each Opus packet is a frame.
    fn drain_audio(&mut self, out: &mut Vec<Frame>) {
        loop {
            let Some((&first, _)) = self.held.first_key_value() else {
                return;
            };
            let in_order = self.consumed.is_none_or(|c| first == c + 1);
            if !in_order && !self.overdue() {
                return;
            }
            let Some((ext, p)) = self.held.pop_first() else {
                return;
            };
            self.consumed = Some(ext);
            if !p.payload.is_empty() {
                out.push(Frame {
                    payload: p.payload.to_vec(),
                    is_keyframe: true,
                    rtp_timestamp: p.header.timestamp,
                    after_loss: false,
                });
            }
        }
    }

    /// The newest held packet is more than [`GIVE_UP_MS`] of media ahead of the oldest.
    fn overdue(&self) -> bool {
        let (Some((_, a)), Some((_, b))) =
            (self.held.first_key_value(), self.held.last_key_value())
        else {
            return false;
        };
        let span = b.header.timestamp.wrapping_sub(a.header.timestamp);
        let limit = self.clock_rate / 1000 * GIVE_UP_MS;
        (span < u32::MAX / 2 && span > limit) || self.held.len() > MAX_HELD
    }

    /// Every pass of the loop that goes on either removes a held packet or
    /// moves `consumed` up to the first held one, so it always ends (a pass
    /// that did neither spun forever: the reader task never yielded again,
    /// its track's queue filled and the video froze for good).
    fn drain_video(&mut self, out: &mut Vec<Frame>) {
        loop {
            let Some((&first, head)) = self.held.first_key_value() else {
                return;
            };
            if self.consumed.is_some_and(|c| first != c + 1) {
                if !self.overdue() {
                    return;
                }
                // The gap before `first` is given up; a complete frame
                // (a keyframe asked for after the loss) right after it is
                // still decoded.
                self.give_up_until(first);
                continue;
            }
            if !vp8_head(&head.payload) {
                // A frame whose start is lost: drop its packets and look for
                // the next frame start.
                if !self.skip_frame(first) {
                    return;
                }
                continue;
            }
            // Contiguous packets of one timestamp up to the marker.
            let ts = head.header.timestamp;
            let mut end = None;
            for (expect, (&ext, p)) in (first..).zip(self.held.range(first..)) {
                if ext != expect || p.header.timestamp != ts {
                    break;
                }
                if p.header.marker {
                    end = Some(ext);
                    break;
                }
            }
            let Some(end) = end else {
                if !self.overdue() {
                    return;
                }
                if !self.skip_frame(first) {
                    // No later frame start held yet: drop this frame's own
                    // packets and the gap after them.
                    self.drop_frame(first, ts);
                }
                continue;
            };
            let mut depack = Vp8Packet::default();
            let mut payload = Vec::new();
            let mut ok = true;
            for ext in first..=end {
                if let Some(p) = self.held.remove(&ext) {
                    match depack.depacketize(&p.payload) {
                        Ok(b) => payload.extend_from_slice(&b),
                        Err(_) => ok = false,
                    }
                }
            }
            self.consumed = Some(end);
            if !ok || payload.is_empty() {
                self.frames_dropped += 1;
                self.lost_since_frame = true;
                continue;
            }
            // VP8 frame tag: bit 0 of the first byte is 0 for a keyframe.
            let is_keyframe = payload.first().is_some_and(|b| b & 1 == 0);
            out.push(Frame {
                payload,
                is_keyframe,
                rtp_timestamp: ts,
                after_loss: std::mem::take(&mut self.lost_since_frame),
            });
        }
    }

    /// Give up the missing packets before `first` (the next held one): the
    /// frame they belong to is lost.
    fn give_up_until(&mut self, first: u64) {
        self.consumed = Some(first - 1);
        self.frames_dropped += 1;
        self.lost_since_frame = true;
    }

    /// Drop the held packets of the frame at `ts` that starts at `first`,
    /// and give up the gap after them.
    fn drop_frame(&mut self, first: u64, ts: u32) {
        let mut last = first;
        while let Some(entry) = self.held.first_entry() {
            if entry.get().header.timestamp != ts {
                break;
            }
            last = entry.remove_entry().0;
        }
        self.consumed = Some(self.held.first_key_value().map_or(last, |(&e, _)| e - 1));
        self.frames_dropped += 1;
        self.lost_since_frame = true;
    }

    /// Drop packets from `first` up to the next frame start. False when no
    /// frame start is held yet (wait for more).
    fn skip_frame(&mut self, first: u64) -> bool {
        let ts = self.held.get(&first).map(|p| p.header.timestamp);
        let next = self
            .held
            .range(first + 1..)
            .find(|(_, p)| Some(p.header.timestamp) != ts && vp8_head(&p.payload))
            .map(|(e, _)| *e);
        let Some(next) = next else {
            if self.held.len() > MAX_HELD {
                self.held.clear();
            }
            return false;
        };
        self.held.retain(|e, _| *e >= next);
        self.consumed = Some(next - 1);
        self.frames_dropped += 1;
        self.lost_since_frame = true;
        true
    }
}

/// RFC 3550 receive statistics.
pub(crate) struct RecvStats {
    clock_rate: f64,
    seq: SeqExtender,
    base: Option<u64>,
    received: u64,
    transit: Option<f64>,
    jitter: f64,
    start: Instant,
}

impl RecvStats {
    pub(crate) fn new(kind: MediaKind, now: Instant) -> Self {
        Self {
            clock_rate: match kind {
                MediaKind::Audio => 48_000.0,
                MediaKind::Video => 90_000.0,
            },
            seq: SeqExtender::default(),
            base: None,
            received: 0,
            transit: None,
            jitter: 0.0,
            start: now,
        }
    }

    pub(crate) fn on_packet(&mut self, header: &rtp::header::Header, now: Instant) {
        let ext = self.seq.extend(header.sequence_number);
        if self.base.is_none_or(|b| ext < b) {
            self.base = Some(ext);
        }
        self.received += 1;
        let arrival = now.duration_since(self.start).as_secs_f64() * self.clock_rate;
        let transit = arrival - f64::from(header.timestamp);
        if let Some(prev) = self.transit {
            let d = (transit - prev).abs();
            // Timestamp jumps (e.g. after mute) are not jitter.
            if d < self.clock_rate {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.transit = Some(transit);
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected but not received (retransmissions can make it briefly negative; clamped).
    pub(crate) fn lost(&self) -> u64 {
        match (self.base, self.seq.last) {
            (Some(b), Some(l)) => (l - b + 1).saturating_sub(self.received),
            _ => 0,
        }
    }

    pub(crate) fn jitter_ms(&self) -> f64 {
        self.jitter / self.clock_rate * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> rtp::Packet {
        let mut p = rtp::Packet::default();
        p.header.sequence_number = seq;
        p.header.timestamp = ts;
        p.header.marker = marker;
        p.payload = Bytes::copy_from_slice(payload);
        p
    }

    // VP8 payload descriptor: 0x10 = S bit, partition 0; then the VP8 payload.
    fn start(seq: u16, ts: u32, marker: bool, body: &[u8]) -> rtp::Packet {
        let mut v = vec![0x10];
        v.extend_from_slice(body);
        pkt(seq, ts, marker, &v)
    }

    fn cont(seq: u16, ts: u32, marker: bool, body: &[u8]) -> rtp::Packet {
        let mut v = vec![0x00];
        v.extend_from_slice(body);
        pkt(seq, ts, marker, &v)
    }

    #[test]
    fn vp8_frames_reassemble_across_reordering_and_wrap() {
        let mut a = Assembler::new(MediaKind::Video);
        assert!(a.push(start(65534, 100, false, &[0x00, 1, 1])).is_empty());
        // 65535 missing for now; 0 arrives first.
        assert!(a.push(cont(0, 100, true, &[3, 3, 3])).is_empty());
        let f = a.push(cont(65535, 100, false, &[2, 2, 2]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].payload, vec![0x00, 1, 1, 2, 2, 2, 3, 3, 3]);
        assert!(f[0].is_keyframe);
        let f = a.push(start(1, 3100, true, &[0x01, 9, 9]));
        assert_eq!(f.len(), 1);
        assert!(!f[0].is_keyframe);
        // A duplicate is ignored.
        assert!(a.push(start(1, 3100, true, &[0x01, 9, 9])).is_empty());
    }

    #[test]
    fn a_lost_packet_is_given_up_after_300ms() {
        let mut a = Assembler::new(MediaKind::Video);
        assert_eq!(a.push(start(10, 0, true, &[0x00, 0, 0])).len(), 1);
        // Frame at ts 3000 loses its second packet (12).
        assert!(a.push(start(11, 3000, false, &[0x01, 0, 0])).is_empty());
        let mut got = Vec::new();
        for i in 0..12u16 {
            let ts = 6000 + u32::from(i) * 3000;
            got.extend(a.push(start(13 + i, ts, true, &[0x01, 0, 0])));
        }
        assert!(
            !got.is_empty(),
            "later frames come out once the gap is overdue"
        );
        assert_eq!(got[0].rtp_timestamp, 6000);
        assert_eq!(a.frames_dropped, 1);
        assert!(got[0].after_loss, "the first frame after the gap says so");
        assert!(got[1..].iter().all(|f| !f.after_loss));
    }

    /// Runs `f` on its own thread: a `push` that never returns (the reader
    /// task spinning, its track's queue filling, video frozen for good)
    /// fails the test instead of hanging it.
    fn returns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _gone = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .expect("Assembler::push did not return")
    }

    #[test]
    fn an_overdue_frame_is_given_up_when_no_later_frame_start_is_held() {
        let got = returns(|| {
            let mut a = Assembler::new(MediaKind::Video);
            let mut got = a.push(start(10, 0, true, &[0x00, 0, 0]));
            // Frame at ts 3000: its last packet (12, the marker) is lost.
            got.extend(a.push(start(11, 3000, false, &[0x01, 0, 0])));
            // Then only the tail of a frame 333 ms later whose start (13) is
            // lost too: the frame at 3000 is overdue and no frame start
            // follows it.
            got.extend(a.push(cont(14, 33_000, false, &[0, 0, 0])));
            got.extend(a.push(cont(15, 33_000, true, &[0, 0, 0])));
            // The next frame comes out, marked as following a loss.
            got.extend(a.push(start(16, 36_000, true, &[0x01, 0, 0])));
            (got, a.frames_dropped)
        });
        let (frames, dropped) = got;
        let ts: Vec<u32> = frames.iter().map(|f| f.rtp_timestamp).collect();
        assert_eq!(ts, vec![0, 36_000]);
        assert!(frames[1].after_loss);
        assert_eq!(dropped, 2, "the frames at 3000 and 33000");
    }

    #[test]
    fn a_complete_keyframe_after_an_overdue_gap_is_kept() {
        let mut a = Assembler::new(MediaKind::Video);
        assert_eq!(a.push(start(10, 0, true, &[0x01, 0, 0])).len(), 1);
        // The frame at 3000 (11, 12) is lost for good; the keyframe at 6000
        // (13, 14) is complete, and newer frames pile up behind the gap.
        assert!(a.push(start(13, 6000, false, &[0x00, 1, 1])).is_empty());
        assert!(a.push(cont(14, 6000, true, &[2, 2, 2])).is_empty());
        let mut got = Vec::new();
        for i in 0..11u16 {
            let ts = 9000 + u32::from(i) * 3000;
            got.extend(a.push(start(15 + i, ts, true, &[0x01, 0, 0])));
        }
        assert_eq!(got[0].rtp_timestamp, 6000, "the keyframe comes out first");
        assert!(got[0].is_keyframe && got[0].after_loss);
        assert_eq!(got[0].payload, vec![0x00, 1, 1, 2, 2, 2]);
        assert_eq!(got.len(), 12, "and every frame after it");
        assert_eq!(a.frames_dropped, 1);
    }

    #[test]
    fn audio_packets_are_frames_and_stats_count_loss() {
        let now = Instant::now();
        let mut a = Assembler::new(MediaKind::Audio);
        let mut s = RecvStats::new(MediaKind::Audio, now);
        for seq in [1u16, 2, 4, 5] {
            let p = pkt(seq, u32::from(seq) * 960, false, &[seq as u8]);
            s.on_packet(&p.header, now);
            let _frames = a.push(p);
        }
        assert_eq!(s.received(), 4);
        assert_eq!(s.lost(), 1);
    }
}
