//! What the SFU accepts from a publisher before forwarding: each packet of
//! the published stream once, on the stream's own SSRC and sequence numbers.
//!
//! Three things can arrive that must not be forwarded as they are:
//! - a second copy of a packet (a retransmission that raced the original):
//!   forwarded once ([`Dedup`]);
//! - a retransmission (RTX, RFC 4588) still encapsulated, on the repair SSRC
//!   with the repair flow's own sequence number and the original's (OSN) in
//!   front of the payload. The webrtc crate unwraps RTX before a track sees
//!   it, but hands a repair packet over as it is when it cannot resolve the
//!   repair flow's mapping; forwarded, its OSN would reach subscribers as
//!   codec payload and its sequence number would move the duplicate filter
//!   into the repair flow's numbering (every later packet of the stream then
//!   looks "too old"). It is unwrapped here. Defensive: not seen in our runs;
//!   the reader logs the first one;
//! - a publisher whose sequence numbers jumped (a sender that restarted its
//!   numbering): after a short run of packets all older than the window,
//!   the window follows them instead of refusing the stream for good.

use rtc::rtp;

/// How many recent sequence numbers [`Dedup`] remembers.
const DEDUP_WINDOW: u64 = 1024;

/// This many packets in a row older than the window mean the stream's
/// numbering jumped, not that they are stale: the window moves to them.
const RESYNC_AFTER: u32 = 8;

/// What [`Dedup::check`] decided about one sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not seen before: forward it.
    New,
    /// Forwarded already.
    Duplicate,
    /// Older than the window: the subscriber has long given it up.
    TooOld,
    /// The start of a new numbering (after [`RESYNC_AFTER`] too-old
    /// packets in a row): forward it; the window now starts here.
    Resynced,
}

/// Which recent sequence numbers of one published track were forwarded, so
/// a second copy of a packet is not (owned by the track's reader task).
#[derive(Debug, Default)]
pub(crate) struct Dedup {
    /// Extended (64-bit) sequence number of the newest packet.
    highest: Option<u64>,
    /// Bit `ext % DEDUP_WINDOW` is set when `ext` was forwarded.
    seen: Vec<u64>,
    /// Too-old packets in a row.
    too_old_run: u32,
}

impl Dedup {
    /// Whether `seq` is new (and now remembered).
    pub(crate) fn check(&mut self, seq: u16) -> Verdict {
        if self.seen.is_empty() {
            self.seen = vec![0; (DEDUP_WINDOW / 64) as usize];
        }
        let ext = match self.highest {
            // One cycle up, so a little reordering never goes below zero.
            None => (1 << 16) + u64::from(seq),
            // Truncation to the low 16 bits is the point.
            Some(h) => h.saturating_add_signed(i64::from(seq.wrapping_sub(h as u16) as i16)),
        };
        match self.highest {
            Some(h) if ext + DEDUP_WINDOW <= h => {
                self.too_old_run += 1;
                if self.too_old_run < RESYNC_AFTER {
                    return Verdict::TooOld;
                }
                self.seen.fill(0);
                self.highest = Some((1 << 16) + u64::from(seq));
                self.too_old_run = 0;
                let fresh = (1 << 16) + u64::from(seq);
                self.set(fresh, true);
                return Verdict::Resynced;
            }
            Some(h) if ext > h => {
                // Forget what the window moves past (the slots of h+1..=ext
                // held ext-1024 and older).
                for old in (h + 1).max(ext.saturating_sub(DEDUP_WINDOW - 1))..=ext {
                    self.set(old, false);
                }
                self.highest = Some(ext);
            }
            None => self.highest = Some(ext),
            Some(_) => {}
        }
        self.too_old_run = 0;
        if self.get(ext) {
            return Verdict::Duplicate;
        }
        self.set(ext, true);
        Verdict::New
    }

    fn get(&self, ext: u64) -> bool {
        let bit = ext % DEDUP_WINDOW;
        self.seen[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, ext: u64, on: bool) {
        let bit = ext % DEDUP_WINDOW;
        let word = &mut self.seen[(bit / 64) as usize];
        if on {
            *word |= 1 << (bit % 64);
        } else {
            *word &= !(1 << (bit % 64));
        }
    }
}

/// Counts of what [`Ingress`] did not forward as it came (for logs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IngressStats {
    pub(crate) duplicates: u64,
    pub(crate) too_old: u64,
    pub(crate) resyncs: u64,
    /// Repair packets unwrapped here.
    pub(crate) unwrapped: u64,
    /// Repair packets with nothing to unwrap (padding only).
    pub(crate) empty_repairs: u64,
}

/// The reader task's filter for one published track.
#[derive(Debug)]
pub(crate) struct Ingress {
    /// The stream's own SSRC.
    primary: u32,
    dedup: Dedup,
    pub(crate) stats: IngressStats,
}

impl Ingress {
    pub(crate) fn new(primary: u32) -> Self {
        Self {
            primary,
            dedup: Dedup::default(),
            stats: IngressStats::default(),
        }
    }

    /// The packet to forward, if any: on the primary SSRC, its original
    /// sequence number, each once.
    pub(crate) fn accept(&mut self, mut packet: rtp::Packet) -> Option<rtp::Packet> {
        if packet.header.ssrc != self.primary {
            // Only a repair flow shares a track with the stream (no FEC is
            // negotiated): RTX, `[OSN][original payload]`.
            if packet.payload.len() < 2 {
                self.stats.empty_repairs += 1;
                return None;
            }
            let osn = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
            packet.payload = packet.payload.slice(2..);
            packet.header.sequence_number = osn;
            packet.header.ssrc = self.primary;
            packet.header.padding = false;
            self.stats.unwrapped += 1;
        }
        match self.dedup.check(packet.header.sequence_number) {
            Verdict::New => Some(packet),
            Verdict::Resynced => {
                self.stats.resyncs += 1;
                Some(packet)
            }
            Verdict::Duplicate => {
                self.stats.duplicates += 1;
                None
            }
            Verdict::TooOld => {
                self.stats.too_old += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn new(d: &mut Dedup, seq: u16) -> bool {
        d.check(seq) == Verdict::New
    }

    #[test]
    fn dedup_forwards_each_packet_once() {
        let mut d = Dedup::default();
        assert!(new(&mut d, 65_534));
        assert!(new(&mut d, 1), "a gap across the wrap");
        assert_eq!(d.check(1), Verdict::Duplicate);
        assert!(new(&mut d, 65_535), "a retransmission filling the gap");
        assert_eq!(d.check(65_535), Verdict::Duplicate);
        assert!(new(&mut d, 0));
        assert_eq!(d.check(65_534), Verdict::Duplicate);
        // A jump past the whole window forgets everything before it, and a
        // packet older than the window is refused.
        assert!(new(&mut d, 3000));
        assert_eq!(d.check(1), Verdict::TooOld, "far too old");
        assert!(new(&mut d, 3000 - 1023), "just inside the window");
        assert_eq!(d.check(3000 - 1024), Verdict::TooOld, "just outside");
        for seq in 3001..5000 {
            assert!(new(&mut d, seq));
        }
        assert_eq!(d.check(4990), Verdict::Duplicate);
    }

    #[test]
    fn a_numbering_jump_is_followed_after_a_short_run() {
        let mut d = Dedup::default();
        for seq in 20_000..20_100 {
            assert!(new(&mut d, seq));
        }
        // The sender restarted at 100: 19 900 behind, far outside the window.
        for seq in 100..100 + u16::try_from(RESYNC_AFTER).unwrap_or(8) - 1 {
            assert_eq!(d.check(seq), Verdict::TooOld);
        }
        let first = 100 + u16::try_from(RESYNC_AFTER).unwrap_or(8) - 1;
        assert_eq!(d.check(first), Verdict::Resynced);
        assert_eq!(d.check(first), Verdict::Duplicate);
        for seq in first + 1..first + 50 {
            assert!(new(&mut d, seq));
        }
        // A single stale packet is still refused, and the next new one
        // ends the run.
        assert_eq!(d.check(first.wrapping_sub(2000)), Verdict::TooOld);
        assert!(new(&mut d, first + 50), "and reset the run");
    }

    fn packet(ssrc: u32, seq: u16, payload: &'static [u8]) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                ssrc,
                sequence_number: seq,
                ..Default::default()
            },
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn encapsulated_repairs_are_unwrapped_and_do_not_move_the_window() {
        let mut ingress = Ingress::new(1000);
        for seq in 500..510 {
            assert!(ingress.accept(packet(1000, seq, b"vp8")).is_some());
        }
        // Packet 505 was lost upstream of the stack's own unwrapping... here
        // it comes back on the repair SSRC, repair-flow number 40 000.
        assert!(ingress.accept(packet(1000, 511, b"vp8")).is_some());
        let repair = ingress.accept(packet(2000, 40_000, &[0x01, 0xF9, b'v', b'p']));
        let repair = repair.map(|p| (p.header.ssrc, p.header.sequence_number, p.payload));
        assert_eq!(repair, None, "505 arrived already: a duplicate");
        let repair = ingress.accept(packet(2000, 40_001, &[0x02, 0x00, b'x']));
        let repair = repair.map(|p| (p.header.ssrc, p.header.sequence_number, p.payload));
        assert_eq!(repair, Some((1000, 512, Bytes::from_static(b"x"))));
        // The stream goes on where it was.
        for seq in 513..600 {
            assert!(ingress.accept(packet(1000, seq, b"vp8")).is_some(), "{seq}");
        }
        assert_eq!(ingress.accept(packet(2000, 40_002, &[0])), None, "padding");
        assert_eq!(
            ingress.stats,
            IngressStats {
                duplicates: 1,
                unwrapped: 2,
                empty_repairs: 1,
                ..IngressStats::default()
            }
        );
    }
}
